//! The cached read path: freshness after writes (also across instances), view counting,
//! the hot ranking, one rebuild per missing entry, and reads without Redis.

use std::time::Duration;

use qshare::service::{hot, views};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_sharing, spawn_app_with, test_settings};

async fn title_in_feed(app: &TestApp) -> String {
    app.get_json("/api/articles", StatusCode::OK).await["items"][0]["title"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_edit_and_an_unfeature_are_visible_in_the_next_read() {
    let app = spawn_app().await;
    let id = app.published_article("Before", json!({})).await;
    app.feature(id).await;
    // Warm every cached read.
    assert_eq!(title_in_feed(&app).await, "Before");
    assert_eq!(
        app.get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await["title"],
        "Before"
    );
    assert_eq!(app.collect_ids("/api/articles/featured").await, vec![id]);
    assert_eq!(title_in_feed(&app).await, "Before", "served from the cache");

    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{id}"),
        Some(json!({ "title": "After" })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(title_in_feed(&app).await, "After");
    assert_eq!(
        app.get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await["title"],
        "After"
    );

    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/articles/{id}/featured"),
        None,
        StatusCode::OK,
    )
    .await;
    assert!(app.collect_ids("/api/articles/featured").await.is_empty());

    // A published comment changes the article's count in the cached reads.
    let token = app.user_token("reader").await;
    app.as_user(
        &token,
        Method::POST,
        &format!("/api/articles/{id}/comments"),
        Some(json!({ "content": "hi" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        app.get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await["comment_count"],
        1
    );
    assert_eq!(
        app.get_json("/api/articles", StatusCode::OK).await["items"][0]["comment_count"],
        1
    );

    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/articles/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.get_json(&format!("/api/articles/{id}"), StatusCode::NOT_FOUND)
        .await;
    assert!(
        app.get_json("/api/articles", StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn invalidation_reaches_a_second_instance_within_a_second() {
    let (settings, dir) = test_settings().await;
    let first = spawn_app_with(settings.clone(), dir).await;
    // Redis in CI: the second instance has its own connection to the same Redis. In-process:
    // both instances share one cache, as they would share one Redis.
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;

    let id = first.published_article("Original", json!({})).await;
    assert_eq!(title_in_feed(&second).await, "Original");
    assert_eq!(
        second
            .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await["title"],
        "Original"
    );

    first
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({ "title": "Edited" })),
            StatusCode::OK,
        )
        .await;
    let started = std::time::Instant::now();
    loop {
        let feed = title_in_feed(&second).await;
        let page = second
            .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await;
        if feed == "Edited" && page["title"] == "Edited" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the second instance still serves {feed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn views_count_once_per_viewer_per_hour_and_are_flushed_in_batches() {
    let app = spawn_app().await;
    let a = app.published_article("Viewed", json!({})).await;
    let b = app.published_article("Also viewed", json!({})).await;
    let token = app.user_token("viewer").await;
    for _ in 0..3 {
        app.get_json(&format!("/api/articles/{a}"), StatusCode::OK)
            .await;
    }
    app.as_user(
        &token,
        Method::GET,
        &format!("/api/articles/{a}"),
        None,
        StatusCode::OK,
    )
    .await;
    app.as_user(
        &token,
        Method::GET,
        &format!("/api/articles/{a}"),
        None,
        StatusCode::OK,
    )
    .await;
    app.get_json(&format!("/api/articles/{b}"), StatusCode::OK)
        .await;
    app.get_json("/api/articles/987654", StatusCode::NOT_FOUND)
        .await;

    let stored = |id: i64| {
        let db = app.state.db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT view_count FROM articles WHERE id = {id}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(stored(a).await, 0, "no SQL write per read");
    assert_eq!(views::flush(&app.state.db, app.cache()).await.unwrap(), 3);
    assert_eq!(stored(a).await, 2, "the IP once and the user once");
    assert_eq!(stored(b).await, 1);
    assert_eq!(
        views::flush(&app.state.db, app.cache()).await.unwrap(),
        0,
        "nothing is flushed twice"
    );
    app.get_json(&format!("/api/articles/{a}"), StatusCode::OK)
        .await;
    assert_eq!(
        views::flush(&app.state.db, app.cache()).await.unwrap(),
        0,
        "still within the hour"
    );
}

#[tokio::test]
async fn the_hot_list_follows_the_documented_formula() {
    let app = spawn_app().await;
    // (title, hours old, views, likes, comments, favourites)
    let crafted = [
        ("fresh and quiet", 1, 0, 0, 0, 0),
        ("old but loved", 240, 500, 80, 40, 30),
        ("popular today", 5, 300, 20, 10, 5),
        ("viewed a lot yesterday", 30, 2000, 0, 0, 0),
        ("liked a little", 12, 0, 10, 0, 0),
    ];
    let now = chrono::Utc::now();
    let settings = app.state.settings.hot.clone();
    let mut expected = Vec::new();
    for (title, hours, v, l, c, f) in crafted {
        let id = app.published_article(title, json!({})).await;
        let published = now - chrono::Duration::hours(hours);
        let db = &app.state.db;
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => "UPDATE articles SET published_at = $1, view_count = $2, like_count = $3, comment_count = $4, favorite_count = $5 WHERE id = $6",
                _ => "UPDATE articles SET published_at = ?, view_count = ?, like_count = ?, comment_count = ?, favorite_count = ? WHERE id = ?",
            },
            [published.into(), v.into(), l.into(), c.into(), f.into(), id.into()],
        ))
        .await
        .unwrap();
        expected.push((hot::score(&settings, v, l, c, f, hours as f64), id));
    }
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));
    let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();

    // Before any refresh the ranking is computed from SQL; after, it comes from the cache.
    let ids = |page: serde_json::Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(app.get_json("/api/articles/hot", StatusCode::OK).await),
        expected
    );
    let stored = hot::refresh(
        &app.state.db,
        app.cache(),
        &app.state.read_cache,
        &settings,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(stored, 5);
    assert_eq!(
        ids(app.get_json("/api/articles/hot", StatusCode::OK).await),
        expected
    );
    assert_eq!(
        ids(app
            .get_json("/api/articles/hot?limit=2", StatusCode::OK)
            .await),
        expected[..2].to_vec()
    );
    app.get_json("/api/articles/hot?limit=0", StatusCode::BAD_REQUEST)
        .await;

    // An unpublished article leaves the list at once, even before the next refresh.
    app.admin_json(
        Method::POST,
        &format!("/api/admin/articles/{}/unpublish", expected[0]),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ids(app.get_json("/api/articles/hot", StatusCode::OK).await),
        expected[1..].to_vec()
    );
}

#[tokio::test]
async fn a_missing_entry_is_rebuilt_once_while_concurrent_readers_wait() {
    let app = spawn_app().await;
    let id = app.published_article("Stampede", json!({})).await;
    app.state.read_cache.invalidate().await;
    let before = app.state.read_cache.stats();
    let path = format!("/api/articles/{id}");
    let requests = (0..30).map(|_| app.get(&path));
    for resp in futures_util::future::join_all(requests).await {
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let after = app.state.read_cache.stats();
    assert_eq!(after.misses - before.misses, 1, "one rebuild");
    assert_eq!(after.hits - before.hits, 29);
}

#[tokio::test]
async fn public_reads_answer_from_sql_when_redis_is_down() {
    let (mut settings, dir) = test_settings().await;
    // Port 1 on loopback is closed: Redis is down from the start.
    settings.cache.redis_url = Some("redis://127.0.0.1:1".into());
    let app = spawn_app_with(settings, dir).await;
    let category = app.create_category("backend", "后端").await;
    let id = app
        .published_article("Still served", json!({ "category_id": category }))
        .await;
    app.feature(id).await;
    let token = app.user_token("reader").await;
    app.as_user(
        &token,
        Method::POST,
        &format!("/api/articles/{id}/comments"),
        Some(json!({ "content": "works" })),
        StatusCode::CREATED,
    )
    .await;
    app.admin_json(
        Method::POST,
        "/api/admin/resources",
        Some(json!({ "name": "Neovim", "homepage": "https://neovim.io", "category": "editor" })),
        StatusCode::CREATED,
    )
    .await;

    for path in [
        "/api/articles".to_string(),
        "/api/articles?category=backend".to_string(),
        "/api/articles/featured".to_string(),
        "/api/articles/hot".to_string(),
        format!("/api/articles/{id}"),
        format!("/api/articles/{id}/related"),
        format!("/api/articles/{id}/comments"),
        "/api/categories".to_string(),
        "/api/tags".to_string(),
        "/api/resources".to_string(),
        "/api/guestbook".to_string(),
    ] {
        app.get_json(&path, StatusCode::OK).await;
    }
    assert_eq!(
        app.get_json("/api/articles/hot", StatusCode::OK).await["items"][0]["id"],
        id
    );
    // Writes go on, and the next read shows them.
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{id}"),
        Some(json!({ "title": "Edited" })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get_json(&format!("/api/articles/{id}"), StatusCode::OK)
            .await["title"],
        "Edited"
    );
    let ready = app.get_json("/readyz", StatusCode::OK).await;
    assert_eq!(ready["status"], "degraded");
    assert!(app.cache().error_count() > 0, "failures are counted");
}

#[tokio::test]
async fn a_cached_read_answers_exactly_what_the_handler_built() {
    let app = spawn_app().await;
    let id = app.published_article("Same bytes", json!({})).await;
    app.feature(id).await;
    for path in [
        "/api/articles",
        "/api/articles?limit=5",
        "/api/articles/featured",
        "/api/articles/hot",
        &format!("/api/articles/{id}"),
    ] {
        let built = app.get(path).await;
        let built_type = built.headers()["content-type"].clone();
        let built_body = built.bytes().await.unwrap();
        let before = app.state.read_cache.stats().hits;
        let cached = app.get(path).await;
        assert_eq!(cached.status(), StatusCode::OK);
        assert_eq!(cached.headers()["content-type"], built_type, "{path}");
        assert_eq!(cached.bytes().await.unwrap(), built_body, "{path}");
        assert!(
            app.state.read_cache.stats().hits > before,
            "{path} was served from the cache"
        );
    }
}
