//! The public reads served as pre-serialized bytes: their cache keys (one definition, used
//! by the typed handlers that build them and by the fast lane that serves them), the view
//! counting of article pages, and the fast lane.
//!
//! The fast lane is the outermost endpoint. It answers a plain GET for a cached read straight
//! from this instance's read cache when it holds the entry, composing the answer with the
//! same functions the layers use (the edge's tag, 304 and coding, the security headers, the
//! metrics, the request id and log) in one synchronous step, so that the hottest routes pay
//! for none of the layers' futures, nor for the OpenAPI operation layer. On a miss, or for
//! any request it does not take (another shape, an `Origin` for CORS, a body), the request
//! goes through the layers to the typed handler, which builds the bytes and fills the cache.
//! Responses are identical either way.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderValue, Method, header},
};
use tracing::Instrument;

use super::{
    client_ip::client_ip, edge, http_metrics::FastLaneSeries, middleware, security_headers,
};
use crate::{
    edge::PreparedBody,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT},
    service::{tokens, views},
    state::AppState,
};

pub fn feed_key(limit: u64) -> String {
    format!("feed:{limit}")
}

pub fn featured_key(limit: u64) -> String {
    format!("featured:{limit}")
}

pub fn hot_key(limit: u64) -> String {
    format!("hot:{limit}")
}

pub fn article_key(id: i64) -> String {
    format!("article:{id}")
}

pub const JSON: &str = "application/json; charset=utf-8";

/// Counts a view of article `id` by this request's viewer: the user of a valid bearer token
/// (checked without a database round trip), else the client IP.
pub async fn count_view(req: &Request, state: &AppState, id: i64) {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| tokens::verify_access(&state.settings.auth, t).ok());
    let reader = user
        .as_ref()
        .and_then(|claims| claims.sub.parse::<i64>().ok());
    let viewer = match &user {
        Some(claims) => format!("u:{}", claims.sub),
        None => format!("ip:{}", client_ip(req, state)),
    };
    let counted = views::record(&state.cache, id, &viewer).await;
    // A counted view is the first of this reader in the window: one write per window, and
    // before the answer, so the reader's state shows it on their next call.
    if counted
        && let Some(user_id) = reader
        && let Err(err) = views::record_read(&state.db, user_id, id).await
    {
        tracing::debug!(%err, "article read not recorded");
    }
}

/// What a request asks for, if it is one of the cached reads in its default shape.
#[derive(Debug, PartialEq, Eq)]
enum CachedRead {
    List(String),
    Article(i64),
}

/// Accepts no query or exactly `limit=N` with N in 1..=100 (other shapes take the full path).
fn limit_only(query: Option<&str>) -> Option<u64> {
    match query {
        None | Some("") => Some(u64::from(DEFAULT_LIMIT)),
        Some(q) => {
            let n: u64 = q.strip_prefix("limit=")?.parse().ok()?;
            (1..=u64::from(MAX_LIMIT)).contains(&n).then_some(n)
        }
    }
}

/// The routes whose default shapes the fast lane answers, named by their OpenAPI path
/// templates: its answers are counted in the metrics under the same route labels as the
/// typed handlers' answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedRoute {
    Feed,
    Featured,
    Hot,
    Article,
}

impl CachedRoute {
    pub const ALL: [Self; 4] = [Self::Feed, Self::Featured, Self::Hot, Self::Article];

    /// The OpenAPI path template (the route label).
    pub fn template(self) -> &'static str {
        match self {
            Self::Feed => "/api/articles",
            Self::Featured => "/api/articles/featured",
            Self::Hot => "/api/articles/hot",
            Self::Article => "/api/articles/{id}",
        }
    }

    /// Which of these routes `path` belongs to (whatever the query).
    pub fn of_path(path: &str) -> Option<Self> {
        match path {
            "/api/articles" => Some(Self::Feed),
            "/api/articles/featured" => Some(Self::Featured),
            "/api/articles/hot" => Some(Self::Hot),
            _ => {
                let id = path.strip_prefix("/api/articles/")?;
                (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(Self::Article)
            }
        }
    }
}

fn recognise(path: &str, query: Option<&str>) -> Option<(CachedRoute, CachedRead)> {
    let route = CachedRoute::of_path(path)?;
    let read = match route {
        CachedRoute::Feed => CachedRead::List(feed_key(limit_only(query)?)),
        CachedRoute::Featured => CachedRead::List(featured_key(limit_only(query)?)),
        CachedRoute::Hot => CachedRead::List(hot_key(limit_only(query)?)),
        CachedRoute::Article => {
            if query.is_some() {
                return None;
            }
            CachedRead::Article(path["/api/articles/".len()..].parse().ok()?)
        }
    };
    Some((route, read))
}

/// Whether the layers would do more for this request than a fast-lane answer does: CORS
/// answers a request with an `Origin`, the body limit and the edge's refusal of coded bodies
/// a request with a body.
fn needs_the_layers(req: &Request) -> bool {
    // One pass over the few headers a read carries costs less than four lookups.
    req.headers().keys().any(|name| {
        [
            header::ORIGIN,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONTENT_ENCODING,
        ]
        .contains(name)
    })
}

/// Outermost: answers cached reads it holds, hands everything else to the layers.
pub struct FastLane {
    pub state: AppState,
}

impl<E: Endpoint> Middleware<E> for FastLane {
    type Output = FastLaneEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        FastLaneEndpoint {
            inner,
            state: self.state.clone(),
            series: FastLaneSeries::resolve(),
        }
    }
}

pub struct FastLaneEndpoint<E> {
    inner: E,
    state: AppState,
    series: FastLaneSeries,
}

/// A cached read this instance holds.
struct Hit {
    route: CachedRoute,
    article: Option<i64>,
    body: Arc<PreparedBody>,
}

impl<E> FastLaneEndpoint<E> {
    fn hit(&self, req: &Request) -> Option<Hit> {
        if req.method() != Method::GET || needs_the_layers(req) {
            return None;
        }
        let (route, read) = recognise(req.uri().path(), req.uri().query())?;
        let (key, article) = match read {
            CachedRead::List(key) => (key, None),
            CachedRead::Article(id) => (article_key(id), Some(id)),
        };
        let body = self.state.read_cache.peek(&key)?;
        Some(Hit {
            route,
            article,
            body,
        })
    }

    /// The answer the layers would give, composed by their own functions in their order.
    fn answer(&self, req: &Request, hit: Hit, id: HeaderValue, started: Instant) -> Response {
        let mut resp = edge::Conditions::of(req).answer_cached(&hit.body, JSON);
        security_headers::apply(
            resp.headers_mut(),
            security_headers::policy_of(req.uri().path()),
        );
        self.series
            .record(hit.route, started.elapsed().as_secs_f64());
        middleware::log_answer(&mut resp, id, started);
        resp
    }
}

impl<E: Endpoint> Endpoint for FastLaneEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let Some(hit) = self.hit(&req) else {
            // Boxed: inline, the layers' states (the whole route stack, cache and database
            // calls) would make every request's future several kilobytes, and poem moves
            // that future into its box on every request, hits included.
            return Box::pin(self.inner.call(req))
                .await
                .map(IntoResponse::into_response);
        };
        let started = Instant::now();
        let id = middleware::request_id(&req);
        let span = middleware::request_span(&req, &id);
        if let Some(article) = hit.article {
            Box::pin(count_view(&req, &self.state, article).instrument(span.clone())).await;
        }
        Ok(span.in_scope(|| self.answer(&req, hit, id, started)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_shapes_of_cached_reads_are_recognised() {
        assert_eq!(
            recognise("/api/articles", None),
            Some((CachedRoute::Feed, CachedRead::List("feed:20".into())))
        );
        assert_eq!(
            recognise("/api/articles", Some("limit=5")),
            Some((CachedRoute::Feed, CachedRead::List("feed:5".into())))
        );
        assert_eq!(
            recognise("/api/articles/hot", Some("limit=100")),
            Some((CachedRoute::Hot, CachedRead::List("hot:100".into())))
        );
        assert_eq!(
            recognise("/api/articles/featured", None),
            Some((
                CachedRoute::Featured,
                CachedRead::List("featured:20".into())
            ))
        );
        assert_eq!(
            recognise("/api/articles/42", None),
            Some((CachedRoute::Article, CachedRead::Article(42)))
        );
        for (path, query) in [
            ("/api/articles", Some("limit=0")),
            ("/api/articles", Some("limit=101")),
            ("/api/articles", Some("cursor=abc")),
            ("/api/articles", Some("limit=5&tag=rust")),
            ("/api/articles/42", Some("x=1")),
            ("/api/articles/42/related", None),
            ("/api/articles/abc", None),
            ("/api/articles/", None),
            ("/api/articles/99999999999999999999999", None),
        ] {
            assert_eq!(recognise(path, query), None, "{path}?{query:?}");
        }
    }

    #[test]
    fn only_requests_without_an_origin_or_a_body_skip_the_layers() {
        let get = |headers: &[(&str, &str)]| {
            let mut req = Request::builder().uri_str("/api/articles/hot");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            req.finish()
        };
        for plain in [
            vec![],
            vec![("if-none-match", "\"x\""), ("accept-encoding", "br")],
            vec![("authorization", "Bearer t"), ("user-agent", "app")],
        ] {
            assert!(!needs_the_layers(&get(&plain)), "{plain:?}");
        }
        for layered in [
            ("origin", "https://web.example"),
            ("content-length", "0"),
            ("transfer-encoding", "chunked"),
            ("content-encoding", "gzip"),
        ] {
            assert!(needs_the_layers(&get(&[layered])), "{layered:?}");
        }
    }

    #[test]
    fn the_route_of_a_path_ignores_the_query_and_needs_a_numeric_id() {
        assert_eq!(
            CachedRoute::of_path("/api/articles"),
            Some(CachedRoute::Feed)
        );
        assert_eq!(
            CachedRoute::of_path("/api/articles/7"),
            Some(CachedRoute::Article)
        );
        assert_eq!(CachedRoute::Article.template(), "/api/articles/{id}");
        for path in [
            "/api/articles/",
            "/api/articles/x",
            "/api/articles/7/related",
            "/api/tags",
        ] {
            assert_eq!(CachedRoute::of_path(path), None, "{path}");
        }
    }
}
