//! Pre-serialized public reads (feed, featured, hot, article pages) in two layers: an
//! in-process map (L1: a hit costs a hash lookup, no network) and the shared cache (L2).
//!
//! Freshness is a version number. Every write that changes public content bumps the version
//! in the shared cache and announces it (Redis pub/sub); every instance then reads under the
//! new version, so the next read rebuilds from SQL. Entries of old versions are simply no
//! longer asked for and expire. L1 entries also expire after `L1_TTL`, which bounds the
//! staleness of the few values no write announces (like counts between flushes).
//!
//! A missing entry is rebuilt once per instance: concurrent readers of the same key wait for
//! the one building it (single flight). When the shared cache is down, reads still answer:
//! L1 and SQL need no Redis.
//!
//! A write while the shared cache is unreachable can only move this instance's version. The
//! instance has then *diverged*: its version number may later be handed out by the shared
//! counter for a different state of the content, so until it rejoins it neither reads nor
//! writes L2 (L1 and SQL only), and it rejoins as soon as the shared cache answers (a
//! background retry, and at once when the change signal reconnects) by moving the shared
//! version past its own and announcing it, so that every instance, this one included, reads
//! fresh data again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;

use super::{Cache, Change};

const VERSION_KEY: &str = "rc:version";
/// The version counter never expires in practice.
const VERSION_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const L1_TTL: Duration = Duration::from_secs(30);
const L2_TTL: Duration = Duration::from_secs(300);
/// L1 is cleared when it grows past this many entries (article pages are many).
const L1_MAX_ENTRIES: usize = 20_000;

struct L1Entry {
    bytes: Bytes,
    version: u64,
}

/// A counter striped over cache lines, so that threads counting at once do not contend.
#[derive(Default)]
struct StripedCounter([CachePadded; 8]);

#[derive(Default)]
#[repr(align(64))]
struct CachePadded(AtomicU64);

impl StripedCounter {
    fn add(&self) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) as usize
            };
        }
        let stripe = STRIPE.with(|s| *s) % self.0.len();
        self.0[stripe].0.fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

struct Inner {
    cache: Cache,
    version: AtomicU64,
    /// Invalidated while the shared cache was unreachable and not yet rejoined.
    diverged: AtomicBool,
    l1: RwLock<HashMap<String, L1Entry>>,
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    hits: StripedCounter,
    misses: StripedCounter,
}

#[derive(Clone)]
pub struct ReadCache {
    inner: Arc<Inner>,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub version: u64,
}

impl ReadCache {
    /// Reads the current version and starts following the change signal.
    pub async fn start(cache: Cache) -> Self {
        let read_cache = Self {
            inner: Arc::new(Inner {
                version: AtomicU64::new(0),
                diverged: AtomicBool::new(false),
                l1: RwLock::default(),
                building: Mutex::default(),
                hits: StripedCounter::default(),
                misses: StripedCounter::default(),
                cache,
            }),
        };
        let changes = read_cache.inner.cache.subscribe_changes();
        read_cache.resync().await;
        tokio::spawn(follow_changes(Arc::downgrade(&read_cache.inner), changes));
        tokio::spawn(sweep_l1(Arc::downgrade(&read_cache.inner)));
        read_cache
    }

    pub fn stats(&self) -> ReadCacheStats {
        ReadCacheStats {
            hits: self.inner.hits.sum(),
            misses: self.inner.misses.sum(),
            version: self.inner.version.load(Ordering::Relaxed),
        }
    }

    async fn resync(&self) {
        if let Ok(Some(c)) = self.inner.cache.counter(VERSION_KEY).await {
            self.inner.observe(c.value.max(0) as u64);
        }
    }

    /// The cached bytes of `key`, or the result of `build` (stored for the next readers).
    /// Errors of `build` are returned and nothing is stored.
    pub async fn get_or_build<E, F, Fut>(&self, key: &str, build: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if let Some(bytes) = self.peek(key) {
            return Ok(bytes);
        }
        let version = self.inner.version.load(Ordering::Acquire);
        let full_key = format!("rc:{version}:{key}");

        let gate = {
            let mut building = self
                .inner
                .building
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            building.entry(full_key.clone()).or_default().clone()
        };
        let _turn = gate.lock().await;
        let result = self.fill(key, &full_key, version, build).await;
        self.inner
            .building
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&full_key);
        result
    }

    async fn fill<E, F, Fut>(
        &self,
        key: &str,
        full_key: &str,
        version: u64,
        build: F,
    ) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        // Someone else may have built it while we waited for our turn.
        if let Some(bytes) = self.peek(key) {
            return Ok(bytes);
        }
        // A diverged instance keeps out of L2: its version number may name other content
        // there.
        let shared = !self.inner.diverged.load(Ordering::Acquire);
        if shared && let Ok(Some(bytes)) = self.inner.cache.get(full_key).await {
            self.inner.hits.add();
            self.inner.l1_put(key, bytes.clone(), version);
            return Ok(bytes);
        }
        self.inner.misses.add();
        let bytes = build().await?;
        if shared && let Err(err) = self.inner.cache.set(full_key, &bytes, L2_TTL).await {
            tracing::debug!(%err, "read cache: not stored in the shared cache");
        }
        self.inner.l1_put(key, bytes.clone(), version);
        Ok(bytes)
    }

    /// The current bytes of `key` if this instance holds them (no I/O, no building).
    pub fn peek(&self, key: &str) -> Option<Bytes> {
        let version = self.inner.version.load(Ordering::Acquire);
        let bytes = self.inner.l1_get(key, version)?;
        self.inner.hits.add();
        Some(bytes)
    }

    /// Public content changed: every instance reads fresh data from now on.
    pub async fn invalidate(&self) {
        if let Err(err) = self.inner.advance_shared().await {
            // Without the shared cache only this instance learns of the change (the others
            // when it rejoins, or within L1_TTL).
            tracing::warn!(%err, "read cache: version not shared; invalidating locally");
            if !self.inner.diverged.swap(true, Ordering::AcqRel) {
                tokio::spawn(rejoin_when_reachable(Arc::downgrade(&self.inner)));
            }
            let next = self.inner.version.load(Ordering::Acquire) + 1;
            self.inner.observe(next);
        }
    }
}

impl Inner {
    /// Moves the shared version past both its current value and this instance's (which is
    /// ahead after local-only invalidations, or after Redis lost its data), then announces
    /// it. Clears `diverged` on success.
    async fn advance_shared(&self) -> Result<(), super::CacheError> {
        let local = self.version.load(Ordering::Acquire) as i64;
        let mut shared = self.cache.incr(VERSION_KEY, 1, VERSION_TTL).await?.value;
        if shared <= local {
            shared = self
                .cache
                .incr(VERSION_KEY, local - shared + 1, VERSION_TTL)
                .await?
                .value;
        }
        let next = shared.max(0) as u64;
        self.diverged.store(false, Ordering::Release);
        self.observe(next);
        if let Err(err) = self.cache.publish_change(next).await {
            tracing::warn!(%err, "read cache: change not announced to other instances");
        }
        Ok(())
    }

    /// After diverging: once the shared cache answers again, re-share the version.
    async fn rejoin(&self) {
        if self.diverged.load(Ordering::Acquire) && self.advance_shared().await.is_ok() {
            tracing::info!("read cache: shared cache reachable again; version re-shared");
        }
    }

    fn l1_get(&self, key: &str, version: u64) -> Option<Bytes> {
        let l1 = self.l1.read().unwrap_or_else(|e| e.into_inner());
        l1.get(key)
            .filter(|e| e.version == version)
            .map(|e| e.bytes.clone())
    }

    fn l1_put(&self, key: &str, bytes: Bytes, version: u64) {
        // A value built under a version that is no longer current is not kept.
        if self.version.load(Ordering::Acquire) != version {
            return;
        }
        let mut l1 = self.l1.write().unwrap_or_else(|e| e.into_inner());
        if l1.len() >= L1_MAX_ENTRIES {
            l1.clear();
        }
        l1.insert(key.to_string(), L1Entry { bytes, version });
    }

    /// Moves to `version` if it is newer, dropping the L1 entries of older versions.
    fn observe(&self, version: u64) {
        if self.version.fetch_max(version, Ordering::AcqRel) < version {
            self.l1.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

/// Retries rejoining until it worked (or the cache is gone), so a diverged instance does not
/// wait for its next write or a reconnect signal to share what it changed.
async fn rejoin_when_reachable(inner: std::sync::Weak<Inner>) {
    const RETRY: Duration = Duration::from_millis(500);
    loop {
        tokio::time::sleep(RETRY).await;
        let Some(inner) = inner.upgrade() else { return };
        if !inner.diverged.load(Ordering::Acquire) {
            return;
        }
        inner.rejoin().await;
    }
}

/// Empties L1 every `L1_TTL`, which bounds the age of what no write announces (like counts)
/// without reading the clock on every hit.
async fn sweep_l1(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(L1_TTL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.l1.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

async fn follow_changes(
    inner: std::sync::Weak<Inner>,
    mut changes: tokio::sync::broadcast::Receiver<Change>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = changes.recv().await;
        let Some(inner) = inner.upgrade() else { return };
        match change {
            Ok(Change::Version(v)) => inner.observe(v),
            Ok(Change::Resync) | Err(RecvError::Lagged(_)) => {
                if let Ok(Some(c)) = inner.cache.counter(VERSION_KEY).await {
                    inner.observe(c.value.max(0) as u64);
                }
                // Back in touch with the others: share what changed here meanwhile.
                inner.rejoin().await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}
