//! DLP on server-sent events (`text/event-stream`) and streams of JSON lines (NDJSON, JSON
//! Lines, JSON text sequences): each event (line) is scanned and passed on as soon as it
//! is whole, so notifications and token streams still stream (an answer read up to
//! `body_limit_bytes` first delivered nothing until the upstream had sent that much).
//!
//! The events' data is also read joined, as a client that puts a streamed answer together
//! reads it ([`crate::dlp_join`]): a secret split across two events is seen whole there.
//! Its first part has left, so the stream ends in `mask` and `block` mode (as a gRPC call
//! does) and the match is reported (a leaked API key revoked). A secret within one event
//! is masked (`mask`) or ends the stream (`block`). An event longer than [`MAX_EVENT`] is
//! scanned as a text stream is, with a window held back ([`crate::dlp_stream::WINDOW`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::Frame;
use portcullis_core::config::DlpMode;
use portcullis_waf::dlp::mask;

use crate::dlp_join::{Joins, event_data, line_data};
use crate::dlp_stream::{Reporter, Stepped, WINDOW, poll_stepped};

/// The longest event held whole before it is scanned as a plain text stream.
const MAX_EVENT: usize = 64 * 1024;

/// How a stream of events is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Server-sent events: `data:` fields, an event ending at a blank line.
    Events,
    /// One JSON document a line (NDJSON, JSON Lines, JSON text sequences): a token
    /// stream's other shape (Ollama, many SDKs).
    Lines,
}

/// How a content type frames a stream of events, if it is one.
pub(crate) fn framing(content_type: Option<&str>) -> Option<Framing> {
    match crate::media_type(content_type?).as_str() {
        "text/event-stream" => Some(Framing::Events),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines"
        | "application/json-seq"
        | "application/stream+json"
        | "application/x-json-stream"
        | "text/x-ndjson" => Some(Framing::Lines),
        _ => None,
    }
}

/// An event stream, scanned event by event.
pub(crate) struct SseScanned {
    framing: Framing,
    rest: Body,
    report: Reporter,
    /// Received, not yet scanned (the event in progress).
    held: Vec<u8>,
    /// The events' data, and each of their JSON string fields, joined.
    joins: Joins,
    trailers: Option<axum::http::HeaderMap>,
    done: bool,
}

impl SseScanned {
    pub(crate) fn new(rest: Body, report: Reporter, framing: Framing) -> Self {
        Self {
            framing,
            rest,
            report,
            held: Vec::new(),
            joins: Joins::default(),
            trailers: None,
            done: false,
        }
    }

    /// Scans and sends what is held up to the last whole event (all of it when `last`).
    /// `Err` ends the stream.
    fn step(&mut self, last: bool) -> Result<Bytes, &'static str> {
        let mut cut = match (last, self.framing) {
            (true, _) => self.held.len(),
            (false, Framing::Events) => event_end(&self.held),
            (false, Framing::Lines) => self
                .held
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1),
        };
        if cut == 0 && self.held.len() > MAX_EVENT {
            cut = self.held.len() - WINDOW;
        }
        // Whole characters only; an incomplete one waits for the next chunk.
        let text = match std::str::from_utf8(self.held.get(..cut).unwrap_or_default()) {
            Ok(t) => t,
            Err(e) if e.error_len().is_none() && !last => {
                cut = e.valid_up_to();
                std::str::from_utf8(self.held.get(..cut).unwrap_or_default()).unwrap_or_default()
            }
            Err(_) if self.report.mode == DlpMode::Detect => {
                return Ok(Bytes::from(std::mem::take(&mut self.held)));
            }
            Err(_) => return Err("the event stream is not UTF-8 text and cannot be inspected"),
        };
        if text.is_empty() {
            return Ok(Bytes::new());
        }
        // What the events' text shows as it is (below) is handled there: here, what only
        // the joined data shows (split across events, or across the data lines of one), as
        // a client that puts a streamed answer together reads it: the events' data as it
        // came, and each string field of JSON events (a token stream's `delta.content`)
        // joined with the same field of the events before.
        let plain = self.report.dlp.scanner().scan(text, &self.report.allow);
        let known = |secret: &str| plain.iter().any(|p| p.secret(text) == secret);
        let (data, fields) = match self.framing {
            Framing::Events => event_data(text),
            Framing::Lines => line_data(text),
        };
        let found = self.joins.feed(
            data,
            fields,
            self.report.dlp.scanner(),
            &self.report.allow,
            &known,
        );
        if !found.is_empty() {
            for (view, across) in found {
                self.report.spawn(view, across, "response_body_stream");
            }
            if self.report.mode != DlpMode::Detect {
                return Err("the event stream held data that must not leave");
            }
        }
        let hits = plain;
        let out = if hits.is_empty() {
            text.to_owned()
        } else {
            let masked = (self.report.mode == DlpMode::Mask).then(|| mask(text, &hits));
            self.report
                .spawn(text.to_owned(), hits, "response_body_stream");
            match (self.report.mode, masked) {
                (DlpMode::Detect, _) => text.to_owned(),
                (DlpMode::Mask, Some(masked)) => masked,
                _ => return Err("the event stream held data that must not leave"),
            }
        };
        self.held.drain(..cut);
        Ok(Bytes::from(out))
    }
}

/// The end of the last whole event in `b` (after its blank line), or 0.
fn event_end(b: &[u8]) -> usize {
    let mut end = 0;
    let mut i = 0;
    while i < b.len() {
        let rest = b.get(i..).unwrap_or_default();
        let blank = if rest.starts_with(b"\r\n\r\n") {
            4
        } else if rest.starts_with(b"\n\n") || rest.starts_with(b"\r\r") {
            2
        } else {
            0
        };
        if blank > 0 {
            end = i + blank;
            i += blank;
        } else {
            i += 1;
        }
    }
    end
}

impl Stepped for SseScanned {
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
        SseScanned::step(self, last)
    }

    fn route(&self) -> &str {
        &self.report.route
    }
}

impl hyper::body::Body for SseScanned {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        poll_stepped(self.get_mut(), cx, "DLP ended an event stream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn events_end_at_blank_lines() {
        assert_eq!(event_end(b"data: a\n\ndata: b"), 9);
        assert_eq!(event_end(b"data: a\r\n\r\ndata: b\r\n\r\n"), 22);
        assert_eq!(event_end(b"data: a\ndata: b"), 0);
        assert_eq!(event_end(b""), 0);
        assert_eq!(event_end(b"\r\r"), 2);
    }
}
