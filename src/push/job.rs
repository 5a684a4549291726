//! The `push_featured` job: newly featured articles become one campaign (a digest when
//! several), prepared at once so the run records who it reaches.

use chrono::Duration;
use entity::push_campaign::CampaignTrigger;
use serde_json::{Value, json};

use super::{campaigns, prepare};
use crate::{error::AppResult, state::AppState, time};

pub const DEFAULT_MAX_ARTICLES: i64 = 10;
pub const DEFAULT_LOOKBACK_HOURS: i64 = 168;

pub async fn push_featured(state: &AppState, params: &Value) -> AppResult<Value> {
    let param =
        |name: &str, default: i64| params.get(name).and_then(Value::as_i64).unwrap_or(default);
    let max = param("max_articles", DEFAULT_MAX_ARTICLES) as u64;
    let lookback = Duration::hours(param("lookback_hours", DEFAULT_LOOKBACK_HOURS));
    let articles = campaigns::unpushed_featured(&state.db, time::now(), lookback, max).await?;
    let ids: Vec<i64> = articles.iter().map(|a| a.id).collect();
    if ids.is_empty() {
        return Ok(
            json!({ "campaign_id": null, "articles": [], "note": "no newly featured articles" }),
        );
    }
    let Some(campaign) =
        campaigns::create(&state.db, &ids, CampaignTrigger::Schedule, None).await?
    else {
        return Ok(json!({ "campaign_id": null, "articles": [], "note": "already pushed" }));
    };
    let prepared = prepare::prepare(
        &state.db,
        &state.settings.push,
        &state.instance,
        campaign.id,
    )
    .await?;
    state.push_wake.notify_waiters();
    Ok(json!({
        "campaign_id": campaign.id,
        "articles": campaigns::article_ids(&campaign),
        "prepared": prepared,
    }))
}
