//! The guestbook (留言): readers write, the site answers, with the same text rules,
//! moderation and limits as comments.

use std::collections::HashMap;

use entity::{
    guestbook_message::{self, GuestbookStatus},
    notification::NotificationKind,
    user::{self, Role},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, prelude::Expr,
};

use serde_json::json;

use super::{
    audit::{self, Actor, Entry},
    moderation::{self, ModerationAction, Screening},
    notifications::{self, NewNotification},
};
use crate::{
    cache::Cache,
    db,
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    time,
};

#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: guestbook_message::Model,
    pub author: Option<user::Model>,
}

pub async fn create(
    db: &DatabaseConnection,
    cache: &Cache,
    screening: &Screening<'_>,
    author: &user::Model,
    content: &str,
    client_ip: &str,
) -> AppResult<MessageView> {
    let content = moderation::clean_text(content)?;
    moderation::count_creation(cache, screening.settings, author.id, client_ip).await?;
    let status = screening.initial_status(author, &content).await;
    let now = time::now();
    let saved = guestbook_message::ActiveModel {
        user_id: Set(author.id),
        status: Set(status),
        content: Set(content),
        reply: Set(None),
        replied_by: Set(None),
        replied_at: Set(None),
        client_ip: Set(client_ip.chars().take(64).collect()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(MessageView {
        message: saved,
        author: Some(author.clone()),
    })
}

async fn find(db: &impl sea_orm::ConnectionTrait, id: i64) -> AppResult<guestbook_message::Model> {
    guestbook_message::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("guestbook message"))
}

/// The site's answer; the author is notified once per message, however often it is edited.
/// Sets the site's answer to a message; audited as `audit_as` in the same transaction.
pub async fn reply(
    db: &DatabaseConnection,
    admin: &user::Model,
    audit_as: &Actor,
    id: i64,
    content: &str,
) -> AppResult<guestbook_message::Model> {
    let content = moderation::clean_text(content)?;
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    if current.status == GuestbookStatus::Deleted {
        return Err(AppError::not_found("guestbook message"));
    }
    let author_id = current.user_id;
    let previous_reply = current.reply.clone();
    let now = time::now();
    let mut model: guestbook_message::ActiveModel = current.into();
    model.reply = Set(Some(content.clone()));
    model.replied_by = Set(Some(admin.id));
    model.replied_at = Set(Some(now));
    model.updated_at = Set(now);
    let saved = model.update(&txn).await?;
    if author_id != admin.id {
        notifications::notify(
            &txn,
            NewNotification {
                user_id: author_id,
                kind: NotificationKind::GuestbookReply,
                dedup_key: format!("guestbook:{id}"),
                title: "你的留言有了回复".into(),
                body: moderation::excerpt(&content),
                article_id: None,
                comment_id: None,
                guestbook_message_id: Some(id),
            },
        )
        .await?;
    }
    let entry = Entry::new("guestbook.reply", "guestbook_message", id)
        .before(json!({ "reply": previous_reply }))
        .after(json!({ "reply": content }));
    audit::record(&txn, audit_as, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Approves, hides or deletes a message; authors may delete their own.
fn audit_action(action: ModerationAction) -> &'static str {
    match action {
        ModerationAction::Approve => "guestbook.approve",
        ModerationAction::Hide => "guestbook.hide",
        ModerationAction::Delete => "guestbook.delete",
    }
}

/// Applies a moderation action by `actor`, an administrator or, for delete, the author.
/// An administrator's action on someone else's message is audited as `audit_as`, in the
/// same transaction.
pub async fn apply(
    db: &DatabaseConnection,
    actor: &user::Model,
    audit_as: &Actor,
    id: i64,
    action: ModerationAction,
) -> AppResult<guestbook_message::Model> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let own_delete = action == ModerationAction::Delete && current.user_id == actor.id;
    if actor.role != Role::Admin && !own_delete {
        return Err(AppError::Forbidden(
            "you can only delete your own messages".into(),
        ));
    }
    let to = moderation::transition(current.status, action)?;
    let changed = guestbook_message::Entity::update_many()
        .col_expr(guestbook_message::Column::Status, Expr::value(to))
        .col_expr(
            guestbook_message::Column::UpdatedAt,
            Expr::value(time::now()),
        )
        .filter(guestbook_message::Column::Id.eq(id))
        .filter(guestbook_message::Column::Status.eq(current.status))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::conflict(
            ErrorCode::ChangedConcurrently,
            "the message changed meanwhile; retry",
        ));
    }
    if !own_delete {
        let entry = Entry::new(audit_action(action), "guestbook_message", id)
            .before(json!({
                "status": current.status,
                "author_id": current.user_id,
                "excerpt": moderation::excerpt(&current.content),
            }))
            .after(json!({ "status": to }));
        audit::record(&txn, audit_as, entry).await?;
    }
    txn.commit().await?;
    find(db, id).await
}

async fn page_of(
    db: &DatabaseConnection,
    status: GuestbookStatus,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<MessageView>> {
    let limit = pagination::limit(limit)?;
    let mut query =
        guestbook_message::Entity::find().filter(guestbook_message::Column::Status.eq(status));
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(guestbook_message::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(guestbook_message::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |m| IdCursor(m.id).encode());
    let ids: Vec<i64> = page.items.iter().map(|m| m.user_id).collect();
    let users: HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    Ok(page.map(|m| MessageView {
        author: users.get(&m.user_id).cloned(),
        message: m,
    }))
}

/// Published messages with their answers, newest first.
pub async fn published(
    db: &DatabaseConnection,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<MessageView>> {
    page_of(db, GuestbookStatus::Published, cursor, limit).await
}

/// The moderation queue for one status.
pub async fn queue(
    db: &DatabaseConnection,
    status: GuestbookStatus,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<MessageView>> {
    page_of(db, status, cursor, limit).await
}
