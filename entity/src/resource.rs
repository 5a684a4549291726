use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One download of a resource (a platform build, a mirror).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct DownloadLink {
    /// e.g. `windows`, `macos`, `linux`, `android`, `source`.
    pub platform: String,
    pub url: String,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, FromJsonQueryResult)]
pub struct DownloadLinks(pub Vec<DownloadLink>);

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub summary: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub homepage: String,
    #[sea_orm(column_type = "Json")]
    pub download_links: DownloadLinks,
    pub version: String,
    pub license: String,
    pub category: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
