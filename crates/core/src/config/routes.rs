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

/// Checks `[[routes]]`: names unique, prefixes, one route per host and prefix, countries
/// (which need a GeoIP database: `geoip`), upstream URLs, methods, limits and breakers.
pub(super) fn validate(routes: &[RouteConfig], geoip: bool) -> Result<(), ConfigError> {
    let mut route_names = std::collections::HashSet::new();
    let mut route_places = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        let valid_name = !r.name.is_empty()
            && r.name.len() <= 64
            && r.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name || !route_names.insert(r.name.as_str()) {
            return Err(bad(
                &key("name"),
                "unique, 1 to 64 letters, digits, `-` or `_`",
            ));
        }
        if !r.prefix.starts_with('/') || r.prefix.contains("..") || is_reserved_path(&r.prefix) {
            return Err(bad(
                &key("prefix"),
                "a path starting with `/`, outside /api/v1, /.well-known, /oauth2, /healthz, /readyz and /metrics",
            ));
        }
        // Requests are matched on their normalised path (escapes undone, `//`, `.` and `;`
        // parameters gone), so a prefix that is not in that form never matches: refused
        // rather than left to look like protection (black-box pass 12, B12-13).
        let segments_ok =
            r.prefix.split('/').skip(1).enumerate().all(|(n, seg)| {
                (!seg.is_empty() || n == 0 || r.prefix.ends_with('/')) && seg != "."
            });
        if r.prefix.contains(['%', ';', '\\', '?', '#'])
            || r.prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            || r.prefix.contains("//")
            || !segments_ok
        {
            return Err(bad(
                &key("prefix"),
                "a normalised path, as requests are matched: no %-escapes, `;`, `\\`, `?`, `#`, spaces, `//` or `.` segments",
            ));
        }
        if let Some(h) = &r.host
            && (h.is_empty()
                || h.contains(['/', '@', ' ', '\t'])
                || (h.contains(':') && !h.starts_with('[')))
        {
            return Err(bad(
                &key("host"),
                "a host name or address without a port (the port is not part of the match)",
            ));
        }
        // Routes are matched by host and prefix, the first in the file winning: a second
        // with the same would never be reached, and a public one placed before a
        // protected one took its traffic (black-box pass 11, B11-12).
        let place = (
            r.host
                .as_deref()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
            r.prefix.trim_end_matches('/'),
        );
        if !route_places.insert(place) {
            return Err(bad(
                &key("prefix"),
                "another route has this host and prefix; the first in the file would take all its requests",
            ));
        }
        if let Some(c) = r
            .allowed_countries
            .iter()
            .chain(&r.denied_countries)
            .find(|c| !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())))
        {
            return Err(bad(
                &key("allowed_countries"),
                format!("`{c}` is not an ISO 3166-1 alpha-2 code in capitals (e.g. `FR`)"),
            ));
        }
        if (!r.allowed_countries.is_empty() || !r.denied_countries.is_empty()) && !geoip {
            return Err(bad(
                &key("allowed_countries"),
                "country rules need `detection.geoip_city_db`",
            ));
        }
        if r.upstreams.is_empty()
            || r.upstreams.iter().any(|u| {
                !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("h2c://"))
                    || u.parse::<std::net::SocketAddr>().is_ok()
            })
        {
            return Err(bad(
                &key("upstreams"),
                "one or more http://host:port (HTTP/1.1), h2c://host:port (HTTP/2 without TLS) or https://host:port URLs",
            ));
        }
        // `user:password@`, a query and a fragment are never sent upstream (the request's
        // own path and query are), and a secret in them would show wherever the URL does:
        // metrics, `routes check` (black-box passes 11 and 12, B11-14 and B12-13).
        if r.upstreams.iter().any(|u| {
            u.contains(['?', '#'])
                || u.split_once("://")
                    .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
                    .is_some_and(|authority| authority.contains('@'))
        }) {
            return Err(bad(
                &key("upstreams"),
                "no user, password, query or fragment in an upstream URL (none is sent, and they would be shown in metrics and logs)",
            ));
        }
        // A host, and a port that can be one (black-box pass 13, B13-15: `http://:8080`,
        // port 0 and 99999 were taken, and failed each request).
        if let Some(u) = r.upstreams.iter().find(|u| {
            !u.split_once("://")
                .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
                .is_some_and(super::authority_ok)
        }) {
            return Err(bad(
                &key("upstreams"),
                format!("{u:?} needs a host, and a port from 1 to 65535 if it names one"),
            ));
        }
        if r.upstream_client_cert_file.is_some() != r.upstream_client_key_file.is_some() {
            return Err(bad(
                &key("upstream_client_cert"),
                "upstream_client_cert and upstream_client_key go together",
            ));
        }
        if r.methods
            .iter()
            .any(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(bad(
                &key("methods"),
                "upper-case HTTP methods, e.g. [\"GET\", \"POST\"]",
            ));
        }
        if r.timeout_seconds == 0 || r.timeout_seconds > 3600 {
            return Err(bad(&key("timeout_seconds"), "1 to 3600"));
        }
        if r.rate_limit
            .is_some_and(|l| l.requests == 0 || l.window_seconds == 0)
        {
            return Err(bad(
                &key("rate_limit"),
                "requests and window_seconds must be at least 1",
            ));
        }
        if r.quota.is_some_and(|q| {
            q.daily == Some(0) || q.monthly == Some(0) || (q.daily.is_none() && q.monthly.is_none())
        }) {
            return Err(bad(&key("quota"), "daily and/or monthly, each at least 1"));
        }
        if r.breaker_error_rate
            .is_some_and(|e| !(e > 0.0 && e <= 1.0) || r.breaker_window < 2)
        {
            return Err(bad(
                &key("breaker_error_rate"),
                "between 0 (exclusive) and 1, with breaker_window at least 2",
            ));
        }
        if r.max_concurrent == Some(0) || r.breaker_failures == 0 || r.retries > 5 {
            return Err(bad(
                &key("max_concurrent"),
                "max_concurrent and breaker_failures at least 1, retries at most 5",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Config;
    use super::*;

    /// Two routes with one host and prefix, and credentials in an upstream URL, are
    /// refused (black-box pass 11, B11-12 and B11-14); the same prefix on another host is
    /// another route.
    #[test]
    fn routes_are_unique_by_host_and_prefix_and_upstreams_carry_no_credentials() {
        let route = |name: &str, prefix: &str, host: Option<&str>, upstream: &str| -> RouteConfig {
            serde_json::from_value(serde_json::json!({
                "name": name, "prefix": prefix, "host": host, "upstreams": [upstream]
            }))
            .unwrap()
        };
        let with = |routes: Vec<RouteConfig>| Config {
            routes,
            ..Config::default()
        };
        let up = "http://127.0.0.1:8080";
        let ok = with(vec![
            route("a", "/adm", None, up),
            route("b", "/adm", Some("api.example"), up),
            route("c", "/adm/x", None, up),
        ]);
        assert_eq!(ok.validate(), Ok(()));
        for fine in [
            "h2c://127.0.0.1",
            "http://[::1]:8080/base",
            "https://api.example",
        ] {
            assert_eq!(
                with(vec![route("a", "/a", None, fine)]).validate(),
                Ok(()),
                "{fine}"
            );
        }
        for dup in [
            vec![route("a", "/adm", None, up), route("b", "/adm/", None, up)],
            vec![
                route("a", "/adm", Some("API.example."), up),
                route("b", "/adm", Some("api.example"), up),
            ],
        ] {
            assert_eq!(with(dup).validate().unwrap_err().key, "routes[1].prefix");
        }
        for creds in [
            "http://user:s3cret@127.0.0.1:8080",
            "https://user@api.example/x",
            "h2c://:p@127.0.0.1:9000",
            // No host, or a port that cannot be one (B13-15).
            "http://:8080",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "http://[::1]x",
        ] {
            assert_eq!(
                with(vec![route("a", "/a", None, creds)])
                    .validate()
                    .unwrap_err()
                    .key,
                "routes[0].upstreams",
                "{creds}"
            );
        }
        // Prefixes not in the normalised form requests are matched on, hosts with a port,
        // and queries in upstream URLs are refused (B12-13).
        for (prefix, host) in [
            ("/%61dm", None),
            ("//adm", None),
            ("/adm;", None),
            ("/adm ", None),
            ("/a/./b", None),
            ("/adm", Some("api.example:8443")),
        ] {
            let err = with(vec![route("a", prefix, host, up)])
                .validate()
                .unwrap_err();
            assert!(
                err.key == "routes[0].prefix" || err.key == "routes[0].host",
                "{prefix} {host:?}: {err:?}"
            );
        }
        for fine in ["/", "/adm/", "/api/v2"] {
            assert_eq!(
                with(vec![route("a", fine, None, up)]).validate(),
                Ok(()),
                "{fine}"
            );
        }
        assert_eq!(
            with(vec![route("a", "/a", Some("[::1]"), up)]).validate(),
            Ok(())
        );
        assert_eq!(
            with(vec![route(
                "a",
                "/a",
                None,
                "http://127.0.0.1:8080/x?token=s3cret"
            )])
            .validate()
            .unwrap_err()
            .key,
            "routes[0].upstreams"
        );
        // An `@` past the authority is a path's.
        assert_eq!(
            with(vec![route("a", "/a", None, "http://127.0.0.1:8080/@me")]).validate(),
            Ok(())
        );
    }
}
