//! Push campaigns end to end: the `push_featured` job and the admin endpoints create
//! campaigns, the workers deliver them through the inbox and a fake WeChat on loopback, and
//! every outcome is checked at the fake (what arrived, how often) and in the database.

use std::time::{Duration, Instant};

use entity::{
    miniprogram_subscription, push_chunk,
    push_delivery::{self, Channel, DeliveryStatus},
};
use qshare::{
    Settings,
    config::{MiniProgramSettings, OfficialAccountSettings, TemplateChannel},
    push::{self, message},
    service::{followers, push_preferences},
    time,
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, prelude::Expr};
use serde_json::{Value, json};
use testkit::wechat_fake::{self as fake, Endpoint, FakeConfig, FakeWechat};

use crate::helpers::{TestApp, spawn_app_sharing, spawn_app_with, test_settings};

const TEMPLATE: &str = "tpl-featured";

/// Settings with the Official Account and the mini-program pointed at `fake`, and the
/// inbox and template channels on (no rate limit).
pub async fn push_settings(fake: &FakeWechat) -> (Settings, Option<tempfile::TempDir>) {
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.official_account = OfficialAccountSettings {
        app_id: fake::OA_APP_ID.into(),
        app_secret: fake::OA_SECRET.into(),
        token: "push-test-token".into(),
        encoding_aes_key: String::new(),
    };
    settings.wechat.miniprogram = MiniProgramSettings {
        app_id: fake::MP_APP_ID.into(),
        app_secret: fake::MP_SECRET.into(),
    };
    settings.push.channels.wechat_template = TemplateChannel {
        enabled: true,
        template_id: TEMPLATE.into(),
        rate_per_sec: 0,
    };
    (settings, dir)
}

pub async fn fake_with(followers: usize) -> FakeWechat {
    FakeWechat::start_with(FakeConfig {
        followers: fake::generated_followers(followers),
        ..FakeConfig::default()
    })
    .await
}

/// Records the fake's followers in our table through the real sync.
pub async fn sync_followers(app: &TestApp) {
    let run = crate::jobs::sync_followers(app).await;
    assert_eq!(run["status"], "ok", "{run}");
}

pub async fn featured(app: &TestApp, title: &str, extra: Value) -> i64 {
    let id = app.published_article(title, extra).await;
    app.feature(id).await;
    id
}

/// Runs the `push_featured` job now (creating it on first use) and returns the run.
async fn run_push_job(app: &TestApp) -> Value {
    let jobs = app
        .admin_json(Method::GET, "/api/admin/jobs", None, StatusCode::OK)
        .await;
    let existing = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "push_featured")
        .map(|j| j["id"].clone());
    let id = match existing {
        Some(id) => id,
        None => {
            app.admin_json(
                Method::POST,
                "/api/admin/jobs",
                Some(json!({ "name": "push", "kind": "push_featured", "cron": "0 0 20 * * *", "enabled": false })),
                StatusCode::CREATED,
            )
            .await["id"]
                .clone()
        }
    };
    let run = crate::jobs::run_now(app, &json!({ "id": id })).await;
    assert_eq!(run["status"], "ok", "{run}");
    run
}

pub async fn campaign(app: &TestApp, id: i64) -> Value {
    app.admin_json(
        Method::GET,
        &format!("/api/admin/push/campaigns/{id}"),
        None,
        StatusCode::OK,
    )
    .await
}

/// Waits until `done` holds for the campaign (or fails the test after 60 s).
pub async fn wait_for(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let c = campaign(app, id).await;
        if done(&c) {
            return c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "campaign {id} never became {what}: {c:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_settled(app: &TestApp, id: i64) -> Value {
    wait_for(app, id, "done or failed", |c| {
        c["status"] == "done" || c["status"] == "failed"
    })
    .await
}

/// A count of a channel's deliveries (0 while the channel has none yet).
fn count(campaign: &Value, name: &str, status: &str) -> i64 {
    campaign["channels"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["channel"] == name))
        .and_then(|c| c[status].as_i64())
        .unwrap_or(0)
}

pub fn channel<'a>(campaign: &'a Value, name: &str) -> &'a Value {
    campaign["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
        .unwrap_or_else(|| panic!("no {name} channel in {campaign:#}"))
}

pub async fn deliveries(app: &TestApp, campaign_id: i64) -> Vec<push_delivery::Model> {
    push_delivery::Entity::find()
        .filter(push_delivery::Column::CampaignId.eq(campaign_id))
        .all(&app.state.db)
        .await
        .unwrap()
}

/// The campaign's chunks a worker holds right now (its deliveries are on the wire; on a
/// channel that de-duplicates they stay `pending` until they settle).
pub async fn claims_in_flight(app: &TestApp, campaign_id: i64) -> usize {
    push_chunk::Entity::find()
        .filter(push_chunk::Column::CampaignId.eq(campaign_id))
        .filter(push_chunk::Column::ClaimedBy.is_not_null())
        .all(&app.state.db)
        .await
        .unwrap()
        .len()
}

/// `POST /api/admin/push/articles/{id}`: the new campaign's id.
pub async fn push_now(app: &TestApp, article: i64) -> i64 {
    app.admin_json(
        Method::POST,
        &format!("/api/admin/push/articles/{article}"),
        None,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

fn campaign_id(run: &Value) -> i64 {
    run["summary"]["campaign_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no campaign in {run}"))
}

pub fn assert_no_duplicates(fake: &FakeWechat) {
    assert_eq!(
        fake.openids_with_several_messages(),
        Vec::<String>::new(),
        "some followers got two messages"
    );
}

#[tokio::test]
async fn featuring_two_articles_and_running_the_job_sends_each_follower_one_digest_and_a_second_run_nothing()
 {
    let fake = fake_with(5).await;
    let (settings, dir) = push_settings(&fake).await;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    let reader = app.user_token("digest_reader").await;
    let first = featured(&app, "Tokio 调度器实战", json!({})).await;
    let second = featured(&app, "Axum 中间件入门", json!({})).await;
    app.published_article("Not featured", json!({})).await;

    let run = run_push_job(&app).await;
    let id = campaign_id(&run);
    let mut covered: Vec<i64> = run["summary"]["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_i64().unwrap())
        .collect();
    covered.sort();
    assert_eq!(covered, vec![first, second]);
    assert_eq!(run["summary"]["prepared"]["wechat_template"], 5, "{run}");
    // The reader and the admin.
    assert_eq!(run["summary"]["prepared"]["inbox"], 2, "{run}");

    let done = wait_settled(&app, id).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], 5);
    assert_eq!(channel(&done, "inbox")["sent"], 2);
    assert_eq!(done["trigger"], "schedule");
    assert!(
        done["title"].as_str().unwrap().contains("等 2 篇精选"),
        "{done}"
    );

    for openid in fake::generated_followers(5) {
        assert_eq!(fake.messages_to(&openid), 1, "{openid}");
    }
    let sent = fake.templates_sent();
    assert_eq!(sent.len(), 5);
    for t in &sent {
        assert_eq!(t.template_id, TEMPLATE);
        assert_eq!(
            t.client_msg_id.as_deref(),
            Some(message::client_msg_id(id, &t.touser).as_str())
        );
    }
    let inbox = app
        .as_user(
            &reader,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    let digests: Vec<&Value> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "featured_articles")
        .collect();
    assert_eq!(digests.len(), 1, "{inbox}");
    assert_eq!(digests[0]["title"], "本期精选 2 篇");

    let again = run_push_job(&app).await;
    assert_eq!(again["summary"]["campaign_id"], Value::Null, "{again}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.stats().templates_sent, 5);
    let list = app
        .admin_json(
            Method::GET,
            "/api/admin/push/campaigns",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn opted_out_and_uninterested_users_are_skipped_and_quiet_hours_defer_to_their_end() {
    let fake = fake_with(3).await;
    let (settings, dir) = push_settings(&fake).await;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    let rust = app.create_category("rust", "Rust").await;
    app.create_category("go", "Go").await;
    let article = featured(&app, "Rust 所有权", json!({ "category_id": rust })).await;

    let opted_out = app.user_token("opted_out").await;
    let go_only = app.user_token("go_only").await;
    let sleeper = app.user_token("sleeper").await;
    let put = |token: String, body: Value| {
        let app = &app;
        async move {
            app.as_user(
                &token,
                Method::PUT,
                "/api/me/push-preferences",
                Some(body),
                StatusCode::OK,
            )
            .await
        }
    };
    put(opted_out, json!({ "opted_out": true })).await;
    put(go_only, json!({ "opted_out": false, "categories": ["go"] })).await;
    // Quiet from an hour ago to an hour from now, Beijing time.
    let now_local = time::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let clock = |t: chrono::DateTime<chrono_tz::Tz>| t.format("%H:%M").to_string();
    let quiet = json!({
        "opted_out": false,
        "quiet_hours": {
            "start": clock(now_local - chrono::Duration::hours(1)),
            "end": clock(now_local + chrono::Duration::hours(1)),
        },
        "timezone": "Asia/Shanghai",
    });
    put(sleeper.clone(), quiet).await;
    let sleeper_id = app
        .as_user(&sleeper, Method::GET, "/api/me", None, StatusCode::OK)
        .await["id"]
        .as_i64()
        .unwrap();
    // The sleeper follows the Official Account too: their template message waits as well.
    followers::link_user(&app.state.db, "o_fake_000000", sleeper_id, time::now())
        .await
        .unwrap();

    let created = crate::push::push_now(&app, article).await;
    let c = wait_for(&app, created, "delivered to everyone awake", |c| {
        count(c, "wechat_template", "sent") == 2 && count(c, "inbox", "sent") == 1
    })
    .await;
    let inbox = channel(&c, "inbox");
    assert_eq!(inbox["skipped"], 2, "{c:#}");
    assert_eq!(inbox["pending"], 1, "{c:#}");
    assert_eq!(channel(&c, "wechat_template")["pending"], 1, "{c:#}");
    assert_eq!(c["status"], "sending", "deferred deliveries keep it open");
    assert_eq!(fake.messages_to("o_fake_000000"), 0);
    assert_eq!(fake.messages_to("o_fake_000001"), 1);

    let prefs = push_preferences::get(&app.state.db, sleeper_id)
        .await
        .unwrap();
    let rows = deliveries(&app, created).await;
    for d in rows.iter().filter(|d| d.user_id == Some(sleeper_id)) {
        assert_eq!(d.status, DeliveryStatus::Pending, "{d:?}");
        let end = prefs.deferred_until(d.created_at).expect("quiet now");
        assert_eq!(d.next_attempt_at, end, "{d:?}");
        assert!(d.next_attempt_at > time::now() + chrono::Duration::minutes(50));
    }
    let reasons: Vec<&str> = rows
        .iter()
        .filter(|d| d.status == DeliveryStatus::Skipped)
        .filter_map(|d| d.last_error.as_deref())
        .collect();
    assert!(reasons.contains(&"opted out of pushes"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("not interested")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_follower_who_unfollowed_is_marked_unsubscribed_and_skipped() {
    let fake = fake_with(3).await;
    let (settings, dir) = push_settings(&fake).await;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    fake.unfollow("o_fake_000001");
    let article = featured(&app, "Unfollow", json!({})).await;
    let c = crate::push::push_now(&app, article).await;
    let done = wait_settled(&app, c).await;
    assert_eq!(done["status"], "done", "{done:#}");
    let template = channel(&done, "wechat_template");
    assert_eq!(
        (template["sent"].as_i64(), template["skipped"].as_i64()),
        (Some(2), Some(1))
    );
    assert!(
        done["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["errcode"] == 43004 && e["status"] == "skipped"),
        "{done:#}"
    );
    let row = followers::find(&app.state.db, "o_fake_000001")
        .await
        .unwrap()
        .unwrap();
    assert!(!row.subscribed, "43004 marks the follower unsubscribed");
}

#[tokio::test]
async fn transient_errors_retry_with_backoff_until_sent_and_give_up_after_the_limit() {
    let fake = fake_with(1).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.max_attempts = 4;
    settings.push.channels.inbox.enabled = false;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    // Busy twice, then a 502: the fourth attempt gets through.
    fake.fail_next(Endpoint::TemplateSend, -1, 2);
    fake.fail_next_http(Endpoint::TemplateSend, 502, 1);
    let a = featured(&app, "Retried", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    let done = wait_settled(&app, c).await;
    assert_eq!(done["status"], "done", "{done:#}");
    let rows = deliveries(&app, c).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, DeliveryStatus::Sent);
    assert_eq!(rows[0].attempts, 4);
    assert_eq!(fake.messages_to("o_fake_000000"), 1);

    // Busy every time: failed after four attempts, and reported.
    fake.fail_next(Endpoint::TemplateSend, -1, 100);
    let b = featured(&app, "Never through", json!({})).await;
    let c = crate::push::push_now(&app, b).await;
    let failed = wait_settled(&app, c).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let rows = deliveries(&app, c).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert_eq!(rows[0].attempts, 4);
    assert_eq!(rows[0].last_errcode, Some(-1));
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 4 attempts")
    );
    // The list shows each campaign with its own articles and counts.
    let list = app
        .admin_json(
            Method::GET,
            "/api/admin/push/campaigns",
            None,
            StatusCode::OK,
        )
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["articles"][0]["title"], "Never through");
    assert_eq!(channel(&items[0], "wechat_template")["failed"], 1);
    assert_eq!(items[1]["articles"][0]["title"], "Retried");
    assert_eq!(channel(&items[1], "wechat_template")["sent"], 1);
}

#[tokio::test]
async fn a_used_up_daily_quota_pauses_the_channel_and_leaves_deliveries_pending() {
    let fake = fake_with(6).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.concurrency = 1;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    fake.set_quota(Endpoint::TemplateSend, Some(2));
    let a = featured(&app, "Quota", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    wait_for(&app, c, "paused", |c| {
        !c["paused_channels"].as_array().unwrap().is_empty()
    })
    .await;
    // ... and the batch that ran into the quota has settled.
    let start = Instant::now();
    while claims_in_flight(&app, c).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the claim never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let paused = campaign(&app, c).await;
    let template = channel(&paused, "wechat_template");
    assert_eq!(template["sent"], 2, "{paused:#}");
    assert_eq!(template["pending"], 4, "{paused:#}");
    assert_eq!(template["failed"], 0);
    assert_eq!(paused["status"], "sending");
    assert_eq!(paused["paused_channels"][0]["channel"], "wechat_template");
    let until = paused["paused_channels"][0]["until"].as_str().unwrap();
    let until: chrono::DateTime<chrono::Utc> = until.parse().unwrap();
    assert_eq!(until, push::gate::next_quota_reset(time::now()));
    // Waiting does not burn attempts or call WeChat again.
    let calls = fake.stats().calls(Endpoint::TemplateSend);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fake.stats().calls(Endpoint::TemplateSend), calls);
    for d in deliveries(&app, c).await {
        if d.channel == Channel::WechatTemplate && d.status == DeliveryStatus::Pending {
            assert_eq!(d.next_attempt_at, until);
            assert_eq!(d.attempts, 0, "a paused send is not an attempt");
        }
    }
}

#[tokio::test]
async fn template_errors_fail_the_delivery_and_a_retry_sends_only_the_failed_ones() {
    let fake = fake_with(4).await;
    let (settings, dir) = push_settings(&fake).await;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    fake.fail_openid("o_fake_000002", 47003, Some(1));
    let a = featured(&app, "Bad data once", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    let failed = wait_settled(&app, c).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(channel(&failed, "wechat_template")["failed"], 1);
    assert_eq!(channel(&failed, "wechat_template")["sent"], 3);
    let errors = failed["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["errcode"] == 47003 && e["status"] == "failed" && e["count"] == 1),
        "{failed:#}"
    );
    assert_eq!(fake.stats().templates_sent, 3);

    let retried = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/push/campaigns/{}/retry", c),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(retried["requeued"], 1, "{retried}");
    let audit = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/audit?object_type=push_campaign&object_id={c}"),
            None,
            StatusCode::OK,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["push_campaign.retry", "push_campaign.create"],
        "{audit}"
    );
    let done = wait_settled(&app, c).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], 4);
    // Only the failed one went out again.
    assert_eq!(fake.stats().calls(Endpoint::TemplateSend), 5);
    assert_eq!(fake.stats().templates_sent, 4);
    assert_no_duplicates(&fake);
    let nothing = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/push/campaigns/{}/retry", c),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(nothing["requeued"], 0);
}

async fn mass_app(followers: usize) -> (TestApp, FakeWechat) {
    let fake = fake_with(followers).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.channels.wechat_mass.enabled = true;
    settings.push.channels.wechat_mass.rate_per_min = 0;
    settings.push.channels.inbox.enabled = false;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    (app, fake)
}

#[tokio::test]
async fn a_lone_follower_gets_a_template_message_instead_of_a_mass_send() {
    let (app, fake) = mass_app(1).await;
    let a = featured(&app, "Alone", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    let done = wait_settled(&app, c).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], 1);
    assert_eq!(fake.stats().mass_sends, 0);
    assert_eq!(fake.messages_to("o_fake_000000"), 1);
}

#[tokio::test]
async fn ten_thousand_and_one_followers_go_out_in_two_even_mass_batches() {
    let (app, fake) = mass_app(10_001).await;
    let a = featured(&app, "Mass", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    let done = wait_settled(&app, c).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_mass")["sent"], 10_001, "{done:#}");
    let stats = fake.stats();
    assert_eq!(stats.mass_sends, 2);
    assert_eq!(stats.mass_recipients, 10_001);
    assert_eq!(stats.templates_sent, 0);
    assert_no_duplicates(&fake);
    let rows = deliveries(&app, c).await;
    let in_batch = |b| rows.iter().filter(|d| d.batch == Some(b)).count();
    assert_eq!((in_batch(0), in_batch(1)), (5001, 5000));
    assert_eq!(rows.iter().filter(|d| d.batch_leader).count(), 2);
}

async fn mp_user(app: &TestApp, fake: &FakeWechat, openid: &str) -> (String, i64) {
    let code = format!("code-{openid}");
    fake.add_login_code(&code, openid, None);
    let tokens = app
        .request(
            Method::POST,
            "/api/auth/wechat/miniprogram",
            None,
            Some(json!({ "code": code })),
        )
        .await;
    let tokens = crate::helpers::expect_json(tokens, StatusCode::OK).await;
    let token = tokens["access_token"].as_str().unwrap().to_string();
    app.as_user(
        &token,
        Method::POST,
        "/api/me/wechat/subscriptions",
        Some(json!({ "template_ids": [TEMPLATE] })),
        StatusCode::OK,
    )
    .await;
    (token, tokens["user"]["id"].as_i64().unwrap())
}

async fn credits(app: &TestApp, user_id: i64) -> i32 {
    miniprogram_subscription::Entity::find_by_id((user_id, TEMPLATE.to_string()))
        .one(&app.state.db)
        .await
        .unwrap()
        .map_or(0, |s| s.credits)
}

#[tokio::test]
async fn subscribe_credits_are_spent_only_on_success_and_cleared_when_the_user_refused() {
    let fake = fake_with(0).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.channels.wechat_template.enabled = false;
    settings.push.channels.miniprogram_subscribe.enabled = true;
    settings.push.channels.miniprogram_subscribe.template_id = TEMPLATE.into();
    let app = spawn_app_with(settings, dir).await;
    let (_, granted) = mp_user(&app, &fake, "mp_granted").await;
    let (_, refused) = mp_user(&app, &fake, "mp_refused").await;
    let (_, broken) = mp_user(&app, &fake, "mp_broken").await;
    fake.grant_subscribe("mp_granted", TEMPLATE, 1);
    fake.grant_subscribe("mp_broken", TEMPLATE, 1);
    fake.fail_openid("mp_broken", 47003, None);
    // mp_refused never accepted at WeChat: 43101.

    let a = featured(&app, "For the mini-program", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    let settled = wait_settled(&app, c).await;
    let mp = channel(&settled, "miniprogram_subscribe");
    assert_eq!(
        (
            mp["sent"].as_i64(),
            mp["skipped"].as_i64(),
            mp["failed"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{settled:#}"
    );
    assert_eq!(credits(&app, granted).await, 0, "spent on success");
    assert_eq!(credits(&app, refused).await, 0, "cleared on 43101");
    assert_eq!(credits(&app, broken).await, 1, "kept when the send failed");
    assert_eq!(fake.messages_to("mp_granted"), 1);
}

#[tokio::test]
async fn a_claim_whose_worker_died_is_resent_only_where_the_channel_deduplicates() {
    let fake = fake_with(0).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.workers_enabled = false;
    settings.push.channels.wechat_template.enabled = false;
    settings.push.channels.miniprogram_subscribe.enabled = true;
    settings.push.channels.miniprogram_subscribe.template_id = TEMPLATE.into();
    let app = spawn_app_with(settings, dir).await;
    mp_user(&app, &fake, "mp_crash").await;
    let a = featured(&app, "Crash", json!({})).await;
    let c = crate::push::push_now(&app, a).await;
    // No workers here: once the recipients are frozen (the API started that), leave every
    // delivery claimed by a dead instance.
    wait_for(&app, c, "prepared", |c| !c["prepared_at"].is_null()).await;
    let rows = deliveries(&app, c).await;
    assert_eq!(
        rows.len(),
        3,
        "inbox for two users, one subscribe message: {rows:?}"
    );
    push_delivery::Entity::update_many()
        .col_expr(push_delivery::Column::Status, Expr::value("sending"))
        .col_expr(
            push_delivery::Column::ClaimedBy,
            Expr::value("dead-instance"),
        )
        .col_expr(
            push_delivery::Column::LeaseUntil,
            Expr::value(time::now() - chrono::Duration::seconds(1)),
        )
        .filter(push_delivery::Column::CampaignId.eq(c))
        .exec(&app.state.db)
        .await
        .unwrap();
    // ... under claims of their chunks whose lease ran out.
    push_chunk::Entity::update_many()
        .col_expr(
            push_chunk::Column::ClaimedBy,
            Expr::value("dead-instance/1"),
        )
        .col_expr(
            push_chunk::Column::LeaseUntil,
            Expr::value(time::now() - chrono::Duration::seconds(1)),
        )
        .filter(push_chunk::Column::CampaignId.eq(c))
        .exec(&app.state.db)
        .await
        .unwrap();
    push::worker::maintain(&app.state).await.unwrap();
    for d in deliveries(&app, c).await {
        let expected = match d.channel {
            Channel::MiniprogramSubscribe => DeliveryStatus::Unknown,
            _ => DeliveryStatus::Pending,
        };
        assert_eq!(d.status, expected, "{d:?}");
    }
    let view = campaign(&app, c).await;
    assert_eq!(channel(&view, "miniprogram_subscribe")["unknown"], 1);
    assert_eq!(
        fake.stats().subscribe_sent,
        0,
        "never sent twice, here never at all"
    );
}

#[tokio::test]
async fn two_instances_share_one_campaign_without_a_duplicate() {
    let fake = fake_with(400).await;
    fake.set_latency(Duration::from_millis(3));
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.claim_batch = 10;
    settings.push.concurrency = 4;
    settings.push.channels.inbox.enabled = false;
    let first = spawn_app_with(settings.clone(), dir).await;
    let second = spawn_app_sharing(settings, None, Some(first.state.cache.clone())).await;
    sync_followers(&first).await;
    let a = featured(&first, "Shared", json!({})).await;
    let run = run_push_job(&first).await;
    assert_eq!(run["summary"]["articles"], json!([a]));
    let done = wait_settled(&second, campaign_id(&run)).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], 400);
    let rows = deliveries(&first, campaign_id(&run)).await;
    let by = |instance: &str| {
        rows.iter()
            .filter(|d| d.claimed_by.as_deref() == Some(instance))
            .count()
    };
    let (a, b) = (by(&first.state.instance), by(&second.state.instance));
    assert_eq!(a + b, 400);
    assert!(a > 0 && b > 0, "both instances worked: {a} + {b}");
    assert_no_duplicates(&fake);
    assert_eq!(fake.stats().templates_sent, 400);
}

#[tokio::test]
async fn a_worker_killed_mid_campaign_is_finished_by_a_restart_without_duplicates() {
    let fake = fake_with(300).await;
    fake.set_latency(Duration::from_millis(10));
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.claim_batch = 20;
    settings.push.concurrency = 4;
    settings.push.channels.inbox.enabled = false;
    let doomed = spawn_app_with(settings.clone(), dir).await;
    sync_followers(&doomed).await;
    let a = featured(&doomed, "Interrupted", json!({})).await;
    let run = run_push_job(&doomed).await;
    assert_eq!(run["summary"]["articles"], json!([a]));
    let id = campaign_id(&run);
    // Kill it while a batch is claimed and some of it is on the wire.
    let start = Instant::now();
    loop {
        let sent = deliveries(&doomed, id)
            .await
            .iter()
            .filter(|d| d.status == DeliveryStatus::Sent)
            .count();
        if sent >= 40 && claims_in_flight(&doomed, id).await > 0 {
            doomed.kill().await;
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never saw a claim in flight"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        claims_in_flight(&doomed, id).await > 0,
        "the crash left claims behind"
    );
    let unsent = deliveries(&doomed, id)
        .await
        .iter()
        .filter(|d| d.status != DeliveryStatus::Sent)
        .count();
    assert!(unsent > 0, "the crash left deliveries unsettled");

    let restarted = spawn_app_sharing(settings, None, Some(doomed.state.cache.clone())).await;
    let done = wait_settled(&restarted, id).await;
    assert_eq!(done["status"], "done", "{done:#}");
    let rows = deliveries(&restarted, id).await;
    assert_eq!(rows.len(), 300);
    assert!(
        rows.iter().all(|d| d.status == DeliveryStatus::Sent),
        "every delivery accounted for"
    );
    assert_no_duplicates(&fake);
    for openid in fake::generated_followers(300) {
        assert_eq!(fake.messages_to(&openid), 1, "{openid}");
    }
    // The restarted instance resent the stranded claims; WeChat's key absorbed any repeat.
    assert!(
        rows.iter()
            .any(|d| d.claimed_by.as_deref() == Some(&*restarted.state.instance))
    );
}

#[tokio::test]
async fn pushing_an_article_now_is_idempotent_and_admin_only() {
    let fake = fake_with(2).await;
    let (settings, dir) = push_settings(&fake).await;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    let article = app.published_article("Push me", json!({})).await;
    let path = format!("/api/admin/push/articles/{article}");
    let created = app
        .admin_json(Method::POST, &path, None, StatusCode::CREATED)
        .await;
    assert_eq!(created["trigger"], "manual");
    assert_eq!(created["articles"][0]["id"], article);
    let again = app
        .admin_json(Method::POST, &path, None, StatusCode::OK)
        .await;
    assert_eq!(again["id"], created["id"]);
    let audit = app
        .admin_json(
            Method::GET,
            "/api/admin/audit?action=push_campaign.create",
            None,
            StatusCode::OK,
        )
        .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "the second call changed nothing: {audit}");
    assert_eq!(entries[0]["object_id"], created["id"]);
    let done = wait_settled(&app, created["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "done");
    assert_eq!(fake.stats().templates_sent, 2);
    // Featuring it later does not push it again.
    app.feature(article).await;
    assert_eq!(
        run_push_job(&app).await["summary"]["campaign_id"],
        Value::Null
    );

    let draft = app.create_article("Draft", json!({})).await;
    let err = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/push/articles/{draft}"),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["code"], "not_published");
    app.admin_json(
        Method::POST,
        "/api/admin/push/articles/999999",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.admin_json(
        Method::GET,
        "/api/admin/push/campaigns/999999",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.admin_json(
        Method::GET,
        "/api/admin/push/campaigns?status=bogus",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let user = app.user_token("not_admin").await;
    app.as_user(&user, Method::POST, &path, None, StatusCode::FORBIDDEN)
        .await;
    app.as_user(
        &user,
        Method::GET,
        "/api/admin/push/campaigns",
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let done_only = app
        .admin_json(
            Method::GET,
            "/api/admin/push/campaigns?status=done&limit=1",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(done_only["items"].as_array().unwrap().len(), 1);
    assert_eq!(done_only["items"][0]["id"], created["id"]);
}

#[tokio::test]
async fn a_graceful_shutdown_lets_the_deliveries_in_flight_settle() {
    let fake = fake_with(40).await;
    fake.set_latency(Duration::from_millis(150));
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.channels.inbox.enabled = false;
    settings.push.claim_batch = 40;
    settings.push.concurrency = 8;
    let mut admin_side = settings.clone();
    admin_side.push.workers_enabled = false;
    let admin = spawn_app_with(admin_side, dir).await;
    sync_followers(&admin).await;
    let article = featured(&admin, "Shutdown", json!({})).await;

    let worker = qshare::Application::build(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let c = push_now(&admin, article).await;
    let start = Instant::now();
    while claims_in_flight(&admin, c).await == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never claimed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Stop while the batch (all 40, 150 ms per send, 8 at a time) is on the wire.
    stop.send(()).unwrap();
    server.await.unwrap().expect("the server stops cleanly");

    let rows = deliveries(&admin, c).await;
    assert_eq!(rows.len(), 40);
    assert!(
        rows.iter().all(|d| d.status == DeliveryStatus::Sent),
        "the claimed batch finished and was recorded before the process stopped"
    );
    assert_eq!(fake.stats().templates_sent, 40);
    assert_no_duplicates(&fake);
}
