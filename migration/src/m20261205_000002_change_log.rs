//! `change_log` and `sync_head` for the delta sync (`GET /api/sync`). The articles already
//! published enter the log once each (their id as the sequence number), so a client that
//! syncs from the start gets them all.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Seq,
    ArticleId,
    ChangedAt,
}

#[derive(DeriveIden)]
enum SyncHead {
    Table,
    Id,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .if_not_exists()
                    .col(big_integer(ChangeLog::Seq).primary_key())
                    .col(big_integer(ChangeLog::ArticleId))
                    .col(timestamp_with_time_zone(ChangeLog::ChangedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncHead::Table)
                    .if_not_exists()
                    .col(integer(SyncHead::Id).primary_key())
                    .col(big_integer(SyncHead::Seq))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO change_log (seq, article_id, changed_at) \
             SELECT id, id, updated_at FROM articles WHERE status = 'published'",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO sync_head (id, seq) SELECT 1, COALESCE(MAX(id), 0) FROM articles",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [SyncHead::Table.into_iden(), ChangeLog::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
