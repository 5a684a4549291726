//! FCM HTTP v1. The OAuth access token is exchanged from the service account's RS256
//! assertion and shared by every instance through the cache, as WeChat tokens are
//! (`wechat::token`):
//!
//! ```text
//! key   push:fcm:token:{client_email}       value "{expires_at_ms}:{token}", TTL = expires_in - 60 s
//! lock  push:fcm:token:{client_email}:lock  one instance exchanges; the others poll the key
//! ```
//!
//! A 401 on a send drops exactly the token used (compare-and-delete) and retries once.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Notification, Outcome, http, payload, read_secret, retry_after, transport};
use crate::{cache::Cache, config::FcmChannel};

pub const PAYLOAD_MAX: usize = 4096;
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Refresh this long before the token expires.
const MARGIN_MS: u64 = 60_000;

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    token_uri: Option<String>,
    project_id: Option<String>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone)]
struct Stored {
    raw: String,
    token: String,
    expires_at_ms: u64,
}

impl Stored {
    fn parse(raw: &[u8]) -> Option<Self> {
        let raw = std::str::from_utf8(raw).ok()?;
        let (at, token) = raw.split_once(':')?;
        Some(Self {
            raw: raw.to_string(),
            token: token.to_string(),
            expires_at_ms: at.parse().ok()?,
        })
    }

    fn fresh(&self) -> bool {
        self.expires_at_ms > now_ms() + MARGIN_MS
    }
}

pub struct FcmClient {
    http: reqwest::Client,
    send_url: String,
    token_uri: String,
    client_email: String,
    key: EncodingKey,
    cache: Cache,
    local: Mutex<Option<Stored>>,
    /// One exchange at a time in this process.
    flight: tokio::sync::Mutex<()>,
    exchanges: AtomicU64,
}

impl FcmClient {
    pub fn new(settings: &FcmChannel, cache: Cache, timeout: Duration) -> anyhow::Result<Self> {
        let raw = read_secret(
            "push.channels.fcm service account",
            settings.service_account_path.as_deref(),
            settings.service_account_json.as_deref(),
        )?;
        let account: ServiceAccount = serde_json::from_str(&raw).map_err(|e| {
            anyhow::anyhow!("push.channels.fcm: the service account is not valid JSON: {e}")
        })?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|_| {
            anyhow::anyhow!(
                "push.channels.fcm: the service account's private_key is not an RSA PEM key"
            )
        })?;
        let project = settings
            .project_id
            .clone()
            .or(account.project_id)
            .ok_or_else(|| anyhow::anyhow!("push.channels.fcm needs a project_id"))?;
        let token_uri = settings
            .token_uri
            .clone()
            .or(account.token_uri)
            .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into());
        Ok(Self {
            http: http::client(settings.ca_cert_path.as_deref(), timeout)?,
            send_url: format!(
                "{}/v1/projects/{project}/messages:send",
                settings.base_url.trim_end_matches('/')
            ),
            token_uri,
            client_email: account.client_email,
            key,
            cache,
            local: Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
            exchanges: AtomicU64::new(0),
        })
    }

    /// Token exchanges this instance made.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    fn key(&self) -> String {
        format!("push:fcm:token:{}", self.client_email)
    }

    async fn shared(&self) -> Option<Stored> {
        let raw = self.cache.get(&self.key()).await.ok()??;
        Stored::parse(&raw).filter(Stored::fresh)
    }

    fn remember(&self, stored: &Stored) {
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(stored.clone());
    }

    /// A valid access token: this process's copy, the shared one, or a new exchange (one
    /// instance at a time; the others wait for it).
    async fn token(&self) -> Result<Stored, Outcome> {
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(t) = local.filter(Stored::fresh) {
            return Ok(t);
        }
        let _one = self.flight.lock().await;
        if let Some(t) = self.shared().await {
            self.remember(&t);
            return Ok(t);
        }
        let lock_key = format!("{}:lock", self.key());
        let lock = self
            .cache
            .try_lock(&lock_key, Duration::from_secs(10))
            .await
            .ok()
            .flatten();
        if lock.is_none() {
            // A peer is exchanging: wait for its token (up to 3 s), then exchange anyway.
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(t) = self.shared().await {
                    self.remember(&t);
                    return Ok(t);
                }
            }
        }
        let fetched = self.exchange().await;
        if let Some(lock) = lock {
            let _ = self.cache.unlock(&lock_key, &lock).await;
        }
        let t = fetched?;
        self.remember(&t);
        Ok(t)
    }

    async fn exchange(&self) -> Result<Stored, Outcome> {
        let iat = now_ms() / 1000;
        let claims = Assertion {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + 3600,
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|_| Outcome::Config {
                reason: "cannot sign the OAuth assertion".into(),
            })?;
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .post(&self.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            // The assertion is base64url and dots: nothing in it needs escaping.
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
            ))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        if status == 400 || status == 401 || status == 403 {
            return Err(Outcome::Config {
                reason: format!("oauth token refused (HTTP {status})"),
            });
        }
        if status != 200 {
            return Err(Outcome::Transient {
                reason: format!("oauth token endpoint HTTP {status}"),
                after: retry_after(resp.headers()),
            });
        }
        let answer: TokenAnswer = resp.json().await.map_err(|_| Outcome::Transient {
            reason: "unreadable oauth answer".into(),
            after: None,
        })?;
        let expires_at_ms = now_ms() + answer.expires_in * 1000;
        let stored = Stored {
            raw: format!("{expires_at_ms}:{}", answer.access_token),
            token: answer.access_token,
            expires_at_ms,
        };
        let ttl = Duration::from_millis(
            (answer.expires_in * 1000)
                .saturating_sub(MARGIN_MS)
                .max(1000),
        );
        if let Err(err) = self
            .cache
            .set(&self.key(), stored.raw.as_bytes(), ttl)
            .await
        {
            tracing::warn!(error = %err, "cannot share the FCM access token through the cache");
        }
        tracing::info!("exchanged a new FCM access token");
        Ok(stored)
    }

    async fn drop_token(&self, used: &Stored) {
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = self.cache.delete_if_equals(&self.key(), &used.raw).await;
    }

    pub fn payload(token: &str, n: &Notification) -> Option<Vec<u8>> {
        let ttl = format!("{}s", n.ttl.as_secs());
        payload::fit(&n.title, &n.body, PAYLOAD_MAX, |title, body| {
            let mut aps = json!({ "alert": { "title": title, "body": body }, "sound": "default" });
            if let Some(badge) = n.badge {
                aps["badge"] = json!(badge);
            }
            let mut android_notification = json!({ "click_action": "OPEN_ARTICLE" });
            if let Some(badge) = n.badge {
                android_notification["notification_count"] = json!(badge);
            }
            serde_json::to_vec(&json!({ "message": {
                "token": token,
                "notification": { "title": title, "body": body },
                "data": { "link": n.deep_link, "article_id": n.article_id.to_string() },
                "android": {
                    "collapse_key": n.collapse_id,
                    "priority": "high",
                    "ttl": ttl,
                    "notification": android_notification,
                },
                "apns": {
                    "headers": {
                        "apns-collapse-id": n.collapse_id,
                        "apns-expiration": n.expires_at.timestamp().to_string(),
                    },
                    "payload": { "aps": aps },
                },
            }}))
            .unwrap_or_default()
        })
    }

    pub async fn send(&self, device_token: &str, n: &Notification) -> Outcome {
        let Some(body) = Self::payload(device_token, n) else {
            return Outcome::Rejected {
                reason: "payload too large".into(),
            };
        };
        for attempt in 0..2 {
            let token = match self.token().await {
                Ok(t) => t,
                Err(outcome) => return outcome,
            };
            let resp = match self
                .http
                .post(&self.send_url)
                .bearer_auth(&token.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(resp) => resp,
                Err(err) => return transport(&err),
            };
            let status = resp.status().as_u16();
            if status == 200 {
                return Outcome::Sent;
            }
            let after = retry_after(resp.headers());
            let error: Value = resp.json().await.unwrap_or(Value::Null);
            let outcome = classify(status, &error, after);
            if status == 401 && !matches!(outcome, Outcome::Config { .. }) && attempt == 0 {
                // Our access token was refused: drop exactly it and exchange once more.
                self.drop_token(&token).await;
                continue;
            }
            return outcome;
        }
        Outcome::Config {
            reason: "oauth token refused twice".into(),
        }
    }
}

/// The FCM error code: `details[].errorCode` of the FcmError, else the canonical status.
fn error_code(error: &Value) -> String {
    let e = &error["error"];
    e["details"]
        .as_array()
        .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
        .or_else(|| e["status"].as_str())
        .unwrap_or("UNKNOWN")
        .to_string()
}

/// The `details[]` entries of type `google.rpc.{kind}`.
fn details<'a>(error: &'a Value, kind: &str) -> impl Iterator<Item = &'a Value> {
    let kind = format!("type.googleapis.com/google.rpc.{kind}");
    error["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |d| d["@type"].as_str() == Some(kind.as_str()))
}

/// Whether an INVALID_ARGUMENT is about the registration token (then the token is dead):
/// the message says so, or a `BadRequest` field violation names `message.token`.
fn token_is_invalid(error: &Value) -> bool {
    let message = error["error"]["message"].as_str().unwrap_or("");
    message.to_ascii_lowercase().contains("registration token")
        || details(error, "BadRequest").any(|d| {
            d["fieldViolations"].as_array().is_some_and(|v| {
                v.iter()
                    .any(|f| f["field"].as_str() == Some("message.token"))
            })
        })
}

/// Whether a QUOTA_EXCEEDED is the per-device quota (240/min, 5,000/h per Android device:
/// back off that device) rather than the project's (600k/min: back off the channel). The
/// `QuotaFailure` detail's violations say which; without one it is taken as the project's,
/// the safe side.
fn quota_is_per_device(error: &Value) -> bool {
    details(error, "QuotaFailure").any(|d| {
        d["violations"].as_array().is_some_and(|v| {
            v.iter().any(|v| {
                let subject = v["subject"].as_str().unwrap_or("").to_ascii_lowercase();
                let description = v["description"].as_str().unwrap_or("").to_ascii_lowercase();
                !subject.starts_with("project")
                    && (subject.contains("device")
                        || subject.contains("token")
                        || description.contains("device"))
            })
        })
    })
}

/// FCM's answer per the reference table.
pub fn classify(status: u16, error: &Value, retry_after: Option<Duration>) -> Outcome {
    let code = error_code(error);
    match (status, code.as_str()) {
        (_, "UNREGISTERED") | (404, _) => Outcome::Dead {
            reason: "UNREGISTERED".into(),
            at: None,
        },
        (_, "SENDER_ID_MISMATCH") => Outcome::Dead {
            reason: code,
            at: None,
        },
        (_, "INVALID_ARGUMENT") | (400, _) => {
            if token_is_invalid(error) {
                Outcome::Dead {
                    reason: "INVALID_ARGUMENT: registration token".into(),
                    at: None,
                }
            } else {
                Outcome::Rejected { reason: code }
            }
        }
        (_, "THIRD_PARTY_AUTH_ERROR") => Outcome::Config { reason: code },
        (401, _) => Outcome::Transient {
            reason: "UNAUTHENTICATED".into(),
            after: None,
        },
        (403, _) => Outcome::Config { reason: code },
        (429, _) | (_, "QUOTA_EXCEEDED") => {
            let per_device = quota_is_per_device(error);
            Outcome::Backoff {
                reason: if per_device {
                    "QUOTA_EXCEEDED (device)"
                } else {
                    "QUOTA_EXCEEDED"
                }
                .into(),
                // Google's advice: honour Retry-After, else start at 60 s.
                after: retry_after.unwrap_or(Duration::from_secs(60)),
                channel: !per_device,
            }
        }
        (500..=599, _) => Outcome::Transient {
            reason: code,
            after: retry_after,
        },
        _ => Outcome::Rejected { reason: code },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: &str, code: &str, message: &str) -> Value {
        json!({"error": {"status": status, "message": message, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]}})
    }

    #[test]
    fn every_documented_fcm_answer_maps_to_its_action() {
        assert!(matches!(
            classify(404, &err("NOT_FOUND", "UNREGISTERED", ""), None),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            classify(
                403,
                &err("PERMISSION_DENIED", "SENDER_ID_MISMATCH", ""),
                None
            ),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            classify(
                400,
                &err(
                    "INVALID_ARGUMENT",
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token"
                ),
                None
            ),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            classify(
                400,
                &err(
                    "INVALID_ARGUMENT",
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload"
                ),
                None
            ),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            classify(
                401,
                &err("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", ""),
                None
            ),
            Outcome::Config { .. }
        ));
        assert!(matches!(
            classify(429, &err("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", ""), Some(Duration::from_secs(7))),
            Outcome::Backoff { channel: true, after, .. } if after == Duration::from_secs(7)
        ));
        // The shape FCM sends today: a generic message and a BadRequest on message.token.
        let bad_token = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "Request contains an invalid argument.", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                {"field": "message.token", "description": "Invalid registration token"}]}]}});
        assert!(matches!(
            classify(400, &bad_token, None),
            Outcome::Dead { .. }
        ));
        let quota = |subject: &str| {
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded.",
                "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"},
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                    {"subject": subject, "description": "Message rate exceeded"}]}]}})
        };
        assert!(matches!(
            classify(429, &quota("device:fXk2"), None),
            Outcome::Backoff { channel: false, after, .. } if after == Duration::from_secs(60)
        ));
        assert!(matches!(
            classify(429, &quota("project:qshare-fake"), Some(Duration::from_secs(3))),
            Outcome::Backoff { channel: true, after, .. } if after == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, &err("UNAVAILABLE", "UNAVAILABLE", ""), None),
            Outcome::Transient { .. }
        ));
        assert!(matches!(
            classify(500, &err("INTERNAL", "INTERNAL", ""), None),
            Outcome::Transient { .. }
        ));
    }
}
