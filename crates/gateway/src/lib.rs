//! The identity-aware gateway: requests outside Portcullis's own endpoints that match a
//! `[[routes]]` prefix are authenticated, authorised (mode, roles, scopes, signature, IP and
//! method rules, Cedar) and proxied to the route's upstreams, carrying
//! `X-Portcullis-Identity`, a short-lived EdDSA JWT the upstream verifies with the JWKS.
//! Bodies stream both ways.
//!
//! A request runs through phases, one module each, in the order [`pipeline`] calls them
//! (the phases of pingora's `ProxyHttp`): [`route`] (host and prefix on the normalised
//! path) → [`early`] (bans, deny lists, IP, country and method rules) → [`authenticate`] →
//! [`authorize`] (roles, scopes, signature, Cedar) → [`limits`] (GCRA) → [`quota`] →
//! [`inspect`] (the request hooks) → [`upstream`] (balancer, health, breaker, concurrency)
//! → [`forward`] (header hygiene, identity token, the upstream call) → [`respond`]
//! (response headers and the response hooks) → [`log`].
//!
//! The configuration compiles at start (and on reload) into plain route data ([`Route`])
//! and per-phase state that each phase owns, indexed by the route's position: the limiter
//! owns the GCRA cells, the balancer the breakers and health, the quota the usage cells.

// A phase that refuses answers with the response itself: `Result<_, Response>` on the
// refusal path (rare) costs a larger return slot, boxing it would cost an allocation.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use portcullis_core::config::RouteConfig;
use portcullis_http::Edge;

mod authenticate;
mod authorize;
mod body;
mod breaker;
mod early;
mod forward;
mod headers;
mod identity;
pub mod inspect;
mod limits;
mod live;
mod log;
mod pipeline;
pub mod policy;
mod quota;
pub mod redis;
mod respond;
mod route;
mod upstream;

pub use inspect::{Inspector, Verdict};
pub use live::{LiveGateway, health_checks};
pub use pipeline::serve;
pub use portcullis_http::grpc::Proxied;
pub use portcullis_http::metrics::UpstreamState;
pub use route::Route;

/// The header carrying the forwarded identity.
pub const IDENTITY_HEADER: &str = "x-portcullis-identity";

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

/// The compiled routes, and the state each phase keeps for them (indexed by route).
pub struct Gateway {
    routes: Vec<Route>,
    default_body_limit: u64,
    /// `portcullis_connections_open`: a WebSocket tunnel counts as the connection it was.
    connections_open: portcullis_http::metrics::Gauge,
    limits: limits::Limits,
    quota: quota::Quotas,
    upstreams: upstream::Balancer,
    forward: forward::Clients,
    identities: identity::Identities,
    denials: authorize::Denials,
    inspectors: inspect::Inspectors,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Compiles the routes (hosts first, then the longest prefix) and their phase state.
    /// `metrics`: where the routes count their requests (the same series across reloads).
    pub fn new(
        routes: &[RouteConfig],
        default_body_limit: usize,
        metrics: &portcullis_http::metrics::Metrics,
    ) -> Result<Self, String> {
        let mut sorted: Vec<&RouteConfig> = routes.iter().collect();
        // Routes for a host before routes for any host, then the longest prefix first.
        sorted.sort_by_key(|r| (r.host.is_none(), std::cmp::Reverse(r.prefix.len())));
        let routes = sorted
            .into_iter()
            .enumerate()
            .map(|(i, r)| Route::compile(i, r, metrics))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            limits: limits::Limits::new(routes.len()),
            quota: quota::Quotas::new(routes.len()),
            upstreams: upstream::Balancer::new(&routes),
            forward: forward::Clients::new(routes.len()),
            identities: identity::Identities::new(routes.len()),
            denials: authorize::Denials::new(routes.len()),
            inspectors: inspect::Inspectors::default(),
            routes,
            default_body_limit: u64::try_from(default_body_limit).unwrap_or(u64::MAX),
            connections_open: metrics.connections().open,
        })
    }

    /// Talks TLS to the upstreams of route `name` with `config` (its roots, and its client
    /// certificate when the upstream asks for mTLS). h2 is offered by ALPN, http/1.1 as the
    /// fallback; a WebSocket route speaks HTTP/1.1 only, since its upgrade needs it.
    pub fn with_upstream_tls(mut self, name: &str, config: rustls::ClientConfig) -> Self {
        for r in self.routes.iter().filter(|r| r.cfg.name == name) {
            self.forward.use_tls(r, config.clone());
        }
        self
    }

    /// Holds rate limits in Redis (`cluster.redis_url`), shared by every node.
    /// `ca`: the PEM CA a `rediss://` server's certificate must chain to (default: the
    /// system's roots).
    pub fn with_redis(mut self, url: &str, ca: Option<Vec<u8>>) -> Result<Self, String> {
        self.limits.share(Arc::new(redis::Redis::new(url, ca)?));
        Ok(self)
    }

    /// Adds a request and response inspector (the WAF and DLP hooks): it sees every request
    /// of every route after the limits, and every response before it leaves.
    pub fn with_inspector(mut self, inspector: Arc<dyn Inspector>) -> Self {
        self.inspectors.add(inspector);
        self
    }

    /// Connects to Redis (when limits are shared) before the first request needs it; see
    /// [`redis::Redis::warm`]. Errors are logged there and the node limits on its own.
    pub async fn warm_redis(&self) {
        if let Some(redis) = self.limits.redis() {
            let _ = redis.warm().await;
        }
    }

    /// Whether rate limits are shared right now: Redis is configured and answering.
    pub fn limits_shared(&self) -> Option<bool> {
        self.limits.shared()
    }

    /// Adds what this node counted to the stored quota usage and learns the totals (what
    /// the other nodes counted too); forgets periods that are over.
    pub async fn flush_usage(&self, store: &dyn portcullis_core::store::Store, now: i64) {
        self.quota.flush(&self.routes, store, now).await;
    }
}

/// A route's methods, parsed once.
fn methods(r: &RouteConfig) -> Result<Vec<Method>, String> {
    r.methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes())
                .map_err(|e| format!("routes `{}`: method `{m}`: {e}", r.name))
        })
        .collect()
}

/// How long an upstream has to answer, and to keep sending.
fn upstream_timeout(r: &Route) -> Duration {
    Duration::from_secs(r.cfg.timeout_seconds)
}
