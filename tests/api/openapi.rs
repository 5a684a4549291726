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

#[tokio::test]
async fn every_operation_has_a_unique_camel_case_operation_id_and_admin_ones_say_admin() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                problems.push(format!("{method} {path}: no operationId"));
                continue;
            };
            let camel = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric());
            if !camel {
                problems.push(format!("{method} {path}: {id:?} is not camelCase"));
            }
            if path.starts_with("/api/admin/") != id.starts_with("admin") {
                problems.push(format!("{method} {path}: {id:?} (admin iff under /api/admin)"));
            }
            if !seen.insert(id.to_string()) {
                problems.push(format!("{method} {path}: {id:?} used twice"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(seen.len() > 80, "only {} operations", seen.len());
}

#[tokio::test]
async fn error_codes_are_a_closed_enum_in_the_document_and_answers_use_them() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let schemas = &spec["components"]["schemas"];
    let code_ref = schemas["Error"]["properties"]["code"]["$ref"]
        .as_str()
        .or_else(|| schemas["Error"]["properties"]["code"]["allOf"][0]["$ref"].as_str())
        .expect("Error.code refers to a schema");
    let name = code_ref.rsplit('/').next().unwrap();
    let codes: Vec<&str> = schemas[name]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for code in ["invalid_input", "not_found", "rate_limited", "username_taken"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    // A real answer carries one of them.
    let body = app.get_json("/api/articles/999999", StatusCode::NOT_FOUND).await;
    assert!(codes.contains(&body["code"].as_str().unwrap()), "{body}");
}

/// The whole contract as a reviewed snapshot (tests/api/snapshots/): any change to a path,
/// a schema or a status shows up in review as a diff. After an intended change, run
/// `INSTA_UPDATE=always cargo test --test api openapi::` and commit the new snapshot.
#[tokio::test]
async fn the_openapi_document_matches_its_reviewed_snapshot() {
    let app = spawn_app().await;
    let mut spec = app.get_json("/openapi.json", StatusCode::OK).await;
    // The server list names the test's own port.
    spec.as_object_mut().unwrap().remove("servers");
    insta::assert_json_snapshot!("openapi", spec);
}
