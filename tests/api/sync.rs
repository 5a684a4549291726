//! `GET /api/sync`: the delta sync for offline reading. A reader that keeps passing
//! `next_cursor` ends with the latest state of every article and every removal, also while
//! several writers edit, publish, unpublish and delete at once.

use std::{collections::BTreeMap, sync::Arc};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// An offline copy: id → title of what the reader holds.
#[derive(Default)]
struct Reader {
    cursor: Option<String>,
    held: BTreeMap<i64, String>,
    deleted: Vec<i64>,
}

impl Reader {
    /// One call; returns whether the server said more changes wait.
    async fn poll(&mut self, app: &TestApp, limit: u32) -> bool {
        let path = match &self.cursor {
            Some(c) => format!("/api/sync?since={c}&limit={limit}"),
            None => format!("/api/sync?limit={limit}"),
        };
        let page = app.get_json(&path, StatusCode::OK).await;
        for a in page["articles"].as_array().unwrap() {
            assert_eq!(a["status"], "published");
            self.held.insert(
                a["id"].as_i64().unwrap(),
                a["title"].as_str().unwrap().to_string(),
            );
        }
        for t in page["tombstones"].as_array().unwrap() {
            let id = t["id"].as_i64().unwrap();
            self.held.remove(&id);
            if t["reason"] == "deleted" {
                self.deleted.push(id);
            }
        }
        self.cursor = Some(page["next_cursor"].as_str().unwrap().to_string());
        page["has_more"].as_bool().unwrap()
    }

    async fn catch_up(&mut self, app: &TestApp, limit: u32) {
        while self.poll(app, limit).await {}
    }
}

/// What the admin API says is public now: id → title.
async fn truth(app: &TestApp, ids: &[i64]) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for &id in ids {
        let resp = app
            .admin(Method::GET, &format!("/api/admin/articles/{id}"), None)
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            continue;
        }
        let a: Value = resp.json().await.unwrap();
        if a["status"] == "published" {
            out.insert(id, a["title"].as_str().unwrap().to_string());
        }
    }
    out
}

async fn admin_ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) {
    let resp = app.admin(method, path, body).await;
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

#[tokio::test]
async fn sync_sends_new_and_edited_articles_and_tombstones_but_not_count_changes() {
    let app = spawn_app().await;
    let a = app.published_article("Alpha", json!({})).await;
    let b = app.published_article("Beta", json!({})).await;
    let draft = app.create_article("Draft", json!({})).await;

    let mut reader = Reader::default();
    reader.catch_up(&app, 100).await;
    assert_eq!(
        reader.held,
        BTreeMap::from([(a, "Alpha".to_string()), (b, "Beta".to_string())]),
        "a first sync has every published article and no draft"
    );
    let quiet = reader.cursor.clone();

    // Likes and views are not changes.
    let token = app.user_token("syncreader").await;
    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{a}/like"),
        None,
        StatusCode::OK,
    )
    .await;
    app.get_json(&format!("/api/articles/{a}"), StatusCode::OK)
        .await;
    let page = app
        .get_json(
            &format!("/api/sync?since={}", quiet.as_deref().unwrap()),
            StatusCode::OK,
        )
        .await;
    assert_eq!(page["articles"], json!([]), "{page}");
    assert_eq!(page["tombstones"], json!([]));
    assert_eq!(page["next_cursor"].as_str(), quiet.as_deref());
    assert_eq!(page["has_more"], false);

    admin_ok(
        &app,
        Method::PATCH,
        &format!("/api/admin/articles/{a}"),
        Some(json!({ "title": "Alpha, edited" })),
    )
    .await;
    admin_ok(
        &app,
        Method::PATCH,
        &format!("/api/admin/articles/{draft}"),
        Some(json!({ "title": "Draft, edited" })),
    )
    .await;
    admin_ok(
        &app,
        Method::POST,
        &format!("/api/admin/articles/{b}/unpublish"),
        None,
    )
    .await;
    let page = app
        .get_json(
            &format!("/api/sync?since={}", quiet.as_deref().unwrap()),
            StatusCode::OK,
        )
        .await;
    let titles: Vec<&str> = page["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Alpha, edited"], "a draft's edit is not a change");
    assert_eq!(
        page["tombstones"],
        json!([{ "id": b, "reason": "unpublished" }])
    );

    admin_ok(
        &app,
        Method::DELETE,
        &format!("/api/admin/articles/{a}"),
        None,
    )
    .await;
    reader.catch_up(&app, 1).await;
    assert!(reader.held.is_empty(), "{:?}", reader.held);
    // Page by page, the edit's row and the delete's row each say "deleted" by now.
    reader.deleted.dedup();
    assert_eq!(reader.deleted, vec![a]);

    for bad in ["not-a-cursor", "czE6LTE", "eDE6NQ", "%00"] {
        let err = app
            .get_json(&format!("/api/sync?since={bad}"), StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(err["details"]["field"], "since", "{bad}: {err}");
    }
    for bad in ["0", "501"] {
        let err = app
            .get_json(&format!("/api/sync?limit={bad}"), StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(err["details"]["field"], "limit");
    }
}

#[tokio::test]
async fn a_reader_polling_during_concurrent_writes_ends_with_every_latest_state_and_deletion() {
    let app = Arc::new(spawn_app().await);
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 4;
    const ROUNDS: usize = 12;
    let mut ids = Vec::new();
    for i in 0..WRITERS * PER_WRITER {
        ids.push(
            app.published_article(&format!("start {i}"), json!({}))
                .await,
        );
    }

    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let app = app.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            let mut reader = Reader::default();
            let mut polls = 0;
            while !finished.load(std::sync::atomic::Ordering::SeqCst) {
                reader.poll(&app, 3).await;
                polls += 1;
            }
            (reader, polls)
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        let mine: Vec<i64> = ids[w * PER_WRITER..(w + 1) * PER_WRITER].to_vec();
        writers.push(tokio::spawn(async move {
            let mut published = [true; PER_WRITER];
            let mut gone = [false; PER_WRITER];
            for round in 0..ROUNDS {
                let k = (round * 7 + w * 3) % PER_WRITER;
                let id = mine[k];
                if gone[k] {
                    continue;
                }
                let path = format!("/api/admin/articles/{id}");
                match (round + w) % 5 {
                    0..=2 => {
                        let title = format!("writer {w} round {round}");
                        admin_ok(&app, Method::PATCH, &path, Some(json!({ "title": title }))).await;
                    }
                    3 => {
                        let op = if published[k] { "unpublish" } else { "publish" };
                        admin_ok(&app, Method::POST, &format!("{path}/{op}"), None).await;
                        published[k] = !published[k];
                    }
                    _ if round > ROUNDS / 2 => {
                        admin_ok(&app, Method::DELETE, &path, None).await;
                        gone[k] = true;
                    }
                    _ => {
                        admin_ok(&app, Method::PUT, &format!("{path}/featured"), None).await;
                    }
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut reader, polls) = reader.await.unwrap();
    reader.catch_up(&app, 3).await;

    let expected = truth(&app, &ids).await;
    assert!(polls > 1, "the reader polled during the writes");
    assert_eq!(
        reader.held, expected,
        "the reader holds the latest public state"
    );
    let mut deleted_now = Vec::new();
    for &id in &ids {
        let resp = app
            .admin(Method::GET, &format!("/api/admin/articles/{id}"), None)
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            deleted_now.push(id);
        }
    }
    assert!(!deleted_now.is_empty(), "the writers deleted some articles");
    for id in &deleted_now {
        assert!(
            !reader.held.contains_key(id),
            "{id} was deleted but is still held"
        );
    }
}

#[tokio::test]
async fn a_scheduled_article_enters_the_sync_when_the_publishing_job_publishes_it() {
    let app = spawn_app().await;
    let mut reader = Reader::default();
    reader.catch_up(&app, 100).await;
    let id = app.create_article("Scheduled", json!({})).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    admin_ok(
        &app,
        Method::POST,
        &format!("/api/admin/articles/{id}/schedule"),
        Some(json!({ "publish_at": at.to_rfc3339() })),
    )
    .await;
    reader.catch_up(&app, 100).await;
    assert!(reader.held.is_empty(), "scheduled is not public yet");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // What the `publish_scheduled` job runs.
    let published = qshare::service::article_admin::publish_due(
        &app.state.db,
        &app.state.read_cache,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(published, 1);
    reader.catch_up(&app, 100).await;
    assert_eq!(reader.held, BTreeMap::from([(id, "Scheduled".to_string())]));
}

#[tokio::test]
async fn bulk_seeded_articles_are_in_a_first_sync() {
    let app = spawn_app().await;
    qshare::service::demo_content::seed_bulk(&app.state.db, 30)
        .await
        .unwrap();
    let mut reader = Reader::default();
    reader.catch_up(&app, 7).await;
    assert_eq!(reader.held.len(), 30);
}
