//! Bodies of account recovery by mail and of administrators' account changes.

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Validate, max_len};

/// `POST /auth/password/forgot`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's email address.
    #[schema(max_length = 254)]
    pub email: String,
}

impl Validate for ForgotPasswordRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "email", &self.email, 254);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/password/reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The code from the mail (a reset or an invitation).
    #[schema(max_length = 64)]
    pub token: String,
    /// The new password (the policy applies).
    #[schema(max_length = 4096)]
    pub new_password: String,
    /// Also revoke every API key of the account (default false: sessions only).
    #[serde(default)]
    pub revoke_api_keys: bool,
}

impl Validate for ResetPasswordRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "token", &self.token, 64);
        max_len(
            &mut e,
            "new_password",
            &self.new_password,
            super::MAX_PASSWORD_CHARS,
        );
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/email/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The code from the mail.
    #[schema(max_length = 64)]
    pub token: String,
}

impl Validate for VerifyEmailRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "token", &self.token, 64);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /auth/email`: change the account's address (confirmed by a code sent to it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    /// The new address.
    #[schema(max_length = 254)]
    pub new_email: String,
    /// The current password, asked again.
    #[schema(max_length = 4096)]
    pub password: String,
}

impl Validate for EmailChangeRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "new_email", &self.new_email, 254);
        max_len(
            &mut e,
            "password",
            &self.password,
            super::MAX_PASSWORD_CHARS,
        );
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `PATCH /admin/users/{id}`: what is given changes, the rest stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    /// `user` or `admin`; ends the user's sessions.
    #[serde(default)]
    #[schema(max_length = 16)]
    pub role: Option<String>,
    /// The display name; `null` clears it.
    #[serde(default, deserialize_with = "super::clients::nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub display_name: Option<Option<String>>,
    /// A new email address (unproved until the user verifies it; the old one is told).
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Whether the user must change the password before anything else (setting it ends the
    /// user's sessions).
    #[serde(default)]
    pub must_change_password: Option<bool>,
}

impl Validate for UserPatchRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if let Some(r) = &self.role {
            max_len(&mut e, "role", r, 16);
        }
        if let Some(Some(n)) = &self.display_name {
            max_len(&mut e, "display_name", n, 100);
        }
        if let Some(m) = &self.email {
            max_len(&mut e, "email", m, 254);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `GET /admin/users`: a page by cursor, or a search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Search: accounts whose email or display name contains this (case-insensitive).
    /// With `q`, `cursor` is not used; an empty `q` is the plain listing.
    #[param(max_length = 320)]
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1..500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl Validate for UserListQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "q", self.q.as_deref().unwrap_or(""), 320);
        max_len(&mut e, "cursor", self.cursor.as_deref().unwrap_or(""), 64);
        super::in_range(&mut e, "limit", self.limit.map(u64::from), 1, 500);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// A linked upstream identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    /// Its id (for `DELETE`).
    pub id: String,
    /// The `[[identity_providers]]` id.
    pub provider: String,
    /// The provider's label.
    pub provider_name: String,
    /// When it was linked (RFC 3339).
    pub created_at: String,
    /// When it last signed in (RFC 3339).
    pub last_used_at: Option<String>,
}

impl From<portcullis_core::service::IdentityView> for IdentityBody {
    fn from(i: portcullis_core::service::IdentityView) -> Self {
        use portcullis_core::clock::rfc3339;
        Self {
            id: i.id,
            provider: i.provider,
            provider_name: i.provider_name,
            created_at: rfc3339(i.created_at),
            last_used_at: i.last_used_at.map(rfc3339),
        }
    }
}

/// `GET /auth/identities`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    /// The caller's linked identities.
    pub identities: Vec<IdentityBody>,
}
