//! Database connection: SQLite (embedded default) or PostgreSQL, chosen by URL.

use std::{path::Path, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::{DatabaseSettings, redact_url};

/// Opens the pool. For SQLite, creates the file's directory, and turns on WAL and foreign
/// keys for every connection of the pool.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.url.as_str();
    if url.starts_with("sqlite:") {
        ensure_sqlite_dir(url);
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        // A request waits at most this long for a connection, then gets 503: well inside
        // the request timeout, so a database outage answers instead of hanging.
        .acquire_timeout(Duration::from_secs(5))
        // Pooled connections are checked before use, so the ones a database restart or a
        // network cut killed are replaced instead of failing the next request.
        .test_before_acquire(true)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    let db = Database::connect(options).await?;
    tracing::info!(url = %redact_url(url), backend = ?db.get_database_backend(), "database connected");
    Ok(db)
}

/// Applies pending migrations. Instances may start together, so the migrations run in one
/// transaction that first takes a lock every instance respects (a PostgreSQL advisory lock;
/// SQLite's write lock, taken at BEGIN IMMEDIATE): a second instance waits, then finds
/// everything applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    /// Any fixed number; all qshare instances use the same.
    const MIGRATION_LOCK: i64 = 0x7173_6861_7265; // "qshare"
    let txn = begin_write(db).await?;
    if is_postgres(db) {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Refreshes SQLite's query-planner statistics (`PRAGMA optimize`, bounded by
/// `analysis_limit`). Without them SQLite guesses, and for "published articles with these
/// ids" it walked the whole feed index instead of looking the ids up (a search page cost
/// 4 ms of SQL instead of 0.01). PostgreSQL gathers its own (autovacuum). Run at start and
/// now and then, as SQLite recommends for long-lived connections.
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    // One call, so both pragmas run on the same pooled connection.
    db.execute_unprepared("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")
        .await?;
    Ok(())
}

/// Refreshes the statistics now and then hourly, in the background (SQLite only).
pub async fn keep_statistics_fresh(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    refresh_statistics(db).await?;
    let db = db.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(err) = refresh_statistics(&db).await {
                tracing::warn!(error = %err, "cannot refresh SQLite's planner statistics");
            }
        }
    });
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (IMMEDIATE), so concurrent writers wait for each other (busy_timeout) instead of failing
/// with SQLITE_BUSY when a read upgrades to a write. Elsewhere it is a plain BEGIN.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// A cheap round trip for `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// How busy the connection pool is (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    /// The most the pool may open.
    pub max: u32,
}

pub fn pool_stats(db: &DatabaseConnection) -> PoolStats {
    fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
        PoolStats {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    // The getters panic on the other backend, so the backend decides which one to ask.
    match db.get_database_backend() {
        DbBackend::Postgres => of(db.get_postgres_connection_pool()),
        _ => of(db.get_sqlite_connection_pool()),
    }
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

fn ensure_sqlite_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return;
    }
    if let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
        && let Err(err) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), %err, "cannot create the SQLite directory");
    }
}
