//! Password hashing with argon2id (default parameters), off the async runtime because a
//! hash costs tens of milliseconds of CPU by design.
//!
//! Each hash needs ~19 MiB of working memory. Left alone, a burst of logins runs one per
//! blocking thread at once and the allocator keeps what they used (hundreds of MiB that
//! never come back). So at most `auth.password_hash_concurrency` hashes run at once (the
//! others wait for a permit) and each borrows its memory from a pool of that many buffers,
//! allocated once and reused: hashing memory is bounded by the permit count.

use std::sync::{Mutex, OnceLock};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

const DEFAULT_CONCURRENCY: usize = 2;

/// Hashes of a cost above this (from a foreign or corrupt stored hash) are refused rather
/// than given that much memory.
const MAX_BLOCKS: usize = 64 * 1024;

struct Pool {
    permits: Semaphore,
    buffers: Mutex<Vec<Vec<Block>>>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Sets how many hashes run at once in this process; the first call wins (one process runs
/// one configuration; later instances in the same process, as in tests, share it).
pub fn configure(concurrency: usize) {
    pool_with(concurrency);
}

fn pool_with(concurrency: usize) -> &'static Pool {
    POOL.get_or_init(|| Pool {
        permits: Semaphore::new(concurrency.max(1)),
        buffers: Mutex::new(Vec::new()),
    })
}

fn pool() -> &'static Pool {
    pool_with(DEFAULT_CONCURRENCY)
}

/// Runs `f` on a blocking thread with a permit and a pooled block buffer.
async fn with_memory<T: Send + 'static>(
    f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> AppResult<T> {
    let pool = pool();
    let _permit = pool
        .permits
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    tokio::task::spawn_blocking(move || {
        let mut buffer = pool
            .buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let out = f(&mut buffer);
        pool.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buffer);
        out
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}

/// Hashes into `out` with `argon2`, growing `buffer` to the blocks it needs (once).
fn hash_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    buffer: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let blocks = argon2.params().block_count();
    if blocks > MAX_BLOCKS {
        return Err(argon2::Error::MemoryTooMuch);
    }
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::default());
    }
    argon2.hash_password_into_with_memory(password, salt, out, &mut buffer[..blocks])
}

fn hash_with(password: &[u8], buffer: &mut Vec<Block>) -> Result<String, String> {
    let argon2 = Argon2::default();
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon2, password, &salt, &mut out, buffer).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| e.to_string())?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

fn verify_with(password: &[u8], stored: &str, buffer: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    hash_into(&argon2, password, salt, &mut out, buffer).is_ok()
        && bool::from(out.ct_eq(expected.as_bytes()))
}

pub async fn hash(password: String) -> AppResult<String> {
    with_memory(move |buffer| hash_with(password.as_bytes(), buffer))
        .await?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// True when `password` matches `stored`. With no stored hash (unknown user, WeChat-only
/// account, a name that cannot exist) a dummy hash is checked anyway, so the answer takes
/// the same time and does not reveal whether the user exists.
pub async fn verify(password: String, stored: Option<String>) -> AppResult<bool> {
    let dummy = match stored {
        Some(_) => None,
        None => Some(dummy_hash().await?),
    };
    with_memory(move |buffer| match (stored, dummy) {
        (Some(stored), _) => verify_with(password.as_bytes(), &stored, buffer),
        (None, Some(dummy)) => {
            verify_with(password.as_bytes(), dummy, buffer);
            false
        }
        (None, None) => false,
    })
    .await
}

async fn dummy_hash() -> AppResult<&'static str> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash("qshare-dummy-password".into()))
        .await
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_is_standard_argon2id() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify("correct horse".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("correct horse".into(), None).await.unwrap());
        assert!(!verify("x".into(), Some("not a hash".into())).await.unwrap());
        // The argon2 crate's own verifier agrees (hashes stored before this change and
        // after it are interchangeable).
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
    }
}
