//! Fixed-window rate limits on cache counters, so that they hold across instances when the
//! cache is Redis. When the cache is down the limits are not enforced (logged): a cache
//! outage must not lock everybody out.

use std::time::Duration;

use crate::{
    cache::Cache,
    error::{AppError, AppResult},
};

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

fn key(name: &str) -> String {
    format!("rl:{name}")
}

/// Refuses (429) when the counter `name` has reached the limit, without counting.
pub async fn ensure_below(cache: &Cache, name: &str, limit: RateLimit) -> AppResult<()> {
    match cache.counter(&key(name)).await {
        Ok(Some(c)) if c.value >= i64::from(limit.max) => {
            Err(AppError::TooManyRequests { retry_after: c.ttl })
        }
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::warn!(%err, "rate limit not checked: cache unavailable");
            Ok(())
        }
    }
}

/// Counts one event; refuses (429) when it goes over the limit.
pub async fn count(cache: &Cache, name: &str, limit: RateLimit) -> AppResult<()> {
    match cache.incr(&key(name), 1, limit.window).await {
        Ok(c) if c.value > i64::from(limit.max) => {
            Err(AppError::TooManyRequests { retry_after: c.ttl })
        }
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::warn!(%err, "rate limit not counted: cache unavailable");
            Ok(())
        }
    }
}

/// Counts one event (e.g. a failed login) without refusing it.
pub async fn record(cache: &Cache, name: &str, limit: RateLimit) {
    if let Err(err) = cache.incr(&key(name), 1, limit.window).await {
        tracing::warn!(%err, "rate limit event not recorded: cache unavailable");
    }
}
