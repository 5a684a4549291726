//! The Cache (DESIGN.md §5): Redis when configured, an in-process map otherwise, behind one
//! small interface. Keys are namespaced with `cache.key_prefix` so several deployments (and
//! parallel test runs) can share one Redis.

mod local_counters;
mod memory;
pub mod read_through;
mod redis_backend;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::config::CacheSettings;
use local_counters::LocalCounters;

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

/// A change announced between instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Cached reads older than this version are stale.
    Version(u64),
    /// The signal was interrupted (Redis reconnected): re-read the current version.
    Resync,
    /// What article `id` shows (its counts) changed at `generation`: cached reads that
    /// include it and were built before that generation are stale.
    Article { id: i64, generation: u64 },
}

impl Change {
    fn encode(self) -> Option<String> {
        match self {
            Self::Version(v) => Some(v.to_string()),
            Self::Article { id, generation } => Some(format!("a:{id}:{generation}")),
            Self::Resync => None,
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        match payload.strip_prefix("a:") {
            Some(rest) => {
                let (id, generation) = rest.split_once(':')?;
                Some(Self::Article {
                    id: id.parse().ok()?,
                    generation: generation.parse().ok()?,
                })
            }
            None => payload.parse().ok().map(Self::Version),
        }
    }
}

const CHANGES_CHANNEL: &str = "changes";

#[derive(Clone)]
enum Backend {
    Memory(MemoryCache),
    Redis(RedisCache),
}

#[derive(Clone)]
pub struct Cache {
    backend: Backend,
    changes: Arc<broadcast::Sender<Change>>,
    /// Markers of `count_once` known to be set, and until when: repeats skip the backend.
    known_markers: Arc<Mutex<HashMap<String, Instant>>>,
    /// Stand-in counters for `incr_or_local` while Redis is down.
    local_counters: Arc<LocalCounters>,
}

/// How long a marker that a peer set (remaining lifetime unknown) is remembered.
const PEER_MARKER_MEMO: Duration = Duration::from_secs(60);
const MAX_KNOWN_MARKERS: usize = 100_000;

impl Cache {
    /// Builds the configured backend. Never fails because Redis is down: the Redis backend
    /// connects lazily and reconnects on its own (see `RedisCache`). With Redis, a task
    /// relays change signals from the other instances (it needs a tokio runtime).
    pub fn from_settings(settings: &CacheSettings) -> Result<Self, CacheError> {
        let changes = Arc::new(broadcast::channel(64).0);
        let backend = match &settings.redis_url {
            Some(url) => {
                let redis = RedisCache::new(url, &settings.key_prefix)?;
                tokio::spawn(relay_changes(redis.clone(), Arc::downgrade(&changes)));
                Backend::Redis(redis)
            }
            None => Backend::Memory(MemoryCache::new(
                &settings.key_prefix,
                settings.memory_max_bytes(),
            )),
        };
        // Rate-limit counters are small: a tenth of the budget is plenty for an outage.
        let local_counters =
            LocalCounters::new(&settings.key_prefix, settings.memory_max_bytes() / 10 + 1);
        Ok(Self {
            backend,
            changes,
            known_markers: Arc::default(),
            local_counters: Arc::new(local_counters),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Failed cache commands since start.
    pub fn error_count(&self) -> u64 {
        match &self.backend {
            Backend::Memory(_) => 0,
            Backend::Redis(c) => c.error_count(),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.get(key)),
            Backend::Redis(c) => c.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Memory(c) => {
                c.set(key, Bytes::copy_from_slice(value), ttl);
                Ok(())
            }
            Backend::Redis(c) => c.set(key, value, ttl).await,
        }
    }

    /// Removes a key; true when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.delete(key)),
            Backend::Redis(c) => c.delete(key).await,
        }
    }

    /// Adds `by` to a counter. A new counter lives for `ttl` (a fixed window: later
    /// increments do not extend it).
    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<Counter, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.incr(key, by, ttl)),
            Backend::Redis(c) => c.incr(key, by, ttl).await,
        }
    }

    /// Like `incr`, but never fails: while the shared cache is unavailable the count is
    /// taken on per-instance counters instead (limits must not fail open in an outage).
    pub async fn incr_or_local(&self, key: &str, by: i64, ttl: Duration) -> Counter {
        match self.incr(key, by, ttl).await {
            Ok(counter) => {
                self.local_counters.shared_ok();
                counter
            }
            Err(err) => self.local_counters.incr_after(&err, key, by, ttl),
        }
    }

    /// A slot of a small quota, taken at most once per `member`: in the bounded set at
    /// `field` of `key` (a hash, so a day's quotas of many fields are one key), true when
    /// `member` holds a slot already or took one of the `cap`; false when all are taken.
    /// A new `key` lives for `ttl`. `member` must not contain a comma. Never fails: while
    /// the shared cache is unavailable it counts per instance (a cap must not fail open).
    pub async fn spend_once_or_local(
        &self,
        key: &str,
        field: &str,
        member: &str,
        cap: u32,
        ttl: Duration,
    ) -> bool {
        debug_assert!(!member.contains(','));
        let spent = match &self.backend {
            Backend::Memory(c) => Ok(c.spend_once(key, field, member, cap, ttl)),
            Backend::Redis(c) => c.spend_once(key, field, member, cap, ttl).await,
        };
        match spent {
            Ok(spent) => {
                self.local_counters.shared_ok();
                spent
            }
            Err(err) => self
                .local_counters
                .spend_once_after(&err, key, field, member, cap, ttl),
        }
    }

    /// Gives back `member`'s slot taken with `spend_once_or_local` (here or, during an
    /// outage, on the local stand-in); true when it held one.
    pub async fn unspend_or_local(&self, key: &str, field: &str, member: &str) -> bool {
        let local = self.local_counters.unspend(key, field, member);
        let shared = match &self.backend {
            Backend::Memory(c) => c.unspend(key, field, member),
            Backend::Redis(c) => c.unspend(key, field, member).await.unwrap_or(false),
        };
        local || shared
    }

    /// How many slots of the quota at `field` of `key` are taken.
    pub async fn spent(&self, key: &str, field: &str) -> Result<u32, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.spent(key, field)),
            Backend::Redis(c) => c.spent(key, field).await,
        }
    }

    /// Outages of the shared cache that `incr_or_local` has bridged since start.
    pub fn counter_outages(&self) -> u64 {
        self.local_counters.outages()
    }

    /// A counter's current value and remaining window, None when absent or expired.
    pub async fn counter(&self, key: &str) -> Result<Option<Counter>, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.counter(key)),
            Backend::Redis(c) => c.counter(key).await,
        }
    }

    /// Takes the lock `key` for `lease` if nobody holds it.
    pub async fn try_lock(
        &self,
        key: &str,
        lease: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let token = LockToken::new();
        let taken = match &self.backend {
            Backend::Memory(c) => c.try_lock(key, token.as_str(), lease),
            Backend::Redis(c) => c.try_lock(key, token.as_str(), lease).await?,
        };
        Ok(taken.then_some(token))
    }

    /// Releases the lock if `token` still holds it; false when the lease had passed to
    /// someone else (or expired).
    pub async fn unlock(&self, key: &str, token: &LockToken) -> Result<bool, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.unlock(key, token.as_str())),
            Backend::Redis(c) => c.unlock(key, token.as_str()).await,
        }
    }

    /// Sets `key` to `value` for `ttl` only if it is absent (SET NX PX); true when set.
    /// Marks something as seen once across instances.
    pub async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.try_lock(key, value, ttl)),
            Backend::Redis(c) => c.try_lock(key, value, ttl).await,
        }
    }

    /// Deletes `key` only if it still holds `expected` (compare-and-delete); true if deleted.
    /// Used to drop a shared credential without clobbering one a peer just refreshed.
    pub async fn delete_if_equals(&self, key: &str, expected: &str) -> Result<bool, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.unlock(key, expected)),
            Backend::Redis(c) => c.unlock(key, expected).await,
        }
    }

    /// In one step: if `marker` is absent, set it for `marker_ttl`, add 1 to `counter` and
    /// `member` to `set`. True when the marker was absent (the event counted).
    pub async fn count_once(
        &self,
        marker: &str,
        marker_ttl: Duration,
        counter: &str,
        set: &str,
        member: &str,
    ) -> Result<bool, CacheError> {
        let now = Instant::now();
        if self
            .known_markers()
            .get(marker)
            .is_some_and(|until| *until > now)
        {
            return Ok(false);
        }
        let counted = match &self.backend {
            Backend::Memory(c) => c.count_once(marker, marker_ttl, counter, set, member),
            Backend::Redis(c) => {
                c.count_once(marker, marker_ttl, counter, set, member)
                    .await?
            }
        };
        // Our own marker lives exactly `marker_ttl`; a peer's, we only know it exists now.
        let until = now
            + if counted {
                marker_ttl
            } else {
                PEER_MARKER_MEMO.min(marker_ttl)
            };
        let mut known = self.known_markers();
        if known.len() >= MAX_KNOWN_MARKERS {
            known.retain(|_, t| *t > now);
            if known.len() >= MAX_KNOWN_MARKERS {
                known.clear();
            }
        }
        known.insert(marker.to_string(), until);
        Ok(counted)
    }

    fn known_markers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.known_markers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// In one step: adds `by` to `counter` and `member` to `set` (the inverse of taking
    /// them, for counts that could not be written elsewhere).
    pub async fn add_pending(
        &self,
        counter: &str,
        by: i64,
        set: &str,
        member: &str,
    ) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Memory(c) => {
                c.add_pending(counter, by, set, member);
                Ok(())
            }
            Backend::Redis(c) => c.add_pending(counter, by, set, member).await,
        }
    }

    /// Removes and returns up to `max` members of a set.
    pub async fn take_members(&self, set: &str, max: usize) -> Result<Vec<String>, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.take_members(set, max)),
            Backend::Redis(c) => c.take_members(set, max).await,
        }
    }

    /// Returns a counter's value (0 when absent) and deletes it, atomically.
    pub async fn take_counter(&self, key: &str) -> Result<i64, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.take_counter(key)),
            Backend::Redis(c) => c.take_counter(key).await,
        }
    }

    /// Replaces a ranking (a sorted set in Redis) with `members`, best first.
    pub async fn set_ranking(&self, key: &str, members: Vec<String>) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Memory(c) => {
                c.set_ranking(key, members);
                Ok(())
            }
            Backend::Redis(c) => c.set_ranking(key, members).await,
        }
    }

    /// The best `n` members of a ranking; None when no ranking is stored.
    pub async fn ranking_top(
        &self,
        key: &str,
        n: usize,
    ) -> Result<Option<Vec<String>>, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.ranking_top(key, n)),
            Backend::Redis(c) => c.ranking_top(key, n).await,
        }
    }

    /// Announces a new version to this instance at once and to the others through Redis.
    pub async fn publish_change(&self, version: u64) -> Result<(), CacheError> {
        self.announce(Change::Version(version)).await
    }

    /// Announces `change` to this instance at once and to the others through Redis.
    pub async fn announce(&self, change: Change) -> Result<(), CacheError> {
        let _ = self.changes.send(change);
        match (&self.backend, change.encode()) {
            (Backend::Redis(c), Some(payload)) => c.publish(CHANGES_CHANNEL, &payload).await,
            _ => Ok(()),
        }
    }

    /// Raises counter `key` to `value` unless it is already at or past it; returns the
    /// value after. Concurrent raises never move it backwards.
    pub async fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> Result<i64, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(c.raise_to(key, value, ttl)),
            Backend::Redis(c) => c.raise_to(key, value, ttl).await,
        }
    }

    /// The values of counters `keys` in one round trip (0 for an absent one).
    pub async fn counter_values(&self, keys: &[String]) -> Result<Vec<i64>, CacheError> {
        match &self.backend {
            Backend::Memory(c) => Ok(keys
                .iter()
                .map(|k| c.counter(k).map_or(0, |v| v.value))
                .collect()),
            Backend::Redis(c) => c.counter_values(keys).await,
        }
    }

    /// Changes announced by any instance (this one included).
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Reachability check for `/readyz`.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(c) => c.ping().await,
        }
    }
}

/// Relays the Redis change channel into the local broadcast until the Cache is dropped,
/// reconnecting after failures (and asking subscribers to resync after each reconnect,
/// since messages sent meanwhile were lost).
async fn relay_changes(redis: RedisCache, changes: Weak<broadcast::Sender<Change>>) {
    let channel = redis.prefixed(CHANGES_CHANNEL);
    let mut first = true;
    loop {
        if changes.strong_count() == 0 {
            return;
        }
        let connected =
            tokio::time::timeout(Duration::from_secs(2), redis.client().get_async_pubsub()).await;
        let mut pubsub = match connected {
            Ok(Ok(p)) => p,
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if pubsub.subscribe(&channel).await.is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if !first && let Some(tx) = changes.upgrade() {
            let _ = tx.send(Change::Resync);
        }
        first = false;
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Some(tx) = changes.upgrade() else { return };
            if let Ok(payload) = msg.get_payload::<String>()
                && let Some(change) = Change::decode(&payload)
            {
                let _ = tx.send(change);
            }
        }
        // The connection dropped: reconnect.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
