//! Plain-poem operational routes, outside the OpenAPI document.

use poem::{
    IntoResponse, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use crate::{db, state::AppState};

/// The process is alive.
#[handler]
pub fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Prometheus text exposition of the metrics (see `crate::metrics`).
#[handler]
pub fn metrics(state: Data<&AppState>) -> impl IntoResponse {
    crate::metrics::render(&state).with_content_type(crate::metrics::CONTENT_TYPE)
}

/// Dependencies are reachable: 503 when the database is not; a down cache only degrades
/// (reads fall back to SQL).
#[handler]
pub async fn readyz(state: Data<&AppState>) -> impl IntoResponse {
    let database = db::ping(&state.db).await;
    let cache = state.cache.ping().await;
    let describe = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = match (database.is_ok(), cache.is_ok()) {
        (true, true) => "ok",
        (true, false) => "degraded",
        (false, _) => "unavailable",
    };
    let mut body = json!({
        "status": status,
        "checks": {
            "database": describe(database.is_ok()),
            "cache": { "backend": state.cache.backend_name(), "status": describe(cache.is_ok()) },
        }
    });
    if database.is_err() {
        // Also the API's error shape, so clients need one parser for every non-2xx answer.
        body["code"] = json!(crate::error::ErrorCode::ServiceUnavailable);
        body["message"] = json!("the database is unreachable");
    }
    let body = Json(body);
    let code = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    body.with_status(code)
}
