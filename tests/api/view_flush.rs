//! The view-count flush (`flush_counters`) never loses counted views: a flush whose SQL
//! write fails puts the counts back into the cache, and a later flush writes them once.

use qshare::service::views;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_app, unique_name},
    sql_fault,
};

async fn stored_views(app: &TestApp, id: i64) -> i64 {
    let db = &app.state.db;
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

#[tokio::test]
async fn a_flush_whose_sql_write_fails_puts_the_views_back_and_the_next_flush_writes_them_once() {
    let app = spawn_app().await;
    let a = app.published_article("Counted once", json!({})).await;
    let b = app.published_article("Counted too", json!({})).await;
    for _ in 0..3 {
        let token = app.user_token(&unique_name("viewer_")[..20]).await;
        for id in [a, b] {
            let path = format!("/api/articles/{id}");
            app.as_user(&token, Method::GET, &path, None, StatusCode::OK)
                .await;
        }
    }

    sql_fault::install(&app.state.db, "articles", "UPDATE OF view_count").await;
    let failed = views::flush(&app.state.db, app.cache()).await;
    assert!(
        failed.is_err(),
        "a failed write fails the flush: {failed:?}"
    );
    // Still failing: the counts are put back again, not dropped.
    assert!(views::flush(&app.state.db, app.cache()).await.is_err());
    sql_fault::remove(&app.state.db, "articles").await;
    assert_eq!(
        (stored_views(&app, a).await, stored_views(&app, b).await),
        (0, 0)
    );

    assert_eq!(views::flush(&app.state.db, app.cache()).await.unwrap(), 6);
    assert_eq!(
        (stored_views(&app, a).await, stored_views(&app, b).await),
        (3, 3)
    );
    assert_eq!(
        views::flush(&app.state.db, app.cache()).await.unwrap(),
        0,
        "written exactly once"
    );
    assert_eq!(stored_views(&app, a).await, 3);
}
