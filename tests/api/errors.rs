//! Bad input of every kind answers the JSON error shape with the right status and changes
//! nothing.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{expect_json, spawn_app};

#[tokio::test]
async fn bad_list_parameters_are_400s_naming_the_parameter() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/api/articles?cursor=not-a-cursor", "cursor"),
        ("/api/articles?limit=0", "limit"),
        ("/api/articles?limit=1000", "limit"),
        ("/api/articles?limit=-1", "limit"),
        ("/api/articles?limit=ten", "limit"),
        ("/api/articles/featured?limit=101", "limit"),
        ("/api/resources?cursor=dDE6MTo1", "cursor"),
        ("/api/articles/1/related?limit=0", "limit"),
    ] {
        let body = app.get_json(path, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["details"]["field"], field, "{path}: {body}");
    }
}

#[tokio::test]
async fn a_cursor_from_another_list_is_refused() {
    let app = spawn_app().await;
    for i in 0..3 {
        let body = json!({ "name": format!("R{i}"), "homepage": "https://e.org", "category": "c" });
        app.admin_json(
            Method::POST,
            "/api/admin/resources",
            Some(body),
            StatusCode::CREATED,
        )
        .await;
    }
    let page = app.get_json("/api/resources?limit=1", StatusCode::OK).await;
    let resource_cursor = page["next_cursor"].as_str().unwrap();
    let body = app
        .get_json(
            &format!("/api/articles?cursor={resource_cursor}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(body["details"]["field"], "cursor");
}

#[tokio::test]
async fn a_non_numeric_id_is_a_400_and_an_unknown_route_a_404() {
    let app = spawn_app().await;
    let body = app
        .get_json("/api/articles/abc", StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(body["code"], "invalid_input");
    app.get_json("/api/resources/1.5", StatusCode::BAD_REQUEST)
        .await;
    app.get_json(
        "/api/articles/99999999999999999999999",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let body = app
        .get_json("/api/nothing-here", StatusCode::NOT_FOUND)
        .await;
    assert_eq!(body["code"], "not_found");
    let resp = app
        .request(Method::DELETE, "/api/articles", None, None)
        .await;
    let body = expect_json(resp, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(body["code"], "method_not_allowed");
}

async fn article_count(app: &crate::helpers::TestApp) -> usize {
    app.admin_json(
        Method::GET,
        "/api/admin/articles?limit=100",
        None,
        StatusCode::OK,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn malformed_json_and_wrong_field_types_are_400s_and_change_nothing() {
    let app = spawn_app().await;
    let send_raw = |body: &'static str| {
        app.client
            .post(app.url("/api/admin/articles"))
            .bearer_auth(&app.admin_token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    let resp = send_raw("{\"title\": ").await.unwrap();
    let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["code"], "invalid_body");

    let wrong_type = r#"{"title": 42, "content": "c", "author": "a", "source_url": "https://e.org", "source_name": "e"}"#;
    let body = expect_json(send_raw(wrong_type).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(body["code"], "invalid_body");

    let unknown_field = r#"{"title": "t", "content": "c", "author": "a", "source_url": "https://e.org", "source_name": "e", "views": 5}"#;
    let body = expect_json(
        send_raw(unknown_field).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("views"),
        "{body}"
    );

    let missing = r#"{"content": "c"}"#;
    expect_json(send_raw(missing).await.unwrap(), StatusCode::BAD_REQUEST).await;

    let bad_tags = r#"{"title": "t", "content": "c", "author": "a", "source_url": "https://e.org", "source_name": "e", "tag_ids": "1,2"}"#;
    expect_json(send_raw(bad_tags).await.unwrap(), StatusCode::BAD_REQUEST).await;

    let not_json = app
        .client
        .post(app.url("/api/admin/articles"))
        .bearer_auth(&app.admin_token)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let body = expect_json(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(body["code"], "unsupported_media_type");

    assert_eq!(article_count(&app).await, 0, "nothing was created");
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let app = spawn_app().await;
    let limit = app.state.settings.server.body_limit_bytes;
    let huge = json!({ "title": "t", "content": "x".repeat(limit + 10), "author": "a", "source_url": "https://e.org", "source_name": "e" });
    let resp = app
        .admin(Method::POST, "/api/admin/articles", Some(huge))
        .await;
    let body = expect_json(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(body["code"], "payload_too_large");

    // Without Content-Length (a streamed body) the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..(limit / 1024 + 2))
        .map(|_| Ok(vec![b' '; 1024]))
        .collect();
    let resp = app
        .client
        .post(app.url("/api/admin/articles"))
        .bearer_auth(&app.admin_token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(article_count(&app).await, 0);
}
