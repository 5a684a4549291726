use sea_orm::entity::prelude::*;

/// A feed that the `ingest_sources` job imports as drafts. Besides the editor's settings it
/// keeps the feed's HTTP validators and the outcome of the last fetch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub feed_url: String,
    pub category_id: Option<i64>,
    /// JSON list of tag ids.
    #[sea_orm(column_type = "Text")]
    pub tag_ids: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub notice_template: Option<String>,
    pub full_page: bool,
    pub auto_publish: bool,
    pub enabled: bool,
    pub min_interval_secs: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 of the last body parsed: an unchanged body is not parsed again.
    pub body_hash: Option<String>,
    pub last_fetch_at: Option<DateTimeUtc>,
    pub last_http_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub next_check_at: DateTimeUtc,
    pub items_imported: i64,
    /// Held by the instance fetching the source until then.
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::source_item::Entity")]
    Items,
}

impl Related<super::source_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Items.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
