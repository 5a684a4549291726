//! Keyset pagination: a page asks for `limit` items after an opaque cursor that encodes the
//! sort key of the last item served, so page 10,000 costs what page 1 costs.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{ExprTrait, prelude::Expr, sea_query::IntoColumnRef};

use crate::error::AppError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// One page of results and the cursor of the next page (None on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Validated `limit` (1..=100, default 20).
pub fn limit(requested: Option<u32>) -> Result<u64, AppError> {
    match requested {
        None => Ok(DEFAULT_LIMIT as u64),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad_field(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Position after (time, id) in a list sorted newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("t1:{}:{}", self.at.timestamp_millis(), self.id))
    }

    pub fn decode(raw: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_field("cursor", "cursor is not valid for this list");
        let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&text).map_err(|_| bad())?;
        let mut parts = text.splitn(3, ':');
        if parts.next() != Some("t1") {
            return Err(bad());
        }
        let millis: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let id: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let at = DateTime::from_timestamp_millis(millis).ok_or_else(bad)?;
        Ok(Self { at, id })
    }
}

impl TimeCursor {
    /// Rows after this cursor in a list sorted by `(time, id)` descending (newest first).
    pub fn older<C: IntoColumnRef>(&self, time: C, id: C) -> Expr {
        Expr::tuple([Expr::col(time), Expr::col(id)])
            .lt(Expr::tuple([Expr::val(self.at), Expr::val(self.id)]))
    }

    /// Rows after this cursor in a list sorted by `(time, id)` ascending (oldest first).
    pub fn newer<C: IntoColumnRef>(&self, time: C, id: C) -> Expr {
        Expr::tuple([Expr::col(time), Expr::col(id)])
            .gt(Expr::tuple([Expr::val(self.at), Expr::val(self.id)]))
    }
}

/// Position after `id` in a list sorted by id, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdCursor(pub i64);

impl IdCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("i1:{}", self.0))
    }

    pub fn decode(raw: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_field("cursor", "cursor is not valid for this list");
        let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&text).map_err(|_| bad())?;
        let id = text
            .strip_prefix("i1:")
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)?;
        Ok(Self(id))
    }
}

/// Splits `limit + 1` fetched rows into a page: the extra row only proves there is more.
pub fn page_from_rows<T>(
    mut rows: Vec<T>,
    limit: u64,
    cursor_of: impl Fn(&T) -> String,
) -> Page<T> {
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_cursor_round_trips() {
        let cursor = TimeCursor {
            at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            id: 42,
        };
        assert_eq!(TimeCursor::decode(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn an_id_cursor_is_not_accepted_as_a_time_cursor() {
        assert!(TimeCursor::decode(&IdCursor(5).encode()).is_err());
        assert!(IdCursor::decode(&IdCursor(5).encode()).is_ok());
        assert!(TimeCursor::decode("%%%").is_err());
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }
}
