//! Device pushes end to end: campaigns fan out to registered devices and the real workers
//! send them to a fake APNs / FCM / HarmonyOS over TLS and HTTP/2 (`testkit::push_fake`);
//! every outcome is checked at the fake (what arrived, how often, with which headers) and
//! in the database.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{
    device,
    push_delivery::{Channel, DeliveryStatus},
};
use qshare::Settings;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use testkit::push_fake::{self as fake, Answer, FakePush};

use crate::{
    devices::{apns_token, fcm_token, register_anonymous, register_mine},
    helpers::{TestApp, spawn_app_sharing, spawn_app_with, test_settings, unique_name},
    push::{campaign, deliveries, featured, push_now, wait_settled},
};

/// Settings with the device channels pointed at `fake` (and the inbox on).
pub async fn device_settings(fake: &FakePush) -> (Settings, Option<tempfile::TempDir>) {
    let (mut settings, dir) = test_settings().await;
    let c = &mut settings.push.channels;
    c.apns.enabled = true;
    c.apns.base_url = fake.base_url();
    c.apns.sandbox_base_url = fake.base_url();
    c.apns.ca_cert_path = Some(fake.ca_cert_path());
    c.apns.key_pem = Some(fake::APNS_KEY_PEM.into());
    c.apns.key_id = fake::APNS_KEY_ID.into();
    c.apns.team_id = fake::APNS_TEAM_ID.into();
    c.apns.topic = fake::APNS_TOPIC.into();
    c.fcm.enabled = true;
    c.fcm.base_url = fake.base_url();
    c.fcm.ca_cert_path = Some(fake.ca_cert_path());
    c.fcm.service_account_json = Some(fake.fcm_service_account());
    c.harmony.enabled = true;
    c.harmony.base_url = fake.base_url();
    c.harmony.ca_cert_path = Some(fake.ca_cert_path());
    c.harmony.service_account_json = Some(FakePush::harmony_service_account());
    settings.push.devices.marketing_daily_cap = 0;
    (settings, dir)
}

async fn app_with_fake() -> (TestApp, FakePush) {
    let fake = FakePush::start().await;
    let (settings, dir) = device_settings(&fake).await;
    (spawn_app_with(settings, dir).await, fake)
}

async fn device_row(app: &TestApp, id: i64) -> device::Model {
    device::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// Pushes a new featured article now and waits until its campaign is settled.
async fn push_campaign(app: &TestApp) -> (i64, Value) {
    let article = featured(app, &unique_name("设备推送 "), json!({})).await;
    let id = push_now(app, article).await;
    (id, wait_settled(app, id).await)
}

fn device_channel<'a>(campaign: &'a Value, name: &str) -> Option<&'a Value> {
    campaign["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_receives_the_campaign_in_the_device_language_with_collapse_key_and_ttl() {
    let (app, fake) = app_with_fake().await;
    let user = app.user_token("reader_user").await;
    let apple = apns_token(1);
    let android = fcm_token();
    let harmony = fcm_token();
    register_mine(
        &app,
        &user,
        json!({"provider": "apns", "token": apple, "locale": "en-US"}),
    )
    .await;
    register_anonymous(&app, json!({"provider": "fcm", "token": android})).await;
    register_anonymous(&app, json!({"provider": "harmony", "token": harmony})).await;
    let before = Utc::now().timestamp();
    let (id, c) = push_campaign(&app).await;
    assert_eq!(c["status"], "done", "{c:#}");
    for name in ["apns", "fcm", "harmony"] {
        let ch = device_channel(&c, name).unwrap_or_else(|| panic!("no {name} in {c:#}"));
        assert_eq!(ch["sent"], 1, "{name}: {c:#}");
    }
    assert_eq!(fake.delivered(&apple), 1);
    assert_eq!(fake.delivered(&android), 1);
    assert_eq!(fake.delivered(&harmony), 1);
    let received = fake.received();
    let ios = received.iter().find(|r| r.token == apple).unwrap();
    assert_eq!(ios.headers["apns-collapse-id"], format!("qshare-c{id}"));
    let expiration: i64 = ios.headers["apns-expiration"].parse().unwrap();
    assert!(
        (expiration - before - 86_400).abs() < 120,
        "a day: {expiration}"
    );
    assert_eq!(ios.body["aps"]["alert"]["title"], "Featured article");
    assert!(
        ios.body["aps"]["badge"].is_u64(),
        "an owner's badge: {}",
        ios.body
    );
    assert!(
        ios.body["link"]
            .as_str()
            .unwrap()
            .starts_with("qshare://articles/")
    );
    let droid = received.iter().find(|r| r.token == android).unwrap();
    let m = &droid.body["message"];
    assert_eq!(m["notification"]["title"], "精选文章");
    assert_eq!(m["android"]["collapse_key"], format!("qshare-c{id}"));
    assert_eq!(m["android"]["ttl"], "86400s");
    assert_eq!(
        m["apns"]["headers"]["apns-collapse-id"],
        format!("qshare-c{id}")
    );
    assert!(
        m["apns"]["payload"]["aps"].get("badge").is_none(),
        "anonymous: no badge"
    );
    let hm = received.iter().find(|r| r.token == harmony).unwrap();
    assert_eq!(hm.body["pushOptions"]["ttl"], 86_400);
    assert_eq!(
        hm.body["pushOptions"]["collapseKey"],
        qshare::push::message::harmony_collapse_key(id),
        "an offline-cache group derived from the campaign"
    );
    assert_eq!(
        hm.body["payload"]["notification"]["notifyId"],
        qshare::push::message::harmony_notify_id(id),
        "a resend replaces the notification shown"
    );
    assert_eq!(hm.body["payload"]["notification"]["title"], "精选文章");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_reported_dead_is_never_sent_to_again_until_it_registers_again() {
    let (app, fake) = app_with_fake().await;
    let user = app.user_token("gone_user").await;
    let token = apns_token(2);
    let d = register_mine(&app, &user, json!({"provider": "apns", "token": token})).await;
    let id = d["id"].as_i64().unwrap();
    fake.always(
        &token,
        Answer::apns_unregistered(Utc::now().timestamp_millis() + 1000),
    );
    let (first, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "apns").unwrap()["skipped"], 1, "{c:#}");
    assert!(
        c["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["channel"] == "apns" && e["error"] == "Unregistered"),
        "the reason shows: {c:#}"
    );
    let row = device_row(&app, id).await;
    assert!(row.invalid_at.is_some());
    assert_eq!(row.invalid_reason.as_deref(), Some("Unregistered"));
    assert_eq!(fake.attempts(&token), 1);
    // The next campaign leaves the dead device out altogether.
    let (second, _) = push_campaign(&app).await;
    assert_eq!(fake.attempts(&token), 1, "never sent to again");
    assert!(
        deliveries(&app, second)
            .await
            .iter()
            .all(|d| d.channel != Channel::Apns),
        "no delivery for a dead token"
    );
    assert_ne!(first, second);
    // The app registers the token again (re-installed): it is reached again.
    fake.clear(&token);
    let again = register_mine(&app, &user, json!({"provider": "apns", "token": token})).await;
    assert_eq!(again["id"], d["id"]);
    assert_eq!(again["valid"], true);
    let (_, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "apns").unwrap()["sent"], 1, "{c:#}");
    assert_eq!(fake.delivered(&token), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_410_older_than_the_latest_registration_does_not_kill_the_token() {
    let (app, fake) = app_with_fake().await;
    let token = apns_token(3);
    let d = register_anonymous(&app, json!({"provider": "apns", "token": token})).await;
    // Apple says the token died an hour ago, but the device registered after that.
    fake.script(
        &token,
        vec![Answer::apns_unregistered(
            Utc::now().timestamp_millis() - 3_600_000,
        )],
    );
    push_campaign(&app).await;
    let row = device_row(&app, d["id"].as_i64().unwrap()).await;
    assert!(row.invalid_at.is_none(), "{row:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_apns_error_settles_the_way_the_reference_table_says() {
    let (app, fake) = app_with_fake().await;
    let bad = apns_token(10);
    let topic = apns_token(11);
    let busy = apns_token(12);
    let throttled = apns_token(13);
    let ours = apns_token(14);
    // ExpiredProviderToken has its own tests (the re-mint floor), below.
    for t in [&bad, &topic, &busy, &throttled, &ours] {
        register_anonymous(&app, json!({"provider": "apns", "token": t})).await;
    }
    fake.always(&bad, Answer::apns(400, "BadDeviceToken"));
    fake.always(&topic, Answer::apns(400, "DeviceTokenNotForTopic"));
    fake.script(
        &busy,
        vec![
            Answer::apns(503, "ServiceUnavailable"),
            Answer::apns(500, "InternalServerError"),
        ],
    );
    fake.script(
        &throttled,
        vec![Answer::apns(429, "TooManyRequests").with_retry_after(1)],
    );
    fake.always(&ours, Answer::apns(400, "BadCollapseId"));
    let (id, c) = push_campaign(&app).await;
    let apns = device_channel(&c, "apns").unwrap();
    assert_eq!(apns["sent"], 2, "busy, throttled: {c:#}");
    assert_eq!(apns["skipped"], 2, "dead tokens: {c:#}");
    assert_eq!(apns["failed"], 1, "our bug: {c:#}");
    assert_eq!(fake.attempts(&busy), 3, "retried twice with backoff");
    assert_eq!(fake.attempts(&throttled), 2);
    assert_eq!(fake.attempts(&ours), 1, "never retried");
    let rows = deliveries(&app, id).await;
    let failed = rows
        .iter()
        .find(|d| d.status == DeliveryStatus::Failed)
        .unwrap();
    assert_eq!(failed.last_error.as_deref(), Some("BadCollapseId"));
    let invalid: Vec<String> = device::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.invalid_at.is_some())
        .map(|d| d.token)
        .collect();
    assert!(
        invalid.contains(&bad) && invalid.contains(&topic),
        "{invalid:?}"
    );
    assert!(!invalid.contains(&ours) && !invalid.contains(&busy));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"qshare_push_provider_errors_total{channel="apns",reason="BadDeviceToken"}"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"qshare_push_deliveries_total{channel="apns",outcome="sent"}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_fcm_and_harmony_error_settles_the_way_the_reference_table_says() {
    let (app, fake) = app_with_fake().await;
    let unregistered = fcm_token();
    let mismatch = fcm_token();
    let invalid_token = fcm_token();
    let unavailable = fcm_token();
    let hm_dead = fcm_token();
    let hm_ok = fcm_token();
    for t in [&unregistered, &mismatch, &invalid_token, &unavailable] {
        register_anonymous(&app, json!({"provider": "fcm", "token": t})).await;
    }
    for t in [&hm_dead, &hm_ok] {
        register_anonymous(&app, json!({"provider": "harmony", "token": t})).await;
    }
    fake.always(
        &unregistered,
        Answer::fcm(
            404,
            "NOT_FOUND",
            "UNREGISTERED",
            "Requested entity was not found.",
        ),
    );
    fake.always(
        &mismatch,
        Answer::fcm(
            403,
            "PERMISSION_DENIED",
            "SENDER_ID_MISMATCH",
            "SenderId mismatch",
        ),
    );
    fake.always(
        &invalid_token,
        Answer::fcm(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
        ),
    );
    fake.script(
        &unavailable,
        vec![Answer::fcm(503, "UNAVAILABLE", "UNAVAILABLE", "busy").with_retry_after(1)],
    );
    fake.always(&hm_dead, Answer::harmony(200, "80300007"));
    let (_, c) = push_campaign(&app).await;
    let fcm = device_channel(&c, "fcm").unwrap();
    assert_eq!(fcm["skipped"], 3, "{c:#}");
    assert_eq!(fcm["sent"], 1, "{c:#}");
    assert_eq!(fake.attempts(&unavailable), 2);
    let hm = device_channel(&c, "harmony").unwrap();
    assert_eq!(hm["skipped"], 1, "{c:#}");
    assert_eq!(hm["sent"], 1, "{c:#}");
    let dead: usize = device::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.invalid_at.is_some())
        .count();
    assert_eq!(dead, 4);
    assert_eq!(fake.harmony_jwts(), 1, "the PS256 JWT is reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_error_pauses_the_channel_and_shows_in_the_campaign() {
    let (app, fake) = app_with_fake().await;
    let apple = apns_token(20);
    let android = fcm_token();
    register_anonymous(&app, json!({"provider": "apns", "token": apple})).await;
    register_anonymous(&app, json!({"provider": "fcm", "token": android})).await;
    fake.refuse_apns_tokens(true);
    let article = featured(&app, &unique_name("revoked "), json!({})).await;
    let id = push_now(&app, article).await;
    let start = Instant::now();
    let c = loop {
        let c = campaign(&app, id).await;
        let paused = c["paused_channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["channel"] == "apns");
        if paused && device_channel(&c, "fcm").is_some_and(|f| f["sent"] == 1) {
            break c;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{c:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pause = c["paused_channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["channel"] == "apns")
        .unwrap();
    assert_eq!(pause["reason"], "InvalidProviderToken", "{c:#}");
    assert_eq!(
        device_channel(&c, "apns").unwrap()["pending"],
        1,
        "kept for later: {c:#}"
    );
    assert!(
        c["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["channel"] == "apns" && e["error"] == "InvalidProviderToken"),
        "{c:#}"
    );
    let attempts = fake.attempts(&apple);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.attempts(&apple), attempts, "nothing sent while paused");
    assert_eq!(fake.delivered(&android), 1, "the other channels go on");
}

/// Devices inserted straight into the table (registering 10,000 through HTTP would only
/// measure the registration).
async fn insert_devices(app: &TestApp, provider: device::Provider, n: usize) -> Vec<String> {
    let now = Utc::now();
    let mut tokens = Vec::with_capacity(n);
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    for batch in (0..n).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<device::ActiveModel> = batch
            .iter()
            .map(|i| {
                let token = match provider {
                    device::Provider::Apns => format!("{}{:032x}", &prefix, i),
                    _ => format!("bulk-{prefix}-{i}"),
                };
                tokens.push(token.clone());
                device::ActiveModel {
                    provider: Set(provider),
                    token: Set(token),
                    user_id: Set(None),
                    session_id: Set(None),
                    secret_hash: Set(None),
                    app_id: Set(None),
                    environment: Set(device::Environment::Production),
                    locale: Set("zh-CN".into()),
                    timezone: Set("Asia/Shanghai".into()),
                    app_version: Set(None),
                    opted_out: Set(false),
                    quiet_start_minute: Set(None),
                    quiet_end_minute: Set(None),
                    invalid_at: Set(None),
                    invalid_reason: Set(None),
                    registered_at: Set(now),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
            })
            .collect();
        device::Entity::insert_many(rows)
            .exec_without_returning(&app.state.db)
            .await
            .unwrap();
    }
    tokens
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apns_jwt_is_minted_once_under_a_burst_of_ten_thousand_messages() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.channels.fcm.enabled = false;
    settings.push.channels.harmony.enabled = false;
    settings.push.channels.inbox.enabled = false;
    // A production-like lease: the test's 2 s lease can run out on a loaded machine, and
    // a recovered claim is resent (with its collapse key, but counted twice here).
    settings.push.lease_secs = 60;
    let app = spawn_app_with(settings, dir).await;
    let tokens = insert_devices(&app, device::Provider::Apns, 10_000).await;
    let article = featured(&app, &unique_name("burst "), json!({})).await;
    let id = push_now(&app, article).await;
    // A debug build on a shared machine: give the burst time.
    let start = Instant::now();
    let c = loop {
        let c = campaign(&app, id).await;
        if c["status"] == "done" || c["status"] == "failed" {
            break c;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "{c:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("10,000 APNs deliveries took {:?}", start.elapsed());
    assert_eq!(device_channel(&c, "apns").unwrap()["sent"], 10_000, "{c:#}");
    assert_eq!(fake.total_delivered(), 10_000);
    assert_eq!(fake.duplicates(), 0);
    assert_eq!(
        fake.apns_jwts(),
        1,
        "one provider token for the whole burst"
    );
    assert_eq!(app.state.push_providers.apns.as_ref().unwrap().mints(), 1);
    assert!(fake.max_jwts_per_connection() <= 1);
    assert!(
        fake.connections() <= 4,
        "connections reused: {}",
        fake.connections()
    );
    assert_eq!(fake.delivered(&tokens[9_999]), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fcm_access_token_is_fetched_once_across_two_instances() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.channels.apns.enabled = false;
    settings.push.channels.harmony.enabled = false;
    settings.push.claim_batch = 20;
    let one = spawn_app_with(settings.clone(), dir).await;
    let two = spawn_app_sharing(settings, None, Some(one.cache().clone())).await;
    insert_devices(&one, device::Provider::Fcm, 400).await;
    let (_, c) = push_campaign(&one).await;
    assert_eq!(device_channel(&c, "fcm").unwrap()["sent"], 400, "{c:#}");
    let exchanges = one.state.push_providers.fcm.as_ref().unwrap().exchanges()
        + two.state.push_providers.fcm.as_ref().unwrap().exchanges();
    assert_eq!(fake.fcm_mints(), 1, "one token for both instances");
    assert_eq!(exchanges, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_fcm_access_token_is_exchanged_again_once() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.channels.apns.enabled = false;
    settings.push.channels.harmony.enabled = false;
    let app = spawn_app_with(settings, dir).await;
    let android = fcm_token();
    register_anonymous(&app, json!({"provider": "fcm", "token": android})).await;
    fake.script(
        &android,
        vec![Answer::fcm(
            401,
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "expired",
        )],
    );
    let (_, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "fcm").unwrap()["sent"], 1, "{c:#}");
    assert_eq!(fake.fcm_mints(), 2, "refreshed once");
    assert_eq!(fake.attempts(&android), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_campaign_leaves_nothing_unaccounted_and_resends_carry_the_collapse_key()
 {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.channels.fcm.enabled = false;
    settings.push.channels.harmony.enabled = false;
    settings.push.lease_secs = 1;
    settings.push.claim_batch = 50;
    let one = spawn_app_with(settings.clone(), dir).await;
    let tokens = insert_devices(&one, device::Provider::Apns, 300).await;
    fake.set_latency(Duration::from_millis(200));
    let article = featured(&one, &unique_name("crash "), json!({})).await;
    let id = push_now(&one, article).await;
    let start = Instant::now();
    while fake.total_delivered() == 0 {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    one.kill().await;
    fake.set_latency(Duration::ZERO);
    let two = spawn_app_sharing(settings, None, Some(one.cache().clone())).await;
    let c = wait_settled(&two, id).await;
    let apns = device_channel(&c, "apns").unwrap();
    assert_eq!(apns["sent"], 300, "every delivery accounted for: {c:#}");
    assert_eq!(apns["pending"], 0);
    assert_eq!(apns["sending"], 0);
    let rows: Vec<_> = deliveries(&two, id)
        .await
        .into_iter()
        .filter(|d| d.channel == Channel::Apns)
        .collect();
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|d| d.status == DeliveryStatus::Sent));
    assert!(
        tokens.iter().all(|t| fake.delivered(t) >= 1),
        "every device reached"
    );
    let key = format!("qshare-c{id}");
    assert!(
        fake.received()
            .iter()
            .all(|r| r.headers.get("apns-collapse-id") == Some(&key)),
        "every send, resends included, carries the collapse key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preferences_apply_per_owner_and_per_anonymous_device() {
    let (app, fake) = app_with_fake().await;
    let user = app.user_token("quiet_user").await;
    let owned = fcm_token();
    register_mine(&app, &user, json!({"provider": "fcm", "token": owned})).await;
    app.as_user(
        &user,
        Method::PUT,
        "/api/me/push-preferences",
        Some(json!({"opted_out": true})),
        StatusCode::OK,
    )
    .await;
    let anon = fcm_token();
    let reg = register_anonymous(&app, json!({"provider": "fcm", "token": anon})).await;
    let path = format!("/api/devices/{}/preferences", reg["id"]);
    let resp = app
        .client
        .put(app.url(&path))
        .header("X-Device-Secret", reg["device_secret"].as_str().unwrap())
        .json(&json!({"opted_out": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let listening = fcm_token();
    register_anonymous(&app, json!({"provider": "fcm", "token": listening})).await;
    let (_, c) = push_campaign(&app).await;
    let fcm = device_channel(&c, "fcm").unwrap();
    assert_eq!(fcm["skipped"], 2, "{c:#}");
    assert_eq!(fcm["sent"], 1, "{c:#}");
    assert_eq!(fake.attempts(&owned), 0);
    assert_eq!(fake.attempts(&anon), 0);
    assert_eq!(fake.delivered(&listening), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_marketing_cap_holds_per_device() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.devices.marketing_daily_cap = 2;
    let app = spawn_app_with(settings, dir).await;
    let token = fcm_token();
    register_anonymous(&app, json!({"provider": "harmony", "token": token})).await;
    for _ in 0..3 {
        push_campaign(&app).await;
    }
    assert_eq!(fake.delivered(&token), 2, "the third is held back today");
}

/// Waits until campaign `id` settles, noting the first reason `channel` was seen paused
/// for on the way (None: never paused).
async fn settle_watching_pause(
    app: &TestApp,
    id: i64,
    channel: Channel,
) -> (Value, Option<String>) {
    let start = Instant::now();
    let mut paused = None;
    loop {
        if paused.is_none()
            && let Some((_, reason)) = qshare::push::gate::pause_of(app.cache(), channel).await
        {
            paused = Some(reason);
        }
        let c = campaign(app, id).await;
        if c["status"] == "done" || c["status"] == "failed" {
            return (c, paused);
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{c:#}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One FCM device channel only, sending one delivery at a time in device order.
async fn fcm_app_one_at_a_time(fake: &FakePush) -> TestApp {
    let (mut settings, dir) = device_settings(fake).await;
    settings.push.channels.apns.enabled = false;
    settings.push.channels.harmony.enabled = false;
    settings.push.claim_batch = 1;
    settings.push.loops_per_channel = 1;
    spawn_app_with(settings, dir).await
}

fn sent_at(rows: &[entity::push_delivery::Model], device: &Value) -> chrono::DateTime<Utc> {
    let id = device["id"].as_i64().unwrap().to_string();
    rows.iter()
        .find(|d| d.channel == Channel::Fcm && d.recipient == id)
        .and_then(|d| d.sent_at)
        .unwrap_or_else(|| panic!("device {id} not sent: {rows:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_fcm_quota_of_one_device_backs_off_that_device_and_not_the_channel() {
    let fake = FakePush::start().await;
    let app = fcm_app_one_at_a_time(&fake).await;
    let throttled = fcm_token();
    let others = [fcm_token(), fcm_token()];
    let first = register_anonymous(&app, json!({"provider": "fcm", "token": throttled})).await;
    let mut rest = Vec::new();
    for t in &others {
        rest.push(register_anonymous(&app, json!({"provider": "fcm", "token": t})).await);
    }
    fake.script(
        &throttled,
        vec![Answer::fcm_quota(Some(&throttled)).with_retry_after(1)],
    );
    let article = featured(&app, &unique_name("device quota "), json!({})).await;
    let id = push_now(&app, article).await;
    let (c, paused) = settle_watching_pause(&app, id, Channel::Fcm).await;
    assert_eq!(paused, None, "a device's quota never pauses the channel");
    assert_eq!(device_channel(&c, "fcm").unwrap()["sent"], 3, "{c:#}");
    assert_eq!(
        fake.attempts(&throttled),
        2,
        "tried again after Retry-After"
    );
    for t in &others {
        assert_eq!(fake.attempts(t), 1);
    }
    let rows = deliveries(&app, id).await;
    let retried = sent_at(&rows, &first);
    for d in &rest {
        assert!(
            sent_at(&rows, d) + chrono::Duration::milliseconds(500) < retried,
            "the others went out at once, the throttled device a second later"
        );
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"qshare_push_provider_errors_total{channel="fcm",reason="QUOTA_EXCEEDED device"}"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_fcm_project_quota_pauses_the_channel_for_retry_after_then_everything_goes_out() {
    let fake = FakePush::start().await;
    let app = fcm_app_one_at_a_time(&fake).await;
    let tokens = [fcm_token(), fcm_token(), fcm_token()];
    let mut devices = Vec::new();
    for t in &tokens {
        devices.push(register_anonymous(&app, json!({"provider": "fcm", "token": t})).await);
    }
    fake.script(
        &tokens[0],
        vec![Answer::fcm_quota(None).with_retry_after(1)],
    );
    let article = featured(&app, &unique_name("project quota "), json!({})).await;
    let before = Utc::now();
    let id = push_now(&app, article).await;
    let (c, paused) = settle_watching_pause(&app, id, Channel::Fcm).await;
    assert_eq!(paused.as_deref(), Some("QUOTA_EXCEEDED"), "{c:#}");
    assert_eq!(device_channel(&c, "fcm").unwrap()["sent"], 3, "{c:#}");
    assert_eq!(fake.attempts(&tokens[0]), 2);
    assert_eq!(fake.attempts(&tokens[1]), 1, "nothing sent into the quota");
    let rows = deliveries(&app, id).await;
    for d in &devices {
        assert!(
            sent_at(&rows, d) >= before + chrono::Duration::milliseconds(950),
            "every send waited out the project's Retry-After"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_resend_of_a_crashed_workers_claim_does_not_spend_the_daily_cap_again() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.channels.apns.enabled = false;
    settings.push.channels.fcm.enabled = false;
    settings.push.devices.marketing_daily_cap = 2;
    settings.push.lease_secs = 1;
    let one = spawn_app_with(settings.clone(), dir).await;
    let token = fcm_token();
    let d = register_anonymous(&one, json!({"provider": "harmony", "token": token})).await;
    let device_id = d["id"].as_i64().unwrap();
    let spent = |app: &TestApp| {
        let cache = app.cache().clone();
        async move { qshare::push::devices::daily_cap_spent(&cache, device_id, Utc::now()).await }
    };
    // The worker spends today's first push, sends, and dies before it records the send.
    fake.set_latency(Duration::from_millis(1500));
    let article = featured(&one, &unique_name("capped crash "), json!({})).await;
    let first = push_now(&one, article).await;
    let start = Instant::now();
    while spent(&one).await == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    one.kill().await;
    fake.set_latency(Duration::ZERO);
    let two = spawn_app_sharing(settings, None, Some(one.cache().clone())).await;
    let c = wait_settled(&two, first).await;
    assert_eq!(device_channel(&c, "harmony").unwrap()["sent"], 1, "{c:#}");
    assert_eq!(
        spent(&two).await,
        1,
        "the resend did not count a second push"
    );
    // So the day's second campaign still reaches the device, and only the third is held.
    let (second, c) = push_campaign(&two).await;
    assert_eq!(device_channel(&c, "harmony").unwrap()["sent"], 1, "{c:#}");
    let (_, c) = push_campaign(&two).await;
    let hm = device_channel(&c, "harmony").unwrap();
    assert_eq!(hm["skipped"], 1, "{c:#}");
    assert_eq!(spent(&two).await, 2);
    let key = qshare::push::message::harmony_collapse_key(second);
    assert!(
        fake.received()
            .iter()
            .any(|r| r.token == token && r.body["pushOptions"]["collapseKey"] == key),
        "the second campaign arrived"
    );
}

/// An APNs-only app on `fake` with `min_remint_secs` (production: 1200).
async fn apns_app(fake: &FakePush, min_remint_secs: Option<u64>) -> TestApp {
    let (mut settings, dir) = device_settings(fake).await;
    settings.push.channels.fcm.enabled = false;
    settings.push.channels.harmony.enabled = false;
    assert_eq!(
        settings.push.channels.apns.min_remint_secs, 1200,
        "the default floor"
    );
    if let Some(floor) = min_remint_secs {
        settings.push.channels.apns.min_remint_secs = floor;
    }
    spawn_app_with(settings, dir).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_apns_jwt_inside_the_twenty_minute_floor_holds_the_channel_instead_of_minting() {
    let fake = FakePush::start().await;
    let app = apns_app(&fake, None).await;
    insert_devices(&app, device::Provider::Apns, 20).await;
    let (_, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "apns").unwrap()["sent"], 20, "{c:#}");
    // Apple now calls the (minutes-old) JWT expired: a new one may not be minted yet.
    fake.expire_apns_jwts();
    let article = featured(&app, &unique_name("expired jwt "), json!({})).await;
    let id = push_now(&app, article).await;
    let start = Instant::now();
    let c = loop {
        let c = campaign(&app, id).await;
        let held = c["paused_channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["channel"] == "apns")
            .cloned();
        if let Some(p) = held
            && device_channel(&c, "apns").is_some_and(|a| a["pending"] == 20)
        {
            assert_eq!(p["reason"], "ExpiredProviderToken", "{c:#}");
            break c;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{c:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(device_channel(&c, "apns").unwrap()["failed"], 0, "{c:#}");
    assert_eq!(fake.apns_jwts(), 1, "no second JWT inside the floor");
    assert_eq!(app.state.push_providers.apns.as_ref().unwrap().mints(), 1);
    let until = qshare::push::gate::paused_until(app.cache(), Channel::Apns)
        .await
        .unwrap();
    assert!(
        until > Utc::now() + chrono::Duration::minutes(19),
        "held until the floor has passed: {until}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_floor_an_expired_apns_jwt_is_replaced_once_for_the_whole_burst() {
    let fake = FakePush::start().await;
    // The floor shortened for this test only (production keeps 20 minutes).
    let app = apns_app(&fake, Some(1)).await;
    let tokens = insert_devices(&app, device::Provider::Apns, 200).await;
    push_campaign(&app).await;
    assert_eq!(fake.apns_jwts(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.expire_apns_jwts();
    let (_, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "apns").unwrap()["sent"], 200, "{c:#}");
    assert_eq!(fake.apns_jwts(), 2, "one new JWT for 200 refused sends");
    assert_eq!(app.state.push_providers.apns.as_ref().unwrap().mints(), 2);
    assert!(tokens.iter().all(|t| fake.delivered(t) == 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_answers_too_slowly_is_retried_with_backoff_not_failed() {
    let fake = FakePush::start().await;
    let (mut settings, dir) = device_settings(&fake).await;
    settings.push.devices.request_timeout_ms = 1000;
    let app = spawn_app_with(settings, dir).await;
    let apple = apns_token(30);
    let android = fcm_token();
    let harmony = fcm_token();
    register_anonymous(&app, json!({"provider": "apns", "token": apple})).await;
    register_anonymous(&app, json!({"provider": "fcm", "token": android})).await;
    register_anonymous(&app, json!({"provider": "harmony", "token": harmony})).await;
    let slow = Duration::from_secs(3);
    fake.script(
        &apple,
        vec![Answer::apns(500, "InternalServerError").delayed(slow)],
    );
    fake.script(
        &android,
        vec![Answer::fcm(503, "UNAVAILABLE", "UNAVAILABLE", "slow").delayed(slow)],
    );
    fake.script(&harmony, vec![Answer::harmony(503, "").delayed(slow)]);
    let (id, c) = push_campaign(&app).await;
    for name in ["apns", "fcm", "harmony"] {
        let ch = device_channel(&c, name).unwrap();
        assert_eq!(ch["sent"], 1, "{name}: {c:#}");
        assert_eq!(ch["failed"], 0, "{name}: {c:#}");
    }
    for t in [&apple, &android, &harmony] {
        assert_eq!(fake.attempts(t), 2, "timed out once, then sent");
    }
    let rows = deliveries(&app, id).await;
    assert!(
        rows.iter()
            .filter(|d| d.channel != Channel::Inbox)
            .all(|d| d.status == DeliveryStatus::Sent && d.attempts >= 2),
        "sent on a later attempt: {rows:?}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in ["apns", "fcm", "harmony"] {
        assert!(
            metrics.contains(&format!(
                r#"qshare_push_provider_errors_total{{channel="{name}",reason="timeout"}}"#
            )),
            "{name}: {metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_whose_owner_set_no_preferences_gets_the_campaign_as_the_owners() {
    let (app, fake) = app_with_fake().await;
    let user = app.user_token("no_prefs_user").await;
    let owned = fcm_token();
    let mine = register_mine(&app, &user, json!({"provider": "fcm", "token": owned})).await;
    let anon = fcm_token();
    let theirs = register_anonymous(&app, json!({"provider": "fcm", "token": anon})).await;
    let (id, c) = push_campaign(&app).await;
    assert_eq!(device_channel(&c, "fcm").unwrap()["sent"], 2, "{c:#}");
    assert_eq!(fake.delivered(&owned), 1);
    assert_eq!(fake.delivered(&anon), 1);
    let rows = deliveries(&app, id).await;
    let row = |d: &Value| {
        let recipient = d["id"].as_i64().unwrap().to_string();
        rows.iter()
            .find(|r| r.channel == Channel::Fcm && r.recipient == recipient)
            .unwrap_or_else(|| panic!("no delivery for {d}: {rows:?}"))
            .clone()
    };
    assert!(row(&mine).user_id.is_some(), "the owner is frozen with it");
    assert_eq!(row(&theirs).user_id, None);
}
