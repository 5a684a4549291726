//! CORS for web clients (`server.cors`): browsers on the listed origins may call the API.
//!
//! Written here rather than taken from poem, whose `Cors` answers 403 to every request that
//! carries an unlisted `Origin`: browsers send `Origin` on same-origin POSTs too, so the
//! Swagger UI under `/docs` would stop working as soon as an origin was listed, and poem's
//! version renders errors from inner layers as plain text. Here a request from an unlisted
//! origin is served as usual, only without CORS headers: the browser then keeps the answer
//! from the page, which is all CORS is for.

use std::{collections::HashSet, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderValue, Method, StatusCode, header},
};

use crate::config::CorsSettings;

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
/// Beyond the CORS-safelisted headers, what the clients send.
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
/// Beyond the CORS-safelisted headers, what the clients may read.
const EXPOSE_HEADERS: &str = "x-request-id, retry-after";

enum Origins {
    Any,
    Listed(HashSet<HeaderValue>),
}

struct Policy {
    origins: Origins,
    allow_credentials: bool,
    max_age: HeaderValue,
}

impl Policy {
    /// The `Access-Control-Allow-Origin` value for `origin`, None when it is not allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            // Validation refuses `*` with credentials, where browsers need the origin itself.
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::Listed(listed) => listed.contains(origin).then(|| origin.clone()),
        }
    }
}

pub struct Cors {
    policy: Arc<Policy>,
}

impl Cors {
    pub fn new(settings: &CorsSettings) -> Self {
        let origins = if settings.allowed_origins.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            Origins::Listed(
                settings
                    .allowed_origins
                    .iter()
                    // Validated at start-up (config::CorsSettings::validate).
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
            )
        };
        Self {
            policy: Arc::new(Policy {
                origins,
                allow_credentials: settings.allow_credentials,
                max_age: HeaderValue::from(settings.max_age_secs),
            }),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint {
            inner,
            policy: self.policy.clone(),
        }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    policy: Arc<Policy>,
}

impl<E: Endpoint> CorsEndpoint<E> {
    async fn respond(&self, req: Request) -> Response {
        match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            // Errors become their JSON answer here, so that they carry the CORS headers too.
            Err(err) => super::error::framework_error_response(err).await,
        }
    }

    fn preflight(&self, allow_origin: HeaderValue) -> Response {
        let mut resp = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin)
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS)
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
            .header(header::ACCESS_CONTROL_MAX_AGE, self.policy.max_age.clone())
            .finish();
        self.add_credentials(&mut resp);
        resp
    }

    fn add_credentials(&self, resp: &mut Response) {
        if self.policy.allow_credentials {
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
            return Ok(self.respond(req).await);
        };
        let allow_origin = self.policy.allow_origin(&origin);
        let mut resp = match allow_origin {
            Some(allow_origin) if is_preflight(&req) => {
                let mut resp = self.preflight(allow_origin);
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Origin"));
                return Ok(resp);
            }
            Some(allow_origin) => {
                let mut resp = self.respond(req).await;
                let headers = resp.headers_mut();
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
                headers.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSE_HEADERS),
                );
                self.add_credentials(&mut resp);
                resp
            }
            None => self.respond(req).await,
        };
        // The answer depends on the Origin either way: shared caches must keep them apart.
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
        Ok(resp)
    }
}
