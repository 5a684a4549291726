//! Feed sources (转载来源): editors subscribe to feeds, and the `ingest_sources` job brings
//! new items in as drafts. This module holds the sources themselves (create, edit, enable,
//! delete, list with status); `ingest` fetches them, through `fetch` (the guarded HTTP
//! client: `guard`), `decode` (charsets), `parse` (feed-rs), `content` (sanitize, Markdown,
//! readability) and `canonical` (the key that keeps an article from coming in twice).

pub mod canonical;
pub mod content;
pub mod decode;
pub mod fetch;
pub mod guard;
pub mod ingest;
pub mod parse;

use chrono::{DateTime, Utc};
use entity::{category, source};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    article_admin::{self, COPYRIGHT_NOTICE_MAX, MAX_TAGS, SOURCE_NAME_MAX},
    audit::{self, Actor, Entry},
    validate::{self, HttpUrl},
};
use crate::{
    db,
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    state::AppState,
    time,
};

pub const NAME_MAX: usize = SOURCE_NAME_MAX;
pub const NOTICE_TEMPLATE_MAX: usize = COPYRIGHT_NOTICE_MAX;
pub const MAX_SOURCE_TAGS: usize = MAX_TAGS;
pub const MIN_INTERVAL_MIN: i64 = 60;
pub const MIN_INTERVAL_MAX: i64 = 86_400;

/// A new source, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewSource {
    pub name: String,
    pub feed_url: String,
    pub category_id: Option<i64>,
    pub tag_ids: Vec<i64>,
    pub notice_template: Option<String>,
    pub full_page: bool,
    pub auto_publish: bool,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default `ingest.default_min_interval_secs`.
    pub min_interval_secs: Option<i64>,
}

/// Changes; `None` leaves a field, the inner `None` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct SourceChanges {
    pub name: Option<String>,
    pub feed_url: Option<String>,
    pub category_id: Option<Option<i64>>,
    pub tag_ids: Option<Vec<i64>>,
    pub notice_template: Option<Option<String>>,
    pub full_page: Option<bool>,
    pub auto_publish: Option<bool>,
    pub min_interval_secs: Option<i64>,
}

/// A source as the admin API shows it: its settings and its fetch status.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    pub id: i64,
    pub name: String,
    pub feed_url: String,
    pub category_id: Option<i64>,
    pub tag_ids: Vec<i64>,
    pub notice_template: Option<String>,
    pub full_page: bool,
    pub auto_publish: bool,
    pub enabled: bool,
    pub min_interval_secs: i64,
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_http_status: Option<i32>,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub next_check_at: DateTime<Utc>,
    pub items_imported: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<source::Model> for SourceView {
    fn from(s: source::Model) -> Self {
        Self {
            tag_ids: tag_ids_of(&s),
            id: s.id,
            name: s.name,
            feed_url: s.feed_url,
            category_id: s.category_id,
            notice_template: s.notice_template,
            full_page: s.full_page,
            auto_publish: s.auto_publish,
            enabled: s.enabled,
            min_interval_secs: s.min_interval_secs,
            last_fetch_at: s.last_fetch_at,
            last_http_status: s.last_http_status,
            last_error: s.last_error,
            consecutive_failures: s.consecutive_failures,
            next_check_at: s.next_check_at,
            items_imported: s.items_imported,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// The stored tag list (a JSON array); garbage reads as none.
pub fn tag_ids_of(source: &source::Model) -> Vec<i64> {
    serde_json::from_str(&source.tag_ids).unwrap_or_default()
}

fn audit_summary(s: &source::Model) -> Value {
    json!({
        "name": s.name,
        "feed_url": s.feed_url,
        "category_id": s.category_id,
        "tag_ids": tag_ids_of(s),
        "notice_template": s.notice_template,
        "full_page": s.full_page,
        "auto_publish": s.auto_publish,
        "enabled": s.enabled,
        "min_interval_secs": s.min_interval_secs,
    })
}

fn feed_url(value: &str) -> AppResult<String> {
    let url = String::from(HttpUrl::parse("feed_url", value)?);
    fetch::parse_http_url(&url).map_err(|e| AppError::bad_field("feed_url", e.to_string()))?;
    Ok(url)
}

fn min_interval(value: i64) -> AppResult<i64> {
    if !(MIN_INTERVAL_MIN..=MIN_INTERVAL_MAX).contains(&value) {
        return Err(AppError::bad_field(
            "min_interval_secs",
            format!("min_interval_secs must be from {MIN_INTERVAL_MIN} to {MIN_INTERVAL_MAX}"),
        ));
    }
    Ok(value)
}

fn notice_template(value: Option<&str>) -> AppResult<Option<String>> {
    value
        .map(|t| validate::text("notice_template", t, 1, NOTICE_TEMPLATE_MAX))
        .transpose()
}

async fn check_category(db: &impl ConnectionTrait, id: Option<i64>) -> AppResult<()> {
    if let Some(id) = id
        && category::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(AppError::bad_field(
            "category_id",
            format!("category {id} does not exist"),
        ));
    }
    Ok(())
}

/// The source's default tags as stored: the articles' rule, then a JSON list.
async fn check_tags(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<String> {
    Ok(json!(article_admin::check_tags(db, ids).await?).to_string())
}

async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<source::Model> {
    source::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("source"))
}

pub async fn create(state: &AppState, actor: &Actor, new: NewSource) -> AppResult<SourceView> {
    let name = validate::text("name", &new.name, 1, NAME_MAX)?;
    let url = feed_url(&new.feed_url)?;
    let notice = notice_template(new.notice_template.as_deref())?;
    let interval = min_interval(
        new.min_interval_secs
            .unwrap_or(state.settings.ingest.default_min_interval_secs as i64),
    )?;
    let txn = db::begin_write(&state.db).await?;
    check_category(&txn, new.category_id).await?;
    let tags = check_tags(&txn, &new.tag_ids).await?;
    let now = time::now();
    let saved = source::ActiveModel {
        name: Set(name),
        feed_url: Set(url),
        category_id: Set(new.category_id),
        tag_ids: Set(tags),
        notice_template: Set(notice),
        full_page: Set(new.full_page),
        auto_publish: Set(new.auto_publish),
        enabled: Set(new.enabled.unwrap_or(true)),
        min_interval_secs: Set(interval),
        etag: Set(None),
        last_modified: Set(None),
        body_hash: Set(None),
        last_fetch_at: Set(None),
        last_http_status: Set(None),
        last_error: Set(None),
        consecutive_failures: Set(0),
        // Due at once: the next run fetches it.
        next_check_at: Set(now),
        items_imported: Set(0),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let entry = Entry::new("source.create", "source", saved.id).after(audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved.into())
}

pub async fn get(db: &DatabaseConnection, id: i64) -> AppResult<SourceView> {
    Ok(find(db, id).await?.into())
}

/// All sources, newest first.
pub async fn list(
    db: &DatabaseConnection,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<SourceView>> {
    let limit = pagination::limit(limit)?;
    let mut query = source::Entity::find();
    if let Some(cursor) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(source::Column::Id.lt(cursor.0));
    }
    let rows = query
        .order_by_desc(source::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |s| IdCursor(s.id).encode()).map(Into::into))
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: i64,
    changes: SourceChanges,
) -> AppResult<SourceView> {
    let txn = db::begin_write(&state.db).await?;
    let current = find(&txn, id).await?;
    let before = audit_summary(&current);
    let feed_changed = changes
        .feed_url
        .as_deref()
        .is_some_and(|u| u.trim() != current.feed_url);
    let mut model: source::ActiveModel = current.into();
    if let Some(v) = &changes.name {
        model.name = Set(validate::text("name", v, 1, NAME_MAX)?);
    }
    if let Some(v) = &changes.feed_url {
        model.feed_url = Set(feed_url(v)?);
    }
    if feed_changed {
        // Another feed: the old one's validators and failures say nothing about it.
        model.etag = Set(None);
        model.last_modified = Set(None);
        model.body_hash = Set(None);
        model.consecutive_failures = Set(0);
        model.next_check_at = Set(time::now());
    }
    if let Some(v) = changes.category_id {
        check_category(&txn, v).await?;
        model.category_id = Set(v);
    }
    if let Some(v) = &changes.tag_ids {
        model.tag_ids = Set(check_tags(&txn, v).await?);
    }
    if let Some(v) = &changes.notice_template {
        model.notice_template = Set(notice_template(v.as_deref())?);
    }
    if let Some(v) = changes.full_page {
        model.full_page = Set(v);
    }
    if let Some(v) = changes.auto_publish {
        model.auto_publish = Set(v);
    }
    if let Some(v) = changes.min_interval_secs {
        model.min_interval_secs = Set(min_interval(v)?);
    }
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await?;
    let entry = Entry::new("source.update", "source", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved.into())
}

/// Enables (due at once) or disables a source; repeating it changes nothing.
pub async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    id: i64,
    enabled: bool,
) -> AppResult<SourceView> {
    let txn = db::begin_write(&state.db).await?;
    let current = find(&txn, id).await?;
    if current.enabled == enabled {
        txn.commit().await?;
        return Ok(current.into());
    }
    let before = audit_summary(&current);
    let mut model: source::ActiveModel = current.into();
    model.enabled = Set(enabled);
    if enabled {
        model.next_check_at = Set(time::now());
    }
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await?;
    let action = if enabled {
        "source.enable"
    } else {
        "source.disable"
    };
    let entry = Entry::new(action, "source", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved.into())
}

/// Deletes the source; the articles it imported stay.
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> AppResult<()> {
    let txn = db::begin_write(&state.db).await?;
    let current = find(&txn, id).await?;
    source::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("source.delete", "source", id).before(audit_summary(&current));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// "Fetch now": fetches the source at once and returns what happened and its new status.
/// 409 `already_running` while another instance is fetching it.
pub async fn fetch_now(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> AppResult<(ingest::FetchOutcome, SourceView)> {
    find(&state.db, id).await?;
    let outcome = ingest::fetch_one(state, id)
        .await?
        .ok_or_else(|| AppError::Conflict {
            code: ErrorCode::AlreadyRunning,
            message: "the source is being fetched right now; try again shortly".into(),
        })?;
    let txn = db::begin_write(&state.db).await?;
    let entry = Entry::new("source.fetch", "source", id).after(json!({
        "result": outcome.result,
        "imported": outcome.imported,
        "updated": outcome.updated,
    }));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok((outcome, get(&state.db, id).await?))
}
