//! Editorial API: auth, create/edit/publish/schedule/feature/delete, validation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_json, spawn_app};

#[tokio::test]
async fn admin_routes_refuse_anonymous_callers_bad_tokens_and_non_admins() {
    let app = spawn_app().await;
    let body = json!({ "title": "t", "content": "c", "author": "a", "source_url": "https://e.org", "source_name": "e" });
    let resp = app
        .request(
            Method::POST,
            "/api/admin/articles",
            None,
            Some(body.clone()),
        )
        .await;
    let err = expect_json(resp, StatusCode::UNAUTHORIZED).await;
    assert_eq!(err["code"], "unauthorized");
    let resp = app
        .request(
            Method::POST,
            "/api/admin/articles",
            Some("wrong-token"),
            Some(body),
        )
        .await;
    expect_json(resp, StatusCode::UNAUTHORIZED).await;
    let resp = app
        .request(
            Method::GET,
            "/api/admin/articles",
            Some("wrong-token"),
            None,
        )
        .await;
    expect_json(resp, StatusCode::UNAUTHORIZED).await;
    assert!(
        app.admin_json(Method::GET, "/api/admin/articles", None, StatusCode::OK)
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_new_article_is_a_draft_with_a_generated_copyright_notice() {
    let app = spawn_app().await;
    let id = app
        .create_article(
            "New",
            json!({ "source_name": "InfoQ", "source_url": "https://infoq.cn/a/1" }),
        )
        .await;
    let article = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(article["status"], "draft");
    assert!(article["published_at"].is_null());
    let notice = article["copyright_notice"].as_str().unwrap();
    assert!(notice.contains("InfoQ") && notice.contains("https://infoq.cn/a/1"));

    let drafts = app
        .admin_json(
            Method::GET,
            "/api/admin/articles?status=draft",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(drafts["items"][0]["id"], id);
    let published = app
        .admin_json(
            Method::GET,
            "/api/admin/articles?status=published",
            None,
            StatusCode::OK,
        )
        .await;
    assert!(published["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn editing_changes_only_the_given_fields_and_null_clears() {
    let app = spawn_app().await;
    let cat = app.create_category("backend", "后端").await;
    let tag = app.create_tag("rust", "Rust").await;
    let id = app
        .published_article("Before", json!({ "cover_url": "https://img.example.org/a.png", "category_id": cat, "tag_ids": [tag] }))
        .await;
    let updated = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({ "title": "After", "cover_url": null, "tag_ids": [] })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(updated["title"], "After");
    assert!(updated["cover_url"].is_null());
    assert_eq!(updated["category"]["id"], cat, "an omitted field stays");
    assert!(updated["tags"].as_array().unwrap().is_empty());
    let public = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
    assert_eq!(
        public["title"], "After",
        "the public page shows the edit at once"
    );

    let err = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({ "source_url": "not a url" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "source_url");
    let err = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({ "category_id": 999999 })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "category_id");
    let err = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({ "tag_ids": [999999] })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "tag_ids");
    let unchanged = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
    assert_eq!(
        unchanged["source_url"], public["source_url"],
        "a refused edit changes nothing"
    );
    assert_eq!(unchanged["category"]["id"], cat);
}

#[tokio::test]
async fn creating_an_article_validates_every_field() {
    let app = spawn_app().await;
    let base = json!({ "title": "T", "content": "C", "author": "A", "source_url": "https://e.org", "source_name": "E" });
    for (field, value) in [
        ("title", json!("   ")),
        ("title", json!("x".repeat(201))),
        ("content", json!("")),
        ("author", json!("")),
        ("source_url", json!("ftp://e.org")),
        ("source_name", json!("")),
        ("cover_url", json!("javascript:alert(1)")),
        ("category_id", json!(424242)),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let err = app
            .admin_json(
                Method::POST,
                "/api/admin/articles",
                Some(body),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{err}");
    }
    let all = app
        .admin_json(Method::GET, "/api/admin/articles", None, StatusCode::OK)
        .await;
    assert!(
        all["items"].as_array().unwrap().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_scheduled_article_is_published_when_its_time_comes() {
    let app = spawn_app().await;
    let id = app.create_article("Later", json!({})).await;
    let past = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/articles/{id}/schedule"),
            Some(json!({ "publish_at": "2020-01-01T00:00:00Z" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(past["details"]["field"], "publish_at");
    let publish_at = chrono::Utc::now() + chrono::Duration::hours(1);
    let scheduled = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/articles/{id}/schedule"),
            Some(json!({ "publish_at": publish_at.to_rfc3339() })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(scheduled["status"], "scheduled");
    app.get_json(&format!("/api/articles/{id}"), StatusCode::NOT_FOUND)
        .await;

    let db = &app.state.db;
    let service = qshare::service::article_admin::publish_due;
    let rc = &app.state.read_cache;
    assert_eq!(
        service(db, rc, chrono::Utc::now()).await.unwrap(),
        0,
        "not yet due"
    );
    assert_eq!(
        service(db, rc, publish_at + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    let article = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
    assert_eq!(article["status"], "published");
    assert_eq!(
        article["published_at"].as_str().unwrap(),
        publish_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "it keeps the scheduled time"
    );
}

#[tokio::test]
async fn publish_unpublish_feature_and_delete_follow_the_rules() {
    let app = spawn_app().await;
    let id = app.create_article("Flow", json!({})).await;
    let err = app
        .admin_json(
            Method::PUT,
            &format!("/api/admin/articles/{id}/featured"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(err["code"], "not_published");

    app.publish(id).await;
    let first = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await["published_at"]
        .clone();
    app.publish(id).await;
    let again = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await["published_at"]
        .clone();
    assert_eq!(first, again, "publishing twice keeps the first time");

    app.feature(id).await;
    assert_eq!(app.collect_ids("/api/articles/featured").await, vec![id]);
    app.admin_json(
        Method::POST,
        &format!("/api/admin/articles/{id}/unpublish"),
        None,
        StatusCode::OK,
    )
    .await;
    app.get_json(&format!("/api/articles/{id}"), StatusCode::NOT_FOUND)
        .await;
    assert!(
        app.collect_ids("/api/articles/featured").await.is_empty(),
        "an unpublished article leaves 精选"
    );

    let resp = app
        .admin(Method::DELETE, &format!("/api/admin/articles/{id}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    app.admin_json(
        Method::GET,
        &format!("/api/admin/articles/{id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/articles/{id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.admin_json(
        Method::POST,
        "/api/admin/articles/424242/publish",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}
