//! APNs over HTTP/2 with token authentication. One provider JWT (ES256, `kid` = Key ID,
//! `iss` = Team ID) serves every connection and worker of the instance; it is reused for
//! `token_ttl_secs` (Apple refuses one older than an hour) and never re-minted sooner than
//! `min_remint_secs` after the last, so a burst, or an `ExpiredProviderToken` storm, can
//! never earn `TooManyProviderTokenUpdates`.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::device::Environment;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Notification, Outcome, http, payload, read_secret, retry_after, transport};
use crate::config::ApnsChannel;

/// APNs' payload limit for alerts.
pub const PAYLOAD_MAX: usize = 4096;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

struct Minted {
    jwt: String,
    at: Instant,
}

pub struct ApnsClient {
    http: reqwest::Client,
    production_url: String,
    sandbox_url: String,
    default_environment: Environment,
    topic: String,
    key: EncodingKey,
    key_id: String,
    team_id: String,
    ttl: Duration,
    min_remint: Duration,
    token: Mutex<Option<Minted>>,
    mints: AtomicU64,
}

#[derive(Deserialize)]
struct ErrorBody {
    reason: Option<String>,
    /// Milliseconds since the epoch (with 410): when the token stopped being valid.
    timestamp: Option<i64>,
}

impl ApnsClient {
    pub fn new(settings: &ApnsChannel, timeout: Duration) -> anyhow::Result<Self> {
        let pem = read_secret(
            "push.channels.apns key",
            settings.key_path.as_deref(),
            settings.key_pem.as_deref(),
        )?;
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| {
            anyhow::anyhow!("push.channels.apns: the key is not an EC (.p8) PEM key")
        })?;
        Ok(Self {
            http: http::client(settings.ca_cert_path.as_deref(), timeout)?,
            production_url: settings.base_url.trim_end_matches('/').into(),
            sandbox_url: settings.sandbox_base_url.trim_end_matches('/').into(),
            default_environment: if settings.environment == "sandbox" {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            topic: settings.topic.clone(),
            key,
            key_id: settings.key_id.clone(),
            team_id: settings.team_id.clone(),
            ttl: Duration::from_secs(settings.token_ttl_secs),
            min_remint: Duration::from_secs(settings.min_remint_secs),
            token: Mutex::new(None),
            mints: AtomicU64::new(0),
        })
    }

    /// Provider JWTs minted by this instance (for tests and metrics).
    pub fn mints(&self) -> u64 {
        self.mints.load(Ordering::Relaxed)
    }

    /// The instance's JWT: the current one while younger than `token_ttl_secs`, else a new
    /// one (never sooner than the re-mint floor after the last). None when the key cannot
    /// sign (a configuration error).
    fn bearer(&self) -> Option<String> {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slot.as_ref() {
            let age = t.at.elapsed();
            if age < self.ttl || age < self.min_remint {
                return Some(t.jwt.clone());
            }
        }
        self.mint(&mut slot)
    }

    /// APNs said ExpiredProviderToken to `stale`: the JWT to retry with. Another request
    /// may have replaced it already (then that one); otherwise a new one if the re-mint
    /// floor has passed since the last, else `Err(wait)`: how long until it has (sending
    /// with the refused JWT meanwhile would only be refused again).
    fn replace(&self, stale: &str) -> Result<Option<String>, Duration> {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slot.as_ref() {
            if t.jwt != stale {
                return Ok(Some(t.jwt.clone()));
            }
            let age = t.at.elapsed();
            if age < self.min_remint {
                return Err(self.min_remint - age);
            }
        }
        Ok(self.mint(&mut slot))
    }

    fn mint(&self, slot: &mut Option<Minted>) -> Option<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat: Utc::now().timestamp(),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).ok()?;
        self.mints.fetch_add(1, Ordering::Relaxed);
        tracing::info!(key_id = %self.key_id, "minted a new APNs provider token");
        *slot = Some(Minted {
            jwt: jwt.clone(),
            at: Instant::now(),
        });
        Some(jwt)
    }

    pub fn payload(n: &Notification) -> Option<Vec<u8>> {
        payload::fit(&n.title, &n.body, PAYLOAD_MAX, |title, body| {
            let mut aps = json!({
                "alert": { "title": title, "body": body },
                "sound": "default",
                "thread-id": "featured",
                "mutable-content": 1,
            });
            if let Some(badge) = n.badge {
                aps["badge"] = json!(badge);
            }
            serde_json::to_vec(&json!({
                "aps": aps,
                "link": n.deep_link,
                "article_id": n.article_id,
            }))
            .unwrap_or_default()
        })
    }

    /// Sends one notification; an `ExpiredProviderToken` is answered by one retry with a
    /// newer token (when the re-mint floor allows one).
    pub async fn send(
        &self,
        token: &str,
        environment: Option<Environment>,
        n: &Notification,
    ) -> Outcome {
        let Some(body) = Self::payload(n) else {
            return Outcome::Rejected {
                reason: "PayloadTooLarge".into(),
            };
        };
        let base = match environment.unwrap_or(self.default_environment) {
            Environment::Production => &self.production_url,
            Environment::Sandbox => &self.sandbox_url,
        };
        let url = format!("{base}/3/device/{token}");
        let mut next = self.bearer();
        for attempt in 0..2 {
            let Some(jwt) = next.take() else {
                return Outcome::Config {
                    reason: "cannot sign the provider token".into(),
                };
            };
            let sent = self
                .http
                .post(&url)
                .header("authorization", format!("bearer {jwt}"))
                .header("apns-topic", &self.topic)
                .header("apns-push-type", "alert")
                .header("apns-priority", "10")
                .header("apns-expiration", n.expires_at.timestamp().to_string())
                .header("apns-collapse-id", &n.collapse_id)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(err) => return transport(&err),
            };
            let status = resp.status().as_u16();
            if status == 200 {
                return Outcome::Sent;
            }
            let after = retry_after(resp.headers());
            let error: ErrorBody = resp.json().await.unwrap_or(ErrorBody {
                reason: None,
                timestamp: None,
            });
            let reason = error.reason.unwrap_or_else(|| format!("HTTP {status}"));
            if status == 403 && reason == "ExpiredProviderToken" && attempt == 0 {
                match self.replace(&jwt) {
                    Ok(newer) => {
                        next = newer;
                        continue;
                    }
                    // Inside the floor: hold the channel until a new JWT may be minted.
                    Err(wait) => {
                        return Outcome::Backoff {
                            reason,
                            after: wait.max(Duration::from_secs(1)),
                            channel: true,
                        };
                    }
                }
            }
            return classify(status, reason, error.timestamp, after);
        }
        Outcome::Transient {
            reason: "ExpiredProviderToken".into(),
            after: None,
        }
    }
}

/// APNs' answer per the reference table.
pub fn classify(
    status: u16,
    reason: String,
    timestamp_ms: Option<i64>,
    retry_after: Option<Duration>,
) -> Outcome {
    match (status, reason.as_str()) {
        (400, "BadDeviceToken" | "DeviceTokenNotForTopic") | (410, _) => Outcome::Dead {
            at: timestamp_ms.and_then(DateTime::<Utc>::from_timestamp_millis),
            reason,
        },
        (400, "IdleTimeout") => Outcome::Transient {
            reason,
            after: None,
        },
        (403, "ExpiredProviderToken") => Outcome::Transient {
            reason,
            after: None,
        },
        (403, _) => Outcome::Config { reason },
        (429, "TooManyProviderTokenUpdates") => Outcome::Backoff {
            reason,
            after: retry_after.unwrap_or(Duration::from_secs(60)),
            channel: true,
        },
        (429, _) => Outcome::Backoff {
            reason,
            after: retry_after.unwrap_or(Duration::from_secs(60)),
            channel: false,
        },
        (500..=599, _) => Outcome::Transient {
            reason,
            after: retry_after,
        },
        _ => Outcome::Rejected { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_apns_answer_maps_to_its_action() {
        let c = |s, r: &str| classify(s, r.into(), None, None);
        assert!(matches!(c(400, "BadDeviceToken"), Outcome::Dead { .. }));
        assert!(matches!(
            c(400, "DeviceTokenNotForTopic"),
            Outcome::Dead { .. }
        ));
        assert!(matches!(c(410, "Unregistered"), Outcome::Dead { .. }));
        assert!(matches!(c(410, "ExpiredToken"), Outcome::Dead { .. }));
        for ours in [
            "BadCollapseId",
            "BadPriority",
            "BadTopic",
            "InvalidPushType",
            "MissingTopic",
            "PayloadEmpty",
            "BadExpirationDate",
            "DuplicateHeaders",
        ] {
            assert!(matches!(c(400, ours), Outcome::Rejected { .. }), "{ours}");
        }
        assert!(matches!(
            c(413, "PayloadTooLarge"),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(c(400, "IdleTimeout"), Outcome::Transient { .. }));
        for config in [
            "InvalidProviderToken",
            "MissingProviderToken",
            "BadEnvironmentKeyIdInToken",
            "Forbidden",
        ] {
            assert!(matches!(c(403, config), Outcome::Config { .. }), "{config}");
        }
        assert!(matches!(
            c(429, "TooManyRequests"),
            Outcome::Backoff { channel: false, .. }
        ));
        assert!(matches!(
            c(429, "TooManyProviderTokenUpdates"),
            Outcome::Backoff { channel: true, .. }
        ));
        for busy in ["InternalServerError", "ServiceUnavailable", "Shutdown"] {
            assert!(matches!(c(503, busy), Outcome::Transient { .. }), "{busy}");
        }
        let dead = classify(410, "Unregistered".into(), Some(1_700_000_000_000), None);
        assert!(matches!(dead, Outcome::Dead { at: Some(_), .. }));
    }
}
