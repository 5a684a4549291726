//! Linking a user to their Official Account follower by QR scan: one-time, expiring,
//! unguessable tickets from `POST /api/me/wechat/bind-ticket`; a guessed `bind_<user id>`
//! scene links nobody, and a follower linked to one user is never moved to another.

use qshare::wechat::xml;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::{
    helpers::{TestApp, expect_json, spawn_app, spawn_app_with, unique_name},
    wechat_callback::{event, expect_success, follower, oa_app, oa_settings, post_plain},
};

const MINT: &str = "/api/me/wechat/bind-ticket";

/// A new user: (access token, id).
async fn user(app: &TestApp) -> (String, i64) {
    let body = app
        .register(&unique_name("binder_")[..20], "a-good-password")
        .await;
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_i64().unwrap(),
    )
}

async fn mint(app: &TestApp, token: &str) -> Value {
    app.as_user(token, Method::POST, MINT, None, StatusCode::CREATED)
        .await
}

async fn reply_text(resp: Response) -> String {
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    xml::parse_message(&body)
        .unwrap_or_else(|e| panic!("a reply, not {body:?}: {e}"))
        .content
        .unwrap_or_default()
}

async fn linked_user(app: &TestApp, openid: &str) -> Option<i64> {
    follower(app, openid).await.and_then(|f| f.user_id)
}

#[tokio::test]
async fn a_guessed_bind_user_id_scene_links_nothing() {
    let (app, _fake) = oa_app(vec![]).await;
    let (_, victim) = user(&app).await;
    let scene = format!("bind_{victim}");
    expect_success(post_plain(&app, &event("o_guess", 1, "SCAN", Some(&scene))).await).await;
    let qr = format!("qrscene_bind_{victim}");
    expect_success(post_plain(&app, &event("o_guess2", 2, "subscribe", Some(&qr))).await).await;
    assert_eq!(linked_user(&app, "o_guess").await, None);
    assert_eq!(linked_user(&app, "o_guess2").await, None);
}

#[tokio::test]
async fn a_ticket_links_the_first_scanner_once_and_a_second_scan_links_nothing() {
    let (app, fake) = oa_app(vec![]).await;
    let (token, user_id) = user(&app).await;
    let ticket = mint(&app, &token).await;
    let scene = ticket["scene"].as_str().unwrap().to_string();
    assert!(scene.starts_with("bind:") && scene.len() <= 64, "{ticket}");
    // The temporary QR code was made at WeChat for exactly this scene.
    assert_eq!(fake.qr_scenes(), std::slice::from_ref(&scene));
    let image = ticket["qr_image_url"].as_str().unwrap();
    assert!(
        image.starts_with("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQFake"),
        "{ticket}"
    );
    assert!(
        ticket["qr_url"]
            .as_str()
            .unwrap()
            .starts_with("http://weixin.qq.com/q/")
    );
    assert_eq!(ticket["expires_in"], 600, "{ticket}");
    assert!(ticket["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_ne!(
        mint(&app, &token).await["scene"],
        ticket["scene"],
        "unguessable, fresh"
    );

    let text = reply_text(post_plain(&app, &event("o_owner", 1, "SCAN", Some(&scene))).await).await;
    assert!(text.contains("已关联"), "{text}");
    assert_eq!(linked_user(&app, "o_owner").await, Some(user_id));

    // Used: another follower scanning the same code links nothing and is told so.
    let text = reply_text(post_plain(&app, &event("o_other", 2, "SCAN", Some(&scene))).await).await;
    assert!(text.contains("已失效"), "{text}");
    assert_eq!(linked_user(&app, "o_other").await, None);

    // A new follower subscribing through a fresh ticket's code links in the same event.
    let fresh = mint(&app, &token).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let qr = format!("qrscene_{fresh}");
    let text = reply_text(post_plain(&app, &event("o_new", 3, "subscribe", Some(&qr))).await).await;
    assert!(text.contains("已关联"), "{text}");
    let f = follower(&app, "o_new").await.unwrap();
    assert!(f.subscribed);
    assert_eq!(f.user_id, Some(user_id));
}

#[tokio::test]
async fn an_expired_ticket_links_nothing() {
    let (mut settings, dir, _fake) = oa_settings(vec![], "").await;
    settings.wechat.bind_ticket_ttl_secs = 1;
    let app = spawn_app_with(settings, dir).await;
    let (token, _) = user(&app).await;
    let ticket = mint(&app, &token).await;
    assert_eq!(ticket["expires_in"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let scene = ticket["scene"].as_str().unwrap();
    let text = reply_text(post_plain(&app, &event("o_late", 1, "SCAN", Some(scene))).await).await;
    assert!(text.contains("已失效"), "{text}");
    assert_eq!(linked_user(&app, "o_late").await, None);
}

#[tokio::test]
async fn a_follower_linked_to_one_user_stays_linked_when_scanning_anothers_ticket() {
    let (app, _fake) = oa_app(vec![]).await;
    let (alice_token, alice) = user(&app).await;
    let (bob_token, _) = user(&app).await;
    let alice_scene = mint(&app, &alice_token).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    post_plain(&app, &event("o_alice", 1, "SCAN", Some(&alice_scene))).await;
    assert_eq!(linked_user(&app, "o_alice").await, Some(alice));

    let bob_scene = mint(&app, &bob_token).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let text =
        reply_text(post_plain(&app, &event("o_alice", 2, "SCAN", Some(&bob_scene))).await).await;
    assert!(text.contains("另一个"), "the scanner is told: {text}");
    assert_eq!(linked_user(&app, "o_alice").await, Some(alice));
}

#[tokio::test]
async fn minting_a_ticket_needs_a_login_and_an_official_account() {
    let (app, _fake) = oa_app(vec![]).await;
    expect_json(
        app.request(Method::POST, MINT, None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let unconfigured = spawn_app().await;
    let (token, _) = user(&unconfigured).await;
    let err = unconfigured
        .as_user(&token, Method::POST, MINT, None, StatusCode::CONFLICT)
        .await;
    assert_eq!(err["code"], "not_configured");
}

#[tokio::test]
async fn the_wechat_operations_declare_409_for_not_configured() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json", StatusCode::OK).await;
    for (path, method) in [
        ("/api/auth/wechat/miniprogram", "post"),
        ("/api/admin/followers/sync", "post"),
        (MINT, "post"),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(responses.get("409").is_some(), "{path}: {responses}");
    }
}
