//! No external call inside a write transaction (issue 13): WeChat's content check on a
//! comment runs before the transaction begins, so a slow WeChat holds no database lock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use testkit::wechat_fake::{FakeWechat, MP_APP_ID, MP_SECRET};

use crate::helpers::{TestApp, expect_json, spawn_app_with, test_settings};

/// How long the fake WeChat takes per call while a comment waits for its check; inside
/// the post's 2 s limit for the check.
const SLOW_CHECK: Duration = Duration::from_millis(1500);

async fn app_with_miniprogram() -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start().await;
    let (mut settings, dir) = test_settings().await;
    settings.wechat.api_base_url = fake.base_url().to_string();
    settings.wechat.miniprogram.app_id = MP_APP_ID.into();
    settings.wechat.miniprogram.app_secret = MP_SECRET.into();
    (spawn_app_with(settings, dir).await, fake)
}

/// Transactions of this test's database that are open and waiting (PostgreSQL only).
async fn idle_transactions(app: &TestApp) -> Option<i64> {
    let db = &app.state.db;
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle in transaction'",
        ))
        .await
        .unwrap()
        .unwrap();
    Some(row.try_get::<i64>("", "n").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_waiting_for_wechats_content_check_holds_no_database_transaction() {
    let (app, fake) = app_with_miniprogram().await;
    fake.add_login_code("code-slow", "openid-slow", None);
    let login = expect_json(
        app.request(
            Method::POST,
            "/api/auth/wechat/miniprogram",
            None,
            Some(json!({ "code": "code-slow" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let checked = login["access_token"].as_str().unwrap().to_string();
    let unchecked = app.user_token("plain_writer").await;
    let article = app.published_article("Slow check", json!({})).await;
    let path = format!("/api/articles/{article}/comments");
    // A first post fetches the access token, so the slow post below only waits for the
    // check itself.
    let first = app
        .request(
            Method::POST,
            &path,
            Some(&checked),
            Some(json!({ "content": "warm" })),
        )
        .await;
    expect_json(first, StatusCode::CREATED).await;
    assert_eq!(fake.stats().sec_checks, 1);

    fake.set_latency(SLOW_CHECK);
    let slow_post = app.request(
        Method::POST,
        &path,
        Some(&checked),
        Some(json!({ "content": "checked slowly" })),
    );
    let concurrent = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let open = idle_transactions(&app).await;
        // A write by a user WeChat does not check (a password account).
        let resp = app
            .request(
                Method::POST,
                "/api/guestbook",
                Some(&unchecked),
                Some(json!({ "content": "written meanwhile" })),
            )
            .await;
        (open, resp, tokio::time::Instant::now())
    };
    let (slow, (open, written, written_at)) = tokio::join!(
        async {
            let resp = slow_post.await;
            (resp, tokio::time::Instant::now())
        },
        concurrent
    );
    let (slow_resp, slow_done_at) = slow;
    expect_json(written, StatusCode::CREATED).await;
    let posted = expect_json(slow_resp, StatusCode::CREATED).await;
    assert_eq!(posted["status"], "published");
    assert_eq!(fake.stats().sec_checks, 2, "the slow post was checked");
    assert!(
        written_at + Duration::from_millis(500) < slow_done_at,
        "the concurrent write finished while the check was pending, not after it"
    );
    if let Some(open) = open {
        assert_eq!(open, 0, "no transaction is open while WeChat answers");
    }
}
