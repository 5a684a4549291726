//! Cross-cutting HTTP concerns: request ids and access logs, the request body limit, the
//! request timeout.

use std::time::{Duration, Instant};

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response, Result,
    error::ReadBodyError,
    http::{HeaderName, HeaderValue, Method, header},
};
use tracing::Instrument;

/// A constant, so that setting it on every answer parses no header name.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, as a request extension (the audit log records it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A request id unique across instances without a random draw per request: a random
/// per-process prefix and a counter.
fn next_request_id() -> HeaderValue {
    use std::sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    };
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random::<u64>);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Hex digits written in place: this runs on every request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        let word = if i < 16 { prefix } else { count };
        *byte = HEX[((word >> (60 - 4 * (i % 16))) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).expect("hex digits are a header value")
}

/// The client's `X-Request-Id` when it is sane: short, printable ASCII.
fn client_request_id(req: &Request) -> Option<HeaderValue> {
    req.headers()
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned()
}

/// Gives every request an id (the client's `X-Request-Id` when it is sane), logs the request
/// in a span carrying that id, and echoes the id in the response.
pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestLogEndpoint(ep)
    }
}

pub struct RequestLogEndpoint<E>(E);

/// This request's id: the client's `X-Request-Id` when it is sane, else a new one.
pub fn request_id(req: &Request) -> HeaderValue {
    client_request_id(req).unwrap_or_else(next_request_id)
}

/// The span a request is served in, carrying its id.
pub fn request_span(req: &Request, id: &HeaderValue) -> tracing::Span {
    // Printable ASCII either way.
    let id = id.to_str().unwrap_or_default();
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

/// Logs the answer (inside the request's span) and echoes the request id on it.
pub fn log_answer(resp: &mut Response, id: HeaderValue, started: Instant) {
    let status = resp.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(status, elapsed_ms, "request failed");
    } else {
        tracing::info!(status, elapsed_ms, "request");
    }
    resp.headers_mut().insert(REQUEST_ID, id);
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let id = request_id(&req);
        // Only changes are audited; reads, the hot path, skip the allocation.
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            req.extensions_mut()
                .insert(RequestId(id.to_str().unwrap_or_default().to_owned()));
        }
        let span = request_span(&req, &id);
        async move {
            let started = Instant::now();
            let result = self.0.call(req).await;
            let mut resp = match result {
                Ok(resp) => resp.into_response(),
                Err(err) => super::error::framework_error_response(err).await,
            };
            log_answer(&mut resp, id, started);
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

/// Refuses bodies over `max` bytes with 413: by `Content-Length` when given, otherwise by
/// reading at most `max` bytes of a streamed body.
pub struct BodyLimit {
    pub max: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max: self.max,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max as u64 => return Err(ReadBodyError::PayloadTooLarge.into()),
            Some(_) => {}
            None if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) => {}
            None => {
                let bytes = req.take_body().into_bytes_limit(self.max).await?;
                req.set_body(Body::from(bytes));
            }
        }
        self.inner.call(req).await
    }
}

/// Answers 503 (JSON, through the error mapping) when a request takes longer than `limit`,
/// reading its body included, and closes the connection.
pub struct Timeout {
    pub limit: Duration,
}

impl<E: Endpoint> Middleware<E> for Timeout {
    type Output = TimeoutEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        TimeoutEndpoint {
            inner: ep,
            limit: self.limit,
        }
    }
}

pub struct TimeoutEndpoint<E> {
    inner: E,
    limit: Duration,
}

impl<E: Endpoint> Endpoint for TimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        match tokio::time::timeout(self.limit, self.inner.call(req)).await {
            Ok(result) => result.map(IntoResponse::into_response),
            Err(_) => {
                let err = poem::Error::from_string(
                    "the request took too long",
                    poem::http::StatusCode::SERVICE_UNAVAILABLE,
                );
                // The client may still be sending a body we will not read: answer and
                // close the connection rather than wait for the rest.
                let mut resp = super::error::framework_error_response(err).await;
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Ok(resp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_32_hex_digits_sharing_a_prefix_and_never_repeating() {
        let a = next_request_id();
        let b = next_request_id();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        assert_eq!(a[..16], b[..16]);
        assert_ne!(a, b);
        let count = |id: &str| u64::from_str_radix(&id[16..], 16).unwrap();
        assert!(count(b) > count(a));
    }
}
