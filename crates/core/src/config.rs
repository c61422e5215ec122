//! The typed configuration. Loading and layering (file, environment, flags) happen in the
//! server crate; this module defines the keys, their defaults and their validation.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::model::Role;

/// A configuration value that is wrong, with the dotted key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration `{key}`: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `auth.password.min_length`.
    pub key: String,
    /// What is wrong.
    pub message: String,
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
}

/// Scores at which a sign-in is challenged, needs a second factor, or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskThresholdsConfig {
    /// At or above: a proof-of-work (users with a second factor prove that instead).
    pub challenge: u32,
    /// At or above: a second factor; a user without one is refused (`risk_denied`).
    pub step_up: u32,
    /// At or above: refused.
    pub deny: u32,
}

impl Default for RiskThresholdsConfig {
    fn default() -> Self {
        Self {
            challenge: 30,
            step_up: 50,
            deny: 90,
        }
    }
}

/// `[detection]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// MaxMind-format city database (GeoLite2-City / GeoIP2-City); optional.
    pub geoip_city_db: Option<PathBuf>,
    /// MaxMind-format ASN database (GeoLite2-ASN); optional.
    pub geoip_asn_db: Option<PathBuf>,
    /// Netset files (an address or CIDR per line, `#` comments) whose addresses are refused
    /// everywhere; re-read when they change.
    pub deny_lists: Vec<PathBuf>,
    /// How often the deny lists are checked for changes, seconds.
    pub deny_list_reload_seconds: u64,
    /// Faster than this between two sign-ins is impossible travel, km/h.
    pub impossible_travel_kmh: f64,
    /// The default thresholds.
    pub thresholds: RiskThresholdsConfig,
    /// Thresholds per role (e.g. stricter for `admin`), overriding the default.
    pub role_thresholds: std::collections::BTreeMap<String, RiskThresholdsConfig>,
    /// Proof-of-work search space at attack level 0 (about 50,000 hashes: a blink in a
    /// browser); four times harder per level.
    pub pow_difficulty: u64,
    /// How long a challenge may be solved for, seconds.
    pub pow_ttl_seconds: u64,
    /// Failed sign-ins service-wide within `attack_window_seconds` that make an attack
    /// (level 1; 4x is level 2, 16x level 3): then devices not known to an account solve a
    /// proof-of-work before their password is even checked.
    pub attack_failures: u64,
    /// The window of `attack_failures`, seconds.
    pub attack_window_seconds: u64,
    /// Failed sign-ins allowed from one /24 (IPv4) before it is slowed down like a single
    /// address (IPv6 addresses are already counted per /64).
    pub net_free_failures: i64,
    /// Self-registrations one address (IPv6: /64) may make in an hour without a
    /// proof-of-work; each further one solves one, harder every five.
    pub registrations_free: i64,
    /// Registrations (and unsolved registration challenges) in an hour after which the
    /// address is refused (429) for the rest of the hour.
    pub registrations_max: i64,
    /// Distinct accounts failing from one address within `spray_window_seconds` that make a
    /// password spray: the address is blocked for `spray_block_seconds`.
    pub spray_accounts: u64,
    /// The window of `spray_accounts`, seconds.
    pub spray_window_seconds: u64,
    /// How long a spraying address is blocked, seconds.
    pub spray_block_seconds: u64,
    /// A principal's requests per minute at this multiple of its own baseline are a
    /// `rate_anomaly` (gateway).
    pub rate_anomaly_factor: f64,
    /// ...when the minute also holds at least this many requests.
    pub rate_anomaly_min_requests: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            geoip_city_db: None,
            geoip_asn_db: None,
            deny_lists: Vec::new(),
            deny_list_reload_seconds: 30,
            impossible_travel_kmh: 1000.0,
            thresholds: RiskThresholdsConfig::default(),
            role_thresholds: std::collections::BTreeMap::new(),
            pow_difficulty: 50_000,
            pow_ttl_seconds: 300,
            attack_failures: 100,
            attack_window_seconds: 300,
            net_free_failures: 200,
            registrations_free: crate::throttle::REGISTRATIONS.free,
            registrations_max: crate::throttle::REGISTRATIONS.max,
            spray_accounts: 10,
            spray_window_seconds: 600,
            spray_block_seconds: 900,
            rate_anomaly_factor: 10.0,
            rate_anomaly_min_requests: 30,
        }
    }
}

impl DetectionConfig {
    /// Checks the values; the error names the key.
    fn validate(&self) -> Result<(), ConfigError> {
        let all = std::iter::once(("detection.thresholds".to_owned(), &self.thresholds)).chain(
            self.role_thresholds
                .iter()
                .map(|(r, t)| (format!("detection.role_thresholds.{r}"), t)),
        );
        for (key, t) in all {
            if !(t.challenge <= t.step_up && t.step_up <= t.deny && t.deny <= 100 && t.deny > 0) {
                return Err(bad(
                    &key,
                    "need 0 <= challenge <= step_up <= deny <= 100 and deny > 0",
                ));
            }
        }
        for role in self.role_thresholds.keys() {
            role.parse::<Role>()
                .map_err(|e| bad(&format!("detection.role_thresholds.{role}"), e))?;
        }
        if !(self.impossible_travel_kmh.is_finite() && self.impossible_travel_kmh >= 100.0) {
            return Err(bad(
                "detection.impossible_travel_kmh",
                "must be a number of at least 100",
            ));
        }
        if !(1..=crate::detect::altcha::MAX_DIFFICULTY).contains(&self.pow_difficulty) {
            return Err(bad(
                "detection.pow_difficulty",
                format!(
                    "must be between 1 and {}",
                    crate::detect::altcha::MAX_DIFFICULTY
                ),
            ));
        }
        for (key, v) in [
            ("detection.pow_ttl_seconds", self.pow_ttl_seconds),
            (
                "detection.attack_window_seconds",
                self.attack_window_seconds,
            ),
            ("detection.spray_window_seconds", self.spray_window_seconds),
            ("detection.spray_block_seconds", self.spray_block_seconds),
            (
                "detection.deny_list_reload_seconds",
                self.deny_list_reload_seconds,
            ),
            ("detection.spray_accounts", self.spray_accounts),
        ] {
            if v == 0 || v > 31_536_000 {
                return Err(bad(key, "must be between 1 and 31536000"));
            }
        }
        if self.net_free_failures < 1 {
            return Err(bad("detection.net_free_failures", "must be at least 1"));
        }
        if self.registrations_free < 0 || self.registrations_max <= self.registrations_free {
            return Err(bad(
                "detection.registrations_max",
                "must be above detection.registrations_free (at least 0)",
            ));
        }
        if !(self.rate_anomaly_factor.is_finite() && self.rate_anomaly_factor >= 2.0) {
            return Err(bad(
                "detection.rate_anomaly_factor",
                "must be a number of at least 2",
            ));
        }
        Ok(())
    }
}

/// `[cluster]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `redis://[:password@]host:port[/db]`: gateway rate limits held across nodes. Without
    /// it (or while it is unreachable) each node limits on its own.
    pub redis_url: Option<SecretString>,
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

/// Where the master key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// A key file, created with mode 0600 when missing.
    #[default]
    File,
    /// An environment variable holding the key (base64, 32 bytes).
    Env,
    /// A PKCS#11 token (not available in this build: start-up refuses it with a reason).
    Pkcs11,
    /// Shamir shares: the server starts sealed until enough shares are given.
    Shamir,
}

/// `[keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Source of the master key.
    pub source: KeySource,
    /// Path of the key file (`source = "file"`).
    pub master_key_file: PathBuf,
    /// Environment variable with the key (`source = "env"`).
    pub master_key_env: String,
    /// PKCS#11 module (`source = "pkcs11"`).
    pub pkcs11_module: Option<PathBuf>,
    /// PKCS#11 token label.
    pub pkcs11_token_label: Option<String>,
    /// Environment variable with the token PIN.
    pub pkcs11_pin_env: Option<String>,
    /// Label of the key on the token.
    pub pkcs11_key_label: Option<String>,
    /// Scheduled key-encryption-key rotation, in days; 0 = only by hand.
    pub rotate_every_days: u32,
    /// Data keys each node re-wraps every two seconds while a rotation is under way; 0 =
    /// none in the background (then `portcullis keys rotate` does the work).
    pub rewrap_batch: u32,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            source: KeySource::File,
            master_key_file: PathBuf::from("./portcullis-data/master.key"),
            master_key_env: "PORTCULLIS_MASTER_KEY".into(),
            pkcs11_module: None,
            pkcs11_token_label: None,
            pkcs11_pin_env: None,
            pkcs11_key_label: None,
            rotate_every_days: 0,
            rewrap_batch: 1000,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether `POST /auth/register` is open.
    pub self_registration: bool,
    /// Access-token lifetime.
    pub access_token_ttl_seconds: u64,
    /// Refresh-token (and idle session) lifetime.
    pub refresh_token_ttl_seconds: u64,
    /// The oldest session is revoked past this.
    pub max_sessions_per_user: u32,
    /// Roles that must enrol a second factor (enforced with the MFA issue).
    pub mfa_required_for_roles: Vec<Role>,
    /// Sensitive actions need a factor this recent (enforced with the MFA issue).
    pub step_up_max_age_seconds: u64,
    /// HTTP message signatures are accepted when `created` is at most this far from now;
    /// their nonces are remembered as long.
    pub signature_window_seconds: u64,
    /// `[auth.password]`
    pub password: PasswordConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            self_registration: false,
            access_token_ttl_seconds: 900,
            refresh_token_ttl_seconds: 604_800,
            max_sessions_per_user: 10,
            mfa_required_for_roles: Vec::new(),
            step_up_max_age_seconds: 600,
            signature_window_seconds: 300,
            password: PasswordConfig::default(),
        }
    }
}

/// `[auth.password]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Minimum length (code points).
    pub min_length: usize,
    /// Maximum length (code points).
    pub max_length: usize,
    /// Minimum zxcvbn score.
    pub min_strength: u8,
    /// Argon2id memory, KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Hashes computed at once; 0 = number of CPUs.
    pub max_concurrent_hashes: usize,
    /// Hash requests allowed to wait; more are answered 429 at once.
    pub max_queued_hashes: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            min_strength: 3,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 0,
            max_queued_hashes: 64,
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Client IPs allowed to call the admin API.
    pub allowed_ips: Vec<IpNet>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        let v4: IpNet = IpNet::from(std::net::IpAddr::from([127, 0, 0, 1]));
        let v6: IpNet = IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
        Self {
            allowed_ips: vec![v4, v6],
        }
    }
}

/// `[security_txt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityTxtConfig {
    /// `Contact:` URIs.
    pub contact: Vec<String>,
    /// `Expires:` this many days ahead (at most 365).
    pub expires_days: u32,
    /// Optional `Policy:` URI.
    pub policy: Option<String>,
    /// Optional `Preferred-Languages:`.
    pub preferred_languages: Option<String>,
}

impl Default for SecurityTxtConfig {
    fn default() -> Self {
        Self {
            contact: vec!["mailto:security@example.com".into()],
            expires_days: 180,
            policy: None,
            preferred_languages: Some("en".into()),
        }
    }
}

/// Who may use a gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    /// Anyone; no identity is forwarded.
    None,
    /// A signed-in user (access token).
    User,
    /// An API key.
    ApiKey,
    /// A client certificate mapped to a service account.
    Mtls,
    /// Any of the three.
    #[default]
    Any,
}

/// One `[[routes]]` entry: requests whose path starts with `prefix` go to `upstreams`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Unique name; the audience of the forwarded identity token. Also `id`.
    #[serde(alias = "id")]
    pub name: String,
    /// Path prefix (`/payments`); Portcullis's own endpoints always win.
    pub prefix: String,
    /// Only requests for this host (the `Host` header, without port; case-insensitive).
    pub host: Option<String>,
    /// `http://host:port[/base]` upstreams, used round-robin.
    pub upstreams: Vec<String>,
    /// `none`, `user`, `api_key`, `mtls` or `any` (default).
    pub auth: RouteAuth,
    /// Roles allowed (empty: any).
    pub roles: Vec<Role>,
    /// Scopes an API key or service certificate must carry (all of them).
    pub scopes: Vec<String>,
    /// Only API keys that sign their requests (RFC 9421).
    pub require_signature: bool,
    /// Client IPs allowed (CIDRs, after the trusted-proxy rule; empty: any).
    pub allowed_ips: Vec<IpNet>,
    /// Client IPs refused.
    pub denied_ips: Vec<IpNet>,
    /// Countries (ISO 3166-1 alpha-2, from `detection.geoip_city_db`) allowed; empty: any.
    /// An address the database cannot place is refused when this is set.
    pub allowed_countries: Vec<String>,
    /// Countries refused.
    pub denied_countries: Vec<String>,
    /// Methods allowed (empty: any).
    pub methods: Vec<String>,
    /// Largest request body forwarded (default: `server.max_body_bytes`).
    pub max_body_bytes: Option<u64>,
    /// Upstream response deadline (headers), seconds.
    pub timeout_seconds: u64,
    /// Remove `prefix` from the path sent upstream.
    pub strip_prefix: bool,
    /// Pass the client's `Authorization` / `X-API-Key` through (default: stripped).
    pub forward_authorization: bool,
    /// `{requests, window_seconds, by = "principal" | "ip"}`: a GCRA limit per caller.
    pub rate_limit: Option<RateLimitConfig>,
    /// `{daily, monthly}`: requests each API key may make on this route per UTC day and
    /// per calendar month (UTC); 429 `rate_limited` until the period ends.
    pub quota: Option<QuotaConfig>,
    /// Requests in flight to each upstream at most (503 `upstream_unavailable` beyond).
    pub max_concurrent: Option<u32>,
    /// Consecutive failures (connect errors, timeouts, 502/503/504) that open an
    /// upstream's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses before one probe may pass.
    pub breaker_cooldown_seconds: u64,
    /// Also open when at least this share (0 to 1) of an upstream's last
    /// `breaker_window` requests failed.
    pub breaker_error_rate: Option<f64>,
    /// How many of an upstream's latest requests the error rate is taken over.
    pub breaker_window: u32,
    /// Retries on another upstream when a connection could not be made (only for
    /// idempotent methods without a body).
    pub retries: u32,
    /// RFC 9745 `Deprecation` (Unix time the route was deprecated).
    pub deprecated_at: Option<i64>,
    /// RFC 8594 `Sunset` (Unix time the route goes away).
    pub sunset_at: Option<i64>,
    /// Cedar policies (text) deciding who may do what on this route; without a permit that
    /// applies, the request is denied.
    pub policy: Option<String>,
    /// The same, read from a file.
    pub policy_file: Option<PathBuf>,
    /// `round_robin` (default) or `least_requests`.
    pub balance: Balance,
    /// A path each upstream answers 2xx on when healthy; checked every
    /// `health_check_interval_seconds`, unhealthy upstreams get no traffic.
    pub health_check_path: Option<String>,
    /// Seconds between active health checks.
    pub health_check_interval_seconds: u64,
    /// Pass protocol upgrades (WebSocket) through to the upstream.
    pub websocket: bool,
    /// `https://` upstreams: PEM CA certificates their server certificates must chain to
    /// (default: the system's roots). Also `upstream_ca`.
    #[serde(alias = "upstream_ca")]
    pub upstream_ca_file: Option<PathBuf>,
    /// mTLS to the upstreams: the gateway's client certificate (PEM chain), e.g. from
    /// `portcullis ca issue`. Also `upstream_client_cert`.
    #[serde(alias = "upstream_client_cert")]
    pub upstream_client_cert_file: Option<PathBuf>,
    /// Its private key (PEM). Also `upstream_client_key`.
    #[serde(alias = "upstream_client_key")]
    pub upstream_client_key_file: Option<PathBuf>,
}

/// How a route spreads requests over its upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// In turn.
    #[default]
    RoundRobin,
    /// The upstream with the fewest requests in flight.
    LeastRequests,
}

/// What a route's rate limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBy {
    /// The authenticated principal (user, API key or service), else the client IP.
    #[default]
    Principal,
    /// The client IP.
    Ip,
    /// The API key (requests without one: the client IP).
    ApiKey,
}

/// Quotas per API key on a route.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests per UTC day.
    #[serde(default)]
    pub daily: Option<u64>,
    /// Requests per calendar month (UTC).
    #[serde(default)]
    pub monthly: Option<u64>,
}

/// A GCRA rate limit: `requests` per `window_seconds`, bursts up to `requests`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, seconds.
    pub window_seconds: u32,
    /// Counted per principal (default), per API key or per client IP. Also `key`.
    #[serde(default, alias = "key")]
    pub by: RateLimitBy,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            prefix: String::new(),
            host: None,
            upstreams: Vec::new(),
            auth: RouteAuth::Any,
            roles: Vec::new(),
            scopes: Vec::new(),
            require_signature: false,
            allowed_ips: Vec::new(),
            denied_ips: Vec::new(),
            allowed_countries: Vec::new(),
            denied_countries: Vec::new(),
            methods: Vec::new(),
            max_body_bytes: None,
            timeout_seconds: 30,
            strip_prefix: false,
            forward_authorization: false,
            rate_limit: None,
            quota: None,
            max_concurrent: None,
            breaker_failures: 5,
            breaker_cooldown_seconds: 10,
            breaker_error_rate: None,
            breaker_window: 20,
            retries: 1,
            deprecated_at: None,
            sunset_at: None,
            policy: None,
            policy_file: None,
            balance: Balance::RoundRobin,
            health_check_path: None,
            health_check_interval_seconds: 5,
            websocket: false,
            upstream_ca_file: None,
            upstream_client_cert_file: None,
            upstream_client_key_file: None,
        }
    }
}

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
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
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
            && !url.expose_secret().starts_with("redis://")
        {
            return Err(bad(
                "cluster.redis_url",
                "must be redis://[[user]:password@]host:port[/db]",
            ));
        }
        self.detection.validate()?;
        let mut route_names = std::collections::HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            let valid_name = !r.name.is_empty()
                && r.name.len() <= 64
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name || !route_names.insert(r.name.as_str()) {
                return Err(bad(
                    &key("name"),
                    "unique, 1 to 64 letters, digits, `-` or `_`",
                ));
            }
            let reserved = ["/api/v1", "/.well-known", "/healthz", "/readyz", "/metrics"];
            if !r.prefix.starts_with('/')
                || r.prefix.contains("..")
                || reserved
                    .iter()
                    .any(|p| r.prefix == *p || r.prefix.starts_with(&format!("{p}/")))
            {
                return Err(bad(
                    &key("prefix"),
                    "a path starting with `/`, outside /api/v1, /.well-known, /healthz, /readyz and /metrics",
                ));
            }
            if let Some(c) = r
                .allowed_countries
                .iter()
                .chain(&r.denied_countries)
                .find(|c| !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())))
            {
                return Err(bad(
                    &key("allowed_countries"),
                    format!("`{c}` is not an ISO 3166-1 alpha-2 code in capitals (e.g. `FR`)"),
                ));
            }
            if (!r.allowed_countries.is_empty() || !r.denied_countries.is_empty())
                && self.detection.geoip_city_db.is_none()
            {
                return Err(bad(
                    &key("allowed_countries"),
                    "country rules need `detection.geoip_city_db`",
                ));
            }
            if r.upstreams.is_empty()
                || r.upstreams.iter().any(|u| {
                    !(u.starts_with("http://") || u.starts_with("https://"))
                        || u.parse::<std::net::SocketAddr>().is_ok()
                })
            {
                return Err(bad(
                    &key("upstreams"),
                    "one or more http://host:port or https://host:port URLs",
                ));
            }
            if r.upstream_client_cert_file.is_some() != r.upstream_client_key_file.is_some() {
                return Err(bad(
                    &key("upstream_client_cert"),
                    "upstream_client_cert and upstream_client_key go together",
                ));
            }
            if r.methods
                .iter()
                .any(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(bad(
                    &key("methods"),
                    "upper-case HTTP methods, e.g. [\"GET\", \"POST\"]",
                ));
            }
            if r.timeout_seconds == 0 || r.timeout_seconds > 3600 {
                return Err(bad(&key("timeout_seconds"), "1 to 3600"));
            }
            if r.rate_limit
                .is_some_and(|l| l.requests == 0 || l.window_seconds == 0)
            {
                return Err(bad(
                    &key("rate_limit"),
                    "requests and window_seconds must be at least 1",
                ));
            }
            if r.quota.is_some_and(|q| {
                q.daily == Some(0)
                    || q.monthly == Some(0)
                    || (q.daily.is_none() && q.monthly.is_none())
            }) {
                return Err(bad(&key("quota"), "daily and/or monthly, each at least 1"));
            }
            if r.breaker_error_rate
                .is_some_and(|e| !(e > 0.0 && e <= 1.0) || r.breaker_window < 2)
            {
                return Err(bad(
                    &key("breaker_error_rate"),
                    "between 0 (exclusive) and 1, with breaker_window at least 2",
                ));
            }
            if r.max_concurrent == Some(0) || r.breaker_failures == 0 || r.retries > 5 {
                return Err(bad(
                    &key("max_concurrent"),
                    "max_concurrent and breaker_failures at least 1, retries at most 5",
                ));
            }
        }
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
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
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
