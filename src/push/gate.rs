//! Channel pacing shared by every instance through the cache: a per-channel rate limit
//! (fixed windows) and a pause when WeChat says a quota is used up.

use std::time::Duration;

use chrono::{DateTime, Days, TimeZone, Utc};
use entity::push_delivery::Channel;

use crate::{cache::Cache, time};

/// The channel's name (as stored, and as a metrics label).
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Inbox => "inbox",
        Channel::WechatTemplate => "wechat_template",
        Channel::WechatMass => "wechat_mass",
        Channel::MiniprogramSubscribe => "miniprogram_subscribe",
        Channel::Apns => "apns",
        Channel::Fcm => "fcm",
        Channel::Harmony => "harmony",
    }
}

/// At most `limit` sends per `window` across all instances; `limit` 0 = no limit.
#[derive(Clone)]
pub struct RateGate {
    cache: Cache,
    channel: Channel,
    limit: u32,
    window: Duration,
}

impl RateGate {
    pub fn new(cache: Cache, channel: Channel, limit: u32, window: Duration) -> Self {
        Self {
            cache,
            channel,
            limit,
            window,
        }
    }

    /// Waits for a slot in the current window.
    pub async fn acquire(&self) {
        if self.limit == 0 {
            return;
        }
        let window_ms = self.window.as_millis().max(1) as i64;
        loop {
            let index = time::now().timestamp_millis() / window_ms;
            let key = format!("push:rate:{}:{index}", channel_name(self.channel));
            match self.cache.incr(&key, 1, self.window * 2).await {
                Ok(counter) if counter.value <= i64::from(self.limit) => return,
                Ok(_) => {
                    let into = time::now().timestamp_millis() % window_ms;
                    let wait = Duration::from_millis((window_ms - into).max(1) as u64);
                    tokio::time::sleep(wait).await;
                }
                Err(err) => {
                    // Without the shared counter, pace this instance alone.
                    tracing::debug!(error = %err, "rate gate without the cache");
                    tokio::time::sleep(self.window / self.limit).await;
                    return;
                }
            }
        }
    }
}

fn pause_key(channel: Channel) -> String {
    format!("push:paused:{}", channel_name(channel))
}

/// WeChat's daily quotas reset at midnight, Beijing time.
pub fn next_quota_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = chrono_tz::Asia::Shanghai;
    let tomorrow = now.with_timezone(&tz).date_naive() + Days::new(1);
    tz.from_local_datetime(&tomorrow.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::days(1))
}

/// Pauses `channel` on every instance until `until`.
pub async fn pause(cache: &Cache, channel: Channel, until: DateTime<Utc>) {
    pause_because(cache, channel, until, "quota used up").await;
}

/// Pauses `channel` on every instance until `until`, saying why (shown with the campaign).
pub async fn pause_because(cache: &Cache, channel: Channel, until: DateTime<Utc>, reason: &str) {
    let left = (until - time::now())
        .to_std()
        .unwrap_or(Duration::from_secs(1));
    let value = format!("{}|{reason}", until.timestamp_millis());
    if let Err(err) = cache.set(&pause_key(channel), value.as_bytes(), left).await {
        tracing::warn!(error = %err, "cannot record the channel pause in the cache");
    }
    tracing::warn!(channel = channel_name(channel), %until, reason, "push channel paused");
}

/// Until when `channel` is paused, if it is.
pub async fn paused_until(cache: &Cache, channel: Channel) -> Option<DateTime<Utc>> {
    Some(pause_of(cache, channel).await?.0)
}

/// Until when `channel` is paused and why, if it is.
pub async fn pause_of(cache: &Cache, channel: Channel) -> Option<(DateTime<Utc>, String)> {
    let raw = cache.get(&pause_key(channel)).await.ok()??;
    let raw = std::str::from_utf8(&raw).ok()?;
    let (ms, reason) = raw.split_once('|').unwrap_or((raw, "quota used up"));
    let until = DateTime::from_timestamp_millis(ms.parse().ok()?)?;
    (until > time::now()).then(|| (until, reason.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_reset_at_the_next_beijing_midnight() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 10:00 Beijing -> 00:00 Beijing next day = 16:00 UTC the same day.
        assert_eq!(
            next_quota_reset(at("2026-11-24T02:00:00Z")),
            at("2026-11-24T16:00:00Z")
        );
        // 23:30 Beijing (15:30 UTC) -> 16:00 UTC.
        assert_eq!(
            next_quota_reset(at("2026-11-24T15:30:00Z")),
            at("2026-11-24T16:00:00Z")
        );
        // 00:30 Beijing (16:30 UTC) -> the next one, 16:00 UTC the day after.
        assert_eq!(
            next_quota_reset(at("2026-11-24T16:30:00Z")),
            at("2026-11-25T16:00:00Z")
        );
    }
}
