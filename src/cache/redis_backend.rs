//! Redis backend on redis 1.x's ConnectionManager, wrapped because the manager cannot be
//! built while Redis is down and does not retry a failed command: we connect lazily, drop a
//! broken manager, and try again at most once per `RECONNECT_INTERVAL` so that an outage
//! costs callers a fast error, not a connect timeout per request.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use redis::{AsyncCommands, Script, aio::ConnectionManager, aio::ConnectionManagerConfig};

use super::{CacheError, Counter};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// INCRBY, and start the window on the first increment. Returns {value, pttl}.
const INCR_SCRIPT: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {v, ttl}
";

/// Set a marker if absent; when it was absent, count and remember the member. Returns 1/0.
const COUNT_ONCE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('INCR', KEYS[2])
  redis.call('SADD', KEYS[3], ARGV[2])
  return 1
end
return 0
";

/// Raise a counter to ARGV[1] unless it is already there or past it (a maximum that
/// concurrent writers cannot move backwards). Returns the value after.
const RAISE_SCRIPT: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local v = tonumber(ARGV[1])
if v > c then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return v end
return c
";

/// In hash KEYS[1], the field ARGV[1] holds a bounded set of members joined by commas:
/// 1 when ARGV[2] is in it or was added (fewer than ARGV[3] members), else 0. A new hash
/// lives ARGV[4] ms.
const SPEND_ONCE_SCRIPT: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
local n = 0
if v then
  for m in string.gmatch(v, '[^,]+') do
    if m == ARGV[2] then return 1 end
    n = n + 1
  end
end
if n >= tonumber(ARGV[3]) then return 0 end
if v then v = v .. ',' .. ARGV[2] else v = ARGV[2] end
redis.call('HSET', KEYS[1], ARGV[1], v)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
";

/// Takes ARGV[2] out of the bounded set at field ARGV[1] of hash KEYS[1]; 1 when it was in.
const UNSPEND_SCRIPT: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local rest, found = {}, 0
for m in string.gmatch(v, '[^,]+') do
  if m == ARGV[2] then found = 1 else rest[#rest + 1] = m end
end
if found == 0 then return 0 end
if #rest == 0 then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], table.concat(rest, ',')) end
return 1
";

/// Compare-and-delete: release a lock only if we still hold it.
const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

#[derive(Default)]
struct State {
    manager: Option<ConnectionManager>,
    last_attempt: Option<Instant>,
}

#[derive(Clone)]
pub struct RedisCache {
    client: redis::Client,
    prefix: Arc<str>,
    state: Arc<Mutex<State>>,
    connecting: Arc<tokio::sync::Mutex<()>>,
    incr_script: Arc<Script>,
    unlock_script: Arc<Script>,
    count_once_script: Arc<Script>,
    raise_script: Arc<Script>,
    spend_once_script: Arc<Script>,
    unspend_script: Arc<Script>,
    errors: Arc<AtomicU64>,
}

fn command_error(err: redis::RedisError) -> CacheError {
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
    {
        CacheError::Unavailable(err.to_string())
    } else {
        CacheError::Command(err.to_string())
    }
}

impl RedisCache {
    pub fn new(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)
            .map_err(|e| CacheError::Unavailable(format!("bad redis url: {e}")))?;
        Ok(Self {
            client,
            prefix: prefix.into(),
            state: Arc::default(),
            connecting: Arc::default(),
            incr_script: Arc::new(Script::new(INCR_SCRIPT)),
            unlock_script: Arc::new(Script::new(UNLOCK_SCRIPT)),
            count_once_script: Arc::new(Script::new(COUNT_ONCE_SCRIPT)),
            raise_script: Arc::new(Script::new(RAISE_SCRIPT)),
            spend_once_script: Arc::new(Script::new(SPEND_ONCE_SCRIPT)),
            unspend_script: Arc::new(Script::new(UNSPEND_SCRIPT)),
            errors: Arc::default(),
        })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Full key of `key` (with the prefix), for pub/sub channel names.
    pub fn prefixed(&self, key: &str) -> String {
        self.key(key)
    }

    /// Failed commands since start (for metrics).
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        if let Some(manager) = &self.lock_state().manager {
            return Ok(manager.clone());
        }
        let _connecting = self.connecting.lock().await;
        {
            let mut state = self.lock_state();
            if let Some(manager) = &state.manager {
                return Ok(manager.clone());
            }
            if state
                .last_attempt
                .is_some_and(|t| t.elapsed() < RECONNECT_INTERVAL)
            {
                return Err(CacheError::Unavailable(
                    "redis is down (retrying soon)".into(),
                ));
            }
            state.last_attempt = Some(Instant::now());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let manager = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| CacheError::Unavailable("redis connect timed out".into()))?
        .map_err(command_error)?;
        self.lock_state().manager = Some(manager.clone());
        Ok(manager)
    }

    /// Runs a command; when the connection is broken, forget the manager so that the next
    /// call reconnects.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = match self.connection().await {
            Ok(conn) => conn,
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                return Err(err);
            }
        };
        match f(conn).await {
            Ok(value) => Ok(value),
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let err = command_error(err);
                if matches!(err, CacheError::Unavailable(_)) {
                    let mut state = self.lock_state();
                    if state.manager.take().is_some() {
                        // Logged once per outage; later failures only count.
                        tracing::warn!(%err, "redis connection lost; serving without it until it returns");
                    }
                    state.last_attempt = Some(Instant::now());
                }
                Err(err)
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move {
            let value: Option<Vec<u8>> = c.get(key).await?;
            Ok(value.map(Bytes::from))
        })
        .await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(key);
        let millis = ttl.as_millis().max(1) as u64;
        self.run(|mut c| async move { c.pset_ex(key, value, millis).await })
            .await
    }

    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move {
            let removed: i64 = c.del(key).await?;
            Ok(removed > 0)
        })
        .await
    }

    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<Counter, CacheError> {
        let key = self.key(key);
        let millis = ttl.as_millis().max(1) as u64;
        let script = self.incr_script.clone();
        self.run(|mut c| async move {
            let (value, pttl): (i64, i64) = script
                .key(key)
                .arg(by)
                .arg(millis)
                .invoke_async(&mut c)
                .await?;
            Ok(Counter {
                value,
                ttl: Duration::from_millis(pttl.max(0) as u64),
            })
        })
        .await
    }

    pub async fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> Result<i64, CacheError> {
        let key = self.key(key);
        let millis = ttl.as_millis().max(1) as u64;
        let script = self.raise_script.clone();
        self.run(|mut c| async move {
            script
                .key(key)
                .arg(value)
                .arg(millis)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    pub async fn counter_values(&self, keys: &[String]) -> Result<Vec<i64>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.run(|mut c| async move {
            let values: Vec<Option<i64>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut c).await?;
            Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
        })
        .await
    }

    pub async fn counter(&self, key: &str) -> Result<Option<Counter>, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move {
            let (value, pttl): (Option<i64>, i64) = redis::pipe()
                .get(&key)
                .pttl(&key)
                .query_async(&mut c)
                .await?;
            Ok(value.map(|value| Counter {
                value,
                ttl: Duration::from_millis(pttl.max(0) as u64),
            }))
        })
        .await
    }

    pub async fn try_lock(
        &self,
        key: &str,
        token: &str,
        lease: Duration,
    ) -> Result<bool, CacheError> {
        let key = self.key(key);
        let millis = lease.as_millis().max(1) as u64;
        self.run(|mut c| async move {
            let reply: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(millis)
                .query_async(&mut c)
                .await?;
            Ok(reply.is_some())
        })
        .await
    }

    pub async fn unlock(&self, key: &str, token: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        let script = self.unlock_script.clone();
        self.run(|mut c| async move {
            let removed: i64 = script.key(key).arg(token).invoke_async(&mut c).await?;
            Ok(removed > 0)
        })
        .await
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        self.run(|mut c| async move {
            let _: String = redis::cmd("PING").query_async(&mut c).await?;
            Ok(())
        })
        .await
    }

    pub async fn count_once(
        &self,
        marker: &str,
        marker_ttl: Duration,
        counter: &str,
        set: &str,
        member: &str,
    ) -> Result<bool, CacheError> {
        let keys = [self.key(marker), self.key(counter), self.key(set)];
        let millis = marker_ttl.as_millis().max(1) as u64;
        let member = member.to_string();
        let script = self.count_once_script.clone();
        self.run(|mut c| async move {
            let counted: i64 = script
                .key(&keys[0])
                .key(&keys[1])
                .key(&keys[2])
                .arg(millis)
                .arg(member)
                .invoke_async(&mut c)
                .await?;
            Ok(counted == 1)
        })
        .await
    }

    pub async fn spend_once(
        &self,
        key: &str,
        field: &str,
        member: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let key = self.key(key);
        let millis = ttl.as_millis().max(1) as u64;
        let (field, member) = (field.to_string(), member.to_string());
        let script = self.spend_once_script.clone();
        self.run(|mut c| async move {
            let spent: i64 = script
                .key(key)
                .arg(field)
                .arg(member)
                .arg(cap)
                .arg(millis)
                .invoke_async(&mut c)
                .await?;
            Ok(spent == 1)
        })
        .await
    }

    pub async fn unspend(&self, key: &str, field: &str, member: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        let (field, member) = (field.to_string(), member.to_string());
        let script = self.unspend_script.clone();
        self.run(|mut c| async move {
            let removed: i64 = script
                .key(key)
                .arg(field)
                .arg(member)
                .invoke_async(&mut c)
                .await?;
            Ok(removed == 1)
        })
        .await
    }

    pub async fn spent(&self, key: &str, field: &str) -> Result<u32, CacheError> {
        let key = self.key(key);
        let field = field.to_string();
        self.run(|mut c| async move {
            let v: Option<String> = c.hget(key, field).await?;
            Ok(v.map_or(0, |v| v.split(',').filter(|m| !m.is_empty()).count() as u32))
        })
        .await
    }

    pub async fn add_pending(
        &self,
        counter: &str,
        by: i64,
        set: &str,
        member: &str,
    ) -> Result<(), CacheError> {
        let (counter, set) = (self.key(counter), self.key(set));
        let member = member.to_string();
        self.run(|mut c| async move {
            let _: () = redis::pipe()
                .atomic()
                .incr(&counter, by)
                .ignore()
                .sadd(&set, &member)
                .ignore()
                .query_async(&mut c)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn take_members(&self, set: &str, max: usize) -> Result<Vec<String>, CacheError> {
        let key = self.key(set);
        self.run(|mut c| async move {
            let members: Vec<String> = redis::cmd("SPOP")
                .arg(key)
                .arg(max)
                .query_async(&mut c)
                .await?;
            Ok(members)
        })
        .await
    }

    pub async fn take_counter(&self, key: &str) -> Result<i64, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move {
            let value: Option<i64> = redis::cmd("GETDEL").arg(key).query_async(&mut c).await?;
            Ok(value.unwrap_or(0))
        })
        .await
    }

    /// Replaces the ranking atomically: built under a temporary key, then renamed.
    pub async fn set_ranking(&self, key: &str, members: Vec<String>) -> Result<(), CacheError> {
        let key = self.key(key);
        let tmp = format!("{key}:building:{}", uuid::Uuid::new_v4().simple());
        self.run(|mut c| async move {
            if members.is_empty() {
                let _: () = c.del(&key).await?;
                return Ok(());
            }
            let total = members.len();
            // Scores encode the given order: the first member gets the highest score.
            let scored: Vec<(f64, String)> = members
                .into_iter()
                .enumerate()
                .map(|(i, m)| ((total - i) as f64, m))
                .collect();
            let mut pipe = redis::pipe();
            pipe.atomic();
            for chunk in scored.chunks(1000) {
                pipe.zadd_multiple(&tmp, chunk).ignore();
            }
            pipe.rename(&tmp, &key).ignore();
            let _: () = pipe.query_async(&mut c).await?;
            Ok(())
        })
        .await
    }

    pub async fn ranking_top(
        &self,
        key: &str,
        n: usize,
    ) -> Result<Option<Vec<String>>, CacheError> {
        let key = self.key(key);
        let stop = n.max(1) as isize - 1;
        self.run(|mut c| async move {
            let (exists, members): (bool, Vec<String>) = redis::pipe()
                .exists(&key)
                .zrevrange(&key, 0, stop)
                .query_async(&mut c)
                .await?;
            Ok(exists.then_some(members))
        })
        .await
    }

    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError> {
        let channel = self.key(channel);
        let message = message.to_string();
        self.run(|mut c| async move { c.publish(channel, message).await })
            .await
    }
}
