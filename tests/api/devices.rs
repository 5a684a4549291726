//! Device registration for push: the logged-in user's devices, anonymous devices with
//! their secret, one row per token whoever registers it, logout detaching a device, and
//! anonymous preferences.

use entity::device;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error_shape, expect_json, spawn_app, spawn_app_with, test_settings, unique_name,
};

pub fn apns_token(n: u32) -> String {
    format!(
        "{:064x}",
        0xa0_0000u64 + u64::from(n) + u64::from(rand_suffix())
    )
}

/// Tokens unique across tests that share a database (PostgreSQL runs share one).
fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 >> 4
}

pub fn fcm_token() -> String {
    unique_name("fcm-token-")
}

pub async fn register_mine(app: &TestApp, token: &str, body: Value) -> Value {
    app.as_user(
        token,
        Method::POST,
        "/api/me/devices",
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

pub async fn register_anonymous(app: &TestApp, body: Value) -> Value {
    let resp = app
        .request(Method::POST, "/api/devices", None, Some(body))
        .await;
    expect_json(resp, StatusCode::CREATED).await
}

async fn rows_with_token(app: &TestApp, token: &str) -> Vec<device::Model> {
    device::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.token == token)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_in_user_registers_lists_and_removes_a_device() {
    let app = spawn_app().await;
    let user = app.user_token("dev_user").await;
    let token = apns_token(1);
    let d = register_mine(
        &app,
        &user,
        json!({"provider": "apns", "token": token, "environment": "sandbox", "locale": "en-US",
               "timezone": "Europe/Berlin", "app_version": "2.3.0", "app_id": "com.example.qshare"}),
    )
    .await;
    assert_eq!(d["provider"], "apns");
    assert_eq!(d["environment"], "sandbox");
    assert_eq!(d["locale"], "en-US");
    assert_eq!(d["valid"], true);
    let listed = app
        .as_user(&user, Method::GET, "/api/me/devices", None, StatusCode::OK)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], d["id"]);
    let path = format!("/api/me/devices/{}", d["id"]);
    let resp = app.request(Method::DELETE, &path, Some(&user), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let listed = app
        .as_user(&user, Method::GET, "/api/me/devices", None, StatusCode::OK)
        .await;
    assert!(listed["items"].as_array().unwrap().is_empty());
    assert!(rows_with_token(&app, &token).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_the_same_token_again_updates_the_row_and_moves_it_to_the_newest_owner() {
    let app = spawn_app().await;
    let alice = app.user_token("alice_user").await;
    let bob = app.user_token("bob_user").await;
    let token = fcm_token();
    let first = register_mine(&app, &alice, json!({"provider": "fcm", "token": token})).await;
    let again = register_mine(
        &app,
        &alice,
        json!({"provider": "fcm", "token": token, "app_version": "9.9"}),
    )
    .await;
    assert_eq!(first["id"], again["id"], "same row");
    assert_eq!(again["app_version"], "9.9");
    let moved = register_mine(&app, &bob, json!({"provider": "fcm", "token": token})).await;
    assert_eq!(moved["id"], first["id"]);
    assert_eq!(
        rows_with_token(&app, &token).await.len(),
        1,
        "never a second row"
    );
    let alices = app
        .as_user(&alice, Method::GET, "/api/me/devices", None, StatusCode::OK)
        .await;
    assert!(alices["items"].as_array().unwrap().is_empty(), "{alices}");
    let bobs = app
        .as_user(&bob, Method::GET, "/api/me/devices", None, StatusCode::OK)
        .await;
    assert_eq!(bobs["items"][0]["id"], first["id"]);
    // Someone else's device cannot be removed by Alice.
    let path = format!("/api/me/devices/{}", first["id"]);
    let resp = app.request(Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_registrations_of_one_token_leave_one_row() {
    let app = spawn_app().await;
    let token = fcm_token();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, token) = (app.client.clone(), app.url("/api/devices"), token.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"provider": "fcm", "token": token}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(rows_with_token(&app, &token).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_keeps_the_device_but_detaches_it_from_the_user() {
    let app = spawn_app().await;
    let name = "leaver_user".to_string();
    let session = app.register(&name, "a-good-password").await;
    let access = session["access_token"].as_str().unwrap();
    let token = fcm_token();
    register_mine(&app, access, json!({"provider": "fcm", "token": token})).await;
    let resp = app
        .request(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": session["refresh_token"]})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let rows = rows_with_token(&app, &token).await;
    assert_eq!(rows.len(), 1, "the device stays");
    assert_eq!(rows[0].user_id, None, "but is no longer the user's");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_device_gets_a_secret_that_guards_its_preferences() {
    let app = spawn_app().await;
    let reg = register_anonymous(
        &app,
        json!({"provider": "harmony", "token": fcm_token(), "timezone": "Asia/Shanghai"}),
    )
    .await;
    let id = reg["id"].as_i64().unwrap();
    let secret = reg["device_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40, "{secret}");
    let path = format!("/api/devices/{id}/preferences");
    let prefs = json!({"opted_out": false, "quiet_hours": {"start": "22:00", "end": "07:30"}});
    let put = |secret: Option<String>, body: Value| {
        let mut req = app.client.put(app.url(&path)).json(&body);
        if let Some(s) = secret {
            req = req.header("X-Device-Secret", s);
        }
        req.send()
    };
    let resp = put(None, prefs.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_error_shape(&resp.json().await.unwrap());
    let resp = put(Some("wrong-secret".into()), prefs.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = put(Some(secret.clone()), prefs.clone()).await.unwrap();
    let body = expect_json(resp, StatusCode::OK).await;
    assert_eq!(body["quiet_hours"]["start"], "22:00");
    assert_eq!(body["quiet_hours"]["end"], "07:30");
    let row = device::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.quiet_start_minute, Some(22 * 60));
    assert_ne!(
        row.secret_hash.as_deref(),
        Some(secret.as_str()),
        "only a hash is stored"
    );
    let bad = put(
        Some(secret.clone()),
        json!({"opted_out": true, "quiet_hours": {"start": "25:00", "end": "07:00"}}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let resp = put(Some(secret), json!({"opted_out": true})).await.unwrap();
    assert_eq!(expect_json(resp, StatusCode::OK).await["opted_out"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registrations_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let user = app.user_token("bad_user").await;
    let cases = [
        (
            json!({"provider": "apns", "token": "not-hex-at-all"}),
            "token",
        ),
        (json!({"provider": "fcm", "token": "short"}), "token"),
        (
            json!({"provider": "fcm", "token": fcm_token(), "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            json!({"provider": "fcm", "token": fcm_token(), "locale": "en US"}),
            "locale",
        ),
    ];
    for (body, field) in cases {
        let resp = app
            .request(
                Method::POST,
                "/api/me/devices",
                Some(&user),
                Some(body.clone()),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_error_shape(&err);
        assert_eq!(err["details"]["field"], field, "{err}");
    }
    let resp = app
        .request(
            Method::POST,
            "/api/me/devices",
            Some(&user),
            Some(json!({"provider": "nokia", "token": fcm_token()})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app
        .request(
            Method::POST,
            "/api/me/devices",
            None,
            Some(json!({"provider": "fcm", "token": fcm_token()})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let listed = app
        .as_user(&user, Method::GET, "/api/me/devices", None, StatusCode::OK)
        .await;
    assert!(listed["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_registrations_are_limited_per_client_ip() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.device_registrations_per_ip = 3;
    let app = spawn_app_with(settings, dir).await;
    for _ in 0..3 {
        register_anonymous(&app, json!({"provider": "fcm", "token": fcm_token()})).await;
    }
    let resp = app
        .request(
            Method::POST,
            "/api/devices",
            None,
            Some(json!({"provider": "fcm", "token": fcm_token()})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_see_device_counts_by_provider_validity_and_app_version() {
    let app = spawn_app().await;
    let user = app.user_token("stats_user").await;
    register_mine(
        &app,
        &user,
        json!({"provider": "fcm", "token": fcm_token(), "app_version": "1.0"}),
    )
    .await;
    register_mine(
        &app,
        &user,
        json!({"provider": "apns", "token": apns_token(7), "app_version": "1.0"}),
    )
    .await;
    register_anonymous(&app, json!({"provider": "harmony", "token": fcm_token()})).await;
    let stats = app
        .admin_json(
            Method::GET,
            "/api/admin/devices/stats",
            None,
            StatusCode::OK,
        )
        .await;
    assert!(stats["total"].as_i64().unwrap() >= 3, "{stats}");
    let fcm = stats["by_provider"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "fcm")
        .unwrap();
    assert!(fcm["valid"].as_i64().unwrap() >= 1);
    assert!(
        stats["by_app_version"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["app_version"] == "1.0" && v["devices"].as_i64().unwrap() >= 2)
    );
    let resp = app
        .request(Method::GET, "/api/admin/devices/stats", Some(&user), None)
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
