//! HTTP plumbing that Portcullis's API (`portcullis-web`) and its gateway
//! (`portcullis-gateway`) share, so that neither imports the other: the one mapping from
//! errors to RFC 9457 problems, the edge guard with the one normalised path, client
//! addresses behind trusted proxies, request ids and access lines, body pacing, deadlines
//! and security headers, metrics, the gRPC form of refusals, and the API-key and
//! certificate principals both accept.

pub mod access_log;
pub mod body;
pub mod clamd;
pub mod client_ip;
pub mod coding;
pub mod context;
pub mod cors;
pub mod dlp;
mod dlp_budget;
mod dlp_clean;
mod dlp_grpc;
pub mod dlp_join;
mod dlp_sse;
mod dlp_stream;
pub mod edge;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod middleware;
pub mod normalize;
pub mod signatures;
pub mod waf;
pub mod waf_grpc;
mod waf_uploads;

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use portcullis_core::config::Config;
use portcullis_core::model::Role;
use portcullis_core::service::Services;

/// The media type of a `Content-Type` value: before any parameter, trimmed, lower-case.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Web-layer settings, derived once from the configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header they write.
    pub forwarded_header: portcullis_core::config::ForwardedHeader,
    /// Who may call the admin API.
    pub admin_allowed_ips: Vec<IpNet>,
    /// Roles that need a second factor in their token.
    pub mfa_required_for_roles: Vec<Role>,
    /// Send HSTS.
    pub hsts: bool,
    /// Public base URL.
    pub public_url: String,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Longest pause in a request body.
    pub body_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// security.txt `Contact:` lines.
    pub security_contacts: Vec<String>,
    /// security.txt expiry, days ahead.
    pub security_expires_days: u32,
    /// security.txt `Policy:`.
    pub security_policy: Option<String>,
    /// security.txt `Preferred-Languages:`.
    pub security_languages: Option<String>,
    /// Shares needed to unseal, when the master key is split (for the seal status).
    pub shamir_threshold: Option<u8>,
    /// `server.cors_origins`, as browsers send them.
    pub cors_origins: Vec<String>,
    /// `log.access`: one access line per request, off the request path.
    pub access_log: bool,
    /// `log.access_sample`: the share of successful requests logged.
    pub access_sample: f64,
    /// `report.dependency_scan`: the compliance report's dependency evidence.
    pub report_dependency_scan: Option<std::path::PathBuf>,
}

impl WebSettings {
    /// Takes what the web layer needs from the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self {
            trusted_proxies: c.server.trusted_proxies.clone(),
            forwarded_header: c.server.forwarded_header,
            admin_allowed_ips: c.admin.allowed_ips.clone(),
            mfa_required_for_roles: c.auth.mfa_required_for_roles.clone(),
            hsts: c.is_https(),
            public_url: c.server.public_url.clone(),
            max_body_bytes: c.server.max_body_bytes,
            request_timeout: Duration::from_secs(c.server.request_timeout_seconds),
            body_timeout: Duration::from_secs(c.server.body_timeout_seconds),
            max_header_bytes: c.server.max_header_bytes,
            security_contacts: c.security_txt.contact.clone(),
            security_expires_days: c.security_txt.expires_days,
            security_policy: c.security_txt.policy.clone(),
            security_languages: c.security_txt.preferred_languages.clone(),
            report_dependency_scan: c.report.dependency_scan.clone(),
            shamir_threshold: None,
            cors_origins: c
                .server
                .cors_origins
                .iter()
                .filter_map(|o| portcullis_core::config::cors_origin(o).ok())
                .collect(),
            access_log: c.log.access,
            access_sample: c.log.access_sample,
        }
    }
}

/// What every request needs, whichever side serves it: the domain services, the web
/// settings, the access log and the metrics. One pointer, since it is cloned per request.
#[derive(Clone)]
pub struct Edge(Arc<EdgeInner>);

/// What an [`Edge`] holds.
pub struct EdgeInner {
    /// Domain services.
    pub svc: Arc<Services>,
    /// Web settings.
    pub web: Arc<WebSettings>,
    /// The access log's queue to its writer thread.
    pub access: Arc<access_log::AccessLog>,
    /// What `/metrics` counts.
    pub metrics: Arc<metrics::Metrics>,
    /// Request inspection (`[waf]`).
    pub waf: Arc<waf::Waf>,
    /// Data loss prevention on the gateway's responses (`[dlp]`).
    pub dlp: Arc<dlp::DlpRuntime>,
}

impl Edge {
    /// The shared state of one server; starts the access log's writer.
    pub fn new(
        svc: Arc<Services>,
        web: Arc<WebSettings>,
        metrics: Arc<metrics::Metrics>,
        waf: Arc<waf::Waf>,
        dlp: Arc<dlp::DlpRuntime>,
    ) -> Self {
        let access = Arc::new(access_log::AccessLog::start(
            web.access_log,
            web.access_sample,
        ));
        // What DLP detects is masked in the access log (paths, User-Agents), DLP on answers
        // or not.
        let d = dlp.clone();
        access.set_mask(Arc::new(move |text: &str| d.mask_text(text)));
        Self(Arc::new(EdgeInner {
            svc,
            web,
            access,
            metrics,
            waf,
            dlp,
        }))
    }
}

impl std::ops::Deref for Edge {
    type Target = EdgeInner;

    fn deref(&self) -> &EdgeInner {
        &self.0
    }
}
