//! Delivery rows: claim the due rows of a chunk this worker holds (see `chunks`: the chunk
//! keeps instances apart), settle outcomes, and recover claims whose worker died.

use chrono::{DateTime, Utc};
use entity::{
    push_chunk,
    push_delivery::{self, Channel, DeliveryStatus},
};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, prelude::Expr,
};

use super::chunks;
use crate::{db, error::AppResult};

use push_delivery::Column as C;

/// IN-lists are chunked to stay well under every backend's parameter limit.
const CHUNK: usize = 500;

/// Whether a resend of the same message is recognised and not delivered again: the inbox
/// (unique per user and event), template messages (`client_msg_id`) and mass sends
/// (`clientmsgid`) are, and device pushes carry a collapse key derived from the campaign
/// (a resend replaces the notification on the phone); mini-program subscribe messages have
/// no such key.
pub fn deduplicates(channel: Channel) -> bool {
    !matches!(channel, Channel::MiniprogramSubscribe)
}

pub const ALL_CHANNELS: [Channel; 7] = [
    Channel::Inbox,
    Channel::WechatTemplate,
    Channel::WechatMass,
    Channel::MiniprogramSubscribe,
    Channel::Apns,
    Channel::Fcm,
    Channel::Harmony,
];

/// The status of a delivery while a worker holds its chunk. Where the channel
/// de-duplicates, a claimed row stays `pending` and is written once, when it settles: the
/// chunk's lease already keeps other workers off it, and if the worker dies the row is
/// simply resent with its key. Where it does not, the row is marked `sending` before it goes
/// out, so that a dead worker's rows become `unknown` instead of being sent twice.
pub fn claimed_status(channel: Channel) -> DeliveryStatus {
    if deduplicates(channel) {
        DeliveryStatus::Pending
    } else {
        DeliveryStatus::Sending
    }
}

/// Claims up to `limit` due deliveries of `chunk` (which this worker holds) for
/// `instance`; a mass batch is one chunk and is claimed whole. The models returned count
/// the attempt under way in `attempts`, as the settled rows will.
pub async fn claim(
    db: &DatabaseConnection,
    chunk: &push_chunk::Model,
    instance: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<push_delivery::Model>> {
    let due = due(chunk, now, limit);
    if deduplicates(chunk.channel) {
        let mut claimed = due.all(db).await?;
        for d in &mut claimed {
            d.attempts += 1;
            d.claimed_by = Some(instance.to_string());
        }
        return Ok(claimed);
    }
    let ids = due.select_only().column(C::Id).into_query();
    let claimed = push_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(DeliveryStatus::Sending.to_value()))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .col_expr(C::ClaimedBy, Expr::value(instance.to_string()))
        .col_expr(C::LeaseUntil, Expr::value(lease_until))
        .filter(C::Id.in_subquery(ids))
        .filter(C::Status.eq(DeliveryStatus::Pending))
        .exec_with_returning(db)
        .await?;
    Ok(claimed)
}

/// The first `limit` pending deliveries of `chunk` due at `now`, in id order: what a claim
/// takes.
pub fn due(
    chunk: &push_chunk::Model,
    now: DateTime<Utc>,
    limit: u64,
) -> sea_orm::Select<push_delivery::Entity> {
    push_delivery::Entity::find()
        .filter(chunks::rows_of(chunk, DeliveryStatus::Pending))
        .filter(C::NextAttemptAt.lte(now))
        .order_by_asc(C::Id)
        .limit(limit)
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Sent,
    Skipped {
        errcode: Option<i64>,
        error: String,
    },
    Failed {
        errcode: Option<i64>,
        error: String,
    },
    Unknown {
        error: String,
    },
    /// Back to pending for a later attempt.
    Retry {
        at: DateTime<Utc>,
        errcode: Option<i64>,
        error: String,
        /// The attempt does not count (the channel was paused before or by it).
        uncount: bool,
    },
}

impl Settle {
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Self::Sent => DeliveryStatus::Sent,
            Self::Skipped { .. } => DeliveryStatus::Skipped,
            Self::Failed { .. } => DeliveryStatus::Failed,
            Self::Unknown { .. } => DeliveryStatus::Unknown,
            Self::Retry { .. } => DeliveryStatus::Pending,
        }
    }

    /// The outcome's name in metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Skipped { .. } => "skipped",
            Self::Failed { .. } => "failed",
            Self::Unknown { .. } => "unknown",
            Self::Retry { uncount: true, .. } => "deferred",
            Self::Retry { .. } => "retry",
        }
    }
}

/// Records the outcomes of a chunk's claimed deliveries and releases the chunk, in one
/// transaction. Sent rows are settled in bulk; the rest (few) one by one. When the claim was
/// taken over (its lease ran out and it was recovered), nothing is recorded: the rows
/// belong to whoever holds them now. Returns whether the outcomes were recorded.
pub async fn settle(
    db: &DatabaseConnection,
    chunk: &push_chunk::Model,
    token: &str,
    instance: &str,
    now: DateTime<Utc>,
    outcomes: Vec<(i64, Settle)>,
) -> AppResult<bool> {
    let channel = chunk.channel;
    let held = claimed_status(channel);
    // A claim that wrote nothing has not counted its attempt yet.
    let counted_at_claim = held == DeliveryStatus::Sending;
    let (sent, others): (Vec<_>, Vec<_>) =
        outcomes.into_iter().partition(|(_, s)| *s == Settle::Sent);
    let sent: Vec<i64> = sent.into_iter().map(|(id, _)| id).collect();
    let txn = db::begin_write(db).await?;
    // Holding the chunk is what makes its rows ours: the release checks the claim token.
    if !chunks::release(&txn, chunk, token).await? {
        txn.commit().await?;
        return Ok(false);
    }
    if db::is_postgres(db) && deduplicates(channel) {
        // Not waiting for the WAL flush: if PostgreSQL itself crashes, these rows fall back
        // to pending under an expired claim and are resent with the same de-duplication
        // key, so nothing arrives twice. (Channels without a key commit synchronously.)
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
    }
    let attempts = |delta: i32| Expr::col(C::Attempts).add(delta);
    for ids in sent.chunks(CHUNK) {
        push_delivery::Entity::update_many()
            .col_expr(C::Status, Expr::value(DeliveryStatus::Sent.to_value()))
            .col_expr(C::SentAt, Expr::value(now))
            .col_expr(C::Attempts, attempts(i32::from(!counted_at_claim)))
            .col_expr(C::ClaimedBy, Expr::value(instance.to_string()))
            .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::LastErrcode, Expr::value(Option::<i64>::None))
            .col_expr(C::LastError, Expr::value(Option::<String>::None))
            .filter(C::Id.is_in(ids.iter().copied()))
            .filter(C::Status.eq(held))
            .exec(&txn)
            .await?;
    }
    for (id, outcome) in others {
        let status = outcome.status();
        let mut update = push_delivery::Entity::update_many()
            .col_expr(C::Status, Expr::value(status.to_value()))
            .col_expr(C::ClaimedBy, Expr::value(instance.to_string()))
            .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None));
        let mut uncounted = false;
        let (errcode, error) = match outcome {
            Settle::Sent => unreachable!("partitioned above"),
            Settle::Skipped { errcode, error } | Settle::Failed { errcode, error } => {
                (errcode, error)
            }
            Settle::Unknown { error } => (None, error),
            Settle::Retry {
                at,
                errcode,
                error,
                uncount,
            } => {
                update = update.col_expr(C::NextAttemptAt, Expr::value(at));
                uncounted = uncount;
                (errcode, error)
            }
        };
        let delta = i32::from(!counted_at_claim) - i32::from(uncounted);
        if delta != 0 {
            update = update.col_expr(C::Attempts, attempts(delta));
        }
        update
            .col_expr(C::LastErrcode, Expr::value(errcode))
            .col_expr(C::LastError, Expr::value(Some(error)))
            .filter(C::Id.eq(id))
            .filter(C::Status.eq(held))
            .exec(&txn)
            .await?;
    }
    chunks::reschedule(&txn, chunk).await?;
    txn.commit().await?;
    Ok(true)
}

/// What `recover` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Back to pending: resent with the same de-duplication key.
    pub resend: u64,
    /// Marked unknown: the channel cannot tell a resend from a new message.
    pub unknown: u64,
}

/// Claims whose lease ran out belonged to a worker that died (or stalled) mid-send. Their
/// messages may have gone out. Where the channel de-duplicates, the chunk's pending rows are
/// due again and resent with the same key; otherwise the rows that were `sending` become
/// `unknown` and are never sent twice.
pub async fn recover(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<Recovered> {
    let mut total = Recovered::default();
    for chunk in chunks::expired(db, now, 100).await? {
        let txn = db::begin_write(db).await?;
        if !chunks::take_back(&txn, &chunk, now).await? {
            txn.commit().await?;
            continue;
        }
        // Rows marked `sending` (every claim on a channel without a key, and claims taken
        // before de-duplicating claims stopped writing) go on according to their channel.
        let in_flight = push_delivery::Entity::update_many()
            .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(chunks::rows_of(&chunk, DeliveryStatus::Sending));
        if deduplicates(chunk.channel) {
            in_flight
                .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.to_value()))
                .col_expr(C::NextAttemptAt, Expr::value(now))
                .exec(&txn)
                .await?;
            total.resend += push_delivery::Entity::find()
                .filter(chunks::rows_of(&chunk, DeliveryStatus::Pending))
                .filter(C::NextAttemptAt.lte(now))
                .count(&txn)
                .await?;
        } else {
            total.unknown += in_flight
                .col_expr(C::Status, Expr::value(DeliveryStatus::Unknown.to_value()))
                .col_expr(
                    C::LastError,
                    Expr::value(Some(
                        "the claiming worker stopped mid-send; the channel has no de-duplication key, so it is not resent"
                            .to_string(),
                    )),
                )
                .exec(&txn)
                .await?
                .rows_affected;
        }
        txn.commit().await?;
    }
    if total.resend + total.unknown > 0 {
        tracing::warn!(
            resend = total.resend,
            unknown = total.unknown,
            "recovered push deliveries from a worker that stopped"
        );
    }
    Ok(total)
}

/// (campaign, channel, status, deliveries) as grouped by SQL.
pub type CountRow = (i64, Channel, DeliveryStatus, i64);

/// Counts of the campaigns' deliveries by channel and status, in one query.
pub async fn counts(db: &impl ConnectionTrait, campaign_ids: &[i64]) -> AppResult<Vec<CountRow>> {
    Ok(push_delivery::Entity::find()
        .select_only()
        .column(C::CampaignId)
        .column(C::Channel)
        .column(C::Status)
        .column_as(C::Id.count(), "n")
        .filter(C::CampaignId.is_in(campaign_ids.iter().copied()))
        .group_by(C::CampaignId)
        .group_by(C::Channel)
        .group_by(C::Status)
        .into_tuple()
        .all(db)
        .await?)
}

/// Puts a campaign's failed deliveries back in the queue; returns how many.
pub async fn requeue_failed(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let n = push_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.to_value()))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::NextAttemptAt, Expr::value(now))
        .filter(C::CampaignId.eq(campaign_id))
        .filter(C::Status.eq(DeliveryStatus::Failed))
        .exec(db)
        .await?
        .rows_affected;
    if n > 0 {
        chunks::reopen(db, campaign_id, now).await?;
    }
    Ok(n)
}
