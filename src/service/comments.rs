//! Comments on published articles: one reply level (`parent_id` is the thread, `reply_to`
//! the comment answered), moderation, tombstones, and the article's comment count.
//!
//! Counts move by deltas, in the same transaction as a status change guarded by a
//! compare-and-set on the old status, so that concurrent posts, hides and deletes never
//! lose or double-count: `articles.comment_count` counts published comments (replies
//! included) and a thread's `reply_count` its published replies.

use std::collections::HashMap;

use entity::{
    article,
    comment::{self, CommentStatus},
    user,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, EntityTrait, ExprTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, prelude::Expr, sea_query::Func,
};

use super::{
    articles,
    audit::Actor,
    moderation::{self, CommentText, ModerationAction, Screening},
    notifications::{self, NewNotification},
};
use crate::{
    cache::read_through::ReadCache,
    db,
    error::{AppError, AppResult},
    pagination::{self, IdCursor, Page, TimeCursor},
    state::AppState,
    time,
};

/// Replies shown under each thread in the article's comment list.
pub const REPLY_PREVIEW: u64 = 3;

/// A comment with the people it involves.
#[derive(Debug, Clone)]
pub struct CommentView {
    pub comment: comment::Model,
    pub author: Option<user::Model>,
    pub reply_to_author: Option<user::Model>,
    /// For threads in a list: the first published replies.
    pub replies: Vec<CommentView>,
}

#[derive(Debug, Clone)]
pub struct NewComment {
    pub content: CommentText,
    pub parent_id: Option<i64>,
    pub reply_to: Option<i64>,
    /// The poster's address, for the per-IP limit and moderation.
    pub client_ip: String,
}

async fn published_article(
    db: &impl ConnectionTrait,
    article_id: i64,
) -> AppResult<article::Model> {
    article::Entity::find_published_by_id(article_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))
}

/// A published comment of `article_id` that a new comment may answer, or a 400 on `field`.
async fn answerable(
    db: &impl ConnectionTrait,
    id: i64,
    article_id: i64,
    field: &str,
) -> AppResult<comment::Model> {
    let found = comment::Entity::find_by_id(id).one(db).await?;
    match found {
        Some(c) if c.article_id != article_id => Err(AppError::bad_field(
            field,
            format!("{field} refers to a comment of another article"),
        )),
        Some(c) if c.status == CommentStatus::Published => Ok(c),
        _ => Err(AppError::bad_field(
            field,
            format!("{field} refers to no visible comment"),
        )),
    }
}

/// Adds `delta` to a counter column of one row, never below zero.
async fn move_count<E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    id_column: E::Column,
    id: i64,
    delta: i64,
) -> AppResult<()> {
    let mut update = E::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(id_column.eq(id));
    if delta < 0 {
        update = update.filter(column.gt(0));
    }
    update.exec(db).await?;
    Ok(())
}

/// Counters (and the reply notification) when a comment becomes or stops being published.
async fn published_changed(
    db: &impl ConnectionTrait,
    c: &comment::Model,
    now_published: bool,
) -> AppResult<()> {
    let delta = if now_published { 1 } else { -1 };
    move_count::<article::Entity>(
        db,
        article::Column::CommentCount,
        article::Column::Id,
        c.article_id,
        delta,
    )
    .await?;
    if let Some(parent) = c.parent_id {
        move_count::<comment::Entity>(
            db,
            comment::Column::ReplyCount,
            comment::Column::Id,
            parent,
            delta,
        )
        .await?;
    }
    if now_published
        && let Some(target) = c.reply_to_user_id
        && target != c.user_id
    {
        notifications::notify(db, NewNotification::comment_reply(target, c)).await?;
    }
    Ok(())
}

/// Posts a comment (or a reply) on a published article. The content check (which may
/// call WeChat) runs before the write transaction, so no lock waits on it.
pub async fn create(
    state: &AppState,
    author: &user::Model,
    article_id: i64,
    new: NewComment,
) -> AppResult<CommentView> {
    let db = &state.db;
    let client_ip = new.client_ip.as_str();
    moderation::count_creation(&state.cache, &state.settings, author.id, client_ip).await?;
    // Refuse a missing article before paying for the content check; the transaction
    // checks again.
    published_article(db, article_id).await?;
    let status = Screening::of(state)
        .initial_status(author, new.content.as_str())
        .await;

    let txn = db::begin_write(db).await?;
    published_article(&txn, article_id).await?;
    let (parent_id, reply_to) = match (new.parent_id, new.reply_to) {
        (None, None) => (None, None),
        (Some(p), r) => {
            let parent = answerable(&txn, p, article_id, "parent_id").await?;
            if parent.parent_id.is_some() {
                return Err(AppError::bad_field(
                    "parent_id",
                    "parent_id must be a top-level comment",
                ));
            }
            let target = match r {
                Some(r) if r != p => {
                    let target = answerable(&txn, r, article_id, "reply_to").await?;
                    if target.parent_id != Some(p) {
                        return Err(AppError::bad_field(
                            "reply_to",
                            "reply_to must be in the thread of parent_id",
                        ));
                    }
                    target
                }
                _ => parent,
            };
            (Some(p), Some(target))
        }
        (None, Some(r)) => {
            let target = answerable(&txn, r, article_id, "reply_to").await?;
            (Some(target.parent_id.unwrap_or(target.id)), Some(target))
        }
    };
    let now = time::now();
    let saved = comment::ActiveModel {
        article_id: Set(article_id),
        user_id: Set(author.id),
        parent_id: Set(parent_id),
        reply_to_id: Set(reply_to.as_ref().map(|t| t.id)),
        reply_to_user_id: Set(reply_to.as_ref().map(|t| t.user_id)),
        content: Set(new.content.into()),
        status: Set(status),
        reply_count: Set(0),
        client_ip: Set(client_ip.chars().take(64).collect()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if status == CommentStatus::Published {
        published_changed(&txn, &saved, true).await?;
    }
    txn.commit().await?;
    if status == CommentStatus::Published {
        // The article's comment count is part of the cached public reads that show it.
        state.read_cache.article_changed(article_id).await;
    }
    let mut views = with_people(db, vec![saved]).await?;
    Ok(views.remove(0))
}

/// Applies a moderation action by `actor`, an administrator or, for delete, the author
/// (`moderation::apply`), and moves the counts in the same transaction.
pub async fn apply(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &user::Model,
    audit_as: &Actor,
    id: i64,
    action: ModerationAction,
) -> AppResult<comment::Model> {
    let txn = db::begin_write(db).await?;
    let current = moderation::find::<comment::Entity>(&txn, id).await?;
    let to =
        moderation::apply::<comment::Entity>(&txn, actor, audit_as, id, &current, action).await?;
    let was_published = current.status == CommentStatus::Published;
    let count_changed = was_published != (to == CommentStatus::Published);
    if count_changed {
        published_changed(&txn, &current, to == CommentStatus::Published).await?;
    }
    txn.commit().await?;
    if count_changed {
        read_cache.article_changed(current.article_id).await;
    }
    moderation::find::<comment::Entity>(db, id).await
}

/// The outcome of one id in a bulk moderation.
#[derive(Debug)]
pub struct BulkOutcome {
    pub id: i64,
    pub result: AppResult<CommentStatus>,
}

/// Comments one bulk moderation may list.
pub const MAX_BULK: usize = 100;

/// `apply` to each id; every comment that changed gets its own audit entry (so filtering
/// the log by object finds bulk actions too), all carrying the same request id.
pub async fn apply_many(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    admin: &user::Model,
    audit_as: &Actor,
    ids: &[i64],
    action: ModerationAction,
) -> Vec<BulkOutcome> {
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        let result = apply(db, read_cache, admin, audit_as, id, action)
            .await
            .map(|c| c.status);
        outcomes.push(BulkOutcome { id, result });
    }
    outcomes
}

/// One keyset page of `query` by creation time: newest first (`Desc`) or oldest first.
async fn time_page(
    db: &DatabaseConnection,
    mut query: Select<comment::Entity>,
    cursor: Option<TimeCursor>,
    limit: u64,
    order: Order,
) -> AppResult<Page<comment::Model>> {
    let (time, id) = (comment::Column::CreatedAt, comment::Column::Id);
    if let Some(c) = &cursor {
        query = query.filter(match order {
            Order::Desc => c.older(time, id),
            _ => c.newer(time, id),
        });
    }
    let rows = query
        .order_by(time, order.clone())
        .order_by(id, order)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |c| {
        TimeCursor {
            at: c.created_at,
            id: c.id,
        }
        .encode()
    }))
}

/// The threads of a published article, newest first, each with its first replies.
pub async fn threads(
    db: &DatabaseConnection,
    article_id: i64,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    let limit = pagination::limit(limit)?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    published_article(db, article_id).await?;
    let threads =
        comment::Entity::find_listed_threads().filter(comment::Column::ArticleId.eq(article_id));
    let page = time_page(db, threads, cursor, limit, Order::Desc).await?;

    let mut replies_by_thread: HashMap<i64, Vec<comment::Model>> = HashMap::new();
    for thread in page.items.iter().filter(|t| t.reply_count > 0) {
        let replies = comment::Entity::find_visible_replies(thread.id)
            .order_by_asc(comment::Column::CreatedAt)
            .order_by_asc(comment::Column::Id)
            .limit(REPLY_PREVIEW)
            .all(db)
            .await?;
        replies_by_thread.insert(thread.id, replies);
    }
    let all: Vec<comment::Model> = page
        .items
        .iter()
        .cloned()
        .chain(replies_by_thread.values().flatten().cloned())
        .collect();
    let mut views: HashMap<i64, CommentView> = with_people(db, all)
        .await?
        .into_iter()
        .map(|v| (v.comment.id, v))
        .collect();
    let items = page
        .items
        .iter()
        .filter_map(|t| {
            let mut view = views.remove(&t.id)?;
            view.replies = replies_by_thread
                .get(&t.id)
                .map(|rs| rs.iter().filter_map(|r| views.remove(&r.id)).collect())
                .unwrap_or_default();
            Some(view)
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// All published replies of a listed thread, oldest first.
pub async fn replies(
    db: &DatabaseConnection,
    thread_id: i64,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    let limit = pagination::limit(limit)?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    let thread = comment::Entity::find_listed_threads()
        .filter(comment::Column::Id.eq(thread_id))
        .one(db)
        .await?
        .ok_or(AppError::not_found("comment"))?;
    published_article(db, thread.article_id).await?;
    let replies = comment::Entity::find_visible_replies(thread_id);
    let page = time_page(db, replies, cursor, limit, Order::Asc).await?;
    Ok(Page {
        items: with_people(db, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// A user's own comments (not the deleted ones), newest first, whatever their moderation.
pub async fn mine(
    db: &DatabaseConnection,
    user_id: i64,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    let condition = Condition::all()
        .add(comment::Column::UserId.eq(user_id))
        .add(comment::Column::Status.ne(CommentStatus::Deleted));
    newest_first(db, condition, cursor, limit).await
}

/// The moderation queue: every comment of a status, replies included, newest first.
pub async fn queue(
    db: &DatabaseConnection,
    status: CommentStatus,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    newest_first(
        db,
        Condition::all().add(comment::Column::Status.eq(status)),
        cursor,
        limit,
    )
    .await
}

/// One comment of the moderation queue, whatever its status, with its author: the whole
/// text where the queue shows an excerpt.
pub async fn queue_item(db: &DatabaseConnection, id: i64) -> AppResult<CommentView> {
    let comment = comment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("comment"))?;
    let mut views = with_people(db, vec![comment]).await?;
    Ok(views.remove(0))
}

/// What the console's moderation queue narrows by; `queue` is the status alone.
#[derive(Debug, Clone)]
pub struct QueueFilter {
    pub status: CommentStatus,
    /// Only comments on this article.
    pub article_id: Option<i64>,
    /// Only comments containing these words.
    pub keyword: Option<String>,
}

/// The longest keyword the queue filter takes.
pub const KEYWORD_MAX: usize = 100;
/// At most this many comments are moderated by one "all matching" action.
pub const MAX_ALL_MATCHING: u64 = 10_000;

impl QueueFilter {
    fn condition(&self) -> AppResult<Condition> {
        let mut condition = Condition::all().add(comment::Column::Status.eq(self.status));
        if let Some(article_id) = self.article_id {
            condition = condition.add(comment::Column::ArticleId.eq(article_id));
        }
        if let Some(k) = self
            .keyword
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            if k.chars().count() > KEYWORD_MAX {
                return Err(AppError::bad_field(
                    "keyword",
                    format!("keyword must be at most {KEYWORD_MAX} characters"),
                ));
            }
            // Regardless of case on both backends.
            condition = condition.add(
                Expr::expr(Func::lower(Expr::col(comment::Column::Content)))
                    .like(articles::contains_pattern(k)),
            );
        }
        Ok(condition)
    }
}

/// The queue narrowed by `filter`, newest first.
pub async fn queue_filtered(
    db: &DatabaseConnection,
    filter: &QueueFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    newest_first(db, filter.condition()?, cursor, limit).await
}

/// How many comments match `filter`.
pub async fn count_matching(db: &DatabaseConnection, filter: &QueueFilter) -> AppResult<u64> {
    Ok(comment::Entity::find()
        .filter(filter.condition()?)
        .count(db)
        .await?)
}

/// How many comments match `filter`, and the ids of the first `MAX_ALL_MATCHING` of them
/// (newest first): "select all matching", across pages.
pub async fn matching(db: &DatabaseConnection, filter: &QueueFilter) -> AppResult<(u64, Vec<i64>)> {
    let condition = filter.condition()?;
    let total = comment::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let ids = comment::Entity::find()
        .filter(condition)
        .select_only()
        .column(comment::Column::Id)
        .order_by_desc(comment::Column::Id)
        .limit(MAX_ALL_MATCHING)
        .into_tuple::<i64>()
        .all(db)
        .await?;
    Ok((total, ids))
}

/// Comments matching `condition`, newest id first, keyset paged.
async fn newest_first(
    db: &DatabaseConnection,
    condition: Condition,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CommentView>> {
    let limit = pagination::limit(limit)?;
    let mut query = comment::Entity::find().filter(condition);
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(comment::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(comment::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |c| IdCursor(c.id).encode());
    Ok(Page {
        items: with_people(db, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// Resolves authors and answered authors in one query.
async fn with_people(
    db: &DatabaseConnection,
    comments: Vec<comment::Model>,
) -> AppResult<Vec<CommentView>> {
    let mut ids: Vec<i64> = comments
        .iter()
        .flat_map(|c| std::iter::once(c.user_id).chain(c.reply_to_user_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let users: HashMap<i64, user::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    Ok(comments
        .into_iter()
        .map(|c| CommentView {
            author: users.get(&c.user_id).cloned(),
            reply_to_author: c.reply_to_user_id.and_then(|u| users.get(&u).cloned()),
            comment: c,
            replies: Vec::new(),
        })
        .collect())
}
