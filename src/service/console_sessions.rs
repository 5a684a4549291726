//! Sessions of the admin console (`/admin`): a browser signs in with an administrator's
//! username and password (the API's login, so its limits apply) and gets an opaque token for
//! its cookie. The session lives in the Cache, so every instance sees it and a logout on one
//! ends it on all; it also holds the refresh-token family that the login opened, which logout
//! revokes, and the CSRF token every state-changing request must echo.

use std::{net::IpAddr, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use entity::user::{self, Role, UserStatus};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    cache::Cache,
    config::Settings,
    error::{AppError, AppResult},
    service::{accounts, tokens},
};
use sea_orm::DatabaseConnection;

/// How long a console session lasts after sign-in (it does not slide).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The longest token a cookie or form may carry; longer ones are refused unread.
pub const TOKEN_MAX: usize = 64;
pub const LANGUAGE_MAX: usize = 8;

/// The console's languages; the first is the default.
pub const LANGUAGES: [&str; 2] = ["zh-CN", "en"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    user_id: i64,
    family_id: String,
    csrf: String,
    language: String,
    timezone: String,
    /// Unix seconds; the cache entry expires then too.
    expires_at: i64,
}

/// A live session: who, their CSRF token, and how they read the console.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub user: user::Model,
    pub csrf: String,
    pub language: &'static str,
    pub timezone: chrono_tz::Tz,
}

/// A fresh random token (256 bits, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two tokens are equal, in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The language named (`zh-CN` or `en`), or the default.
pub fn language(raw: &str) -> &'static str {
    LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(raw))
        .copied()
        .unwrap_or(LANGUAGES[0])
}

/// The viewer's IANA zone from the browser, or `fallback` when it is missing or unknown.
pub fn timezone(raw: &str, fallback: &str) -> chrono_tz::Tz {
    raw.parse()
        .or_else(|_| fallback.parse())
        .unwrap_or(chrono_tz::UTC)
}

// The cache holds a hash of the token, so a dump of the cache signs no one in.
fn key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("console:session:{}", URL_SAFE_NO_PAD.encode(digest))
}

fn unavailable(err: impl std::fmt::Display) -> AppError {
    AppError::Unavailable(format!("cache unavailable: {err}"))
}

fn signed_out() -> AppError {
    AppError::Unauthorized("sign in to the console".into())
}

/// Signs an administrator in; the answer is the session token for the cookie. A user who is
/// not an administrator gets 403 and no session (the login's refresh family is revoked).
#[allow(clippy::too_many_arguments)]
pub async fn start(
    db: &DatabaseConnection,
    cache: &Cache,
    settings: &Settings,
    username: &str,
    password: &str,
    client_ip: IpAddr,
    language: &str,
    timezone: &str,
) -> AppResult<String> {
    let issued = accounts::login(db, cache, settings, username, password, client_ip).await?;
    let claims = tokens::verify_access(&settings.auth, &issued.access_token)?;
    if issued.user.role != Role::Admin {
        tokens::revoke_family(db, &claims.sid).await?;
        return Err(AppError::Forbidden("administrators only".into()));
    }
    let stored = Stored {
        user_id: issued.user.id,
        family_id: claims.sid,
        csrf: random_token(),
        language: self::language(language).to_string(),
        timezone: self::timezone(timezone, &settings.jobs.timezone)
            .name()
            .to_string(),
        expires_at: crate::time::now().timestamp() + SESSION_TTL.as_secs() as i64,
    };
    let token = random_token();
    let bytes = serde_json::to_vec(&stored).map_err(anyhow::Error::from)?;
    cache
        .set(&key(&token), &bytes, SESSION_TTL)
        .await
        .map_err(unavailable)?;
    Ok(token)
}

async fn load(cache: &Cache, token: &str) -> AppResult<Stored> {
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Err(signed_out());
    }
    let bytes = cache
        .get(&key(token))
        .await
        .map_err(unavailable)?
        .ok_or_else(signed_out)?;
    let stored: Stored = serde_json::from_slice(&bytes).map_err(|_| signed_out())?;
    if stored.expires_at <= crate::time::now().timestamp() {
        return Err(signed_out());
    }
    Ok(stored)
}

/// The session behind a cookie token: it must exist, and its user must still be an active
/// administrator.
pub async fn resolve(
    db: &DatabaseConnection,
    cache: &Cache,
    token: &str,
) -> AppResult<ConsoleSession> {
    let stored = load(cache, token).await?;
    let user = accounts::get(db, stored.user_id)
        .await
        .map_err(|_| signed_out())?;
    if user.role != Role::Admin || user.status != UserStatus::Active {
        return Err(signed_out());
    }
    Ok(ConsoleSession {
        user,
        csrf: stored.csrf,
        language: language(&stored.language),
        timezone: timezone(&stored.timezone, "UTC"),
    })
}

/// Changes the session's language (kept until the session ends).
pub async fn set_language(cache: &Cache, token: &str, language: &str) -> AppResult<()> {
    let mut stored = load(cache, token).await?;
    stored.language = self::language(language).to_string();
    let bytes = serde_json::to_vec(&stored).map_err(anyhow::Error::from)?;
    // The session keeps its end.
    let left = (stored.expires_at - crate::time::now().timestamp()).max(1) as u64;
    cache
        .set(&key(token), &bytes, Duration::from_secs(left))
        .await
        .map_err(unavailable)
}

/// Ends a session on every instance and revokes the tokens its login issued. Ending one
/// that is already gone is not an error.
pub async fn end(db: &DatabaseConnection, cache: &Cache, token: &str) -> AppResult<()> {
    let Ok(stored) = load(cache, token).await else {
        return Ok(());
    };
    cache.delete(&key(token)).await.map_err(unavailable)?;
    tokens::revoke_family(db, &stored.family_id).await
}
