//! API key format and checksum (`pcl_` + 32 base62 + 6-character CRC-32 checksum).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::apikey;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(prefix) = apikey::parse(s) {
        // A key that parses has the documented shape, and its lookup prefix is its start.
        assert!(s.starts_with("pcl_") && s.starts_with(prefix));
        assert!(s.bytes().skip(4).all(|b| b.is_ascii_alphanumeric()));
    }
});
