use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone replied to your comment.
    #[sea_orm(string_value = "comment_reply")]
    CommentReply,
    /// The site answered your guestbook message.
    #[sea_orm(string_value = "guestbook_reply")]
    GuestbookReply,
    /// Newly featured articles (push campaigns).
    #[sea_orm(string_value = "featured_articles")]
    FeaturedArticles,
}

/// An in-app inbox entry; unique per (user, dedup_key) so an event notifies a person once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub kind: NotificationKind,
    pub dedup_key: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub article_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub guestbook_message_id: Option<i64>,
    pub read_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
