//! What `/metrics` counts as things happen, with the official Prometheus client: gateway
//! requests by route and status class, their latency, rate-limit and quota refusals, and
//! the auth server's sign-ins, second factors and refreshes. Values read at scrape time
//! (the audit log, upstream health, breakers) are added by the handler.
//!
//! A route's counters are looked up once, when its gateway is built, so that a request
//! only touches atomics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label pairs.
pub type Labels = Vec<(&'static str, String)>;

/// The status classes a route's requests are counted by.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The reasons a route's refusals are counted by.
const REFUSALS: [&str; 3] = ["rate_limit", "quota", "concurrency"];

/// Latency buckets, seconds: from a fast local upstream to the default route timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Client connections, as the connection loop keeps them.
#[derive(Debug, Clone, Default)]
pub struct ConnectionGauges {
    /// Connections open (HTTP/1.1 and HTTP/2, plain and TLS; a WebSocket tunnel counts as
    /// the connection it was).
    pub open: Gauge,
    /// Idle HTTP/1.1 keep-alive connections parked without their buffers.
    pub parked: Gauge,
}

/// One held in a gauge for as long as it lives (a connection, a tunnel).
pub struct Counted<'a>(&'a Gauge);

impl<'a> Counted<'a> {
    /// Adds one to `g`; dropping it takes the one off.
    pub fn new(g: &'a Gauge) -> Self {
        g.inc();
        Self(g)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Every long-lived metric of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    gateway_requests: Family<Labels, Counter>,
    gateway_latency: Family<Labels, Histogram, fn() -> Histogram>,
    gateway_refusals: Family<Labels, Counter>,
    signins: Family<Labels, Counter>,
    second_factors: Family<Labels, Counter>,
    refreshes: Family<Labels, Counter>,
    waf: Family<Labels, Counter>,
    dlp: Family<Labels, Counter>,
    connections: ConnectionGauges,
    /// The routes that have series, to take away those a reload removed.
    routes: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let gateway_requests = Family::<Labels, Counter>::default();
        let gateway_latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency as fn() -> Histogram,
        );
        let gateway_refusals = Family::<Labels, Counter>::default();
        let signins = Family::<Labels, Counter>::default();
        let second_factors = Family::<Labels, Counter>::default();
        let refreshes = Family::<Labels, Counter>::default();
        let waf = Family::<Labels, Counter>::default();
        let dlp = Family::<Labels, Counter>::default();
        let connections = ConnectionGauges::default();
        registry.register(
            "portcullis_connections_open",
            "Client connections open (HTTP/1.1 and HTTP/2, and WebSocket tunnels of connections that upgraded).",
            connections.open.clone(),
        );
        registry.register(
            "portcullis_connections_parked",
            "Idle HTTP/1.1 keep-alive connections parked: the socket kept, its buffers freed until the client sends again.",
            connections.parked.clone(),
        );
        registry.register(
            "portcullis_waf_requests",
            "Requests request inspection blocked or flagged, by the category of each counted rule that matched and the action (blocked, flagged).",
            waf.clone(),
        );
        registry.register(
            "portcullis_dlp_matches",
            "Responses in which data loss prevention found something, by detector and action (detect, mask, block).",
            dlp.clone(),
        );
        registry.register(
            "portcullis_gateway_requests",
            "Requests a gateway route answered, by status class (1xx..5xx).",
            gateway_requests.clone(),
        );
        registry.register(
            "portcullis_gateway_request_duration_seconds",
            "Time from a route's request to its response headers.",
            gateway_latency.clone(),
        );
        registry.register(
            "portcullis_gateway_refusals",
            "Requests a route refused for a limit: rate_limit, quota or concurrency.",
            gateway_refusals.clone(),
        );
        registry.register(
            "portcullis_auth_signins",
            "Sign-ins by method (password, passkey): success, second_factor (asked for next) or failure.",
            signins.clone(),
        );
        registry.register(
            "portcullis_auth_second_factors",
            "Second-factor verifications at sign-in: success or failure.",
            second_factors.clone(),
        );
        registry.register(
            "portcullis_auth_refreshes",
            "Refresh-token exchanges: success or failure.",
            refreshes.clone(),
        );
        Self {
            registry,
            gateway_requests,
            gateway_latency,
            gateway_refusals,
            signins,
            second_factors,
            refreshes,
            waf,
            dlp,
            connections,
            routes: std::sync::Mutex::default(),
        }
    }

    /// The connection gauges, for the connection loop.
    pub fn connections(&self) -> ConnectionGauges {
        self.connections.clone()
    }

    /// Request inspection blocked or flagged a request: once per category of its counted
    /// findings.
    pub fn waf(&self, categories: &[&str], action: &str) {
        for c in categories {
            self.waf
                .get_or_create(&vec![
                    ("category", (*c).to_owned()),
                    ("action", action.to_owned()),
                ])
                .inc();
        }
    }

    /// DLP found `detector` in a response and did `action`.
    pub fn dlp(&self, detector: &str, action: &str) {
        self.dlp
            .get_or_create(&vec![
                ("detector", detector.to_owned()),
                ("action", action.to_owned()),
            ])
            .inc();
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Takes away the series of every route but `kept` (after a reload removed some): a
    /// route that is gone no longer shows in `/metrics` (black-box pass 11's notes).
    pub fn keep_routes(&self, kept: &[String]) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let gone: Vec<String> = routes
            .iter()
            .filter(|r| !kept.contains(r))
            .cloned()
            .collect();
        for name in gone {
            let with = |k: &'static str, v: &str| vec![("route", name.clone()), (k, v.to_owned())];
            for class in CLASSES {
                self.gateway_requests.remove(&with("class", class));
            }
            for reason in REFUSALS {
                self.gateway_refusals.remove(&with("reason", reason));
            }
            self.gateway_latency.remove(&vec![("route", name.clone())]);
            routes.remove(&name);
        }
    }

    /// The counters and histogram of route `name`.
    pub fn route(&self, name: &str) -> RouteMetrics {
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(name.to_owned());
        }
        // One lookup a statement: each holds a read lock of its family until the statement
        // ends, and a lookup that creates takes the write lock.
        let with = |k: &'static str, v: &str| vec![("route", name.to_owned()), (k, v.to_owned())];
        let refused = |reason: &str| {
            self.gateway_refusals
                .get_or_create(&with("reason", reason))
                .clone()
        };
        let by_class = CLASSES.map(|class| {
            self.gateway_requests
                .get_or_create(&with("class", class))
                .clone()
        });
        let latency = self
            .gateway_latency
            .get_or_create(&vec![("route", name.to_owned())])
            .clone();
        let rate_limited = refused("rate_limit");
        let quota_exhausted = refused("quota");
        let concurrency = refused("concurrency");
        RouteMetrics {
            by_class,
            latency,
            rate_limited,
            quota_exhausted,
            concurrency,
        }
    }

    /// A sign-in by `method` (password, passkey) ended with `outcome`.
    pub fn signin(&self, method: &'static str, outcome: &'static str) {
        self.signins
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// A second factor at sign-in was verified (`ok`) or not.
    pub fn second_factor(&self, ok: bool) {
        self.second_factors
            .get_or_create(&vec![("outcome", outcome(ok))])
            .inc();
    }

    /// A refresh token was exchanged (`ok`) or refused.
    pub fn refresh(&self, ok: bool) {
        self.refreshes
            .get_or_create(&vec![("outcome", outcome(ok))])
            .inc();
    }
}

fn outcome(ok: bool) -> String {
    if ok { "success" } else { "failure" }.to_owned()
}

/// One route's handles on the gateway metrics: counting a request touches atomics only.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    by_class: [Counter; 5],
    latency: Histogram,
    /// Refused by the route's rate limit.
    pub rate_limited: Counter,
    /// Refused because the API key's quota is spent.
    pub quota_exhausted: Counter,
    /// Refused because the upstream has `max_concurrent` requests in flight.
    pub concurrency: Counter,
}

impl Default for RouteMetrics {
    /// Counters that belong to no registry (a gateway built without metrics).
    fn default() -> Self {
        Self {
            by_class: Default::default(),
            latency: latency(),
            rate_limited: Counter::default(),
            quota_exhausted: Counter::default(),
            concurrency: Counter::default(),
        }
    }
}

impl RouteMetrics {
    /// Counts one answered request.
    pub fn answered(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = self.by_class.get(class) {
            c.inc();
        }
        self.latency.observe(seconds);
    }
}

/// What `/metrics` shows of one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamState {
    /// The route's name.
    pub route: String,
    /// The upstream's URL.
    pub upstream: String,
    /// Whether its last health check passed (true without health checks).
    pub healthy: bool,
    /// Its circuit breaker: 0 closed, 1 half-open, 2 open.
    pub breaker: u8,
    /// Requests in flight to it.
    pub in_flight: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_of_removed_routes_are_taken_away() {
        let m = Metrics::new();
        m.route("a").answered(200, 0.01);
        m.route("b").answered(503, 0.01);
        m.keep_routes(&["a".to_owned()]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, m.registry()).unwrap();
        assert!(text.contains("route=\"a\""), "{text}");
        assert!(!text.contains("route=\"b\""), "{text}");
    }

    fn text(m: &Metrics) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, m.registry());
        out
    }

    #[test]
    fn route_counters_share_the_family() {
        let m = Metrics::new();
        let a = m.route("api");
        a.answered(200, 0.003);
        a.answered(204, 0.002);
        a.answered(503, 0.5);
        a.rate_limited.inc();
        // A second handle (a reloaded gateway) counts on in the same series.
        m.route("api").answered(404, 0.001);
        let t = text(&m);
        assert!(
            t.contains("portcullis_gateway_requests_total{route=\"api\",class=\"2xx\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_gateway_requests_total{route=\"api\",class=\"5xx\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_gateway_requests_total{route=\"api\",class=\"4xx\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_gateway_refusals_total{route=\"api\",reason=\"rate_limit\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_gateway_request_duration_seconds_count{route=\"api\"} 4"),
            "{t}"
        );
        assert!(
            t.contains(
                "portcullis_gateway_request_duration_seconds_bucket{le=\"0.0025\",route=\"api\"} 2"
            ),
            "{t}"
        );
        assert!(t.ends_with("# EOF\n"), "{t}");
    }

    #[test]
    fn auth_counters() {
        let m = Metrics::new();
        m.signin("password", "success");
        m.signin("password", "failure");
        m.signin("password", "failure");
        m.signin("passkey", "success");
        m.refresh(true);
        m.second_factor(false);
        let t = text(&m);
        assert!(
            t.contains("portcullis_auth_signins_total{method=\"password\",outcome=\"failure\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_auth_refreshes_total{outcome=\"success\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_auth_second_factors_total{outcome=\"failure\"} 1"),
            "{t}"
        );
    }

    #[test]
    fn inspection_counters() {
        let m = Metrics::new();
        m.waf(&["sqli", "xss"], "blocked");
        m.waf(&["sqli"], "flagged");
        m.dlp("card", "mask");
        let t = text(&m);
        assert!(
            t.contains("portcullis_waf_requests_total{category=\"sqli\",action=\"blocked\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_waf_requests_total{category=\"sqli\",action=\"flagged\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_dlp_matches_total{detector=\"card\",action=\"mask\"} 1"),
            "{t}"
        );
    }

    #[test]
    fn statuses_fall_in_their_class() {
        let r = RouteMetrics::default();
        for s in [101, 200, 302, 404, 500, 599] {
            r.answered(s, 0.0);
        }
        assert_eq!(r.by_class.each_ref().map(Counter::get), [1, 1, 1, 1, 2]);
    }
}
