//! Accounts: users (password and WeChat identities), refresh tokens, article reactions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    PasswordHash,
    Nickname,
    AvatarUrl,
    Bio,
    Role,
    Status,
    WechatUnionid,
    WechatMiniOpenid,
    WechatOaOpenid,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ArticleReactions {
    Table,
    UserId,
    ArticleId,
    Kind,
    CreatedAt,
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
                    .table(Users::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Users::Id))
                    .col(string_len(Users::Username, 64))
                    // Lower-cased username: uniqueness ignores case on every backend.
                    .col(string_len_uniq(Users::UsernameKey, 64))
                    .col(string_len_null(Users::PasswordHash, 255))
                    .col(string_len(Users::Nickname, 64))
                    .col(string_len_null(Users::AvatarUrl, 1024))
                    .col(string_len(Users::Bio, 500).default(""))
                    .col(string_len(Users::Role, 16))
                    .col(string_len(Users::Status, 16))
                    .col(string_len_null(Users::WechatUnionid, 64).unique_key())
                    .col(string_len_null(Users::WechatMiniOpenid, 64).unique_key())
                    .col(string_len_null(Users::WechatOaOpenid, 64).unique_key())
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RefreshTokens::Id))
                    .col(big_integer(RefreshTokens::UserId))
                    // One login = one family; rotation keeps the family, reuse revokes it.
                    .col(string_len(RefreshTokens::FamilyId, 64))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 128))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_user")
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_expires")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ArticleReactions::Table)
                    .if_not_exists()
                    .col(big_integer(ArticleReactions::UserId))
                    .col(big_integer(ArticleReactions::ArticleId))
                    .col(string_len(ArticleReactions::Kind, 16))
                    .col(timestamp_with_time_zone(ArticleReactions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ArticleReactions::UserId)
                            .col(ArticleReactions::ArticleId)
                            .col(ArticleReactions::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_reactions_user")
                            .from(ArticleReactions::Table, ArticleReactions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_article_reactions_article")
                            .from(ArticleReactions::Table, ArticleReactions::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "My likes" / "my favourites", newest first, keyset on (created_at, article_id).
        manager
            .create_index(
                Index::create()
                    .name("idx_article_reactions_mine")
                    .table(ArticleReactions::Table)
                    .col(ArticleReactions::UserId)
                    .col(ArticleReactions::Kind)
                    .col(ArticleReactions::CreatedAt)
                    .col(ArticleReactions::ArticleId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ArticleReactions::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
