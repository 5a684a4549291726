//! Access tokens shared by all instances (shared/reference/wechat-protocol.md §2.3).
//!
//! ```text
//! key   wx:token:{appid}        value "{stale_at_ms}:{token}", TTL = expires_in - 300 s
//! lock  wx:token:{appid}:lock   try_lock with a 10 s lease
//! token():  local copy (≤ 60 s) → shared cache → lock → stable_token(force_refresh=false)
//!           → set; without the lock, poll the cache every 100 ms up to 3 s, then fetch anyway
//! call:     40001/40014/42001 → compare-and-delete the exact value used → one retry
//!           -1 → backoff 1 s, 2 s, 4 s (idempotent calls only)
//! ```
//!
//! `stable_token` in normal mode returns the same token to every caller while it is valid,
//! so the lock only saves calls; a refetch never invalidates a token a peer is using, and
//! `force_refresh` (which would) is never used here. The key expires 5 minutes before the
//! token, when WeChat itself starts handing out the next one. When the cache is down, tokens
//! are fetched and kept in-process (one fetch at a time per app and process).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::cache::Cache;

use super::{api::WechatError, client::WechatClient};

/// Refetch this long before a token expires.
pub const REFRESH_MARGIN_SECS: u64 = 300;

/// An app's credentials: the Official Account and the mini-program are different apps,
/// with different tokens and openids. Debug hides the secret.
#[derive(Clone)]
pub struct WechatApp {
    pub app_id: String,
    pub secret: String,
}

impl WechatApp {
    pub fn new(app_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            secret: secret.into(),
        }
    }
}

impl fmt::Debug for WechatApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatApp")
            .field("app_id", &self.app_id)
            .field("secret", &"***")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Lease of the refresh lock (longer than a `stable_token` call).
    pub lock_lease: Duration,
    /// How long to wait for a peer holding the lock before fetching anyway.
    pub wait_for_peer: Duration,
    pub poll_every: Duration,
    /// Longest time a token is reused from this process's memory without reading the cache.
    pub local_ttl: Duration,
    /// Retries after -1 (busy) for idempotent calls, with `busy_backoff · 2ⁿ` between them.
    pub busy_retries: u32,
    pub busy_backoff: Duration,
}

impl Default for TokenOptions {
    fn default() -> Self {
        Self {
            lock_lease: Duration::from_secs(10),
            wait_for_peer: Duration::from_secs(3),
            poll_every: Duration::from_millis(100),
            local_ttl: Duration::from_secs(60),
            busy_retries: 3,
            busy_backoff: Duration::from_secs(1),
        }
    }
}

/// A token as stored: `raw` is the exact cache value, compared on invalidation.
#[derive(Clone)]
struct Stored {
    raw: String,
    token: String,
    stale_at_ms: u64,
}

impl Stored {
    fn new(token: String, stale_at_ms: u64) -> Self {
        Self {
            raw: format!("{stale_at_ms}:{token}"),
            token,
            stale_at_ms,
        }
    }

    fn parse(raw: &[u8]) -> Option<Self> {
        let raw = std::str::from_utf8(raw).ok()?;
        let (stale_at, token) = raw.split_once(':')?;
        if token.is_empty() {
            return None;
        }
        Some(Self {
            raw: raw.to_string(),
            token: token.to_string(),
            stale_at_ms: stale_at.parse().ok()?,
        })
    }
}

struct Local {
    stored: Stored,
    valid_until: Instant,
}

/// How long a freshly fetched token stays in the cache: 5 minutes less than it lives; for
/// short lifetimes (tests, a token near its end) half of what is left.
pub fn cache_ttl(expires_in: u64) -> Duration {
    let secs = if expires_in > REFRESH_MARGIN_SECS + 60 {
        expires_in - REFRESH_MARGIN_SECS
    } else {
        expires_in / 2
    };
    Duration::from_secs(secs.max(1))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Tokens per app, cached in the shared [`Cache`]. Cheap to clone; clones share the
/// in-process copy.
#[derive(Clone)]
pub struct AccessTokens {
    client: WechatClient,
    cache: Cache,
    options: TokenOptions,
    local: Arc<Mutex<HashMap<String, Local>>>,
    flights: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl AccessTokens {
    pub fn new(client: WechatClient, cache: Cache) -> Self {
        Self::with_options(client, cache, TokenOptions::default())
    }

    pub fn with_options(client: WechatClient, cache: Cache, options: TokenOptions) -> Self {
        Self {
            client,
            cache,
            options,
            local: Arc::default(),
            flights: Arc::default(),
        }
    }

    pub fn client(&self) -> &WechatClient {
        &self.client
    }

    pub fn cache_key(app_id: &str) -> String {
        format!("wx:token:{app_id}")
    }

    fn lock_key(app_id: &str) -> String {
        format!("wx:token:{app_id}:lock")
    }

    /// A valid token for `app`, from memory, the shared cache, or WeChat.
    pub async fn token(&self, app: &WechatApp) -> Result<String, WechatError> {
        Ok(self.stored(app).await?.token)
    }

    /// Runs `f` with a token. On 40001/40014/42001 it drops that exact token from the cache
    /// (compare-and-delete: a newer one a peer stored stays) and retries once with a fresh
    /// token; a second token error is returned. On -1 it retries with backoff, so `f` must be
    /// idempotent (reads, `send_template` with `client_msg_id`, `mass_send` with
    /// `clientmsgid`, `msg_sec_check`); use [`Self::call_with_token_no_busy_retry`] otherwise.
    ///
    /// `f` gets the token by value so that its future owns it (the call stays `Send`):
    /// `tokens.call_with_token(&app, |token| async move { client.user_get(&token, None).await })`
    /// with `client: &WechatClient`.
    pub async fn call_with_token<T, F, Fut>(&self, app: &WechatApp, f: F) -> Result<T, WechatError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        self.call(app, f, self.options.busy_retries).await
    }

    /// Like [`Self::call_with_token`] without retries after -1, for calls WeChat does not
    /// de-duplicate (`send_subscribe`). The single retry after a token error stays: WeChat
    /// rejected the call before doing anything.
    pub async fn call_with_token_no_busy_retry<T, F, Fut>(
        &self,
        app: &WechatApp,
        f: F,
    ) -> Result<T, WechatError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        self.call(app, f, 0).await
    }

    async fn call<T, F, Fut>(
        &self,
        app: &WechatApp,
        mut f: F,
        busy_retries: u32,
    ) -> Result<T, WechatError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let mut refreshed = false;
        let mut busy = 0;
        loop {
            let outcome = match self.stored(app).await {
                Ok(stored) => match f(stored.token.clone()).await {
                    Err(err) if err.is_token_invalid() && !refreshed => {
                        tracing::info!(app_id = %app.app_id, errcode = ?err.errcode(),
                            "wechat rejected the access token; refetching once");
                        refreshed = true;
                        self.invalidate(app, &stored).await;
                        continue;
                    }
                    other => other,
                },
                Err(err) => Err(err),
            };
            match outcome {
                Err(err) if err.is_busy() && busy < busy_retries => {
                    let delay = self.options.busy_backoff * 2u32.saturating_pow(busy);
                    tracing::info!(app_id = %app.app_id, ?delay, "wechat busy (-1); retrying");
                    tokio::time::sleep(delay).await;
                    busy += 1;
                }
                other => return other,
            }
        }
    }

    /// Drops `used` from the shared cache if it is still the stored value, and from memory.
    async fn invalidate(&self, app: &WechatApp, used: &Stored) {
        let key = Self::cache_key(&app.app_id);
        if let Err(e) = self.cache.delete_if_equals(&key, &used.raw).await {
            tracing::warn!(app_id = %app.app_id, error = %e, "cannot drop the cached wechat token");
        }
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local
            .get(&app.app_id)
            .is_some_and(|l| l.stored.raw == used.raw)
        {
            local.remove(&app.app_id);
        }
    }

    fn local_get(&self, app_id: &str) -> Option<Stored> {
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local
            .get(app_id)
            .filter(|l| l.valid_until > Instant::now())
            .map(|l| l.stored.clone())
    }

    fn local_put(&self, app_id: &str, stored: &Stored) {
        let left = Duration::from_millis(stored.stale_at_ms.saturating_sub(now_ms()));
        let valid_until = Instant::now() + left.min(self.options.local_ttl);
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.insert(
            app_id.to_string(),
            Local {
                stored: stored.clone(),
                valid_until,
            },
        );
    }

    fn flight(&self, app_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.entry(app_id.to_string()).or_default().clone()
    }

    /// Reads the shared cache. Err when the cache is unreachable.
    async fn cached(&self, app: &WechatApp) -> Result<Option<Stored>, ()> {
        match self.cache.get(&Self::cache_key(&app.app_id)).await {
            Ok(Some(raw)) => {
                let stored = Stored::parse(&raw).filter(|s| s.stale_at_ms > now_ms());
                if let Some(s) = &stored {
                    self.local_put(&app.app_id, s);
                }
                Ok(stored)
            }
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(app_id = %app.app_id, error = %e,
                    "cache unavailable; keeping the wechat token in-process");
                Err(())
            }
        }
    }

    async fn stored(&self, app: &WechatApp) -> Result<Stored, WechatError> {
        if let Some(s) = self.local_get(&app.app_id) {
            return Ok(s);
        }
        // One task per process and app goes on; the others find its result in memory.
        let flight = self.flight(&app.app_id);
        let _flight = flight.lock().await;
        if let Some(s) = self.local_get(&app.app_id) {
            return Ok(s);
        }
        match self.cached(app).await {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => {}
            Err(()) => return self.fetch(app).await,
        }
        let lock_key = Self::lock_key(&app.app_id);
        match self
            .cache
            .try_lock(&lock_key, self.options.lock_lease)
            .await
        {
            Ok(Some(lock)) => {
                // A peer may have stored a token between our read and the lock.
                let result = match self.cached(app).await {
                    Ok(Some(s)) => Ok(s),
                    _ => self.fetch(app).await,
                };
                if let Err(e) = self.cache.unlock(&lock_key, &lock).await {
                    tracing::warn!(app_id = %app.app_id, error = %e, "cannot release the wechat token lock");
                }
                result
            }
            Ok(None) => {
                // A peer is fetching: poll for its result, then fetch anyway (stable_token is
                // idempotent, so this only costs a call).
                let deadline = Instant::now() + self.options.wait_for_peer;
                while Instant::now() < deadline {
                    tokio::time::sleep(self.options.poll_every).await;
                    if let Ok(Some(s)) = self.cached(app).await {
                        return Ok(s);
                    }
                }
                self.fetch(app).await
            }
            Err(_) => self.fetch(app).await,
        }
    }

    /// `stable_token(force_refresh=false)`, stored in the cache (best effort) and in memory.
    async fn fetch(&self, app: &WechatApp) -> Result<Stored, WechatError> {
        let fetched = self
            .client
            .stable_token(&app.app_id, &app.secret, false)
            .await?;
        let ttl = cache_ttl(fetched.expires_in);
        let stored = Stored::new(fetched.access_token, now_ms() + ttl.as_millis() as u64);
        let key = Self::cache_key(&app.app_id);
        if let Err(e) = self.cache.set(&key, stored.raw.as_bytes(), ttl).await {
            tracing::warn!(app_id = %app.app_id, error = %e, "cannot share the wechat token");
        }
        self.local_put(&app.app_id, &stored);
        tracing::info!(app_id = %app.app_id, expires_in = fetched.expires_in, "fetched a wechat access token");
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_leave_the_cache_five_minutes_early() {
        assert_eq!(cache_ttl(7200), Duration::from_secs(6900));
        assert_eq!(cache_ttl(361), Duration::from_secs(61));
        // Short lifetimes: half of it, at least a second.
        assert_eq!(cache_ttl(360), Duration::from_secs(180));
        assert_eq!(cache_ttl(4), Duration::from_secs(2));
        assert_eq!(cache_ttl(1), Duration::from_secs(1));
        assert_eq!(cache_ttl(0), Duration::from_secs(1));
    }

    #[test]
    fn stored_values_round_trip_and_garbage_is_a_miss() {
        let s = Stored::new("tok:with:colons".into(), 1234);
        assert_eq!(s.raw, "1234:tok:with:colons");
        let back = Stored::parse(s.raw.as_bytes()).unwrap();
        assert_eq!(back.token, "tok:with:colons");
        assert_eq!(back.stale_at_ms, 1234);
        assert_eq!(back.raw, s.raw);
        assert!(Stored::parse(b"no-colon").is_none());
        assert!(Stored::parse(b"12:").is_none());
        assert!(Stored::parse(b"x:tok").is_none());
        assert!(Stored::parse(&[0xff, b':', b'a']).is_none());
    }

    #[test]
    fn app_debug_hides_the_secret() {
        let shown = format!("{:?}", WechatApp::new("wx1", "topsecret"));
        assert!(shown.contains("wx1"));
        assert!(!shown.contains("topsecret"));
    }
}
