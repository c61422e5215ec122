//! The HTTP API of Portcullis: axum routers for the auth and admin APIs, the extractors that
//! establish who is calling, the single mapping from domain errors to RFC 9457 problems, and
//! the headers every response carries.

pub mod access_log;
pub mod client_ip;
mod dispatch;
mod dto;
pub mod edge;
pub mod error;
mod extract;
pub mod gateway;
pub mod grpc;
pub mod metrics;
mod middleware;
pub mod normalize;
mod openapi;
pub mod policy;
pub mod redis;
mod routes;
pub mod sealed;
pub mod signatures;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ipnet::IpNet;
use portcullis_core::config::Config;
use portcullis_core::model::Role;
use portcullis_core::service::Services;

pub use openapi::openapi_json;

/// Web-layer settings, derived once from the configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header they write.
    pub forwarded_header: portcullis_core::config::ForwardedHeader,
    /// Who may call the admin API.
    pub admin_allowed_ips: Vec<IpNet>,
    /// Roles that need a second factor in their token.
    pub mfa_required_for_roles: Vec<Role>,
    /// Send HSTS.
    pub hsts: bool,
    /// Public base URL.
    pub public_url: String,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Longest pause in a request body.
    pub body_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// security.txt `Contact:` lines.
    pub security_contacts: Vec<String>,
    /// security.txt expiry, days ahead.
    pub security_expires_days: u32,
    /// security.txt `Policy:`.
    pub security_policy: Option<String>,
    /// security.txt `Preferred-Languages:`.
    pub security_languages: Option<String>,
    /// Shares needed to unseal, when the master key is split (for the seal status).
    pub shamir_threshold: Option<u8>,
    /// `log.access`: one access line per request, off the request path.
    pub access_log: bool,
    /// `log.access_sample`: the share of successful requests logged.
    pub access_sample: f64,
}

impl WebSettings {
    /// Takes what the web layer needs from the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self {
            trusted_proxies: c.server.trusted_proxies.clone(),
            forwarded_header: c.server.forwarded_header,
            admin_allowed_ips: c.admin.allowed_ips.clone(),
            mfa_required_for_roles: c.auth.mfa_required_for_roles.clone(),
            hsts: c.is_https(),
            public_url: c.server.public_url.clone(),
            max_body_bytes: c.server.max_body_bytes,
            request_timeout: Duration::from_secs(c.server.request_timeout_seconds),
            body_timeout: Duration::from_secs(c.server.body_timeout_seconds),
            max_header_bytes: c.server.max_header_bytes,
            security_contacts: c.security_txt.contact.clone(),
            security_expires_days: c.security_txt.expires_days,
            security_policy: c.security_txt.policy.clone(),
            security_languages: c.security_txt.preferred_languages.clone(),
            shamir_threshold: None,
            access_log: c.log.access,
            access_sample: c.log.access_sample,
        }
    }
}

/// Shared state of every handler: one pointer, since every middleware layer clones it for
/// every request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// Domain services.
    pub svc: Arc<Services>,
    /// Web settings.
    pub web: Arc<WebSettings>,
    /// The gateway in force (routes and upstream clients), swapped whole on reload.
    pub gateway: gateway::LiveGateway,
    /// The access log's queue to its writer thread.
    pub access: Arc<access_log::AccessLog>,
    /// What `/metrics` counts.
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// The state of one server.
    pub fn new(
        svc: Arc<Services>,
        web: Arc<WebSettings>,
        gateway: gateway::LiveGateway,
        metrics: Arc<metrics::Metrics>,
    ) -> Self {
        let access = Arc::new(access_log::AccessLog::start(
            web.access_log,
            web.access_sample,
        ));
        Self(Arc::new(AppStateInner {
            svc,
            web,
            gateway,
            access,
            metrics,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The whole HTTP application: the edge guard (framing, the one normalised path) in front
/// of the dispatch, so that routing itself sees the normalised path; then Portcullis's own
/// endpoints go to the API router, everything else to the gateway's pipeline.
pub fn router(state: AppState) -> Router {
    let api = routes(state.clone());
    Router::new()
        .fallback_service(dispatch::Dispatch {
            api,
            state: state.clone(),
        })
        .layer(axum::middleware::from_fn_with_state(state, edge::guard))
        .layer(axum::middleware::from_fn(grpc::refusals))
}

fn routes(state: AppState) -> Router {
    let max_body = state.web.max_body_bytes;
    Router::new()
        .merge(routes::auth::router())
        .merge(routes::mfa::router())
        .merge(routes::passkeys::router())
        .merge(routes::apikeys::router())
        .merge(routes::admin::router())
        .merge(routes::alerts::router())
        .merge(routes::meta::router())
        .merge(routes::gdpr::router())
        .merge(routes::detection::router())
        .merge(routes::approvals::router())
        .fallback(routes::meta::not_found)
        .method_not_allowed_fallback(routes::meta::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signatures::api_keys,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::refuse_blocked,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::request_id,
        ))
        .with_state(state)
}
