//! One decision per request, after the edge guard has normalised the path: Portcullis's own
//! endpoints (the reserved prefixes) go to the API router and its middleware; everything
//! else goes straight into the gateway's pipeline (`portcullis_gateway::serve`), without the
//! router's matching and a boxed layer per step.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use tower::ServiceExt;

use portcullis_gateway::GatewayState;
use portcullis_http::Edge;

/// The service behind the edge guard.
#[derive(Clone)]
pub(crate) struct Dispatch {
    /// The API with its middleware.
    pub(crate) api: Router,
    /// The gateway's side.
    pub(crate) gateway: GatewayState,
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if portcullis_core::config::is_reserved_path(req.uri().path()) {
            let api = self.api.clone();
            Box::pin(api.oneshot(req))
        } else {
            let gateway = self.gateway.clone();
            Box::pin(async move { Ok(portcullis_gateway::serve(gateway, req).await) })
        }
    }
}

/// The whole HTTP application: the edge guard (framing, the one normalised path) in front
/// of the dispatch, so that routing itself sees the normalised path; gRPC clients get the
/// refusals in gRPC form.
pub(crate) fn router(edge: Edge, api: Router, gateway: GatewayState) -> Router {
    Router::new()
        .fallback_service(Dispatch { api, gateway })
        .layer(axum::middleware::from_fn_with_state(
            edge,
            portcullis_http::edge::guard,
        ))
        .layer(axum::middleware::from_fn(portcullis_http::grpc::refusals))
}
