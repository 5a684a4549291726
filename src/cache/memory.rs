//! In-process backend. Good for one instance; nothing here is shared between processes.
//!
//! Entries live in a moka cache bounded by an approximate byte weight (`cache.memory_max_mb`),
//! so no client can grow the process by making us remember keys: past the capacity the least
//! recently used entries are evicted (LRU, so a new entry is always admitted: a just-taken
//! counter or lock is there when it is next read). Each entry carries its own expiry.
//! Operations take one mutex, as before, so that read-modify-write and the multi-key
//! `count_once` stay atomic; moka only stores, weighs, expires and evicts.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use bytes::Bytes;
use moka::{Expiry, policy::EvictionPolicy, sync::Cache as Moka};

use super::Counter;

/// Entries without a natural lifetime (pending view counts, rankings) live this long.
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Bookkeeping bytes counted per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 96;

enum Value {
    Bytes(Bytes),
    Counter(i64),
    Set(HashSet<String>),
    /// Members sorted by score, highest first.
    Ranking(Vec<String>),
    /// Small bounded sets by field (`spend_once`), each stored as its members joined by
    /// commas, as in Redis: a few dozen bytes per field rather than an entry per set.
    Slots(HashMap<Box<str>, Box<str>>),
}

impl Value {
    fn weight(&self) -> usize {
        match self {
            Self::Bytes(b) => b.len(),
            Self::Counter(_) => 8,
            Self::Set(m) => m.iter().map(|s| s.len() + 32).sum(),
            Self::Ranking(m) => m.iter().map(|s| s.len() + 24).sum(),
            Self::Slots(m) => m.iter().map(|(f, v)| f.len() + v.len() + 48).sum(),
        }
    }
}

/// One stored value. Mutated in place (counters, sets) under the cache's operation lock;
/// the inner mutex only makes that possible through moka's shared `Arc`.
struct Entry {
    value: Mutex<Value>,
    expires_at: Instant,
    weight: u32,
}

impl Entry {
    fn new(value: Value, expires_at: Instant) -> Arc<Self> {
        let weight = u32::try_from(value.weight() + ENTRY_OVERHEAD).unwrap_or(u32::MAX);
        Arc::new(Self {
            value: Mutex::new(value),
            expires_at,
            weight,
        })
    }

    fn value(&self) -> MutexGuard<'_, Value> {
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Each entry expires at its own `expires_at`.
struct PerEntryExpiry;

impl Expiry<String, Arc<Entry>> for PerEntryExpiry {
    fn expire_after_create(&self, _: &String, e: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(e.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        e: &Arc<Entry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(e.expires_at.saturating_duration_since(now))
    }
}

#[derive(Clone)]
pub struct MemoryCache {
    prefix: Arc<str>,
    entries: Moka<String, Arc<Entry>>,
    /// Serialises operations (see the module comment).
    ops: Arc<Mutex<()>>,
}

impl MemoryCache {
    /// A cache holding about `max_bytes` of keys and values at most.
    pub fn new(prefix: &str, max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, e: &Arc<Entry>| {
                e.weight
                    .saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
            })
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(PerEntryExpiry)
            .build();
        Self {
            prefix: prefix.into(),
            entries,
            ops: Arc::default(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave an entry half-written in a way that
        // matters for a cache, so a poisoned lock is simply taken over.
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry under `key` if it has not expired (moka drops expired entries lazily).
    fn live(&self, key: &str, now: Instant) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key)?;
        if entry.expires_at <= now {
            self.entries.invalidate(key);
            return None;
        }
        Some(entry)
    }

    fn put(&self, key: String, value: Value, expires_at: Instant) {
        self.entries.insert(key, Entry::new(value, expires_at));
    }

    /// Entries currently held (after pending evictions have run); for tests and metrics.
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let key = self.key(key);
        let _ops = self.lock();
        let entry = self.live(&key, Instant::now())?;
        match &*entry.value() {
            Value::Bytes(bytes) => Some(bytes.clone()),
            Value::Counter(n) => Some(Bytes::from(n.to_string())),
            _ => None,
        }
    }

    pub fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let key = self.key(key);
        let _ops = self.lock();
        self.put(key, Value::Bytes(value), Instant::now() + ttl);
    }

    pub fn delete(&self, key: &str) -> bool {
        let key = self.key(key);
        let _ops = self.lock();
        let existed = self.live(&key, Instant::now()).is_some();
        self.entries.invalidate(&key);
        existed
    }

    pub fn incr(&self, key: &str, by: i64, ttl: Duration) -> Counter {
        let key = self.key(key);
        let _ops = self.lock();
        let now = Instant::now();
        if let Some(entry) = self.live(&key, now) {
            let mut value = entry.value();
            let n = match &*value {
                Value::Counter(n) => n + by,
                // Redis would refuse INCR on a non-integer; restarting the counter is the
                // forgiving equivalent for a cache.
                Value::Bytes(b) => {
                    std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0)
                        + by
                }
                Value::Set(_) | Value::Ranking(_) | Value::Slots(_) => by,
            };
            *value = Value::Counter(n);
            return Counter {
                value: n,
                ttl: entry.expires_at.saturating_duration_since(now),
            };
        }
        self.put(key, Value::Counter(by), now + ttl);
        Counter { value: by, ttl }
    }

    pub fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> i64 {
        let current = self.counter(key).map_or(0, |c| c.value);
        if value <= current {
            return current;
        }
        let key = self.key(key);
        let _ops = self.lock();
        // Re-read under the lock: another writer may have raised it meanwhile.
        let now = Instant::now();
        let current = match self.live(&key, now).map(|e| match &*e.value() {
            Value::Counter(n) => *n,
            _ => 0,
        }) {
            Some(n) if n >= value => return n,
            _ => value,
        };
        self.put(key, Value::Counter(current), now + ttl);
        current
    }

    pub fn counter(&self, key: &str) -> Option<Counter> {
        let key = self.key(key);
        let _ops = self.lock();
        let now = Instant::now();
        let entry = self.live(&key, now)?;
        match &*entry.value() {
            Value::Counter(n) => Some(Counter {
                value: *n,
                ttl: entry.expires_at.saturating_duration_since(now),
            }),
            _ => None,
        }
    }

    pub fn try_lock(&self, key: &str, token: &str, lease: Duration) -> bool {
        let key = self.key(key);
        let _ops = self.lock();
        let now = Instant::now();
        if self.live(&key, now).is_some() {
            return false;
        }
        let token = Bytes::copy_from_slice(token.as_bytes());
        self.put(key, Value::Bytes(token), now + lease);
        true
    }

    pub fn unlock(&self, key: &str, token: &str) -> bool {
        let key = self.key(key);
        let _ops = self.lock();
        let holds = self.live(&key, Instant::now()).is_some_and(
            |e| matches!(&*e.value(), Value::Bytes(b) if b.as_ref() == token.as_bytes()),
        );
        if holds {
            self.entries.invalidate(&key);
        }
        holds
    }

    /// If `marker` is new, sets it for `marker_ttl`, adds 1 to `counter` and `member` to
    /// `set`; true when the marker was new.
    pub fn count_once(
        &self,
        marker: &str,
        marker_ttl: Duration,
        counter: &str,
        set: &str,
        member: &str,
    ) -> bool {
        let (marker, counter, set) = (self.key(marker), self.key(counter), self.key(set));
        let _ops = self.lock();
        let now = Instant::now();
        if self.live(&marker, now).is_some() {
            return false;
        }
        self.put(
            marker,
            Value::Bytes(Bytes::from_static(b"1")),
            now + marker_ttl,
        );
        self.add_locked(counter, 1, set, member, now);
        true
    }

    /// Adds `by` to `counter` and `member` to `set` in one step (puts taken counts back).
    pub fn add_pending(&self, counter: &str, by: i64, set: &str, member: &str) {
        let (counter, set) = (self.key(counter), self.key(set));
        let _ops = self.lock();
        self.add_locked(counter, by, set, member, Instant::now());
    }

    /// `add_pending` for a caller holding the operation lock.
    fn add_locked(&self, counter: String, by: i64, set: String, member: &str, now: Instant) {
        let counted = self.live(&counter, now).is_some_and(|e| {
            let mut value = e.value();
            match &mut *value {
                Value::Counter(n) => {
                    *n += by;
                    true
                }
                _ => false,
            }
        });
        if !counted {
            self.put(counter, Value::Counter(by), now + FOREVER);
        }
        let added = self.live(&set, now).is_some_and(|e| {
            let mut value = e.value();
            match &mut *value {
                Value::Set(members) => {
                    members.insert(member.to_string());
                    true
                }
                _ => false,
            }
        });
        if !added {
            let members = HashSet::from([member.to_string()]);
            self.put(set, Value::Set(members), now + FOREVER);
        }
    }

    /// In the bounded set at `field` of `key`: true when `member` is in it, or was added
    /// because it held fewer than `cap` members; false when it is full without `member`.
    /// A new `key` lives for `ttl`.
    pub fn spend_once(
        &self,
        key: &str,
        field: &str,
        member: &str,
        cap: u32,
        ttl: Duration,
    ) -> bool {
        let key = self.key(key);
        let _ops = self.lock();
        let now = Instant::now();
        let Some(entry) = self.live(&key, now) else {
            let slots = HashMap::from([(field.into(), member.into())]);
            self.put(key, Value::Slots(slots), now + ttl);
            return true;
        };
        let mut value = entry.value();
        let Value::Slots(slots) = &mut *value else {
            drop(value);
            let slots = HashMap::from([(field.into(), member.into())]);
            self.put(key, Value::Slots(slots), now + ttl);
            return true;
        };
        let members = slots.get(field).map_or("", |m| &**m);
        if members.split(',').any(|m| m == member) {
            return true;
        }
        let taken = if members.is_empty() {
            0
        } else {
            members.split(',').count()
        };
        if taken >= cap as usize {
            return false;
        }
        let joined = if members.is_empty() {
            member.into()
        } else {
            format!("{members},{member}").into_boxed_str()
        };
        let grew = !slots.contains_key(field);
        slots.insert(field.into(), joined);
        // The weight moka bounds is taken when an entry is stored: store the map again as
        // it doubles, so a growing map counts against the capacity like many entries would.
        let fields = slots.len();
        if grew && fields >= 64 && fields.is_power_of_two() {
            let value = std::mem::replace(&mut *value, Value::Counter(0));
            self.put(key, value, entry.expires_at);
        }
        true
    }

    /// Takes `member` out of the bounded set at `field` of `key`; true when it was there.
    pub fn unspend(&self, key: &str, field: &str, member: &str) -> bool {
        let key = self.key(key);
        let _ops = self.lock();
        let Some(entry) = self.live(&key, Instant::now()) else {
            return false;
        };
        let mut value = entry.value();
        let Value::Slots(slots) = &mut *value else {
            return false;
        };
        let Some(members) = slots.get(field) else {
            return false;
        };
        let rest: Vec<&str> = members.split(',').filter(|m| *m != member).collect();
        if rest.len() == members.split(',').count() {
            return false;
        }
        if rest.is_empty() {
            slots.remove(field);
        } else {
            let joined = rest.join(",").into_boxed_str();
            slots.insert(field.into(), joined);
        }
        true
    }

    /// How many members the bounded set at `field` of `key` holds.
    pub fn spent(&self, key: &str, field: &str) -> u32 {
        let key = self.key(key);
        let _ops = self.lock();
        self.live(&key, Instant::now())
            .map_or(0, |e| match &*e.value() {
                Value::Slots(slots) => slots.get(field).map_or(0, |m| m.split(',').count() as u32),
                _ => 0,
            })
    }

    /// Removes and returns up to `max` members of a set.
    pub fn take_members(&self, set: &str, max: usize) -> Vec<String> {
        let set = self.key(set);
        let _ops = self.lock();
        let Some(entry) = self.live(&set, Instant::now()) else {
            return Vec::new();
        };
        let mut value = entry.value();
        match &mut *value {
            Value::Set(members) => {
                let taken: Vec<String> = members.iter().take(max).cloned().collect();
                for m in &taken {
                    members.remove(m);
                }
                taken
            }
            _ => Vec::new(),
        }
    }

    /// Returns a counter's value and deletes it.
    pub fn take_counter(&self, key: &str) -> i64 {
        let key = self.key(key);
        let _ops = self.lock();
        let value = self
            .live(&key, Instant::now())
            .map_or(0, |e| match &*e.value() {
                Value::Counter(n) => *n,
                _ => 0,
            });
        self.entries.invalidate(&key);
        value
    }

    /// Replaces a ranking with `members` (already ordered, best first).
    pub fn set_ranking(&self, key: &str, members: Vec<String>) {
        let key = self.key(key);
        let _ops = self.lock();
        self.put(key, Value::Ranking(members), Instant::now() + FOREVER);
    }

    /// The first `n` members of a ranking; None when there is no ranking.
    pub fn ranking_top(&self, key: &str, n: usize) -> Option<Vec<String>> {
        let key = self.key(key);
        let _ops = self.lock();
        let entry = self.live(&key, Instant::now())?;
        match &*entry.value() {
            Value::Ranking(members) => Some(members.iter().take(n).cloned().collect()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_more_entries_than_the_capacity_keep_the_cache_bounded() {
        // Room for roughly 100 small counters.
        let cache = MemoryCache::new("t:", 100 * (ENTRY_OVERHEAD as u64 + 40));
        for i in 0..20_000 {
            cache.incr(&format!("rl:login:ip:{i}"), 1, Duration::from_secs(60));
        }
        let count = cache.entry_count();
        assert!(count <= 110, "{count} entries held");
        // The newest entries are the ones kept (LRU admits every new entry).
        assert_eq!(cache.counter("rl:login:ip:19999").map(|c| c.value), Some(1));
    }

    #[test]
    fn a_bounded_set_admits_each_member_once_up_to_its_cap() {
        let cache = MemoryCache::new("t:", 1 << 20);
        let day = Duration::from_secs(60);
        assert!(cache.spend_once("cap", "7", "c1", 2, day));
        assert!(
            cache.spend_once("cap", "7", "c1", 2, day),
            "already in: no second slot"
        );
        assert_eq!(cache.spent("cap", "7"), 1);
        assert!(cache.spend_once("cap", "7", "c2", 2, day));
        assert!(!cache.spend_once("cap", "7", "c3", 2, day), "full");
        assert!(
            cache.spend_once("cap", "8", "c3", 2, day),
            "another field has its own"
        );
        assert!(cache.unspend("cap", "7", "c1"));
        assert!(!cache.unspend("cap", "7", "c1"), "already out");
        assert_eq!(cache.spent("cap", "7"), 1);
        assert!(
            cache.spend_once("cap", "7", "c3", 2, day),
            "a slot came free"
        );
        assert!(cache.unspend("cap", "8", "c3"));
        assert_eq!(cache.spent("cap", "8"), 0);
    }

    #[test]
    fn a_growing_bounded_set_map_keeps_its_fields_when_stored_again() {
        let cache = MemoryCache::new("t:", 1 << 24);
        for field in 0..1000 {
            assert!(cache.spend_once("cap", &field.to_string(), "c1", 1, Duration::from_secs(60)));
        }
        for field in 0..1000 {
            assert_eq!(cache.spent("cap", &field.to_string()), 1, "field {field}");
        }
    }

    #[test]
    fn entries_expire_at_their_own_ttl() {
        let cache = MemoryCache::new("t:", 1 << 20);
        cache.set("short", Bytes::from_static(b"a"), Duration::from_millis(30));
        cache.set("long", Bytes::from_static(b"b"), Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("short"), None);
        assert_eq!(cache.get("long"), Some(Bytes::from_static(b"b")));
    }
}
