//! A request for a route, from the edge guard to the response: the same steps the API's
//! middleware runs (request id and access line, body pacing, panic and deadline guards,
//! bans and deny lists, API-key and certificate authentication, security headers), as plain
//! calls in one future, then the route's own phases ([`crate::handle`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::response::Response;
use portcullis_http::middleware;

use crate::GatewayState;

/// A request for a route (or for nothing: a 404), in the order the API's layers run.
pub async fn serve(state: GatewayState, req: Request) -> Response {
    let st = &state;
    middleware::logged(st, req, |req| async move {
        let req = middleware::paced(st, req);
        let api = req.uri().path().starts_with("/api/");
        let run = async move {
            let mut res = middleware::within_deadline(st, async move {
                if let Some(ip) = middleware::address_to_check(st, &req)
                    && let Some(refused) = middleware::blocked(st, ip).await
                {
                    return refused;
                }
                match portcullis_http::signatures::key_principal(st, req).await {
                    Ok(req) => crate::handle(State(st.clone()), req).await,
                    Err(refused) => refused,
                }
            })
            .await;
            middleware::apply_security_headers(&mut res, api, st.web.hsts);
            res
        };
        CatchUnwind(Box::pin(run))
            .await
            .unwrap_or_else(middleware::panic_response)
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
