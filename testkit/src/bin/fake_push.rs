//! A fake of APNs, FCM (token endpoint and messages:send) and HarmonyOS Push Kit for local
//! development and benchmarks, over HTTP/2 and TLS with a certificate made at start:
//! `cargo run --bin fake_push -- --port 9443 --keys-dir /tmp/qshare-fake-push`, then point
//! `push.channels.{apns,fcm,harmony}.base_url` at `https://localhost:9443` and their
//! `ca_cert_path` at the printed CA file; the keys directory receives the test key and
//! service accounts the fake accepts. On SIGTERM or Ctrl-C it prints one `FAKE_STATS` line
//! (messages accepted, tokens that got more than one, provider-token mints, connections).

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use testkit::push_fake::{self as fake, FakePush};

#[derive(Parser)]
#[command(about = "Fake APNs / FCM / HarmonyOS push server (HTTP/2 over TLS)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 9443)]
    port: u16,
    /// Where to write the CA certificate, the APNs key and the service accounts.
    #[arg(long, default_value = "target/fake-push")]
    keys_dir: PathBuf,
    /// Print the counters every this many seconds (0: never).
    #[arg(long, default_value_t = 10)]
    report_secs: u64,
    /// Keep a copy of every accepted request in memory (off: a benchmark's fake would
    /// spend more on the copies than the sender on the messages).
    #[arg(long)]
    record_received: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = FakePush::start_on(&format!("{}:{}", args.host, args.port)).await;
    std::fs::create_dir_all(&args.keys_dir)?;
    let ca = args.keys_dir.join("ca.pem");
    std::fs::copy(server.ca_cert_path(), &ca)?;
    std::fs::write(args.keys_dir.join("apns.p8"), fake::APNS_KEY_PEM)?;
    std::fs::write(args.keys_dir.join("fcm.json"), server.fcm_service_account())?;
    std::fs::write(
        args.keys_dir.join("harmony.json"),
        FakePush::harmony_service_account(),
    )?;
    println!("fake push on {}", server.base_url());
    println!("ca_cert_path: {}", ca.display());
    println!(
        "apns: key_path {} key_id {} team_id {} topic {}",
        args.keys_dir.join("apns.p8").display(),
        fake::APNS_KEY_ID,
        fake::APNS_TEAM_ID,
        fake::APNS_TOPIC
    );
    println!(
        "fcm: service_account_path {}",
        args.keys_dir.join("fcm.json").display()
    );
    println!(
        "harmony: service_account_path {}",
        args.keys_dir.join("harmony.json").display()
    );
    if !args.record_received {
        server.set_record_received(false);
    }
    let report = async {
        loop {
            if args.report_secs == 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                continue;
            }
            tokio::time::sleep(Duration::from_secs(args.report_secs)).await;
            println!(
                "delivered {} duplicates {} apns_jwts {} fcm_mints {} connections {}",
                server.total_delivered(),
                server.duplicates(),
                server.apns_jwts(),
                server.fcm_mints(),
                server.connections()
            );
        }
    };
    tokio::select! {
        () = report => {}
        () = stop_signal() => {}
    }
    // One line for scripts (scripts/bench-device-push.sh).
    println!(
        "FAKE_STATS delivered={} tokens_with_several_messages={} apns_jwts={} harmony_jwts={} fcm_mints={} connections={} max_jwts_per_connection={}",
        server.total_delivered(),
        server.duplicates(),
        server.apns_jwts(),
        server.harmony_jwts(),
        server.fcm_mints(),
        server.connections(),
        server.max_jwts_per_connection()
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
