//! A fake of the device push services on one loopback port, over HTTP/2 and TLS with a
//! certificate made at start (its CA's PEM is written to a file for `ca_cert_path`):
//!
//! - APNs: `POST /3/device/{token}`, checking the ES256 provider JWT (`kid`, `iss`, age),
//!   `apns-topic`, `apns-push-type`, `apns-collapse-id` (≤ 64 bytes) and the 4096-byte
//!   payload limit;
//! - FCM: the OAuth token endpoint `POST /token` (RS256 assertion checked) and
//!   `POST /v1/projects/{project}/messages:send` (the access token checked);
//! - HarmonyOS Push Kit: `POST /v3/{project}/messages:send` (PS256 JWT checked).
//!
//! Answers are scripted per device token (410 with a timestamp, 400 reasons, 429 with
//! Retry-After, 500/503, ...); it counts messages per token, provider-token mints, and the
//! provider JWTs seen per connection.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Test-only keys (never used anywhere real): the APNs `.p8` key and the RSA key of the
/// FCM and HarmonyOS service accounts.
pub const APNS_KEY_PEM: &str = include_str!("../keys/apns_test_key.p8");
const APNS_PUBLIC_PEM: &str = include_str!("../keys/apns_test_key.pub.pem");
pub const SERVICE_ACCOUNT_KEY_PEM: &str = include_str!("../keys/service_account_test_key.pem");
const SERVICE_ACCOUNT_PUBLIC_PEM: &str = include_str!("../keys/service_account_test_key.pub.pem");

pub const APNS_KEY_ID: &str = "FAKEKEY123";
pub const APNS_TEAM_ID: &str = "FAKETEAM01";
pub const APNS_TOPIC: &str = "com.example.qshare";
pub const FCM_PROJECT: &str = "qshare-fake";
pub const FCM_CLIENT_EMAIL: &str = "push@qshare-fake.iam.gserviceaccount.com";
pub const HARMONY_PROJECT: &str = "388421841221000000";
pub const HARMONY_KEY_ID: &str = "fake-harmony-key";
pub const HARMONY_SUB_ACCOUNT: &str = "1100000000";

const PAYLOAD_MAX: usize = 4096;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
    /// Answer this late (for timeouts).
    pub delay: Option<Duration>,
}

impl Answer {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            retry_after: None,
            delay: None,
        }
    }

    /// APNs `{"reason"}` with `status`.
    pub fn apns(status: u16, reason: &str) -> Self {
        Self::new(status, json!({ "reason": reason }))
    }

    /// APNs 410 Unregistered, the token invalid since `timestamp_ms`.
    pub fn apns_unregistered(timestamp_ms: i64) -> Self {
        Self::new(
            410,
            json!({ "reason": "Unregistered", "timestamp": timestamp_ms }),
        )
    }

    /// An FCM error: `status` with the google.rpc status and the FcmError code.
    pub fn fcm(status: u16, rpc_status: &str, code: &str, message: &str) -> Self {
        Self::new(
            status,
            json!({ "error": { "code": status, "message": message, "status": rpc_status,
                "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }] } }),
        )
    }

    /// FCM's 429 QUOTA_EXCEEDED with its `QuotaFailure` detail: the per-device quota
    /// (subject `device:{token}`) or the project's (`project:{id}`).
    pub fn fcm_quota(per_device_token: Option<&str>) -> Self {
        let subject = match per_device_token {
            Some(token) => format!("device:{token}"),
            None => format!("project:{FCM_PROJECT}"),
        };
        Self::new(
            429,
            json!({ "error": { "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
                "details": [
                    { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED" },
                    { "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                      "violations": [{ "subject": subject, "description": "Message rate exceeded" }] },
                ] } }),
        )
    }

    /// A Push Kit answer code with HTTP `status`.
    pub fn harmony(status: u16, code: &str) -> Self {
        Self::new(
            status,
            json!({ "code": code, "msg": "scripted", "requestId": "fake" }),
        )
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn delayed(mut self, by: Duration) -> Self {
        self.delay = Some(by);
        self
    }
}

/// A request the fake accepted (200), as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub service: &'static str,
    pub token: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Script {
    once: VecDeque<Answer>,
    always: Option<Answer>,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Script>,
    /// Accepted messages per device token.
    delivered: HashMap<String, u64>,
    /// Requests per device token (any answer).
    attempts: HashMap<String, u64>,
    received: Vec<Received>,
    apns_jwts: HashSet<String>,
    harmony_jwts: HashSet<String>,
    fcm_access_tokens: HashSet<String>,
    /// Most distinct provider JWTs one connection presented.
    max_jwts_per_connection: u64,
    /// 403 InvalidProviderToken for every APNs request (a revoked key).
    apns_refuse_all: bool,
    /// APNs provider JWTs answered 403 ExpiredProviderToken from now on.
    apns_expired: HashSet<String>,
    /// Provider JWTs whose signature checked out, with their `iat` (each is verified once:
    /// a signature check per request would make the fake, not the sender, the bottleneck).
    verified: HashMap<String, i64>,
}

struct Shared {
    state: Mutex<State>,
    apns_key: DecodingKey,
    rsa_key: DecodingKey,
    fcm_mints: AtomicU64,
    connections: AtomicU64,
    /// The `expires_in` of FCM access tokens.
    fcm_token_lifetime: AtomicU64,
    /// Delay before every answer, in milliseconds.
    latency_ms: AtomicU64,
    token_uri: Mutex<String>,
    /// Keep a copy of every accepted request (`received`); off for benchmarks, where the
    /// copies would cost the fake more than the sender.
    record_received: AtomicBool,
}

/// A running fake; stops when dropped.
pub struct FakePush {
    addr: SocketAddr,
    ca_path: PathBuf,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePush {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.ca_path);
    }
}

fn tls_config() -> (rustls::ServerConfig, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "qshare fake push CA");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec()];
    (config, ca.pem())
}

impl FakePush {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(bind: &str) -> Self {
        let (config, ca_pem) = tls_config();
        let ca_path =
            std::env::temp_dir().join(format!("qshare-fake-push-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca_path, ca_pem).expect("write the CA");
        let listener = TcpListener::bind(bind).await.expect("bind fake push");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            apns_key: DecodingKey::from_ec_pem(APNS_PUBLIC_PEM.as_bytes()).expect("apns key"),
            rsa_key: DecodingKey::from_rsa_pem(SERVICE_ACCOUNT_PUBLIC_PEM.as_bytes())
                .expect("rsa key"),
            fcm_mints: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            fcm_token_lifetime: AtomicU64::new(3600),
            latency_ms: AtomicU64::new(0),
            token_uri: Mutex::new(format!("https://localhost:{}/token", addr.port())),
            record_received: AtomicBool::new(true),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let shared = serving.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        shared.connections.fetch_add(1, Ordering::Relaxed);
                        serve_connection(shared, tls).await;
                    }
                });
            }
        });
        Self {
            addr,
            ca_path,
            shared,
            task,
        }
    }

    /// `https://localhost:{port}`: every service's base URL.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn token_uri(&self) -> String {
        self.shared.token_uri.lock().unwrap().clone()
    }

    /// The CA certificate to trust (`ca_cert_path`).
    pub fn ca_cert_path(&self) -> String {
        self.ca_path.display().to_string()
    }

    /// The FCM service-account JSON, its `token_uri` pointing here.
    pub fn fcm_service_account(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "fake",
            "private_key": SERVICE_ACCOUNT_KEY_PEM,
            "client_email": FCM_CLIENT_EMAIL,
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    pub fn harmony_service_account() -> String {
        json!({
            "project_id": HARMONY_PROJECT,
            "key_id": HARMONY_KEY_ID,
            "private_key": SERVICE_ACCOUNT_KEY_PEM,
            "sub_account": HARMONY_SUB_ACCOUNT,
            "auth_uri": "https://oauth-login.cloud.huawei.com/oauth2/v3/authorize",
            "token_uri": "https://oauth-login.cloud.huawei.com/oauth2/v3/token",
        })
        .to_string()
    }

    /// Answers `answers` to the next requests for `token`, one each, then success.
    pub fn script(&self, token: &str, answers: Vec<Answer>) {
        let mut s = self.shared.state.lock().unwrap();
        s.scripts
            .entry(token.to_string())
            .or_default()
            .once
            .extend(answers);
    }

    /// Answers `answer` to every request for `token` (after any scripted once).
    pub fn always(&self, token: &str, answer: Answer) {
        let mut s = self.shared.state.lock().unwrap();
        s.scripts.entry(token.to_string()).or_default().always = Some(answer);
    }

    /// Forgets the scripts of `token` (it answers success again).
    pub fn clear(&self, token: &str) {
        self.shared.state.lock().unwrap().scripts.remove(token);
    }

    /// Every APNs request answered 403 InvalidProviderToken (a revoked key), or not.
    pub fn refuse_apns_tokens(&self, on: bool) {
        self.shared.state.lock().unwrap().apns_refuse_all = on;
    }

    /// Every APNs provider JWT seen so far is answered 403 ExpiredProviderToken from now
    /// on (as Apple does once a token is an hour old); JWTs minted later are accepted.
    pub fn expire_apns_jwts(&self) {
        let mut s = self.shared.state.lock().unwrap();
        let seen: Vec<String> = s.apns_jwts.iter().cloned().collect();
        s.apns_expired.extend(seen);
    }

    /// Delays every answer (a slow provider; lets a test kill a worker mid-campaign).
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Keeps copies of accepted requests for `received` (the default), or not.
    pub fn set_record_received(&self, on: bool) {
        self.shared.record_received.store(on, Ordering::Relaxed);
    }

    pub fn set_fcm_token_lifetime(&self, secs: u64) {
        self.shared
            .fcm_token_lifetime
            .store(secs, Ordering::Relaxed);
    }

    /// Messages accepted for `token`.
    pub fn delivered(&self, token: &str) -> u64 {
        *self
            .shared
            .state
            .lock()
            .unwrap()
            .delivered
            .get(token)
            .unwrap_or(&0)
    }

    /// Requests for `token`, whatever the answer.
    pub fn attempts(&self, token: &str) -> u64 {
        *self
            .shared
            .state
            .lock()
            .unwrap()
            .attempts
            .get(token)
            .unwrap_or(&0)
    }

    pub fn total_delivered(&self) -> u64 {
        self.shared.state.lock().unwrap().delivered.values().sum()
    }

    /// Tokens that received more than one message.
    pub fn duplicates(&self) -> u64 {
        self.shared
            .state
            .lock()
            .unwrap()
            .delivered
            .values()
            .filter(|n| **n > 1)
            .count() as u64
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// Distinct APNs provider JWTs seen (= mints by the senders).
    pub fn apns_jwts(&self) -> u64 {
        self.shared.state.lock().unwrap().apns_jwts.len() as u64
    }

    pub fn harmony_jwts(&self) -> u64 {
        self.shared.state.lock().unwrap().harmony_jwts.len() as u64
    }

    /// FCM access tokens handed out by the token endpoint.
    pub fn fcm_mints(&self) -> u64 {
        self.shared.fcm_mints.load(Ordering::Relaxed)
    }

    pub fn max_jwts_per_connection(&self) -> u64 {
        self.shared.state.lock().unwrap().max_jwts_per_connection
    }

    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) {
    let Ok(mut conn) = h2::server::Builder::new()
        .max_concurrent_streams(1000)
        .handshake::<_, Bytes>(tls)
        .await
    else {
        return;
    };
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    while let Some(Ok((req, respond))) = conn.accept().await {
        let shared = shared.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            handle(shared, seen, req, respond).await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    seen: Arc<Mutex<HashSet<String>>>,
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let (parts, mut body) = req.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 1 << 20 {
            break;
        }
    }
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let path = parts.uri.path().to_string();
    let latency = shared.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let answer = route(&shared, &seen, &path, &headers, &bytes);
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    if let Some(secs) = answer.retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    if let Some(id) = headers.get("apns-id") {
        builder = builder.header("apns-id", id.as_str());
    }
    let Ok(response) = builder.body(()) else {
        return;
    };
    let payload = if answer.status == 200 && answer.body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec(&answer.body).unwrap_or_default())
    };
    if let Ok(mut stream) = respond.send_response(response, payload.is_empty())
        && !payload.is_empty()
    {
        let _ = stream.send_data(payload, true);
    }
}

fn ok() -> Answer {
    Answer::new(200, Value::Null)
}

/// The scripted answer for `token`, if any (consumed when once).
fn scripted(state: &mut State, token: &str) -> Option<Answer> {
    let script = state.scripts.get_mut(token)?;
    script.once.pop_front().or_else(|| script.always.clone())
}

fn route(
    shared: &Shared,
    seen: &Mutex<HashSet<String>>,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Answer {
    if let Some(token) = path.strip_prefix("/3/device/") {
        return apns(shared, seen, token, headers, body);
    }
    if path == "/token" {
        return fcm_token(shared, body);
    }
    if path == format!("/v1/projects/{FCM_PROJECT}/messages:send") {
        return fcm_send(shared, headers, body);
    }
    if path == format!("/v3/{HARMONY_PROJECT}/messages:send") {
        return harmony_send(shared, seen, headers, body);
    }
    Answer::new(404, json!({ "error": format!("no such path {path}") }))
}

fn bearer(headers: &HashMap<String, String>) -> Option<&str> {
    let auth = headers.get("authorization")?;
    auth.strip_prefix("bearer ")
        .or_else(|| auth.strip_prefix("Bearer "))
}

fn note_jwt(state: &mut State, seen: &Mutex<HashSet<String>>, jwt: &str, apns: bool) {
    let mut seen = seen.lock().unwrap();
    seen.insert(jwt.to_string());
    state.max_jwts_per_connection = state.max_jwts_per_connection.max(seen.len() as u64);
    if apns {
        state.apns_jwts.insert(jwt.to_string());
    } else {
        state.harmony_jwts.insert(jwt.to_string());
    }
}

fn count(
    shared: &Shared,
    state: &mut State,
    service: &'static str,
    token: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    answer: &Answer,
) {
    *state.attempts.entry(token.to_string()).or_default() += 1;
    if answer.status == 200 && (answer.body.is_null() || answer.body["code"] == "80000000") {
        *state.delivered.entry(token.to_string()).or_default() += 1;
        if shared.record_received.load(Ordering::Relaxed) && state.received.len() < 100_000 {
            state.received.push(Received {
                service,
                token: token.to_string(),
                headers: headers.clone(),
                body: serde_json::from_slice(body).unwrap_or(Value::Null),
            });
        }
    }
}

fn apns(
    shared: &Shared,
    seen: &Mutex<HashSet<String>>,
    token: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Answer {
    let answer = apns_check(shared, seen, token, headers, body);
    let mut state = shared.state.lock().unwrap();
    let answer = match answer {
        Some(refused) => refused,
        None => scripted(&mut state, token).unwrap_or_else(ok),
    };
    count(shared, &mut state, "apns", token, headers, body, &answer);
    answer
}

/// What real APNs would refuse before looking at the token.
fn apns_check(
    shared: &Shared,
    seen: &Mutex<HashSet<String>>,
    token: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Option<Answer> {
    let Some(jwt) = bearer(headers) else {
        return Some(Answer::apns(403, "MissingProviderToken"));
    };
    {
        let mut state = shared.state.lock().unwrap();
        note_jwt(&mut state, seen, jwt, true);
        if state.apns_refuse_all {
            return Some(Answer::apns(403, "InvalidProviderToken"));
        }
    }
    let header = jsonwebtoken::decode_header(jwt).ok();
    if header.as_ref().and_then(|h| h.kid.as_deref()) != Some(APNS_KEY_ID)
        || header.as_ref().map(|h| h.alg) != Some(Algorithm::ES256)
    {
        return Some(Answer::apns(403, "InvalidProviderToken"));
    }
    let known = shared.state.lock().unwrap().verified.get(jwt).copied();
    let iat = match known {
        Some(iat) => iat,
        None => {
            let mut validation = Validation::new(Algorithm::ES256);
            validation.required_spec_claims = HashSet::from(["iss".to_string()]);
            validation.validate_exp = false;
            validation.set_issuer(&[APNS_TEAM_ID]);
            let Ok(data) = jsonwebtoken::decode::<Value>(jwt, &shared.apns_key, &validation) else {
                return Some(Answer::apns(403, "InvalidProviderToken"));
            };
            let iat = data.claims["iat"].as_i64().unwrap_or(0);
            shared
                .state
                .lock()
                .unwrap()
                .verified
                .insert(jwt.to_string(), iat);
            iat
        }
    };
    if chrono::Utc::now().timestamp() - iat > 3600
        || shared.state.lock().unwrap().apns_expired.contains(jwt)
    {
        return Some(Answer::apns(403, "ExpiredProviderToken"));
    }
    match headers.get("apns-topic").map(String::as_str) {
        None => return Some(Answer::apns(400, "MissingTopic")),
        Some(APNS_TOPIC) => {}
        Some(_) => return Some(Answer::apns(400, "BadTopic")),
    }
    if !matches!(
        headers.get("apns-push-type").map(String::as_str),
        Some("alert" | "background" | "voip" | "liveactivity")
    ) {
        return Some(Answer::apns(400, "InvalidPushType"));
    }
    if headers
        .get("apns-collapse-id")
        .is_some_and(|c| c.len() > 64)
    {
        return Some(Answer::apns(400, "BadCollapseId"));
    }
    if headers
        .get("apns-expiration")
        .is_some_and(|e| e.parse::<i64>().is_err())
    {
        return Some(Answer::apns(400, "BadExpirationDate"));
    }
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(Answer::apns(400, "BadDeviceToken"));
    }
    if body.is_empty() {
        return Some(Answer::apns(400, "PayloadEmpty"));
    }
    if body.len() > PAYLOAD_MAX {
        return Some(Answer::apns(413, "PayloadTooLarge"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v["aps"].is_object() => None,
        _ => Some(Answer::apns(400, "BadPayload")),
    }
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%3a", ":").replace('+', " "))
    })
}

fn fcm_token(shared: &Shared, body: &[u8]) -> Answer {
    let body = String::from_utf8_lossy(body);
    if form_field(&body, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Answer::new(400, json!({ "error": "unsupported_grant_type" }));
    }
    let Some(assertion) = form_field(&body, "assertion") else {
        return Answer::new(400, json!({ "error": "invalid_request" }));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[FCM_CLIENT_EMAIL]);
    let token_uri = shared.token_uri.lock().unwrap().clone();
    validation.set_audience(&[token_uri.as_str()]);
    let Ok(data) = jsonwebtoken::decode::<Value>(&assertion, &shared.rsa_key, &validation) else {
        return Answer::new(400, json!({ "error": "invalid_grant" }));
    };
    if data.claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
        return Answer::new(400, json!({ "error": "invalid_scope" }));
    }
    let n = shared.fcm_mints.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("ya29.fake-{n}-{}", uuid::Uuid::new_v4().simple());
    shared
        .state
        .lock()
        .unwrap()
        .fcm_access_tokens
        .insert(token.clone());
    Answer::new(
        200,
        json!({
            "access_token": token,
            "expires_in": shared.fcm_token_lifetime.load(Ordering::Relaxed),
            "token_type": "Bearer",
        }),
    )
}

fn fcm_send(shared: &Shared, headers: &HashMap<String, String>, body: &[u8]) -> Answer {
    let mut state = shared.state.lock().unwrap();
    if !bearer(headers).is_some_and(|t| state.fcm_access_tokens.contains(t)) {
        return Answer::fcm(
            401,
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let message: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Answer::fcm(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                "Invalid JSON payload received.",
            );
        }
    };
    let Some(token) = message["message"]["token"].as_str().map(str::to_string) else {
        return Answer::fcm(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "Recipient of the message is not set.",
        );
    };
    if body.len() > PAYLOAD_MAX + 1024 {
        return Answer::fcm(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "Message is too big",
        );
    }
    if !message["message"]["android"]["ttl"].is_string() {
        return Answer::fcm(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "Invalid value at 'message.android.ttl'",
        );
    }
    let answer = scripted(&mut state, &token).unwrap_or_else(|| {
        Answer::new(
            200,
            json!({ "name": format!("projects/{FCM_PROJECT}/messages/{}", uuid::Uuid::new_v4()) }),
        )
    });
    let counted = if answer.status == 200 {
        Answer::new(200, Value::Null)
    } else {
        answer.clone()
    };
    count(shared, &mut state, "fcm", &token, headers, body, &counted);
    answer
}

fn harmony_send(
    shared: &Shared,
    seen: &Mutex<HashSet<String>>,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Answer {
    let Some(jwt) = bearer(headers) else {
        return Answer::harmony(401, "80200001");
    };
    {
        let mut state = shared.state.lock().unwrap();
        note_jwt(&mut state, seen, jwt, false);
    }
    let header = jsonwebtoken::decode_header(jwt).ok();
    if header.as_ref().and_then(|h| h.kid.as_deref()) != Some(HARMONY_KEY_ID)
        || header.as_ref().map(|h| h.alg) != Some(Algorithm::PS256)
    {
        return Answer::harmony(401, "80200001");
    }
    let mut validation = Validation::new(Algorithm::PS256);
    validation.set_issuer(&[HARMONY_SUB_ACCOUNT]);
    validation.set_audience(&["https://oauth-login.cloud.huawei.com/oauth2/v3/token"]);
    let known = shared.state.lock().unwrap().verified.contains_key(jwt);
    if !known {
        let Ok(data) = jsonwebtoken::decode::<Value>(jwt, &shared.rsa_key, &validation) else {
            return Answer::harmony(401, "80200001");
        };
        let iat = data.claims["iat"].as_i64().unwrap_or(0);
        shared
            .state
            .lock()
            .unwrap()
            .verified
            .insert(jwt.to_string(), iat);
    }
    if headers.get("push-type").map(String::as_str) != Some("0") {
        return Answer::harmony(400, "80100003");
    }
    let message: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Answer::harmony(400, "80100003"),
    };
    let Some(token) = message["target"]["token"][0].as_str().map(str::to_string) else {
        return Answer::harmony(400, "80100003");
    };
    if body.len() > PAYLOAD_MAX + 1024 || !message["payload"]["notification"]["title"].is_string() {
        return Answer::harmony(400, "80100003");
    }
    // collapseKey is -1 (cache every offline message) or a group 0..=100; notifyId an int.
    let options = &message["pushOptions"];
    if options.get("collapseKey").is_some()
        && !options["collapseKey"]
            .as_i64()
            .is_some_and(|k| (-1..=100).contains(&k))
    {
        return Answer::harmony(400, "80100003");
    }
    let notify_id = &message["payload"]["notification"]["notifyId"];
    if !notify_id.is_null()
        && !notify_id
            .as_i64()
            .is_some_and(|n| n >= -1 && n <= i64::from(i32::MAX))
    {
        return Answer::harmony(400, "80100003");
    }
    let mut state = shared.state.lock().unwrap();
    let answer = scripted(&mut state, &token).unwrap_or_else(|| Answer::harmony(200, "80000000"));
    count(
        shared, &mut state, "harmony", &token, headers, body, &answer,
    );
    answer
}
