//! The baseline of `scripts/bench-push.sh`: a bare reqwest loop sending `--count` template
//! messages to a (fake) WeChat with `--concurrency` requests in flight, nothing else: no
//! database, no claims, no bookkeeping. Prints the rate it reached.

use std::time::Instant;

use clap::Parser;
use futures_util::{StreamExt, stream};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Base URL of the fake WeChat.
    #[arg(long)]
    base: String,
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long)]
    app_id: String,
    #[arg(long)]
    secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    qshare::wechat::client::install_crypto_provider();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/cgi-bin/stable_token", args.base))
        .json(&json!({ "grant_type": "client_credential", "appid": args.app_id, "secret": args.secret }))
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token: {token}"))?
        .to_string();
    let url = format!("{}/cgi-bin/message/template/send", args.base);
    let started = Instant::now();
    let ok = stream::iter(0..args.count)
        .map(|i| {
            let (http, url, token) = (&http, &url, &token);
            async move {
                let body = json!({
                    "touser": format!("o_fake_{i:06}"),
                    "template_id": "tpl-bench",
                    "client_msg_id": format!("bare-{i}"),
                    "data": { "thing1": { "value": "bench" } },
                });
                let answer = http
                    .post(url)
                    .query(&[("access_token", token)])
                    .json(&body)
                    .send()
                    .await
                    .ok()?
                    .json::<serde_json::Value>()
                    .await
                    .ok()?;
                (answer["errcode"].as_i64().unwrap_or(0) == 0).then_some(())
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
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
