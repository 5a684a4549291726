//! The callback cannot be replayed or downgraded: stale timestamps, a signed query reused
//! with another message (refused on every instance, through the shared cache), and
//! plaintext in safe mode are refused with 403 and change nothing; WeChat's own retry of a
//! request (same query, same message) is still answered without processing it twice.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{TestApp, expect_json, spawn_app_sharing, spawn_app_with},
    wechat_callback::{
        AES_KEY, CALLBACK, event, expect_success, follower, fresh_nonce, now_secs, oa_app,
        oa_settings, post, post_plain, safe_oa_app, signed_query, text,
    },
};

/// Two instances of one deployment: same database, same cache (Redis when configured,
/// else the first instance's in-process cache).
async fn two_instances() -> (TestApp, TestApp, testkit::wechat_fake::FakeWechat) {
    let (settings, dir, fake) = oa_settings(vec![], "").await;
    let first = spawn_app_with(settings.clone(), dir).await;
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    (first, second, fake)
}

#[tokio::test]
async fn a_timestamp_more_than_300_s_from_the_server_clock_is_refused_and_changes_nothing() {
    let (app, _fake) = oa_app(vec![]).await;
    let now = chrono::Utc::now().timestamp();
    for skew in [-301, 301, -86_400] {
        let ts = (now + skew).to_string();
        let query = signed_query(&ts, &fresh_nonce());
        let body = event("o_stale", 1, "subscribe", None);
        let err = expect_json(post(&app, &query, body).await, StatusCode::FORBIDDEN).await;
        assert!(
            err["message"].as_str().unwrap().contains("timestamp"),
            "{err}"
        );
        let verify = format!("{CALLBACK}?{}&echostr=e", signed_query(&ts, &fresh_nonce()));
        expect_json(app.get(&verify).await, StatusCode::FORBIDDEN).await;
    }
    assert!(follower(&app, "o_stale").await.is_none());
    // A few minutes of drift are fine.
    let ts = (now - 200).to_string();
    let query = signed_query(&ts, &fresh_nonce());
    expect_success(post(&app, &query, event("o_stale", 1, "subscribe", None)).await).await;
    assert!(follower(&app, "o_stale").await.unwrap().subscribed);
}

#[tokio::test]
async fn a_signed_query_replayed_with_another_message_is_refused_by_another_instance() {
    let (first, second, _fake) = two_instances().await;
    let query = signed_query(&now_secs(), &fresh_nonce());
    expect_success(post(&first, &query, event("o_real", 10, "subscribe", None)).await).await;

    // Someone who saw the query string attaches their own message (the signature does not
    // cover the body) and sends it to the other instance.
    let forged = event("o_forged", 11, "subscribe", None);
    let err = expect_json(
        post(&second, &query, forged.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        err["message"].as_str().unwrap().contains("replayed"),
        "{err}"
    );
    expect_json(post(&first, &query, forged).await, StatusCode::FORBIDDEN).await;
    assert!(follower(&first, "o_forged").await.is_none());
    assert!(follower(&first, "o_real").await.unwrap().subscribed);
}

#[tokio::test]
async fn wechats_retry_of_a_processed_request_is_answered_without_processing_it_again() {
    let (first, second, _fake) = two_instances().await;
    let subscribe_query = signed_query(&now_secs(), &fresh_nonce());
    let subscribe = event("o_slow", 20, "subscribe", None);
    expect_success(post(&first, &subscribe_query, subscribe.clone()).await).await;
    expect_success(post_plain(&first, &event("o_slow", 21, "unsubscribe", None)).await).await;
    // WeChat resends the first request byte for byte (we were slow): "success", and the
    // follower is not subscribed again.
    expect_success(post(&second, &subscribe_query, subscribe).await).await;
    assert!(!follower(&first, "o_slow").await.unwrap().subscribed);

    // A retried text message gets the same reply as the first delivery.
    first
        .published_article("Answered twice alike", json!({}))
        .await;
    let query = signed_query(&now_secs(), &fresh_nonce());
    let message = text("o_slow", 4_000_000_777, "answered");
    let reply = post(&first, &query, message.clone()).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = reply.text().await.unwrap();
    assert!(reply.contains("Answered twice alike"), "{reply}");
    let again = post(&second, &query, message).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.text().await.unwrap(), reply);
}

#[tokio::test]
async fn in_safe_mode_a_plaintext_post_is_refused_and_changes_nothing() {
    let (app, _fake) = safe_oa_app().await;
    assert_eq!(
        app.state.settings.wechat.official_account.encoding_aes_key,
        AES_KEY
    );
    for encrypt_type in ["", "&encrypt_type=raw"] {
        let query = format!(
            "{}{encrypt_type}",
            signed_query(&now_secs(), &fresh_nonce())
        );
        let body = event("o_downgrade", 30, "subscribe", None);
        let err = expect_json(post(&app, &query, body).await, StatusCode::FORBIDDEN).await;
        assert!(
            err["message"].as_str().unwrap().contains("safe mode"),
            "{err}"
        );
    }
    assert!(follower(&app, "o_downgrade").await.is_none());
}
