//! Official Account followers, kept up to date by the callback (subscribe/unsubscribe/SCAN)
//! and reconciled by a `user/get` sync.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WechatFollowers {
    Table,
    Id,
    Openid,
    Unionid,
    UserId,
    Subscribed,
    SubscribedAt,
    UnsubscribedAt,
    Scene,
    LastEventAt,
    SyncGeneration,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WechatFollowers::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WechatFollowers::Id))
                    .col(string_len_uniq(WechatFollowers::Openid, 64))
                    .col(string_len_null(WechatFollowers::Unionid, 64))
                    .col(big_integer_null(WechatFollowers::UserId))
                    .col(boolean(WechatFollowers::Subscribed))
                    .col(timestamp_with_time_zone_null(WechatFollowers::SubscribedAt))
                    .col(timestamp_with_time_zone_null(
                        WechatFollowers::UnsubscribedAt,
                    ))
                    .col(string_len_null(WechatFollowers::Scene, 128))
                    .col(timestamp_with_time_zone_null(WechatFollowers::LastEventAt))
                    // The sync that last saw this follower in WeChat's list; followers the
                    // latest sync did not stamp have left.
                    .col(big_integer_null(WechatFollowers::SyncGeneration))
                    .col(timestamp_with_time_zone(WechatFollowers::CreatedAt))
                    .col(timestamp_with_time_zone(WechatFollowers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_wechat_followers_user")
                            .from(WechatFollowers::Table, WechatFollowers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // The admin list: newest first, optionally only (un)subscribed.
            (
                "idx_wechat_followers_list",
                vec![WechatFollowers::Subscribed, WechatFollowers::Id],
            ),
            // The end of a sync: subscribed followers the sync did not stamp.
            (
                "idx_wechat_followers_sync",
                vec![WechatFollowers::Subscribed, WechatFollowers::SyncGeneration],
            ),
            (
                "idx_wechat_followers_unionid",
                vec![WechatFollowers::Unionid],
            ),
            ("idx_wechat_followers_user", vec![WechatFollowers::UserId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(WechatFollowers::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WechatFollowers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
