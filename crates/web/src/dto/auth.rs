//! Sign-up, sign-in, tokens and sessions.

use portcullis_core::FieldError;
use portcullis_core::clock::rfc3339;
use portcullis_core::model::{Session, User};
use portcullis_core::service::TokenResponse;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::MAX_PASSWORD_CHARS;
use crate::extract::{Validate, max_len};

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
    #[schema(max_length = 100)]
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
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_CHARS);
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
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_CHARS);
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
            MAX_PASSWORD_CHARS,
        );
        max_len(
            &mut e,
            "new_password",
            &self.new_password,
            MAX_PASSWORD_CHARS,
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
    /// `Bearer`; `DPoP` when the sign-in sent a DPoP proof and the tokens are bound to its
    /// key (RFC 9449 §5).
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
            token_type: if t.dpop_bound { "DPoP" } else { "Bearer" },
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

/// Email addresses: `format: email` and the SMTP path limit, as `Email::parse` refuses the
/// rest; a display name of at most 100 characters, none of them control characters.
pub(super) fn refinements() -> serde_json::Value {
    use serde_json::json;
    let email = json!({
        "format": "email",
        "minLength": 3,
        "maxLength": portcullis_core::email::MAX_EMAIL_LEN,
    });
    json!({
        "RegisterRequest": {"properties": {
            "email": email,
            "display_name": {"maxLength": 100, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"},
        }},
        "LoginRequest": {"properties": {"email": email}},
        "CreateUserRequest": {"properties": {
            "email": email,
            "display_name": {"maxLength": 100, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"},
            "role": {"enum": ["user", "admin", null]},
        }},
        "ElevationRequest": {"properties": {
            "role": {"enum": ["user", "admin", null]},
            "reason": {"pattern": "^[^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*\\S[^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*$"},
        }},
        "DecisionRequest": {"properties": {
            "reason": {"pattern": "^[^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*$"},
        }},
    })
}
