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
    Coding, PreparedBody,
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
    let mut resp = response_of(body.bytes().clone(), content_type);
    resp.extensions_mut().insert(body);
    resp
}

/// A 200 with `bytes` of `content_type`, room made for the headers it will get.
fn response_of(bytes: Bytes, content_type: &'static str) -> Response {
    let mut resp = Response::builder().body(bytes);
    let mut headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    *resp.headers_mut() = headers;
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
    !resp.headers().contains_key(header::CONTENT_ENCODING)
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible_type)
}

/// Text-like content types.
fn compressible_type(t: &str) -> bool {
    t.starts_with("text/") || t.contains("json") || t.contains("xml") || t.contains("javascript")
}

/// `Vary: Accept-Encoding`, made at compile time (see `cache_control`).
static VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// The `Cache-Control` value of `caching`. The values are made at compile time:
/// `HeaderValue::from_static` checks every byte when it runs, on every answer.
fn cache_control(caching: Caching) -> HeaderValue {
    static PUBLIC: HeaderValue = HeaderValue::from_static(policy::PUBLIC);
    static PRIVATE: HeaderValue = HeaderValue::from_static(policy::PRIVATE);
    static NO_STORE: HeaderValue = HeaderValue::from_static(policy::NO_STORE);
    match caching {
        Caching::Public => &PUBLIC,
        Caching::Private => &PRIVATE,
        Caching::NoStore => &NO_STORE,
    }
    .clone()
}

/// Adds `value` (the header value of `name`) to `Vary` unless it is listed there already.
fn add_vary(headers: &mut HeaderMap, name: &str, value: HeaderValue) {
    // Most answers have no `Vary` yet: one lookup, no parsing.
    let mut vary = match headers.entry(header::VARY) {
        header::Entry::Vacant(slot) => {
            slot.insert(value);
            return;
        }
        header::Entry::Occupied(vary) => vary,
    };
    let present = vary.iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|n| n.trim().eq_ignore_ascii_case(name)))
    });
    if !present {
        vary.append(value);
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
        let conditions = Conditions::of(&req);
        let resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => super::error::framework_error_response(err).await,
        };
        conditions.answer(resp).await
    }
}

/// What a request asks of the edge, read before the request is served (so the edge need not
/// keep the request): safety, the coding it accepts, its validators, and the caching a
/// successful answer may have.
pub struct Conditions {
    safe: bool,
    coding: Option<Coding>,
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
    caching_if_ok: Caching,
}

impl Conditions {
    pub fn of(req: &Request) -> Self {
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        // One pass over the request's few headers (the first of a repeated one counts, as
        // with `get`) costs less than a lookup for each.
        let (mut accept_encoding, mut if_none_match, mut if_modified_since) = (None, None, None);
        let mut with_credentials = false;
        for (name, value) in req.headers() {
            let slot = if name == header::ACCEPT_ENCODING {
                &mut accept_encoding
            } else if name == header::IF_NONE_MATCH {
                &mut if_none_match
            } else if name == header::IF_MODIFIED_SINCE {
                &mut if_modified_since
            } else {
                with_credentials |= name == header::AUTHORIZATION;
                continue;
            };
            slot.get_or_insert(value);
        }
        Self {
            safe,
            coding: encoding::negotiate(accept_encoding.and_then(|v| v.to_str().ok())),
            if_none_match: if_none_match.cloned(),
            if_modified_since: if_modified_since.cloned(),
            caching_if_ok: policy::of_request(safe, req.uri().path(), with_credentials),
        }
    }

    /// The answer to send for `resp`: its tag, caching and coding, or a 304.
    pub async fn answer(self, mut resp: Response) -> Result<Response> {
        let status = resp.status();
        let caching = self.caching_if_ok.for_status(status.as_u16());
        if status != StatusCode::OK {
            finish_headers(resp.headers_mut(), caching);
            return Ok(resp);
        }
        if let Some(prepared) = resp.extensions().get::<Arc<PreparedBody>>().cloned() {
            return Ok(self.answer_prepared(resp, &prepared));
        }
        let revalidates = self.safe && caching.revalidates();
        let coding = self.coding.filter(|_| compressible(&resp));
        if !revalidates && coding.is_none() {
            finish_headers(resp.headers_mut(), caching);
            return Ok(resp);
        }
        let bytes = resp.take_body().into_bytes().await?;
        let coding = coding.filter(|_| bytes.len() >= MIN_COMPRESS_BYTES);
        // Coded after the 304 check, so a 304 costs no compression; when coding does not
        // pay, the identity representation goes out under its own tag.
        let identity_tag = revalidates.then(|| etag::of(&bytes));
        if let Some(identity) = &identity_tag {
            let tag = Bytes::from(etag::coded(identity, coding));
            if self.revalidated(resp.headers(), &tag) {
                return Ok(not_modified(resp.headers(), tag, caching));
            }
        }
        let coded = coding.and_then(|c| {
            encoding::encode(c, &bytes, Effort::Dynamic)
                .ok()
                .filter(|coded| coded.len() < bytes.len())
                .map(|coded| (c, coded))
        });
        if let Some(identity) = identity_tag {
            let tag = etag::coded(&identity, coded.as_ref().map(|(c, _)| *c));
            resp.headers_mut()
                .insert(header::ETAG, tag_value(tag.into()));
        }
        send(&mut resp, coded, bytes);
        finish_headers(resp.headers_mut(), caching);
        Ok(resp)
    }

    /// The answer for a 200 whose body was prepared once (a cached read): its tag and coded
    /// forms are reused, so this neither hashes nor compresses.
    pub fn answer_prepared(self, mut resp: Response, prepared: &PreparedBody) -> Response {
        let compressible = compressible(&resp);
        match self.decide(prepared, compressible, resp.headers()) {
            Prepared::NotModified(tag) => not_modified(resp.headers(), tag, self.caching_if_ok),
            Prepared::Send { tag, coded } => {
                self.send_prepared(&mut resp, tag, coded);
                resp
            }
        }
    }

    /// `answer_prepared` for the answer `prepared_response(prepared, content_type)` would
    /// be, without building that answer when a 304 replaces it (the fast lane's case).
    pub fn answer_cached(
        self,
        prepared: &Arc<PreparedBody>,
        content_type: &'static str,
    ) -> Response {
        let no_headers = HeaderMap::new();
        match self.decide(prepared, compressible_type(content_type), &no_headers) {
            Prepared::NotModified(tag) => not_modified(&no_headers, tag, self.caching_if_ok),
            Prepared::Send { tag, coded } => {
                let mut resp = response_of(prepared.bytes().clone(), content_type);
                self.send_prepared(&mut resp, tag, coded);
                resp
            }
        }
    }

    /// A 304, or the tag and coded form to send, for a prepared body whose answer has
    /// `headers` (its `Last-Modified` counts for `If-Modified-Since`).
    fn decide(&self, prepared: &PreparedBody, compressible: bool, headers: &HeaderMap) -> Prepared {
        let coded = self
            .coding
            .filter(|_| compressible)
            .and_then(|c| prepared.encoded(c).map(|coded| (c, coded.clone())));
        let tag = (self.safe && self.caching_if_ok.revalidates())
            .then(|| prepared.etag_bytes(coded.as_ref().map(|(c, _)| *c)).clone());
        match tag {
            Some(tag) if self.revalidated(headers, &tag) => Prepared::NotModified(tag),
            tag => Prepared::Send { tag, coded },
        }
    }

    fn send_prepared(
        &self,
        resp: &mut Response,
        tag: Option<Bytes>,
        coded: Option<(Coding, Bytes)>,
    ) {
        if let Some(tag) = tag {
            resp.headers_mut().insert(header::ETAG, tag_value(tag));
        }
        // The identity body is there already (`prepared_response`, `response_of`).
        if let Some(coded) = coded {
            send_coded(resp, coded);
        }
        finish_headers(resp.headers_mut(), self.caching_if_ok);
    }

    /// Whether the client's copy is current: If-None-Match wins; If-Modified-Since counts
    /// only without it (RFC 9110 §13.2.2).
    fn revalidated(&self, answer: &HeaderMap, tag: &[u8]) -> bool {
        let tag = std::str::from_utf8(tag).unwrap_or_default();
        match &self.if_none_match {
            Some(v) => v.to_str().is_ok_and(|v| etag::none_match_hits(v, tag)),
            None => not_modified_since(answer, self.if_modified_since.as_ref()),
        }
    }
}

/// What to do with a prepared body.
enum Prepared {
    NotModified(Bytes),
    Send {
        tag: Option<Bytes>,
        coded: Option<(Coding, Bytes)>,
    },
}

/// Sets the body: `coded` when there is a coded form, else the identity `bytes`.
fn send(resp: &mut Response, coded: Option<(Coding, Bytes)>, bytes: Bytes) {
    match coded {
        Some(coded) => send_coded(resp, coded),
        None => resp.set_body(bytes),
    }
}

/// Sets a coded body and its `Content-Encoding`.
fn send_coded(resp: &mut Response, (coding, coded): (Coding, Bytes)) {
    resp.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.set_body(coded);
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
fn not_modified(answer: &HeaderMap, tag: Bytes, caching: Caching) -> Response {
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
        if let Some(v) = answer.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    for v in answer.get_all(header::VARY) {
        out.headers_mut().append(header::VARY, v.clone());
    }
    finish_headers(out.headers_mut(), caching);
    out
}

/// `Cache-Control` and `Vary` on every answer: a handler that set its own
/// `Cache-Control` keeps it.
fn finish_headers(headers: &mut HeaderMap, caching: Caching) {
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, cache_control(caching));
    }
    add_vary(headers, "Accept-Encoding", VARY_ACCEPT_ENCODING.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_added_once_next_to_what_is_there() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        add_vary(
            &mut headers,
            "Accept-Encoding",
            VARY_ACCEPT_ENCODING.clone(),
        );
        add_vary(
            &mut headers,
            "Accept-Encoding",
            VARY_ACCEPT_ENCODING.clone(),
        );
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
