//! The delivery work queue by chunks: a campaign's deliveries on one channel are cut into
//! ranges of ids (`push.claim_batch` each, a whole batch for mass sends) when they are
//! written. A worker claims a chunk under a lease, renews the lease while it sends, and
//! releases it when its outcomes are recorded, with the time its next pending delivery is
//! due. Finding work through this small table keeps every index of `push_deliveries` off
//! the columns a send changes (see migration `m20261201_000001_push_chunks`), and makes
//! the chunk's lease the claim of its rows: where the channel de-duplicates, a row is
//! written only when it settles (`deliveries::claimed_status`).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use entity::{
    push_chunk,
    push_delivery::{self, Channel, DeliveryStatus},
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
    prelude::Expr,
    sea_query::{LockBehavior, LockType},
};

use crate::{db, error::AppResult};

use push_chunk::Column as K;

/// A name for one claim: the instance (as recorded on the deliveries) and a sequence
/// number, so that a claim taken over after its lease ran out is never mistaken for its
/// successor, even on the same instance.
pub fn claim_token(instance: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{instance}/{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Cuts sorted delivery ids of one campaign and channel into chunks of at most `size`,
/// due at `now`, in the caller's transaction (the rows and their chunks commit together).
pub async fn add(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    channel: Channel,
    ids: &[i64],
    size: usize,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let rows: Vec<push_chunk::ActiveModel> = ids
        .chunks(size.max(1))
        .map(|ids| push_chunk::ActiveModel {
            id: NotSet,
            campaign_id: Set(campaign_id),
            channel: Set(channel),
            first_id: Set(ids[0]),
            last_id: Set(ids[ids.len() - 1]),
            next_attempt_at: Set(Some(now)),
            claimed_by: Set(None),
            lease_until: Set(None),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    push_chunk::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Claims the channel's next due chunk nobody holds (`FOR UPDATE SKIP LOCKED` on
/// PostgreSQL, so instances never take the same one).
pub async fn claim(
    db: &DatabaseConnection,
    channel: Channel,
    token: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Option<push_chunk::Model>> {
    let mut next = push_chunk::Entity::find()
        .select_only()
        .column(K::Id)
        .filter(K::Channel.eq(channel))
        .filter(K::NextAttemptAt.lte(now))
        .filter(K::ClaimedBy.is_null())
        .order_by_asc(K::NextAttemptAt)
        .order_by_asc(K::Id)
        .limit(1)
        .into_query();
    if db::is_postgres(db) {
        next.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let claimed = push_chunk::Entity::update_many()
        .col_expr(K::ClaimedBy, Expr::value(Some(token.to_string())))
        .col_expr(K::LeaseUntil, Expr::value(Some(lease_until)))
        // `= (subquery)`, evaluated once: with `IN (subquery)` PostgreSQL may run the
        // `LIMIT 1 ... SKIP LOCKED` subquery again per candidate row and claim a second
        // chunk that this worker never sees (it then waits out its lease).
        .filter(
            Expr::col((push_chunk::Entity, K::Id)).eq(Expr::SubQuery(None, Box::new(next.into()))),
        )
        .filter(K::ClaimedBy.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Extends a claim's lease while its worker is still sending; false when the claim is no
/// longer this worker's (it stalled past its lease and was recovered).
pub async fn renew(
    db: &DatabaseConnection,
    chunk_id: i64,
    token: &str,
    lease_until: DateTime<Utc>,
) -> AppResult<bool> {
    let renewed = push_chunk::Entity::update_many()
        .col_expr(K::LeaseUntil, Expr::value(Some(lease_until)))
        .filter(K::Id.eq(chunk_id))
        .filter(K::ClaimedBy.eq(token))
        .exec(db)
        .await?;
    Ok(renewed.rows_affected == 1)
}

/// Ends the claim `token` holds on `chunk`, in the caller's transaction; false (and nothing
/// changed) when the claim was taken over. Call `reschedule` after recording the outcomes.
pub async fn release(
    db: &impl ConnectionTrait,
    chunk: &push_chunk::Model,
    token: &str,
) -> AppResult<bool> {
    let released = push_chunk::Entity::update_many()
        .col_expr(K::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(K::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(K::Id.eq(chunk.id))
        .filter(K::ClaimedBy.eq(token))
        .exec(db)
        .await?;
    Ok(released.rows_affected == 1)
}

/// The deliveries of `chunk` that are `status`, as a condition (a primary-key range scan).
///
/// The campaign is compared as `campaign_id + 0`, which no index matches: otherwise, with
/// the statistics of a table that just received a whole campaign (or none yet), PostgreSQL
/// and SQLite both prefer the unique (campaign, channel, recipient) index and read every
/// row of the campaign to find the thousand of one chunk (45 ms a claim on 100,000
/// deliveries on PostgreSQL, against 2 ms for the range).
pub fn rows_of(chunk: &push_chunk::Model, status: DeliveryStatus) -> sea_orm::Condition {
    use push_delivery::Column as D;
    sea_orm::Condition::all()
        .add(D::Id.between(chunk.first_id, chunk.last_id))
        .add(Expr::col(D::CampaignId).add(0).eq(chunk.campaign_id))
        .add(D::Channel.eq(chunk.channel))
        .add(D::Status.eq(status))
}

/// Sets when the chunk is due next: its earliest pending delivery, or never. One statement
/// (the minimum as a subquery), not a read and a write.
pub async fn reschedule(db: &impl ConnectionTrait, chunk: &push_chunk::Model) -> AppResult<()> {
    use push_delivery::Column as D;
    let next = push_delivery::Entity::find()
        .select_only()
        .column_as(D::NextAttemptAt.min(), "next")
        .filter(rows_of(chunk, DeliveryStatus::Pending))
        .into_query();
    push_chunk::Entity::update_many()
        .col_expr(
            K::NextAttemptAt,
            Expr::SubQuery(None, Box::new(next.into())),
        )
        .filter(K::Id.eq(chunk.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether a campaign has deliveries left to send (pending or in flight).
pub async fn unsettled(db: &impl ConnectionTrait, campaign_id: i64) -> AppResult<bool> {
    let open = push_chunk::Entity::find()
        .select_only()
        .column(K::Id)
        .filter(K::CampaignId.eq(campaign_id))
        .filter(
            K::NextAttemptAt
                .is_not_null()
                .or(K::ClaimedBy.is_not_null()),
        )
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(open.is_some())
}

/// Makes every chunk of a campaign due now (its failed deliveries were requeued).
pub async fn reopen(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    push_chunk::Entity::update_many()
        .col_expr(K::NextAttemptAt, Expr::value(Some(now)))
        .filter(K::CampaignId.eq(campaign_id))
        .filter(K::NextAttemptAt.is_null().or(K::NextAttemptAt.gt(now)))
        .exec(db)
        .await?;
    Ok(())
}

/// Claims whose lease ran out (their worker died or stalled), at most `limit`.
pub async fn expired(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<push_chunk::Model>> {
    Ok(push_chunk::Entity::find()
        .filter(K::LeaseUntil.lt(now))
        .order_by_asc(K::LeaseUntil)
        .limit(limit)
        .all(db)
        .await?)
}

/// Takes an expired claim back (in the caller's transaction): false when its worker
/// renewed or released it meanwhile, or another instance recovered it first.
pub async fn take_back(
    db: &impl ConnectionTrait,
    chunk: &push_chunk::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let taken = push_chunk::Entity::update_many()
        .col_expr(K::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(K::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(K::NextAttemptAt, Expr::value(Some(now)))
        .filter(K::Id.eq(chunk.id))
        .filter(K::ClaimedBy.eq(chunk.claimed_by.clone()))
        .filter(K::LeaseUntil.lt(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}
