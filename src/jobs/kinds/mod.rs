//! Job kinds are code: one type per kind, one file each, holding its name, its default
//! schedule, its params (serde: unknown keys refused, defaults filled, ranges checked) and
//! `run`. [`ALL`] is the one registration; adding a kind is one file and one line there.

mod flush_counters;
mod ingest_sources;
mod publish_scheduled;
mod purge_expired;
mod push_featured;
mod refresh_hot_ranking;
mod sync_wechat_followers;

use std::{fmt, future::Future, marker::PhantomData};

use futures_util::future::BoxFuture;
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, DeserializeOwned, Unexpected, Visitor},
};
use serde_json::Value;

pub use self::{
    flush_counters::FlushCounters, ingest_sources::IngestSources,
    publish_scheduled::PublishScheduled, purge_expired::PurgeExpired, push_featured::PushFeatured,
    refresh_hot_ranking::RefreshHotRanking, sync_wechat_followers::SyncWechatFollowers,
};
use crate::{
    error::{AppError, AppResult, ErrorCode},
    state::AppState,
};

/// One kind of job. The struct is its params.
pub trait Kind: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// The name in `scheduled_jobs.kind` and the API.
    const NAME: &'static str;
    /// The schedule a fresh installation gets (six fields, in `jobs.timezone`).
    const DEFAULT_CRON: &'static str;

    /// Whether this instance is configured for the kind; one that is not is seeded disabled
    /// rather than failing every run.
    fn ready(_state: &AppState) -> bool {
        true
    }

    /// Does the work; the value is the run's recorded summary.
    fn run(&self, state: &AppState) -> impl Future<Output = AppResult<Value>> + Send;
}

/// Every kind, in the order they are seeded and listed.
pub static ALL: &[KindEntry] = &[
    KindEntry::of::<PushFeatured>(),
    KindEntry::of::<RefreshHotRanking>(),
    KindEntry::of::<FlushCounters>(),
    KindEntry::of::<PublishScheduled>(),
    KindEntry::of::<SyncWechatFollowers>(),
    KindEntry::of::<PurgeExpired>(),
    KindEntry::of::<IngestSources>(),
];

/// A kind with its type erased, so that kinds can live in one list.
pub struct KindEntry {
    pub name: &'static str,
    pub default_cron: &'static str,
    ready: fn(&AppState) -> bool,
    params: fn(Option<&Value>) -> AppResult<Value>,
    run: fn(AppState, String) -> BoxFuture<'static, AppResult<Value>>,
}

impl fmt::Debug for KindEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for KindEntry {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl KindEntry {
    const fn of<K: Kind>() -> Self {
        Self {
            name: K::NAME,
            default_cron: K::DEFAULT_CRON,
            ready: K::ready,
            params: checked_params::<K>,
            run: run_stored::<K>,
        }
    }

    /// The kind called `name`, or a 400 on `kind` listing the kinds.
    pub fn find(name: &str) -> AppResult<&'static KindEntry> {
        ALL.iter().find(|k| k.name == name).ok_or_else(|| {
            let known: Vec<&str> = ALL.iter().map(|k| k.name).collect();
            AppError::bad_field(
                "kind",
                format!("unknown kind {name:?}; kinds are {}", known.join(", ")),
            )
        })
    }

    pub fn ready(&self, state: &AppState) -> bool {
        (self.ready)(state)
    }

    /// Checks params sent by an admin (a JSON object or null) and fills the defaults: the
    /// form that is stored.
    pub fn params(&self, given: Option<&Value>) -> AppResult<Value> {
        (self.params)(given)
    }

    /// Why the stored params text no longer parses for this kind, if it does not.
    pub fn stored_params_problem(&self, stored: &str) -> Option<String> {
        let value: Value = match serde_json::from_str(stored) {
            Ok(v) => v,
            Err(e) => return Some(stored_error(e)),
        };
        self.params(Some(&value)).err().map(stored_error)
    }

    /// Runs the kind with its stored params; params that no longer parse fail the run.
    pub fn run(
        &self,
        state: AppState,
        stored_params: String,
    ) -> BoxFuture<'static, AppResult<Value>> {
        (self.run)(state, stored_params)
    }
}

fn checked_params<K: Kind>(given: Option<&Value>) -> AppResult<Value> {
    serde_json::to_value(parse_params::<K>(given)?).map_err(|e| AppError::Internal(e.into()))
}

fn run_stored<K: Kind>(state: AppState, stored: String) -> BoxFuture<'static, AppResult<Value>> {
    Box::pin(async move { parse_stored::<K>(&stored)?.run(&state).await })
}

fn parse_params<K: Kind>(given: Option<&Value>) -> AppResult<K> {
    match given {
        None | Some(Value::Null) => Ok(K::default()),
        Some(v @ Value::Object(_)) => serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                "params".to_string()
            } else {
                format!("params.{path}")
            };
            AppError::bad_field("params", format!("{at}: {} ({})", e.inner(), K::NAME))
        }),
        Some(_) => Err(AppError::bad_field(
            "params",
            "params must be a JSON object",
        )),
    }
}

fn stored_error(err: impl fmt::Display) -> String {
    format!("the stored params no longer parse: {err}")
}

fn parse_stored<K: Kind>(stored: &str) -> AppResult<K> {
    let value: Value = serde_json::from_str(stored).map_err(|e| invalid_stored(stored_error(e)))?;
    parse_params(Some(&value)).map_err(|e| invalid_stored(stored_error(e)))
}

fn invalid_stored(message: String) -> AppError {
    AppError::Unprocessable {
        code: ErrorCode::InvalidStoredParams,
        message,
    }
}

/// An integer param within `MIN..=MAX`; serialized as the plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    /// For defaults, which are in range by construction.
    pub const fn new(value: i64) -> Self {
        assert!(MIN <= value && value <= MAX);
        Self(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InRange<const MIN: i64, const MAX: i64>(PhantomData<()>);
        impl<const MIN: i64, const MAX: i64> Visitor<'_> for InRange<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an integer from {MIN} to {MAX}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(Bounded(v))
                } else {
                    Err(E::invalid_value(Unexpected::Signed(v), &self))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                match i64::try_from(v) {
                    Ok(v) => self.visit_i64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
                }
            }
        }
        d.deserialize_i64(InRange::<MIN, MAX>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kind(name: &str) -> &'static KindEntry {
        KindEntry::find(name).unwrap()
    }

    #[test]
    fn every_kind_is_registered_once_with_a_valid_default_schedule() {
        let mut names: Vec<&str> = ALL.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for k in ALL {
            crate::jobs::schedule::CronExpr::parse(k.default_cron).unwrap();
            assert!(k.params(None).unwrap().is_object(), "{}", k.name);
        }
    }

    #[test]
    fn params_are_checked_per_kind_with_defaults_filled() {
        let purge = kind("purge_expired");
        assert_eq!(
            purge.params(None).unwrap(),
            json!({ "notifications_days": 90, "job_runs_days": 30 })
        );
        let given = purge.params(Some(&json!({ "job_runs_days": 7 }))).unwrap();
        assert_eq!(given["job_runs_days"], 7);
        assert_eq!(given["notifications_days"], 90);
        let err = purge
            .params(Some(&json!({ "job_runs_days": 0 })))
            .unwrap_err();
        assert!(err.to_string().contains("params.job_runs_days"), "{err}");
        assert!(err.to_string().contains("from 1 to 3650"), "{err}");
        let err = purge.params(Some(&json!({ "days": 3 }))).unwrap_err();
        assert!(err.to_string().contains("days"), "{err}");
        let flush = kind("flush_counters");
        assert_eq!(flush.params(None).unwrap(), json!({}));
        assert!(flush.params(Some(&json!([1]))).is_err());
        assert!(flush.params(Some(&json!({ "x": 1 }))).is_err());
    }

    #[test]
    fn push_featured_takes_a_digest_size_and_a_lookback() {
        let push = kind("push_featured");
        assert_eq!(
            push.params(None).unwrap(),
            json!({ "max_articles": 10, "lookback_hours": 168 })
        );
        assert!(push.params(Some(&json!({ "max_articles": 21 }))).is_err());
        let err = push
            .params(Some(&json!({ "lookback_hours": "soon" })))
            .unwrap_err();
        assert!(err.to_string().contains("params.lookback_hours"), "{err}");
        assert!(KindEntry::find("nope").is_err());
    }

    #[test]
    fn stored_params_that_no_longer_parse_are_named_not_defaulted() {
        let push = kind("push_featured");
        assert_eq!(push.stored_params_problem(r#"{"max_articles":3}"#), None);
        let problem = push
            .stored_params_problem(r#"{"max_articles":99}"#)
            .unwrap();
        assert!(
            problem.contains("no longer parse") && problem.contains("max_articles"),
            "{problem}"
        );
        assert!(push.stored_params_problem("not json").is_some());
        assert!(parse_stored::<PushFeatured>(r#"{"max":1}"#).is_err());
    }
}
