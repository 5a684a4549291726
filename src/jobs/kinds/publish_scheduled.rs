//! Publishes the articles whose scheduled publication time has come.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Kind;
use crate::{error::AppResult, service::article_admin, state::AppState, time};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishScheduled {}

impl Kind for PublishScheduled {
    const NAME: &'static str = "publish_scheduled";
    const DEFAULT_CRON: &'static str = "0 * * * * *";

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        let published =
            article_admin::publish_due(&state.db, &state.read_cache, time::now()).await?;
        Ok(json!({ "published": published }))
    }
}
