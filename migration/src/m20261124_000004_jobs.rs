//! Scheduled jobs (schedules as data) and their runs; a run row per (job, tick) is how one
//! instance of several claims a tick.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ScheduledJobs {
    Table,
    Id,
    Name,
    Kind,
    Cron,
    Timezone,
    Enabled,
    Params,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    JobId,
    ScheduledAt,
    Instance,
    Trigger,
    Status,
    StartedAt,
    FinishedAt,
    Summary,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScheduledJobs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ScheduledJobs::Id))
                    .col(string_len_uniq(ScheduledJobs::Name, 64))
                    .col(string_len(ScheduledJobs::Kind, 32))
                    .col(string_len(ScheduledJobs::Cron, 128))
                    .col(string_len(ScheduledJobs::Timezone, 64))
                    .col(boolean(ScheduledJobs::Enabled))
                    .col(text(ScheduledJobs::Params))
                    // Bumped on every change: instances re-register a job when it moves.
                    .col(big_integer(ScheduledJobs::Version).default(1))
                    .col(timestamp_with_time_zone(ScheduledJobs::CreatedAt))
                    .col(timestamp_with_time_zone(ScheduledJobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(JobRuns::Id))
                    .col(big_integer(JobRuns::JobId))
                    .col(timestamp_with_time_zone(JobRuns::ScheduledAt))
                    .col(string_len(JobRuns::Instance, 128))
                    .col(string_len(JobRuns::Trigger, 16))
                    .col(string_len(JobRuns::Status, 16))
                    .col(timestamp_with_time_zone(JobRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
                    .col(text_null(JobRuns::Summary))
                    .col(text_null(JobRuns::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_runs_job")
                            .from(JobRuns::Table, JobRuns::JobId)
                            .to(ScheduledJobs::Table, ScheduledJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // The cluster-wide claim: only one instance inserts a given tick.
                    .index(
                        Index::create()
                            .name("uq_job_runs_tick")
                            .col(JobRuns::JobId)
                            .col(JobRuns::ScheduledAt)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_history")
                    .table(JobRuns::Table)
                    .col(JobRuns::JobId)
                    .col(JobRuns::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_started")
                    .table(JobRuns::Table)
                    .col(JobRuns::StartedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [JobRuns::Table.into_iden(), ScheduledJobs::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
