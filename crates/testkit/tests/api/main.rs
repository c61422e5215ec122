//! Integration tests over real HTTP on loopback, each against SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Generates a `sqlite` and a `postgres` test for each named `async fn(Backend)`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(portcullis_testkit::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(portcullis_testkit::Backend::Postgres).await
            }
        }
    )* };
}

mod accounts;
mod admin;
mod alerts;
mod alerts_builtin;
mod apikeys;
mod approvals;
mod audit;
mod auth;
mod cli;
mod cli_ca;
mod clients;
mod clock;
mod cluster;
mod connections;
mod console;
mod crypto;
mod datadir;
mod detection;
mod dlp;
mod dlp_streams;
mod dpop_sessions;
mod elevation;
mod federation;
mod gateway;
mod gateway_cluster;
mod gateway_streams;
mod gdpr;
mod grpc;
mod hardening;
mod http;
mod keys;
mod metrics;
mod mfa;
mod oauth;
mod oauth_keys;
mod oidc;
mod oidc_edges;
mod oidc_grants;
mod oidc_peers;
mod passkeys;
mod protocols;
mod recovery;
mod reload;
mod schema;
mod sessions;
mod sinks;
mod tlog;
mod tls;
mod tokens;
mod waf;
mod waf_bodies;

use reqwest::{RequestBuilder, Response};
use serde_json::Value;

/// Sends and returns (status, body as JSON or Null).
pub async fn send(rb: RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let r: Response = rb.send().await.expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Sends `method path` with an optional bearer token and JSON body; (status, body).
pub async fn call(
    srv: &portcullis_testkit::TestServer,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = portcullis_testkit::client().request(method, srv.url(path));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let (s, b, _) = send(rb).await;
    (s, b)
}

/// POSTs a JSON body with an optional bearer token.
pub async fn post(
    srv: &portcullis_testkit::TestServer,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    call(srv, reqwest::Method::POST, path, bearer, Some(body)).await
}

/// Reads an HTTP/1.1 message head (through the blank line) from a raw stream, byte by byte
/// so nothing after it is consumed; lower-cased. `None` if the stream ends first.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.ok()?;
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).to_ascii_lowercase())
}

/// Writes each message and expects it echoed back within 5 s (an upgraded connection).
pub async fn expect_echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    messages: &[&[u8]],
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for msg in messages {
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, *msg);
    }
}
