//! Push campaigns and their deliveries. An article belongs to at most one campaign
//! (`push_campaign_articles` keyed on the article), and a delivery is unique per
//! (campaign, channel, recipient): the database, not hope, prevents double sends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PushCampaigns {
    Table,
    Id,
    Status,
    Trigger,
    Title,
    ArticleIds,
    FollowerHorizon,
    UserHorizon,
    CreatedBy,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    PreparedAt,
    FinishedAt,
    Error,
}

#[derive(DeriveIden)]
enum PushCampaignArticles {
    Table,
    ArticleId,
    CampaignId,
}

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
    Id,
    CampaignId,
    Channel,
    Recipient,
    UserId,
    ArticleIds,
    Batch,
    BatchLeader,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    LeaseUntil,
    LastErrcode,
    LastError,
    SentAt,
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
                    .table(PushCampaigns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PushCampaigns::Id))
                    .col(string_len(PushCampaigns::Status, 16))
                    .col(string_len(PushCampaigns::Trigger, 16))
                    .col(string_len(PushCampaigns::Title, 512))
                    // JSON array of article ids, in digest order.
                    .col(text(PushCampaigns::ArticleIds))
                    // Recipients are frozen at creation: followers and users with ids up to
                    // these are included, later ones are not.
                    .col(big_integer(PushCampaigns::FollowerHorizon))
                    .col(big_integer(PushCampaigns::UserHorizon))
                    .col(big_integer_null(PushCampaigns::CreatedBy))
                    // The instance preparing the campaign and until when; an expired lease
                    // lets another instance resume a preparation whose instance died.
                    .col(string_len_null(PushCampaigns::LeaseOwner, 128))
                    .col(timestamp_with_time_zone_null(PushCampaigns::LeaseUntil))
                    .col(timestamp_with_time_zone(PushCampaigns::CreatedAt))
                    .col(timestamp_with_time_zone_null(PushCampaigns::PreparedAt))
                    .col(timestamp_with_time_zone_null(PushCampaigns::FinishedAt))
                    .col(text_null(PushCampaigns::Error))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_push_campaigns_status")
                    .table(PushCampaigns::Table)
                    .col(PushCampaigns::Status)
                    .col(PushCampaigns::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushCampaignArticles::Table)
                    .if_not_exists()
                    .col(big_integer(PushCampaignArticles::ArticleId).primary_key())
                    .col(big_integer(PushCampaignArticles::CampaignId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_campaign_articles_campaign")
                            .from(
                                PushCampaignArticles::Table,
                                PushCampaignArticles::CampaignId,
                            )
                            .to(PushCampaigns::Table, PushCampaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_campaign_articles_article")
                            .from(PushCampaignArticles::Table, PushCampaignArticles::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PushDeliveries::Id))
                    .col(big_integer(PushDeliveries::CampaignId))
                    .col(string_len(PushDeliveries::Channel, 32))
                    // An openid for the WeChat channels, the user id for the inbox.
                    .col(string_len(PushDeliveries::Recipient, 128))
                    .col(big_integer_null(PushDeliveries::UserId))
                    // JSON array when this recipient wants only some of the articles.
                    .col(text_null(PushDeliveries::ArticleIds))
                    // Mass sends: the batch a recipient belongs to; its leader row is what
                    // workers claim, so a batch is always claimed whole.
                    .col(integer_null(PushDeliveries::Batch))
                    .col(boolean(PushDeliveries::BatchLeader).default(false))
                    .col(string_len(PushDeliveries::Status, 16))
                    .col(integer(PushDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone(PushDeliveries::NextAttemptAt))
                    .col(string_len_null(PushDeliveries::ClaimedBy, 128))
                    .col(timestamp_with_time_zone_null(PushDeliveries::LeaseUntil))
                    .col(big_integer_null(PushDeliveries::LastErrcode))
                    .col(text_null(PushDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(PushDeliveries::SentAt))
                    .col(timestamp_with_time_zone(PushDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_deliveries_campaign")
                            .from(PushDeliveries::Table, PushDeliveries::CampaignId)
                            .to(PushCampaigns::Table, PushCampaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_push_deliveries_recipient")
                            .col(PushDeliveries::CampaignId)
                            .col(PushDeliveries::Channel)
                            .col(PushDeliveries::Recipient)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        // Workers: the due deliveries of a channel, in claim order (next attempt, then id:
        // without the id a claim sorts every due row to take the first batch). Not partial:
        // the claim compares status with a bound parameter, which a generic plan cannot
        // match against an index predicate.
        manager
            .create_index(
                Index::create()
                    .name("idx_push_deliveries_due")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::Channel)
                    .col(PushDeliveries::Status)
                    .col(PushDeliveries::NextAttemptAt)
                    .col(PushDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        // Counts by status per campaign, and completion checks.
        manager
            .create_index(
                Index::create()
                    .name("idx_push_deliveries_campaign_status")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::CampaignId)
                    .col(PushDeliveries::Status)
                    .to_owned(),
            )
            .await?;
        // Recovery (status = sending, lease passed) and mass batches (campaign, batch) use
        // the two indexes above: every extra index on a row whose status changes with each
        // send is written again for each delivery.
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PushDeliveries::Table.into_iden(),
            PushCampaignArticles::Table.into_iden(),
            PushCampaigns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
