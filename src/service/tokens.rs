//! Tokens for mobile and mini-program clients: short-lived JWT access tokens (HS256) and
//! rotating refresh tokens stored as SHA-256 hashes. A login starts a session (a token
//! family); refreshing revokes the presented token and issues the next one in the family;
//! presenting an already rotated token is treated as theft and revokes the whole family.
//! Access tokens carry the session id, and a request is accepted only while its session
//! still has a live refresh token: logout takes effect on every instance at once.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entity::{refresh_token, user};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, prelude::Expr,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    config::AuthSettings,
    error::{AppError, AppResult},
    time,
};

const ISSUER: &str = "qshare";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Session (refresh token family) id.
    pub sid: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// What a successful login or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: user::Model,
}

/// The longest refresh token accepted (ours are 43 characters); anything longer is not one.
pub const REFRESH_TOKEN_MAX: usize = 128;

fn hash_refresh(raw: &str) -> String {
    Sha256::digest(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_refresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn role_name(role: user::Role) -> &'static str {
    match role {
        user::Role::User => "user",
        user::Role::Admin => "admin",
    }
}

pub fn issue_access(
    auth: &AuthSettings,
    user: &user::Model,
    session_id: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let claims = AccessClaims {
        sub: user.id.to_string(),
        sid: session_id.to_string(),
        role: role_name(user.role).into(),
        iat: now.timestamp(),
        exp: (now + Duration::seconds(auth.access_ttl_secs as i64)).timestamp(),
        iss: ISSUER.into(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(auth.jwt_secret.as_bytes()),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot sign access token: {e}")))
}

/// Checks signature, issuer and expiry.
pub fn verify_access(auth: &AuthSettings, token: &str) -> AppResult<AccessClaims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 5;
    decode::<AccessClaims>(
        token,
        &DecodingKey::from_secret(auth.jwt_secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|_| AppError::Unauthorized("invalid or expired access token".into()))
}

async fn insert_refresh(
    db: &impl ConnectionTrait,
    auth: &AuthSettings,
    user_id: i64,
    family_id: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let raw = new_refresh_secret();
    refresh_token::ActiveModel {
        user_id: Set(user_id),
        family_id: Set(family_id.to_string()),
        token_hash: Set(hash_refresh(&raw)),
        expires_at: Set(now + Duration::seconds(auth.refresh_ttl_secs as i64)),
        created_at: Set(now),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(raw)
}

/// A new session for `user` (after a login).
pub async fn start_session(
    db: &DatabaseConnection,
    auth: &AuthSettings,
    user: user::Model,
) -> AppResult<IssuedTokens> {
    let now = time::now();
    let family = uuid::Uuid::new_v4().simple().to_string();
    let refresh_token = insert_refresh(db, auth, user.id, &family, now).await?;
    Ok(IssuedTokens {
        access_token: issue_access(auth, &user, &family, now)?,
        refresh_token,
        expires_in: auth.access_ttl_secs,
        user,
    })
}

fn invalid_refresh() -> AppError {
    AppError::Unauthorized("invalid or expired refresh token".into())
}

/// Exchanges a refresh token for a new pair, in one transaction that begins with a
/// compare-and-set on the presented token (live and unexpired -> revoked). That first write
/// holds the token's row (PostgreSQL) or the database (SQLite, IMMEDIATE transactions)
/// until commit, so of concurrent refreshes exactly one claims it; the others wait, see it
/// revoked, and kill the family after the winner's new token exists, so it dies too. A
/// failure before commit rolls the claim back: the old token keeps working.
pub async fn rotate(
    db: &DatabaseConnection,
    auth: &AuthSettings,
    raw: &str,
) -> AppResult<IssuedTokens> {
    if raw.len() > REFRESH_TOKEN_MAX {
        return Err(invalid_refresh());
    }
    let now = time::now();
    let hash = hash_refresh(raw);
    let txn = db.begin().await?;
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Err(refused(db, &hash, now).await);
    }
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&txn)
        .await?
        .ok_or_else(invalid_refresh)?;
    let user = user::Entity::find_by_id(stored.user_id).one(&txn).await?;
    let Some(user) = user.filter(|u| u.status == user::UserStatus::Active) else {
        txn.rollback().await?;
        kill_family(db, &stored.family_id).await?;
        return Err(AppError::Forbidden("this account is disabled".into()));
    };
    let refresh_token = insert_refresh(&txn, auth, user.id, &stored.family_id, now).await?;
    let access_token = issue_access(auth, &user, &stored.family_id, now)?;
    txn.commit().await?;
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        expires_in: auth.access_ttl_secs,
        user,
    })
}

/// Why a refresh token could not be claimed. An already revoked one is a reuse (theft, or
/// a concurrent refresh that lost): its whole session ends.
async fn refused(db: &DatabaseConnection, hash: &str, now: DateTime<Utc>) -> AppError {
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .one(db)
        .await;
    match stored {
        Ok(Some(stored)) if stored.revoked_at.is_some() => {
            tracing::warn!(
                user_id = stored.user_id,
                "rotated refresh token presented again; revoking its session"
            );
            if let Err(err) = kill_family(db, &stored.family_id).await {
                return err;
            }
            invalid_refresh()
        }
        Ok(Some(stored)) if stored.expires_at <= now => invalid_refresh(),
        Ok(_) => invalid_refresh(),
        Err(err) => err.into(),
    }
}

/// Ends the session the refresh token belongs to. Unknown tokens are ignored (logout is
/// idempotent).
pub async fn revoke(db: &DatabaseConnection, raw: &str) -> AppResult<()> {
    if let Some(stored) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_refresh(raw)))
        .one(db)
        .await?
    {
        kill_family(db, &stored.family_id).await?;
        // The session's devices keep broadcast pushes, not the user's personal ones.
        super::devices::sign_out_session(db, &stored.family_id).await?;
    }
    Ok(())
}

/// Revokes a whole family, including a token that a rotation in flight is minting. On
/// PostgreSQL it first locks the family's rows, which waits for a rotation holding one of
/// them to commit; the revoking statement then starts after that commit and sees the new
/// token. (SQLite serializes writers, so the one statement already runs after it.)
async fn kill_family(db: &DatabaseConnection, family_id: &str) -> AppResult<()> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::Id)
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .lock_exclusive()
            .into_tuple::<i64>()
            .all(&txn)
            .await?;
    }
    revoke_family(&txn, family_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes the family's live tokens (inside the caller's transaction, if any).
pub async fn revoke_family(db: &impl ConnectionTrait, family_id: &str) -> AppResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(time::now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a user (password change, account disabled).
pub async fn revoke_all_for_user(db: &impl ConnectionTrait, user_id: i64) -> AppResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(time::now()))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes refresh tokens that expired before `before` (the `purge_expired` job).
pub async fn purge_expired(db: &DatabaseConnection, before: DateTime<Utc>) -> AppResult<u64> {
    let result = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            jwt_secret: "a-test-secret-that-is-long-enough-0123".into(),
            access_ttl_secs: 600,
            refresh_ttl_secs: 6000,
            password_hash_concurrency: 2,
        }
    }

    fn user() -> user::Model {
        let now = time::now();
        user::Model {
            id: 7,
            username: "alice".into(),
            username_key: "alice".into(),
            password_hash: None,
            nickname: "alice".into(),
            avatar_url: None,
            bio: String::new(),
            role: user::Role::User,
            status: user::UserStatus::Active,
            wechat_unionid: None,
            wechat_mini_openid: None,
            wechat_oa_openid: None,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        }
    }

    #[test]
    fn an_access_token_round_trips_and_carries_the_session() {
        let token = issue_access(&settings(), &user(), "fam", time::now()).unwrap();
        let claims = verify_access(&settings(), &token).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.sid, "fam");
        assert_eq!(claims.role, "user");
    }

    #[test]
    fn expired_tampered_or_foreign_tokens_are_refused() {
        let old = issue_access(
            &settings(),
            &user(),
            "fam",
            time::now() - Duration::hours(1),
        )
        .unwrap();
        assert!(verify_access(&settings(), &old).is_err());
        let token = issue_access(&settings(), &user(), "fam", time::now()).unwrap();
        let mut other = settings();
        other.jwt_secret = "another-secret-that-is-long-enough-000".into();
        assert!(verify_access(&other, &token).is_err());
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            br#"{"sub":"1","sid":"fam","role":"admin","iat":0,"exp":99999999999,"iss":"qshare"}"#,
        );
        assert!(verify_access(&settings(), &format!("{head}.{forged_payload}.{sig}")).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_only_as_hashes() {
        let a = new_refresh_secret();
        let b = new_refresh_secret();
        assert_ne!(a, b);
        assert_eq!(hash_refresh(&a).len(), 64);
        assert_ne!(hash_refresh(&a), a);
    }
}
