//! Feed sources that are due are fetched, and their new items come in as drafts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Bounded, Kind};
use crate::{
    error::{AppError, AppResult},
    service::sources::ingest,
    state::AppState,
    time,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSources {
    /// Sources fetched per run at most (the longest waiting first); the rest wait for the
    /// next run.
    pub max_sources: Bounded<1, 1000>,
}

impl Default for IngestSources {
    fn default() -> Self {
        Self {
            max_sources: Bounded::new(100),
        }
    }
}

impl Kind for IngestSources {
    const NAME: &'static str = "ingest_sources";
    /// Every ten minutes; each source also waits its own minimum interval.
    const DEFAULT_CRON: &'static str = "0 */10 * * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        let summary = ingest::run_due(state, time::now(), self.max_sources.get() as u64).await?;
        serde_json::to_value(summary).map_err(|e| AppError::Internal(e.into()))
    }
}
