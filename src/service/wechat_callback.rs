//! The Official Account callback protocol (shared/reference/wechat-protocol.md §1): the
//! `signature` check on every request, safe-mode decryption and reply encryption,
//! de-duplication of WeChat's retries, and the 5 s answer budget. What a message means is
//! `wechat_replies`' job.
//!
//! Replays and downgrades are refused with 403, like a bad signature (to WeChat any
//! non-`success` answer is a failure, and a replay is a forgery, not malformed input):
//! - a `timestamp` more than `MAX_CLOCK_SKEW_SECS` from our clock;
//! - on a POST, a `(timestamp, nonce, signature)` already seen, through a set-if-absent in
//!   the shared cache (so across instances), unless it carries the same message again (a
//!   replayed GET verification only echoes its own `echostr`, so it is left alone). The
//!   `signature` does not cover the body, so a captured query string with another body is a
//!   forgery; the same message is WeChat retrying a request we were slow to answer, and
//!   it goes through the `MsgId` de-duplication like any retry: the stored answer or
//!   `success`, never a second processing;
//! - a plaintext POST when an EncodingAESKey is configured (safe mode).

use std::time::Duration;

use crate::{
    error::{AppError, AppResult, ErrorCode},
    service::wechat_replies,
    state::AppState,
    wechat::{
        crypto::{self, CryptoError, MessageCrypto},
        xml::{self, InboundMessage},
    },
};

/// WeChat gives up after 5 s; answer `success` well before, letting the work finish in
/// the background.
pub const REPLY_BUDGET: Duration = Duration::from_secs(4);
/// How far a request's `timestamp` may be from our clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// A request seen is remembered while its timestamp can still pass the skew check (up to
/// twice the skew from now), plus a margin.
const SEEN_TTL: Duration = Duration::from_secs(2 * MAX_CLOCK_SKEW_SECS as u64 + 60);
/// WeChat retries 3 times within about 15 s; a marker outlives them, and any retry that
/// the freshness and replay checks still let through.
const DEDUP_TTL: Duration = SEEN_TTL;

/// The query string WeChat sends (every field optional so a bad request is ours to judge).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

/// The callback's answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackReply {
    /// No reply and no retry: the literal `success`.
    Success,
    /// A passive reply (plaintext XML, or the encrypted envelope in safe mode).
    Xml(String),
}

struct Account<'a> {
    token: &'a str,
    encoding_aes_key: &'a str,
    app_id: &'a str,
}

fn account(state: &AppState) -> AppResult<Account<'_>> {
    let oa = &state.settings.wechat.official_account;
    if state.wechat.official_account.is_none() || oa.token.is_empty() {
        // 409, not 503: retrying will not configure it.
        return Err(AppError::conflict(
            ErrorCode::NotConfigured,
            "the Official Account callback is not configured",
        ));
    }
    Ok(Account {
        token: &oa.token,
        encoding_aes_key: &oa.encoding_aes_key,
        app_id: &oa.app_id,
    })
}

fn param<'a>(value: &'a Option<String>, name: &str) -> AppResult<&'a str> {
    value
        .as_deref()
        .ok_or_else(|| AppError::bad_field(name, format!("{name} is required")))
}

/// Every request must carry a valid `signature` of token, timestamp and nonce.
fn check_signature(account: &Account<'_>, query: &CallbackQuery) -> AppResult<()> {
    let forbidden = || AppError::Forbidden("invalid WeChat signature".into());
    let (Some(signature), Some(timestamp), Some(nonce)) =
        (&query.signature, &query.timestamp, &query.nonce)
    else {
        return Err(forbidden());
    };
    if crypto::verify_signature(account.token, timestamp, nonce, signature) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// The request's `timestamp` is within `MAX_CLOCK_SKEW_SECS` of our clock.
fn check_fresh(query: &CallbackQuery) -> AppResult<()> {
    let now = crate::time::now().timestamp();
    let fresh = query
        .timestamp
        .as_deref()
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| (now - t).abs() <= MAX_CLOCK_SKEW_SECS);
    if fresh {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "stale WeChat timestamp (more than 300 s from the server clock)".into(),
        ))
    }
}

/// Remembers this request (its signed query) with the message it carried; refuses the
/// same query with another message. A cache failure lets it through (logged): the
/// freshness check still bounds a replay, and dropping WeChat's events is worse.
async fn check_first_use(
    state: &AppState,
    query: &CallbackQuery,
    msg: &InboundMessage,
) -> AppResult<()> {
    let seen = format!(
        "wx:cb:req:{}:{}:{}",
        query.timestamp.as_deref().unwrap_or(""),
        query.nonce.as_deref().unwrap_or(""),
        query.signature.as_deref().unwrap_or("")
    );
    let message = msg.dedup_key();
    let cache = &state.cache;
    let first = match cache.set_if_absent(&seen, &message, SEEN_TTL).await {
        Ok(first) => first,
        Err(e) => {
            tracing::warn!(error = %e, "callback replay check unavailable; accepting");
            return Ok(());
        }
    };
    if first {
        return Ok(());
    }
    match cache.get(&seen).await {
        Ok(Some(stored)) if stored.as_ref() == message.as_bytes() => Ok(()),
        Ok(_) => Err(AppError::Forbidden("replayed WeChat request".into())),
        Err(e) => {
            tracing::warn!(error = %e, "callback replay check unavailable; accepting");
            Ok(())
        }
    }
}

/// GET verification (saving the URL in the console): the `echostr` to echo.
pub fn verify_url(state: &AppState, query: &CallbackQuery) -> AppResult<String> {
    let account = account(state)?;
    check_signature(&account, query)?;
    check_fresh(query)?;
    Ok(param(&query.echostr, "echostr")?.to_string())
}

/// A callback POST: verify, decrypt, act once per message, answer within the budget.
pub async fn receive(
    state: &AppState,
    query: &CallbackQuery,
    body: &str,
) -> AppResult<CallbackReply> {
    let account = account(state)?;
    check_signature(&account, query)?;
    check_fresh(query)?;
    let safe_mode = match query.encrypt_type.as_deref() {
        None | Some("") | Some("raw") if !account.encoding_aes_key.is_empty() => {
            return Err(AppError::Forbidden(
                "plaintext messages are refused: safe mode (an EncodingAESKey) is configured"
                    .into(),
            ));
        }
        None | Some("") | Some("raw") => None,
        Some(t) if t.eq_ignore_ascii_case("aes") => Some(message_crypto(&account)?),
        Some(_) => return Err(AppError::bad_field("encrypt_type", "unknown encrypt_type")),
    };
    let plaintext = match &safe_mode {
        Some(crypto) => decrypt(crypto, query, body)?,
        None => body.to_string(),
    };
    let msg = xml::parse_message(&plaintext)
        .map_err(|e| AppError::bad_field("body", format!("invalid message: {e}")))?;
    check_first_use(state, query, &msg).await?;
    let Some(reply) = process_once(state, msg).await? else {
        return Ok(CallbackReply::Success);
    };
    match &safe_mode {
        Some(crypto) => Ok(CallbackReply::Xml(encrypt(crypto, query, &reply)?)),
        None => Ok(CallbackReply::Xml(reply)),
    }
}

fn message_crypto(account: &Account<'_>) -> AppResult<MessageCrypto> {
    if account.encoding_aes_key.is_empty() {
        return Err(AppError::bad_field(
            "encrypt_type",
            "safe mode is not configured (no EncodingAESKey)",
        ));
    }
    MessageCrypto::new(account.token, account.encoding_aes_key, account.app_id)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("callback crypto settings: {e}")))
}

fn decrypt(crypto: &MessageCrypto, query: &CallbackQuery, body: &str) -> AppResult<String> {
    let envelope = xml::parse_encrypted_envelope(body)
        .map_err(|e| AppError::bad_field("body", format!("invalid envelope: {e}")))?;
    crypto
        .decrypt_verified(
            param(&query.timestamp, "timestamp")?,
            param(&query.nonce, "nonce")?,
            param(&query.msg_signature, "msg_signature")?,
            &envelope.encrypt,
        )
        .map_err(|e| match e {
            CryptoError::BadSignature => AppError::Forbidden("invalid msg_signature".into()),
            other => AppError::bad_field("body", format!("cannot decrypt the message: {other}")),
        })
}

/// The reply envelope, signed with the request's timestamp and nonce (as WeChat's samples do).
fn encrypt(crypto: &MessageCrypto, query: &CallbackQuery, reply: &str) -> AppResult<String> {
    let timestamp = param(&query.timestamp, "timestamp")?;
    let nonce = param(&query.nonce, "nonce")?;
    let encrypted = crypto
        .encrypt(reply)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot encrypt the reply: {e}")))?;
    let signature = crypto.sign(timestamp, nonce, &encrypted);
    Ok(xml::encrypted_reply(
        &encrypted, &signature, timestamp, nonce,
    ))
}

/// Acts on `msg` once across WeChat's retries and instances. The first delivery takes a
/// marker and stores its answer; a retry gets that answer, or `success` while the first is
/// still working. The work runs in its own task so that the budget only bounds the wait:
/// past it we answer `success` and the work still completes.
async fn process_once(state: &AppState, msg: InboundMessage) -> AppResult<Option<String>> {
    let marker = format!("wx:cb:{}", msg.dedup_key());
    let reply_key = format!("{marker}:reply");
    let lock = match state.cache.try_lock(&marker, DEDUP_TTL).await {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => {
            let stored = state.cache.get(&reply_key).await.ok().flatten();
            return Ok(stored
                .filter(|b| !b.is_empty())
                .map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
        Err(e) => {
            // Acting twice on a retry beats dropping an event because the cache is down.
            tracing::warn!(error = %e, "callback dedup unavailable; processing anyway");
            None
        }
    };
    let task_state = state.clone();
    let work = tokio::spawn(async move {
        let outcome = wechat_replies::respond(&task_state, &msg).await;
        if let Some(lock) = lock {
            let cache = &task_state.cache;
            let stored = match &outcome {
                Ok(reply) => {
                    let body = reply.as_deref().unwrap_or("").as_bytes();
                    cache.set(&reply_key, body, DEDUP_TTL).await.err()
                }
                // Failed: let WeChat's retry do the work again.
                Err(_) => cache.unlock(&marker, &lock).await.err(),
            };
            if let Some(e) = stored {
                tracing::warn!(error = %e, "cannot record the callback outcome");
            }
        }
        outcome
    });
    match tokio::time::timeout(REPLY_BUDGET, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => Err(AppError::Internal(anyhow::anyhow!(
            "callback handling panicked: {join}"
        ))),
        Err(_) => {
            tracing::warn!("callback work exceeded the reply budget; answering success");
            Ok(None)
        }
    }
}
