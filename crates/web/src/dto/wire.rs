//! What the OpenAPI document says about values beyond their JSON type, kept next to the
//! server's own check of the same rule so that the two cannot drift: patterns and whole
//! numbers.

use serde::{Deserialize, Deserializer};

/// An API key scope, as `portcullis_core::service::apikeys` checks it: 1 to 64 of letters,
/// digits and `: . _ - * /`.
pub const SCOPE_PATTERN: &str = "^[A-Za-z0-9:._*/-]{1,64}$";

/// A cursor: an id this API issued (a hyphenated UUID), or empty for the first page.
pub const CURSOR_PATTERN: &str =
    "^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})?$";

/// A label: no control characters (Unicode `Cc`), and something left after trimming.
pub const LABEL_PATTERN: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";

/// Canonical unpadded base64url (RFC 4648 §5), as WebAuthn's JSON encodings use it: no `=`,
/// no length that leaves a lone character, no stray bits in the last one.
pub const BASE64URL_PATTERN: &str =
    "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$";

/// True when `s` is canonical unpadded base64url ([`BASE64URL_PATTERN`]).
pub fn is_base64url(s: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .is_ok()
}

/// A JSON number that is a whole number, as JSON Schema's `integer` means it: `30` and `30.0`
/// alike (serde would refuse the second).
fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_i64() {
        return Ok(i128::from(v));
    }
    if let Some(v) = n.as_u64() {
        return Ok(i128::from(v));
    }
    match n.as_f64() {
        // Within ±2^53 a float is exact; beyond it, say so rather than round.
        #[allow(clippy::cast_possible_truncation)]
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(f as i128),
        _ => Err(serde::de::Error::custom(format!(
            "invalid type: {n}, expected a whole number"
        ))),
    }
}

fn whole_as<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let v = whole(d)?;
    T::try_from(v)
        .map_err(|_| serde::de::Error::custom(format!("{v} is out of range for this field")))
}

/// `#[serde(deserialize_with)]` for an `i64` sent as any whole JSON number.
pub fn whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole_as(d)
}

/// `#[serde(default, deserialize_with)]` for an optional `i64` (null is none).
pub fn opt_whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "whole_i64")] i64);
    Ok(Option::<W>::deserialize(d)?.map(|W(v)| v))
}

/// `#[serde(default, deserialize_with)]` for an optional `u32` (null is none).
pub fn opt_whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "whole_as")] u32);
    Ok(Option::<W>::deserialize(d)?.map(|W(v)| v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64url_is_canonical_and_unpadded() {
        // The same strings BASE64URL_PATTERN accepts and refuses.
        for s in [
            "", "AA", "AQ", "Ag", "zw", "AAA", "AAE", "abc", "AAAA", "a-_A",
        ] {
            assert!(is_base64url(s), "{s:?}");
        }
        for s in ["A", "AB", "ab", "AAB", "AA==", "AA=", "+/", "AAAAA", "a b"] {
            assert!(!is_base64url(s), "{s:?}");
        }
    }

    #[test]
    fn whole_numbers() {
        let p = |s: &str| -> Option<Option<u32>> {
            #[derive(Deserialize)]
            struct T(#[serde(deserialize_with = "opt_whole_u32")] Option<u32>);
            serde_json::from_str::<T>(s).ok().map(|T(v)| v)
        };
        assert_eq!(p("30"), Some(Some(30)));
        assert_eq!(p("30.0"), Some(Some(30)));
        assert_eq!(p("3e1"), Some(Some(30)));
        assert_eq!(p("null"), Some(None));
        assert_eq!(p("30.5"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("4294967296"), None);
        assert_eq!(p("\"30\""), None);
    }
}
