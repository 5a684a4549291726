use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The push service a device token belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    #[sea_orm(string_value = "apns")]
    Apns,
    #[sea_orm(string_value = "fcm")]
    Fcm,
    #[sea_orm(string_value = "harmony")]
    Harmony,
}

/// APNs has a production and a sandbox (development build) service; tokens of one are
/// refused by the other.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[sea_orm(string_value = "production")]
    Production,
    #[sea_orm(string_value = "sandbox")]
    Sandbox,
}

/// A device that receives pushes: one row per (provider, token).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider: Provider,
    pub token: String,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub secret_hash: Option<String>,
    pub app_id: Option<String>,
    pub environment: Environment,
    pub locale: String,
    pub timezone: String,
    pub app_version: Option<String>,
    pub opted_out: bool,
    pub quiet_start_minute: Option<i32>,
    pub quiet_end_minute: Option<i32>,
    pub invalid_at: Option<DateTimeUtc>,
    pub invalid_reason: Option<String>,
    pub registered_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
