//! The sealed-secret envelope (version byte, nonce, XChaCha20-Poly1305): arbitrary bytes
//! never open, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::secretbox::{self, SecretKey};

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::from_bytes([3; 32]);
    assert!(secretbox::open(&key, b"users.totp_secret:1", data).is_err());
});
