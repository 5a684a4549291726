//! A programmable feed server on 127.0.0.1 for the source tests: each path serves a
//! [`Resource`] (body, content type, validators, extra headers, status, gzip, delay) and
//! answers conditional GETs with 304 the way a well-behaved feed host does. Every request
//! is recorded with its conditional headers, and the most requests in flight at once is
//! kept (the fetcher promises one per host).

use std::{
    collections::HashMap,
    io::Write,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// What a path serves.
#[derive(Debug, Clone)]
pub struct Resource {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Sent on a 304 instead of `etag` (a server whose validators change on a 304); both
    /// match afterwards.
    pub etag_on_304: Option<String>,
    /// Extra headers: `Expires`, `Cache-Control`, `Retry-After`, `Location`, ...
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    pub delay: Duration,
}

impl Default for Resource {
    fn default() -> Self {
        Self {
            status: 200,
            body: Vec::new(),
            content_type: "application/rss+xml; charset=utf-8".into(),
            etag: None,
            last_modified: None,
            etag_on_304: None,
            headers: Vec::new(),
            gzip: false,
            delay: Duration::ZERO,
        }
    }
}

impl Resource {
    pub fn feed(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: b"unavailable".to_vec(),
            content_type: "text/plain".into(),
            ..Self::default()
        }
    }

    pub fn redirect(to: &str) -> Self {
        Self {
            status: 302,
            headers: vec![("location".into(), to.into())],
            ..Self::status(302)
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.into());
        self
    }

    pub fn with_last_modified(mut self, at: &str) -> Self {
        self.last_modified = Some(at.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_content_type(mut self, content_type: &str) -> Self {
        self.content_type = content_type.into();
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub accept_encoding: Option<String>,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Default)]
struct State {
    resources: HashMap<String, Resource>,
    seen: Vec<Seen>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct FeedFixture {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl FeedFixture {
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("the feed fixture cannot listen on 127.0.0.1");
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("listener address");
        let shared = Arc::new(Shared::default());
        let app = Route::new().at("/*path", serve).data(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let signal = async {
                let _ = rx.await;
            };
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, signal, Some(Duration::from_secs(1)))
                .await;
        });
        Self {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, path: &str, resource: Resource) {
        lock(&self.shared)
            .resources
            .insert(path.to_string(), resource);
    }

    /// Requests to `path`, oldest first.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        lock(&self.shared)
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// The most requests this server had in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FeedFixture {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[handler]
async fn serve(req: &Request, shared: Data<&Arc<Shared>>) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let resource = lock(&shared).resources.get(&path).cloned();
    let if_none_match = header(req, "if-none-match");
    let if_modified_since = header(req, "if-modified-since");
    let response = match &resource {
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body("no such feed"),
        Some(r) => {
            if !r.delay.is_zero() {
                tokio::time::sleep(r.delay).await;
            }
            answer(
                r,
                if_none_match.as_deref(),
                if_modified_since.as_deref(),
                req,
            )
        }
    };
    lock(&shared).seen.push(Seen {
        path,
        if_none_match,
        if_modified_since,
        accept_encoding: header(req, "accept-encoding"),
        status: response.status().as_u16(),
    });
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn answer(r: &Resource, inm: Option<&str>, ims: Option<&str>, req: &Request) -> Response {
    let etag_matches = r.etag.is_some()
        && inm.is_some_and(|inm| {
            inm == r.etag.as_deref().unwrap_or_default() || Some(inm) == r.etag_on_304.as_deref()
        });
    let lm_matches = r.last_modified.is_some() && ims == r.last_modified.as_deref();
    let mut builder = Response::builder();
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if r.status == 200 && (etag_matches || (inm.is_none() && lm_matches)) {
        if let Some(etag) = r.etag_on_304.as_ref().or(r.etag.as_ref()) {
            builder = builder.header("etag", etag.as_str());
        }
        if let Some(lm) = &r.last_modified {
            builder = builder.header("last-modified", lm.as_str());
        }
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    if let Some(etag) = &r.etag {
        builder = builder.header("etag", etag.as_str());
    }
    if let Some(lm) = &r.last_modified {
        builder = builder.header("last-modified", lm.as_str());
    }
    let accepts_gzip = header(req, "accept-encoding").is_some_and(|a| a.contains("gzip"));
    let body = if r.gzip && accepts_gzip {
        builder = builder.header("content-encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&r.body).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        r.body.clone()
    };
    builder
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK))
        .header("content-type", r.content_type.as_str())
        .body(body)
}
