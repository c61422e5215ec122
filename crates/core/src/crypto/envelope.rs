//! Envelope encryption of personal data at rest.
//!
//! - The master key seals versioned key-encryption keys (KEKs), stored in `keks`.
//! - Each subject (a user) has its own data-encryption key (DEK), stored in `deks` wrapped
//!   by the current KEK. Rotating the KEK re-wraps DEKs; data is never re-encrypted.
//! - A field is sealed with its subject's DEK (XChaCha20-Poly1305, [`secretbox`]) under
//!   associated data that binds table, column, row id and DEK version: a ciphertext copied
//!   to another row or column does not open.
//! - Destroying a DEK (erasure) makes every copy of the subject's fields unreadable.
//!
//! Field format (version 1): `0x10 || dek_version (u32, big endian) || secretbox`, where the
//! secretbox is itself versioned (`0x01 || nonce || ciphertext || tag`).
//!
//! Lookups by email use a blind index: HMAC-SHA256 under a key derived from the master key,
//! so equal emails match without the database holding the email.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::secretbox::{self, OpenError, SecretKey};
use crate::rand::Rng;

const FIELD_V1: u8 = 0x10;
/// Version of every DEK created so far (DEKs are re-wrapped, not replaced).
pub const DEK_VERSION: u32 = 1;

/// Why a field or key did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The subject's DEK was destroyed: the data is erased.
    #[error("the data key of this subject was destroyed")]
    Destroyed,
    /// Wrong key, wrong place (table/column/row), or damaged bytes.
    #[error("a sealed value does not open: wrong key, wrong row or column, or damaged")]
    Open,
    /// Not a field in a format this version reads.
    #[error("unknown sealed field format")]
    Format,
}

impl From<OpenError> for EnvelopeError {
    fn from(_: OpenError) -> Self {
        Self::Open
    }
}

fn kek_aad(version: u32) -> Vec<u8> {
    format!("portcullis:kek:v1:{version}").into_bytes()
}

fn dek_aad(subject: &str, dek_version: u32, kek_version: u32) -> Vec<u8> {
    format!("portcullis:dek:v1:{subject}:{dek_version}:{kek_version}").into_bytes()
}

fn field_aad(table: &str, column: &str, row: &str, dek_version: u32) -> Vec<u8> {
    // Lengths first, so no two (table, column, row) tuples share an encoding.
    format!(
        "portcullis:field:v1:{}:{table}:{}:{column}:{}:{row}:{dek_version}",
        table.len(),
        column.len(),
        row.len()
    )
    .into_bytes()
}

/// Seals `plaintext` for `table.column` of row `row` under `dek`.
pub fn seal_field(
    dek: &SecretKey,
    table: &str,
    column: &str,
    row: &str,
    plaintext: &[u8],
    rng: &dyn Rng,
) -> Vec<u8> {
    let mut out = vec![FIELD_V1];
    out.extend_from_slice(&DEK_VERSION.to_be_bytes());
    out.extend_from_slice(&secretbox::seal(
        dek,
        &field_aad(table, column, row, DEK_VERSION),
        plaintext,
        rng,
    ));
    out
}

/// Opens a field sealed by [`seal_field`] for the same table, column and row.
pub fn open_field(
    dek: &SecretKey,
    table: &str,
    column: &str,
    row: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let (&tag, rest) = sealed.split_first().ok_or(EnvelopeError::Format)?;
    if tag != FIELD_V1 {
        return Err(EnvelopeError::Format);
    }
    let version: [u8; 4] = rest
        .get(..4)
        .and_then(|v| v.try_into().ok())
        .ok_or(EnvelopeError::Format)?;
    let body = rest.get(4..).ok_or(EnvelopeError::Format)?;
    Ok(secretbox::open(
        dek,
        &field_aad(table, column, row, u32::from_be_bytes(version)),
        body,
    )?)
}

/// The unwrapped keys one store instance works with: KEKs and DEKs are cached after their
/// first unwrap (they change only by rotation, which re-wraps but keeps the DEK itself).
pub struct FieldKeys {
    master: SecretKey,
    blind: Zeroizing<[u8; 32]>,
    keks: Mutex<HashMap<u32, SecretKey>>,
    deks: Mutex<HashMap<String, SecretKey>>,
}

impl std::fmt::Debug for FieldKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldKeys").finish_non_exhaustive()
    }
}

/// Most DEKs kept unwrapped in memory; past it the cache starts over.
const DEK_CACHE: usize = 100_000;

impl FieldKeys {
    /// Keys over `master`; `blind` keys the email blind index.
    pub fn new(master: SecretKey, blind: Zeroizing<[u8; 32]>) -> Self {
        Self {
            master,
            blind,
            keks: Mutex::new(HashMap::new()),
            deks: Mutex::new(HashMap::new()),
        }
    }

    /// The blind index of a (normalised) email: hex HMAC-SHA256.
    pub fn blind_index(&self, value: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.blind.as_slice()) else {
            return String::new();
        };
        mac.update(b"portcullis:blind:email:v1:");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new KEK of `version`, sealed under the master key for storage. It is not cached:
    /// another node may store its own version first, so KEKs are only ever used as read
    /// back from the database.
    pub fn new_kek(&self, version: u32, rng: &dyn Rng) -> Vec<u8> {
        let kek = SecretKey::generate(rng);
        secretbox::seal(&self.master, &kek_aad(version), kek.expose(), rng)
    }

    /// The KEK of `version`, from its sealed form (cached).
    pub fn kek(&self, version: u32, sealed: &[u8]) -> Result<SecretKey, EnvelopeError> {
        if let Some(k) = self.keks.lock().ok().and_then(|m| m.get(&version).cloned()) {
            return Ok(k);
        }
        let raw = secretbox::open(&self.master, &kek_aad(version), sealed)?;
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| EnvelopeError::Open)?;
        let k = SecretKey::from_bytes(bytes);
        if let Ok(mut m) = self.keks.lock() {
            m.insert(version, k.clone());
        }
        Ok(k)
    }

    /// A new DEK for `subject`, and its wrapped form under `kek` (version `kek_version`).
    pub fn new_dek(
        &self,
        subject: &str,
        kek: &SecretKey,
        kek_version: u32,
        rng: &dyn Rng,
    ) -> (SecretKey, Vec<u8>) {
        let dek = SecretKey::generate(rng);
        let wrapped = self.wrap_dek(subject, &dek, kek, kek_version, rng);
        self.remember(subject, &dek);
        (dek, wrapped)
    }

    /// Wraps `dek` of `subject` under `kek`.
    pub fn wrap_dek(
        &self,
        subject: &str,
        dek: &SecretKey,
        kek: &SecretKey,
        kek_version: u32,
        rng: &dyn Rng,
    ) -> Vec<u8> {
        secretbox::seal(
            kek,
            &dek_aad(subject, DEK_VERSION, kek_version),
            dek.expose(),
            rng,
        )
    }

    /// The DEK of `subject` from its wrapped form (`None`: destroyed).
    pub fn dek(
        &self,
        subject: &str,
        kek: Option<&SecretKey>,
        kek_version: u32,
        wrapped: Option<&[u8]>,
    ) -> Result<SecretKey, EnvelopeError> {
        let wrapped = wrapped.ok_or(EnvelopeError::Destroyed)?;
        if let Some(k) = self.deks.lock().ok().and_then(|m| m.get(subject).cloned()) {
            return Ok(k);
        }
        let kek = kek.ok_or(EnvelopeError::Open)?;
        let raw = secretbox::open(kek, &dek_aad(subject, DEK_VERSION, kek_version), wrapped)?;
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| EnvelopeError::Open)?;
        let dek = SecretKey::from_bytes(bytes);
        self.remember(subject, &dek);
        Ok(dek)
    }

    /// Forgets a subject's DEK (it was destroyed).
    pub fn forget(&self, subject: &str) {
        if let Ok(mut m) = self.deks.lock() {
            m.remove(subject);
        }
    }

    fn remember(&self, subject: &str, dek: &SecretKey) {
        if let Ok(mut m) = self.deks.lock() {
            if m.len() >= DEK_CACHE {
                m.clear();
            }
            m.insert(subject.to_owned(), dek.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    #[test]
    fn fields_open_only_in_their_own_place() {
        let dek = SecretKey::generate(&OsRng);
        let c = seal_field(&dek, "users", "email", "u1", b"alice@example.com", &OsRng);
        assert_eq!(
            open_field(&dek, "users", "email", "u1", &c)
                .unwrap()
                .as_slice(),
            b"alice@example.com"
        );
        // Another row, another column, another table: refused.
        for (t, col, row) in [
            ("users", "email", "u2"),
            ("users", "display_name", "u1"),
            ("sessions", "email", "u1"),
            // The length prefixes keep shifted boundaries apart.
            ("users", "emai", "lu1"),
        ] {
            assert_eq!(
                open_field(&dek, t, col, row, &c).err(),
                Some(EnvelopeError::Open),
                "{t}.{col}#{row}"
            );
        }
        // Another DEK, a flipped bit, a truncated value, an unknown format.
        let other = SecretKey::generate(&OsRng);
        assert!(open_field(&other, "users", "email", "u1", &c).is_err());
        let mut bad = c.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_field(&dek, "users", "email", "u1", &bad).is_err());
        assert!(open_field(&dek, "users", "email", "u1", &c[..10]).is_err());
        assert_eq!(
            open_field(&dek, "users", "email", "u1", b"\x11abcd").err(),
            Some(EnvelopeError::Format)
        );
        assert_eq!(c[0], FIELD_V1);
        assert_eq!(&c[1..5], &DEK_VERSION.to_be_bytes());
    }

    #[test]
    fn deks_are_wrapped_per_subject_and_kek_version() {
        let keys = FieldKeys::new(SecretKey::generate(&OsRng), Zeroizing::new([3; 32]));
        let sealed_kek = keys.new_kek(1, &OsRng);
        let fresh = FieldKeys::new(keys.master.clone(), Zeroizing::new([3; 32]));
        let kek = fresh.kek(1, &sealed_kek).unwrap();
        assert!(
            fresh.kek(2, &sealed_kek).is_err(),
            "a KEK is bound to its version"
        );
        let (dek, wrapped) = keys.new_dek("alice", &kek, 1, &OsRng);
        let again = fresh.dek("alice", Some(&kek), 1, Some(&wrapped)).unwrap();
        assert_eq!(again.expose(), dek.expose());
        let fresh2 = FieldKeys::new(keys.master.clone(), Zeroizing::new([3; 32]));
        assert!(
            fresh2.dek("bob", Some(&kek), 1, Some(&wrapped)).is_err(),
            "a wrapped DEK is bound to its subject"
        );
        assert!(fresh2.dek("alice", Some(&kek), 2, Some(&wrapped)).is_err());
        assert_eq!(
            fresh2.dek("alice", Some(&kek), 1, None).err(),
            Some(EnvelopeError::Destroyed)
        );
        // Another master key cannot open the KEK.
        let stranger = FieldKeys::new(SecretKey::generate(&OsRng), Zeroizing::new([3; 32]));
        assert!(stranger.kek(1, &sealed_kek).is_err());
        // Blind index: deterministic per key, different under another key.
        assert_eq!(keys.blind_index("a@b.c"), fresh.blind_index("a@b.c"));
        assert_ne!(keys.blind_index("a@b.c"), keys.blind_index("a@b.d"));
        let other = FieldKeys::new(keys.master.clone(), Zeroizing::new([4; 32]));
        assert_ne!(keys.blind_index("a@b.c"), other.blind_index("a@b.c"));
    }
}
