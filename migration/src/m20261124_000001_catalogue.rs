//! Catalogue: categories, tags, articles (+ their tags), software resources, app releases.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Slug,
    Name,
    Description,
    SortOrder,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    Id,
    Title,
    Summary,
    Content,
    CoverUrl,
    Author,
    SourceUrl,
    SourceName,
    CopyrightNotice,
    CategoryId,
    Status,
    PublishedAt,
    Featured,
    FeaturedAt,
    ViewCount,
    LikeCount,
    CommentCount,
    FavoriteCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ArticleTags {
    Table,
    ArticleId,
    TagId,
}

#[derive(DeriveIden)]
enum Resources {
    Table,
    Id,
    Name,
    Summary,
    Description,
    Homepage,
    DownloadLinks,
    Version,
    License,
    Category,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AppReleases {
    Table,
    Id,
    Platform,
    Version,
    MinSupportedVersion,
    SizeBytes,
    DownloadUrl,
    Notes,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Categories::Id))
                    .col(string_len_uniq(Categories::Slug, 64))
                    .col(string_len(Categories::Name, 64))
                    .col(text(Categories::Description).default(""))
                    .col(integer(Categories::SortOrder).default(0))
                    .col(timestamp_with_time_zone(Categories::CreatedAt))
                    .col(timestamp_with_time_zone(Categories::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Tags::Id))
                    .col(string_len_uniq(Tags::Slug, 64))
                    .col(string_len(Tags::Name, 64))
                    .col(timestamp_with_time_zone(Tags::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Articles::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Articles::Id))
                    .col(string_len(Articles::Title, 200))
                    .col(text(Articles::Summary))
                    .col(text(Articles::Content))
                    .col(string_len_null(Articles::CoverUrl, 1024))
                    .col(string_len(Articles::Author, 100))
                    .col(string_len(Articles::SourceUrl, 1024))
                    .col(string_len(Articles::SourceName, 100))
                    .col(text(Articles::CopyrightNotice))
                    .col(big_integer_null(Articles::CategoryId))
                    .col(string_len(Articles::Status, 16))
                    .col(timestamp_with_time_zone_null(Articles::PublishedAt))
                    .col(boolean(Articles::Featured).default(false))
                    .col(timestamp_with_time_zone_null(Articles::FeaturedAt))
                    .col(big_integer(Articles::ViewCount).default(0))
                    .col(big_integer(Articles::LikeCount).default(0))
                    .col(big_integer(Articles::CommentCount).default(0))
                    .col(big_integer(Articles::FavoriteCount).default(0))
                    .col(timestamp_with_time_zone(Articles::CreatedAt))
                    .col(timestamp_with_time_zone(Articles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_articles_category")
                            .from(Articles::Table, Articles::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        // The public feed: WHERE status = 'published' ORDER BY published_at DESC, id DESC,
        // paged by keyset on (published_at, id). Same shape per category and for featured.
        for (name, cols) in [
            (
                "idx_articles_feed",
                vec![Articles::Status, Articles::PublishedAt, Articles::Id],
            ),
            (
                "idx_articles_category_feed",
                vec![
                    Articles::CategoryId,
                    Articles::Status,
                    Articles::PublishedAt,
                    Articles::Id,
                ],
            ),
            (
                "idx_articles_featured",
                vec![
                    Articles::Featured,
                    Articles::Status,
                    Articles::FeaturedAt,
                    Articles::Id,
                ],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Articles::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ArticleTags::Table)
                    .if_not_exists()
                    .col(big_integer(ArticleTags::ArticleId))
                    .col(big_integer(ArticleTags::TagId))
                    .primary_key(
                        Index::create()
                            .col(ArticleTags::ArticleId)
                            .col(ArticleTags::TagId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_tags_article")
                            .from(ArticleTags::Table, ArticleTags::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_tags_tag")
                            .from(ArticleTags::Table, ArticleTags::TagId)
                            .to(Tags::Table, Tags::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_article_tags_tag")
                    .table(ArticleTags::Table)
                    .col(ArticleTags::TagId)
                    .col(ArticleTags::ArticleId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Resources::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Resources::Id))
                    .col(string_len(Resources::Name, 100))
                    .col(string_len(Resources::Summary, 300))
                    .col(text(Resources::Description))
                    .col(string_len(Resources::Homepage, 1024))
                    .col(json(Resources::DownloadLinks))
                    .col(string_len(Resources::Version, 64))
                    .col(string_len(Resources::License, 64))
                    .col(string_len(Resources::Category, 64))
                    .col(timestamp_with_time_zone(Resources::CreatedAt))
                    .col(timestamp_with_time_zone(Resources::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_resources_category")
                    .table(Resources::Table)
                    .col(Resources::Category)
                    .col(Resources::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AppReleases::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AppReleases::Id))
                    .col(string_len(AppReleases::Platform, 16))
                    .col(string_len(AppReleases::Version, 64))
                    .col(string_len(AppReleases::MinSupportedVersion, 64))
                    .col(big_integer(AppReleases::SizeBytes))
                    .col(string_len(AppReleases::DownloadUrl, 1024))
                    .col(text(AppReleases::Notes))
                    .col(timestamp_with_time_zone(AppReleases::CreatedAt))
                    .index(
                        Index::create()
                            .name("uq_app_releases_platform_version")
                            .col(AppReleases::Platform)
                            .col(AppReleases::Version)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AppReleases::Table.into_iden(),
            Resources::Table.into_iden(),
            ArticleTags::Table.into_iden(),
            Articles::Table.into_iden(),
            Tags::Table.into_iden(),
            Categories::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
