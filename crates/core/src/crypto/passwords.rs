//! Argon2id password hashing on a bounded blocking pool.
//!
//! At most `max_concurrent` hashes run at once (each holds `memory_kib` of memory), and at
//! most `max_queued` more wait; past that the caller is told to back off at once, so a login
//! flood can neither stall the async runtime nor exhaust memory.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::model::PasswordHash;
use crate::rand::{Rng, bytes};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

fn hash_blocking(
    params: Argon2Params,
    password: &SecretString,
    salt: &[u8],
) -> Result<PasswordHash, Error> {
    let h = params
        .argon2()?
        .hash_password_with_salt(password.expose_secret().as_bytes(), salt)
        .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
    Ok(PasswordHash(h.to_string()))
}

fn verify_blocking(params: Argon2Params, password: &SecretString, hash: &PasswordHash) -> bool {
    match params.argon2() {
        // The PHC string carries its own parameters; verification uses those.
        Ok(a) => a
            .verify_password(password.expose_secret().as_bytes(), hash.0.as_str())
            .is_ok(),
        Err(_) => false,
    }
}

/// The bounded hashing pool.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    dummy: PasswordHash,
}

impl PasswordHasher {
    /// Builds the pool; computes the dummy hash that unknown emails are checked against, so
    /// they cost the same time as real ones.
    pub fn new(
        params: Argon2Params,
        max_concurrent: usize,
        max_queued: usize,
        rng: &dyn Rng,
    ) -> Result<Self, Error> {
        let max_concurrent = max_concurrent.max(1);
        let salt: [u8; 16] = bytes(rng);
        let dummy_pw: [u8; 16] = bytes(rng);
        // On a thread of its own that ends with it: the allocator gives a finished thread's
        // memory back, so the hash's working memory (19 MiB with OWASP's parameters) does
        // not stay in an idle server's resident set.
        let dummy = std::thread::scope(|s| {
            s.spawn(|| hash_blocking(params, &SecretString::from(hex::encode(dummy_pw)), &salt))
                .join()
        })
        .map_err(|_| Error::Internal("the dummy password hash panicked".into()))??;
        Ok(Self {
            params,
            admission: Arc::new(Semaphore::new(max_concurrent + max_queued)),
            workers: Arc::new(Semaphore::new(max_concurrent)),
            dummy,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::RateLimited { retry_after: 1 })?;
        let _worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("hashing pool closed".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
    }

    /// Hashes a (normalised) password with a fresh salt.
    pub async fn hash(&self, password: SecretString, rng: &dyn Rng) -> Result<PasswordHash, Error> {
        let salt: [u8; 16] = bytes(rng);
        let params = self.params;
        self.run(move || hash_blocking(params, &password, &salt))
            .await?
    }

    /// Verifies a password against `hash`, or against the dummy when there is none, so that
    /// an unknown account takes as long as a wrong password.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<PasswordHash>,
    ) -> Result<bool, Error> {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        let params = self.params;
        let ok = self
            .run(move || verify_blocking(params, &password, &hash))
            .await?;
        Ok(ok && real)
    }

    /// True when `hash` was made with other parameters than the configured ones.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let want = format!(
            "m={},t={},p={}",
            self.params.memory_kib, self.params.iterations, self.params.parallelism
        );
        !(hash.0.starts_with("$argon2id$v=19$") && hash.0.contains(&want))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// RFC 9106, section 5.3: Argon2id test vector (with secret and associated data).
    #[test]
    fn rfc9106_argon2id_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .keyid(argon2::KeyId::new(&[]).unwrap_or_default())
            .data(argon2::AssociatedData::new(&[4u8; 12]).unwrap_or_default())
            .build();
        let Ok(params) = params else {
            unreachable!("valid parameters");
        };
        let secret = [3u8; 8];
        let Ok(a) = Argon2::new_with_secret(&secret, Algorithm::Argon2id, Version::V0x13, params)
        else {
            unreachable!("valid secret");
        };
        let mut out = [0u8; 32];
        assert!(
            a.hash_password_into(&[1u8; 32], &[2u8; 16], &mut out)
                .is_ok()
        );
        assert_eq!(
            hex::encode(out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(CHEAP, 2, 4, &OsRng);
        let Ok(h) = h else { unreachable!() };
        let hash = h.hash(SecretString::from("correct horse"), &OsRng).await;
        let Ok(hash) = hash else { unreachable!() };
        assert!(hash.0.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(matches!(
            h.verify(SecretString::from("correct horse"), Some(hash.clone()))
                .await,
            Ok(true)
        ));
        assert!(matches!(
            h.verify(SecretString::from("wrong horse"), Some(hash.clone()))
                .await,
            Ok(false)
        ));
        assert!(matches!(
            h.verify(SecretString::from("anything"), None).await,
            Ok(false)
        ));
        assert!(!h.needs_rehash(&hash));
        assert!(h.needs_rehash(&PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$x$y".into())));
    }

    #[tokio::test]
    async fn full_pool_rejects_at_once() {
        let Ok(h) = PasswordHasher::new(CHEAP, 1, 0, &OsRng) else {
            unreachable!()
        };
        let _held = h.admission.clone().try_acquire_owned();
        assert!(matches!(
            h.verify(SecretString::from("x"), None).await,
            Err(Error::RateLimited { .. })
        ));
    }
}
