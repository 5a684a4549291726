//! HarmonyOS NEXT Push Kit v3 with a service-account JWT (PS256, `kid` = the account's
//! `key_id`), signed locally and reused until shortly before its hour is up; an answer
//! saying it expired (80200003, 80200005) re-signs once.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Notification, Outcome, http, payload, read_secret, retry_after, transport};
use crate::config::HarmonyChannel;

/// Push Kit's notification payload limit.
pub const PAYLOAD_MAX: usize = 4096;
pub const AUDIENCE: &str = "https://oauth-login.cloud.huawei.com/oauth2/v3/token";
/// Reuse a JWT this long (it is valid for an hour).
const REUSE: Duration = Duration::from_secs(3000);

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: Option<String>,
    key_id: String,
    private_key: String,
    sub_account: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

pub struct HarmonyClient {
    http: reqwest::Client,
    send_url: String,
    key: EncodingKey,
    key_id: String,
    sub_account: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl HarmonyClient {
    pub fn new(settings: &HarmonyChannel, timeout: Duration) -> anyhow::Result<Self> {
        let raw = read_secret(
            "push.channels.harmony service account",
            settings.service_account_path.as_deref(),
            settings.service_account_json.as_deref(),
        )?;
        let account: ServiceAccount = serde_json::from_str(&raw).map_err(|e| {
            anyhow::anyhow!("push.channels.harmony: the service account is not valid JSON: {e}")
        })?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|_| {
            anyhow::anyhow!("push.channels.harmony: the private_key is not an RSA PEM key")
        })?;
        let project = settings
            .project_id
            .clone()
            .or(account.project_id)
            .ok_or_else(|| anyhow::anyhow!("push.channels.harmony needs a project_id"))?;
        Ok(Self {
            http: http::client(settings.ca_cert_path.as_deref(), timeout)?,
            send_url: format!(
                "{}/v3/{project}/messages:send",
                settings.base_url.trim_end_matches('/')
            ),
            key,
            key_id: account.key_id,
            sub_account: account.sub_account,
            token: Mutex::new(None),
        })
    }

    fn bearer(&self, force: bool) -> Option<String> {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((jwt, at)) = slot.as_ref()
            && !force
            && at.elapsed() < REUSE
        {
            return Some(jwt.clone());
        }
        let mut header = Header::new(Algorithm::PS256);
        header.kid = Some(self.key_id.clone());
        header.typ = Some("JWT".into());
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: &self.sub_account,
            aud: AUDIENCE,
            iat,
            exp: iat + 3600,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).ok()?;
        *slot = Some((jwt.clone(), Instant::now()));
        Some(jwt)
    }

    pub fn payload(token: &str, n: &Notification) -> Option<Vec<u8>> {
        payload::fit(&n.title, &n.body, PAYLOAD_MAX, |title, body| {
            let mut notification = json!({
                "category": "MARKETING",
                "title": title,
                "body": body,
                "clickAction": { "actionType": 1, "uri": n.deep_link },
                "notifyId": n.notify_id,
            });
            if let Some(badge) = n.badge {
                notification["badge"] = json!({ "setNum": badge });
            }
            serde_json::to_vec(&json!({
                "payload": { "notification": notification },
                "target": { "token": [token] },
                "pushOptions": {
                    "ttl": n.ttl.as_secs(),
                    "collapseKey": n.collapse_number,
                    "testMessage": false,
                },
            }))
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
            let Some(jwt) = self.bearer(attempt > 0) else {
                return Outcome::Config {
                    reason: "cannot sign the service-account token".into(),
                };
            };
            let resp = match self
                .http
                .post(&self.send_url)
                .bearer_auth(&jwt)
                .header("push-type", "0")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(resp) => resp,
                Err(err) => return transport(&err),
            };
            let status = resp.status().as_u16();
            let after = retry_after(resp.headers());
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            let outcome = classify(status, &answer, after);
            let code = answer["code"].as_str().unwrap_or("");
            if matches!(code, "80200003" | "80200005") && attempt == 0 {
                continue;
            }
            return outcome;
        }
        Outcome::Transient {
            reason: "80200003".into(),
            after: None,
        }
    }
}

/// Push Kit's answer per the reference table.
pub fn classify(status: u16, answer: &Value, retry_after: Option<Duration>) -> Outcome {
    let code = answer["code"].as_str().unwrap_or("").to_string();
    if status == 503 {
        return Outcome::Backoff {
            reason: "flow control (503)".into(),
            after: retry_after.unwrap_or(Duration::from_secs(30)),
            channel: true,
        };
    }
    match code.as_str() {
        "80000000" => Outcome::Sent,
        // One token per request: a partial success means this token was the illegal one.
        "80100000" | "80300007" => Outcome::Dead {
            reason: code,
            at: None,
        },
        "80200001" => Outcome::Config { reason: code },
        "80200003" | "80200005" => Outcome::Transient {
            reason: code,
            after: None,
        },
        "80100003" => Outcome::Rejected { reason: code },
        _ if status >= 500 => Outcome::Transient {
            reason: format!("HTTP {status}"),
            after: retry_after,
        },
        "" => Outcome::Rejected {
            reason: format!("HTTP {status}"),
        },
        _ => Outcome::Rejected { reason: code },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_push_kit_answer_maps_to_its_action() {
        let c = |status, code: &str| classify(status, &json!({"code": code, "msg": "x"}), None);
        assert_eq!(c(200, "80000000"), Outcome::Sent);
        assert!(matches!(c(200, "80100000"), Outcome::Dead { .. }));
        assert!(matches!(c(200, "80300007"), Outcome::Dead { .. }));
        assert!(matches!(c(401, "80200001"), Outcome::Config { .. }));
        assert!(matches!(c(401, "80200003"), Outcome::Transient { .. }));
        assert!(matches!(c(400, "80100003"), Outcome::Rejected { .. }));
        assert!(matches!(c(503, ""), Outcome::Backoff { channel: true, .. }));
    }
}
