//! The master key split into Shamir shares (GF(256), vsss-rs), for a sealed start: the
//! server holds no key until a threshold of key holders have each given their share.
//!
//! A share is one line of text: `pcs1-<threshold>-<set>-<base64url(x || y[32])>`, where
//! `set` (8 hex digits) names the split it belongs to, so shares of different splits are
//! refused instead of combining into a wrong key. Shares carry no integrity of their own;
//! what verifies a reconstruction is [`key_check`], an HMAC of a constant under the key,
//! stored (with the threshold and set) when the key is split. It reveals nothing usable
//! about the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::secretbox::SecretKey;

/// Most shares a split may have (GF(256) has 255 non-zero points).
pub const MAX_SHARES: u8 = 255;

/// What is stored about a split: enough to check a reconstruction, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    /// Shares needed.
    pub threshold: u8,
    /// Shares made.
    pub shares: u8,
    /// The split's id (8 hex digits), carried in each share.
    pub set: String,
    /// [`key_check`] of the master key (hex).
    pub check: String,
}

/// A parsed share.
#[derive(Clone)]
pub struct Share {
    /// Shares needed (as written in the share).
    pub threshold: u8,
    /// The split it belongs to.
    pub set: String,
    /// `x || y`: the point, 33 bytes.
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("threshold", &self.threshold)
            .field("set", &self.set)
            .field("x", &self.x())
            .finish_non_exhaustive()
    }
}

impl Share {
    /// The share's x coordinate (1..=255): two shares with the same x are the same share.
    pub fn x(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// Parses a share line; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let mut parts = text.splitn(4, '-');
        if parts.next() != Some("pcs1") {
            return Err("not a Portcullis key share (they start with `pcs1-`)");
        }
        let threshold: u8 = parts
            .next()
            .and_then(|t| t.parse().ok())
            .filter(|t| *t >= 2)
            .ok_or("the share's threshold is not a number from 2 to 255")?;
        let set = parts
            .next()
            .filter(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or("the share's set id is not 8 hex digits")?
            .to_ascii_lowercase();
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(parts.next().unwrap_or(""))
                .map_err(|_| "the share's value is not base64url")?,
        );
        if bytes.len() != 33 || bytes.first() == Some(&0) {
            return Err("the share's value has the wrong length");
        }
        Ok(Self {
            threshold,
            set,
            bytes,
        })
    }

    /// The share as one line of text.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "pcs1-{}-{}-{}",
            self.threshold,
            self.set,
            URL_SAFE_NO_PAD.encode(self.bytes.as_slice())
        ))
    }
}

/// HMAC-SHA256 of a fixed label under the key: checks a reconstruction.
pub fn key_check(key: &SecretKey) -> [u8; 32] {
    // HMAC takes keys of any length: the error branch cannot run, and would only make
    // every reconstruction fail (closed).
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()) else {
        return [0; 32];
    };
    mac.update(b"portcullis master key check v1");
    mac.finalize().into_bytes().into()
}

/// Why a split or a combination failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    /// Threshold and share count out of range.
    #[error("the threshold must be from 2 to the number of shares, and the shares at most 255")]
    Parameters,
    /// Shares of different splits, or different thresholds.
    #[error("the shares belong to different splits")]
    MixedSets,
    /// Not enough distinct shares.
    #[error("{have} distinct shares of {need} needed")]
    TooFew {
        /// Distinct shares given.
        have: usize,
        /// Threshold.
        need: usize,
    },
    /// The shares combine, but not into the key that was split.
    #[error("the shares do not reconstruct the master key")]
    WrongKey,
}

/// Splits `key` into `shares` shares of which `threshold` reconstruct it.
pub fn split(
    key: &SecretKey,
    shares: u8,
    threshold: u8,
    set: &str,
) -> Result<(Vec<Share>, SplitRecord), ShamirError> {
    if threshold < 2 || threshold > shares {
        return Err(ShamirError::Parameters);
    }
    let rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    let points = vsss_rs::Gf256::split_bytes(
        usize::from(threshold),
        usize::from(shares),
        key.expose(),
        rng,
    )
    .map_err(|_| ShamirError::Parameters)?;
    let out = points
        .into_iter()
        .map(|p| Share {
            threshold,
            set: set.to_owned(),
            bytes: Zeroizing::new(p),
        })
        .collect();
    Ok((
        out,
        SplitRecord {
            threshold,
            shares,
            set: set.to_owned(),
            check: hex::encode(key_check(key)),
        },
    ))
}

/// Combines shares into the master key and checks it against `record`.
pub fn combine(shares: &[Share], record: &SplitRecord) -> Result<SecretKey, ShamirError> {
    if shares
        .iter()
        .any(|s| s.set != record.set || s.threshold != record.threshold)
    {
        return Err(ShamirError::MixedSets);
    }
    let mut distinct: Vec<Vec<u8>> = Vec::new();
    for s in shares {
        if !distinct.iter().any(|d| d.first() == Some(&s.x())) {
            distinct.push(s.bytes.to_vec());
        }
    }
    let distinct = Zeroizing::new(distinct);
    if distinct.len() < usize::from(record.threshold) {
        return Err(ShamirError::TooFew {
            have: distinct.len(),
            need: usize::from(record.threshold),
        });
    }
    let secret = Zeroizing::new(
        vsss_rs::Gf256::combine_bytes(distinct.as_slice()).map_err(|_| ShamirError::WrongKey)?,
    );
    let raw: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| ShamirError::WrongKey)?;
    let key = SecretKey::from_bytes(raw);
    let expected = hex::decode(&record.check).map_err(|_| ShamirError::WrongKey)?;
    if bool::from(key_check(&key).ct_eq(expected.as_slice())) {
        Ok(key)
    } else {
        Err(ShamirError::WrongKey)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(core::array::from_fn(|i| i as u8 * 7 + 1))
    }

    #[test]
    fn any_threshold_subset_reconstructs_and_fewer_do_not() {
        let (shares, record) = split(&key(), 5, 3, "0a1b2c3d").unwrap();
        assert_eq!(shares.len(), 5);
        for a in 0..5 {
            for b in a + 1..5 {
                let two = [shares[a].clone(), shares[b].clone()];
                assert_eq!(
                    combine(&two, &record).err(),
                    Some(ShamirError::TooFew { have: 2, need: 3 })
                );
                for c in b + 1..5 {
                    let three = [shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    let k = combine(&three, &record).unwrap();
                    assert_eq!(k.expose(), key().expose());
                }
            }
        }
        // A repeated share counts once.
        let dup = [shares[0].clone(), shares[0].clone(), shares[1].clone()];
        assert!(matches!(
            combine(&dup, &record),
            Err(ShamirError::TooFew { have: 2, .. })
        ));
    }

    #[test]
    fn shares_round_trip_as_text_and_damage_is_caught() {
        let (shares, record) = split(&key(), 3, 2, "deadbeef").unwrap();
        let text: Vec<_> = shares.iter().map(|s| s.encode()).collect();
        assert!(text[0].starts_with("pcs1-2-deadbeef-"));
        let parsed: Vec<_> = text.iter().map(|t| Share::parse(t).unwrap()).collect();
        assert_eq!(
            combine(&parsed[..2], &record).unwrap().expose(),
            key().expose()
        );
        // One byte of one share changed: combines into another key, which the check refuses.
        let mut bad = parsed[1].clone();
        bad.bytes[5] ^= 1;
        assert_eq!(
            combine(&[parsed[0].clone(), bad], &record).err(),
            Some(ShamirError::WrongKey)
        );
        // A share of another split.
        let (other, _) = split(&key(), 3, 2, "01234567").unwrap();
        assert_eq!(
            combine(&[parsed[0].clone(), other[1].clone()], &record).err(),
            Some(ShamirError::MixedSets)
        );
        for junk in [
            "",
            "pcs1",
            "pcs2-2-deadbeef-AAAA",
            "pcs1-1-deadbeef-AAAA",
            "pcs1-2-xyz-AAAA",
            "pcs1-2-deadbeef-!!",
            "pcs1-2-deadbeef-AAAA",
        ] {
            assert!(Share::parse(junk).is_err(), "{junk}");
        }
        assert!(split(&key(), 3, 4, "deadbeef").is_err());
        assert!(split(&key(), 3, 1, "deadbeef").is_err());
    }

    /// A fixed vector, computed by hand in GF(2^8) with the AES polynomial: the secret byte
    /// 0x53 on the line f(x) = 0x53 + 0xCA·x gives f(1) = 0x99 and f(2) = 0x53 ^ 0xCA·2.
    /// Lagrange interpolation at 0 of (1, 0x99), (2, f(2)) must give 0x53 back.
    #[test]
    fn interpolation_matches_a_hand_computed_vector() {
        fn gmul(mut a: u8, mut b: u8) -> u8 {
            let mut p = 0u8;
            while b != 0 {
                if b & 1 != 0 {
                    p ^= a;
                }
                let hi = a & 0x80;
                a <<= 1;
                if hi != 0 {
                    a ^= 0x1b;
                }
                b >>= 1;
            }
            p
        }
        let f = |x: u8| 0x53 ^ gmul(0xca, x);
        assert_eq!(f(1), 0x99);
        let shares = vec![vec![1u8, f(1)], vec![2u8, f(2)]];
        assert_eq!(vsss_rs::Gf256::combine_bytes(&shares).unwrap(), vec![0x53]);
    }
}
