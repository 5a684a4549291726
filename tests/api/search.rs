//! `GET /api/search` and `/api/search/suggest`: ranking, highlights, filters, paging, bad
//! queries, and the index's freshness across instances and its rebuild from SQL.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, spawn_app, spawn_app_keeping_index, spawn_app_sharing, spawn_app_with, test_settings,
};

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn search(app: &TestApp, q: &str) -> Value {
    app.get_json(&format!("/api/search?q={}", encode(q)), StatusCode::OK)
        .await
}

pub fn hit_ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["article"]["id"].as_i64().unwrap())
        .collect()
}

/// Polls `q` on `app` until `done` holds, failing after `within`.
async fn eventually(app: &TestApp, q: &str, within: Duration, done: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let page = search(app, q).await;
        if done(&page) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "not within {within:?} on {}: {page}",
            app.address
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_title_matches_first_and_marks_what_matched() {
    let app = spawn_app().await;
    let backend = app.create_category("backend", "后端").await;
    let redis = app.create_tag("redis", "Redis").await;
    let body_only = app
        .published_article(
            "Weekly notes",
            json!({ "summary": "Odds and ends", "content": "We moved the session cache to Redis last week." }),
        )
        .await;
    let titled = app
        .published_article(
            "Redis 缓存失效策略",
            json!({ "summary": "过期与淘汰", "category_id": backend, "tag_ids": [redis] }),
        )
        .await;
    app.published_article("Unrelated", json!({ "summary": "Nothing here" }))
        .await;

    let page = search(&app, "redis").await;
    assert_eq!(hit_ids(&page), vec![titled, body_only], "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["total_exact"], true);
    assert_eq!(page["relaxed"], false);
    let first = &page["items"][0];
    assert_eq!(first["title_highlight"], "<mark>Redis</mark> 缓存失效策略");
    // The default body repeats the title.
    assert_eq!(first["matched_fields"], json!(["title", "body", "tags"]));
    let second = &page["items"][1];
    assert_eq!(second["matched_fields"], json!(["body"]));
    assert!(
        second["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Redis</mark>"),
        "a body match shows the body fragment: {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matched_fields_hold_prefix_matches_and_words_a_prefix_stands_for_in_bulk() {
    let app = spawn_app().await;
    let typed = app
        .published_article(
            "Weekly notes",
            json!({ "summary": "Odds and ends", "content": "Our Kubernetes upgrade went fine." }),
        )
        .await;
    // 80 different pairs start with 哈 here: more than the index is asked about one by one.
    let many: String = (0x4E00..0x4E50)
        .filter_map(char::from_u32)
        .map(|c| format!("哈{c}"))
        .collect();
    let lone = app
        .published_article(
            "Another note",
            json!({ "summary": "Nothing special", "content": many }),
        )
        .await;

    let page = search(&app, "kubern").await;
    assert_eq!(hit_ids(&page), vec![typed], "{page}");
    let hit = &page["items"][0];
    assert_eq!(hit["matched_fields"], json!(["body"]), "{page}");
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Kubernetes</mark>"),
        "{page}"
    );

    let page = search(&app, "哈").await;
    assert_eq!(hit_ids(&page), vec![lone], "{page}");
    let hit = &page["items"][0];
    assert_eq!(hit["matched_fields"], json!(["body"]), "{page}");
    assert!(
        hit["snippet"].as_str().unwrap().contains("<mark>"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_words_must_match_unless_none_does_then_any_word_ranks_lower() {
    let app = spawn_app().await;
    let both = app
        .published_article("Redis cache patterns", json!({}))
        .await;
    let one = app.published_article("Redis cluster", json!({})).await;

    let page = search(&app, "redis cache").await;
    assert_eq!(hit_ids(&page), vec![both], "AND first: {page}");
    assert_eq!(page["relaxed"], false);

    let page = search(&app, "redis zookeeper").await;
    assert_eq!(page["relaxed"], true, "{page}");
    let ids = hit_ids(&page);
    assert!(ids.contains(&both) && ids.contains(&one), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_and_tag_filters_and_the_cursor_page_through_results() {
    let app = spawn_app().await;
    let backend = app.create_category("backend", "后端").await;
    let rust = app.create_tag("rust", "Rust").await;
    let mut tagged = Vec::new();
    for i in 0..5 {
        tagged.push(
            app.published_article(
                &format!("Rust async part {i}"),
                json!({ "category_id": backend, "tag_ids": [rust] }),
            )
            .await,
        );
    }
    let other = app.published_article("Rust without tags", json!({})).await;

    let mut all = app.collect_search_ids("/api/search?q=rust&limit=2").await;
    all.sort_unstable();
    let mut expected = tagged.clone();
    expected.push(other);
    expected.sort_unstable();
    assert_eq!(all, expected, "paging returns every hit once");

    let mut by_tag = app.collect_search_ids("/api/search?q=rust&tag=rust").await;
    by_tag.sort_unstable();
    assert_eq!(by_tag, tagged);
    let by_category = app
        .collect_search_ids("/api/search?q=rust&category=backend")
        .await;
    assert_eq!(by_category.len(), 5);
    assert!(
        app.collect_search_ids("/api/search?q=rust&category=nope")
            .await
            .is_empty()
    );
}

impl TestApp {
    async fn collect_search_ids(&self, path: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={c}"),
                None => path.to_string(),
            };
            let page = self.get_json(&url, StatusCode::OK).await;
            ids.extend(hit_ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return ids,
            }
            assert!(ids.len() < 1000, "paging does not end");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_answer_400_or_a_literal_search_never_500() {
    let app = spawn_app().await;
    let id = app
        .published_article("title OR x", json!({ "summary": "quotes \"here\"" }))
        .await;

    for q in ["", "   "] {
        let body = app
            .get_json(
                &format!("/api/search?q={}", encode(q)),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(body["details"]["field"], "q", "{body}");
    }
    app.get_json("/api/search", StatusCode::BAD_REQUEST).await;
    let long = "a".repeat(10 * 1024);
    let body = app
        .get_json(&format!("/api/search?q={long}"), StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(body["details"]["field"], "q");
    for q in ["!!!", "%", "\"", "((", "*", "~~", "。，、"] {
        let page = search(&app, q).await;
        assert_eq!(page["total"], 0, "{q:?}: {page}");
    }
    // Query syntax is text: these are words, found literally.
    for q in [
        "title:x OR",
        "\"title OR x",
        "title AND NOT x",
        "x^10 title~2",
    ] {
        let page = search(&app, q).await;
        assert!(hit_ids(&page).contains(&id), "{q:?}: {page}");
    }
    for path in [
        "/api/search?q=x&limit=0",
        "/api/search?q=x&limit=101",
        "/api/search?q=x&cursor=nope",
        "/api/search/suggest?q=",
    ] {
        app.get_json(path, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_offer_tags_and_titles_for_a_prefix() {
    let app = spawn_app().await;
    let k8s = app.create_tag("kubernetes", "Kubernetes").await;
    let id = app
        .published_article(
            "Kubernetes deployment strategies",
            json!({ "tag_ids": [k8s] }),
        )
        .await;
    let zh = app.published_article("负载均衡配置指南", json!({})).await;

    let body = app
        .get_json("/api/search/suggest?q=kube", StatusCode::OK)
        .await;
    let items = body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "tag" && i["slug"] == "kubernetes"),
        "{body}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "title" && i["article_id"] == id),
        "{body}"
    );
    let body = app
        .get_json(
            &format!("/api/search/suggest?q={}", encode("负载")),
            StatusCode::OK,
        )
        .await;
    assert_eq!(body["items"][0]["article_id"], zh, "{body}");
    assert!(body["items"].as_array().unwrap().len() <= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_q_is_served_by_the_search_engine() {
    let app = spawn_app().await;
    let id = app.published_article("Java 并发与安全", json!({})).await;
    // The old substring filter found nothing for words apart or in another order.
    assert_eq!(
        app.collect_ids(&format!("/api/articles?q={}", encode("java 安全")))
            .await,
        vec![id]
    );
}

/// Publish, edit, unpublish and delete on one instance; the other's index follows within a
/// second (each instance has its own index).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_sees_publish_edit_unpublish_and_delete_within_a_second() {
    let (settings, dir) = test_settings().await;
    let first = spawn_app_with(settings.clone(), dir).await;
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    let within = Duration::from_secs(1);

    let id = first.published_article("Freshness 微服务", json!({})).await;
    eventually(&second, "微服务", within, |p| hit_ids(p) == vec![id]).await;

    first
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/articles/{id}"),
            Some(json!({
                "title": "Freshness 消息队列",
                "summary": "edited",
                "content": "edited",
            })),
            StatusCode::OK,
        )
        .await;
    eventually(&second, "消息队列", within, |p| hit_ids(p) == vec![id]).await;
    eventually(&second, "微服务", within, |p| p["total"] == 0).await;

    first
        .admin_json(
            Method::POST,
            &format!("/api/admin/articles/{id}/unpublish"),
            None,
            StatusCode::OK,
        )
        .await;
    // The index itself forgets it (total counts the index, not SQL).
    eventually(&second, "消息队列", within, |p| p["total"] == 0).await;
    eventually(&first, "消息队列", within, |p| p["total"] == 0).await;

    first.publish(id).await;
    eventually(&second, "消息队列", within, |p| p["total"] == 1).await;
    let resp = first
        .admin(Method::DELETE, &format!("/api/admin/articles/{id}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    eventually(&second, "消息队列", within, |p| p["total"] == 0).await;
    eventually(&first, "消息队列", within, |p| p["total"] == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_from_sql_after_its_directory_is_deleted() {
    let (mut settings, dir) = test_settings().await;
    let index = tempfile::tempdir().unwrap();
    settings.search.index_dir = index.path().join("search");
    let app = spawn_app_keeping_index(settings.clone(), dir, None, None).await;
    let id = app.published_article("阿里云对象存储", json!({})).await;
    assert_eq!(hit_ids(&search(&app, "阿里云").await), vec![id]);

    std::fs::remove_dir_all(&settings.search.index_dir).unwrap();
    // The next change (any write) makes the running instance notice and refill it.
    let other = app.published_article("Another", json!({})).await;
    eventually(&app, "阿里云", Duration::from_secs(5), |p| {
        hit_ids(p) == vec![id]
    })
    .await;
    assert!(settings.search.index_dir.join("meta.json").exists());
    assert_eq!(hit_ids(&search(&app, "another").await), vec![other]);

    // A new instance whose directory is missing builds it from SQL before it serves.
    let shared = (app.cache().backend_name() == "memory").then(|| app.cache().clone());
    let fresh = spawn_app_sharing(settings, None, shared).await;
    assert_eq!(hit_ids(&search(&fresh, "阿里云").await), vec![id]);
}
