//! API key format: `pcl_` + 32 base62 characters of randomness + a 6-character base62
//! CRC-32 checksum of everything before it. A secret scanner (or the gateway's DLP) can tell
//! a real key from a typo or a look-alike without a database lookup; the first 8 random
//! characters, with the `pcl_` prefix, are the public lookup prefix.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;

use crate::rand::Rng;

/// Every key starts with this.
pub const PREFIX: &str = "pcl_";
/// Random base62 characters (32 × log2(62) ≈ 190 bits).
pub const RANDOM_LEN: usize = 32;
/// Checksum characters.
pub const CHECKSUM_LEN: usize = 6;
/// Random characters that are part of the public prefix.
pub const LOOKUP_LEN: usize = 8;
/// Total length of a key.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC-32 (IEEE 802.3, reflected, as in zlib and PNG).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn base62_fixed(mut n: u64, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = BASE62.get((n % 62) as usize).copied().unwrap_or(b'0');
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn checksum(body: &str) -> String {
    base62_fixed(u64::from(crc32(body.as_bytes())), CHECKSUM_LEN)
}

/// A new key.
pub fn generate(rng: &dyn Rng) -> SecretString {
    let mut random = String::with_capacity(RANDOM_LEN);
    let mut buf = [0u8; 64];
    while random.len() < RANDOM_LEN {
        rng.fill(&mut buf);
        for &b in &buf {
            // Rejection sampling keeps the characters uniform: 248 = 4 × 62.
            if b < 248 && random.len() < RANDOM_LEN {
                random.push(char::from(
                    BASE62.get(usize::from(b % 62)).copied().unwrap_or(b'0'),
                ));
            }
        }
    }
    let body = format!("{PREFIX}{random}");
    let sum = checksum(&body);
    SecretString::from(format!("{body}{sum}"))
}

/// The public lookup prefix of a well-formed key (`pcl_` + 8 characters), or `None` when
/// the string is not a key: wrong length, alphabet or checksum.
pub fn parse(key: &str) -> Option<&str> {
    if key.len() != KEY_LEN || !key.starts_with(PREFIX) {
        return None;
    }
    let rest = key.get(PREFIX.len()..)?;
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, sum) = key.split_at(PREFIX.len() + RANDOM_LEN);
    if checksum(body) != sum {
        return None;
    }
    key.get(..PREFIX.len() + LOOKUP_LEN)
}

/// The stored form: HMAC-SHA-256 under a server secret, hex. A stolen table alone neither
/// authenticates nor lets anyone test guesses offline.
pub fn hash(server_key: &[u8], key: &str) -> String {
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(server_key) else {
        return String::new();
    };
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;
    use secrecy::ExposeSecret;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn keys_round_trip_and_typos_are_caught() {
        for _ in 0..200 {
            let k = generate(&OsRng);
            let k = k.expose_secret();
            assert_eq!(k.len(), KEY_LEN);
            assert_eq!(parse(k), k.get(..12));
            // Any single-character change is caught by the checksum (or the alphabet).
            let mut bytes = k.as_bytes().to_vec();
            let i = 4 + (k.len() - 5) / 2;
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(parse(&typo), None, "{typo}");
        }
        assert_eq!(parse("pcl_short"), None);
        assert_eq!(parse(&format!("xyz_{}", "a".repeat(38))), None);
        assert_eq!(parse(&format!("pcl_{}", "-".repeat(38))), None);
    }

    #[test]
    fn hashes_depend_on_the_server_key() {
        assert_ne!(hash(b"one", "pcl_x"), hash(b"two", "pcl_x"));
        assert_eq!(hash(b"one", "pcl_x").len(), 64);
    }
}
