// SQL injection blacklist checker - matches C implementation exactly

use super::sqli_data;

/// Check if a fingerprint is blacklisted
/// This matches libinjection_sqli_blacklist from the C version
pub fn is_blacklisted(fingerprint: &str) -> bool {
    // Match the C version: convert v0 fingerprint to v1 format
    // v0: up to 5 chars, mixed case
    // v1: '0' prefix, up to 5 more chars, upper case
    // (Portcullis: built on the stack rather than in a String; lookup_word upper-cases
    // ASCII letters as the loop here did.)
    if fingerprint.is_empty() || fingerprint.len() > 31 {
        return false;
    }
    let mut buf = [0u8; 32];
    buf[0] = b'0';
    let Some(rest) = buf.get_mut(1..=fingerprint.len()) else {
        return false;
    };
    rest.copy_from_slice(fingerprint.as_bytes());
    let Ok(fp2) = core::str::from_utf8(&buf[..=fingerprint.len()]) else {
        return false;
    };

    // Check if this fingerprint exists in the keywords table with type 'F'
    sqli_data::lookup_word(fp2) == crate::sqli::TokenType::Fingerprint
}