//! Second factors (TOTP, recovery codes) and step-up.

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::webauthn::check_authentication;
use super::{MAX_CEREMONY_ID, MAX_PASSWORD_CHARS};
use crate::extract::{Validate, max_len};

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
        max_len(&mut e, "password", &self.password, MAX_PASSWORD_CHARS);
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
    #[schema(value_type = Option<super::webauthn::AuthenticationResponseJson>)]
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
            MAX_PASSWORD_CHARS,
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
            check_authentication(&mut e, c);
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

/// `code` xor `recovery_code` (null counts as absent), and the four ways to step up.
pub(super) fn refinements() -> serde_json::Value {
    use serde_json::json;
    let only = |given: &[&str], all: &[&str]| {
        let mut properties = serde_json::Map::new();
        for f in all {
            let schema = if given.contains(f) {
                json!({"type": if *f == "credential" { "object" } else { "string" }})
            } else {
                json!({"type": "null"})
            };
            properties.insert((*f).to_owned(), schema);
        }
        json!({"required": given, "properties": properties})
    };
    let verify = ["code", "recovery_code"];
    let step_up = [
        "code",
        "recovery_code",
        "password",
        "ceremony_id",
        "credential",
    ];
    json!({
        "MfaVerifyRequest": {"oneOf": [only(&["code"], &verify), only(&["recovery_code"], &verify)]},
        "StepUpRequest": {"oneOf": [
            only(&["code"], &step_up),
            only(&["recovery_code"], &step_up),
            only(&["password"], &step_up),
            only(&["ceremony_id", "credential"], &step_up),
        ]},
    })
}
