//! The baseline of `scripts/bench-device-push.sh`: a bare reqwest HTTP/2 loop sending
//! `--count` notifications to a (fake) APNs or FCM with `--concurrency` requests in flight
//! and nothing else: no database, no claims, no bookkeeping. It uses qshare's own HTTP/2
//! client settings (rustls, the fake's CA, connections reused), the same payloads
//! (`ApnsClient::payload`, `FcmClient::payload`) and the same device tokens as the seeded
//! devices, one provider token for the whole run. Prints the rate it reached.

use std::{path::PathBuf, time::Instant};

use clap::{Parser, ValueEnum};
use entity::device::Provider;
use futures_util::{StreamExt, stream};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use qshare::{
    mobile_push::{Notification, apns::ApnsClient, fcm::FcmClient, http},
    push::message,
    service::demo_content::bulk_device_token,
};
use serde_json::{Value, json};
use testkit::push_fake as fake;

#[derive(Clone, Copy, ValueEnum)]
enum Which {
    Apns,
    Fcm,
}

#[derive(Parser)]
struct Args {
    /// Base URL of the fake (https://localhost:PORT).
    #[arg(long)]
    base: String,
    /// The fake's CA certificate.
    #[arg(long)]
    ca_cert: String,
    /// Where `fake_push --keys-dir` wrote the FCM service account.
    #[arg(long)]
    keys_dir: PathBuf,
    #[arg(long, value_enum)]
    provider: Which,
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

fn notification() -> Notification {
    let ttl = std::time::Duration::from_secs(86_400);
    Notification {
        title: "精选文章".into(),
        body: "用 Rust 和 Tokio 写一个高并发的推送服务".into(),
        deep_link: "qshare://articles/1".into(),
        article_id: 1,
        badge: None,
        collapse_id: message::collapse_id(1),
        collapse_number: message::harmony_collapse_key(1),
        notify_id: message::harmony_notify_id(1),
        ttl,
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(86_400),
    }
}

fn apns_jwt() -> anyhow::Result<String> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(fake::APNS_KEY_ID.into());
    let claims = json!({ "iss": fake::APNS_TEAM_ID, "iat": chrono::Utc::now().timestamp() });
    let key = EncodingKey::from_ec_pem(fake::APNS_KEY_PEM.as_bytes())?;
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

async fn fcm_access_token(
    http: &reqwest::Client,
    keys_dir: &std::path::Path,
) -> anyhow::Result<String> {
    let account: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir.join("fcm.json"))?)?;
    let token_uri = account["token_uri"].as_str().unwrap_or_default();
    let iat = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": account["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "aud": token_uri, "iat": iat, "exp": iat + 3600,
    });
    let key = EncodingKey::from_rsa_pem(
        account["private_key"]
            .as_str()
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)?;
    let answer: Value = http
        .post(token_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        ))
        .send()
        .await?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no access token: {answer}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = http::client(Some(&args.ca_cert), std::time::Duration::from_secs(10))?;
    let base = args.base.trim_end_matches('/').to_string();
    let (provider, bearer, url) = match args.provider {
        Which::Apns => (
            Provider::Apns,
            format!("bearer {}", apns_jwt()?),
            String::new(),
        ),
        Which::Fcm => (
            Provider::Fcm,
            format!("Bearer {}", fcm_access_token(&http, &args.keys_dir).await?),
            format!("{base}/v1/projects/{}/messages:send", fake::FCM_PROJECT),
        ),
    };
    let started = Instant::now();
    let ok = stream::iter(0..args.count)
        .map(|i| {
            let (http, bearer, url, base) = (&http, &bearer, &url, &base);
            async move {
                let token = bulk_device_token(provider, i);
                let n = notification();
                let request = match provider {
                    Provider::Apns => http
                        .post(format!("{base}/3/device/{token}"))
                        .header("authorization", bearer)
                        .header("apns-topic", fake::APNS_TOPIC)
                        .header("apns-push-type", "alert")
                        .header("apns-priority", "10")
                        .header("apns-expiration", n.expires_at.timestamp().to_string())
                        .header("apns-collapse-id", &n.collapse_id)
                        .header("content-type", "application/json")
                        .body(ApnsClient::payload(&n)?),
                    _ => http
                        .post(url)
                        .header("authorization", bearer)
                        .header("content-type", "application/json")
                        .body(FcmClient::payload(&token, &n)?),
                };
                let resp = request.send().await.ok()?;
                let ok = resp.status().is_success();
                // Read the answer to the end, as the real clients do.
                let _ = resp.bytes().await;
                ok.then_some(())
            }
        })
        .buffer_unordered(args.concurrency)
        .filter(|r| std::future::ready(r.is_some()))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "BARE sent={ok} of={} seconds={secs:.3} rate={:.0} cpu_seconds={:.2}",
        args.count,
        ok as f64 / secs,
        cpu_seconds()
    );
    Ok(())
}

/// CPU time (user + system) this process used, from /proc/self/stat (Linux; 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
