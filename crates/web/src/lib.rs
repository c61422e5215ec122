//! The HTTP API of Portcullis: axum routers for the auth and admin APIs, the extractors that
//! establish who is calling, the single mapping from domain errors to RFC 9457 problems, and
//! the headers every response carries.

mod dto;
pub mod error;
mod extract;
mod openapi;
mod pages;
mod routes;
pub mod sealed;

pub use portcullis_http::{
    Edge, WebSettings, access_log, client_ip, edge, grpc, metrics, middleware, normalize,
    signatures,
};

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use openapi::openapi_json;

/// Shared state of every handler: one pointer, since every middleware layer clones it for
/// every request. It derefs to the [`Edge`] it shares with the gateway.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// What the API shares with the gateway.
    pub edge: Edge,
    /// The gateway's upstreams as `/metrics` shows them (the gateway in force, read per
    /// scrape).
    pub upstreams: Arc<dyn Fn() -> Vec<metrics::UpstreamState> + Send + Sync>,
}

impl AppState {
    /// The state of one server's API.
    pub fn new(
        edge: Edge,
        upstreams: Arc<dyn Fn() -> Vec<metrics::UpstreamState> + Send + Sync>,
    ) -> Self {
        Self(Arc::new(AppStateInner { edge, upstreams }))
    }

    /// What the API shares with the gateway.
    pub fn edge(&self) -> &Edge {
        &self.0.edge
    }
}

impl std::ops::Deref for AppState {
    type Target = Edge;

    fn deref(&self) -> &Edge {
        &self.0.edge
    }
}

/// Portcullis's own endpoints (the reserved prefixes) with the API's middleware. The server
/// puts the edge guard in front and sends everything else to the gateway.
pub fn api(state: AppState) -> Router {
    let edge = state.edge().clone();
    let max_body = state.web.max_body_bytes;
    Router::new()
        .merge(routes::auth::router())
        .merge(routes::mfa::router())
        .merge(routes::passkeys::router())
        .merge(routes::apikeys::router())
        .merge(routes::admin::router())
        .merge(routes::clients::router())
        .merge(routes::oauth::router())
        .merge(routes::oauth_pages::router())
        .merge(routes::oauth_account::router())
        .merge(routes::oauth_device::router())
        .merge(routes::oauth_logout::router())
        .merge(routes::oauth_register::router())
        .merge(routes::oauth_recovery::router())
        .merge(routes::oauth_upstream::router())
        .merge(routes::alerts::router())
        .merge(routes::meta::router())
        .merge(routes::gdpr::router())
        .merge(routes::detection::router())
        .merge(routes::approvals::router())
        .merge(routes::recovery::router())
        .merge(routes::console::router())
        .merge(routes::dashboard::router())
        .fallback(routes::meta::not_found)
        .method_not_allowed_fallback(routes::meta::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            signatures::api_keys,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            routes::console_signin::console_session,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            portcullis_http::waf::inspect_api,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            middleware::refuse_blocked,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            portcullis_http::cors::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            middleware::security_headers,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            middleware::body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            middleware::request_id,
        ))
        .with_state(state)
}

/// A registered client as `POST /api/v1/admin/clients` answers it, secret included (for
/// `portcullis clients create`, which prints the same JSON).
pub fn registered_client_json(r: portcullis_core::service::RegisteredClient) -> serde_json::Value {
    serde_json::to_value(dto::ClientBody::from(r)).unwrap_or_default()
}
