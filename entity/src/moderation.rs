use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a comment or guestbook message stands in moderation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ModerationStatus {
    /// Waiting for an administrator.
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "published")]
    Published,
    /// Hidden by an administrator.
    #[sea_orm(string_value = "hidden")]
    Hidden,
    /// Deleted by its author or an administrator.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}
