//! Pre-serialized public reads (feed, featured, hot, article pages) in two layers: an
//! in-process map (L1: a hit costs a hash lookup, no network) and the shared cache (L2).
//!
//! Freshness is a version number. Every write that changes public content bumps the version
//! in the shared cache and announces it (Redis pub/sub); every instance then reads under the
//! new version, so the next read rebuilds from SQL. Entries of old versions are simply no
//! longer asked for and expire. L1 entries also expire after `L1_TTL`, which bounds the
//! staleness of the few values no write announces (like counts between flushes).
//!
//! Counts (likes, favourites, comments) change far more often than content, and each such
//! change concerns one article, so it does not move the version: it moves that article's
//! *generation* instead (`article_changed`). A shared epoch counter hands out generations;
//! every entry records the epoch its build started from and the articles it shows, and is
//! stale once one of those articles has a later generation. The instance that made the
//! change drops its stale L1 entries before answering, the others when they hear the change
//! signal; an L2 entry is checked against the articles' shared generations before use. So
//! a like shows on the article page and in the lists that show that article on the next
//! read, and no other entry is rebuilt.
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
use crate::edge::PreparedBody;

const VERSION_KEY: &str = "rc:version";
/// Hands out article generations.
const EPOCH_KEY: &str = "rc:epoch";
/// An article's generation outlives every L2 entry that could show the article.
const GENERATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// Generations heard from the change signal are remembered up to this many articles.
const HEARD_MAX: usize = 100_000;
/// The version counter never expires in practice.
const VERSION_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const L1_TTL: Duration = Duration::from_secs(30);
const L2_TTL: Duration = Duration::from_secs(300);
/// L1 is cleared when it grows past this many entries (article pages are many).
const L1_MAX_ENTRIES: usize = 20_000;

struct L1Entry {
    /// The bytes with their tag and compressed forms, made once per version.
    body: Arc<PreparedBody>,
    version: u64,
    /// The articles this entry shows, and the epoch its build started from.
    articles: Box<[i64]>,
    epoch: u64,
}

/// What a builder returns: the bytes, and the articles they show (whose count changes make
/// them stale).
pub struct Built {
    pub bytes: Bytes,
    pub articles: Vec<i64>,
}

fn generation_key(article: i64) -> String {
    format!("rc:gen:{article}")
}

/// L2 value: epoch (8 bytes), article count (4), the articles (8 each), then the body.
fn encode_l2(epoch: u64, articles: &[i64], bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + articles.len() * 8 + bytes.len());
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&(articles.len() as u32).to_le_bytes());
    for id in articles {
        out.extend_from_slice(&id.to_le_bytes());
    }
    out.extend_from_slice(bytes);
    out
}

fn decode_l2(raw: &Bytes) -> Option<(u64, Vec<i64>, Bytes)> {
    let epoch = u64::from_le_bytes(raw.get(..8)?.try_into().ok()?);
    let count = u32::from_le_bytes(raw.get(8..12)?.try_into().ok()?) as usize;
    let end = 12usize.checked_add(count.checked_mul(8)?)?;
    let ids = raw
        .get(12..end)?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect();
    Some((epoch, ids, raw.slice(end..)))
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
    /// The latest article generation this instance knows of.
    epoch: AtomicU64,
    /// The latest generation heard per article (for builds that finish after a change).
    heard: Mutex<HashMap<i64, u64>>,
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
                epoch: AtomicU64::new(0),
                heard: Mutex::default(),
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

    /// The cached body of `key`, or the result of `build` (stored for the next readers).
    /// Errors of `build` are returned and nothing is stored.
    pub async fn get_or_build<E, F, Fut>(&self, key: &str, build: F) -> Result<Arc<PreparedBody>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Built, E>>,
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
    ) -> Result<Arc<PreparedBody>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Built, E>>,
    {
        // Someone else may have built it while we waited for our turn.
        if let Some(bytes) = self.peek(key) {
            return Ok(bytes);
        }
        // A diverged instance keeps out of L2: its version number may name other content
        // there.
        let shared = !self.inner.diverged.load(Ordering::Acquire);
        // Read before the build: every count change at or below it is in what SQL returns.
        let start = self.inner.current_epoch(shared).await;
        if shared
            && let Ok(Some(raw)) = self.inner.cache.get(full_key).await
            && let Some((epoch, articles, bytes)) = decode_l2(&raw)
            && self.inner.still_fresh(&articles, epoch, shared).await
        {
            self.inner.hits.add();
            return Ok(self.inner.l1_put(key, bytes, version, articles, epoch));
        }
        self.inner.misses.add();
        let Built { bytes, articles } = build().await?;
        if !self.inner.still_fresh(&articles, start, shared).await {
            // A count changed while we built: answer with it, keep nothing.
            return Ok(Arc::new(PreparedBody::new(bytes)));
        }
        if shared {
            let value = encode_l2(start, &articles, &bytes);
            if let Err(err) = self.inner.cache.set(full_key, &value, L2_TTL).await {
                tracing::debug!(%err, "read cache: not stored in the shared cache");
            }
        }
        Ok(self.inner.l1_put(key, bytes, version, articles, start))
    }

    /// What article `id` shows changed (a like, a comment, a moderation decision): the
    /// cached reads that show it are rebuilt on their next read, on every instance, and
    /// nothing else is. Call it after the change committed.
    pub async fn article_changed(&self, id: i64) {
        let cache = &self.inner.cache;
        let generation = async {
            let epoch = cache.incr(EPOCH_KEY, 1, VERSION_TTL).await?.value.max(0);
            cache
                .raise_to(&generation_key(id), epoch, GENERATION_TTL)
                .await?;
            Ok::<_, super::CacheError>(epoch as u64)
        }
        .await;
        match generation {
            Ok(generation) => {
                // Here before the answer goes out; the others when they hear it.
                self.inner.forget_article(id, generation);
                let change = Change::Article { id, generation };
                if let Err(err) = cache.announce(change).await {
                    tracing::warn!(%err, "read cache: article change not announced");
                }
            }
            Err(err) => {
                tracing::warn!(%err, "read cache: article generation not shared; invalidating");
                self.invalidate().await;
            }
        }
    }

    /// The current body of `key` if this instance holds it (no I/O, no building).
    pub fn peek(&self, key: &str) -> Option<Arc<PreparedBody>> {
        let version = self.inner.version.load(Ordering::Acquire);
        let body = self.inner.l1_get(key, version)?;
        self.inner.hits.add();
        Some(body)
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

    /// The epoch a build starts from: the shared one, or this instance's when diverged or
    /// the shared cache does not answer.
    async fn current_epoch(&self, shared: bool) -> u64 {
        let local = self.epoch.load(Ordering::Acquire);
        if !shared {
            return local;
        }
        match self.cache.counter(EPOCH_KEY).await {
            Ok(Some(c)) => local.max(c.value.max(0) as u64),
            _ => local,
        }
    }

    /// Whether none of `articles` changed after `epoch`, by what this instance heard and,
    /// when `shared`, by their shared generations.
    async fn still_fresh(&self, articles: &[i64], epoch: u64, shared: bool) -> bool {
        if !self.heard_before(articles, epoch) {
            return false;
        }
        if !shared || articles.is_empty() {
            return true;
        }
        let keys: Vec<String> = articles.iter().map(|id| generation_key(*id)).collect();
        match self.cache.counter_values(&keys).await {
            Ok(generations) => generations.iter().all(|g| (*g).max(0) as u64 <= epoch),
            // Unreachable: what this instance heard is all there is to go by.
            Err(_) => true,
        }
    }

    fn heard_before(&self, articles: &[i64], epoch: u64) -> bool {
        let heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        articles
            .iter()
            .all(|id| heard.get(id).is_none_or(|g| *g <= epoch))
    }

    /// Article `id` changed at `generation`: entries that show it and were built from an
    /// earlier epoch go.
    fn forget_article(&self, id: i64, generation: u64) {
        self.epoch.fetch_max(generation, Ordering::AcqRel);
        let overflow = {
            let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
            let g = heard.entry(id).or_insert(0);
            *g = (*g).max(generation);
            let overflow = heard.len() > HEARD_MAX;
            if overflow {
                heard.clear();
            }
            overflow
        };
        let mut l1 = self.l1.write().unwrap_or_else(|e| e.into_inner());
        if overflow {
            // Forgetting what was heard is safe only with nothing built before it kept.
            l1.clear();
        } else {
            l1.retain(|_, e| e.epoch >= generation || !e.articles.contains(&id));
        }
    }

    fn l1_get(&self, key: &str, version: u64) -> Option<Arc<PreparedBody>> {
        let l1 = self.l1.read().unwrap_or_else(|e| e.into_inner());
        l1.get(key)
            .filter(|e| e.version == version)
            .map(|e| e.body.clone())
    }

    /// Prepares `bytes` and keeps them for `key`, unless built under a version that is no
    /// longer current or from an epoch before a change of one of `articles`.
    fn l1_put(
        &self,
        key: &str,
        bytes: Bytes,
        version: u64,
        articles: Vec<i64>,
        epoch: u64,
    ) -> Arc<PreparedBody> {
        let body = Arc::new(PreparedBody::new(bytes));
        if self.version.load(Ordering::Acquire) != version {
            return body;
        }
        let mut l1 = self.l1.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the L1 lock: `forget_article` records what it heard before taking
        // it, so a change either is seen here or removes this entry after.
        if !self.heard_before(&articles, epoch) {
            return body;
        }
        if l1.len() >= L1_MAX_ENTRIES {
            l1.clear();
        }
        l1.insert(
            key.to_string(),
            L1Entry {
                body: body.clone(),
                version,
                articles: articles.into_boxed_slice(),
                epoch,
            },
        );
        body
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
            Ok(Change::Article { id, generation }) => inner.forget_article(id, generation),
            Ok(Change::Resync) | Err(RecvError::Lagged(_)) => {
                // Article changes may have been missed: keep nothing built before.
                inner.l1.write().unwrap_or_else(|e| e.into_inner()).clear();
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
