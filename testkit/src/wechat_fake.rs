//! A fake WeChat API server for tests, benchmarks and local development
//! (`cargo run --bin fake_wechat -- --port 9090`).
//!
//! It behaves like the documented API (shared/reference/wechat-protocol.md §2-§5), errors
//! and quotas included: `stable_token` hands out the same token while it is valid and a new
//! one in its last minutes (old and new then both work), every other endpoint checks the
//! token (missing 41001, unknown or invalidated 40001, expired 42001, wrong app kind
//! 48001), template sends are de-duplicated per `(touser, client_msg_id)`, mass sends per
//! `clientmsgid` (45065 with the original msg_id), mini-program subscribe messages need a
//! grant credit (43101 without), login codes are single-use (40029 unknown, 40163 used).
//!
//! Tests steer it through [`FakeWechat`]: queue errors per endpoint ([`FakeWechat::fail_next`],
//! [`FakeWechat::fail_next_http`]) or per openid ([`FakeWechat::fail_openid`]), set quotas
//! (45009 past them) and latency, and read what it received ([`FakeWechat::stats`],
//! [`FakeWechat::messages_to`], [`FakeWechat::templates_sent`]).
//!
//! All state sits behind one `Arc<Mutex<State>>`; the request logic is plain synchronous
//! methods on `State`, unit-tested below without HTTP.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use poem::{
    EndpointExt, IntoResponse, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    post,
    web::{Data, Json, Query},
};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use qshare::wechat::api::errcode;

/// Credentials of the apps a default fake knows.
pub const OA_APP_ID: &str = "wxfakeofficialacct";
pub const OA_SECRET: &str = "fake-official-account-secret";
pub const MP_APP_ID: &str = "wxfakeminiprogram1";
pub const MP_SECRET: &str = "fake-mini-program-secret";

/// Largest `user/get` page and mass-send recipient list, as documented.
pub const MAX_PAGE: usize = 10_000;
pub const MAX_MASS_RECIPIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    StableToken,
    UserGet,
    UserInfo,
    TemplateSend,
    MassSend,
    SubscribeSend,
    JsCode2Session,
    MsgSecCheck,
    QrcodeCreate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    OfficialAccount,
    MiniProgram,
}

#[derive(Debug, Clone)]
pub struct FakeApp {
    pub app_id: String,
    pub secret: String,
    pub kind: AppKind,
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub apps: Vec<FakeApp>,
    /// Lifetime of issued tokens (7200 s like WeChat). In the last quarter of it, at most
    /// the last 5 minutes, `stable_token` hands out the next token.
    pub token_lifetime: Duration,
    /// Official Account followers, in `user/get` order.
    pub followers: Vec<String>,
    /// `user/get` page size (10,000 like WeChat).
    pub page_size: usize,
    /// Delay before every answer.
    pub latency: Duration,
    /// `msg_sec_check` flags content containing one of these (ignoring case).
    pub risky_words: Vec<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            apps: vec![
                FakeApp {
                    app_id: OA_APP_ID.into(),
                    secret: OA_SECRET.into(),
                    kind: AppKind::OfficialAccount,
                },
                FakeApp {
                    app_id: MP_APP_ID.into(),
                    secret: MP_SECRET.into(),
                    kind: AppKind::MiniProgram,
                },
            ],
            token_lifetime: Duration::from_secs(7200),
            followers: Vec::new(),
            page_size: MAX_PAGE,
            latency: Duration::ZERO,
            risky_words: Vec::new(),
        }
    }
}

/// `n` follower openids `o_fake_000000`, `o_fake_000001`, ...
pub fn generated_followers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("o_fake_{i:06}")).collect()
}

/// What the fake received. Calls answered with an injected error count in `calls` and
/// `injected_errors` only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeStats {
    pub calls: BTreeMap<Endpoint, u64>,
    /// `stable_token` calls that returned a token.
    pub token_fetches: u64,
    /// Distinct tokens issued.
    pub tokens_issued: u64,
    pub templates_sent: u64,
    /// Template sends answered with an earlier msgid (same touser and client_msg_id).
    pub template_duplicates: u64,
    pub mass_sends: u64,
    /// Mass sends answered 45065 (clientmsgid seen before).
    pub mass_duplicates: u64,
    /// Followers reached by mass sends.
    pub mass_recipients: u64,
    pub subscribe_sent: u64,
    pub sessions: u64,
    pub sec_checks: u64,
    pub injected_errors: u64,
    /// Calls refused by a quota (45009).
    pub quota_refusals: u64,
}

impl FakeStats {
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.calls.get(&endpoint).copied().unwrap_or(0)
    }

    /// Sends not delivered a second time thanks to a de-duplication key.
    pub fn duplicates_prevented(&self) -> u64 {
        self.template_duplicates + self.mass_duplicates
    }
}

/// A template message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTemplate {
    pub msgid: i64,
    pub touser: String,
    pub template_id: String,
    pub client_msg_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Errcode(i64),
    Http(u16),
}

struct OpenidFault {
    errcode: i64,
    /// None: every call.
    remaining: Option<u32>,
}

struct IssuedToken {
    app_id: String,
    expires_at: Instant,
    revoked: bool,
}

struct LoginCode {
    openid: String,
    unionid: Option<String>,
    used: bool,
}

/// An answer: HTTP 200 with JSON, or a bare status.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Json(Value),
    Status(u16),
}

fn error(code: i64) -> Value {
    json!({ "errcode": code, "errmsg": errmsg(code) })
}

fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        errcode::INVALID_CREDENTIAL => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        errcode::INVALID_OPENID => "invalid openid",
        errcode::INVALID_APPID => "invalid appid",
        errcode::INVALID_ACCESS_TOKEN => "invalid access_token",
        errcode::INVALID_CODE => "invalid code",
        errcode::INVALID_TEMPLATE_ID => "invalid template_id",
        errcode::INVALID_APPSECRET => "invalid appsecret",
        errcode::INVALID_OPENID_LIST_SIZE => "invalid openid list size, at least two openid",
        errcode::CODE_BEEN_USED => "code been used",
        errcode::ACCESS_TOKEN_MISSING => "access_token missing",
        errcode::ACCESS_TOKEN_EXPIRED => "access_token expired",
        errcode::REQUIRE_SUBSCRIBE => "require subscribe",
        errcode::USER_REFUSED => "user refuse to accept the msg",
        errcode::DAILY_QUOTA => "reach max api daily quota limit",
        errcode::FREQUENCY_LIMIT => "api freq out of limit",
        errcode::CLIENTMSGID_EXISTS => "clientmsgid exist",
        errcode::CLIENTMSGID_TOO_LONG => "clientmsgid too long",
        errcode::DATA_FORMAT_ERROR => "data format error",
        errcode::API_UNAUTHORIZED => "api unauthorized",
        _ => "injected error",
    }
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or("")
}

struct State {
    apps: HashMap<String, FakeApp>,
    token_lifetime: Duration,
    page_size: usize,
    latency: Duration,
    risky_words: Vec<String>,

    tokens: HashMap<String, IssuedToken>,
    current: HashMap<String, String>,
    followers: Vec<String>,
    follower_index: HashMap<String, usize>,
    unsubscribed: HashSet<String>,
    unionids: HashMap<String, String>,
    codes: HashMap<String, LoginCode>,
    grants: HashMap<(String, String), u32>,

    faults: HashMap<Endpoint, VecDeque<Fault>>,
    openid_faults: HashMap<String, OpenidFault>,
    quotas: HashMap<Endpoint, u64>,
    quota_used: HashMap<Endpoint, u64>,

    template_keys: HashMap<(String, String), i64>,
    mass_keys: HashMap<String, i64>,
    messages: HashMap<String, u64>,
    templates: Vec<SentTemplate>,
    qr_scenes: Vec<String>,
    next_id: i64,
    stats: FakeStats,
}

impl State {
    fn new(config: FakeConfig) -> Self {
        let mut state = Self {
            apps: config
                .apps
                .into_iter()
                .map(|a| (a.app_id.clone(), a))
                .collect(),
            token_lifetime: config.token_lifetime,
            page_size: config.page_size.clamp(1, MAX_PAGE),
            latency: config.latency,
            risky_words: config.risky_words,
            tokens: HashMap::new(),
            current: HashMap::new(),
            followers: Vec::new(),
            follower_index: HashMap::new(),
            unsubscribed: HashSet::new(),
            unionids: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            faults: HashMap::new(),
            openid_faults: HashMap::new(),
            quotas: HashMap::new(),
            quota_used: HashMap::new(),
            template_keys: HashMap::new(),
            mass_keys: HashMap::new(),
            messages: HashMap::new(),
            templates: Vec::new(),
            qr_scenes: Vec::new(),
            next_id: 1_000_000,
            stats: FakeStats::default(),
        };
        state.set_followers(config.followers);
        state
    }

    fn set_followers(&mut self, followers: Vec<String>) {
        self.follower_index = followers
            .iter()
            .enumerate()
            .map(|(i, o)| (o.clone(), i))
            .collect();
        for openid in &followers {
            self.unsubscribed.remove(openid);
        }
        self.followers = followers;
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Counts the call, then applies a queued fault and the quota of `endpoint`.
    fn admit(&mut self, endpoint: Endpoint) -> Option<Reply> {
        *self.stats.calls.entry(endpoint).or_default() += 1;
        if let Some(fault) = self.faults.get_mut(&endpoint).and_then(VecDeque::pop_front) {
            self.stats.injected_errors += 1;
            return Some(match fault {
                Fault::Errcode(code) => Reply::Json(error(code)),
                Fault::Http(status) => Reply::Status(status),
            });
        }
        if let Some(&quota) = self.quotas.get(&endpoint) {
            let used = self.quota_used.entry(endpoint).or_default();
            if *used >= quota {
                self.stats.quota_refusals += 1;
                return Some(Reply::Json(error(errcode::DAILY_QUOTA)));
            }
            *used += 1;
        }
        None
    }

    /// An injected error for calls addressed to `openid`.
    fn openid_fault(&mut self, openid: &str) -> Option<Value> {
        let fault = self.openid_faults.get_mut(openid)?;
        let code = fault.errcode;
        match &mut fault.remaining {
            None => {}
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.openid_faults.remove(openid);
                }
            }
        }
        self.stats.injected_errors += 1;
        Some(error(code))
    }

    /// The app of a valid token of the right kind.
    fn check_token(
        &self,
        query: &HashMap<String, String>,
        kind: AppKind,
        now: Instant,
    ) -> Result<String, Value> {
        let token = query.get("access_token").map(String::as_str).unwrap_or("");
        if token.is_empty() {
            return Err(error(errcode::ACCESS_TOKEN_MISSING));
        }
        let issued = match self.tokens.get(token) {
            Some(t) if !t.revoked => t,
            _ => return Err(error(errcode::INVALID_CREDENTIAL)),
        };
        if issued.expires_at <= now {
            return Err(error(errcode::ACCESS_TOKEN_EXPIRED));
        }
        match self.apps.get(&issued.app_id) {
            Some(app) if app.kind == kind => Ok(issued.app_id.clone()),
            _ => Err(error(errcode::API_UNAUTHORIZED)),
        }
    }

    fn pre_rotate(&self) -> Duration {
        (self.token_lifetime / 4).min(Duration::from_secs(300))
    }

    fn stable_token(&mut self, body: &Value, now: Instant) -> Value {
        if str_field(body, "grant_type") != "client_credential" {
            return error(40002);
        }
        let app_id = str_field(body, "appid");
        let Some(app) = self.apps.get(app_id) else {
            return error(errcode::INVALID_APPID);
        };
        if app.secret != str_field(body, "secret") {
            return error(errcode::INVALID_APPSECRET);
        }
        let app_id = app_id.to_string();
        let force = body
            .get("force_refresh")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if force {
            for t in self.tokens.values_mut().filter(|t| t.app_id == app_id) {
                t.revoked = true;
            }
        }
        let reuse = self.current.get(&app_id).and_then(|token| {
            let t = self.tokens.get(token)?;
            let left = t.expires_at.checked_duration_since(now)?;
            (!t.revoked && left > self.pre_rotate()).then(|| (token.clone(), left))
        });
        let (token, left) = match reuse {
            Some(found) => found,
            None => {
                let token = format!("FAKE_TOKEN_{}", uuid::Uuid::new_v4().simple());
                self.tokens.insert(
                    token.clone(),
                    IssuedToken {
                        app_id: app_id.clone(),
                        expires_at: now + self.token_lifetime,
                        revoked: false,
                    },
                );
                self.current.insert(app_id, token.clone());
                self.stats.tokens_issued += 1;
                (token, self.token_lifetime)
            }
        };
        self.stats.token_fetches += 1;
        json!({ "access_token": token, "expires_in": left.as_secs().max(1) })
    }

    fn user_get(&mut self, query: &HashMap<String, String>, now: Instant) -> Value {
        if let Err(e) = self.check_token(query, AppKind::OfficialAccount, now) {
            return e;
        }
        let next = query.get("next_openid").map(String::as_str).unwrap_or("");
        let start = if next.is_empty() {
            0
        } else {
            match self.follower_index.get(next) {
                Some(i) => i + 1,
                None => return error(errcode::INVALID_OPENID),
            }
        };
        let total = self.followers.len();
        let end = (start + self.page_size).min(total);
        let page = &self.followers[start.min(total)..end];
        match page.last() {
            None => json!({ "total": total, "count": 0, "next_openid": "" }),
            Some(last) => json!({
                "total": total,
                "count": page.len(),
                "data": { "openid": page },
                "next_openid": last,
            }),
        }
    }

    fn user_info(&mut self, query: &HashMap<String, String>, now: Instant) -> Value {
        if let Err(e) = self.check_token(query, AppKind::OfficialAccount, now) {
            return e;
        }
        let openid = query.get("openid").map(String::as_str).unwrap_or("");
        if let Some(e) = self.openid_fault(openid) {
            return e;
        }
        if self.follower_index.contains_key(openid) {
            let mut info = json!({
                "subscribe": 1,
                "openid": openid,
                "subscribe_time": 1_700_000_000,
                "remark": "",
                "tagid_list": [],
                "subscribe_scene": "ADD_SCENE_QR_CODE",
                "qr_scene": 0,
                "qr_scene_str": "",
            });
            if let Some(u) = self.unionids.get(openid) {
                info["unionid"] = json!(u);
            }
            info
        } else if self.unsubscribed.contains(openid) {
            json!({ "subscribe": 0, "openid": openid })
        } else {
            error(errcode::INVALID_OPENID)
        }
    }

    fn send_template(
        &mut self,
        query: &HashMap<String, String>,
        body: &Value,
        now: Instant,
    ) -> Value {
        if let Err(e) = self.check_token(query, AppKind::OfficialAccount, now) {
            return e;
        }
        let touser = str_field(body, "touser").to_string();
        let template_id = str_field(body, "template_id").to_string();
        if !body.get("data").is_some_and(Value::is_object) {
            return error(errcode::DATA_FORMAT_ERROR);
        }
        if let Some(e) = self.openid_fault(&touser) {
            return e;
        }
        let key = Some(str_field(body, "client_msg_id"))
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        if let Some(key) = &key
            && let Some(&msgid) = self.template_keys.get(&(touser.clone(), key.clone()))
        {
            self.stats.template_duplicates += 1;
            return json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid });
        }
        if template_id.is_empty() {
            return error(errcode::INVALID_TEMPLATE_ID);
        }
        if !self.follower_index.contains_key(&touser) {
            return error(if self.unsubscribed.contains(&touser) {
                errcode::REQUIRE_SUBSCRIBE
            } else {
                errcode::INVALID_OPENID
            });
        }
        let msgid = self.next_id();
        if let Some(key) = &key {
            self.template_keys
                .insert((touser.clone(), key.clone()), msgid);
        }
        *self.messages.entry(touser.clone()).or_default() += 1;
        self.stats.templates_sent += 1;
        self.templates.push(SentTemplate {
            msgid,
            touser,
            template_id,
            client_msg_id: key,
        });
        json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })
    }

    fn mass_send(&mut self, query: &HashMap<String, String>, body: &Value, now: Instant) -> Value {
        if let Err(e) = self.check_token(query, AppKind::OfficialAccount, now) {
            return e;
        }
        let Some(touser) = body.get("touser").and_then(Value::as_array) else {
            return error(errcode::DATA_FORMAT_ERROR);
        };
        let Some(touser) = touser
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
        else {
            return error(errcode::DATA_FORMAT_ERROR);
        };
        if touser.len() < 2 || touser.len() > MAX_MASS_RECIPIENTS {
            return error(errcode::INVALID_OPENID_LIST_SIZE);
        }
        let content_ok = match str_field(body, "msgtype") {
            "text" => !body["text"]["content"].as_str().unwrap_or("").is_empty(),
            "mpnews" => !body["mpnews"]["media_id"].as_str().unwrap_or("").is_empty(),
            _ => false,
        };
        if !content_ok {
            return error(errcode::DATA_FORMAT_ERROR);
        }
        let key = str_field(body, "clientmsgid").to_string();
        if key.len() > 64 {
            return error(errcode::CLIENTMSGID_TOO_LONG);
        }
        if let Some(&msg_id) = self.mass_keys.get(&key) {
            self.stats.mass_duplicates += 1;
            return json!({
                "errcode": errcode::CLIENTMSGID_EXISTS,
                "errmsg": errmsg(errcode::CLIENTMSGID_EXISTS),
                "msg_id": msg_id,
            });
        }
        let msg_id = self.next_id();
        let msg_data_id = self.next_id();
        if !key.is_empty() {
            self.mass_keys.insert(key, msg_id);
        }
        let unique: HashSet<String> = touser.into_iter().collect();
        for openid in unique {
            if self.follower_index.contains_key(&openid) {
                *self.messages.entry(openid).or_default() += 1;
                self.stats.mass_recipients += 1;
            }
        }
        self.stats.mass_sends += 1;
        json!({
            "errcode": 0,
            "errmsg": "send job submission success",
            "msg_id": msg_id,
            "msg_data_id": msg_data_id,
        })
    }

    fn send_subscribe(
        &mut self,
        query: &HashMap<String, String>,
        body: &Value,
        now: Instant,
    ) -> Value {
        if let Err(e) = self.check_token(query, AppKind::MiniProgram, now) {
            return e;
        }
        let touser = str_field(body, "touser").to_string();
        let template_id = str_field(body, "template_id").to_string();
        if touser.is_empty() {
            return error(errcode::INVALID_OPENID);
        }
        if template_id.is_empty() {
            return error(errcode::INVALID_TEMPLATE_ID);
        }
        if !body.get("data").is_some_and(Value::is_object) {
            return error(errcode::DATA_FORMAT_ERROR);
        }
        if let Some(e) = self.openid_fault(&touser) {
            return e;
        }
        match self.grants.get_mut(&(touser.clone(), template_id)) {
            Some(credits) if *credits > 0 => *credits -= 1,
            _ => return error(errcode::USER_REFUSED),
        }
        *self.messages.entry(touser).or_default() += 1;
        self.stats.subscribe_sent += 1;
        let msgid = self.next_id();
        json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })
    }

    /// Temporary string-scene codes only (what qshare mints).
    fn qrcode_create(
        &mut self,
        query: &HashMap<String, String>,
        body: &Value,
        now: Instant,
    ) -> Value {
        if let Err(e) = self.check_token(query, AppKind::OfficialAccount, now) {
            return e;
        }
        let scene = body["action_info"]["scene"]["scene_str"]
            .as_str()
            .unwrap_or("");
        // WeChat's default lifetime is 60 s and its maximum 30 days.
        let expire = body["expire_seconds"].as_u64().unwrap_or(60);
        if body["action_name"] != "QR_STR_SCENE"
            || scene.is_empty()
            || scene.len() > 64
            || expire > 2_592_000
        {
            return error(errcode::DATA_FORMAT_ERROR);
        }
        let id = self.next_id();
        self.qr_scenes.push(scene.to_string());
        json!({
            "ticket": format!("gQFake{id}=="),
            "expire_seconds": expire,
            "url": format!("http://weixin.qq.com/q/fake{id}"),
        })
    }

    fn jscode2session(&mut self, query: &HashMap<String, String>) -> Value {
        let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
        match self.apps.get(get("appid")) {
            Some(app) if app.kind == AppKind::MiniProgram => {
                if app.secret != get("secret") {
                    return error(errcode::INVALID_APPSECRET);
                }
            }
            _ => return error(errcode::INVALID_APPID),
        }
        if get("grant_type") != "authorization_code" {
            return error(40002);
        }
        let Some(login) = self.codes.get_mut(get("js_code")) else {
            return error(errcode::INVALID_CODE);
        };
        if login.used {
            return error(errcode::CODE_BEEN_USED);
        }
        login.used = true;
        let mut session = json!({
            "openid": login.openid,
            "session_key": format!("{}==", &uuid::Uuid::new_v4().simple().to_string()[..22]),
        });
        if let Some(u) = &login.unionid {
            session["unionid"] = json!(u);
        }
        self.stats.sessions += 1;
        session
    }

    fn msg_sec_check(
        &mut self,
        query: &HashMap<String, String>,
        body: &Value,
        now: Instant,
    ) -> Value {
        if let Err(e) = self.check_token(query, AppKind::MiniProgram, now) {
            return e;
        }
        // Only version 2 is faked (version 1 answers risky content with errcode 87014).
        let Some(content) = body.get("content").and_then(Value::as_str) else {
            return error(errcode::DATA_FORMAT_ERROR);
        };
        if body.get("version").and_then(Value::as_i64) != Some(2)
            || !(1..=4).contains(&body.get("scene").and_then(Value::as_i64).unwrap_or(0))
        {
            return error(errcode::DATA_FORMAT_ERROR);
        }
        if str_field(body, "openid").is_empty() {
            return error(errcode::INVALID_OPENID);
        }
        let lower = content.to_lowercase();
        let hit = self
            .risky_words
            .iter()
            .find(|w| lower.contains(&w.to_lowercase()));
        self.stats.sec_checks += 1;
        let (suggest, label) = if hit.is_some() {
            ("risky", 21000)
        } else {
            ("pass", 100)
        };
        json!({
            "errcode": 0,
            "errmsg": "ok",
            "result": { "suggest": suggest, "label": label },
            "detail": [{ "strategy": "keyword", "errcode": 0, "suggest": suggest,
                         "label": label, "keyword": hit }],
            "trace_id": uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    /// Routes one request to its logic, after faults and quotas.
    fn answer(
        &mut self,
        endpoint: Endpoint,
        query: &HashMap<String, String>,
        body: &[u8],
        now: Instant,
    ) -> Reply {
        if let Some(reply) = self.admit(endpoint) {
            return reply;
        }
        let needs_body = !matches!(
            endpoint,
            Endpoint::UserGet | Endpoint::UserInfo | Endpoint::JsCode2Session
        );
        let body: Value = if needs_body {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Reply::Json(error(errcode::DATA_FORMAT_ERROR)),
            }
        } else {
            Value::Null
        };
        Reply::Json(match endpoint {
            Endpoint::StableToken => self.stable_token(&body, now),
            Endpoint::UserGet => self.user_get(query, now),
            Endpoint::UserInfo => self.user_info(query, now),
            Endpoint::TemplateSend => self.send_template(query, &body, now),
            Endpoint::MassSend => self.mass_send(query, &body, now),
            Endpoint::SubscribeSend => self.send_subscribe(query, &body, now),
            Endpoint::JsCode2Session => self.jscode2session(query),
            Endpoint::MsgSecCheck => self.msg_sec_check(query, &body, now),
            Endpoint::QrcodeCreate => self.qrcode_create(query, &body, now),
        })
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(
    shared: &Shared,
    endpoint: Endpoint,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let latency = lock(shared).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reply = lock(shared).answer(endpoint, query, body, Instant::now());
    match reply {
        Reply::Json(value) => Json(value).into_response(),
        Reply::Status(status) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
    }
}

macro_rules! fake_handler {
    ($name:ident, $endpoint:expr) => {
        #[handler]
        async fn $name(
            Data(shared): Data<&Shared>,
            Query(query): Query<HashMap<String, String>>,
            body: bytes::Bytes,
        ) -> Response {
            serve(shared, $endpoint, &query, &body).await
        }
    };
}

fake_handler!(stable_token, Endpoint::StableToken);
fake_handler!(user_get, Endpoint::UserGet);
fake_handler!(user_info, Endpoint::UserInfo);
fake_handler!(template_send, Endpoint::TemplateSend);
fake_handler!(mass_send, Endpoint::MassSend);
fake_handler!(subscribe_send, Endpoint::SubscribeSend);
fake_handler!(jscode2session, Endpoint::JsCode2Session);
fake_handler!(msg_sec_check, Endpoint::MsgSecCheck);
fake_handler!(qrcode_create, Endpoint::QrcodeCreate);

/// A running fake. Stops when dropped or through [`FakeWechat::stop`].
pub struct FakeWechat {
    base_url: String,
    addr: SocketAddr,
    state: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeWechat {
    /// The default fake (apps [`OA_APP_ID`] and [`MP_APP_ID`], no followers) on
    /// 127.0.0.1 and a free port.
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        Self::bind("127.0.0.1:0", config)
            .await
            .expect("the fake WeChat cannot listen on 127.0.0.1")
    }

    /// Listens on `addr` (e.g. `127.0.0.1:9090`).
    pub async fn bind(addr: &str, config: FakeConfig) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr.to_string()).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("listener has no address"))?;
        let state: Shared = Arc::new(Mutex::new(State::new(config)));
        let app = Route::new()
            .at("/cgi-bin/stable_token", post(stable_token))
            .at("/cgi-bin/user/get", user_get)
            .at("/cgi-bin/user/info", user_info)
            .at("/cgi-bin/message/template/send", post(template_send))
            .at("/cgi-bin/message/mass/send", post(mass_send))
            .at("/cgi-bin/message/subscribe/send", post(subscribe_send))
            .at("/sns/jscode2session", jscode2session)
            .at("/wxa/msg_sec_check", post(msg_sec_check))
            .at("/cgi-bin/qrcode/create", post(qrcode_create))
            .data(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let signal = async {
                let _ = rx.await;
            };
            if let Err(e) = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, signal, Some(Duration::from_secs(1)))
                .await
            {
                tracing::warn!(error = %e, "fake wechat server stopped");
            }
        });
        Ok(Self {
            base_url: format!("http://{addr}"),
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: the `wechat.api_base_url` to point a client at.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and waits for in-flight requests (at most a second).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ---- configuration -------------------------------------------------------------

    pub fn set_followers(&self, followers: Vec<String>) {
        self.state().set_followers(followers);
    }

    /// The follower unfollows: `user/info` says subscribe 0, sends answer 43004.
    pub fn unfollow(&self, openid: &str) {
        let mut state = self.state();
        let mut followers = std::mem::take(&mut state.followers);
        followers.retain(|o| o != openid);
        state.set_followers(followers);
        state.unsubscribed.insert(openid.to_string());
    }

    pub fn set_unionid(&self, openid: &str, unionid: &str) {
        self.state()
            .unionids
            .insert(openid.to_string(), unionid.to_string());
    }

    /// A mini-program login code that `jscode2session` accepts once.
    pub fn add_login_code(&self, code: &str, openid: &str, unionid: Option<&str>) {
        self.state().codes.insert(
            code.to_string(),
            LoginCode {
                openid: openid.to_string(),
                unionid: unionid.map(str::to_string),
                used: false,
            },
        );
    }

    /// The user accepted `template_id` `credits` times (each subscribe send spends one).
    pub fn grant_subscribe(&self, openid: &str, template_id: &str, credits: u32) {
        *self
            .state()
            .grants
            .entry((openid.to_string(), template_id.to_string()))
            .or_default() += credits;
    }

    pub fn subscribe_credits(&self, openid: &str, template_id: &str) -> u32 {
        self.state()
            .grants
            .get(&(openid.to_string(), template_id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn set_risky_words(&self, words: &[&str]) {
        self.state().risky_words = words.iter().map(|w| w.to_string()).collect();
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Answer 45009 once `calls` calls of `endpoint` were served (None: no quota).
    pub fn set_quota(&self, endpoint: Endpoint, calls: Option<u64>) {
        let mut state = self.state();
        state.quota_used.remove(&endpoint);
        match calls {
            Some(n) => state.quotas.insert(endpoint, n),
            None => state.quotas.remove(&endpoint),
        };
    }

    /// The next `times` calls of `endpoint` answer `errcode` (e.g. 40001, -1, 45009).
    pub fn fail_next(&self, endpoint: Endpoint, errcode: i64, times: u32) {
        self.push_faults(endpoint, Fault::Errcode(errcode), times);
    }

    /// The next `times` calls of `endpoint` answer a bare HTTP `status` (e.g. 502).
    pub fn fail_next_http(&self, endpoint: Endpoint, status: u16, times: u32) {
        self.push_faults(endpoint, Fault::Http(status), times);
    }

    fn push_faults(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        let mut state = self.state();
        let queue = state.faults.entry(endpoint).or_default();
        queue.extend(std::iter::repeat_n(fault, times as usize));
    }

    /// Calls addressed to `openid` (template and subscribe sends, user/info) answer
    /// `errcode` (e.g. 43004, 43101, 40003), `times` times or, with None, always.
    pub fn fail_openid(&self, openid: &str, errcode: i64, times: Option<u32>) {
        let mut state = self.state();
        if times == Some(0) {
            state.openid_faults.remove(openid);
            return;
        }
        state.openid_faults.insert(
            openid.to_string(),
            OpenidFault {
                errcode,
                remaining: times,
            },
        );
    }

    /// Invalidates every token, as a `force_refresh` elsewhere would: calls with them get
    /// 40001, and `stable_token` issues new ones.
    pub fn invalidate_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            t.revoked = true;
        }
    }

    // ---- observations ---------------------------------------------------------------

    pub fn stats(&self) -> FakeStats {
        self.state().stats.clone()
    }

    /// The scene strings of the QR codes created, oldest first.
    pub fn qr_scenes(&self) -> Vec<String> {
        self.state().qr_scenes.clone()
    }

    /// Messages delivered to `openid` through any channel (duplicates not counted).
    pub fn messages_to(&self, openid: &str) -> u64 {
        self.state().messages.get(openid).copied().unwrap_or(0)
    }

    /// Openids that received more than one message.
    pub fn openids_with_several_messages(&self) -> Vec<String> {
        let state = self.state();
        let mut out: Vec<String> = state
            .messages
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(o, _)| o.clone())
            .collect();
        out.sort();
        out
    }

    pub fn templates_sent(&self) -> Vec<SentTemplate> {
        self.state().templates.clone()
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_followers(n: usize) -> State {
        State::new(FakeConfig {
            followers: generated_followers(n),
            ..FakeConfig::default()
        })
    }

    fn token(state: &mut State, app_id: &str, secret: &str, now: Instant) -> String {
        let v = state.stable_token(
            &json!({"grant_type": "client_credential", "appid": app_id, "secret": secret}),
            now,
        );
        v["access_token"].as_str().expect("a token").to_string()
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn template(touser: &str, key: &str) -> Value {
        json!({"touser": touser, "template_id": "T1", "client_msg_id": key,
               "data": {"thing1": {"value": "x"}}})
    }

    #[test]
    fn a_repeated_client_msg_id_returns_the_first_msgid_and_is_not_counted() {
        let now = Instant::now();
        let mut s = state_with_followers(2);
        let t = token(&mut s, OA_APP_ID, OA_SECRET, now);
        let query = q(&[("access_token", &t)]);
        let first = s.send_template(&query, &template("o_fake_000000", "k1"), now);
        let again = s.send_template(&query, &template("o_fake_000000", "k1"), now);
        assert_eq!(first["errcode"], 0);
        assert_eq!(again["msgid"], first["msgid"]);
        // The same key for another recipient is another message.
        let other = s.send_template(&query, &template("o_fake_000001", "k1"), now);
        assert_ne!(other["msgid"], first["msgid"]);
        assert_eq!(s.stats.templates_sent, 2);
        assert_eq!(s.stats.template_duplicates, 1);
        assert_eq!(s.messages["o_fake_000000"], 1);
        assert_eq!(s.templates.len(), 2);
    }

    #[test]
    fn a_repeated_clientmsgid_answers_45065_with_the_original_msg_id() {
        let now = Instant::now();
        let mut s = state_with_followers(3);
        let t = token(&mut s, OA_APP_ID, OA_SECRET, now);
        let query = q(&[("access_token", &t)]);
        let body = json!({"touser": ["o_fake_000000", "o_fake_000001", "stranger"],
            "msgtype": "text", "text": {"content": "hi"}, "clientmsgid": "a42"});
        let first = s.mass_send(&query, &body, now);
        assert_eq!(first["errcode"], 0);
        let again = s.mass_send(&query, &body, now);
        assert_eq!(again["errcode"], 45065);
        assert_eq!(again["msg_id"], first["msg_id"]);
        assert_eq!(s.stats.mass_sends, 1);
        assert_eq!(s.stats.mass_duplicates, 1);
        assert_eq!(s.stats.mass_recipients, 2, "only followers are reached");
        let one = json!({"touser": ["o_fake_000000"], "msgtype": "text",
            "text": {"content": "hi"}, "clientmsgid": "a43"});
        assert_eq!(s.mass_send(&query, &one, now)["errcode"], 40130);
    }

    #[test]
    fn stable_token_is_stable_until_its_last_minutes_and_checked_everywhere() {
        let now = Instant::now();
        let mut s = State::new(FakeConfig {
            token_lifetime: Duration::from_secs(100),
            ..FakeConfig::default()
        });
        let a = token(&mut s, OA_APP_ID, OA_SECRET, now);
        let b = token(&mut s, OA_APP_ID, OA_SECRET, now + Duration::from_secs(10));
        assert_eq!(a, b, "same token while valid");
        assert_eq!(s.stats.tokens_issued, 1);
        assert_eq!(s.stats.token_fetches, 2);
        // In the last quarter a new token comes; the old one still works until it expires.
        let late = now + Duration::from_secs(80);
        let c = token(&mut s, OA_APP_ID, OA_SECRET, late);
        assert_ne!(a, c);
        let query = q(&[("access_token", &a)]);
        assert_eq!(s.user_get(&query, late)["count"], 0);
        let expired = now + Duration::from_secs(100);
        assert_eq!(s.user_get(&query, expired)["errcode"], 42001);
        assert_eq!(
            s.user_get(&q(&[("access_token", "nope")]), now)["errcode"],
            40001
        );
        assert_eq!(s.user_get(&q(&[]), now)["errcode"], 41001);
        // A mini-program token cannot call Official Account APIs.
        let mp = token(&mut s, MP_APP_ID, MP_SECRET, now);
        assert_eq!(
            s.user_get(&q(&[("access_token", &mp)]), now)["errcode"],
            48001
        );
        // Wrong credentials.
        let bad = s.stable_token(
            &json!({"grant_type": "client_credential", "appid": OA_APP_ID, "secret": "x"}),
            now,
        );
        assert_eq!(bad["errcode"], 40125);
        assert!(!bad.to_string().contains(OA_SECRET));
        let unknown = s.stable_token(
            &json!({"grant_type": "client_credential", "appid": "wxnope", "secret": "x"}),
            now,
        );
        assert_eq!(unknown["errcode"], 40013);
    }

    #[test]
    fn user_get_pages_and_omits_data_on_the_last_page() {
        let now = Instant::now();
        let mut s = state_with_followers(25_000);
        let t = token(&mut s, OA_APP_ID, OA_SECRET, now);
        let first = s.user_get(&q(&[("access_token", &t)]), now);
        assert_eq!(first["count"], 10_000);
        assert_eq!(first["total"], 25_000);
        assert_eq!(first["next_openid"], "o_fake_009999");
        let third = s.user_get(
            &q(&[("access_token", &t), ("next_openid", "o_fake_019999")]),
            now,
        );
        assert_eq!(third["count"], 5_000);
        let last = s.user_get(
            &q(&[("access_token", &t), ("next_openid", "o_fake_024999")]),
            now,
        );
        assert_eq!(last["count"], 0);
        assert!(last.get("data").is_none());
    }

    #[test]
    fn faults_quotas_and_grants_answer_like_wechat() {
        let now = Instant::now();
        let mut s = state_with_followers(1);
        s.faults
            .entry(Endpoint::UserGet)
            .or_default()
            .extend([Fault::Errcode(-1), Fault::Http(502)]);
        assert_eq!(
            s.answer(Endpoint::UserGet, &q(&[]), b"", now),
            Reply::Json(error(-1))
        );
        assert_eq!(
            s.answer(Endpoint::UserGet, &q(&[]), b"", now),
            Reply::Status(502)
        );
        // Queue drained: the real logic answers again (here: no token).
        assert_eq!(
            s.answer(Endpoint::UserGet, &q(&[]), b"", now),
            Reply::Json(error(41001))
        );
        assert_eq!(s.stats.calls(Endpoint::UserGet), 3);
        assert_eq!(s.stats.injected_errors, 2);

        s.quotas.insert(Endpoint::StableToken, 1);
        let body = br#"{"grant_type":"client_credential","appid":"wxfakeminiprogram1","secret":"fake-mini-program-secret"}"#;
        let Reply::Json(ok) = s.answer(Endpoint::StableToken, &q(&[]), body, now) else {
            panic!("json")
        };
        let mp = ok["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            s.answer(Endpoint::StableToken, &q(&[]), body, now),
            Reply::Json(error(45009))
        );

        let query = q(&[("access_token", &mp)]);
        let msg = json!({"touser": "mp_user", "template_id": "S1", "data": {}});
        assert_eq!(s.send_subscribe(&query, &msg, now)["errcode"], 43101);
        s.grants.insert(("mp_user".into(), "S1".into()), 1);
        assert_eq!(s.send_subscribe(&query, &msg, now)["errcode"], 0);
        assert_eq!(
            s.send_subscribe(&query, &msg, now)["errcode"],
            43101,
            "credit spent"
        );
        s.openid_faults.insert(
            "mp_user".into(),
            OpenidFault {
                errcode: 43101,
                remaining: Some(1),
            },
        );
        s.grants.insert(("mp_user".into(), "S1".into()), 1);
        assert_eq!(s.send_subscribe(&query, &msg, now)["errcode"], 43101);
        assert_eq!(
            s.send_subscribe(&query, &msg, now)["errcode"],
            0,
            "fault used up"
        );
        assert_eq!(
            s.answer(Endpoint::MsgSecCheck, &query, b"not json", now),
            Reply::Json(error(47001))
        );
    }
}
