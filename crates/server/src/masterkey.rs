//! Where the master key comes from (`[keys] source`): a key file, an environment variable,
//! or Shamir shares given to a sealed server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::config::{Config, KeySource};
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::crypto::shamir::{self, Share, SplitRecord};
use portcullis_core::rand::Rng;
use portcullis_core::store::Store;
use zeroize::Zeroizing;

use crate::app::Create;
use crate::keyfile;

/// Environment variable with shares (one per line) for CLI commands on a Shamir key.
pub const SHARES_ENV: &str = "PORTCULLIS_UNSEAL_SHARES";
/// The `key_meta` entry that holds the split record.
pub const SHAMIR_META: &str = "shamir";

/// The master key, or what is needed to reconstruct it.
pub enum Master {
    /// Available now.
    Ready(SecretKey),
    /// Split into shares: the server starts sealed.
    Sealed(SplitRecord),
}

/// Why the key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Key file.
    #[error(transparent)]
    File(#[from] keyfile::KeyFileError),
    /// Anything else, with what to do.
    #[error("{0}")]
    Config(String),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] portcullis_core::store::StoreError),
}

/// The `key_meta` entry holding the master key's check value (an HMAC of a fixed text under
/// the key, as HSMs' key check values): a wrong key is named as such at start, instead of
/// failing later on the first sealed value it cannot open.
pub const KEY_CHECK_META: &str = "master_key_check";
const KEY_CHECK_TEXT: &str = "portcullis master key check v1";

/// Where the configured master key comes from, for messages.
fn source_of(config: &Config) -> String {
    match config.keys.source {
        KeySource::File => format!("the master key file {}", crate::datadir::key_file(config)),
        KeySource::Env => format!("the environment variable {}", config.keys.master_key_env),
        KeySource::Pkcs11 => "the PKCS#11 token".to_owned(),
        KeySource::Shamir => "the Shamir shares".to_owned(),
    }
}

/// Refuses a master key whose check value differs from the one the database recorded.
pub async fn verify_key_check(
    config: &Config,
    store: &dyn Store,
    key: &SecretKey,
) -> Result<(), MasterKeyError> {
    let Some(stored) = store.key_meta(KEY_CHECK_META).await? else {
        return Ok(());
    };
    let stored: String = serde_json::from_str(&stored).unwrap_or_default();
    let ok = hex::decode(stored.as_bytes()).is_ok_and(|mac| {
        portcullis_core::crypto::httpsig::verify_hmac_sha256(key.expose(), KEY_CHECK_TEXT, &mac)
    });
    if ok {
        return Ok(());
    }
    Err(MasterKeyError::Config(format!(
        "{} is not the master key of the {}: the database was sealed under another key. Restore the key that belongs to this database from your backup (see the README, \"Where the data is; backup and restore\"); nothing was changed",
        source_of(config),
        crate::datadir::database(config)
    )))
}

/// Records the check value of a master key that has just opened the database, when none is
/// recorded yet (a new database, or one from before check values).
pub async fn record_key_check(store: &dyn Store, key: &SecretKey) -> Result<(), MasterKeyError> {
    if store.key_meta(KEY_CHECK_META).await?.is_some() {
        return Ok(());
    }
    let mac = hex::encode(portcullis_core::crypto::httpsig::sign_hmac_sha256(
        key.expose(),
        KEY_CHECK_TEXT,
    ));
    let json = serde_json::to_string(&mac).map_err(|e| MasterKeyError::Config(e.to_string()))?;
    let now = portcullis_core::clock::Clock::now(&portcullis_core::clock::SystemClock);
    let mut tx = store.begin().await?;
    match tx.insert_key_meta(KEY_CHECK_META, &json, now).await {
        // Another node recorded it first: the same value.
        Err(portcullis_core::store::StoreError::Conflict(_)) => return Ok(()),
        r => r?,
    }
    tx.commit().await?;
    Ok(())
}

/// Resolves the configured source. With `source = "shamir"`, shares in
/// [`SHARES_ENV`] unseal at once (for CLI commands); otherwise the result is `Sealed`.
/// With [`Create::Never`] no master key is made, and none is ever made for a database that
/// already holds data sealed under one.
pub async fn resolve(
    config: &Config,
    store: &dyn Store,
    rng: &dyn Rng,
    create: Create,
) -> Result<Master, MasterKeyError> {
    let keys = &config.keys;
    match keys.source {
        KeySource::File => from_file(config, store, rng, create)
            .await
            .map(Master::Ready),
        KeySource::Env => from_env(&keys.master_key_env).map(Master::Ready),
        KeySource::Pkcs11 => from_token(config, store, rng, create)
            .await
            .map(Master::Ready),
        KeySource::Shamir => {
            let record = split_record(store).await?.ok_or_else(|| {
                MasterKeyError::Config(
                    "keys.source = \"shamir\" but the master key has not been split: run `portcullis keys split --shares N --threshold K` first".into(),
                )
            })?;
            match std::env::var(SHARES_ENV) {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    let shares = text
                        .split(['\n', ',', ' '])
                        .filter(|l| !l.trim().is_empty())
                        .map(Share::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| MasterKeyError::Config(format!("{SHARES_ENV}: {e}")))?;
                    shamir::combine(&shares, &record)
                        .map(Master::Ready)
                        .map_err(|e| MasterKeyError::Config(format!("{SHARES_ENV}: {e}")))
                }
                Err(_) => Ok(Master::Sealed(record)),
            }
        }
    }
}

/// Whether the database holds anything sealed under a master key (signing keys, KEKs, the
/// internal CA, a PKCS#11 or Shamir key record): a new key could open none of it.
pub async fn holds_sealed_data(store: &dyn Store) -> Result<bool, MasterKeyError> {
    Ok(!store.signing_keys().await?.is_empty()
        || store.kek_status().await?.current > 0
        || store.internal_ca().await?.is_some()
        || store.key_meta(PKCS11_META).await?.is_some()
        || store.key_meta(SHAMIR_META).await?.is_some())
}

/// The master key file: loaded when it exists; made on the first start of an empty
/// database (and said where, to be backed up); refused otherwise, naming the file expected.
async fn from_file(
    config: &Config,
    store: &dyn Store,
    rng: &dyn Rng,
    create: Create,
) -> Result<SecretKey, MasterKeyError> {
    let path = &config.keys.master_key_file;
    if path.exists() {
        return Ok(keyfile::load(path)?);
    }
    let expected = crate::datadir::key_file(config);
    if create == Create::Never {
        return Err(MasterKeyError::Config(format!(
            "no master key file at {expected}; this command creates none"
        )));
    }
    if holds_sealed_data(store).await? {
        return Err(MasterKeyError::Config(format!(
            "the master key file {expected} is missing, but the {} holds data sealed under a master key: restore that file from your backup (or point keys.master_key_file at it); a new key would open nothing, so none is made",
            crate::datadir::database(config)
        )));
    }
    let key = keyfile::create(path, rng)?;
    tracing::warn!(
        path = %expected,
        "created a new master key at {expected}: back it up now, with the database; without it nothing sealed in the database can be read"
    );
    Ok(key)
}

/// The `key_meta` entry that holds the master key as the PKCS#11 token encrypted it.
pub const PKCS11_META: &str = "pkcs11";

/// The master key from the PKCS#11 token: opened by the token at every start; made, and
/// encrypted by the token, on the first (audited `keys.master.created`).
async fn from_token(
    config: &Config,
    store: &dyn Store,
    rng: &dyn Rng,
    create: Create,
) -> Result<SecretKey, MasterKeyError> {
    if let Some(json) = store.key_meta(PKCS11_META).await? {
        let stored: crate::pkcs11::WrappedMaster = serde_json::from_str(&json).map_err(|e| {
            MasterKeyError::Config(format!(
                "the stored PKCS#11 master key record is damaged: {e}"
            ))
        })?;
        return crate::pkcs11::unwrap(&config.keys, &stored).map_err(MasterKeyError::Config);
    }
    if create == Create::Never {
        return Err(MasterKeyError::Config(
            "no PKCS#11 master key is recorded in this database; this command creates none".into(),
        ));
    }
    if holds_sealed_data(store).await? {
        return Err(MasterKeyError::Config(
            "keys.source = \"pkcs11\" on a database whose secrets are sealed under another master key; PKCS#11 must be chosen before the first start".into(),
        ));
    }
    let (key, wrapped) =
        crate::pkcs11::create(&config.keys, rng).map_err(MasterKeyError::Config)?;
    store_key_meta(
        store,
        PKCS11_META,
        &wrapped,
        "system",
        "keys.master.created",
        serde_json::json!({"source": "pkcs11", "token_key": wrapped.key_label}),
    )
    .await?;
    tracing::info!(token_key = %wrapped.key_label, "created the master key, encrypted by the PKCS#11 token");
    Ok(key)
}

/// Stores what is kept about the master key under `name` (JSON), audited as `action` in
/// the same transaction; `Conflict` when it was stored before.
pub async fn store_key_meta(
    store: &dyn Store,
    name: &str,
    value: &impl serde::Serialize,
    actor: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), MasterKeyError> {
    use portcullis_core::audit::{NewAuditEvent, Outcome};
    let json = serde_json::to_string(value).map_err(|e| MasterKeyError::Config(e.to_string()))?;
    let now = portcullis_core::clock::Clock::now(&portcullis_core::clock::SystemClock);
    let mut tx = store.begin().await?;
    tx.insert_key_meta(name, &json, now).await?;
    tx.append_audit(
        &NewAuditEvent::new(now, action, Outcome::Success)
            .actor(actor.to_owned())
            .details(details),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The stored split record, if the key was split.
pub async fn split_record(store: &dyn Store) -> Result<Option<SplitRecord>, MasterKeyError> {
    match store.key_meta(SHAMIR_META).await? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
            MasterKeyError::Config(format!("the stored Shamir split record is damaged: {e}"))
        }),
    }
}

/// Reads a base64 32-byte key from the environment variable `name`.
pub fn from_env(name: &str) -> Result<SecretKey, MasterKeyError> {
    let value = Zeroizing::new(std::env::var(name).map_err(|_| {
        MasterKeyError::Config(format!(
            "keys.source = \"env\": the environment variable {name} is not set (32 random bytes, base64: `head -c 32 /dev/urandom | base64`)"
        ))
    })?);
    let raw = Zeroizing::new(
        STANDARD
            .decode(value.trim())
            .map_err(|_| MasterKeyError::Config(format!("{name} is not base64")))?,
    );
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| MasterKeyError::Config(format!("{name} must hold exactly 32 bytes")))?;
    Ok(SecretKey::from_bytes(bytes))
}
