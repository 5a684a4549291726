//! Job kinds are code; each calls the service function its capability provides.

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
            Self::PushFeatured => &[
                (
                    "max_articles",
                    crate::push::job::DEFAULT_MAX_ARTICLES,
                    1,
                    20,
                ),
                (
                    "lookback_hours",
                    crate::push::job::DEFAULT_LOOKBACK_HOURS,
                    1,
                    24 * 90,
                ),
            ],
            Self::FlushCounters | Self::RefreshHotRanking | Self::PublishScheduled => &[],
            Self::SyncWechatFollowers => &[],
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
    fn push_featured_takes_a_digest_size_and_a_lookback() {
        let filled = JobKind::PushFeatured.validate_params(None).unwrap();
        assert_eq!(filled, json!({ "max_articles": 10, "lookback_hours": 168 }));
        assert!(
            JobKind::PushFeatured
                .validate_params(Some(&json!({ "max_articles": 21 })))
                .is_err()
        );
        assert!(JobKind::parse("nope").is_err());
    }
}
