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
    error::{AppError, AppResult, ErrorCode},
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
                code: ErrorCode::InvalidTransition,
                message: format!("cannot {action:?} content that is {from:?}").to_lowercase(),
            });
        }
    };
    Ok(to)
}

/// What the transition reads of a moderated row.
pub struct RowFacts<'a> {
    pub status: ModerationStatus,
    pub author_id: i64,
    pub content: &'a str,
    /// The article a comment is on (kept in the audit entry).
    pub article_id: Option<i64>,
}

/// A table whose rows are moderated: comments and guestbook messages.
pub trait Moderated: EntityTrait<Model: IntoActiveModel<Self::ActiveModel> + Send + Sync> {
    /// For "not found" and the conflict, e.g. `comment`.
    const NOUN: &'static str;
    /// For the refusal, e.g. `comments`.
    const NOUN_PLURAL: &'static str;
    /// The audit log's object type.
    const OBJECT_TYPE: &'static str;
    /// The audit actions of approve, hide and delete.
    const ACTIONS: [&'static str; 3];
    const ID: Self::Column;
    const STATUS: Self::Column;
    const UPDATED_AT: Self::Column;
    fn facts(row: &Self::Model) -> RowFacts<'_>;
}

/// Both tables name their columns alike; only the nouns and the article differ.
macro_rules! moderated {
    ($table:ident, $noun:literal, $plural:literal, $object:literal, $prefix:literal, $article:expr) => {
        impl Moderated for $table::Entity {
            const NOUN: &'static str = $noun;
            const NOUN_PLURAL: &'static str = $plural;
            const OBJECT_TYPE: &'static str = $object;
            const ACTIONS: [&'static str; 3] = [
                concat!($prefix, ".approve"),
                concat!($prefix, ".hide"),
                concat!($prefix, ".delete"),
            ];
            const ID: Self::Column = $table::Column::Id;
            const STATUS: Self::Column = $table::Column::Status;
            const UPDATED_AT: Self::Column = $table::Column::UpdatedAt;
            fn facts(row: &$table::Model) -> RowFacts<'_> {
                RowFacts {
                    status: row.status,
                    author_id: row.user_id,
                    content: &row.content,
                    article_id: $article(row),
                }
            }
        }
    };
}

moderated!(
    comment,
    "comment",
    "comments",
    "comment",
    "comment",
    |c: &comment::Model| Some(c.article_id)
);
moderated!(
    guestbook_message,
    "guestbook message",
    "messages",
    "guestbook_message",
    "guestbook",
    |_| None
);

fn audit_action<E: Moderated>(action: ModerationAction) -> &'static str {
    match action {
        ModerationAction::Approve => E::ACTIONS[0],
        ModerationAction::Hide => E::ACTIONS[1],
        ModerationAction::Delete => E::ACTIONS[2],
    }
}

/// The audit log's "before" of a row (the article only for comments).
fn audit_before(row: &RowFacts<'_>) -> Value {
    let mut before = json!({
        "status": row.status,
        "author_id": row.author_id,
        "excerpt": excerpt(row.content),
    });
    if let Some(article_id) = row.article_id {
        before["article_id"] = json!(article_id);
    }
    before
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
    let facts = E::facts(current);
    let from = facts.status;
    let own_delete = action == ModerationAction::Delete && facts.author_id == actor.id;
    if actor.role != Role::Admin && !own_delete {
        return Err(AppError::Forbidden(format!(
            "you can only delete your own {}",
            E::NOUN_PLURAL
        )));
    }
    let to = transition(from, action)?;
    let changed = E::update_many()
        .col_expr(E::STATUS, Expr::value(to))
        .col_expr(E::UPDATED_AT, Expr::value(time::now()))
        .filter(E::ID.eq(id))
        .filter(E::STATUS.eq(from))
        .exec(txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::conflict(
            ErrorCode::ChangedConcurrently,
            format!("the {} changed meanwhile; retry", E::NOUN),
        ));
    }
    if !own_delete {
        let entry = Entry::new(audit_action::<E>(action), E::OBJECT_TYPE, id)
            .before(audit_before(&facts))
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
