//! Slow clients cannot hold the server (issue 13): the request timeout covers reading the
//! body (chunked ones too), headers must arrive within the header-read timeout, and
//! hundreds of trickling connections do not slow anyone else down.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use crate::helpers::{TestApp, spawn_app_with, test_settings};

async fn app_with(request_timeout: u64, header_timeout: u64) -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.server.request_timeout_secs = request_timeout;
    settings.server.header_read_timeout_secs = header_timeout;
    spawn_app_with(settings, dir).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection or `limit` passes; what was read, and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_sent_a_byte_a_second_gets_a_json_503_at_the_request_timeout() {
    let app = app_with(2, 10).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: qshare\r\n\
              Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let started = Instant::now();
    // A byte a second, for longer than the timeout, while the answer is awaited.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..8 {
            if writer.write_all(b"1\r\n{\r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(4), reader.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    let took = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&got);
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "{answer:?} after {took:?}"
    );
    assert!(answer.contains("application/json"), "{answer}");
    assert!(answer.contains("\"code\""), "{answer}");
    assert!(closed, "the connection stays open: {answer}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let app = app_with(15, 1).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if stream.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let (_, eof) = read_until_closed(&mut stream, Duration::from_millis(250)).await;
        if eof {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(
        took < Duration::from_millis(2500),
        "closed only after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_client_keeps_its_connection_across_requests() {
    let app = app_with(15, 1).await;
    let mut stream = connect(&app).await;
    for _ in 0..3 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: qshare\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        // Idle between requests for longer than the header timeout: still fine.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_requests_are_answered_promptly_while_500_connections_trickle() {
    let app = app_with(15, 3).await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut tricklers = JoinSet::new();
    for _ in 0..500 {
        let addr = addr.clone();
        tricklers.spawn(async move {
            let Ok(mut s) = TcpStream::connect(&addr).await else {
                return;
            };
            // A byte every second for at most four seconds, then give up.
            for b in b"POST".iter() {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..10 {
        let started = Instant::now();
        let resp = app.get("/healthz").await;
        let took = started.elapsed();
        assert_eq!(resp.status(), 200);
        assert!(took < Duration::from_secs(1), "{took:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tricklers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_idle_past_the_idle_timeout_is_closed_and_a_busy_one_is_kept() {
    let (mut settings, dir) = test_settings().await;
    settings.server.idle_timeout_secs = 1;
    let app = spawn_app_with(settings, dir).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: qshare\r\n\r\n";

    // Requests every half second: never idle for a whole second, so never closed.
    let mut busy = connect(&app).await;
    for _ in 0..5 {
        busy.write_all(request).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), busy.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // One that never sends a byte, and one silent after its answer: both dropped.
    let started = Instant::now();
    let mut silent = connect(&app).await;
    let mut answered = connect(&app).await;
    answered.write_all(request).await.unwrap();
    let (text, closed) = read_until_closed(&mut answered, Duration::from_secs(4)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "an answered connection stays open while idle");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(4)).await;
    assert!(closed, "a silent connection stays open");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3500),
        "closed after {took:?}, not about a second"
    );
}
