//! In-process backend: one map behind a mutex. Good for one instance; nothing here is
//! shared between processes.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::Counter;

/// Entries without a natural lifetime (pending view counts, rankings) live this long.
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Expired entries are dropped when read, and swept in bulk every this many writes so that
/// keys nobody reads again do not pile up.
const SWEEP_EVERY_WRITES: u64 = 1024;

#[derive(Clone)]
enum Value {
    Bytes(Bytes),
    Counter(i64),
    Set(HashSet<String>),
    /// Members sorted by score, highest first.
    Ranking(Vec<String>),
}

struct Entry {
    value: Value,
    expires_at: Instant,
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    writes: u64,
}

#[derive(Clone)]
pub struct MemoryCache {
    prefix: Arc<str>,
    store: Arc<Mutex<Store>>,
}

impl MemoryCache {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
            store: Arc::default(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store, Instant) -> T) -> T {
        // A panic while holding the lock cannot leave the map half-written in a way that
        // matters for a cache, so a poisoned lock is simply taken over.
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut store, Instant::now())
    }

    fn live<'a>(store: &'a mut Store, key: &str, now: Instant) -> Option<&'a mut Entry> {
        if store.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            store.entries.remove(key);
        }
        store.entries.get_mut(key)
    }

    fn insert(store: &mut Store, key: String, entry: Entry, now: Instant) {
        store.writes += 1;
        if store.writes.is_multiple_of(SWEEP_EVERY_WRITES) {
            store.entries.retain(|_, e| e.expires_at > now);
        }
        store.entries.insert(key, entry);
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let key = self.key(key);
        self.with_store(|store, now| match Self::live(store, &key, now) {
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) => Some(bytes.clone()),
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => Some(Bytes::from(n.to_string())),
            _ => None,
        })
    }

    pub fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let key = self.key(key);
        self.with_store(|store, now| {
            let entry = Entry {
                value: Value::Bytes(value),
                expires_at: now + ttl,
            };
            Self::insert(store, key, entry, now);
        });
    }

    pub fn delete(&self, key: &str) -> bool {
        let key = self.key(key);
        self.with_store(|store, now| {
            let existed = Self::live(store, &key, now).is_some();
            store.entries.remove(&key);
            existed
        })
    }

    pub fn incr(&self, key: &str, by: i64, ttl: Duration) -> Counter {
        let key = self.key(key);
        self.with_store(|store, now| {
            if let Some(entry) = Self::live(store, &key, now) {
                let value = match &entry.value {
                    Value::Counter(n) => n + by,
                    // Redis would refuse INCR on a non-integer; restarting the counter is
                    // the forgiving equivalent for a cache.
                    Value::Bytes(b) => {
                        std::str::from_utf8(b)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0)
                            + by
                    }
                    Value::Set(_) | Value::Ranking(_) => by,
                };
                entry.value = Value::Counter(value);
                return Counter {
                    value,
                    ttl: entry.expires_at.saturating_duration_since(now),
                };
            }
            let entry = Entry {
                value: Value::Counter(by),
                expires_at: now + ttl,
            };
            Self::insert(store, key, entry, now);
            Counter { value: by, ttl }
        })
    }

    pub fn counter(&self, key: &str) -> Option<Counter> {
        let key = self.key(key);
        self.with_store(|store, now| match Self::live(store, &key, now) {
            Some(Entry {
                value: Value::Counter(n),
                expires_at,
            }) => Some(Counter {
                value: *n,
                ttl: expires_at.saturating_duration_since(now),
            }),
            _ => None,
        })
    }

    pub fn try_lock(&self, key: &str, token: &str, lease: Duration) -> bool {
        let key = self.key(key);
        self.with_store(|store, now| {
            if Self::live(store, &key, now).is_some() {
                return false;
            }
            let entry = Entry {
                value: Value::Bytes(Bytes::copy_from_slice(token.as_bytes())),
                expires_at: now + lease,
            };
            Self::insert(store, key, entry, now);
            true
        })
    }

    pub fn unlock(&self, key: &str, token: &str) -> bool {
        let key = self.key(key);
        self.with_store(|store, now| {
            let holds = matches!(
                Self::live(store, &key, now),
                Some(Entry { value: Value::Bytes(b), .. }) if b.as_ref() == token.as_bytes()
            );
            if holds {
                store.entries.remove(&key);
            }
            holds
        })
    }

    /// If `marker` is new, sets it for `marker_ttl`, adds `by` to `counter` and `member` to
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
        self.with_store(|store, now| {
            if Self::live(store, &marker, now).is_some() {
                return false;
            }
            let entry = Entry {
                value: Value::Bytes(Bytes::from_static(b"1")),
                expires_at: now + marker_ttl,
            };
            Self::insert(store, marker, entry, now);
            match Self::live(store, &counter, now) {
                Some(Entry {
                    value: Value::Counter(n),
                    ..
                }) => *n += 1,
                _ => {
                    let entry = Entry {
                        value: Value::Counter(1),
                        expires_at: now + FOREVER,
                    };
                    Self::insert(store, counter, entry, now);
                }
            }
            match Self::live(store, &set, now) {
                Some(Entry {
                    value: Value::Set(members),
                    ..
                }) => {
                    members.insert(member.to_string());
                }
                _ => {
                    let members = HashSet::from([member.to_string()]);
                    let entry = Entry {
                        value: Value::Set(members),
                        expires_at: now + FOREVER,
                    };
                    Self::insert(store, set, entry, now);
                }
            }
            true
        })
    }

    /// Adds `by` to `counter` and `member` to `set` in one step (puts taken counts back).
    pub fn add_pending(&self, counter: &str, by: i64, set: &str, member: &str) {
        let (counter, set) = (self.key(counter), self.key(set));
        self.with_store(|store, now| {
            match Self::live(store, &counter, now) {
                Some(Entry {
                    value: Value::Counter(n),
                    ..
                }) => *n += by,
                _ => {
                    let entry = Entry {
                        value: Value::Counter(by),
                        expires_at: now + FOREVER,
                    };
                    Self::insert(store, counter, entry, now);
                }
            }
            match Self::live(store, &set, now) {
                Some(Entry {
                    value: Value::Set(members),
                    ..
                }) => {
                    members.insert(member.to_string());
                }
                _ => {
                    let entry = Entry {
                        value: Value::Set(HashSet::from([member.to_string()])),
                        expires_at: now + FOREVER,
                    };
                    Self::insert(store, set, entry, now);
                }
            }
        });
    }

    /// Removes and returns up to `max` members of a set.
    pub fn take_members(&self, set: &str, max: usize) -> Vec<String> {
        let set = self.key(set);
        self.with_store(|store, now| match Self::live(store, &set, now) {
            Some(Entry {
                value: Value::Set(members),
                ..
            }) => {
                let taken: Vec<String> = members.iter().take(max).cloned().collect();
                for m in &taken {
                    members.remove(m);
                }
                taken
            }
            _ => Vec::new(),
        })
    }

    /// Returns a counter's value and deletes it.
    pub fn take_counter(&self, key: &str) -> i64 {
        let key = self.key(key);
        self.with_store(|store, now| {
            let value = match Self::live(store, &key, now) {
                Some(Entry {
                    value: Value::Counter(n),
                    ..
                }) => *n,
                _ => 0,
            };
            store.entries.remove(&key);
            value
        })
    }

    /// Replaces a ranking with `members` (already ordered, best first).
    pub fn set_ranking(&self, key: &str, members: Vec<String>) {
        let key = self.key(key);
        self.with_store(|store, now| {
            let entry = Entry {
                value: Value::Ranking(members),
                expires_at: now + FOREVER,
            };
            Self::insert(store, key, entry, now);
        });
    }

    /// The first `n` members of a ranking; None when there is no ranking.
    pub fn ranking_top(&self, key: &str, n: usize) -> Option<Vec<String>> {
        let key = self.key(key);
        self.with_store(|store, now| match Self::live(store, &key, now) {
            Some(Entry {
                value: Value::Ranking(members),
                ..
            }) => Some(members.iter().take(n).cloned().collect()),
            _ => None,
        })
    }
}
