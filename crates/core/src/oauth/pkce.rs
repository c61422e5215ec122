//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` is refused (RFC 9700 §2.1.1),
//! and so is a verifier presented for a code that had no challenge (a PKCE downgrade).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::crypto::tokens::ct_eq;

/// Why a PKCE parameter is refused; the token endpoint answers `invalid_grant`, the
/// authorize endpoint `invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// `code_challenge_method` other than `S256` (including `plain` and a missing one).
    #[error("code_challenge_method must be S256")]
    Method,
    /// A challenge that is not 43 base64url characters (a SHA-256 digest).
    #[error("code_challenge must be the base64url SHA-256 of the verifier")]
    Challenge,
    /// A verifier outside RFC 7636 §4.1: 43 to 128 unreserved characters.
    #[error("code_verifier must be 43 to 128 unreserved characters")]
    Verifier,
    /// A verifier for a code issued without a challenge, or one without a verifier for a
    /// code issued with one.
    #[error("code_verifier does not belong to this code")]
    Mismatch,
}

/// A checked S256 code challenge, as stored with the authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge(String);

impl Challenge {
    /// Parses the authorize request's `code_challenge` and `code_challenge_method`.
    /// A missing method means `plain` in RFC 7636 and is refused with it.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::Method);
        }
        let ok = challenge.len() == 43
            && URL_SAFE_NO_PAD
                .decode(challenge)
                .is_ok_and(|d| d.len() == 32);
        if !ok {
            return Err(PkceError::Challenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The challenge of `verifier` (for clients and tests).
    pub fn of_verifier(verifier: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
    }
}

/// Whether `verifier` has RFC 7636's shape: 43..=128 of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the token request's `code_verifier` against what the code was issued with, in
/// constant time. Either both are present and match, or the exchange is refused: a code
/// with no challenge cannot be redeemed with a verifier (nor one with a challenge without).
pub fn verify(stored: Option<&Challenge>, verifier: Option<&str>) -> Result<(), PkceError> {
    match (stored, verifier) {
        (None, None) => Ok(()),
        (Some(c), Some(v)) => {
            if !valid_verifier(v) {
                return Err(PkceError::Verifier);
            }
            let computed = Challenge::of_verifier(v);
            if ct_eq(computed.0.as_bytes(), c.0.as_bytes()) {
                Ok(())
            } else {
                Err(PkceError::Mismatch)
            }
        }
        _ => Err(PkceError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(Challenge::of_verifier(VERIFIER).as_str(), CHALLENGE);
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(verify(Some(&c), Some(VERIFIER)), Ok(()));
    }

    #[test]
    fn plain_and_missing_method_are_refused() {
        assert_eq!(
            Challenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::Method)
        );
        assert_eq!(Challenge::parse(CHALLENGE, None), Err(PkceError::Method));
        assert_eq!(
            Challenge::parse(CHALLENGE, Some("s256")),
            Err(PkceError::Method)
        );
        // A plain challenge is the verifier itself: not a digest, refused by shape too.
        assert_eq!(
            Challenge::parse(&format!("{VERIFIER}x"), Some("S256")),
            Err(PkceError::Challenge)
        );
        assert_eq!(
            Challenge::parse("", Some("S256")),
            Err(PkceError::Challenge)
        );
        assert_eq!(
            Challenge::parse(&"+".repeat(43), Some("S256")),
            Err(PkceError::Challenge)
        );
    }

    #[test]
    fn wrong_verifier_and_downgrades_are_refused() {
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        let other = "a".repeat(43);
        assert_eq!(verify(Some(&c), Some(&other)), Err(PkceError::Mismatch));
        assert_eq!(verify(Some(&c), None), Err(PkceError::Mismatch));
        assert_eq!(verify(None, Some(VERIFIER)), Err(PkceError::Mismatch));
        assert_eq!(verify(None, None), Ok(()));
        // The challenge itself presented as the verifier (a plain-method client) fails.
        assert_eq!(verify(Some(&c), Some(CHALLENGE)), Err(PkceError::Mismatch));
    }

    #[test]
    fn verifier_shape() {
        assert!(valid_verifier(VERIFIER));
        assert!(valid_verifier(&"~".repeat(128)));
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}!", "a".repeat(43))));
        assert!(!valid_verifier(&format!("{}é", "a".repeat(43))));
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(
            verify(Some(&c), Some(&"a".repeat(42))),
            Err(PkceError::Verifier)
        );
    }
}
