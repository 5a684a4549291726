//! Resilience against real PostgreSQL and Redis (DESIGN.md §5, §10): dependencies made
//! unreachable mid-run through `FaultProxy`, and two instances on one database and Redis.
//! These tests need TEST_DATABASE_URL and TEST_REDIS_URL; without them they fail in CI and
//! are skipped elsewhere (`helpers::real_services`).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    fault_proxy::{FaultProxy, host_port, through},
    helpers::{
        TestApp, expect_json, real_services, spawn_app_sharing, spawn_app_with, test_settings,
    },
};

/// Generous bound on a request while a dependency is down: an answer, not a hang.
const PROMPT: Duration = Duration::from_secs(3);

/// GET `path` expecting `status` within `within`; returns the JSON body.
async fn get_within(app: &TestApp, path: &str, status: StatusCode, within: Duration) -> Value {
    let started = Instant::now();
    let body = expect_json(app.get(path).await, status).await;
    let took = started.elapsed();
    assert!(took < within, "{path} took {took:?}");
    body
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `check` every 50 ms until it holds or `limit` passes; true when it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let resp = app.get("/readyz").await;
    let status = resp.status();
    (status, resp.json().await.expect("readyz answers JSON"))
}

/// A direct connection to the real Redis (not through the proxy), to see what the app
/// stored there.
async fn redis_direct(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis reachable")
}

async fn read_cache_version(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) -> i64 {
    redis::cmd("GET")
        .arg(format!("{prefix}rc:version"))
        .query_async::<Option<i64>>(redis)
        .await
        .unwrap()
        .unwrap_or(0)
}

async fn stored_reads(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) -> usize {
    redis::cmd("KEYS")
        .arg(format!("{prefix}rc:*:*"))
        .query_async::<Vec<String>>(redis)
        .await
        .unwrap()
        .len()
}

fn public_reads(article: i64) -> [String; 4] {
    [
        "/api/articles".into(),
        "/api/articles/featured".into(),
        "/api/articles/hot".into(),
        format!("/api/articles/{article}"),
    ]
}

#[tokio::test]
async fn with_redis_unreachable_reads_and_writes_go_on_and_the_cache_comes_back() {
    let Some(services) =
        real_services("with_redis_unreachable_reads_and_writes_go_on_and_the_cache_comes_back")
    else {
        return;
    };
    let proxy = FaultProxy::start(&host_port(&services.redis_url, 6379)).await;
    let (mut settings, dir) = test_settings().await;
    let prefix = settings.cache.key_prefix.clone();
    settings.cache.redis_url = Some(through(&services.redis_url, proxy.addr()));
    let app = spawn_app_with(settings, dir).await;
    let mut redis = redis_direct(&services.redis_url).await;

    let first = app.published_article("Before the outage", json!({})).await;
    app.feature(first).await;
    let reader = app.user_token("outage_reader").await;
    for path in public_reads(first) {
        get_within(&app, &path, StatusCode::OK, PROMPT).await;
    }
    let version_before = read_cache_version(&mut redis, &prefix).await;
    assert!(version_before > 0, "the read cache uses Redis");
    assert!(stored_reads(&mut redis, &prefix).await > 0);

    proxy.cut();
    for path in public_reads(first) {
        get_within(&app, &path, StatusCode::OK, PROMPT).await;
    }
    // Writes go on: an admin publishes, a user comments (rate limits fail open).
    let during = app.published_article("During the outage", json!({})).await;
    app.as_user(
        &reader,
        Method::POST,
        &format!("/api/articles/{first}/comments"),
        Some(json!({ "content": "still here" })),
        StatusCode::CREATED,
    )
    .await;
    // This instance sees its own writes at once, from SQL.
    let feed = get_within(&app, "/api/articles", StatusCode::OK, PROMPT).await;
    assert_eq!(titles(&feed)[0], "During the outage");
    for path in public_reads(during) {
        get_within(&app, &path, StatusCode::OK, PROMPT).await;
    }
    let page = get_within(
        &app,
        &format!("/api/articles/{first}"),
        StatusCode::OK,
        PROMPT,
    )
    .await;
    assert_eq!(page["comment_count"], 1, "{page}");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["cache"]["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        read_cache_version(&mut redis, &prefix).await,
        version_before
    );

    proxy.restore();
    let recovered = eventually(Duration::from_secs(10), || async {
        let (status, body) = readyz(&app).await;
        status == StatusCode::OK && body["status"] == "ok"
    })
    .await;
    assert!(recovered, "readyz still reports the cache down");

    // The cache is used again: writes move the shared version, reads are stored in Redis,
    // and nothing served is older than the last write.
    let after = app.published_article("After the outage", json!({})).await;
    let feed = get_within(&app, "/api/articles", StatusCode::OK, PROMPT).await;
    assert_eq!(
        titles(&feed)[..3],
        ["After the outage", "During the outage", "Before the outage"]
    );
    assert!(read_cache_version(&mut redis, &prefix).await > version_before);
    let version_now = read_cache_version(&mut redis, &prefix).await;
    get_within(
        &app,
        &format!("/api/articles/{after}"),
        StatusCode::OK,
        PROMPT,
    )
    .await;
    let stored: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}rc:{version_now}:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!stored.is_empty(), "reads are stored in Redis again");
}

#[tokio::test]
async fn a_write_made_while_one_instance_lost_redis_reaches_the_others_when_it_is_back() {
    let Some(services) = real_services(
        "a_write_made_while_one_instance_lost_redis_reaches_the_others_when_it_is_back",
    ) else {
        return;
    };
    let proxy = FaultProxy::start(&host_port(&services.redis_url, 6379)).await;
    let (settings, dir) = test_settings().await;
    // `cut_off` reaches Redis through the proxy; `steady` directly; same database and prefix.
    let mut proxied = settings.clone();
    proxied.cache.redis_url = Some(through(&services.redis_url, proxy.addr()));
    let steady = spawn_app_with(settings, dir).await;
    let cut_off = spawn_app_sharing(proxied, None, None).await;

    let first = steady.published_article("Everyone knows", json!({})).await;
    for app in [&steady, &cut_off] {
        for path in public_reads(first) {
            get_within(app, &path, StatusCode::OK, PROMPT).await;
        }
    }

    proxy.cut();
    // The steady instance writes and serves (caching in Redis) before the cut-off one
    // writes: their version numbers now name different content.
    steady
        .published_article("From the steady one", json!({}))
        .await;
    let feed = get_within(&steady, "/api/articles", StatusCode::OK, PROMPT).await;
    assert_eq!(titles(&feed)[0], "From the steady one");
    cut_off
        .published_article("Written while cut off", json!({}))
        .await;
    let feed = get_within(&cut_off, "/api/articles", StatusCode::OK, PROMPT).await;
    assert_eq!(titles(&feed)[0], "Written while cut off");

    proxy.restore();
    for app in [&steady, &cut_off] {
        let seen = eventually(Duration::from_secs(10), || async {
            let feed = get_within(app, "/api/articles", StatusCode::OK, PROMPT).await;
            titles(&feed)[..2] == ["Written while cut off", "From the steady one"]
        })
        .await;
        assert!(seen, "{} serves a feed without the write", app.address);
    }
}

#[tokio::test]
async fn when_postgresql_drops_requests_get_a_prompt_503_and_recover_after() {
    let Some(services) =
        real_services("when_postgresql_drops_requests_get_a_prompt_503_and_recover_after")
    else {
        return;
    };
    let proxy = FaultProxy::start(&host_port(&services.database_url, 5432)).await;
    // A fresh database on that server (test_settings makes one), reached through the proxy.
    let (mut settings, dir) = test_settings().await;
    assert!(settings.database.url.starts_with("postgres"));
    settings.database.url = through(&settings.database.url, proxy.addr());
    let app = spawn_app_with(settings.clone(), dir).await;
    let reader = app.user_token("pg_outage_reader").await;
    let article = app.published_article("Read before", json!({})).await;
    let unread = app.published_article("Never read", json!({})).await;
    get_within(&app, "/api/articles", StatusCode::OK, PROMPT).await;

    proxy.cut();
    // The request timeout is the outer bound; a dead database must answer well before it.
    let bound = Duration::from_secs(settings.server.request_timeout_secs) / 2;
    let started = Instant::now();
    let body = app
        .as_user(
            &reader,
            Method::GET,
            "/api/me",
            None,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
    assert_eq!(body["code"], "service_unavailable");
    let body = expect_json(
        app.admin(
            Method::POST,
            "/api/admin/articles",
            Some(json!({
                "title": "Lost", "content": "x", "author": "a",
                "source_url": "https://example.com/x", "source_name": "x"
            })),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(body["code"], "service_unavailable");
    let body = get_within(
        &app,
        &format!("/api/articles/{unread}"),
        StatusCode::SERVICE_UNAVAILABLE,
        bound,
    )
    .await;
    assert_eq!(body["code"], "service_unavailable");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["code"], "service_unavailable");

    proxy.restore();
    let recovered = eventually(Duration::from_secs(15), || async {
        readyz(&app).await.0 == StatusCode::OK
    })
    .await;
    assert!(recovered, "readyz still reports the database down");
    let me = app
        .as_user(&reader, Method::GET, "/api/me", None, StatusCode::OK)
        .await;
    assert_eq!(me["username"], "pg_outage_reader");
    let created = app.create_article("Written after", json!({})).await;
    assert!(created > unread);
    get_within(
        &app,
        &format!("/api/articles/{article}"),
        StatusCode::OK,
        PROMPT,
    )
    .await;
    get_within(
        &app,
        &format!("/api/articles/{unread}"),
        StatusCode::OK,
        PROMPT,
    )
    .await;
}

#[tokio::test]
async fn a_write_on_one_instance_is_read_on_the_other_within_a_second() {
    let Some(_services) =
        real_services("a_write_on_one_instance_is_read_on_the_other_within_a_second")
    else {
        return;
    };
    let (settings, dir) = test_settings().await;
    let writer = spawn_app_with(settings.clone(), dir).await;
    let reader = spawn_app_sharing(settings, None, None).await;
    let article = writer.published_article("Original title", json!({})).await;
    let reads = public_reads(article);
    // The reader caches every public read first.
    for path in &reads {
        get_within(&reader, path, StatusCode::OK, PROMPT).await;
        get_within(&reader, path, StatusCode::OK, PROMPT).await;
    }

    writer
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{article}"),
            Some(json!({ "title": "Edited title" })),
            StatusCode::OK,
        )
        .await;
    writer.feature(article).await;
    let newer = writer.published_article("Newer article", json!({})).await;

    let started = Instant::now();
    let fresh = eventually(Duration::from_secs(1), || async {
        let feed = get_within(&reader, "/api/articles", StatusCode::OK, PROMPT).await;
        let featured = get_within(&reader, "/api/articles/featured", StatusCode::OK, PROMPT).await;
        let page = get_within(&reader, &reads[3], StatusCode::OK, PROMPT).await;
        titles(&feed)[..2] == ["Newer article", "Edited title"]
            && titles(&featured).first().map(String::as_str) == Some("Edited title")
            && page["title"] == "Edited title"
    })
    .await;
    assert!(
        fresh,
        "the reader still serves stale data after {:?}",
        started.elapsed()
    );
    get_within(
        &reader,
        &format!("/api/articles/{newer}"),
        StatusCode::OK,
        PROMPT,
    )
    .await;
}

#[test]
fn services_are_demanded_when_required_or_in_ci_unless_ci_says_none() {
    use crate::helpers::services_required;
    assert!(services_required(Some("required"), None));
    assert!(services_required(Some("required"), Some("true")));
    assert!(services_required(None, Some("true")));
    assert!(services_required(Some(""), Some("1")));
    assert!(!services_required(Some("none"), Some("true")));
    assert!(!services_required(None, None));
    assert!(!services_required(None, Some("")));
}

#[tokio::test]
async fn a_query_cut_off_mid_flight_is_reported_as_unavailable_not_internal() {
    use qshare::error::AppError;
    use sea_orm::ConnectionTrait;

    let Some(services) =
        real_services("a_query_cut_off_mid_flight_is_reported_as_unavailable_not_internal")
    else {
        return;
    };
    let proxy = FaultProxy::start(&host_port(&services.database_url, 5432)).await;
    let (mut settings, dir) = test_settings().await;
    settings.database.url = through(&settings.database.url, proxy.addr());
    let app = spawn_app_with(settings, dir).await;

    let db = app.state.db.clone();
    let slow = tokio::spawn(async move { db.execute_unprepared("SELECT pg_sleep(5)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    let err = slow.await.unwrap().expect_err("the connection was cut");
    let mapped = AppError::from(err.clone());
    assert!(
        matches!(mapped, AppError::Unavailable(_)),
        "{err:?} became {mapped:?}"
    );
}
