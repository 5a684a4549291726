//! What users want pushed to them, and the mini-program subscribe-message grants they gave.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PushPreferences {
    Table,
    UserId,
    OptedOut,
    Categories,
    QuietStartMinute,
    QuietEndMinute,
    Timezone,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MiniprogramSubscriptions {
    Table,
    UserId,
    TemplateId,
    Credits,
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
                    .table(PushPreferences::Table)
                    .if_not_exists()
                    .col(big_integer(PushPreferences::UserId).primary_key())
                    .col(boolean(PushPreferences::OptedOut).default(false))
                    // JSON array of category slugs; empty = everything.
                    .col(text(PushPreferences::Categories))
                    // Quiet hours as minutes after local midnight; both null = none.
                    .col(integer_null(PushPreferences::QuietStartMinute))
                    .col(integer_null(PushPreferences::QuietEndMinute))
                    .col(string_len(PushPreferences::Timezone, 64))
                    .col(timestamp_with_time_zone(PushPreferences::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_preferences_user")
                            .from(PushPreferences::Table, PushPreferences::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MiniprogramSubscriptions::Table)
                    .if_not_exists()
                    .col(big_integer(MiniprogramSubscriptions::UserId))
                    .col(string_len(MiniprogramSubscriptions::TemplateId, 128))
                    // One credit per "allow" the user tapped; a send spends one on success.
                    .col(integer(MiniprogramSubscriptions::Credits).default(0))
                    .col(timestamp_with_time_zone(
                        MiniprogramSubscriptions::UpdatedAt,
                    ))
                    .primary_key(
                        Index::create()
                            .col(MiniprogramSubscriptions::UserId)
                            .col(MiniprogramSubscriptions::TemplateId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mp_subscriptions_user")
                            .from(
                                MiniprogramSubscriptions::Table,
                                MiniprogramSubscriptions::UserId,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MiniprogramSubscriptions::Table.into_iden(),
            PushPreferences::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
