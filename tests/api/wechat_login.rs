//! Mini-program login (jscode2session) and WeChat's content check on comments.

use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use testkit::wechat_fake::{Endpoint, FakeWechat, MP_APP_ID, MP_SECRET};

use crate::helpers::{TestApp, expect_json, spawn_app, spawn_app_with, test_settings};

async fn app_with_miniprogram() -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start().await;
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.miniprogram.app_id = MP_APP_ID.into();
    settings.wechat.miniprogram.app_secret = MP_SECRET.into();
    (spawn_app_with(settings, dir).await, fake)
}

async fn wx_login(app: &TestApp, code: &str, status: StatusCode) -> Value {
    let resp = app
        .request(
            Method::POST,
            "/api/auth/wechat/miniprogram",
            None,
            Some(json!({ "code": code })),
        )
        .await;
    expect_json(resp, status).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_program_login_creates_the_user_then_finds_it() {
    let (app, fake) = app_with_miniprogram().await;
    fake.add_login_code("code-1", "openid-alice", Some("union-alice"));
    fake.add_login_code("code-2", "openid-alice", Some("union-alice"));
    let first = wx_login(&app, "code-1", StatusCode::OK).await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["user"]["nickname"], "微信用户");
    assert!(
        !first.to_string().contains("session_key"),
        "never return session_key: {first}"
    );
    let token = first["access_token"].as_str().unwrap();
    let me = app
        .as_user(token, Method::GET, "/api/me", None, StatusCode::OK)
        .await;
    assert_eq!(me["id"], first["user"]["id"]);

    let again = wx_login(&app, "code-2", StatusCode::OK).await;
    assert_eq!(
        again["user"]["id"], first["user"]["id"],
        "the second login finds the same user"
    );
    let user = entity::user::Entity::find_by_id(first["user"]["id"].as_i64().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.wechat_mini_openid.as_deref(), Some("openid-alice"));
    assert_eq!(user.wechat_unionid.as_deref(), Some("union-alice"));
    assert!(user.password_hash.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_the_same_unionid_is_linked_not_duplicated() {
    let (app, fake) = app_with_miniprogram().await;
    let registered = app.register("bob_app", "bobs-password").await;
    let id = registered["user"]["id"].as_i64().unwrap();
    let user = entity::user::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut active: entity::user::ActiveModel = user.into();
    active.wechat_unionid = Set(Some("union-bob".into()));
    active.update(&app.state.db).await.unwrap();

    fake.add_login_code("code-bob", "openid-bob-mini", Some("union-bob"));
    let login = wx_login(&app, "code-bob", StatusCode::OK).await;
    assert_eq!(login["user"]["id"], id);
    assert_eq!(login["user"]["username"], "bob_app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_codes_and_wechat_limits_are_clear_4xx_answers() {
    let (app, fake) = app_with_miniprogram().await;
    let err = wx_login(&app, "never-issued", StatusCode::BAD_REQUEST).await;
    assert_eq!(err["details"]["field"], "code");
    fake.add_login_code("once", "openid-once", None);
    wx_login(&app, "once", StatusCode::OK).await;
    let reused = wx_login(&app, "once", StatusCode::BAD_REQUEST).await;
    assert!(
        reused["message"].as_str().unwrap().contains("already used"),
        "{reused}"
    );
    wx_login(&app, "  ", StatusCode::BAD_REQUEST).await;
    fake.add_login_code("busy", "openid-busy", None);
    fake.fail_next(Endpoint::JsCode2Session, 45011, 1);
    wx_login(&app, "busy", StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn mini_program_login_is_409_not_configured_when_no_mini_program_is_configured() {
    let app = spawn_app().await;
    let err = wx_login(&app, "any", StatusCode::CONFLICT).await;
    assert_eq!(err["code"], "not_configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_from_mini_program_users_pass_wechats_content_check() {
    let (app, fake) = app_with_miniprogram().await;
    fake.set_risky_words(&["赌博"]);
    fake.add_login_code("code-c", "openid-carol", None);
    let carol = wx_login(&app, "code-c", StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let password_user = app.user_token("dave_pw").await;
    let article = app.published_article("Checked", json!({})).await;
    let post = |token: String, content: &'static str| {
        let app = &app;
        async move {
            app.as_user(
                &token,
                Method::POST,
                &format!("/api/articles/{article}/comments"),
                Some(json!({ "content": content })),
                StatusCode::CREATED,
            )
            .await["status"]
                .clone()
        }
    };
    assert_eq!(
        post(carol.clone(), "来玩网络赌博").await,
        "pending",
        "a risky verdict goes to the queue"
    );
    assert_eq!(post(carol.clone(), "写得很好").await, "published");
    assert_eq!(
        post(password_user, "赌博").await,
        "published",
        "only mini-program users are checked"
    );
    let checks = fake.stats().sec_checks;
    assert_eq!(checks, 2);

    // WeChat down: posting still works, the word list decides.
    fake.fail_next_http(Endpoint::MsgSecCheck, 502, 10);
    assert_eq!(post(carol.clone(), "赌博又来了").await, "published");
    let resp = app
        .request(
            Method::POST,
            "/api/guestbook",
            Some(&carol),
            Some(json!({ "content": "网络赌博" })),
        )
        .await;
    let msg = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(
        msg["status"], "published",
        "still reachable while WeChat fails"
    );
}
