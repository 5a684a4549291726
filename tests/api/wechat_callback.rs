//! The Official Account callback (`/wechat/callback`, plaintext and safe mode), the follower
//! table it maintains, the admin follower list, and the `user/get` sync against the fake
//! WeChat.

use entity::wechat_follower;
use qshare::{
    Settings,
    config::OfficialAccountSettings,
    service::followers,
    wechat::{
        crypto::{self, MessageCrypto},
        xml,
    },
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use testkit::wechat_fake::{self as fake, Endpoint, FakeConfig, FakeWechat};

use crate::helpers::{TestApp, expect_json, spawn_app, spawn_app_with, test_settings};

/// WeChat's official sample token and EncodingAESKey (reference §1.6 V2).
pub const TOKEN: &str = "pamtest";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const ACCOUNT: &str = "gh_qshare_test";
pub const CALLBACK: &str = "/wechat/callback";

/// An app whose Official Account is in plaintext mode (no EncodingAESKey).
pub async fn oa_app(followers: Vec<String>) -> (TestApp, FakeWechat) {
    oa_app_in(followers, "").await
}

/// An app whose Official Account is in safe mode: plaintext POSTs are refused.
pub async fn safe_oa_app() -> (TestApp, FakeWechat) {
    oa_app_in(vec![], AES_KEY).await
}

async fn oa_app_in(followers: Vec<String>, encoding_aes_key: &str) -> (TestApp, FakeWechat) {
    let (settings, dir, fake) = oa_settings(followers, encoding_aes_key).await;
    (spawn_app_with(settings, dir).await, fake)
}

/// Settings of an app with the Official Account on a fake WeChat (kept running by the
/// returned handle), on a fresh database.
pub async fn oa_settings(
    followers: Vec<String>,
    encoding_aes_key: &str,
) -> (Settings, Option<tempfile::TempDir>, FakeWechat) {
    let fake = FakeWechat::start_with(FakeConfig {
        followers,
        ..FakeConfig::default()
    })
    .await;
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.official_account = OfficialAccountSettings {
        app_id: fake::OA_APP_ID.into(),
        app_secret: fake::OA_SECRET.into(),
        token: TOKEN.into(),
        encoding_aes_key: encoding_aes_key.into(),
    };
    (settings, dir, fake)
}

pub fn our_crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, AES_KEY, fake::OA_APP_ID).unwrap()
}

pub fn fresh_nonce() -> String {
    rand::random::<u32>().to_string()
}

pub fn now_secs() -> String {
    chrono::Utc::now().timestamp().to_string()
}

pub fn signed_query(timestamp: &str, nonce: &str) -> String {
    let signature = crypto::signature(TOKEN, timestamp, nonce);
    format!("signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=x")
}

pub fn event(openid: &str, create_time: i64, event: &str, key: Option<&str>) -> String {
    let key = key
        .map(|k| format!("<EventKey><![CDATA[{k}]]></EventKey><Ticket><![CDATA[T]]></Ticket>"))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[{event}]]></Event>{key}</xml>"
    )
}

pub fn text(openid: &str, msg_id: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

pub async fn post(app: &TestApp, query: &str, body: String) -> Response {
    app.client
        .post(app.url(&format!("{CALLBACK}?{query}")))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A plaintext-mode POST with a valid signature.
pub async fn post_plain(app: &TestApp, xml: &str) -> Response {
    post(app, &signed_query(&now_secs(), &fresh_nonce()), xml.into()).await
}

/// A safe-mode POST encrypted with `crypto`; returns the response and the timestamp and
/// nonce it was signed with.
pub async fn post_encrypted_with(
    app: &TestApp,
    crypto: &MessageCrypto,
    xml: &str,
) -> (Response, String, String) {
    let (timestamp, nonce) = (now_secs(), fresh_nonce());
    let encrypted = crypto.encrypt(xml).unwrap();
    let msg_signature = crypto.sign(&timestamp, &nonce, &encrypted);
    let query = format!(
        "{}&encrypt_type=aes&msg_signature={msg_signature}",
        signed_query(&timestamp, &nonce)
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    (post(app, &query, body).await, timestamp, nonce)
}

pub async fn post_encrypted(app: &TestApp, xml: &str) -> (Response, String, String) {
    post_encrypted_with(app, &our_crypto(), xml).await
}

pub async fn expect_success(resp: Response) {
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "success");
}

/// Checks the safe-mode reply envelope (signature over the request's timestamp and nonce)
/// and returns the decrypted reply.
pub async fn decrypt_reply(resp: Response, timestamp: &str, nonce: &str) -> xml::InboundMessage {
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    let envelope = xml::parse_encrypted_envelope(&body).expect("an encrypted envelope");
    let signature = between(&body, "<MsgSignature><![CDATA[", "]]></MsgSignature>");
    assert!(
        body.contains(&format!("<TimeStamp>{timestamp}</TimeStamp>")),
        "{body}"
    );
    let plain = our_crypto()
        .decrypt_verified(timestamp, nonce, signature, &envelope.encrypt)
        .expect("the reply is signed and encrypted for our app");
    xml::parse_message(&plain).expect("the reply is valid XML")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    &text[from..from + len]
}

pub async fn follower(app: &TestApp, openid: &str) -> Option<wechat_follower::Model> {
    followers::find(&app.state.db, openid).await.unwrap()
}

async fn follower_count(app: &TestApp) -> u64 {
    followers::counts(&app.state.db).await.unwrap().total
}

#[tokio::test]
async fn get_verification_echoes_echostr_only_with_a_valid_signature() {
    let (app, _fake) = oa_app(vec![]).await;
    let (timestamp, nonce) = (now_secs(), fresh_nonce());
    let good = format!(
        "{}&echostr=5927782489442352469",
        signed_query(&timestamp, &nonce)
    );
    let resp = app.get(&format!("{CALLBACK}?{good}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.text().await.unwrap(), "5927782489442352469");

    let tampered = good.replace(&format!("nonce={nonce}"), "nonce=1");
    expect_json(
        app.get(&format!("{CALLBACK}?{tampered}")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_json(
        app.get(&format!("{CALLBACK}?timestamp=1&nonce=2&echostr=x"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn without_an_official_account_the_callback_and_sync_answer_409_not_configured() {
    let app = spawn_app().await;
    let query = format!("{}&echostr=x", signed_query(&now_secs(), "1"));
    let errors = [
        expect_json(
            app.get(&format!("{CALLBACK}?{query}")).await,
            StatusCode::CONFLICT,
        )
        .await,
        expect_json(
            post_plain(&app, &event("o_a", 1, "subscribe", None)).await,
            StatusCode::CONFLICT,
        )
        .await,
        app.admin_json(
            Method::POST,
            "/api/admin/followers/sync",
            None,
            StatusCode::CONFLICT,
        )
        .await,
    ];
    for err in errors {
        assert_eq!(err["code"], "not_configured", "{err}");
    }
}

#[tokio::test]
async fn plaintext_subscribe_and_unsubscribe_maintain_the_follower_table() {
    let (app, _fake) = oa_app(vec![]).await;
    expect_success(post_plain(&app, &event("o_plain", 100, "subscribe", None)).await).await;
    let f = follower(&app, "o_plain").await.expect("recorded");
    assert!(f.subscribed);
    assert!(f.subscribed_at.is_some() && f.unsubscribed_at.is_none());
    assert_eq!(f.scene, None);

    expect_success(
        post_plain(
            &app,
            &event("o_qr", 100, "subscribe", Some("qrscene_promo_7")),
        )
        .await,
    )
    .await;
    assert_eq!(
        follower(&app, "o_qr").await.unwrap().scene.as_deref(),
        Some("promo_7")
    );

    expect_success(post_plain(&app, &event("o_plain", 101, "unsubscribe", None)).await).await;
    let f = follower(&app, "o_plain").await.unwrap();
    assert!(!f.subscribed);
    assert!(f.unsubscribed_at.is_some());

    expect_success(post_plain(&app, &event("o_plain", 102, "subscribe", None)).await).await;
    let f = follower(&app, "o_plain").await.unwrap();
    assert!(f.subscribed && f.unsubscribed_at.is_none(), "{f:?}");
    assert_eq!(follower_count(&app).await, 2);

    // Unknown events are acknowledged and change nothing.
    expect_success(post_plain(&app, &event("o_other", 103, "CLICK", Some("MENU"))).await).await;
    assert!(follower(&app, "o_other").await.is_none());
}

#[tokio::test]
async fn encrypted_subscribe_and_unsubscribe_maintain_the_follower_table() {
    let (app, _fake) = safe_oa_app().await;
    let (resp, ..) = post_encrypted(
        &app,
        &event("o_safe", 200, "subscribe", Some("qrscene_poster")),
    )
    .await;
    expect_success(resp).await;
    let f = follower(&app, "o_safe").await.expect("recorded");
    assert!(f.subscribed);
    assert_eq!(f.scene.as_deref(), Some("poster"));

    let (resp, ..) = post_encrypted(&app, &event("o_safe", 201, "unsubscribe", None)).await;
    expect_success(resp).await;
    assert!(!follower(&app, "o_safe").await.unwrap().subscribed);
}

#[tokio::test]
async fn a_retried_message_is_processed_once_and_answered_alike() {
    let (app, _fake) = oa_app(vec![]).await;
    let subscribe = event("o_retry", 300, "subscribe", None);
    expect_success(post_plain(&app, &subscribe).await).await;
    expect_success(post_plain(&app, &event("o_retry", 301, "unsubscribe", None)).await).await;
    // WeChat's retry of the first push: processing it again would resubscribe them.
    expect_success(post_plain(&app, &subscribe).await).await;
    assert!(!follower(&app, "o_retry").await.unwrap().subscribed);

    let (app, _fake) = safe_oa_app().await;
    app.published_article("Retry handling in Rust", json!({}))
        .await;
    let message = text("o_retry", 4_000_000_001, "retry");
    let (first, ts1, n1) = post_encrypted(&app, &message).await;
    let first = decrypt_reply(first, &ts1, &n1).await;
    let (second, ts2, n2) = post_encrypted(&app, &message).await;
    let second = decrypt_reply(second, &ts2, &n2).await;
    assert!(
        first
            .content
            .as_deref()
            .unwrap()
            .contains("Retry handling in Rust")
    );
    assert_eq!(first.content, second.content);
}

#[tokio::test]
async fn a_keyword_text_gets_a_reply_listing_matching_published_articles() {
    let (app, _fake) = oa_app(vec![]).await;
    for i in 1..=7 {
        app.published_article(&format!("Rust tip {i}"), json!({}))
            .await;
    }
    app.published_article("Go channels", json!({})).await;
    app.create_article("Rust draft", json!({})).await;

    // Plaintext mode: the reply is plain XML addressed back to the sender.
    let resp = post_plain(&app, &text("o_reader", 1, "rust")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let reply = xml::parse_message(&resp.text().await.unwrap()).expect("valid reply XML");
    assert_eq!(reply.to_user_name, "o_reader");
    assert_eq!(reply.from_user_name, ACCOUNT);
    assert_eq!(reply.msg_type, "text");
    let content = reply.content.unwrap();
    assert_eq!(content.matches("Rust tip").count(), 5, "{content}");
    assert!(content.contains("Rust tip 7"), "newest first: {content}");
    assert!(!content.contains("draft") && !content.contains("Go channels"));

    // Safe mode: the reply is encrypted for our app and signed.
    let (app, _fake) = safe_oa_app().await;
    app.published_article("Go channels", json!({})).await;
    app.published_article("Rust tip", json!({})).await;
    let (resp, ts, nonce) = post_encrypted(&app, &text("o_reader", 2, "golang channels")).await;
    let reply = decrypt_reply(resp, &ts, &nonce).await;
    assert_eq!(reply.to_user_name, "o_reader");
    let content = reply.content.unwrap();
    assert!(content.contains("Go channels"), "word by word: {content}");
    assert!(!content.contains("Rust"));

    let (resp, ts, nonce) = post_encrypted(&app, &text("o_reader", 3, "kubernetes")).await;
    let content = decrypt_reply(resp, &ts, &nonce).await.content.unwrap();
    assert!(content.contains("没有找到"), "{content}");
}

#[tokio::test]
async fn rejected_requests_get_a_4xx_and_change_nothing() {
    let (app, _fake) = oa_app(vec![]).await;
    let subscribe = event("o_evil", 500, "subscribe", None);

    // Malformed XML with a valid signature.
    expect_json(
        post_plain(&app, "<xml><ToUserName>oops</xml>").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A bad or missing signature.
    let (ts, nonce) = (now_secs(), fresh_nonce());
    let bad = signed_query(&ts, &nonce).replace(&format!("timestamp={ts}"), "timestamp=1");
    expect_json(
        post(&app, &bad, subscribe.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_json(
        post(&app, "timestamp=1&nonce=2", subscribe.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(follower_count(&app).await, 0, "nothing was recorded");
    // The same message, properly sent, is accepted: the rejections were about the requests.
    expect_success(post_plain(&app, &subscribe).await).await;
    assert!(follower(&app, "o_evil").await.unwrap().subscribed);

    let (app, _fake) = safe_oa_app().await;
    // Safe mode: encrypted for another app id (signed with our token).
    let other = MessageCrypto::new(TOKEN, AES_KEY, "wxsomeotherapp0001").unwrap();
    let (resp, ..) = post_encrypted_with(&app, &other, &subscribe).await;
    expect_json(resp, StatusCode::BAD_REQUEST).await;
    // Safe mode: a msg_signature that does not match the ciphertext.
    let (ts, nonce) = (now_secs(), fresh_nonce());
    let encrypted = our_crypto().encrypt(&subscribe).unwrap();
    let query = format!(
        "{}&encrypt_type=aes&msg_signature={}",
        signed_query(&ts, &nonce),
        our_crypto().sign(&ts, &nonce, "something else")
    );
    let body = format!("<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    expect_json(post(&app, &query, body).await, StatusCode::FORBIDDEN).await;
    // Safe mode: a valid envelope around malformed XML.
    let (resp, ..) = post_encrypted(&app, "<xml><MsgType>text</MsgType>").await;
    expect_json(resp, StatusCode::BAD_REQUEST).await;
    // An oversized body (a valid message padded past 64 KiB).
    let padded = subscribe.replace(
        "</xml>",
        &format!("<Pad>{}</Pad></xml>", "x".repeat(70 * 1024)),
    );
    let (resp, ..) = post_encrypted(&app, &padded).await;
    expect_json(resp, StatusCode::PAYLOAD_TOO_LARGE).await;

    assert_eq!(follower_count(&app).await, 0, "nothing was recorded");
    let (resp, ..) = post_encrypted(&app, &subscribe).await;
    expect_success(resp).await;
    assert!(follower(&app, "o_evil").await.unwrap().subscribed);
}

#[tokio::test]
async fn the_sync_pages_through_25000_followers_and_marks_those_who_left() {
    let (app, fake) = oa_app(fake::generated_followers(25_000)).await;
    // Known from an old event, but WeChat no longer lists them.
    expect_success(post_plain(&app, &event("o_gone", 600, "subscribe", None)).await).await;
    // Already known and listed: stamped, not added.
    expect_success(post_plain(&app, &event("o_fake_000042", 601, "subscribe", None)).await).await;
    // The sync compares event times with its own start (millisecond precision).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let run = crate::jobs::sync_followers(&app).await;
    let summary = &run["summary"];
    assert_eq!(summary["listed"], 25_000, "{summary}");
    assert_eq!(summary["added"], 24_999);
    assert_eq!(summary["unsubscribed"], 1);
    assert_eq!(summary["wechat_total"], 25_000);
    // 10,000 + 10,000 + 5,000 and the empty page that ends the list.
    assert_eq!(summary["pages"], 4);
    assert_eq!(fake.stats().calls(Endpoint::UserGet), 4);
    assert!(!follower(&app, "o_gone").await.unwrap().subscribed);
    assert!(follower(&app, "o_fake_024999").await.unwrap().subscribed);
    let counts = followers::counts(&app.state.db).await.unwrap();
    assert_eq!((counts.total, counts.subscribed), (25_001, 25_000));

    fake.unfollow("o_fake_000123");
    let run = crate::jobs::sync_followers(&app).await;
    let summary = &run["summary"];
    assert_eq!(summary["added"], 0, "{summary}");
    assert_eq!(summary["unsubscribed"], 1);
    let left = follower(&app, "o_fake_000123").await.unwrap();
    assert!(!left.subscribed && left.unsubscribed_at.is_some());
    assert!(follower(&app, "o_fake_000124").await.unwrap().subscribed);
    let page = app
        .admin_json(
            Method::GET,
            "/api/admin/followers?limit=1",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(page["total"], 25_001);
    assert_eq!(page["subscribed"], 24_999);
}

async fn follower_ids(app: &TestApp, filter: &str) -> (Vec<Value>, Value) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last;
    loop {
        let mut path = format!("/api/admin/followers?limit=2{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        last = app
            .admin_json(Method::GET, &path, None, StatusCode::OK)
            .await;
        let page = last["items"].as_array().unwrap();
        assert!(page.len() <= 2);
        items.extend(page.iter().cloned());
        match last["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    (items, last)
}

#[tokio::test]
async fn the_admin_list_pages_newest_first_and_filters_by_subscription() {
    let (app, _fake) = oa_app(vec![]).await;
    for i in 0..5 {
        let openid = format!("o_list_{i}");
        expect_success(post_plain(&app, &event(&openid, 700 + i, "subscribe", None)).await).await;
    }
    for i in [1, 3] {
        let openid = format!("o_list_{i}");
        expect_success(post_plain(&app, &event(&openid, 800 + i, "unsubscribe", None)).await).await;
    }

    let (all, last) = follower_ids(&app, "").await;
    let openids: Vec<&str> = all.iter().map(|f| f["openid"].as_str().unwrap()).collect();
    assert_eq!(
        openids,
        ["o_list_4", "o_list_3", "o_list_2", "o_list_1", "o_list_0"]
    );
    assert_eq!(
        (last["total"].as_u64(), last["subscribed"].as_u64()),
        (Some(5), Some(3))
    );

    let (subscribed, _) = follower_ids(&app, "&subscribed=true").await;
    assert_eq!(subscribed.len(), 3);
    assert!(subscribed.iter().all(|f| f["subscribed"] == true));
    let (left, _) = follower_ids(&app, "&subscribed=false").await;
    let left: Vec<&str> = left.iter().map(|f| f["openid"].as_str().unwrap()).collect();
    assert_eq!(left, ["o_list_3", "o_list_1"]);

    let err = app
        .admin_json(
            Method::GET,
            "/api/admin/followers?cursor=nope",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "cursor");
    let user = app.user_token("not_an_admin").await;
    app.as_user(
        &user,
        Method::GET,
        "/api/admin/followers",
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_json(
        app.get("/api/admin/followers").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn run_sync_job(app: &TestApp) -> Value {
    let job = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs",
            Some(json!({ "name": "followers", "kind": "sync_wechat_followers", "cron": "0 30 4 * * *" })),
            StatusCode::CREATED,
        )
        .await;
    crate::jobs::run_now(app, &job).await
}

#[tokio::test]
async fn the_sync_job_kind_runs_through_run_now() {
    let (app, _fake) = oa_app(fake::generated_followers(3)).await;
    let run = run_sync_job(&app).await;
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["summary"]["added"], 3);
    assert!(follower(&app, "o_fake_000002").await.unwrap().subscribed);

    let unconfigured = spawn_app().await;
    let run = run_sync_job(&unconfigured).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("not configured"),
        "{run}"
    );
}
