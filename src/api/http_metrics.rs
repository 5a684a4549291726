//! Counts and times every request by method, route template and status.
//!
//! The route label is the matched route's template, never the raw path, so that the number
//! of series stays bounded: poem's router leaves the matched pattern (`PathPattern`) on the
//! response or error, and poem-openapi names its path variables `:param0`, `:param1`..., so
//! the patterns of OpenAPI operations are translated back to their documented templates
//! (`/api/articles/{id}`). The fast lane answers before any layer runs and records its
//! answers through `FastLaneSeries`, handles resolved once under the same labels, which keeps
//! the hottest routes at a few atomic operations per request. Requests that match no route
//! share the label `unmatched`, as do requests refused before routing (a body over the limit
//! by its Content-Length, a timeout), except on the cached routes, which keep their label.
//! CORS preflights are answered by the CORS layer outside this one and are not counted.

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

/// The series of the fast lane's answers (`GET` with 200 on each cached route), resolved
/// once, so that recording one is a few atomic operations.
pub struct FastLaneSeries {
    /// Indexed by `CachedRoute as usize`.
    routes: [(IntCounter, Histogram); 4],
}

impl FastLaneSeries {
    pub fn resolve() -> Self {
        let http = metrics::http();
        Self {
            routes: CachedRoute::ALL.map(|route| {
                (
                    http.requests("GET", route.template(), StatusCode::OK.as_str()),
                    http.duration("GET", route.template()),
                )
            }),
        }
    }

    pub fn record(&self, route: CachedRoute, seconds: f64) {
        let (requests, duration) = &self.routes[route as usize];
        requests.inc();
        duration.observe(seconds);
    }
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
        HttpMetricsEndpoint {
            inner,
            labels: self.labels.clone(),
        }
    }
}

pub struct HttpMetricsEndpoint<E> {
    inner: E,
    labels: Arc<RouteLabels>,
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
        let route = match pattern {
            Some(pattern) => self.labels.label(&pattern.0),
            None => cached_route.map_or(UNMATCHED, CachedRoute::template),
        };
        let http = metrics::http();
        http.requests(method, route, status.as_str()).inc();
        http.duration(method, route).observe(seconds);
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
