//! The master key file: 32 random bytes, base64, created with mode 0600 when missing; a file
//! that group or others can read is refused.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::rand::Rng;
use zeroize::Zeroizing;

/// Why the key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// I/O failure.
    #[error("master key file {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Permissions too open.
    #[error(
        "master key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions {
        /// Path.
        path: String,
        /// The mode found.
        mode: u32,
    },
    /// Not a base64 32-byte key.
    #[error("master key file {path} does not hold a base64-encoded 32-byte key")]
    Format {
        /// Path.
        path: String,
    },
}

/// Loads the key, creating the file (and its directory, mode 0700) when missing.
pub fn load_or_create(path: &Path, rng: &dyn Rng) -> Result<SecretKey, KeyFileError> {
    if path.exists() {
        load(path)
    } else {
        create(path, rng)
    }
}

/// Makes a new key in a new file (mode 0600; its directory 0700 when made); never
/// overwrites one.
pub fn create(path: &Path, rng: &dyn Rng) -> Result<SecretKey, KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::create_dir_all(dir).map_err(io)?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let key = SecretKey::generate(rng);
    let encoded = Zeroizing::new(STANDARD.encode(key.expose()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(encoded.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(key)
}

/// Loads the key from an existing file; refused when group or others can read it.
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io {
        path: shown.clone(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: shown,
            mode: mode & 0o777,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let raw = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| KeyFileError::Format {
                path: shown.clone(),
            })?,
    );
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::Format { path: shown })?;
    Ok(SecretKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::rand::OsRng;

    #[test]
    fn creates_0600_and_reloads_the_same_key() {
        let dir = std::env::temp_dir().join(format!("pcl-key-{}-{}", std::process::id(), line!()));
        let path = dir.join("sub").join("master.key");
        let a = load_or_create(&path, &OsRng).map(|k| *k.expose());
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        let b = load_or_create(&path, &OsRng).map(|k| *k.expose());
        assert!(a.is_ok() && a.ok() == b.ok());
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        assert!(matches!(
            load_or_create(&path, &OsRng),
            Err(KeyFileError::Permissions { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
