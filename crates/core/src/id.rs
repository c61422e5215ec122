//! Opaque identifiers: UUIDv7, time-ordered so that cursors and "oldest first" are cheap.

use crate::clock::UnixTime;
use crate::rand::{Rng, bytes};

/// A new UUIDv7 string from the given time and randomness.
pub fn new_id(now: UnixTime, rng: &dyn Rng) -> String {
    let rand: [u8; 10] = bytes(rng);
    let millis = u64::try_from(now).unwrap_or(0).saturating_mul(1000)
        + u64::from(u16::from_be_bytes([rand[0], rand[1]]) % 1000);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand)
        .into_uuid()
        .to_string()
}

/// True when `s` looks like an id this system issues (a hyphenated UUID).
pub fn is_valid_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::OsRng;

    #[test]
    fn ids_are_uuid_v7_and_ordered_by_time() {
        let a = new_id(1_000, &OsRng);
        let b = new_id(2_000, &OsRng);
        assert!(is_valid_id(&a));
        assert_eq!(
            uuid::Uuid::parse_str(&a).map(|u| u.get_version_num()).ok(),
            Some(7)
        );
        assert!(a < b);
        assert!(!is_valid_id("not-an-id"));
    }
}
