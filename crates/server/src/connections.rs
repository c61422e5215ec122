//! The connection loop: TLS handshakes, HTTP/1.1 or HTTP/2 (h2 by ALPN, h2c by prior
//! knowledge), header and idle timeouts, the header limits, upgrades, certificate reload on
//! SIGHUP, and draining on stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use portcullis_core::config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use portcullis_http::metrics::{ConnectionGauges, Counted};

use tokio::time::Instant;

use crate::parking::{self, IoState, ParkableIo};
/// Most header lines in one request head: far more than any client sends, so that the
/// byte limit (`server.max_header_bytes`) is the limit clients meet.
const MAX_HEADERS: usize = 1_000;

/// How connections are held to account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// How long in-flight requests may finish after stop.
    pub(crate) grace: Duration,
    /// Time to receive a request's headers, counted from when the connection is ready for
    /// one: it also closes idle keep-alive connections and slow-header (slowloris) clients.
    header_timeout: Duration,
    /// Largest request head (request line and headers); beyond it 431.
    max_header_bytes: usize,
    /// Whether HTTP/2 is served (`server.http2`).
    http2: bool,
}

impl ConnLimits {
    pub(crate) fn of(config: &Config) -> Self {
        let server = &config.server;
        Self {
            grace: Duration::from_secs(server.shutdown_grace_seconds),
            header_timeout: Duration::from_secs(server.header_timeout_seconds),
            max_header_bytes: server.max_header_bytes,
            http2: server.http2,
        }
    }
}

/// Most concurrent streams a client may open on one HTTP/2 connection.
const MAX_H2_STREAMS: u32 = 256;

/// The HTTP/2 client preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a plain connection opens with the HTTP/2 preface (h2c with prior knowledge),
/// read without consuming it: the first byte of an HTTP/1.1 request line already tells.
/// `None`: the client sent nothing (or only part of the preface) within `wait`.
async fn opens_with_h2_preface(tcp: &TcpStream, wait: Duration) -> Option<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    tokio::time::timeout(wait, async {
        loop {
            let n = tcp.peek(&mut buf).await.ok()?;
            let got = buf.get(..n)?;
            if n == 0 || !H2_PREFACE.starts_with(got) {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // Part of the preface so far: wait for the rest to arrive.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .ok()
    .flatten()
}

/// Requests (HTTP/1.1) or streams (HTTP/2) in progress on one connection: an idle HTTP/2
/// connection is closed, an idle HTTP/1.1 one parked.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Streams whose handler or response body is still running.
    active: AtomicUsize,
    /// Streams started so far.
    started: AtomicU64,
}

/// Counts one stream as active until dropped (with its response body, or with its handler
/// when the client resets the stream first).
struct Active(Arc<Activity>);

impl Active {
    fn new(a: &Arc<Activity>) -> Self {
        a.started.fetch_add(1, Ordering::Relaxed);
        a.active.fetch_add(1, Ordering::Relaxed);
        Self(a.clone())
    }
}

impl Activity {
    /// Requests or streams started so far.
    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Requests or streams whose handler or response body is still running.
    pub(crate) fn running(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its stream counted as active until it is done.
struct Tracked {
    inner: axum::body::Body,
    _active: Active,
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves once `activity` shows no stream running and none started for a whole `idle`
/// period (so between one and two periods after the last stream ended).
async fn idle_for(activity: &Activity, idle: Duration) {
    let mut last = activity.started.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(idle).await;
        let started = activity.started.load(Ordering::Relaxed);
        if started == last && activity.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        last = started;
    }
}

/// What a connection's socket is: plain TCP or TLS over it.
type Socket =
    tokio_util::either::Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// Serves HTTP/1.1 (with upgrades) on one connection, parking it whenever it is idle (see
/// `parking`); on stop, lets the request in flight finish first.
async fn serve_http1<S, B>(
    io: Socket,
    mut svc: S,
    activity: &Activity,
    stop: &mut watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    limits: ConnLimits,
    gauges: &ConnectionGauges,
) where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B> + Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::io::AsyncWriteExt;
    use tokio_util::either::Either;

    let state = Arc::new(IoState::default());
    let period = parking::park_after(limits.header_timeout);
    let tls = matches!(&io, Either::Right(_));
    let mut io = ParkableIo::new(io, state.clone()).with_hsts(tls);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // The documented limit is enforced exactly by the edge guard (431); hyper's
        // buffer is only a backstop a little above it, and the header count is no
        // tighter limit of its own.
        .max_buf_size(limits.max_header_bytes.saturating_add(16_384))
        .max_headers(MAX_HEADERS);
    // When a connection that went idle and has started no request since is closed, with
    // the count of requests started then. Carried across take-ups, so that bytes that
    // start no request (part of a head, a TLS record without data) never push it back.
    let mut deadline: Option<(Instant, u64)> = None;
    loop {
        // Boxed, so that a parked connection holds none of it.
        let mut conn = Box::new(
            builder
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades(),
        );
        let started = activity.started();
        let read = state.reads();
        let idle_since = tokio::select! {
            r = &mut *conn => return ended(r, peer),
            () = stopped(stop) => {
                std::pin::Pin::new(&mut *conn).graceful_shutdown();
                return ended((&mut *conn).await, peer);
            }
            since = async {
                loop {
                    let since = parking::idle(activity, &state, period).await;
                    // hyper closes a connection at once only between requests or before
                    // its first byte. One holding part of its first request head would
                    // serve that request first, answering `Connection: close`: it is
                    // left to run until the request starts.
                    if activity.started() == started && state.reads() > read {
                        while activity.started() == started {
                            tokio::time::sleep(period).await;
                        }
                        continue;
                    }
                    return since;
                }
            } => since,
            () = async {
                match deadline {
                    Some((at, n)) if n == started => {
                        tokio::time::sleep_until(at).await;
                        if activity.started() == n {
                            return;
                        }
                    }
                    _ => {}
                }
                std::future::pending::<()>().await;
            } => return,
        };
        // Idle: hyper closes its side of the connection but leaves the socket open.
        let now_started = activity.started();
        let close_at = match deadline {
            Some((at, n)) if n == now_started => at,
            _ => idle_since + limits.header_timeout,
        };
        deadline = Some((close_at, now_started));
        state.set_parking(true);
        std::pin::Pin::new(&mut *conn).graceful_shutdown();
        // An idle connection finishes at once; one that looked idle in the middle of a
        // request body no client is sending any more is closed rather than waited for.
        let Ok(r) = tokio::time::timeout(limits.header_timeout, &mut *conn).await else {
            return;
        };
        state.set_parking(false);
        if r.is_err() {
            return ended(r, peer);
        }
        if activity.started() != now_started {
            // Not idle after all: hyper served a request meanwhile and answered that the
            // connection closes.
            return;
        }
        let Some(parts) = conn.into_parts() else {
            return;
        };
        svc = parts.service;
        io = parts.io.into_inner();
        if !parts.read_buf.is_empty() {
            // Part of the next request head: read first by the next connection, at once.
            io = io.with_prefix(&parts.read_buf);
            continue;
        }
        drop(parts.read_buf);
        tracing::trace!(peer = %peer, "idle connection parked");
        let parked = Counted::new(&gauges.parked);
        // Parked: the socket alone waits for the next request, until the header timeout
        // (counted from when the connection first went idle) closes it as hyper would have.
        let readable = async {
            match &io.inner {
                Either::Left(tcp) => tcp.readable().await,
                Either::Right(tls) => tls.get_ref().0.readable().await,
            }
        };
        tokio::select! {
            r = readable => {
                if r.is_err() {
                    return;
                }
                tracing::trace!(peer = %peer, "parked connection taken up again");
                drop(parked);
            }
            () = stopped(stop) => return,
            () = tokio::time::sleep_until(close_at) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), io.inner.shutdown()).await;
                return;
            }
        }
    }
}

/// Counts one on a gauge while it lives.
/// Resolves once the server stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Logs how a connection ended.
fn ended(r: Result<(), hyper::Error>, peer: std::net::SocketAddr) {
    if let Err(e) = r {
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

/// Runs one connection until it ends; on stop (or when `$idle` resolves), lets the
/// requests in flight finish first.
macro_rules! drive {
    ($conn:expr, $stop:expr, $peer:expr, $idle:expr) => {{
        let mut conn = std::pin::pin!($conn);
        let ended = tokio::select! {
            r = conn.as_mut() => Some(r),
            _ = async { let _ = $stop.wait_for(|s| *s).await; } => None,
            _ = $idle => None,
        };
        let ended = match ended {
            Some(r) => r,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(peer = %$peer, error = %e, "connection ended with an error");
        }
    }};
}

/// Serves HTTP/1.1 and HTTP/2, over TLS when `tls` is set: one task per connection (TLS handshake
/// within 10 s), header and idle timeouts, protocol upgrades (WebSocket) for the gateway,
/// the certificate reloaded on SIGHUP, connections drained for at most `grace` on stop.
pub(crate) async fn serve_connections<L, S>(
    listener: L,
    router: S,
    tls: Option<crate::tls::Tls>,
    mut stop: watch::Receiver<bool>,
    limits: ConnLimits,
    gauges: ConnectionGauges,
) -> std::io::Result<()>
where
    L: std::borrow::Borrow<TcpListener>,
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Unpin
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tokio_util::either::Either;
    use tower::ServiceExt;

    let reloader = tls.as_ref().map(|tls| {
        let resolver = tls.resolver.clone();
        let mut stop_hup = stop.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {}
                    _ = async { let _ = stop_hup.wait_for(|s| *s).await; } => return,
                }
                match resolver.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate reload failed; keeping the current one")
                    }
                }
            }
        })
    });
    // Every connection task holds a sender; when all are gone, every connection is closed.
    let (open_tx, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.borrow().accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let router = router.clone();
        let open = open_tx.clone();
        let mut stop_conn = stop.clone();
        let gauges = gauges.clone();
        tokio::spawn(async move {
            let _open = open;
            let _counted = Counted::new(&gauges.open);
            let mut h2c = false;
            let (io, identity) = match acceptor {
                None if !limits.http2 => (Either::Left(tcp), None),
                None => match opens_with_h2_preface(&tcp, limits.header_timeout).await {
                    Some(h2) => {
                        h2c = h2;
                        (Either::Left(tcp), None)
                    }
                    None => return,
                },
                Some(acceptor) => {
                    // Boxed, as the connections below: the task holds only what a
                    // connection needs while it lives, not room for every protocol's state.
                    let accept = Box::pin(acceptor.accept(tcp));
                    match tokio::time::timeout(Duration::from_secs(10), accept).await {
                        Ok(Ok(s)) => {
                            let identity =
                                crate::tls::peer_identity(s.get_ref().1.peer_certificates());
                            (Either::Right(Box::new(s)), identity)
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            let tls = matches!(io, Either::Right(_));
            let h2 = match &io {
                Either::Left(_) => h2c,
                Either::Right(s) => {
                    limits.http2 && s.get_ref().1.alpn_protocol() == Some(&b"h2"[..])
                }
            };
            let svc =
                router.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    if tls {
                        req.extensions_mut()
                            .insert(portcullis_http::edge::TlsConnection);
                    }
                    if let Some(id) = &identity {
                        req.extensions_mut().insert(id.clone());
                    }
                    req.map(axum::body::Body::new)
                });
            // Requests or streams started and running: an idle HTTP/2 connection is
            // closed (it has no header timeout of its own), an idle HTTP/1.1 one parked.
            let activity = Arc::new(Activity::default());
            let counting = activity.clone();
            let svc = svc.map_future(move |fut| {
                let active = Active::new(&counting);
                async move {
                    let res = fut.await?;
                    Ok::<_, std::convert::Infallible>(res.map(|inner| {
                        axum::body::Body::new(Tracked {
                            inner,
                            _active: active,
                        })
                    }))
                }
            });
            let svc = hyper_util::service::TowerToHyperService::new(svc);
            if h2 {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    // As for HTTP/1.1: the edge guard answers 431 at the documented limit.
                    .max_header_list_size(
                        u32::try_from(limits.max_header_bytes.saturating_add(16_384))
                            .unwrap_or(u32::MAX),
                    )
                    .max_concurrent_streams(MAX_H2_STREAMS)
                    // A peer that stops answering pings is gone: its streams are closed.
                    .keep_alive_interval(Some(Duration::from_secs(30)))
                    .keep_alive_timeout(Duration::from_secs(20));
                Box::pin(async {
                    drive!(
                        builder.serve_connection(TokioIo::new(io), svc),
                        stop_conn,
                        peer,
                        idle_for(&activity, limits.header_timeout)
                    );
                })
                .await;
            } else {
                Box::pin(serve_http1(
                    io,
                    svc,
                    &activity,
                    &mut stop_conn,
                    peer,
                    limits,
                    &gauges,
                ))
                .await;
            }
        });
    }
    // An owned listener closes here, so new connections are refused while the others
    // drain; a borrowed one (the sealed phase) stays open for the unsealed server.
    drop(listener);
    drop(open_tx);
    if let Some(r) = reloader {
        r.abort();
    }
    if tokio::time::timeout(limits.grace, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; dropping remaining connections");
    }
    Ok(())
}
