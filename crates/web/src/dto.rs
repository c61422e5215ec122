//! Request and response bodies of the contract, with their OpenAPI schemas.

use portcullis_core::FieldError;
use portcullis_core::audit::AuditRecord;
use portcullis_core::clock::rfc3339;
use portcullis_core::model::{Session, User};
use portcullis_core::service::{AuditVerifyReport, TokenResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Validate, max_len};

/// Longest password accepted on the wire, in bytes (the policy counts code points).
const MAX_PASSWORD_BYTES: usize = 4096;

/// `POST /auth/register`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address; normalised (NFKC, lower case).
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    /// Password: 12 to 128 characters, zxcvbn strength 3 or more.
    #[schema(max_length = 4096)]
    pub password: String,
    /// Optional display name, at most 100 characters.
    #[schema(max_length = 400)]
    pub display_name: Option<String>,
    /// A solved ALTCHA proof-of-work, when the service is under attack (after a
    /// `challenge_required` answer or from `GET /api/v1/auth/challenge`).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub altcha: Option<String>,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "email", &self.email, 1024);
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_BYTES);
        if let Some(d) = &self.display_name {
            max_len(&mut e, "display_name", d, 400);
        }
        if let Some(a) = &self.altcha {
            max_len(
                &mut e,
                "altcha",
                a,
                portcullis_core::detect::altcha::MAX_PAYLOAD_LEN,
            );
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/login`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    #[schema(min_length = 1, max_length = 1024)]
    pub email: String,
    /// Password.
    #[schema(max_length = 4096)]
    pub password: String,
    /// A solved ALTCHA proof-of-work (base64 JSON), after a `challenge_required` answer or
    /// from `GET /api/v1/auth/challenge`.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub altcha: Option<String>,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "email", &self.email, 1024);
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_BYTES);
        if let Some(a) = &self.altcha {
            max_len(
                &mut e,
                "altcha",
                a,
                portcullis_core::detect::altcha::MAX_PAYLOAD_LEN,
            );
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/refresh`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token.
    #[schema(max_length = 256)]
    pub refresh_token: String,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "refresh_token", &self.refresh_token, 256);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The current password.
    #[schema(max_length = 4096)]
    pub current_password: String,
    /// The new password.
    #[schema(max_length = 4096)]
    pub new_password: String,
}

impl Validate for PasswordChangeRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(
            &mut e,
            "current_password",
            &self.current_password,
            MAX_PASSWORD_BYTES,
        );
        max_len(
            &mut e,
            "new_password",
            &self.new_password,
            MAX_PASSWORD_BYTES,
        );
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    /// Opaque id.
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// `user`, `admin` or `service`.
    pub role: String,
    /// Whether a second factor is enrolled.
    pub mfa_enabled: bool,
    /// Whether the account is locked.
    pub locked: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().to_owned(),
            mfa_enabled: u.mfa_enabled,
            locked: u.locked,
            created_at: rfc3339(u.created_at),
        }
    }
}

/// The user, under `user` and, for clients that read the object directly, also at the top
/// level.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    /// The user.
    pub user: UserBody,
    /// The same fields, flattened.
    #[serde(flatten)]
    pub flat: UserBody,
}

/// The token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// Always `ok`.
    pub status: &'static str,
    /// EdDSA-signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime, seconds.
    pub expires_in: i64,
    /// Opaque refresh token; rotates on every use.
    pub refresh_token: String,
    /// Session id (`sid` claim).
    pub session_id: String,
}

impl From<TokenResponse> for TokenBody {
    fn from(t: TokenResponse) -> Self {
        Self {
            status: "ok",
            access_token: t.access_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token.expose_secret().to_owned(),
            session_id: t.session_id,
        }
    }
}

/// A session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    /// Session id.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen_at: String,
    /// Client IP at login.
    pub ip: Option<String>,
    /// User-Agent at login.
    pub user_agent: Option<String>,
    /// True for the session of the calling token.
    pub current: bool,
}

impl SessionBody {
    pub fn new(s: &Session, current: bool) -> Self {
        Self {
            id: s.id.clone(),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current,
        }
    }
}

/// `GET /auth/sessions`
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Live sessions, oldest first.
    pub sessions: Vec<SessionBody>,
}

/// `GET /admin/users`
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Users ordered by id.
    pub users: Vec<UserBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `?cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CursorQuery {
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1..500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl Validate for CursorQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "cursor", self.cursor.as_deref().unwrap_or(""), 64);
        in_range(&mut e, "limit", self.limit.map(u64::from), 1, 500);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Checks that an optional number lies in `min..=max`.
fn in_range(errors: &mut Vec<FieldError>, field: &str, value: Option<u64>, min: u64, max: u64) {
    if value.is_some_and(|v| v < min || v > max) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be between {min} and {max}"),
        ));
    }
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Position from 1, no gaps.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// Dotted action.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who.
    pub actor: Option<String>,
    /// To what.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// Structured details.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Previous entry's hash (hex).
    pub prev_hash: String,
    /// This entry's chain hash (hex).
    pub hash: String,
    /// RFC 9162 leaf hash of the entry in the transparency log: SHA-256(0x00 || hash).
    pub leaf_hash: Option<String>,
    /// Encoding version: 2 commits to the personal fields with a salted hash.
    pub version: i64,
    /// RFC 3339, when the personal fields were erased (GDPR); null otherwise.
    pub redacted_at: Option<String>,
}

impl From<&AuditRecord> for AuditEventBody {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            time: rfc3339(r.time),
            action: r.action.clone(),
            outcome: r.outcome.clone(),
            actor: r.actor.clone(),
            target: r.target.clone(),
            ip: r.ip.clone(),
            user_agent: r.user_agent.clone(),
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
            leaf_hash: portcullis_core::audit::decode_hash(&r.hash)
                .map(|h| hex::encode(portcullis_core::tlog::leaf_hash(&h))),
            version: r.version,
            redacted_at: r.redacted_at.map(rfc3339),
        }
    }
}

/// `GET /admin/audit`
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Events in sequence order.
    pub events: Vec<AuditEventBody>,
    /// Pass as `after_seq` for the next page; null when this page is the last.
    pub next_after_seq: Option<i64>,
}

/// `?after_seq=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Return events after this sequence number (default 0).
    #[param(minimum = 0)]
    pub after_seq: Option<u64>,
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl Validate for AuditQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "after_seq", self.after_seq, 0, i64::MAX as u64);
        in_range(&mut e, "limit", self.limit.map(u64::from), 1, 1000);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `GET /admin/audit/verify`
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyBody {
    /// True when the whole chain verifies.
    pub ok: bool,
    /// Entries verified.
    pub entries: i64,
    /// Hash of the last verified entry (hex).
    pub head: String,
    /// First entry that fails, when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    /// Why it fails: names the entry, tree node or checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Leaves in the stored Merkle tree.
    pub tree_size: u64,
    /// Root of the Merkle tree over the verified entries (hex).
    pub root: String,
    /// Signed checkpoints whose signature and root verified.
    pub checkpoints_verified: u64,
}

impl From<AuditVerifyReport> for AuditVerifyBody {
    fn from(r: AuditVerifyReport) -> Self {
        Self {
            ok: r.ok,
            entries: r.entries,
            head: r.head,
            first_bad_seq: r.first_bad_seq,
            reason: r.reason,
            tree_size: r.tree_size,
            root: r.root,
            checkpoints_verified: r.checkpoints_verified,
        }
    }
}

/// `GET /audit/checkpoint`
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointBody {
    /// The log's origin line.
    pub origin: String,
    /// Entries covered.
    pub tree_size: u64,
    /// Merkle root of those entries (hex; base64 inside the note).
    pub root_hash: String,
    /// The C2SP tlog-checkpoint, signed as a C2SP signed-note (Ed25519).
    pub checkpoint: String,
    /// The signed-note verifier key (`<name>+<key id>+<base64 key>`).
    pub verifier_key: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /audit/verifier-key`
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierKeyBody {
    /// The signed-note verifier key of the checkpoints: `<name>+<hex key hash>+<base64(0x01 ||
    /// public key)>`.
    pub verifier_key: String,
}

/// `GET /admin/audit/{seq}/proof`
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProofBody {
    /// The entry.
    pub seq: i64,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// Root of the tree of `tree_size` entries (hex).
    pub root_hash: String,
    /// RFC 9162 audit path (hex), leaf side first.
    pub hashes: Vec<String>,
    /// The same as `hashes` (earlier name).
    pub inclusion_proof: Vec<String>,
    /// The entry itself.
    pub entry: AuditEventBody,
}

/// `GET /admin/audit/consistency`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProofBody {
    /// The smaller tree size.
    pub from: u64,
    /// The larger tree size.
    pub to: u64,
    /// Root at `from` (hex).
    pub from_root: String,
    /// Root at `to` (hex).
    pub to_root: String,
    /// RFC 9162 consistency proof (hex).
    pub hashes: Vec<String>,
    /// The same as `hashes` (earlier name).
    pub consistency_proof: Vec<String>,
}

/// `?tree_size=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// The tree size to prove inclusion in (default: the whole log).
    #[param(minimum = 1)]
    pub tree_size: Option<u64>,
}

impl Validate for ProofQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "tree_size", self.tree_size, 1, i64::MAX as u64);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `?from=&to=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree size (at least 1).
    #[param(minimum = 1)]
    pub from: u64,
    /// The larger tree size (default: the whole log).
    #[param(minimum = 1)]
    pub to: Option<u64>,
}

impl Validate for ConsistencyQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "from", Some(self.from), 1, i64::MAX as u64);
        in_range(&mut e, "to", self.to, 1, i64::MAX as u64);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `/healthz`, `/readyz`
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The login answer: tokens, or a request for the second factor.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginBody {
    /// Signed in.
    Tokens(TokenBody),
    /// Password accepted; send a code to `/auth/mfa/verify`.
    MfaRequired(MfaRequiredBody),
}

/// `{"status":"mfa_required", ...}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredBody {
    /// Always `mfa_required`.
    pub status: &'static str,
    /// Single-use token of this login attempt, valid for five minutes.
    pub mfa_token: String,
    /// Factors the user can answer with.
    pub methods: Vec<&'static str>,
}

fn exactly_one(e: &mut Vec<FieldError>, a: &Option<String>, b: &Option<String>) {
    if a.is_some() == b.is_some() {
        e.push(FieldError::new(
            "code",
            "required",
            "send exactly one of `code` and `recovery_code`",
        ));
    }
}

/// `POST /auth/mfa/verify`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    /// From the login response.
    #[schema(max_length = 128)]
    pub mfa_token: String,
    /// A TOTP code.
    #[schema(max_length = 16)]
    pub code: Option<String>,
    /// A recovery code.
    #[schema(max_length = 32)]
    pub recovery_code: Option<String>,
}

impl Validate for MfaVerifyRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "mfa_token", &self.mfa_token, 128);
        max_len(&mut e, "code", self.code.as_deref().unwrap_or(""), 16);
        max_len(
            &mut e,
            "recovery_code",
            self.recovery_code.as_deref().unwrap_or(""),
            32,
        );
        exactly_one(&mut e, &self.code, &self.recovery_code);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/mfa/setup`
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaSetupBody {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://totp/Portcullis:<email>?secret=...&issuer=Portcullis`
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// `{code}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A current TOTP code.
    #[schema(max_length = 16)]
    pub code: String,
}

impl Validate for CodeRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "code", &self.code, 16);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesBody {
    /// Ten single-use codes.
    pub recovery_codes: Vec<String>,
}

/// `DELETE /auth/mfa`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaDisableRequest {
    /// The account password.
    #[schema(max_length = 4096)]
    pub password: String,
    /// A current TOTP code.
    #[schema(max_length = 16)]
    pub code: String,
}

impl Validate for MfaDisableRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_BYTES);
        max_len(&mut e, "code", &self.code, 16);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/step-up`: a code (accounts with a second factor) or the password (without).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    /// A TOTP code.
    #[schema(max_length = 16)]
    pub code: Option<String>,
    /// A recovery code.
    #[schema(max_length = 32)]
    pub recovery_code: Option<String>,
    /// The password, for accounts without a second factor.
    #[schema(max_length = 4096)]
    pub password: Option<String>,
    /// A passkey step-up: the ceremony from `POST /auth/webauthn/step-up/start`.
    #[schema(max_length = 64)]
    pub ceremony_id: Option<String>,
    /// A passkey step-up: `AuthenticationResponseJSON`.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

impl Validate for StepUpRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "code", self.code.as_deref().unwrap_or(""), 16);
        max_len(
            &mut e,
            "recovery_code",
            self.recovery_code.as_deref().unwrap_or(""),
            32,
        );
        max_len(
            &mut e,
            "password",
            self.password.as_deref().unwrap_or(""),
            MAX_PASSWORD_BYTES,
        );
        max_len(
            &mut e,
            "ceremony_id",
            self.ceremony_id.as_deref().unwrap_or(""),
            MAX_CEREMONY_ID,
        );
        if self.ceremony_id.is_some() != self.credential.is_some() {
            e.push(FieldError::new(
                "credential",
                "required",
                "a passkey step-up sends both `ceremony_id` and `credential`",
            ));
        }
        if let Some(c) = &self.credential {
            credential_is_object(&mut e, c);
        }
        let given = [
            &self.code,
            &self.recovery_code,
            &self.password,
            &self.ceremony_id,
        ]
        .iter()
        .filter(|v| v.is_some())
        .count();
        if given != 1 {
            e.push(FieldError::new(
                "code",
                "required",
                "send exactly one of `code`, `recovery_code`, `password` and a passkey assertion",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// A fresh access token for the current session.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepUpBody {
    /// Always `ok`.
    pub status: &'static str,
    /// Access token with the new `auth_time`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime, seconds.
    pub expires_in: i64,
    /// The session.
    pub session_id: String,
    /// RFC 3339 time of this step-up.
    pub auth_time: String,
}

/// Longest `ceremony_id` accepted.
const MAX_CEREMONY_ID: usize = 64;

fn credential_is_object(e: &mut Vec<FieldError>, credential: &serde_json::Value) {
    if !credential.is_object() {
        e.push(FieldError::new(
            "credential",
            "invalid",
            "a WebAuthn response object (RegistrationResponseJSON / AuthenticationResponseJSON)",
        ));
    }
}

/// A started WebAuthn ceremony: pass `publicKey` to `navigator.credentials.create()` or
/// `.get()` (after decoding its base64url fields), then send the result with `ceremony_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyBody {
    /// Single use, valid for five minutes.
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
}

/// `POST /auth/webauthn/register/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegisterFinishRequest {
    /// From `register/start`.
    #[schema(max_length = 64)]
    pub ceremony_id: String,
    /// A label for the passkey, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// `RegistrationResponseJSON` from `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

impl Validate for PasskeyRegisterFinishRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "ceremony_id", &self.ceremony_id, MAX_CEREMONY_ID);
        max_len(&mut e, "name", &self.name, 256);
        credential_is_object(&mut e, &self.credential);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/webauthn/login/start`: `{}` for a passwordless login, `{mfa_token}` for the
/// second step after the password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginStartRequest {
    /// From a password login that answered `mfa_required`.
    #[schema(max_length = 128)]
    pub mfa_token: Option<String>,
}

impl Validate for PasskeyLoginStartRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(
            &mut e,
            "mfa_token",
            self.mfa_token.as_deref().unwrap_or(""),
            128,
        );
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/webauthn/login/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginFinishRequest {
    /// From `login/start`.
    #[schema(max_length = 64)]
    pub ceremony_id: String,
    /// `AuthenticationResponseJSON` from `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

impl Validate for PasskeyLoginFinishRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "ceremony_id", &self.ceremony_id, MAX_CEREMONY_ID);
        credential_is_object(&mut e, &self.credential);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// A registered passkey (no key material).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyBody {
    /// Id, for `DELETE /auth/webauthn/credentials/{id}`.
    pub id: String,
    /// The owner's label.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or null when never used to sign in.
    pub last_used_at: Option<String>,
    /// True for synced passkeys (`swk` in `amr`), false for device-bound ones (`hwk`).
    pub backup_eligible: bool,
    /// Only when this passkey is the account's first second factor: ten recovery codes,
    /// shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl From<&portcullis_core::model::PasskeyRecord> for PasskeyBody {
    fn from(k: &portcullis_core::model::PasskeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
            backup_eligible: k.backup_eligible,
            recovery_codes: None,
        }
    }
}

/// `GET /auth/webauthn/credentials`
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    /// Oldest first.
    pub credentials: Vec<PasskeyBody>,
}

/// `POST /auth/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreateRequest {
    /// A label, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 1 to 32 scopes (`admin:read` and `admin:write` for administrators only).
    #[schema(min_items = 1, max_items = 32)]
    pub scopes: Vec<String>,
    /// Expiry, 1 to 3650 days; none by default.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// `hmac-sha256` or `ed25519`: every request with the key must then be signed (RFC 9421).
    pub signing: Option<String>,
    /// For `ed25519`: the client's public key, `{"kty":"OKP","crv":"Ed25519","x":"..."}`.
    #[schema(value_type = Option<Object>)]
    pub public_key_jwk: Option<serde_json::Value>,
}

impl Validate for ApiKeyCreateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "name", &self.name, 400);
        if self.scopes.len() > 64 {
            e.push(FieldError::new("scopes", "too_long", "at most 32 scopes"));
        }
        for s in &self.scopes {
            max_len(&mut e, "scopes", s, 256);
        }
        max_len(&mut e, "signing", self.signing.as_deref().unwrap_or(""), 32);
        if self
            .public_key_jwk
            .as_ref()
            .is_some_and(|j| j.to_string().len() > 1024)
        {
            e.push(FieldError::new(
                "public_key_jwk",
                "too_long",
                "at most 1024 bytes",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

impl ApiKeyCreateRequest {
    /// The domain's view.
    pub fn spec(&self) -> portcullis_core::service::ApiKeySpec {
        portcullis_core::service::ApiKeySpec {
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            expires_in_days: self.expires_in_days,
            signing: self.signing.clone(),
            public_key_jwk: self.public_key_jwk.clone(),
        }
    }
}

/// `POST /auth/api-keys/{id}/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRotateRequest {
    /// How long the old key keeps working, 0 (default) to 2592000 seconds.
    #[schema(minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
}

impl Validate for ApiKeyRotateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    /// Id; also the `keyid` of its message signatures.
    pub id: String,
    /// Label.
    pub name: String,
    /// Public prefix (`pcl_` + 8 characters), to recognise the key.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// `none`, `hmac-sha256` or `ed25519`.
    pub signing: &'static str,
    /// The owner (user or service account).
    pub owner_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the key stops working then (expiry, or the end of a rotation overlap).
    pub expires_at: Option<String>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339 of the last use (written at most once a minute).
    pub last_used_at: Option<String>,
    /// Client IP of the last use.
    pub last_used_ip: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `hmac-sha256` keys: the signing secret (base64), only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<&portcullis_core::model::ApiKeyRecord> for ApiKeyBody {
    fn from(k: &portcullis_core::model::ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            signing: k.signing.as_str(),
            owner_id: k.owner_id.clone(),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            last_used_ip: k.last_used_ip.clone(),
            rotated_from: k.rotated_from.clone(),
            key: None,
            signing_secret: None,
        }
    }
}

impl From<portcullis_core::service::IssuedApiKey> for ApiKeyBody {
    fn from(k: portcullis_core::service::IssuedApiKey) -> Self {
        let mut b = Self::from(&k.record);
        b.key = Some(k.key.expose_secret().to_owned());
        b.signing_secret = k.signing_secret.map(|s| s.expose_secret().to_owned());
        b
    }
}

/// `GET /auth/api-keys`
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Oldest first.
    pub api_keys: Vec<ApiKeyBody>,
    /// Admin listing: the cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /admin/service-accounts`: a principal with role `service` and its first key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRequest {
    /// The service's name, 1 to 100 characters with a letter or digit.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Scopes of its first key, 1 to 32.
    #[schema(min_items = 1, max_items = 32)]
    pub scopes: Vec<String>,
    /// Label of the key (default "default").
    pub key_name: Option<String>,
    /// Key expiry in days, 1 to 3650.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// `hmac-sha256` or `ed25519`.
    pub signing: Option<String>,
    /// For `ed25519`: the service's public key (JWK).
    #[schema(value_type = Option<Object>)]
    pub public_key_jwk: Option<serde_json::Value>,
    /// A SPIFFE ID (`spiffe://trust-domain/path`): a client certificate with this URI SAN,
    /// verified against `server.tls.client_ca_file`, authenticates the service with `scopes`.
    #[schema(max_length = 2048)]
    pub spiffe_id: Option<String>,
}

impl Validate for ServiceAccountRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "name", &self.name, 400);
        max_len(
            &mut e,
            "key_name",
            self.key_name.as_deref().unwrap_or(""),
            400,
        );
        if self.scopes.len() > 64 {
            e.push(FieldError::new("scopes", "too_long", "at most 32 scopes"));
        }
        for s in &self.scopes {
            max_len(&mut e, "scopes", s, 256);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// The created service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountBody {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Always `service`.
    pub role: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// Its first key (with the secret, shown once).
    pub api_key: ApiKeyBody,
    /// The SPIFFE ID that authenticates it over mTLS, if any.
    pub spiffe_id: Option<String>,
}

/// `GET /sys/seal-status`, and the answer to `POST /sys/unseal`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SealStatusBody {
    /// True until the master key is reconstructed.
    pub sealed: bool,
    /// Distinct shares given so far (while sealed).
    pub progress: usize,
    /// Shares needed; null when the key is not split into shares.
    pub threshold: Option<u8>,
}

/// `POST /sys/unseal`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// One share, as printed by `portcullis keys split` (`pcs1-...`).
    #[schema(min_length = 1, max_length = 256)]
    pub share: String,
}

impl Validate for UnsealRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "share", &self.share, 256);
        if self.share.is_empty() {
            e.push(FieldError::new("share", "required", "a share is required"));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `GET /auth/me/export`
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportBody {
    /// `portcullis-export-v1`.
    pub format: &'static str,
    /// RFC 3339.
    pub exported_at: String,
    /// The account.
    pub profile: UserBody,
    /// Sessions, with device details.
    pub sessions: Vec<SessionBody>,
    /// API keys (no secrets).
    pub api_keys: Vec<ApiKeyBody>,
    /// Second factors (no secrets).
    pub mfa: ExportMfa,
    /// Sign-in history (kept 90 days), newest first.
    pub sign_ins: Vec<ActivityEntry>,
    /// Audit events whose actor or target is the account.
    pub audit_events: Vec<AuditEventBody>,
    /// True when `audit_events` was cut at 10,000 entries.
    pub audit_truncated: bool,
}

/// Second-factor metadata in an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportMfa {
    /// Whether a second factor (TOTP or passkey) is enrolled.
    pub enabled: bool,
    /// Registered passkeys.
    pub passkeys: Vec<PasskeyBody>,
}

/// `POST /auth/me/erase`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The account password.
    #[schema(min_length = 1, max_length = 4096)]
    pub password: String,
    /// A current TOTP code: the step-up, in the same request (accounts with TOTP).
    #[schema(max_length = 16)]
    pub code: Option<String>,
    /// A recovery code, as the step-up instead of `code`.
    #[schema(max_length = 32)]
    pub recovery_code: Option<String>,
}

impl Validate for EraseRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_BYTES);
        max_len(&mut e, "code", self.code.as_deref().unwrap_or(""), 16);
        max_len(
            &mut e,
            "recovery_code",
            self.recovery_code.as_deref().unwrap_or(""),
            32,
        );
        if self.password.is_empty() {
            e.push(FieldError::new(
                "password",
                "required",
                "the password is required",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `?erase=true`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EraseQuery {
    /// Must be true: erasure cannot be undone.
    pub erase: Option<bool>,
}

impl Validate for EraseQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// `GET /admin/keys`
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyStatusBody {
    /// The newest key-encryption key version.
    pub kek_version: u32,
    /// Every KEK version.
    pub versions: Vec<KekVersionBody>,
    /// Live data keys (one per user).
    pub data_keys: u64,
    /// Of them, wrapped by the newest KEK.
    pub data_keys_rewrapped: u64,
    /// Data keys destroyed by erasure.
    pub data_keys_destroyed: u64,
    /// `data_keys_rewrapped / data_keys` (1 when no rotation is under way).
    pub progress: f64,
}

/// One KEK version.
#[derive(Debug, Serialize, ToSchema)]
pub struct KekVersionBody {
    /// Version.
    pub version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once no data key uses it and its sealed key is gone.
    pub retired_at: Option<String>,
}

/// An ALTCHA (v1) proof-of-work challenge: find `number` in `0..=maxnumber` with
/// `hex(SHA-256(salt || number)) == challenge`, then send base64 of
/// `{"algorithm","challenge","number","salt","signature"}` as `altcha`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AltchaChallenge {
    /// `SHA-256`.
    pub algorithm: String,
    /// Hex SHA-256 of `salt || number`.
    pub challenge: String,
    /// The search space.
    pub maxnumber: u64,
    /// The same, as newer ALTCHA clients spell it.
    #[serde(rename = "maxNumber")]
    pub max_number: u64,
    /// Random hex, `?expires=<unix time>&difficulty=<n>&`.
    pub salt: String,
    /// Hex HMAC-SHA256 of `challenge` under the server's key.
    pub signature: String,
}

/// One sign-in attempt as its user sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityEntry {
    /// RFC 3339.
    pub time: String,
    /// Client IP.
    pub ip: Option<String>,
    /// ISO 3166-1 alpha-2 country, when the GeoIP database places the address.
    pub country: Option<String>,
    /// City, likewise.
    pub city: Option<String>,
    /// `known` (a device this account signed in from before) or `new`.
    pub device: String,
    /// `success`, `mfa_required`, `failure`, `challenged` or `denied`.
    pub outcome: String,
    /// Risk score (0 to 100) and its reasons.
    pub risk: RiskBody,
}

/// A risk score with its reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskBody {
    /// 0 to 100.
    pub score: u32,
    /// `impossible_travel`, `new_device`, `new_country`, `unusual_hour`, ...
    pub reasons: Vec<String>,
}

impl From<&portcullis_core::model::LoginEvent> for ActivityEntry {
    fn from(e: &portcullis_core::model::LoginEvent) -> Self {
        Self {
            time: rfc3339(e.time),
            ip: e.ip.clone(),
            country: e.geo.country.clone(),
            city: e.geo.city.clone(),
            device: if e.new_device { "new" } else { "known" }.to_owned(),
            outcome: e.outcome.clone(),
            risk: RiskBody {
                score: e.risk,
                reasons: e.reasons.clone(),
            },
        }
    }
}

/// `GET /auth/activity`
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityList {
    /// Newest first.
    pub activity: Vec<ActivityEntry>,
}

/// A ban.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanBody {
    /// Id.
    pub id: String,
    /// The network banned.
    pub cidr: String,
    /// Why.
    pub reason: String,
    /// `admin:<user id>` or `rule:<alert rule>`.
    pub source: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when it ends by itself.
    pub expires_at: String,
    /// RFC 3339, when lifted early.
    pub lifted_at: Option<String>,
    /// In force now.
    pub active: bool,
}

impl BanBody {
    /// The body of `b` at `now`.
    pub fn new(b: &portcullis_core::model::Ban, now: i64) -> Self {
        Self {
            id: b.id.clone(),
            cidr: b.cidr.to_string(),
            reason: b.reason.clone(),
            source: b.source.clone(),
            created_at: rfc3339(b.created_at),
            expires_at: rfc3339(b.expires_at),
            lifted_at: b.lifted_at.map(rfc3339),
            active: b.active(now),
        }
    }
}

/// `GET /admin/bans`
#[derive(Debug, Serialize, ToSchema)]
pub struct BanList {
    /// Oldest first.
    pub bans: Vec<BanBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// `POST /admin/bans`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// An address or CIDR network.
    #[schema(max_length = 64)]
    pub cidr: String,
    /// How long, seconds (at most a year).
    #[schema(minimum = 1, maximum = 31536000)]
    pub duration_seconds: i64,
    /// Why (shown in the list and the audit log).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

impl Validate for BanRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "cidr", &self.cidr, 64);
        if let Some(r) = &self.reason {
            max_len(&mut e, "reason", r, 800);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}
