//! The in-app inbox. One notification per event per person: a unique (user, dedup_key)
//! makes repeats of the same event no-ops.

use chrono::{DateTime, Utc};
use entity::notification::{self, NotificationKind};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Expr, sea_query::OnConflict,
};

use crate::{
    error::AppResult,
    pagination::{self, IdCursor, Page},
    time,
};

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: NotificationKind,
    /// Identifies the event, e.g. `comment:42`.
    pub dedup_key: String,
    pub title: String,
    pub body: String,
    pub article_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub guestbook_message_id: Option<i64>,
}

/// Adds a notification unless this person already has one for this event; true if added.
pub async fn notify(db: &impl ConnectionTrait, n: NewNotification) -> AppResult<bool> {
    let inserted = notification::Entity::insert(notification::ActiveModel {
        user_id: Set(n.user_id),
        kind: Set(n.kind),
        dedup_key: Set(n.dedup_key),
        title: Set(n.title),
        body: Set(n.body),
        article_id: Set(n.article_id),
        comment_id: Set(n.comment_id),
        guestbook_message_id: Set(n.guestbook_message_id),
        read_at: Set(None),
        created_at: Set(time::now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([notification::Column::UserId, notification::Column::DedupKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

/// A page of the inbox, newest first.
pub async fn list(
    db: &DatabaseConnection,
    user_id: i64,
    unread_only: bool,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<notification::Model>> {
    let limit = pagination::limit(limit)?;
    let mut query = notification::Entity::find().filter(notification::Column::UserId.eq(user_id));
    if unread_only {
        query = query.filter(notification::Column::ReadAt.is_null());
    }
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(notification::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(notification::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |n| {
        IdCursor(n.id).encode()
    }))
}

pub async fn unread_count(db: &DatabaseConnection, user_id: i64) -> AppResult<u64> {
    Ok(notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Marks the given notifications (or all, when `ids` is None) read; returns the unread
/// count after. Other people's ids are ignored.
pub async fn mark_read(
    db: &DatabaseConnection,
    user_id: i64,
    ids: Option<Vec<i64>>,
) -> AppResult<u64> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(time::now()))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(ids) = ids {
        update = update.filter(notification::Column::Id.is_in(ids));
    }
    update.exec(db).await?;
    unread_count(db, user_id).await
}

/// Deletes read notifications older than `before` (the `purge_expired` job).
pub async fn purge_read(db: &DatabaseConnection, before: DateTime<Utc>) -> AppResult<u64> {
    let result = notification::Entity::delete_many()
        .filter(notification::Column::ReadAt.is_not_null())
        .filter(notification::Column::CreatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
