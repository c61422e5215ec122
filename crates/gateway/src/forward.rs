//! Phase 9, forward: the upstream request (the normalised path, without the prefix when
//! `strip_prefix`; the header hygiene of [`crate::headers`]; the identity token) and the
//! call, with the route's timeout, retries of what never reached an upstream, breaker
//! bookkeeping and `max_concurrent` permits. The phase owns the upstream HTTP clients: one
//! HTTP/1.1 pool, one HTTP/2 prior-knowledge pool, and a TLS client per `https://` route.

use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_http::error::ApiError;

use crate::Gateway;
use crate::body::{BodyState, ClientFault};
use crate::route::Route;
use crate::upstream::{Outcome, Upstream};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type TlsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// The upstream HTTP clients.
pub(crate) struct Clients {
    http1: Client<HttpConnector, Body>,
    /// For `h2c://` upstreams: HTTP/2 with prior knowledge, streams multiplexed on pooled
    /// connections.
    h2c: Client<HttpConnector, Body>,
    /// Per route: the client for its `https://` upstreams (server verified against the
    /// route's CA or the system's roots, with its client certificate for mTLS).
    tls: Vec<Option<TlsClient>>,
}

fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_connect_timeout(Some(CONNECT_TIMEOUT));
    c.set_nodelay(true);
    c
}

impl Clients {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            http1: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .build(connector()),
            h2c: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .http2_only(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .http2_keep_alive_interval(Duration::from_secs(30))
                .build(connector()),
            tls: (0..routes).map(|_| None).collect(),
        }
    }

    /// Talks TLS to `route`'s upstreams with `config`: h2 offered by ALPN, http/1.1 as the
    /// fallback; a WebSocket route speaks HTTP/1.1 only, since its upgrade needs it.
    pub(crate) fn use_tls(&mut self, route: &Route, mut config: rustls::ClientConfig) {
        // ALPN is the connector's to set.
        config.alpn_protocols.clear();
        let mut http = connector();
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http();
        let https = if route.cfg.websocket {
            builder.enable_http1().wrap_connector(http)
        } else {
            builder.enable_all_versions().wrap_connector(http)
        };
        if let Some(slot) = self.tls.get_mut(route.index) {
            *slot = Some(
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .build(https),
            );
        }
    }

    /// Sends a request to `upstream`, one of `route`'s.
    pub(crate) fn send(
        &self,
        route: &Route,
        upstream: &Upstream,
        mut req: axum::http::Request<Body>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        *req.version_mut() = upstream.version();
        match self.tls.get(route.index) {
            _ if upstream.h2c => self.h2c.request(req),
            Some(Some(c)) => c.request(req),
            _ => self.http1.request(req),
        }
    }
}

fn problem(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Response {
    ApiError::new(status, code, detail).into_response()
}

/// The path and query the upstream is sent: the normalised path (what every policy judged),
/// without the route's prefix when `strip_prefix`.
pub(crate) fn upstream_path(route: &Route, parts: &Parts) -> String {
    let cfg = &route.cfg;
    let path = parts.uri.path();
    let path = if cfg.strip_prefix {
        let rest = path
            .strip_prefix(cfg.prefix.trim_end_matches('/'))
            .unwrap_or(path);
        if rest.is_empty() { "/" } else { rest }
    } else {
        path
    };
    match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// Calls the route's upstreams until one answers: a request that never reached an upstream
/// (no connection) is tried on the next one, `retries` times, when it is idempotent and has
/// no body; one an HTTP/2 upstream did not process, whenever its body is held
/// ([`held_body`]). Refusals are the gateway's own problems.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call(
    gateway: &Gateway,
    route: &Route,
    parts: &Parts,
    body: Body,
    body_state: &BodyState,
    empty: bool,
    limit: u64,
    client_ip: Option<std::net::IpAddr>,
) -> Result<axum::http::Response<hyper::body::Incoming>, Response> {
    let cfg = &route.cfg;
    // Who saw a fault, for the breaker (an IPv6 client by its /64, as rate limits count),
    // worked out only when there is one.
    let client = || {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        crate::limits::ip_key(client_ip).hash(&mut h);
        h.finish()
    };
    let path_query = upstream_path(route, parts);
    let Some(mut attempt) = gateway.upstreams.pick(route, None) else {
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "The upstream service is unavailable (circuit open); retry shortly.",
        ));
    };
    // A request without a body to an idempotent method can be sent again elsewhere when no
    // connection could be made (nothing reached the upstream).
    let replayable = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    ) && empty;
    // A small body, held, for an HTTP/2 upstream that does not process the request.
    let held = match held_body(route, parts, empty, body).await {
        Ok(held) => held,
        Err(()) => {
            let (status, code, detail) = body_state
                .fault()
                .unwrap_or(ClientFault::Malformed)
                .answer(limit);
            return Err(problem(status, code, detail));
        }
    };
    let (mut body, held) = match held {
        Held::Bytes(bytes) => (None, Some(bytes)),
        Held::Streamed(body) => (Some(body), None),
    };
    let mut tries = 0;
    loop {
        let idx = attempt.idx;
        let Some(upstream) = route.upstreams.get(idx) else {
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                "No upstream.",
            ));
        };
        let base = upstream.uri.path().trim_end_matches('/');
        let uri = Uri::builder()
            .scheme(upstream.uri.scheme_str().unwrap_or("http"))
            .authority(upstream.uri.authority().map_or("", |a| a.as_str()))
            .path_and_query(format!("{base}{path_query}"))
            .build()
            .map_err(|e| {
                problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("bad path: {e}"),
                )
            })?;
        // Held until the upstream has answered: the upstream's share of `max_concurrent`.
        let _permit = match attempt.permit() {
            Ok(p) => p,
            Err(()) => {
                route.metrics.concurrency.inc();
                return Err(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "Too many requests in flight to this upstream; retry shortly.",
                ));
            }
        };
        let mut p = parts.clone();
        p.uri = uri;
        let b = match &held {
            Some(bytes) => Body::from(bytes.clone()),
            None => body.take().unwrap_or_else(Body::empty),
        };
        body_state.forwarded();
        let sent = tokio::time::timeout(
            crate::upstream_timeout(route),
            gateway
                .forward
                .send(route, upstream, axum::http::Request::from_parts(p, b)),
        )
        .await;
        // The client's own body failing is the client's error, whatever the upstream did.
        if let Some(fault) = body_state.fault()
            && !matches!(sent, Ok(Ok(_)))
        {
            attempt.settle(Outcome::Neutral);
            let (status, code, detail) = fault.answer(limit);
            return Err(problem(status, code, detail));
        }
        match sent {
            Ok(Ok(res)) => {
                let bad = matches!(res.status().as_u16(), 502..=504);
                attempt.settle(if bad {
                    Outcome::Fault(client())
                } else {
                    Outcome::Ok
                });
                return Ok(res);
            }
            Ok(Err(e)) => {
                let refused = not_processed(&e);
                // The request's own side failing (its body ended broken because inspection
                // blocked a gRPC message) is no fault of the upstream's: a client sending
                // blocked calls must not open the breaker; nor is an upstream that ends its
                // connections in good order.
                attempt.settle(if e.is_connect() {
                    Outcome::Unreachable
                } else if ours(&e) || refused {
                    Outcome::Neutral
                } else {
                    Outcome::Fault(client())
                });
                // An HTTP/2 upstream that said it did not process the request (a GOAWAY
                // below its stream, as nginx sends after `keepalive_requests` and on every
                // reload; REFUSED_STREAM) gets it again, on a route without retries too
                // (RFC 9113 §8.7; black-box pass 11, B11-2: 1-2.5% of requests were 503).
                // Under load the next pooled connection may be ending as well: up to
                // [`UNPROCESSED_TRIES`] times. Whatever the method, when the body is held
                // (black-box pass 12, B12-4: a POST was 503).
                let unprocessed = refused && (replayable || held.is_some());
                if (e.is_connect() && replayable && tries < cfg.retries)
                    || (unprocessed && tries < cfg.retries.max(UNPROCESSED_TRIES))
                {
                    tries += 1;
                    if unprocessed {
                        // A moment for the ending connection's task to read its GOAWAY and
                        // leave the pool, which would otherwise hand it out again.
                        tokio::time::sleep(std::time::Duration::from_millis(u64::from(tries)))
                            .await;
                    }
                    if let Some(next) = gateway.upstreams.pick(route, Some(idx)) {
                        tracing::debug!(route = %cfg.name, error = %e, "upstream request sent again");
                        attempt = next;
                        continue;
                    }
                }
                tracing::warn!(route = %cfg.name, error = %e, "upstream request failed");
                // An answer that is not valid HTTP (two lengths, a bare CR in a header) is a
                // bad gateway, not an unavailable one (RFC 9110 §15.6.3; black-box pass 11).
                if malformed(&e) {
                    return Err(problem(
                        StatusCode::BAD_GATEWAY,
                        "bad_gateway",
                        "The upstream's answer was not valid HTTP.",
                    ));
                }
                return Err(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "The upstream service is unavailable.",
                ));
            }
            Err(_) if !body_state.finished() => {
                // Still waiting for the client's body: not the upstream's delay.
                attempt.settle(Outcome::Neutral);
                let (status, code, detail) = ClientFault::Stalled.answer(limit);
                return Err(problem(status, code, detail));
            }
            Err(_) => {
                attempt.settle(Outcome::Fault(client()));
                return Err(problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "The upstream service did not answer in time.",
                ));
            }
        }
    }
}

/// How many times a request an HTTP/2 upstream did not process is sent again (each time,
/// nothing reached the application).
const UNPROCESSED_TRIES: u32 = 4;

/// Whether an HTTP/2 upstream said it did not process the request: a GOAWAY it sent with a
/// last stream below this one, or a REFUSED_STREAM reset (RFC 9113 §6.8, §8.7).
fn not_processed(e: &hyper_util::client::legacy::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(err) = cause {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return (h2.is_go_away() && h2.is_remote())
                || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM));
        }
        cause = err.source();
    }
    false
}

/// Bodies up to this size, announced by `Content-Length`, are held in memory on their way
/// to an upstream that may speak HTTP/2, so that a request it did not process can be sent
/// again whatever its method (RFC 9113 §8.7 allows it: nothing reached the application).
const HELD_BODY_LIMIT: u64 = 64 * 1024;

/// A request body: held in memory, or streamed as it arrives.
enum Held {
    Bytes(axum::body::Bytes),
    Streamed(Body),
}

/// The body held in memory when it is small, announced, and the route has an upstream that
/// may speak HTTP/2 (`h2c://`, or `https://` where ALPN may choose h2); streamed otherwise
/// (a gRPC stream, an upload, a WebSocket). `Err`: the client's body failed while read.
async fn held_body(route: &Route, parts: &Parts, empty: bool, body: Body) -> Result<Held, ()> {
    use http_body_util::BodyExt;
    let h2 = !route.cfg.websocket
        && route
            .upstreams
            .iter()
            .any(|u| u.h2c || u.uri.scheme_str() == Some("https"));
    let small = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= HELD_BODY_LIMIT);
    if empty || !h2 || !small {
        return Ok(Held::Streamed(body));
    }
    match body.collect().await {
        Ok(collected) => Ok(Held::Bytes(collected.to_bytes())),
        Err(_) => Err(()),
    }
}

/// The hyper error under a failed upstream request, if it is one.
fn hyper_error(e: &hyper_util::client::legacy::Error) -> Option<&hyper::Error> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<hyper::Error>())
}

/// Whether the upstream's answer could not be parsed as HTTP.
fn malformed(e: &hyper_util::client::legacy::Error) -> bool {
    hyper_error(e).is_some_and(|h| h.is_parse() || h.is_parse_status())
}

/// Whether a failed upstream request failed on the gateway's side (hyper's "user" errors:
/// the request body it was given failed), not the upstream's.
fn ours(e: &hyper_util::client::legacy::Error) -> bool {
    hyper_error(e).is_some_and(hyper::Error::is_user)
}

/// Refuses a body announced over the limit before anything is sent.
pub(crate) fn announced_too_large(parts: &Parts, limit: u64) -> Result<(), Response> {
    if parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The body is over {limit} bytes."),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};

    fn parts(uri: &str) -> Parts {
        axum::http::Request::builder()
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn the_prefix_is_stripped_on_segment_boundaries_and_the_query_kept() {
        let g = gateway(&[
            config("s", "prefix = \"/pay/\"\nstrip_prefix = true"),
            config("k", "prefix = \"/keep\""),
        ]);
        let by = |n: &str| g.routes.iter().find(|r| r.name() == n).unwrap();
        assert_eq!(upstream_path(by("s"), &parts("/pay/x?a=1")), "/x?a=1");
        assert_eq!(upstream_path(by("s"), &parts("/pay")), "/");
        assert_eq!(upstream_path(by("k"), &parts("/keep/y")), "/keep/y");
    }

    #[test]
    fn an_announced_body_over_the_limit_is_refused() {
        let mut p = parts("/x");
        assert!(announced_too_large(&p, 10).is_ok());
        p.headers.insert(
            header::CONTENT_LENGTH,
            axum::http::HeaderValue::from_static("11"),
        );
        assert_eq!(
            announced_too_large(&p, 10).unwrap_err().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
