//! One-time bind tickets for linking a signed-in user to their Official Account follower by
//! scanning a QR code (shared/reference/wechat-protocol.md §5.3). The user mints a ticket;
//! its scene string `bind:<ticket>` goes into a temporary `QR_STR_SCENE` code; the scan
//! arrives as a SCAN (`bind:<ticket>`) or subscribe (`qrscene_bind:<ticket>`) event.
//!
//! A ticket is 24 random bytes, kept in the shared cache (as a SHA-256 digest, so the cache
//! holds nothing scannable) with the configured lifetime, and taken with compare-and-delete:
//! it links once, on any instance, and an expired one links nothing. A user id in a scene
//! (the old `bind_<id>` codes) links nobody: anyone could print such a code.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    error::{AppError, AppResult, ErrorCode},
    state::AppState,
    time,
    wechat::client::QrCode,
};

/// Scene prefix of bind QR codes.
pub const SCENE_PREFIX: &str = "bind:";
/// Characters of a ticket (24 bytes, base64url): the scene stays far below WeChat's 64.
const TICKET_CHARS: usize = 32;

/// A minted ticket: its scene string, the temporary QR code WeChat made for it, and when
/// both stop working.
#[derive(Debug, Clone)]
pub struct BindTicket {
    pub scene: String,
    pub qr: QrCode,
    pub expires_in: Duration,
    pub expires_at: DateTime<Utc>,
}

fn cache_key(ticket: &str) -> String {
    let digest: String = Sha256::digest(ticket.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("wx:bind:{digest}")
}

/// The ticket a scene carries, if it is a bind scene of the right shape.
pub fn ticket_of(scene: &str) -> Option<&str> {
    let ticket = scene.strip_prefix(SCENE_PREFIX)?;
    let valid = ticket.len() == TICKET_CHARS
        && ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then_some(ticket)
}

/// Mints a ticket for `user_id` and its temporary QR code (`qrcode/create`, living as
/// long as the ticket). Needs the Official Account: 409 `not_configured` otherwise.
pub async fn mint(state: &AppState, user_id: i64) -> AppResult<BindTicket> {
    let Some(app) = state.wechat.official_account.clone() else {
        return Err(AppError::conflict(
            ErrorCode::NotConfigured,
            "the Official Account is not configured",
        ));
    };
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    let ttl = Duration::from_secs(state.settings.wechat.bind_ticket_ttl_secs);
    let stored = state
        .cache
        .set_if_absent(&cache_key(&ticket), &user_id.to_string(), ttl)
        .await
        .map_err(|e| AppError::Unavailable(format!("cache unavailable: {e}")))?;
    if !stored {
        // 192 random bits never collide; refuse rather than hand out someone else's.
        return Err(AppError::Internal(anyhow::anyhow!("bind ticket collision")));
    }
    let scene = format!("{SCENE_PREFIX}{ticket}");
    let client = state.wechat.client.clone();
    let qr_scene = scene.clone();
    let qr = state
        .wechat
        .tokens
        .call_with_token(&app, move |token| {
            let (client, scene) = (client.clone(), qr_scene.clone());
            async move { client.qrcode_create(&token, &scene, ttl.as_secs()).await }
        })
        .await;
    let qr = match qr {
        Ok(qr) => qr,
        Err(err) => {
            // Nobody can scan it: do not leave it redeemable.
            let _ = state.cache.delete(&cache_key(&ticket)).await;
            return Err(err.into());
        }
    };
    Ok(BindTicket {
        scene,
        qr,
        expires_in: ttl,
        expires_at: time::now() + chrono::Duration::seconds(ttl.as_secs() as i64),
    })
}

/// Takes `ticket` (once): the user it was minted for, or None when it is unknown, expired
/// or already used.
pub async fn redeem(state: &AppState, ticket: &str) -> AppResult<Option<i64>> {
    let key = cache_key(ticket);
    let cache = &state.cache;
    let unavailable = |e| AppError::Unavailable(format!("cache unavailable: {e}"));
    let Some(value) = cache.get(&key).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let value = String::from_utf8_lossy(&value).into_owned();
    // Only the scan that deletes it redeems it; a concurrent one finds it gone.
    if !cache
        .delete_if_equals(&key, &value)
        .await
        .map_err(unavailable)?
    {
        return Ok(None);
    }
    Ok(value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bind_scenes_with_a_well_formed_ticket_carry_one() {
        let ticket = "A".repeat(TICKET_CHARS);
        assert_eq!(ticket_of(&format!("bind:{ticket}")), Some(ticket.as_str()));
        assert_eq!(ticket_of("bind_42"), None);
        assert_eq!(ticket_of("bind:42"), None);
        assert_eq!(ticket_of(&format!("bind:{}", "A".repeat(33))), None);
        assert_eq!(ticket_of(&format!("bind:{}!", "A".repeat(31))), None);
        assert_eq!(ticket_of(&format!("promo:{ticket}")), None);
    }
}
