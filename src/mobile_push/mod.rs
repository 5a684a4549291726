//! Device push protocols: thin clients of the operating systems' push services (shared/reference/mobile-push.md):
//! APNs (ES256 provider JWT), FCM HTTP v1 (OAuth token from an RS256 assertion, shared
//! through the cache) and HarmonyOS Push Kit v3 (PS256 service-account JWT). Each turns the
//! provider's answer into an [`Outcome`] following the reference's error tables; what an
//! outcome does to the delivery and the device is decided in `push::devices`. Like `wechat`,
//! this layer knows nothing of deliveries, services or HTTP handlers.

pub mod apns;
pub mod fcm;
pub mod harmony;
pub mod http;
pub mod payload;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{cache::Cache, config::PushSettings};

/// One notification to one device, as every provider is told it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// Opens the article in the app.
    pub deep_link: String,
    pub article_id: i64,
    /// The owner's unread inbox count (none for an anonymous device).
    pub badge: Option<u64>,
    /// The same for every send of one campaign: a resend replaces, never adds.
    pub collapse_id: String,
    /// Harmony's `collapseKey`: an offline-cache group, 1..=100
    /// (`push::message::harmony_collapse_key`).
    pub collapse_number: i32,
    /// Harmony's `notifyId`: the same id replaces the notification shown.
    pub notify_id: i32,
    pub ttl: Duration,
    /// When the provider may drop it (now + ttl).
    pub expires_at: DateTime<Utc>,
}

/// What a provider's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The token is dead (uninstalled, another app, another sender): mark the device
    /// invalid, unless it registered again after `at` (APNs' 410 timestamp).
    Dead {
        reason: String,
        at: Option<DateTime<Utc>>,
    },
    /// 429 and flow control: back off for `after`, the whole channel when `channel`.
    Backoff {
        reason: String,
        after: Duration,
        channel: bool,
    },
    /// 5xx, timeouts, a reset connection: retry with backoff (`after` when the provider
    /// said, e.g. Retry-After).
    Transient {
        reason: String,
        after: Option<Duration>,
    },
    /// Our request was wrong (bad payload, bad header): fail, do not retry.
    Rejected {
        reason: String,
    },
    /// Credentials or configuration are wrong: pause the channel everywhere.
    Config {
        reason: String,
    },
}

impl Outcome {
    /// The reason as reported (the metrics label and the delivery's `last_error`).
    pub fn reason(&self) -> &str {
        match self {
            Self::Sent => "sent",
            Self::Dead { reason, .. }
            | Self::Backoff { reason, .. }
            | Self::Transient { reason, .. }
            | Self::Rejected { reason }
            | Self::Config { reason } => reason,
        }
    }
}

/// A transport failure as an outcome: the request may not have reached the provider.
pub(crate) fn transport(err: &reqwest::Error) -> Outcome {
    let reason = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "transport"
    };
    Outcome::Transient {
        reason: reason.into(),
        after: None,
    }
}

/// `Retry-After` in seconds (the only form the providers send).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The enabled device providers of this instance, built once at start-up and shared by
/// every worker (so APNs' provider JWT is minted once per instance, not per worker).
#[derive(Clone, Default)]
pub struct Providers {
    pub apns: Option<Arc<apns::ApnsClient>>,
    pub fcm: Option<Arc<fcm::FcmClient>>,
    pub harmony: Option<Arc<harmony::HarmonyClient>>,
}

impl Providers {
    /// Reads keys and service accounts and builds the HTTP/2 clients; a bad key or file
    /// stops start-up with a clear message (never the key itself).
    pub fn from_settings(settings: &PushSettings, cache: &Cache) -> anyhow::Result<Self> {
        let c = &settings.channels;
        let timeout = Duration::from_millis(settings.devices.request_timeout_ms);
        Ok(Self {
            apns: c
                .apns
                .enabled
                .then(|| apns::ApnsClient::new(&c.apns, timeout).map(Arc::new))
                .transpose()?,
            fcm: c
                .fcm
                .enabled
                .then(|| fcm::FcmClient::new(&c.fcm, cache.clone(), timeout).map(Arc::new))
                .transpose()?,
            harmony: c
                .harmony
                .enabled
                .then(|| harmony::HarmonyClient::new(&c.harmony, timeout).map(Arc::new))
                .transpose()?,
        })
    }
}

/// A secret given by path or inline, read once.
pub(crate) fn read_secret(
    what: &str,
    path: Option<&str>,
    inline: Option<&str>,
) -> anyhow::Result<String> {
    match (inline.filter(|s| !s.trim().is_empty()), path) {
        (Some(inline), _) => Ok(inline.to_string()),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {what} at {path}: {e}")),
        (None, None) => Err(anyhow::anyhow!("{what} is not configured")),
    }
}
