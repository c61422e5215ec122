//! The identity-aware gateway: requests outside Portcullis's own endpoints that match a
//! `[[routes]]` prefix are authenticated, authorised (mode, roles, scopes, signature, IP and
//! method rules) and proxied to the route's upstreams, carrying `X-Portcullis-Identity`, a
//! short-lived EdDSA JWT the upstream verifies with the JWKS. Bodies stream both ways.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ipnet::IpNet;
use portcullis_core::Error;
use portcullis_core::config::{RouteAuth, RouteConfig};
use portcullis_core::model::SigningMode;
use portcullis_core::service::Principal;
use serde_json::json;

use portcullis_http::Edge;
use portcullis_http::context::request_context;
use portcullis_http::error::ApiError;
use portcullis_http::signatures::KeyPrincipal;

mod authorize;
mod body;
mod breaker;
mod headers;
mod identity;
mod limiter;
mod live;
mod pipeline;
pub mod policy;
mod quota;
pub mod redis;
mod upstream;

use authorize::authorize;
use body::ClientFault;
use breaker::{Breaker, Outcome};
use headers::{forward_headers, rate_limit_headers, strip_hop_by_hop};
use identity::identity_token;
use limiter::Gcra;
pub use live::{LiveGateway, health_checks};
pub use pipeline::serve;
pub use portcullis_http::metrics::UpstreamState;
use quota::{QuotaError, UsageCell};
use upstream::Upstream;

/// What the gateway's requests share: the [`Edge`] (services, settings, access log,
/// metrics) it has in common with the API, and the gateway in force. One pointer, cloned
/// per request.
#[derive(Clone)]
pub struct GatewayState(Arc<GatewayInner>);

struct GatewayInner {
    edge: Edge,
    gateway: LiveGateway,
}

impl GatewayState {
    /// The gateway side of one server.
    pub fn new(edge: Edge, gateway: LiveGateway) -> Self {
        Self(Arc::new(GatewayInner { edge, gateway }))
    }

    /// The gateway in force.
    pub fn live(&self) -> &LiveGateway {
        &self.0.gateway
    }
}

impl std::ops::Deref for GatewayState {
    type Target = Edge;

    fn deref(&self) -> &Edge {
        &self.0.edge
    }
}

/// The header carrying the forwarded identity.
pub const IDENTITY_HEADER: &str = "x-portcullis-identity";
/// Lifetime of a forwarded identity token.
const IDENTITY_TTL: i64 = 60;

pub use portcullis_http::grpc::Proxied;

/// One route, ready to serve.
#[derive(Debug)]
pub struct Route {
    cfg: RouteConfig,
    upstreams: Vec<Upstream>,
    methods: Vec<Method>,
    next: AtomicUsize,
    limiter: Mutex<limiter::LocalLimiter>,
    breakers: Mutex<Vec<Breaker>>,
    /// Per upstream, when `max_concurrent` is set: the requests it may have in flight.
    in_flight: Vec<Arc<tokio::sync::Semaphore>>,
    policy: Option<crate::policy::RoutePolicy>,
    denials_audited: Mutex<HashMap<String, Instant>>,
    /// Identity tokens minted lately, by a keyed hash of what they say.
    identities: Mutex<HashMap<u64, identity::CachedIdentity>>,
    identity_hasher: std::collections::hash_map::RandomState,
    in_flight_per: Vec<AtomicUsize>,
    healthy: Vec<std::sync::atomic::AtomicBool>,
    /// The client for `https://` upstreams (server verified against the route's CA or the
    /// system's roots, with the route's client certificate for mTLS).
    tls_client: Option<Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>>,
    /// Quota usage per `(API key id, period)`.
    usage: Mutex<HashMap<(String, String), UsageCell>>,
    /// Its request counters and latency histogram.
    metrics: portcullis_http::metrics::RouteMetrics,
}

/// All routes and the upstream HTTP client.
pub struct Gateway {
    routes: Vec<Route>,
    client: Client<HttpConnector, Body>,
    /// For `h2c://` upstreams: HTTP/2 with prior knowledge, streams multiplexed on pooled
    /// connections.
    h2c_client: Client<HttpConnector, Body>,
    default_body_limit: u64,
    redis: Option<Arc<crate::redis::Redis>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

fn problem(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Response {
    ApiError::new(status, code, detail).into_response()
}

fn ip_in(nets: &[IpNet], ip: Option<std::net::IpAddr>) -> bool {
    ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

impl Gateway {
    /// Builds the routes; the longest prefix wins.
    /// `metrics`: where the routes count their requests (the same series across reloads).
    pub fn new(
        routes: &[RouteConfig],
        default_body_limit: usize,
        metrics: &portcullis_http::metrics::Metrics,
    ) -> Result<Self, String> {
        let mut out = Vec::new();
        for r in routes {
            let upstreams = r
                .upstreams
                .iter()
                .map(|u| {
                    Upstream::parse(u)
                        .map_err(|e| format!("routes `{}`: upstream `{u}`: {e}", r.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let methods = r
                .methods
                .iter()
                .map(|m| {
                    Method::from_bytes(m.as_bytes())
                        .map_err(|e| format!("routes `{}`: method `{m}`: {e}", r.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let n = upstreams.len();
            out.push(Route {
                cfg: r.clone(),
                upstreams,
                methods,
                next: AtomicUsize::new(0),
                limiter: Mutex::new(limiter::LocalLimiter::default()),
                breakers: Mutex::new(vec![Breaker::default(); n]),
                in_flight: r
                    .max_concurrent
                    .map(|m| {
                        (0..n)
                            .map(|_| {
                                Arc::new(tokio::sync::Semaphore::new(
                                    usize::try_from(m).unwrap_or(1),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                policy: match (
                    r.policy.as_deref().map(str::trim).filter(|t| !t.is_empty()),
                    &r.policy_file,
                ) {
                    // `policy` holds Cedar text, or the path of a file that does.
                    (Some(text), _)
                        if !text.contains('\n') && std::path::Path::new(text).is_file() =>
                    {
                        let text = std::fs::read_to_string(text)
                            .map_err(|e| format!("routes `{}`: {text}: {e}", r.name))?;
                        Some(crate::policy::compile(&r.name, &text)?)
                    }
                    (Some(text), _) => Some(crate::policy::compile(&r.name, text)?),
                    (None, Some(path)) => {
                        let text = std::fs::read_to_string(path)
                            .map_err(|e| format!("routes `{}`: {}: {e}", r.name, path.display()))?;
                        Some(crate::policy::compile(&r.name, &text)?)
                    }
                    (None, None) => None,
                },
                denials_audited: Mutex::new(HashMap::new()),
                identities: Mutex::new(HashMap::new()),
                identity_hasher: std::collections::hash_map::RandomState::new(),
                in_flight_per: (0..n).map(|_| AtomicUsize::new(0)).collect(),
                usage: Mutex::new(HashMap::new()),
                metrics: metrics.route(&r.name),
                tls_client: None,
                healthy: (0..n)
                    .map(|_| std::sync::atomic::AtomicBool::new(true))
                    .collect(),
            });
        }
        // Routes for a host before routes for any host, then the longest prefix first.
        out.sort_by_key(|r| (r.cfg.host.is_none(), std::cmp::Reverse(r.cfg.prefix.len())));
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector.clone());
        let h2c_client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .http2_only(true)
            .timer(hyper_util::rt::TokioTimer::new())
            .http2_keep_alive_interval(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            routes: out,
            client,
            h2c_client,
            default_body_limit: u64::try_from(default_body_limit).unwrap_or(u64::MAX),
            redis: None,
        })
    }

    /// Talks TLS to the upstreams of route `name` with `config` (its roots, and its client
    /// certificate when the upstream asks for mTLS). h2 is offered by ALPN, http/1.1 as the
    /// fallback; a WebSocket route speaks HTTP/1.1 only, since its upgrade needs it.
    pub fn with_upstream_tls(mut self, name: &str, mut config: rustls::ClientConfig) -> Self {
        // ALPN is the connector's to set.
        config.alpn_protocols.clear();
        for r in self.routes.iter_mut().filter(|r| r.cfg.name == name) {
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(Duration::from_secs(5)));
            http.set_nodelay(true);
            http.enforce_http(false);
            let builder = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config.clone())
                .https_or_http();
            let https = if r.cfg.websocket {
                builder.enable_http1().wrap_connector(http)
            } else {
                builder.enable_all_versions().wrap_connector(http)
            };
            r.tls_client = Some(
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build(https),
            );
        }
        self
    }

    /// Sends a request to `upstream`, one of `route`'s.
    fn send(
        &self,
        route: &Route,
        upstream: &Upstream,
        mut req: axum::http::Request<Body>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        *req.version_mut() = upstream.version();
        match &route.tls_client {
            _ if upstream.h2c => self.h2c_client.request(req),
            Some(c) => c.request(req),
            None => self.client.request(req),
        }
    }

    /// Holds rate limits in Redis (`cluster.redis_url`), shared by every node.
    /// `ca`: the PEM CA a `rediss://` server's certificate must chain to (default: the
    /// system's roots).
    pub fn with_redis(mut self, url: &str, ca: Option<Vec<u8>>) -> Result<Self, String> {
        self.redis = Some(Arc::new(crate::redis::Redis::new(url, ca)?));
        Ok(self)
    }

    /// Whether rate limits are shared right now: Redis is configured and answering.
    pub fn limits_shared(&self) -> Option<bool> {
        self.redis.as_ref().map(|r| r.is_up())
    }

    /// One GCRA step for `who` on `route`: in Redis when configured and reachable, else on
    /// this node.
    async fn limit(&self, route: &Route, who: &str, requests: u32, window: u32) -> Gcra {
        if let Some(redis) = &self.redis {
            let window_us = u64::from(window) * 1_000_000;
            let interval_us = (window_us / u64::from(requests.max(1))).max(1);
            let key = format!("portcullis:rl:{}:{who}", route.cfg.name);
            match redis.gcra(&key, interval_us, window_us).await {
                Some(crate::redis::SharedDecision::Allow { ahead_us }) => {
                    return Gcra::Allow {
                        remaining: window_us.saturating_sub(ahead_us) / interval_us,
                        reset: ahead_us.div_ceil(1_000_000),
                    };
                }
                Some(crate::redis::SharedDecision::Deny { wait_us }) => {
                    return Gcra::Deny {
                        retry_after: wait_us.div_ceil(1_000_000).max(1),
                    };
                }
                None => {}
            }
        }
        route.rate(who, requests, window)
    }

    fn route_for(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        // The request's host without its port (`[v6]:port` keeps its brackets).
        let host = host.map(|h| match h.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => h,
        });
        // `example.com.` is `example.com`: a trailing dot must not skip a host's routes.
        let host = host.map(|h| h.strip_suffix('.').unwrap_or(h));
        self.routes.iter().find(|r| {
            if let Some(want) = &r.cfg.host
                && !host.is_some_and(|h| h.eq_ignore_ascii_case(want))
            {
                return false;
            }
            let p = r.cfg.prefix.trim_end_matches('/');
            p.is_empty()
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// The fallback handler: the gateway, or 404.
pub async fn handle(State(state): State<GatewayState>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host());
    // The gateway in force when the request arrived serves it to the end, across a reload.
    let gateway = state.live().load_full();
    let Some(route) = gateway.route_for(host, req.uri().path()) else {
        return ApiError::not_found().into_response();
    };
    let started = Instant::now();
    let res = proxy(&state, &gateway, route, req, started).await;
    route
        .metrics
        .answered(res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

/// Runs `route`'s phases on one request and proxies it.
async fn proxy(
    state: &GatewayState,
    gateway: &Gateway,
    route: &Route,
    req: Request,
    started: Instant,
) -> Response {
    let (mut parts, body) = req.into_parts();
    // A protocol upgrade (WebSocket) the route passes through: keep the client's side of it.
    let upgrade = if route.cfg.websocket
        && parts
            .headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            }) {
        match (
            parts.headers.get(header::UPGRADE).cloned(),
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>(),
        ) {
            (Some(proto), Some(on)) => Some((proto, on)),
            _ => None,
        }
    } else {
        None
    };
    let ctx = request_context(&parts, state);
    let principal = match authorize(state, route, &parts, ctx.ip).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let cfg = &route.cfg;
    if let Some(p) = &principal {
        // Each principal's rate against its own baseline: an anomaly is recorded (and can
        // fire an alert rule), not refused here.
        let key = p
            .api_key
            .as_ref()
            .map_or(p.user_id.as_str(), |k| k.id.as_str());
        if let Err(e) = state.svc.observe_rate(key, &cfg.name, &ctx).await {
            return ApiError::from(e).into_response();
        }
    }
    if let Some(policy) = &route.policy {
        let verdict = policy.decide(&crate::policy::Facts {
            principal: principal.as_ref(),
            method: parts.method.as_str(),
            route: (&cfg.name, &cfg.prefix),
            path: portcullis_http::edge::decoded_path(&parts),
            ip: ctx.ip,
            now: state.svc.now(),
        });
        if !verdict.allow {
            let who = principal.as_ref().map(|p| p.user_id.clone());
            let key = format!(
                "{}|{}|{}",
                who.as_deref().unwrap_or("-"),
                cfg.name,
                verdict.policies.join(",")
            );
            let due = {
                let mut m = route
                    .denials_audited
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if m.len() > 10_000 {
                    m.clear();
                }
                let due = m
                    .get(&key)
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
                if due {
                    m.insert(key, Instant::now());
                }
                due
            };
            tracing::info!(route = %cfg.name, policies = ?verdict.policies, "gateway policy denied");
            if due {
                let reason = format!("cedar deny; policies: {}", verdict.policies.join(", "));
                if let Err(e) = state
                    .svc
                    .audit_access_denied(who.as_deref(), &ctx, parts.uri.path(), &reason)
                    .await
                {
                    return ApiError::from(e).into_response();
                }
            }
            return ApiError::from(Error::Forbidden(
                "A policy of this route does not allow the request.".into(),
            ))
            .into_response();
        }
    }
    // IETF RateLimit-Policy / RateLimit items of every limit and quota that applied.
    let mut policies: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    if let Some(rl) = cfg.rate_limit {
        let who = match (rl.by, &principal) {
            (portcullis_core::config::RateLimitBy::Principal, Some(p)) => match &p.api_key {
                Some(g) => format!("k:{}", g.id),
                None => format!("u:{}", p.user_id),
            },
            (
                portcullis_core::config::RateLimitBy::ApiKey,
                Some(Principal {
                    api_key: Some(g), ..
                }),
            ) => {
                format!("k:{}", g.id)
            }
            _ => limiter::ip_key(ctx.ip),
        };
        policies.push(format!(
            "\"{}\";q={};w={}",
            cfg.name, rl.requests, rl.window_seconds
        ));
        match gateway
            .limit(route, &who, rl.requests, rl.window_seconds)
            .await
        {
            Gcra::Allow { remaining, reset } => {
                limits.push(format!("\"{}\";r={remaining};t={reset}", cfg.name));
            }
            Gcra::Deny { retry_after } => {
                route.metrics.rate_limited.inc();
                limits.push(format!("\"{}\";r=0;t={retry_after}", cfg.name));
                let mut res = ApiError::from(Error::RateLimited { retry_after }).into_response();
                rate_limit_headers(res.headers_mut(), &policies, &limits);
                return res;
            }
        }
    }
    if let (Some(q), Some(grant)) = (
        cfg.quota,
        principal.as_ref().and_then(|p| p.api_key.as_ref()),
    ) {
        match gateway.charge_quota(state, route, &grant.id, q).await {
            Ok(states) => {
                for st in states {
                    policies.push(format!(
                        "\"{}-{}\";q={};w={}",
                        cfg.name, st.name, st.limit, st.window
                    ));
                    limits.push(format!(
                        "\"{}-{}\";r={};t={}",
                        cfg.name, st.name, st.remaining, st.reset
                    ));
                }
            }
            Err(QuotaError::Exhausted(st)) => {
                route.metrics.quota_exhausted.inc();
                policies.push(format!(
                    "\"{}-{}\";q={};w={}",
                    cfg.name, st.name, st.limit, st.window
                ));
                limits.push(format!("\"{}-{}\";r=0;t={}", cfg.name, st.name, st.reset));
                let mut res = ApiError::from(Error::RateLimited {
                    retry_after: st.reset,
                })
                .into_response();
                rate_limit_headers(res.headers_mut(), &policies, &limits);
                return res;
            }
            Err(QuotaError::Store(e)) => return ApiError::from(e).into_response(),
        }
    }
    // Held until the upstream has answered: the upstream's share of `max_concurrent`.
    let mut _permit: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let mut identity: Option<HeaderValue> = None;
    let limit = cfg.max_body_bytes.unwrap_or(gateway.default_body_limit);
    if parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit)
    {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The body is over {limit} bytes."),
        );
    }
    let Some(mut attempt) = route.pick(None) else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "The upstream service is unavailable (circuit open); retry shortly.",
        );
    };
    // The path was normalised at the edge: this is the path every policy judged.
    let path = parts.uri.path();
    let path = if cfg.strip_prefix {
        let rest = path
            .strip_prefix(cfg.prefix.trim_end_matches('/'))
            .unwrap_or(path);
        if rest.is_empty() { "/" } else { rest }
    } else {
        path
    };
    let path_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    if let Some(p) = &principal {
        match identity_token(state, route, p) {
            Ok(v) => identity = Some(v),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    forward_headers(
        &mut parts,
        state,
        cfg.forward_authorization,
        upgrade.as_ref().map(|(proto, _)| proto),
        identity,
    );
    let (body, body_state) = body::Watched::wrap(body, limit);
    // A request without a body to an idempotent method can be sent again elsewhere when no
    // connection could be made (nothing reached the upstream).
    let replayable = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    ) && body_state.finished();
    let mut body = Some(body);
    let mut tries = 0;
    let res = loop {
        let idx = attempt.idx;
        let Some(upstream) = route.upstreams.get(idx) else {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                "No upstream.",
            );
        };
        let base = upstream.uri.path().trim_end_matches('/');
        let uri = match Uri::builder()
            .scheme(upstream.uri.scheme_str().unwrap_or("http"))
            .authority(upstream.uri.authority().map_or("", |a| a.as_str()))
            .path_and_query(format!("{base}{path_query}"))
            .build()
        {
            Ok(u) => u,
            Err(e) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("bad path: {e}"),
                );
            }
        };
        if let Some(sem) = route.in_flight.get(idx) {
            match sem.clone().try_acquire_owned() {
                Ok(permit) => _permit = Some(permit),
                Err(_) => {
                    route.metrics.concurrency.inc();
                    return problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "upstream_unavailable",
                        "Too many requests in flight to this upstream; retry shortly.",
                    );
                }
            }
        }
        let mut p = parts.clone();
        p.uri = uri;
        let b = body.take().unwrap_or_else(Body::empty);
        let sent = tokio::time::timeout(
            Duration::from_secs(cfg.timeout_seconds),
            gateway.send(route, upstream, axum::http::Request::from_parts(p, b)),
        )
        .await;
        // The client's own body failing is the client's error, whatever the upstream did.
        if let Some(fault) = body_state.fault()
            && !matches!(sent, Ok(Ok(_)))
        {
            attempt.settle(Outcome::Neutral);
            let (status, code, detail) = fault.answer(limit);
            return problem(status, code, detail);
        }
        match sent {
            Ok(Ok(res)) => {
                let bad = matches!(res.status().as_u16(), 502..=504);
                attempt.settle(if bad { Outcome::Fault } else { Outcome::Ok });
                break res;
            }
            Ok(Err(e)) => {
                tracing::warn!(route = %cfg.name, error = %e, "upstream request failed");
                attempt.settle(Outcome::Fault);
                if e.is_connect() && replayable && tries < cfg.retries {
                    tries += 1;
                    if let Some(next) = route.pick(Some(idx)) {
                        attempt = next;
                        continue;
                    }
                }
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "The upstream service is unavailable.",
                );
            }
            Err(_) if !body_state.finished() => {
                // Still waiting for the client's body: not the upstream's delay.
                attempt.settle(Outcome::Neutral);
                let (status, code, detail) = ClientFault::Stalled.answer(limit);
                return problem(status, code, detail);
            }
            Err(_) => {
                attempt.settle(Outcome::Fault);
                return problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "The upstream service did not answer in time.",
                );
            }
        }
    };
    let mut res = res;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some((proto, client_side)) = upgrade else {
            // A switch nobody asked for: the upstream connection is unusable now (it is
            // dropped, not pooled) and the client gets an answer, not a dead connection.
            tracing::warn!(route = %cfg.name, "upstream switched protocols unasked");
            return problem(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The upstream switched protocols on a request that did not ask to.",
            );
        };
        let upstream_side = hyper::upgrade::on(&mut res);
        let route_name = cfg.name.clone();
        tokio::spawn(async move {
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
    let (mut rparts, rbody) = res.into_parts();
    rparts.extensions.insert(Proxied);
    strip_hop_by_hop(&mut rparts.headers);
    rate_limit_headers(&mut rparts.headers, &policies, &limits);
    if let Some(at) = cfg.deprecated_at
        && let Ok(v) = HeaderValue::from_str(&format!("@{at}"))
    {
        rparts.headers.insert("deprecation", v);
    }
    if let Some(at) = cfg.sunset_at
        && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at)
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc2822)
        && let Ok(v) = HeaderValue::from_str(&s.replace("+0000", "GMT"))
    {
        rparts.headers.insert("sunset", v);
    }
    let length = |h: &HeaderMap| {
        h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    tracing::info!(
        route = %cfg.name,
        principal = principal.as_ref().map(|p| p.user_id.as_str()).unwrap_or("-"),
        status = rparts.status.as_u16(),
        bytes_in = length(&parts.headers),
        bytes_out = length(&rparts.headers),
        upstream_ms = started.elapsed().as_secs_f64() * 1000.0,
        "gateway request"
    );
    // An upstream that stops sending mid-body is cut off like a stalled client.
    let rbody = portcullis_http::middleware::IdleTimeoutBody::new(
        Body::new(rbody),
        Duration::from_secs(cfg.timeout_seconds),
    );
    Response::from_parts(rparts, Body::new(rbody))
}
