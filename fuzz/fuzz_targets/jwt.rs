//! Access tokens as they arrive in `Authorization: Bearer`: never a panic, and nothing
//! the fuzzer makes verifies (it cannot forge an Ed25519 signature of this key).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::jwt;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(jwt::verify(token, |_| Some(key)).is_err());
});
