//! Official Account followers: the table the callback maintains (subscribe, unsubscribe,
//! bind QR scans), the admin list, and the `user/get` reconciliation sync.
//!
//! Bind QR codes carry one-time tickets: see `wechat_bind`. A follower linked to one user
//! is never moved to another by a scan.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use entity::{user, wechat_follower};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde::Serialize;

use crate::{
    cache::{Cache, LockToken},
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    state::AppState,
    time,
    wechat::WechatApp,
};

/// Rows per statement while syncing: far below SQLite's and PostgreSQL's bind limits.
const SYNC_BATCH: usize = 500;
/// One sync at a time across instances; the lease outlives any sane sync.
const SYNC_LOCK: &str = "wx:followers:sync";
const SYNC_LEASE: Duration = Duration::from_secs(15 * 60);
/// WeChat pages hold 10,000 openids; this bounds a misbehaving `next_openid` loop.
const MAX_SYNC_PAGES: u64 = 100_000;

fn blank(openid: &str, now: DateTime<Utc>) -> wechat_follower::ActiveModel {
    wechat_follower::ActiveModel {
        openid: Set(openid.to_string()),
        unionid: Set(None),
        user_id: Set(None),
        subscribed: Set(true),
        subscribed_at: Set(None),
        unsubscribed_at: Set(None),
        scene: Set(None),
        last_event_at: Set(None),
        sync_generation: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Inserts `row`, or updates `columns` of the follower with its openid.
async fn upsert(
    db: &DatabaseConnection,
    row: wechat_follower::ActiveModel,
    columns: impl IntoIterator<Item = wechat_follower::Column>,
) -> AppResult<()> {
    wechat_follower::Entity::insert(row)
        .on_conflict(
            OnConflict::column(wechat_follower::Column::Openid)
                .update_columns(columns)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A subscribe event (`scene` set when they followed through a QR code).
pub async fn record_subscribe(
    db: &DatabaseConnection,
    openid: &str,
    scene: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use wechat_follower::Column as C;
    let mut row = blank(openid, now);
    row.subscribed_at = Set(Some(now));
    row.scene = Set(scene.map(str::to_string));
    row.last_event_at = Set(Some(now));
    upsert(
        db,
        row,
        [
            C::Subscribed,
            C::SubscribedAt,
            C::UnsubscribedAt,
            C::Scene,
            C::LastEventAt,
            C::UpdatedAt,
        ],
    )
    .await
}

/// An unsubscribe event. The row stays (with its user link) for a later return.
pub async fn record_unsubscribe(
    db: &DatabaseConnection,
    openid: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use wechat_follower::Column as C;
    let mut row = blank(openid, now);
    row.subscribed = Set(false);
    row.unsubscribed_at = Set(Some(now));
    row.last_event_at = Set(Some(now));
    upsert(
        db,
        row,
        [
            C::Subscribed,
            C::UnsubscribedAt,
            C::LastEventAt,
            C::UpdatedAt,
        ],
    )
    .await
}

/// What a bind scan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The follower is now (or already was) linked to the user.
    Linked,
    /// The follower is linked to another user: nothing changed.
    LinkedToOther,
    /// No such user.
    NoUser,
}

/// Links the follower to `user_id` after they scanned that user's bind ticket. A SCAN only
/// comes from a follower, so they are subscribed. The link is a compare-and-set (only an
/// unlinked follower, or one already linked to this user), so a scan never moves a
/// follower from one user to another.
pub async fn link_user(
    db: &DatabaseConnection,
    openid: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<LinkOutcome> {
    use wechat_follower::Column as C;
    if user::Entity::find_by_id(user_id).one(db).await?.is_none() {
        return Ok(LinkOutcome::NoUser);
    }
    // A follower from before this table existed has no row yet.
    wechat_follower::Entity::insert(blank(openid, now))
        .on_conflict(OnConflict::column(C::Openid).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    let linked = wechat_follower::Entity::update_many()
        .col_expr(C::UserId, Expr::value(user_id))
        .col_expr(C::Subscribed, Expr::value(true))
        .col_expr(C::LastEventAt, Expr::value(now))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Openid.eq(openid))
        .filter(
            Condition::any()
                .add(C::UserId.is_null())
                .add(C::UserId.eq(user_id)),
        )
        .exec(db)
        .await?;
    Ok(if linked.rows_affected > 0 {
        LinkOutcome::Linked
    } else {
        LinkOutcome::LinkedToOther
    })
}

pub async fn find(
    db: &DatabaseConnection,
    openid: &str,
) -> AppResult<Option<wechat_follower::Model>> {
    Ok(wechat_follower::Entity::find()
        .filter(wechat_follower::Column::Openid.eq(openid))
        .one(db)
        .await?)
}

/// A page of followers, newest first, optionally only (un)subscribed ones.
pub async fn list(
    db: &DatabaseConnection,
    subscribed: Option<bool>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<wechat_follower::Model>> {
    let limit = pagination::limit(limit)?;
    let mut query = wechat_follower::Entity::find();
    if let Some(subscribed) = subscribed {
        query = query.filter(wechat_follower::Column::Subscribed.eq(subscribed));
    }
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(wechat_follower::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(wechat_follower::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |f| {
        IdCursor(f.id).encode()
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub subscribed: u64,
}

pub async fn counts(db: &DatabaseConnection) -> AppResult<Counts> {
    let total = wechat_follower::Entity::find().count(db).await?;
    let subscribed = wechat_follower::Entity::find()
        .filter(wechat_follower::Column::Subscribed.eq(true))
        .count(db)
        .await?;
    Ok(Counts { total, subscribed })
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    /// `user/get` pages fetched.
    pub pages: u64,
    /// Openids WeChat listed.
    pub listed: u64,
    /// Followers we did not know.
    pub added: u64,
    /// Followers we had as subscribed that WeChat no longer lists.
    pub unsubscribed: u64,
    /// `total` of WeChat's last page.
    pub wechat_total: u64,
}

/// A client error, not 503: retrying will not configure the account.
pub fn not_configured() -> AppError {
    AppError::conflict(
        ErrorCode::NotConfigured,
        "the Official Account is not configured",
    )
}

/// Reconciles the table with WeChat's follower list, one `user/get` page at a time (never
/// all openids at once): listed openids are stamped with this sync's generation (added as
/// subscribed when new), then subscribed followers left unstamped are marked unsubscribed.
/// Followers with a callback event since the sync started are left alone: the event is
/// newer than the list. One sync runs at a time (409 otherwise).
pub async fn sync(state: &AppState) -> AppResult<SyncSummary> {
    let app = state
        .wechat
        .official_account
        .clone()
        .ok_or_else(not_configured)?;
    let lock = state
        .cache
        .try_lock(SYNC_LOCK, SYNC_LEASE)
        .await
        .map_err(|e| AppError::Unavailable(format!("cache unavailable: {e}")))?
        .ok_or_else(|| {
            AppError::conflict(ErrorCode::SyncRunning, "a follower sync is already running")
        })?;
    // Released also when the sync is stopped halfway (a run past `jobs.max_run_secs`).
    let mut held = HeldLock(Some((state.cache.clone(), lock)));
    let outcome = run_sync(state, &app).await;
    held.release().await;
    outcome
}

/// Releases the sync lock when dropped, whether the sync ended or was stopped.
struct HeldLock(Option<(Cache, LockToken)>);

impl HeldLock {
    async fn release(&mut self) {
        if let Some((cache, lock)) = self.0.take()
            && let Err(e) = cache.unlock(SYNC_LOCK, &lock).await
        {
            tracing::warn!(error = %e, "cannot release the follower sync lock; it expires");
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some((cache, lock)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = cache.unlock(SYNC_LOCK, &lock).await {
                tracing::warn!(error = %e, "cannot release the follower sync lock; it expires");
            }
        });
    }
}

async fn run_sync(state: &AppState, app: &WechatApp) -> AppResult<SyncSummary> {
    let started = time::now();
    // Distinct per sync (and increasing), so a stamp from an earlier sync never counts.
    let generation = started.timestamp_micros();
    let mut summary = SyncSummary::default();
    let mut next: Option<String> = None;
    loop {
        let client = state.wechat.client.clone();
        let from = next.clone();
        let page = state
            .wechat
            .tokens
            .call_with_token(app, move |token| {
                let client = client.clone();
                let from = from.clone();
                async move { client.user_get(&token, from.as_deref()).await }
            })
            .await?;
        summary.pages += 1;
        summary.listed += page.openids.len() as u64;
        summary.wechat_total = page.total;
        for batch in page.openids.chunks(SYNC_BATCH) {
            summary.added += stamp_batch(&state.db, batch, generation, started).await?;
        }
        match page.next_openid {
            Some(n) if next.as_deref() != Some(n.as_str()) && summary.pages < MAX_SYNC_PAGES => {
                next = Some(n)
            }
            _ => break,
        }
    }
    summary.unsubscribed = mark_missing(&state.db, generation, started).await?;
    tracing::info!(?summary, "wechat followers synced");
    Ok(summary)
}

/// Stamps one batch of listed openids; returns how many were new.
async fn stamp_batch(
    db: &DatabaseConnection,
    openids: &[String],
    generation: i64,
    started: DateTime<Utc>,
) -> AppResult<u64> {
    use wechat_follower::Column as C;
    let known: Vec<String> = wechat_follower::Entity::find()
        .select_only()
        .column(C::Openid)
        .filter(C::Openid.is_in(openids))
        .into_tuple()
        .all(db)
        .await?;
    let now = time::now();
    if !known.is_empty() {
        wechat_follower::Entity::update_many()
            .col_expr(C::Subscribed, Expr::value(true))
            .col_expr(C::SyncGeneration, Expr::value(generation))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::Openid.is_in(&known))
            .filter(no_event_since(started))
            .exec(db)
            .await?;
    }
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    let new: Vec<_> = openids
        .iter()
        .filter(|o| !known.contains(o.as_str()))
        .map(|o| {
            let mut row = blank(o, now);
            row.subscribed_at = Set(Some(now));
            row.sync_generation = Set(Some(generation));
            row
        })
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    // A subscribe callback may have inserted one meanwhile; its row is newer, keep it.
    let inserted = wechat_follower::Entity::insert_many(new)
        .on_conflict(OnConflict::column(C::Openid).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted)
}

fn no_event_since(started: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(wechat_follower::Column::LastEventAt.is_null())
        .add(wechat_follower::Column::LastEventAt.lt(started))
}

/// Marks subscribed followers this sync did not see as unsubscribed.
async fn mark_missing(
    db: &DatabaseConnection,
    generation: i64,
    started: DateTime<Utc>,
) -> AppResult<u64> {
    use wechat_follower::Column as C;
    let now = time::now();
    let result = wechat_follower::Entity::update_many()
        .col_expr(C::Subscribed, Expr::value(false))
        .col_expr(C::UnsubscribedAt, Expr::value(now))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Subscribed.eq(true))
        .filter(
            Condition::any()
                .add(C::SyncGeneration.is_null())
                .add(C::SyncGeneration.ne(generation)),
        )
        .filter(no_event_since(started))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
