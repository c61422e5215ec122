//! The access log, off the request path: a request hands its line to a bounded queue and
//! goes on; one thread drains the queue every few milliseconds and formats and writes the
//! lines in batches. When the writer falls
//! behind (a slow terminal or pipe), lines are dropped and counted, and the count is
//! written once the writer catches up: a request never waits for its log line.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

/// Lines queued at most.
const QUEUE: usize = 8192;
/// How long the writer rests when the queue is empty.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// One request, as its access line tells it.
#[derive(Debug)]
pub struct AccessLine {
    /// Unix time, microseconds.
    pub at_us: i64,
    /// The request id.
    pub request_id: String,
    /// Method.
    pub method: axum::http::Method,
    /// The (normalised) path.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Time to the response head, microseconds.
    pub latency_us: u64,
    /// The gateway route and principal, for a request the gateway served.
    pub by: Option<Attribution>,
    /// The client's address (a trusted proxy's client, as everything else judges it).
    pub client: Option<std::net::IpAddr>,
    /// The protocol the client spoke.
    pub version: axum::http::Version,
    /// The client's `User-Agent`.
    pub user_agent: Option<axum::http::HeaderValue>,
    /// The answer's length, when its head said it (`Content-Length`).
    pub bytes_out: Option<u64>,
}

/// Which gateway route served a request, and for whom: the gateway puts it on its
/// responses, the access line reads it from there.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// The route's name.
    pub route: std::sync::Arc<str>,
    /// The authenticated principal's user id (the service account's, for an API key).
    pub principal: Option<String>,
}

/// Rewrites a logged path so that what must not be stored is not (DLP masking).
pub type Masker = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The queue to the writer thread, with its sampling and counters.
pub struct AccessLog {
    tx: Option<SyncSender<AccessLine>>,
    /// Set once at start when DLP is on: the writer masks each path with it.
    mask: std::sync::Arc<std::sync::OnceLock<Masker>>,
    /// Successful requests are logged when this counter, scaled by the sample, steps.
    sample: f64,
    seen: AtomicU64,
    dropped: std::sync::Arc<AtomicU64>,
    /// Set by [`AccessLog::finish`]; the writer answers on `done` once the queue is empty.
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("enabled", &self.tx.is_some())
            .field("sample", &self.sample)
            .field("masked", &self.mask.get().is_some())
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Starts the writer (to stderr) when `enabled`.
    pub fn start(enabled: bool, sample: f64) -> Self {
        Self::start_to(enabled, sample, std::io::stderr)
    }

    /// [`AccessLog::start`] with another destination (tests).
    pub fn start_to<W: Write + 'static>(
        enabled: bool,
        sample: f64,
        out: impl Fn() -> W + Send + 'static,
    ) -> Self {
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let closing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let mask: std::sync::Arc<std::sync::OnceLock<Masker>> = std::sync::Arc::default();
        let writer_mask = mask.clone();
        let tx = enabled
            .then(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
                let (d, c, f) = (dropped.clone(), closing.clone(), done.clone());
                std::thread::Builder::new()
                    .name("access-log".into())
                    .spawn(move || {
                        write_loop(&rx, &d, &c, &writer_mask, out);
                        let (m, cv) = &*f;
                        *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
                        cv.notify_all();
                    })
                    .ok()
                    .map(|_| tx)
            })
            .flatten();
        Self {
            tx,
            mask,
            sample: sample.clamp(0.0, 1.0),
            seen: AtomicU64::new(0),
            dropped,
            closing,
            done,
        }
    }

    /// Masks every logged path with `m` from now on (set once; DLP sets it at start).
    pub fn set_mask(&self, m: Masker) {
        let _ = self.mask.set(m);
    }

    /// Writes out what is queued and stops the writer (at shutdown, after the last
    /// request): waits at most a second. Lines logged afterwards are dropped.
    pub fn finish(&self) {
        if self.tx.is_none() {
            return;
        }
        self.closing.store(true, Ordering::Release);
        let (m, cv) = &*self.done;
        let guard = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = cv.wait_timeout_while(guard, std::time::Duration::from_secs(1), |done| !*done);
    }

    /// Whether a line for a request with `status` is wanted: every error, and the sampled
    /// Whether access lines are written at all.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// share of the rest (exactly: every `1/sample`th, not at random).
    pub fn wants(&self, status: u16) -> bool {
        if self.tx.is_none() {
            return false;
        }
        if status >= 400 || self.sample >= 1.0 {
            return true;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        // n-th success is logged when floor((n + 1) * s) > floor(n * s).
        #[allow(clippy::cast_precision_loss)]
        let (a, b) = (n as f64 * self.sample, (n + 1) as f64 * self.sample);
        b.floor() > a.floor()
    }

    /// Queues `line`; drops (and counts) it when the queue is full.
    pub fn log(&self, line: AccessLine) {
        if let Some(tx) = &self.tx {
            match tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Lines dropped so far because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_loop<W: Write>(
    rx: &Receiver<AccessLine>,
    dropped: &AtomicU64,
    closing: &std::sync::atomic::AtomicBool,
    mask: &std::sync::OnceLock<Masker>,
    out: impl Fn() -> W,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut reported = 0u64;
    loop {
        // Polled, never parked on the queue: a parked reader costs every request a wake-up
        // (two futex calls and a context switch); a line waits at most one pause instead.
        loop {
            match rx.try_recv() {
                Ok(l) => {
                    format_line(&mut buf, &l, mask.get());
                    if buf.len() >= 60 * 1024 {
                        break;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    flush(&buf, &out);
                    return;
                }
            }
        }
        if buf.is_empty() {
            if closing.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(PAUSE);
            continue;
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let _ = writeln!(
                buf,
                r#"{{"level":"WARN","fields":{{"message":"access log behind: lines dropped","dropped_total":{lost}}},"target":"portcullis_web::access_log"}}"#
            );
            reported = lost;
        }
        flush(&buf, &out);
        buf.clear();
    }
}

fn flush<W: Write>(buf: &[u8], out: &impl Fn() -> W) {
    if buf.is_empty() {
        return;
    }
    let mut w = out();
    let _ = w.write_all(buf);
    let _ = w.flush();
}

/// One JSON line, shaped as the rest of the log (`fields`, `span`), so one parser reads
/// both.
fn format_line(buf: &mut Vec<u8>, l: &AccessLine, mask: Option<&Masker>) {
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(l.at_us) * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let masked = |text: &str| mask.and_then(|m| m(text));
    let path = serde_json::Value::from(masked(&l.path).unwrap_or_else(|| l.path.clone()));
    #[allow(clippy::cast_precision_loss)]
    let latency_ms = l.latency_us as f64 / 1000.0;
    let by = match &l.by {
        None => String::new(),
        Some(a) => {
            let mut by = format!(r#","route":{}"#, serde_json::Value::from(&*a.route));
            if let Some(p) = &a.principal {
                by.push_str(&format!(
                    r#","principal":{}"#,
                    serde_json::Value::from(p.as_str())
                ));
            }
            by
        }
    };
    let mut more = String::new();
    if let Some(ip) = l.client {
        more.push_str(&format!(r#","client":"{ip}""#));
    }
    more.push_str(&format!(r#","protocol":"{:?}""#, l.version));
    if let Some(ua) = &l.user_agent {
        // At most 256 bytes of it, as text (a header value need not be UTF-8).
        let ua = String::from_utf8_lossy(ua.as_bytes());
        let mut end = ua.len().min(256);
        while !ua.is_char_boundary(end) {
            end -= 1;
        }
        let ua = ua.get(..end).unwrap_or_default();
        more.push_str(&format!(
            r#","user_agent":{}"#,
            serde_json::Value::from(masked(ua).unwrap_or_else(|| ua.to_owned()))
        ));
    }
    if let Some(n) = l.bytes_out {
        more.push_str(&format!(r#","bytes_out":{n}"#));
    }
    let _ = writeln!(
        buf,
        r#"{{"timestamp":"{ts}","level":"INFO","fields":{{"message":"request completed","status":{},"latency_ms":{latency_ms}{by}{more}}},"target":"portcullis_web::access_log","span":{{"request_id":"{}","method":"{}","path":{path},"name":"request"}}}}"#,
        l.status,
        l.request_id,
        l.method.as_str(),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(status: u16, path: &str) -> AccessLine {
        AccessLine {
            at_us: 1_700_000_000_123_456,
            request_id: "ab".into(),
            method: axum::http::Method::GET,
            path: path.into(),
            status,
            latency_us: 1500,
            by: None,
            client: None,
            version: axum::http::Version::HTTP_11,
            user_agent: None,
            bytes_out: None,
        }
    }

    #[test]
    fn sampling_is_exact_and_errors_always_count() {
        let log = AccessLog::start_to(true, 0.25, Sink::default);
        let kept = (0..1000).filter(|_| log.wants(200)).count();
        assert_eq!(kept, 250);
        assert!((0..10).all(|_| log.wants(500)));
        let none = AccessLog::start_to(true, 0.0, Sink::default);
        assert!(!(0..100).any(|_| none.wants(204)) && none.wants(404));
        let off = AccessLog::start_to(false, 1.0, Sink::default);
        assert!(!off.wants(500));
    }

    #[test]
    fn lines_are_json_and_escaped() {
        let sink = Sink::default();
        let s2 = sink.clone();
        let log = AccessLog::start_to(true, 1.0, move || s2.clone());
        log.log(line(200, "/a\"b\\c\n"));
        let mut by = line(503, "/x");
        by.by = Some(Attribution {
            route: "pay\"ments".into(),
            principal: Some("u-1".into()),
        });
        by.client = Some("2001:db8::7".parse().unwrap());
        by.version = axum::http::Version::HTTP_2;
        by.user_agent = Some(axum::http::HeaderValue::from_bytes(b"curl/8 \"x\" \xff").unwrap());
        by.bytes_out = Some(42);
        log.log(by);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
            if text.lines().count() == 2 {
                let v: Vec<serde_json::Value> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                assert_eq!(v[0]["span"]["path"], "/a\"b\\c\n");
                assert_eq!(v[0]["fields"]["message"], "request completed");
                assert_eq!(v[1]["fields"]["status"], 503);
                assert_eq!(v[1]["fields"]["route"], "pay\"ments");
                assert_eq!(v[1]["fields"]["principal"], "u-1");
                assert_eq!(v[1]["fields"]["client"], "2001:db8::7");
                assert_eq!(v[1]["fields"]["protocol"], "HTTP/2.0");
                assert_eq!(v[1]["fields"]["user_agent"], "curl/8 \"x\" \u{fffd}");
                assert_eq!(v[1]["fields"]["bytes_out"], 42);
                assert_eq!(v[0]["fields"]["protocol"], "HTTP/1.1");
                assert!(v[0]["fields"].get("client").is_none());
                assert!(v[0]["fields"].get("route").is_none());
                assert_eq!(v[0]["fields"]["latency_ms"], 1.5);
                assert!(
                    v[0]["timestamp"]
                        .as_str()
                        .unwrap()
                        .starts_with("2023-11-14T22:13:20.123456")
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_mask_rewrites_logged_paths_and_user_agents() {
        let sink = Sink::default();
        let s2 = sink.clone();
        let log = AccessLog::start_to(true, 1.0, move || s2.clone());
        log.set_mask(std::sync::Arc::new(|p: &str| {
            p.contains("4111")
                .then(|| p.replace("4111111111111111", "************1111"))
        }));
        log.log(line(200, "/pay/4111111111111111"));
        log.log(line(200, "/plain"));
        let mut by_agent = line(200, "/ua");
        by_agent.user_agent = Some(axum::http::HeaderValue::from_static("bot 4111111111111111"));
        log.log(by_agent);
        log.finish();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("/pay/************1111"), "{text}");
        assert!(text.contains("\"/plain\""), "{text}");
        assert!(text.contains("\"bot ************1111\""), "{text}");
        assert!(!text.contains("4111111111111111"), "{text}");
    }

    #[test]
    fn finish_writes_out_what_is_queued() {
        let sink = Sink::default();
        let s2 = sink.clone();
        let log = AccessLog::start_to(true, 1.0, move || s2.clone());
        for i in 0..500 {
            log.log(line(200, &format!("/{i}")));
        }
        // No waiting for the writer's pause: finish returns once every line is out.
        log.finish();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 500);
        AccessLog::start_to(false, 1.0, Sink::default).finish();
    }

    #[test]
    fn a_stuck_writer_drops_lines_instead_of_blocking() {
        // A destination that never returns: the queue fills and further lines are counted.
        let (_hold, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let log = AccessLog::start_to(true, 1.0, move || {
            let _ = gate.lock().unwrap().recv();
            Sink::default()
        });
        let start = std::time::Instant::now();
        for _ in 0..(QUEUE + 500) {
            log.log(line(200, "/"));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // The writer holds at most one batch (about 60 KiB) beyond the full queue.
        assert!(log.dropped() >= 200, "{}", log.dropped());
    }
}
