//! The in-app inbox. One notification per event per person: a unique (user, dedup_key)
//! makes repeats of the same event no-ops.

use chrono::{DateTime, Utc};
use entity::{
    comment,
    notification::{self, NotificationKind},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TryInsertResult, prelude::Expr,
};

use super::moderation;
use crate::{
    error::{AppError, AppResult},
    pagination::{self, IdCursor, Page},
    time,
};

/// One inbox entry, built by the constructors below so every kind has one shape.
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

impl NewNotification {
    /// `reply` answered a comment of `user_id`.
    pub fn comment_reply(user_id: i64, reply: &comment::Model) -> Self {
        Self {
            user_id,
            kind: NotificationKind::CommentReply,
            dedup_key: format!("comment:{}", reply.id),
            title: "有人回复了你的评论".into(),
            body: moderation::excerpt(&reply.content),
            article_id: Some(reply.article_id),
            comment_id: Some(reply.id),
            guestbook_message_id: None,
        }
    }

    /// The site answered message `message_id` of `user_id` with `answer`.
    pub fn guestbook_reply(user_id: i64, message_id: i64, answer: &str) -> Self {
        Self {
            user_id,
            kind: NotificationKind::GuestbookReply,
            dedup_key: format!("guestbook:{message_id}"),
            title: "你的留言有了回复".into(),
            body: moderation::excerpt(answer),
            article_id: None,
            comment_id: None,
            guestbook_message_id: Some(message_id),
        }
    }

    /// Push campaign `campaign_id` delivered to the inbox; `article_id` is the first article.
    pub fn featured_articles(
        user_id: i64,
        campaign_id: i64,
        title: String,
        body: String,
        article_id: i64,
    ) -> Self {
        Self {
            user_id,
            kind: NotificationKind::FeaturedArticles,
            dedup_key: format!("push:{campaign_id}"),
            title,
            body,
            article_id: Some(article_id),
            comment_id: None,
            guestbook_message_id: None,
        }
    }

    fn into_row(self, now: DateTime<Utc>) -> notification::ActiveModel {
        notification::ActiveModel {
            user_id: Set(self.user_id),
            kind: Set(self.kind),
            dedup_key: Set(self.dedup_key),
            title: Set(self.title),
            body: Set(self.body),
            article_id: Set(self.article_id),
            comment_id: Set(self.comment_id),
            guestbook_message_id: Set(self.guestbook_message_id),
            read_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        }
    }
}

/// Adds a notification unless this person already has one for this event; true if added.
pub async fn notify(db: &impl ConnectionTrait, n: NewNotification) -> AppResult<bool> {
    Ok(notify_many(db, vec![n]).await? > 0)
}

/// Adds several notifications in one statement, skipping the events a person already has
/// one for; returns how many were added.
pub async fn notify_many(db: &impl ConnectionTrait, all: Vec<NewNotification>) -> AppResult<u64> {
    let now = time::now();
    let rows = all.into_iter().map(|n| n.into_row(now));
    let written = notification::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([notification::Column::UserId, notification::Column::DedupKey])
        .exec_without_returning(db)
        .await?;
    Ok(match written {
        TryInsertResult::Inserted(n) => n,
        TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
    })
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

/// The unread counts of several users in one query per 500 (a push batch's badges); users
/// without unread notifications are absent.
pub async fn unread_counts(
    db: &DatabaseConnection,
    user_ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, u64>> {
    let mut counts = std::collections::HashMap::new();
    for ids in user_ids.chunks(500) {
        let rows: Vec<(i64, i64)> = notification::Entity::find()
            .select_only()
            .column(notification::Column::UserId)
            .column_as(notification::Column::Id.count(), "n")
            .filter(notification::Column::UserId.is_in(ids.iter().copied()))
            .filter(notification::Column::ReadAt.is_null())
            .group_by(notification::Column::UserId)
            .into_tuple()
            .all(db)
            .await?;
        counts.extend(rows.into_iter().map(|(user, n)| (user, n.max(0) as u64)));
    }
    Ok(counts)
}

/// Ids one mark-read call may list.
pub const MAX_MARK_IDS: usize = 100;

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
        if ids.len() > MAX_MARK_IDS {
            return Err(AppError::bad_field(
                "ids",
                format!("at most {MAX_MARK_IDS} ids"),
            ));
        }
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
