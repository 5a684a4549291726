use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A notification in the app's inbox.
    #[sea_orm(string_value = "inbox")]
    Inbox,
    /// An Official Account template message per follower (`client_msg_id`).
    #[sea_orm(string_value = "wechat_template")]
    WechatTemplate,
    /// Official Account mass send by openid batches (`clientmsgid`).
    #[sea_orm(string_value = "wechat_mass")]
    WechatMass,
    /// Mini-program subscribe message, spending a grant credit.
    #[sea_orm(string_value = "miniprogram_subscribe")]
    MiniprogramSubscribe,
    /// Apple Push Notification service, one device (`recipient` is the device id).
    #[sea_orm(string_value = "apns")]
    Apns,
    /// Firebase Cloud Messaging HTTP v1, one device.
    #[sea_orm(string_value = "fcm")]
    Fcm,
    /// HarmonyOS NEXT Push Kit, one device.
    #[sea_orm(string_value = "harmony")]
    Harmony,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for `next_attempt_at`.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed by a worker until `lease_until`.
    #[sea_orm(string_value = "sending")]
    Sending,
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Failed for good (or out of attempts); the campaign's retry resends it.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Not sent on purpose: preferences, unfollowed, refused, invalid recipient.
    #[sea_orm(string_value = "skipped")]
    Skipped,
    /// A worker died mid-send on a channel without a de-duplication key: it may or may not
    /// have arrived, and resending could duplicate it.
    #[sea_orm(string_value = "unknown")]
    Unknown,
}

/// One message to one recipient through one channel.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub campaign_id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub user_id: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub article_ids: Option<String>,
    pub batch: Option<i32>,
    pub batch_leader: bool,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub last_errcode: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
