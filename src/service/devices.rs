//! Devices that receive pushes through APNs, FCM or HarmonyOS Push Kit (issue 15).
//!
//! One row per (provider, token): registering a token again updates its row and moves it
//! to the newest owner, and clears a "dead token" mark, so a re-installed app is reached
//! again. A logged-in registration remembers the session; that session's logout detaches
//! the device from its owner (it keeps the broadcast pushes, not the owner's personal ones).
//! Anonymous devices get a secret, shown once and stored as its SHA-256 hash, that
//! authenticates their later calls (`X-Device-Secret`).

use std::{collections::BTreeMap, net::IpAddr, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::device::{self, Environment, Provider};
use rand::RngCore;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    prelude::Expr,
    sea_query::OnConflict,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    push_preferences::{self, DEFAULT_TIMEZONE, Preferences, QuietHours},
    rate_limit::{self, RateLimit},
};
use crate::{
    cache::Cache,
    config::Settings,
    error::{AppError, AppResult},
    time,
};

/// The longest token accepted (FCM's are ~160 characters, Harmony's ~130, APNs' 64 hex).
pub const TOKEN_MAX: usize = 512;
pub const APP_ID_MAX: usize = 128;
pub const LOCALE_MAX: usize = 16;
pub const APP_VERSION_MAX: usize = 32;
/// `X-Device-Secret` as issued (43 base64url characters); longer input is refused early.
pub const SECRET_MAX: usize = 64;
/// Devices listed per user at most (a user has a few phones, never hundreds).
pub const LIST_MAX: u64 = 100;
/// Where a device's own locale is missing.
pub const DEFAULT_LOCALE: &str = "zh-CN";

/// Who registers a device.
#[derive(Debug, Clone)]
pub enum Owner {
    /// A logged-in user, in a session (refresh-token family) whose logout detaches it.
    User {
        user_id: i64,
        session_id: String,
    },
    Anonymous,
}

/// A registration as the client sent it (unchecked).
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub provider: String,
    pub token: String,
    pub app_id: Option<String>,
    pub environment: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub app_version: Option<String>,
}

/// A registered device and, for an anonymous registration, its new secret.
#[derive(Debug, Clone)]
pub struct Registered {
    pub device: device::Model,
    pub secret: Option<String>,
}

pub fn parse_provider(value: &str) -> AppResult<Provider> {
    match value {
        "apns" => Ok(Provider::Apns),
        "fcm" => Ok(Provider::Fcm),
        "harmony" => Ok(Provider::Harmony),
        _ => Err(AppError::bad_field(
            "provider",
            "provider must be apns, fcm or harmony",
        )),
    }
}

pub fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Apns => "apns",
        Provider::Fcm => "fcm",
        Provider::Harmony => "harmony",
    }
}

fn parse_environment(value: Option<&str>) -> AppResult<Environment> {
    match value.map(str::trim) {
        None | Some("") | Some("production") => Ok(Environment::Production),
        Some("sandbox") => Ok(Environment::Sandbox),
        Some(_) => Err(AppError::bad_field(
            "environment",
            "environment must be production or sandbox",
        )),
    }
}

/// APNs tokens are hex (32 bytes today; Apple says not to assume the length); the others
/// are opaque printable ASCII without spaces.
fn check_token(provider: Provider, token: &str) -> AppResult<String> {
    let token = token.trim();
    let bad = |msg: &str| Err(AppError::bad_field("token", msg));
    if token.is_empty() {
        return bad("token must not be empty");
    }
    if token.len() > TOKEN_MAX {
        return bad("token is too long");
    }
    match provider {
        Provider::Apns => {
            if token.len() < 32
                || !token.len().is_multiple_of(2)
                || !token.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return bad("an APNs token is an even number (at least 32) of hex digits");
            }
            Ok(token.to_ascii_lowercase())
        }
        Provider::Fcm | Provider::Harmony => {
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return bad("a token is at least 16 printable characters without spaces");
            }
            Ok(token.to_string())
        }
    }
}

/// `zh-CN`, `en`, `en-US`, ...: letters, digits and dashes (or underscores).
fn check_locale(value: Option<&str>) -> AppResult<String> {
    let Some(locale) = value.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(DEFAULT_LOCALE.into());
    };
    if locale.len() > LOCALE_MAX
        || !locale
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::bad_field(
            "locale",
            "locale must be a language tag like zh-CN or en",
        ));
    }
    Ok(locale.replace('_', "-"))
}

fn check_timezone(value: Option<&str>) -> AppResult<String> {
    let Some(tz) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_TIMEZONE.into());
    };
    tz.parse::<Tz>()
        .map_err(|_| AppError::bad_field("timezone", format!("unknown timezone {tz:?}")))?;
    Ok(tz.to_string())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(AppError::bad_field(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        Some(v) if v.chars().any(char::is_control) => Err(AppError::bad_field(
            field,
            format!("{field} must not contain control characters"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Registers (or re-registers) a device for `owner`. The same (provider, token) always
/// lands on the same row, atomically (an upsert), whoever registers it concurrently.
pub async fn register(
    db: &DatabaseConnection,
    owner: Owner,
    reg: Registration,
) -> AppResult<Registered> {
    let provider = parse_provider(reg.provider.trim())?;
    let token = check_token(provider, &reg.token)?;
    let environment = parse_environment(reg.environment.as_deref())?;
    let locale = check_locale(reg.locale.as_deref())?;
    let timezone = check_timezone(reg.timezone.as_deref())?;
    let app_id = optional("app_id", reg.app_id.as_deref(), APP_ID_MAX)?;
    let app_version = optional("app_version", reg.app_version.as_deref(), APP_VERSION_MAX)?;
    let now = time::now();
    let (user_id, session_id, secret) = match owner {
        Owner::User {
            user_id,
            session_id,
        } => (Some(user_id), Some(session_id), None),
        Owner::Anonymous => (None, None, Some(new_secret())),
    };
    let row = device::ActiveModel {
        id: NotSet,
        provider: Set(provider),
        token: Set(token.clone()),
        user_id: Set(user_id),
        session_id: Set(session_id),
        secret_hash: Set(secret.as_deref().map(hash_secret)),
        app_id: Set(app_id),
        environment: Set(environment),
        locale: Set(locale),
        timezone: Set(timezone),
        app_version: Set(app_version),
        opted_out: Set(false),
        quiet_start_minute: Set(None),
        quiet_end_minute: Set(None),
        invalid_at: Set(None),
        invalid_reason: Set(None),
        registered_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    };
    use device::Column as D;
    // A new owner starts from clean device preferences: the previous owner's opt-out must
    // not silence the next one (and an owned device's come from its owner anyway).
    device::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([D::Provider, D::Token])
                .update_columns([
                    D::UserId,
                    D::SessionId,
                    D::SecretHash,
                    D::AppId,
                    D::Environment,
                    D::Locale,
                    D::Timezone,
                    D::AppVersion,
                    D::OptedOut,
                    D::QuietStartMinute,
                    D::QuietEndMinute,
                    D::InvalidAt,
                    D::InvalidReason,
                    D::RegisteredAt,
                    D::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let device = device::Entity::find()
        .filter(D::Provider.eq(provider))
        .filter(D::Token.eq(token))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the registered device is gone")))?;
    Ok(Registered { device, secret })
}

/// An anonymous registration, limited per client IP (it needs no account, so this is
/// what stops a flood of rows).
pub async fn register_anonymous(
    db: &DatabaseConnection,
    cache: &Cache,
    settings: &Settings,
    reg: Registration,
    client_ip: IpAddr,
) -> AppResult<Registered> {
    let limit = RateLimit {
        max: settings.rate_limit.device_registrations_per_ip,
        window: Duration::from_secs(settings.rate_limit.window_secs),
    };
    rate_limit::count(cache, &format!("device:ip:{client_ip}"), limit).await?;
    register(db, Owner::Anonymous, reg).await
}

/// The user's devices, newest registration first.
pub async fn list_mine(db: &DatabaseConnection, user_id: i64) -> AppResult<Vec<device::Model>> {
    Ok(device::Entity::find()
        .filter(device::Column::UserId.eq(user_id))
        .order_by_desc(device::Column::RegisteredAt)
        .order_by_desc(device::Column::Id)
        .limit(LIST_MAX)
        .all(db)
        .await?)
}

/// Removes one of the user's devices (404 when it is not theirs).
pub async fn delete_mine(db: &DatabaseConnection, user_id: i64, id: i64) -> AppResult<()> {
    let gone = device::Entity::delete_many()
        .filter(device::Column::Id.eq(id))
        .filter(device::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    if gone == 0 {
        return Err(AppError::not_found("device"));
    }
    Ok(())
}

/// The anonymous device `id` if `secret` is its secret; 401 otherwise (the same answer
/// whether the device is unknown or the secret wrong).
pub async fn authenticate(
    db: &DatabaseConnection,
    id: i64,
    secret: Option<&str>,
) -> AppResult<device::Model> {
    let refused = || AppError::Unauthorized("unknown device or wrong X-Device-Secret".into());
    let secret = secret
        .filter(|s| !s.is_empty() && s.len() <= SECRET_MAX)
        .ok_or_else(refused)?;
    let device = device::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(refused)?;
    let stored = device.secret_hash.as_deref().ok_or_else(refused)?;
    if !bool::from(stored.as_bytes().ct_eq(hash_secret(secret).as_bytes())) {
        return Err(refused());
    }
    Ok(device)
}

/// An anonymous device's own push preferences.
#[derive(Debug, Clone, Default)]
pub struct DevicePreferences {
    pub opted_out: bool,
    /// `HH:MM` start and end in the device's timezone.
    pub quiet_hours: Option<(String, String)>,
    pub timezone: Option<String>,
}

/// Replaces an anonymous device's preferences (authenticated by its secret).
pub async fn set_preferences(
    db: &DatabaseConnection,
    id: i64,
    secret: Option<&str>,
    prefs: DevicePreferences,
) -> AppResult<device::Model> {
    let device = authenticate(db, id, secret).await?;
    let quiet = match &prefs.quiet_hours {
        None => None,
        Some((start, end)) => {
            let start = push_preferences::parse_clock("quiet_hours.start", start)?;
            let end = push_preferences::parse_clock("quiet_hours.end", end)?;
            if start == end {
                return Err(AppError::bad_field(
                    "quiet_hours",
                    "quiet hours must not start and end at the same time",
                ));
            }
            Some((start, end))
        }
    };
    let timezone = match prefs.timezone.as_deref() {
        Some(tz) => check_timezone(Some(tz))?,
        None => device.timezone.clone(),
    };
    use device::Column as D;
    device::Entity::update_many()
        .col_expr(D::OptedOut, Expr::value(prefs.opted_out))
        .col_expr(
            D::QuietStartMinute,
            Expr::value(quiet.map(|q| i32::from(q.0))),
        )
        .col_expr(
            D::QuietEndMinute,
            Expr::value(quiet.map(|q| i32::from(q.1))),
        )
        .col_expr(D::Timezone, Expr::value(timezone))
        .col_expr(D::UpdatedAt, Expr::value(time::now()))
        .filter(D::Id.eq(device.id))
        .exec(db)
        .await?;
    device::Entity::find_by_id(device.id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("device"))
}

/// An anonymous (or signed-out) device's preferences as the push pipeline reads them.
pub fn own_preferences(device: &device::Model) -> Preferences {
    Preferences {
        opted_out: device.opted_out,
        categories: Vec::new(),
        quiet_hours: match (device.quiet_start_minute, device.quiet_end_minute) {
            (Some(s), Some(e)) => Some(QuietHours {
                start_minute: s as u16,
                end_minute: e as u16,
            }),
            _ => None,
        },
        timezone: device.timezone.clone(),
    }
}

/// A session ended: its devices stop being their owner's (the rows stay).
pub async fn sign_out_session(db: &impl ConnectionTrait, session_id: &str) -> AppResult<u64> {
    use device::Column as D;
    Ok(device::Entity::update_many()
        .col_expr(D::UserId, Expr::value(Option::<i64>::None))
        .col_expr(D::SessionId, Expr::value(Option::<String>::None))
        .col_expr(D::UpdatedAt, Expr::value(time::now()))
        .filter(D::SessionId.eq(session_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// The provider said the token is dead. Marks the device invalid unless it was registered
/// again after `reported_at` (APNs' 410 timestamp: the token may have come back since).
/// Returns whether it was marked.
pub async fn mark_invalid(
    db: &impl ConnectionTrait,
    id: i64,
    reason: &str,
    reported_at: Option<DateTime<Utc>>,
) -> AppResult<bool> {
    use device::Column as D;
    let now = time::now();
    let mut update = device::Entity::update_many()
        .col_expr(D::InvalidAt, Expr::value(Some(now)))
        .col_expr(
            D::InvalidReason,
            Expr::value(Some(reason.chars().take(64).collect::<String>())),
        )
        .col_expr(D::UpdatedAt, Expr::value(now))
        .filter(D::Id.eq(id))
        .filter(D::InvalidAt.is_null());
    if let Some(at) = reported_at {
        update = update.filter(D::RegisteredAt.lt(at));
    }
    Ok(update.exec(db).await?.rows_affected > 0)
}

/// Devices by provider, validity and app version (`GET /api/admin/devices/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub total: i64,
    /// provider → (valid, invalid)
    pub by_provider: BTreeMap<String, (i64, i64)>,
    /// provider → reason → devices marked invalid for it
    pub invalid_reasons: BTreeMap<String, BTreeMap<String, i64>>,
    /// app version ("unknown" when not given) → devices
    pub by_app_version: BTreeMap<String, i64>,
    /// devices with an owner, and without
    pub owned: i64,
    pub anonymous: i64,
}

/// (provider, invalid reason, app version, owned, devices) as grouped by SQL.
type StatsRow = (Provider, Option<String>, Option<String>, bool, i64);

pub async fn stats(db: &DatabaseConnection) -> AppResult<DeviceStats> {
    use device::Column as D;
    let rows: Vec<StatsRow> = device::Entity::find()
        .select_only()
        .column(D::Provider)
        .column(D::InvalidReason)
        .column(D::AppVersion)
        .column_as(D::UserId.is_not_null(), "owned")
        .column_as(D::Id.count(), "n")
        .group_by(D::Provider)
        .group_by(D::InvalidReason)
        .group_by(D::AppVersion)
        .group_by(D::UserId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut out = DeviceStats::default();
    for (provider, reason, version, owned, n) in rows {
        let name = provider_name(provider).to_string();
        out.total += n;
        let entry = out.by_provider.entry(name.clone()).or_default();
        match reason {
            None => entry.0 += n,
            Some(reason) => {
                entry.1 += n;
                *out.invalid_reasons
                    .entry(name)
                    .or_default()
                    .entry(reason)
                    .or_default() += n;
            }
        }
        *out.by_app_version
            .entry(version.unwrap_or_else(|| "unknown".into()))
            .or_default() += n;
        if owned {
            out.owned += n;
        } else {
            out.anonymous += n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_tokens_must_be_hex_and_are_stored_lower_case() {
        let hex = "AB".repeat(32);
        assert_eq!(check_token(Provider::Apns, &hex).unwrap(), "ab".repeat(32));
        assert!(check_token(Provider::Apns, "not-hex").is_err());
        assert!(check_token(Provider::Fcm, "short").is_err());
        assert!(check_token(Provider::Fcm, "has a space in it, too long").is_err());
        assert!(check_token(Provider::Harmony, &"x".repeat(TOKEN_MAX + 1)).is_err());
    }

    #[test]
    fn locales_default_to_simplified_chinese() {
        assert_eq!(check_locale(None).unwrap(), "zh-CN");
        assert_eq!(check_locale(Some("en_US")).unwrap(), "en-US");
        assert!(check_locale(Some("en US")).is_err());
    }
}
