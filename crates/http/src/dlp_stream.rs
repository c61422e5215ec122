//! DLP past `body_limit_bytes`: the rest of a long textual response is scanned as it
//! streams, with an overlap window, so a secret anywhere in it (one that straddles two
//! chunks included) is masked, blocked or reported as in the first bytes.
//!
//! The last [`WINDOW`] bytes of what arrived are held back and scanned again with the next
//! chunk; what is sent has been scanned with at least [`WINDOW`] bytes of context after it,
//! and a match that reaches into the held bytes is held back whole. In `block` mode the
//! status line is already sent, so a match ends the response with an error (the client sees
//! a broken answer, never the secret). A body that is not UTF-8 cannot be rewritten: `mask`
//! and `block` end it, `detect` passes it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::Frame;
use portcullis_core::config::DlpMode;
use portcullis_core::service::RequestContext;
use portcullis_waf::dlp::{Dlp, Hit, mask};

use crate::Edge;
use crate::dlp::DlpRuntime;

/// Bytes held back and scanned again with the next chunk: longer than any secret the
/// detectors find (a PEM RSA-8192 private key is about 6.5 KiB).
pub const WINDOW: usize = 16 * 1024;

/// Where a streamed answer's matches are reported: the route, the request and the mode,
/// shared by the text stream ([`Scanned`]) and gRPC's (`dlp_grpc`).
pub(crate) struct Reporter {
    pub(crate) dlp: Arc<DlpRuntime>,
    edge: Edge,
    ctx: RequestContext,
    pub(crate) route: String,
    pub(crate) allow: Vec<String>,
    pub(crate) mode: DlpMode,
    status: u16,
}

impl Reporter {
    pub(crate) fn new(
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        allow: &[String],
        mode: DlpMode,
        status: u16,
    ) -> Self {
        Self {
            dlp: edge.dlp.clone(),
            edge: edge.clone(),
            ctx: ctx.clone(),
            route: route.to_owned(),
            allow: allow.to_vec(),
            mode,
            status,
        }
    }

    /// Reports `hits` in `text` (at `location`) under a fresh incident id, which is
    /// returned: the audit event and a leaked key's revocation go on beside the stream.
    pub(crate) fn spawn(&self, text: String, hits: Vec<Hit>, location: &'static str) -> String {
        self.spawn_joined(text, hits, location).0
    }

    /// [`Self::spawn`], with the report's task, for a body that must not end before the
    /// report is done (a leaked key revoked before the refusal reaches the client).
    pub(crate) fn spawn_joined(
        &self,
        text: String,
        hits: Vec<Hit>,
        location: &'static str,
    ) -> (String, tokio::task::JoinHandle<()>) {
        let incident = crate::waf::incident_id();
        let (dlp, edge, ctx, route, mode, status, id) = (
            self.dlp.clone(),
            self.edge.clone(),
            self.ctx.clone(),
            self.route.clone(),
            self.mode,
            self.status,
            incident.clone(),
        );
        let task = tokio::spawn(async move {
            dlp.report_as(
                id, &edge, &ctx, &route, mode, &text, &hits, status, location,
            )
            .await;
        });
        (incident, task)
    }
}

/// The rest of a response, scanned as it passes.
pub(crate) struct Scanned {
    rest: Body,
    report: Reporter,
    window: usize,
    /// Received and not yet sent (scanned, but with too little after it).
    held: Vec<u8>,
    trailers: Option<axum::http::HeaderMap>,
    done: bool,
    /// The incident under which a match ended the stream, if one did.
    blocked: Option<String>,
}

impl Scanned {
    pub(crate) fn new(rest: Body, report: Reporter) -> Self {
        Self {
            rest,
            report,
            window: WINDOW,
            held: Vec::new(),
            trailers: None,
            done: false,
            blocked: None,
        }
    }

    /// The incident under which a match ended the stream, if one did.
    pub(crate) fn blocked(&self) -> Option<&str> {
        self.blocked.as_deref()
    }

    /// Starts with `held` (the end of what was scanned before, not sent yet) held.
    pub(crate) fn holding(mut self, held: Vec<u8>) -> Self {
        self.held = held;
        self
    }

    /// Scans what is held; sends all of it (`last`) or all but the window. `Err` ends the
    /// response (a match in `block` mode, or text that cannot be rewritten).
    fn step(&mut self, last: bool) -> Result<Bytes, &'static str> {
        let r = &self.report;
        let Some((out, hits, sent)) = advance(
            r.dlp.scanner(),
            &r.allow,
            &mut self.held,
            self.window,
            last,
            r.mode == DlpMode::Mask,
        ) else {
            if r.mode == DlpMode::Detect {
                return Ok(Bytes::from(std::mem::take(&mut self.held)));
            }
            return Err("the answer is not UTF-8 text and cannot be inspected");
        };
        if !hits.is_empty() {
            let incident = r.spawn(sent, hits, "response_body_stream");
            if matches!(r.mode, DlpMode::Block | DlpMode::Off) {
                self.held.clear();
                self.blocked = Some(incident);
                return Err("the answer held data that must not leave");
            }
        }
        Ok(Bytes::from(out))
    }
}

/// One step of the window over `held`: what is sent now (masked when `mask_it`), the
/// matches in it, and that text as it was; `None` when what is held is not UTF-8. A match
/// that reaches into the last `window` bytes (or past them) is held back whole.
pub(crate) fn advance(
    dlp: &Dlp,
    allow: &[String],
    held: &mut Vec<u8>,
    window: usize,
    last: bool,
    mask_it: bool,
) -> Option<(String, Vec<Hit>, String)> {
    // Text up to the last complete character; an incomplete one waits for the next chunk.
    let valid = match std::str::from_utf8(held) {
        Ok(_) => held.len(),
        Err(e) if e.error_len().is_none() && !last => e.valid_up_to(),
        Err(_) => return None,
    };
    let text = std::str::from_utf8(held.get(..valid)?).ok()?;
    let hits = dlp.scan(text, allow);
    let mut cut = if last {
        text.len()
    } else {
        text.len().saturating_sub(window)
    };
    for h in &hits {
        if h.start < cut && h.end > cut {
            cut = h.start;
        }
    }
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let sent = text.get(..cut).unwrap_or_default().to_owned();
    let hits: Vec<Hit> = hits.into_iter().filter(|h| h.end <= cut).collect();
    let out = if mask_it && !hits.is_empty() {
        mask(&sent, &hits)
    } else {
        sent.clone()
    };
    held.drain(..cut);
    Some((out, hits, sent))
}

/// A response body scanned in steps as it arrives: the text stream ([`Scanned`]) and the
/// event stream (`dlp_sse`), which differ only in their step.
pub(crate) trait Stepped {
    /// The upstream's body, what arrived and is not sent yet, its trailers, and whether
    /// the stream is done.
    fn parts(
        &mut self,
    ) -> (
        &mut Body,
        &mut Vec<u8>,
        &mut Option<axum::http::HeaderMap>,
        &mut bool,
    );
    /// Scans what is held and gives what may be sent (all of it when `last`); `Err` ends
    /// the stream.
    fn step(&mut self, last: bool) -> Result<Bytes, &'static str>;
    /// The route, for the log.
    fn route(&self) -> &str;
}

/// `poll_frame` of a [`Stepped`] body: what arrives is held and stepped; a step's `Err`
/// ends the stream with an error (the client sees a broken answer, never the secret).
pub(crate) fn poll_stepped<S: Stepped>(
    s: &mut S,
    cx: &mut Context<'_>,
    ended: &'static str,
) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
    loop {
        let (rest, held, trailers, done) = s.parts();
        if *done {
            return Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        let last = match hyper::body::Body::poll_frame(Pin::new(rest), cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    held.extend_from_slice(&data);
                    false
                }
                Err(frame) => {
                    *trailers = frame.into_trailers().ok();
                    true
                }
            },
        };
        match s.step(last) {
            Err(why) => {
                let (_, _, trailers, done) = s.parts();
                *done = true;
                *trailers = None;
                tracing::warn!(route = %s.route(), why, "{ended}");
                return Poll::Ready(Some(Err(axum::Error::new(why))));
            }
            Ok(out) => {
                if last {
                    *s.parts().3 = true;
                }
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
            }
        }
    }
}

impl Stepped for Scanned {
    fn parts(
        &mut self,
    ) -> (
        &mut Body,
        &mut Vec<u8>,
        &mut Option<axum::http::HeaderMap>,
        &mut bool,
    ) {
        (
            &mut self.rest,
            &mut self.held,
            &mut self.trailers,
            &mut self.done,
        )
    }

    fn step(&mut self, last: bool) -> Result<Bytes, &'static str> {
        Scanned::step(self, last)
    }

    fn route(&self) -> &str {
        &self.report.route
    }
}

impl hyper::body::Body for Scanned {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        poll_stepped(self.get_mut(), cx, "DLP ended a streamed response")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windowing alone, over a detector set with a card and an AWS key: whatever the
    /// chunking, what is sent is the whole text with every secret masked.
    #[test]
    fn every_chunking_masks_every_secret() {
        let dlp =
            portcullis_waf::dlp::Dlp::builtin(&["card".into(), "aws_access_key".into()]).unwrap();
        let text = format!(
            "{} card 4111 1111 1111 1111 then {} key AKIAIOSFODNN7EXAMPLE end {}é",
            "a".repeat(300),
            "b".repeat(50),
            "c".repeat(10)
        );
        let want = mask(&text, &dlp.scan(&text, &[]));
        assert!(!want.contains("4111 1111 1111 1111") && !want.contains("AKIAIOSFODNN7EXAMPLE"));
        for chunk in [1, 2, 3, 7, 16, 40, 100, 1000] {
            for window in [40, 64, 128] {
                let mut held: Vec<u8> = Vec::new();
                let mut out = String::new();
                let bytes = text.as_bytes();
                let mut i = 0;
                loop {
                    let last = i >= bytes.len();
                    if !last {
                        let end = (i + chunk).min(bytes.len());
                        held.extend_from_slice(&bytes[i..end]);
                        i = end;
                    }
                    let (sent, _, _) = advance(&dlp, &[], &mut held, window, last, true).unwrap();
                    out.push_str(&sent);
                    if last {
                        break;
                    }
                }
                assert_eq!(out, want, "chunk {chunk}, window {window}");
            }
        }
    }
}
