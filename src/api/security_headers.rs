//! Security headers on every response.
//!
//! The API answers JSON (and XML to WeChat), never pages, so its Content-Security-Policy
//! allows nothing at all: a response that a browser somehow renders can load no script,
//! style or frame. The one HTML page, the Swagger UI under `/docs`, is a single document with
//! its script, style and spec inline that fetches the API from this origin, so it gets a
//! policy that allows exactly that.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderMap, HeaderName, HeaderValue, header},
};

const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// The admin console (`/admin`): its own scripts and stylesheet only, nothing inline (no
/// `unsafe-inline`, no `unsafe-eval`, so no `style=` attributes either), requests and forms
/// to this origin only.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The headers every response carries, whatever the route. Values made at compile time:
/// `HeaderValue::from_static` checks every byte when it runs, on every answer.
static COMMON: [(HeaderName, HeaderValue); 3] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
];
static API: HeaderValue = HeaderValue::from_static(API_POLICY);
static DOCS: HeaderValue = HeaderValue::from_static(DOCS_POLICY);
static CONSOLE: HeaderValue = HeaderValue::from_static(CONSOLE_POLICY);

fn is_docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

fn is_console(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// The content security policy of the answers for `path`.
pub fn policy_of(path: &str) -> &'static HeaderValue {
    if is_docs(path) {
        &DOCS
    } else if is_console(path) {
        &CONSOLE
    } else {
        &API
    }
}

/// Adds the security headers, with content security `policy`, to an answer.
pub fn apply(headers: &mut HeaderMap, policy: &'static HeaderValue) {
    headers.reserve(COMMON.len() + 1);
    for (name, value) in &COMMON {
        headers.insert(name, value.clone());
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
}

pub struct SecurityHeaders;

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let policy = policy_of(req.uri().path());
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            // Errors become their JSON answer here, so that they carry the headers too.
            Err(err) => super::error::framework_error_response(err).await,
        };
        apply(resp.headers_mut(), policy);
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_docs_pages_get_the_relaxed_policy() {
        assert!(is_docs("/docs"));
        assert!(is_docs("/docs/oauth-receiver.html"));
        assert!(!is_docs("/docsx"));
        assert!(!is_docs("/api/docs"));
        assert!(is_console("/admin/jobs"));
        assert!(!is_console("/api/admin/jobs"));
        assert!(!CONSOLE_POLICY.contains("unsafe"));
    }

    #[test]
    fn the_policies_are_valid_header_values() {
        HeaderValue::from_str(API_POLICY).unwrap();
        HeaderValue::from_str(DOCS_POLICY).unwrap();
        assert!(!API_POLICY.contains("unsafe"));
    }
}
