//! The OpenAPI document as served at `/openapi.json`: poem-openapi's, plus what its derive
//! cannot say, taken from the rules' own homes so the document cannot drift from them:
//! - every request body refuses unknown fields (`deny_unknown_fields` on each request
//!   object, checked by a test), so those schemas get `additionalProperties: false`;
//! - every `limit` query parameter declares its range and default: `pagination`'s on keyset
//!   pages, `articles::RELATED_*` on related articles.

use std::collections::BTreeSet;

use poem::{Endpoint, IntoResponse, Response, handler, web::Data};
use serde_json::Value;

use crate::{
    pagination,
    service::{articles, sync},
};

/// The document, computed once at start-up.
#[derive(Clone)]
pub struct Document(std::sync::Arc<str>);

impl Document {
    pub fn new(generated: &str) -> Self {
        let mut spec: Value = serde_json::from_str(generated).expect("poem-openapi emits JSON");
        close_request_objects(&mut spec);
        bound_page_limits(&mut spec);
        Self(
            serde_json::to_string(&spec)
                .expect("a JSON value serializes")
                .into(),
        )
    }
}

/// Marks every object schema reachable from a request body as closed.
fn close_request_objects(spec: &mut Value) {
    let mut pending: Vec<String> = Vec::new();
    for item in spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
            collect_refs(&operation["requestBody"], &mut pending);
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = &mut spec["components"]["schemas"][&name];
        if schema["type"] == "object" && schema.get("properties").is_some() {
            schema["additionalProperties"] = Value::Bool(false);
        }
        let nested = schema.clone();
        collect_refs(&nested, &mut pending);
    }
}

fn bound_page_limits(spec: &mut Value) {
    let operations = spec["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
        .flat_map(|item| {
            item.as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
        });
    for operation in operations {
        let (max, default) = if operation["operationId"] == "listRelatedArticles" {
            (articles::RELATED_MAX, articles::RELATED_DEFAULT)
        } else if operation["operationId"] == "syncArticles" {
            (sync::MAX_LIMIT, sync::DEFAULT_LIMIT)
        } else {
            (pagination::MAX_LIMIT, pagination::DEFAULT_LIMIT)
        };
        // `get_mut`: indexing a JSON object mutably would insert `"parameters": null`.
        let params = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for param in params.filter(|p| p["in"] == "query" && p["name"] == "limit") {
            let schema = &mut param["schema"];
            schema["minimum"] = 1.into();
            schema["maximum"] = max.into();
            schema["default"] = default.into();
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                out.push(name.to_string());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[handler]
fn serve(doc: Data<&Document>) -> Response {
    doc.0
        .0
        .to_string()
        .with_content_type("application/json; charset=utf-8")
        .into_response()
}

pub fn endpoint(doc: Document) -> impl Endpoint {
    use poem::EndpointExt;
    serve.data(doc)
}
