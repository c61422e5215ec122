//! The one mapping from errors to RFC 9457 `application/problem+json` responses. Internal
//! details are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{Error, FieldError};
use serde::Serialize;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// Stable snake_case code clients switch on.
    pub code: String,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// `challenge_required`: the ALTCHA proof-of-work to solve before signing in again
    /// (send the solution as `altcha`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<portcullis_core::detect::altcha::Challenge>,
    /// `request_blocked`, `response_blocked`: the id of the incident in the audit log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    www_authenticate: Option<String>,
    challenge: Option<portcullis_core::detect::altcha::Challenge>,
    incident_id: Option<String>,
}

impl ApiError {
    /// A problem with the given status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        let www_authenticate =
            (status == StatusCode::UNAUTHORIZED).then(|| r#"Bearer realm="portcullis""#.to_owned());
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            www_authenticate,
            challenge: None,
            incident_id: None,
        }
    }

    /// Names the incident (a blocked request or response) the audit log recorded.
    pub fn with_incident(mut self, id: String) -> Self {
        self.incident_id = Some(id);
        self
    }

    /// Adds field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    fn bearer_error(mut self, error: &str, description: &str) -> Self {
        self.www_authenticate = Some(format!(
            r#"Bearer realm="portcullis", error="{error}", error_description="{description}""#
        ));
        self
    }

    /// 404 not_found: no endpoint and no route has this path.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
    }

    /// 400 invalid_json.
    pub fn invalid_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", detail)
    }

    /// 400 invalid_request.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The email or password is incorrect.",
            ),
            Error::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "A bearer access token is required.",
            ),
            Error::MalformedCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "The Authorization header must be `Bearer <token>`.",
            )
            .bearer_error("invalid_request", "malformed Authorization header"),
            Error::InvalidToken(why) => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("The token is not valid: {why}."),
            )
            .bearer_error("invalid_token", why),
            Error::PasswordChangeRequired => Self::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "An administrator asked you to change your password: POST /api/v1/auth/password, \
                 then refresh your tokens.",
            ),
            Error::EmailNotVerified => Self::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "Confirm your email address first: open the link in the mail we sent (a new one \
                 was sent if the last had expired).",
            ),
            Error::InvalidDpopProof(why) => {
                let mut e = Self::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_dpop_proof",
                    format!("The DPoP proof is not valid: {why}."),
                );
                e.www_authenticate = Some(format!(
                    r#"DPoP error="invalid_dpop_proof", error_description="{why}", algs="{}""#,
                    portcullis_core::oauth::assertion::ALGORITHMS.join(" ")
                ));
                e
            }
            Error::TokenReused => Self::new(
                StatusCode::UNAUTHORIZED,
                "token_reused",
                "This refresh token was already used. Its session has been revoked; sign in again.",
            )
            .bearer_error("invalid_token", "refresh token reused"),
            Error::InvalidMfaCode(why) => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_code",
                format!("The code was not accepted: {why}."),
            ),
            Error::InvalidSignature(why) => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                format!("The HTTP message signature was not accepted: {why}."),
            )
            .bearer_error("invalid_request", "invalid HTTP message signature"),
            Error::StepUpRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "step_up_required",
                "This action needs a recent second factor: POST /api/v1/auth/step-up first.",
            )
            .bearer_error(
                "insufficient_user_authentication",
                "recent authentication required",
            ),
            Error::MfaEnrollmentRequired => Self::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "Your role requires a second factor: enrol one at POST /api/v1/auth/mfa/setup.",
            ),
            Error::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "forbidden", why),
            Error::IpNotAllowed => Self::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                "Your IP address may not use this endpoint.",
            ),
            Error::ChallengeRequired { challenge, why } => {
                let mut e = Self::new(StatusCode::UNAUTHORIZED, "challenge_required", why);
                e.challenge = Some(*challenge);
                e.www_authenticate = Some(r#"Bearer realm="portcullis""#.to_owned());
                e
            }
            Error::RiskDenied => Self::new(
                StatusCode::FORBIDDEN,
                "risk_denied",
                "This sign-in was refused: its risk is too high for the factors this account has. \
                 Sign in from a device you used before, or ask an administrator.",
            ),
            Error::AccountLocked => Self::new(
                StatusCode::LOCKED,
                "account_locked",
                "This account is locked. Contact an administrator.",
            ),
            Error::TooManyAttempts { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many failed attempts; retry after {retry_after} seconds."),
            )
            .with_retry_after(retry_after),
            Error::RateLimited { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many requests; retry after {retry_after} seconds."),
            )
            .with_retry_after(retry_after),
            Error::WeakPassword(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", detail)
                    .with_errors(errors)
            }
            Error::InvalidRequest(detail, errors) => {
                Self::invalid_request(detail).with_errors(errors)
            }
            Error::Conflict(detail) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            Error::EmailNotAllowed => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_not_allowed",
                "Addresses at disposable (throwaway) mail providers are not accepted; use a lasting address.",
            ),
            Error::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource."),
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "dependency unavailable; failing closed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "A dependency of this service is unavailable; nothing is let through.",
                )
                .with_retry_after(5)
            }
            Error::Internal(why) => {
                tracing::error!(reason = %why, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "An internal error occurred.",
                )
            }
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "An internal error occurred.",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            type_: format!(
                "https://portcullis.dev/problems/{}",
                self.code.replace('_', "-")
            ),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
            challenge: self.challenge,
            incident_id: self.incident_id,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, json).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(v) = self
            .retry_after
            .and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = self
            .www_authenticate
            .and_then(|w| HeaderValue::from_str(&w).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
