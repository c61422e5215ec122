//! Personal-field ciphertexts (`0x10 || dek_version || secretbox`) and Shamir key shares
//! (`pcs1-...`): arbitrary input never opens, never combines into the key, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::envelope;
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::crypto::shamir::{self, Share, SplitRecord};

fuzz_target!(|data: &[u8]| {
    let dek = SecretKey::from_bytes([5; 32]);
    assert!(envelope::open_field(&dek, "users", "email", "u1", data).is_err());
    if let Ok(text) = std::str::from_utf8(data) {
        let record = SplitRecord {
            threshold: 2,
            shares: 3,
            set: "0a0b0c0d".into(),
            check: "00".repeat(32),
        };
        let shares: Vec<Share> = text.lines().filter_map(|l| Share::parse(l).ok()).collect();
        assert!(shamir::combine(&shares, &record).is_err());
    }
});
