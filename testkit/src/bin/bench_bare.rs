//! The benchmark's ceiling: a bare poem server answering every GET with the same bytes,
//! used by scripts/bench-read.sh to compare qshare against.
//!
//! `bench_bare <port> <file> [<content-encoding> [<etag>]]`: with a content-encoding, the
//! file holds bytes already coded that way and goes out with that `Content-Encoding` (a
//! bare server returning the same compressed bytes, compressing nothing per request); with
//! an etag (use `-` for no coding), a request whose `If-None-Match` is that tag gets a bare
//! 304 carrying it.

use std::sync::Arc;

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::{HeaderValue, StatusCode, header},
    listener::TcpListener,
    web::Data,
};

struct Answer {
    body: bytes::Bytes,
    encoding: Option<HeaderValue>,
    etag: Option<HeaderValue>,
}

#[handler]
fn serve(req: &Request, answer: Data<&Arc<Answer>>) -> Response {
    if let Some(tag) = &answer.etag
        && req.headers().get(header::IF_NONE_MATCH) == Some(tag)
    {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, tag.clone())
            .finish();
    }
    let mut resp = Response::builder().content_type("application/json; charset=utf-8");
    if let Some(encoding) = &answer.encoding {
        resp = resp.header(header::CONTENT_ENCODING, encoding.clone());
    }
    resp.body(answer.body.clone())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    const USAGE: &str = "usage: bench_bare <port> <file> [<content-encoding>|- [<etag>]]";
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(USAGE);
    let file = args.next().expect(USAGE);
    let encoding = args
        .next()
        .filter(|e| e != "-")
        .map(|e| HeaderValue::from_str(&e).expect(USAGE));
    let etag = args.next().map(|t| HeaderValue::from_str(&t).expect(USAGE));
    let answer = Arc::new(Answer {
        body: bytes::Bytes::from(std::fs::read(file)?),
        encoding,
        etag,
    });
    let app = Route::new().at("/*path", serve).data(answer);
    Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
        .run(app)
        .await
}
