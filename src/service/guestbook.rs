//! The guestbook (留言): readers write, the site answers, with the same text rules,
//! moderation and limits as comments.

use std::collections::HashMap;

use entity::{
    guestbook_message::{self, GuestbookStatus},
    user,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use serde_json::json;

use super::{
    audit::{self, Actor, Entry},
    moderation::{self, CommentText, ModerationAction, Screening},
    notifications::{self, NewNotification},
};
use crate::{
    db,
    error::{AppError, AppResult},
    pagination::{self, IdCursor, Page},
    state::AppState,
    time,
};

#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: guestbook_message::Model,
    pub author: Option<user::Model>,
}

/// A reader's new message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub content: CommentText,
    /// The poster's address, for the per-IP limit.
    pub client_ip: String,
}

/// Writes a message. The content check (which may call WeChat) runs before the insert.
pub async fn create(
    state: &AppState,
    author: &user::Model,
    new: NewMessage,
) -> AppResult<MessageView> {
    let client_ip = new.client_ip.as_str();
    moderation::count_creation(&state.cache, &state.settings, author.id, client_ip).await?;
    let status = Screening::of(state)
        .initial_status(author, new.content.as_str())
        .await;
    let now = time::now();
    let saved = guestbook_message::ActiveModel {
        user_id: Set(author.id),
        status: Set(status),
        content: Set(new.content.into()),
        reply: Set(None),
        replied_by: Set(None),
        replied_at: Set(None),
        client_ip: Set(client_ip.chars().take(64).collect()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok(MessageView {
        message: saved,
        author: Some(author.clone()),
    })
}

/// Sets the site's answer to a message; audited as `audit_as` in the same transaction.
/// The author is notified once per message, however often the answer is edited.
pub async fn reply(
    db: &DatabaseConnection,
    admin: &user::Model,
    audit_as: &Actor,
    id: i64,
    answer: CommentText,
) -> AppResult<guestbook_message::Model> {
    let content: String = answer.into();
    let txn = db::begin_write(db).await?;
    let current = moderation::find::<guestbook_message::Entity>(&txn, id).await?;
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
        let n = NewNotification::guestbook_reply(author_id, id, &content);
        notifications::notify(&txn, n).await?;
    }
    let entry = Entry::new("guestbook.reply", "guestbook_message", id)
        .before(json!({ "reply": previous_reply }))
        .after(json!({ "reply": content }));
    audit::record(&txn, audit_as, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Applies a moderation action by `actor`, an administrator or, for delete, the author
/// (`moderation::apply`).
pub async fn apply(
    db: &DatabaseConnection,
    actor: &user::Model,
    audit_as: &Actor,
    id: i64,
    action: ModerationAction,
) -> AppResult<guestbook_message::Model> {
    type Messages = guestbook_message::Entity;
    let txn = db::begin_write(db).await?;
    let current = moderation::find::<Messages>(&txn, id).await?;
    moderation::apply::<Messages>(&txn, actor, audit_as, id, &current, action).await?;
    txn.commit().await?;
    moderation::find::<Messages>(db, id).await
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
