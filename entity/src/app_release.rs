use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    #[sea_orm(string_value = "android")]
    Android,
    #[sea_orm(string_value = "ios")]
    Ios,
    #[sea_orm(string_value = "harmony")]
    Harmony,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_releases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub platform: Platform,
    /// Semantic version, e.g. `2.3.1`.
    pub version: String,
    /// Clients older than this must update.
    pub min_supported_version: String,
    pub size_bytes: i64,
    pub download_url: String,
    #[sea_orm(column_type = "Text")]
    pub notes: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
