use sea_orm::entity::prelude::*;

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

impl ActiveModelBehavior for ActiveModel {}
