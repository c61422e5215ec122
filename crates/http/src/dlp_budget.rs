//! What DLP holds of answers at once, bounded. Each answer's first `body_limit_bytes` are
//! read before any of it leaves, and a client that never reads (an HTTP/2 stream with a
//! flow-control window of zero) keeps that in memory for as long as it likes: hundreds of
//! such streams took hundreds of megabytes. An answer reserves what it may hold (its
//! announced length, or the limit) before it is read, and gives it back when its body is
//! done with (sent, or dropped with its stream). Past the budget, an answer is refused
//! with 503 rather than let out unread (in `detect` mode it passes unread).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};

use crate::error::ApiError;

/// The budget for a body limit: room for 64 answers held whole at once, and never less
/// than 32 MiB (answers that announce a shorter length reserve only that). Each answer
/// held costs about 3.5 times what it reserves (the upstream connection's buffers, the
/// text read): 400 stalled streams of 4 MB answers on a mask route took 725 MB of memory
/// before, and take about 120 MB past the baseline with this budget.
pub(crate) fn budget_for(body_limit: usize) -> usize {
    body_limit.saturating_mul(64).max(32 << 20)
}

/// The bytes reserved at once, shared by every answer of a runtime.
#[derive(Debug)]
pub(crate) struct Budget {
    held: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            held: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Reserves `n` bytes, or `None` when the budget has no room for them.
    pub(crate) fn reserve(&self, n: usize) -> Option<Reservation> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&total| total <= self.limit)
            })
            .ok()?;
        Some(Reservation {
            held: self.held.clone(),
            n,
        })
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// Bytes reserved, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    held: Arc<AtomicUsize>,
    n: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.held.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// The refusal when the budget is spent.
pub(crate) fn busy() -> Response {
    let mut res = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Data loss prevention is inspecting as many answers as it may hold at once; retry shortly.",
    )
    .into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    res
}

/// An answer's body with its reservation, given back when the body is dropped.
pub(crate) struct Holding {
    inner: Body,
    _held: Reservation,
}

impl Holding {
    pub(crate) fn new(inner: Body, held: Reservation) -> Self {
        Self { inner, _held: held }
    }
}

impl hyper::body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let b = Budget::new(100);
        let r1 = b.reserve(60);
        assert!(r1.is_some());
        assert!(b.reserve(50).is_none(), "over the budget");
        let r2 = b.reserve(40);
        assert!(r2.is_some());
        assert_eq!(b.held(), 100);
        drop(r1);
        assert_eq!(b.held(), 40);
        let body = Holding::new(
            Body::empty(),
            b.reserve(60).unwrap_or_else(|| unreachable!()),
        );
        assert_eq!(b.held(), 100);
        drop(body);
        drop(r2);
        assert_eq!(b.held(), 0);
        assert_eq!(budget_for(512 << 10), 32 << 20);
    }
}
