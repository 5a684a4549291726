use sea_orm::entity::prelude::*;

/// One feed item as imported: the article it became, and what the import last wrote.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source_id: i64,
    /// The feed's own id for the item, when it has one (never one the parser made up).
    pub guid: Option<String>,
    /// The canonical URL: the key of "nothing twice" (also `articles.source_url`).
    pub source_url: String,
    pub article_id: Option<i64>,
    /// SHA-256 of the item's title, summary and content as last imported.
    pub content_hash: String,
    /// The article's `updated_at` as the import left it; a later one means an editor
    /// changed the article.
    pub article_updated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::source::Entity",
        from = "Column::SourceId",
        to = "super::source::Column::Id",
        on_delete = "Cascade"
    )]
    Source,
}

impl Related<super::source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Source.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
