//! Slow and oversized clients: headers that never finish, idle keep-alive connections,
//! bodies that stall, oversized request heads. Raw TCP, so nothing smooths them over.

use std::time::{Duration, Instant};

use portcullis_testkit::{Backend, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or 10 s pass); what it sent, and when it
/// closed.
async fn read_to_close(s: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_clients_are_cut_off() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout_seconds = 1;
        c.server.body_timeout_seconds = 1;
        c.server.max_header_bytes = 16_384;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();

    // Headers that never finish (slowloris): closed after the header timeout.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = read_to_close(&mut s).await;
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A connection that never sends anything is closed the same way.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let (_, took) = read_to_close(&mut s).await;
    assert!(took < Duration::from_secs(4), "{took:?}");

    // Keep-alive: served, then closed once idle.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (got, took) = read_to_close(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A body that stalls: the request fails within the body timeout, and the server stays
    // healthy.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let (got, took) = read_to_close(&mut s).await;
    assert!(took < Duration::from_secs(4), "{took:?}");
    let status: u16 = got
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!(
        status == 0 || (400..500).contains(&status),
        "a stalled body is the client's fault: {got}"
    );

    // A request head over the limit: 431, never a hang or a 5xx.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let big = "a".repeat(40_000);
    let _ = s
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await;
    let (got, _) = read_to_close(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 431"), "{got}");

    // Everyone else is served as usual.
    let r = portcullis_testkit::client()
        .get(srv.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}
