//! Request inspection of gRPC calls, message by message. A streaming call (client or
//! bidirectional streaming) sends a message and waits for an answer before it sends the
//! next, so its body cannot be read whole before it goes upstream: the call's head is
//! inspected as any request's, and then each message as it arrives, before it is passed on.
//!
//! - **A message** (gRPC, gRPC-Web, or gRPC-Web-text's base64) is held until it is whole,
//!   decompressed per `grpc-encoding`, and inspected as a protobuf body (its string
//!   fields at any depth, see `portcullis_waf::protobuf`), with what the head found
//!   counted in. Over `body_limit_bytes` it goes by `oversize` (reject, partial, skip).
//! - **A block** stops the call's body there (the message never reaches the upstream):
//!   the answer is 403 `request_blocked` in gRPC form (`PERMISSION_DENIED`) when the
//!   upstream has not answered yet, else the answer ends with `grpc-status` 7 and the
//!   incident id. The block is audited (`waf.request_blocked`) as any other.
//! - **What cannot be read** (bytes that are not gRPC framing, a compression that cannot
//!   be undone, a message cut short) is finding 920960: blocked in block mode; flagged,
//!   and the rest passed as it comes, in detect mode.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::body::Frame;
use portcullis_core::config::{WafEffective, WafMode, WafOversize};
use portcullis_core::service::RequestContext;
use portcullis_waf::{Finding, Input, Report};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Edge;
use crate::coding::Coding;
use crate::dlp_grpc::{Wire, message_coding, message_payload};
use crate::waf::Asked;

/// A blocked message: its incident id, and the audited answer being made.
#[derive(Clone)]
struct Blocked {
    incident: String,
    answer: Arc<Mutex<Option<JoinHandle<Option<Response>>>>>,
}

/// Says when a message of a gRPC call was blocked. The gateway waits for the upstream's
/// answer and for this together ([`GrpcVerdict::fired`]), and ends an answer already
/// streaming when it fires ([`GrpcVerdict::guard`]).
#[derive(Clone)]
pub struct GrpcVerdict(Arc<watch::Sender<Option<Blocked>>>);

impl Default for GrpcVerdict {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(None)))
    }
}

impl std::fmt::Debug for GrpcVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcVerdict")
            .field("fired", &self.0.borrow().is_some())
            .finish()
    }
}

impl GrpcVerdict {
    fn fire(&self, incident: String, answer: JoinHandle<Option<Response>>) {
        self.0.send_replace(Some(Blocked {
            incident,
            answer: Arc::new(Mutex::new(Some(answer))),
        }));
    }

    /// Resolves when a message was blocked (never, otherwise).
    pub async fn fired(&self) {
        let mut rx = self.0.subscribe();
        if rx.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether a message was blocked already.
    pub fn is_fired(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The answer to a blocked call (once [`GrpcVerdict::fired`]): the audited refusal, or
    /// 503 when the block could not be audited.
    pub async fn answer(&self) -> Response {
        let Some(blocked) = self.0.borrow().clone() else {
            return crate::waf::blocked(crate::waf::incident_id());
        };
        let pending = blocked.answer.lock().ok().and_then(|mut a| a.take());
        match pending {
            Some(task) => match task.await {
                Ok(Some(answer)) => answer,
                _ => crate::waf::blocked(blocked.incident),
            },
            None => crate::waf::blocked(blocked.incident),
        }
    }

    /// The upstream's answer, ended with `grpc-status` 7 (`PERMISSION_DENIED`) and the
    /// incident id as soon as a message of the call is blocked.
    pub fn guard(&self, res: Response) -> Response {
        let (parts, body) = res.into_parts();
        let (web, text) = web_kind(&parts.headers);
        let mut rx = self.0.subscribe();
        let fired = Box::pin(async move {
            rx.wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|b| b.as_ref().map(|b| b.incident.clone()))
        });
        Response::from_parts(
            parts,
            Body::new(Guarded {
                inner: body,
                fired: Some(fired),
                web,
                text,
                done: false,
            }),
        )
    }
}

/// Whether a body is gRPC-Web, and gRPC-Web-text (base64).
fn web_kind(headers: &HeaderMap) -> (bool, bool) {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_ascii_lowercase())
        .unwrap_or_default();
    (
        ct.starts_with(b"application/grpc-web"),
        ct.starts_with(b"application/grpc-web-text"),
    )
}

type Fired = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// An answer that ends when its call is blocked.
struct Guarded {
    inner: Body,
    fired: Option<Fired>,
    web: bool,
    text: bool,
    done: bool,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn is_end_stream(&self) -> bool {
        // An answer with no body (trailers-only) stays one: there is nothing to cut.
        self.done || self.inner.is_end_stream()
    }

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(fired) = self.fired.as_mut()
            && let Poll::Ready(incident) = fired.as_mut().poll(cx)
        {
            self.fired = None;
            if let Some(id) = incident {
                self.done = true;
                let detail = format!(
                    "The request was blocked by request inspection (incident {id}). Quote the incident id if you believe this is a mistake."
                );
                let t = crate::grpc::ending(7, &detail, Some(&id));
                let frame = match (self.web, self.text) {
                    (false, _) => Frame::trailers(t),
                    (true, false) => Frame::data(Bytes::from(crate::grpc::web_trailers(&t))),
                    (true, true) => {
                        Frame::data(Bytes::from(STANDARD.encode(crate::grpc::web_trailers(&t))))
                    }
                };
                return Poll::Ready(Some(Ok(frame)));
            }
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }
}

/// What a call's messages are inspected with.
struct Job {
    edge: Edge,
    ctx: RequestContext,
    eff: WafEffective,
    route: String,
    method: String,
    path: String,
    /// What the call's head found (below the threshold).
    head: Vec<Finding>,
}

/// The call's body, inspected message by message, and its verdict.
#[allow(clippy::too_many_arguments)]
pub(crate) fn inspected(
    edge: &Edge,
    ctx: &RequestContext,
    eff: &WafEffective,
    route: &str,
    asked: Asked<'_>,
    headers: &HeaderMap,
    body: Body,
    head: Vec<Finding>,
) -> (Body, GrpcVerdict) {
    let verdict = GrpcVerdict::default();
    (
        Body::new(Inspecting {
            job: Arc::new(Job {
                edge: edge.clone(),
                ctx: ctx.clone(),
                eff: *eff,
                route: route.to_owned(),
                method: asked.method.to_owned(),
                path: asked.path.to_owned(),
                head,
            }),
            coding: message_coding(headers),
            wire: Wire::new(web_kind(headers).1),
            out: Vec::new(),
            passthrough: false,
            blocked: false,
            ended: false,
            trailers: None,
            verdict: verdict.clone(),
            inner: body,
        }),
        verdict,
    )
}

/// A gRPC request body on its way upstream, inspected message by message.
struct Inspecting {
    inner: Body,
    job: Arc<Job>,
    coding: Coding,
    /// The body as it comes (gRPC-Web-text's base64 undone), cut into messages.
    wire: Wire,
    /// Inspected, to send.
    out: Vec<u8>,
    /// Unreadable in detect mode: the rest passes as it comes.
    passthrough: bool,
    /// A message was blocked: nothing more is sent.
    blocked: bool,
    ended: bool,
    trailers: Option<HeaderMap>,
    verdict: GrpcVerdict,
}

impl Inspecting {
    /// A message on its way upstream, as the upstream expects it encoded.
    fn emit(&mut self, message: &[u8]) {
        self.wire.emit(message, &mut self.out);
    }

    /// Settles a report that found something: audited beside the stream; in block mode
    /// the call stops here.
    fn settle(&mut self, report: Report, oversize: bool) {
        let block = self.job.eff.mode == WafMode::Block;
        let incident = crate::waf::incident_id();
        let job = self.job.clone();
        let id = incident.clone();
        let task = tokio::spawn(async move {
            let asked = Asked {
                method: &job.method,
                path: &job.path,
                partial: false,
            };
            job.edge
                .waf
                .decide(
                    &job.edge,
                    &job.ctx,
                    &job.eff,
                    Some(&job.route),
                    asked,
                    report,
                    oversize,
                    Some(id),
                )
                .await
        });
        if block {
            self.blocked = true;
            self.out.clear();
            self.verdict.fire(incident, task);
        }
    }

    /// Bytes from the client: every whole message inspected, then passed on or blocked.
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
            let payload = match message_payload(&message, &self.coding) {
                Ok(p) => p,
                Err(why) => return self.unreadable(why),
            };
            let job = self.job.clone();
            let (report, oversize) = job.edge.waf.inspect_message(
                &job.eff,
                &job.route,
                &job.method,
                &payload,
                &job.head,
            );
            if !report.exceeded && !oversize {
                if !report.findings.is_empty() {
                    tracing::debug!(route = %job.route, score = report.score, "gRPC message inspection: below the threshold");
                }
                self.emit(&message);
                continue;
            }
            self.settle(report, oversize);
            if self.blocked {
                return;
            }
            self.emit(&message);
        }
    }

    /// What cannot be read as gRPC messages: blocked (block mode), or flagged and the
    /// rest passed as it comes (detect mode).
    fn unreadable(&mut self, why: &'static str) {
        tracing::debug!(route = %self.job.route, why, "a gRPC request that cannot be inspected");
        let report = self
            .job
            .edge
            .waf
            .unreadable_call(&self.job.eff, &self.job.route);
        if report.exceeded {
            self.settle(report, false);
        }
        if !self.blocked {
            self.passthrough = true;
            let rest = self.wire.take_rest();
            self.wire.pass_rest(rest, &mut self.out);
        }
    }
}

impl hyper::body::Body for Inspecting {
    type Data = Bytes;
    type Error = axum::Error;

    fn is_end_stream(&self) -> bool {
        self.out.is_empty()
            && self.trailers.is_none()
            && (self.ended || (!self.blocked && self.inner.is_end_stream()))
    }

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        loop {
            if self.blocked {
                // The verdict has fired (the gateway answers the client): the upstream's
                // request ends broken, without the blocked message.
                self.ended = true;
                self.blocked = false;
                self.out.clear();
                return Poll::Ready(Some(Err(axum::Error::new(
                    "a message of the call was blocked by request inspection",
                ))));
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
                        self.unreadable("the request ended inside a gRPC message");
                        if self.blocked {
                            continue;
                        }
                    }
                    self.ended = true;
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.take(&data),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
            }
        }
    }
}

/// What the WAF makes of a gRPC call's messages.
impl crate::waf::Waf {
    /// One message of a gRPC call on `route` (its payload, decompressed) inspected as a
    /// protobuf body, with `head` (what the call's head found) counted in; and whether it
    /// is over the inspection limit in `reject` mode.
    pub(crate) fn inspect_message(
        &self,
        eff: &WafEffective,
        route: &str,
        method: &str,
        payload: &[u8],
        head: &[Finding],
    ) -> (Report, bool) {
        let limit = eff.body_limit_bytes;
        let over = payload.len() > limit;
        let seen = match eff.oversize {
            _ if !over => Some(payload),
            WafOversize::Partial => payload.get(..limit),
            WafOversize::Reject | WafOversize::Skip => None,
        };
        let mut report = match seen {
            Some(seen) => self.engine.inspect(
                &Input {
                    method,
                    uri: "",
                    headers: &[("content-type", b"application/protobuf")],
                    body: Some(seen),
                    secret_fields: &[],
                },
                &crate::waf::settings(eff),
                &self.exclusions,
                Some(route),
            ),
            None => Report::default(),
        };
        for f in head {
            report.add_external(f.clone(), eff.inbound_threshold);
        }
        (report, over && eff.oversize == WafOversize::Reject)
    }

    /// The finding on a gRPC call whose messages cannot be read (framing, a compression
    /// that cannot be undone): 920960, critical, unless an exclusion lifts it.
    pub(crate) fn unreadable_call(&self, eff: &WafEffective, route: &str) -> Report {
        let mut report = Report::default();
        let (rule, place) = (920960, "REQUEST_BODY");
        if !self
            .exclusions
            .iter()
            .any(|x| x.excludes(rule, place, Some(route)))
        {
            report.add_external(
                Finding {
                    rule,
                    category: "protocol",
                    paranoia: 1,
                    severity: portcullis_waf::Severity::Critical,
                    msg: "gRPC request messages that cannot be inspected".into(),
                    locations: vec![place.to_owned()],
                    counted: true,
                },
                eff.inbound_threshold,
            );
        }
        report
    }
}
