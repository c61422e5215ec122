//! Domain records as the store keeps them.

use std::fmt;
use std::str::FromStr;

use crate::clock::UnixTime;
use crate::email::Email;

/// A principal's role. `Service` principals (no password, API keys only) come with the
/// service-identity work; the variant exists so the data model is ready for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary user.
    User,
    /// An administrator: may use the admin API.
    Admin,
    /// A machine principal.
    Service,
}

impl Role {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            "service" => Ok(Role::Service),
            other => Err(format!(
                "unknown role `{other}` (expected user, admin or service)"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Argon2id PHC string. Not a secret in itself, but an offline-cracking target: keep it
/// out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A user (or, later, a service account).
#[derive(Debug, Clone)]
pub struct User {
    /// Opaque id (UUIDv7).
    pub id: String,
    /// Normalised, unique email.
    pub email: Email,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Argon2id hash; `None` for principals that cannot log in with a password.
    pub password_hash: Option<PasswordHash>,
    /// Whether a second factor is enrolled (the MFA issue fills this in).
    pub mfa_enabled: bool,
    /// Locked by an admin or automated response: no login, no refresh.
    pub locked: bool,
    /// The address was proved: a code sent to it came back, or a password was reset
    /// through it.
    pub email_verified: bool,
    /// Set by an administrator: the user's tokens open nothing but changing the password
    /// until it is changed.
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// A login session: one refresh-token family, many access tokens.
#[derive(Debug, Clone)]
pub struct Session {
    /// Opaque id; the `sid` claim of its access tokens.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// When the session started.
    pub created_at: UnixTime,
    /// Last login or refresh.
    pub last_seen_at: UnixTime,
    /// The session ends here unless refreshed.
    pub expires_at: UnixTime,
    /// Set once, when revoked.
    pub revoked_at: Option<UnixTime>,
    /// Why it was revoked (`logout`, `reuse_detected`, ...).
    pub revoked_reason: Option<String>,
    /// Client IP at login.
    pub ip: Option<String>,
    /// User-Agent at login (truncated).
    pub user_agent: Option<String>,
    /// Authentication methods (RFC 8176) used to establish the session.
    pub amr: Vec<String>,
    /// When the user last proved a factor (for step-up).
    pub auth_time: UnixTime,
    /// The JWK thumbprint (RFC 7638) of the key the session's tokens are bound to by DPoP
    /// (RFC 9449): every access token carries it as `cnf.jkt`, and refreshing needs a proof
    /// by that key. `None`: bearer tokens.
    pub dpop_jkt: Option<String>,
}

impl Session {
    /// Live: not revoked and not expired.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// One refresh token of a session's family. Only its hash is stored.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Opaque id.
    pub id: String,
    /// The family: the session it belongs to.
    pub session_id: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Issue time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Set when exchanged for a successor; presenting it again is reuse.
    pub rotated_at: Option<UnixTime>,
}

/// An access-token signing key as stored: the private half sealed under the master key.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Sealed private key (see [`crate::crypto::secretbox`]).
    pub sealed_private_key: Vec<u8>,
    /// When it was added.
    pub created_at: UnixTime,
    /// When it starts signing (published in the JWKS before that).
    pub activates_at: UnixTime,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Login-throttle state of one key (an account or a client IP).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottleState {
    /// `acct:<hash>` or `ip:<addr>`.
    pub key: String,
    /// Failures within the current window.
    pub failures: i64,
    /// Time of the last failure.
    pub last_failure_at: UnixTime,
    /// No attempt before this time.
    pub blocked_until: UnixTime,
}

/// A user's TOTP state as stored: secrets sealed under the master key.
#[derive(Clone, Default)]
pub struct MfaState {
    /// The confirmed secret, sealed.
    pub totp_secret: Option<Vec<u8>>,
    /// A secret awaiting confirmation, sealed.
    pub totp_pending: Option<Vec<u8>>,
    /// The last accepted TOTP step (replay protection).
    pub totp_last_step: Option<i64>,
    /// Registered passkeys.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes: i64,
}

impl fmt::Debug for MfaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaState")
            .field("enrolled", &self.totp_secret.is_some())
            .field("pending", &self.totp_pending.is_some())
            .field("passkeys", &self.passkeys)
            .field("recovery_codes", &self.recovery_codes)
            .finish_non_exhaustive()
    }
}

/// The second step of a password login: single use, short-lived, a few tries.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// SHA-256 of the `mfa_token`, hex.
    pub token_hash: String,
    /// Whose login it is.
    pub user_id: String,
    /// When the password was verified.
    pub created_at: UnixTime,
    /// Dead after this.
    pub expires_at: UnixTime,
    /// Wrong codes so far.
    pub attempts: i64,
    /// Set when exchanged for tokens.
    pub used_at: Option<UnixTime>,
}

/// A registered passkey (WebAuthn credential).
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    /// Opaque id, for listing and deleting.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The credential id, base64url without padding; unique across all accounts.
    pub credential_id: String,
    /// The owner's label ("YubiKey 5", "Laptop").
    pub name: String,
    /// The webauthn-rs credential as JSON: public key, signature counter, backup flags.
    pub credential: String,
    /// Whether the credential may be synced between devices (a software-held key).
    pub backup_eligible: bool,
    /// Registration time.
    pub created_at: UnixTime,
    /// Last successful assertion.
    pub last_used_at: Option<UnixTime>,
}

/// The kinds of WebAuthn ceremony the server keeps state for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a passkey for a signed-in user (bound to the session).
    Register,
    /// An assertion by a known user: second factor of a login (bound to the `mfa_token`) or a
    /// step-up (bound to the session).
    Authenticate,
    /// A passwordless login with a discoverable credential (bound to nothing).
    Discoverable,
}

impl CeremonyKind {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Authenticate => "authenticate",
            CeremonyKind::Discoverable => "discoverable",
        }
    }
}

impl FromStr for CeremonyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "register" => Ok(CeremonyKind::Register),
            "authenticate" => Ok(CeremonyKind::Authenticate),
            "discoverable" => Ok(CeremonyKind::Discoverable),
            other => Err(format!("unknown ceremony kind `{other}`")),
        }
    }
}

/// Server-side state of a started WebAuthn ceremony: single use, short-lived.
#[derive(Debug, Clone)]
pub struct WebauthnCeremony {
    /// The `ceremony_id` handed to the client.
    pub id: String,
    /// What it is for.
    pub kind: CeremonyKind,
    /// The user, when known at the start.
    pub user_id: Option<String>,
    /// What it is bound to: a session id, or the hash of an `mfa_token`.
    pub binding: Option<String>,
    /// webauthn-rs ceremony state as JSON (the challenge and the policy).
    pub state: String,
    /// Start time.
    pub created_at: UnixTime,
    /// Dead after this.
    pub expires_at: UnixTime,
}

/// A signed checkpoint of the audit transparency log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// Leaves covered.
    pub tree_size: u64,
    /// Root of the tree of that size, hex.
    pub root_hash: String,
    /// The C2SP signed note.
    pub note: String,
    /// When it was made.
    pub created_at: UnixTime,
}

/// Delivery state of one audit sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkState {
    /// The sink's name.
    pub name: String,
    /// The last entry delivered.
    pub last_seq: i64,
    /// Entries delivered.
    pub delivered: i64,
    /// Failed delivery attempts.
    pub failures: i64,
    /// Entries given up on (kept in the dead-letter table).
    pub dead_letters: i64,
}

/// How requests made with an API key must be signed (RFC 9421).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    /// No signature required.
    None,
    /// `hmac-sha256` with a shared secret issued at creation.
    HmacSha256,
    /// `ed25519` with a public key the client registered.
    Ed25519,
}

impl SigningMode {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningMode::None => "none",
            SigningMode::HmacSha256 => "hmac-sha256",
            SigningMode::Ed25519 => "ed25519",
        }
    }
}

impl FromStr for SigningMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(SigningMode::None),
            "hmac-sha256" => Ok(SigningMode::HmacSha256),
            "ed25519" => Ok(SigningMode::Ed25519),
            other => Err(format!(
                "unknown signing `{other}` (expected hmac-sha256 or ed25519)"
            )),
        }
    }
}

/// An API key as stored: only a keyed hash of the key itself.
#[derive(Clone)]
pub struct ApiKeyRecord {
    /// Opaque id; also the `keyid` of its HTTP message signatures.
    pub id: String,
    /// The user or service account whose rights it carries (at most).
    pub owner_id: String,
    /// Label.
    pub name: String,
    /// Public lookup prefix (`pcl_` + 8 characters).
    pub prefix: String,
    /// HMAC-SHA-256 of the key under a server secret, hex.
    pub key_hash: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Required request signing.
    pub signing: SigningMode,
    /// `hmac-sha256`: the signing secret, sealed under the master key.
    pub signing_secret: Option<Vec<u8>>,
    /// `ed25519`: the client's public key.
    pub public_key: Option<[u8; 32]>,
    /// Creation time.
    pub created_at: UnixTime,
    /// The key stops working at this time (expiry, or the end of a rotation overlap).
    pub expires_at: Option<UnixTime>,
    /// Revoked: stops at once.
    pub revoked_at: Option<UnixTime>,
    /// Last authenticated use.
    pub last_used_at: Option<UnixTime>,
    /// Client IP of the last use.
    pub last_used_ip: Option<String>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
}

impl ApiKeyRecord {
    /// Usable at `now`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("owner_id", &self.owner_id)
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

/// A client IP or range refused everywhere for a while (by an administrator or a playbook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Id.
    pub id: String,
    /// The network banned (a single address is a /32 or /128).
    pub cidr: ipnet::IpNet,
    /// Why.
    pub reason: String,
    /// Who: `admin:<user id>` or `rule:<alert rule>`.
    pub source: String,
    /// When it was made.
    pub created_at: UnixTime,
    /// When it ends by itself.
    pub expires_at: UnixTime,
    /// When an administrator lifted it early.
    pub lifted_at: Option<UnixTime>,
}

impl Ban {
    /// In force at `now`.
    pub fn active(&self, now: UnixTime) -> bool {
        self.lifted_at.is_none() && self.expires_at > now
    }
}

/// One sign-in attempt that reached a decision, as kept for the risk engine and shown to
/// the user in their activity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginEvent {
    /// Id.
    pub id: String,
    /// The account, when the email named one.
    pub user_id: Option<String>,
    /// Keyed hash of the email (the throttle's account key).
    pub account_key: String,
    /// Client address.
    pub ip: Option<String>,
    /// Its /24 (IPv4) or /64 (IPv6).
    pub net: Option<String>,
    /// When.
    pub time: UnixTime,
    /// `success`, `mfa_required`, `failure`, `challenged` or `denied`.
    pub outcome: String,
    /// The device (cookie id) or its fingerprint (`fp:...`), if any.
    pub device: Option<String>,
    /// The device was new to the account.
    pub new_device: bool,
    /// Where the address is.
    pub geo: crate::detect::geo::GeoInfo,
    /// Risk score.
    pub risk: u32,
    /// Risk reasons.
    pub reasons: Vec<String>,
}
