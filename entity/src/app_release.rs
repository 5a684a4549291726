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

/// Where the app was installed from: our own download, Apple's App Store, or an Android
/// vendor's store. Each channel has its own builds and its own rollout.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[sea_orm(string_value = "official")]
    Official,
    #[sea_orm(string_value = "appstore")]
    Appstore,
    #[sea_orm(string_value = "huawei")]
    Huawei,
    #[sea_orm(string_value = "xiaomi")]
    Xiaomi,
    #[sea_orm(string_value = "oppo")]
    Oppo,
    #[sea_orm(string_value = "vivo")]
    Vivo,
    #[sea_orm(string_value = "honor")]
    Honor,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Appstore => "appstore",
            Self::Huawei => "huawei",
            Self::Xiaomi => "xiaomi",
            Self::Oppo => "oppo",
            Self::Vivo => "vivo",
            Self::Honor => "honor",
        }
    }
}

/// A full rollout: every device.
pub const FULL_ROLLOUT: i32 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_releases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub platform: Platform,
    pub channel: Channel,
    /// Semantic version, e.g. `2.3.1`.
    pub version: String,
    /// The build number; orders two builds of one version.
    pub build: i64,
    /// Clients older than this must update.
    pub min_supported_version: String,
    /// The share of devices offered this release, in basis points (0..=10000).
    pub rollout_basis_points: i32,
    /// A halted release is offered to nobody.
    pub halted: bool,
    pub size_bytes: i64,
    pub download_url: String,
    /// Lowercase hex SHA-256 of the package, when the download is ours to check.
    pub sha256: Option<String>,
    /// Release notes in zh-CN.
    #[sea_orm(column_type = "Text")]
    pub notes: String,
    /// Release notes in English.
    #[sea_orm(column_type = "Text")]
    pub notes_en: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
