//! The guestbook (留言): posting, moderation, the site's answers and their notifications.

use qshare::config::ModerationMode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, spawn_app, spawn_app_with, test_settings};

async fn write(app: &TestApp, token: &str, content: &str) -> Value {
    app.as_user(
        token,
        Method::POST,
        "/api/guestbook",
        Some(json!({ "content": content })),
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn guestbook_messages_are_listed_with_the_sites_answer_and_the_author_is_told_once() {
    let app = spawn_app().await;
    let token = app.user_token("quinn_user").await;
    let msg = write(&app, &token, "网站很棒，希望多一些 Rust 文章").await;
    assert_eq!(msg["status"], "published");
    let id = msg["id"].as_i64().unwrap();

    for text in ["谢谢支持！", "谢谢支持！已安排。"] {
        app.admin_json(
            Method::POST,
            &format!("/api/admin/guestbook/{id}/reply"),
            Some(json!({ "content": text })),
            StatusCode::OK,
        )
        .await;
    }
    let page = app.get_json("/api/guestbook", StatusCode::OK).await;
    assert_eq!(page["items"][0]["reply"], "谢谢支持！已安排。");
    assert!(page["items"][0]["replied_at"].is_string());
    assert_eq!(page["items"][0]["author"]["nickname"], "quinn_user");

    let inbox = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        inbox["unread_count"], 1,
        "editing the answer does not notify again"
    );
    assert_eq!(inbox["items"][0]["kind"], "guestbook_reply");
    assert_eq!(inbox["items"][0]["guestbook_message_id"], id);

    // The admin answering their own message notifies nobody.
    let own = write(&app, &app.admin_token, "公告：本周五维护").await;
    let own_id = own["id"].as_i64().unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{own_id}/reply"),
        Some(json!({ "content": "ok" })),
        StatusCode::OK,
    )
    .await;
    let admin_inbox = app
        .as_user(
            &app.admin_token,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(admin_inbox["unread_count"], 0);
    let all_read = app
        .as_user(
            &token,
            Method::POST,
            "/api/me/notifications/read",
            Some(json!({})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(all_read["unread_count"], 0);
}

#[tokio::test]
async fn guestbook_messages_follow_the_moderation_mode_and_the_text_rules() {
    let (mut settings, dir) = test_settings().await;
    settings.moderation.mode = ModerationMode::Pre;
    let app = spawn_app_with(settings, dir).await;
    let token = app.user_token("rae_user").await;
    let msg = write(&app, &token, "待审核").await;
    assert_eq!(msg["status"], "pending");
    assert!(
        app.get_json("/api/guestbook", StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let queue = app
        .admin_json(Method::GET, "/api/admin/guestbook", None, StatusCode::OK)
        .await;
    assert_eq!(queue["items"][0]["id"], msg["id"]);

    let id = msg["id"].as_i64().unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{id}/approve"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get_json("/api/guestbook", StatusCode::OK).await["items"][0]["id"],
        id
    );
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{id}/hide"),
        None,
        StatusCode::OK,
    )
    .await;
    assert!(
        app.get_json("/api/guestbook", StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    for bad in [
        json!({ "content": "   " }),
        json!({ "content": "长".repeat(2001) }),
        json!({ "content": 1 }),
    ] {
        app.as_user(
            &token,
            Method::POST,
            "/api/guestbook",
            Some(bad),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let anonymous = app
        .request(
            Method::POST,
            "/api/guestbook",
            None,
            Some(json!({ "content": "hi" })),
        )
        .await;
    expect_json(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn only_the_author_or_an_admin_deletes_a_guestbook_message() {
    let app = spawn_app().await;
    let (owner, stranger) = (
        app.user_token("sam_user").await,
        app.user_token("tia_user").await,
    );
    let id = write(&app, &owner, "my message").await["id"]
        .as_i64()
        .unwrap();
    app.as_user(
        &stranger,
        Method::DELETE,
        &format!("/api/guestbook/{id}"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    app.as_user(
        &stranger,
        Method::POST,
        &format!("/api/admin/guestbook/{id}/hide"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/guestbook/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(
        app.get_json("/api/guestbook", StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{id}/reply"),
        Some(json!({ "content": "late" })),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn guestbook_posting_shares_the_comment_rate_limit() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.comments_per_user = 1;
    let app = spawn_app_with(settings, dir).await;
    let token = app.user_token("uma_user").await;
    write(&app, &token, "first").await;
    app.as_user(
        &token,
        Method::POST,
        "/api/guestbook",
        Some(json!({ "content": "second" })),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}
