//! Delta sync for offline reading (`GET /api/sync`): what changed in the public catalogue
//! since a cursor. Writers call [`record`] inside the transaction that changes an article
//! the public reads show; readers call [`changes`].
//!
//! Why a reader never misses a change, even when writers commit out of order: a plain
//! sequence (or autoincrement) hands out numbers at insert time, so a transaction that took
//! 7 can commit after one that took 8, and a reader who saw 8 and moved its cursor past it
//! would never see 7. Here the number comes from incrementing the single `sync_head` row,
//! which locks that row until the writer commits or rolls back. The next writer waits at
//! that increment, so numbers are handed out *in commit order* and without gaps: whenever
//! a reader sees `seq = n` committed, every `seq < n` is already committed too. On SQLite
//! the database has one writer at a time anyway (`db::begin_write` is `BEGIN IMMEDIATE`);
//! on PostgreSQL the row lock does it, and is released only after the commit is visible.
//! Writers call [`record`] as their last statement before commit, so the lock is held for
//! one insert and the commit. The cost: writes that touch articles commit one at a time
//! (admin and ingest writes, not reads, reactions or views).

use std::collections::{BTreeMap, HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use entity::{article, article_tag, change_log, sync_head};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, prelude::Expr, sea_query::Query,
};

use super::articles::{ArticleView, with_taxonomy};
use crate::{
    error::{AppError, AppResult},
    time,
};

/// Default and largest page (change rows, not distinct articles).
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

/// Records that the public view of `article_ids` changed. Call it inside the writer's
/// transaction, as its last statement before commit.
pub async fn record(txn: &impl ConnectionTrait, article_ids: &[i64]) -> AppResult<()> {
    let mut ids: Vec<i64> = article_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let n = ids.len() as i64;
    let bump = Query::update()
        .table(sync_head::Entity)
        .value(
            sync_head::Column::Seq,
            Expr::col(sync_head::Column::Seq).add(n),
        )
        .and_where(sync_head::Column::Id.eq(1))
        .returning_col(sync_head::Column::Seq)
        .to_owned();
    let row = txn
        .query_one(&bump)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("sync_head has no row")))?;
    let last: i64 = row.try_get_by_index(0)?;
    let now = time::now();
    change_log::Entity::insert_many(ids.iter().enumerate().map(|(i, &article_id)| {
        change_log::ActiveModel {
            seq: sea_orm::ActiveValue::Set(last - n + 1 + i as i64),
            article_id: sea_orm::ActiveValue::Set(article_id),
            changed_at: sea_orm::ActiveValue::Set(now),
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// The published articles in a category (before a rename or delete changes what they show).
pub async fn published_in_category(
    db: &impl ConnectionTrait,
    category_id: i64,
) -> AppResult<Vec<i64>> {
    Ok(article::Entity::find_published()
        .select_only()
        .column(article::Column::Id)
        .filter(article::Column::CategoryId.eq(category_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// The published articles carrying a tag.
pub async fn published_with_tag(db: &impl ConnectionTrait, tag_id: i64) -> AppResult<Vec<i64>> {
    let tagged = Query::select()
        .column(article_tag::Column::ArticleId)
        .from(article_tag::Entity)
        .and_where(article_tag::Column::TagId.eq(tag_id))
        .to_owned();
    Ok(article::Entity::find_published()
        .select_only()
        .column(article::Column::Id)
        .filter(article::Column::Id.in_subquery(tagged))
        .into_tuple()
        .all(db)
        .await?)
}

/// A position in the change log; opaque to clients (`s1:<seq>`, base64url).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncCursor(pub i64);

impl SyncCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("s1:{}", self.0))
    }

    pub fn decode(raw: &str) -> AppResult<Self> {
        let bad = || AppError::bad_field("since", "since is not a cursor this server gave");
        let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&text).map_err(|_| bad())?;
        let seq = text
            .strip_prefix("s1:")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s >= 0)
            .ok_or_else(bad)?;
        Ok(Self(seq))
    }
}

/// Why an article left the public catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It exists but is not published (unpublished, or back to scheduled).
    Unpublished,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct SyncPage {
    /// The current state of the published articles that changed, oldest change first.
    pub changed: Vec<ArticleView>,
    /// The articles that changed and are no longer public.
    pub removed: Vec<(i64, Gone)>,
    pub next: SyncCursor,
    /// More changes wait after `next`: call again at once.
    pub has_more: bool,
}

/// The changes after `since` (from the start when absent): each changed article once, in
/// its state now, or a tombstone. Calling again with `next` never misses a change (see
/// the module's documentation); an article may come twice if it changed again meanwhile.
pub async fn changes(
    db: &DatabaseConnection,
    since: Option<&str>,
    limit: Option<u32>,
) -> AppResult<SyncPage> {
    let since = since
        .map(SyncCursor::decode)
        .transpose()?
        .unwrap_or_default();
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(AppError::bad_field(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
    };
    let rows: Vec<(i64, i64)> = change_log::Entity::find()
        .select_only()
        .column(change_log::Column::Seq)
        .column(change_log::Column::ArticleId)
        .filter(change_log::Column::Seq.gt(since.0))
        .order_by_asc(change_log::Column::Seq)
        .limit(limit as u64 + 1)
        .into_tuple()
        .all(db)
        .await?;
    let has_more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = rows.last().map_or(since, |(seq, _)| SyncCursor(*seq));
    // Each article once, at the place of its last change in this page.
    let mut last_change: BTreeMap<i64, i64> = BTreeMap::new();
    for (seq, id) in rows {
        last_change.insert(*id, *seq);
    }
    let ids: Vec<i64> = last_change.keys().copied().collect();
    let articles = if ids.is_empty() {
        Vec::new()
    } else {
        article::Entity::find()
            .filter(article::Column::Id.is_in(ids.clone()))
            .all(db)
            .await?
    };
    let existing: HashSet<i64> = articles.iter().map(|a| a.id).collect();
    let mut published: Vec<article::Model> =
        articles.into_iter().filter(|a| a.is_published()).collect();
    published.sort_by_key(|a| last_change[&a.id]);
    let shown: HashSet<i64> = published.iter().map(|a| a.id).collect();
    let mut removed: Vec<(i64, i64, Gone)> = ids
        .iter()
        .filter(|id| !shown.contains(id))
        .map(|&id| {
            let gone = if existing.contains(&id) {
                Gone::Unpublished
            } else {
                Gone::Deleted
            };
            (last_change[&id], id, gone)
        })
        .collect();
    removed.sort_unstable_by_key(|r| r.0);
    let changed = with_taxonomy(db, published, |a| (a.id, a.category_id)).await?;
    Ok(SyncPage {
        changed,
        removed: removed
            .into_iter()
            .map(|(_, id, gone)| (id, gone))
            .collect(),
        next,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = SyncCursor(42);
        assert_eq!(SyncCursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "!!", "czE6LTE", "eDE6NQ", "czE6"] {
            assert!(SyncCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
