//! Phase 8, inspect: the hooks request inspection (a WAF) and data loss prevention plug
//! into. An [`Inspector`] sees each request after the limits (its head, and its body when it
//! asks for one, buffered up to the size it names) and each response before it leaves (its
//! head, and its body likewise, which it may rewrite, e.g. to mask what must not leave).
//! With no inspector, the phase costs one empty-slice check per request.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::request;
use axum::http::response;
use axum::response::{IntoResponse, Response};
use portcullis_core::service::Principal;

use crate::route::Route;
use portcullis_http::body::{read_up_to, rejoin};

/// What an inspector decides.
#[derive(Debug)]
pub enum Verdict {
    /// Let it go on.
    Pass,
    /// Answer this instead (a refusal, with the inspector's own problem document).
    Refuse(Response),
}

/// A request as an inspector sees it: the route, the head (with the normalised path; the
/// decoded path is `portcullis_http::edge::decoded_path(parts)`), and who is calling.
pub struct Seen<'a> {
    /// The route the request matched.
    pub route: &'a Route,
    /// The request head.
    pub parts: &'a request::Parts,
    /// The authenticated principal, on routes that authenticate.
    pub principal: Option<&'a Principal>,
}

/// Request and response inspection. Every method has a default that passes, so an
/// inspector implements only what it looks at.
pub trait Inspector: Send + Sync {
    /// The request head.
    fn request(&self, _seen: &Seen<'_>) -> Verdict {
        Verdict::Pass
    }

    /// How much of the request body to buffer for [`Inspector::request_body`]; `None`
    /// (the default) streams it uninspected.
    fn request_body_limit(&self, _seen: &Seen<'_>) -> Option<usize> {
        None
    }

    /// The whole request body, when it fits in the limit; `complete` is false when it did
    /// not and `body` is its first `limit` bytes (the rest is sent on unread).
    fn request_body(&self, _seen: &Seen<'_>, _body: &[u8], _complete: bool) -> Verdict {
        Verdict::Pass
    }

    /// The response head (the inspector may change its headers).
    fn response(&self, _route: &Route, _parts: &mut response::Parts) -> Verdict {
        Verdict::Pass
    }

    /// How much of the response body to buffer for [`Inspector::response_body`].
    fn response_body_limit(&self, _route: &Route, _parts: &response::Parts) -> Option<usize> {
        None
    }

    /// The response body (the inspector may rewrite it); `complete` as for requests.
    fn response_body(
        &self,
        _route: &Route,
        _parts: &response::Parts,
        _body: &mut Vec<u8>,
        _complete: bool,
    ) -> Verdict {
        Verdict::Pass
    }
}

/// Why a request went no further.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// An inspector's answer.
    Inspector(Response),
    /// The body failed while it was read for inspection (the body watcher knows why).
    Body(axum::Error),
}

/// The inspectors in force, in the order they were added.
#[derive(Default)]
pub(crate) struct Inspectors(Vec<Arc<dyn Inspector>>);

impl Inspectors {
    pub(crate) fn add(&mut self, i: Arc<dyn Inspector>) {
        self.0.push(i);
    }

    /// Runs the request hooks; returns the body to send on.
    pub(crate) async fn request(&self, seen: &Seen<'_>, body: Body) -> Result<Body, Refusal> {
        if self.0.is_empty() {
            return Ok(body);
        }
        for i in &self.0 {
            if let Verdict::Refuse(res) = i.request(seen) {
                return Err(Refusal::Inspector(res));
            }
        }
        let Some(limit) = self
            .0
            .iter()
            .filter_map(|i| i.request_body_limit(seen))
            .max()
        else {
            return Ok(body);
        };
        let (head, complete, rest) = read_up_to(body, limit).await.map_err(Refusal::Body)?;
        for i in &self.0 {
            if i.request_body_limit(seen).is_some()
                && let Verdict::Refuse(res) = i.request_body(seen, &head, complete)
            {
                return Err(Refusal::Inspector(res));
            }
        }
        Ok(rejoin(head, rest))
    }

    /// Runs the response hooks on an upstream's answer.
    pub(crate) async fn response(&self, route: &Route, res: Response) -> Response {
        if self.0.is_empty() {
            return res;
        }
        let (mut parts, body) = res.into_parts();
        for i in &self.0 {
            if let Verdict::Refuse(res) = i.response(route, &mut parts) {
                return res;
            }
        }
        let Some(limit) = self
            .0
            .iter()
            .filter_map(|i| i.response_body_limit(route, &parts))
            .max()
        else {
            return Response::from_parts(parts, body);
        };
        let (head, complete, rest) = match read_up_to(body, limit).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(route = %route.cfg.name, error = %e, "upstream body failed under inspection");
                return portcullis_http::error::ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "The upstream's answer broke off.",
                )
                .into_response();
            }
        };
        let mut head = head.to_vec();
        for i in &self.0 {
            if i.response_body_limit(route, &parts).is_some()
                && let Verdict::Refuse(res) = i.response_body(route, &parts, &mut head, complete)
            {
                return res;
            }
        }
        if complete {
            // The body may have changed length.
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        }
        Response::from_parts(parts, rejoin(Bytes::from(head), rest))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;

    /// Refuses bodies that say "attack"; masks card numbers in answers.
    struct Test;

    impl Inspector for Test {
        fn request(&self, seen: &Seen<'_>) -> Verdict {
            if seen.parts.uri.path().contains("/admin") {
                Verdict::Refuse(StatusCode::FORBIDDEN.into_response())
            } else {
                Verdict::Pass
            }
        }
        fn request_body_limit(&self, _: &Seen<'_>) -> Option<usize> {
            Some(8)
        }
        fn request_body(&self, _: &Seen<'_>, body: &[u8], _: bool) -> Verdict {
            if body.windows(6).any(|w| w == b"attack") {
                Verdict::Refuse(StatusCode::FORBIDDEN.into_response())
            } else {
                Verdict::Pass
            }
        }
        fn response_body_limit(&self, _: &Route, _: &response::Parts) -> Option<usize> {
            Some(64)
        }
        fn response_body(
            &self,
            _: &Route,
            _: &response::Parts,
            body: &mut Vec<u8>,
            complete: bool,
        ) -> Verdict {
            assert!(complete);
            let text =
                String::from_utf8_lossy(body).replace("4111111111111111", "************1111");
            *body = text.into_bytes();
            Verdict::Pass
        }
    }

    fn parts(path: &str) -> request::Parts {
        axum::http::Request::builder()
            .uri(path)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    async fn text(body: Body) -> String {
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn no_inspector_passes_everything_untouched() {
        let g = gateway(&[config("r", "prefix = \"/\"")]);
        let p = parts("/admin");
        let seen = Seen {
            route: &g.routes[0],
            parts: &p,
            principal: None,
        };
        let body = Inspectors::default()
            .request(&seen, Body::from("attack"))
            .await
            .unwrap();
        assert_eq!(text(body).await, "attack");
    }

    #[tokio::test]
    async fn heads_and_bodies_are_inspected_and_long_bodies_arrive_whole() {
        let g = gateway(&[config("r", "prefix = \"/\"")]);
        let mut i = Inspectors::default();
        i.add(Arc::new(Test));
        let route = &g.routes[0];
        let p = parts("/admin/x");
        let seen = Seen {
            route,
            parts: &p,
            principal: None,
        };
        assert!(matches!(
            i.request(&seen, Body::empty()).await,
            Err(Refusal::Inspector(_))
        ));
        let p = parts("/x");
        let seen = Seen {
            route,
            parts: &p,
            principal: None,
        };
        assert!(i.request(&seen, Body::from("attack!")).await.is_err());
        // Past the 8-byte limit, the body is inspected in part and sent on whole.
        let long = "harmless text, and then attack";
        let sent = i.request(&seen, Body::from(long)).await.unwrap();
        assert_eq!(text(sent).await, long);
        let res = axum::http::Response::builder()
            .header("content-length", "25")
            .body(Body::from("card 4111111111111111 ok."))
            .unwrap();
        let res = i.response(route, res).await;
        assert!(res.headers().get("content-length").is_none());
        assert_eq!(text(res.into_body()).await, "card ************1111 ok.");
    }

    #[tokio::test]
    async fn read_up_to_splits_at_the_limit() {
        let (head, complete, rest) = read_up_to(Body::from("0123456789"), 4).await.unwrap();
        assert_eq!((&head[..], complete), (&b"0123"[..], false));
        assert_eq!(text(rest.unwrap()).await, "456789");
        let (head, complete, rest) = read_up_to(Body::from("01"), 4).await.unwrap();
        assert_eq!(
            (&head[..], complete, rest.is_none()),
            (&b"01"[..], true, true)
        );
    }
}
