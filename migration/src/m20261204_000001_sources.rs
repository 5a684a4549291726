//! Feed sources: `sources` (a feed, its defaults for imported drafts, its HTTP validators
//! and fetch status), `source_items` (what each imported item became, so an item is
//! imported once and its edits reach its draft), and a unique index on
//! `articles.source_url`, the key that keeps an article from being carried twice. Articles
//! that already share a source URL keep their content: all but the oldest get a
//! `#duplicate-<id>` fragment (the link still opens the same page), then the index is built.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
    Name,
    FeedUrl,
    CategoryId,
    TagIds,
    NoticeTemplate,
    FullPage,
    AutoPublish,
    Enabled,
    MinIntervalSecs,
    Etag,
    LastModified,
    BodyHash,
    LastFetchAt,
    LastHttpStatus,
    LastError,
    ConsecutiveFailures,
    NextCheckAt,
    ItemsImported,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SourceItems {
    Table,
    Id,
    SourceId,
    Guid,
    SourceUrl,
    ArticleId,
    ContentHash,
    ArticleUpdatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    SourceUrl,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sources::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Sources::Id))
                    .col(string_len(Sources::Name, 100))
                    .col(string_len(Sources::FeedUrl, 1024))
                    .col(big_integer_null(Sources::CategoryId))
                    // A JSON list of tag ids.
                    .col(text(Sources::TagIds))
                    .col(text_null(Sources::NoticeTemplate))
                    .col(boolean(Sources::FullPage))
                    .col(boolean(Sources::AutoPublish))
                    .col(boolean(Sources::Enabled))
                    .col(big_integer(Sources::MinIntervalSecs))
                    .col(string_len_null(Sources::Etag, 512))
                    .col(string_len_null(Sources::LastModified, 128))
                    .col(string_len_null(Sources::BodyHash, 64))
                    .col(timestamp_with_time_zone_null(Sources::LastFetchAt))
                    .col(integer_null(Sources::LastHttpStatus))
                    .col(text_null(Sources::LastError))
                    .col(integer(Sources::ConsecutiveFailures))
                    .col(timestamp_with_time_zone(Sources::NextCheckAt))
                    .col(big_integer(Sources::ItemsImported))
                    .col(timestamp_with_time_zone_null(Sources::LeaseUntil))
                    .col(timestamp_with_time_zone(Sources::CreatedAt))
                    .col(timestamp_with_time_zone(Sources::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sources_category")
                            .from(Sources::Table, Sources::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The ingest job: enabled sources that are due.
        manager
            .create_index(
                Index::create()
                    .name("idx_sources_due")
                    .table(Sources::Table)
                    .col(Sources::Enabled)
                    .col(Sources::NextCheckAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SourceItems::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SourceItems::Id))
                    .col(big_integer(SourceItems::SourceId))
                    .col(string_len_null(SourceItems::Guid, 1024))
                    .col(string_len(SourceItems::SourceUrl, 1024))
                    .col(big_integer_null(SourceItems::ArticleId))
                    .col(string_len(SourceItems::ContentHash, 64))
                    // The article's updated_at as the import left it: a later value means an
                    // editor touched the draft, and the feed's edits no longer overwrite it.
                    .col(timestamp_with_time_zone_null(SourceItems::ArticleUpdatedAt))
                    .col(timestamp_with_time_zone(SourceItems::CreatedAt))
                    .col(timestamp_with_time_zone(SourceItems::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_source_items_source")
                            .from(SourceItems::Table, SourceItems::SourceId)
                            .to(Sources::Table, Sources::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_source_items_article")
                            .from(SourceItems::Table, SourceItems::ArticleId)
                            .to(Articles::Table, Alias::new("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // An item is known by its canonical URL, and within its source by its GUID.
        manager
            .create_index(
                Index::create()
                    .name("ux_source_items_url")
                    .table(SourceItems::Table)
                    .col(SourceItems::SourceUrl)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_source_items_guid")
                    .table(SourceItems::Table)
                    .col(SourceItems::SourceId)
                    .col(SourceItems::Guid)
                    .to_owned(),
            )
            .await?;
        // `?origin=source` lists articles that have an item.
        manager
            .create_index(
                Index::create()
                    .name("idx_source_items_article")
                    .table(SourceItems::Table)
                    .col(SourceItems::ArticleId)
                    .to_owned(),
            )
            .await?;
        // Existing duplicates first: the oldest article keeps the URL.
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE articles SET source_url = \
             SUBSTR(source_url, 1, 990) || '#duplicate-' || CAST(id AS VARCHAR(20)) \
             WHERE id NOT IN (SELECT MIN(id) FROM articles GROUP BY source_url)",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_articles_source_url")
                    .table(Articles::Table)
                    .col(Articles::SourceUrl)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_articles_source_url")
                    .table(Articles::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(SourceItems::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Sources::Table).if_exists().to_owned())
            .await
    }
}
