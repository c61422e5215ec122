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

mod admin;
mod apikeys;
mod audit;
mod auth;
mod cli;
mod cluster;
mod connections;
mod gateway;
mod http;
mod mfa;
mod passkeys;
mod sessions;
mod sinks;
mod tlog;
mod tls;
mod tokens;

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
