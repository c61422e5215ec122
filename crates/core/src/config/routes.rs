//! `[[routes]]`: the gateway's routes, their limits, quotas and balancing.

use super::*;

/// Who may use a gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    /// Anyone; no identity is forwarded.
    None,
    /// A signed-in user (access token).
    User,
    /// An API key.
    ApiKey,
    /// A client certificate mapped to a service account.
    Mtls,
    /// Any of the three.
    #[default]
    Any,
}

/// One `[[routes]]` entry: requests whose path starts with `prefix` go to `upstreams`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Unique name; the audience of the forwarded identity token. Also `id`.
    #[serde(alias = "id")]
    pub name: String,
    /// Path prefix (`/payments`); Portcullis's own endpoints always win.
    pub prefix: String,
    /// Only requests for this host (the `Host` header, without port; case-insensitive).
    pub host: Option<String>,
    /// `http://host:port[/base]` (HTTP/1.1), `h2c://` (HTTP/2 prior knowledge) or
    /// `https://` (TLS; h2 by ALPN, else HTTP/1.1) upstreams, used round-robin.
    pub upstreams: Vec<String>,
    /// `none`, `user`, `api_key`, `mtls` or `any` (default).
    pub auth: RouteAuth,
    /// Roles allowed (empty: any).
    pub roles: Vec<Role>,
    /// Scopes an API key or service certificate must carry (all of them).
    pub scopes: Vec<String>,
    /// Only API keys that sign their requests (RFC 9421).
    pub require_signature: bool,
    /// Client IPs allowed (CIDRs, after the trusted-proxy rule; empty: any).
    pub allowed_ips: Vec<IpNet>,
    /// Client IPs refused.
    pub denied_ips: Vec<IpNet>,
    /// Countries (ISO 3166-1 alpha-2, from `detection.geoip_city_db`) allowed; empty: any.
    /// An address the database cannot place is refused when this is set.
    pub allowed_countries: Vec<String>,
    /// Countries refused.
    pub denied_countries: Vec<String>,
    /// Methods allowed (empty: any).
    pub methods: Vec<String>,
    /// Largest request body forwarded (default: `server.max_body_bytes`).
    pub max_body_bytes: Option<u64>,
    /// Upstream response deadline (headers), seconds.
    pub timeout_seconds: u64,
    /// Remove `prefix` from the path sent upstream.
    pub strip_prefix: bool,
    /// Pass the client's `Authorization` / `X-API-Key` through (default: stripped).
    pub forward_authorization: bool,
    /// `{requests, window_seconds, by = "principal" | "ip"}`: a GCRA limit per caller.
    pub rate_limit: Option<RateLimitConfig>,
    /// `{daily, monthly}`: requests each API key may make on this route per UTC day and
    /// per calendar month (UTC); 429 `rate_limited` until the period ends.
    pub quota: Option<QuotaConfig>,
    /// Requests in flight to each upstream at most (503 `upstream_unavailable` beyond).
    pub max_concurrent: Option<u32>,
    /// Consecutive failures (connect errors, timeouts, 502/503/504) that open an
    /// upstream's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses before one probe may pass.
    pub breaker_cooldown_seconds: u64,
    /// Also open when at least this share (0 to 1) of an upstream's last
    /// `breaker_window` requests failed.
    pub breaker_error_rate: Option<f64>,
    /// How many of an upstream's latest requests the error rate is taken over.
    pub breaker_window: u32,
    /// Retries on another upstream when a connection could not be made (only for
    /// idempotent methods without a body).
    pub retries: u32,
    /// RFC 9745 `Deprecation` (Unix time the route was deprecated).
    pub deprecated_at: Option<i64>,
    /// RFC 8594 `Sunset` (Unix time the route goes away).
    pub sunset_at: Option<i64>,
    /// Cedar policies (text) deciding who may do what on this route; without a permit that
    /// applies, the request is denied.
    pub policy: Option<String>,
    /// The same, read from a file.
    pub policy_file: Option<PathBuf>,
    /// `round_robin` (default) or `least_requests`.
    pub balance: Balance,
    /// A path each upstream answers 2xx on when healthy; checked every
    /// `health_check_interval_seconds`, unhealthy upstreams get no traffic.
    pub health_check_path: Option<String>,
    /// Seconds between active health checks.
    pub health_check_interval_seconds: u64,
    /// Pass protocol upgrades (WebSocket) through to the upstream.
    pub websocket: bool,
    /// `https://` upstreams: PEM CA certificates their server certificates must chain to
    /// (default: the system's roots). Also `upstream_ca`.
    #[serde(alias = "upstream_ca")]
    pub upstream_ca_file: Option<PathBuf>,
    /// mTLS to the upstreams: the gateway's client certificate (PEM chain), e.g. from
    /// `portcullis ca issue`. Also `upstream_client_cert`.
    #[serde(alias = "upstream_client_cert")]
    pub upstream_client_cert_file: Option<PathBuf>,
    /// Its private key (PEM). Also `upstream_client_key`.
    #[serde(alias = "upstream_client_key")]
    pub upstream_client_key_file: Option<PathBuf>,
    /// `{mode, paranoia, ...}`: this route's request inspection, over `[waf]`.
    pub waf: Option<RouteWafConfig>,
    /// `{mode, allow}`: this route's data loss prevention, over `[dlp]`.
    pub dlp: Option<RouteDlpConfig>,
}

/// How a route spreads requests over its upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// In turn.
    #[default]
    RoundRobin,
    /// The upstream with the fewest requests in flight.
    LeastRequests,
}

/// What a route's rate limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBy {
    /// The authenticated principal (user, API key or service), else the client IP.
    #[default]
    Principal,
    /// The client IP.
    Ip,
    /// The API key (requests without one: the client IP).
    ApiKey,
}

/// Quotas per API key on a route.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests per UTC day.
    #[serde(default)]
    pub daily: Option<u64>,
    /// Requests per calendar month (UTC).
    #[serde(default)]
    pub monthly: Option<u64>,
}

/// A GCRA rate limit: `requests` per `window_seconds`, bursts up to `requests`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, seconds.
    pub window_seconds: u32,
    /// Counted per principal (default), per API key or per client IP. Also `key`.
    #[serde(default, alias = "key")]
    pub by: RateLimitBy,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            prefix: String::new(),
            host: None,
            upstreams: Vec::new(),
            auth: RouteAuth::Any,
            roles: Vec::new(),
            scopes: Vec::new(),
            require_signature: false,
            allowed_ips: Vec::new(),
            denied_ips: Vec::new(),
            allowed_countries: Vec::new(),
            denied_countries: Vec::new(),
            methods: Vec::new(),
            max_body_bytes: None,
            timeout_seconds: 30,
            strip_prefix: false,
            forward_authorization: false,
            rate_limit: None,
            quota: None,
            max_concurrent: None,
            breaker_failures: 5,
            breaker_cooldown_seconds: 10,
            breaker_error_rate: None,
            breaker_window: 20,
            retries: 1,
            deprecated_at: None,
            sunset_at: None,
            policy: None,
            policy_file: None,
            balance: Balance::RoundRobin,
            health_check_path: None,
            health_check_interval_seconds: 5,
            websocket: false,
            upstream_ca_file: None,
            upstream_client_cert_file: None,
            upstream_client_key_file: None,
            waf: None,
            dlp: None,
        }
    }
}
