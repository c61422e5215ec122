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

use crate::AppState;
use crate::error::ApiError;
use crate::extract::request_context;
use crate::signatures::KeyPrincipal;

/// The header carrying the forwarded identity.
pub const IDENTITY_HEADER: &str = "x-portcullis-identity";
/// Lifetime of a forwarded identity token.
const IDENTITY_TTL: i64 = 60;

/// One route, ready to serve.
#[derive(Debug)]
pub struct Route {
    cfg: RouteConfig,
    upstreams: Vec<Uri>,
    methods: Vec<Method>,
    next: AtomicUsize,
    limiter: Mutex<HashMap<String, f64>>,
    breakers: Mutex<Vec<Breaker>>,
    /// Per upstream, when `max_concurrent` is set: the requests it may have in flight.
    in_flight: Vec<Arc<tokio::sync::Semaphore>>,
    policy: Option<crate::policy::RoutePolicy>,
    denials_audited: Mutex<HashMap<String, Instant>>,
    identities: Mutex<HashMap<String, (String, i64)>>,
    in_flight_per: Vec<AtomicUsize>,
    healthy: Vec<std::sync::atomic::AtomicBool>,
    /// The client for `https://` upstreams (server verified against the route's CA or the
    /// system's roots, with the route's client certificate for mTLS).
    tls_client: Option<Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>>,
    /// Quota usage per `(API key id, period)`.
    usage: Mutex<HashMap<(String, String), UsageCell>>,
}

/// The circuit breaker of one upstream.
#[derive(Debug, Clone, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// Outcomes of the latest requests (true: failed), for the error-rate threshold.
    recent: std::collections::VecDeque<bool>,
}

/// When rate limits count time (seconds since start-up, sub-second).
fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A GCRA decision: allowed with this many left, or refused for this long.
enum Gcra {
    Allow { remaining: u64, reset: u64 },
    Deny { retry_after: u64 },
}

impl Route {
    /// GCRA (generic cell rate algorithm): one theoretical arrival time per key; a request
    /// is allowed when it does not push that time more than one window ahead.
    fn rate(&self, key: &str, requests: u32, window: u32) -> Gcra {
        let now = clock();
        let window = f64::from(window);
        let t = window / f64::from(requests);
        let mut map = self
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, tat| *tat > now);
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + t;
        if new_tat - now > window + 1e-9 {
            return Gcra::Deny {
                retry_after: (new_tat - window - now).ceil().max(1.0) as u64,
            };
        }
        map.insert(key.to_owned(), new_tat);
        Gcra::Allow {
            remaining: ((window - (new_tat - now)) / t).floor().max(0.0) as u64,
            reset: (new_tat - now).ceil() as u64,
        }
    }

    /// The next upstream whose breaker lets a request through, if any.
    fn pick(&self, skip: Option<usize>) -> Option<usize> {
        let n = self.upstreams.len();
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Candidates in the order the balancing mode prefers; unhealthy upstreams last-resort
        // only when every upstream failed its health check.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n.max(1)).collect();
        if self.cfg.balance == portcullis_core::config::Balance::LeastRequests {
            order.sort_by_key(|&i| {
                self.in_flight_per
                    .get(i)
                    .map_or(usize::MAX, |c| c.load(Ordering::Relaxed))
            });
        }
        let any_healthy = self.healthy.iter().any(|h| h.load(Ordering::Relaxed));
        for i in order {
            if Some(i) == skip && n > 1 {
                continue;
            }
            if any_healthy
                && !self
                    .healthy
                    .get(i)
                    .is_some_and(|h| h.load(Ordering::Relaxed))
            {
                continue;
            }
            let b = breakers.get_mut(i)?;
            match b.open_until {
                None => return Some(i),
                Some(until) if until <= now && !b.probing => {
                    b.probing = true; // half-open: one probe
                    return Some(i);
                }
                Some(_) => {}
            }
        }
        None
    }

    fn record(&self, i: usize, ok: bool) {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(b) = breakers.get_mut(i) else { return };
        let window = usize::try_from(self.cfg.breaker_window).unwrap_or(usize::MAX);
        let rate_tripped = match self.cfg.breaker_error_rate {
            Some(rate) if window > 0 => {
                b.recent.push_back(!ok);
                while b.recent.len() > window {
                    b.recent.pop_front();
                }
                let failed = b.recent.iter().filter(|f| **f).count();
                b.recent.len() == window && failed as f64 >= rate * window as f64
            }
            _ => false,
        };
        if ok && !rate_tripped {
            b.failures = 0;
            b.open_until = None;
            b.probing = false;
            return;
        }
        b.failures += 1;
        b.probing = false;
        if rate_tripped {
            b.recent.clear();
        }
        if b.failures >= self.cfg.breaker_failures || b.open_until.is_some() || rate_tripped {
            b.open_until =
                Some(Instant::now() + Duration::from_secs(self.cfg.breaker_cooldown_seconds));
            tracing::warn!(route = %self.cfg.name, upstream = i, "circuit breaker open");
        }
    }
}

/// All routes and the upstream HTTP client.
pub struct Gateway {
    routes: Vec<Route>,
    client: Client<HttpConnector, Body>,
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

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().map(str::to_owned).chain(listed) {
        h.remove(name.as_str());
    }
}

/// Sets `RateLimit-Policy` and `RateLimit` (IETF httpapi-ratelimit-headers) from their items.
fn rate_limit_headers(h: &mut HeaderMap, policies: &[String], limits: &[String]) {
    for (name, items) in [("ratelimit-policy", policies), ("ratelimit", limits)] {
        if !items.is_empty()
            && let Ok(v) = HeaderValue::from_str(&items.join(", "))
        {
            h.insert(name, v);
        }
    }
}

/// Where one quota of a request stands.
#[derive(Debug, Clone)]
struct QuotaState {
    /// `daily` or `monthly`.
    name: &'static str,
    limit: u64,
    remaining: u64,
    /// Seconds until the period ends.
    reset: u64,
    /// Length of the period, seconds.
    window: u64,
}

/// Why a quota refused.
enum QuotaError {
    Exhausted(QuotaState),
    Store(Error),
}

/// The current UTC day and month as stored period names, with the seconds left in each and
/// their lengths.
fn quota_periods(now: i64) -> Option<[(&'static str, String, u64, u64); 2]> {
    let t = time::OffsetDateTime::from_unix_timestamp(now).ok()?;
    let day = format!(
        "d:{:04}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    );
    let day_left = 86_400 - now.rem_euclid(86_400);
    let first = time::Date::from_calendar_date(t.year(), t.month(), 1).ok()?;
    let next = match t.month() {
        time::Month::December => {
            time::Date::from_calendar_date(t.year() + 1, time::Month::January, 1)
        }
        m => time::Date::from_calendar_date(t.year(), m.next(), 1),
    }
    .ok()?;
    let start = first.midnight().assume_utc().unix_timestamp();
    let end = next.midnight().assume_utc().unix_timestamp();
    let month = format!("m:{:04}-{:02}", t.year(), u8::from(t.month()));
    Some([
        ("daily", day, u64::try_from(day_left).ok()?, 86_400),
        (
            "monthly",
            month,
            u64::try_from(end - now).ok()?,
            u64::try_from(end - start).ok()?,
        ),
    ])
}

/// What one node counted of one API key's quota period: the total stored when it last
/// looked (`refreshed`), and what it admitted since (not yet added to the store).
#[derive(Debug, Clone, Copy)]
struct UsageCell {
    base: u64,
    local: u64,
    refreshed: Instant,
}

/// How stale a node's view of the stored quota usage may get: the flush refreshes busy
/// keys this often, and a key idle longer is read again before its next request.
const USAGE_FRESHNESS: Duration = Duration::from_secs(1);

fn ip_in(nets: &[IpNet], ip: Option<std::net::IpAddr>) -> bool {
    ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

impl Gateway {
    /// Builds the routes; the longest prefix wins.
    pub fn new(routes: &[RouteConfig], default_body_limit: usize) -> Result<Self, String> {
        let mut out = Vec::new();
        for r in routes {
            let upstreams = r
                .upstreams
                .iter()
                .map(|u| {
                    u.trim_end_matches('/')
                        .parse::<Uri>()
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
                limiter: Mutex::new(HashMap::new()),
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
                in_flight_per: (0..n).map(|_| AtomicUsize::new(0)).collect(),
                usage: Mutex::new(HashMap::new()),
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
            .build(connector);
        Ok(Self {
            routes: out,
            client,
            default_body_limit: u64::try_from(default_body_limit).unwrap_or(u64::MAX),
            redis: None,
        })
    }

    /// Counts a request against the quotas of `key_id` on `route`: every configured period
    /// must have room, then each is charged. Usage is read from the store the first time a
    /// node sees a key in a period, and added back by [`Gateway::flush_usage`].
    async fn charge_quota(
        &self,
        state: &AppState,
        route: &Route,
        key_id: &str,
        q: portcullis_core::config::QuotaConfig,
    ) -> Result<Vec<QuotaState>, QuotaError> {
        let Some(periods) = quota_periods(state.svc.now()) else {
            return Err(QuotaError::Store(Error::Internal(
                "clock out of range".into(),
            )));
        };
        let wanted: Vec<(&'static str, String, u64, u64, u64)> = periods
            .into_iter()
            .filter_map(|(name, period, left, window)| {
                let limit = if name == "daily" { q.daily } else { q.monthly }?;
                Some((name, period, limit, left, window))
            })
            .collect();
        for (_, period, ..) in &wanted {
            let cell_key = (key_id.to_owned(), period.clone());
            let fresh = route
                .usage
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&cell_key)
                .is_some_and(|c| c.local > 0 || c.refreshed.elapsed() < USAGE_FRESHNESS);
            if !fresh {
                let stored = state
                    .svc
                    .store()
                    .api_key_usage(key_id, &route.cfg.name, period)
                    .await
                    .map_err(|e| QuotaError::Store(e.into()))?;
                let mut usage = route
                    .usage
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let cell = usage.entry(cell_key).or_insert(UsageCell {
                    base: stored,
                    local: 0,
                    refreshed: Instant::now(),
                });
                // Counted here meanwhile: the flush will bring the total.
                if cell.local == 0 {
                    cell.base = stored;
                    cell.refreshed = Instant::now();
                }
            }
        }
        let mut usage = route
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut states = Vec::with_capacity(wanted.len());
        for (name, period, limit, left, window) in &wanted {
            let used = usage
                .get(&(key_id.to_owned(), period.clone()))
                .map_or(0, |c| c.base + c.local);
            let st = QuotaState {
                name,
                limit: *limit,
                remaining: limit.saturating_sub(used + 1),
                reset: *left,
                window: *window,
            };
            if used >= *limit {
                return Err(QuotaError::Exhausted(st));
            }
            states.push(st);
        }
        for (_, period, ..) in &wanted {
            usage
                .entry((key_id.to_owned(), period.clone()))
                .or_insert(UsageCell {
                    base: 0,
                    local: 0,
                    refreshed: Instant::now(),
                })
                .local += 1;
        }
        Ok(states)
    }

    /// Adds what this node counted to the stored quota usage and learns the totals (what
    /// the other nodes counted too); forgets periods that are over.
    pub async fn flush_usage(&self, store: &dyn portcullis_core::store::Store, now: i64) {
        let current: Vec<String> = quota_periods(now)
            .map(|p| p.into_iter().map(|(_, period, ..)| period).collect())
            .unwrap_or_default();
        for route in &self.routes {
            let pending: Vec<((String, String), u64)> = {
                let mut usage = route
                    .usage
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                usage.retain(|(_, period), c| c.local > 0 || current.contains(period));
                usage
                    .iter()
                    .filter(|(_, c)| c.local > 0)
                    .map(|(k, c)| (k.clone(), c.local))
                    .collect()
            };
            if pending.is_empty() {
                continue;
            }
            let rows: Vec<(String, String, String, u64)> = pending
                .iter()
                .map(|((key, period), n)| (key.clone(), route.cfg.name.clone(), period.clone(), *n))
                .collect();
            match store.add_api_key_usage(&rows).await {
                Ok(totals) => {
                    let mut usage = route
                        .usage
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    for ((k, n), total) in pending.into_iter().zip(totals) {
                        if let Some(c) = usage.get_mut(&k) {
                            c.local = c.local.saturating_sub(n);
                            c.base = total;
                            c.refreshed = Instant::now();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(route = %route.cfg.name, error = %e, "could not store quota usage; retrying");
                }
            }
        }
    }

    /// Talks TLS to the upstreams of route `name` with `config` (its roots, and its client
    /// certificate when the upstream asks for mTLS).
    pub fn with_upstream_tls(mut self, name: &str, mut config: rustls::ClientConfig) -> Self {
        // ALPN is the connector's to set (http/1.1, from enable_http1).
        config.alpn_protocols.clear();
        for r in self.routes.iter_mut().filter(|r| r.cfg.name == name) {
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(Duration::from_secs(5)));
            http.set_nodelay(true);
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            r.tls_client = Some(
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build(https),
            );
        }
        self
    }

    /// Sends a request to one of `route`'s upstreams.
    fn send(
        &self,
        route: &Route,
        req: axum::http::Request<Body>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        match &route.tls_client {
            Some(c) => c.request(req),
            None => self.client.request(req),
        }
    }

    /// Holds rate limits in Redis (`cluster.redis_url`), shared by every node.
    pub fn with_redis(mut self, url: &str) -> Result<Self, String> {
        self.redis = Some(Arc::new(crate::redis::Redis::new(url)?));
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

/// Checks who may use `route`; returns the principal to forward (none for `auth = none`).
async fn authorize(
    state: &AppState,
    route: &Route,
    req: &axum::http::request::Parts,
    ip: Option<std::net::IpAddr>,
) -> Result<Option<Principal>, Response> {
    let cfg = &route.cfg;
    if ip_in(&cfg.denied_ips, ip) || (!cfg.allowed_ips.is_empty() && !ip_in(&cfg.allowed_ips, ip)) {
        return Err(ApiError::from(Error::IpNotAllowed).into_response());
    }
    if let Some(country) =
        state
            .svc
            .country_refused(ip, &cfg.allowed_countries, &cfg.denied_countries)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!("Requests from this location ({country}) may not use this route."),
        )
        .into_response());
    }
    if !route.methods.is_empty() && !route.methods.contains(&req.method) {
        return Err(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("This route accepts {}.", cfg.methods.join(", ")),
        ));
    }
    // A public route neither needs nor checks credentials, and forwards no identity.
    if cfg.auth == RouteAuth::None {
        return Ok(None);
    }
    let p = match req.extensions.get::<KeyPrincipal>() {
        Some(k) => k.0.clone(),
        None => crate::extract::bearer(req)
            .and_then(|token| state.svc.authenticate(token))
            .map_err(|e| ApiError::from(e).into_response())?,
    };
    let kind_ok = match (&p.api_key, cfg.auth) {
        (_, RouteAuth::Any) => true,
        (None, RouteAuth::User) => true,
        (Some(g), RouteAuth::Mtls) => g.id.starts_with("mtls:"),
        (Some(g), RouteAuth::ApiKey) => !g.id.starts_with("mtls:"),
        _ => false,
    };
    if !kind_ok {
        return Err(ApiError::from(Error::Forbidden(format!(
            "This route needs {}.",
            match cfg.auth {
                RouteAuth::User => "a signed-in user",
                RouteAuth::ApiKey => "an API key",
                RouteAuth::Mtls => "a client certificate",
                _ => "credentials",
            }
        )))
        .into_response());
    }
    if p.api_key.is_none() && crate::extract::lacks_required_factor(state, &p) {
        return Err(ApiError::from(Error::MfaEnrollmentRequired).into_response());
    }
    if !cfg.roles.is_empty() && !cfg.roles.contains(&p.role) {
        return Err(ApiError::from(Error::Forbidden(format!(
            "This route is for the roles {}.",
            cfg.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .into_response());
    }
    if let Some(g) = &p.api_key {
        for scope in &cfg.scopes {
            g.require(scope)
                .map_err(|e| ApiError::from(e).into_response())?;
        }
    }
    if cfg.require_signature
        && !p
            .api_key
            .as_ref()
            .is_some_and(|g| g.signing != SigningMode::None)
    {
        return Err(ApiError::from(Error::InvalidSignature(
            "this route only accepts API keys that sign their requests (RFC 9421)".into(),
        ))
        .into_response());
    }
    Ok(Some(p))
}

fn identity_token(state: &AppState, route: &Route, p: &Principal) -> Result<String, Error> {
    let now = state.svc.now();
    // The same identity is reused for half its lifetime: signing is the expensive part.
    let cache_key = format!(
        "{}|{}|{}|{:?}|{}|{:?}",
        p.user_id,
        p.session_id,
        p.role.as_str(),
        p.api_key.as_ref().map(|g| (&g.id, &g.scopes)),
        p.auth_time,
        p.amr
    );
    if let Some((t, at)) = route
        .identities
        .lock()
        .ok()
        .and_then(|m| m.get(&cache_key).cloned())
        && now - at < IDENTITY_TTL / 2
    {
        return Ok(t);
    }
    let token = mint_identity(state, route, p, now)?;
    if let Ok(mut m) = route.identities.lock() {
        if m.len() >= 10_000 {
            m.clear();
        }
        m.insert(cache_key, (token.clone(), now));
    }
    Ok(token)
}

fn mint_identity(
    state: &AppState,
    route: &Route,
    p: &Principal,
    now: i64,
) -> Result<String, Error> {
    let issuer = state.svc.settings().issuer.clone();
    let jti: [u8; 16] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    let (kind, key_id, scopes) = match &p.api_key {
        Some(g) if g.id.starts_with("mtls:") => ("mtls", Some(g.id.clone()), g.scopes.clone()),
        Some(g) => ("api_key", Some(g.id.clone()), g.scopes.clone()),
        None => ("user", None, Vec::new()),
    };
    let claims = json!({
        "iss": issuer,
        "aud": format!("portcullis-route:{}", route.cfg.name),
        "sub": p.user_id,
        "iat": now,
        "exp": now + IDENTITY_TTL,
        "jti": hex::encode(jti),
        "role": p.role.as_str(),
        "auth": kind,
        "scopes": scopes,
        "key_id": key_id,
        "sid": (!p.session_id.is_empty()).then_some(&p.session_id),
        "amr": p.amr,
        "auth_time": p.auth_time,
    });
    state
        .svc
        .keyring
        .sign_value(&claims, "portcullis-identity+jwt", now)
}

/// The fallback handler: the gateway, or 404.
pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host());
    let Some(route) = state.gateway.route_for(host, req.uri().path()) else {
        return crate::routes::meta::not_found().await.into_response();
    };
    let started = Instant::now();
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
    let ctx = request_context(&parts, &state);
    let principal = match authorize(&state, route, &parts, ctx.ip).await {
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
            path: parts.uri.path(),
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
            _ => format!("ip:{}", ctx.ip.map(|i| i.to_string()).unwrap_or_default()),
        };
        policies.push(format!(
            "\"{}\";q={};w={}",
            cfg.name, rl.requests, rl.window_seconds
        ));
        match state
            .gateway
            .limit(route, &who, rl.requests, rl.window_seconds)
            .await
        {
            Gcra::Allow { remaining, reset } => {
                limits.push(format!("\"{}\";r={remaining};t={reset}", cfg.name));
            }
            Gcra::Deny { retry_after } => {
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
        match state
            .gateway
            .charge_quota(&state, route, &grant.id, q)
            .await
        {
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
    let limit = cfg
        .max_body_bytes
        .unwrap_or(state.gateway.default_body_limit);
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
    let Some(mut idx) = route.pick(None) else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "The upstream service is unavailable (circuit open); retry shortly.",
        );
    };
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
    // Headers: nothing hop-by-hop, nothing that could pose as the identity, no credentials
    // unless the route says so.
    let h = &mut parts.headers;
    strip_hop_by_hop(h);
    if let Some((proto, _)) = &upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, proto.clone());
    }
    let spoofable: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("x-portcullis-"))
        .cloned()
        .collect();
    for k in spoofable {
        h.remove(k);
    }
    if !cfg.forward_authorization {
        h.remove(header::AUTHORIZATION);
        h.remove("x-api-key");
    }
    h.remove(header::HOST);
    if let Some(ip) = ctx.ip {
        let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) if !state.web.trusted_proxies.is_empty() => format!("{prev}, {ip}"),
            _ => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            h.insert("x-forwarded-for", v);
        }
    }
    let proto = if state.web.hsts { "https" } else { "http" };
    h.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(p) = &principal {
        match identity_token(&state, route, p) {
            Ok(t) => {
                if let Ok(v) = HeaderValue::from_str(&t) {
                    h.insert(IDENTITY_HEADER, v);
                }
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    // A request without a body to an idempotent method can be sent again elsewhere when no
    // connection could be made (nothing reached the upstream).
    let replayable = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    ) && !parts.headers.contains_key(header::TRANSFER_ENCODING)
        && parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    let mut body = Some(Body::new(http_body_util::Limited::new(
        body,
        usize::try_from(limit).unwrap_or(usize::MAX),
    )));
    let mut attempt = 0;
    let res = loop {
        let Some(upstream) = route.upstreams.get(idx) else {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                "No upstream.",
            );
        };
        let base = upstream.path().trim_end_matches('/');
        let uri = match Uri::builder()
            .scheme(upstream.scheme_str().unwrap_or("http"))
            .authority(upstream.authority().map_or("", |a| a.as_str()))
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
        let counter = route.in_flight_per.get(idx);
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let sent = tokio::time::timeout(
            Duration::from_secs(cfg.timeout_seconds),
            state
                .gateway
                .send(route, axum::http::Request::from_parts(p, b)),
        )
        .await;
        if let Some(c) = counter {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(Ok(res)) => {
                let bad = matches!(res.status().as_u16(), 502..=504);
                route.record(idx, !bad);
                break res;
            }
            Ok(Err(e)) => {
                route.record(idx, false);
                tracing::warn!(route = %cfg.name, error = %e, "upstream request failed");
                if e.is_connect() && replayable && attempt < cfg.retries {
                    attempt += 1;
                    if let Some(next) = route.pick(Some(idx)) {
                        idx = next;
                        continue;
                    }
                }
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "The upstream service is unavailable.",
                );
            }
            Err(_) => {
                route.record(idx, false);
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "The upstream service did not answer in time.",
                );
            }
        }
    };
    let mut res = res;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some((proto, client_side)) = upgrade
    {
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
    Response::from_parts(rparts, Body::new(rbody))
}

/// Shared handle for the state.
pub type SharedGateway = Arc<Gateway>;

impl Gateway {
    /// Runs the active health checks of every route that has a `health_check_path`, until
    /// `stop` turns true.
    pub async fn health_checks(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self
            .routes
            .iter()
            .any(|r| r.cfg.health_check_path.is_some())
        {
            return;
        }
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
            ticks += 1;
            for route in &self.routes {
                let Some(path) = &route.cfg.health_check_path else {
                    continue;
                };
                if !ticks.is_multiple_of(route.cfg.health_check_interval_seconds.max(1)) {
                    continue;
                }
                for (i, up) in route.upstreams.iter().enumerate() {
                    let uri = format!(
                        "{}://{}{}{}",
                        up.scheme_str().unwrap_or("http"),
                        up.authority().map_or("", |a| a.as_str()),
                        up.path().trim_end_matches('/'),
                        path
                    );
                    let Ok(uri) = uri.parse::<Uri>() else {
                        continue;
                    };
                    let req = axum::http::Request::get(uri).body(Body::empty());
                    let ok = match req {
                        Ok(req) => matches!(
                            tokio::time::timeout(Duration::from_secs(2), self.send(route, req)).await,
                            Ok(Ok(res)) if res.status().is_success()
                        ),
                        Err(_) => false,
                    };
                    if let Some(h) = route.healthy.get(i) {
                        let was = h.swap(ok, Ordering::Relaxed);
                        if was != ok {
                            tracing::warn!(route = %route.cfg.name, upstream = %up, healthy = ok, "upstream health changed");
                        }
                    }
                }
            }
        }
    }
}
