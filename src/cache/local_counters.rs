//! Per-instance counters that stand in for the shared ones while the shared cache (Redis) is
//! down, so that rate limits still hold, per instance, instead of failing open. One warning
//! when an outage starts and one note when it ends, not one per call. Counts taken during an
//! outage stay local: after recovery the shared counters go on from where they were.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use super::{CacheError, Counter, MemoryCache};

pub struct LocalCounters {
    counters: MemoryCache,
    down: AtomicBool,
    outages: AtomicU64,
}

impl LocalCounters {
    pub fn new(prefix: &str, max_bytes: u64) -> Self {
        Self {
            counters: MemoryCache::new(prefix, max_bytes),
            down: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        }
    }

    /// Counts on the local stand-in after the shared counter failed with `err`.
    pub fn incr_after(&self, err: &CacheError, key: &str, by: i64, ttl: Duration) -> Counter {
        self.note_down(err);
        self.counters.incr(key, by, ttl)
    }

    /// `Cache::spend_once` on the local stand-in after the shared cache failed with `err`.
    pub fn spend_once_after(
        &self,
        err: &CacheError,
        key: &str,
        field: &str,
        member: &str,
        cap: u32,
        ttl: Duration,
    ) -> bool {
        self.note_down(err);
        self.counters.spend_once(key, field, member, cap, ttl)
    }

    /// `Cache::unspend` on the local stand-in.
    pub fn unspend(&self, key: &str, field: &str, member: &str) -> bool {
        self.counters.unspend(key, field, member)
    }

    fn note_down(&self, err: &CacheError) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%err, "shared cache unavailable: rate limits count per instance until it is back");
        }
    }

    /// The shared counter answered: ends an outage if one was going on.
    pub fn shared_ok(&self) {
        if self.down.load(Ordering::Acquire) && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("shared cache is back: rate limits count across instances again");
        }
    }

    /// Outages seen since start (each warned about once).
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }
}
