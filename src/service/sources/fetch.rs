//! The safe fetcher: http(s) only, every address checked (`guard`), redirects followed by
//! hand so each hop is checked too, a body limit counted after decompression, timeouts,
//! conditional GET, and per-host politeness shared by all instances through the Cache: one
//! request in flight per host and `ingest.min_host_gap_ms` between requests.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::{StatusCode, header};
use url::Url;

use super::guard::{GuardedResolver, NetPolicy, Refused};
use crate::{cache::Cache, config::IngestSettings, time};

/// Validators from the last fetch that changed the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What the answer says about when to ask again, for this source only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `Cache-Control: max-age`.
    pub max_age_secs: Option<u64>,
    /// `Expires: 0` (or a date already past): the answer may not be reused, so neither may
    /// its validators.
    pub expires_now: bool,
    /// `Retry-After`, in seconds from now.
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug)]
pub enum Fetched {
    NotModified {
        validators: Validators,
        freshness: Freshness,
    },
    Body {
        /// After redirects.
        final_url: Url,
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
        validators: Validators,
        freshness: Freshness,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    BadUrl(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("HTTP {status}")]
    Status { status: u16, freshness: Freshness },
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(u32),
    #[error("another request to {0} is in flight; try later")]
    HostBusy(String),
    #[error("{0}")]
    Transport(String),
}

impl FetchError {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<NetPolicy>,
    cache: Cache,
    settings: IngestSettings,
}

impl Fetcher {
    pub fn new(settings: &IngestSettings, cache: Cache) -> Result<Self, FetchError> {
        crate::wechat::client::install_crypto_provider();
        let policy = Arc::new(NetPolicy::from_settings(settings));
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            // A proxy would resolve the host itself, past the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .timeout(Duration::from_secs(settings.timeout_secs))
            .user_agent(settings.user_agent.clone())
            .gzip(true)
            .brotli(true)
            .build()
            .map_err(|e| FetchError::Transport(describe(&e)))?;
        Ok(Self {
            client,
            policy,
            cache,
            settings: settings.clone(),
        })
    }

    /// GET `url`, sending `validators` as If-None-Match / If-Modified-Since.
    pub async fn get(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut current = parse_http_url(url)?;
        for _ in 0..=self.settings.max_redirects {
            self.check_literal_host(&current)?;
            let host = current.host_str().unwrap_or_default().to_ascii_lowercase();
            // The host's slot is held until the whole body is read.
            let slot = self.host_slot(&host).await?;
            let step = self.one_request(&current, validators).await;
            slot.release(&self.cache).await;
            match step? {
                Step::Redirect(next) => current = next,
                Step::Done(fetched) => return Ok(fetched),
            }
        }
        Err(FetchError::TooManyRedirects(self.settings.max_redirects))
    }

    /// A host written as an address never reaches the resolver: check it here.
    fn check_literal_host(&self, url: &Url) -> Result<(), FetchError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.into(),
            Some(url::Host::Ipv6(ip)) => ip.into(),
            _ => return Ok(()),
        };
        self.policy.check(ip).map_err(FetchError::Refused)
    }

    async fn one_request(&self, url: &Url, validators: &Validators) -> Result<Step, FetchError> {
        let mut request = self.client.get(url.clone()).header(
            header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, \
             application/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
        );
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| FetchError::Transport(format!("HTTP {status} without Location")))?;
            let next = url
                .join(location)
                .map_err(|e| FetchError::BadUrl(format!("redirect to {location:?}: {e}")))?;
            return Ok(Step::Redirect(parse_http_url(next.as_str())?));
        }
        Ok(Step::Done(self.answer(url.clone(), response).await?))
    }

    /// Waits for this host's turn: the in-flight lock, then the gap since the last request
    /// (from any instance). The lock is held until the answer's headers arrived. With the
    /// cache down, requests go on unthrottled rather than not at all.
    async fn host_slot(&self, host: &str) -> Result<HostSlot, FetchError> {
        let lock_key = format!("ingest:host:{host}");
        let gap_key = format!("ingest:gap:{host}");
        let lease = Duration::from_secs(self.settings.timeout_secs + 5);
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.settings.timeout_secs);
        let token = loop {
            match self.cache.try_lock(&lock_key, lease).await {
                Ok(Some(token)) => break Some(token),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(None) => return Err(FetchError::HostBusy(host.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, "ingest: host lock unavailable, fetching anyway");
                    break None;
                }
            }
        };
        let gap = self.settings.min_host_gap_ms;
        if gap > 0 {
            if let Ok(Some(last)) = self.cache.get(&gap_key).await {
                let last: i64 = std::str::from_utf8(&last)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let since = time::now().timestamp_millis() - last;
                if since >= 0 && (since as u64) < gap {
                    tokio::time::sleep(Duration::from_millis(gap - since as u64)).await;
                }
            }
            let now = time::now().timestamp_millis().to_string();
            let _ = self
                .cache
                .set(&gap_key, now.as_bytes(), Duration::from_millis(gap))
                .await;
        }
        Ok(HostSlot {
            key: lock_key,
            token,
        })
    }

    async fn answer(&self, url: Url, response: reqwest::Response) -> Result<Fetched, FetchError> {
        let status = response.status();
        let headers = response.headers();
        let freshness = freshness(headers, time::now());
        let validators = Validators {
            etag: header_text(headers, header::ETAG),
            last_modified: header_text(headers, header::LAST_MODIFIED),
        };
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified {
                validators,
                freshness,
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                freshness,
            });
        }
        let content_type = header_text(headers, header::CONTENT_TYPE);
        let body = self.read_limited(response).await?;
        Ok(Fetched::Body {
            final_url: url,
            status: status.as_u16(),
            content_type,
            body,
            validators,
            freshness,
        })
    }

    /// The body, decompressed, refused past `max_body_bytes` without reading the rest.
    async fn read_limited(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let limit = self.settings.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(FetchError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(describe(&e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

struct HostSlot {
    key: String,
    token: Option<crate::cache::LockToken>,
}

impl HostSlot {
    async fn release(self, cache: &Cache) {
        if let Some(token) = self.token {
            let _ = cache.unlock(&self.key, &token).await;
        }
    }
}

enum Step {
    Redirect(Url),
    Done(Fetched),
}

fn transport_error(err: &reqwest::Error) -> FetchError {
    if let Some(refused) = find_source::<Refused>(err) {
        return FetchError::Refused(refused.0.clone());
    }
    FetchError::Transport(describe(err))
}

fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The error with its causes, which reqwest keeps apart ("error sending request: ...").
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// An absolute http(s) URL.
pub fn parse_http_url(raw: &str) -> Result<Url, FetchError> {
    let url = Url::parse(raw.trim()).map_err(|e| FetchError::BadUrl(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::BadUrl(format!(
            "{raw:?} is not an http:// or https:// URL"
        )));
    }
    Ok(url)
}

fn header_text(headers: &header::HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

fn freshness(headers: &header::HeaderMap, now: DateTime<Utc>) -> Freshness {
    let max_age_secs = header_text(headers, header::CACHE_CONTROL).and_then(|cc| {
        cc.split(',').find_map(|d| {
            let (k, v) = d.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| v.trim().trim_matches('"').parse().ok())
                .flatten()
        })
    });
    let expires_now = header_text(headers, header::EXPIRES).is_some_and(|e| {
        // "0" and other invalid dates mean already expired (RFC 9111 5.3).
        DateTime::parse_from_rfc2822(&e).map_or(true, |at| at <= now)
    });
    let retry_after_secs = header_text(headers, header::RETRY_AFTER).and_then(|v| {
        v.parse::<u64>().ok().or_else(|| {
            DateTime::parse_from_rfc2822(&v)
                .ok()
                .map(|at| (at.with_timezone(&Utc) - now).num_seconds().max(0) as u64)
        })
    });
    Freshness {
        max_age_secs,
        expires_now,
        retry_after_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> header::HeaderMap {
        let mut map = header::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn freshness_reads_max_age_expires_and_retry_after() {
        let now = time::now();
        let f = freshness(
            &headers(&[
                ("cache-control", "public, max-age=600"),
                ("retry-after", "120"),
            ]),
            now,
        );
        assert_eq!(f.max_age_secs, Some(600));
        assert_eq!(f.retry_after_secs, Some(120));
        assert!(!f.expires_now);
        assert!(freshness(&headers(&[("expires", "0")]), now).expires_now);
        let later = (now + chrono::Duration::hours(1)).to_rfc2822();
        assert!(!freshness(&headers(&[("expires", &later)]), now).expires_now);
    }

    #[test]
    fn only_http_urls_are_fetched() {
        assert!(parse_http_url("https://example.com/feed").is_ok());
        for bad in [
            "ftp://example.com/f",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "x",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }
}
