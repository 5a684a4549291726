//! Prometheus metrics (`GET /metrics`, DESIGN.md §3).
//!
//! Events (HTTP requests, job runs, WeChat calls, push deliveries) are counted when they
//! happen into process-global series: one process serves one application, and a global
//! registry needs no handle threaded through every layer. What belongs to one application
//! (its read cache, its cache backend, its database pool) is sampled from its state at
//! scrape time instead, so that several applications in one process (the tests) each report
//! their own.
//!
//! Recording is a few atomic operations: the series are created once, label values are
//! `&'static str` or borrowed, and the HTTP layer resolves the handles of its hottest routes
//! up front (see `api::http_metrics`).

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder, core::Collector,
};

use crate::{db, state::AppState};

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request latencies, in seconds: sub-millisecond cache hits up to the 15 s request timeout.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];
/// Calls to WeChat: tens of milliseconds normally, up to the client's 5 s timeout.
const WECHAT_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Job runs: milliseconds (publish nothing due) to many minutes (a large push).
const JOB_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0];

/// The process-global series.
struct Series {
    registry: Registry,
    http: HttpSeries,
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    wechat_calls: IntCounterVec,
    wechat_duration: HistogramVec,
    push_deliveries: IntCounterVec,
    push_provider_errors: IntCounterVec,
}

/// HTTP requests by method, route template and status, and their latency.
pub struct HttpSeries {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpSeries {
    /// The counter of one `(method, route, status)`. Looked up (a hash and a shared read
    /// lock); keep the handle when the labels are known in advance.
    pub fn requests(&self, method: &str, route: &str, status: &str) -> IntCounter {
        self.requests.with_label_values(&[method, route, status])
    }

    /// The latency histogram of one `(method, route)`.
    pub fn duration(&self, method: &str, route: &str) -> Histogram {
        self.duration.with_label_values(&[method, route])
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let series = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(series.clone()))
        .expect("metric registered once");
    series
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let series = HistogramVec::new(opts, labels).expect("valid metric");
    registry
        .register(Box::new(series.clone()))
        .expect("metric registered once");
    series
}

static SERIES: LazyLock<Series> = LazyLock::new(|| {
    let registry = Registry::new();
    let http = HttpSeries {
        requests: counter_vec(
            &registry,
            "qshare_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            &["method", "route", "status"],
        ),
        duration: histogram_vec(
            &registry,
            "qshare_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template.",
            &["method", "route"],
            HTTP_BUCKETS,
        ),
    };
    Series {
        http,
        job_runs: counter_vec(
            &registry,
            "qshare_job_runs_total",
            "Job runs recorded by this instance, by kind and status (ok, failed, skipped).",
            &["kind", "status"],
        ),
        job_duration: histogram_vec(
            &registry,
            "qshare_job_run_duration_seconds",
            "Duration of job runs, by kind.",
            &["kind"],
            JOB_BUCKETS,
        ),
        wechat_calls: counter_vec(
            &registry,
            "qshare_wechat_api_calls_total",
            "Calls to the WeChat API, by endpoint and errcode (0 success; transport or decode for failures without one).",
            &["endpoint", "errcode"],
        ),
        wechat_duration: histogram_vec(
            &registry,
            "qshare_wechat_api_duration_seconds",
            "Duration of calls to the WeChat API, by endpoint.",
            &["endpoint"],
            WECHAT_BUCKETS,
        ),
        push_deliveries: counter_vec(
            &registry,
            "qshare_push_deliveries_total",
            "Push delivery attempts, by channel and outcome.",
            &["channel", "outcome"],
        ),
        push_provider_errors: counter_vec(
            &registry,
            "qshare_push_provider_errors_total",
            "Errors answered by the device push providers (APNs, FCM, HarmonyOS), by channel and reason.",
            &["channel", "reason"],
        ),
        registry,
    }
});

/// The HTTP series (for the HTTP middleware).
pub fn http() -> &'static HttpSeries {
    &SERIES.http
}

/// Counts a finished job run. `status` is `ok`, `failed` or `skipped`; a skipped run (its
/// previous run was still going) did not run, so it has no duration.
pub fn record_job_run(kind: &str, status: &str, seconds: Option<f64>) {
    SERIES.job_runs.with_label_values(&[kind, status]).inc();
    if let Some(seconds) = seconds {
        SERIES
            .job_duration
            .with_label_values(&[kind])
            .observe(seconds);
    }
}

/// Counts a call to the WeChat API. `endpoint` is the API path (e.g. `/sns/jscode2session`);
/// `errcode` is `"0"` on success, WeChat's errcode, or `transport` / `decode` when the call
/// failed without one.
pub fn record_wechat_call(endpoint: &str, errcode: &str, seconds: f64) {
    SERIES
        .wechat_calls
        .with_label_values(&[endpoint, errcode])
        .inc();
    SERIES
        .wechat_duration
        .with_label_values(&[endpoint])
        .observe(seconds);
}

/// Counts one push delivery attempt: call it once per attempt, when its outcome is known.
///
/// `channel` is the channel's configuration name: `inbox`, `wechat_template`, `wechat_mass`
/// or `miniprogram_subscribe`. `outcome` is one of
/// - `sent`: delivered (a de-duplicated resend, e.g. mass send 45065, counts as sent),
/// - `retry`: a transient failure; the delivery will be attempted again,
/// - `failed`: a permanent failure; the delivery stops,
/// - `skipped`: not sent by rule (opt-out, no subscribe credit, unsubscribed follower),
/// - `deferred`: postponed (quiet hours, a paused channel),
/// - `unknown`: the outcome of an earlier attempt could not be known (after a crash).
///
/// Both values become label values: pass these fixed names, never ids or messages.
pub fn record_push_delivery(channel: &str, outcome: &str) {
    SERIES
        .push_deliveries
        .with_label_values(&[channel, outcome])
        .inc();
}

/// An error answer from a device push provider; `reason` is the provider's own code
/// (a closed set per provider, so the label stays bounded).
pub fn record_push_provider_error(channel: &str, reason: &str) {
    SERIES
        .push_provider_errors
        .with_label_values(&[channel, reason])
        .inc();
}

/// The Prometheus text exposition of every series, plus those sampled from `state`.
pub fn render(state: &AppState) -> String {
    let mut families = SERIES.registry.gather();
    families.extend(sample_application(state));
    let mut out = Vec::with_capacity(16 * 1024);
    if let Err(err) = TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(%err, "metrics not encoded");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// This application's read cache, cache backend and database pool, read now. They are
/// counters and gauges built for this one scrape, holding the current totals.
fn sample_application(state: &AppState) -> Vec<prometheus::proto::MetricFamily> {
    let reads = state.read_cache.stats();
    let hits = IntCounter::new(
        "qshare_read_cache_hits_total",
        "Cached public reads answered from the read cache (in-process or shared layer).",
    )
    .expect("valid metric");
    hits.inc_by(reads.hits);
    let misses = IntCounter::new(
        "qshare_read_cache_misses_total",
        "Cached public reads rebuilt from the database.",
    )
    .expect("valid metric");
    misses.inc_by(reads.misses);
    let errors = IntCounterVec::new(
        Opts::new(
            "qshare_cache_errors_total",
            "Failed cache commands (the cache is then bypassed), by backend.",
        ),
        &["backend"],
    )
    .expect("valid metric");
    errors
        .with_label_values(&[state.cache.backend_name()])
        .inc_by(state.cache.error_count());

    let pool = db::pool_stats(&state.db);
    let connections = IntGaugeVec::new(
        Opts::new(
            "qshare_db_pool_connections",
            "Open database connections, by state (idle, in_use).",
        ),
        &["state"],
    )
    .expect("valid metric");
    connections
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle));
    connections
        .with_label_values(&["in_use"])
        .set(i64::from(pool.size.saturating_sub(pool.idle)));
    let max = IntGauge::new(
        "qshare_db_pool_max_connections",
        "Connections the database pool may open.",
    )
    .expect("valid metric");
    max.set(i64::from(pool.max));

    let mut families = Vec::new();
    families.extend(hits.collect());
    families.extend(misses.collect());
    families.extend(errors.collect());
    families.extend(connections.collect());
    families.extend(max.collect());
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition() -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&SERIES.registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_recorded_push_delivery_appears_with_its_labels() {
        let line = r#"qshare_push_deliveries_total{channel="unit_test_channel",outcome="sent"}"#;
        record_push_delivery("unit_test_channel", "sent");
        record_push_delivery("unit_test_channel", "sent");
        let text = exposition();
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("{line} missing in\n{text}"));
        assert_eq!(value.trim(), "2");
    }

    #[test]
    fn wechat_calls_are_counted_with_their_errcode_and_timed() {
        record_wechat_call("/unit/test", "40029", 0.02);
        let text = exposition();
        assert!(
            text.contains(
                r#"qshare_wechat_api_calls_total{endpoint="/unit/test",errcode="40029"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"qshare_wechat_api_duration_seconds_count{endpoint="/unit/test"} 1"#),
            "{text}"
        );
    }
}
