//! The benchmark's ceiling: a bare poem server answering every GET with the same bytes
//! (`bench_bare <port> <file>`), used by scripts/bench-read.sh to compare qshare against.

use std::sync::Arc;

use poem::{EndpointExt, Response, Route, Server, handler, listener::TcpListener, web::Data};

#[handler]
fn serve(body: Data<&Arc<bytes::Bytes>>) -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(body.as_ref().clone())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: bench_bare <port> <file>");
    let file = args.next().expect("usage: bench_bare <port> <file>");
    let body = Arc::new(bytes::Bytes::from(std::fs::read(file)?));
    let app = Route::new().at("/*path", serve).data(body);
    Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
        .run(app)
        .await
}
