//! The typed configuration. Loading and layering (file, environment, flags) happen in the
//! server crate; this module defines the keys, their defaults and their validation.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::model::Role;

mod approvals;
mod audit;
mod auth;
mod detection;
mod email;
mod federation;
mod keys;
mod oauth;
mod routes;
mod server;
mod waf;

pub use approvals::*;
pub use audit::*;
pub use auth::*;
pub use detection::*;
pub use email::*;
pub use federation::*;
pub use keys::*;
pub use oauth::*;
pub use routes::*;
pub use server::*;
pub use waf::*;

/// The paths of Portcullis's own endpoints: no route may take them, and a request for one
/// is served by the API (a 404 there), never proxied.
pub const RESERVED_PREFIXES: [&str; 8] = [
    "/api/v1",
    "/.well-known",
    "/oauth2",
    "/healthz",
    "/readyz",
    "/metrics",
    "/console",
    "/docs",
];

/// Whether `path` is one of [`RESERVED_PREFIXES`] or under one.
pub fn is_reserved_path(path: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A configuration value that is wrong, with the dotted key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration `{key}`: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `auth.password.min_length`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Whether `authority` is `host` or `host:port` (`[v6]` or `[v6]:port` too) with a host,
/// and a port from 1 to 65535 if it names one.
fn authority_ok(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    !host.is_empty()
        && !host.contains(char::is_whitespace)
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Everything Portcullis can be told.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[keys]`
    pub keys: KeysConfig,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[admin]`
    pub admin: AdminConfig,
    /// `[security_txt]`
    pub security_txt: SecurityTxtConfig,
    /// `[audit]`
    pub audit: AuditConfig,
    /// `[[routes]]`: the gateway in front of the team's own API.
    pub routes: Vec<RouteConfig>,
    /// `[cluster]`: what several nodes share besides the database.
    pub cluster: ClusterConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[detection]`: risk scoring, proof-of-work, GeoIP, deny lists.
    pub detection: DetectionConfig,
    /// `[alerts]`: rules over the audit log, alert sinks and automated responses.
    pub alerts: crate::alerting::AlertsConfig,
    /// `[elevation]`: just-in-time elevation requests and their approvers.
    pub elevation: ElevationConfig,
    /// `[approvals]`: dangerous operations held for other administrators' approval.
    pub approvals: ApprovalsConfig,
    /// `[oauth]`: the OpenID provider's switches (dynamic client registration).
    pub oauth: OAuthConfig,
    /// `[email]`: mail to people (resets, invitations, verification, notifications).
    pub email: EmailConfig,
    /// `[[identity_providers]]`: upstream OpenID providers people may sign in with.
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// `[waf]`: request inspection on the gateway's routes and Portcullis's own API.
    pub waf: WafConfig,
    /// `[dlp]`: secrets and personal data in the gateway's responses.
    pub dlp: DlpConfig,
    /// `[report]`: evidence for the compliance report that Portcullis does not measure.
    pub report: ReportFileConfig,
}

/// `[report]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportFileConfig {
    /// The last dependency scan's result (`cargo audit --json` output), read at each report.
    pub dependency_scan: Option<std::path::PathBuf>,
}

impl Config {
    /// Fills in what the file may leave out: a sink without a name is named after its kind
    /// and position, and `transport = "tls"` is `tls = true`.
    pub fn normalize(&mut self) {
        for (i, sink) in self.audit.sinks.iter_mut().enumerate() {
            if sink.name.is_empty() {
                let kind = match sink.kind {
                    SinkKind::File => "file",
                    SinkKind::Syslog => "syslog",
                    SinkKind::Webhook => "webhook",
                };
                sink.name = format!("{kind}-{i}");
            }
            if let Some(t) = sink.transport {
                sink.tls = t == SyslogTransport::Tls;
            }
        }
        self.alerts.normalize();
    }

    /// Checks values that the types alone do not; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.waf.validate(&self.routes)?;
        self.dlp.validate()?;
        if self.email.enabled() && !self.email.from.contains('@') {
            return Err(bad(
                "email.from",
                "the sender's address is required with email.smtp_url, e.g. \"Portcullis <no-reply@example.com>\"",
            ));
        }
        for (i, p) in self.identity_providers.iter().enumerate() {
            p.validate(i)?;
            if self.identity_providers.iter().take(i).any(|q| q.id == p.id) {
                return Err(bad(
                    &format!("identity_providers[{i}].id"),
                    format!("`{}` is used twice", p.id),
                ));
            }
        }
        if self.email.verify_on_register && !self.email.enabled() {
            return Err(bad(
                "email.verify_on_register",
                "verification codes are sent by mail: set email.smtp_url",
            ));
        }
        let url = &self.server.public_url;
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() < 10
            || url.ends_with('/')
        {
            return Err(bad(
                "server.public_url",
                "must be an absolute http(s) URL without a trailing slash",
            ));
        }
        for origin in &self.server.cors_origins {
            server::cors_origin(origin).map_err(|why| bad("server.cors_origins", why))?;
        }
        if self.server.max_body_bytes < 1024 || self.server.max_body_bytes > 64 * 1024 * 1024 {
            return Err(bad(
                "server.max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        if self.server.header_timeout_seconds == 0 || self.server.body_timeout_seconds == 0 {
            return Err(bad(
                "server.header_timeout_seconds",
                "header_timeout_seconds and body_timeout_seconds must be at least 1",
            ));
        }
        if !(8192..=1_048_576).contains(&self.server.max_header_bytes) {
            return Err(bad(
                "server.max_header_bytes",
                "must be between 8192 and 1048576",
            ));
        }
        if self.server.request_timeout_seconds == 0 {
            return Err(bad("server.request_timeout_seconds", "must be at least 1"));
        }
        let db = self.database.url.expose_secret();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(bad(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(bad("database.max_connections", "must be at least 1"));
        }
        let a = &self.auth;
        if !(60..=86_400).contains(&a.access_token_ttl_seconds) {
            return Err(bad(
                "auth.access_token_ttl_seconds",
                "must be between 60 and 86400",
            ));
        }
        if a.refresh_token_ttl_seconds < a.access_token_ttl_seconds
            || a.refresh_token_ttl_seconds > 31_536_000
        {
            return Err(bad(
                "auth.refresh_token_ttl_seconds",
                "must be at least the access-token TTL and at most one year",
            ));
        }
        if a.max_sessions_per_user == 0 {
            return Err(bad("auth.max_sessions_per_user", "must be at least 1"));
        }
        if a.signature_window_seconds == 0 || a.signature_window_seconds > 3600 {
            return Err(bad(
                "auth.signature_window_seconds",
                "must be between 1 and 3600",
            ));
        }
        if a.step_up_max_age_seconds == 0 {
            return Err(bad("auth.step_up_max_age_seconds", "must be at least 1"));
        }
        let p = &a.password;
        if p.min_length < 8 {
            return Err(bad(
                "auth.password.min_length",
                "must be at least 8 (NIST SP 800-63B)",
            ));
        }
        if p.max_length < 64 || p.max_length < p.min_length || p.max_length > 1024 {
            return Err(bad(
                "auth.password.max_length",
                "must be between 64 and 1024 and not below min_length",
            ));
        }
        if p.min_strength > 4 {
            return Err(bad(
                "auth.password.min_strength",
                "must be a zxcvbn score from 0 to 4",
            ));
        }
        if p.argon2_parallelism == 0 || p.argon2_parallelism > 16 {
            return Err(bad(
                "auth.password.argon2_parallelism",
                "must be between 1 and 16",
            ));
        }
        if p.argon2_memory_kib < 8 * p.argon2_parallelism || p.argon2_memory_kib > 4 * 1024 * 1024 {
            return Err(bad(
                "auth.password.argon2_memory_kib",
                "must be between 8 x parallelism and 4194304",
            ));
        }
        if p.argon2_iterations == 0 || p.argon2_iterations > 100 {
            return Err(bad(
                "auth.password.argon2_iterations",
                "must be between 1 and 100",
            ));
        }
        if self.security_txt.contact.is_empty() {
            return Err(bad("security_txt.contact", "needs at least one URI"));
        }
        if let Some(c) = self.security_txt.contact.iter().find(|c| {
            !(c.starts_with("mailto:") || c.starts_with("https://") || c.starts_with("tel:"))
        }) {
            return Err(bad(
                "security_txt.contact",
                format!("`{c}` is not a mailto:, https:// or tel: URI"),
            ));
        }
        if !(1..=364).contains(&self.security_txt.expires_days) {
            return Err(bad(
                "security_txt.expires_days",
                "must be between 1 and 364 (RFC 9116: less than a year ahead)",
            ));
        }
        if self.audit.checkpoint_every_entries == 0 {
            return Err(bad("audit.checkpoint_every_entries", "must be at least 1"));
        }
        if self.audit.checkpoint_every_seconds == 0 {
            return Err(bad("audit.checkpoint_every_seconds", "must be at least 1"));
        }
        for (i, u) in self.audit.witness_urls.iter().enumerate() {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(bad(
                    &format!("audit.witness_urls[{i}]"),
                    "must be an https:// URL",
                ));
            }
        }
        if let Some(url) = &self.cluster.redis_url
            && !(url.expose_secret().starts_with("redis://")
                || url.expose_secret().starts_with("rediss://"))
        {
            return Err(bad(
                "cluster.redis_url",
                "must be redis[s]://[[user]:password@]host[:port][/db] (rediss: TLS)",
            ));
        }
        self.detection.validate()?;
        routes::validate(&self.routes, self.detection.geoip_city_db.is_some())?;
        let mut names = std::collections::HashSet::new();
        for (i, sink) in self.audit.sinks.iter().enumerate() {
            let key = |k: &str| format!("audit.sinks[{i}].{k}");
            let valid_name = !sink.name.is_empty()
                && sink.name.len() <= 64
                && sink
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(bad(&key("name"), "1 to 64 letters, digits, `-` or `_`"));
            }
            if !names.insert(sink.name.as_str()) {
                return Err(bad(&key("name"), "must be unique"));
            }
            if sink.max_attempts == 0 {
                return Err(bad(&key("max_attempts"), "must be at least 1"));
            }
            match sink.kind {
                SinkKind::File if sink.path.is_none() => {
                    return Err(bad(&key("path"), "a file sink needs a path"));
                }
                SinkKind::Syslog
                    if sink
                        .address
                        .as_deref()
                        .is_none_or(|a| a.rsplit_once(':').is_none()) =>
                {
                    return Err(bad(&key("address"), "a syslog sink needs host:port"));
                }
                SinkKind::Webhook => {
                    if !sink
                        .url
                        .as_deref()
                        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
                    {
                        return Err(bad(&key("url"), "a webhook sink needs an https:// URL"));
                    }
                    let ok = sink
                        .secret
                        .as_ref()
                        .is_some_and(|s| crate::siem::webhook_key(s.expose_secret()).is_ok());
                    if !ok {
                        return Err(bad(
                            &key("secret"),
                            "a webhook sink needs a secret: `whsec_` and base64 of 24 to 64 random bytes",
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some(o) = &self.audit.checkpoint_origin
            && (o.is_empty()
                || o.chars()
                    .any(|c| c.is_whitespace() || c == '+' || c.is_control()))
        {
            return Err(bad(
                "audit.checkpoint_origin",
                "must be non-empty, without spaces, `+` or control characters",
            ));
        }
        self.alerts.validate()?;
        validate_approvals(&self.elevation, &self.approvals)?;
        if !(0.0..=1.0).contains(&self.log.access_sample) {
            return Err(bad("log.access_sample", "must be between 0 and 1"));
        }
        Ok(())
    }

    /// Whether responses should carry HSTS.
    pub fn is_https(&self) -> bool {
        self.server.public_url.starts_with("https://") || self.server.tls.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_providers_and_email_are_checked() {
        let provider = |issuer: &str| -> IdentityProviderConfig {
            serde_json::from_value(serde_json::json!({
                "id": "corp", "issuer": issuer, "client_id": "c"
            }))
            .unwrap()
        };
        for ok in [
            "https://idp.example",
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let c = Config {
                identity_providers: vec![provider(ok)],
                ..Config::default()
            };
            assert_eq!(c.validate(), Ok(()), "{ok}");
        }
        for bad_issuer in [
            "http://idp.example",
            "ftp://idp.example",
            "idp.example",
            "http://10.0.0.1",
        ] {
            let c = Config {
                identity_providers: vec![provider(bad_issuer)],
                ..Config::default()
            };
            assert_eq!(
                c.validate().unwrap_err().key,
                "identity_providers[0].issuer",
                "{bad_issuer}"
            );
        }
        let mut c = Config {
            identity_providers: vec![provider("https://a.example"), provider("https://b.example")],
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "identity_providers[1].id");
        let mut p = provider("https://a.example");
        p.id = "Corp SSO".into();
        c.identity_providers = vec![p];
        assert_eq!(c.validate().unwrap_err().key, "identity_providers[0].id");
        let mut p = provider("https://a.example");
        p.role_claim = "groups".into();
        p.role_map.insert("admins".into(), "root".into());
        c.identity_providers = vec![p];
        assert_eq!(
            c.validate().unwrap_err().key,
            "identity_providers[0].role_map"
        );
        let mut c = Config::default();
        c.email.verify_on_register = true;
        assert_eq!(c.validate().unwrap_err().key, "email.verify_on_register");
        c.email.smtp_url = Some(SecretString::from("smtp://127.0.0.1:25"));
        assert_eq!(c.validate().unwrap_err().key, "email.from");
        c.email.from = "Portcullis <no-reply@example.com>".into();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        for (text, origin) in [
            ("https://App.Example", "https://app.example"),
            ("https://app.example/", "https://app.example"),
            ("https://app.example:443", "https://app.example"),
            ("http://localhost:5173", "http://localhost:5173"),
        ] {
            assert_eq!(server::cors_origin(text).as_deref(), Ok(origin), "{text}");
        }
        for bad in [
            "*",
            "null",
            "app.example",
            "https://app.example/path",
            "https://u:p@app.example",
            "https://app.example?x=1",
            "ftp://app.example",
        ] {
            assert!(server::cors_origin(bad).is_err(), "{bad}");
        }
        let mut c = Config::default();
        c.server.cors_origins = vec!["*".into()];
        assert_eq!(c.validate().unwrap_err().key, "server.cors_origins");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = Config::default();
        c.auth.password.min_length = 4;
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("auth.password.min_length".to_owned())
        );
        let mut c = Config::default();
        c.security_txt.expires_days = 400;
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("security_txt.expires_days".to_owned())
        );
    }

    #[test]
    fn debug_hides_database_password() {
        let mut c = Config::default();
        c.database.url = SecretString::from("postgres://u:hunter2@db/portcullis");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
