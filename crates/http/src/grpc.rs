//! gRPC clients get the gateway's own refusals in gRPC form (the contract's "Protocols,
//! forwarding and access logs"): HTTP 200, `content-type: application/grpc`, and a
//! trailers-only `grpc-status` with the problem's `detail` as `grpc-message`. What an
//! upstream answered passes through untouched, trailers included.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Marks a response that came from an upstream (not one the gateway made itself): such a
/// response is passed on as it is, also to gRPC clients.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

/// Largest problem body read to find its `detail`.
const PROBLEM_LIMIT: usize = 64 * 1024;

/// Whether a request is a gRPC call (`application/grpc`, `application/grpc+proto`, ...).
pub fn is_grpc(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
            && v.get(16).is_none_or(|&b| matches!(b, b'+' | b';' | b'-'))
    })
}

/// The gRPC status code for an HTTP status the gateway answered with.
pub fn status_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 | 411 | 413 | 414 | 415 | 422 | 431 => 3, // INVALID_ARGUMENT
        401 => 16,                                    // UNAUTHENTICATED
        403 => 7,                                     // PERMISSION_DENIED
        404 | 405 | 501 => 12,                        // UNIMPLEMENTED
        408 | 504 => 4,                               // DEADLINE_EXCEEDED
        409 => 10,                                    // ABORTED
        412 => 9,                                     // FAILED_PRECONDITION
        429 => 8,                                     // RESOURCE_EXHAUSTED
        502 | 503 => 14,                              // UNAVAILABLE
        500 => 13,                                    // INTERNAL
        _ => 2,                                       // UNKNOWN
    }
}

/// `grpc-message` encoding (gRPC over HTTP/2): percent-encodes everything outside
/// printable ASCII, and `%` itself.
pub fn encode_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The trailers that end a call the gateway cut short: `grpc-status`, `grpc-message` (the
/// detail, encoded) and the incident id as `portcullis-incident-id` metadata.
pub(crate) fn ending(status: u8, detail: &str, incident: Option<&str>) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from(u16::from(status)));
    if let Ok(v) = HeaderValue::from_str(&encode_message(detail)) {
        t.insert("grpc-message", v);
    }
    if let Some(v) = incident.and_then(|id| HeaderValue::from_str(id).ok()) {
        t.insert("portcullis-incident-id", v);
    }
    t
}

/// gRPC-Web's trailers: a message flagged 0x80 holding them as HTTP/1 header lines.
pub(crate) fn web_trailers(t: &HeaderMap) -> Vec<u8> {
    let mut block = String::new();
    for (k, v) in t {
        block.push_str(k.as_str());
        block.push(':');
        block.push_str(v.to_str().unwrap_or_default());
        block.push_str("\r\n");
    }
    let len = u32::try_from(block.len()).unwrap_or(0).to_be_bytes();
    let mut frame = vec![0x80];
    frame.extend_from_slice(&len);
    frame.extend_from_slice(block.as_bytes());
    frame
}

/// The content type a refusal to this request is answered with, when it is a gRPC call:
/// `application/grpc`, or a gRPC-Web client's own (`application/grpc-web+proto`,
/// `application/grpc-web-text`), which takes a trailers-only answer in headers too.
pub fn grpc_content_type(h: &HeaderMap) -> Option<HeaderValue> {
    if !is_grpc(h) {
        return None;
    }
    let sent = h.get(header::CONTENT_TYPE)?;
    let web = sent
        .as_bytes()
        .get(..20)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc-web"));
    Some(if web {
        sent.clone()
    } else {
        HeaderValue::from_static("application/grpc")
    })
}

/// The answer to a request (`grpc`: the content type of a gRPC request's refusals, from
/// [`grpc_content_type`]): a refusal Portcullis itself made to a gRPC request is rewritten
/// in gRPC form; anything else is left as it is. (Called by the server's front service for
/// every request.)
pub async fn in_grpc_form(grpc: Option<HeaderValue>, res: Response) -> Response {
    let Some(content_type) = grpc else {
        return res;
    };
    if res.status().is_success() || res.extensions().get::<Proxied>().is_some() {
        return res;
    }
    into_grpc(res, content_type).await
}

/// Rewrites a refusal (an RFC 9457 problem) as a trailers-only gRPC response. Its incident
/// id (a WAF or DLP refusal's) is in `grpc-message` and in `portcullis-incident-id`
/// metadata, to quote as the problem's detail asks.
async fn into_grpc(res: Response, content_type: HeaderValue) -> Response {
    let (mut parts, body) = res.into_parts();
    let code = status_code(parts.status);
    let problem = axum::body::to_bytes(body, PROBLEM_LIMIT)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let incident = problem
        .as_ref()
        .and_then(|v| v.get("incident_id"))
        .and_then(|v| v.as_str())
        .and_then(|v| HeaderValue::from_str(v).ok());
    let detail = problem
        .as_ref()
        .and_then(|v| {
            v.get("detail")
                .or_else(|| v.get("title"))
                .and_then(|d| d.as_str())
                .map(|d| match &incident {
                    Some(id) => format!("{d} (incident {})", id.to_str().unwrap_or_default()),
                    None => d.to_owned(),
                })
        })
        .unwrap_or_else(|| {
            parts
                .status
                .canonical_reason()
                .unwrap_or("refused")
                .to_owned()
        });
    parts.status = StatusCode::OK;
    let h = &mut parts.headers;
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::CONNECTION);
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if let Some(id) = incident {
        h.insert("portcullis-incident-id", id);
    }
    if let Ok(v) = HeaderValue::from_str(&encode_message(&detail)) {
        h.insert("grpc-message", v);
    }
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any text becomes a valid header value that decodes back to the same bytes, and
        /// any content type is judged without a panic.
        #[test]
        fn messages_round_trip(text in "\\PC*", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let encoded = encode_message(&text);
            proptest::prop_assert!(HeaderValue::from_str(&encoded).is_ok());
            let mut decoded = Vec::new();
            let bytes = encoded.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes.get(i).copied().unwrap_or_default();
                if b == b'%' {
                    let hex = std::str::from_utf8(bytes.get(i + 1..i + 3).unwrap_or_default()).unwrap_or("");
                    decoded.push(u8::from_str_radix(hex, 16).unwrap_or_default());
                    i += 3;
                } else {
                    decoded.push(b);
                    i += 1;
                }
            }
            proptest::prop_assert_eq!(decoded, text.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&raw) {
                let mut h = HeaderMap::new();
                h.insert(header::CONTENT_TYPE, v);
                let _ = is_grpc(&h);
            }
        }
    }

    #[test]
    fn grpc_content_types() {
        let mut h = HeaderMap::new();
        for (v, want) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/GRPC+json", true),
            ("application/grpc-web", true),
            ("application/grpc; charset=utf-8", true),
            ("application/grpcx", false),
            ("application/json", false),
            ("application/grp", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            assert_eq!(is_grpc(&h), want, "{v}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn statuses_map_as_the_contract_says() {
        for (http, grpc) in [
            (401, 16),
            (403, 7),
            (429, 8),
            (503, 14),
            (400, 3),
            (413, 3),
            (504, 4),
            (404, 12),
            (500, 13),
            (418, 2),
        ] {
            let status = StatusCode::from_u16(http).unwrap_or(StatusCode::OK);
            assert_eq!(status_code(status), grpc, "{http}");
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_message("plain text"), "plain text");
        assert_eq!(encode_message("100% sure"), "100%25 sure");
        assert_eq!(encode_message("line\nbreak"), "line%0Abreak");
        assert_eq!(encode_message("caf\u{e9}"), "caf%C3%A9");
    }

    #[tokio::test]
    async fn a_problem_becomes_trailers_only() {
        let problem = crate::error::ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Slow down: 100% used.",
        );
        let res = into_grpc(
            axum::response::IntoResponse::into_response(problem),
            HeaderValue::from_static("application/grpc"),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(
            h.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"8"[..])
        );
        assert_eq!(
            h.get("grpc-message").map(HeaderValue::as_bytes),
            Some(&b"Slow down: 100%25 used."[..])
        );
        assert_eq!(
            h.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(&b"application/grpc"[..])
        );
        let body = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .unwrap_or_default();
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn an_incident_is_quoted_and_grpc_web_keeps_its_type() {
        let blocked = crate::waf::blocked("inc_0123456789abcdef".into());
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc-web+proto"),
        );
        let res = in_grpc_form(grpc_content_type(&h), blocked).await;
        let h = res.headers();
        assert_eq!(h["grpc-status"], "7");
        assert_eq!(h["portcullis-incident-id"], "inc_0123456789abcdef");
        assert!(
            h["grpc-message"]
                .to_str()
                .unwrap_or_default()
                .ends_with("(incident inc_0123456789abcdef)")
        );
        assert_eq!(h[header::CONTENT_TYPE], "application/grpc-web+proto");
        let mut plain = HeaderMap::new();
        plain.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert_eq!(
            grpc_content_type(&plain),
            Some(HeaderValue::from_static("application/grpc"))
        );
        assert_eq!(grpc_content_type(&HeaderMap::new()), None);
    }
}
