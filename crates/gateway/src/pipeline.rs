//! A request for a route, from the edge guard to the response. First the steps the API's
//! middleware runs too (request id and access line, body pacing, panic and deadline guards,
//! bans and deny lists, API-key and certificate authentication, security headers), as plain
//! calls in one future; then the route's phases in order (see the crate's documentation).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::service::Principal;
use portcullis_http::context::proxied_context;
use portcullis_http::error::ApiError;
use portcullis_http::middleware;
use portcullis_http::waf::Refused;

use crate::headers::RateHeaders;
use crate::inspect::{Refusal, Seen};
use crate::route::Route;
use crate::{Gateway, GatewayState, authenticate, authorize, body, early, forward, respond};

/// A request for a route (or for nothing: a 404), in the order the API's layers run.
pub async fn serve(state: GatewayState, req: Request) -> Response {
    let st = &state;
    middleware::logged(st, req, |req| async move {
        let req = middleware::paced(st, req);
        let api = req.uri().path().starts_with("/api/");
        let run = async move {
            // Where the client's body got to, for the answer at the deadline: one still
            // trickling in is the client's delay (408), not an outage.
            let body_state = body::BodyState::default();
            let mut req = req;
            req.extensions_mut().insert(body_state.clone());
            let late = move || {
                let (status, code, detail) = if body_state.arriving() {
                    (
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        "The request body did not arrive within the time a request may take.",
                    )
                } else if body_state.was_forwarded() {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        "The upstream service did not answer in time.",
                    )
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "The request took too long and was aborted.",
                    )
                };
                ApiError::new(status, code, detail).into_response()
            };
            // The timeout is built and awaited here rather than in a helper taking the
            // future: an async fn keeps its argument and the timeout wrapping it side by
            // side, which doubled this future (to 10 KiB, copied into its box per request).
            let mut res = tokio::time::timeout(st.web.request_timeout, async move {
                let ip = middleware::address_to_check(st, &req);
                if let Some(refused) = early::banned(st, ip).await {
                    return refused;
                }
                match portcullis_http::signatures::key_principal(st, req).await {
                    Ok(req) => route_request(st, req).await,
                    Err(refused) => refused,
                }
            })
            .await
            .unwrap_or_else(|_| late());
            middleware::apply_security_headers(&mut res, api, st.web.hsts);
            res
        };
        CatchUnwind(Box::pin(run))
            .await
            .unwrap_or_else(middleware::panic_response)
    })
    .await
}

/// Matches the route, runs its phases, logs.
async fn route_request(state: &GatewayState, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host());
    // The gateway in force when the request arrived serves it to the end, across a reload.
    let gateway = state.live().load_full();
    let Some(route) = crate::route::find(&gateway.routes, host, req.uri().path()) else {
        return ApiError::not_found().into_response();
    };
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes_in = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (mut res, principal) = phases(state, &gateway, route, parts, body).await;
    crate::log::log(route, principal.as_ref(), bytes_in, &res, started);
    if state.access.enabled() {
        res.extensions_mut()
            .insert(portcullis_http::access_log::Attribution {
                route: route.label.clone(),
                principal: principal.map(|p| p.user_id),
            });
    }
    res
}

/// Phases 2 to 10 on one request; the principal (once known) for the log.
async fn phases(
    state: &GatewayState,
    gateway: &Gateway,
    route: &Route,
    mut parts: Parts,
    body: Body,
) -> (Response, Option<Principal>) {
    // A protocol upgrade (WebSocket) the route passes through: keep the client's side of it.
    let upgrade = respond::client_upgrade(route, &mut parts);
    let ctx = proxied_context(&parts, state);
    if let Err(res) = early::route_rules(state, route, &parts, ctx.ip) {
        return (res, None);
    }
    let principal = match authenticate::authenticate(state, route, &parts).await {
        Ok(p) => p,
        Err(res) => return (res, None),
    };
    macro_rules! go {
        ($phase:expr) => {
            match $phase {
                Ok(v) => v,
                Err(res) => return (res, principal),
            }
        };
    }
    let who = principal.as_ref();
    go!(authorize::authorize(state, &gateway.denials, route, &parts, who, &ctx).await);
    // IETF RateLimit-Policy / RateLimit items of every limit and quota that applied.
    let mut rate = RateHeaders::default();
    go!(gateway.limits.check(route, who, ctx.ip, &mut rate).await);
    go!(gateway.quota.check(state, route, who, &mut rate).await);
    let limit = route
        .cfg
        .max_body_bytes
        .unwrap_or(gateway.default_body_limit);
    go!(forward::announced_too_large(&parts, limit));
    let watched = parts
        .extensions
        .remove::<body::BodyState>()
        .unwrap_or_default();
    let (body, body_state) = body::Watched::wrap(body, limit, watched);
    // Known before anything reads it: whether the request has no body (and so can be sent
    // again when no upstream could be reached).
    let empty = body_state.finished();
    let waf = state.waf.effective(route.cfg.waf.as_ref());
    let (body, verdict) = match state
        .waf
        .inspect(state, &ctx, &waf, Some(&route.cfg.name), &parts, body)
        .await
    {
        Ok(inspected) => (inspected.body, inspected.grpc),
        Err(Refused::Blocked(res)) => return (res, principal),
        Err(Refused::Body(e)) => return (body_failed(&body_state, limit, route, &e), principal),
    };
    let seen = Seen {
        route,
        parts: &parts,
        principal: who,
    };
    let body = match gateway.inspectors.request(&seen, body).await {
        Ok(body) => body,
        Err(Refusal::Inspector(res)) => return (res, principal),
        Err(Refusal::Body(e)) => return (body_failed(&body_state, limit, route, &e), principal),
    };
    let identity = match who {
        Some(p) => Some(go!(crate::identity::identity_token(
            state,
            &gateway.identities,
            route,
            p
        )
        .map_err(|e| ApiError::from(e).into_response()))),
        None => None,
    };
    let dlp = state.dlp.mode(route.cfg.dlp.as_ref());
    portcullis_http::dlp::prepare_request(dlp, &mut parts.headers);
    crate::headers::forward_headers(
        &mut parts,
        state,
        route.cfg.forward_authorization,
        upgrade.as_ref().map(|(proto, _)| proto),
        identity,
    );
    let call = forward::call(
        gateway,
        route,
        &parts,
        body,
        &body_state,
        empty,
        limit,
        ctx.ip,
    );
    let res = match &verdict {
        None => go!(call.await),
        // A gRPC call's messages are inspected as they stream: a blocked one ends the wait
        // for the upstream (which never saw it) with the refusal.
        // The upstream call can also fail because of the block (its body ended broken) in
        // the same poll that blocked it: the refusal is the answer then too, not the
        // failure (black-box pass 10, B10-7: 14 UNAVAILABLE for one blocked call in eight).
        Some(v) => tokio::select! {
            biased;
            () = v.fired() => return (v.answer().await, principal),
            r = call => match r {
                Err(_) if v.is_fired() => return (v.answer().await, principal),
                r => go!(r),
            },
        },
    };
    let res = respond::respond(gateway, route, res, upgrade, &rate).await;
    // ... and one blocked after the upstream answered ends its answer.
    let res = match &verdict {
        Some(v) => v.guard(res),
        None => res,
    };
    let res = state
        .dlp
        .filter(state, &ctx, &route.cfg.name, route.cfg.dlp.as_ref(), res)
        .await;
    (res, principal)
}

/// The answer to a body that failed while it was read for inspection (the body watcher
/// knows why: too large, too slow, broken).
fn body_failed(
    body_state: &body::BodyState,
    limit: u64,
    route: &Route,
    e: &axum::Error,
) -> Response {
    let (status, code, detail) = body_state
        .fault()
        .unwrap_or(body::ClientFault::Malformed)
        .answer(limit);
    tracing::debug!(route = %route.cfg.name, error = %e, "request body failed under inspection");
    ApiError::new(status, code, detail).into_response()
}

/// A future whose panic becomes an `Err` (the panic response), as the API's catch-panic
/// layer does.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send + 'static>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught() {
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert!(matches!(ok, Ok(7)));
        let caught = CatchUnwind(Box::pin(async {
            if std::hint::black_box(true) {
                std::panic::panic_any("boom");
            }
            7
        }))
        .await;
        assert!(caught.is_err());
    }
}
