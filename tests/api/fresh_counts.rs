//! Counts a reader changes (likes, favourites, comments, moderation) show on the next read
//! of the article page and of the lists that show the article, on every instance, without
//! rebuilding the cached reads of other articles; and the reader's own article state.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_sharing, spawn_app_with, test_settings};

async fn page(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await
}

async fn in_list(app: &TestApp, list: &str, id: i64) -> Value {
    let page = app.get_json(list, StatusCode::OK).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// `field` of article `id` on its page and in the feed and the hot list.
async fn counts(app: &TestApp, id: i64, field: &str) -> [i64; 3] {
    [
        page(app, id).await[field].as_i64().unwrap(),
        in_list(app, "/api/articles", id).await[field]
            .as_i64()
            .unwrap(),
        in_list(app, "/api/articles/hot", id).await[field]
            .as_i64()
            .unwrap(),
    ]
}

/// The other instance hears of a change through the change signal: milliseconds.
async fn eventually(app: &TestApp, id: i64, field: &str, expected: i64) {
    let started = Instant::now();
    loop {
        let seen = counts(app, id, field).await;
        if seen == [expected; 3] {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{field} on the second instance: {seen:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn likes_comments_and_moderation_show_on_the_next_read_on_both_instances() {
    let (settings, dir) = test_settings().await;
    let first = spawn_app_with(settings.clone(), dir).await;
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    let id = first.published_article("Counted", json!({})).await;
    let other = first.published_article("Untouched", json!({})).await;
    let token = first.user_token("counter").await;
    for app in [&first, &second] {
        assert_eq!(counts(app, id, "like_count").await, [0, 0, 0]);
        page(app, other).await;
    }

    let like = format!("/api/articles/{id}/like");
    for (method, expected) in [(Method::PUT, 1), (Method::DELETE, 0), (Method::PUT, 1)] {
        first
            .as_user(&token, method, &like, None, StatusCode::OK)
            .await;
        assert_eq!(counts(&first, id, "like_count").await, [expected; 3]);
        eventually(&second, id, "like_count", expected).await;
    }
    first
        .as_user(
            &token,
            Method::PUT,
            &format!("/api/articles/{id}/favorite"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(counts(&first, id, "favorite_count").await, [1; 3]);
    eventually(&second, id, "favorite_count", 1).await;

    let comment = first
        .as_user(
            &token,
            Method::POST,
            &format!("/api/articles/{id}/comments"),
            Some(json!({ "content": "counted" })),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(counts(&first, id, "comment_count").await, [1; 3]);
    eventually(&second, id, "comment_count", 1).await;

    let comment_id = comment["id"].as_i64().unwrap();
    first
        .admin_json(
            Method::POST,
            &format!("/api/admin/comments/{comment_id}/hide"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(counts(&first, id, "comment_count").await, [0; 3]);
    eventually(&second, id, "comment_count", 0).await;

    // The other article's page was never rebuilt: its read is a hit on both instances.
    for app in [&first, &second] {
        let misses = app.state.read_cache.stats().misses;
        page(app, other).await;
        assert_eq!(app.state.read_cache.stats().misses, misses);
    }
}

#[tokio::test]
async fn a_change_during_a_build_is_not_kept_in_the_cache() {
    // Many likes racing many cold reads: whatever the interleaving, once the writes are
    // done the next read shows the final count (no entry built before a change survives it).
    let app = spawn_app().await;
    let id = app.published_article("Raced counts", json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(app.user_token(&format!("racer{i}")).await);
    }
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let client = app.client.clone();
            let urls = [
                app.url(&format!("/api/articles/{id}")),
                app.url("/api/articles"),
            ];
            tokio::spawn(async move {
                for _ in 0..40 {
                    for url in &urls {
                        client.get(url).send().await.unwrap();
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = tokens
        .iter()
        .map(|token| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/articles/{id}/like"));
            let token = token.clone();
            tokio::spawn(async move {
                let resp = client.put(url).bearer_auth(token).send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
            })
        })
        .collect();
    for task in writers.into_iter().chain(readers) {
        task.await.unwrap();
    }
    assert_eq!(counts(&app, id, "like_count").await, [8; 3]);
}

#[tokio::test]
async fn my_article_state_says_liked_favorited_and_read() {
    let app = spawn_app().await;
    let id = app.published_article("Mine", json!({})).await;
    let token = app.user_token("stateful").await;
    let state_path = format!("/api/me/articles/{id}/state");
    let state = app
        .as_user(&token, Method::GET, &state_path, None, StatusCode::OK)
        .await;
    assert_eq!(
        state,
        json!({ "article_id": id, "liked": false, "favorited": false, "read": false })
    );

    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{id}/like"),
        None,
        StatusCode::OK,
    )
    .await;
    app.as_user(
        &token,
        Method::GET,
        &format!("/api/articles/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    let state = app
        .as_user(&token, Method::GET, &state_path, None, StatusCode::OK)
        .await;
    assert_eq!(
        state,
        json!({ "article_id": id, "liked": true, "favorited": false, "read": true })
    );
    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{id}/favorite"),
        None,
        StatusCode::OK,
    )
    .await;
    let state = app
        .as_user(&token, Method::GET, &state_path, None, StatusCode::OK)
        .await;
    assert_eq!(state["favorited"], true);

    // Someone else's state is their own.
    let other = app.user_token("stateless").await;
    let state = app
        .as_user(&other, Method::GET, &state_path, None, StatusCode::OK)
        .await;
    assert_eq!(state["liked"], false);
    assert_eq!(state["read"], false);

    app.as_user(
        &token,
        Method::GET,
        "/api/me/articles/999999/state",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let anonymous = app.get(&state_path).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
