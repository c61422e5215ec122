//! The master key protected by a PKCS#11 token (an HSM, or SoftHSM2 in tests).
//!
//! An AES-256 key lives on the token, created there on first use as sensitive and
//! non-extractable: it never leaves the token. It encrypts the master key with AES-GCM
//! inside the token; only that ciphertext is stored (in `key_meta`). At every start the
//! token decrypts it. Without the token and its PIN the database is useless.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use portcullis_core::config::KeysConfig;
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::rand::{Rng, bytes};
use zeroize::Zeroizing;

/// What is stored: the master key encrypted by the token's key.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WrappedMaster {
    /// Label of the token key that encrypted it.
    pub key_label: String,
    /// AES-GCM IV (base64).
    pub iv: String,
    /// Ciphertext and tag (base64).
    pub ciphertext: String,
}

const AAD: &[u8] = b"portcullis:master-key:pkcs11:v1";

/// A logged-in session; the library stays loaded until the session is gone (fields drop
/// in order).
struct Token {
    session: Session,
    _ctx: Pkcs11,
}

impl Drop for Token {
    fn drop(&mut self) {
        let _ = self.session.logout();
    }
}

fn setting<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("keys.source = \"pkcs11\" needs keys.{name}"))
}

fn open(cfg: &KeysConfig) -> Result<Token, String> {
    let module = cfg
        .pkcs11_module
        .as_ref()
        .ok_or("keys.source = \"pkcs11\" needs keys.pkcs11_module")?;
    let label = setting(&cfg.pkcs11_token_label, "pkcs11_token_label")?;
    let pin_env = setting(&cfg.pkcs11_pin_env, "pkcs11_pin_env")?;
    let pin = Zeroizing::new(
        std::env::var(pin_env)
            .map_err(|_| format!("the PKCS#11 PIN variable {pin_env} is not set"))?,
    );
    let ctx =
        Pkcs11::new(module).map_err(|e| format!("PKCS#11 module {}: {e}", module.display()))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("PKCS#11 initialize: {e}"))?;
    let slot = ctx
        .get_slots_with_token()
        .map_err(|e| format!("PKCS#11 slots: {e}"))?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|t| t.label().trim_end() == label)
                .unwrap_or(false)
        })
        .ok_or_else(|| format!("no PKCS#11 token labelled `{label}`"))?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| format!("PKCS#11 session: {e}"))?;
    session
        .login(UserType::User, Some(&pin.as_str().into()))
        .map_err(|e| format!("PKCS#11 login to `{label}` (wrong PIN?): {e}"))?;
    Ok(Token { session, _ctx: ctx })
}

fn find_key(t: &Token, label: &str) -> Result<Option<ObjectHandle>, String> {
    t.session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map(|v| v.into_iter().next())
        .map_err(|e| format!("PKCS#11 find key `{label}`: {e}"))
}

fn key_label(cfg: &KeysConfig) -> Result<&str, String> {
    setting(&cfg.pkcs11_key_label, "pkcs11_key_label")
}

/// Opens the stored master key on the token.
pub fn unwrap(cfg: &KeysConfig, stored: &WrappedMaster) -> Result<SecretKey, String> {
    let t = open(cfg)?;
    let key = find_key(&t, &stored.key_label)?.ok_or_else(|| {
        format!(
            "the PKCS#11 key `{}` that protects the master key is not on the token",
            stored.key_label
        )
    })?;
    let mut iv = STANDARD
        .decode(&stored.iv)
        .map_err(|_| "the stored PKCS#11 IV is damaged".to_owned())?;
    let ct = STANDARD
        .decode(&stored.ciphertext)
        .map_err(|_| "the stored wrapped master key is damaged".to_owned())?;
    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(|e| e.to_string())?;
    let plain = Zeroizing::new(
        t.session
            .decrypt(&Mechanism::AesGcm(params), key, &ct)
            .map_err(|e| format!("the token did not open the master key: {e}"))?,
    );
    let raw: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| "the token returned a key of the wrong length".to_owned())?;
    Ok(SecretKey::from_bytes(raw))
}

/// First start: creates the token key when missing (sensitive, non-extractable), makes a
/// master key and has the token encrypt it.
pub fn create(cfg: &KeysConfig, rng: &dyn Rng) -> Result<(SecretKey, WrappedMaster), String> {
    let t = open(cfg)?;
    let label = key_label(cfg)?;
    let key = match find_key(&t, label)? {
        Some(k) => k,
        None => t
            .session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .map_err(|e| format!("PKCS#11 generate key `{label}`: {e}"))?,
    };
    let master = SecretKey::generate(rng);
    let iv_bytes: [u8; 12] = bytes(rng);
    let mut iv = iv_bytes.to_vec();
    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(|e| e.to_string())?;
    let ct = t
        .session
        .encrypt(&Mechanism::AesGcm(params), key, master.expose())
        .map_err(|e| format!("the token did not encrypt the master key: {e}"))?;
    Ok((
        master,
        WrappedMaster {
            key_label: label.to_owned(),
            iv: STANDARD.encode(iv_bytes),
            ciphertext: STANDARD.encode(ct),
        },
    ))
}
