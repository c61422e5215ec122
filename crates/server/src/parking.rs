//! Idle HTTP/1.1 keep-alive connections without their buffers, as nginx keeps them.
//!
//! hyper gives every HTTP/1.1 connection an 8 KiB read buffer and an 8 KiB header buffer
//! and keeps both for the connection's life: 5,000 idle keep-alive clients held 80 MiB of
//! buffers that nothing was using. A connection on which nothing has happened for a while
//! is *parked*: hyper's connection is closed without closing the socket, the socket alone
//! waits to become readable, and a new hyper connection takes it up again when the client
//! sends its next request.
//!
//! Parking never loses a byte: a connection parks only when no request is in flight, no
//! byte was read or written for a whole period and no write is waiting on the socket;
//! bytes hyper had read of a request head that was not complete come back with the socket
//! and are read first by the next connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::canned;
use crate::connections::Activity;

/// The period of the idle check: a connection parks after one to two periods without
/// activity. A second, or a quarter of the header timeout (which closes idle connections)
/// when that is shorter, so a connection parks well before it would be closed.
pub(crate) fn park_after(header_timeout: Duration) -> Duration {
    (header_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// What the socket has done, shared between the socket hyper holds and the idle check.
#[derive(Debug, Default)]
pub(crate) struct IoState {
    /// Reads that returned bytes.
    reads: AtomicU64,
    /// The last write or flush could not complete: bytes wait for the client to read.
    write_blocked: AtomicBool,
    /// hyper's shutdown of the socket is skipped: the socket is being parked.
    parking: AtomicBool,
}

/// The socket as hyper sees it: counts reads, notes blocked writes, and first gives back
/// the bytes of a request head read before the connection was parked.
pub(crate) struct ParkableIo<T> {
    pub(crate) inner: T,
    prefix: Bytes,
    state: Arc<IoState>,
    /// One of hyper's own refusals, rewritten as a problem document, still being written.
    canned: Option<canned::Pending>,
    /// The socket is TLS: rewritten refusals carry `Strict-Transport-Security`.
    hsts: bool,
}

impl<T> ParkableIo<T> {
    pub(crate) fn new(inner: T, state: Arc<IoState>) -> Self {
        Self {
            inner,
            prefix: Bytes::new(),
            state,
            canned: None,
            hsts: false,
        }
    }

    /// Over TLS: rewritten refusals carry `Strict-Transport-Security`, as every answer.
    pub(crate) fn with_hsts(mut self, hsts: bool) -> Self {
        self.hsts = hsts;
        self
    }

    /// The same socket with `prefix` to be read before anything more from the client.
    pub(crate) fn with_prefix(mut self, prefix: &[u8]) -> Self {
        // A copy: the buffer hyper froze holds its whole 8 KiB allocation.
        self.prefix = Bytes::copy_from_slice(prefix);
        self
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ParkableIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            this.state.reads.fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.reads.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> ParkableIo<T> {
    fn note<R>(&self, r: Poll<R>) -> Poll<R> {
        self.state
            .write_blocked
            .store(r.is_pending(), Ordering::Relaxed);
        r
    }
}

impl<T: AsyncWrite + Unpin> ParkableIo<T> {
    /// Finishes writing a rewritten refusal before anything else.
    fn poll_canned(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(pending) = &mut self.canned {
            ready!(pending.poll_drain(&mut self.inner, cx))?;
            self.canned = None;
        }
        Poll::Ready(Ok(()))
    }

    /// `written` in place of hyper's own refusal `buf`, when it is one (see `canned`).
    fn poll_rewrite(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        let bytes = canned::rewrite(buf, self.hsts)?;
        self.canned = Some(canned::Pending::new(bytes));
        let r = match self.poll_canned(cx) {
            // Taken in whole: the rest goes out on the next write, flush or shutdown.
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(buf.len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        };
        Some(r)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ParkableIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_canned(cx))?;
        if canned::candidate(buf)
            && let Some(r) = this.poll_rewrite(cx, buf)
        {
            return r;
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note(r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_canned(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && canned::candidate(only)
            && let Some(r) = this.poll_rewrite(cx, only)
        {
            return r;
        }
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_canned(cx))?;
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.note(r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.parking.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_canned(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl IoState {
    /// Reads that returned bytes, so far.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// While set, hyper's shutdown leaves the socket open.
    pub(crate) fn set_parking(&self, on: bool) {
        self.parking.store(on, Ordering::Relaxed);
    }
}

/// Resolves when the connection has been idle for a whole `period`: no request running or
/// started, no byte read, no write waiting on the client. Gives the instant its idleness
/// began (within one period).
pub(crate) async fn idle(activity: &Activity, io: &IoState, period: Duration) -> Instant {
    let snapshot = || {
        (
            activity.started(),
            io.reads.load(Ordering::Relaxed),
            activity.running() == 0 && !io.write_blocked.load(Ordering::Relaxed),
        )
    };
    let mut last = snapshot();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(period).await;
        let now = snapshot();
        if now == last && now.2 {
            return since;
        }
        last = now;
        since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_prefix_is_read_first_then_the_socket() {
        let (a, mut b) = tokio::io::duplex(64);
        let state = Arc::new(IoState::default());
        let mut io = ParkableIo::new(a, state.clone()).with_prefix(b"GET / HT");
        b.write_all(b"TP/1.1\r\n").await.ok();
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        while got.len() < 16 {
            let n = io.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        assert_eq!(got, b"GET / HTTP/1.1\r\n");
        assert!(state.reads.load(Ordering::Relaxed) >= 4);
    }

    #[tokio::test]
    async fn shutdown_is_skipped_only_while_parking() {
        let (a, mut b) = tokio::io::duplex(64);
        let state = Arc::new(IoState::default());
        let mut io = ParkableIo::new(a, state.clone());
        state.set_parking(true);
        io.shutdown().await.ok();
        // The peer still can write to us and we still can write to it.
        io.write_all(b"x").await.ok();
        let mut one = [0u8; 1];
        assert_eq!(b.read(&mut one).await.ok(), Some(1));
        state.set_parking(false);
        io.shutdown().await.ok();
        assert_eq!(
            b.read(&mut one).await.ok(),
            Some(0),
            "shut down: end of stream"
        );
    }

    #[tokio::test]
    async fn idle_waits_for_a_whole_quiet_period() {
        // Real time, with activity well inside a period so that scheduling noise cannot
        // move it past the check.
        let period = Duration::from_millis(300);
        let activity = Activity::default();
        let io = Arc::new(IoState::default());
        let start = Instant::now();
        let quiet = idle(&activity, &io, period).await;
        assert!(
            quiet >= start && quiet < start + period,
            "idle from the start"
        );
        // A read during the first period puts the start of idleness after it.
        let bump = io.clone();
        let start = Instant::now();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            bump.reads.fetch_add(1, Ordering::Relaxed);
        });
        let quiet = idle(&activity, &io, period).await;
        later.await.ok();
        assert!(quiet >= start + period, "idle only after the read's period");
        // A blocked write keeps the connection from parking until it completes.
        io.write_blocked.store(true, Ordering::Relaxed);
        let unblock = io.clone();
        let start = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            unblock.write_blocked.store(false, Ordering::Relaxed);
        });
        let quiet = idle(&activity, &io, period).await;
        assert!(
            quiet >= start + Duration::from_millis(700),
            "not while a write waits"
        );
    }
}
