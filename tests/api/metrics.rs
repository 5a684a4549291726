//! `GET /metrics`: every family is exposed and moves with real traffic. The event series are
//! process-global and other tests run alongside in this process, so assertions are on
//! increases over a scrape taken before, never on absolute values.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::wechat_fake::{FakeWechat, MP_APP_ID, MP_SECRET};

use crate::helpers::{TestApp, expect_json, spawn_app, spawn_app_with, test_settings};

/// One sample of the text exposition: `name{label="value",...} number`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
struct Scrape {
    samples: Vec<Sample>,
    types: BTreeMap<String, String>,
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    labels
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("a number"),
            });
        }
        Self { samples, types }
    }

    /// The sum of the samples of `name` carrying all of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn kind(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&resp.text().await.unwrap())
}

/// How much a series grew between two scrapes.
fn growth(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

async fn app_with_miniprogram() -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start().await;
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.miniprogram.app_id = MP_APP_ID.into();
    settings.wechat.miniprogram.app_secret = MP_SECRET.into();
    (spawn_app_with(settings, dir).await, fake)
}

async fn wechat_login(app: &TestApp, code: &str, status: StatusCode) {
    let resp = app
        .request(
            Method::POST,
            "/api/auth/wechat/miniprogram",
            None,
            Some(json!({ "code": code })),
        )
        .await;
    expect_json(resp, status).await;
}

async fn run_a_job_now(app: &TestApp) {
    let job = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs",
            Some(json!({ "name": "metrics", "kind": "publish_scheduled", "cron": "0 0 0 1 1 *", "enabled": false })),
            StatusCode::CREATED,
        )
        .await;
    let run = crate::jobs::run_now(app, &job).await;
    assert_eq!(run["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_exposed_and_moves_with_real_traffic() {
    let (app, fake) = app_with_miniprogram().await;
    let article = app.published_article("Measured", json!({})).await;
    fake.add_login_code("good-code", "openid-metrics", None);
    let before = scrape(&app).await;

    // Reads: the first of each builds the cached bytes, the second is a fast-lane hit.
    for _ in 0..2 {
        app.get_json("/api/articles/hot", StatusCode::OK).await;
        app.get_json(&format!("/api/articles/{article}"), StatusCode::OK)
            .await;
    }
    app.get_json("/no/such/route", StatusCode::NOT_FOUND).await;
    wechat_login(&app, "good-code", StatusCode::OK).await;
    wechat_login(&app, "unknown-code", StatusCode::BAD_REQUEST).await;
    run_a_job_now(&app).await;
    // A push: the inbox channel delivers to the admin (and the mini-program user).
    let campaign = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/push/articles/{article}"),
            None,
            StatusCode::CREATED,
        )
        .await["id"]
        .clone();
    let start = std::time::Instant::now();
    loop {
        let c = app
            .admin_json(
                Method::GET,
                &format!("/api/admin/push/campaigns/{campaign}"),
                None,
                StatusCode::OK,
            )
            .await;
        if c["status"] == "done" {
            break;
        }
        assert!(start.elapsed().as_secs() < 30, "push never finished: {c}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let after = scrape(&app).await;
    let http = "qshare_http_requests_total";
    assert_eq!(after.kind(http), Some("counter"));
    let hot = [
        ("method", "GET"),
        ("route", "/api/articles/hot"),
        ("status", "200"),
    ];
    assert!(growth(&before, &after, http, &hot) >= 2.0);
    let one_article = [
        ("method", "GET"),
        ("route", "/api/articles/{id}"),
        ("status", "200"),
    ];
    assert!(growth(&before, &after, http, &one_article) >= 2.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(growth(&before, &after, http, &unmatched) >= 1.0);
    let latency = "qshare_http_request_duration_seconds";
    assert_eq!(after.kind(latency), Some("histogram"));
    assert!(
        growth(
            &before,
            &after,
            &format!("{latency}_count"),
            &[("route", "/api/articles/hot")]
        ) >= 2.0
    );

    let hits = growth(&before, &after, "qshare_read_cache_hits_total", &[]);
    let misses = growth(&before, &after, "qshare_read_cache_misses_total", &[]);
    assert!(hits >= 2.0 && misses >= 2.0, "hits {hits}, misses {misses}");
    let backend = app.cache().backend_name();
    assert_eq!(after.kind("qshare_cache_errors_total"), Some("counter"));
    assert_eq!(
        after.value("qshare_cache_errors_total", &[("backend", backend)]),
        0.0,
        "no cache command failed"
    );

    let job = [("kind", "publish_scheduled"), ("status", "ok")];
    assert!(growth(&before, &after, "qshare_job_runs_total", &job) >= 1.0);
    assert!(
        growth(
            &before,
            &after,
            "qshare_job_run_duration_seconds_count",
            &[("kind", "publish_scheduled")]
        ) >= 1.0
    );

    let session = "/sns/jscode2session";
    let calls = "qshare_wechat_api_calls_total";
    assert!(
        growth(
            &before,
            &after,
            calls,
            &[("endpoint", session), ("errcode", "0")]
        ) >= 1.0
    );
    assert!(
        growth(
            &before,
            &after,
            calls,
            &[("endpoint", session), ("errcode", "40029")]
        ) >= 1.0
    );
    assert_eq!(
        after.kind("qshare_wechat_api_duration_seconds"),
        Some("histogram")
    );

    let idle = after.value("qshare_db_pool_connections", &[("state", "idle")]);
    let in_use = after.value("qshare_db_pool_connections", &[("state", "in_use")]);
    assert!(idle + in_use >= 1.0, "idle {idle}, in use {in_use}");
    assert_eq!(
        after.value("qshare_db_pool_max_connections", &[]),
        f64::from(app.state.settings.database.max_connections)
    );

    let push = [("channel", "inbox"), ("outcome", "sent")];
    assert!(growth(&before, &after, "qshare_push_deliveries_total", &push) >= 1.0);
}

#[tokio::test]
async fn routes_are_labelled_by_template_and_fast_lane_hits_like_typed_answers() {
    let app = spawn_app().await;
    let article = app.published_article("Labelled", json!({})).await;
    let hits_before = app.state.read_cache.stats().hits;
    for path in [
        format!("/api/articles/{article}"),
        format!("/api/articles/{article}"),
        format!("/api/articles/{article}/related"),
        "/api/articles/featured".to_string(),
        "/api/articles/featured".to_string(),
    ] {
        app.get_json(&path, StatusCode::OK).await;
    }
    assert!(
        app.state.read_cache.stats().hits > hits_before,
        "the fast lane answered some of them"
    );
    let after = scrape(&app).await;
    for sample in after
        .samples
        .iter()
        .filter(|s| s.name == "qshare_http_requests_total")
    {
        let route = &sample.labels["route"];
        assert!(
            !route.contains(":param") && !route.bytes().any(|b| b.is_ascii_digit()),
            "a route label is a template, not a path: {route}"
        );
        // Nothing is answered 200 without a route: a fast-lane hit counted without its
        // route would show here.
        assert!(
            !(route == "unmatched" && sample.labels["status"] == "200"),
            "{sample:?}"
        );
    }
    assert!(
        after.value(
            "qshare_http_requests_total",
            &[("route", "/api/articles/{id}/related"), ("status", "200")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn the_metrics_route_answers_outside_the_openapi_document() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    assert!(spec["paths"].get("/metrics").is_none());
    let first = scrape(&app).await;
    let second = scrape(&app).await;
    let metrics_route = [("route", "/metrics"), ("status", "200")];
    assert!(
        growth(
            &first,
            &second,
            "qshare_http_requests_total",
            &metrics_route
        ) >= 1.0
    );
}
