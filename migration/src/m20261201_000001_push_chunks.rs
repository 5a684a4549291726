//! Push work queue by chunks: `push_chunks` holds ranges of a campaign's deliveries on one
//! channel, each claimed whole under one lease. `push_deliveries` then needs no index on
//! what changes with every send (status, lease): its two indexes that carried the status
//! go, so on PostgreSQL a claim and a settle update the row in place (HOT, with room left
//! on each page by the fillfactor) instead of writing four index entries each time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PushChunks {
    Table,
    Id,
    CampaignId,
    Channel,
    FirstId,
    LastId,
    NextAttemptAt,
    ClaimedBy,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum PushCampaigns {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PushChunks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PushChunks::Id))
                    .col(big_integer(PushChunks::CampaignId))
                    .col(string_len(PushChunks::Channel, 32))
                    .col(big_integer(PushChunks::FirstId))
                    .col(big_integer(PushChunks::LastId))
                    .col(timestamp_with_time_zone_null(PushChunks::NextAttemptAt))
                    .col(string_len_null(PushChunks::ClaimedBy, 160))
                    .col(timestamp_with_time_zone_null(PushChunks::LeaseUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_chunks_campaign")
                            .from(PushChunks::Table, PushChunks::CampaignId)
                            .to(PushCampaigns::Table, PushCampaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Workers: a channel's due chunks in claim order. (A small table: about one row
        // per thousand deliveries.)
        manager
            .create_index(
                Index::create()
                    .name("idx_push_chunks_due")
                    .table(PushChunks::Table)
                    .col(PushChunks::Channel)
                    .col(PushChunks::NextAttemptAt)
                    .col(PushChunks::Id)
                    .to_owned(),
            )
            .await?;
        // Whether a campaign has work left; reopening a campaign's chunks for a retry.
        manager
            .create_index(
                Index::create()
                    .name("idx_push_chunks_campaign")
                    .table(PushChunks::Table)
                    .col(PushChunks::CampaignId)
                    .col(PushChunks::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // Recovery: claims whose lease ran out.
        manager
            .create_index(
                Index::create()
                    .name("idx_push_chunks_lease")
                    .table(PushChunks::Table)
                    .col(PushChunks::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        // Deliveries still to send when this runs get chunks (one per thousand ids).
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO push_chunks (campaign_id, channel, first_id, last_id, next_attempt_at) \
             SELECT campaign_id, channel, MIN(id), MAX(id), MIN(next_attempt_at) \
             FROM push_deliveries WHERE status IN ('pending', 'sending') \
             GROUP BY campaign_id, channel, id / 1000",
        )
        .await?;
        for index in [
            "idx_push_deliveries_due",
            "idx_push_deliveries_campaign_status",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(PushDeliveries::Table)
                        .to_owned(),
                )
                .await?;
        }
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            // Room on each page for a row's claim and settle versions (HOT updates).
            db.execute_unprepared("ALTER TABLE push_deliveries SET (fillfactor = 50)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PushChunks::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
