//! Accounts and tokens: register, login, refresh rotation, logout, rules, limits.

use entity::user::UserStatus;
use qshare::service::{accounts, tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{expect_json, spawn_app, spawn_app_with, test_settings};

async fn post(app: &crate::helpers::TestApp, path: &str, body: Value, status: StatusCode) -> Value {
    expect_json(
        app.request(Method::POST, path, None, Some(body)).await,
        status,
    )
    .await
}

fn token(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_session_goes_from_register_to_logout_and_then_stops_working() {
    let app = spawn_app().await;
    let registered = app.register("Alice_01", "correct horse battery").await;
    assert_eq!(registered["token_type"], "Bearer");
    assert_eq!(registered["expires_in"], 7200);
    assert_eq!(registered["user"]["username"], "Alice_01");
    assert_eq!(registered["user"]["role"], "user");
    assert!(registered["user"].get("password_hash").is_none());

    let login = app.login("alice_01", "correct horse battery").await;
    let access = token(&login, "access_token");
    let me = app
        .as_user(&access, Method::GET, "/api/me", None, StatusCode::OK)
        .await;
    assert_eq!(me["username"], "Alice_01");

    let old_refresh = token(&login, "refresh_token");
    let refreshed = post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": old_refresh }),
        StatusCode::OK,
    )
    .await;
    let new_refresh = token(&refreshed, "refresh_token");
    assert_ne!(new_refresh, old_refresh);
    let new_access = token(&refreshed, "access_token");
    app.as_user(&new_access, Method::GET, "/api/me", None, StatusCode::OK)
        .await;

    let reused = post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": old_refresh }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(reused["code"], "unauthorized");

    // Reuse of a rotated token ended the whole session: the new pair is dead too.
    post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": new_refresh }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.as_user(
        &new_access,
        Method::GET,
        "/api/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Logout ends a session: its refresh token and its access tokens stop working.
    let session = app.login("alice_01", "correct horse battery").await;
    let (access, refresh) = (
        token(&session, "access_token"),
        token(&session, "refresh_token"),
    );
    let resp = app
        .request(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({ "refresh_token": refresh })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": refresh }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.as_user(
        &access,
        Method::GET,
        "/api/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let resp = app
        .request(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({ "refresh_token": refresh })),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "logout is idempotent"
    );

    // Another session of the same user is unaffected.
    let other = app.login("alice_01", "correct horse battery").await;
    app.as_user(
        &token(&other, "access_token"),
        Method::GET,
        "/api/me",
        None,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    app.register("bob_user", "bobs-password").await;
    let wrong = post(
        &app,
        "/api/auth/login",
        json!({ "username": "bob_user", "password": "not-his-password" }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = post(
        &app,
        "/api/auth/login",
        json!({ "username": "nobody", "password": "not-his-password" }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown, "no hint which part was wrong");
    post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": "made-up" }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case() {
    let app = spawn_app().await;
    app.register("Carol", "carols-password").await;
    let dup = post(
        &app,
        "/api/auth/register",
        json!({ "username": "cAROL", "password": "another-password" }),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(dup["code"], "username_taken");
}

#[tokio::test]
async fn registration_enforces_the_username_and_password_rules() {
    let app = spawn_app().await;
    for (username, password, field) in [
        ("ab", "long-enough-pw", "username"),
        ("has space", "long-enough-pw", "username"),
        ("x".repeat(33).as_str(), "long-enough-pw", "username"),
        ("dave_user", "short", "password"),
        ("dave_user", "DAVE_USER", "password"),
        ("dave_user", "p".repeat(129).as_str(), "password"),
    ] {
        let body = json!({ "username": username, "password": password });
        let err = post(&app, "/api/auth/register", body, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            err["details"]["field"], field,
            "{username}/{password}: {err}"
        );
    }
    let body = json!({ "username": 12345, "password": "long-enough-pw" });
    post(&app, "/api/auth/register", body, StatusCode::BAD_REQUEST).await;
    let chinese = app.register("张三丰", "tai-chi-master").await;
    assert_eq!(chinese["user"]["nickname"], "张三丰");
}

#[tokio::test]
async fn expired_tampered_and_garbage_access_tokens_are_401() {
    let app = spawn_app().await;
    let login = app.register("erin_user", "erins-password").await;
    let access = token(&login, "access_token");
    let auth = &app.state.settings.auth;
    let claims = tokens::verify_access(auth, &access).unwrap();
    let user = accounts::get(&app.state.db, claims.sub.parse().unwrap())
        .await
        .unwrap();

    let expired = tokens::issue_access(
        auth,
        &user,
        &claims.sid,
        chrono::Utc::now() - chrono::Duration::hours(3),
    )
    .unwrap();
    let err = app
        .as_user(
            &expired,
            Method::GET,
            "/api/me",
            None,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(err["code"], "unauthorized");

    let mut tampered = access.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    app.as_user(
        &tampered,
        Method::GET,
        "/api/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.as_user(
        "garbage",
        Method::GET,
        "/api/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let anonymous = expect_json(app.get("/api/me").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(anonymous["code"], "unauthorized");
}

#[tokio::test]
async fn a_disabled_user_can_neither_log_in_nor_use_tokens() {
    let app = spawn_app().await;
    let login = app.register("frank_user", "franks-password").await;
    let access = token(&login, "access_token");
    let user_id = login["user"]["id"].as_i64().unwrap();
    accounts::set_status(&app.state.db, user_id, UserStatus::Disabled)
        .await
        .unwrap();

    let err = app
        .as_user(
            &access,
            Method::GET,
            "/api/me",
            None,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(err["code"], "unauthorized");
    post(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": token(&login, "refresh_token") }),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let refused = post(
        &app,
        "/api/auth/login",
        json!({ "username": "frank_user", "password": "franks-password" }),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(refused["code"], "forbidden");

    accounts::set_status(&app.state.db, user_id, UserStatus::Active)
        .await
        .unwrap();
    app.login("frank_user", "franks-password").await;
}

#[tokio::test]
async fn repeated_login_failures_are_rate_limited_per_username_and_per_ip() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.login_failures_per_username = 3;
    settings.rate_limit.login_failures_per_ip = 5;
    let app = spawn_app_with(settings, dir).await;
    app.register("grace_user", "graces-password").await;

    for _ in 0..3 {
        post(
            &app,
            "/api/auth/login",
            json!({ "username": "grace_user", "password": "wrong-password" }),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let resp = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": "GRACE_USER", "password": "graces-password" })),
        )
        .await;
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
    let body = expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], "rate_limited");

    // Two more failures on other names exhaust this IP's allowance (5) for everyone.
    app.register("heidi_user", "heidis-password").await;
    for name in ["nobody_1", "nobody_2"] {
        post(
            &app,
            "/api/auth/login",
            json!({ "username": name, "password": "wrong-password" }),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    post(
        &app,
        "/api/auth/login",
        json!({ "username": "heidi_user", "password": "heidis-password" }),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn registrations_are_rate_limited_per_ip() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.registrations_per_ip = 2;
    let app = spawn_app_with(settings, dir).await;
    app.register("ivan_user", "ivans-password").await;
    app.register("judy_user", "judys-password").await;
    let body = json!({ "username": "mallory", "password": "mallorys-password" });
    post(
        &app,
        "/api/auth/register",
        body,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn creating_an_admin_promotes_an_existing_user_only_with_their_password() {
    let app = spawn_app().await;
    let login = app.register("kate_user", "kates-password").await;
    let access = token(&login, "access_token");
    app.as_user(
        &access,
        Method::GET,
        "/api/admin/articles",
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        accounts::create_admin(&app.state.db, "kate_user", "wrong-password")
            .await
            .is_err()
    );
    let admin = accounts::create_admin(&app.state.db, "kate_user", "kates-password")
        .await
        .unwrap();
    assert_eq!(admin.role, entity::user::Role::Admin);
    app.as_user(
        &access,
        Method::GET,
        "/api/admin/articles",
        None,
        StatusCode::OK,
    )
    .await;
}
