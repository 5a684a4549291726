//! One moderation transition for comments and guestbook messages: who may act, the
//! allowed status change, a compare-and-set on the old status (a concurrent change makes
//! the second one a 409, never a lost update), and the audit entry, all in the caller's
//! transaction.

use entity::{
    comment, guestbook_message,
    moderation::ModerationStatus,
    user::{self, Role},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, prelude::Expr,
};
use serde_json::{Value, json};

use super::text::excerpt;
use crate::{
    error::{AppError, AppResult},
    service::audit::{self, Actor, Entry},
    time,
};

/// What an administrator (or an author, for delete) can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationAction {
    Approve,
    Hide,
    Delete,
}

/// The status an action leads to from `from`, or a 422 when the action does not apply.
pub fn transition(from: ModerationStatus, action: ModerationAction) -> AppResult<ModerationStatus> {
    use ModerationAction::*;
    use ModerationStatus::*;
    let to = match (from, action) {
        (Pending | Hidden, Approve) => Published,
        (Pending | Published, Hide) => Hidden,
        (Pending | Published | Hidden, Delete) => Deleted,
        _ => {
            return Err(AppError::Unprocessable {
                code: "invalid_transition",
                message: format!("cannot {action:?} content that is {from:?}").to_lowercase(),
            });
        }
    };
    Ok(to)
}

/// A table whose rows are moderated: comments and guestbook messages.
pub trait Moderated: EntityTrait<Model: IntoActiveModel<Self::ActiveModel> + Send + Sync> {
    /// For "not found" and the refusal, e.g. `comment`, `comments`.
    const NOUN: &'static str;
    const NOUN_PLURAL: &'static str;
    /// The audit log's object type.
    const OBJECT_TYPE: &'static str;
    fn id_column() -> Self::Column;
    fn status_column() -> Self::Column;
    fn updated_at_column() -> Self::Column;
    fn status(row: &Self::Model) -> ModerationStatus;
    fn author_id(row: &Self::Model) -> i64;
    /// The audit log's "before" of a row.
    fn audit_before(row: &Self::Model) -> Value;
    fn audit_action(action: ModerationAction) -> &'static str;
}

impl Moderated for comment::Entity {
    const NOUN: &'static str = "comment";
    const NOUN_PLURAL: &'static str = "comments";
    const OBJECT_TYPE: &'static str = "comment";
    fn id_column() -> Self::Column {
        comment::Column::Id
    }
    fn status_column() -> Self::Column {
        comment::Column::Status
    }
    fn updated_at_column() -> Self::Column {
        comment::Column::UpdatedAt
    }
    fn status(row: &comment::Model) -> ModerationStatus {
        row.status
    }
    fn author_id(row: &comment::Model) -> i64 {
        row.user_id
    }
    fn audit_before(row: &comment::Model) -> Value {
        json!({
            "status": row.status,
            "article_id": row.article_id,
            "author_id": row.user_id,
            "excerpt": excerpt(&row.content),
        })
    }
    fn audit_action(action: ModerationAction) -> &'static str {
        match action {
            ModerationAction::Approve => "comment.approve",
            ModerationAction::Hide => "comment.hide",
            ModerationAction::Delete => "comment.delete",
        }
    }
}

impl Moderated for guestbook_message::Entity {
    const NOUN: &'static str = "guestbook message";
    const NOUN_PLURAL: &'static str = "messages";
    const OBJECT_TYPE: &'static str = "guestbook_message";
    fn id_column() -> Self::Column {
        guestbook_message::Column::Id
    }
    fn status_column() -> Self::Column {
        guestbook_message::Column::Status
    }
    fn updated_at_column() -> Self::Column {
        guestbook_message::Column::UpdatedAt
    }
    fn status(row: &guestbook_message::Model) -> ModerationStatus {
        row.status
    }
    fn author_id(row: &guestbook_message::Model) -> i64 {
        row.user_id
    }
    fn audit_before(row: &guestbook_message::Model) -> Value {
        json!({
            "status": row.status,
            "author_id": row.user_id,
            "excerpt": excerpt(&row.content),
        })
    }
    fn audit_action(action: ModerationAction) -> &'static str {
        match action {
            ModerationAction::Approve => "guestbook.approve",
            ModerationAction::Hide => "guestbook.hide",
            ModerationAction::Delete => "guestbook.delete",
        }
    }
}

/// One row of `E` by id, or a 404 naming it.
pub async fn find<E>(db: &impl ConnectionTrait, id: i64) -> AppResult<E::Model>
where
    E: Moderated,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    E::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found(E::NOUN))
}

/// Moves `current` (as read by the caller) to the status `action` leads to, by `actor`: an
/// administrator, or the author for delete. Fails with 403 for anyone else, 422 when the
/// action does not apply, and 409 when the row's status is no longer `current`'s. An
/// administrator's action is audited as `audit_as` (an author deleting their own row is
/// not an admin action). Returns the new status.
pub async fn apply<E: Moderated>(
    txn: &impl ConnectionTrait,
    actor: &user::Model,
    audit_as: &Actor,
    id: i64,
    current: &E::Model,
    action: ModerationAction,
) -> AppResult<ModerationStatus> {
    let from = E::status(current);
    let own_delete = action == ModerationAction::Delete && E::author_id(current) == actor.id;
    if actor.role != Role::Admin && !own_delete {
        return Err(AppError::Forbidden(format!(
            "you can only delete your own {}",
            E::NOUN_PLURAL
        )));
    }
    let to = transition(from, action)?;
    let changed = E::update_many()
        .col_expr(E::status_column(), Expr::value(to))
        .col_expr(E::updated_at_column(), Expr::value(time::now()))
        .filter(E::id_column().eq(id))
        .filter(E::status_column().eq(from))
        .exec(txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::conflict(
            "changed_concurrently",
            format!("the {} changed meanwhile; retry", E::NOUN),
        ));
    }
    if !own_delete {
        let entry = Entry::new(E::audit_action(action), E::OBJECT_TYPE, id)
            .before(E::audit_before(current))
            .after(json!({ "status": to }));
        audit::record(txn, audit_as, entry).await?;
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ModerationAction::*;
    use ModerationStatus::*;

    #[test]
    fn every_transition_is_allowed_or_refused_as_documented() {
        assert_eq!(transition(Pending, Approve).unwrap(), Published);
        assert_eq!(transition(Hidden, Approve).unwrap(), Published);
        assert_eq!(transition(Pending, Hide).unwrap(), Hidden);
        assert_eq!(transition(Published, Hide).unwrap(), Hidden);
        for from in [Pending, Published, Hidden] {
            assert_eq!(transition(from, Delete).unwrap(), Deleted);
        }
        assert!(transition(Published, Approve).is_err());
        assert!(transition(Hidden, Hide).is_err());
        for action in [Approve, Hide, Delete] {
            assert!(transition(Deleted, action).is_err());
        }
    }
}
