//! `[auth]`, `[auth.password]`, `[admin]` and `[security_txt]`.

use super::*;

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
    /// `allow` or `block` (the default): registration with an address at a disposable
    /// (throwaway) mail provider.
    pub disposable_emails: DisposableEmails,
}

/// What registration does with an address at a disposable mail provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisposableEmails {
    /// Accepted like any other.
    Allow,
    /// Refused with 422 `email_not_allowed`.
    #[default]
    Block,
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
            disposable_emails: DisposableEmails::Block,
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
