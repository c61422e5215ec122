//! What the gateway passes through as a stream: protocol upgrades (a WebSocket-style echo,
//! counted as an open connection while it lives) and a gigabyte each way in flat memory.

use portcullis_core::config::{RouteAuth, RouteConfig};
use portcullis_testkit::{Backend, TestServer, client};

use crate::gateway::{futures_stream, get, open_route, start_upstream};
use crate::send;

on_both!(upgrades_pass_through);

async fn upgrades_pass_through(b: Backend) {
    use tokio::io::AsyncWriteExt;
    let up = start_upstream().await;
    let srv = TestServer::start_with(b, |c| {
        c.routes = vec![
            RouteConfig {
                name: "ws".into(),
                prefix: "/ws".into(),
                upstreams: vec![format!("http://{up}")],
                auth: RouteAuth::None,
                websocket: true,
                ..RouteConfig::default()
            },
            RouteConfig {
                name: "plain".into(),
                prefix: "/plain".into(),
                upstreams: vec![format!("http://{up}")],
                auth: RouteAuth::None,
                ..RouteConfig::default()
            },
        ];
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let head = crate::read_head(&mut s).await.unwrap();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    crate::expect_echo(&mut s, &[b"ping", b"through the gateway"]).await;
    // The tunnel counts as an open connection while it lives (hyper let go of it at the
    // upgrade), and stops counting when it closes.
    let with_tunnel = open_connections(&srv).await;
    assert!(
        with_tunnel >= 2,
        "the tunnel and this request's connection: {with_tunnel}"
    );
    drop(s);
    let mut now = with_tunnel;
    for _ in 0..100 {
        now = open_connections(&srv).await;
        if now < with_tunnel {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        now,
        with_tunnel - 1,
        "the closed tunnel is no longer counted"
    );
    // A route without `websocket = true` does not pass upgrades.
    let (status, echo, _) = get(
        &srv,
        "/plain/chat",
        &[("connection", "upgrade"), ("upgrade", "echo")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(echo["headers"].get("upgrade").is_none(), "{echo}");
    srv.stop().await;
}

/// `portcullis_connections_open` as `/metrics` shows it.
async fn open_connections(srv: &TestServer) -> i64 {
    crate::waf::metrics_text(srv)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_connections_open "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the open-connections gauge")
}

/// Peak resident memory of this process (nextest runs each test in its own), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// A gigabyte up and a gigabyte down through the gateway: both stream, so the process's
/// peak memory (client, gateway and upstream together) barely moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_streams_in_flat_memory() {
    let up = start_upstream().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.request_timeout_seconds = 600;
        c.routes = vec![RouteConfig {
            max_body_bytes: Some(2 << 30),
            timeout_seconds: 600,
            ..open_route("bulk", up)
        }];
    })
    .await;
    // Warm up the paths once so their buffers are counted in the baseline.
    let _ = send(
        client()
            .post(srv.url("/bulk/upload"))
            .body(reqwest::Body::wrap_stream(futures_stream(8))),
    )
    .await;
    let before = peak_rss_mib();
    let (s, echo, _) = send(
        client()
            .post(srv.url("/bulk/upload"))
            .body(reqwest::Body::wrap_stream(futures_stream(1024))),
    )
    .await;
    assert_eq!(s, 200, "{echo}");
    assert_eq!(echo["body_len"], 1u64 << 30);
    let mut res = client()
        .get(srv.url("/bulk/download/1024"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut got = 0usize;
    while let Some(chunk) = res.chunk().await.unwrap() {
        got += chunk.len();
    }
    assert_eq!(got, 1 << 30);
    let grew = peak_rss_mib().saturating_sub(before);
    assert!(
        grew < 64,
        "peak memory grew by {grew} MiB for 2 GiB streamed"
    );
    srv.stop().await;
}
