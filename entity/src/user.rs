use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "admin")]
    Admin,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[sea_orm(string_value = "active")]
    Active,
    /// Cannot log in; existing tokens stop working.
    #[sea_orm(string_value = "disabled")]
    Disabled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user typed it.
    pub username: String,
    /// Lower-cased `username`, unique.
    #[sea_orm(unique)]
    pub username_key: String,
    /// argon2 PHC string; None for accounts that only log in with WeChat.
    pub password_hash: Option<String>,
    pub nickname: String,
    pub avatar_url: Option<String>,
    pub bio: String,
    pub role: Role,
    pub status: UserStatus,
    /// The join key between the mini-program, the app and the Official Account.
    #[sea_orm(unique)]
    pub wechat_unionid: Option<String>,
    #[sea_orm(unique)]
    pub wechat_mini_openid: Option<String>,
    #[sea_orm(unique)]
    pub wechat_oa_openid: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
