//! One decision per request, after the edge guard has normalised the path: Portcullis's own
//! endpoints (the reserved prefixes) go to the API router and its middleware; everything
//! else goes straight into the gateway's pipeline, which runs the same steps the API's
//! middleware would (request id and access line, body pacing, panic and deadline guards,
//! bans and deny lists, API-key and certificate authentication, security headers) as plain
//! calls in one future, without the router's matching and a boxed layer per step.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use tower::ServiceExt;

use crate::AppState;

/// The service behind the edge guard.
#[derive(Clone)]
pub(crate) struct Dispatch {
    /// The API with its middleware.
    pub(crate) api: Router,
    /// For the gateway.
    pub(crate) state: AppState,
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
            let state = self.state.clone();
            Box::pin(async move { Ok(gateway(state, req).await) })
        }
    }
}

/// A request for a route (or for nothing: a 404), in the order the API's layers run.
async fn gateway(state: AppState, req: Request) -> Response {
    let st = &state;
    crate::middleware::logged(st, req, |req| async move {
        let req = crate::middleware::paced(st, req);
        let api = req.uri().path().starts_with("/api/");
        let run = async move {
            let mut res = crate::middleware::within_deadline(st, async move {
                if let Some(ip) = crate::middleware::address_to_check(st, &req)
                    && let Some(refused) = crate::middleware::blocked(st, ip).await
                {
                    return refused;
                }
                match crate::signatures::key_principal(st, req).await {
                    Ok(req) => crate::gateway::handle(State(st.clone()), req).await,
                    Err(refused) => refused,
                }
            })
            .await;
            crate::middleware::apply_security_headers(&mut res, api, st.web.hsts);
            res
        };
        CatchUnwind(Box::pin(run))
            .await
            .unwrap_or_else(crate::middleware::panic_response)
    })
    .await
}

/// A future whose panic becomes an `Err` (the panic response), as the API's catch-panic
/// layer does.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send + 'static>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught() {
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert!(matches!(ok, Ok(7)));
        let caught = CatchUnwind(Box::pin(async {
            if std::hint::black_box(true) {
                std::panic::panic_any("boom");
            }
            7
        }))
        .await;
        assert!(caught.is_err());
    }
}
