//! Counts and times every request by method, route template and status.
//!
//! The route label is the matched route's template, never the raw path, so that the number
//! of series stays bounded: poem's router leaves the matched pattern (`PathPattern`) on the
//! response or error, and poem-openapi names its path variables `:param0`, `:param1`..., so
//! the patterns of OpenAPI operations are translated back to their documented templates
//! (`/api/articles/{id}`). The fast lane answers before any router runs; its answers are
//! recognised by path (`CachedRoute`) and recorded through handles resolved once, which keeps
//! the hottest routes at a few atomic operations per request. Requests that match no route
//! share the label `unmatched`, as do requests refused before routing (a body over the limit
//! by its Content-Length, a timeout) on routes the fast lane does not serve. CORS preflights
//! are answered by the CORS layer outside this one and are not counted.

use std::{collections::HashMap, sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result,
    error::NotFoundError,
    http::{Method, StatusCode},
};
use poem_openapi::{OpenApi, registry::MetaApi};
use prometheus::{Histogram, IntCounter};

use super::cached_reads::CachedRoute;
use crate::metrics;

pub const UNMATCHED: &str = "unmatched";

/// Route labels by router pattern.
#[derive(Default)]
pub struct RouteLabels {
    by_pattern: HashMap<String, Arc<str>>,
}

impl RouteLabels {
    /// The labels of every operation of `T`.
    pub fn of<T: OpenApi>() -> Self {
        Self::from_meta(&T::meta())
    }

    fn from_meta(apis: &[MetaApi]) -> Self {
        let by_pattern = apis
            .iter()
            .flat_map(|api| &api.paths)
            .map(|path| (router_pattern(&path.path), Arc::from(path.path.as_str())))
            .collect();
        Self { by_pattern }
    }

    /// The label of a matched pattern: its OpenAPI template, or the pattern itself for the
    /// plain routes (`/healthz`, `/wechat/callback`...).
    fn label<'a>(&'a self, pattern: &'a str) -> &'a str {
        self.by_pattern.get(pattern).map_or(pattern, |t| t.as_ref())
    }
}

/// `/api/articles/{id}/comments` → `/api/articles/:param0/comments`, the pattern
/// poem-openapi registers with the router for that template.
fn router_pattern(template: &str) -> String {
    let mut pattern = String::with_capacity(template.len());
    let mut variables = 0;
    for segment in template.split('/').filter(|s| !s.is_empty()) {
        pattern.push('/');
        if segment.starts_with('{') && segment.ends_with('}') {
            pattern.push_str(&format!(":param{variables}"));
            variables += 1;
        } else {
            pattern.push_str(segment);
        }
    }
    if pattern.is_empty() {
        pattern.push('/');
    }
    pattern
}

/// Methods outside this list share one label: clients choose methods freely.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The series of one fast-lane route answering `GET` with 200, resolved once.
struct Resolved {
    requests: IntCounter,
    duration: Histogram,
}

pub struct HttpMetrics {
    labels: Arc<RouteLabels>,
}

impl HttpMetrics {
    pub fn new(labels: RouteLabels) -> Self {
        Self {
            labels: Arc::new(labels),
        }
    }
}

impl<E: Endpoint> Middleware<E> for HttpMetrics {
    type Output = HttpMetricsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let http = metrics::http();
        let fast_lane = CachedRoute::ALL.map(|route| Resolved {
            requests: http.requests("GET", route.template(), StatusCode::OK.as_str()),
            duration: http.duration("GET", route.template()),
        });
        HttpMetricsEndpoint {
            inner,
            labels: self.labels.clone(),
            fast_lane,
        }
    }
}

pub struct HttpMetricsEndpoint<E> {
    inner: E,
    labels: Arc<RouteLabels>,
    /// Indexed by `CachedRoute as usize`.
    fast_lane: [Resolved; 4],
}

impl<E: Endpoint> Endpoint for HttpMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let method = method_label(req.method());
        let cached_route = CachedRoute::of_path(req.uri().path());
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let seconds = started.elapsed().as_secs_f64();
        let (status, pattern) = match &result {
            Ok(resp) => (resp.status(), resp.data::<PathPattern>()),
            // The router's own 404: the pattern on it is the enclosing nest's, not a route.
            Err(err) if err.is::<NotFoundError>() => (err.status(), None),
            Err(err) => (err.status(), err.data::<PathPattern>()),
        };
        match (pattern, cached_route) {
            (None, Some(route)) if status == StatusCode::OK && method == "GET" => {
                let resolved = &self.fast_lane[route as usize];
                resolved.requests.inc();
                resolved.duration.observe(seconds);
            }
            _ => {
                let route = match pattern {
                    Some(pattern) => self.labels.label(&pattern.0),
                    None => cached_route.map_or(UNMATCHED, CachedRoute::template),
                };
                let http = metrics::http();
                http.requests(method, route, status.as_str()).inc();
                http.duration(method, route).observe(seconds);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_the_patterns_poem_openapi_registers() {
        assert_eq!(router_pattern("/api/articles"), "/api/articles");
        assert_eq!(
            router_pattern("/api/articles/{id}"),
            "/api/articles/:param0"
        );
        assert_eq!(
            router_pattern("/api/admin/comments/{id}/{action}"),
            "/api/admin/comments/:param0/:param1"
        );
    }

    #[test]
    fn every_fast_lane_route_is_an_operation_of_the_api() {
        let labels = RouteLabels::of::<super::super::Apis>();
        for route in CachedRoute::ALL {
            let pattern = router_pattern(route.template());
            assert_eq!(labels.label(&pattern), route.template());
        }
        assert_eq!(
            labels.label("/api/articles/:param0/related"),
            "/api/articles/{id}/related"
        );
        assert_eq!(labels.label("/healthz"), "/healthz");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
