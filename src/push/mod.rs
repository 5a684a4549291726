//! Push: newly featured articles to everyone who follows the site, once each, through the
//! in-app inbox and WeChat (DESIGN §8).
//!
//! A campaign covers one or more articles (each article belongs to at most one campaign);
//! preparing it freezes its recipients into delivery rows, unique per (campaign, channel,
//! recipient); workers on every instance claim due rows, send, and settle them. A claim
//! whose worker died is resent only through a channel with a de-duplication key, otherwise
//! marked `unknown`: never sent twice.

pub mod campaigns;
pub mod channels;
pub mod chunks;
pub mod deliveries;
pub mod devices;
pub mod gate;
pub mod job;
pub mod message;
pub mod prepare;
pub mod worker;

use entity::{push_campaign, push_delivery::Channel};

use crate::{error::AppResult, service::audit::Actor, state::AppState};

/// Pushes one published article now (an admin asked), or returns the campaign that already
/// pushed it (`false`). A new campaign is prepared in the background; if this instance
/// dies first, another one's maintenance loop prepares it.
pub async fn push_article_now(
    state: &AppState,
    article_id: i64,
    admin: &Actor,
) -> AppResult<(push_campaign::Model, bool)> {
    let (campaign, created) = campaigns::push_article(&state.db, article_id, admin).await?;
    if created {
        let state = state.clone();
        let id = campaign.id;
        tokio::spawn(async move {
            match prepare::prepare(&state.db, &state.settings.push, &state.instance, id).await {
                Ok(_) => state.push_wake.notify_waiters(),
                Err(err) => {
                    tracing::warn!(campaign = id, error = %err, "cannot prepare the campaign")
                }
            }
        });
    }
    Ok((campaign, created))
}

/// Puts a campaign's failed deliveries back in the queue and wakes the workers.
pub async fn retry_failed(state: &AppState, campaign_id: i64, admin: &Actor) -> AppResult<u64> {
    let requeued = campaigns::retry_failed(&state.db, campaign_id, admin).await?;
    state.push_wake.notify_waiters();
    Ok(requeued)
}

/// Counts a settled delivery in `/metrics` (`qshare_push_deliveries_total`).
pub fn record_outcome(channel: Channel, outcome: &deliveries::Settle) {
    crate::metrics::record_push_delivery(gate::channel_name(channel), outcome.outcome());
}
