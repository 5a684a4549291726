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
                problems.push(format!(
                    "{method} {path}: {id:?} (admin iff under /api/admin)"
                ));
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
    for code in [
        "invalid_input",
        "not_found",
        "rate_limited",
        "username_taken",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    // A real answer carries one of them.
    let body = app
        .get_json("/api/articles/999999", StatusCode::NOT_FOUND)
        .await;
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

/// A value of the right shape for `schema` (required fields only), to get past parsing.
fn example_of(spec: &Value, schema: &Value) -> Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return example_of(spec, &spec["components"]["schemas"][name]);
    }
    if let Some(first) = schema["allOf"].get(0) {
        return example_of(spec, first);
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut out = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                out.insert(name.into(), example_of(spec, &schema["properties"][name]));
            }
            Value::Object(out)
        }
        Some("array") => {
            let min = schema["minItems"].as_u64().unwrap_or(0);
            Value::Array(
                (0..min)
                    .map(|_| example_of(spec, &schema["items"]))
                    .collect(),
            )
        }
        Some("integer") | Some("number") => {
            serde_json::json!(schema["minimum"].as_f64().map_or(1, |m| m.max(1.0) as i64))
        }
        Some("boolean") => Value::Bool(true),
        Some("string") if schema["format"] == "date-time" => "2030-01-01T00:00:00Z".into(),
        _ => "x".into(),
    }
}

/// Every operation with a JSON body: its method, path, a URL with `1` for each path
/// variable, and the body's schema.
fn body_operations(spec: &Value) -> Vec<(reqwest::Method, String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(schema) = operation["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| media["schema"].clone())
            else {
                continue;
            };
            let url = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone(), url, schema));
        }
    }
    out
}

#[tokio::test]
async fn every_request_body_refuses_unknown_fields_as_its_schema_says() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut checked = 0;
    let mut problems = Vec::new();
    for (method, path, url, schema) in body_operations(&spec) {
        let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        if spec["components"]["schemas"][name]["additionalProperties"] != false {
            problems.push(format!("{method} {path}: {name} is not closed"));
        }
        let mut body = example_of(&spec, &schema);
        body["zz_unknown_field"] = Value::Bool(true);
        let resp = app
            .request(method.clone(), &url, Some(&app.admin_token), Some(body))
            .await;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap();
        let refused = status == StatusCode::BAD_REQUEST
            && answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("unknown field");
        if !refused {
            problems.push(format!("{method} {path}: {status} {answer}"));
        }
        checked += 1;
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 20, "only {checked} operations take a body");
}

#[tokio::test]
async fn every_limit_parameter_declares_the_range_the_server_enforces() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let Some(limit) = get["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "limit" && p["in"] == "query")
        else {
            continue;
        };
        let max = limit["schema"]["maximum"].as_u64().expect("maximum");
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        let url = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for bad in [0, max + 1] {
            let resp = app
                .request(
                    reqwest::Method::GET,
                    &format!("{url}?limit={bad}"),
                    Some(&app.admin_token),
                    None,
                )
                .await;
            let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!(
                body["details"]["field"], "limit",
                "{path}?limit={bad}: {body}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} lists");
}

/// One step from a request body to one of its fields.
#[derive(Clone, Debug)]
enum Step {
    Field(String),
    FirstItem,
}

/// Every bounded string (`maxLength`) and list (`maxItems`) under `schema`, with its path.
fn bounded_fields(spec: &Value, schema: &Value, at: Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return bounded_fields(spec, &spec["components"]["schemas"][name], at, out);
    }
    if let Some(first) = schema["allOf"].get(0) {
        return bounded_fields(spec, first, at, out);
    }
    match schema["type"].as_str() {
        Some("object") => {
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let mut next = at.clone();
                next.push(Step::Field(name.clone()));
                bounded_fields(spec, property, next, out);
            }
        }
        Some("array") => {
            out.push((at.clone(), schema.clone()));
            let mut next = at;
            next.push(Step::FirstItem);
            bounded_fields(spec, &schema["items"], next, out);
        }
        Some("string") => out.push((at, schema.clone())),
        _ => {}
    }
}

/// The schema a path leads to (to build what a missing intermediate holds).
fn schema_at<'a>(spec: &'a Value, mut schema: &'a Value, path: &[Step]) -> &'a Value {
    for step in path {
        while let Some(r) = schema["$ref"]
            .as_str()
            .or(schema["allOf"][0]["$ref"].as_str())
        {
            schema = &spec["components"]["schemas"][r.rsplit('/').next().unwrap()];
        }
        schema = match step {
            Step::Field(name) => &schema["properties"][name],
            Step::FirstItem => &schema["items"],
        };
    }
    schema
}

fn set_at(spec: &Value, root: &Value, body: &mut Value, path: &[Step], value: Value) {
    let mut here = body;
    for (i, step) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let fill = || {
            if last {
                value.clone()
            } else {
                example_of(spec, schema_at(spec, root, &path[..=i]))
            }
        };
        here = match step {
            Step::Field(name) => {
                if last || here.get(name).is_none_or(Value::is_null) {
                    here[name] = fill();
                }
                &mut here[name]
            }
            Step::FirstItem => {
                let items = here.as_array_mut().unwrap();
                if items.is_empty() {
                    items.push(fill());
                } else if last {
                    items[0] = fill();
                }
                &mut items[0]
            }
        };
    }
}

fn at_length(spec: &Value, schema: &Value, n: usize) -> Value {
    if schema["type"] == "array" {
        Value::Array(vec![example_of(spec, &schema["items"]); n])
    } else {
        Value::String("x".repeat(n))
    }
}

#[tokio::test]
async fn every_request_string_and_list_declares_its_maximum_and_the_server_refuses_one_more() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut checked = 0;
    let mut problems = Vec::new();
    for (method, path, url, root) in body_operations(&spec) {
        let root = &root;
        let mut fields = Vec::new();
        bounded_fields(&spec, root, Vec::new(), &mut fields);
        for (field, schema) in fields {
            let bound = schema["maxLength"].as_u64().or(schema["maxItems"].as_u64());
            let is_free_string = schema["type"] == "string"
                && schema.get("enum").is_none()
                && schema.get("format").is_none();
            let Some(max) = bound else {
                if is_free_string || schema["type"] == "array" {
                    problems.push(format!("{method} {path} {field:?}: no maximum declared"));
                }
                continue;
            };
            let max = max as usize;
            let item_of_list = matches!(field.last(), Some(Step::FirstItem));
            let name = match field.last() {
                Some(Step::Field(name)) => name.clone(),
                // A list's items: the list is the field.
                _ => match &field[field.len() - 2] {
                    Step::Field(name) => name.clone(),
                    Step::FirstItem => unreachable!("no lists of lists"),
                },
            };
            for (n, must_refuse) in [(max, false), (max + 1, true)] {
                let mut body = example_of(&spec, root);
                set_at(&spec, root, &mut body, &field, at_length(&spec, &schema, n));
                let resp = app
                    .request(method.clone(), &url, Some(&app.admin_token), Some(body))
                    .await;
                let status = resp.status();
                let answer: Value = resp.json().await.unwrap_or(Value::Null);
                let names_field = status == StatusCode::BAD_REQUEST
                    && answer["code"] == "invalid_input"
                    && answer["details"]["field"] == name.as_str();
                let refused = names_field
                    && answer["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("longer than the maxLength or maxItems"));
                // A list's items are checked by the service, after the edge: an item over its
                // maximum is refused naming the list, and one at it may be refused for what
                // it says (an unknown category), so only the refusal is asserted.
                let ok = if item_of_list {
                    !must_refuse || names_field
                } else {
                    refused == must_refuse
                };
                if status.is_server_error() || !ok {
                    problems.push(format!(
                        "{method} {path} {field:?} at {n}: {status} {answer}"
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 50, "only {checked} bounded fields");
}

#[tokio::test]
async fn every_operations_parameters_are_absent_or_a_list_as_openapi_requires() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(params) = operation.get("parameters")
                && !params.is_array()
            {
                problems.push(format!("{method} {path}: parameters = {params}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
