//! Newly featured articles become one campaign (a digest when several).

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Bounded, Kind};
use crate::{error::AppResult, state::AppState};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushFeatured {
    /// Articles in one digest.
    pub max_articles: Bounded<1, 20>,
    /// How far back a featuring still counts as new.
    pub lookback_hours: Bounded<1, { 24 * 90 }>,
}

impl Default for PushFeatured {
    fn default() -> Self {
        Self {
            max_articles: Bounded::new(10),
            lookback_hours: Bounded::new(168),
        }
    }
}

impl Kind for PushFeatured {
    const NAME: &'static str = "push_featured";
    const DEFAULT_CRON: &'static str = "0 0 20 * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        crate::push::job::push_featured(
            state,
            self.max_articles.get() as u64,
            Duration::hours(self.lookback_hours.get()),
        )
        .await
    }
}
