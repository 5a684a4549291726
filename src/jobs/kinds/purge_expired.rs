//! Deletes what has outlived its use: expired refresh tokens, old read notifications, old
//! job runs. (Dedup keys and rate-limit counters live in the cache with TTLs.)

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Bounded, Kind};
use crate::{
    error::AppResult,
    jobs::store,
    service::{notifications, tokens},
    state::AppState,
    time,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeExpired {
    /// Read notifications older than this are deleted.
    pub notifications_days: Bounded<1, 3650>,
    /// Finished job runs older than this are deleted.
    pub job_runs_days: Bounded<1, 3650>,
}

impl Default for PurgeExpired {
    fn default() -> Self {
        Self {
            notifications_days: Bounded::new(90),
            job_runs_days: Bounded::new(30),
        }
    }
}

impl Kind for PurgeExpired {
    const NAME: &'static str = "purge_expired";
    const DEFAULT_CRON: &'static str = "0 30 3 * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        let now = time::now();
        let days = |d: Bounded<1, 3650>| Duration::days(d.get());
        let refresh_tokens = tokens::purge_expired(&state.db, now).await?;
        let notifications =
            notifications::purge_read(&state.db, now - days(self.notifications_days)).await?;
        let job_runs = store::purge_runs(&state.db, now - days(self.job_runs_days)).await?;
        Ok(json!({
            "refresh_tokens": refresh_tokens,
            "notifications": notifications,
            "job_runs": job_runs,
        }))
    }
}
