//! DLP on gRPC answers (`application/grpc*`, gRPC-Web and gRPC-Web-text): the stream is cut
//! into its length-prefixed messages, and each one (decompressed per `grpc-encoding`, read
//! as its bytes are: protobuf writes strings as they are) is scanned before it is passed on,
//! whole, so a streaming call still streams message by message. The trailers are scanned
//! too.
//!
//! A message holding a secret is reported (a leaked API key revoked) and, in `mask` and
//! `block` mode, ends the call with `UNAVAILABLE` and the incident id: a protobuf message
//! cannot be rewritten without knowing its schema. A trailer value is masked in `mask` mode.
//! What cannot be read as gRPC (bad framing, a message over [`MAX_MESSAGE`], a compression
//! DLP cannot undo) is scanned as it is and ends the call too, unless DLP only detects: a
//! content type alone never lets an answer out unread.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::body::Frame;
use portcullis_core::config::DlpMode;
use portcullis_waf::dlp::{Hit, mask};

use crate::coding::Coding;
use crate::dlp::binary_view;
use crate::dlp_stream::Reporter;

/// The largest message read whole (gRPC's own default limit): a longer one is not passed
/// unread in `mask` and `block` mode.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// How much of the messages before is scanned again with the next one: longer than any
/// secret the detectors find but a PEM key (which no one splits over messages by chance).
const TAIL: usize = 512;

/// The 5-byte prefix of a message: flags (0x01 compressed; 0x80 gRPC-Web trailers) and
/// the length, big-endian.
const PREFIX: usize = 5;

/// Cuts a gRPC stream into whole messages (prefix included).
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, or `Err` when what is held cannot be a gRPC message.
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, &'static str> {
        let Some(&[flags, a, b, c, d]) = self.buf.get(..PREFIX) else {
            return Ok(None);
        };
        if flags & !0x81 != 0 {
            return Err("the answer is not gRPC messages");
        }
        let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
        if len > MAX_MESSAGE {
            return Err("a gRPC message over the size DLP reads");
        }
        if self.buf.len() < PREFIX + len {
            return Ok(None);
        }
        Ok(Some(self.buf.drain(..PREFIX + len).collect()))
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// What is held and not a whole message.
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// gRPC-Web-text: base64, which may be padded at the end of any chunk.
#[derive(Debug, Default)]
pub(crate) struct Base64Stream {
    held: Vec<u8>,
}

impl Base64Stream {
    /// Decodes every whole 4-character group of what arrived so far into `out`.
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        self.held
            .extend(data.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        let whole = self.held.len() / 4 * 4;
        for quad in self.held.get(..whole).unwrap_or_default().chunks(4) {
            let bytes = STANDARD
                .decode(quad)
                .map_err(|_| "the gRPC-Web-text answer is not base64")?;
            out.extend_from_slice(&bytes);
        }
        self.held.drain(..whole);
        Ok(())
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// A gRPC body as it comes: gRPC-Web-text's base64 undone, then cut into whole messages;
/// and what goes on, encoded as it came. Shared by DLP on answers and the WAF on calls.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    text: Option<Base64Stream>,
    framer: Framer,
}

impl Wire {
    /// A body, in gRPC-Web-text's base64 when `text`.
    pub(crate) fn new(text: bool) -> Self {
        Self {
            text: text.then(Base64Stream::default),
            framer: Framer::default(),
        }
    }

    /// Bytes as they arrived; `Err` when they cannot be gRPC-Web-text.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), &'static str> {
        match self.text.as_mut() {
            None => {
                self.framer.push(data);
                Ok(())
            }
            Some(text) => {
                let mut decoded = Vec::new();
                let fed = text.feed(data, &mut decoded);
                self.framer.push(&decoded);
                fed
            }
        }
    }

    /// The next whole message (see [`Framer::next_message`]).
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, &'static str> {
        self.framer.next_message()
    }

    /// A message on its way on, into `out`, encoded as the body came.
    pub(crate) fn emit(&self, message: &[u8], out: &mut Vec<u8>) {
        if self.text.is_some() {
            out.extend_from_slice(STANDARD.encode(message).as_bytes());
        } else {
            out.extend_from_slice(message);
        }
    }

    /// What is held and not a whole message.
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        self.framer.take_rest()
    }

    /// `rest` (from [`Wire::take_rest`]) and the base64 still held, into `out` as they came
    /// (the body passes unread from here).
    pub(crate) fn pass_rest(&mut self, mut rest: Vec<u8>, out: &mut Vec<u8>) {
        match self.text.as_mut() {
            Some(text) => {
                let held = text.take_rest();
                out.extend_from_slice(STANDARD.encode(&rest).as_bytes());
                out.extend_from_slice(&held);
            }
            None => out.append(&mut rest),
        }
    }

    /// Whether part of a message is held (the body ended inside one).
    pub(crate) fn partial(&self) -> bool {
        !self.framer.is_empty() || self.text.as_ref().is_some_and(|t| !t.is_empty())
    }
}

/// The coding of compressed messages, from `grpc-encoding`.
pub(crate) fn message_coding(headers: &HeaderMap) -> Coding {
    match headers.get("grpc-encoding").map(HeaderValue::as_bytes) {
        None => Coding::Identity,
        Some(v) if v.eq_ignore_ascii_case(b"identity") => Coding::Identity,
        Some(v) if v.eq_ignore_ascii_case(b"gzip") => Coding::Gzip,
        Some(v) if v.eq_ignore_ascii_case(b"deflate") => Coding::Deflate,
        Some(v) => Coding::Unreadable(String::from_utf8_lossy(v).into_owned()),
    }
}

/// One message's payload: its prefix off, decompressed when flagged so (per
/// `grpc-encoding`, at most [`MAX_MESSAGE`] bytes).
pub(crate) fn message_payload<'a>(
    message: &'a [u8],
    coding: &Coding,
) -> Result<std::borrow::Cow<'a, [u8]>, &'static str> {
    let flags = message.first().copied().unwrap_or_default();
    let payload = message.get(PREFIX..).unwrap_or_default();
    if flags & 0x01 == 0 {
        return Ok(payload.into());
    }
    if coding.is_identity() {
        return Err("a compressed gRPC message without grpc-encoding");
    }
    match crate::coding::decode_bounded(coding, payload, true, MAX_MESSAGE) {
        Ok((decoded, true)) => Ok(decoded.into()),
        Ok((_, false)) => Err("a gRPC message over the size that is read"),
        Err(_) => Err("a gRPC message that cannot be decompressed"),
    }
}

/// A gRPC answer's body, scanned message by message.
pub(crate) struct GrpcScanned {
    inner: Body,
    report: Reporter,
    coding: Coding,
    /// gRPC-Web: refusals go in a trailers message; gRPC: in HTTP trailers.
    web: bool,
    /// The body as it comes (gRPC-Web-text's base64 undone), cut into messages.
    wire: Wire,
    /// The end of what the messages so far read as (see [`TAIL`]).
    tail: String,
    /// Scanned, to send.
    out: Vec<u8>,
    /// Unreadable in `detect` mode: the rest passes as it comes.
    passthrough: bool,
    ended: bool,
    trailers: Option<HeaderMap>,
    /// The upstream's answer had no body at all.
    empty: bool,
    /// Reports still running (audit events, a leaked key's revocation): a refused call
    /// ends only after them, so that a key the answer leaked no longer works when the
    /// client learns of the refusal (black-box pass 11, B11-17: 8 of 20 still did).
    reports: Vec<tokio::task::JoinHandle<()>>,
    /// The messages' strings so far, joined (see [`Self::join`]).
    joins: crate::dlp_join::Joins,
}

impl GrpcScanned {
    pub(crate) fn new(inner: Body, headers: &HeaderMap, report: Reporter) -> Self {
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes().to_ascii_lowercase())
            .unwrap_or_default();
        let web = ct.starts_with(b"application/grpc-web");
        let text = ct.starts_with(b"application/grpc-web-text");
        Self {
            empty: hyper::body::Body::is_end_stream(&inner),
            inner,
            report,
            coding: message_coding(headers),
            web,
            wire: Wire::new(text),
            tail: String::new(),
            out: Vec::new(),
            passthrough: false,
            ended: false,
            trailers: None,
            reports: Vec::new(),
            joins: crate::dlp_join::Joins::default(),
        }
    }

    /// A message (or trailers message) on its way out, as the client expects it encoded.
    fn emit(&mut self, message: &[u8]) {
        self.wire.emit(message, &mut self.out);
    }

    /// Reports `hits` in `text` under a fresh incident id (a leaked key is revoked).
    fn report(&mut self, text: String, hits: Vec<Hit>, location: &'static str) -> String {
        let (incident, task) = self.report.spawn_joined(text, hits, location);
        self.reports.retain(|t| !t.is_finished());
        self.reports.push(task);
        incident
    }

    /// Ends the call with `UNAVAILABLE`: nothing more of the upstream's answer is sent.
    fn refuse(&mut self, incident: Option<&str>, why: &str) {
        tracing::warn!(route = %self.report.route, why, "DLP ended a gRPC answer");
        self.ended = true;
        self.wire.take_rest();
        let detail = match incident {
            Some(id) => {
                format!("The upstream's answer held data that must not leave (incident {id}).")
            }
            None => "The upstream's answer could not be inspected.".to_owned(),
        };
        let t = crate::grpc::ending(14, &detail, incident);
        if self.web {
            let frame = crate::grpc::web_trailers(&t);
            self.emit(&frame);
            self.trailers = None;
        } else {
            self.trailers = Some(t);
        }
    }

    /// Bytes from the upstream: every whole message scanned, and sent or refused.
    fn take(&mut self, data: &[u8]) {
        if self.passthrough {
            self.out.extend_from_slice(data);
            return;
        }
        let fed = self.wire.feed(data);
        loop {
            let message = match fed.and(self.wire.next_message()) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(why) => return self.unreadable(why),
            };
            let payload = message_payload(&message, &self.coding);
            let text = match payload.as_deref().map(binary_view) {
                Ok(t) => t,
                Err(why) => {
                    // Scanned as it is, then refused (or passed, when DLP only detects).
                    let raw = binary_view(&message);
                    let hits = self.report.dlp.scanner().scan(&raw, &self.report.allow);
                    if !hits.is_empty() {
                        self.report(raw, hits, "grpc_message");
                    }
                    if self.report.mode == DlpMode::Detect {
                        self.emit(&message);
                        continue;
                    }
                    return self.refuse(None, why);
                }
            };
            // Scanned after the end of the message before it, so a secret split across two
            // messages is seen whole (the first part has left; the rest does not).
            let carried = self.tail.len();
            let mut seen = std::mem::take(&mut self.tail);
            seen.push_str(&text);
            let hits: Vec<Hit> = self
                .report
                .dlp
                .scanner()
                .scan(&seen, &self.report.allow)
                .into_iter()
                .filter(|h| h.end > carried)
                .collect();
            let mut cut = seen.len().saturating_sub(TAIL);
            while !seen.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail = seen.get(cut..).unwrap_or_default().to_owned();
            if hits.is_empty() {
                // The message's strings joined to those before, all together and field by
                // field (a token stream's pieces, a key cut across two fields): read as
                // the client that puts them together does, as event streams are (black-box
                // pass 11, B11-16). Such a secret cannot be masked: its first part has left.
                let across = payload
                    .as_deref()
                    .ok()
                    .and_then(|p| portcullis_waf::protobuf::strings(p))
                    .map(|strings| self.join(strings))
                    .unwrap_or_default();
                let mut incident = None;
                for (view, hits) in across {
                    incident = Some(self.report(view, hits, "grpc_message"));
                }
                match incident {
                    Some(id) if self.report.mode != DlpMode::Detect => {
                        return self.refuse(Some(&id), "a secret across gRPC messages");
                    }
                    _ => self.emit(&message),
                }
                continue;
            }
            let incident = self.report(seen, hits, "grpc_message");
            if self.report.mode == DlpMode::Detect {
                self.emit(&message);
            } else {
                return self.refuse(Some(&incident), "a secret in a gRPC message");
            }
        }
    }

    /// Joins a message's strings (by their place, `pb.1.3`) to the messages' before: the
    /// views that show a secret across them.
    fn join(
        &mut self,
        strings: Vec<(String, std::borrow::Cow<'_, str>)>,
    ) -> Vec<(String, Vec<Hit>)> {
        let data: Vec<String> = strings.iter().map(|(_, s)| s.to_string()).collect();
        let mut fields: Vec<(String, Vec<String>)> = Vec::new();
        for (path, text) in strings {
            match fields.iter_mut().find(|(p, _)| *p == path) {
                Some((_, parts)) => parts.push(text.into_owned()),
                None => fields.push((path, vec![text.into_owned()])),
            }
        }
        self.joins.feed(
            data,
            fields,
            self.report.dlp.scanner(),
            &self.report.allow,
            &|_| false,
        )
    }

    /// What cannot be cut into gRPC messages: scanned as it is; passed on from here in
    /// `detect` mode, else the end of the call.
    fn unreadable(&mut self, why: &'static str) {
        let rest = self.wire.take_rest();
        let raw = binary_view(&rest);
        let hits = self.report.dlp.scanner().scan(&raw, &self.report.allow);
        let incident = (!hits.is_empty()).then(|| self.report(raw, hits, "grpc_message"));
        if self.report.mode != DlpMode::Detect {
            return self.refuse(incident.as_deref(), why);
        }
        self.passthrough = true;
        self.wire.pass_rest(rest, &mut self.out);
    }

    /// The upstream's trailers: each value scanned; masked (`mask`), or the call refused
    /// (`block`).
    fn trailers_in(&mut self, mut t: HeaderMap) {
        let mut refused = None;
        for (_, v) in t.iter_mut() {
            let Ok(text) = v.to_str().map(str::to_owned) else {
                continue;
            };
            let hits = self.report.dlp.scanner().scan(&text, &self.report.allow);
            if hits.is_empty() {
                continue;
            }
            let masked = mask(&text, &hits);
            let incident = self.report(text, hits, "response_trailers");
            match self.report.mode {
                DlpMode::Mask => {
                    *v = HeaderValue::from_str(&masked)
                        .unwrap_or_else(|_| HeaderValue::from_static("REDACTED"));
                }
                DlpMode::Block | DlpMode::Off => refused = Some(incident),
                DlpMode::Detect => {}
            }
        }
        match refused {
            Some(incident) => self.refuse(Some(&incident), "a secret in the gRPC trailers"),
            None => self.trailers = Some(t),
        }
    }
}

impl hyper::body::Body for GrpcScanned {
    type Data = Bytes;
    type Error = axum::Error;

    /// A trailers-only answer (no body at all) stays one: HEADERS with END_STREAM. (The
    /// upstream's body is not asked again later: HTTP/2's says it ended while its trailers
    /// are still to be read.)
    fn is_end_stream(&self) -> bool {
        self.out.is_empty() && self.trailers.is_none() && (self.ended || self.empty)
    }

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        loop {
            // A call that ends waits for its reports (see `reports`): its last data (a
            // gRPC-Web refusal) and its trailers go after them.
            if self.ended {
                while let Some(task) = self.reports.last_mut() {
                    match Pin::new(task).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(_) => {
                            self.reports.pop();
                        }
                    }
                }
            }
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
            if self.ended {
                return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(f) => f,
            };
            match frame {
                None => {
                    let partial = !self.passthrough && self.wire.partial();
                    if partial {
                        self.unreadable("the answer ended inside a gRPC message");
                    }
                    self.ended = true;
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.take(&data),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            if self.passthrough {
                                self.trailers = Some(t);
                            } else {
                                self.trailers_in(t);
                            }
                        }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: &[u8], coding: &Coding) -> Result<String, &'static str> {
        message_payload(message, coding).map(|p| binary_view(&p))
    }

    fn message(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![flags];
        m.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        m.extend_from_slice(payload);
        m
    }

    /// Whatever the chunking, the framer gives back each message whole, and refuses bytes
    /// that are not gRPC framing or announce a message over the limit.
    #[test]
    fn messages_are_cut_whole_from_any_chunking() {
        let stream: Vec<u8> = [
            message(0, b"\x0a\x10card 4111111111111111"),
            message(0, b""),
            message(1, b"zz"),
            message(0x80, b"grpc-status:0\r\n"),
        ]
        .concat();
        for chunk in [1, 2, 5, 7, 100] {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(m) = f.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got.concat(), stream, "chunk {chunk}");
            assert_eq!(got.len(), 4);
        }
        let mut f = Framer::default();
        f.push(b"card 4111111111111111");
        assert!(f.next_message().is_err(), "plain text is not gRPC");
        let mut f = Framer::default();
        f.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(f.next_message().is_err(), "over the limit");
    }

    #[test]
    fn base64_text_decodes_across_chunks_and_padding() {
        let a = message(0, b"secret one");
        let b = message(0, b"two");
        let wire = format!("{}{}", STANDARD.encode(&a), STANDARD.encode(&b));
        for chunk in [1, 3, 4, 9] {
            let mut s = Base64Stream::default();
            let mut out = Vec::new();
            for piece in wire.as_bytes().chunks(chunk) {
                s.feed(piece, &mut out).unwrap();
            }
            assert_eq!(out, [a.clone(), b.clone()].concat(), "chunk {chunk}");
        }
        assert!(
            Base64Stream::default()
                .feed(b"****", &mut Vec::new())
                .is_err()
        );
    }

    #[test]
    fn compressed_messages_are_read_decompressed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"key AKIAIOSFODNN7EXAMPLE").unwrap();
        let m = message(1, &gz.finish().unwrap());
        assert_eq!(text(&m, &Coding::Gzip).unwrap(), "key AKIAIOSFODNN7EXAMPLE");
        assert!(text(&m, &Coding::Identity).is_err());
        assert!(text(&m, &Coding::Unreadable("snappy".into())).is_err());
        assert_eq!(
            text(&message(0, b"\x0a\x04a\0b"), &Coding::Identity).unwrap(),
            "\n\u{4}ab"
        );
        let mut h = HeaderMap::new();
        h.insert("grpc-encoding", HeaderValue::from_static("GZIP"));
        assert_eq!(message_coding(&h), Coding::Gzip);
        h.insert("grpc-encoding", HeaderValue::from_static("snappy"));
        assert!(matches!(message_coding(&h), Coding::Unreadable(_)));
    }
}
