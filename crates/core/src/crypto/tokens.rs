//! Opaque bearer secrets (refresh tokens) and their storage hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rand::{Rng, bytes};

/// Prefix of refresh tokens, so scanners and logs can recognise them.
pub const REFRESH_PREFIX: &str = "rt_";

/// A new 256-bit refresh token.
pub fn new_refresh_token(rng: &dyn Rng) -> SecretString {
    let raw: [u8; 32] = bytes(rng);
    SecretString::from(format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// True when `s` has the shape of a refresh token (checked before any lookup).
pub fn is_refresh_token_shape(s: &str) -> bool {
    s.strip_prefix(REFRESH_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && URL_SAFE_NO_PAD.decode(rest).is_ok_and(|b| b.len() == 32)
    })
}

/// SHA-256, hex. High-entropy tokens need no slow hash: the hash only keeps a database
/// thief from replaying them.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;
    use secrecy::ExposeSecret;

    #[test]
    fn refresh_tokens_have_a_checkable_shape() {
        let t = new_refresh_token(&OsRng);
        assert!(is_refresh_token_shape(t.expose_secret()));
        assert!(!is_refresh_token_shape("rt_short"));
        assert!(!is_refresh_token_shape(
            &t.expose_secret().replace("rt_", "xx_")
        ));
    }

    #[test]
    fn sha256_matches_fips_180_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
