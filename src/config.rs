//! Settings: layered YAML (see `config/default.yaml`) plus environment overrides, validated
//! once at start-up so that a bad value stops the process with a clear message.

use std::{fmt, path::Path};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

const EMBEDDED_DEFAULT: &str = include_str!("../config/default.yaml");
const DEV_JWT_SECRET: &str = "dev-jwt-secret-change-me-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

impl AppEnv {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => Err(ConfigError::Invalid(format!(
                "APP_ENV must be development, test or production, not {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

#[derive(Clone, Deserialize)]
pub struct Settings {
    #[serde(skip_deserializing, default = "default_env")]
    pub env: AppEnv,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub moderation: ModerationSettings,
    pub hot: HotSettings,
    pub jobs: JobsSettings,
    pub log: LogSettings,
    pub demo: DemoSettings,
    #[serde(default)]
    pub wechat: WechatSettings,
    #[serde(default)]
    pub push: PushSettings,
    #[serde(default)]
    pub ingest: IngestSettings,
    pub search: SearchSettings,
}

fn default_env() -> AppEnv {
    AppEnv::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// A connection that sends nothing for this long is closed (between requests too).
    pub idle_timeout_secs: u64,
    /// A request's headers must have arrived this long after its first byte.
    pub header_read_timeout_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (CIDRs or addresses). Empty: the
    /// header is ignored and the peer address is the client.
    #[serde(deserialize_with = "trusted_proxies")]
    pub trusted_proxies: Vec<IpNet>,
    #[serde(default)]
    pub cors: CorsSettings,
}

/// Browsers on these origins may call the API (`server.cors`). Empty: no CORS headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CorsSettings {
    /// `https://host[:port]` each, or `*` for any origin.
    pub allowed_origins: Vec<String>,
    /// Let browsers send cookies and HTTP authentication (not needed for bearer tokens).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    pub max_age_secs: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            max_age_secs: 600,
        }
    }
}

impl CorsSettings {
    pub fn enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for origin in &self.allowed_origins {
            if origin == "*" {
                if self.allow_credentials {
                    return Err(ConfigError::Invalid(
                        "server.cors.allowed_origins \"*\" cannot go with allow_credentials \
                         (browsers refuse it): list the origins"
                            .into(),
                    ));
                }
                continue;
            }
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let well_formed = host.is_some_and(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            });
            if !well_formed {
                return Err(ConfigError::Invalid(format!(
                    "server.cors.allowed_origins: {origin:?} is not an origin like \
                     https://app.example.com (scheme and host, optional port, no path)"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

/// `server.trusted_proxies`: `10.0.0.0/8` or a bare address (one host); blanks are skipped
/// (an empty environment value means none). The error names the bad entry.
fn trusted_proxies<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<IpNet>, D::Error> {
    networks(de, "server.trusted_proxies")
}

/// `ingest.allowed_networks`, read as `server.trusted_proxies` is.
fn allowed_networks<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<IpNet>, D::Error> {
    networks(de, "ingest.allowed_networks")
}

fn networks<'de, D: Deserializer<'de>>(de: D, key: &str) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(de)?
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{key}: {s:?} is not a CIDR like 10.0.0.0/8 or an IP address"
                    ))
                })
        })
        .collect()
}

#[derive(Clone, Deserialize)]
pub struct CacheSettings {
    pub redis_url: Option<String>,
    pub key_prefix: String,
    /// Bound of the in-process cache (and of the per-instance rate-limit counters used while
    /// Redis is down), in MiB of keys and values; least recently used entries go first.
    #[serde(default = "default_memory_max_mb")]
    pub memory_max_mb: u64,
}

fn default_memory_max_mb() -> u64 {
    128
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "qshare:".into(),
            memory_max_mb: default_memory_max_mb(),
        }
    }
}

impl CacheSettings {
    pub fn memory_max_bytes(&self) -> u64 {
        self.memory_max_mb.saturating_mul(1024 * 1024)
    }
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Password hashes computed at once per instance (each holds ~19 MiB); the rest wait.
    pub password_hash_concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub login_failures_per_ip: u32,
    pub login_failures_per_username: u32,
    pub registrations_per_ip: u32,
    /// Anonymous device registrations (`POST /api/devices`) allowed per window per client IP.
    pub device_registrations_per_ip: u32,
    pub window_secs: u64,
    pub comments_per_user: u32,
    pub comments_per_ip: u32,
    pub comment_window_secs: u64,
    /// Article searches (`GET /api/articles?q=`) allowed per window per client IP.
    pub searches_per_ip: u32,
    /// Other public reads that miss the cache by design (filtered and later pages, related
    /// articles, comment threads, the guestbook) allowed per window per client IP.
    pub uncached_reads_per_ip: u32,
    pub read_window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModerationMode {
    /// Published at once; admins can hide.
    Post,
    /// Pending until approved.
    Pre,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModerationSettings {
    pub mode: ModerationMode,
    pub blocked_words: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobsSettings {
    pub enabled: bool,
    pub timezone: String,
    pub sync_interval_secs: u64,
    pub max_run_secs: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HotWeights {
    pub views: f64,
    pub likes: f64,
    pub comments: f64,
    pub favorites: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HotSettings {
    pub weights: HotWeights,
    pub gravity: f64,
    pub window_days: u32,
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// Which search engine serves `/api/search`. Only the embedded one ships: a shared engine
/// (Meilisearch) fits behind `search::SearchEngine` but cannot be tested here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngineKind {
    Tantivy,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchSettings {
    pub engine: SearchEngineKind,
    /// The instance's own index (derived from SQL; deleting it makes a rebuild). Instances
    /// must not share one.
    pub index_dir: std::path::PathBuf,
    /// Memory the index writer buffers before flushing (tantivy needs at least 15).
    pub writer_heap_mb: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DemoSettings {
    pub seed_when_empty: bool,
}

/// WeChat apps (DESIGN.md §2). An app whose `app_id` is empty is disabled.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct WechatSettings {
    /// `https://api.weixin.qq.com`; a local fake in tests and benchmarks.
    pub api_base_url: String,
    pub official_account: OfficialAccountSettings,
    pub miniprogram: MiniProgramSettings,
    /// How long a bind QR ticket (`POST /api/me/wechat/bind-ticket`) can be scanned.
    pub bind_ticket_ttl_secs: u64,
}

/// WeChat's limit for a temporary QR code (`expire_seconds`).
pub const MAX_BIND_TICKET_TTL_SECS: u64 = 2_592_000;

impl Default for WechatSettings {
    fn default() -> Self {
        Self {
            api_base_url: "https://api.weixin.qq.com".into(),
            official_account: OfficialAccountSettings::default(),
            miniprogram: MiniProgramSettings::default(),
            bind_ticket_ttl_secs: 600,
        }
    }
}

/// `ingest`: fetching feed sources (`service::sources`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// Let sources reach loopback, private, link-local and multicast addresses (off: such
    /// a feed, or a redirect or DNS answer leading there, is refused and the source says why).
    pub allow_private_networks: bool,
    /// Networks reachable even with `allow_private_networks` off (an intranet feed host).
    #[serde(deserialize_with = "allowed_networks")]
    pub allowed_networks: Vec<IpNet>,
    /// Largest feed or page body, in bytes after decompression.
    pub max_body_bytes: usize,
    /// Whole request, and connecting, per fetch.
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub max_redirects: u32,
    /// Least time between two requests to the same host, from any instance.
    pub min_host_gap_ms: u64,
    /// A source's minimum interval when none is given; each source may set its own.
    pub default_min_interval_secs: u64,
    pub user_agent: String,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allowed_networks: Vec::new(),
            max_body_bytes: 5 * 1024 * 1024,
            timeout_secs: 20,
            connect_timeout_secs: 10,
            max_redirects: 5,
            min_host_gap_ms: 1000,
            default_min_interval_secs: 1800,
            user_agent: "qshare-ingest/0.1".into(),
        }
    }
}

impl IngestSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "ingest.max_body_bytes must be at least 1024".into(),
            ));
        }
        if self.timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "ingest.timeout_secs and connect_timeout_secs must be at least 1".into(),
            ));
        }
        if self.default_min_interval_secs == 0 || self.user_agent.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "ingest.default_min_interval_secs must be at least 1 and ingest.user_agent set"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `push`: the workers that deliver campaigns and the channels they deliver through.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PushSettings {
    /// Run delivery workers in this instance (several instances share the work).
    pub workers_enabled: bool,
    /// Deliveries a worker claims at once.
    pub claim_batch: u32,
    /// Sends in flight per channel per instance.
    pub concurrency: u32,
    /// Claim loops per channel per instance (one sends while another claims).
    pub loops_per_channel: u32,
    /// How often an idle worker looks for due deliveries.
    pub poll_interval_ms: u64,
    /// A claim not settled within this long is taken as its worker having died.
    pub lease_secs: u64,
    /// Attempts before a transient failure becomes `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Where message links point (`{site_url}/articles/{id}`).
    pub site_url: String,
    /// Device pushes (APNs, FCM, HarmonyOS): what every device channel shares.
    pub devices: DevicePushSettings,
    pub channels: PushChannels,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            workers_enabled: true,
            claim_batch: 200,
            concurrency: 16,
            loops_per_channel: 2,
            poll_interval_ms: 1000,
            lease_secs: 120,
            max_attempts: 5,
            retry_base_ms: 2000,
            retry_max_ms: 600_000,
            site_url: "http://127.0.0.1:8080".into(),
            devices: DevicePushSettings::default(),
            channels: PushChannels::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PushChannels {
    pub inbox: InboxChannel,
    pub wechat_template: TemplateChannel,
    pub wechat_mass: MassChannel,
    pub miniprogram_subscribe: SubscribeChannel,
    pub apns: ApnsChannel,
    pub fcm: FcmChannel,
    pub harmony: HarmonyChannel,
}

impl Default for PushChannels {
    fn default() -> Self {
        Self {
            inbox: InboxChannel { enabled: true },
            wechat_template: TemplateChannel {
                enabled: false,
                template_id: String::new(),
                rate_per_sec: 50,
            },
            wechat_mass: MassChannel {
                enabled: false,
                rate_per_min: 60,
            },
            miniprogram_subscribe: SubscribeChannel {
                enabled: false,
                template_id: String::new(),
                page: "pages/article/index".into(),
            },
            apns: ApnsChannel::default(),
            fcm: FcmChannel::default(),
            harmony: HarmonyChannel::default(),
        }
    }
}

/// `push.devices`: shared by the APNs, FCM and HarmonyOS channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevicePushSettings {
    /// How long a provider keeps an undelivered notification (a digest older than a day is
    /// not worth delivering).
    pub ttl_secs: u64,
    /// Marketing-type notifications per device per day (HarmonyOS allows 2); 0 = no cap.
    pub marketing_daily_cap: u32,
    /// Timeout of one provider request.
    pub request_timeout_ms: u64,
    /// How long a channel stays paused on every instance after a credential or
    /// configuration error (the operator fixes it meanwhile).
    pub config_error_pause_secs: u64,
    /// The app's deep link to an article (`{id}` is replaced).
    pub deep_link: String,
}

impl Default for DevicePushSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 86_400,
            marketing_daily_cap: 2,
            request_timeout_ms: 10_000,
            config_error_pause_secs: 600,
            deep_link: "qshare://articles/{id}".into(),
        }
    }
}

/// `push.channels.apns`: Apple, token (`.p8` key) authentication over HTTP/2.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct ApnsChannel {
    pub enabled: bool,
    /// The production service; devices registered as `sandbox` use `sandbox_base_url`.
    pub base_url: String,
    pub sandbox_base_url: String,
    /// An extra root certificate (PEM) to trust: a local fake, a TLS-inspecting proxy.
    pub ca_cert_path: Option<String>,
    /// The `.p8` signing key, by path or inline (`APP_PUSH__CHANNELS__APNS__KEY_PEM`).
    pub key_path: Option<String>,
    pub key_pem: Option<String>,
    /// The key's 10-character Key ID and the team's Team ID.
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// `production` or `sandbox`: the service for devices that did not say.
    pub environment: String,
    /// Sends in flight per instance (HTTP/2 streams over few connections).
    pub concurrency: u32,
    /// Sends per second across all instances; 0 = unlimited.
    pub rate_per_sec: u32,
    /// The provider JWT is reused this long (Apple refuses one older than an hour).
    pub token_ttl_secs: u64,
    /// Never mint a new JWT sooner than this after the last one (Apple answers
    /// TooManyProviderTokenUpdates to more than one per 20 minutes).
    pub min_remint_secs: u64,
}

impl Default for ApnsChannel {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://api.push.apple.com".into(),
            sandbox_base_url: "https://api.sandbox.push.apple.com".into(),
            ca_cert_path: None,
            key_path: None,
            key_pem: None,
            key_id: String::new(),
            team_id: String::new(),
            topic: String::new(),
            environment: "production".into(),
            concurrency: 64,
            rate_per_sec: 0,
            token_ttl_secs: 3000,
            min_remint_secs: 1200,
        }
    }
}

impl fmt::Debug for ApnsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsChannel")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("sandbox_base_url", &self.sandbox_base_url)
            .field("ca_cert_path", &self.ca_cert_path)
            .field("key_path", &self.key_path)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "***"))
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .field("environment", &self.environment)
            .field("concurrency", &self.concurrency)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("min_remint_secs", &self.min_remint_secs)
            .finish()
    }
}

/// `push.channels.fcm`: Firebase Cloud Messaging HTTP v1 with a service account.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct FcmChannel {
    pub enabled: bool,
    pub base_url: String,
    pub ca_cert_path: Option<String>,
    /// The service-account JSON, by path or inline
    /// (`APP_PUSH__CHANNELS__FCM__SERVICE_ACCOUNT_JSON`).
    pub service_account_path: Option<String>,
    pub service_account_json: Option<String>,
    /// Defaults to the service account's `project_id`.
    pub project_id: Option<String>,
    /// Defaults to the service account's `token_uri`.
    pub token_uri: Option<String>,
    pub concurrency: u32,
    pub rate_per_sec: u32,
}

impl Default for FcmChannel {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://fcm.googleapis.com".into(),
            ca_cert_path: None,
            service_account_path: None,
            service_account_json: None,
            project_id: None,
            token_uri: None,
            concurrency: 64,
            rate_per_sec: 0,
        }
    }
}

impl fmt::Debug for FcmChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmChannel")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("ca_cert_path", &self.ca_cert_path)
            .field("service_account_path", &self.service_account_path)
            .field(
                "service_account_json",
                &self.service_account_json.as_ref().map(|_| "***"),
            )
            .field("project_id", &self.project_id)
            .field("token_uri", &self.token_uri)
            .field("concurrency", &self.concurrency)
            .field("rate_per_sec", &self.rate_per_sec)
            .finish()
    }
}

/// `push.channels.harmony`: HarmonyOS NEXT Push Kit v3 with a service account (PS256 JWT).
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct HarmonyChannel {
    pub enabled: bool,
    pub base_url: String,
    pub ca_cert_path: Option<String>,
    pub service_account_path: Option<String>,
    pub service_account_json: Option<String>,
    /// Defaults to the service account's `project_id`.
    pub project_id: Option<String>,
    pub concurrency: u32,
    pub rate_per_sec: u32,
}

impl Default for HarmonyChannel {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://push-api.cloud.huawei.com".into(),
            ca_cert_path: None,
            service_account_path: None,
            service_account_json: None,
            project_id: None,
            concurrency: 64,
            rate_per_sec: 0,
        }
    }
}

impl fmt::Debug for HarmonyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarmonyChannel")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("ca_cert_path", &self.ca_cert_path)
            .field("service_account_path", &self.service_account_path)
            .field(
                "service_account_json",
                &self.service_account_json.as_ref().map(|_| "***"),
            )
            .field("project_id", &self.project_id)
            .field("concurrency", &self.concurrency)
            .field("rate_per_sec", &self.rate_per_sec)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InboxChannel {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TemplateChannel {
    pub enabled: bool,
    pub template_id: String,
    /// Sends per second across all instances; 0 = unlimited.
    pub rate_per_sec: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MassChannel {
    pub enabled: bool,
    /// Mass-send calls per minute across all instances (WeChat allows 60); 0 = unlimited.
    pub rate_per_min: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeChannel {
    pub enabled: bool,
    pub template_id: String,
    /// The mini-program page the message opens (`?id=<article>` is appended).
    pub page: String,
}

impl PushSettings {
    fn validate(&self, wechat: &WechatSettings) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.into()));
        if self.claim_batch == 0
            || self.concurrency == 0
            || self.loops_per_channel == 0
            || self.max_attempts == 0
        {
            return invalid(
                "push.claim_batch, concurrency, loops_per_channel and max_attempts must be at least 1",
            );
        }
        if self.lease_secs == 0 || self.poll_interval_ms == 0 {
            return invalid("push.lease_secs and push.poll_interval_ms must be at least 1");
        }
        let c = &self.channels;
        let oa = wechat.official_account.enabled();
        if (c.wechat_template.enabled || c.wechat_mass.enabled) && !oa {
            return invalid(
                "push.channels.wechat_template and wechat_mass need wechat.official_account",
            );
        }
        if c.wechat_template.enabled && c.wechat_template.template_id.is_empty() {
            return invalid("push.channels.wechat_template.template_id is required when enabled");
        }
        if c.miniprogram_subscribe.enabled
            && (!wechat.miniprogram.enabled() || c.miniprogram_subscribe.template_id.is_empty())
        {
            return invalid(
                "push.channels.miniprogram_subscribe needs wechat.miniprogram and a template_id",
            );
        }
        if c.apns.enabled {
            let a = &c.apns;
            if a.key_path.is_none() && a.key_pem.is_none() {
                return invalid("push.channels.apns needs key_path or key_pem");
            }
            if a.key_id.len() != 10 || a.team_id.is_empty() || a.topic.is_empty() {
                return invalid(
                    "push.channels.apns needs a 10-character key_id, a team_id and a topic",
                );
            }
            if !matches!(a.environment.as_str(), "production" | "sandbox") {
                return invalid("push.channels.apns.environment must be production or sandbox");
            }
            if a.concurrency == 0 || a.token_ttl_secs == 0 || a.token_ttl_secs > 3500 {
                return invalid(
                    "push.channels.apns: concurrency at least 1, token_ttl_secs 1..=3500",
                );
            }
        }
        if c.fcm.enabled
            && ((c.fcm.service_account_path.is_none() && c.fcm.service_account_json.is_none())
                || c.fcm.concurrency == 0)
        {
            return invalid(
                "push.channels.fcm needs service_account_path or service_account_json, and concurrency at least 1",
            );
        }
        if c.harmony.enabled
            && ((c.harmony.service_account_path.is_none()
                && c.harmony.service_account_json.is_none())
                || c.harmony.concurrency == 0)
        {
            return invalid(
                "push.channels.harmony needs service_account_path or service_account_json, and concurrency at least 1",
            );
        }
        if self.devices.ttl_secs == 0 || self.devices.request_timeout_ms == 0 {
            return invalid("push.devices.ttl_secs and request_timeout_ms must be at least 1");
        }
        Ok(())
    }
}

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct OfficialAccountSettings {
    pub app_id: String,
    pub app_secret: String,
    /// Callback signature token (服务器配置 Token).
    pub token: String,
    /// 43 characters, for safe-mode (AES) callbacks; empty in plaintext mode.
    pub encoding_aes_key: String,
}

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct MiniProgramSettings {
    pub app_id: String,
    pub app_secret: String,
}

impl OfficialAccountSettings {
    pub fn enabled(&self) -> bool {
        !self.app_id.is_empty()
    }
}

impl MiniProgramSettings {
    pub fn enabled(&self) -> bool {
        !self.app_id.is_empty()
    }
}

fn redact_secret(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "***" }
}

impl fmt::Debug for WechatSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatSettings")
            .field("api_base_url", &self.api_base_url)
            .field("official_account", &self.official_account)
            .field("miniprogram", &self.miniprogram)
            .field("bind_ticket_ttl_secs", &self.bind_ticket_ttl_secs)
            .finish()
    }
}

impl fmt::Debug for OfficialAccountSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfficialAccountSettings")
            .field("app_id", &self.app_id)
            .field("app_secret", &redact_secret(&self.app_secret))
            .field("token", &redact_secret(&self.token))
            .field("encoding_aes_key", &redact_secret(&self.encoding_aes_key))
            .finish()
    }
}

impl fmt::Debug for MiniProgramSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniProgramSettings")
            .field("app_id", &self.app_id)
            .field("app_secret", &redact_secret(&self.app_secret))
            .finish()
    }
}

impl WechatSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.into()));
        if !(self.api_base_url.starts_with("https://") || self.api_base_url.starts_with("http://"))
        {
            return invalid("wechat.api_base_url must start with https:// or http://");
        }
        if url::Url::parse(&self.api_base_url).is_err() {
            return invalid("wechat.api_base_url is not a valid URL");
        }
        let oa = &self.official_account;
        if !oa.encoding_aes_key.is_empty() && oa.encoding_aes_key.chars().count() != 43 {
            return invalid("wechat.official_account.encoding_aes_key must be 43 characters");
        }
        if oa.enabled() && oa.app_secret.is_empty() {
            return invalid("wechat.official_account.app_secret is required with an app_id");
        }
        if self.miniprogram.enabled() && self.miniprogram.app_secret.is_empty() {
            return invalid("wechat.miniprogram.app_secret is required with an app_id");
        }
        if !(1..=MAX_BIND_TICKET_TTL_SECS).contains(&self.bind_ticket_ttl_secs) {
            return invalid("wechat.bind_ticket_ttl_secs must be between 1 and 2592000 (30 days)");
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Secrets are redacted so that printing settings never leaks them.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field("server", &self.server)
            .field("database.url", &redact_url(&self.database.url))
            .field(
                "cache.redis_url",
                &self.cache.redis_url.as_deref().map(redact_url),
            )
            .field("cache.key_prefix", &self.cache.key_prefix)
            .field("cache.memory_max_mb", &self.cache.memory_max_mb)
            .field("auth.access_ttl_secs", &self.auth.access_ttl_secs)
            .field("auth.refresh_ttl_secs", &self.auth.refresh_ttl_secs)
            .field(
                "auth.password_hash_concurrency",
                &self.auth.password_hash_concurrency,
            )
            .field("rate_limit", &self.rate_limit)
            .field("moderation", &self.moderation)
            .field("hot", &self.hot)
            .field("jobs", &self.jobs)
            .field("log", &self.log)
            .field("demo", &self.demo)
            .field("wechat", &self.wechat)
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:secret@host/db` -> `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Settings {
    /// Loads settings for `APP_ENV` (development when unset) from `./config`.
    pub fn load() -> Result<Self, ConfigError> {
        let env =
            AppEnv::parse(&std::env::var("APP_ENV").unwrap_or_else(|_| "development".into()))?;
        Self::load_from(Path::new("config"), env)
    }

    /// Loads the layers from `dir` (missing files are skipped: the embedded default stands).
    pub fn load_from(dir: &Path, env: AppEnv) -> Result<Self, ConfigError> {
        let layer = |name: &str| {
            File::from(dir.join(name))
                .format(FileFormat::Yaml)
                .required(false)
        };
        let builder = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Yaml))
            .add_source(layer("default.yaml"))
            .add_source(layer(&format!("{}.yaml", env.as_str())))
            .add_source(layer(&format!("{}.local.yaml", env.as_str())))
            .add_source(
                Environment::with_prefix("APP")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    // APP_SERVER__CORS__ALLOWED_ORIGINS=https://a.example,https://b.example
                    .list_separator(",")
                    .with_list_parse_key("server.cors.allowed_origins")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("ingest.allowed_networks"),
            )
            .set_override_option("database.url", std::env::var("DATABASE_URL").ok())?
            .set_override_option("cache.redis_url", std::env::var("REDIS_URL").ok())?;
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return invalid(format!(
                "database.url must start with sqlite:, postgres:// or postgresql:// (got {:?})",
                redact_url(db)
            ));
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1".into());
        }
        if let Some(url) = &self.cache.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return invalid(format!(
                "cache.redis_url must start with redis:// or rediss:// (got {:?})",
                redact_url(url)
            ));
        }
        if self.cache.key_prefix.is_empty() {
            return invalid("cache.key_prefix must not be empty".into());
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes must be at least 1024".into());
        }
        if self.server.request_timeout_secs == 0
            || self.server.idle_timeout_secs == 0
            || self.server.header_read_timeout_secs == 0
        {
            return invalid(
                "server.request_timeout_secs, idle_timeout_secs and header_read_timeout_secs \
                 must be at least 1"
                    .into(),
            );
        }
        if self.cache.memory_max_mb == 0 {
            return invalid("cache.memory_max_mb must be at least 1".into());
        }
        if !(1..=64).contains(&self.auth.password_hash_concurrency) {
            return invalid("auth.password_hash_concurrency must be 1 to 64".into());
        }
        if self.auth.jwt_secret.len() < 32 {
            return invalid("auth.jwt_secret must be at least 32 characters".into());
        }
        if self.auth.access_ttl_secs < 60 || self.auth.refresh_ttl_secs <= self.auth.access_ttl_secs
        {
            return invalid(
                "auth.access_ttl_secs must be at least 60 and auth.refresh_ttl_secs longer than it"
                    .into(),
            );
        }
        if self.rate_limit.window_secs == 0 || self.rate_limit.comment_window_secs == 0 {
            return invalid(
                "rate_limit.window_secs and rate_limit.comment_window_secs must be at least 1"
                    .into(),
            );
        }
        if self.rate_limit.read_window_secs == 0 {
            return invalid("rate_limit.read_window_secs must be at least 1".into());
        }
        self.server.cors.validate()?;
        if !(15..=512).contains(&self.search.writer_heap_mb) {
            return invalid("search.writer_heap_mb must be 15 to 512".into());
        }
        if self.search.index_dir.as_os_str().is_empty() {
            return invalid("search.index_dir must not be empty".into());
        }
        if self.jobs.max_run_secs == 0 {
            // Every run would be stopped at once.
            return invalid("jobs.max_run_secs must be at least 1".into());
        }
        if self.jobs.timezone.parse::<chrono_tz::Tz>().is_err() {
            return invalid(format!(
                "jobs.timezone {:?} is not an IANA timezone",
                self.jobs.timezone
            ));
        }
        if self
            .moderation
            .blocked_words
            .iter()
            .any(|w| w.trim().is_empty())
        {
            return invalid("moderation.blocked_words must not contain empty words".into());
        }
        self.wechat.validate()?;
        self.push.validate(&self.wechat)?;
        self.ingest.validate()?;
        if self.env == AppEnv::Production {
            if self.auth.jwt_secret == DEV_JWT_SECRET {
                return invalid(
                    "production refuses the development auth.jwt_secret: set APP_AUTH__JWT_SECRET"
                        .into(),
                );
            }
            if db.starts_with("sqlite:") {
                return invalid("production needs PostgreSQL: set DATABASE_URL".into());
            }
        }
        Ok(())
    }

    /// `host:port` to bind.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}
