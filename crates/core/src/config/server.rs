//! `[server]`, `[server.tls]`, `[cluster]` and `[database]`: listening, TLS, forwarding, storage.

use super::*;

/// `[cluster]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `redis[s]://[[user]:password@]host[:port][/db]` (`rediss`: TLS): gateway rate limits
    /// held across nodes. Without it (or while it is unreachable) each node limits on its
    /// own.
    pub redis_url: Option<SecretString>,
    /// With `rediss://`: the CA (PEM) that signed the Redis server's certificate, trusted
    /// instead of the system's roots (a private CA, e.g. `portcullis ca cert`).
    pub redis_ca_file: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// The public base URL: token issuer; `https` turns HSTS on.
    pub public_url: String,
    /// Peers whose `Forwarded` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The one header the trusted proxies write. Only that header is read: a proxy that
    /// appends to `X-Forwarded-For` passes a client's own `Forwarded` through untouched.
    pub forwarded_header: ForwardedHeader,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Requests taking longer are aborted with 503.
    pub request_timeout_seconds: u64,
    /// On SIGTERM, in-flight requests get this long to finish.
    pub shutdown_grace_seconds: u64,
    /// Time a client has to send a request's headers, counted from when the connection is
    /// ready for the next request: closes slow-header clients and idle keep-alive
    /// connections.
    pub header_timeout_seconds: u64,
    /// Longest pause while a client sends a request body (slow uploads are cut off).
    pub body_timeout_seconds: u64,
    /// Largest request head (request line and headers), bytes; beyond it 431.
    pub max_header_bytes: usize,
    /// HTTP/2 from clients: h2 by ALPN on the TLS listener, h2c (prior knowledge) on the
    /// plain one. Off: HTTP/1.1 only.
    pub http2: bool,
    /// Origins (`https://app.example`) whose browser pages may call `/api/v1`: CORS. Empty
    /// (the default): none. Exact origins only; `*` is refused.
    pub cors_origins: Vec<String>,
    /// `[server.tls]`: serve HTTPS directly.
    pub tls: Option<TlsConfig>,
}

/// Whether clients present certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates are asked for, even with a `client_ca`.
    None,
    /// Verified when presented; a request without one authenticates otherwise.
    #[default]
    Optional,
    /// The handshake fails without a certificate the CA signed.
    Required,
}

/// `[server.tls]`: rustls, TLS 1.2 and 1.3, forward-secret suites, X25519MLKEM768 preferred.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first (re-read on SIGHUP). Also `cert`.
    #[serde(alias = "cert")]
    pub cert_file: PathBuf,
    /// PEM private key (re-read on SIGHUP). Also `key`.
    #[serde(alias = "key")]
    pub key_file: PathBuf,
    /// PEM CA certificates that client certificates must chain to (mTLS); none: no client
    /// certificates are asked for. Also `client_ca`.
    #[serde(default, alias = "client_ca")]
    pub client_ca_file: Option<PathBuf>,
    /// `optional` (default) or `required`, when `client_ca_file` is set.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://localhost:8080".into(),
            tls: None,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            max_body_bytes: 1_048_576,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 20,
            header_timeout_seconds: 15,
            body_timeout_seconds: 30,
            max_header_bytes: 65_536,
            http2: true,
            cors_origins: Vec::new(),
        }
    }
}

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://user:pass@host/db`; may hold a password.
    pub url: SecretString,
    /// Pool size (PostgreSQL; SQLite readers).
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://./portcullis-data/portcullis.db"),
            max_connections: 16,
        }
    }
}

/// The origin `text` names, in the form browsers send it (`scheme://host[:port]`, lower
/// case, default port left out), or why it is not one.
pub fn cors_origin(text: &str) -> Result<String, String> {
    if text.trim() == "*" {
        return Err("`*` is not accepted: list each origin".into());
    }
    let url = url::Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "`{text}` is not an origin: scheme://host[:port], without a path"
        ));
    }
    Ok(url.origin().ascii_serialization())
}
