//! One service in front of everything, one decision per request: the edge guard's checks
//! and path normalisation first (so that routing sees the normalised path), then
//! Portcullis's own endpoints (the reserved prefixes) to the API router and its middleware,
//! and everything else straight into the gateway's pipeline (`portcullis_gateway::serve`),
//! without the router's matching and a boxed layer per step; gRPC clients get Portcullis's
//! own refusals in gRPC form. Plain calls in one future: the two steps were `from_fn`
//! layers, each a boxed future and a clone of the service behind it per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use tower::ServiceExt;

use portcullis_gateway::GatewayState;
use portcullis_http::Edge;

/// The front service.
#[derive(Clone)]
pub(crate) struct Dispatch {
    /// Framing limits, normalisation.
    edge: Edge,
    /// The API with its middleware.
    api: Router,
    /// The gateway's side.
    gateway: GatewayState,
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let grpc = portcullis_http::grpc::grpc_content_type(req.headers());
        if req.method() == Method::HEAD {
            let answer = self.call_inner(req, grpc);
            return Box::pin(async move { answer.await.map(headless) });
        }
        self.call_inner(req, grpc)
    }
}

/// The answer to a HEAD request: its head only (RFC 9110 section 9.3.2). HTTP/1.1 drops a
/// body there itself; HTTP/2 sent the gateway's own refusals' problem documents as DATA,
/// which clients reset the stream for.
fn headless(res: Response) -> Response {
    let (parts, _) = res.into_parts();
    Response::from_parts(parts, Body::empty())
}

impl Dispatch {
    fn call_inner(
        &mut self,
        req: Request,
        grpc: Option<axum::http::HeaderValue>,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>> {
        match portcullis_http::edge::admit(&self.edge, req) {
            Err(refused) => {
                Box::pin(
                    async move { Ok(portcullis_http::grpc::in_grpc_form(grpc, *refused).await) },
                )
            }
            Ok(req) if portcullis_core::config::is_reserved_path(req.uri().path()) => {
                let api = self.api.clone();
                Box::pin(async move {
                    let res = api.oneshot(req).await.unwrap_or_else(|e| match e {});
                    Ok(portcullis_http::grpc::in_grpc_form(grpc, res).await)
                })
            }
            Ok(req) => {
                let gateway = self.gateway.clone();
                Box::pin(async move {
                    let res = portcullis_gateway::serve(gateway, req).await;
                    Ok(portcullis_http::grpc::in_grpc_form(grpc, res).await)
                })
            }
        }
    }
}

/// The whole HTTP application: the front service, served as it is (an axum router around
/// it only matched nothing and cloned a boxed service per request to reach it).
pub(crate) fn router(edge: Edge, api: Router, gateway: GatewayState) -> Dispatch {
    Dispatch { edge, api, gateway }
}
