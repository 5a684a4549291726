//! Stored JSON that no longer parses is an error you can see (a logged 500 with the JSON
//! error body), never silently read as empty.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// Runs `sql` with `?` placeholders on the app's database, whatever its backend.
async fn execute(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_string()
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
}

#[tokio::test]
async fn unreadable_stored_push_categories_are_a_500_not_all_categories() {
    let app = spawn_app().await;
    app.create_category("ai", "AI").await;
    let token = app.user_token("json_push").await;
    let body = json!({ "opted_out": false, "categories": ["ai"], "timezone": "Asia/Shanghai" });
    let saved = app
        .as_user(
            &token,
            Method::PUT,
            "/api/me/push-preferences",
            Some(body),
            StatusCode::OK,
        )
        .await;
    assert_eq!(saved["categories"], json!(["ai"]));

    execute(
        &app,
        "UPDATE push_preferences SET categories = ?",
        vec!["ai, but not JSON".into()],
    )
    .await;
    let err = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/push-preferences",
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .await;
    assert_eq!(err["code"], "internal_error");
    assert!(
        !err.to_string().contains("not JSON"),
        "the stored value stays out of the answer: {err}"
    );
}

#[tokio::test]
async fn unreadable_stored_download_links_are_a_500_not_an_empty_list() {
    let app = spawn_app().await;
    let body = json!({
        "name": "Neovim",
        "homepage": "https://neovim.io",
        "category": "editor",
        "download_links": [{ "platform": "linux", "url": "https://neovim.io/linux" }],
    });
    let created = app
        .admin_json(
            Method::POST,
            "/api/admin/resources",
            Some(body),
            StatusCode::CREATED,
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    // Valid JSON of the wrong shape (PostgreSQL's json type refuses invalid JSON).
    let cast = if app.state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        "?::json"
    } else {
        "?"
    };
    execute(
        &app,
        &format!("UPDATE resources SET download_links = {cast} WHERE id = ?"),
        vec![r#"[{"os": "linux"}]"#.into(), id.into()],
    )
    .await;
    let err = app
        .get_json(
            &format!("/api/resources/{id}"),
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .await;
    assert_eq!(err["code"], "internal_error");
}
