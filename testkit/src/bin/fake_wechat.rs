//! A fake WeChat API server for local development and benchmarks:
//! `cargo run --bin fake_wechat -- --port 9090 --followers 100000`, then point
//! `wechat.api_base_url` at it (APP_WECHAT__API_BASE_URL=http://127.0.0.1:9090).

use std::time::Duration;

use clap::Parser;
use testkit::wechat_fake::{self as fake, FakeConfig, FakeWechat};

#[derive(Parser)]
#[command(
    about = "Fake WeChat API server (stable_token, user/get, template, mass, subscribe, jscode2session, msg_sec_check)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 9090)]
    port: u16,
    /// Number of generated Official Account followers (o_fake_000000, ...).
    #[arg(long, default_value_t = 1000)]
    followers: usize,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 7200)]
    token_lifetime_secs: u64,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Words msg_sec_check flags as risky (repeatable).
    #[arg(long = "risky-word")]
    risky_words: Vec<String>,
    /// A mini-program login code jscode2session accepts once: CODE=OPENID or
    /// CODE=OPENID:UNIONID (repeatable).
    #[arg(long = "login-code")]
    login_codes: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = FakeConfig {
        token_lifetime: Duration::from_secs(args.token_lifetime_secs.max(1)),
        followers: fake::generated_followers(args.followers),
        latency: Duration::from_millis(args.latency_ms),
        risky_words: args.risky_words,
        ..FakeConfig::default()
    };
    let server = FakeWechat::bind(&format!("{}:{}", args.host, args.port), config).await?;
    for entry in &args.login_codes {
        let Some((code, who)) = entry.split_once('=') else {
            anyhow::bail!("--login-code takes CODE=OPENID[:UNIONID], not {entry:?}");
        };
        let (openid, unionid) = match who.split_once(':') {
            Some((o, u)) => (o, Some(u)),
            None => (who, None),
        };
        server.add_login_code(code, openid, unionid);
    }
    println!("fake WeChat listening on {}", server.base_url());
    println!(
        "official account: app_id {} secret {}",
        fake::OA_APP_ID,
        fake::OA_SECRET
    );
    println!(
        "mini-program:     app_id {} secret {}",
        fake::MP_APP_ID,
        fake::MP_SECRET
    );
    stop_signal().await;
    let stats = server.stats();
    let repeated = server.openids_with_several_messages().len();
    server.stop().await;
    println!("{stats:#?}");
    // One line for scripts (scripts/bench-push.sh).
    println!(
        "FAKE_STATS templates_sent={} template_duplicates_prevented={} mass_recipients={} openids_with_several_messages={repeated}",
        stats.templates_sent, stats.template_duplicates, stats.mass_recipients
    );
    Ok(())
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
