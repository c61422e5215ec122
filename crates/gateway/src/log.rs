//! Phase 11, log: the route's request counter and latency histogram (`/metrics`), and a
//! debug-level line per proxied request. The access line itself is the pipeline's (one per
//! request, written off the request path by `portcullis_http::access_log`).

use std::time::Instant;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use portcullis_core::service::Principal;

use crate::route::Route;

/// Counts the answer and, at debug level, says what the route did.
pub(crate) fn log(
    route: &Route,
    principal: Option<&Principal>,
    bytes_in: Option<u64>,
    res: &Response,
    started: Instant,
) {
    let elapsed = started.elapsed();
    route
        .metrics
        .answered(res.status().as_u16(), elapsed.as_secs_f64());
    if tracing::enabled!(tracing::Level::DEBUG) {
        let length = |h: &HeaderMap| {
            h.get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        tracing::debug!(
            route = %route.cfg.name,
            principal = principal.map_or("-", |p| p.user_id.as_str()),
            status = res.status().as_u16(),
            bytes_in,
            bytes_out = length(res.headers()),
            upstream_ms = elapsed.as_secs_f64() * 1000.0,
            "gateway request"
        );
    }
}
