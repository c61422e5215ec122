//! The domain's error type. The web crate maps each variant to exactly one HTTP problem.

use crate::store::StoreError;

/// One problem with one input field, reported in a problem response's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the client sent it (`password`, `email`).
    pub field: String,
    /// A stable snake_case code (`too_short`, `too_weak`).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a request failed, split by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wrong email or password (identical for an unknown email).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// No credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// An `Authorization` header that is not `Bearer <token>` (RFC 6750 `invalid_request`).
    #[error("malformed credentials")]
    MalformedCredentials,
    /// An expired, revoked, badly signed or unknown token.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// An administrator asked the user to change the password first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// The password was right, but the account's address was never proved.
    #[error("email address not verified")]
    EmailNotVerified,
    /// A DPoP proof (RFC 9449) that is missing where a bound token needs one, malformed,
    /// stale, replayed, or by another key than the token's.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// A refresh token that was already rotated came back.
    #[error("refresh token reused; the session has been revoked")]
    TokenReused,
    /// A wrong, expired or replayed TOTP or recovery code.
    #[error("invalid second-factor code")]
    InvalidMfaCode(&'static str),
    /// An HTTP message signature is missing, wrong, stale or replayed.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// The action needs a recent second factor.
    #[error("step-up authentication required")]
    StepUpRequired,
    /// The role requires a second factor and none is enrolled.
    #[error("second factor enrolment required")]
    MfaEnrollmentRequired,
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The client IP is outside this endpoint's allowlist.
    #[error("client IP not allowed")]
    IpNotAllowed,
    /// The sign-in looks risky: solve this proof-of-work and try again.
    #[error("proof-of-work required")]
    ChallengeRequired {
        /// The challenge to solve.
        challenge: Box<crate::detect::altcha::Challenge>,
        /// What to tell the client.
        why: &'static str,
    },
    /// The risk is too high for any factor the user has.
    #[error("sign-in refused: risk too high")]
    RiskDenied,
    /// The account is locked.
    #[error("account locked")]
    AccountLocked,
    /// Too many failed logins for this account or client.
    #[error("too many attempts")]
    TooManyAttempts {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// The server is saturated (e.g. the password hashing pool is full).
    #[error("rate limited")]
    RateLimited {
        /// Seconds after which the client may retry.
        retry_after: u64,
    },
    /// The password fails the policy.
    #[error("password does not meet the policy")]
    WeakPassword(Vec<FieldError>),
    /// The request is well-formed JSON but its content is invalid.
    #[error("{0}")]
    InvalidRequest(String, Vec<FieldError>),
    /// A uniqueness conflict (e.g. email already registered).
    #[error("{0}")]
    Conflict(String),
    /// The address is at a disposable (throwaway) mail provider, which registration refuses.
    #[error("email addresses at disposable mail providers are not accepted")]
    EmailNotAllowed,
    /// The named resource does not exist (or is not the caller's).
    #[error("not found")]
    NotFound,
    /// A dependency (database, key store) is down: fail closed.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted state; the message is logged, never sent to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::Conflict(what.to_owned()),
            StoreError::Unavailable(msg) => Error::Unavailable(msg),
            StoreError::Corrupt(msg) => Error::Internal(msg),
        }
    }
}

/// The result type of domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
