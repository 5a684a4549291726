//! Database migrations. Frozen history: never import entities here, and never edit a
//! migration that has shipped; add a new one instead. Every migration runs on SQLite and
//! PostgreSQL (one alteration per `alter_table` on SQLite, foreign keys inside `create_table`).

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_catalogue;
mod m20261124_000002_accounts;
mod m20261124_000003_conversation;
mod m20261124_000004_jobs;
mod m20261124_000005_wechat_followers;
mod m20261124_000006_push_preferences;
mod m20261124_000007_push;
mod m20261124_000008_audit_log;
mod m20261201_000001_push_chunks;
mod m20261202_000001_devices;
mod m20261203_000001_article_reads;
mod m20261204_000001_sources;
mod m20261205_000001_release_rollout;
mod m20261205_000002_change_log;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_catalogue::Migration),
            Box::new(m20261124_000002_accounts::Migration),
            Box::new(m20261124_000003_conversation::Migration),
            Box::new(m20261124_000004_jobs::Migration),
            Box::new(m20261124_000005_wechat_followers::Migration),
            Box::new(m20261124_000006_push_preferences::Migration),
            Box::new(m20261124_000007_push::Migration),
            Box::new(m20261124_000008_audit_log::Migration),
            Box::new(m20261201_000001_push_chunks::Migration),
            Box::new(m20261202_000001_devices::Migration),
            Box::new(m20261203_000001_article_reads::Migration),
            Box::new(m20261204_000001_sources::Migration),
            Box::new(m20261205_000001_release_rollout::Migration),
            Box::new(m20261205_000002_change_log::Migration),
        ]
    }
}
