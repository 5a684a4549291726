//! A fault-injecting TCP proxy for tests: it listens on 127.0.0.1:0 and forwards every
//! connection to an upstream (PostgreSQL, Redis). `cut()` closes all live connections and
//! turns new ones away (accepted and closed at once, so clients fail fast instead of
//! waiting on a backlog); `restore()` forwards again.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

pub struct FaultProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped by every `cut()`; each forwarding task watches it and drops its sockets.
    cuts: watch::Sender<u64>,
    accept_task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            upstream.to_string(),
            cut.clone(),
            cuts.clone(),
        ));
        Self {
            addr,
            cut,
            cuts,
            accept_task,
        }
    }

    /// `127.0.0.1:<port>`, to put in a URL instead of the upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every live connection and refuses new ones until `restore()`.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Forwarding tasks end with their connections.
        self.cuts.send_modify(|n| *n += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream.clone(), cuts.subscribe()));
    }
}

async fn forward(mut client: TcpStream, upstream: String, mut cuts: watch::Receiver<u64>) {
    // `cuts` was subscribed at accept time, so a cut from then on ends this connection.
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cuts.changed() => {}
    }
    // Both sockets drop here: the client sees its connection end.
}

/// `host:port` of a `scheme://[user[:password]@]host[:port][/path][?query]` URL.
pub fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:{default_port}")
    }
}

/// `url` with its `host:port` replaced by `addr` (credentials, path and query kept).
pub fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}{tail}")
}

#[tokio::test]
async fn the_proxy_forwards_until_cut_and_again_after_restore() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // An echo server as the upstream.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let proxy = FaultProxy::start(&echo_addr.to_string()).await;
    let round_trip = |mut s: TcpStream| async move {
        s.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.ok()?;
        Some((buf, s))
    };

    let live = TcpStream::connect(proxy.addr()).await.unwrap();
    let (echoed, mut live) = round_trip(live).await.expect("forwarded");
    assert_eq!(&echoed, b"ping");

    proxy.cut();
    let mut buf = [0u8; 4];
    let ended = live.read(&mut buf).await;
    assert!(
        matches!(ended, Ok(0) | Err(_)),
        "a live connection is closed"
    );
    let refused = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(refused).await.is_none(), "new connections fail");

    proxy.restore();
    let again = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(
        &round_trip(again).await.expect("forwarded again").0,
        b"ping"
    );
}

#[test]
fn urls_are_rewritten_to_go_through_the_proxy() {
    let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert_eq!(
        host_port("postgres://postgres@127.0.0.1:5432/test", 5432),
        "127.0.0.1:5432"
    );
    assert_eq!(host_port("redis://localhost", 6379), "localhost:6379");
    assert_eq!(
        through(
            "postgres://u:p@db.example:5432/qshare_t_1?sslmode=disable",
            addr
        ),
        "postgres://u:p@127.0.0.1:4000/qshare_t_1?sslmode=disable"
    );
    assert_eq!(
        through("redis://127.0.0.1:6379", addr),
        "redis://127.0.0.1:4000"
    );
}
