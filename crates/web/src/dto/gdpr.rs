//! Data export, erasure and the key-encryption keys.

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ActivityEntry, ApiKeyBody, AuditEventBody, MAX_PASSWORD_CHARS, PasskeyBody, SessionBody,
    UserBody,
};
use crate::extract::{Validate, max_len};

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
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_CHARS);
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
