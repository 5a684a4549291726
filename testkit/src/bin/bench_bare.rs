//! The benchmark's ceiling: a bare poem server answering every GET with the same bytes,
//! used by scripts/bench-read.sh to compare qshare against.
//!
//! `bench_bare <port> <file> [<content-encoding>|- [<etag>|- [<headers-file>]]]`:
//! - with a content-encoding, the file holds bytes already coded that way and goes out with
//!   that `Content-Encoding` (the same compressed bytes, compressing nothing per request);
//! - with an etag, a request whose `If-None-Match` is that tag gets a 304 carrying it;
//! - with a headers file (`curl -D` output of the qshare answer being compared), every answer
//!   carries those headers as well, so both servers put the same bytes on the wire. The
//!   status line and the headers the server writes itself (date, length, connection) are
//!   skipped.

use std::sync::Arc;

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    listener::TcpListener,
    web::Data,
};

struct Answer {
    body: bytes::Bytes,
    encoding: Option<HeaderValue>,
    etag: Option<HeaderValue>,
    extra: HeaderMap,
}

#[handler]
fn serve(req: &Request, answer: Data<&Arc<Answer>>) -> Response {
    let mut resp = if let Some(tag) = &answer.etag
        && req.headers().get(header::IF_NONE_MATCH) == Some(tag)
    {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, tag.clone())
            .finish()
    } else {
        let mut resp = Response::builder().content_type("application/json; charset=utf-8");
        if let Some(encoding) = &answer.encoding {
            resp = resp.header(header::CONTENT_ENCODING, encoding.clone());
        }
        resp.body(answer.body.clone())
    };
    if !answer.extra.is_empty() {
        let headers = resp.headers_mut();
        for (name, value) in &answer.extra {
            headers.append(name, value.clone());
        }
    }
    resp
}

/// The headers of a `curl -D` capture, less the ones this server sets itself.
fn captured_headers(text: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes()) else {
            continue;
        };
        if [
            header::DATE,
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ETAG,
        ]
        .contains(&name)
        {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(value.trim()) {
            headers.append(name, value);
        }
    }
    headers
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    const USAGE: &str =
        "usage: bench_bare <port> <file> [<content-encoding>|- [<etag>|- [<headers-file>]]]";
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(USAGE);
    let file = args.next().expect(USAGE);
    let encoding = args
        .next()
        .filter(|e| e != "-")
        .map(|e| HeaderValue::from_str(&e).expect(USAGE));
    let etag = args
        .next()
        .filter(|t| t != "-")
        .map(|t| HeaderValue::from_str(&t).expect(USAGE));
    let extra = match args.next() {
        Some(path) => captured_headers(&std::fs::read_to_string(path)?),
        None => HeaderMap::new(),
    };
    let answer = Arc::new(Answer {
        body: bytes::Bytes::from(std::fs::read(file)?),
        encoding,
        etag,
        extra,
    });
    let app = Route::new().at("/*path", serve).data(answer);
    Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
        .run(app)
        .await
}
