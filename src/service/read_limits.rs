//! Per-client-IP budgets for the public reads that miss the cache by design: searches, and
//! the other uncached reads (filtered and later pages, related articles, comment threads,
//! the guestbook). Each costs database work, so a single client must not be able to spend
//! the database on them; the cached reads (home feed, featured, hot, article pages) cost
//! next to nothing and are not limited. Counted in the cache, so the budgets hold across
//! instances (see `rate_limit`).

use std::{net::IpAddr, time::Duration};

use super::rate_limit::{self, RateLimit};
use crate::{cache::Cache, config::RateLimitSettings, error::AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCost {
    /// `GET /api/articles?q=`: a text search over titles and summaries.
    Search,
    /// Any other public read that misses the cache.
    Uncached,
}

/// Counts one read against `client_ip`'s budget; 429 once the budget is spent.
pub async fn charge(
    cache: &Cache,
    settings: &RateLimitSettings,
    client_ip: IpAddr,
    cost: ReadCost,
) -> AppResult<()> {
    let (name, max) = match cost {
        ReadCost::Search => ("search", settings.searches_per_ip),
        ReadCost::Uncached => ("read", settings.uncached_reads_per_ip),
    };
    let limit = RateLimit {
        max,
        window: Duration::from_secs(settings.read_window_secs),
    };
    rate_limit::count(cache, &format!("{name}:ip:{client_ip}"), limit).await
}
