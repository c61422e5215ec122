//! SIEM export: delivers the audit log to `[[audit.sinks]]`, at least once and in order.
//!
//! Each sink has a cursor in the database (the last entry delivered) and a lease, so that one
//! node of a cluster delivers at a time and a restarted node resumes where delivery stopped.
//! The cursor moves only after the destination accepted the entries (file written and synced,
//! syslog frames written to the socket, webhook answered 2xx): a crash in between delivers
//! those entries again, never loses them.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::audit::AuditRecord;
use portcullis_core::config::{FsyncPolicy, SinkConfig, SinkFormat, SinkKind};
use portcullis_core::service::Services;
use portcullis_core::siem;
use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Entries per delivery round.
const BATCH: u32 = 200;
/// How long a node's lease lasts without renewal.
const LEASE_SECONDS: i64 = 30;
/// Pause when there is nothing to deliver or the lease is elsewhere.
const IDLE: Duration = Duration::from_millis(300);
/// Longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where one sink writes.
enum Output {
    File {
        path: std::path::PathBuf,
        fsync: FsyncPolicy,
        file: Option<tokio::fs::File>,
    },
    Syslog(SyslogTarget),
    Webhook {
        url: String,
        key: zeroize::Zeroizing<Vec<u8>>,
        client: reqwest::Client,
    },
}

/// A byte stream to a collector: TCP or TLS over TCP.
pub(crate) trait Stream: tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

/// A TLS connector and the name the collector's certificate must carry.
pub(crate) type TlsTarget = (
    tokio_rustls::TlsConnector,
    rustls::pki_types::ServerName<'static>,
);

/// A TLS client for a syslog collector: the CA file's roots, or the system's.
pub(crate) fn syslog_tls(
    ca_file: Option<&std::path::Path>,
    server_name: Option<&str>,
    address: &str,
) -> Result<TlsTarget, String> {
    let provider = Arc::new(crate::tls::provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let config = match ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in crate::tls::read_certs(ca)? {
                roots.add(c).map_err(|e| e.to_string())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
        }
    };
    let host = server_name.map(str::to_owned).unwrap_or_else(|| {
        address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_owned()
    });
    let name =
        rustls::pki_types::ServerName::try_from(host).map_err(|e| format!("server name: {e}"))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

/// Connects to a syslog collector at `address`, over TLS when `tls` is given.
pub(crate) async fn connect_syslog(
    address: &str,
    tls: Option<&TlsTarget>,
) -> Result<Box<dyn Stream>, String> {
    let c = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| format!("connect {address}: timed out"))?
    .map_err(|e| format!("connect {address}: {e}"))?;
    Ok(match tls {
        Some((connector, name)) => Box::new(
            tokio::time::timeout(Duration::from_secs(10), connector.connect(name.clone(), c))
                .await
                .map_err(|_| format!("TLS to {address}: timed out"))?
                .map_err(|e| format!("TLS to {address}: {e}"))?,
        ),
        None => Box::new(c),
    })
}

/// Writes `frames` and flushes, within ten seconds.
pub(crate) async fn send_frames(
    conn: &mut Box<dyn Stream>,
    frames: &[u8],
    address: &str,
) -> Result<(), String> {
    let sent = async {
        conn.write_all(frames).await?;
        conn.flush().await
    };
    match tokio::time::timeout(Duration::from_secs(10), sent).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("send to {address}: {e}")),
        Err(_) => Err(format!("send to {address}: timed out")),
    }
}

/// A syslog collector (RFC 5425 TLS or plain TCP) and the connection kept open to it, for
/// audit sinks and alert sinks alike.
pub(crate) struct SyslogTarget {
    address: String,
    /// APP-NAME of the messages.
    pub(crate) app_name: String,
    /// HOSTNAME of the messages.
    pub(crate) hostname: String,
    tls: Option<TlsTarget>,
    conn: Option<Box<dyn Stream>>,
}

impl SyslogTarget {
    /// The collector at `address`; TLS with the CA file and server name when `tls`.
    pub(crate) fn new(
        address: Option<&str>,
        tls: bool,
        ca_file: Option<&std::path::Path>,
        server_name: Option<&str>,
        app_name: &str,
    ) -> Result<Self, String> {
        let address = address.ok_or("syslog sink without an address")?.to_owned();
        let tls = if tls {
            Some(syslog_tls(ca_file, server_name, &address)?)
        } else {
            None
        };
        Ok(Self {
            address,
            app_name: app_name.to_owned(),
            hostname: hostname(),
            tls,
            conn: None,
        })
    }

    /// Sends `frames`, connecting first when there is no connection; a failed send drops
    /// the connection, so the next attempt reconnects.
    pub(crate) async fn send(&mut self, frames: &[u8]) -> Result<(), String> {
        if self.conn.is_none() {
            self.conn = Some(connect_syslog(&self.address, self.tls.as_ref()).await?);
        }
        let Some(c) = self.conn.as_mut() else {
            return Err("not connected".into());
        };
        let sent = send_frames(c, frames, &self.address).await;
        if sent.is_err() {
            self.conn = None;
        }
        sent
    }
}

/// The HTTP client of a webhook: ten-second timeout, the CA file's roots when given.
pub(crate) fn webhook_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ca) = ca_file {
        let mut certs = Vec::new();
        for c in crate::tls::read_certs(ca)? {
            certs.push(reqwest::Certificate::from_der(c.as_ref()).map_err(|e| e.to_string())?);
        }
        b = b.tls_certs_only(certs);
    }
    b.build().map_err(|e| e.to_string())
}

/// A failed delivery: whether retrying the same entry can help.
struct Failed {
    reason: String,
    /// The entry the failure is about (webhooks fail entry by entry).
    seq: Option<i64>,
    /// Entries of the batch already delivered before the failure.
    delivered_upto: Option<i64>,
}

fn render(r: &AuditRecord, format: SinkFormat, log_name: &str) -> String {
    match format {
        SinkFormat::Ocsf => siem::ocsf(r, log_name, env!("CARGO_PKG_VERSION")).to_string(),
        SinkFormat::Raw => siem::event_json(r).to_string(),
    }
}

/// This machine's name, for syslog HOSTNAME and lease owners.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".into())
}

impl Output {
    fn new(cfg: &SinkConfig) -> Result<Self, String> {
        Ok(match cfg.kind {
            SinkKind::File => Output::File {
                path: cfg.path.clone().ok_or("file sink without a path")?,
                fsync: cfg.fsync,
                file: None,
            },
            SinkKind::Syslog => Output::Syslog(SyslogTarget::new(
                cfg.address.as_deref(),
                cfg.tls,
                cfg.ca_file.as_deref(),
                cfg.server_name.as_deref(),
                &cfg.app_name,
            )?),
            SinkKind::Webhook => Output::Webhook {
                url: cfg.url.clone().ok_or("webhook sink without a url")?,
                key: siem::webhook_key(
                    cfg.secret
                        .as_ref()
                        .map(|s| s.expose_secret())
                        .unwrap_or_default(),
                )
                .map_err(|e| e.to_string())?,
                client: webhook_client(cfg.ca_file.as_deref())?,
            },
        })
    }

    /// Delivers `batch` in order; on failure says how far it got. `now` is read for every
    /// webhook message, as it is signed and sent: one timestamp for a whole batch grows
    /// stale while the batch goes out, and receivers refuse stale timestamps as replays.
    async fn deliver(
        &mut self,
        batch: &[AuditRecord],
        format: SinkFormat,
        log_name: &str,
        now: impl Fn() -> i64,
    ) -> Result<(), Failed> {
        let whole = |reason: String| Failed {
            reason,
            seq: None,
            delivered_upto: None,
        };
        match self {
            Output::File { path, fsync, file } => {
                if file.is_none() {
                    let f = tokio::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&*path)
                        .await
                        .map_err(|e| whole(format!("open {}: {e}", path.display())))?;
                    *file = Some(f);
                }
                let Some(f) = file.as_mut() else {
                    return Err(whole("file not open".into()));
                };
                let result: std::io::Result<()> = async {
                    let mut buf = String::new();
                    for r in batch {
                        buf.push_str(&render(r, format, log_name));
                        buf.push('\n');
                        if *fsync == FsyncPolicy::Always {
                            f.write_all(buf.as_bytes()).await?;
                            f.sync_data().await?;
                            buf.clear();
                        }
                    }
                    f.write_all(buf.as_bytes()).await?;
                    f.flush().await?;
                    if *fsync == FsyncPolicy::Batch {
                        f.sync_data().await?;
                    }
                    Ok(())
                }
                .await;
                result.map_err(|e| {
                    *file = None;
                    whole(format!("write {}: {e}", path.display()))
                })
            }
            Output::Syslog(target) => {
                let mut frames = Vec::new();
                for r in batch {
                    frames.extend(siem::syslog_frame(
                        r,
                        &target.hostname,
                        &target.app_name,
                        &render(r, format, log_name),
                    ));
                }
                target.send(&frames).await.map_err(whole)
            }
            Output::Webhook { url, key, client } => {
                let mut upto = None;
                for r in batch {
                    let body = render(r, format, log_name);
                    let id = format!("evt_{}_{}", r.seq, r.hash.get(..16).unwrap_or_default());
                    let now = now();
                    let sig = siem::webhook_signature(key, &id, now, &body);
                    let sent = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", sig)
                        .body(body)
                        .send()
                        .await;
                    let failure = match sent {
                        Ok(res) if res.status().is_success() => None,
                        Ok(res) => Some(format!("{url} answered {}", res.status())),
                        Err(e) => Some(format!("POST {url}: {e}")),
                    };
                    if let Some(reason) = failure {
                        return Err(Failed {
                            reason,
                            seq: Some(r.seq),
                            delivered_upto: upto,
                        });
                    }
                    upto = Some(r.seq);
                }
                Ok(())
            }
        }
    }
}

fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let ms = base_ms.saturating_mul(1u64 << attempt.min(16));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

/// Sleeps `d` unless asked to stop; returns false when stopping.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Starts one delivery task per configured sink.
pub fn spawn(
    svc: Arc<Services>,
    sinks: Vec<SinkConfig>,
    log_name: String,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let owner = {
        let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
        format!("{}-{}", hostname(), hex::encode(b))
    };
    sinks
        .into_iter()
        .map(|cfg| {
            let svc = svc.clone();
            let owner = owner.clone();
            let log_name = log_name.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let name = cfg.name.clone();
                let store = svc.store().clone();
                run(svc, cfg, &owner, log_name, stop).await;
                if let Err(e) = store.release_sink(&name, &owner).await {
                    tracing::warn!(sink = %name, error = %e, "could not release the audit sink lease; another node takes over when it expires");
                }
            })
        })
        .collect()
}

async fn run(
    svc: Arc<Services>,
    cfg: SinkConfig,
    owner: &str,
    log_name: String,
    mut stop: watch::Receiver<bool>,
) {
    let name = cfg.name.clone();
    let mut out = match Output::new(&cfg) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(sink = %name, error = %e, "audit sink misconfigured; not delivering");
            return;
        }
    };
    let store = svc.store().clone();
    let mut attempt: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let cursor = match store
            .sink_lease(&name, owner, svc.now(), LEASE_SECONDS)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => {
                if !pause(IDLE * 3, &mut stop).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "audit sink cannot read its cursor");
                if !pause(backoff(cfg.retry_base_ms, 2), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let batch = match store.audit_page(cursor, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "audit sink cannot read the log");
                if !pause(backoff(cfg.retry_base_ms, 2), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let Some(last) = batch.last().map(|r| r.seq) else {
            if !pause(IDLE, &mut stop).await {
                return;
            }
            continue;
        };
        match out
            .deliver(&batch, cfg.format, &log_name, || svc.now())
            .await
        {
            Ok(()) => {
                attempt = 0;
                let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
                if let Err(e) = store.advance_sink(&name, owner, last, n, svc.now()).await {
                    tracing::warn!(sink = %name, error = %e, "audit sink delivered but could not store its cursor; it will deliver again");
                }
            }
            Err(f) => {
                let _ = store.sink_failed(&name).await;
                if let Some(upto) = f.delivered_upto {
                    let n = batch.iter().filter(|r| r.seq <= upto).count();
                    let _ = store
                        .advance_sink(&name, owner, upto, i64::try_from(n).unwrap_or(0), svc.now())
                        .await;
                }
                attempt += 1;
                tracing::warn!(sink = %name, attempt, error = %f.reason, "audit sink delivery failed");
                // Webhooks give up on one entry after max_attempts and move on (dead letter);
                // files and syslog are the operator's own infrastructure: keep trying.
                if let Some(seq) = f.seq
                    && attempt >= cfg.max_attempts
                {
                    let now = svc.now();
                    if store.dead_letter(&name, seq, &f.reason, now).await.is_ok() {
                        let _ = store.advance_sink(&name, owner, seq, 0, now).await;
                        tracing::error!(sink = %name, seq, "audit sink gave up on an entry; it is in audit_sink_dead_letters");
                    }
                    attempt = 0;
                    continue;
                }
                if !pause(backoff(cfg.retry_base_ms, attempt - 1), &mut stop).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1000, 0), Duration::from_secs(1));
        assert_eq!(backoff(1000, 3), Duration::from_secs(8));
        assert_eq!(backoff(1000, 30), MAX_BACKOFF);
    }
}
