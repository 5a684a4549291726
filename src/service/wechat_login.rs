//! Mini-program login: a `wx.login` code becomes our tokens (jscode2session). The user is
//! found by mini-program openid, else linked through the unionid (the join key between the
//! mini-program, the app and the Official Account), else created. WeChat's session_key
//! never leaves this function.

use entity::user::{self, Role, UserStatus};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use super::{
    accounts,
    tokens::{self, IssuedTokens},
};
use crate::{
    config::AuthSettings,
    error::{AppError, AppResult, ErrorCode},
    time,
    unique::UniqueIndex,
    wechat::{WechatError, api::errcode, services::WechatServices},
};

fn login_error(err: WechatError) -> AppError {
    match err.errcode() {
        Some(errcode::INVALID_CODE) => AppError::bad_field(
            "code",
            "the login code is invalid or expired; call wx.login again",
        ),
        Some(errcode::CODE_BEEN_USED) => AppError::bad_field(
            "code",
            "the login code was already used; call wx.login again",
        ),
        Some(errcode::FREQUENCY_LIMIT) => AppError::TooManyRequests {
            retry_after: std::time::Duration::from_secs(60),
        },
        _ => err.into(),
    }
}

/// A mini-program openid belongs to one user.
const MINI_OPENID: UniqueIndex = UniqueIndex {
    name: "users_wechat_mini_openid_key",
    table: "users",
    columns: &["wechat_mini_openid"],
};

/// The longest `wx.login` code accepted (WeChat's are 32 characters).
pub const CODE_MAX: usize = 128;

pub async fn login(
    db: &DatabaseConnection,
    wechat: &WechatServices,
    auth: &AuthSettings,
    code: &str,
) -> AppResult<IssuedTokens> {
    let code = code.trim();
    if code.is_empty() || code.len() > CODE_MAX {
        return Err(AppError::bad_field(
            "code",
            "code must be the non-empty code from wx.login",
        ));
    }
    let app = wechat
        .miniprogram
        .as_ref()
        // 409, not 503: retrying will not configure the app.
        .ok_or_else(|| {
            AppError::conflict(
                ErrorCode::NotConfigured,
                "the mini-program is not configured",
            )
        })?;
    let session = wechat
        .client
        .jscode2session(&app.app_id, &app.secret, code)
        .await
        .map_err(login_error)?;
    let user = find_or_create(db, &session.openid, session.unionid.as_deref()).await?;
    if user.status != UserStatus::Active {
        return Err(AppError::Forbidden("this account is disabled".into()));
    }
    let mut active: user::ActiveModel = user.into();
    active.last_login_at = Set(Some(time::now()));
    let user = active.update(db).await?;
    tokens::start_session(db, auth, user).await
}

async fn by_column(
    db: &DatabaseConnection,
    column: user::Column,
    value: &str,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(column.eq(value))
        .one(db)
        .await?)
}

/// The user of this mini-program openid; links or creates one when there is none. A
/// concurrent first login with the same openid loses the unique-index race and finds the
/// winner's user.
pub async fn find_or_create(
    db: &DatabaseConnection,
    openid: &str,
    unionid: Option<&str>,
) -> AppResult<user::Model> {
    if let Some(user) = by_column(db, user::Column::WechatMiniOpenid, openid).await? {
        if user.wechat_unionid.is_none()
            && let Some(unionid) = unionid
        {
            let mut active: user::ActiveModel = user.into();
            active.wechat_unionid = Set(Some(unionid.to_string()));
            return Ok(active.update(db).await?);
        }
        return Ok(user);
    }
    if let Some(unionid) = unionid
        && let Some(user) = by_column(db, user::Column::WechatUnionid, unionid).await?
    {
        let mut active: user::ActiveModel = user.into();
        active.wechat_mini_openid = Set(Some(openid.to_string()));
        active.updated_at = Set(time::now());
        return Ok(active.update(db).await?);
    }
    // A WeChat-only account: no password; the name is derived from a random draw.
    let username = format!("wx_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut row = accounts::new_account(username, "微信用户".into(), None, Role::User);
    row.wechat_unionid = Set(unionid.map(str::to_string));
    row.wechat_mini_openid = Set(Some(openid.to_string()));
    let created = row.insert(db).await;
    match created {
        Ok(user) => Ok(user),
        // Another login of the same openid created it first: use that row.
        Err(err) if MINI_OPENID.violated_by(&err) => {
            by_column(db, user::Column::WechatMiniOpenid, openid)
                .await?
                .ok_or_else(|| {
                    AppError::from(DbErr::Custom(
                        "user vanished after a unique violation".into(),
                    ))
                })
        }
        Err(err) => Err(err.into()),
    }
}
