//! Public article reads: feed, filters, pagination, featured, detail, related.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_feed_lists_published_articles_newest_first_with_their_taxonomy() {
    let app = spawn_app().await;
    let rust = app.create_tag("rust", "Rust").await;
    let backend = app.create_category("backend", "后端").await;
    let first = app
        .published_article(
            "第一篇",
            json!({ "category_id": backend, "tag_ids": [rust] }),
        )
        .await;
    let second = app.published_article("Second", json!({})).await;

    let page = app.get_json("/api/articles", StatusCode::OK).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], second);
    assert_eq!(items[1]["id"], first);
    assert_eq!(items[1]["category"]["slug"], "backend");
    assert_eq!(items[1]["tags"][0]["slug"], "rust");
    assert_eq!(items[1]["title"], "第一篇");
    assert!(
        items[0].get("content").is_none(),
        "lists do not carry the body"
    );
    assert!(page["next_cursor"].is_null());
    let published_at = items[0]["published_at"].as_str().unwrap();
    assert!(
        published_at.ends_with('Z') && published_at.len() == 24,
        "RFC 3339 UTC with millis: {published_at}"
    );
}

#[tokio::test]
async fn paging_through_the_feed_returns_every_article_exactly_once_in_order() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..23 {
        expected.push(
            app.published_article(&format!("Article {i}"), json!({}))
                .await,
        );
    }
    expected.reverse();

    let ids = app.collect_ids("/api/articles?limit=5").await;
    assert_eq!(ids, expected);
    let ids = app.collect_ids("/api/articles?limit=23").await;
    assert_eq!(ids, expected);
    let first = app.get_json("/api/articles?limit=23", StatusCode::OK).await;
    assert!(
        first["next_cursor"].is_null(),
        "an exactly full last page has no next cursor"
    );
}

#[tokio::test]
async fn articles_published_in_the_same_millisecond_page_without_gaps() {
    let app = spawn_app().await;
    qshare::service::demo_content::seed_bulk(&app.state.db, 30)
        .await
        .unwrap();
    // Give ten of them one shared publication time to exercise the id tiebreak.
    use sea_orm::ConnectionTrait;
    app.state
        .db
        .execute_unprepared("UPDATE articles SET published_at = (SELECT MAX(published_at) FROM articles) WHERE id <= 10")
        .await
        .unwrap();
    let ids = app.collect_ids("/api/articles?limit=4").await;
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids.len(), 30);
    assert_eq!(sorted.len(), 30, "no duplicates");
    // Article 30 was already the newest; 1..=10 now share its time.
    assert_eq!(
        &ids[..11],
        &[30, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
        "ties are ordered by id, newest first"
    );
}

#[tokio::test]
async fn the_feed_filters_by_category_tag_and_search_words() {
    let app = spawn_app().await;
    let backend = app.create_category("backend", "后端").await;
    let ai = app.create_category("ai", "人工智能").await;
    let rust = app.create_tag("rust", "Rust").await;
    let cache = app.create_tag("cache", "缓存").await;
    let a = app
        .published_article(
            "Rust 异步编程",
            json!({ "category_id": backend, "tag_ids": [rust] }),
        )
        .await;
    let b = app
        .published_article(
            "Redis cache patterns",
            json!({ "category_id": backend, "tag_ids": [cache] }),
        )
        .await;
    let c = app
        .published_article(
            "LLM evaluation",
            json!({ "category_id": ai, "tag_ids": [rust, cache] }),
        )
        .await;

    assert_eq!(
        app.collect_ids("/api/articles?category=backend").await,
        vec![b, a]
    );
    assert_eq!(app.collect_ids("/api/articles?tag=rust").await, vec![c, a]);
    assert_eq!(
        app.collect_ids("/api/articles?category=backend&tag=rust")
            .await,
        vec![a]
    );
    assert_eq!(
        app.collect_ids("/api/articles?q=CACHE").await,
        vec![b],
        "search ignores case"
    );
    assert_eq!(
        app.collect_ids("/api/articles?q=%E5%BC%82%E6%AD%A5").await,
        vec![a],
        "Chinese words match"
    );
    assert_eq!(
        app.collect_ids("/api/articles?q=Summary%20of%20LLM").await,
        vec![c],
        "summaries are searched"
    );
    assert!(
        app.collect_ids("/api/articles?q=%25").await.is_empty(),
        "% is taken literally"
    );
    assert!(
        app.collect_ids("/api/articles?category=nope")
            .await
            .is_empty()
    );
    assert!(app.collect_ids("/api/articles?tag=nope").await.is_empty());
    assert_eq!(
        app.collect_ids("/api/articles?tag=cache&limit=1").await,
        vec![c, b],
        "filters page too"
    );
}

#[tokio::test]
async fn drafts_and_scheduled_articles_are_invisible_to_the_public() {
    let app = spawn_app().await;
    let visible = app.published_article("Visible", json!({})).await;
    let hidden_category = app.create_category("hidden", "Hidden").await;
    let draft = app
        .create_article("Draft", json!({ "category_id": hidden_category }))
        .await;
    let scheduled = app.create_article("Scheduled", json!({})).await;
    app.admin_json(
        Method::POST,
        &format!("/api/admin/articles/{scheduled}/schedule"),
        Some(json!({ "publish_at": "2099-01-01T00:00:00Z" })),
        StatusCode::OK,
    )
    .await;
    app.feature(scheduled).await;

    assert_eq!(app.collect_ids("/api/articles").await, vec![visible]);
    assert!(app.collect_ids("/api/articles/featured").await.is_empty());
    for hidden in [draft, scheduled] {
        let body = app
            .get_json(&format!("/api/articles/{hidden}"), StatusCode::NOT_FOUND)
            .await;
        assert_eq!(body["code"], "not_found");
        app.get_json(
            &format!("/api/articles/{hidden}/related"),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let categories = app.get_json("/api/categories", StatusCode::OK).await;
    assert_eq!(categories["items"][0]["slug"], "hidden");
    assert_eq!(
        categories["items"][0]["article_count"], 0,
        "drafts are not counted"
    );
}

#[tokio::test]
async fn an_article_page_shows_its_content_source_and_copyright_notice() {
    let app = spawn_app().await;
    let id = app
        .published_article(
            "原文链接测试",
            json!({ "source_url": "https://blog.example.org/post/1", "source_name": "Example Blog", "cover_url": "https://img.example.org/c.png" }),
        )
        .await;
    let article = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
    assert_eq!(article["title"], "原文链接测试");
    assert_eq!(article["content"], "# 原文链接测试\n\nBody.");
    assert_eq!(article["source_url"], "https://blog.example.org/post/1");
    assert_eq!(article["source_name"], "Example Blog");
    assert_eq!(article["cover_url"], "https://img.example.org/c.png");
    let notice = article["copyright_notice"].as_str().unwrap();
    assert!(
        notice.contains("Example Blog") && notice.contains("https://blog.example.org/post/1"),
        "{notice}"
    );
    assert_eq!(article["status"], "published");
    for counter in [
        "view_count",
        "like_count",
        "comment_count",
        "favorite_count",
    ] {
        assert_eq!(article[counter], 0);
    }
}

#[tokio::test]
async fn a_missing_article_is_a_404_in_the_error_shape() {
    let app = spawn_app().await;
    let body = app
        .get_json("/api/articles/987654", StatusCode::NOT_FOUND)
        .await;
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["message"], "article not found");
}

#[tokio::test]
async fn the_featured_list_follows_featuring_order_and_unfeature_removes_an_article() {
    let app = spawn_app().await;
    let a = app.published_article("A", json!({})).await;
    let b = app.published_article("B", json!({})).await;
    let c = app.published_article("C", json!({})).await;
    app.feature(b).await;
    app.feature(a).await;
    app.feature(c).await;
    assert_eq!(
        app.collect_ids("/api/articles/featured?limit=2").await,
        vec![c, a, b]
    );

    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/articles/{a}/featured"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.collect_ids("/api/articles/featured").await, vec![c, b]);
    let article = app
        .get_json(&format!("/api/articles/{a}"), StatusCode::OK)
        .await;
    assert_eq!(article["featured"], false);
    assert!(article["featured_at"].is_null());

    // Featuring again keeps the original time, so the order does not change.
    let before = app
        .get_json(&format!("/api/articles/{b}"), StatusCode::OK)
        .await["featured_at"]
        .clone();
    app.feature(b).await;
    let after = app
        .get_json(&format!("/api/articles/{b}"), StatusCode::OK)
        .await["featured_at"]
        .clone();
    assert_eq!(before, after);
}

#[tokio::test]
async fn related_articles_prefer_shared_tags_then_the_category_then_recency() {
    let app = spawn_app().await;
    let backend = app.create_category("backend", "后端").await;
    let rust = app.create_tag("rust", "Rust").await;
    let db = app.create_tag("db", "DB").await;
    let source = app
        .published_article(
            "Source",
            json!({ "category_id": backend, "tag_ids": [rust, db] }),
        )
        .await;
    let two_tags = app
        .published_article("Two tags", json!({ "tag_ids": [rust, db] }))
        .await;
    let same_category = app
        .published_article("Same category", json!({ "category_id": backend }))
        .await;
    let one_tag = app
        .published_article("One tag", json!({ "tag_ids": [db] }))
        .await;
    let unrelated = app.published_article("Unrelated", json!({})).await;
    let draft = app
        .create_article("Draft with tags", json!({ "tag_ids": [rust, db] }))
        .await;

    let related = app
        .get_json(
            &format!("/api/articles/{source}/related?limit=10"),
            StatusCode::OK,
        )
        .await;
    let ids: Vec<i64> = related["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![two_tags, one_tag, same_category, unrelated]);
    assert!(!ids.contains(&draft) && !ids.contains(&source));

    let related = app
        .get_json(
            &format!("/api/articles/{source}/related?limit=2"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(related["items"].as_array().unwrap().len(), 2);
    app.get_json(
        &format!("/api/articles/{source}/related?limit=21"),
        StatusCode::BAD_REQUEST,
    )
    .await;
}
