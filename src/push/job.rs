//! The `push_featured` job's work (its params and defaults are in
//! `jobs::kinds::push_featured`): newly featured articles become one campaign (a digest when
//! several), prepared at once so the run records who it reaches.

use chrono::Duration;
use entity::push_campaign::CampaignTrigger;
use serde_json::{Value, json};

use super::{campaigns, prepare};
use crate::{error::AppResult, state::AppState, time};

pub async fn push_featured(
    state: &AppState,
    max_articles: u64,
    lookback: Duration,
) -> AppResult<Value> {
    let articles =
        campaigns::unpushed_featured(&state.db, time::now(), lookback, max_articles).await?;
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
