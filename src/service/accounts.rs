//! Accounts: registration, password login, the current user, profiles, admins.

use std::{net::IpAddr, time::Duration};

use entity::{
    refresh_token,
    user::{self, Role, UserStatus},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    prelude::Expr, sea_query::Query,
};

use super::{
    password,
    rate_limit::{self, RateLimit},
    tokens::{self, IssuedTokens},
    validate,
};
use crate::{
    cache::Cache,
    config::Settings,
    error::{AppError, AppResult, ErrorCode},
    time,
    unique::{OnUnique, UniqueIndex},
};

pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MAX: usize = 128;
pub const NICKNAME_MAX: usize = 32;
pub const BIO_MAX: usize = 500;

/// A username that passed the registration rules: 3..=`USERNAME_MAX` letters (any script, so Chinese
/// names work), digits and `_`. Client input becomes one only through `parse`, so nothing
/// unbounded reaches a cache key or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let name = raw.trim();
        let len = name.chars().count();
        if !(3..=USERNAME_MAX).contains(&len)
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            return Err(AppError::bad_field(
                "username",
                format!("username must be 3 to {USERNAME_MAX} letters, digits or '_'"),
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity (the unique `username_key` column).
    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

/// 8..=`PASSWORD_MAX` characters, not the username.
pub fn check_password(password: &str, username: &str) -> AppResult<()> {
    let len = password.chars().count();
    if !(8..=PASSWORD_MAX).contains(&len) {
        return Err(AppError::bad_field(
            "password",
            format!("password must be 8 to {PASSWORD_MAX} characters"),
        ));
    }
    if password.to_lowercase() == username.to_lowercase() {
        return Err(AppError::bad_field(
            "password",
            "password must not be the username",
        ));
    }
    Ok(())
}

fn username_key(username: &str) -> String {
    username.to_lowercase()
}

fn window(settings: &Settings) -> Duration {
    Duration::from_secs(settings.rate_limit.window_secs)
}

/// Usernames are unique ignoring case (the lower-cased `username_key`).
const USERNAME_KEY: UniqueIndex = UniqueIndex {
    name: "users_username_key_key",
    table: "users",
    columns: &["username_key"],
};

fn username_taken() -> AppError {
    AppError::conflict(ErrorCode::UsernameTaken, "this username is taken")
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub username: String,
    pub password: String,
    pub nickname: Option<String>,
}

async fn insert_user(
    db: &DatabaseConnection,
    reg: Registration,
    role: Role,
) -> AppResult<user::Model> {
    let username = Username::parse(&reg.username)?;
    check_password(&reg.password, username.as_str())?;
    let nickname = match reg.nickname.as_deref() {
        Some(n) => validate::text("nickname", n, 1, NICKNAME_MAX)?,
        None => username.as_str().to_string(),
    };
    let key = username.key();
    // Hashing is slow: refuse a taken name before paying for it (the unique index still
    // decides races).
    if user::Entity::find()
        .filter(user::Column::UsernameKey.eq(&key))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AppError::conflict(
            ErrorCode::UsernameTaken,
            "this username is taken",
        ));
    }
    let password_hash = password::hash(reg.password).await?;
    new_account(username.0, nickname, Some(password_hash), role)
        .insert(db)
        .await
        .on_unique(&USERNAME_KEY, username_taken)
}

/// A new active account row; callers add what else they know (WeChat identities).
pub fn new_account(
    username: String,
    nickname: String,
    password_hash: Option<String>,
    role: Role,
) -> user::ActiveModel {
    let now = time::now();
    user::ActiveModel {
        username_key: Set(username_key(&username)),
        username: Set(username),
        password_hash: Set(password_hash),
        nickname: Set(nickname),
        avatar_url: Set(None),
        bio: Set(String::new()),
        role: Set(role),
        status: Set(UserStatus::Active),
        wechat_unionid: Set(None),
        wechat_mini_openid: Set(None),
        wechat_oa_openid: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(Some(now)),
        ..Default::default()
    }
}

/// Creates a user and logs them in. Limited per client IP.
pub async fn register(
    db: &DatabaseConnection,
    cache: &Cache,
    settings: &Settings,
    reg: Registration,
    client_ip: IpAddr,
) -> AppResult<IssuedTokens> {
    let limit = RateLimit {
        max: settings.rate_limit.registrations_per_ip,
        window: window(settings),
    };
    rate_limit::count(cache, &format!("register:ip:{client_ip}"), limit).await?;
    let user = insert_user(db, reg, Role::User).await?;
    tokens::start_session(db, &settings.auth, user).await
}

fn bad_credentials() -> AppError {
    // The same answer whether the user or the password is wrong.
    AppError::Unauthorized("invalid username or password".into())
}

/// Password login, limited per client IP and per username: each attempt takes a slot on
/// both before its password is checked, and a successful one gives them back, so a window
/// admits at most `login_failures_per_*` failed (or in-flight) attempts however many arrive
/// at once; past that the answer is 429 whatever the password. A name that cannot exist
/// costs a (dummy) hash check like any other, so the answer does not tell names apart.
pub async fn login(
    db: &DatabaseConnection,
    cache: &Cache,
    settings: &Settings,
    username: &str,
    password: &str,
    client_ip: IpAddr,
) -> AppResult<IssuedTokens> {
    let window = window(settings);
    let username = Username::parse(username).ok();
    let mut limits = vec![(
        format!("login:ip:{client_ip}"),
        RateLimit {
            max: settings.rate_limit.login_failures_per_ip,
            window,
        },
    )];
    if let Some(name) = &username {
        limits.push((
            format!("login:user:{}", name.key()),
            RateLimit {
                max: settings.rate_limit.login_failures_per_username,
                window,
            },
        ));
    }
    let permit = rate_limit::acquire(cache, &limits).await?;

    let found = match &username {
        Some(name) => {
            user::Entity::find()
                .filter(user::Column::UsernameKey.eq(name.key()))
                .one(db)
                .await?
        }
        None => None,
    };
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    if !password::verify(password.to_string(), stored).await? {
        // The permit is kept: the failure counts.
        return Err(bad_credentials());
    }
    permit.refund(cache).await;
    let user = found.ok_or_else(bad_credentials)?;
    if user.status != UserStatus::Active {
        return Err(AppError::Forbidden("this account is disabled".into()));
    }
    let mut active: user::ActiveModel = user.into();
    active.last_login_at = Set(Some(time::now()));
    let user = active.update(db).await?;
    tokens::start_session(db, &settings.auth, user).await
}

/// The user behind an access token: the token must be valid, its session still live and
/// the account active.
pub async fn authenticate(
    db: &DatabaseConnection,
    settings: &Settings,
    access_token: &str,
) -> AppResult<user::Model> {
    let claims = tokens::verify_access(&settings.auth, access_token)?;
    let user_id: i64 = claims
        .sub
        .parse()
        .map_err(|_| AppError::Unauthorized("invalid or expired access token".into()))?;
    let live_session = Query::select()
        .expr(Expr::val(1))
        .from(refresh_token::Entity)
        .and_where(refresh_token::Column::FamilyId.eq(claims.sid.as_str()))
        .and_where(refresh_token::Column::UserId.eq(user_id))
        .and_where(refresh_token::Column::RevokedAt.is_null())
        .to_owned();
    let user = user::Entity::find_by_id(user_id)
        .filter(Expr::exists(live_session))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the session has ended; log in again".into()))?;
    if user.status != UserStatus::Active {
        return Err(AppError::Forbidden("this account is disabled".into()));
    }
    Ok(user)
}

/// Creates an administrator, or promotes an existing user with that name and password.
pub async fn create_admin(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> AppResult<user::Model> {
    let name = Username::parse(username)?;
    if let Some(existing) = user::Entity::find()
        .filter(user::Column::UsernameKey.eq(name.key()))
        .one(db)
        .await?
    {
        if !password::verify(password.to_string(), existing.password_hash.clone()).await? {
            return Err(AppError::conflict(
                ErrorCode::UsernameTaken,
                "a user with this name exists and the password does not match",
            ));
        }
        let mut active: user::ActiveModel = existing.into();
        active.role = Set(Role::Admin);
        active.updated_at = Set(time::now());
        return Ok(active.update(db).await?);
    }
    insert_user(
        db,
        Registration {
            username: name.0,
            password: password.to_string(),
            nickname: None,
        },
        Role::Admin,
    )
    .await
}

pub async fn get(db: &DatabaseConnection, user_id: i64) -> AppResult<user::Model> {
    user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("user"))
}

/// Changes to a profile; `None` leaves a field, `Some(None)` clears the avatar.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub nickname: Option<String>,
    pub avatar_url: Option<Option<String>>,
    pub bio: Option<String>,
}

pub async fn update_profile(
    db: &DatabaseConnection,
    user_id: i64,
    changes: ProfileChanges,
) -> AppResult<user::Model> {
    let mut active: user::ActiveModel = get(db, user_id).await?.into();
    if let Some(n) = &changes.nickname {
        active.nickname = Set(validate::text("nickname", n, 1, NICKNAME_MAX)?);
    }
    if let Some(a) = &changes.avatar_url {
        active.avatar_url = Set(a
            .as_deref()
            .map(|u| validate::url("avatar_url", u))
            .transpose()?);
    }
    if let Some(b) = &changes.bio {
        active.bio = Set(validate::text("bio", b, 0, BIO_MAX)?);
    }
    active.updated_at = Set(time::now());
    Ok(active.update(db).await?)
}

/// Disables or re-enables an account; disabling ends its sessions.
pub async fn set_status(
    db: &DatabaseConnection,
    user_id: i64,
    status: UserStatus,
) -> AppResult<user::Model> {
    let mut active: user::ActiveModel = get(db, user_id).await?.into();
    active.status = Set(status);
    active.updated_at = Set(time::now());
    let user = active.update(db).await?;
    if status == UserStatus::Disabled {
        tokens::revoke_all_for_user(db, user_id).await?;
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_allow_letters_of_any_script_digits_and_underscores() {
        assert!(Username::parse("alice_01").is_ok());
        assert!(Username::parse("张三丰").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("dash-ed").is_err());
        assert!(Username::parse(&"x".repeat(33)).is_err());
        assert!(Username::parse(&"x".repeat(100_000)).is_err());
    }

    #[test]
    fn a_username_keys_case_insensitively_and_trims() {
        let name = Username::parse("  Alice_01 ").unwrap();
        assert_eq!(name.as_str(), "Alice_01");
        assert_eq!(name.key(), "alice_01");
    }

    #[test]
    fn passwords_are_8_to_128_characters_and_not_the_username() {
        assert!(check_password("correct horse", "alice").is_ok());
        assert!(check_password("short", "alice").is_err());
        assert!(check_password("AliceAlice", "alicealice").is_err());
        assert!(check_password(&"p".repeat(129), "alice").is_err());
    }
}
