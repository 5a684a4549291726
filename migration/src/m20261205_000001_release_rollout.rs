//! App releases, second version: a channel (official or a store), a build number, a staged
//! rollout in basis points, a halted flag, the package's SHA-256 and English notes. A
//! version is now unique per platform and channel, so the table is rebuilt: the first
//! version's unique constraint lives inside its CREATE TABLE, which SQLite cannot drop.
//! Existing releases become `official`, build 0, fully rolled out.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppReleases {
    Table,
    Id,
    Platform,
    Channel,
    Version,
    Build,
    MinSupportedVersion,
    RolloutBasisPoints,
    Halted,
    SizeBytes,
    DownloadUrl,
    Sha256,
    Notes,
    NotesEn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppReleasesV2 {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppReleasesV2::Table)
                    .col(big_pk_auto(AppReleases::Id))
                    .col(string_len(AppReleases::Platform, 16))
                    .col(string_len(AppReleases::Channel, 16).default("official"))
                    .col(string_len(AppReleases::Version, 64))
                    .col(big_integer(AppReleases::Build).default(0))
                    .col(string_len(AppReleases::MinSupportedVersion, 64))
                    .col(integer(AppReleases::RolloutBasisPoints).default(10_000))
                    .col(boolean(AppReleases::Halted).default(false))
                    .col(big_integer(AppReleases::SizeBytes))
                    .col(string_len(AppReleases::DownloadUrl, 1024))
                    .col(string_len_null(AppReleases::Sha256, 64))
                    .col(text(AppReleases::Notes))
                    .col(text(AppReleases::NotesEn).default(""))
                    .col(timestamp_with_time_zone(AppReleases::CreatedAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO app_releases_v2 (id, platform, channel, version, build, \
             min_supported_version, rollout_basis_points, halted, size_bytes, download_url, \
             sha256, notes, notes_en, created_at) \
             SELECT id, platform, 'official', version, 0, min_supported_version, 10000, false, \
             size_bytes, download_url, NULL, notes, '', created_at FROM app_releases",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(AppReleases::Table).to_owned())
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(AppReleasesV2::Table, AppReleases::Table)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // The copied rows kept their ids; the sequence continues after them.
            db.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('app_releases', 'id'), \
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM app_releases), false)",
            )
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("uq_app_releases_platform_channel_version")
                    .table(AppReleases::Table)
                    .col(AppReleases::Platform)
                    .col(AppReleases::Channel)
                    .col(AppReleases::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Channels and rollouts cannot be folded back into one release per version.
        Err(DbErr::Migration(
            "app releases with channels cannot be migrated down".into(),
        ))
    }
}
