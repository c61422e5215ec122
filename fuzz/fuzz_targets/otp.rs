//! What users type as TOTP codes, and base32 secrets: never a panic; only six digits can
//! ever be accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::totp;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = totp::base32_decode(s);
    let secret = b"12345678901234567890";
    let check = totp::verify(secret, s, 1_700_000_000, Some(56_666_665));
    if matches!(check, totp::TotpCheck::Valid(_)) {
        let trimmed: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()));
    }
});
