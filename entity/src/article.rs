use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Only `Published` articles are visible to the public. `Scheduled` ones become published
/// when their `published_at` passes (the `publish_scheduled` job).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    #[sea_orm(string_value = "published")]
    Published,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "articles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    /// Markdown.
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub cover_url: Option<String>,
    pub author: String,
    pub source_url: String,
    pub source_name: String,
    #[sea_orm(column_type = "Text")]
    pub copyright_notice: String,
    pub category_id: Option<i64>,
    pub status: ArticleStatus,
    pub published_at: Option<DateTimeUtc>,
    pub featured: bool,
    pub featured_at: Option<DateTimeUtc>,
    pub view_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::category::Entity",
        from = "Column::CategoryId",
        to = "super::category::Column::Id",
        on_delete = "SetNull"
    )]
    Category,
    #[sea_orm(has_many = "super::article_tag::Entity")]
    ArticleTags,
}

impl Related<super::category::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Category.def()
    }
}

impl Related<super::article_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ArticleTags.def()
    }
}

impl Model {
    /// The same rule as `Entity::published`, for a row already read.
    pub fn is_published(&self) -> bool {
        self.status == ArticleStatus::Published
    }
}

impl Entity {
    /// The one definition of "published" that every public read shares. A `Scheduled`
    /// article is not published until the `publish_scheduled` job flips its status (the
    /// read caches are invalidated on that change, not when the clock passes), so no
    /// `published_at <= now` here.
    pub fn published() -> Expr {
        Column::Status.eq(ArticleStatus::Published)
    }

    /// Published articles.
    pub fn find_published() -> Select<Entity> {
        Self::find().filter(Self::published())
    }

    /// One published article.
    pub fn find_published_by_id(id: i64) -> Select<Entity> {
        Self::find_by_id(id).filter(Self::published())
    }
}

impl ActiveModelBehavior for ActiveModel {}
