//! The client IP (issue 13): `X-Forwarded-For` counts only from a trusted proxy, and then
//! only its rightmost untrusted address; rate limits and the audit log see that address.

use std::io::Write;

use qshare::{Settings, config::AppEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, spawn_app_with, test_settings};

async fn register_via(app: &TestApp, name: &str, forwarded_for: &str) -> StatusCode {
    app.client
        .post(app.url("/api/auth/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": name, "password": "proxied-password" }))
        .send()
        .await
        .unwrap()
        .status()
}

async fn app_trusting(proxies: &[&str], registrations_per_ip: u32) -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.server.trusted_proxies = proxies.iter().map(|p| p.parse().unwrap()).collect();
    settings.rate_limit.registrations_per_ip = registrations_per_ip;
    spawn_app_with(settings, dir).await
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The test client (127.0.0.1) is not among the trusted proxies.
    let app = app_trusting(&["10.0.0.0/8"], 1).await;
    assert_eq!(
        register_via(&app, "forger_one", "203.0.113.1").await,
        StatusCode::CREATED
    );
    // A new forged address each time does not buy a new allowance.
    assert_eq!(
        register_via(&app, "forger_two", "203.0.113.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_trusted_loopback_proxy_gives_the_rightmost_untrusted_address() {
    let app = app_trusting(&["127.0.0.1/32", "::1/128", "10.0.0.0/8"], 1).await;
    // The client wrote anything it liked on the left; our proxies appended the rest.
    assert_eq!(
        register_via(&app, "chain_one", "6.6.6.6, 203.0.113.9, 10.0.0.5").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register_via(&app, "chain_two", "7.7.7.7, 203.0.113.9, 10.0.0.6").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client behind a different forged prefix"
    );
    assert_eq!(
        register_via(&app, "chain_three", "203.0.113.10").await,
        StatusCode::CREATED,
        "another client"
    );

    // The audit log records the same address.
    let resp = app
        .client
        .post(app.url("/api/admin/articles"))
        .bearer_auth(&app.admin_token)
        .header("x-forwarded-for", "1.2.3.4, 198.51.100.23")
        .json(&json!({
            "title": "Audited through a proxy",
            "summary": "Summary",
            "content": "Body.",
            "author": "Tester",
            "source_url": "https://example.com/a",
            "source_name": "Example",
        }))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::CREATED).await;
    let page: Value = expect_json(
        app.admin(Method::GET, "/api/admin/audit?action=article.create", None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"][0]["ip"], "198.51.100.23", "{page}");
}

#[test]
fn the_configuration_names_a_bad_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("test.yaml")).unwrap();
    writeln!(
        f,
        "server:\n  trusted_proxies: [\"10.0.0.0/8\", \"10.0.0.0/33\"]"
    )
    .unwrap();
    let err = Settings::load_from(dir.path(), AppEnv::Test)
        .expect_err("a bad CIDR is refused")
        .to_string();
    assert!(err.contains("server.trusted_proxies"), "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");

    // Addresses without a prefix length are single hosts.
    std::fs::write(
        dir.path().join("test.yaml"),
        "server:\n  trusted_proxies: [\"192.0.2.7\", \"2001:db8::/32\"]\n",
    )
    .unwrap();
    let settings = Settings::load_from(dir.path(), AppEnv::Test).unwrap();
    let nets: Vec<String> = settings
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["192.0.2.7/32", "2001:db8::/32"]);
}
