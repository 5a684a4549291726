//! Writes the view counters counted in the cache to SQL.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Kind;
use crate::{error::AppResult, service::views, state::AppState};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlushCounters {}

impl Kind for FlushCounters {
    const NAME: &'static str = "flush_counters";
    const DEFAULT_CRON: &'static str = "0 * * * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        // No invalidation: view counts may lag in cached reads until their entries expire
        // (minutes); flushing every minute must not make every instance rebuild every page.
        let views = views::flush(&state.db, &state.cache).await?;
        Ok(json!({ "views": views }))
    }
}
