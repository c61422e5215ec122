//! Known devices: a random device id in a cookie the server signs, and a keyed hash of the
//! stable request headers as a weaker, privacy-preserving fingerprint (the raw headers are
//! never stored, and the hash is useless without the server's key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::tokens::ct_eq;
use crate::rand::{Rng, bytes};

/// The cookie's name.
pub const COOKIE: &str = "pcl_device";
/// Longest cookie value accepted.
const MAX_COOKIE_LEN: usize = 128;

fn mac(key: &[u8; 32], label: &[u8], data: &[u8]) -> Vec<u8> {
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    m.update(label);
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// A new random device id (128 bits, base64url).
pub fn new_device_id(rng: &dyn Rng) -> String {
    let b: [u8; 16] = bytes(rng);
    URL_SAFE_NO_PAD.encode(b)
}

/// The cookie value for device `id`: `id.mac`.
pub fn cookie_value(key: &[u8; 32], id: &str) -> String {
    let tag = mac(key, b"portcullis-device-v1:", id.as_bytes());
    format!("{id}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The device id of a cookie value, when its MAC is ours.
pub fn verify_cookie(key: &[u8; 32], value: &str) -> Option<String> {
    if value.len() > MAX_COOKIE_LEN {
        return None;
    }
    let (id, tag) = value.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && ct_eq(&mac(key, b"portcullis-device-v1:", id.as_bytes()), &tag);
    ok.then(|| id.to_owned())
}

/// A keyed hash of stable request headers (User-Agent, Accept-Language, client hints),
/// `fp:<hex>`; `None` when none of them was sent.
pub fn fingerprint(key: &[u8; 32], headers: &[Option<&str>]) -> Option<String> {
    if headers.iter().all(Option::is_none) {
        return None;
    }
    let joined: Vec<u8> = headers
        .iter()
        .flat_map(|h| h.unwrap_or("").bytes().chain(std::iter::once(0)))
        .collect();
    let tag = mac(key, b"portcullis-fingerprint-v1:", &joined);
    Some(format!("fp:{}", hex::encode(tag.get(..16).unwrap_or(&tag))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    #[test]
    fn cookies_verify_only_with_our_key_and_unaltered() {
        let k = [3u8; 32];
        let id = new_device_id(&OsRng);
        let v = cookie_value(&k, &id);
        assert_eq!(verify_cookie(&k, &v), Some(id.clone()));
        assert_eq!(verify_cookie(&[4u8; 32], &v), None);
        let other = new_device_id(&OsRng);
        let tag = v.split_once('.').map(|(_, t)| t).unwrap_or("");
        assert_eq!(verify_cookie(&k, &format!("{other}.{tag}")), None);
        for junk in ["", ".", "abc", "a.b.c", "\u{0}.x", &"a".repeat(300)] {
            assert_eq!(verify_cookie(&k, junk), None, "{junk}");
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let k = [3u8; 32];
        let h = [Some("Mozilla/5.0"), Some("en-GB"), None];
        let a = fingerprint(&k, &h);
        assert_eq!(a, fingerprint(&k, &h));
        assert!(
            a.as_deref()
                .is_some_and(|f| f.starts_with("fp:") && f.len() == 35)
        );
        assert_ne!(a, fingerprint(&[5u8; 32], &h));
        assert_ne!(a, fingerprint(&k, &[Some("Mozilla/5.0"), Some("fr"), None]));
        // Field boundaries count: moving text between headers changes the hash.
        assert_ne!(
            fingerprint(&k, &[Some("ab"), Some("c")]),
            fingerprint(&k, &[Some("a"), Some("bc")])
        );
        assert_eq!(fingerprint(&k, &[None, None]), None);
    }
}
