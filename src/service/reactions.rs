//! Likes and favourites: idempotent, with the article's counters kept right under
//! concurrency (the reaction row is the truth; a counter moves only when a row is actually
//! inserted or deleted, in the same transaction). A change refreshes the cached reads that
//! show the article's counts, and only those (`ReadCache::article_changed`).

use entity::{
    article,
    article_reaction::{self, ReactionKind},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait,
    QueryFilter, QueryOrder, QuerySelect, prelude::Expr, sea_query::OnConflict,
};

use super::articles::{CardView, cards_by_ids};
use crate::{
    cache::read_through::ReadCache,
    db,
    error::{AppError, AppResult},
    pagination::{self, Page, TimeCursor},
    time,
};

/// The caller's reaction and the article's total after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReactionState {
    pub active: bool,
    pub count: i64,
}

fn counter_column(kind: ReactionKind) -> article::Column {
    match kind {
        ReactionKind::Like => article::Column::LikeCount,
        ReactionKind::Favorite => article::Column::FavoriteCount,
    }
}

async fn count_of(
    db: &impl ConnectionTrait,
    article_id: i64,
    kind: ReactionKind,
) -> AppResult<i64> {
    let article = article::Entity::find_by_id(article_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))?;
    Ok(match kind {
        ReactionKind::Like => article.like_count,
        ReactionKind::Favorite => article.favorite_count,
    })
}

async fn move_counter(
    db: &impl ConnectionTrait,
    article_id: i64,
    kind: ReactionKind,
    delta: i64,
) -> AppResult<()> {
    let column = counter_column(kind);
    let mut update = article::Entity::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(article::Column::Id.eq(article_id));
    if delta < 0 {
        update = update.filter(column.gt(0));
    }
    update.exec(db).await?;
    Ok(())
}

/// Likes or favourites a published article; doing it twice changes nothing.
pub async fn add(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    user_id: i64,
    article_id: i64,
    kind: ReactionKind,
) -> AppResult<ReactionState> {
    let txn = db::begin_write(db).await?;
    let published = article::Entity::find_published_by_id(article_id)
        .one(&txn)
        .await?
        .is_some();
    if !published {
        return Err(AppError::not_found("article"));
    }
    let inserted = article_reaction::Entity::insert(article_reaction::ActiveModel {
        user_id: Set(user_id),
        article_id: Set(article_id),
        kind: Set(kind),
        created_at: Set(time::now()),
    })
    .on_conflict(
        OnConflict::columns([
            article_reaction::Column::UserId,
            article_reaction::Column::ArticleId,
            article_reaction::Column::Kind,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted > 0 {
        move_counter(&txn, article_id, kind, 1).await?;
    }
    let count = count_of(&txn, article_id, kind).await?;
    txn.commit().await?;
    if inserted > 0 {
        read_cache.article_changed(article_id).await;
    }
    Ok(ReactionState {
        active: true,
        count,
    })
}

/// Takes a like or favourite back; doing it twice changes nothing.
pub async fn remove(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    user_id: i64,
    article_id: i64,
    kind: ReactionKind,
) -> AppResult<ReactionState> {
    let txn = db::begin_write(db).await?;
    let deleted = article_reaction::Entity::delete_many()
        .filter(article_reaction::Column::UserId.eq(user_id))
        .filter(article_reaction::Column::ArticleId.eq(article_id))
        .filter(article_reaction::Column::Kind.eq(kind))
        .exec(&txn)
        .await?;
    if deleted.rows_affected > 0 {
        move_counter(&txn, article_id, kind, -1).await?;
    }
    let count = count_of(&txn, article_id, kind).await?;
    txn.commit().await?;
    if deleted.rows_affected > 0 {
        read_cache.article_changed(article_id).await;
    }
    Ok(ReactionState {
        active: false,
        count,
    })
}

/// What a reader did with one article: their own state, shown over the shared cached page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderState {
    pub liked: bool,
    pub favorited: bool,
    /// Opened it (a counted view while signed in).
    pub read: bool,
}

/// `user_id`'s state for published article `article_id` (404 when it is not published).
pub async fn reader_state(
    db: &DatabaseConnection,
    user_id: i64,
    article_id: i64,
) -> AppResult<ReaderState> {
    if article::Entity::find_published_by_id(article_id)
        .one(db)
        .await?
        .is_none()
    {
        return Err(AppError::not_found("article"));
    }
    let kinds: Vec<ReactionKind> = article_reaction::Entity::find()
        .select_only()
        .column(article_reaction::Column::Kind)
        .filter(article_reaction::Column::UserId.eq(user_id))
        .filter(article_reaction::Column::ArticleId.eq(article_id))
        .into_tuple()
        .all(db)
        .await?;
    let read = entity::article_read::Entity::find_by_id((user_id, article_id))
        .one(db)
        .await?
        .is_some();
    Ok(ReaderState {
        liked: kinds.contains(&ReactionKind::Like),
        favorited: kinds.contains(&ReactionKind::Favorite),
        read,
    })
}

/// The published articles a user liked (or favourited), most recent reaction first.
pub async fn mine(
    db: &DatabaseConnection,
    user_id: i64,
    kind: ReactionKind,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CardView>> {
    let limit = pagination::limit(limit)?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    let mut query = article_reaction::Entity::find()
        .inner_join(article::Entity)
        .filter(article_reaction::Column::UserId.eq(user_id))
        .filter(article_reaction::Column::Kind.eq(kind))
        .filter(article::Entity::published());
    if let Some(c) = &cursor {
        query = query.filter(c.older(
            (
                article_reaction::Entity,
                article_reaction::Column::CreatedAt,
            ),
            (
                article_reaction::Entity,
                article_reaction::Column::ArticleId,
            ),
        ));
    }
    let rows = query
        .order_by_desc(article_reaction::Column::CreatedAt)
        .order_by_desc(article_reaction::Column::ArticleId)
        .limit(limit + 1)
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |r| {
        TimeCursor {
            at: r.created_at,
            id: r.article_id,
        }
        .encode()
    });
    let ids: Vec<i64> = page.items.iter().map(|r| r.article_id).collect();
    let items = cards_by_ids(db, &ids).await?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}
