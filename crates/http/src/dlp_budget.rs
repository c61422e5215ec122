//! What DLP holds of answers at once, bounded. Each answer's first `body_limit_bytes` are
//! read before any of it leaves, and a client that never reads (an HTTP/2 stream with a
//! flow-control window of zero) keeps that in memory for as long as it likes: hundreds of
//! such streams took hundreds of megabytes. An answer reserves what it may hold (its
//! announced length, or the limit) before it is read, and gives it back when its body is
//! done with (sent, or dropped with its stream). Past the budget, an answer is refused
//! with 503 rather than let out unread (in `detect` mode it passes unread).

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

/// The share of the budget one client (an IPv4 address, an IPv6 /64) may hold (a quarter:
/// 16 answers held whole at the default limit): one peer that never reads cannot take every
/// other client's DLP answers down with it.
pub(crate) const CLIENT_SHARE: usize = 4;

/// The bytes reserved at once, shared by every answer of a runtime, and by client.
#[derive(Debug)]
pub(crate) struct Budget {
    held: Arc<AtomicUsize>,
    by_client: Arc<Mutex<HashMap<u128, usize>>>,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            held: Arc::new(AtomicUsize::new(0)),
            by_client: Arc::default(),
            limit,
        }
    }

    /// Reserves `n` bytes for `client`, or `None` when the budget, or the client's share
    /// of it, has no room for them.
    pub(crate) fn reserve(&self, n: usize, client: Option<IpAddr>) -> Option<Reservation> {
        let key = client_key(client);
        {
            let mut by = self.by_client.lock().ok()?;
            let mine = by.entry(key).or_default();
            if mine.saturating_add(n) > self.limit / CLIENT_SHARE {
                if *mine == 0 {
                    by.remove(&key);
                }
                return None;
            }
            *mine += n;
        }
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&total| total <= self.limit)
            })
            .ok()
            .map(|_| Reservation {
                held: self.held.clone(),
                by_client: self.by_client.clone(),
                key,
                n,
            })
            .or_else(|| {
                // The whole budget is spent: the client's count goes back.
                if let Ok(mut by) = self.by_client.lock()
                    && let Some(mine) = by.get_mut(&key)
                {
                    *mine = mine.saturating_sub(n);
                    if *mine == 0 {
                        by.remove(&key);
                    }
                }
                None
            })
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// A client's key: an IPv4 address, or an IPv6 address's /64 (one host may use them all).
fn client_key(client: Option<IpAddr>) -> u128 {
    match client {
        Some(IpAddr::V4(v4)) => u128::from(u32::from(v4)),
        Some(IpAddr::V6(v6)) => u128::from(v6) >> 64 << 64 | 1,
        None => 0,
    }
}

/// Bytes reserved, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    held: Arc<AtomicUsize>,
    by_client: Arc<Mutex<HashMap<u128, usize>>>,
    key: u128,
    n: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.held.fetch_sub(self.n, Ordering::AcqRel);
        if let Ok(mut by) = self.by_client.lock()
            && let Some(mine) = by.get_mut(&self.key)
        {
            *mine = mine.saturating_sub(self.n);
            if *mine == 0 {
                by.remove(&self.key);
            }
        }
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

/// How long an answer held past [`WATCHED`] bytes may wait for its client to read it: a
/// client that reads nothing for this long (an HTTP/2 window left at zero) loses the answer,
/// and what it held (memory and budget) is given back.
pub(crate) const STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// Answers reserving at least this much are watched for stalls (a small answer costs
/// little to hold, and a watcher per answer would cost more).
pub(crate) const WATCHED: usize = 64 * 1024;

/// The body and its reservation, which a stall watcher can take away.
type Slot = Arc<Mutex<Option<(Body, Reservation)>>>;

/// An answer's body with its reservation, given back when the body is dropped, or when
/// its client has read nothing for [`STALL`] while the body had something to give.
pub(crate) struct Holding {
    slot: Slot,
    /// Polls so far, and whether the last one waited on the upstream (then a quiet spell
    /// is the upstream's, which the upstream timeout covers, not the client's).
    polls: Arc<AtomicUsize>,
    waiting: Arc<std::sync::atomic::AtomicBool>,
    end_stream: bool,
    /// The body ended (and gave back what it held).
    done: bool,
}

impl Holding {
    pub(crate) fn new(inner: Body, held: Reservation) -> Self {
        Self::watched(inner, held, STALL)
    }

    /// [`Holding::new`] with a stall time of `stall`.
    fn watched(inner: Body, held: Reservation, stall: std::time::Duration) -> Self {
        let watch = held.n >= WATCHED;
        let end_stream = hyper::body::Body::is_end_stream(&inner);
        let body = Self {
            slot: Arc::new(Mutex::new(Some((inner, held)))),
            polls: Arc::default(),
            waiting: Arc::default(),
            end_stream,
            done: false,
        };
        if watch && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let slot = Arc::downgrade(&body.slot);
            let (polls, waiting) = (body.polls.clone(), body.waiting.clone());
            handle.spawn(async move {
                let mut seen = usize::MAX;
                loop {
                    tokio::time::sleep(stall).await;
                    let Some(slot) = slot.upgrade() else { return };
                    let now = polls.load(Ordering::Acquire);
                    if now == seen && !waiting.load(Ordering::Acquire) {
                        if let Ok(mut s) = slot.lock()
                            && s.take().is_some()
                        {
                            tracing::warn!(
                                ?stall,
                                "a DLP answer its client did not read was dropped"
                            );
                        }
                        return;
                    }
                    seen = now;
                }
            });
        }
        body
    }
}

impl hyper::body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        self.polls.fetch_add(1, Ordering::AcqRel);
        let Ok(mut slot) = self.slot.lock() else {
            return Poll::Ready(Some(Err(axum::Error::new("the answer was dropped"))));
        };
        let Some((inner, _)) = slot.as_mut() else {
            return Poll::Ready(Some(Err(axum::Error::new(
                "the answer was dropped: its client did not read it",
            ))));
        };
        let polled = Pin::new(inner).poll_frame(cx);
        self.waiting.store(polled.is_pending(), Ordering::Release);
        let ended = matches!(polled, Poll::Ready(None));
        if ended {
            // Done: what it held goes back now, not when hyper drops the body.
            slot.take();
        }
        drop(slot);
        if ended {
            self.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done
            || self.end_stream
            || self
                .slot
                .lock()
                .map_or(true, |s| s.as_ref().is_none_or(|(b, _)| b.is_end_stream()))
    }

    fn size_hint(&self) -> SizeHint {
        self.slot
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|(b, _)| b.size_hint()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let b = Budget::new(400);
        let ip = |n: u8| Some(IpAddr::from([192, 0, 2, n]));
        let r1 = b.reserve(60, ip(1));
        assert!(r1.is_some());
        assert!(
            b.reserve(50, ip(1)).is_none(),
            "over the client's share (100)"
        );
        let r2 = b.reserve(40, ip(1));
        assert!(r2.is_some());
        assert_eq!(b.held(), 100);
        drop(r1);
        assert_eq!(b.held(), 40);
        let body = Holding::new(
            Body::empty(),
            b.reserve(60, ip(1)).unwrap_or_else(|| unreachable!()),
        );
        assert_eq!(b.held(), 100);
        drop(body);
        drop(r2);
        assert_eq!(b.held(), 0);
        // Four clients fill the budget; the fifth is refused; shares come back.
        let all: Vec<_> = (1..=4).filter_map(|n| b.reserve(100, ip(n))).collect();
        assert_eq!(all.len(), 4);
        assert!(b.reserve(1, ip(9)).is_none(), "the budget is spent");
        drop(all);
        assert_eq!(b.held(), 0);
        assert!(
            b.by_client
                .lock()
                .unwrap_or_else(|_| unreachable!())
                .is_empty()
        );
        // An IPv6 /64 is one client.
        let v6 = |last: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]));
        let a = b.reserve(100, v6(1));
        assert!(a.is_some());
        assert!(b.reserve(1, v6(2)).is_none());
        assert!(budget_for(512 << 10) >= 32 << 20);
    }

    /// A large answer its client does not read is dropped after the stall time, and what it
    /// held goes back; one read in time, or a small one, is not.
    #[tokio::test]
    async fn an_unread_answer_is_dropped_after_the_stall_time() {
        let stall = std::time::Duration::from_millis(100);
        use http_body_util::BodyExt;
        let b = Budget::new(1 << 30);
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        let big = vec![b'x'; WATCHED];
        let stalled = Holding::watched(
            Body::from(big.clone()),
            b.reserve(WATCHED, ip).unwrap_or_else(|| unreachable!()),
            stall,
        );
        let small = Holding::watched(
            Body::from("ok"),
            b.reserve(2, ip).unwrap_or_else(|| unreachable!()),
            stall,
        );
        assert_eq!(b.held(), WATCHED + 2);
        for _ in 0..50 {
            if b.held() == 2 {
                break;
            }
            tokio::time::sleep(stall).await;
        }
        assert_eq!(b.held(), 2, "the stalled answer gave back what it held");
        assert!(
            stalled.collect().await.is_err(),
            "and its client gets an error"
        );
        let read = small.collect().await.map(|c| c.to_bytes());
        assert_eq!(read.ok().as_deref(), Some(&b"ok"[..]));
        assert_eq!(b.held(), 0);
        // Read in time: whole.
        let body = Holding::watched(
            Body::from(big.clone()),
            b.reserve(WATCHED, ip).unwrap_or_else(|| unreachable!()),
            stall,
        );
        let got = body.collect().await.map(|c| c.to_bytes().len());
        assert_eq!(got.ok(), Some(WATCHED));
        assert_eq!(b.held(), 0);
    }
}
