//! Job kinds are code; each calls the service function its capability provides. A kind
//! whose capability is not built yet cannot be configured (400), never a silent no-op.

use serde_json::{Map, Value, json};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    PushFeatured,
    RefreshHotRanking,
    FlushCounters,
    PublishScheduled,
    SyncWechatFollowers,
    PurgeExpired,
}

pub const ALL: [JobKind; 6] = [
    JobKind::PushFeatured,
    JobKind::RefreshHotRanking,
    JobKind::FlushCounters,
    JobKind::PublishScheduled,
    JobKind::SyncWechatFollowers,
    JobKind::PurgeExpired,
];

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PushFeatured => "push_featured",
            Self::RefreshHotRanking => "refresh_hot_ranking",
            Self::FlushCounters => "flush_counters",
            Self::PublishScheduled => "publish_scheduled",
            Self::SyncWechatFollowers => "sync_wechat_followers",
            Self::PurgeExpired => "purge_expired",
        }
    }

    pub fn parse(name: &str) -> AppResult<Self> {
        ALL.into_iter().find(|k| k.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = ALL.iter().map(|k| k.as_str()).collect();
            AppError::bad_field(
                "kind",
                format!("unknown kind {name:?}; kinds are {}", known.join(", ")),
            )
        })
    }

    /// Whether the capability this kind runs exists in this build.
    pub fn is_available(self) -> bool {
        !matches!(self, Self::PushFeatured)
    }

    /// Parses a kind that can be configured now.
    pub fn parse_available(name: &str) -> AppResult<Self> {
        let kind = Self::parse(name)?;
        if !kind.is_available() {
            return Err(AppError::bad_field(
                "kind",
                format!("kind {name:?} is not available yet: its capability is not built"),
            ));
        }
        Ok(kind)
    }

    /// The schedule a fresh installation gets (six fields).
    pub fn default_cron(self) -> &'static str {
        match self {
            Self::PushFeatured => "0 0 20 * * *",
            Self::RefreshHotRanking => "0 */5 * * * *",
            Self::FlushCounters => "0 * * * * *",
            Self::PublishScheduled => "0 * * * * *",
            Self::SyncWechatFollowers => "0 30 4 * * *",
            Self::PurgeExpired => "0 30 3 * * *",
        }
    }

    /// Validates `params` (a JSON object; unknown keys refused) and fills defaults.
    pub fn validate_params(self, params: Option<&Value>) -> AppResult<Value> {
        let given = match params {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(AppError::bad_field(
                    "params",
                    "params must be a JSON object",
                ));
            }
        };
        let allowed: &[(&str, i64, i64, i64)] = match self {
            // (name, default, min, max)
            Self::PurgeExpired => &[
                ("notifications_days", 90, 1, 3650),
                ("job_runs_days", 30, 1, 3650),
            ],
            Self::FlushCounters | Self::RefreshHotRanking | Self::PublishScheduled => &[],
            Self::PushFeatured | Self::SyncWechatFollowers => &[],
        };
        let mut out = Map::new();
        for key in given.keys() {
            if !allowed.iter().any(|(name, ..)| name == key) {
                return Err(AppError::bad_field(
                    "params",
                    format!("{} takes no parameter {key:?}", self.as_str()),
                ));
            }
        }
        for (name, default, min, max) in allowed {
            let value = match given.get(*name) {
                None => *default,
                Some(v) => v
                    .as_i64()
                    .filter(|n| (*min..=*max).contains(n))
                    .ok_or_else(|| {
                        AppError::bad_field(
                            "params",
                            format!("params.{name} must be an integer from {min} to {max}"),
                        )
                    })?,
            };
            out.insert(name.to_string(), json!(value));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_per_kind_with_defaults_filled() {
        let filled = JobKind::PurgeExpired.validate_params(None).unwrap();
        assert_eq!(
            filled,
            json!({ "notifications_days": 90, "job_runs_days": 30 })
        );
        let given = JobKind::PurgeExpired
            .validate_params(Some(&json!({ "job_runs_days": 7 })))
            .unwrap();
        assert_eq!(given["job_runs_days"], 7);
        assert!(
            JobKind::PurgeExpired
                .validate_params(Some(&json!({ "job_runs_days": 0 })))
                .is_err()
        );
        assert!(
            JobKind::PurgeExpired
                .validate_params(Some(&json!({ "days": 3 })))
                .is_err()
        );
        assert!(
            JobKind::FlushCounters
                .validate_params(Some(&json!([1])))
                .is_err()
        );
        assert!(
            JobKind::FlushCounters
                .validate_params(Some(&json!({ "x": 1 })))
                .is_err()
        );
    }

    #[test]
    fn kinds_without_their_capability_cannot_be_configured() {
        assert!(JobKind::parse_available("flush_counters").is_ok());
        assert!(JobKind::parse_available("push_featured").is_err());
        assert!(JobKind::parse("nope").is_err());
    }
}
