//! The audit log: one row per administrative change (who, what, which object, a bounded
//! before/after summary, request id and client IP, when).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    ActorName,
    Action,
    ObjectType,
    ObjectId,
    Before,
    After,
    RequestId,
    Ip,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    // No foreign key to users: the history must outlive the account, which is
                    // why the name is copied too. Null for the command line and the system.
                    .col(big_integer_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::ActorName, 64))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::ObjectType, 32))
                    .col(big_integer_null(AuditLog::ObjectId))
                    // JSON text, bounded by the service.
                    .col(text_null(AuditLog::Before))
                    .col(text_null(AuditLog::After))
                    .col(string_len_null(AuditLog::RequestId, 64))
                    .col(string_len_null(AuditLog::Ip, 64))
                    .to_owned(),
            )
            .await?;
        // The list is newest first by (at, id); each filter is an equality prefix before it,
        // so a filtered page, with or without a time range, is one index range scan.
        for (name, cols) in [
            ("idx_audit_log_at", vec![AuditLog::At, AuditLog::Id]),
            (
                "idx_audit_log_actor",
                vec![AuditLog::ActorId, AuditLog::At, AuditLog::Id],
            ),
            (
                "idx_audit_log_action",
                vec![AuditLog::Action, AuditLog::At, AuditLog::Id],
            ),
            (
                "idx_audit_log_object",
                vec![
                    AuditLog::ObjectType,
                    AuditLog::ObjectId,
                    AuditLog::At,
                    AuditLog::Id,
                ],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditLog::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).if_exists().to_owned())
            .await
    }
}
