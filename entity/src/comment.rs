use sea_orm::{Condition, entity::prelude::*};

pub use super::moderation::ModerationStatus as CommentStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub article_id: i64,
    pub user_id: i64,
    /// The thread (a top-level comment); None for a top-level comment.
    pub parent_id: Option<i64>,
    /// The comment answered.
    pub reply_to_id: Option<i64>,
    pub reply_to_user_id: Option<i64>,
    /// Plain text; never interpreted as HTML.
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub status: CommentStatus,
    /// Published replies (top-level comments only).
    pub reply_count: i64,
    pub client_ip: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl Entity {
    /// Comments everyone may read: published ones.
    pub fn visible() -> Expr {
        Column::Status.eq(CommentStatus::Published)
    }

    /// Whether a top-level comment is shown in its article's list: published, or a
    /// tombstone (deleted or hidden) that still has visible replies.
    pub fn listed_thread() -> Condition {
        Condition::any().add(Self::visible()).add(
            Condition::all()
                .add(Column::Status.is_in([CommentStatus::Deleted, CommentStatus::Hidden]))
                .add(Column::ReplyCount.gt(0)),
        )
    }

    /// The top-level comments shown in their article's list (`listed_thread`).
    pub fn find_listed_threads() -> Select<Entity> {
        Self::find()
            .filter(Column::ParentId.is_null())
            .filter(Self::listed_thread())
    }

    /// The visible replies of a thread (unordered).
    pub fn find_visible_replies(thread_id: i64) -> Select<Entity> {
        Self::find()
            .filter(Column::ParentId.eq(thread_id))
            .filter(Self::visible())
    }
}

impl ActiveModelBehavior for ActiveModel {}
