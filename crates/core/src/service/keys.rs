//! Access-token signing keys: Ed25519, private halves sealed under the master key.
//!
//! A new key is published (JWKS, verifiers on every node) at once but only signs after
//! [`SIGNING_KEY_ACTIVATION_DELAY`], so no node meets a token signed by a key it has not
//! loaded yet. A superseded key stays published until the last token it signed has expired.

use std::sync::RwLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;

use crate::audit::{NewAuditEvent, Outcome};
use crate::clock::UnixTime;
use crate::crypto::jwt;
use crate::crypto::secretbox::{self, SecretKey};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::SigningKeyRecord;
use crate::rand::{Rng, bytes};
use crate::store::Store;

/// Seconds between adding a key and signing with it; longer than the key reload interval.
pub const SIGNING_KEY_ACTIVATION_DELAY: i64 = 30;
/// Extra seconds a superseded key stays published, for clock skew.
const PUBLISH_LEEWAY: i64 = 60;

struct LoadedKey {
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
    activates_at: UnixTime,
    /// When the next key takes over (None for the newest).
    superseded_at: Option<UnixTime>,
}

/// The loaded signing keys.
pub struct Keyring {
    master: SecretKey,
    access_ttl: i64,
    keys: RwLock<Vec<LoadedKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

fn aad(kid: &str) -> Vec<u8> {
    format!("portcullis:signing_key:v1:{kid}").into_bytes()
}

impl Keyring {
    /// An empty keyring over the master key; call [`Keyring::load`].
    pub fn new(master: SecretKey, access_ttl: i64) -> Self {
        Self {
            master,
            access_ttl,
            keys: RwLock::new(Vec::new()),
        }
    }

    /// Loads (and unseals) every stored key; creates the first one when there is none.
    pub async fn load(&self, store: &dyn Store, now: UnixTime, rng: &dyn Rng) -> Result<()> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let record = self.new_record(now, 0, rng);
            let mut tx = store.begin().await?;
            tx.insert_signing_key(&record).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "keys.signing.created", Outcome::Success)
                    .actor("system")
                    .target(record.kid.clone())
                    .details(json!({"activates_at": record.activates_at})),
            )
            .await?;
            tx.commit().await?;
            records = store.signing_keys().await?;
        }
        self.install(&records)
    }

    fn install(&self, records: &[SigningKeyRecord]) -> Result<()> {
        let mut loaded = Vec::with_capacity(records.len());
        for r in records {
            let raw = secretbox::open(&self.master, &aad(&r.kid), &r.sealed_private_key).map_err(
                |_| {
                    Error::Internal(format!(
                        "signing key {} does not open with this master key",
                        r.kid
                    ))
                },
            )?;
            let seed: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| Error::Internal("signing key has the wrong length".into()))?;
            let signing = SigningKey::from_bytes(&seed);
            let verifying = signing.verifying_key();
            if verifying.as_bytes() != &r.public_key {
                return Err(Error::Internal(format!(
                    "signing key {} does not match its public key",
                    r.kid
                )));
            }
            loaded.push(LoadedKey {
                kid: r.kid.clone(),
                signing,
                verifying,
                activates_at: r.activates_at,
                superseded_at: None,
            });
        }
        loaded.sort_by(|a, b| {
            a.activates_at
                .cmp(&b.activates_at)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        let next_starts: Vec<Option<UnixTime>> = loaded
            .iter()
            .skip(1)
            .map(|k| Some(k.activates_at))
            .chain([None])
            .collect();
        for (k, next) in loaded.iter_mut().zip(next_starts) {
            k.superseded_at = next;
        }
        let mut guard = self
            .keys
            .write()
            .map_err(|_| Error::Internal("keyring lock poisoned".into()))?;
        *guard = loaded;
        Ok(())
    }

    fn new_record(&self, now: UnixTime, delay: i64, rng: &dyn Rng) -> SigningKeyRecord {
        let seed: [u8; 32] = bytes(rng);
        let signing = SigningKey::from_bytes(&seed);
        let kid = new_id(now, rng);
        let sealed = secretbox::seal(&self.master, &aad(&kid), &seed, rng);
        SigningKeyRecord {
            kid,
            public_key: *signing.verifying_key().as_bytes(),
            sealed_private_key: sealed,
            created_at: now,
            activates_at: now + delay,
        }
    }

    /// Adds a signing key that starts signing after the activation delay.
    pub async fn rotate(
        &self,
        store: &dyn Store,
        now: UnixTime,
        actor: &str,
        rng: &dyn Rng,
    ) -> Result<String> {
        let record = self.new_record(now, SIGNING_KEY_ACTIVATION_DELAY, rng);
        let kid = record.kid.clone();
        let mut tx = store.begin().await?;
        tx.insert_signing_key(&record).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "keys.signing.rotated", Outcome::Success)
                .actor(actor)
                .target(kid.clone())
                .details(json!({"activates_at": record.activates_at})),
        )
        .await?;
        tx.commit().await?;
        self.install(&store.signing_keys().await?)?;
        Ok(kid)
    }

    /// Re-reads keys added by other nodes or the CLI.
    pub async fn reload(&self, store: &dyn Store) -> Result<()> {
        self.install(&store.signing_keys().await?)
    }

    fn published(&self, k: &LoadedKey, now: UnixTime) -> bool {
        k.superseded_at
            .is_none_or(|s| now < s + self.access_ttl + PUBLISH_LEEWAY)
    }

    /// Seals a secret under the master key, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8], rng: &dyn Rng) -> Vec<u8> {
        secretbox::seal(&self.master, aad, plaintext, rng)
    }

    /// Opens a value sealed by [`Keyring::seal`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        secretbox::open(&self.master, aad, sealed)
            .map_err(|_| Error::Internal("a sealed secret does not open".into()))
    }

    /// A 256-bit key for one purpose, derived from the master key (HMAC-SHA-256 of `label`).
    pub fn derive(&self, label: &str) -> zeroize::Zeroizing<[u8; 32]> {
        use hmac::{Hmac, KeyInit, Mac};
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.master.expose()) {
            mac.update(label.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Runs `f` with the key that signs at `now` (the newest activated one).
    fn with_active_key<T>(
        &self,
        now: UnixTime,
        f: impl FnOnce(&str, &ed25519_dalek::SigningKey) -> T,
    ) -> Result<T> {
        let keys = self
            .keys
            .read()
            .map_err(|_| Error::Internal("keyring lock poisoned".into()))?;
        let key = keys
            .iter()
            .rev()
            .find(|k| k.activates_at <= now)
            .or_else(|| keys.first())
            .ok_or_else(|| Error::Unavailable("no signing key loaded".into()))?;
        Ok(f(&key.kid, &key.signing))
    }

    /// Signs claims with the key active at `now`.
    pub fn sign(&self, claims: &jwt::Claims, now: UnixTime) -> Result<String> {
        self.with_active_key(now, |kid, key| jwt::sign(claims, kid, key))
    }

    /// Signs arbitrary JSON claims with the key active at `now` (header `typ` given).
    pub fn sign_value(
        &self,
        claims: &serde_json::Value,
        typ: &str,
        now: UnixTime,
    ) -> Result<String> {
        self.with_active_key(now, |kid, key| jwt::sign_value(claims, typ, kid, key))
    }

    /// Verifies a token's signature with a key published at `now`.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<jwt::Claims, jwt::JwtError> {
        let keys = self.keys.read().map_err(|_| jwt::JwtError::UnknownKey)?;
        jwt::verify(token, |kid| {
            keys.iter()
                .find(|k| k.kid == kid && self.published(k, now))
                .map(|k| k.verifying)
        })
    }

    /// Verifies any token's signature with a key published at `now`: its header `typ` and
    /// its claims.
    pub fn verify_json(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<(Option<String>, serde_json::Map<String, serde_json::Value>), jwt::JwtError> {
        let keys = self.keys.read().map_err(|_| jwt::JwtError::UnknownKey)?;
        jwt::verify_json(token, |kid| {
            keys.iter()
                .find(|k| k.kid == kid && self.published(k, now))
                .map(|k| k.verifying)
        })
    }

    /// The JWKS document.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let keys = self.keys.read().map(|keys| {
            keys.iter()
                .filter(|k| self.published(k, now))
                .map(|k| jwt::jwk(&k.kid, &k.verifying))
                .collect::<Vec<_>>()
        });
        json!({ "keys": keys.unwrap_or_default() })
    }
}
