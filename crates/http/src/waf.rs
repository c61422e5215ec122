//! Request inspection where requests arrive: the gateway's routes and Portcullis's own API
//! share this. It reads the body up to the limit, asks the engine (`portcullis-waf`),
//! decides by the mode in force (the route's over `[waf]`), answers a block with 403
//! `request_blocked` and an incident id, and audits `waf.request_blocked` or
//! `waf.request_flagged` with the matched rules and where they matched, never the values.
//!
//! Audit rows are bounded per client address (a flood of attacks must not become a flood of
//! writes): past [`AUDITS_PER_MINUTE`] a minute, blocks are still answered and logged, and
//! the next audited event says how many were not audited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_core::config::{RouteWafConfig, WafConfig, WafEffective, WafMode, WafOversize};
use portcullis_core::service::RequestContext;
use portcullis_waf::{Engine, Exclusion, Input, Report, Settings};
use serde_json::json;

use crate::Edge;
use crate::error::ApiError;

/// Audited inspection events per client address and minute, at most.
pub const AUDITS_PER_MINUTE: u32 = 20;

/// The fields of Portcullis's own API never inspected as text (its secrets, which are also
/// never logged). A gateway route's fields are all inspected.
pub const SECRET_FIELDS: &[&str] = &[
    "password",
    "new_password",
    "current_password",
    "old_password",
    "client_secret",
    "secret",
    "refresh_token",
    "code_verifier",
    "client_assertion",
    "recovery_code",
    "otp",
    "totp",
    "token",
    "share",
    "private_key",
];

/// The engine with `[waf]`.
mod decide;

pub struct Waf {
    pub(crate) engine: Engine,
    cfg: WafConfig,
    pub(crate) exclusions: Vec<Exclusion>,
    throttle: Mutex<Throttle>,
}

impl std::fmt::Debug for Waf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waf")
            .field("mode", &self.cfg.mode)
            .finish_non_exhaustive()
    }
}

/// Why a request goes no further.
#[derive(Debug)]
pub enum Refused {
    /// Inspection refused it: the answer to send.
    Blocked(Response),
    /// Its body failed while it was read (the caller knows why: too large, too slow).
    Body(axum::Error),
}

/// A request inspection let go on.
pub struct Inspected {
    /// The body to forward: read up to the limit and handed back whole, or a gRPC call's,
    /// inspected message by message as it streams.
    pub body: Body,
    /// A gRPC call's: says when one of its messages was blocked.
    pub grpc: Option<crate::waf_grpc::GrpcVerdict>,
}

/// Audits per client in the current minute.
#[derive(Default)]
pub(crate) struct Throttle {
    minute: i64,
    counts: HashMap<IpAddr, (u32, u32)>,
}

impl Throttle {
    /// Whether this client's event is audited now, and how many before it were not.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: i64) -> Option<u32> {
        let minute = now.div_euclid(60);
        if minute != self.minute {
            // A new minute: every client may be audited again; what was not audited is
            // still owed to the next event.
            self.minute = minute;
            self.counts.retain(|_, (audited, dropped)| {
                *audited = 0;
                *dropped > 0
            });
        }
        if self.counts.len() > 100_000 {
            self.counts.clear();
        }
        let (audited, dropped) = self.counts.entry(ip).or_default();
        if *audited < AUDITS_PER_MINUTE {
            *audited += 1;
            Some(std::mem::take(dropped))
        } else {
            *dropped += 1;
            None
        }
    }
}

impl Waf {
    /// Compiles the engine for `[waf]`.
    pub fn new(cfg: &WafConfig) -> Result<Self, String> {
        let engine = match &cfg.crs_dir {
            None => Engine::new()?,
            Some(dir) => {
                let (engine, stats) =
                    Engine::with_crs(dir).map_err(|e| format!("waf.crs_dir: {e}"))?;
                let mut why: std::collections::BTreeMap<&str, usize> = Default::default();
                for (_, reason) in &stats.skipped {
                    *why.entry(reason.split(':').next().unwrap_or(reason))
                        .or_default() += 1;
                }
                tracing::info!(
                    crs_dir = %dir.display(),
                    files = stats.files,
                    loaded = stats.loaded,
                    skipped = stats.skipped.len(),
                    why = ?why,
                    "OWASP CRS request rules loaded beside the built-in rules"
                );
                engine
            }
        };
        Ok(Self {
            engine,
            cfg: cfg.clone(),
            exclusions: cfg
                .exclusions
                .iter()
                .map(|e| Exclusion {
                    rule: e.rule.clone(),
                    target: e.target.clone(),
                    route: e.route.clone(),
                })
                .collect(),
            throttle: Mutex::new(Throttle::default()),
        })
    }

    /// Compiles the rules of every paranoia level these settings inspect at (the API's
    /// and each route's), so no request waits for it.
    pub fn prepare<'a>(
        &self,
        routes: impl IntoIterator<Item = Option<&'a RouteWafConfig>>,
    ) -> Result<(), String> {
        for route in std::iter::once(None).chain(routes) {
            let eff = self.effective(route);
            if eff.mode != WafMode::Off {
                self.engine
                    .prepare(eff.paranoia.max(eff.detection_paranoia))?;
            }
        }
        Ok(())
    }

    /// The settings on a route (`None`: Portcullis's own API).
    pub fn effective(&self, route: Option<&RouteWafConfig>) -> WafEffective {
        self.cfg.effective(route)
    }

    /// Inspects a request. `route` names the route (for exclusions and the audit); `body`
    /// is consumed and handed back whole (read up to the limit) when the request may go on.
    pub async fn inspect(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        eff: &WafEffective,
        route: Option<&str>,
        parts: &Parts,
        body: Body,
    ) -> Result<Inspected, Refused> {
        if eff.mode == WafMode::Off {
            return Ok(Inspected { body, grpc: None });
        }
        // Boxed: its state (1.5 KiB) would otherwise sit in every request's future.
        Box::pin(self.inspect_on(edge, ctx, eff, route, parts, body)).await
    }

    async fn inspect_on(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        eff: &WafEffective,
        route: Option<&str>,
        parts: &Parts,
        body: Body,
    ) -> Result<Inspected, Refused> {
        // A gRPC call on a route: its head here, its messages as they stream (a streaming
        // call must not wait for its whole body; see `waf_grpc`).
        let grpc = route.is_some() && crate::grpc::is_grpc(&parts.headers);
        let announced = parts
            .headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // HTTP/2 needs no `content-length` (nor HTTP/1.1 with chunked): the body itself says
        // whether more comes, and a streamed one is read like any other.
        let has_body = !grpc
            && (announced.is_some_and(|n| n > 0)
                || parts
                    .headers
                    .contains_key(axum::http::header::TRANSFER_ENCODING)
                || !axum::body::HttpBody::is_end_stream(&body));
        let (head, complete, rest) = if has_body && eff.oversize != WafOversize::Skip {
            crate::body::read_up_to(body, eff.body_limit_bytes)
                .await
                .map_err(Refused::Body)?
        } else {
            (axum::body::Bytes::new(), true, Some(body))
        };
        // A compressed body is inspected as what it decodes to (within the same limit), and
        // goes on as it came; one that cannot be decoded is a finding of its own.
        let coding = crate::coding::Coding::of(&parts.headers);
        let mut undecodable = None;
        let (inspected, complete) = if coding.is_identity() || head.is_empty() {
            (head.clone(), complete)
        } else {
            match crate::coding::decode_bounded(&coding, &head, complete, eff.body_limit_bytes) {
                Ok((decoded, whole)) => (axum::body::Bytes::from(decoded), whole),
                // The bytes as they came are inspected as well (an upstream may ignore the
                // coding, or decode leniently, and an exclusion may lift the finding); that
                // they do not parse as their type is no news.
                Err(e) => {
                    undecodable = Some(e);
                    (head.clone(), complete)
                }
            }
        };
        // UTF-16 or UTF-32 (a BOM, or ASCII's NUL bytes): inspected as the text an XML or
        // JSON parser upstream reads (it goes on as it came).
        let inspected = match portcullis_waf::charset::wide_to_utf8(&inspected) {
            Some(text) => axum::body::Bytes::from(text),
            None => inspected,
        };
        let oversize = !complete && eff.oversize == WafOversize::Reject;
        // `X-Request-Id` is Portcullis's own (a client's is replaced before this): inspecting
        // it found nothing, and a new value on every request kept the engine's header memo
        // from ever knowing it.
        let headers: Vec<(&str, &[u8])> = parts
            .headers
            .iter()
            .filter(|(k, _)| **k != crate::middleware::REQUEST_ID)
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let uri = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
        let report = self.engine.inspect(
            &Input {
                method: parts.method.as_str(),
                uri,
                headers: &headers,
                body: (!inspected.is_empty()).then_some(inspected.as_ref()),
                // Only Portcullis's own API knows these fields hold its secrets: on a route
                // they are whatever the upstream makes of them, and an attack named
                // `token` is an attack.
                secret_fields: if route.is_some() { &[] } else { SECRET_FIELDS },
            },
            &settings(eff),
            &self.exclusions,
            route,
        );
        let mut report = report;
        // A body that does not parse as its type (920130): on Portcullis's own API the
        // handler answers that itself (400 `invalid_json`, not an attack), and the first
        // bytes of a longer body (`oversize = "partial"`) are never a whole document. Its
        // text is inspected either way.
        if route.is_none() || !complete || undecodable.is_some() {
            report.withdraw(920130, eff.inbound_threshold);
        }
        if let Some(e) = undecodable {
            let (rule, msg, place) = match e {
                crate::coding::DecodeError::Unreadable(_) => (
                    920950,
                    "Request body in a content coding that cannot be inspected",
                    "REQUEST_HEADERS:Content-Encoding",
                ),
                crate::coding::DecodeError::Malformed(_) => (
                    920951,
                    "Compressed request body that does not decode",
                    "REQUEST_BODY",
                ),
            };
            if !self
                .exclusions
                .iter()
                .any(|x| x.excludes(rule, place, route))
            {
                report.add_external(
                    portcullis_waf::Finding {
                        rule,
                        category: "protocol",
                        paranoia: 1,
                        severity: portcullis_waf::Severity::Critical,
                        msg: msg.into(),
                        locations: vec![place.to_owned()],
                        counted: true,
                    },
                    eff.inbound_threshold,
                );
            }
        }
        if let Some(addr) = &self.cfg.clamd_address
            && complete
            && !inspected.is_empty()
        {
            crate::waf_uploads::scan_uploads(
                addr,
                parts,
                &inspected,
                eff.inbound_threshold,
                &mut report,
            )
            .await;
        }
        let body = crate::body::rejoin(head, rest);
        let asked = Asked {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            partial: !complete && eff.oversize == WafOversize::Partial,
        };
        // What the head found below the threshold counts with each message.
        let head = (grpc && !report.exceeded).then(|| report.findings.clone());
        if let Some(res) = self
            .decide(edge, ctx, eff, route, asked, report, oversize, None)
            .await
        {
            return Err(Refused::Blocked(res));
        }
        if grpc {
            let (body, verdict) = crate::waf_grpc::inspected(
                edge,
                ctx,
                eff,
                route.unwrap_or_default(),
                asked,
                &parts.headers,
                body,
                head.unwrap_or_default(),
            );
            return Ok(Inspected {
                body,
                grpc: Some(verdict),
            });
        }
        Ok(Inspected { body, grpc: None })
    }
}

/// The settings of the engine in `eff`.
pub(crate) fn settings(eff: &WafEffective) -> Settings {
    Settings {
        paranoia: eff.paranoia,
        detection_paranoia: eff.detection_paranoia,
        inbound_threshold: eff.inbound_threshold,
    }
}

/// The request a decision is about, as the audit names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// The body was over the limit and only its first part was inspected (`partial`).
    pub(crate) partial: bool,
}

/// 403 `request_blocked` with the incident id.
pub fn blocked(incident: String) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "request_blocked",
        "The request was blocked by request inspection. Quote the incident id if you believe this is a mistake.",
    )
    .with_incident(incident)
    .into_response()
}

fn rule_ids(r: &Report) -> Vec<u32> {
    r.findings.iter().map(|f| f.rule).collect()
}

/// A random incident id (`inc_` and 16 hex digits).
/// A finding's location as the audit log holds it: a name a client chose is there only
/// when it is a plain name (letters, digits, `_`, `-`, `.`, `[]`, at most 64), and never
/// for `*_NAMES` targets, where the name is the matched value.
pub(crate) fn audit_location(location: &str) -> String {
    let Some((target, name)) = location.split_once(':') else {
        return location.to_owned();
    };
    // clamd's findings name the signature: `FILES:upload (Eicar-Signature)`.
    let signed = name
        .strip_suffix(')')
        .and_then(|n| n.rsplit_once(" ("))
        .is_some_and(|(n, sig)| (plain_name(n) || n == REDACTED_NAME) && plain_name(sig));
    if target.ends_with("_NAMES") {
        target.to_owned()
    } else if plain_name(name) || signed {
        location.to_owned()
    } else {
        format!("{target}:{REDACTED_NAME}")
    }
}

pub(crate) const REDACTED_NAME: &str = "[redacted name]";

pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
}

pub(crate) fn incident_id() -> String {
    let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    format!("inc_{}", hex::encode(b))
}

/// The API's layer: Portcullis's own endpoints inspected by `[waf]` (no route override).
pub async fn inspect_api(
    axum::extract::State(edge): axum::extract::State<Edge>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let eff = edge.waf.effective(None);
    if eff.mode == WafMode::Off {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let ctx = crate::context::request_context(&parts, &edge);
    match edge
        .waf
        .inspect(&edge, &ctx, &eff, None, &parts, body)
        .await
    {
        Ok(Inspected { body, .. }) => {
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(Refused::Blocked(res)) => res,
        Err(Refused::Body(e)) => {
            tracing::debug!(error = %e, "request body failed under inspection");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body could not be read.",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn audit_locations_never_carry_a_matched_name() {
        assert_eq!(audit_location("ARGS:q"), "ARGS:q");
        assert_eq!(audit_location("ARGS:json.user.name"), "ARGS:json.user.name");
        assert_eq!(audit_location("ARGS_NAMES:1' OR 1"), "ARGS_NAMES");
        assert_eq!(audit_location("ARGS_NAMES:q"), "ARGS_NAMES");
        assert_eq!(audit_location("ARGS:1' OR 1"), "ARGS:[redacted name]");
        assert_eq!(
            audit_location("REQUEST_COOKIES:<script>alert(1)</script>"),
            "REQUEST_COOKIES:[redacted name]"
        );
        assert_eq!(audit_location("REQUEST_BODY"), "REQUEST_BODY");
        assert_eq!(
            audit_location("FILES:upload (Portcullis-Test.EICAR)"),
            "FILES:upload (Portcullis-Test.EICAR)"
        );
        assert_eq!(
            audit_location("FILES:[redacted name] (Win.Test.EICAR_HDB-1)"),
            "FILES:[redacted name] (Win.Test.EICAR_HDB-1)"
        );
        assert_eq!(
            audit_location("FILES:x (sleep(5))"),
            "FILES:[redacted name]"
        );
        assert_eq!(
            audit_location("REQUEST_HEADERS:user-agent"),
            "REQUEST_HEADERS:user-agent"
        );
    }

    use super::*;

    #[test]
    fn audits_are_bounded_per_client_and_minute() {
        let mut t = Throttle::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..AUDITS_PER_MINUTE {
            assert_eq!(t.admit(a, 60), Some(0));
        }
        assert_eq!(t.admit(a, 61), None);
        assert_eq!(t.admit(a, 62), None);
        assert_eq!(t.admit(b, 62), Some(0));
        assert_eq!(t.admit(a, 120), Some(2));
        assert_eq!(t.admit(a, 121), Some(0));
    }
}
