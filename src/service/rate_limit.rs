//! Fixed-window rate limits on cache counters, so that they hold across instances when the
//! cache is Redis. Every check counts first, atomically (INCR), and then compares: two
//! requests can never both see the last free slot, however many run at once. While the
//! cache is down the counts are taken per instance (`Cache::incr_or_local`): limits never
//! fail open.

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

/// Counts one event; refuses (429) when it goes over the limit. A refused event still
/// counts (a flood keeps the window spent).
pub async fn count(cache: &Cache, name: &str, limit: RateLimit) -> AppResult<()> {
    let c = cache.incr_or_local(&key(name), 1, limit.window).await;
    if c.value > i64::from(limit.max) {
        return Err(AppError::TooManyRequests { retry_after: c.ttl });
    }
    Ok(())
}

/// Slots taken on several limits at once by `acquire`; `refund` gives them back.
#[derive(Debug)]
#[must_use = "a permit is either kept (the event counts) or refunded"]
pub struct Permit {
    taken: Vec<(String, RateLimit)>,
}

impl Permit {
    /// Gives the slots back (the event turned out not to count, e.g. a successful login).
    pub async fn refund(self, cache: &Cache) {
        refund_all(cache, &self.taken).await;
    }
}

async fn refund_all(cache: &Cache, taken: &[(String, RateLimit)]) {
    for (key, limit) in taken {
        cache.incr_or_local(key, -1, limit.window).await;
    }
}

/// Takes one slot on each of `limits` (name, limit) or none: when any is full, the slots
/// just taken are given back and the answer is 429. So a counter holds the events admitted
/// (plus, for an instant, the ones being refused), and at most `max` are ever admitted per
/// window whatever the concurrency. The caller keeps the permit for events that count
/// (failed logins) and refunds it for those that do not.
pub async fn acquire(cache: &Cache, limits: &[(String, RateLimit)]) -> AppResult<Permit> {
    let mut taken = Vec::with_capacity(limits.len());
    for (name, limit) in limits {
        let key = key(name);
        let c = cache.incr_or_local(&key, 1, limit.window).await;
        taken.push((key, *limit));
        if c.value > i64::from(limit.max) {
            refund_all(cache, &taken).await;
            return Err(AppError::TooManyRequests { retry_after: c.ttl });
        }
    }
    Ok(Permit { taken })
}
