//! Request hardening: CORS for listed web origins, security headers on every answer,
//! per-IP budgets on the public reads that miss the cache, strict JSON bodies, and the body
//! limit on the plain routes.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{
    TestApp, expect_json, spawn_app, spawn_app_sharing, spawn_app_with, test_settings,
};

const WEB: &str = "https://web.qshare.example";

async fn app_with_cors() -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.server.cors.allowed_origins = vec![WEB.into()];
    spawn_app_with(settings, dir).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn get_from(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(header::ORIGIN, origin)
        .send()
        .await
        .unwrap()
}

fn header_value(resp: &reqwest::Response, name: header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_listed_origin_passes_the_preflight_and_reads_answers() {
    let app = app_with_cors().await;
    let resp = preflight(&app, "/api/auth/login", WEB).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(WEB)
    );
    let methods = header_value(&resp, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = header_value(&resp, header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(header_value(&resp, header::ACCESS_CONTROL_MAX_AGE).is_some());

    // Twice: the second finds the feed cached, and is still answered with CORS headers.
    get_from(&app, "/api/articles", WEB).await;
    let resp = get_from(&app, "/api/articles", WEB).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(WEB)
    );
    let exposed = header_value(&resp, header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert!(
        header_value(&resp, header::VARY)
            .unwrap()
            .contains("Origin")
    );
    expect_json(resp, StatusCode::OK).await;

    // Errors keep their JSON shape and are readable by the page too.
    let resp = get_from(&app, "/api/articles/not-a-number", WEB).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(WEB)
    );
    expect_json(resp, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers_but_is_not_refused() {
    let app = app_with_cors().await;
    let stranger = "https://evil.example";
    let resp = preflight(&app, "/api/auth/login", stranger).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
    assert!(!resp.status().is_success(), "{}", resp.status());

    // Served as without CORS (the browser keeps it from the page): same-origin pages such
    // as /docs send an Origin on their POSTs too.
    let resp = get_from(&app, "/api/articles", stranger).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
    expect_json(resp, StatusCode::OK).await;
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;
    assert!(app.state.settings.server.cors.allowed_origins.is_empty());
    let resp = preflight(&app, "/api/articles", WEB).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
    // Twice: the second finds the feed cached, and is still answered with CORS headers.
    get_from(&app, "/api/articles", WEB).await;
    let resp = get_from(&app, "/api/articles", WEB).await;
    assert_eq!(
        header_value(&resp, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
}

fn assert_security_headers(resp: &reqwest::Response, path: &str) {
    let expect = |name: header::HeaderName, value: &str| {
        assert_eq!(
            header_value(resp, name.clone()).as_deref(),
            Some(value),
            "{name} on {path}"
        );
    };
    expect(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    expect(header::X_FRAME_OPTIONS, "DENY");
    expect(header::REFERRER_POLICY, "no-referrer");
    let policy = header_value(resp, header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("no Content-Security-Policy on {path}"));
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{path}: {policy}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    app.published_article("Headers", json!({})).await;
    // The second /api/articles/hot is a fast-lane hit, answered before any router.
    for path in [
        "/api/articles/hot",
        "/api/articles/hot",
        "/api/articles/abc",
        "/no/such/route",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/wechat/callback",
    ] {
        let resp = app.get(path).await;
        assert_security_headers(&resp, path);
        let policy = header_value(&resp, header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
    }
}

#[tokio::test]
async fn the_swagger_ui_gets_a_policy_that_lets_it_run() {
    let app = spawn_app().await;
    let resp = app.get("/docs").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_security_headers(&resp, "/docs");
    let policy = header_value(&resp, header::CONTENT_SECURITY_POLICY).unwrap();
    // Its script and style are inline, and it calls the API on this origin.
    for directive in [
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    let page = resp.text().await.unwrap();
    assert!(page.contains("<script") && page.contains("SwaggerUIBundle"));
    assert!(
        !page.contains("<script src="),
        "a script from elsewhere would need script-src to allow it"
    );
}

async fn limited_app(searches: u32, uncached: u32) -> (TestApp, qshare::Settings) {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.searches_per_ip = searches;
    settings.rate_limit.uncached_reads_per_ip = uncached;
    let app = spawn_app_with(settings.clone(), dir).await;
    (app, settings)
}

async fn expect_rate_limited(resp: reqwest::Response) {
    let retry_after: u64 = header_value(&resp, header::RETRY_AFTER)
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], "rate_limited");
}

#[tokio::test]
async fn searches_beyond_the_per_ip_budget_are_429_with_retry_after() {
    let (app, _) = limited_app(2, 1000).await;
    for q in ["rust", "tokio"] {
        app.get_json(&format!("/api/articles?q={q}"), StatusCode::OK)
            .await;
    }
    expect_rate_limited(app.get("/api/articles?q=again").await).await;
    // Cached reads are not limited, and other uncached reads have their own budget.
    app.get_json("/api/articles", StatusCode::OK).await;
    app.get_json("/api/articles/hot", StatusCode::OK).await;
    app.get_json("/api/articles?tag=rust", StatusCode::OK).await;
}

#[tokio::test]
async fn uncached_reads_share_one_budget_that_holds_across_instances() {
    let (app, settings) = limited_app(1000, 3).await;
    let id = app.published_article("Budget", json!({})).await;
    app.get_json(&format!("/api/articles/{id}/related"), StatusCode::OK)
        .await;
    app.get_json(&format!("/api/articles/{id}/comments"), StatusCode::OK)
        .await;
    app.get_json("/api/guestbook", StatusCode::OK).await;
    expect_rate_limited(app.get("/api/articles?category=none").await).await;

    // A second instance on the same cache sees the same counter.
    let shared = (app.cache().backend_name() == "memory").then(|| app.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    expect_rate_limited(second.get(&format!("/api/articles/{id}/related")).await).await;
    // The cached article page stays open.
    second
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
}

#[tokio::test]
async fn request_bodies_with_unknown_or_mistyped_fields_are_400s() {
    let app = spawn_app().await;
    let unknown =
        json!({ "username": "strict_user", "password": "a-good-password", "role": "admin" });
    let resp = app
        .request(Method::POST, "/api/auth/register", None, Some(unknown))
        .await;
    let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["code"], "invalid_body");
    assert!(body["message"].as_str().unwrap().contains("role"), "{body}");

    let token = app.user_token("strict_user").await;
    let id = app.published_article("Strict", json!({})).await;
    let path = format!("/api/articles/{id}/comments");
    for bad in [
        json!({ "content": 42 }),
        json!({ "content": "fine", "parent_id": "one" }),
        json!({ "content": "fine", "mood": "happy" }),
    ] {
        let body = app
            .as_user(
                &token,
                Method::POST,
                &path,
                Some(bad.clone()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(body["code"], "invalid_body", "{bad}");
    }
    let comments = app.get_json(&path, StatusCode::OK).await;
    assert_eq!(
        comments["items"].as_array().unwrap().len(),
        0,
        "nothing was posted"
    );
}

#[tokio::test]
async fn the_body_limit_also_guards_the_wechat_callback() {
    let app = spawn_app().await;
    let limit = app.state.settings.server.body_limit_bytes;
    let resp = app
        .client
        .post(app.url("/wechat/callback?signature=x&timestamp=1&nonce=2"))
        .header(header::CONTENT_TYPE, "text/xml")
        .body(vec![b'<'; limit + 1])
        .send()
        .await
        .unwrap();
    let body = expect_json(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(body["code"], "payload_too_large");
}
