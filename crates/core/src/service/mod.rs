//! Use cases: what the HTTP API and the CLI ask of the domain.

mod admin;
mod alerts;
mod apikeys;
mod auth;
mod bans;
mod break_glass;
mod checkpoint_file;
mod clients;
mod console;
mod dashboard;
mod detection;
mod dlp;
mod elevation;
mod federation;
mod gdpr;
mod held;
mod identities;
mod key_auth;
mod keys;
mod mfa;
mod oauth;
mod oauth_authorize;
mod oauth_code;
mod oauth_device;
mod oauth_dpop;
mod oauth_grants;
mod oauth_register;
mod oauth_resource;
mod passkeys;
mod playbooks;
mod recovery;
mod registration;
pub mod report;
mod request_signatures;
mod tlog;
mod tokens;
mod user_admin;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

pub use admin::{AuditVerifyReport, UserPage};
pub use alerts::AlertPage;
pub use apikeys::{
    ADMIN_SCOPES, ApiKeyGrant, ApiKeyPage, ApiKeySpec, IssuedApiKey, MAX_OVERLAP_SECONDS,
    MAX_SCOPES,
};
pub use auth::{ElevationGrant, Principal, TokenResponse};
pub use bans::{BanPage, MAX_BAN_SECONDS};
pub use break_glass::{BREAK_GLASS_AMR, BreakGlassIssued};
pub use checkpoint_file::parse_checkpoint_file;
pub use clients::{ClientPage, RegisteredClient};
pub use console::{CONSOLE_CALLBACK_PATH, CONSOLE_CLIENT_ID, CONSOLE_PATH, ConsoleSession};
pub use dashboard::{AuditFilter, AuditSearch, Dashboard};
pub use detection::{Blocked, Detection};
pub use elevation::{ApprovalSettings, ElevationAsk, MAX_LISTED};
pub use federation::{Federated, UpstreamClient, UpstreamIdentity, UpstreamStart};
pub use gdpr::{EXPORT_AUDIT_LIMIT, Export};
pub use held::Held;
pub use identities::IdentityView;
pub use key_auth::valid_spiffe_id;
pub use keys::{Keyring, SIGNING_KEY_ACTIVATION_DELAY};
pub use mfa::{
    Factor, LoginOutcome, MFA_MAX_ATTEMPTS, MFA_TOKEN_TTL, MfaSetup, RECOVERY_CODES, StepUp,
};
pub use oauth::{
    ClientAuth, INTROSPECTION_PATH, IssuedToken, LOGOUT_PATH, PeerCert, REVOCATION_PATH,
    TOKEN_PATH, TokenRequest,
};
pub use oauth_authorize::{
    ACCOUNT_PATH, AUTHORIZE_PATH, AuthzStep, PAR_PATH, PendingAuthz, error_redirect,
};
pub use oauth_code::{REFRESH_GRACE, USERINFO_PATH};
pub use oauth_device::{
    DEVICE_AUTHORIZATION_PATH, DEVICE_PAGE_PATH, DeviceAsk, DeviceStart, normalize_user_code,
};
pub use oauth_grants::ConnectedApp;
pub use oauth_register::{REGISTRATION_PATH, registration_response};
pub use oauth_resource::{CLIENT_GRANT_PREFIX, DpopRequest, is_app_token, is_client_token};
pub use passkeys::{CEREMONY_TTL, CeremonyStart, MAX_PASSKEYS, PasskeyRegistered, relying_party};
pub use playbooks::{ResponseResult, ResponseSource};
pub use recovery::Notice;
pub use request_signatures::SignedRequest;
pub use tlog::{
    AuditMetrics, ConsistencyProof, ExportedEntry, InclusionProof, LatestCheckpoint, verify_export,
};
pub use user_admin::UserPatch;

use crate::clock::Clock;
use crate::crypto::passwords::PasswordHasher;
use crate::health::Health;
use crate::password::PasswordPolicy;
use crate::rand::Rng;
use crate::revocation::RevocationCache;
use crate::store::Store;

/// Who is asking, as far as the network tells.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Client IP (after the trusted-proxy rule).
    pub ip: Option<IpAddr>,
    /// User-Agent, truncated.
    pub user_agent: Option<String>,
    /// The device id of a valid device cookie.
    pub device: Option<String>,
    /// The keyed fingerprint of stable request headers.
    pub fingerprint: Option<String>,
    /// The JWK thumbprint of the key of a valid DPoP proof (RFC 9449) sent to an endpoint
    /// that issues tokens: a session started by this request binds its tokens to that key,
    /// and a refresh needs it to be the session's.
    pub dpop_jkt: Option<String>,
}

/// Settings the use cases need, taken from the configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `iss` and `aud` of access tokens.
    pub issuer: String,
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: i64,
    /// Session cap per user.
    pub max_sessions: usize,
    /// Open registration.
    pub self_registration: bool,
    /// Registration refuses addresses at disposable mail providers.
    pub block_disposable_emails: bool,
    /// Sensitive actions need a factor at most this many seconds old.
    pub step_up_max_age: i64,
    /// The audit transparency log.
    pub audit: AuditSettings,
    /// Accepted age of HTTP message signatures (and nonce memory), seconds.
    /// Whether a new account must prove its address (a code by mail) before signing in.
    pub verify_on_register: bool,
    pub signature_window: i64,
}

/// Settings of the audit transparency log.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Origin line and key name of checkpoints.
    pub origin: String,
    /// A checkpoint after this many new entries...
    pub checkpoint_every_entries: u64,
    /// ...or this many seconds, when there are new entries.
    pub checkpoint_every_seconds: i64,
    /// Where to write checkpoints for witnesses.
    pub witness_dir: Option<std::path::PathBuf>,
}

/// The domain services, wired once and shared by every request.
pub struct Services {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn Rng>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) policy: PasswordPolicy,
    pub(crate) settings: AuthSettings,
    /// Access-token signing keys.
    pub keyring: Arc<Keyring>,
    /// Revoked sessions, in memory.
    pub revocations: Arc<RevocationCache>,
    /// Readiness.
    pub health: Arc<Health>,
    /// The WebAuthn relying party of `server.public_url`, or why there is none.
    pub(crate) webauthn: std::result::Result<webauthn_rs::Webauthn, String>,
    /// One tree builder at a time on this node.
    pub(crate) tlog_lock: tokio::sync::Mutex<()>,
    /// When each API key's use was last written, and from where.
    pub(crate) api_key_seen: key_auth::SeenKeys,
    /// When a signature failure of each key was last audited, and how many since.
    pub(crate) signature_failures: std::sync::Mutex<std::collections::HashMap<String, (i64, u64)>>,
    /// Keys the account part of login-throttle keys (derived from the master key).
    pub(crate) throttle_pepper: zeroize::Zeroizing<[u8; 32]>,
    /// Access tokens whose signature verified: SHA-256 of the token to its principal, its
    /// validity (iat, exp) and its DPoP key. The time window, revocation and readiness are
    /// still checked on every use, so a clock that steps back makes a cached token as
    /// invalid as a new one.
    pub(crate) verified_tokens:
        std::sync::Mutex<std::collections::HashMap<[u8; 32], VerifiedToken, DigestHasherBuilder>>,
    /// The risk engine.
    pub(crate) detection: Detection,
    /// `[elevation]` and `[approvals]`.
    pub(crate) approvals: ApprovalSettings,
    /// Delivers OpenID Connect back-channel logout tokens (set by the server).
    pub(crate) logout_notifier: std::sync::OnceLock<Arc<dyn LogoutNotifier>>,
    /// What sends mail, when `[email]` is configured.
    pub(crate) mailer: std::sync::OnceLock<Arc<dyn Mailer>>,
    /// The upstream OpenID providers and their protocol client.
    pub(crate) upstream: std::sync::OnceLock<(
        Arc<dyn federation::UpstreamClient>,
        Vec<crate::config::IdentityProviderConfig>,
    )>,
    /// SHA-256 of the initial access token of dynamic client registration, when it is on.
    pub(crate) registration_token: std::sync::OnceLock<[u8; 32]>,
}

/// Delivers a back-channel logout token (OpenID Connect Back-Channel Logout 1.0) to a
/// client's `backchannel_logout_uri`, off the request path; the result comes back through
/// [`Services::record_backchannel_logout`].
pub trait LogoutNotifier: Send + Sync {
    /// Sends `logout_token` to `uri` for `client_id`.
    fn notify(&self, client_id: String, uri: String, logout_token: String);

    /// Sessions `sids` were just revoked (by any path: a sign-out, a revocation by the person
    /// or an administrator, a lock, a password change, refresh-token reuse): ends the grants
    /// that came from them and tells their clients, off the request path, through
    /// [`Services::end_grants_from`].
    fn sessions_ended(&self, sids: Vec<String>);
}

/// A verified access token's principal (as issued), its validity window and the DPoP key
/// it is bound to: what [`Services::authenticate`] keeps so the signature is checked once.
/// A verified access token: its principal, validity, DPoP key, and whether it names an
/// OAuth client (which the gateway checks as a client's token, never from this cache).
pub(crate) type VerifiedToken = (Principal, TokenWindow, Option<String>, bool);

/// Hashes a map key that is already a SHA-256 digest by taking its first eight bytes (the
/// digest is uniform; SipHash over it again cost a percent of a gateway request).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DigestHasherBuilder;

impl std::hash::BuildHasher for DigestHasherBuilder {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// See [`DigestHasherBuilder`].
#[derive(Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length, then its bytes: keep the first eight of them.
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
}

/// One mail to a person, in plain text.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The body (plain text; codes and links inside, never a password).
    pub text: String,
    /// What it is, for the delivery's audit event (`password_reset`, `notice.new_device`...).
    pub kind: &'static str,
}

/// Sends mail to people (`[email]`), off the request path; the result comes back through
/// [`Services::record_mail_delivery`].
pub trait Mailer: Send + Sync {
    /// Queues `mail`.
    fn send(&self, mail: Mail);
}

/// When an access token is valid: issued at `iat`, expires at `exp` (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenWindow {
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

impl TokenWindow {
    /// Leeway for a token issued by a node whose clock runs slightly ahead.
    const FUTURE_LEEWAY: i64 = 60;

    /// Refuses a token that has expired, or that was issued in the future, which after a
    /// backward clock step is every token issued since the step's target time.
    pub(crate) fn check(self, now: i64) -> crate::error::Result<()> {
        if self.exp <= now {
            return Err(crate::Error::InvalidToken("token expired"));
        }
        if self.iat > now + Self::FUTURE_LEEWAY {
            return Err(crate::Error::InvalidToken("token issued in the future"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Wires the services.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        settings: AuthSettings,
        keyring: Arc<Keyring>,
    ) -> Self {
        let settings_issuer = settings.issuer.clone();
        let throttle_pepper = keyring.derive("portcullis:throttle:v1");
        let detection = Detection::new(&keyring, crate::config::DetectionConfig::default());
        Self {
            throttle_pepper,
            store,
            clock,
            rng,
            hasher,
            policy,
            settings,
            keyring,
            revocations: Arc::new(RevocationCache::default()),
            health: Arc::new(Health::default()),
            webauthn: passkeys::relying_party(&settings_issuer),
            tlog_lock: tokio::sync::Mutex::new(()),
            api_key_seen: std::sync::Mutex::default(),
            signature_failures: std::sync::Mutex::default(),
            verified_tokens: std::sync::Mutex::default(),
            detection,
            approvals: ApprovalSettings::default(),
            logout_notifier: std::sync::OnceLock::new(),
            mailer: std::sync::OnceLock::new(),
            upstream: std::sync::OnceLock::new(),
            registration_token: std::sync::OnceLock::new(),
        }
    }

    /// The login-throttle keys of an attempt on `email` from `ip`.
    pub(crate) fn throttle_keys(
        &self,
        email: &crate::email::Email,
        ip: Option<std::net::IpAddr>,
    ) -> crate::throttle::ThrottleKeys {
        crate::throttle::ThrottleKeys::new(&self.throttle_pepper, email, ip)
    }

    /// The clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The store (for health checks and the CLI).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Why passkeys are off (`server.public_url` names no host), if they are.
    pub fn passkeys_unavailable(&self) -> Option<&str> {
        self.webauthn.as_ref().err().map(String::as_str)
    }
}
