//! WebAuthn passkeys.

use portcullis_core::FieldError;
use portcullis_core::clock::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::webauthn::{check_authentication, check_registration};
use crate::extract::{Validate, max_len};

/// Longest `ceremony_id` accepted.
pub(super) const MAX_CEREMONY_ID: usize = 64;

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
    #[schema(value_type = super::webauthn::RegistrationResponseJson)]
    pub credential: serde_json::Value,
}

impl Validate for PasskeyRegisterFinishRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "ceremony_id", &self.ceremony_id, MAX_CEREMONY_ID);
        max_len(&mut e, "name", &self.name, 256);
        check_registration(&mut e, &self.credential);
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
    #[schema(value_type = super::webauthn::AuthenticationResponseJson)]
    pub credential: serde_json::Value,
}

impl Validate for PasskeyLoginFinishRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "ceremony_id", &self.ceremony_id, MAX_CEREMONY_ID);
        check_authentication(&mut e, &self.credential);
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
