//! `article_reads`: which articles a user has opened (the "read" of
//! `GET /api/me/articles/{id}/state`), one row per pair with the last time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ArticleReads {
    Table,
    UserId,
    ArticleId,
    ReadAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ArticleReads::Table)
                    .if_not_exists()
                    .col(big_integer(ArticleReads::UserId))
                    .col(big_integer(ArticleReads::ArticleId))
                    .col(timestamp_with_time_zone(ArticleReads::ReadAt))
                    .primary_key(
                        Index::create()
                            .col(ArticleReads::UserId)
                            .col(ArticleReads::ArticleId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_reads_user")
                            .from(ArticleReads::Table, ArticleReads::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_reads_article")
                            .from(ArticleReads::Table, ArticleReads::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ArticleReads::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
