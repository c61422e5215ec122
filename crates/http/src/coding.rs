//! Content codings (RFC 9110 section 8.4): request bodies and upstream answers in gzip or
//! deflate are decoded before request inspection and DLP read them, so that nothing hides
//! from either by being compressed. A coding Portcullis cannot read (`br`, `zstd`, stacked
//! codings) is reported as such, and the callers fail closed on it.
//!
//! Decoding is bounded: input is fed in small steps, so a decompression bomb costs at most
//! what the caller asked for ([`decode_bounded`]) or one step's output per frame
//! ([`Decoded`]), never its whole expansion at once.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use hyper::body::Frame;

/// Compressed bytes fed to the decoder at a time: deflate expands at most about 1,032 to 1,
/// so one step yields at most about 1 MiB.
const STEP: usize = 1024;
/// Decoded bytes gathered before a frame is handed on.
const FRAME: usize = 16 * 1024;

/// The content coding of a body, from its `Content-Encoding` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coding {
    /// None (or only `identity`).
    Identity,
    /// `gzip` or `x-gzip` (RFC 1952; several members one after another are one body).
    Gzip,
    /// `deflate`: zlib (RFC 1950), or raw deflate (RFC 1951) as some servers send it.
    Deflate,
    /// Anything else, or more than one coding: the header's value, as it was sent.
    Unreadable(String),
}

impl Coding {
    /// The coding `headers` declare.
    pub fn of(headers: &HeaderMap) -> Self {
        let mut codings = Vec::new();
        for v in headers.get_all(header::CONTENT_ENCODING) {
            let Ok(v) = v.to_str() else {
                return Self::Unreadable(String::from_utf8_lossy(v.as_bytes()).into_owned());
            };
            codings.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity")),
            );
        }
        match codings.as_slice() {
            [] => Self::Identity,
            [c] if c.eq_ignore_ascii_case("gzip") || c.eq_ignore_ascii_case("x-gzip") => Self::Gzip,
            [c] if c.eq_ignore_ascii_case("deflate") => Self::Deflate,
            _ => Self::Unreadable(codings.join(", ")),
        }
    }

    /// Whether the body is sent as it is.
    pub fn is_identity(&self) -> bool {
        *self == Self::Identity
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The coding is not one Portcullis reads.
    #[error("content coding {0:?} cannot be decoded for inspection")]
    Unreadable(String),
    /// The compressed data is broken or cut short.
    #[error("the {0} data is malformed or cut short")]
    Malformed(&'static str),
}

enum Inner {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    /// `deflate` before its first two bytes say zlib or raw.
    Undecided(Vec<u8>),
}

/// A streaming decoder of one body.
pub struct Decoder {
    inner: Inner,
    name: &'static str,
    fed: bool,
}

impl Decoder {
    /// A decoder for `coding`; an error for one Portcullis does not read.
    pub fn new(coding: &Coding) -> Result<Self, DecodeError> {
        let (inner, name) = match coding {
            Coding::Gzip => (
                Inner::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
                "gzip",
            ),
            Coding::Deflate => (Inner::Undecided(Vec::new()), "deflate"),
            Coding::Identity => return Err(DecodeError::Unreadable("identity".into())),
            Coding::Unreadable(c) => return Err(DecodeError::Unreadable(c.clone())),
        };
        Ok(Self {
            inner,
            name,
            fed: false,
        })
    }

    fn malformed(&self) -> DecodeError {
        DecodeError::Malformed(self.name)
    }

    /// Feeds compressed bytes and appends what they decode to onto `out` (feed small
    /// pieces to bound what one call can append: deflate expands up to about 1,032 times).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if input.is_empty() {
            return Ok(());
        }
        self.fed = true;
        if let Inner::Undecided(start) = &mut self.inner {
            start.extend_from_slice(input);
            if start.len() < 2 {
                return Ok(());
            }
            let start = std::mem::take(start);
            self.inner = if is_zlib(&start) {
                Inner::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Inner::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
            };
            return self.feed(&start, out);
        }
        let written = match &mut self.inner {
            Inner::Gzip(d) => d.write_all(input).and_then(|()| d.flush()),
            Inner::Zlib(d) => d.write_all(input).and_then(|()| d.flush()),
            Inner::Raw(d) => d.write_all(input).and_then(|()| d.flush()),
            Inner::Undecided(_) => Ok(()),
        };
        written.map_err(|_| self.malformed())?;
        let decoded = match &mut self.inner {
            Inner::Gzip(d) => d.get_mut(),
            Inner::Zlib(d) => d.get_mut(),
            Inner::Raw(d) => d.get_mut(),
            Inner::Undecided(_) => return Ok(()),
        };
        out.append(decoded);
        Ok(())
    }

    /// The end of the input: what is left, or an error when the data was cut short. An
    /// empty body (a `HEAD` answer, a 304) decodes to nothing.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if !self.fed {
            return Ok(());
        }
        let malformed = self.malformed();
        let rest = match &mut self.inner {
            // One byte of `deflate` is never a whole stream.
            Inner::Undecided(_) => return Err(malformed),
            Inner::Gzip(d) => d.try_finish().map(|()| d.get_mut()),
            Inner::Zlib(d) => d.try_finish().map(|()| d.get_mut()),
            Inner::Raw(d) => d.try_finish().map(|()| d.get_mut()),
        }
        .map_err(|_| malformed)?;
        out.append(rest);
        // A gzip stream cut inside its header or trailer finishes without an error.
        if let Inner::Gzip(d) = self.inner
            && d.finish().is_err()
        {
            return Err(DecodeError::Malformed("gzip"));
        }
        Ok(())
    }
}

/// A zlib stream header (RFC 1950 section 2.2): deflate, a window of at most 32 KiB, and
/// the check bits.
fn is_zlib(start: &[u8]) -> bool {
    match start {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Decodes `input` (all of the body when `complete`, else its first bytes) to at most
/// `limit` bytes: the decoded bytes, and whether they are the whole body.
pub fn decode_bounded(
    coding: &Coding,
    input: &[u8],
    complete: bool,
    limit: usize,
) -> Result<(Vec<u8>, bool), DecodeError> {
    let mut decoder = Decoder::new(coding)?;
    let mut out = Vec::new();
    for step in input.chunks(STEP) {
        decoder.feed(step, &mut out)?;
        if out.len() > limit {
            out.truncate(limit);
            return Ok((out, false));
        }
    }
    if !complete {
        return Ok((out, false));
    }
    decoder.finish(&mut out)?;
    if out.len() > limit {
        out.truncate(limit);
        return Ok((out, false));
    }
    Ok((out, true))
}

/// A body decoded as it streams. Broken compressed data ends it with an error, so what
/// could not be decoded is never passed on as if it were the whole answer.
pub struct Decoded {
    inner: Body,
    decoder: Option<Decoder>,
    pending: Bytes,
    trailers: Option<HeaderMap>,
    /// The input has ended (trailers or the end of the body).
    ended: bool,
}

impl Decoded {
    /// `body`, decoded by `decoder`.
    pub fn new(body: Body, decoder: Decoder) -> Self {
        Self {
            inner: body,
            decoder: Some(decoder),
            pending: Bytes::new(),
            trailers: None,
            ended: false,
        }
    }
}

impl hyper::body::Body for Decoded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let mut out = Vec::new();
        loop {
            let Some(decoder) = this.decoder.as_mut() else {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            while !this.pending.is_empty() && out.len() < FRAME {
                let step = this.pending.split_to(this.pending.len().min(STEP));
                if let Err(e) = decoder.feed(&step, &mut out) {
                    this.decoder = None;
                    this.trailers = None;
                    return Poll::Ready(Some(Err(axum::Error::new(e))));
                }
            }
            if out.len() >= FRAME {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
            if this.ended {
                let Some(decoder) = this.decoder.take() else {
                    continue;
                };
                if let Err(e) = decoder.finish(&mut out) {
                    this.trailers = None;
                    return Poll::Ready(Some(Err(axum::Error::new(e))));
                }
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                }
                continue;
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending if out.is_empty() => return Poll::Pending,
                // What is decoded goes on now; the next poll asks the body again.
                Poll::Pending => return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out))))),
                Poll::Ready(None) => this.ended = true,
                Poll::Ready(Some(Err(e))) => {
                    this.decoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(frame) => {
                        this.trailers = frame.into_trailers().ok();
                        this.ended = true;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use http_body_util::BodyExt;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn text() -> Vec<u8> {
        (0..5000)
            .flat_map(|i| format!("line {i}: {{\"q\":\"1' OR '1'='1\"}}\n").into_bytes())
            .collect()
    }

    #[test]
    fn codings_are_read_from_every_header() {
        assert_eq!(Coding::of(&headers(&[])), Coding::Identity);
        assert_eq!(Coding::of(&headers(&["identity"])), Coding::Identity);
        assert_eq!(Coding::of(&headers(&["GZip"])), Coding::Gzip);
        assert_eq!(Coding::of(&headers(&["x-gzip"])), Coding::Gzip);
        assert_eq!(
            Coding::of(&headers(&[" deflate ,identity"])),
            Coding::Deflate
        );
        assert_eq!(
            Coding::of(&headers(&["br"])),
            Coding::Unreadable("br".into())
        );
        // Stacked codings, in one header or in two, are not read.
        assert_eq!(
            Coding::of(&headers(&["gzip, gzip"])),
            Coding::Unreadable("gzip, gzip".into())
        );
        assert_eq!(
            Coding::of(&headers(&["deflate", "gzip"])),
            Coding::Unreadable("deflate, gzip".into())
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_bytes(b"gz\xffip").unwrap(),
        );
        assert!(matches!(Coding::of(&h), Coding::Unreadable(_)));
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_decode() {
        let t = text();
        for (coding, data) in [
            (Coding::Gzip, gzip(&t)),
            (Coding::Deflate, zlib(&t)),
            (Coding::Deflate, raw(&t)),
        ] {
            let (out, whole) = decode_bounded(&coding, &data, true, 1 << 20).unwrap();
            assert!(whole);
            assert_eq!(out, t, "{coding:?}");
        }
        // Two gzip members are one body (RFC 1952 section 2.2).
        let mut two = gzip(b"first ");
        two.extend(gzip(b"second"));
        let (out, _) = decode_bounded(&Coding::Gzip, &two, true, 100).unwrap();
        assert_eq!(out, b"first second");
        // Nothing at all decodes to nothing.
        assert_eq!(
            decode_bounded(&Coding::Gzip, b"", true, 10).unwrap(),
            (Vec::new(), true)
        );
    }

    #[test]
    fn broken_or_cut_data_is_an_error_when_the_body_is_whole() {
        let data = gzip(&text());
        for cut in [1, 5, 10, 20, data.len() / 2, data.len() - 4, data.len() - 1] {
            assert!(
                decode_bounded(&Coding::Gzip, &data[..cut], true, 1 << 20).is_err(),
                "cut at {cut}"
            );
            // The first bytes of a longer body are not an error.
            let (out, whole) = decode_bounded(&Coding::Gzip, &data[..cut], false, 1 << 20).unwrap();
            assert!(!whole && out.len() <= text().len());
        }
        let mut bad = data.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // the CRC
        assert!(decode_bounded(&Coding::Gzip, &bad, true, 1 << 20).is_err());
        assert!(decode_bounded(&Coding::Deflate, b"x", true, 10).is_err());
        assert!(decode_bounded(&Coding::Gzip, b"not gzip at all", true, 100).is_err());
        assert!(matches!(
            decode_bounded(&Coding::Unreadable("br".into()), b"x", true, 10),
            Err(DecodeError::Unreadable(_))
        ));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros in about 64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 128 << 10);
        let (out, whole) = decode_bounded(&Coding::Gzip, &bomb, true, 128 << 10).unwrap();
        assert_eq!((out.len(), whole), (128 << 10, false));
    }

    /// A body of `chunks`, one frame each.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    async fn stream(data: Vec<u8>, chunk: usize, coding: &Coding) -> Result<Vec<u8>, String> {
        let body = Body::new(Chunks(
            data.chunks(chunk).map(Bytes::copy_from_slice).collect(),
        ));
        let mut decoded = Decoded::new(body, Decoder::new(coding).unwrap());
        let mut out = Vec::new();
        while let Some(frame) = decoded.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            let data = frame.into_data().unwrap();
            assert!(data.len() <= FRAME + STEP * 1100);
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_stream_decodes_whatever_its_chunks() {
        let t = text();
        for (coding, data) in [
            (Coding::Gzip, gzip(&t)),
            (Coding::Deflate, zlib(&t)),
            (Coding::Deflate, raw(&t)),
        ] {
            for chunk in [1, 2, 3, 7, 100, 4096, 1 << 20] {
                assert_eq!(
                    stream(data.clone(), chunk, &coding).await.unwrap(),
                    t,
                    "{coding:?} in chunks of {chunk}"
                );
            }
            // Cut short: an error at the end, never a quiet end.
            let cut = data[..data.len() - 3].to_vec();
            assert!(stream(cut, 100, &coding).await.is_err());
        }
        assert_eq!(stream(Vec::new(), 1, &Coding::Gzip).await.unwrap(), b"");
        // A bomb streams in bounded frames (checked in `stream`).
        let bomb = gzip(&vec![b'a'; 8 << 20]);
        assert_eq!(
            stream(bomb, 1 << 16, &Coding::Gzip).await.unwrap().len(),
            8 << 20
        );
    }
}
