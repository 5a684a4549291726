//! Rate limits under concurrency and through a cache outage (issue 13): every limit counts
//! first and atomically, so a burst of parallel requests gets no more than the limit; while
//! Redis is down the limits hold per instance instead of failing open.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    fault_proxy::{FaultProxy, host_port, through},
    helpers::{TestApp, expect_json, real_services, spawn_app_with, test_settings},
};

/// Sends `total` requests built by `body(i)` to `path`, `wave` at a time; the statuses.
async fn burst(
    app: &TestApp,
    path: &str,
    total: usize,
    wave: usize,
    body: impl Fn(usize) -> Value,
) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(total);
    for start in (0..total).step_by(wave) {
        let sends = (start..(start + wave).min(total))
            .map(|i| app.request(Method::POST, path, None, Some(body(i))));
        statuses.extend(join_all(sends).await.into_iter().map(|r| r.status()));
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_failed_logins_for_one_username_check_at_most_the_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.login_failures_per_username = 5;
    let app = spawn_app_with(settings, dir).await;
    app.register("target_user", "the-real-password").await;

    let statuses = burst(
        &app,
        "/api/auth/login",
        200,
        100,
        |_| json!({ "username": "target_user", "password": "a-wrong-guess" }),
    )
    .await;
    // Every answer that is not a 429 checked a password: exactly the limit did.
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 195);
    // The owner is locked out for the window too (the limit is per username).
    let resp = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": "target_user", "password": "the-real-password" })),
        )
        .await;
    expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_failed_logins_from_one_ip_check_at_most_the_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.login_failures_per_ip = 7;
    settings.rate_limit.login_failures_per_username = 1000;
    let app = spawn_app_with(settings, dir).await;

    let statuses = burst(
        &app,
        "/api/auth/login",
        200,
        100,
        |i| json!({ "username": format!("someone_{i}"), "password": "a-wrong-guess" }),
    )
    .await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        7,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 193);
}

#[tokio::test]
async fn a_successful_login_gives_its_slot_back() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.login_failures_per_username = 2;
    let app = spawn_app_with(settings, dir).await;
    app.register("steady_user", "steady-password").await;
    // Far more successful logins than the limit: none of them counts.
    for _ in 0..5 {
        app.login("steady_user", "steady-password").await;
    }
    let wrong = json!({ "username": "steady_user", "password": "wrong-password" });
    for _ in 0..2 {
        let resp = app
            .request(Method::POST, "/api/auth/login", None, Some(wrong.clone()))
            .await;
        expect_json(resp, StatusCode::UNAUTHORIZED).await;
    }
    let resp = app
        .request(Method::POST, "/api/auth/login", None, Some(wrong))
        .await;
    expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_registrations_from_one_ip_create_at_most_the_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.registrations_per_ip = 3;
    let app = spawn_app_with(settings, dir).await;

    let statuses = burst(
        &app,
        "/api/auth/register",
        60,
        60,
        |i| json!({ "username": format!("newcomer_{i}"), "password": "newcomer-password" }),
    )
    .await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 57);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guestbook_posts_by_one_user_publish_at_most_the_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.comments_per_user = 4;
    let app = spawn_app_with(settings, dir).await;
    let token = app.user_token("busy_writer").await;

    let sends = (0..50).map(|i| {
        app.request(
            Method::POST,
            "/api/guestbook",
            Some(&token),
            Some(json!({ "content": format!("message number {i}") })),
        )
    });
    let statuses: Vec<StatusCode> = join_all(sends).await.iter().map(|r| r.status()).collect();
    assert_eq!(count(&statuses, StatusCode::CREATED), 4, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 46);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_comments_by_one_user_publish_at_most_the_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.comments_per_user = 4;
    let app = spawn_app_with(settings, dir).await;
    let article = app.published_article("Much discussed", json!({})).await;
    let token = app.user_token("quick_commenter").await;
    let path = format!("/api/articles/{article}/comments");

    let sends = (0..50).map(|i| {
        app.request(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({ "content": format!("comment number {i}") })),
        )
    });
    let statuses: Vec<StatusCode> = join_all(sends).await.iter().map(|r| r.status()).collect();
    assert_eq!(count(&statuses, StatusCode::CREATED), 4, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 46);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_searches_from_one_ip_get_at_most_the_read_budget() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.searches_per_ip = 6;
    let app = spawn_app_with(settings, dir).await;

    let app = &app;
    let sends = (0..80).map(|i| async move { app.get(&format!("/api/articles?q=term{i}")).await });
    let statuses: Vec<StatusCode> = join_all(sends).await.iter().map(|r| r.status()).collect();
    assert_eq!(count(&statuses, StatusCode::OK), 6, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 74);
}

async fn failed_login(app: &TestApp, username: &str) -> StatusCode {
    app.request(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({ "username": username, "password": "wrong-password" })),
    )
    .await
    .status()
}

#[tokio::test]
async fn limits_hold_per_instance_while_redis_is_down_with_one_warning_per_outage() {
    let (mut settings, dir) = test_settings().await;
    // Port 1 on loopback is closed: a Redis that is down from the start.
    settings.cache.redis_url = Some("redis://127.0.0.1:1".into());
    settings.rate_limit.login_failures_per_username = 3;
    let app = spawn_app_with(settings, dir).await;

    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(failed_login(&app, "victim_user").await);
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3], "{statuses:?}");
    assert_eq!(
        statuses[3..],
        [StatusCode::TOO_MANY_REQUESTS; 5],
        "{statuses:?}"
    );
    // One outage, one warning, however many counts it bridged.
    assert_eq!(app.cache().counter_outages(), 1);
}

#[tokio::test]
async fn each_redis_outage_is_bridged_and_noted_once_and_counts_go_shared_again_after() {
    let Some(services) = real_services(
        "each_redis_outage_is_bridged_and_noted_once_and_counts_go_shared_again_after",
    ) else {
        return;
    };
    let proxy = FaultProxy::start(&host_port(&services.redis_url, 6379)).await;
    let (mut settings, dir) = test_settings().await;
    settings.cache.redis_url = Some(through(&services.redis_url, proxy.addr()));
    settings.rate_limit.login_failures_per_username = 1000;
    let prefix = settings.cache.key_prefix.clone();
    let app = spawn_app_with(settings, dir).await;
    let mut redis = redis::Client::open(services.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let shared = format!("{prefix}rl:login:user:outage_user");
    let shared_count = |redis: &mut redis::aio::MultiplexedConnection| {
        let key = shared.clone();
        let mut redis = redis.clone();
        async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<i64>>(&mut redis)
                .await
                .unwrap()
                .unwrap_or(0)
        }
    };

    failed_login(&app, "outage_user").await;
    assert_eq!(shared_count(&mut redis).await, 1);
    assert_eq!(app.cache().counter_outages(), 0);

    for outage in 1..=2 {
        proxy.cut();
        for _ in 0..4 {
            assert_eq!(
                failed_login(&app, "outage_user").await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(app.cache().counter_outages(), outage);
        proxy.restore();
        // The backend reconnects within about a second; then counts are shared again.
        let before = shared_count(&mut redis).await;
        let mut back = false;
        for _ in 0..40 {
            failed_login(&app, "outage_user").await;
            if shared_count(&mut redis).await > before {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            back,
            "counts never reached Redis again after outage {outage}"
        );
        assert_eq!(app.cache().counter_outages(), outage);
    }
}

#[tokio::test]
async fn a_login_with_a_name_that_cannot_exist_keys_nothing_on_it_and_gets_a_401_or_if_overlong_a_400()
 {
    let (settings, dir) = test_settings().await;
    let app = spawn_app_with(settings, dir).await;
    // Longer than any username can be: refused at the edge, before the limits see it.
    let huge = "n".repeat(100_000);
    let resp = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": huge, "password": "whatever-password" })),
        )
        .await;
    let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["details"]["field"], "username", "{body}");
    let key = format!("rl:login:user:{huge}");
    assert_eq!(app.cache().counter(&key).await.unwrap(), None);
    for name in ["has space", "ab"] {
        let resp = app
            .request(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": name, "password": "whatever-password" })),
            )
            .await;
        let body = expect_json(resp, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body["code"], "unauthorized");
        assert_eq!(body["message"], "invalid username or password");
        // No per-username counter was built from the raw name.
        let key = format!("rl:login:user:{}", name.to_lowercase());
        assert_eq!(app.cache().counter(&key).await.unwrap(), None, "{name:.20}");
    }
}
