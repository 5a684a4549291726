//! The one application error. Services return `AppError`; the API layer maps it once, in
//! `api::error`, to a status and the JSON error body.

use std::time::Duration;

use sea_orm::{DbErr, RuntimeErr, SqlxError};

/// Every `code` an error answer can carry: the closed set clients switch on. It is an enum in
/// the OpenAPI document (`ErrorCode`), so adding a code is a visible contract change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Generic, one per status.
    /// 400: a parameter or field is malformed (`details.field` names it).
    InvalidInput,
    /// 400: the body is not valid JSON for the operation.
    InvalidBody,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// 409 without a more specific code.
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// 422 without a more specific code.
    Unprocessable,
    RateLimited,
    InternalError,
    ServiceUnavailable,
    /// Any other status the framework produced.
    Error,
    // Specific rules (409 / 422).
    UsernameTaken,
    SlugTaken,
    NameTaken,
    ReleaseExists,
    ChangedConcurrently,
    InvalidTransition,
    AlreadyPublished,
    NotPublished,
    AlreadyRunning,
    SyncRunning,
    /// 422: a job's stored params no longer parse for its kind.
    InvalidStoredParams,
    /// 409: another article already carries this `source_url` (one article per original).
    SourceUrlTaken,
    /// 409: the feature needs configuration this server does not have (e.g. a WeChat app);
    /// retrying will not help.
    NotConfigured,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the input is malformed; `field` names the culprit when there is one.
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// 404: `what` is the kind of object, e.g. "article".
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// 422: well-formed input that breaks a business rule.
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    #[error("too many requests")]
    TooManyRequests { retry_after: Duration },
    /// 503: a dependency (database, cache, WeChat) is down.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The code this error answers with (one place decides it; `api::error` maps the status).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::InvalidInput,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { code, .. } | Self::Unprocessable { code, .. } => *code,
            Self::TooManyRequests { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::NotFound { what }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if database_unreachable(&err) {
            Self::Unavailable(format!("database unavailable: {err}"))
        } else {
            Self::Internal(anyhow::Error::new(err))
        }
    }
}

/// Whether `err` says the database could not be reached (503) rather than that a statement
/// went wrong (500). A connection can die in the middle of a query, so a query or execution
/// error counts too when its cause is the link: I/O, TLS, the pool, or PostgreSQL's
/// connection-exception (08xxx) and shutdown (57P01-57P03) codes.
fn database_unreachable(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else {
        return false;
    };
    match sqlx_err.as_ref() {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::{io, sync::Arc};

    use sea_orm::ConnAcquireErr;

    use super::*;

    fn query_err(err: SqlxError) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
    }

    #[test]
    fn a_connection_lost_during_a_query_is_unavailable_not_internal() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "got 0 bytes at EOF");
        for err in [
            query_err(SqlxError::Io(eof)),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(SqlxError::PoolTimedOut))),
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        ] {
            assert!(
                matches!(AppError::from(err.clone()), AppError::Unavailable(_)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_statement_that_goes_wrong_stays_internal() {
        for err in [
            query_err(SqlxError::RowNotFound),
            query_err(SqlxError::Protocol("unexpected message".into())),
            DbErr::Custom("bug".into()),
        ] {
            assert!(
                matches!(AppError::from(err.clone()), AppError::Internal(_)),
                "{err:?}"
            );
        }
    }
}
