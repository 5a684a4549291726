//! The Cache (DESIGN.md §5): Redis when configured, an in-process map otherwise, behind one
//! small interface. Keys are namespaced with `cache.key_prefix` so several deployments (and
//! parallel test runs) can share one Redis.

mod memory;
mod redis_backend;

use std::time::Duration;

use bytes::Bytes;

use crate::config::CacheSettings;

pub use memory::MemoryCache;
pub use redis_backend::RedisCache;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    #[error("cache command failed: {0}")]
    Command(String),
}

/// A counter after an increment: its value and how long until its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub value: i64,
    pub ttl: Duration,
}

/// Proof of holding a lock; only the holder's token releases it (compare-and-delete), so a
/// holder whose lease ran out cannot release a lock that someone else now holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(String);

impl LockToken {
    fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
pub enum Cache {
    Memory(MemoryCache),
    Redis(RedisCache),
}

impl Cache {
    /// Builds the configured backend. Never fails because Redis is down: the Redis backend
    /// connects lazily and reconnects on its own (see `RedisCache`).
    pub fn from_settings(settings: &CacheSettings) -> Result<Self, CacheError> {
        match &settings.redis_url {
            Some(url) => Ok(Self::Redis(RedisCache::new(url, &settings.key_prefix)?)),
            None => Ok(Self::Memory(MemoryCache::new(&settings.key_prefix))),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match self {
            Self::Memory(c) => Ok(c.get(key)),
            Self::Redis(c) => c.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self {
            Self::Memory(c) => {
                c.set(key, Bytes::copy_from_slice(value), ttl);
                Ok(())
            }
            Self::Redis(c) => c.set(key, value, ttl).await,
        }
    }

    /// Removes a key; true when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        match self {
            Self::Memory(c) => Ok(c.delete(key)),
            Self::Redis(c) => c.delete(key).await,
        }
    }

    /// Adds `by` to a counter. A new counter lives for `ttl` (a fixed window: later
    /// increments do not extend it).
    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<Counter, CacheError> {
        match self {
            Self::Memory(c) => Ok(c.incr(key, by, ttl)),
            Self::Redis(c) => c.incr(key, by, ttl).await,
        }
    }

    /// A counter's current value and remaining window, None when absent or expired.
    pub async fn counter(&self, key: &str) -> Result<Option<Counter>, CacheError> {
        match self {
            Self::Memory(c) => Ok(c.counter(key)),
            Self::Redis(c) => c.counter(key).await,
        }
    }

    /// Takes the lock `key` for `lease` if nobody holds it.
    pub async fn try_lock(
        &self,
        key: &str,
        lease: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let token = LockToken::new();
        let taken = match self {
            Self::Memory(c) => c.try_lock(key, token.as_str(), lease),
            Self::Redis(c) => c.try_lock(key, token.as_str(), lease).await?,
        };
        Ok(taken.then_some(token))
    }

    /// Releases the lock if `token` still holds it; false when the lease had passed to
    /// someone else (or expired).
    pub async fn unlock(&self, key: &str, token: &LockToken) -> Result<bool, CacheError> {
        match self {
            Self::Memory(c) => Ok(c.unlock(key, token.as_str())),
            Self::Redis(c) => c.unlock(key, token.as_str()).await,
        }
    }

    /// Reachability check for `/readyz`.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(c) => c.ping().await,
        }
    }
}
