//! Recomputes the hot list (weights in `hot.*`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Kind;
use crate::{error::AppResult, service::hot, state::AppState, time};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshHotRanking {}

impl Kind for RefreshHotRanking {
    const NAME: &'static str = "refresh_hot_ranking";
    const DEFAULT_CRON: &'static str = "0 */5 * * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        let ranked = hot::refresh(
            &state.db,
            &state.cache,
            &state.read_cache,
            &state.settings.hot,
            time::now(),
        )
        .await?;
        Ok(json!({ "ranked": ranked }))
    }
}
