//! Phones and tablets that receive pushes through APNs, FCM or HarmonyOS Push Kit: one row
//! per provider token (registering it again updates the row), owned by a user or anonymous
//! (then authenticated by a device secret, stored as its hash).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    Provider,
    Token,
    UserId,
    SessionId,
    SecretHash,
    AppId,
    Environment,
    Locale,
    Timezone,
    AppVersion,
    OptedOut,
    QuietStartMinute,
    QuietEndMinute,
    InvalidAt,
    InvalidReason,
    RegisteredAt,
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
                    .table(Devices::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Devices::Id))
                    .col(string_len(Devices::Provider, 16))
                    .col(string_len(Devices::Token, 512))
                    // The owner; null for an anonymous device or after its owner logged out.
                    .col(big_integer_null(Devices::UserId))
                    // The owner's session (refresh-token family) that registered it: its
                    // logout detaches the device from the owner.
                    .col(string_len_null(Devices::SessionId, 64))
                    .col(string_len_null(Devices::SecretHash, 64))
                    .col(string_len_null(Devices::AppId, 128))
                    .col(string_len(Devices::Environment, 16))
                    .col(string_len(Devices::Locale, 16))
                    .col(string_len(Devices::Timezone, 64))
                    .col(string_len_null(Devices::AppVersion, 32))
                    // An anonymous device's own preferences (an owner's come from theirs).
                    .col(boolean(Devices::OptedOut).default(false))
                    .col(integer_null(Devices::QuietStartMinute))
                    .col(integer_null(Devices::QuietEndMinute))
                    // Set when the provider said the token is dead; cleared by registering
                    // it again.
                    .col(timestamp_with_time_zone_null(Devices::InvalidAt))
                    .col(string_len_null(Devices::InvalidReason, 64))
                    .col(timestamp_with_time_zone(Devices::RegisteredAt))
                    .col(timestamp_with_time_zone(Devices::CreatedAt))
                    .col(timestamp_with_time_zone(Devices::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_devices_user")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_devices_provider_token")
                    .table(Devices::Table)
                    .col(Devices::Provider)
                    .col(Devices::Token)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_devices_user")
                    .table(Devices::Table)
                    .col(Devices::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_devices_session")
                    .table(Devices::Table)
                    .col(Devices::SessionId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Devices::Table).if_exists().to_owned())
            .await
    }
}
