//! WeChat API errors, typed by errcode (shared/reference/wechat-protocol.md §3.5, §2.1, §4).
//!
//! Every WeChat API answers HTTP 200 with `{"errcode": N, "errmsg": "..."}` on failure. The
//! client turns those into [`WechatError::Api`]; timeouts, connection errors and non-2xx
//! statuses into [`WechatError::Transport`]; bodies it cannot read into
//! [`WechatError::Decode`]. Messages never carry secrets, access tokens or session keys: the
//! client builds them from errcodes, WeChat's own `errmsg` (scrubbed of anything it sent) and
//! transport errors stripped of the request URL (whose query holds the token or secret).

use crate::error::AppError;

/// Errcodes this code base reacts to. Meanings from the reference's table (§3.5) and the
/// endpoint sections it cites.
pub mod errcode {
    /// System busy: retry with backoff (idempotent calls only).
    pub const BUSY: i64 = -1;
    /// Invalid credential: the access token is invalid or not the latest.
    pub const INVALID_CREDENTIAL: i64 = 40001;
    /// Invalid openid (wrong app, or never followed).
    pub const INVALID_OPENID: i64 = 40003;
    /// Invalid appid.
    pub const INVALID_APPID: i64 = 40013;
    /// Invalid access token.
    pub const INVALID_ACCESS_TOKEN: i64 = 40014;
    /// jscode2session: invalid code.
    pub const INVALID_CODE: i64 = 40029;
    /// Invalid template_id.
    pub const INVALID_TEMPLATE_ID: i64 = 40037;
    /// Invalid appsecret.
    pub const INVALID_APPSECRET: i64 = 40125;
    /// Mass send: `touser` must hold 2..10,000 openids.
    pub const INVALID_OPENID_LIST_SIZE: i64 = 40130;
    /// jscode2session: the code was already used.
    pub const CODE_BEEN_USED: i64 = 40163;
    /// Caller IP not in the whitelist.
    pub const IP_NOT_WHITELISTED: i64 = 40164;
    /// jscode2session: high-risk user, login blocked.
    pub const HIGH_RISK_USER: i64 = 40226;
    /// The access token query parameter is missing.
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    /// Mini-program subscribe message: invalid page.
    pub const INVALID_PAGE: i64 = 41030;
    /// The access token expired.
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    /// The recipient does not follow the Official Account (any more).
    pub const REQUIRE_SUBSCRIBE: i64 = 43004;
    /// Mini-program subscribe message: the user refused or cancelled the subscription.
    pub const USER_REFUSED: i64 = 43101;
    /// Daily API quota reached.
    pub const DAILY_QUOTA: i64 = 45009;
    /// Per-minute frequency limit.
    pub const FREQUENCY_LIMIT: i64 = 45011;
    /// Customer-service message outside the 48 h window.
    pub const OUT_OF_RESPONSE_WINDOW: i64 = 45015;
    /// Customer-service message count exceeded.
    pub const RESPONSE_COUNT_EXCEEDED: i64 = 45047;
    /// Mass send: `clientmsgid` already used (the message exists; treat as success).
    pub const CLIENTMSGID_EXISTS: i64 = 45065;
    /// Mass send: retried too fast with the same `clientmsgid` (wait 60 s).
    pub const CLIENTMSGID_TOO_FAST: i64 = 45066;
    /// Mass send: `clientmsgid` longer than 64 bytes.
    pub const CLIENTMSGID_TOO_LONG: i64 = 45067;
    /// The request body is not valid JSON (or misses required fields).
    pub const DATA_FORMAT_ERROR: i64 = 47001;
    /// Mini-program subscribe message: a data field breaks its rule.
    pub const INVALID_DATA_FIELD: i64 = 47003;
    /// The API is not authorised for this account (wrong account type).
    pub const API_UNAUTHORIZED: i64 = 48001;
}

#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero errcode.
    #[error("wechat errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// Timeout, connection error or non-2xx HTTP status: the outcome of a send is unknown.
    #[error("wechat transport error: {0}")]
    Transport(String),
    /// A 2xx answer we could not read.
    #[error("wechat response not understood: {0}")]
    Decode(String),
}

impl WechatError {
    pub fn api(errcode: i64, errmsg: impl Into<String>) -> Self {
        Self::Api {
            errcode,
            errmsg: errmsg.into(),
        }
    }

    /// The errcode of an API error.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    fn code_in(&self, codes: &[i64]) -> bool {
        self.errcode().is_some_and(|c| codes.contains(&c))
    }

    /// 40001 / 40014 / 42001: drop the cached token (compare-and-delete), fetch, retry once.
    pub fn is_token_invalid(&self) -> bool {
        use errcode::*;
        self.code_in(&[
            INVALID_CREDENTIAL,
            INVALID_ACCESS_TOKEN,
            ACCESS_TOKEN_EXPIRED,
        ])
    }

    /// -1 (system busy): retry with backoff, for idempotent calls.
    pub fn is_busy(&self) -> bool {
        self.code_in(&[errcode::BUSY])
    }

    /// Worth trying again later: busy, a frequency limit (45011 per minute, 45066 mass
    /// retried too fast) or a transport failure. A transport failure of a send leaves its
    /// outcome unknown: retry only through a de-duplicating send (`client_msg_id`,
    /// `clientmsgid`).
    pub fn is_transient(&self) -> bool {
        use errcode::*;
        matches!(self, Self::Transport(_))
            || self.code_in(&[BUSY, FREQUENCY_LIMIT, CLIENTMSGID_TOO_FAST])
    }

    /// A quota is used up (45009 daily API quota, 45047 message count): pause the channel
    /// until the quota resets rather than retrying.
    pub fn is_quota(&self) -> bool {
        use errcode::*;
        self.code_in(&[DAILY_QUOTA, RESPONSE_COUNT_EXCEEDED])
    }

    /// 43004: the recipient unfollowed the Official Account; mark them unsubscribed.
    pub fn is_unsubscribed(&self) -> bool {
        self.code_in(&[errcode::REQUIRE_SUBSCRIBE])
    }

    /// 43101: the mini-program user refused or cancelled the subscription; clear the grant.
    pub fn is_subscription_refused(&self) -> bool {
        self.code_in(&[errcode::USER_REFUSED])
    }

    /// 40003: the openid does not belong to this app; drop the recipient.
    pub fn is_invalid_openid(&self) -> bool {
        self.code_in(&[errcode::INVALID_OPENID])
    }

    /// 45065: the mass message with this `clientmsgid` was already sent (counts as success).
    pub fn is_duplicate(&self) -> bool {
        self.code_in(&[errcode::CLIENTMSGID_EXISTS])
    }

    /// A request or configuration problem that retrying cannot fix (bad template, data,
    /// page, appid/secret, IP whitelist, account type).
    pub fn is_misconfiguration(&self) -> bool {
        use errcode::*;
        self.code_in(&[
            INVALID_APPID,
            INVALID_APPSECRET,
            INVALID_TEMPLATE_ID,
            INVALID_PAGE,
            INVALID_DATA_FIELD,
            DATA_FORMAT_ERROR,
            IP_NOT_WHITELISTED,
            API_UNAUTHORIZED,
            INVALID_OPENID_LIST_SIZE,
            CLIENTMSGID_TOO_LONG,
        ])
    }
}

/// WeChat being down, busy or out of quota is a dependency outage (503); anything else is
/// a bug or a configuration problem on our side (500). Handlers that expect a specific
/// errcode (e.g. 40029 for a bad login code) match it before converting.
impl From<WechatError> for AppError {
    fn from(err: WechatError) -> Self {
        if err.is_transient() || err.is_quota() {
            AppError::Unavailable(format!("WeChat unavailable: {err}"))
        } else {
            AppError::Internal(anyhow::Error::new(err))
        }
    }
}

/// Replaces every occurrence of the given secrets (tokens, app secrets, login codes) in a
/// message from WeChat before it is kept in an error.
pub(crate) fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> WechatError {
        WechatError::api(code, "msg")
    }

    #[test]
    fn token_errors_are_exactly_40001_40014_42001() {
        for code in [40001, 40014, 42001] {
            assert!(api(code).is_token_invalid(), "{code}");
            assert!(!api(code).is_transient(), "{code}");
        }
        for code in [-1, 0, 40003, 40029, 40125, 41001, 43004, 45009] {
            assert!(!api(code).is_token_invalid(), "{code}");
        }
        assert!(!WechatError::Transport("timeout".into()).is_token_invalid());
    }

    #[test]
    fn busy_rate_limits_and_transport_are_transient_quotas_are_not() {
        for err in [
            api(-1),
            api(45011),
            api(45066),
            WechatError::Transport("connect refused".into()),
        ] {
            assert!(err.is_transient(), "{err}");
            assert!(!err.is_quota(), "{err}");
        }
        assert!(api(-1).is_busy());
        assert!(!api(45011).is_busy());
        assert!(!WechatError::Transport("x".into()).is_busy());
        for code in [45009, 45047] {
            assert!(api(code).is_quota(), "{code}");
            assert!(!api(code).is_transient(), "{code}");
        }
        for code in [40001, 40003, 43004, 43101, 45065] {
            assert!(!api(code).is_transient(), "{code}");
            assert!(!api(code).is_quota(), "{code}");
        }
        assert!(!WechatError::Decode("eof".into()).is_transient());
    }

    #[test]
    fn recipient_and_duplicate_codes_are_told_apart() {
        assert!(api(43004).is_unsubscribed());
        assert!(!api(43101).is_unsubscribed());
        assert!(api(43101).is_subscription_refused());
        assert!(api(40003).is_invalid_openid());
        assert!(api(45065).is_duplicate());
        assert!(!api(45066).is_duplicate());
        for code in [40013, 40037, 40125, 40130, 40164, 41030, 47003, 48001] {
            assert!(api(code).is_misconfiguration(), "{code}");
        }
        for code in [-1, 40001, 43004, 45009] {
            assert!(!api(code).is_misconfiguration(), "{code}");
        }
        assert_eq!(api(43004).errcode(), Some(43004));
        assert_eq!(WechatError::Decode("x".into()).errcode(), None);
    }

    #[test]
    fn display_names_the_errcode() {
        assert_eq!(
            api(43101).to_string(),
            "wechat errcode 43101: msg",
            "the errcode is in the message"
        );
    }

    #[test]
    fn app_error_mapping_separates_outages_from_bugs() {
        assert!(matches!(AppError::from(api(-1)), AppError::Unavailable(_)));
        assert!(matches!(
            AppError::from(api(45009)),
            AppError::Unavailable(_)
        ));
        assert!(matches!(
            AppError::from(WechatError::Transport("t".into())),
            AppError::Unavailable(_)
        ));
        assert!(matches!(AppError::from(api(40037)), AppError::Internal(_)));
    }

    #[test]
    fn scrub_removes_every_secret_occurrence() {
        let msg = "invalid credential TOKEN123 for secret s3cr3t, TOKEN123 again";
        let out = scrub(msg, &["TOKEN123", "s3cr3t", ""]);
        assert_eq!(out, "invalid credential *** for secret ***, *** again");
    }
}
