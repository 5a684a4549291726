//! Editorial writes: create, edit, publish, schedule, feature, delete. Each change is
//! audited in its own transaction (`service::audit`); repeating a change that is already in
//! effect (publishing a published article) changes nothing and records nothing.

use chrono::{DateTime, Utc};
use entity::{
    article::{self, ArticleStatus},
    article_tag, category, source_item, tag,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Expr,
    sea_query::Func,
};

use serde_json::{Value, json};

use super::{
    articles::{ArticleCard, ArticleView, CardView, with_taxonomy},
    audit::{self, Actor, Entry},
    sync,
    validate::{self, HttpUrl},
};
use crate::{
    cache::read_through::ReadCache,
    db,
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    time,
    unique::{OnUnique, UniqueIndex},
};

/// A new article, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewArticle {
    pub title: String,
    pub summary: String,
    pub content: String,
    pub cover_url: Option<String>,
    pub author: String,
    pub source_url: String,
    pub source_name: String,
    /// Generated from the source when absent.
    pub copyright_notice: Option<String>,
    pub category_id: Option<i64>,
    pub tag_ids: Vec<i64>,
}

/// Changes to an article; `None` leaves a field as it is. For nullable fields the inner
/// `None` clears the value.
#[derive(Debug, Clone, Default)]
pub struct ArticleChanges {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub cover_url: Option<Option<String>>,
    pub author: Option<String>,
    pub source_url: Option<String>,
    pub source_name: Option<String>,
    pub copyright_notice: Option<String>,
    pub category_id: Option<Option<i64>>,
    pub tag_ids: Option<Vec<i64>>,
}

pub fn default_copyright_notice(source_name: &str, source_url: &str) -> String {
    format!(
        "本文转载自「{source_name}」，原文链接：{source_url}。版权归原作者所有，仅供学习交流；如有侵权请联系删除。"
    )
}

/// One article per original: the source URL is unique (imports key on it too).
pub const SOURCE_URL_INDEX: UniqueIndex = UniqueIndex {
    name: "ux_articles_source_url",
    table: "articles",
    columns: &["source_url"],
};

fn source_url_taken() -> AppError {
    AppError::Conflict {
        code: ErrorCode::SourceUrlTaken,
        message: "another article already has this source_url".into(),
    }
}

/// Tags per article.
pub const MAX_TAGS: usize = 10;
pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 500;
pub const CONTENT_MAX: usize = 200_000;
pub const AUTHOR_MAX: usize = 100;
pub const SOURCE_NAME_MAX: usize = 100;
pub const COPYRIGHT_NOTICE_MAX: usize = 1000;

/// What the audit log keeps of an article: its metadata, and only the length of its content.
fn audit_summary(a: &article::Model) -> Value {
    json!({
        "title": a.title,
        "summary": a.summary,
        "content_chars": a.content.chars().count(),
        "cover_url": a.cover_url,
        "author": a.author,
        "source_url": a.source_url,
        "source_name": a.source_name,
        "copyright_notice": a.copyright_notice,
        "category_id": a.category_id,
        "status": a.status,
        "published_at": a.published_at,
        "featured": a.featured,
    })
}

fn with_tags(mut summary: Value, tag_ids: &[i64]) -> Value {
    summary["tag_ids"] = json!(tag_ids);
    summary
}

async fn tag_ids_of(db: &impl ConnectionTrait, article_id: i64) -> AppResult<Vec<i64>> {
    Ok(article_tag::Entity::find()
        .select_only()
        .column(article_tag::Column::TagId)
        .filter(article_tag::Column::ArticleId.eq(article_id))
        .order_by_asc(article_tag::Column::TagId)
        .into_tuple::<i64>()
        .all(db)
        .await?)
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

/// The tag ids, sorted and de-duplicated, when there are at most `MAX_TAGS` and all exist
/// (also the rule for a feed source's default tags).
pub(crate) async fn check_tags(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<i64>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_TAGS {
        return Err(AppError::bad_field(
            "tag_ids",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    if !ids.is_empty() {
        let found = tag::Entity::find()
            .filter(tag::Column::Id.is_in(ids.clone()))
            .count(db)
            .await?;
        if found as usize != ids.len() {
            return Err(AppError::bad_field("tag_ids", "some tag_ids do not exist"));
        }
    }
    Ok(ids)
}

async fn replace_tags(
    db: &impl ConnectionTrait,
    article_id: i64,
    tag_ids: &[i64],
) -> AppResult<()> {
    article_tag::Entity::delete_many()
        .filter(article_tag::Column::ArticleId.eq(article_id))
        .exec(db)
        .await?;
    if !tag_ids.is_empty() {
        article_tag::Entity::insert_many(tag_ids.iter().map(|&tag_id| article_tag::ActiveModel {
            article_id: Set(article_id),
            tag_id: Set(tag_id),
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewArticle,
) -> AppResult<ArticleView> {
    let title = validate::text("title", &new.title, 1, TITLE_MAX)?;
    let summary = validate::text("summary", &new.summary, 0, SUMMARY_MAX)?;
    let content = validate::text("content", &new.content, 1, CONTENT_MAX)?;
    let cover_url = new
        .cover_url
        .as_deref()
        .map(|u| HttpUrl::parse("cover_url", u).map(String::from))
        .transpose()?;
    let author = validate::text("author", &new.author, 1, AUTHOR_MAX)?;
    let source_url = String::from(HttpUrl::parse("source_url", &new.source_url)?);
    let source_name = validate::text("source_name", &new.source_name, 1, SOURCE_NAME_MAX)?;
    let copyright_notice = match new.copyright_notice.as_deref() {
        Some(notice) => validate::text("copyright_notice", notice, 1, COPYRIGHT_NOTICE_MAX)?,
        None => default_copyright_notice(&source_name, &source_url),
    };
    let txn = db::begin_write(db).await?;
    check_category(&txn, new.category_id).await?;
    let tag_ids = check_tags(&txn, &new.tag_ids).await?;
    let now = time::now();
    let saved = article::ActiveModel {
        title: Set(title),
        summary: Set(summary),
        content: Set(content),
        cover_url: Set(cover_url),
        author: Set(author),
        source_url: Set(source_url),
        source_name: Set(source_name),
        copyright_notice: Set(copyright_notice),
        category_id: Set(new.category_id),
        status: Set(ArticleStatus::Draft),
        published_at: Set(None),
        featured: Set(false),
        featured_at: Set(None),
        view_count: Set(0),
        like_count: Set(0),
        comment_count: Set(0),
        favorite_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(&SOURCE_URL_INDEX, source_url_taken)?;
    replace_tags(&txn, saved.id, &tag_ids).await?;
    let entry = Entry::new("article.create", "article", saved.id)
        .after(with_tags(audit_summary(&saved), &tag_ids));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    get(db, saved.id).await
}

/// Any article, whatever its status.
pub async fn get(db: &DatabaseConnection, id: i64) -> AppResult<ArticleView> {
    let article = find(db, id).await?;
    let mut views = with_taxonomy(db, vec![article], |a| (a.id, a.category_id)).await?;
    Ok(views.remove(0))
}

async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<article::Model> {
    article::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))
}

/// Where an article came from: imported from a feed source, or written in by an editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Source,
    Manual,
}

/// All articles, newest id first, optionally of one status and origin.
pub async fn list(
    db: &DatabaseConnection,
    status: Option<ArticleStatus>,
    origin: Option<Origin>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CardView>> {
    list_matching(db, status, origin, None, cursor, limit).await
}

/// The longest title search the console sends.
pub const SEARCH_MAX: usize = 100;

/// `list`, narrowed to titles containing `q` (the console's search box).
pub async fn list_matching(
    db: &DatabaseConnection,
    status: Option<ArticleStatus>,
    origin: Option<Origin>,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CardView>> {
    let limit = pagination::limit(limit)?;
    let mut query = article::Entity::find();
    if let Some(status) = status {
        query = query.filter(article::Column::Status.eq(status));
    }
    if let Some(origin) = origin {
        let imported = sea_orm::sea_query::Query::select()
            .column(source_item::Column::ArticleId)
            .from(source_item::Entity)
            .and_where(source_item::Column::ArticleId.is_not_null())
            .to_owned();
        query = query.filter(match origin {
            Origin::Source => article::Column::Id.in_subquery(imported),
            Origin::Manual => article::Column::Id.not_in_subquery(imported),
        });
    }
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > SEARCH_MAX {
            return Err(AppError::bad_field(
                "q",
                format!("q must be at most {SEARCH_MAX} characters"),
            ));
        }
        // Regardless of case on both backends, wildcards taken literally.
        query = query.filter(
            Expr::expr(Func::lower(Expr::col(article::Column::Title)))
                .like(super::articles::contains_pattern(q)),
        );
    }
    if let Some(cursor) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(article::Column::Id.lt(cursor.0));
    }
    let rows = query
        .order_by_desc(article::Column::Id)
        .limit(limit + 1)
        .into_partial_model::<ArticleCard>()
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |a| IdCursor(a.id).encode());
    let items = with_taxonomy(db, page.items, |a| (a.id, a.category_id)).await?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

pub async fn update(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
    changes: ArticleChanges,
) -> AppResult<ArticleView> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let visible = current.is_published();
    let mut before = audit_summary(&current);
    let mut model: article::ActiveModel = current.into();
    if let Some(v) = &changes.title {
        model.title = Set(validate::text("title", v, 1, TITLE_MAX)?);
    }
    if let Some(v) = &changes.summary {
        model.summary = Set(validate::text("summary", v, 0, SUMMARY_MAX)?);
    }
    if let Some(v) = &changes.content {
        model.content = Set(validate::text("content", v, 1, CONTENT_MAX)?);
    }
    if let Some(v) = &changes.cover_url {
        model.cover_url = Set(v
            .as_deref()
            .map(|u| HttpUrl::parse("cover_url", u).map(String::from))
            .transpose()?);
    }
    if let Some(v) = &changes.author {
        model.author = Set(validate::text("author", v, 1, AUTHOR_MAX)?);
    }
    if let Some(v) = &changes.source_url {
        model.source_url = Set(String::from(HttpUrl::parse("source_url", v)?));
    }
    if let Some(v) = &changes.source_name {
        model.source_name = Set(validate::text("source_name", v, 1, SOURCE_NAME_MAX)?);
    }
    if let Some(v) = &changes.copyright_notice {
        model.copyright_notice = Set(validate::text(
            "copyright_notice",
            v,
            1,
            COPYRIGHT_NOTICE_MAX,
        )?);
    }
    if let Some(v) = changes.category_id {
        check_category(&txn, v).await?;
        model.category_id = Set(v);
    }
    let mut new_tags = None;
    if let Some(ids) = &changes.tag_ids {
        let ids = check_tags(&txn, ids).await?;
        before = with_tags(before, &tag_ids_of(&txn, id).await?);
        replace_tags(&txn, id, &ids).await?;
        new_tags = Some(ids);
    }
    model.updated_at = Set(time::now());
    let saved = model
        .update(&txn)
        .await
        .on_unique(&SOURCE_URL_INDEX, source_url_taken)?;
    let mut after = audit_summary(&saved);
    if let Some(ids) = &new_tags {
        after = with_tags(after, ids);
    }
    let entry = Entry::new("article.update", "article", id).changes(before, after);
    audit::record(&txn, actor, entry).await?;
    if visible {
        sync::record(&txn, &[id]).await?;
    }
    txn.commit().await?;
    read_cache.invalidate().await;
    get(db, id).await
}

/// Publishes now. An already published article keeps its original publication time.
pub async fn publish(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
) -> AppResult<ArticleView> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let changed = !current.is_published();
    if changed {
        let now = time::now();
        let before = audit_summary(&current);
        let mut model: article::ActiveModel = current.into();
        model.status = Set(ArticleStatus::Published);
        model.published_at = Set(Some(now));
        model.updated_at = Set(now);
        let saved = model.update(&txn).await?;
        let entry =
            Entry::new("article.publish", "article", id).changes(before, audit_summary(&saved));
        audit::record(&txn, actor, entry).await?;
        sync::record(&txn, &[id]).await?;
    }
    txn.commit().await?;
    if changed {
        read_cache.invalidate().await;
    }
    get(db, id).await
}

/// Schedules publication at `at` (must be in the future).
pub async fn schedule(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
    at: DateTime<Utc>,
) -> AppResult<ArticleView> {
    let at = time::to_millis_precision(at);
    let now = time::now();
    if at <= now {
        return Err(AppError::bad_field(
            "publish_at",
            "publish_at must be in the future",
        ));
    }
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    if current.is_published() {
        return Err(AppError::Unprocessable {
            code: ErrorCode::AlreadyPublished,
            message: "the article is already published; unpublish it first".into(),
        });
    }
    let before = audit_summary(&current);
    let mut model: article::ActiveModel = current.into();
    model.status = Set(ArticleStatus::Scheduled);
    model.published_at = Set(Some(at));
    model.updated_at = Set(now);
    let saved = model.update(&txn).await?;
    let entry =
        Entry::new("article.schedule", "article", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    read_cache.invalidate().await;
    get(db, id).await
}

/// Back to draft: hidden from the public again.
pub async fn unpublish(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
) -> AppResult<ArticleView> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let visible = current.is_published();
    let before = audit_summary(&current);
    let mut model: article::ActiveModel = current.into();
    model.status = Set(ArticleStatus::Draft);
    model.published_at = Set(None);
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await?;
    let entry =
        Entry::new("article.unpublish", "article", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    if visible {
        sync::record(&txn, &[id]).await?;
    }
    txn.commit().await?;
    read_cache.invalidate().await;
    get(db, id).await
}

/// Features (精选) or unfeatures an article. Featuring an already featured article keeps
/// its original `featured_at`, so repeating the call changes nothing.
pub async fn set_featured(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
    featured: bool,
) -> AppResult<ArticleView> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    if featured && current.status == ArticleStatus::Draft {
        return Err(AppError::Unprocessable {
            code: ErrorCode::NotPublished,
            message: "only published or scheduled articles can be featured".into(),
        });
    }
    let changed = current.featured != featured;
    let visible = current.is_published();
    if changed {
        let now = time::now();
        let before = audit_summary(&current);
        let mut model: article::ActiveModel = current.into();
        model.featured = Set(featured);
        model.featured_at = Set(featured.then_some(now));
        model.updated_at = Set(now);
        let saved = model.update(&txn).await?;
        let action = if featured {
            "article.feature"
        } else {
            "article.unfeature"
        };
        let entry = Entry::new(action, "article", id).changes(before, audit_summary(&saved));
        audit::record(&txn, actor, entry).await?;
        if visible {
            sync::record(&txn, &[id]).await?;
        }
    }
    txn.commit().await?;
    if changed {
        read_cache.invalidate().await;
    }
    get(db, id).await
}

pub async fn delete(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let before = with_tags(audit_summary(&current), &tag_ids_of(&txn, id).await?);
    article::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("article.delete", "article", id).before(before);
    audit::record(&txn, actor, entry).await?;
    if current.is_published() {
        sync::record(&txn, &[id]).await?;
    }
    txn.commit().await?;
    read_cache.invalidate().await;
    Ok(())
}

/// Publishes every scheduled article whose time has come; returns how many. The
/// `publish_scheduled` job calls this.
pub async fn publish_due(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let txn = db::begin_write(db).await?;
    let due: Vec<i64> = article::Entity::find()
        .select_only()
        .column(article::Column::Id)
        .filter(article::Column::Status.eq(ArticleStatus::Scheduled))
        .filter(article::Column::PublishedAt.lte(now))
        .into_tuple()
        .all(&txn)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let result = article::Entity::update_many()
        .col_expr(
            article::Column::Status,
            Expr::value(ArticleStatus::Published),
        )
        .col_expr(article::Column::UpdatedAt, Expr::value(now))
        .filter(article::Column::Id.is_in(due.clone()))
        .exec(&txn)
        .await?;
    sync::record(&txn, &due).await?;
    txn.commit().await?;
    if result.rows_affected > 0 {
        read_cache.invalidate().await;
    }
    Ok(result.rows_affected)
}
