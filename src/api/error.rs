//! The JSON error shape `{"code", "message", "details"?}`: `AppError` mapped once to a
//! status, and the framework's own errors (parse failures, unknown routes, oversized bodies)
//! mapped to the same shape by `framework_error_response`.

use futures_util::future::BoxFuture;
use poem::{
    Response,
    error::{MethodNotAllowedError, NotFoundError, ParseJsonError, ReadBodyError},
    http::{StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    },
    payload::Json,
};
use serde_json::json;

use crate::error::{AppError, ErrorCode};

/// The body of every error answer.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// Extra facts, e.g. `{"field": "limit"}` for bad input.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(nullable)]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    fn with_field(mut self, field: Option<&str>) -> Self {
        self.details = field.map(|f| json!({ "field": f }));
        self
    }
}

/// Every error status an operation can answer.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The input is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Not allowed for this user.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such object.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Conflicts with existing data.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The request body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed input that breaks a rule.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Rate limited; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency is down.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The status and body, for answers that are not JSON (the console's pages).
    pub fn parts(&self) -> (StatusCode, &ErrorBody) {
        match self {
            Self::BadRequest(b) => (StatusCode::BAD_REQUEST, &b.0),
            Self::Unauthorized(b) => (StatusCode::UNAUTHORIZED, &b.0),
            Self::Forbidden(b) => (StatusCode::FORBIDDEN, &b.0),
            Self::NotFound(b) => (StatusCode::NOT_FOUND, &b.0),
            Self::Conflict(b) => (StatusCode::CONFLICT, &b.0),
            Self::PayloadTooLarge(b) => (StatusCode::PAYLOAD_TOO_LARGE, &b.0),
            Self::UnsupportedMediaType(b) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, &b.0),
            Self::Unprocessable(b) => (StatusCode::UNPROCESSABLE_ENTITY, &b.0),
            Self::TooManyRequests(b, _) => (StatusCode::TOO_MANY_REQUESTS, &b.0),
            Self::Internal(b) => (StatusCode::INTERNAL_SERVER_ERROR, &b.0),
            Self::Unavailable(b) => (StatusCode::SERVICE_UNAVAILABLE, &b.0),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let code = err.code();
        match err {
            AppError::BadRequest { field, message } => Self::BadRequest(Json(
                ErrorBody::new(code, message).with_field(field.as_deref()),
            )),
            AppError::Unauthorized(message) => {
                Self::Unauthorized(Json(ErrorBody::new(code, message)))
            }
            AppError::Forbidden(message) => Self::Forbidden(Json(ErrorBody::new(code, message))),
            err @ AppError::NotFound { .. } => {
                Self::NotFound(Json(ErrorBody::new(code, err.to_string())))
            }
            AppError::Conflict { message, .. } => {
                Self::Conflict(Json(ErrorBody::new(code, message)))
            }
            AppError::Unprocessable { message, .. } => {
                Self::Unprocessable(Json(ErrorBody::new(code, message)))
            }
            AppError::TooManyRequests { retry_after } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                Self::TooManyRequests(
                    Json(ErrorBody::new(
                        code,
                        format!("too many requests; retry in {secs} s"),
                    )),
                    secs,
                )
            }
            AppError::Unavailable(message) => {
                tracing::warn!(%message, "dependency unavailable");
                Self::Unavailable(Json(ErrorBody::new(
                    code,
                    "a dependency is unavailable; retry later",
                )))
            }
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                Self::Internal(Json(ErrorBody::new(code, "internal error")))
            }
        }
    }
}

fn json_response(status: StatusCode, body: ErrorBody) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(serde_json::to_vec(&body).unwrap_or_default())
}

fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::BAD_REQUEST => ErrorCode::InvalidInput,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Unprocessable,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
        s if s.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::Error,
    }
}

/// What `WithinMax` says of a value over its maximum.
const WITHIN_MAX_REFUSAL: &str = "longer than the maxLength or maxItems its schema declares";

/// The field a `WithinMax` refusal names: poem-openapi reports a failed field validator as
/// "field `name` verification failed. <validator>".
fn over_maximum(reason: &str) -> Option<&str> {
    let (_, rest) = reason.split_once("field `")?;
    let (field, rest) = rest.split_once("` verification failed. ")?;
    rest.starts_with(WITHIN_MAX_REFUSAL).then_some(field)
}

/// Turns any error that reached the top of the stack into the JSON error shape. Errors that
/// already carry our JSON body (an `ApiError`) pass through unchanged.
pub fn framework_error_response(err: poem::Error) -> BoxFuture<'static, Response> {
    // Boxed: this is the cold path of every middleware, and inline its state would make
    // the future of every request larger (and moved on every call).
    Box::pin(async move {
        let status = err.status();
        let body = if let Some(e) = err.downcast_ref::<ParseParamError>() {
            ErrorBody::new(ErrorCode::InvalidInput, e.to_string()).with_field(Some(e.name))
        } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
            // poem-openapi names path variables `param0`, `param1`... internally; say "path".
            ErrorBody::new(
                ErrorCode::InvalidInput,
                format!("invalid path parameter: {}", e.reason),
            )
            .with_field(Some("path"))
        } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
            match over_maximum(&e.reason) {
                Some(field) => ErrorBody::new(
                    ErrorCode::InvalidInput,
                    format!("{field} is {WITHIN_MAX_REFUSAL}"),
                )
                .with_field(Some(field)),
                None => ErrorBody::new(
                    ErrorCode::InvalidBody,
                    format!("invalid request body: {}", e.reason),
                ),
            }
        } else if let Some(e) = err.downcast_ref::<ParseJsonError>() {
            ErrorBody::new(ErrorCode::InvalidBody, format!("invalid JSON: {e}"))
        } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
            ErrorBody::new(ErrorCode::UnsupportedMediaType, e.to_string())
        } else if err.is::<AuthorizationError>() {
            ErrorBody::new(ErrorCode::Unauthorized, "missing or invalid credentials")
        } else if err.is::<NotFoundError>() {
            ErrorBody::new(ErrorCode::NotFound, "no such route")
        } else if err.is::<MethodNotAllowedError>() {
            ErrorBody::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
        } else if let Some(ReadBodyError::PayloadTooLarge) = err.downcast_ref::<ReadBodyError>() {
            ErrorBody::new(ErrorCode::PayloadTooLarge, "request body too large")
        } else {
            let resp = err.into_response();
            let is_json = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if is_json {
                return resp;
            }
            let status = resp.status();
            let text = resp.into_body().into_string().await.unwrap_or_default();
            let message = if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_lowercase()
            } else {
                text
            };
            return json_response(status, ErrorBody::new(code_for_status(status), message));
        };
        json_response(status, body)
    })
}
