//! Sealing small secrets under a 256-bit key with XChaCha20-Poly1305.
//!
//! Format (version 1): `0x01 || nonce (24) || ciphertext || tag (16)`. The associated data
//! names what the secret is and where it lives, so a sealed value copied elsewhere fails to
//! open. The encryption-at-rest issue replaces the single master key with envelope keys; the
//! version byte leaves room for that.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::rand::{Rng, bytes};

const V1: u8 = 1;

/// A 256-bit key that zeroes itself on drop and never prints.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// A new random key.
    pub fn generate(rng: &dyn Rng) -> Self {
        Self::from_bytes(bytes(rng))
    }

    /// The raw bytes (to write the key file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Opening failed: wrong key, wrong associated data, or a damaged value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed value cannot be opened")]
pub struct OpenError;

/// Seals `plaintext`, binding it to `aad`.
pub fn seal(key: &SecretKey, aad: &[u8], plaintext: &[u8], rng: &dyn Rng) -> Vec<u8> {
    let nonce: [u8; 24] = bytes(rng);
    let mut out = vec![V1];
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&seal_with_nonce(key, &nonce, aad, plaintext));
    out
}

fn seal_with_nonce(key: &SecretKey, nonce: &[u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&(*key.0).into());
    // Encryption with a valid key and nonce length cannot fail for inputs below 256 GiB.
    cipher
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

/// Opens a sealed value.
pub fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (&version, rest) = sealed.split_first().ok_or(OpenError)?;
    if version != V1 || rest.len() < 24 + 16 {
        return Err(OpenError);
    }
    let (nonce, ct) = rest.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| OpenError)?;
    let cipher = XChaCha20Poly1305::new(&(*key.0).into());
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_default()
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn xchacha20poly1305_draft_vector() {
        let key: [u8; 32] = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap_or_default();
        let nonce: [u8; 24] = h("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap_or_default();
        let aad = h("50515253c0c1c2c3c4c5c6c7");
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let expected = h(concat!(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb",
            "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452",
            "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9",
            "21f9664c97637da9768812f615c68b13b52e",
            "c0875924c1c7987947deafd8780acf49"
        ));
        let key = SecretKey::from_bytes(key);
        assert_eq!(seal_with_nonce(&key, &nonce, &aad, pt), expected);
    }

    #[test]
    fn round_trip_and_binding() {
        let key = SecretKey::generate(&OsRng);
        let sealed = seal(&key, b"signing_key:k1", b"secret", &OsRng);
        assert_eq!(
            open(&key, b"signing_key:k1", &sealed).map(|v| v.to_vec()),
            Ok(b"secret".to_vec())
        );
        assert_eq!(
            open(&key, b"signing_key:k2", &sealed).err(),
            Some(OpenError)
        );
        assert_eq!(
            open(&SecretKey::generate(&OsRng), b"signing_key:k1", &sealed).err(),
            Some(OpenError)
        );
        let mut damaged = sealed.clone();
        if let Some(b) = damaged.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            open(&key, b"signing_key:k1", &damaged).err(),
            Some(OpenError)
        );
        assert_eq!(open(&key, b"", &[]).err(), Some(OpenError));
    }
}
