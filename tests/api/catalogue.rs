//! Public taxonomy, resources and the app update check.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn categories_and_tags_count_only_published_articles() {
    let app = spawn_app().await;
    let backend = app.create_category("backend", "后端").await;
    let ai = app.create_category("ai", "AI").await;
    let rust = app.create_tag("rust", "Rust").await;
    app.published_article("One", json!({ "category_id": backend, "tag_ids": [rust] }))
        .await;
    app.published_article("Two", json!({ "category_id": backend, "tag_ids": [rust] }))
        .await;
    app.create_article("Draft", json!({ "category_id": ai, "tag_ids": [rust] }))
        .await;

    let categories = app.get_json("/api/categories", StatusCode::OK).await;
    let items = categories["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let count = |slug: &str| {
        items.iter().find(|c| c["slug"] == slug).unwrap()["article_count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(count("backend"), 2);
    assert_eq!(count("ai"), 0);

    let tags = app.get_json("/api/tags", StatusCode::OK).await;
    assert_eq!(tags["items"][0]["slug"], "rust");
    assert_eq!(tags["items"][0]["article_count"], 2);
}

async fn create_resource(app: &crate::helpers::TestApp, name: &str, category: &str) -> i64 {
    let body = json!({
        "name": name,
        "summary": format!("{name} summary"),
        "homepage": "https://example.org",
        "category": category,
        "version": "1.0",
        "license": "MIT",
        "download_links": [{ "platform": "linux", "url": "https://example.org/dl" }],
    });
    app.admin_json(
        Method::POST,
        "/api/admin/resources",
        Some(body),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn resources_page_to_the_end_and_filter_by_category_and_words() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let category = if i % 2 == 0 { "editor" } else { "os" };
        ids.push(create_resource(&app, &format!("Tool {i}"), category).await);
    }
    ids.reverse();
    assert_eq!(app.collect_ids("/api/resources?limit=3").await, ids);
    let editors = app.collect_ids("/api/resources?category=editor").await;
    assert_eq!(editors, vec![ids[0], ids[2], ids[4], ids[6]]);
    assert_eq!(
        app.collect_ids("/api/resources?q=tool%203").await,
        vec![ids[3]]
    );

    let one = app
        .get_json(&format!("/api/resources/{}", ids[0]), StatusCode::OK)
        .await;
    assert_eq!(one["name"], "Tool 6");
    assert_eq!(one["download_links"][0]["platform"], "linux");
    assert_eq!(one["download_links"][0]["url"], "https://example.org/dl");
    assert_eq!(one["homepage"], "https://example.org");

    let missing = app
        .get_json("/api/resources/999999", StatusCode::NOT_FOUND)
        .await;
    assert_eq!(missing["message"], "resource not found");
}

#[tokio::test]
async fn the_update_check_compares_semantic_versions() {
    let app = spawn_app().await;
    for (version, minimum) in [("1.9.0", "1.0.0"), ("2.10.0", "2.0.0"), ("2.2.0", "2.0.0")] {
        app.admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(json!({
                "platform": "android", "version": version, "min_supported_version": minimum,
                "size_bytes": 1000, "download_url": "https://example.org/app.apk", "notes": "n"
            })),
            StatusCode::CREATED,
        )
        .await;
    }
    let check = |v: &str| format!("/api/app/release?platform=android&version={v}");

    // 2.10.0 is newer than 2.2.0 although created earlier and smaller as text.
    let latest = app.get_json(&check("2.10.0"), StatusCode::OK).await;
    assert_eq!(latest["latest_version"], "2.10.0");
    assert_eq!(latest["update"], "none");
    assert_eq!(
        app.get_json(&check("3.0.0"), StatusCode::OK).await["update"],
        "none"
    );
    assert_eq!(
        app.get_json(&check("2.9.9"), StatusCode::OK).await["update"],
        "optional"
    );
    assert_eq!(
        app.get_json(&check("2.0.0"), StatusCode::OK).await["update"],
        "optional"
    );
    let required = app.get_json(&check("1.9.9"), StatusCode::OK).await;
    assert_eq!(required["update"], "required");
    assert_eq!(required["min_supported_version"], "2.0.0");
    assert_eq!(required["download_url"], "https://example.org/app.apk");

    let bad = app.get_json(&check("two"), StatusCode::BAD_REQUEST).await;
    assert_eq!(bad["details"]["field"], "version");
    let bad = app
        .get_json(
            "/api/app/release?platform=windows&version=1.0.0",
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(bad["details"]["field"], "platform");
    app.get_json("/api/app/release?platform=android", StatusCode::BAD_REQUEST)
        .await;
    let none = app
        .get_json(
            "/api/app/release?platform=ios&version=1.0.0",
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(none["code"], "not_found");
}
