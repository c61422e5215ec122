//! `[audit]` (checkpoints, sinks) and `[log]`.

use super::*;

/// `[audit]`: the transparency log over the audit events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A signed checkpoint after this many new entries...
    pub checkpoint_every_entries: u64,
    /// ...or this many seconds after the last one, when there are new entries.
    pub checkpoint_every_seconds: u64,
    /// The checkpoints' origin line and key name; default `<host of public_url>/portcullis/audit`.
    pub checkpoint_origin: Option<String>,
    /// A directory to write each new checkpoint to (`checkpoint` and `checkpoint.<size>`),
    /// for a witness or a backup job to pick up.
    pub witness_dir: Option<PathBuf>,
    /// Witnesses' C2SP tlog-witness `add-checkpoint` URLs: each new checkpoint is offered
    /// with a consistency proof from the size the witness last accepted (409 answers are
    /// retried from the size the witness names).
    pub witness_urls: Vec<String>,
    /// `[[audit.sinks]]`: where the events are delivered (SIEM export).
    pub sinks: Vec<SinkConfig>,
}

/// What kind of destination a sink is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// JSON lines appended to a file.
    #[default]
    File,
    /// RFC 5424 syslog over TCP (RFC 6587 octet counting).
    Syslog,
    /// HTTP POST signed per the Standard Webhooks specification.
    Webhook,
}

/// How events are rendered for a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    /// OCSF 1.x records, with the original event attached.
    #[default]
    Ocsf,
    /// The audit event as stored (with its hashes). Also `native`.
    #[serde(alias = "native")]
    Raw,
}

/// How a syslog sink connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// Plain TCP (RFC 6587 octet counting).
    Tcp,
    /// TLS (RFC 5425).
    Tls,
}

/// When a file sink calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// After every event.
    Always,
    /// After every batch, before the cursor moves.
    #[default]
    Batch,
    /// Never (the OS decides).
    Never,
}

/// One `[[audit.sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// Unique name; the delivery cursor is stored under it.
    pub name: String,
    /// `file`, `syslog` or `webhook`. Also `type`.
    #[serde(alias = "type")]
    pub kind: SinkKind,
    /// `ocsf` (default) or `native` (also `raw`).
    pub format: SinkFormat,
    /// file: the path to append to.
    pub path: Option<PathBuf>,
    /// file: `always`, `batch` (default) or `never`.
    pub fsync: FsyncPolicy,
    /// syslog: `host:port` of the collector (TCP).
    pub address: Option<String>,
    /// syslog: APP-NAME.
    pub app_name: String,
    /// syslog: TLS (RFC 5425) instead of plain TCP.
    pub tls: bool,
    /// syslog: `tcp` or `tls` (the same as `tls = true`).
    pub transport: Option<SyslogTransport>,
    /// syslog over TLS and https webhooks: PEM CA certificates to trust instead of the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// syslog over TLS: the name the collector's certificate must carry (default: the host
    /// of `address`).
    pub server_name: Option<String>,
    /// webhook: the `https://` (or `http://`) URL to POST to.
    pub url: Option<String>,
    /// webhook: the Standard Webhooks secret, `whsec_<base64>`.
    pub secret: Option<SecretString>,
    /// webhook: attempts per event before it goes to the dead-letter table.
    pub max_attempts: u32,
    /// First retry delay in milliseconds (doubling, at most a minute).
    pub retry_base_ms: u64,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: SinkKind::File,
            format: SinkFormat::Ocsf,
            path: None,
            fsync: FsyncPolicy::Batch,
            address: None,
            app_name: "portcullis".into(),
            tls: false,
            transport: None,
            ca_file: None,
            server_name: None,
            url: None,
            secret: None,
            max_attempts: 8,
            retry_base_ms: 1000,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_every_entries: 1000,
            checkpoint_every_seconds: 60,
            checkpoint_origin: None,
            witness_dir: None,
            witness_urls: Vec::new(),
            sinks: Vec::new(),
        }
    }
}

impl AuditConfig {
    /// The origin line of checkpoints for a server at `public_url`.
    pub fn origin(&self, public_url: &str) -> String {
        if let Some(o) = &self.checkpoint_origin {
            return o.clone();
        }
        let host = public_url
            .split_once("://")
            .map_or(public_url, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("localhost");
        format!("{host}/portcullis/audit")
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (default) or `pretty`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info,portcullis=debug`.
    pub level: String,
    /// One access line per request, written by its own thread off the request path (a
    /// bounded queue: when the writer falls behind, lines are dropped and counted, never
    /// waited for).
    pub access: bool,
    /// Share (0 to 1) of successful requests (status below 400) that get an access line;
    /// errors always do.
    pub access_sample: f64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
            access: true,
            access_sample: 1.0,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable.
    Pretty,
}
