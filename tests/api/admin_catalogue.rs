//! Admin CRUD of categories, tags, resources and app releases.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn categories_are_created_edited_and_deleted_with_unique_slugs() {
    let app = spawn_app().await;
    let id = app.create_category("backend", "后端").await;
    let dup = app
        .admin_json(
            Method::POST,
            "/api/admin/categories",
            Some(json!({ "slug": "backend", "name": "x" })),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(dup["code"], "slug_taken");
    let bad = app
        .admin_json(
            Method::POST,
            "/api/admin/categories",
            Some(json!({ "slug": "Back End", "name": "x" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(bad["details"]["field"], "slug");
    let missing = app
        .admin_json(
            Method::POST,
            "/api/admin/categories",
            Some(json!({ "slug": "x" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(missing["details"]["field"], "name");

    let article = app
        .published_article("In backend", json!({ "category_id": id }))
        .await;
    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/categories/{id}"),
            Some(json!({ "name": "服务端", "sort_order": 5 })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["name"], "服务端");
    assert_eq!(edited["slug"], "backend");
    assert_eq!(edited["article_count"], 1);

    let other = app.create_category("other", "Other").await;
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/categories/{other}"),
        Some(json!({ "slug": "backend" })),
        StatusCode::CONFLICT,
    )
    .await;

    let resp = app
        .admin(Method::DELETE, &format!("/api/admin/categories/{id}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let page = app
        .get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await;
    assert!(
        page["category"].is_null(),
        "the article stays, uncategorised"
    );
    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/categories/{id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn deleting_a_tag_removes_it_from_its_articles() {
    let app = spawn_app().await;
    let tag = app.create_tag("rust", "Rust").await;
    let article = app
        .published_article("Tagged", json!({ "tag_ids": [tag] }))
        .await;
    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/tags/{tag}"),
            Some(json!({ "name": "Rust 语言" })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["name"], "Rust 语言");
    assert_eq!(edited["article_count"], 1);
    app.admin_json(
        Method::POST,
        "/api/admin/tags",
        Some(json!({ "slug": "rust", "name": "again" })),
        StatusCode::CONFLICT,
    )
    .await;

    let resp = app
        .admin(Method::DELETE, &format!("/api/admin/tags/{tag}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let page = app
        .get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await;
    assert!(page["tags"].as_array().unwrap().is_empty());
    assert!(
        app.get_json("/api/tags", StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn resources_are_validated_edited_and_deleted() {
    let app = spawn_app().await;
    let base = json!({ "name": "Neovim", "homepage": "https://neovim.io", "category": "editor" });
    let created = app
        .admin_json(
            Method::POST,
            "/api/admin/resources",
            Some(base.clone()),
            StatusCode::CREATED,
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    assert!(created["download_links"].as_array().unwrap().is_empty());

    for (field, value, expected_field) in [
        ("homepage", json!("neovim.io"), "homepage"),
        ("name", json!(""), "name"),
        (
            "download_links",
            json!([{ "platform": "linux", "url": "file:///etc/passwd" }]),
            "download_links.url",
        ),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let err = app
            .admin_json(
                Method::POST,
                "/api/admin/resources",
                Some(body),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], expected_field);
    }

    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/resources/{id}"),
            Some(json!({ "version": "0.10.2", "download_links": [{ "platform": "macos", "url": "https://neovim.io/dl", "label": "Apple Silicon" }] })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["version"], "0.10.2");
    assert_eq!(edited["name"], "Neovim");
    assert_eq!(edited["download_links"][0]["label"], "Apple Silicon");

    let resp = app
        .admin(Method::DELETE, &format!("/api/admin/resources/{id}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    app.get_json(&format!("/api/resources/{id}"), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(app.collect_ids("/api/resources").await, Vec::<i64>::new());
}

#[tokio::test]
async fn app_releases_are_unique_per_platform_and_version() {
    let app = spawn_app().await;
    let body = json!({ "platform": "ios", "version": "1.2.0", "download_url": "https://apps.example.com/q" });
    let created = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(body.clone()),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        created["min_supported_version"], "1.2.0",
        "defaults to the version itself"
    );
    let dup = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(body),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(dup["code"], "release_exists");
    let android = json!({ "platform": "android", "version": "1.2.0", "download_url": "https://apps.example.com/a" });
    app.admin_json(
        Method::POST,
        "/api/admin/app/releases",
        Some(android),
        StatusCode::CREATED,
    )
    .await;

    let bad = json!({ "platform": "ios", "version": "1.3.0", "min_supported_version": "2.0.0", "download_url": "https://a.example.com" });
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(bad),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "min_supported_version");
    let bad =
        json!({ "platform": "ios", "version": "1.3", "download_url": "https://a.example.com" });
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(bad),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "version");

    let id = created["id"].as_i64().unwrap();
    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/app/releases/{id}"),
            Some(json!({ "notes": "修复崩溃", "size_bytes": 42 })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["notes"], "修复崩溃");
    assert_eq!(edited["size_bytes"], 42);
    let list = app
        .admin_json(
            Method::GET,
            "/api/admin/app/releases?platform=ios",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let resp = app
        .admin(
            Method::DELETE,
            &format!("/api/admin/app/releases/{id}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    app.get_json(
        "/api/app/release?platform=ios&version=1.0.0",
        StatusCode::NOT_FOUND,
    )
    .await;
}
