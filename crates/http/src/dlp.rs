//! Data loss prevention on the gateway's responses (`[dlp]`, per route `dlp = {mode,
//! allow}`): the first `body_limit_bytes` of each textual response are scanned; matches
//! are audited as `dlp.match` (detector, place and a keyed fingerprint, never the value),
//! and the rest of a longer one is scanned as it streams (`dlp_stream`, with an overlap
//! window, so nothing past the limit leaves unread),
//! masked (`mask`) or the response replaced by 502 `response_blocked` (`block`). A live
//! Portcullis API key in a response is revoked at once (`revoke_leaked_api_keys`).
//!
//! Upstreams are asked for uncompressed answers while DLP is on (the gateway drops
//! `Accept-Encoding`); an answer compressed anyway is decoded (gzip, deflate) and sent on
//! decoded, and one in a coding DLP cannot read is blocked unless DLP only detects.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::config::{DlpConfig, DlpMode, RouteDlpConfig};
use portcullis_core::service::RequestContext;
use portcullis_waf::dlp::{Dlp, mask};

use crate::Edge;
use crate::dlp_stream::Reporter;
use crate::error::ApiError;
use crate::waf::{Throttle, incident_id};

mod long;
mod report;

/// The detectors with `[dlp]`.
pub struct DlpRuntime {
    dlp: Dlp,
    cfg: DlpConfig,
    throttle: Mutex<Throttle>,
    budget: crate::dlp_budget::Budget,
    /// Logged texts that held nothing to mask ([`Self::mask_text`]).
    clean: crate::dlp_clean::Clean,
}

impl std::fmt::Debug for DlpRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlpRuntime")
            .field("mode", &self.cfg.mode)
            .finish_non_exhaustive()
    }
}

/// What the detectors read of bytes that are not UTF-8 text (a binary answer, UTF-16 or
/// UTF-32 text): NUL bytes dropped, so `4\01\01\01\0` reads `4111`, and each byte that is
/// not UTF-8 read as a replacement character.
pub(crate) fn binary_view(bytes: &[u8]) -> String {
    let kept: Vec<u8> = bytes.iter().copied().filter(|b| *b != 0).collect();
    String::from_utf8_lossy(&kept).into_owned()
}

fn textual(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let mime = crate::media_type(ct);
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/x-ndjson"
                | "application/ndjson"
                | "application/jsonl"
                | "application/x-jsonlines"
                | "application/jsonlines"
                | "application/json-seq"
                | "application/x-json-stream"
                | "application/graphql-response+json"
                | ""
        )
}

/// The headers that describe an answer's body as the upstream sent it, removed when DLP
/// changes it (masks it, or decodes its content coding): its length, its entity tag and its
/// digests. A digest of the unmasked body would also give the masked value back to anyone
/// who tries the few candidates a card's first six and last four digits leave (black-box
/// pass 11, B11-3), and no longer matches what is sent.
fn body_changed(headers: &mut axum::http::HeaderMap) {
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ETAG);
    // Digests, checksums and signatures by any name: RFC 9530's and RFC 3230's,
    // `Content-MD5`, the clouds' (`x-amz-checksum-sha256`, `x-goog-hash`,
    // `x-content-sha256`: black-box pass 12, B12-9; `x-ms-content-crc64`, BLAKE3 and
    // xxHash sums, RFC 9421 `Signature`s over the digest, the decoded length: pass 13,
    // B13-14).
    let sums: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            [
                "digest",
                "checksum",
                "md5",
                "sha1",
                "sha256",
                "sha512",
                "hash",
                "crc",
                "blake",
                "b2",
                "xxh",
                "hmac",
                "signature",
                "integrity",
                "fingerprint",
                "decoded-content-length",
            ]
            .iter()
            .any(|w| k.contains(w))
        })
        .cloned()
        .collect();
    for name in sums {
        headers.remove(name);
    }
}

impl DlpRuntime {
    /// The built-in detectors named by `[dlp]`, and the gitleaks rules of `rules_file`.
    pub fn new(cfg: &DlpConfig) -> Result<Self, String> {
        let mut dlp = Dlp::builtin(&cfg.detectors).map_err(|e| format!("dlp.detectors: {e}"))?;
        dlp.set_validator("portcullis_api_key", |s| {
            portcullis_core::crypto::apikey::parse(s).is_some()
        });
        if let Some(path) = &cfg.rules_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("dlp.rules_file {}: {e}", path.display()))?;
            let (loaded, skipped) = dlp
                .load_gitleaks(&text)
                .map_err(|e| format!("dlp.rules_file {}: {e}", path.display()))?;
            tracing::info!(loaded, skipped = ?skipped, "gitleaks rules loaded for DLP");
        }
        Ok(Self {
            dlp,
            cfg: cfg.clone(),
            throttle: Mutex::new(Throttle::default()),
            budget: crate::dlp_budget::Budget::new(crate::dlp_budget::budget_for(
                cfg.body_limit_bytes,
            )),
            clean: crate::dlp_clean::Clean::default(),
        })
    }

    /// `text` with what the detectors find masked, when they find something: for logs and
    /// audit details (a path or a User-Agent can carry a card number or a key), whatever
    /// `[dlp]`'s mode on answers is. No log line or audit event holds a matched value, DLP
    /// on answers or not (black-box pass 11, B11-9: with DLP off, paths with cards and keys
    /// were written out as they came).
    pub fn mask_text(&self, text: &str) -> Option<String> {
        let key = self.clean.key(text);
        if key.is_some_and(|k| self.clean.known(k)) {
            return None;
        }
        let hits = self.dlp.scan(text, &[]);
        if hits.is_empty() {
            if let Some(k) = key {
                self.clean.remember(k);
            }
            return None;
        }
        Some(mask(text, &hits))
    }

    /// Checks the detectors routes name in `allow`: a misspelt one would leave what it
    /// meant to allow masked or blocked without a word (black-box pass 13, B13-5).
    pub fn check_allow<'a>(
        &self,
        routes: impl Iterator<Item = (&'a str, &'a RouteDlpConfig)>,
    ) -> Result<(), String> {
        for (route, cfg) in routes {
            if let Some(unknown) = cfg.allow.iter().find(|n| {
                !portcullis_waf::dlp::builtin_names().any(|b| b == n.as_str())
                    && !self.dlp.names().any(|b| b == n.as_str())
            }) {
                return Err(format!(
                    "routes[{route}].dlp.allow: no detector is named {unknown:?} (built-in: {}; or a rule id of dlp.rules_file)",
                    portcullis_waf::dlp::builtin_names()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The mode on a route.
    pub fn mode(&self, route: Option<&RouteDlpConfig>) -> DlpMode {
        route.and_then(|r| r.mode).unwrap_or(self.cfg.mode)
    }

    /// A response on its way to the client, inspected.
    pub async fn filter(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        route_cfg: Option<&RouteDlpConfig>,
        res: Response,
    ) -> Response {
        let mode = self.mode(route_cfg);
        if mode == DlpMode::Off || res.status() == StatusCode::SWITCHING_PROTOCOLS {
            return res;
        }
        // Boxed: its state (2.5 KiB) would otherwise sit in every proxied request's future,
        // copied with it, DLP on or not.
        Box::pin(self.filter_on(edge, ctx, route, route_cfg, mode, res)).await
    }

    async fn filter_on(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        route_cfg: Option<&RouteDlpConfig>,
        mode: DlpMode,
        res: Response,
    ) -> Response {
        let (mut parts, body) = res.into_parts();
        let allow = route_cfg.map(|r| r.allow.as_slice()).unwrap_or_default();
        if let Some(refused) = self
            .filter_headers(edge, ctx, route, allow, mode, &mut parts)
            .await
        {
            return refused;
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Every answer is read, whatever its label: text as text; other types (an octet
        // stream, a PEM file, a PDF, a picture) in their first `body_limit_bytes`, where a
        // secret found makes the answer 502 in mask and block mode (bytes that are not
        // text cannot be rewritten); gRPC message by message (`dlp_grpc`).
        let binary = !textual(content_type);
        let events = crate::dlp_sse::framing(content_type).filter(|_| !binary);
        // A compressed answer is read as what it decodes to, and goes on decoded (the
        // gateway asked for it uncompressed): its length, validator and digests were the
        // compressed bytes', so they go. One DLP cannot read does not pass unread unless
        // DLP only watches.
        let coding = crate::coding::Coding::of(&parts.headers);
        let body = if coding.is_identity() {
            body
        } else {
            match crate::coding::Decoder::new(&coding) {
                Ok(decoder) => {
                    parts.headers.remove(header::CONTENT_ENCODING);
                    body_changed(&mut parts.headers);
                    Body::new(crate::coding::Decoded::new(body, decoder))
                }
                Err(e) => {
                    let incident = incident_id();
                    tracing::warn!(route, incident = %incident, error = %e, "a response DLP cannot read");
                    if mode == DlpMode::Detect {
                        return Response::from_parts(parts, body);
                    }
                    return blocked(
                        incident,
                        "The upstream's answer was compressed in a way that cannot be inspected.",
                    );
                }
            }
        };
        if crate::grpc::is_grpc(&parts.headers) {
            // Refusing a call part-way shortens it: its length no longer holds.
            parts.headers.remove(header::CONTENT_LENGTH);
            let report = Reporter::new(edge, ctx, route, allow, mode, parts.status.as_u16());
            let scanned = crate::dlp_grpc::GrpcScanned::new(body, &parts.headers, report);
            return Response::from_parts(parts, Body::new(scanned));
        }
        // Server-sent events and JSON lines go on event by event (read whole first, a
        // stream of them delivered nothing until the upstream had sent the limit).
        if let Some(framing) = events {
            if mode == DlpMode::Mask {
                parts.headers.remove(header::CONTENT_LENGTH);
            }
            let report = Reporter::new(edge, ctx, route, allow, mode, parts.status.as_u16());
            let scanned = crate::dlp_sse::SseScanned::new(body, report, framing);
            return Response::from_parts(parts, Body::new(scanned));
        }
        // What DLP holds of answers at once is bounded (clients that never read could
        // otherwise keep each answer's first part in memory): past the budget, an answer
        // is refused (503) rather than let out unread, unless DLP only watches.
        let announced = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // In block mode an answer that fits in the limit and the window held back past it
        // is read whole before anything is sent: a match anywhere in it is then a 502,
        // where one past the first part found the status line gone (black-box pass 14,
        // B13-2: a card in the last bytes of an answer just over the limit).
        let limit = self.cfg.body_limit_bytes;
        let read = match announced {
            Some(n)
                if matches!(mode, DlpMode::Block | DlpMode::Off)
                    && n > limit
                    && n <= limit + crate::dlp_stream::WINDOW =>
            {
                n
            }
            _ => limit,
        };
        let reserve = announced.map_or(read, |n| n.min(read));
        let Some(held) = self.budget.reserve(reserve, ctx.ip) else {
            tracing::warn!(route, "DLP holds as many answers as its budget allows");
            if mode == DlpMode::Detect {
                return Response::from_parts(parts, body);
            }
            return crate::dlp_budget::busy();
        };
        let res = self
            .filter_text(edge, ctx, route, allow, mode, parts, body, binary, read)
            .await;
        res.map(|b| Body::new(crate::dlp_budget::Holding::new(b, held)))
    }

    /// A textual (or binary) answer: its first `read` bytes (`body_limit_bytes`, or all of
    /// it when block mode reads it whole) read and scanned, the rest scanned as it streams.
    #[allow(clippy::too_many_arguments)]
    async fn filter_text(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        allow: &[String],
        mode: DlpMode,
        mut parts: axum::http::response::Parts,
        body: Body,
        binary: bool,
        read: usize,
    ) -> Response {
        let (head, _complete, rest) = match crate::body::read_up_to(body, read).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(route, error = %e, "upstream body failed under DLP inspection");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "The upstream's answer broke off.",
                )
                .into_response();
            }
        };
        // A long answer's first part is the stream's first step: its last bytes (a window's
        // worth, and any match reaching into them) are held back and scanned again with
        // what follows, so a secret across the limit is seen whole.
        let rest = match rest {
            Some(rest) if !binary && long::text_so_far(&head) => {
                return self
                    .filter_long(edge, ctx, route, allow, mode, parts, head, rest)
                    .await;
            }
            other => other,
        };
        let (text, exact) = match std::str::from_utf8(&head) {
            // NUL bytes in text: UTF-16 or UTF-32, read as such.
            Ok(t) if !binary && !head.contains(&0) => (std::borrow::Cow::Borrowed(t), true),
            _ => (std::borrow::Cow::Owned(binary_view(&head)), false),
        };
        // The rest of a long answer is scanned as it streams; masking may change its length.
        // (Past its first part, a binary answer streams unread.)
        let rest = rest.map(|rest| {
            if binary {
                return rest;
            }
            if mode == DlpMode::Mask {
                body_changed(&mut parts.headers);
            }
            Body::new(crate::dlp_stream::Scanned::new(
                rest,
                Reporter::new(edge, ctx, route, allow, mode, parts.status.as_u16()),
            ))
        });
        let hits = self.dlp.scan(&text, allow);
        // An answer that is a stream of events under another label is also read joined,
        // as its client puts it together (a key split across JSON lines' fields).
        let across = if exact {
            crate::dlp_join::joined_hits(&text, &self.dlp, allow, &hits)
        } else {
            Vec::new()
        };
        if hits.is_empty() && across.is_empty() {
            return Response::from_parts(parts, crate::body::rejoin(head, rest));
        }
        let incident = incident_id();
        let mut audit_failed = None;
        let status = parts.status.as_u16();
        let views = std::iter::once((text.as_ref(), hits.as_slice()))
            .chain(across.iter().map(|(view, h)| (view.as_str(), h.as_slice())))
            .filter(|(_, h)| !h.is_empty());
        for (view, found) in views {
            let (_, failed) = self
                .report_as(
                    incident.clone(),
                    edge,
                    ctx,
                    route,
                    mode,
                    view,
                    found,
                    status,
                    "response_body",
                )
                .await;
            audit_failed = audit_failed.or(failed);
        }
        if let Some(e) = audit_failed
            && mode == DlpMode::Block
        {
            return ApiError::from(e).into_response();
        }
        // A secret across events cannot be masked in the pieces that carry it.
        if !across.is_empty() && mode != DlpMode::Detect {
            return blocked(
                incident,
                "The upstream's answer held data that must not leave.",
            );
        }
        match mode {
            DlpMode::Block | DlpMode::Off => blocked(
                incident,
                "The upstream's answer held data that must not leave.",
            ),
            DlpMode::Mask if exact => {
                let masked = mask(&text, &hits);
                body_changed(&mut parts.headers);
                Response::from_parts(
                    parts,
                    crate::body::rejoin(axum::body::Bytes::from(masked), rest),
                )
            }
            // Not UTF-8: it cannot be rewritten safely, so it does not leave.
            DlpMode::Mask => blocked(
                incident,
                "The upstream's answer held data that must not leave.",
            ),
            DlpMode::Detect => Response::from_parts(parts, crate::body::rejoin(head, rest)),
        }
    }

    /// The answer's headers, scanned as its body is (a key in `X-Debug-Token` leaks as
    /// surely): a match is reported (a leaked API key revoked), masked in `mask` mode, and
    /// makes the answer 502 in `block` mode (the refusal, returned). JWTs and email
    /// addresses are not looked for here: they are what `Set-Cookie`, `Location` and
    /// `Link` carry in the ordinary course.
    async fn filter_headers(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        allow: &[String],
        mode: DlpMode,
        parts: &mut axum::http::response::Parts,
    ) -> Option<Response> {
        // Most answers' headers hold nothing: one scan of them all, a line each, says so
        // (a scan per header cost more than the body's).
        let mut joined = String::new();
        for value in parts.headers.values() {
            joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
            joined.push('\n');
        }
        if !self
            .dlp
            .scan(&joined, allow)
            .iter()
            .any(|h| h.detector != "jwt" && h.detector != "email")
        {
            return None;
        }
        let mut found = Vec::new();
        for (name, value) in &parts.headers {
            let text = String::from_utf8_lossy(value.as_bytes());
            let hits: Vec<_> = self
                .dlp
                .scan(&text, allow)
                .into_iter()
                .filter(|h| h.detector != "jwt" && h.detector != "email")
                .collect();
            if !hits.is_empty() {
                found.push((name.clone(), text.into_owned(), hits));
            }
        }
        for (name, text, hits) in found {
            let location = format!("response_header:{name}");
            let (incident, audit_failed) = self
                .report(
                    edge,
                    ctx,
                    route,
                    mode,
                    &text,
                    &hits,
                    parts.status.as_u16(),
                    &location,
                )
                .await;
            match mode {
                DlpMode::Block | DlpMode::Off => {
                    return Some(match audit_failed {
                        Some(e) => ApiError::from(e).into_response(),
                        None => blocked(
                            incident,
                            "The upstream's answer held data that must not leave.",
                        ),
                    });
                }
                DlpMode::Mask => {
                    // All of the header's values go; the masked ones come back.
                    let values: Vec<String> = parts
                        .headers
                        .get_all(&name)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()))
                        .map(|v| {
                            if v == text {
                                mask(&v, &hits)
                            } else {
                                v.into_owned()
                            }
                        })
                        .collect();
                    parts.headers.remove(&name);
                    for v in values {
                        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
                            parts.headers.append(name.clone(), v);
                        }
                    }
                }
                DlpMode::Detect => {}
            }
        }
        None
    }

    /// The detectors.
    pub(crate) fn scanner(&self) -> &Dlp {
        &self.dlp
    }
}

fn blocked(incident: String, detail: &str) -> Response {
    ApiError::new(StatusCode::BAD_GATEWAY, "response_blocked", detail)
        .with_incident(incident)
        .into_response()
}

/// The gateway drops `Accept-Encoding` toward upstreams on routes DLP reads, so their
/// answers come uncompressed, and `Range` (with `If-Range`): a part of an answer is
/// scanned alone, so asking for a secret a few bytes at a time would get it past DLP.
pub fn prepare_request(mode: DlpMode, headers: &mut axum::http::HeaderMap) {
    if mode != DlpMode::Off {
        // `identity`, not no header: without one, any coding is acceptable (RFC 9110
        // section 12.5.3).
        headers.insert(
            header::ACCEPT_ENCODING,
            axum::http::HeaderValue::from_static("identity"),
        );
        headers.remove(header::RANGE);
        headers.remove(header::IF_RANGE);
        headers.remove("request-range");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A route's `allow` names built-in detectors or the rules file's rule ids; a misspelt
    /// one is refused with the names it could be (black-box pass 13, B13-5).
    #[test]
    fn routes_allow_only_detectors_that_exist() {
        let dlp = DlpRuntime::new(&DlpConfig::default()).unwrap();
        let route = |allow: &[&str]| RouteDlpConfig {
            mode: None,
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
        };
        let fine = route(&["email", "card"]);
        assert_eq!(dlp.check_allow([("r", &fine)].into_iter()), Ok(()));
        let typo = route(&["emale"]);
        let err = dlp.check_allow([("r", &typo)].into_iter()).unwrap_err();
        assert!(
            err.contains("routes[r].dlp.allow") && err.contains("email"),
            "{err}"
        );
    }
}
