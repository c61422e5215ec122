//! A textual answer longer than `body_limit_bytes`: its first part scanned before the status
//! line goes out, the rest as it streams (`dlp_stream`), and in block mode a match found
//! before anything was sent answered 502 `response_blocked`. (Split from `dlp.rs`.)

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use portcullis_core::config::DlpMode;
use portcullis_core::service::RequestContext;
use portcullis_waf::dlp::Dlp;

use super::{DlpRuntime, blocked, body_changed};
use crate::Edge;
use crate::dlp_stream::Reporter;
use crate::error::ApiError;
use crate::waf::incident_id;

impl DlpRuntime {
    /// A textual answer longer than the limit: `head` (its first bytes) scanned as the
    /// first step of the stream that scans the rest.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn filter_long(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        allow: &[String],
        mode: DlpMode,
        mut parts: axum::http::response::Parts,
        head: axum::body::Bytes,
        rest: Body,
    ) -> Response {
        let mut held = head.to_vec();
        let Some((out, hits, sent)) = crate::dlp_stream::advance(
            &self.dlp,
            allow,
            &mut held,
            crate::dlp_stream::WINDOW,
            false,
            mode == DlpMode::Mask,
        ) else {
            return blocked(
                incident_id(),
                "The upstream's answer is not text and cannot be inspected.",
            );
        };
        if mode == DlpMode::Mask {
            body_changed(&mut parts.headers);
        }
        let refuses = matches!(mode, DlpMode::Block | DlpMode::Off);
        // In block mode a match whole in what is held back (the window, kept to be read
        // again with what follows) refuses the answer now, while it can still be a 502.
        let (hits, sent) = match refuses && hits.is_empty() {
            true => match held_hits(&self.dlp, allow, &held) {
                found if found.is_empty() => (hits, sent),
                found => (found, String::from_utf8_lossy(&held).into_owned()),
            },
            false => (hits, sent),
        };
        let mut stream = crate::dlp_stream::Scanned::new(
            rest,
            Reporter::new(edge, ctx, route, allow, mode, parts.status.as_u16()),
        )
        .holding(held);
        if hits.is_empty() {
            let first = if out.is_empty() && refuses {
                // Nothing to send yet (the answer is shorter than the window past the
                // limit, or the limit is small): the stream's first step is taken before
                // the head goes out, so that a match it finds is a 502 `response_blocked`
                // and not a connection closed before any status (black-box pass 13,
                // B13-2).
                match std::future::poll_fn(|cx| {
                    hyper::body::Body::poll_frame(std::pin::Pin::new(&mut stream), cx)
                })
                .await
                {
                    Some(Ok(frame)) => Some(frame),
                    None => None,
                    Some(Err(e)) => {
                        return match stream.blocked() {
                            Some(incident) => blocked(
                                incident.to_owned(),
                                "The upstream's answer held data that must not leave.",
                            ),
                            None => {
                                tracing::warn!(route, error = %e, "upstream body failed under DLP inspection");
                                blocked(
                                    incident_id(),
                                    "The upstream's answer broke off or cannot be inspected.",
                                )
                            }
                        };
                    }
                }
            } else {
                None
            };
            let stream = Body::new(stream);
            let body = match first.map(hyper::body::Frame::into_data) {
                Some(Ok(data)) => crate::body::rejoin(data, Some(stream)),
                Some(Err(trailers)) => Body::new(http_body_util::BodyExt::with_trailers(
                    http_body_util::BodyExt::map_err(
                        http_body_util::Empty::<axum::body::Bytes>::new(),
                        |never| match never {},
                    ),
                    async move { trailers.into_trailers().ok().map(Ok) },
                )),
                None => crate::body::rejoin(axum::body::Bytes::from(out), Some(stream)),
            };
            return Response::from_parts(parts, body);
        }
        let body = crate::body::rejoin(axum::body::Bytes::from(out), Some(Body::new(stream)));
        let (incident, audit_failed) = self
            .report(
                edge,
                ctx,
                route,
                mode,
                &sent,
                &hits,
                parts.status.as_u16(),
                "response_body",
            )
            .await;
        match (mode, audit_failed) {
            (DlpMode::Block, Some(e)) => ApiError::from(e).into_response(),
            (DlpMode::Block | DlpMode::Off, None) => blocked(
                incident,
                "The upstream's answer held data that must not leave.",
            ),
            _ => Response::from_parts(parts, body),
        }
    }
}

/// The matches whole in `held` (the window held back to be read again with what follows)
/// that end before its end, where one could go on.
fn held_hits(dlp: &Dlp, allow: &[String], held: &[u8]) -> Vec<portcullis_waf::dlp::Hit> {
    let valid = match std::str::from_utf8(held) {
        Ok(_) => held.len(),
        Err(e) => e.valid_up_to(),
    };
    let text = std::str::from_utf8(held.get(..valid).unwrap_or_default()).unwrap_or_default();
    dlp.scan(text, allow)
        .into_iter()
        .filter(|h| h.end < text.len())
        .collect()
}

/// Whether `head` is UTF-8 text (without NUL bytes, which UTF-16 and UTF-32 text has),
/// but for a character the limit cut in two at its end.
pub(super) fn text_so_far(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}
