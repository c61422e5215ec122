//! hyper's own refusals, as problem documents.
//!
//! hyper answers an HTTP/1.1 request head it cannot parse (400), one over its buffer (431)
//! and a request target over its limit (414) itself, before any service sees a request:
//! a status line with `connection: close`, `content-length: 0` and `date`, and no body.
//! Every other error Portcullis sends is an RFC 9457 document with a `code` clients switch
//! on; this turns hyper's into one as it is written to the socket. Only that exact shape is
//! rewritten: every answer of Portcullis's own carries headers hyper's never does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use tokio::io::AsyncWrite;

use portcullis_http::error::Problem;

/// Whether `written` may be one of hyper's refusals: a cheap test before `rewrite`.
pub(crate) fn candidate(written: &[u8]) -> bool {
    written.len() < 256 && written.starts_with(b"HTTP/1.1 4")
}

/// A rewritten refusal, written before anything else goes to the socket.
pub(crate) struct Pending {
    bytes: Vec<u8>,
    at: usize,
}

impl Pending {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, at: 0 }
    }

    /// Writes what is left of it; ready once all of it went out.
    pub(crate) fn poll_drain<T: AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while let Some(rest) = self.bytes.get(self.at..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.at += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The problem document that replaces `written`, when `written` is exactly one of hyper's
/// own refusals (a head and no body); `None` for anything else.
pub(crate) fn rewrite(written: &[u8], hsts: bool) -> Option<Vec<u8>> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?;
    let code: u16 = status.get(..3)?.parse().ok()?;
    let (mut connection, mut length, mut date) = (false, false, None);
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        match name {
            "connection" if value == "close" && !connection => connection = true,
            "content-length" if value == "0" && !length => length = true,
            "date" if date.is_none() => date = Some(value),
            _ => return None,
        }
    }
    if !(connection && length) {
        return None;
    }
    let (problem_code, detail) = match code {
        400 => (
            "invalid_request",
            "The request is not valid HTTP/1.1: its request line or a header could not be parsed.",
        ),
        414 => ("uri_too_long", "The request target is too long."),
        431 => (
            "request_header_fields_too_large",
            "The request line and headers are over the limit.",
        ),
        _ => return None,
    };
    let status = StatusCode::from_u16(code).ok()?;
    let problem = Problem {
        type_: format!(
            "https://portcullis.dev/problems/{}",
            problem_code.replace('_', "-")
        ),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: code,
        detail: detail.to_owned(),
        code: problem_code.to_owned(),
        errors: Vec::new(),
        challenge: None,
        incident_id: None,
    };
    let body = serde_json::to_vec(&problem).ok()?;
    let mut res = Response::new(Body::empty());
    portcullis_http::middleware::apply_security_headers(&mut res, true, hsts);
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(&portcullis_http::middleware::new_request_id()) {
        headers.insert(portcullis_http::middleware::REQUEST_ID, v);
    }
    let mut out = Vec::with_capacity(1024 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status}\r\n").as_bytes());
    for (name, value) in res.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(date) = date {
        out.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    fn parts(out: &[u8]) -> (String, serde_json::Value) {
        let text = String::from_utf8(out.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        (head.to_owned(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn hypers_refusals_become_problem_documents() {
        for (status, code) in [
            ("400 Bad Request", "invalid_request"),
            (
                "431 Request Header Fields Too Large",
                "request_header_fields_too_large",
            ),
            ("414 URI Too Long", "uri_too_long"),
        ] {
            let canned = format!(
                "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 13:54:35 GMT\r\n\r\n"
            );
            let (head, body) = parts(&rewrite(canned.as_bytes(), false).unwrap());
            assert!(!head.contains("strict-transport-security"));
            let (tls, _) = parts(&rewrite(canned.as_bytes(), true).unwrap());
            assert!(tls.contains("strict-transport-security"), "{tls}");
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(head.contains("content-type: application/problem+json"));
            assert!(head.contains("connection: close"));
            assert!(head.contains("date: Mon, 07 Dec 2026 13:54:35 GMT"));
            assert!(head.contains("x-content-type-options: nosniff"));
            assert_eq!(body["code"], code);
            assert_eq!(body["status"], status[..3].parse::<u16>().unwrap());
        }
    }

    #[test]
    fn anything_else_is_left_alone() {
        for other in [
            // An answer of Portcullis's own or an upstream's: more headers, or a body.
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\nx",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.0 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "",
            "HTTP/1.1 4",
        ] {
            assert!(rewrite(other.as_bytes(), false).is_none(), "{other:?}");
        }
    }
}
