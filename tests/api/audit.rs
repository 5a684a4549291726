//! The audit log: every admin change writes one entry (reads and refused changes none), and
//! `GET /api/admin/audit` lists them newest first with filters and keyset pages.

use std::collections::HashSet;

use qshare::config::OfficialAccountSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::wechat_fake::{self as fake, FakeConfig, FakeWechat};

use crate::helpers::{
    ADMIN_USERNAME, TestApp, expect_json, spawn_app, spawn_app_with, test_settings,
};

/// All entries matching `query` (e.g. `action=article.update`), newest first.
async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/audit?limit=100&{query}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(page["next_cursor"].is_null(), "more than a page: {page}");
    page["items"].as_array().unwrap().clone()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn admin_id(app: &TestApp) -> i64 {
    app.admin_json(Method::GET, "/api/me", None, StatusCode::OK)
        .await["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn an_article_edit_is_logged_with_who_what_before_after_request_and_ip() {
    let app = spawn_app().await;
    let id = app.create_article("Old title", json!({})).await;
    let resp = app
        .client
        .patch(app.url(&format!("/api/admin/articles/{id}")))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "audit-trace-1")
        .json(&json!({ "title": "New title" }))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::OK).await;

    let entries = audit(&app, "action=article.update").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["actor_id"], admin_id(&app).await);
    assert_eq!(e["actor_name"], ADMIN_USERNAME);
    assert_eq!(e["object_type"], "article");
    assert_eq!(e["object_id"], id);
    // An edit shows the fields it changed, not two copies of the article.
    assert_eq!(e["before"], json!({ "title": "Old title" }));
    assert_eq!(e["after"], json!({ "title": "New title" }));
    assert_eq!(e["request_id"], "audit-trace-1");
    assert_eq!(e["ip"], "127.0.0.1");
    assert!(e["at"].as_str().unwrap().ends_with('Z'));

    let created = audit(&app, "action=article.create").await;
    assert_eq!(created[0]["after"]["title"], "Old title");
    assert_eq!(created[0]["after"]["status"], "draft");
    assert!(created[0]["before"].is_null());
    // The content is summarised by its length, never stored whole in the log.
    assert!(created[0]["after"].get("content").is_none());
    assert!(created[0]["after"]["content_chars"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn every_admin_change_is_logged_once_and_reads_and_refused_changes_are_not() {
    let app = spawn_app().await;
    let user = app.user_token("audited_reader").await;

    let category = app.create_category("audit-cat", "Audit").await;
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/categories/{category}"),
        Some(json!({ "name": "Audited" })),
        StatusCode::OK,
    )
    .await;
    let tag = app.create_tag("audit-tag", "Audit tag").await;
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/tags/{tag}"),
        Some(json!({ "name": "Audited tag" })),
        StatusCode::OK,
    )
    .await;

    let article = app
        .create_article("Audited", json!({ "tag_ids": [tag] }))
        .await;
    app.publish(article).await;
    app.feature(article).await;
    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/articles/{article}/featured"),
        None,
        StatusCode::OK,
    )
    .await;

    let comment = app
        .as_user(
            &user,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(json!({ "content": "first!" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let second = app
        .as_user(
            &user,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(json!({ "content": "second" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/comments/{comment}/hide"),
        None,
        StatusCode::OK,
    )
    .await;
    // The bulk action logs each comment that changed (the hidden one is approved back).
    app.admin_json(
        Method::POST,
        "/api/admin/comments/moderate",
        Some(json!({ "ids": [comment, second], "action": "approve" })),
        StatusCode::OK,
    )
    .await;

    let message = app
        .as_user(
            &user,
            Method::POST,
            "/api/guestbook",
            Some(json!({ "content": "hello site" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{message}/reply"),
        Some(json!({ "content": "thanks" })),
        StatusCode::OK,
    )
    .await;
    app.admin_json(
        Method::POST,
        &format!("/api/admin/guestbook/{message}/hide"),
        None,
        StatusCode::OK,
    )
    .await;

    let resource = app
        .admin_json(
            Method::POST,
            "/api/admin/resources",
            Some(json!({ "name": "Tool", "homepage": "https://tool.example.com", "category": "dev" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/resources/{resource}"),
        Some(json!({ "version": "1.1" })),
        StatusCode::OK,
    )
    .await;
    let release = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(json!({ "platform": "android", "version": "3.0.0", "download_url": "https://dl.example.com/a.apk" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/app/releases/{release}"),
        Some(json!({ "notes": "fixes" })),
        StatusCode::OK,
    )
    .await;

    let job = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs",
            Some(json!({ "name": "audited purge", "kind": "purge_expired", "cron": "0 3 * * *" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/jobs/{job}"),
        Some(json!({ "cron": "0 4 * * *" })),
        StatusCode::OK,
    )
    .await;
    for verb in ["disable", "enable"] {
        app.admin_json(
            Method::POST,
            &format!("/api/admin/jobs/{job}/{verb}"),
            None,
            StatusCode::OK,
        )
        .await;
    }
    crate::jobs::run_now(&app, &json!({ "id": job })).await;

    for path in [
        format!("/api/admin/jobs/{job}"),
        format!("/api/admin/app/releases/{release}"),
        format!("/api/admin/resources/{resource}"),
        format!("/api/admin/articles/{article}"),
        format!("/api/admin/tags/{tag}"),
        format!("/api/admin/categories/{category}"),
    ] {
        app.admin_json(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
            .await;
    }

    let logged = audit(&app, "").await;
    let mut got = actions(&logged);
    got.reverse();
    assert_eq!(
        got,
        [
            "category.create",
            "category.update",
            "tag.create",
            "tag.update",
            "article.create",
            "article.publish",
            "article.feature",
            "article.unfeature",
            "comment.hide",
            "comment.approve",
            "guestbook.reply",
            "guestbook.hide",
            "resource.create",
            "resource.update",
            "release.create",
            "release.update",
            "job.create",
            "job.update",
            "job.disable",
            "job.enable",
            "job.run",
            "job.delete",
            "release.delete",
            "resource.delete",
            "article.delete",
            "tag.delete",
            "category.delete",
        ]
    );
    let deleted = &logged[0];
    assert_eq!(deleted["before"]["slug"], "audit-cat");
    assert!(deleted["after"].is_null());
    let run = logged.iter().find(|e| e["action"] == "job.run").unwrap();
    assert_eq!(run["after"]["status"], "ok");
    let hidden = logged
        .iter()
        .find(|e| e["action"] == "comment.hide")
        .unwrap();
    assert_eq!(hidden["before"]["status"], "published");
    assert_eq!(hidden["after"]["status"], "hidden");
    assert_eq!(hidden["object_id"], comment);

    // Reads, repeated no-op changes and refused changes add nothing.
    let before = logged.len();
    for path in [
        "/api/admin/articles",
        "/api/admin/jobs",
        "/api/admin/comments",
        "/api/admin/audit",
    ] {
        app.admin_json(Method::GET, path, None, StatusCode::OK)
            .await;
    }
    let other = app.published_article("Another", json!({})).await;
    app.publish(other).await;
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{other}"),
        Some(json!({ "title": "" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.admin_json(
        Method::POST,
        "/api/admin/categories",
        Some(json!({ "slug": "Not A Slug", "name": "x" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // An author deleting their own comment is not an admin action.
    let own = app
        .as_user(
            &user,
            Method::POST,
            &format!("/api/articles/{other}/comments"),
            Some(json!({ "content": "mine" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.as_user(
        &user,
        Method::DELETE,
        &format!("/api/comments/{own}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let after = actions(&audit(&app, "").await);
    assert_eq!(after.len(), before + 2, "{after:?}");
    assert_eq!(&after[..2], ["article.publish", "article.create"]);
}

#[tokio::test]
async fn an_admin_deleting_someone_elses_comment_through_the_public_route_is_logged() {
    let app = spawn_app().await;
    let user = app.user_token("commenter_a").await;
    let article = app.published_article("Public route", json!({})).await;
    let comment = app
        .as_user(
            &user,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(json!({ "content": "rude words" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::DELETE,
        &format!("/api/comments/{comment}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let entries = audit(&app, &format!("object_type=comment&object_id={comment}")).await;
    assert_eq!(actions(&entries), ["comment.delete"]);
    assert_eq!(entries[0]["before"]["excerpt"], "rude words");
    assert_eq!(entries[0]["ip"], "127.0.0.1");
}

#[tokio::test]
async fn a_follower_sync_is_logged_with_what_it_did() {
    let fake = FakeWechat::start_with(FakeConfig {
        followers: fake::generated_followers(3),
        ..FakeConfig::default()
    })
    .await;
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.official_account = OfficialAccountSettings {
        app_id: fake::OA_APP_ID.into(),
        app_secret: fake::OA_SECRET.into(),
        token: "audittoken".into(),
        encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
    };
    let app = spawn_app_with(settings, dir).await;
    let synced = crate::jobs::sync_followers(&app).await;
    assert_eq!(synced["status"], "ok", "{synced}");
    let entries = audit(&app, "action=follower.sync").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["object_type"], "wechat_follower");
    assert!(entries[0]["object_id"].is_null());
    assert_eq!(entries[0]["after"]["added"], 3);
}

#[tokio::test]
async fn filters_narrow_the_log_by_actor_action_object_and_time() {
    let app = spawn_app().await;
    qshare::service::accounts::create_admin(&app.state.db, "second_admin", "second-password-1")
        .await
        .unwrap();
    let second_token = app.login("second_admin", "second-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let second_id = app
        .as_user(&second_token, Method::GET, "/api/me", None, StatusCode::OK)
        .await["id"]
        .as_i64()
        .unwrap();

    let a = app.create_article("First", json!({})).await;
    let b = app.create_article("Second", json!({})).await;
    // Timestamps have millisecond precision: keep the three moments apart.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.publish(a).await;
    let midpoint = audit(&app, "").await[0]["at"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.as_user(
        &second_token,
        Method::POST,
        &format!("/api/admin/articles/{b}/publish"),
        None,
        StatusCode::OK,
    )
    .await;

    let by_second = audit(&app, &format!("actor_id={second_id}")).await;
    assert_eq!(actions(&by_second), ["article.publish"]);
    assert_eq!(by_second[0]["actor_name"], "second_admin");
    assert_eq!(by_second[0]["object_id"], b);

    let publishes = audit(&app, "action=article.publish").await;
    assert_eq!(publishes.len(), 2);

    let about_a = audit(&app, &format!("object_type=article&object_id={a}")).await;
    assert_eq!(actions(&about_a), ["article.publish", "article.create"]);
    assert!(about_a.iter().all(|e| e["object_id"] == a));

    assert_eq!(audit(&app, "object_type=job").await.len(), 0);

    let encoded = midpoint.replace('+', "%2B");
    let later = audit(&app, &format!("from={encoded}")).await;
    assert!(later.iter().any(|e| e["object_id"] == b));
    let t = |e: &Value| e["at"].as_str().unwrap().to_string();
    assert!(later.iter().all(|e| t(e) >= midpoint), "{later:?}");
    let earlier = audit(&app, &format!("to={encoded}")).await;
    assert_eq!(earlier.len(), 2, "{earlier:?}");
    assert!(earlier.iter().all(|e| t(e) < midpoint));
}

#[tokio::test]
async fn pages_follow_each_other_without_overlap_or_gaps() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create_tag(&format!("paged-{i}"), &format!("Paged {i}"))
            .await;
    }
    let all: Vec<i64> = audit(&app, "")
        .await
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(all.len(), 7);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/audit?limit=3&cursor={c}"),
            None => "/api/admin/audit?limit=3".to_string(),
        };
        let page = app
            .admin_json(Method::GET, &path, None, StatusCode::OK)
            .await;
        pages += 1;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all, "pages must list the same entries, in order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn only_administrators_read_the_log() {
    let app = spawn_app().await;
    let user = app.user_token("curious_user").await;
    let body = app
        .as_user(
            &user,
            Method::GET,
            "/api/admin/audit",
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(body["code"], "forbidden");
    let anonymous = app
        .get_json("/api/admin/audit", StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(anonymous["code"], "unauthorized");
}

#[tokio::test]
async fn bad_filters_are_refused_with_400_naming_the_field() {
    let app = spawn_app().await;
    for (query, field) in [
        ("object_id=3", "object_id"),
        ("action=Article%20Update", "action"),
        ("object_type=a%27b", "object_type"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("actor_id=abc", "actor_id"),
        ("limit=0", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let body = app
            .admin_json(
                Method::GET,
                &format!("/api/admin/audit?{query}"),
                None,
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(body["details"]["field"], field, "{query}: {body}");
    }
}
