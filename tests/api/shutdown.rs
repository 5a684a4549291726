//! Graceful shutdown: requests in flight when the stop comes finish with their normal
//! answer, new connections are refused, and the server returns cleanly, in process and as
//! the real binary on SIGTERM.
//!
//! The slow requests are mini-program logins, which wait on WeChat's jscode2session. WeChat
//! is played by `HeldWechat`, which holds every call until the test releases it: the test
//! then knows for certain that the requests are inside qshare when it stops the server.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use qshare::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
    task::JoinHandle,
};

use crate::helpers::{config_dir, expect_json, test_settings};

const APP_ID: &str = "wx-held-miniprogram";
const SECRET: &str = "held-miniprogram-secret";

/// A jscode2session that answers every call (openid `openid-<code>`) only once released.
struct HeldWechat {
    base_url: String,
    arrived: watch::Receiver<usize>,
    release: watch::Sender<bool>,
    _task: JoinHandle<()>,
}

/// Reads an HTTP request head (a GET has no body) and returns it.
async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn query_value<'a>(head: &'a str, name: &str) -> &'a str {
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_default()
}

impl HeldWechat {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (arrived_tx, arrived) = watch::channel(0usize);
        let arrived_tx = Arc::new(arrived_tx);
        let (release, released) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let arrived = arrived_tx.clone();
                let mut released = released.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut socket).await;
                    let code = query_value(&head, "js_code").to_string();
                    arrived.send_modify(|n| *n += 1);
                    let _ = released.wait_for(|r| *r).await;
                    let body =
                        format!(r#"{{"openid":"openid-{code}","session_key":"c2Vzc2lvbi1rZXk="}}"#);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self {
            base_url,
            arrived,
            release,
            _task: task,
        }
    }

    async fn wait_for_calls(&self, n: usize) {
        let mut arrived = self.arrived.clone();
        tokio::time::timeout(Duration::from_secs(10), arrived.wait_for(|a| *a >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} calls did not reach WeChat"))
            .unwrap();
    }

    fn release(&self) {
        self.release.send_replace(true);
    }
}

/// A mini-program login to `address`, in its own task; returns status and body.
fn login(address: String, code: &str) -> JoinHandle<(StatusCode, Value)> {
    let code = code.to_string();
    tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(format!("{address}/api/auth/wechat/miniprogram"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .expect("the request in flight gets an answer");
        let status = resp.status();
        (status, expect_json(resp, status).await)
    })
}

/// Waits until connecting to `port` is refused (the listener is closed).
async fn wait_until_refused(port: u16) {
    for _ in 0..100 {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("port {port} still accepts connections after the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_requests_in_flight_finish_and_refuses_new_connections() {
    let wechat = HeldWechat::start().await;
    let (mut settings, _dir) = test_settings().await;
    settings.wechat.api_base_url = wechat.base_url.clone();
    settings.wechat.miniprogram.app_id = APP_ID.into();
    settings.wechat.miniprogram.app_secret = SECRET.into();
    qshare::wechat::client::install_crypto_provider();
    let app = Application::build(settings).await.expect("build");
    let port = app.port();
    let address = format!("http://127.0.0.1:{port}");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let in_flight: Vec<_> = (0..4)
        .map(|i| login(address.clone(), &format!("code-{i}")))
        .collect();
    wechat.wait_for_calls(4).await;
    stop.send(()).unwrap();
    wait_until_refused(port).await;
    assert!(
        !server.is_finished(),
        "the server waits for the requests in flight"
    );

    wechat.release();
    for (i, request) in in_flight.into_iter().enumerate() {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, StatusCode::OK, "login {i}: {body}");
        assert!(body["access_token"].is_string(), "{body}");
    }
    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("run_until returns once the requests are answered")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
}

/// Kills the child on drop, so that a failing test leaves no server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_on_sigterm_answers_the_request_in_flight_and_exits_0() {
    let wechat = HeldWechat::start().await;
    let (settings, _dir) = test_settings().await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_qshare"));
    command
        .current_dir(config_dir().parent().unwrap())
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &settings.database.url)
        .env("APP_CACHE__KEY_PREFIX", &settings.cache.key_prefix)
        .env("APP_SERVER__PORT", "0")
        .env("APP_LOG__FORMAT", "json")
        .env("APP_LOG__LEVEL", "info")
        .env("APP_WECHAT__API_BASE_URL", &wechat.base_url)
        .env("APP_WECHAT__MINIPROGRAM__APP_ID", APP_ID)
        .env("APP_WECHAT__MINIPROGRAM__APP_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match &settings.cache.redis_url {
        Some(url) => command.env("REDIS_URL", url),
        None => command.env_remove("REDIS_URL"),
    };
    let mut server = Server(command.spawn().expect("run qshare"));
    let pid = server.0.id();

    // The port is in the "qshare listening" log line; the reader keeps draining the pipe.
    let stdout = server.0.stdout.take().unwrap();
    let (port_tx, port_rx) = oneshot::channel::<u16>();
    std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["message"] == "qshare listening"
                && let (Some(port), Some(tx)) = (event["port"].as_u64(), port_tx.take())
            {
                let _ = tx.send(port as u16);
            }
        }
    });
    let port = tokio::time::timeout(Duration::from_secs(60), port_rx)
        .await
        .expect("qshare starts listening")
        .expect("qshare logs its port");

    let request = login(format!("http://127.0.0.1:{port}"), "code-sigterm");
    wechat.wait_for_calls(1).await;
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until_refused(port).await;

    wechat.release();
    let (status, body) = request.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");

    let exit = tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            if let Some(status) = server.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    })
    .await
    .unwrap()
    .expect("qshare exits within 10 s of its last answer");
    assert!(exit.success(), "exit status {exit:?}");
}
