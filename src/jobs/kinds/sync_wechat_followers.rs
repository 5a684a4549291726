//! Reconciles `wechat_followers` with the Official Account's `user/get` list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Kind;
use crate::{
    error::{AppError, AppResult},
    service::followers,
    state::AppState,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncWechatFollowers {}

impl Kind for SyncWechatFollowers {
    const NAME: &'static str = "sync_wechat_followers";
    const DEFAULT_CRON: &'static str = "0 30 4 * * *";

    fn ready(state: &AppState) -> bool {
        state.wechat.official_account.is_some()
    }

    async fn run(&self, state: &AppState) -> AppResult<Value> {
        let summary = followers::sync(state).await?;
        serde_json::to_value(summary).map_err(|e| AppError::Internal(e.into()))
    }
}
