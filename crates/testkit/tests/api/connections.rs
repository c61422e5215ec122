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

/// Sends `req` and reads `n` responses with `Content-Length` bodies; their status lines.
async fn exchange(s: &mut TcpStream, req: &[u8], n: usize) -> Vec<String> {
    s.write_all(req).await.unwrap();
    let mut out = Vec::new();
    let mut statuses = Vec::new();
    let mut buf = [0u8; 4096];
    while statuses.len() < n {
        // Every whole response in what has arrived (pipelined ones may share a read).
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            let Some((head, rest)) = text.split_once("\r\n\r\n") else {
                break;
            };
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if rest.len() < len {
                break;
            }
            statuses.push(head.lines().next().unwrap_or_default().to_owned());
            out.drain(..head.len() + 4 + len);
        }
        if statuses.len() >= n {
            break;
        }
        let got = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(got > 0, "closed before {n} whole answers: {statuses:?}");
        out.extend_from_slice(&buf[..got]);
    }
    statuses
}

/// `portcullis_connections_parked` as `/metrics` shows it.
async fn parked(srv: &TestServer) -> i64 {
    crate::waf::metrics_text(srv)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_connections_parked "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the parked-connections gauge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_park_and_take_up_again() {
    // Idle for one to two seconds (a quarter of the header timeout, twice) and a
    // connection parks.
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout_seconds = 4;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(exchange(&mut s, GET, 1).await, ["HTTP/1.1 200 OK"]);
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    // The header timeout closes an idle connection only after 4 s without a request, so
    // this one was parked (counted) and not closed.
    assert!(parked(&srv).await >= 1, "the idle connection is parked");
    assert_eq!(exchange(&mut s, GET, 1).await, ["HTTP/1.1 200 OK"]);

    // Pipelined requests after a park: both answered, in order.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let mut two = GET.to_vec();
    two.extend_from_slice(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        exchange(&mut s, &two, 2).await,
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    );

    // Half a request head, a pause long enough to park, then the rest: not a byte lost.
    s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let status = exchange(
        &mut s,
        b"pe: application/json\r\nContent-Length: 2\r\n\r\n{}",
        1,
    )
    .await;
    assert!(
        status[0].starts_with("HTTP/1.1 4"),
        "the login's own refusal: {status:?}"
    );

    // A head that stalls is still closed by the header timeout, parked or not.
    s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = read_to_close(&mut s).await;
    assert!(took < Duration::from_secs(8), "{took:?}");

    // An idle connection parked and never used again is closed at the header timeout.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(exchange(&mut s, GET, 1).await, ["HTTP/1.1 200 OK"]);
    let (got, took) = read_to_close(&mut s).await;
    assert!(
        got.is_empty() && took > Duration::from_secs(3) && took < Duration::from_secs(7),
        "{got} {took:?}"
    );
    srv.stop().await;
}

/// Reads one response head (lower case); the body is left unread.
async fn head_of(s: &mut TcpStream) -> String {
    tokio::time::timeout(Duration::from_secs(8), crate::read_head(s))
        .await
        .expect("a response head within 8 s")
        .expect("a response head")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parking_never_cuts_a_request_short_nor_stretches_the_header_timeout() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout_seconds = 4;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();

    // A new connection whose first head pauses for longer than the idle period: the
    // request is served as any other and the connection stays open for the next one.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"HEAD /healthz HTTP/1.1\r\nHo").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    s.write_all(b"st: x\r\n\r\n").await.unwrap();
    let head = head_of(&mut s).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "kept open: {head}");
    s.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = head_of(&mut s).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // Idle (and parked), then part of a head and nothing more: closed at the header timeout
    // counted from when the connection went idle, not from the partial head.
    let idle_from = Instant::now();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (got, _) = read_to_close(&mut s).await;
    let took = idle_from.elapsed();
    assert!(got.is_empty(), "{got}");
    assert!(
        took > Duration::from_millis(3_500) && took < Duration::from_millis(5_800),
        "closed {took:?} after going idle (the header timeout is 4 s)"
    );
    srv.stop().await;
}
