//! `[keys]`: where the master key comes from.

use super::*;

/// Where the master key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// A key file, created with mode 0600 when missing.
    #[default]
    File,
    /// An environment variable holding the key (base64, 32 bytes).
    Env,
    /// A PKCS#11 token (not available in this build: start-up refuses it with a reason).
    Pkcs11,
    /// Shamir shares: the server starts sealed until enough shares are given.
    Shamir,
}

/// `[keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Source of the master key.
    pub source: KeySource,
    /// Path of the key file (`source = "file"`).
    pub master_key_file: PathBuf,
    /// Environment variable with the key (`source = "env"`).
    pub master_key_env: String,
    /// PKCS#11 module (`source = "pkcs11"`).
    pub pkcs11_module: Option<PathBuf>,
    /// PKCS#11 token label.
    pub pkcs11_token_label: Option<String>,
    /// Environment variable with the token PIN.
    pub pkcs11_pin_env: Option<String>,
    /// Label of the key on the token.
    pub pkcs11_key_label: Option<String>,
    /// Scheduled key-encryption-key rotation, in days; 0 = only by hand.
    pub rotate_every_days: u32,
    /// Data keys each node re-wraps every two seconds while a rotation is under way; 0 =
    /// none in the background (then `portcullis keys rotate` does the work).
    pub rewrap_batch: u32,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            source: KeySource::File,
            master_key_file: PathBuf::from("./portcullis-data/master.key"),
            master_key_env: "PORTCULLIS_MASTER_KEY".into(),
            pkcs11_module: None,
            pkcs11_token_label: None,
            pkcs11_pin_env: None,
            pkcs11_key_label: None,
            rotate_every_days: 0,
            rewrap_batch: 1000,
        }
    }
}
