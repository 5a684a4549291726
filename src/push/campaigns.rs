//! Campaigns: which articles a push covers, who creates it (the `push_featured` job or an
//! admin), its life from pending to done, and what admins read about it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    article, category, push_campaign,
    push_campaign::{CampaignStatus, CampaignTrigger},
    push_campaign_article,
    push_delivery::{self, Channel, DeliveryStatus},
    user, wechat_follower,
};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Expr, sea_query::OnConflict,
};

use super::{
    deliveries,
    message::{self, ArticleBrief},
};
use crate::{
    db,
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    service::audit::{self, Actor, Entry},
    time,
};
use serde_json::json;

/// Published, featured articles that no campaign has pushed, featured within `lookback`,
/// newest first, at most `max`. (An article skipped by a full digest goes in the next one.)
pub async fn unpushed_featured(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lookback: Duration,
    max: u64,
) -> AppResult<Vec<article::Model>> {
    let pushed = sea_orm::sea_query::Query::select()
        .column(push_campaign_article::Column::ArticleId)
        .from(push_campaign_article::Entity)
        .to_owned();
    Ok(article::Entity::find_published()
        .filter(article::Column::Featured.eq(true))
        .filter(article::Column::FeaturedAt.gte(now - lookback))
        .filter(article::Column::Id.not_in_subquery(pushed))
        .order_by_desc(article::Column::FeaturedAt)
        .order_by_desc(article::Column::Id)
        .limit(max)
        .all(db)
        .await?)
}

/// Creates a campaign over `article_ids` (in digest order). Articles another campaign
/// took in the meantime are left out; None when that leaves nothing.
/// `admin` is recorded in the audit log, in the same transaction.
pub async fn create(
    db: &DatabaseConnection,
    article_ids: &[i64],
    trigger: CampaignTrigger,
    admin: Option<&Actor>,
) -> AppResult<Option<push_campaign::Model>> {
    let now = time::now();
    let txn = db::begin_write(db).await?;
    let follower_horizon =
        max_id(&txn, wechat_follower::Entity, wechat_follower::Column::Id).await?;
    let user_horizon = max_id(&txn, user::Entity, user::Column::Id).await?;
    let campaign = push_campaign::Entity::insert(push_campaign::ActiveModel {
        status: Set(CampaignStatus::Pending),
        trigger: Set(trigger),
        title: Set(String::new()),
        article_ids: Set("[]".into()),
        follower_horizon: Set(follower_horizon),
        user_horizon: Set(user_horizon),
        created_by: Set(admin.and_then(|a| a.user_id)),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    let mut kept = Vec::new();
    for &article_id in article_ids {
        // The article's primary key is the claim: an article is pushed once, ever.
        let inserted = push_campaign_article::Entity::insert(push_campaign_article::ActiveModel {
            article_id: Set(article_id),
            campaign_id: Set(campaign.id),
        })
        .on_conflict(
            OnConflict::column(push_campaign_article::Column::ArticleId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted > 0 {
            kept.push(article_id);
        }
    }
    if kept.is_empty() {
        txn.rollback().await?;
        return Ok(None);
    }
    let briefs = briefs(&txn, &kept).await?;
    let updated = push_campaign::Entity::update(push_campaign::ActiveModel {
        id: Set(campaign.id),
        title: Set(message::truncate_chars(&message::headline(&briefs), 500)),
        article_ids: Set(serde_json::to_string(&kept).unwrap_or_default()),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    if let Some(admin) = admin {
        let entry = Entry::new("push_campaign.create", "push_campaign", updated.id)
            .after(json!({ "articles": kept, "trigger": "manual" }));
        audit::record(&txn, admin, entry).await?;
    }
    txn.commit().await?;
    Ok(Some(updated))
}

async fn max_id<E: EntityTrait>(
    db: &impl ConnectionTrait,
    _entity: E,
    column: E::Column,
) -> AppResult<i64> {
    Ok(E::find()
        .select_only()
        .column_as(Expr::col(column).max(), "m")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// The campaign that pushed `article_id`, if any.
pub async fn of_article(
    db: &impl ConnectionTrait,
    article_id: i64,
) -> AppResult<Option<push_campaign::Model>> {
    let Some(link) = push_campaign_article::Entity::find_by_id(article_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(push_campaign::Entity::find_by_id(link.campaign_id)
        .one(db)
        .await?)
}

/// Pushes one published article now, or returns the campaign that already pushed it
/// (`false`): pushing an article twice is a no-op, whoever asks.
pub async fn push_article(
    db: &DatabaseConnection,
    article_id: i64,
    admin: &Actor,
) -> AppResult<(push_campaign::Model, bool)> {
    let article = article::Entity::find_by_id(article_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))?;
    if let Some(existing) = of_article(db, article_id).await? {
        return Ok((existing, false));
    }
    if !article.is_published() {
        return Err(AppError::Conflict {
            code: ErrorCode::NotPublished,
            message: "only a published article can be pushed".into(),
        });
    }
    match create(db, &[article_id], CampaignTrigger::Manual, Some(admin)).await? {
        Some(created) => Ok((created, true)),
        // Another request pushed it between our check and our insert.
        None => of_article(db, article_id)
            .await?
            .map(|c| (c, false))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("campaign of article vanished"))),
    }
}

/// The campaign's articles as briefs, in digest order (deleted articles drop out).
pub async fn articles_of(
    db: &impl ConnectionTrait,
    campaign: &push_campaign::Model,
) -> AppResult<Vec<ArticleBrief>> {
    briefs(db, &article_ids(campaign)).await
}

pub fn article_ids(campaign: &push_campaign::Model) -> Vec<i64> {
    serde_json::from_str(&campaign.article_ids).unwrap_or_default()
}

async fn briefs(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<ArticleBrief>> {
    let rows: Vec<(i64, String, Option<String>)> = article::Entity::find()
        .select_only()
        .column(article::Column::Id)
        .column(article::Column::Title)
        .column_as(category::Column::Slug, "slug")
        .left_join(category::Entity)
        .filter(article::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_id: HashMap<i64, ArticleBrief> = rows
        .into_iter()
        .map(|(id, title, category)| {
            (
                id,
                ArticleBrief {
                    id,
                    title,
                    category,
                },
            )
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Takes the preparation of a waiting campaign, or of one whose preparer's lease ran out.
pub async fn take_preparation(
    db: &DatabaseConnection,
    campaign_id: i64,
    instance: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    use push_campaign::Column as C;
    let taken = push_campaign::Entity::update_many()
        .col_expr(C::Status, Expr::value(CampaignStatus::Preparing.to_value()))
        .col_expr(C::LeaseOwner, Expr::value(Some(instance.to_string())))
        .col_expr(C::LeaseUntil, Expr::value(Some(lease_until)))
        .filter(C::Id.eq(campaign_id))
        .filter(
            C::Status.eq(CampaignStatus::Pending).or(C::Status
                .eq(CampaignStatus::Preparing)
                .and(C::LeaseUntil.lt(now))),
        )
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

pub async fn extend_lease(
    db: &DatabaseConnection,
    campaign_id: i64,
    instance: &str,
    lease_until: DateTime<Utc>,
) -> AppResult<()> {
    use push_campaign::Column as C;
    push_campaign::Entity::update_many()
        .col_expr(C::LeaseUntil, Expr::value(Some(lease_until)))
        .filter(C::Id.eq(campaign_id))
        .filter(C::LeaseOwner.eq(instance))
        .exec(db)
        .await?;
    Ok(())
}

/// Preparation finished: deliveries go out now.
pub async fn prepared(db: &DatabaseConnection, campaign_id: i64, instance: &str) -> AppResult<()> {
    use push_campaign::Column as C;
    push_campaign::Entity::update_many()
        .col_expr(C::Status, Expr::value(CampaignStatus::Sending.to_value()))
        .col_expr(C::PreparedAt, Expr::value(Some(time::now())))
        .col_expr(C::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::Id.eq(campaign_id))
        .filter(C::Status.eq(CampaignStatus::Preparing))
        .filter(C::LeaseOwner.eq(instance))
        .exec(db)
        .await?;
    finish_if_settled(db, campaign_id).await?;
    Ok(())
}

/// Campaigns a worker should (re)prepare: those waiting since before `created_before`
/// (whoever created them normally prepares them at once), and those whose preparer died.
pub async fn awaiting_preparation(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    created_before: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    use push_campaign::Column as C;
    Ok(push_campaign::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(
            C::Status
                .eq(CampaignStatus::Pending)
                .and(C::CreatedAt.lt(created_before))
                .or(C::Status
                    .eq(CampaignStatus::Preparing)
                    .and(C::LeaseUntil.lt(now))),
        )
        .order_by_asc(C::Id)
        .limit(10)
        .into_tuple()
        .all(db)
        .await?)
}

/// Campaigns being delivered.
pub async fn sending(db: &DatabaseConnection) -> AppResult<Vec<i64>> {
    use push_campaign::Column as C;
    Ok(push_campaign::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::Status.eq(CampaignStatus::Sending))
        .into_tuple()
        .all(db)
        .await?)
}

/// Closes a sending campaign once nothing is pending or in flight: `done`, or `failed` when
/// some deliveries failed (an admin can retry those).
pub async fn finish_if_settled(db: &DatabaseConnection, campaign_id: i64) -> AppResult<bool> {
    use push_campaign::Column as C;
    // Sending first, then settled: while a campaign is still being prepared, every chunk
    // written so far may be settled before its last page of deliveries is written. A
    // campaign is `sending` only once all its chunks are, so a check of the chunks after
    // seeing it `sending` sees them all.
    let status = push_campaign::Entity::find_by_id(campaign_id)
        .select_only()
        .column(C::Status)
        .into_tuple::<CampaignStatus>()
        .one(db)
        .await?;
    if status != Some(CampaignStatus::Sending) || super::chunks::unsettled(db, campaign_id).await? {
        return Ok(false);
    }
    let failed: i64 = deliveries::counts(db, &[campaign_id])
        .await?
        .into_iter()
        .filter(|(_, _, s, _)| *s == DeliveryStatus::Failed)
        .map(|(.., n)| n)
        .sum();
    let (status, error) = if failed > 0 {
        (
            CampaignStatus::Failed,
            Some(format!("{failed} deliveries failed")),
        )
    } else {
        (CampaignStatus::Done, None)
    };
    let closed = push_campaign::Entity::update_many()
        .col_expr(C::Status, Expr::value(status.to_value()))
        .col_expr(C::FinishedAt, Expr::value(Some(time::now())))
        .col_expr(C::Error, Expr::value(error))
        .filter(C::Id.eq(campaign_id))
        .filter(C::Status.eq(CampaignStatus::Sending))
        .exec(db)
        .await?;
    Ok(closed.rows_affected == 1)
}

/// Deliveries of one channel by status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub unknown: i64,
}

impl ChannelCounts {
    fn add(&mut self, status: DeliveryStatus, n: i64) {
        let slot = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Sending => &mut self.sending,
            DeliveryStatus::Sent => &mut self.sent,
            DeliveryStatus::Failed => &mut self.failed,
            DeliveryStatus::Skipped => &mut self.skipped,
            DeliveryStatus::Unknown => &mut self.unknown,
        };
        *slot += n;
    }

    pub fn total(&self) -> i64 {
        self.pending + self.sending + self.sent + self.failed + self.skipped + self.unknown
    }
}

/// Errors seen by a campaign's deliveries, grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorGroup {
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub errcode: Option<i64>,
    pub error: String,
    pub count: i64,
}

#[derive(Debug, Clone)]
pub struct CampaignView {
    pub campaign: push_campaign::Model,
    pub articles: Vec<ArticleBrief>,
    pub counts: Vec<(Channel, ChannelCounts)>,
}

#[derive(Debug, Clone)]
pub struct CampaignDetail {
    pub view: CampaignView,
    pub errors: Vec<ErrorGroup>,
}

/// One campaign's rows of `deliveries::counts`, per channel.
fn group_counts(rows: &[deliveries::CountRow], campaign_id: i64) -> Vec<(Channel, ChannelCounts)> {
    let mut out: Vec<(Channel, ChannelCounts)> = Vec::new();
    for &(_, channel, status, n) in rows.iter().filter(|r| r.0 == campaign_id) {
        match out.iter_mut().find(|(c, _)| *c == channel) {
            Some((_, counts)) => counts.add(status, n),
            None => {
                let mut counts = ChannelCounts::default();
                counts.add(status, n);
                out.push((channel, counts));
            }
        }
    }
    out.sort_by_key(|(c, _)| deliveries::ALL_CHANNELS.iter().position(|x| x == c));
    out
}

/// Views of `campaigns` with two queries whatever their number: counts and articles.
async fn views(
    db: &DatabaseConnection,
    campaigns: Vec<push_campaign::Model>,
) -> AppResult<Vec<CampaignView>> {
    let ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
    let counts = deliveries::counts(db, &ids).await?;
    let covered: Vec<i64> = campaigns.iter().flat_map(article_ids).collect();
    let all = briefs(db, &covered).await?;
    Ok(campaigns
        .into_iter()
        .map(|campaign| {
            let wanted = article_ids(&campaign);
            CampaignView {
                counts: group_counts(&counts, campaign.id),
                articles: wanted
                    .iter()
                    .filter_map(|id| all.iter().find(|a| a.id == *id).cloned())
                    .collect(),
                campaign,
            }
        })
        .collect())
}

/// A page of campaigns, newest first.
pub async fn list(
    db: &DatabaseConnection,
    status: Option<CampaignStatus>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CampaignView>> {
    let limit = pagination::limit(limit)?;
    let mut query = push_campaign::Entity::find();
    if let Some(status) = status {
        query = query.filter(push_campaign::Column::Status.eq(status));
    }
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(push_campaign::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(push_campaign::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |c| IdCursor(c.id).encode());
    Ok(Page {
        items: views(db, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// (channel, status, errcode, error, count) as grouped by SQL.
type ErrorRow = (Channel, DeliveryStatus, Option<i64>, Option<String>, i64);

pub async fn detail(db: &DatabaseConnection, id: i64) -> AppResult<CampaignDetail> {
    use push_delivery::Column as C;
    let campaign = push_campaign::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("campaign"))?;
    let errors: Vec<ErrorRow> = push_delivery::Entity::find()
        .select_only()
        .columns([C::Channel, C::Status, C::LastErrcode, C::LastError])
        .column_as(C::Id.count(), "n")
        .filter(C::CampaignId.eq(id))
        .filter(C::LastError.is_not_null())
        .group_by(C::Channel)
        .group_by(C::Status)
        .group_by(C::LastErrcode)
        .group_by(C::LastError)
        .order_by_desc(Expr::col(C::Id).count())
        .limit(50)
        .into_tuple()
        .all(db)
        .await?;
    Ok(CampaignDetail {
        view: views(db, vec![campaign]).await?.remove(0),
        errors: errors
            .into_iter()
            .map(|(channel, status, errcode, error, count)| ErrorGroup {
                channel,
                status,
                errcode,
                error: error.unwrap_or_default(),
                count,
            })
            .collect(),
    })
}

/// Sends a campaign's failed deliveries again (only those); returns how many.
pub async fn retry_failed(db: &DatabaseConnection, id: i64, admin: &Actor) -> AppResult<u64> {
    use push_campaign::Column as C;
    let campaign = push_campaign::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("campaign"))?;
    // One transaction: a worker never sees requeued rows under a closed campaign.
    let txn = db::begin_write(db).await?;
    let requeued = deliveries::requeue_failed(&txn, id, time::now()).await?;
    if requeued > 0
        && matches!(
            campaign.status,
            CampaignStatus::Failed | CampaignStatus::Done
        )
    {
        push_campaign::Entity::update_many()
            .col_expr(C::Status, Expr::value(CampaignStatus::Sending.to_value()))
            .col_expr(C::FinishedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::Error, Expr::value(Option::<String>::None))
            .filter(C::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    if requeued > 0 {
        let entry = Entry::new("push_campaign.retry", "push_campaign", id)
            .before(json!({ "status": campaign.status }))
            .after(json!({ "requeued": requeued }));
        audit::record(&txn, admin, entry).await?;
    }
    txn.commit().await?;
    Ok(requeued)
}
