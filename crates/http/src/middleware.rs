//! Middleware: request ids and access logs, security headers, the request deadline.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::Edge;
use crate::error::ApiError;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A fresh request id: 128 random bits, hex.
pub fn new_request_id() -> String {
    /// Random bytes drawn from the OS 4 KiB at a time, per thread: one `getrandom` call for
    /// 256 request ids instead of one each.
    struct Pool {
        bytes: [u8; 4096],
        used: usize,
    }
    thread_local! {
        static POOL: std::cell::RefCell<Pool> =
            const { std::cell::RefCell::new(Pool { bytes: [0; 4096], used: 4096 }) };
    }
    let mut id = [0u8; 16];
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + id.len() > pool.bytes.len() {
            portcullis_core::rand::Rng::fill(&portcullis_core::rand::OsRng, &mut pool.bytes);
            pool.used = 0;
        }
        let at = pool.used;
        if let Some(chunk) = pool.bytes.get(at..at + id.len()) {
            id.copy_from_slice(chunk);
        }
        pool.used += id.len();
    });
    hex::encode(id)
}

/// Gives every request an id of Portcullis's own (a client-sent `X-Request-Id` is replaced:
/// the id names this hop's record of the request, and the upstream gets the same one), puts
/// it in every log line of the request and on the response, and logs one access line.
pub async fn request_id(State(state): State<Edge>, req: Request, next: Next) -> Response {
    logged(&state, req, |req| next.run(req)).await
}

/// [`request_id`] around `inner`.
pub async fn logged<F, Fut>(state: &Edge, mut req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let id = new_request_id();
    let header = HeaderValue::from_str(&id).ok();
    if let Some(v) = &header {
        req.headers_mut().insert(REQUEST_ID, v.clone());
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Who asked, for the access line (only read when there is one to write).
    let (client, version, user_agent) = if state.access.enabled() {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|ci| ci.0.ip());
        (
            peer.and_then(|p| {
                crate::client_ip::client_ip(
                    p,
                    req.headers(),
                    &state.web.trusted_proxies,
                    state.web.forwarded_header,
                )
            }),
            req.version(),
            req.headers().get(axum::http::header::USER_AGENT).cloned(),
        )
    } else {
        (None, req.version(), None)
    };
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = tracing::field::Empty
    );
    // Every line of the request carries its path: masked as the access line's is (a card
    // number in a URL is not written to the logs).
    if !span.is_disabled() {
        match state.dlp.mask_text(&path) {
            Some(masked) => span.record("path", tracing::field::display(masked)),
            None => span.record("path", tracing::field::display(&path)),
        };
    }
    let start = Instant::now();
    let mut res = inner(req).instrument(span).await;
    let status = res.status().as_u16();
    // The access line goes to its own writer thread; this request does not wait for it.
    if state.access.wants(status) {
        let at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        state.access.log(crate::access_log::AccessLine {
            at_us,
            request_id: id,
            method,
            path,
            status,
            latency_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            by: res
                .extensions_mut()
                .remove::<crate::access_log::Attribution>(),
            client,
            version,
            user_agent,
            bytes_out: res
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .or_else(|| axum::body::HttpBody::size_hint(res.body()).exact()),
        });
    }
    if let Some(v) = header {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// The security headers of the contract, on every response.
pub async fn security_headers(State(state): State<Edge>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    apply_security_headers(&mut res, api, state.web.hsts);
    res
}

/// The security headers every response carries, parsed once.
static SECURITY_HEADERS: std::sync::LazyLock<Vec<(HeaderName, HeaderValue)>> =
    std::sync::LazyLock::new(|| {
        [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "permissions-policy",
                "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
            ),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
            ("x-download-options", "noopen"),
            ("x-dns-prefetch-control", "off"),
        ]
        .into_iter()
        .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
        .collect()
    });

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains; preload");
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
);

/// Sets the security headers on one response (`api`: never cached; `hsts` over https).
pub fn apply_security_headers(res: &mut Response, api: bool, hsts: bool) {
    let h = res.headers_mut();
    if hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    for (k, v) in SECURITY_HEADERS.iter() {
        // A page that needs its own Origin on form posts keeps its referrer policy.
        if *k == header::REFERRER_POLICY && !api && h.contains_key(k) {
            continue;
        }
        h.insert(k.clone(), v.clone());
    }
    // Proxied responses keep a policy their upstream set (it knows its content).
    if api || !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, CSP);
    }
    if api {
        // Tokens and personal data: never in a cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
}

/// Aborts a request that runs past the deadline; its transaction, if any, rolls back.
pub async fn timeout(State(state): State<Edge>, req: Request, next: Next) -> Response {
    within_deadline(&state, next.run(req)).await
}

/// `fut`, or a 503 once `server.request_timeout_seconds` have passed.
pub async fn within_deadline(
    state: &Edge,
    fut: impl std::future::Future<Output = Response>,
) -> Response {
    match tokio::time::timeout(state.web.request_timeout, fut).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The request took too long and was aborted.",
        )
        .into_response(),
    }
}

/// A handler that panicked (a bug): a 500 problem instead of a dropped connection. The
/// panic message is logged, never sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %msg, "handler panicked");
    axum::response::IntoResponse::into_response(crate::error::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "An internal error occurred.",
    ))
}

/// Cuts off a client that stops sending its request body: each pause longer than
/// `server.body_timeout_seconds` ends the body with an error, so a slow upload does not
/// hold a connection, a handler or an upstream request open.
pub async fn body_timeout(State(state): State<Edge>, req: Request, next: Next) -> Response {
    next.run(paced(&state, req)).await
}

/// The request with its body cut off after a pause of `server.body_timeout_seconds`.
pub fn paced(state: &Edge, req: Request) -> Request {
    let timeout = state.web.body_timeout;
    req.map(|b| axum::body::Body::new(IdleTimeoutBody::new(b, timeout)))
}

/// A body that fails when no frame arrives for `timeout`: request bodies from clients, and
/// response bodies from upstreams.
pub struct IdleTimeoutBody {
    inner: axum::body::Body,
    timeout: std::time::Duration,
    /// Armed while waiting for the next frame; made the first time a wait happens.
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl IdleTimeoutBody {
    pub fn new(inner: axum::body::Body, timeout: std::time::Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: None,
            armed: false,
        }
    }
}

/// The error a stalled body ends with.
#[derive(Debug)]
pub struct BodyStalled(std::time::Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nothing of the body arrived for {} s", self.0.as_secs())
    }
}

impl std::error::Error for BodyStalled {}

impl hyper::body::Body for IdleTimeoutBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Refuses requests from banned or deny-listed addresses (403 `ip_not_allowed`) before any
/// other work. Sign-in answers them itself (`risk_denied`, with a `risk.assessed` record);
/// health checks always answer; administrators calling from `admin.allowed_ips` can always
/// reach the admin API, so that a ban can be lifted. When the bans cannot be read, nothing
/// is let through.
pub async fn refuse_blocked(State(state): State<Edge>, req: Request, next: Next) -> Response {
    let refused = match address_to_check(&state, &req) {
        Some(ip) => blocked(&state, ip).await,
        None => None,
    };
    match refused {
        Some(res) => res,
        None => next.run(req).await,
    }
}

/// The client address whose bans and deny lists decide the request, if they do (not for
/// health checks, sign-in, or the admin API from `admin.allowed_ips`).
pub fn address_to_check(state: &Edge, req: &Request) -> Option<std::net::IpAddr> {
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/api/v1/auth/login") {
        return None;
    }
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|ci| ci.0.ip());
    let ip = peer.and_then(|p| {
        crate::client_ip::client_ip(
            p,
            req.headers(),
            &state.web.trusted_proxies,
            state.web.forwarded_header,
        )
    })?;
    if path.starts_with("/api/v1/admin/")
        && state.web.admin_allowed_ips.iter().any(|n| n.contains(&ip))
    {
        return None;
    }
    Some(ip)
}

/// The refusal of a request from `ip` when it is banned or deny-listed.
pub async fn blocked(state: &Edge, ip: std::net::IpAddr) -> Option<Response> {
    match state.svc.ip_blocked(ip).await {
        Ok(None) => None,
        Ok(Some(why)) => Some(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                match why {
                    portcullis_core::service::Blocked::Banned => "Your address is banned for now.",
                    portcullis_core::service::Blocked::DenyList => {
                        "Your address is on a deny list."
                    }
                },
            )
            .into_response(),
        ),
        Err(e) => Some(ApiError::from(e).into_response()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_random_hex_across_pool_refills() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_request_id()).collect();
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
