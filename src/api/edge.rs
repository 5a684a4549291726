//! The edge middleware: entity tags and 304s, `Cache-Control` and `Vary`, response
//! compression, and the refusal of content-coded request bodies. The rules themselves
//! (tags, negotiation, encoders, caching policy) are in `crate::edge`.
//!
//! A handler whose body is prepared once (a cached read) attaches its `PreparedBody` as a
//! response extension; its tag and compressed forms are then reused, so a hit neither
//! hashes nor compresses. Any other body is hashed, and compressed with a fast setting, on
//! its way out.
//!
//! Request bodies are never decompressed: a request with a `Content-Encoding` other than
//! identity is refused with 415 before anything reads it, so no upload can expand past the
//! body limit.

use std::sync::Arc;

use bytes::Bytes;
use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};

use crate::edge::{
    PreparedBody,
    body::MIN_COMPRESS_BYTES,
    encoding::{self, Effort},
    etag,
    policy::{self, Caching},
};

pub struct Edge;

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint { inner }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
}

/// Room for every header an answer ends up with (type, tag, caching, `Vary`, coding, the
/// security headers, the request id), so filling them never grows the map.
const ANSWER_HEADERS: usize = 14;

/// Attaches a prepared body to a response, for `Edge` to reuse.
pub fn prepared_response(body: Arc<PreparedBody>, content_type: &'static str) -> Response {
    let mut resp = Response::builder().body(body.bytes().clone());
    let mut headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    *resp.headers_mut() = headers;
    resp.extensions_mut().insert(body);
    resp
}

fn tag_value(tag: Bytes) -> HeaderValue {
    HeaderValue::from_maybe_shared(tag).expect("a base64url tag is a header value")
}

fn coded_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
}

/// Worth compressing: text-like content not already coded.
fn compressible(resp: &Response) -> bool {
    if resp.headers().contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("text/")
                || t.contains("json")
                || t.contains("xml")
                || t.contains("javascript")
        })
}

fn add_vary(headers: &mut HeaderMap, name: &'static str) {
    let present = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|n| n.trim().eq_ignore_ascii_case(name)))
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static(name));
    }
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if coded_request(req.headers()) {
            let err = poem::Error::from_string(
                "request bodies must not be content-coded (send them as identity)",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            );
            let mut resp = super::error::framework_error_response(err).await;
            finish_headers(resp.headers_mut(), Caching::NoStore);
            return Ok(resp);
        }
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        let with_credentials = req.headers().contains_key(header::AUTHORIZATION);
        let coding = encoding::negotiate(
            req.headers()
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        );
        let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
        let if_modified_since = req.headers().get(header::IF_MODIFIED_SINCE).cloned();
        let caching_if_ok = policy::of_request(safe, req.uri().path(), with_credentials);

        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => super::error::framework_error_response(err).await,
        };
        let status = resp.status();
        let caching = caching_if_ok.for_status(status.as_u16());
        if status != StatusCode::OK {
            finish_headers(resp.headers_mut(), caching);
            return Ok(resp);
        }
        let prepared = resp.extensions().get::<Arc<PreparedBody>>().cloned();
        let revalidates = safe && caching.revalidates();
        let coding = coding.filter(|_| compressible(&resp));
        if prepared.is_none() && !revalidates && coding.is_none() {
            finish_headers(resp.headers_mut(), caching);
            return Ok(resp);
        }
        let bytes = match &prepared {
            Some(p) => p.bytes().clone(),
            None => resp.take_body().into_bytes().await?,
        };
        let coding = coding.filter(|_| bytes.len() >= MIN_COMPRESS_BYTES);
        // The representation to send. A prepared body knows its coded forms (made once);
        // any other is coded below, after the 304 check, so a 304 costs no compression.
        let (coding, stored) = match (&prepared, coding) {
            (Some(p), Some(c)) => match p.encoded(c) {
                Some(coded) => (Some(c), Some(coded.clone())),
                None => (None, None),
            },
            _ => (coding, None),
        };
        let mut tag: Option<Bytes> = revalidates.then(|| match &prepared {
            Some(p) => p.etag_bytes(coding).clone(),
            None => etag::coded(&etag::of(&bytes), coding).into(),
        });
        if let Some(tag) = &tag {
            let text = std::str::from_utf8(tag).unwrap_or_default();
            // If-None-Match wins; If-Modified-Since counts only without it (RFC 9110 §13.2.2).
            let hit = match &if_none_match {
                Some(v) => v.to_str().is_ok_and(|v| etag::none_match_hits(v, text)),
                None => not_modified_since(resp.headers(), if_modified_since.as_ref()),
            };
            if hit {
                return Ok(not_modified(&resp, tag.clone(), caching));
            }
        }
        let body = match (coding, stored) {
            (Some(c), Some(coded)) => Some((c, coded)),
            (Some(c), None) => encoding::encode(c, &bytes, Effort::Dynamic)
                .ok()
                .filter(|coded| coded.len() < bytes.len())
                .map(|coded| (c, coded)),
            (None, _) => None,
        };
        match body {
            Some((coding, coded)) => {
                resp.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(coding.token()),
                );
                resp.headers_mut().remove(header::CONTENT_LENGTH);
                resp.set_body(coded);
            }
            None => {
                // Coding did not pay after all: the identity representation, its own tag.
                if coding.is_some() {
                    tag = tag.map(|_| etag::of(&bytes).into());
                }
                resp.set_body(bytes);
            }
        }
        if let Some(tag) = tag {
            resp.headers_mut().insert(header::ETAG, tag_value(tag));
        }
        finish_headers(resp.headers_mut(), caching);
        Ok(resp)
    }
}

/// Whether the answer's `Last-Modified` is no later than the request's
/// `If-Modified-Since` (both HTTP dates, whole seconds). No `Last-Modified`: never.
fn not_modified_since(headers: &HeaderMap, since: Option<&HeaderValue>) -> bool {
    let date = |v: &HeaderValue| {
        v.to_str()
            .ok()
            .and_then(|s| chrono::DateTime::parse_from_rfc2822(s.trim()).ok())
    };
    match (
        headers.get(header::LAST_MODIFIED).and_then(date),
        since.and_then(date),
    ) {
        (Some(modified), Some(since)) => modified <= since,
        _ => false,
    }
}

/// A `Last-Modified` value: the HTTP date of `at`, whole seconds.
pub fn http_date(at: chrono::DateTime<chrono::Utc>) -> HeaderValue {
    HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .expect("an HTTP date is a header value")
}

/// The 304 for `resp`: its tag, and the headers a 304 must repeat (RFC 9110 §15.4.5).
fn not_modified(resp: &Response, tag: Bytes, caching: Caching) -> Response {
    let mut out = Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .finish();
    let mut headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(header::ETAG, tag_value(tag));
    *out.headers_mut() = headers;
    for name in [
        header::CONTENT_LOCATION,
        header::EXPIRES,
        header::CACHE_CONTROL,
        header::LAST_MODIFIED,
    ] {
        if let Some(v) = resp.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    for v in resp.headers().get_all(header::VARY) {
        out.headers_mut().append(header::VARY, v.clone());
    }
    finish_headers(out.headers_mut(), caching);
    out
}

/// `Cache-Control` and `Vary` on every answer: a handler that set its own
/// `Cache-Control` keeps it.
fn finish_headers(headers: &mut HeaderMap, caching: Caching) {
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(caching.cache_control()),
        );
    }
    add_vary(headers, "Accept-Encoding");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_added_once_next_to_what_is_there() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        add_vary(&mut headers, "Accept-Encoding");
        add_vary(&mut headers, "Accept-Encoding");
        let all: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(all, ["Origin", "Accept-Encoding"]);
    }

    #[test]
    fn only_coded_request_bodies_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(!coded_request(&headers));
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!coded_request(&headers));
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(coded_request(&headers));
    }
}
