//! A database fault on demand: a trigger that makes one kind of write to one table fail,
//! on SQLite and PostgreSQL alike, until it is removed. Lets a test break a write in the
//! middle of an operation without mocking our storage.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

/// Makes `event` (e.g. `INSERT`, `UPDATE OF view_count`) on `table` fail.
pub async fn install(db: &DatabaseConnection, table: &str, event: &str) {
    let name = trigger_name(table);
    let statements = match db.get_database_backend() {
        DbBackend::Postgres => vec![
            format!(
                "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
            ),
            format!(
                "CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            ),
        ],
        _ => vec![format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )],
    };
    for sql in statements {
        db.execute_unprepared(&sql)
            .await
            .expect("install the fault");
    }
}

/// Removes the fault `install` put on `table`.
pub async fn remove(db: &DatabaseConnection, table: &str) {
    let name = trigger_name(table);
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!("DROP TRIGGER {name} ON {table}"),
        _ => format!("DROP TRIGGER {name}"),
    };
    db.execute_unprepared(&sql).await.expect("remove the fault");
}

fn trigger_name(table: &str) -> String {
    format!("qshare_test_fault_{table}")
}
