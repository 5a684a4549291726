//! The one application error. Services return `AppError`; the API layer maps it once, in
//! `api::error`, to a status and the JSON error body.

use std::time::Duration;

use sea_orm::DbErr;

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
    Conflict { code: &'static str, message: String },
    /// 422: well-formed input that breaks a business rule.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
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
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::NotFound { what }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                Self::Unavailable(format!("database unavailable: {err}"))
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}
