//! The WeChat HTTP API client: one reused `reqwest::Client`, a configurable base URL (a local
//! fake in tests and benchmarks), short timeouts, and typed requests and answers for the
//! endpoints qshare uses (shared/reference/wechat-protocol.md §2-§5).
//!
//! Every answer is `200 + JSON`; a non-zero `errcode` becomes [`WechatError::Api`] and a
//! missing `errcode` means success. Access tokens are passed in by the caller (see
//! `token::AccessTokens`); nothing here caches, retries or logs secrets. Every call is counted
//! and timed in the metrics, by endpoint path and errcode.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fmt,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;

use super::api::{WechatError, errcode, scrub};
use crate::metrics;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `msg_sec_check` scene: 2 = comment (1 profile, 3 forum, 4 social log).
pub const SEC_CHECK_SCENE_COMMENT: u8 = 2;

/// Installs rustls' ring provider as the process default unless one is installed already.
/// reqwest is built with `rustls-no-provider`, so a client cannot be built without it; this
/// keeps exactly one provider (ring, no cmake/nasm) in the process.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: a default is then in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    /// The API's address, parsed once: a call only sets its path on a copy. (Parsing the
    /// whole address, its host through IDNA, on every call was a fifteenth of a push's CPU.)
    base: reqwest::Url,
}

impl fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatClient")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

/// A token from `stable_token`. Debug does not show the token.
#[derive(Clone, Deserialize)]
pub struct StableToken {
    pub access_token: String,
    /// Seconds the token stays valid (the remaining time when WeChat returns a token it
    /// issued earlier).
    pub expires_in: u64,
}

impl fmt::Debug for StableToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StableToken")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// One page of `user/get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub total: u64,
    pub count: u64,
    pub openids: Vec<String>,
    /// Where the next page starts; None on the last page (WeChat omits `data` there, and
    /// still sends a `next_openid`, which is ignored then).
    pub next_openid: Option<String>,
}

#[derive(Deserialize)]
struct UserPageBody {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    count: u64,
    data: Option<UserPageData>,
    #[serde(default)]
    next_openid: Option<String>,
}

#[derive(Deserialize)]
struct UserPageData {
    #[serde(default)]
    openid: Vec<String>,
}

impl From<UserPageBody> for UserPage {
    fn from(body: UserPageBody) -> Self {
        let openids = body.data.map(|d| d.openid).unwrap_or_default();
        let last = openids.is_empty() || body.count == 0;
        Self {
            total: body.total,
            count: body.count,
            next_openid: if last {
                None
            } else {
                body.next_openid.filter(|n| !n.is_empty())
            },
            openids,
        }
    }
}

/// `qrcode/create`: the ticket to show the code with, and the URL it encodes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrCode {
    pub ticket: String,
    #[serde(default)]
    pub expire_seconds: Option<u64>,
    pub url: String,
}

impl QrCode {
    /// WeChat's image URL for this code (`showqrcode?ticket=<urlencoded>`).
    pub fn image_url(&self) -> String {
        reqwest::Url::parse_with_params(
            "https://mp.weixin.qq.com/cgi-bin/showqrcode",
            &[("ticket", &self.ticket)],
        )
        .map(String::from)
        .unwrap_or_default()
    }
}

/// `user/info`. When `subscribe` is false the other fields are absent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    #[serde(deserialize_with = "bool_from_int")]
    pub subscribe: bool,
    pub openid: String,
    #[serde(default)]
    pub subscribe_time: Option<i64>,
    #[serde(default)]
    pub unionid: Option<String>,
    #[serde(default)]
    pub remark: Option<String>,
    #[serde(default)]
    pub tagid_list: Vec<i64>,
    #[serde(default)]
    pub subscribe_scene: Option<String>,
    #[serde(default)]
    pub qr_scene: Option<i64>,
    #[serde(default)]
    pub qr_scene_str: Option<String>,
}

fn bool_from_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

/// A template field value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataValue {
    pub value: String,
}

/// Template or subscribe-message data: field name → value.
pub type MessageData = BTreeMap<String, DataValue>;

/// Builds [`MessageData`] from `(field, value)` pairs.
pub fn message_data<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> MessageData {
    fields
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                DataValue {
                    value: v.to_string(),
                },
            )
        })
        .collect()
}

/// Opens a mini-program page from a message (takes priority over `url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiniProgramLink {
    pub appid: String,
    pub pagepath: String,
}

/// Official Account template message (§3.1). `client_msg_id` is the idempotency key
/// (derive it from article and openid): WeChat sends one message per openid and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMessage {
    pub touser: String,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgramLink>,
    pub client_msg_id: String,
    pub data: MessageData,
}

/// Content of a mass send by openid list (§3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassMessage {
    Text {
        content: String,
    },
    /// A draft (`mpnews`) by media id.
    MpNews {
        media_id: String,
        send_ignore_reprint: bool,
    },
}

/// A submitted mass send. `duplicate` is true when WeChat answered 45065 (this
/// `clientmsgid` was sent before): the existing message stands and counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassSent {
    pub msg_id: i64,
    pub msg_data_id: Option<i64>,
    pub duplicate: bool,
}

/// Mini-program subscribe message (§3.3); needs the mini-program's access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeMessage {
    pub touser: String,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `developer`, `trial` or `formal` (WeChat's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    pub data: MessageData,
}

/// `jscode2session`. `session_key` decrypts the user's `encryptedData`; it must never reach
/// a log or an API client, so Debug redacts it and the type is not serializable.
#[derive(Clone, Deserialize)]
pub struct Session {
    pub openid: String,
    #[serde(default)]
    pub unionid: Option<String>,
    pub session_key: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("session_key", &"***")
            .finish()
    }
}

/// `msg_sec_check` v2 result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `suggest == "risky"`: do not publish.
    pub risky: bool,
    /// `risky`, `review` or `pass`.
    pub suggest: String,
    /// 100 = normal; otherwise the category (e.g. 20001 politics, 21000 other).
    pub label: i64,
}

#[derive(Deserialize)]
struct SecCheckBody {
    result: SecCheckResult,
}

#[derive(Deserialize)]
struct SecCheckResult {
    suggest: String,
    #[serde(default)]
    label: i64,
}

/// The errcode/errmsg every answer may carry.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[derive(Deserialize)]
struct TemplateSent {
    msgid: i64,
}

#[derive(Deserialize)]
struct MassSentBody {
    #[serde(default)]
    msg_id: Option<i64>,
    #[serde(default)]
    msg_data_id: Option<i64>,
}

/// An answer with no fields we need.
#[derive(Deserialize)]
struct Empty {}

impl WechatClient {
    /// A client with the default timeouts (connect 2 s, whole request 5 s).
    pub fn new(base_url: &str) -> Result<Self, WechatError> {
        Self::with_timeouts(base_url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    }

    pub fn with_timeouts(
        base_url: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<Self, WechatError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .tcp_nodelay(true)
            .user_agent(concat!("qshare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WechatError::Transport(describe(&e)))?;
        let base = reqwest::Url::parse(base_url.trim_end_matches('/'))
            .map_err(|e| WechatError::Transport(format!("invalid WeChat API address: {e}")))?;
        Ok(Self { http, base })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `POST cgi-bin/stable_token`. In normal mode WeChat returns the current token while it
    /// is valid; `force_refresh` invalidates it (20/day; only for a leaked token).
    pub async fn stable_token(
        &self,
        app_id: &str,
        secret: &str,
        force_refresh: bool,
    ) -> Result<StableToken, WechatError> {
        let body = json!({
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": secret,
            "force_refresh": force_refresh,
        });
        self.post("/cgi-bin/stable_token", &[], &body, &[secret])
            .await
    }

    /// `GET cgi-bin/user/get`: up to 10,000 follower openids from `next_openid` (None for
    /// the first page).
    pub async fn user_get(
        &self,
        token: &str,
        next_openid: Option<&str>,
    ) -> Result<UserPage, WechatError> {
        let body: UserPageBody = self
            .get(
                "/cgi-bin/user/get",
                &[
                    ("access_token", token),
                    ("next_openid", next_openid.unwrap_or("")),
                ],
                &[token],
            )
            .await?;
        Ok(body.into())
    }

    /// `GET cgi-bin/user/info`.
    pub async fn user_info(&self, token: &str, openid: &str) -> Result<UserInfo, WechatError> {
        self.get(
            "/cgi-bin/user/info",
            &[
                ("access_token", token),
                ("openid", openid),
                ("lang", "zh_CN"),
            ],
            &[token],
        )
        .await
    }

    /// `POST cgi-bin/message/template/send`; returns WeChat's msgid.
    pub async fn send_template(
        &self,
        token: &str,
        message: &TemplateMessage,
    ) -> Result<i64, WechatError> {
        let sent: TemplateSent = self
            .post(
                "/cgi-bin/message/template/send",
                &[("access_token", token)],
                message,
                &[token],
            )
            .await?;
        Ok(sent.msgid)
    }

    /// `POST cgi-bin/message/mass/send` to 2..10,000 openids. Success means the job was
    /// submitted; 45065 (this `clientmsgid` was used) is returned as a duplicate success.
    pub async fn mass_send(
        &self,
        token: &str,
        openids: &[String],
        message: &MassMessage,
        clientmsgid: &str,
    ) -> Result<MassSent, WechatError> {
        let mut body = json!({ "touser": openids, "clientmsgid": clientmsgid });
        match message {
            MassMessage::Text { content } => {
                body["msgtype"] = json!("text");
                body["text"] = json!({ "content": content });
            }
            MassMessage::MpNews {
                media_id,
                send_ignore_reprint,
            } => {
                body["msgtype"] = json!("mpnews");
                body["mpnews"] = json!({ "media_id": media_id });
                body["send_ignore_reprint"] = json!(i32::from(*send_ignore_reprint));
            }
        }
        const PATH: &str = "/cgi-bin/message/mass/send";
        let started = Instant::now();
        let request = self
            .http
            .post(self.url(PATH))
            .query(&[("access_token", token)])
            .json(&body);
        let result = self.mass_send_answer(request, token).await;
        let outcome = match &result {
            Ok(sent) if sent.duplicate => Cow::Owned(errcode::CLIENTMSGID_EXISTS.to_string()),
            other => outcome_label(other.as_ref().err()),
        };
        metrics::record_wechat_call(PATH, &outcome, started.elapsed().as_secs_f64());
        result
    }

    async fn mass_send_answer(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<MassSent, WechatError> {
        let (envelope, bytes) = self.send_raw(request).await?;
        let duplicate = envelope.errcode == errcode::CLIENTMSGID_EXISTS;
        if envelope.errcode != 0 && !duplicate {
            return Err(api_error(envelope, &[token]));
        }
        let sent: MassSentBody = decode(&bytes)?;
        match sent.msg_id {
            Some(msg_id) => Ok(MassSent {
                msg_id,
                msg_data_id: sent.msg_data_id,
                duplicate,
            }),
            // A 45065 without the existing msg_id: report it as the error it is.
            None if duplicate => Err(api_error(envelope, &[token])),
            None => Err(WechatError::Decode(
                "mass send answer without msg_id".into(),
            )),
        }
    }

    /// `POST cgi-bin/qrcode/create`: a temporary `QR_STR_SCENE` code carrying `scene`
    /// (at most 64 characters), valid `expire_seconds` (at most 30 days).
    pub async fn qrcode_create(
        &self,
        token: &str,
        scene: &str,
        expire_seconds: u64,
    ) -> Result<QrCode, WechatError> {
        let body = serde_json::json!({
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": { "scene": { "scene_str": scene } },
        });
        self.post(
            "/cgi-bin/qrcode/create",
            &[("access_token", token)],
            &body,
            &[token],
        )
        .await
    }

    /// `POST cgi-bin/message/subscribe/send` (mini-program token). Not idempotent: WeChat
    /// has no de-duplication key for it.
    pub async fn send_subscribe(
        &self,
        token: &str,
        message: &SubscribeMessage,
    ) -> Result<(), WechatError> {
        let _: Empty = self
            .post(
                "/cgi-bin/message/subscribe/send",
                &[("access_token", token)],
                message,
                &[token],
            )
            .await?;
        Ok(())
    }

    /// `GET sns/jscode2session`: a mini-program login code → openid, unionid and session key.
    /// Needs no access token; the secret and the code are kept out of errors.
    pub async fn jscode2session(
        &self,
        app_id: &str,
        secret: &str,
        code: &str,
    ) -> Result<Session, WechatError> {
        self.get(
            "/sns/jscode2session",
            &[
                ("appid", app_id),
                ("secret", secret),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ],
            &[secret, code],
        )
        .await
    }

    /// `POST wxa/msg_sec_check` (v2, scene "comment", mini-program token): is this text from
    /// this user (who used the mini-program within the last 2 hours) risky?
    pub async fn msg_sec_check(
        &self,
        token: &str,
        openid: &str,
        content: &str,
    ) -> Result<Verdict, WechatError> {
        let body = json!({
            "content": content,
            "version": 2,
            "scene": SEC_CHECK_SCENE_COMMENT,
            "openid": openid,
        });
        let answer: SecCheckBody = self
            .post(
                "/wxa/msg_sec_check",
                &[("access_token", token)],
                &body,
                &[token],
            )
            .await?;
        Ok(Verdict {
            risky: answer.result.suggest == "risky",
            suggest: answer.result.suggest,
            label: answer.result.label,
        })
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        secrets: &[&str],
    ) -> Result<T, WechatError> {
        self.call(path, self.http.get(self.url(path)).query(query), secrets)
            .await
    }

    async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        body: &B,
        secrets: &[&str],
    ) -> Result<T, WechatError> {
        self.call(
            path,
            self.http.post(self.url(path)).query(query).json(body),
            secrets,
        )
        .await
    }

    /// Sends `request` to `path` and reads its answer, counting the call in the metrics.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &'static str,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<T, WechatError> {
        let started = Instant::now();
        let result = async {
            let (envelope, bytes) = self.send_raw(request).await?;
            if envelope.errcode != 0 {
                return Err(api_error(envelope, secrets));
            }
            decode(&bytes)
        }
        .await;
        metrics::record_wechat_call(
            path,
            &outcome_label(result.as_ref().err()),
            started.elapsed().as_secs_f64(),
        );
        result
    }

    /// Sends, checks the HTTP status and reads the errcode envelope.
    async fn send_raw(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(Envelope, bytes::Bytes), WechatError> {
        let response = request
            .send()
            .await
            .map_err(|e| WechatError::Transport(describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(WechatError::Transport(format!("HTTP status {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| WechatError::Transport(describe(&e)))?;
        Ok((decode(&bytes)?, bytes))
    }
}

/// The errcode label of a call: `0` on success, WeChat's errcode, or the kind of failure
/// that left none.
fn outcome_label(err: Option<&WechatError>) -> Cow<'static, str> {
    match err {
        None => Cow::Borrowed("0"),
        Some(WechatError::Api { errcode, .. }) => Cow::Owned(errcode.to_string()),
        Some(WechatError::Transport(_)) => Cow::Borrowed("transport"),
        Some(WechatError::Decode(_)) => Cow::Borrowed("decode"),
    }
}

fn api_error(envelope: Envelope, secrets: &[&str]) -> WechatError {
    WechatError::Api {
        errcode: envelope.errcode,
        errmsg: scrub(&envelope.errmsg, secrets),
    }
}

/// Parses an answer. serde_json's messages name a position, never the content.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WechatError> {
    serde_json::from_slice(bytes).map_err(|e| WechatError::Decode(e.to_string()))
}

/// A transport error without the request URL (its query holds tokens and secrets), with its
/// causes (which name the connection problem, not the URL).
fn describe(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // reqwest errors in the chain print their URL: leave those out.
        if !text.contains("://") {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_goes_to_its_path_under_the_base_address_whose_own_path_is_kept() {
        let root = WechatClient::new("http://127.0.0.1:9/").unwrap();
        assert_eq!(root.base_url(), "http://127.0.0.1:9");
        assert_eq!(
            root.url("/cgi-bin/stable_token").as_str(),
            "http://127.0.0.1:9/cgi-bin/stable_token"
        );
        let proxied = WechatClient::new("http://127.0.0.1:9/wechat/").unwrap();
        assert_eq!(proxied.base_url(), "http://127.0.0.1:9/wechat");
        assert_eq!(
            proxied.url("/cgi-bin/stable_token").as_str(),
            "http://127.0.0.1:9/wechat/cgi-bin/stable_token"
        );
    }

    fn page(json: serde_json::Value) -> UserPage {
        serde_json::from_value::<UserPageBody>(json).unwrap().into()
    }

    #[test]
    fn a_page_with_data_points_to_the_next_one() {
        let p = page(json!({"total": 3, "count": 2,
            "data": {"openid": ["a", "b"]}, "next_openid": "b"}));
        assert_eq!(p.openids, ["a", "b"]);
        assert_eq!(p.next_openid.as_deref(), Some("b"));
        assert_eq!((p.total, p.count), (3, 2));
    }

    #[test]
    fn a_page_without_data_is_the_last_even_with_a_next_openid() {
        let p = page(json!({"total": 2, "count": 0, "next_openid": "b"}));
        assert!(p.openids.is_empty());
        assert_eq!(p.next_openid, None);
        let p = page(json!({"total": 0, "count": 0, "next_openid": ""}));
        assert_eq!(p.next_openid, None);
    }

    #[test]
    fn calls_are_labelled_by_errcode_or_failure_kind() {
        assert_eq!(outcome_label(None), "0");
        assert_eq!(
            outcome_label(Some(&WechatError::api(40029, "invalid code"))),
            "40029"
        );
        assert_eq!(
            outcome_label(Some(&WechatError::Transport("timed out".into()))),
            "transport"
        );
        assert_eq!(
            outcome_label(Some(&WechatError::Decode("eof".into()))),
            "decode"
        );
    }

    #[test]
    fn envelope_without_errcode_is_success() {
        let e: Envelope = decode(br#"{"access_token":"x","expires_in":7200}"#).unwrap();
        assert_eq!(e.errcode, 0);
        let e: Envelope = decode(br#"{"errcode":40001,"errmsg":"invalid credential"}"#).unwrap();
        assert_eq!(e.errcode, 40001);
        let err = api_error(e, &[]);
        assert!(err.is_token_invalid());
    }

    #[test]
    fn api_errors_are_scrubbed_of_the_secrets_sent() {
        let e: Envelope =
            decode(br#"{"errcode":40125,"errmsg":"invalid appsecret sekrit-value hint"}"#).unwrap();
        let err = api_error(e, &["sekrit-value"]);
        assert_eq!(
            err.to_string(),
            "wechat errcode 40125: invalid appsecret *** hint"
        );
    }

    #[test]
    fn debug_output_hides_session_keys_and_tokens() {
        let s = Session {
            openid: "o1".into(),
            unionid: Some("u1".into()),
            session_key: "SESSIONKEY==".into(),
        };
        let shown = format!("{s:?}");
        assert!(shown.contains("o1") && shown.contains("u1"));
        assert!(!shown.contains("SESSIONKEY"), "{shown}");
        let t = StableToken {
            access_token: "ACCESSTOKEN".into(),
            expires_in: 7200,
        };
        assert!(!format!("{t:?}").contains("ACCESSTOKEN"));
    }

    #[test]
    fn template_messages_serialize_like_the_reference() {
        let m = TemplateMessage {
            touser: "OPENID".into(),
            template_id: "T".into(),
            url: None,
            miniprogram: Some(MiniProgramLink {
                appid: "wxmp".into(),
                pagepath: "pages/article/index?id=42".into(),
            }),
            client_msg_id: "a42-OPENID".into(),
            data: message_data([("thing1", "Rust 异步实战")]),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"touser": "OPENID", "template_id": "T",
                "miniprogram": {"appid": "wxmp", "pagepath": "pages/article/index?id=42"},
                "client_msg_id": "a42-OPENID",
                "data": {"thing1": {"value": "Rust 异步实战"}}})
        );
    }

    #[test]
    fn user_info_reads_subscribe_as_a_flag() {
        let u: UserInfo = serde_json::from_value(json!({"subscribe": 0, "openid": "o"})).unwrap();
        assert!(!u.subscribe);
        let u: UserInfo = serde_json::from_value(
            json!({"subscribe": 1, "openid": "o", "unionid": "u", "tagid_list": [2]}),
        )
        .unwrap();
        assert!(u.subscribe);
        assert_eq!(u.unionid.as_deref(), Some("u"));
    }
}
