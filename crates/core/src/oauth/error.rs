//! The error answers of the OAuth 2.0 endpoints: RFC 6749 §5.2 (token), RFC 7662 and
//! RFC 7009 use the same `{"error", "error_description"}` object, which every OAuth client
//! library parses. (Portcullis's own API answers RFC 9457 problems; these endpoints speak the
//! protocol's own format, since that is what their clients read.)

use crate::error::Error;

/// An OAuth error code with its description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The registered code (`invalid_request`, `invalid_client`, ...).
    pub code: &'static str,
    /// What a developer needs to know, never a secret or an internal detail.
    pub description: String,
    /// The HTTP status, when not the code's usual one.
    status_override: Option<u16>,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status_override: None,
        }
    }

    /// Any registered code (OpenID Connect's and the extensions' own).
    pub fn new_pub(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(code, description)
    }

    /// Malformed: a missing, repeated or invalid parameter.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }

    /// Client authentication failed (unknown client, wrong secret, wrong method).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }

    /// The client is not registered for this grant.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }

    /// A grant this server does not offer.
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d)
    }

    /// A scope beyond what the client is registered for.
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }

    /// A resource indicator that is not an absolute URI (RFC 8707).
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new("invalid_target", d)
    }

    /// A DPoP proof that is missing where required, malformed, or replayed (RFC 9449).
    pub fn invalid_dpop_proof(d: impl Into<String>) -> Self {
        Self::new("invalid_dpop_proof", d)
    }

    /// The proof lacks a current server nonce: retry with the `DPoP-Nonce` of the answer
    /// (RFC 9449 §8).
    pub fn use_dpop_nonce(d: impl Into<String>) -> Self {
        Self::new("use_dpop_nonce", d)
    }

    /// The database or key store is down: nothing is issued (fail closed).
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new("temporarily_unavailable", d)
    }

    /// Too many failed attempts from this client address.
    pub fn slow_down(d: impl Into<String>) -> Self {
        Self::new("slow_down", d)
    }

    /// The code, verifier, refresh token or device code is not (or no longer) good.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }

    /// Only `response_type=code` is offered.
    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_response_type", d)
    }

    /// The person (or the server on their behalf) refused.
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new("access_denied", d)
    }

    /// `prompt=none`, and the person must sign in (OpenID Connect Core §3.1.2.6).
    pub fn login_required(d: impl Into<String>) -> Self {
        Self::new("login_required", d)
    }

    /// `prompt=none`, and the person must consent.
    pub fn consent_required(d: impl Into<String>) -> Self {
        Self::new("consent_required", d)
    }

    /// `prompt=none`, and the person must do something else (a second factor).
    pub fn interaction_required(d: impl Into<String>) -> Self {
        Self::new("interaction_required", d)
    }

    /// A PAR `request_uri` that is unknown, expired, used or another client's (RFC 9126).
    pub fn invalid_request_uri(d: impl Into<String>) -> Self {
        Self::new("invalid_request_uri", d)
    }

    /// A bearer token that is not good at a resource (RFC 6750 §3.1): userinfo.
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new("invalid_token", d)
    }

    /// The token lacks a scope the resource needs (RFC 6750 §3.1).
    pub fn insufficient_scope(d: impl Into<String>) -> Self {
        Self::new("insufficient_scope", d)
    }

    /// RFC 8628 §3.5: a device polling too fast (400, unlike the throttle's 429).
    pub fn slow_down_poll(d: impl Into<String>) -> Self {
        Self {
            status_override: Some(400),
            ..Self::new("slow_down", d)
        }
    }

    /// The HTTP status the error is answered with.
    pub fn status(&self) -> u16 {
        if let Some(s) = self.status_override {
            return s;
        }
        match self.code {
            "invalid_client" | "invalid_token" => 401,
            "insufficient_scope" => 403,
            "temporarily_unavailable" => 503,
            "slow_down" => 429,
            _ => 400,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable(_) => Self::temporarily_unavailable(
                "the authorization server cannot reach its storage; try again",
            ),
            Error::InvalidRequest(m, _) => Self::invalid_request(m),
            Error::InvalidDpopProof(m) => Self::invalid_dpop_proof(m),
            Error::TooManyAttempts { .. } | Error::RateLimited { .. } => {
                Self::slow_down("too many attempts; wait before trying again")
            }
            _ => Self::new("server_error", "the request could not be completed"),
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}
