//! Phase 10, respond: the upstream's answer on its way to the client. Hop-by-hop headers
//! go; the RateLimit headers, `Deprecation` and `Sunset` are added; the response inspectors
//! run; the body is cut off when the upstream stops sending for the route's timeout. A
//! protocol switch (WebSocket) the client asked for is spliced through. The security
//! headers are the pipeline's, on every answer, the gateway's own refusals included.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use portcullis_http::error::ApiError;

use crate::Gateway;
use crate::Proxied;
use crate::headers::{RateHeaders, strip_hop_by_hop};
use crate::route::Route;

/// The client's side of a protocol upgrade the route passes through: the protocol it asks
/// for, and its connection once the answer is out.
pub(crate) type ClientUpgrade = (HeaderValue, OnUpgrade);

/// Takes the client's side of a WebSocket upgrade from the request, on a route that passes
/// them through.
pub(crate) fn client_upgrade(
    route: &Route,
    parts: &mut axum::http::request::Parts,
) -> Option<ClientUpgrade> {
    let asks = route.cfg.websocket
        && parts
            .headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            });
    if !asks {
        return None;
    }
    match (
        parts.headers.get(header::UPGRADE).cloned(),
        parts.extensions.remove::<OnUpgrade>(),
    ) {
        (Some(proto), Some(on)) => Some((proto, on)),
        _ => None,
    }
}

/// The client's answer from the upstream's.
pub(crate) async fn respond(
    gateway: &Gateway,
    route: &Route,
    mut res: axum::http::Response<hyper::body::Incoming>,
    upgrade: Option<ClientUpgrade>,
    rate: &RateHeaders,
) -> Response {
    let cfg = &route.cfg;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some((proto, client_side)) = upgrade else {
            // A switch nobody asked for: the upstream connection is unusable now (it is
            // dropped, not pooled) and the client gets an answer, not a dead connection.
            tracing::warn!(route = %cfg.name, "upstream switched protocols unasked");
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The upstream switched protocols on a request that did not ask to.",
            )
            .into_response();
        };
        let upstream_side = hyper::upgrade::on(&mut res);
        let route_name = cfg.name.clone();
        // The client's connection left hyper's hands (and its count) with the upgrade; the
        // tunnel counts it while it lives.
        let open = gateway.connections_open.clone();
        tokio::spawn(async move {
            let _counted = portcullis_http::metrics::Counted::new(&open);
            match tokio::join!(client_side, upstream_side) {
                (Ok(c), Ok(u)) => {
                    let mut c = hyper_util::rt::TokioIo::new(c);
                    let mut u = hyper_util::rt::TokioIo::new(u);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                        tracing::debug!(route = %route_name, error = %e, "upgraded connection ended");
                    }
                }
                (c, u) => {
                    tracing::warn!(route = %route_name, client = c.is_ok(), upstream = u.is_ok(), "protocol upgrade failed");
                }
            }
        });
        let (mut rparts, _) = res.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        rparts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        rparts.headers.insert(header::UPGRADE, proto);
        return Response::from_parts(rparts, Body::empty());
    }
    // HTTP has three-digit statuses from 100 to 599 (RFC 9110 section 15); `http` takes any
    // up to 999, which no client knows what to make of.
    if !(100..=599).contains(&res.status().as_u16()) {
        tracing::warn!(route = %cfg.name, status = res.status().as_u16(), "upstream answered an invalid status");
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "The upstream's answer was malformed.",
        )
        .into_response();
    }
    let (mut rparts, rbody) = res.into_parts();
    rparts.extensions.insert(Proxied);
    // The upstream's own reason phrase (`HTTP/1.1 200 anything`) carries nothing a client
    // may rely on (RFC 9112 section 4), and nothing inspects it: clients get the canonical one.
    rparts.extensions.remove::<hyper::ext::ReasonPhrase>();
    strip_hop_by_hop(&mut rparts.headers);
    rate.write(&mut rparts.headers);
    lifecycle_headers(route, &mut rparts.headers);
    // An upstream that stops sending mid-body is cut off like a stalled client.
    let rbody = portcullis_http::middleware::IdleTimeoutBody::new(
        Body::new(rbody),
        crate::upstream_timeout(route),
    );
    let res = Response::from_parts(rparts, Body::new(rbody));
    gateway.inspectors.response(route, res).await
}

/// `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) of a route being retired.
fn lifecycle_headers(route: &Route, h: &mut axum::http::HeaderMap) {
    let cfg = &route.cfg;
    if let Some(at) = cfg.deprecated_at
        && let Ok(v) = HeaderValue::from_str(&format!("@{at}"))
    {
        h.insert("deprecation", v);
    }
    if let Some(at) = cfg.sunset_at
        && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at)
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc2822)
        && let Ok(v) = HeaderValue::from_str(&s.replace("+0000", "GMT"))
    {
        h.insert("sunset", v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};

    #[test]
    fn deprecation_and_sunset() {
        let g = gateway(&[config(
            "old",
            "prefix = \"/old\"\ndeprecated_at = 1735689600\nsunset_at = 1767225600",
        )]);
        let mut h = axum::http::HeaderMap::new();
        lifecycle_headers(&g.routes[0], &mut h);
        assert_eq!(h.get("deprecation").unwrap(), "@1735689600");
        assert_eq!(h.get("sunset").unwrap(), "Thu, 01 Jan 2026 00:00:00 GMT");
    }

    #[test]
    fn only_websocket_routes_keep_the_clients_upgrade() {
        let g = gateway(&[config("plain", "prefix = \"/p\"")]);
        let mut parts = axum::http::Request::builder()
            .uri("/p")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(client_upgrade(&g.routes[0], &mut parts).is_none());
    }
}
