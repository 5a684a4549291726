//! Freezing a campaign's recipients into delivery rows, a batch at a time (never everyone in
//! memory). Recipients are the followers and users with ids up to the campaign's horizons,
//! so people who follow after the campaign was created are left out. Inserts ignore rows
//! that exist, so a preparation cut short by a crash is simply run again.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    device, miniprogram_subscription, push_campaign,
    push_delivery::{self, Channel, DeliveryStatus},
    push_preference,
    user::{self, UserStatus},
    wechat_follower,
};
use sea_orm::{
    ActiveEnum,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
    prelude::Expr,
    sea_query::{OnConflict, Query},
};
use serde::Serialize;

use super::{campaigns, chunks, message::ArticleBrief};
use crate::{
    config::PushSettings,
    db,
    error::{AppError, AppResult},
    service::{
        devices as device_service,
        push_preferences::{self, Preferences},
    },
    time,
};

/// Recipients read and written per round trip.
const PAGE: u64 = 1000;
/// WeChat's largest mass-send recipient list.
pub const MASS_MAX: u64 = 10_000;

/// Deliveries written per channel.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Prepared {
    pub inbox: u64,
    pub wechat_template: u64,
    pub wechat_mass: u64,
    pub mass_batches: u64,
    pub miniprogram_subscribe: u64,
    /// Device pushes (apns, fcm and harmony together).
    pub devices: u64,
    /// Rows recorded as skipped (opted out, no interest, nothing to send through).
    pub skipped: u64,
    /// Rows deferred to the end of the recipient's quiet hours.
    pub deferred: u64,
}

/// What a recipient gets, decided from their preferences.
enum Decision {
    Skip(&'static str),
    /// Send these articles (None: all of them) at this time.
    Send {
        subset: Option<Vec<i64>>,
        at: DateTime<Utc>,
        deferred: bool,
    },
}

fn decide(prefs: Option<&Preferences>, articles: &[ArticleBrief], now: DateTime<Utc>) -> Decision {
    let Some(prefs) = prefs else {
        return Decision::Send {
            subset: None,
            at: now,
            deferred: false,
        };
    };
    if prefs.opted_out {
        return Decision::Skip("opted out of pushes");
    }
    let wanted: Vec<i64> = articles
        .iter()
        .filter(|a| prefs.wants(a.category.as_deref()))
        .map(|a| a.id)
        .collect();
    if wanted.is_empty() {
        return Decision::Skip("not interested in these articles' categories");
    }
    let subset = (wanted.len() < articles.len()).then_some(wanted);
    match prefs.deferred_until(now) {
        Some(at) => Decision::Send {
            subset,
            at,
            deferred: true,
        },
        None => Decision::Send {
            subset,
            at: now,
            deferred: false,
        },
    }
}

struct Rows<'a> {
    campaign_id: i64,
    /// Deliveries per chunk (`push.claim_batch`).
    chunk: usize,
    now: DateTime<Utc>,
    rows: Vec<push_delivery::ActiveModel>,
    summary: &'a mut Prepared,
}

impl Rows<'_> {
    fn push(
        &mut self,
        channel: Channel,
        recipient: String,
        user_id: Option<i64>,
        decision: &Decision,
    ) {
        let (status, subset, at, error) = match decision {
            Decision::Skip(why) => {
                self.summary.skipped += 1;
                (
                    DeliveryStatus::Skipped,
                    None,
                    self.now,
                    Some(why.to_string()),
                )
            }
            Decision::Send {
                subset,
                at,
                deferred,
            } => {
                if *deferred {
                    self.summary.deferred += 1;
                }
                match channel {
                    Channel::Inbox => self.summary.inbox += 1,
                    Channel::WechatTemplate => self.summary.wechat_template += 1,
                    Channel::WechatMass => self.summary.wechat_mass += 1,
                    Channel::MiniprogramSubscribe => self.summary.miniprogram_subscribe += 1,
                    Channel::Apns | Channel::Fcm | Channel::Harmony => self.summary.devices += 1,
                }
                let subset = subset
                    .as_ref()
                    .map(|ids| serde_json::to_string(ids).unwrap_or_default());
                let error = deferred.then(|| "deferred to the end of quiet hours".to_string());
                (DeliveryStatus::Pending, subset, *at, error)
            }
        };
        self.rows.push(push_delivery::ActiveModel {
            campaign_id: Set(self.campaign_id),
            channel: Set(channel),
            recipient: Set(recipient),
            user_id: Set(user_id),
            article_ids: Set(subset),
            batch: Set(None),
            batch_leader: Set(false),
            status: Set(status),
            attempts: Set(0),
            next_attempt_at: Set(at),
            claimed_by: Set(None),
            lease_until: Set(None),
            last_errcode: Set(None),
            last_error: Set(error),
            sent_at: Set(None),
            created_at: Set(self.now),
            ..Default::default()
        });
    }

    async fn flush(&mut self, db: &DatabaseConnection) -> AppResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        use push_delivery::Column as D;
        let rows = std::mem::take(&mut self.rows);
        let mut insert = push_delivery::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([D::CampaignId, D::Channel, D::Recipient])
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        insert.returning(Query::returning().columns([D::Id, D::Channel, D::Status]));
        // The rows and their chunks commit together: a preparation cut short leaves no
        // pending delivery outside a chunk.
        let txn = db::begin_write(db).await?;
        let mut written: Vec<(i64, Channel, DeliveryStatus)> = Vec::new();
        for row in txn.query_all(&insert).await? {
            written.push((
                row.try_get("", "id")?,
                row.try_get("", "channel")?,
                row.try_get("", "status")?,
            ));
        }
        written.sort_by_key(|(id, ..)| *id);
        for channel in [
            Channel::Inbox,
            Channel::WechatTemplate,
            Channel::MiniprogramSubscribe,
            Channel::Apns,
            Channel::Fcm,
            Channel::Harmony,
        ] {
            // Mass recipients get their chunks with their batches.
            let ids: Vec<i64> = written
                .iter()
                .filter(|(_, c, s)| *c == channel && *s == DeliveryStatus::Pending)
                .map(|(id, ..)| *id)
                .collect();
            chunks::add(&txn, self.campaign_id, channel, &ids, self.chunk, self.now).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Prepares `campaign_id` if it is waiting (or its preparer's lease ran out): writes its
/// deliveries and moves it to `sending` (or `done` when nobody is to be reached). None when
/// another instance holds it or it is past preparation.
pub async fn prepare(
    db: &DatabaseConnection,
    settings: &PushSettings,
    instance: &str,
    campaign_id: i64,
) -> AppResult<Option<Prepared>> {
    let lease = Duration::seconds(settings.lease_secs as i64);
    let now = time::now();
    if !campaigns::take_preparation(db, campaign_id, instance, now + lease, now).await? {
        return Ok(None);
    }
    let Some(campaign) = push_campaign::Entity::find_by_id(campaign_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let articles = campaigns::articles_of(db, &campaign).await?;
    let mut summary = Prepared::default();
    let mut rows = Rows {
        campaign_id,
        chunk: settings.claim_batch as usize,
        now,
        rows: Vec::with_capacity(PAGE as usize),
        summary: &mut summary,
    };
    let channels = &settings.channels;
    if channels.inbox.enabled {
        app_users(db, &campaign, &articles, &mut rows, instance, lease).await?;
    }
    if channels.wechat_template.enabled || channels.wechat_mass.enabled {
        let channel = if channels.wechat_mass.enabled {
            Channel::WechatMass
        } else {
            Channel::WechatTemplate
        };
        let chunk = settings.claim_batch as usize;
        let written =
            unlinked_followers(db, &campaign, channel, chunk, now, instance, lease).await?;
        match channel {
            Channel::WechatMass => rows.summary.wechat_mass += written,
            _ => rows.summary.wechat_template += written,
        }
        linked_followers(
            db, settings, &campaign, &articles, &mut rows, instance, lease,
        )
        .await?;
    }
    if channels.miniprogram_subscribe.enabled {
        let template = &channels.miniprogram_subscribe.template_id;
        miniprogram_users(db, &campaign, &articles, template, &mut rows).await?;
    }
    let providers: Vec<device::Provider> = [
        (device::Provider::Apns, channels.apns.enabled),
        (device::Provider::Fcm, channels.fcm.enabled),
        (device::Provider::Harmony, channels.harmony.enabled),
    ]
    .into_iter()
    .filter_map(|(p, on)| on.then_some(p))
    .collect();
    if !providers.is_empty() {
        devices(
            db, &campaign, &articles, &providers, &mut rows, instance, lease,
        )
        .await?;
    }
    if channels.wechat_mass.enabled {
        let (batches, moved) = assign_mass_batches(db, settings, campaign_id, now).await?;
        summary.mass_batches = batches;
        summary.wechat_mass -= moved.min(summary.wechat_mass);
        summary.wechat_template += moved;
    }
    campaigns::prepared(db, campaign_id, instance).await?;
    Ok(Some(summary))
}

/// Valid devices of the enabled providers, one delivery each: an owned device follows its
/// owner's preferences, an anonymous one its own. A device marked invalid is left out, so a
/// token reported dead is never sent to again until it registers again.
///
/// Most devices have no preferences (anonymous ones that never set any, owners without a
/// preferences row): the database copies those itself (INSERT ... SELECT, a range of ids at
/// a time), as for unlinked followers. Only the rest are read, a page at a time, to decide.
async fn devices(
    db: &DatabaseConnection,
    campaign: &push_campaign::Model,
    articles: &[ArticleBrief],
    providers: &[device::Provider],
    rows: &mut Rows<'_>,
    instance: &str,
    lease: Duration,
) -> AppResult<()> {
    for &provider in providers {
        rows.summary.devices +=
            devices_without_preferences(db, campaign, provider, rows, instance, lease).await?;
    }
    let mut after = 0i64;
    loop {
        let page: Vec<device::Model> = device::Entity::find()
            .filter(device::Column::Id.gt(after))
            .filter(device::Column::InvalidAt.is_null())
            .filter(device::Column::Provider.is_in(providers.iter().copied()))
            .filter(without_preferences().not())
            .order_by_asc(device::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last().map(|d| d.id) else {
            return Ok(());
        };
        let owners: Vec<i64> = page.iter().filter_map(|d| d.user_id).collect();
        let prefs = push_preferences::get_many(db, &owners).await?;
        for d in page {
            let own;
            let p = match d.user_id {
                Some(u) => prefs.get(&u),
                None => {
                    own = device_service::own_preferences(&d);
                    Some(&own)
                }
            };
            let decision = decide(p, articles, rows.now);
            let channel = super::devices::channel_of(d.provider);
            rows.push(channel, d.id.to_string(), d.user_id, &decision);
        }
        rows.flush(db).await?;
        campaigns::extend_lease(db, campaign.id, instance, time::now() + lease).await?;
        after = last;
    }
}

/// Devices whose preferences are the defaults (everything, now): anonymous ones that did
/// not opt out or set quiet hours (`own_preferences`), owned ones whose owner has no
/// preferences row (`push_preferences::get_many` leaves them out: the defaults).
fn without_preferences() -> sea_orm::Condition {
    use device::Column as V;
    use sea_orm::Condition;
    let owner_prefs = Query::select()
        .expr(Expr::val(1))
        .from(push_preference::Entity)
        .and_where(sea_orm::ExprTrait::equals(
            Expr::col((push_preference::Entity, push_preference::Column::UserId)),
            (device::Entity, V::UserId),
        ))
        .to_owned();
    Condition::any()
        .add(
            Condition::all()
                .add(V::UserId.is_null())
                .add(V::OptedOut.eq(false))
                .add(
                    Condition::any()
                        .add(V::QuietStartMinute.is_null())
                        .add(V::QuietEndMinute.is_null()),
                ),
        )
        .add(
            Condition::all()
                .add(V::UserId.is_not_null())
                .add(sea_orm::ExprTrait::not(Expr::exists(owner_prefs))),
        )
}

/// The deliveries of `provider`'s devices without preferences, written by the database.
async fn devices_without_preferences(
    db: &DatabaseConnection,
    campaign: &push_campaign::Model,
    provider: device::Provider,
    rows: &Rows<'_>,
    instance: &str,
    lease: Duration,
) -> AppResult<u64> {
    use device::Column as V;
    use push_delivery::Column as D;
    const RANGE: i64 = 10_000;
    let channel = super::devices::channel_of(provider);
    let top: Option<i64> = device::Entity::find()
        .select_only()
        .column_as(V::Id.max(), "top")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let mut written = 0;
    let mut from = 0i64;
    while from < top.unwrap_or(0) {
        let to = from + RANGE;
        let select = Query::select()
            .expr(Expr::val(campaign.id))
            .expr(Expr::val(channel.to_value()))
            .expr(sea_orm::ExprTrait::cast_as(
                Expr::col((device::Entity, V::Id)),
                "TEXT",
            ))
            .column((device::Entity, V::UserId))
            .expr(Expr::val(DeliveryStatus::Pending.to_value()))
            .expr(Expr::val(rows.now))
            .expr(Expr::val(rows.now))
            .from(device::Entity)
            .and_where(V::Id.gt(from))
            .and_where(V::Id.lte(to))
            .and_where(V::InvalidAt.is_null())
            .and_where(V::Provider.eq(provider))
            .cond_where(without_preferences())
            .order_by((device::Entity, V::Id), sea_orm::Order::Asc)
            .to_owned();
        let mut insert = Query::insert()
            .into_table(push_delivery::Entity)
            .columns([
                D::CampaignId,
                D::Channel,
                D::Recipient,
                D::UserId,
                D::Status,
                D::NextAttemptAt,
                D::CreatedAt,
            ])
            .select_from(select)
            .map_err(|e| AppError::Internal(e.into()))?
            .on_conflict(
                OnConflict::columns([D::CampaignId, D::Channel, D::Recipient])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        insert.returning_col(D::Id);
        let txn = db::begin_write(db).await?;
        let mut ids = Vec::new();
        for row in txn.query_all(&insert).await? {
            ids.push(row.try_get::<i64>("", "id")?);
        }
        ids.sort_unstable();
        chunks::add(&txn, campaign.id, channel, &ids, rows.chunk, rows.now).await?;
        txn.commit().await?;
        written += ids.len() as u64;
        campaigns::extend_lease(db, campaign.id, instance, time::now() + lease).await?;
        from = to;
    }
    Ok(written)
}

async fn app_users(
    db: &DatabaseConnection,
    campaign: &push_campaign::Model,
    articles: &[ArticleBrief],
    rows: &mut Rows<'_>,
    instance: &str,
    lease: Duration,
) -> AppResult<()> {
    let mut after = 0i64;
    loop {
        let ids: Vec<i64> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.gt(after))
            .filter(user::Column::Id.lte(campaign.user_horizon))
            .filter(user::Column::Status.eq(UserStatus::Active))
            .order_by_asc(user::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&last) = ids.last() else {
            return Ok(());
        };
        let prefs = push_preferences::get_many(db, &ids).await?;
        for id in ids {
            let decision = decide(prefs.get(&id), articles, rows.now);
            rows.push(Channel::Inbox, id.to_string(), Some(id), &decision);
        }
        rows.flush(db).await?;
        campaigns::extend_lease(db, campaign.id, instance, time::now() + lease).await?;
        after = last;
    }
}

/// Followers not linked to a user have no preferences: everyone gets the whole digest now.
/// They are the bulk of a campaign, so the database copies them itself (INSERT ... SELECT),
/// a range of ids at a time, without a round trip through this process per row.
async fn unlinked_followers(
    db: &DatabaseConnection,
    campaign: &push_campaign::Model,
    channel: Channel,
    chunk: usize,
    now: DateTime<Utc>,
    instance: &str,
    lease: Duration,
) -> AppResult<u64> {
    use push_delivery::Column as D;
    use wechat_follower::Column as F;
    const RANGE: i64 = 10_000;
    let mut written = 0;
    let mut from = 0i64;
    while from < campaign.follower_horizon {
        let to = (from + RANGE).min(campaign.follower_horizon);
        let select = Query::select()
            .expr(Expr::val(campaign.id))
            .expr(Expr::val(channel.to_value()))
            .column(F::Openid)
            .expr(Expr::val(DeliveryStatus::Pending.to_value()))
            .expr(Expr::val(now))
            .expr(Expr::val(now))
            .from(wechat_follower::Entity)
            .and_where(F::Id.gt(from))
            .and_where(F::Id.lte(to))
            .and_where(F::Subscribed.eq(true))
            .and_where(F::UserId.is_null())
            .to_owned();
        let mut insert = Query::insert()
            .into_table(push_delivery::Entity)
            .columns([
                D::CampaignId,
                D::Channel,
                D::Recipient,
                D::Status,
                D::NextAttemptAt,
                D::CreatedAt,
            ])
            .select_from(select)
            .map_err(|e| AppError::Internal(e.into()))?
            .on_conflict(
                OnConflict::columns([D::CampaignId, D::Channel, D::Recipient])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        insert.returning_col(D::Id);
        let txn = db::begin_write(db).await?;
        let mut ids = Vec::new();
        for row in txn.query_all(&insert).await? {
            ids.push(row.try_get::<i64>("", "id")?);
        }
        ids.sort_unstable();
        if channel != Channel::WechatMass {
            chunks::add(&txn, campaign.id, channel, &ids, chunk, now).await?;
        }
        txn.commit().await?;
        written += ids.len() as u64;
        campaigns::extend_lease(db, campaign.id, instance, time::now() + lease).await?;
        from = to;
    }
    Ok(written)
}

/// Followers linked to a user: their preferences decide, a page at a time.
async fn linked_followers(
    db: &DatabaseConnection,
    settings: &PushSettings,
    campaign: &push_campaign::Model,
    articles: &[ArticleBrief],
    rows: &mut Rows<'_>,
    instance: &str,
    lease: Duration,
) -> AppResult<()> {
    let template = settings.channels.wechat_template.enabled;
    let mass = settings.channels.wechat_mass.enabled;
    let mut after = 0i64;
    loop {
        let page: Vec<(i64, String, Option<i64>)> = wechat_follower::Entity::find()
            .select_only()
            .columns([
                wechat_follower::Column::Id,
                wechat_follower::Column::Openid,
                wechat_follower::Column::UserId,
            ])
            .filter(wechat_follower::Column::Id.gt(after))
            .filter(wechat_follower::Column::Id.lte(campaign.follower_horizon))
            .filter(wechat_follower::Column::Subscribed.eq(true))
            .filter(wechat_follower::Column::UserId.is_not_null())
            .order_by_asc(wechat_follower::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&(last, ..)) = page.last() else {
            return Ok(());
        };
        let linked: Vec<i64> = page.iter().filter_map(|(_, _, u)| *u).collect();
        let prefs: HashMap<i64, Preferences> = push_preferences::get_many(db, &linked).await?;
        for (_, openid, user_id) in page {
            let decision = decide(user_id.and_then(|u| prefs.get(&u)), articles, rows.now);
            // A mass send is one message to many: a follower who needs a personal one
            // (deferred, or only some articles) gets a template message when possible.
            let personal = matches!(
                decision,
                Decision::Send { deferred: true, .. }
                    | Decision::Send {
                        subset: Some(_),
                        ..
                    }
            );
            let channel = if mass && !(personal && template) {
                Channel::WechatMass
            } else {
                Channel::WechatTemplate
            };
            let decision = match (channel, decision) {
                // The mass channel cannot personalise: everyone gets the whole digest now.
                (Channel::WechatMass, Decision::Send { .. }) => Decision::Send {
                    subset: None,
                    at: rows.now,
                    deferred: false,
                },
                (_, d) => d,
            };
            rows.push(channel, openid, user_id, &decision);
        }
        rows.flush(db).await?;
        campaigns::extend_lease(db, campaign.id, instance, time::now() + lease).await?;
        after = last;
    }
}

async fn miniprogram_users(
    db: &DatabaseConnection,
    campaign: &push_campaign::Model,
    articles: &[ArticleBrief],
    template_id: &str,
    rows: &mut Rows<'_>,
) -> AppResult<()> {
    let mut after = 0i64;
    loop {
        let granted: Vec<i64> = miniprogram_subscription::Entity::find()
            .select_only()
            .column(miniprogram_subscription::Column::UserId)
            .filter(miniprogram_subscription::Column::TemplateId.eq(template_id))
            .filter(miniprogram_subscription::Column::Credits.gt(0))
            .filter(miniprogram_subscription::Column::UserId.gt(after))
            .filter(miniprogram_subscription::Column::UserId.lte(campaign.user_horizon))
            .order_by_asc(miniprogram_subscription::Column::UserId)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&last) = granted.last() else {
            return Ok(());
        };
        let users: Vec<(i64, Option<String>)> = user::Entity::find()
            .select_only()
            .columns([user::Column::Id, user::Column::WechatMiniOpenid])
            .filter(user::Column::Id.is_in(granted.iter().copied()))
            .filter(user::Column::Status.eq(UserStatus::Active))
            .into_tuple()
            .all(db)
            .await?;
        let prefs = push_preferences::get_many(db, &granted).await?;
        for (id, openid) in users {
            let Some(openid) = openid else { continue };
            let decision = decide(prefs.get(&id), articles, rows.now);
            rows.push(Channel::MiniprogramSubscribe, openid, Some(id), &decision);
        }
        rows.flush(db).await?;
        after = last;
    }
}

/// Splits the campaign's mass recipients into batches of 2..=10,000 of even size (10,001
/// becomes 5,001 + 5,000) and marks each batch's leader, in one transaction. A single
/// recipient cannot be mass-sent (40130): they get a template message instead. Returns
/// (batches, recipients moved to the template channel).
async fn assign_mass_batches(
    db: &DatabaseConnection,
    settings: &PushSettings,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> AppResult<(u64, u64)> {
    use push_delivery::Column as C;
    let txn = db::begin_write(db).await?;
    let mass = || {
        push_delivery::Entity::find()
            .filter(C::CampaignId.eq(campaign_id))
            .filter(C::Channel.eq(Channel::WechatMass))
            .filter(C::Status.eq(DeliveryStatus::Pending))
    };
    let assigned = mass().filter(C::Batch.is_not_null()).count(&txn).await?;
    if assigned > 0 {
        // Done by an earlier (interrupted) preparation; batches are final once assigned.
        txn.commit().await?;
        return Ok((0, 0));
    }
    let n = mass().count(&txn).await?;
    if n == 1 {
        let lone = mass().one(&txn).await?.expect("counted one");
        push_delivery::Entity::delete_by_id(lone.id)
            .exec(&txn)
            .await?;
        let no_template = settings.channels.wechat_template.template_id.is_empty();
        let mut row: push_delivery::ActiveModel = lone.into();
        row.id = sea_orm::ActiveValue::NotSet;
        row.channel = Set(Channel::WechatTemplate);
        if no_template {
            row.status = Set(DeliveryStatus::Skipped);
            row.last_error = Set(Some(
                "a mass send needs two recipients and no template is configured".into(),
            ));
        }
        row.next_attempt_at = Set(now);
        let recipient = row.recipient.clone().unwrap();
        push_delivery::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::CampaignId, C::Channel, C::Recipient])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let moved: Option<i64> = push_delivery::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(C::CampaignId.eq(campaign_id))
            .filter(C::Channel.eq(Channel::WechatTemplate))
            .filter(C::Recipient.eq(recipient))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .into_tuple()
            .one(&txn)
            .await?;
        let ids: Vec<i64> = moved.into_iter().collect();
        chunks::add(&txn, campaign_id, Channel::WechatTemplate, &ids, 1, now).await?;
        txn.commit().await?;
        return Ok((0, 1));
    }
    if n == 0 {
        txn.commit().await?;
        return Ok((0, 0));
    }
    let batches = n.div_ceil(MASS_MAX);
    for batch in 0..batches {
        let size = n / batches + u64::from(batch < n % batches);
        let ids = mass()
            .select_only()
            .column(C::Id)
            .filter(C::Batch.is_null())
            .order_by_asc(C::Id)
            .limit(size)
            .into_query();
        push_delivery::Entity::update_many()
            .col_expr(C::Batch, Expr::value(batch as i32))
            .filter(C::Id.in_subquery(ids))
            .exec(&txn)
            .await?;
        let range = push_delivery::Entity::find()
            .select_only()
            .column_as(C::Id.min(), "first")
            .column_as(C::Id.max(), "last")
            .filter(C::CampaignId.eq(campaign_id))
            .filter(C::Channel.eq(Channel::WechatMass))
            .filter(C::Batch.eq(batch as i32))
            .into_tuple::<(Option<i64>, Option<i64>)>()
            .one(&txn)
            .await?;
        if let Some((Some(leader), Some(last))) = range {
            // The batch is one chunk, claimed and sent whole.
            chunks::add(
                &txn,
                campaign_id,
                Channel::WechatMass,
                &[leader, last],
                2,
                now,
            )
            .await?;
            push_delivery::Entity::update_many()
                .col_expr(C::BatchLeader, Expr::value(true))
                .filter(C::Id.eq(leader))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok((batches, 0))
}
