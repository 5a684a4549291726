//! A real qshare process killed with SIGKILL in the middle of a push campaign, then
//! restarted: no follower gets a message twice and every delivery ends accounted for.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use entity::push_delivery::{self, DeliveryStatus};
use qshare::Settings;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use testkit::wechat_fake::{self as fake, FakeConfig, FakeWechat};

use crate::{
    helpers::{TestApp, config_dir, spawn_app_with, test_settings},
    push::claims_in_flight,
};

const FOLLOWERS: usize = 300;

/// A qshare process; killed (SIGKILL) and reaped when dropped, so a failing test leaves no
/// process behind.
struct Worker(Child);

impl Worker {
    /// SIGKILL (std's `kill` on Unix) and reap.
    fn sigkill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The qshare binary as a worker for `settings`' database and cache, sending through the
/// template channel to `fake`.
fn start_worker(settings: &Settings, fake: &FakeWechat) -> Worker {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qshare"));
    cmd.current_dir(config_dir().parent().unwrap())
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &settings.database.url)
        .env("APP_SERVER__PORT", "0")
        .env("APP_CACHE__KEY_PREFIX", &settings.cache.key_prefix)
        .env("APP_WECHAT__API_BASE_URL", fake.base_url())
        .env("APP_WECHAT__OFFICIAL_ACCOUNT__APP_ID", fake::OA_APP_ID)
        .env("APP_WECHAT__OFFICIAL_ACCOUNT__APP_SECRET", fake::OA_SECRET)
        .env("APP_PUSH__CHANNELS__INBOX__ENABLED", "false")
        .env("APP_PUSH__CHANNELS__WECHAT_TEMPLATE__ENABLED", "true")
        .env(
            "APP_PUSH__CHANNELS__WECHAT_TEMPLATE__TEMPLATE_ID",
            "tpl-featured",
        )
        .env("APP_PUSH__CHANNELS__WECHAT_TEMPLATE__RATE_PER_SEC", "0")
        .env("APP_PUSH__CLAIM_BATCH", "20")
        .env("APP_PUSH__CONCURRENCY", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match &settings.cache.redis_url {
        Some(url) => cmd.env("REDIS_URL", url),
        None => cmd.env_remove("REDIS_URL"),
    };
    Worker(cmd.spawn().expect("start qshare"))
}

async fn statuses(app: &TestApp, campaign: i64) -> Vec<DeliveryStatus> {
    push_delivery::Entity::find()
        .filter(push_delivery::Column::CampaignId.eq(campaign))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.status)
        .collect()
}

fn count(of: &[DeliveryStatus], status: DeliveryStatus) -> usize {
    of.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_server_killed_with_sigkill_mid_campaign_and_restarted_sends_nothing_twice() {
    let fake = FakeWechat::start_with(FakeConfig {
        followers: fake::generated_followers(FOLLOWERS),
        latency: Duration::from_millis(10),
        ..FakeConfig::default()
    })
    .await;
    // An in-process instance without workers: the admin side (followers, campaign).
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.official_account.app_id = fake::OA_APP_ID.into();
    settings.wechat.official_account.app_secret = fake::OA_SECRET.into();
    settings.push.workers_enabled = false;
    // It prepares the campaign, so it knows the channels the workers use.
    settings.push.channels.inbox.enabled = false;
    settings.push.channels.wechat_template.enabled = true;
    settings.push.channels.wechat_template.template_id = "tpl-featured".into();
    let worker_settings = settings.clone();
    let app = spawn_app_with(settings, dir).await;
    let synced = crate::jobs::sync_followers(&app).await;
    assert_eq!(synced["status"], "ok", "{synced}");
    let article = app.published_article("Killed mid-push", json!({})).await;

    let mut worker = start_worker(&worker_settings, &fake);
    let campaign = crate::push::push_now(&app, article).await;
    let start = Instant::now();
    loop {
        let now = statuses(&app, campaign).await;
        let in_flight = claims_in_flight(&app, campaign).await;
        if count(&now, DeliveryStatus::Sent) >= 40 && in_flight > 0 {
            worker.sigkill();
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the worker process never had a claim in flight: {} sent, {in_flight} chunks claimed, of {}",
            count(&now, DeliveryStatus::Sent),
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let after_kill = statuses(&app, campaign).await;
    assert_eq!(
        after_kill.len(),
        FOLLOWERS,
        "every recipient has a delivery record"
    );
    assert!(
        claims_in_flight(&app, campaign).await > 0,
        "the kill left claims behind"
    );
    assert!(count(&after_kill, DeliveryStatus::Sent) < FOLLOWERS);

    let restarted = start_worker(&worker_settings, &fake);
    let start = Instant::now();
    let finished = loop {
        let c = app
            .admin_json(
                Method::GET,
                &format!("/api/admin/push/campaigns/{}", campaign),
                None,
                StatusCode::OK,
            )
            .await;
        if c["status"] == "done" || c["status"] == "failed" {
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the restarted process never finished: {c:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(restarted);
    assert_eq!(finished["status"], "done", "{finished:#}");
    let end = statuses(&app, campaign).await;
    assert_eq!(end.len(), FOLLOWERS);
    assert_eq!(
        count(&end, DeliveryStatus::Sent),
        FOLLOWERS,
        "no delivery lost"
    );
    assert_eq!(
        fake.openids_with_several_messages(),
        Vec::<String>::new(),
        "nobody got the article twice"
    );
    assert_eq!(fake.stats().templates_sent, FOLLOWERS as u64);
}
