//! Proof-of-work challenges in the ALTCHA protocol (v1): the server signs a SHA-256 puzzle,
//! the client searches for the number that solves it and sends back a base64 JSON payload,
//! and the server verifies the signature, the solution and the expiry, once.
//!
//! The puzzle is `challenge = hex(SHA-256(salt || number))` for a secret `number` drawn
//! uniformly from `0..=max_number`; finding it costs the client `max_number / 2` hashes on
//! average and the server one hash and one HMAC. `signature = hex(HMAC-SHA256(key,
//! challenge))` lets any node verify a challenge it did not issue, so nothing is stored
//! until the payload comes back; then its signature is remembered until it expires, so a
//! solution is accepted once.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::crypto::tokens::ct_eq;
use crate::rand::{Rng, bytes};

/// The only algorithm issued and accepted.
pub const ALGORITHM: &str = "SHA-256";
/// Largest `max_number` ever issued (about five seconds in a browser).
pub const MAX_DIFFICULTY: u64 = 10_000_000;
/// Longest accepted payload (base64), bytes.
pub const MAX_PAYLOAD_LEN: usize = 2048;

/// A challenge as sent to the client (the ALTCHA widget's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// `SHA-256`.
    pub algorithm: String,
    /// Hex SHA-256 of `salt || number`.
    pub challenge: String,
    /// The search space: the number is in `0..=maxnumber`.
    pub maxnumber: u64,
    /// The same, as newer ALTCHA clients spell it.
    #[serde(rename = "maxNumber")]
    pub max_number: u64,
    /// Random hex, then `?expires=<unix time>&`.
    pub salt: String,
    /// Hex HMAC-SHA256 of `challenge` under the server's key.
    pub signature: String,
}

/// Why a payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AltchaError {
    /// Not base64 JSON of the expected shape.
    #[error("the proof-of-work payload is malformed")]
    Malformed,
    /// Another algorithm than SHA-256.
    #[error("the proof-of-work algorithm is not SHA-256")]
    Algorithm,
    /// The salt carries no expiry, or it has passed.
    #[error("the proof-of-work challenge has expired")]
    Expired,
    /// The number does not solve the challenge, or the signature is not ours.
    #[error("the proof-of-work solution is wrong")]
    Invalid,
    /// The challenge was easier than the one required now.
    #[error("the proof-of-work challenge is too easy for the current risk")]
    TooEasy,
}

/// A solved challenge, as the client sends it back (base64 of this JSON).
#[derive(Debug, Deserialize)]
struct Payload {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// What a verified payload proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    /// The challenge's signature (hex): remember it until `expires_at` to accept it once.
    pub id: String,
    /// When the challenge expires.
    pub expires_at: UnixTime,
    /// The difficulty it was issued with.
    pub difficulty: u64,
}

fn hmac_hex(key: &[u8; 32], data: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Issues a challenge of `difficulty` (the search space, clamped to 1..=MAX_DIFFICULTY)
/// valid until `now + ttl`.
pub fn create(
    key: &[u8; 32],
    difficulty: u64,
    now: UnixTime,
    ttl: i64,
    rng: &dyn Rng,
) -> Challenge {
    let max_number = difficulty.clamp(1, MAX_DIFFICULTY);
    let nonce: [u8; 12] = bytes(rng);
    let r: [u8; 8] = bytes(rng);
    let number = u64::from_le_bytes(r) % (max_number + 1);
    // The difficulty rides in the salt (signed through the challenge), so a payload proves
    // how hard its puzzle was.
    let salt = format!(
        "{}?expires={}&difficulty={max_number}&",
        hex::encode(nonce),
        now.saturating_add(ttl)
    );
    let challenge = sha256_hex(format!("{salt}{number}").as_bytes());
    let signature = hmac_hex(key, challenge.as_bytes());
    Challenge {
        algorithm: ALGORITHM.to_owned(),
        challenge,
        maxnumber: max_number,
        max_number,
        salt,
        signature,
    }
}

/// The value of `name` in the salt's query part.
fn salt_param<'a>(salt: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = salt.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Verifies a payload (base64 JSON) against `key` at `now`, requiring at least
/// `min_difficulty`. Does not remember it: the caller records [`Solved::id`] so that a
/// payload works once.
pub fn verify(
    key: &[u8; 32],
    payload: &str,
    now: UnixTime,
    min_difficulty: u64,
) -> Result<Solved, AltchaError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(AltchaError::Malformed);
    }
    let raw = STANDARD
        .decode(payload.trim())
        .or_else(|_| URL_SAFE.decode(payload.trim()))
        .map_err(|_| AltchaError::Malformed)?;
    let p: Payload = serde_json::from_slice(&raw).map_err(|_| AltchaError::Malformed)?;
    if p.algorithm != ALGORITHM {
        return Err(AltchaError::Algorithm);
    }
    // The salt is hashed verbatim (with the splicing delimiter ALTCHA adds), so a duplicated
    // `expires` cannot make the expiry check read another value than the one signed: only
    // the first occurrence counts, and a salt with two is refused.
    let salt = if p.salt.ends_with('&') {
        p.salt.clone()
    } else {
        format!("{}&", p.salt)
    };
    let expected = sha256_hex(format!("{salt}{}", p.number).as_bytes());
    let signature = hmac_hex(key, expected.as_bytes());
    if !(ct_eq(expected.as_bytes(), p.challenge.as_bytes())
        && ct_eq(
            signature.as_bytes(),
            p.signature.to_ascii_lowercase().as_bytes(),
        ))
    {
        return Err(AltchaError::Invalid);
    }
    if salt.matches("expires=").count() != 1 || salt.matches("difficulty=").count() > 1 {
        return Err(AltchaError::Malformed);
    }
    let expires_at: UnixTime = salt_param(&salt, "expires")
        .and_then(|v| v.parse().ok())
        .ok_or(AltchaError::Expired)?;
    if expires_at < now {
        return Err(AltchaError::Expired);
    }
    let difficulty: u64 = salt_param(&salt, "difficulty")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if difficulty < min_difficulty {
        return Err(AltchaError::TooEasy);
    }
    Ok(Solved {
        id: expected,
        expires_at,
        difficulty,
    })
}

/// Solves a challenge by search (for tests and benchmarks; clients do this in JavaScript).
pub fn solve(c: &Challenge) -> Option<String> {
    (0..=c.max_number)
        .find(|n| sha256_hex(format!("{}{n}", c.salt).as_bytes()) == c.challenge)
        .map(|number| {
            let json = serde_json::json!({
                "algorithm": c.algorithm,
                "challenge": c.challenge,
                "number": number,
                "salt": c.salt,
                "signature": c.signature,
            });
            STANDARD.encode(json.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    fn key() -> [u8; 32] {
        [7u8; 32]
    }

    /// A challenge made by the reference implementation (the `altcha` Python package,
    /// v1 `create_challenge(hmac_key="altcha test key", salt="d1f2a3b4c5e6f708?expires=
    /// 1700000000", number=4321, max_number=10000)`): the hashing and signing agree.
    #[test]
    fn reference_vector() {
        let salt = "d1f2a3b4c5e6f708?expires=1700000000&";
        assert_eq!(
            sha256_hex(format!("{salt}4321").as_bytes()),
            "4555ebd6391b40c8b71ed5af966a0097e0e408a79da5dbaabf16813b17aec1bc"
        );
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(b"altcha test key") else {
            panic!("hmac key")
        };
        mac.update(b"4555ebd6391b40c8b71ed5af966a0097e0e408a79da5dbaabf16813b17aec1bc");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "2a375dc32ff8d3e46853143d5178fa0be9c6bcd64689d55b39f37b397737e27d"
        );
    }

    #[test]
    fn solved_challenges_verify_once_per_id_and_expire() {
        let c = create(&key(), 500, 1000, 60, &OsRng);
        assert_eq!(c.algorithm, "SHA-256");
        assert!(c.salt.ends_with('&') && c.salt.contains("expires=1060"));
        let p = solve(&c).unwrap_or_default();
        let s = verify(&key(), &p, 1000, 500).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.expires_at, s.difficulty), (1060, 500));
        assert_eq!(s.id, c.challenge);
        assert_eq!(verify(&key(), &p, 1061, 0), Err(AltchaError::Expired));
        assert_eq!(verify(&key(), &p, 1000, 501), Err(AltchaError::TooEasy));
        assert_eq!(verify(&[8u8; 32], &p, 1000, 0), Err(AltchaError::Invalid));
    }

    #[test]
    fn tampered_payloads_are_refused() {
        let c = create(&key(), 50, 1000, 60, &OsRng);
        let p = solve(&c).unwrap_or_default();
        let mut json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(&p).unwrap_or_default()).unwrap_or_default();
        // A wrong number.
        let n = json["number"].as_u64().unwrap_or(0);
        json["number"] = (n + 1).into();
        let bad = STANDARD.encode(json.to_string());
        assert_eq!(verify(&key(), &bad, 1000, 0), Err(AltchaError::Invalid));
        // A later expiry spliced into the salt.
        json["number"] = n.into();
        json["salt"] = format!("{}expires=9999999999&", c.salt).into();
        let bad = STANDARD.encode(json.to_string());
        assert_eq!(verify(&key(), &bad, 1000, 0), Err(AltchaError::Invalid));
        for junk in ["", "%%%", "bm90IGpzb24=", &"A".repeat(5000)] {
            assert_eq!(verify(&key(), junk, 1000, 0), Err(AltchaError::Malformed));
        }
        json["algorithm"] = "SHA-1".into();
        let bad = STANDARD.encode(json.to_string());
        assert_eq!(verify(&key(), &bad, 1000, 0), Err(AltchaError::Algorithm));
    }

    #[test]
    fn difficulty_is_clamped() {
        assert_eq!(create(&key(), 0, 0, 60, &OsRng).max_number, 1);
        assert_eq!(
            create(&key(), u64::MAX, 0, 60, &OsRng).max_number,
            MAX_DIFFICULTY
        );
    }
}
