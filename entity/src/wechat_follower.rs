use sea_orm::entity::prelude::*;

/// A follower of the Official Account, by openid. Rows stay after an unsubscribe
/// (`subscribed` false) so a returning follower keeps their link to a user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_followers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub openid: String,
    pub unionid: Option<String>,
    /// The qshare user who scanned their bind QR code; None until then.
    pub user_id: Option<i64>,
    pub subscribed: bool,
    /// The last subscribe event, or the sync that first saw them; None when unknown.
    pub subscribed_at: Option<DateTimeUtc>,
    pub unsubscribed_at: Option<DateTimeUtc>,
    /// The QR scene of the last subscribe (`qrscene_` prefix stripped).
    pub scene: Option<String>,
    /// The last callback event from this follower (server time).
    pub last_event_at: Option<DateTimeUtc>,
    /// The sync that last saw them in WeChat's follower list.
    pub sync_generation: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
