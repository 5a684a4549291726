use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Created; recipients not frozen yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Recipients are being written as deliveries.
    #[sea_orm(string_value = "preparing")]
    Preparing,
    /// Workers are delivering.
    #[sea_orm(string_value = "sending")]
    Sending,
    /// Every delivery is settled and none failed.
    #[sea_orm(string_value = "done")]
    Done,
    /// Every delivery is settled and some failed (retryable), or preparation failed.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum CampaignTrigger {
    /// A run of the `push_featured` job.
    #[sea_orm(string_value = "schedule")]
    Schedule,
    /// `POST /api/admin/push/articles/{id}`.
    #[sea_orm(string_value = "manual")]
    Manual,
}

/// One push of one or more newly featured articles to everyone who follows the site.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub status: CampaignStatus,
    pub trigger: CampaignTrigger,
    pub title: String,
    /// JSON array of article ids, in digest order.
    #[sea_orm(column_type = "Text")]
    pub article_ids: String,
    pub follower_horizon: i64,
    pub user_horizon: i64,
    pub created_by: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub prepared_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
