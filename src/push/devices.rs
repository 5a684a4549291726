//! Device channels (`apns`, `fcm`, `harmony`): sending a claimed batch, one notification
//! per device, and turning each provider outcome into a settlement and its side effects
//! (shared/reference/mobile-push.md): a dead token marks the device invalid (it is never
//! sent to again until it registers again), 429 backs off the device or the channel
//! honouring Retry-After, 5xx and timeouts retry with backoff, and a credential or
//! configuration error pauses the channel on every instance.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};

use chrono::{Duration, Utc};
use entity::{
    device,
    push_delivery::{self, Channel},
};
use futures_util::{StreamExt, stream};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::Semaphore;

use super::{
    channels::{articles_for, backoff},
    deliveries::Settle,
    gate::{self, RateGate},
    message::{self, ArticleBrief},
};
use crate::{
    mobile_push::{Notification, Outcome},
    service::{devices as device_service, notifications},
    state::AppState,
    time,
};

/// The provider channel of a device.
pub fn channel_of(provider: device::Provider) -> Channel {
    match provider {
        device::Provider::Apns => Channel::Apns,
        device::Provider::Fcm => Channel::Fcm,
        device::Provider::Harmony => Channel::Harmony,
    }
}

pub fn is_device_channel(channel: Channel) -> bool {
    matches!(channel, Channel::Apns | Channel::Fcm | Channel::Harmony)
}

fn skipped(reason: impl Into<String>) -> Settle {
    Settle::Skipped {
        errcode: None,
        error: reason.into(),
    }
}

/// Sends a claimed batch of one device channel.
pub async fn send_batch(
    state: &AppState,
    channel: Channel,
    gate: &RateGate,
    in_flight: &Semaphore,
    claimed: &[push_delivery::Model],
    articles: &HashMap<i64, Vec<ArticleBrief>>,
    lost: &AtomicBool,
) -> Vec<(i64, Settle)> {
    let ids: Vec<i64> = claimed
        .iter()
        .filter_map(|d| d.recipient.parse().ok())
        .collect();
    let devices: HashMap<i64, device::Model> = match device::Entity::find()
        .filter(device::Column::Id.is_in(ids))
        .all(&state.db)
        .await
    {
        Ok(rows) => rows.into_iter().map(|d| (d.id, d)).collect(),
        Err(err) => {
            let at = time::now() + backoff(&state.settings.push, 1);
            return claimed
                .iter()
                .map(|d| {
                    (
                        d.id,
                        Settle::Retry {
                            at,
                            errcode: None,
                            error: format!("cannot read the devices: {err}"),
                            uncount: false,
                        },
                    )
                })
                .collect();
        }
    };
    // The owners' badges, in one query for the batch rather than one per delivery.
    let mut owners: Vec<i64> = devices.values().filter_map(|d| d.user_id).collect();
    owners.sort_unstable();
    owners.dedup();
    let badges = if owners.is_empty() {
        Some(HashMap::new())
    } else {
        notifications::unread_counts(&state.db, &owners).await.ok()
    };
    let paused = AtomicBool::new(false);
    let (paused, devices, badges) = (&paused, &devices, &badges);
    let concurrency = claimed.len().max(1);
    stream::iter(claimed.iter().cloned())
        .map(|d| async move {
            if paused.load(Ordering::Relaxed) || lost.load(Ordering::Relaxed) {
                return (d.id, released(state, channel).await);
            }
            let Some(device) = d
                .recipient
                .parse()
                .ok()
                .and_then(|id: i64| devices.get(&id))
            else {
                return (d.id, skipped("device removed"));
            };
            let _permit = in_flight.acquire().await.ok();
            gate.acquire().await;
            if lost.load(Ordering::Relaxed) {
                return (d.id, released(state, channel).await);
            }
            let badge = device
                .user_id
                .and_then(|u| badges.as_ref().map(|b| b.get(&u).copied().unwrap_or(0)));
            let outcome = send_one(state, channel, &d, device, badge, articles).await;
            if matches!(outcome, Settle::Retry { uncount: true, .. }) {
                // Paused (or backing off) the channel: the rest goes back unsent.
                paused.store(
                    gate::paused_until(&state.cache, channel).await.is_some(),
                    Ordering::Relaxed,
                );
            }
            (d.id, outcome)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

async fn released(state: &AppState, channel: Channel) -> Settle {
    let at = gate::paused_until(&state.cache, channel)
        .await
        .unwrap_or_else(|| time::now() + Duration::seconds(1));
    Settle::Retry {
        at,
        errcode: None,
        error: "not sent: the channel is paused".into(),
        uncount: true,
    }
}

/// The personal part of a delivery no longer applies when its owner logged out of the
/// device (or it moved to someone else) since the campaign was prepared.
fn owner_changed(d: &push_delivery::Model, device: &device::Model) -> bool {
    d.user_id.is_some() && d.user_id != device.user_id
}

async fn send_one(
    state: &AppState,
    channel: Channel,
    d: &push_delivery::Model,
    device: &device::Model,
    badge: Option<u64>,
    articles: &HashMap<i64, Vec<ArticleBrief>>,
) -> Settle {
    if let Some(reason) = &device.invalid_reason {
        return skipped(format!("invalid token: {reason}"));
    }
    if device.invalid_at.is_some() {
        return skipped("invalid token");
    }
    if owner_changed(d, device) {
        return skipped("the owner signed out of the device");
    }
    let wanted = articles_for(articles.get(&d.campaign_id).map_or(&[], Vec::as_slice), d);
    let Some(first) = wanted.first() else {
        return skipped("the articles are gone");
    };
    let cap = DailyCap::new(state, device.id, d.campaign_id);
    if !cap.spend().await {
        return skipped("daily cap of marketing pushes reached");
    }
    let devices = &state.settings.push.devices;
    let (title, body) = message::device_text(&wanted, &device.locale);
    let ttl = std::time::Duration::from_secs(devices.ttl_secs);
    let n = Notification {
        title,
        body,
        deep_link: devices.deep_link.replace("{id}", &first.id.to_string()),
        article_id: first.id,
        badge,
        collapse_id: message::collapse_id(d.campaign_id),
        collapse_number: message::harmony_collapse_key(d.campaign_id),
        notify_id: message::harmony_notify_id(d.campaign_id),
        ttl,
        expires_at: time::now() + Duration::seconds(devices.ttl_secs as i64),
    };
    let providers = &state.push_providers;
    let outcome = match channel {
        Channel::Apns => match &providers.apns {
            Some(c) => c.send(&device.token, Some(device.environment), &n).await,
            None => not_configured(),
        },
        Channel::Fcm => match &providers.fcm {
            Some(c) => c.send(&device.token, &n).await,
            None => not_configured(),
        },
        Channel::Harmony => match &providers.harmony {
            Some(c) => c.send(&device.token, &n).await,
            None => not_configured(),
        },
        _ => not_configured(),
    };
    if outcome != Outcome::Sent {
        cap.refund().await;
    }
    settle(state, channel, d, device, outcome).await
}

/// The cache key (a hash by device) of the marketing pushes spent on the day of `at`
/// (Beijing time): one key per day for every device, not one per device.
fn daily_cap_key(at: chrono::DateTime<Utc>) -> String {
    format!(
        "push:cap:{}",
        at.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y%m%d")
    )
}

/// How many of `device_id`'s marketing pushes the day of `at` has spent.
pub async fn daily_cap_spent(
    cache: &crate::cache::Cache,
    device_id: i64,
    at: chrono::DateTime<Utc>,
) -> u32 {
    cache
        .spent(&daily_cap_key(at), &device_id.to_string())
        .await
        .unwrap_or(0)
}

/// The per-device daily cap of marketing pushes (`push.devices.marketing_daily_cap`),
/// spent at most once per (device, campaign): the day's slots of a device name the
/// campaigns that took them, so the resend of a crashed worker's claim (whose first send
/// may well have arrived) finds its slot taken already and does not spend another.
struct DailyCap<'a> {
    state: &'a AppState,
    cap: u32,
    day: String,
    device: String,
    campaign: String,
}

impl<'a> DailyCap<'a> {
    const TTL: std::time::Duration = std::time::Duration::from_secs(2 * 86_400);

    fn new(state: &'a AppState, device_id: i64, campaign_id: i64) -> Self {
        Self {
            state,
            cap: state.settings.push.devices.marketing_daily_cap,
            day: daily_cap_key(Utc::now()),
            device: device_id.to_string(),
            campaign: campaign_id.to_string(),
        }
    }

    /// Takes one of today's pushes for this campaign (or finds it already taken); false
    /// when the day's cap is used up.
    async fn spend(&self) -> bool {
        if self.cap == 0 {
            return true;
        }
        self.state
            .cache
            .spend_once_or_local(&self.day, &self.device, &self.campaign, self.cap, Self::TTL)
            .await
    }

    /// Gives the push back: it was not delivered (it will be counted when it is).
    async fn refund(&self) {
        if self.cap == 0 {
            return;
        }
        self.state
            .cache
            .unspend_or_local(&self.day, &self.device, &self.campaign)
            .await;
    }
}

fn not_configured() -> Outcome {
    Outcome::Config {
        reason: "the channel is not configured".into(),
    }
}

/// A provider's reason as a bounded metrics label.
fn label(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ' ')
        .take(40)
        .collect()
}

async fn settle(
    state: &AppState,
    channel: Channel,
    d: &push_delivery::Model,
    device: &device::Model,
    outcome: Outcome,
) -> Settle {
    let name = gate::channel_name(channel);
    if outcome != Outcome::Sent {
        crate::metrics::record_push_provider_error(name, &label(outcome.reason()));
    }
    let push = &state.settings.push;
    let now = time::now();
    match outcome {
        Outcome::Sent => Settle::Sent,
        Outcome::Dead { reason, at } => {
            match device_service::mark_invalid(&state.db, device.id, &reason, at).await {
                Ok(true) => {
                    tracing::info!(channel = name, device = device.id, %reason, "device token is dead")
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "cannot mark the device invalid"),
            }
            skipped(reason)
        }
        Outcome::Backoff {
            reason,
            after,
            channel: whole,
        } => {
            let at = now + Duration::from_std(after).unwrap_or(Duration::seconds(60));
            if whole {
                gate::pause_because(&state.cache, channel, at, &reason).await;
            }
            Settle::Retry {
                at,
                errcode: None,
                error: reason,
                uncount: true,
            }
        }
        Outcome::Transient { reason, after } => {
            if d.attempts >= push.max_attempts as i32 {
                return Settle::Failed {
                    errcode: None,
                    error: format!("gave up after {} attempts: {reason}", d.attempts),
                };
            }
            let wait = after
                .and_then(|a| Duration::from_std(a).ok())
                .unwrap_or_else(|| backoff(push, d.attempts));
            Settle::Retry {
                at: now + wait,
                errcode: None,
                error: reason,
                uncount: false,
            }
        }
        Outcome::Rejected { reason } => Settle::Failed {
            errcode: None,
            error: reason,
        },
        Outcome::Config { reason } => {
            let until = now + Duration::seconds(push.devices.config_error_pause_secs as i64);
            gate::pause_because(&state.cache, channel, until, &reason).await;
            tracing::error!(channel = name, %reason, "device push channel paused: credential or configuration error");
            Settle::Retry {
                at: until,
                errcode: None,
                error: reason,
                uncount: true,
            }
        }
    }
}
