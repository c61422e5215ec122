//! The request body on its way upstream, watched: when it fails, the failure is the
//! client's (too large, stalled, malformed or cut short), answered 413 / 408 / 400 and
//! never counted against the upstream's circuit breaker.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use hyper::body::Frame;

/// Why the client's body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFault {
    /// Over the route's body limit: 413.
    TooLarge,
    /// A pause longer than `server.body_timeout_seconds`: 408.
    Stalled,
    /// A bad chunk, or fewer bytes than announced: 400.
    Malformed,
}

impl ClientFault {
    /// The answer to the client, as (status, code, detail).
    pub(crate) fn answer(self, limit: u64) -> (StatusCode, &'static str, String) {
        match self {
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body is over {limit} bytes."),
            ),
            Self::Stalled => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body stopped arriving.".to_owned(),
            ),
            Self::Malformed => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body was malformed or cut short.".to_owned(),
            ),
        }
    }
}

/// What the watcher saw: 0 nothing yet, 1 the body ended cleanly, 2+ a [`ClientFault`].
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyState(Arc<AtomicU8>);

const DONE: u8 = 1;
/// Watched, not ended yet.
const READING: u8 = 5;
/// A flag beside the body's state: the request went to an upstream.
const FORWARDED: u8 = 0x80;

impl BodyState {
    /// The body's state, without the flag.
    fn body(&self) -> u8 {
        self.0.load(Ordering::Acquire) & !FORWARDED
    }

    /// The fault, if the body failed.
    pub(crate) fn fault(&self) -> Option<ClientFault> {
        match self.body() {
            2 => Some(ClientFault::TooLarge),
            3 => Some(ClientFault::Stalled),
            4 => Some(ClientFault::Malformed),
            _ => None,
        }
    }

    /// Whether the whole body was read.
    pub(crate) fn finished(&self) -> bool {
        self.body() == DONE
    }

    fn set(&self, fault: Option<ClientFault>) {
        let v = match fault {
            None => DONE,
            Some(ClientFault::TooLarge) => 2,
            Some(ClientFault::Stalled) => 3,
            Some(ClientFault::Malformed) => 4,
        };
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                matches!(now & !FORWARDED, 0 | READING).then_some((now & FORWARDED) | v)
            });
    }

    /// Whether the body is being read and has not ended: the client is still sending it.
    pub(crate) fn arriving(&self) -> bool {
        self.body() == READING
    }

    /// Notes that the request went to an upstream.
    pub(crate) fn forwarded(&self) {
        self.0.fetch_or(FORWARDED, Ordering::AcqRel);
    }

    /// Whether the request went to an upstream: a deadline that passes now is the
    /// upstream's delay (its answer, or its answer's body), not an outage of Portcullis's.
    pub(crate) fn was_forwarded(&self) -> bool {
        self.0.load(Ordering::Acquire) & FORWARDED != 0
    }
}

/// The client's body, limited to `limit` bytes, with its end recorded in a [`BodyState`].
pub(crate) struct Watched {
    inner: http_body_util::Limited<Body>,
    state: BodyState,
}

impl Watched {
    /// Watches `body`, cut at `limit` bytes, recording its end in `state`.
    pub(crate) fn wrap(body: Body, limit: u64, state: BodyState) -> (Body, BodyState) {
        let inner =
            http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        if hyper::body::Body::is_end_stream(&inner) {
            state.set(None);
        } else {
            let _ = state
                .0
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                    (now & !FORWARDED == 0).then_some(now | READING)
                });
        }
        (
            Body::new(Self {
                inner,
                state: state.clone(),
            }),
            state,
        )
    }
}

fn classify(e: &(dyn std::error::Error + 'static)) -> ClientFault {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return ClientFault::TooLarge;
        }
        if err.is::<portcullis_http::middleware::BodyStalled>() {
            return ClientFault::Stalled;
        }
        cur = err.source();
    }
    ClientFault::Malformed
}

impl hyper::body::Body for Watched {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.state.set(None),
            Poll::Ready(Some(Err(e))) => this.state.set(Some(classify(e.as_ref()))),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.state.set(None),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
