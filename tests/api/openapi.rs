//! The OpenAPI document describes what the API really sends and answers (what the
//! schemathesis run in CI checks on every operation).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{expect_json, spawn_app};

#[tokio::test]
async fn every_optional_field_is_nullable_or_has_a_default_because_absent_values_are_sent_as_null()
{
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut offenders = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            let optional = !required.contains(&field.as_str());
            let nullable = property["nullable"] == true;
            if optional && !nullable && property.get("default").is_none() {
                offenders.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "optional but not nullable: {offenders:?}"
    );
    // What the answers contain: a draft article has no cover and was never featured.
    let id = app.create_article("No cover", serde_json::json!({})).await;
    let article = app
        .admin_json(
            reqwest::Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(article["cover_url"].is_null() && article["featured_at"].is_null());
}

#[tokio::test]
async fn operations_taking_a_json_body_declare_the_415_they_answer_to_other_media_types() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut undeclared = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_some() && operation["responses"].get("415").is_none()
            {
                undeclared.push(format!("{method} {path}"));
            }
        }
    }
    assert!(undeclared.is_empty(), "415 not declared: {undeclared:?}");
    let resp = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "text/plain")
        .body("username=a&password=b")
        .send()
        .await
        .unwrap();
    let body = expect_json(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(body["code"], "unsupported_media_type");
}
