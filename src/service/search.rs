//! Reader searches: the query rules (length, paging, the capped total), the engine's ranked
//! hits, and the cards of the hits read from SQL (so an article unpublished a moment ago is
//! never shown, even before every index has heard of it).

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::DatabaseConnection;

use super::articles::{self, CardView};
use crate::{
    error::{AppError, AppResult},
    pagination::{self, Page},
    search::{Hit, Search, SearchQuery, Suggestion},
};

/// Longest query, in characters.
pub const Q_MAX: usize = 200;
/// Longest category or tag slug filter.
pub const SLUG_MAX: usize = 100;
/// The total is exact up to this many hits; beyond, "more than" this.
pub const TOTAL_EXACT_MAX: u64 = 10_000;
/// How deep paging goes (results past this are not worth ranking).
pub const DEPTH_MAX: usize = 10_000;
/// Suggestions per answer.
pub const SUGGEST_MAX: usize = 10;

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub card: CardView,
    pub hit: Hit,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<SearchResult>,
    /// Capped at `TOTAL_EXACT_MAX`; `total_exact` says whether it is the exact count.
    pub total: u64,
    pub total_exact: bool,
    /// No article had every term; these have some of them.
    pub relaxed: bool,
    pub next_cursor: Option<String>,
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("s1:{offset}"))
}

fn decode_cursor(raw: &str) -> AppResult<usize> {
    let bad = || AppError::bad_field("cursor", "cursor is not valid for this search");
    let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let offset: usize = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.strip_prefix("s1:"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if offset >= DEPTH_MAX {
        return Err(bad());
    }
    Ok(offset)
}

fn slug_filter(name: &str, value: Option<String>) -> AppResult<Option<String>> {
    match value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        Some(v) if v.chars().count() > SLUG_MAX => Err(AppError::bad_field(
            name,
            format!("{name} must be at most {SLUG_MAX} characters"),
        )),
        other => Ok(other),
    }
}

/// The query text, trimmed; 400 when empty or too long.
fn query_text(q: Option<String>) -> AppResult<String> {
    let q = q.unwrap_or_default();
    let q = q.trim();
    if q.is_empty() {
        return Err(AppError::bad_field("q", "q must not be empty"));
    }
    if q.chars().count() > Q_MAX {
        return Err(AppError::bad_field(
            "q",
            format!("q must be at most {Q_MAX} characters"),
        ));
    }
    Ok(q.to_string())
}

/// Ranked published articles matching `req.q`. The text is never parsed as query syntax:
/// `title:x OR` searches the words title, x and or.
pub async fn search(
    db: &DatabaseConnection,
    search: &Search,
    req: SearchRequest,
) -> AppResult<SearchPage> {
    let limit = pagination::limit(req.limit)? as usize;
    let text = query_text(req.q)?;
    let offset = req
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .unwrap_or(0);
    let query = SearchQuery {
        text,
        category_slug: slug_filter("category", req.category)?,
        tag_slug: slug_filter("tag", req.tag)?,
        offset,
        limit: limit.min(DEPTH_MAX - offset),
    };
    let hits = search.search(query).await?;
    let ids: Vec<i64> = hits.hits.iter().map(|h| h.id).collect();
    let mut cards: HashMap<i64, CardView> = articles::cards_by_ids(db, &ids)
        .await?
        .into_iter()
        .map(|c| (c.article.id, c))
        .collect();
    let items = hits
        .hits
        .into_iter()
        .filter_map(|hit| cards.remove(&hit.id).map(|card| SearchResult { card, hit }))
        .collect();
    let reachable = (hits.total as usize).min(DEPTH_MAX);
    Ok(SearchPage {
        items,
        total: hits.total.min(TOTAL_EXACT_MAX),
        total_exact: hits.total <= TOTAL_EXACT_MAX,
        relaxed: hits.relaxed,
        next_cursor: (offset + limit < reachable).then(|| encode_cursor(offset + limit)),
    })
}

/// `GET /api/articles?q=`: the same search, as a list of cards in relevance order.
pub async fn search_cards(
    db: &DatabaseConnection,
    search_handle: &Search,
    req: SearchRequest,
) -> AppResult<Page<CardView>> {
    let page = search(db, search_handle, req).await?;
    Ok(Page {
        items: page.items.into_iter().map(|r| r.card).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Up to `SUGGEST_MAX` tags and titles for what the reader has typed so far.
pub async fn suggest(search: &Search, q: Option<String>) -> AppResult<Vec<Suggestion>> {
    let text = query_text(q)?;
    search.suggest(text, SUGGEST_MAX).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(40)).unwrap(), 40);
        assert!(decode_cursor("bm9wZQ").is_err());
        assert!(decode_cursor(&encode_cursor(DEPTH_MAX)).is_err());
    }
}
