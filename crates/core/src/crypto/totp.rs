//! HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA-1, 6 digits, 30-second steps, and the
//! base32 (RFC 4648) encoding authenticator apps use for secrets.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per TOTP step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226 section 4).
pub const SECRET_LEN: usize = 20;

/// HOTP value of `counter`, truncated to `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h.last().copied().unwrap_or(0) & 0x0f);
    let word = h
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    (word & 0x7fff_ffff) % 10u32.pow(digits)
}

/// The TOTP step containing `unix_time`.
pub fn step_of(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP)
}

/// The code of `step`, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let v = hotp(secret, u64::try_from(step).unwrap_or(0), DIGITS);
    format!("{v:0width$}", width = DIGITS as usize)
}

/// Outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The code matches this step, which was not used before.
    Valid(i64),
    /// The code matches a step at or before the last accepted one (RFC 6238 section 5.2).
    Replayed,
    /// No match within one step of drift.
    Invalid,
}

/// Checks `code` at `now` allowing one step of drift either way; a step at or before
/// `last_used_step` is a replay. Compares in constant time.
pub fn verify(secret: &[u8], code: &str, now: i64, last_used_step: Option<i64>) -> TotpCheck {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return TotpCheck::Invalid;
    }
    let current = step_of(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let candidate = code_at_step(secret, step);
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    match found {
        Some(step) if last_used_step.is_some_and(|last| step <= last) => TotpCheck::Replayed,
        Some(step) => TotpCheck::Valid(step),
        None => TotpCheck::Invalid,
    }
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, without padding (what otpauth URIs carry).
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = ((buffer >> bits) & 31) as usize;
            out.push(char::from(B32.get(idx).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let idx = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(B32.get(idx).copied().unwrap_or(b'A')));
    }
    out
}

/// Decodes base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = B32
            .iter()
            .position(|&x| char::from(x) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B (SHA-1 rows), 8 digits.
    #[test]
    fn rfc6238_appendix_b() {
        for (t, want) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(
                hotp(SEED, u64::try_from(step_of(t)).unwrap_or(0), 8),
                want,
                "T={t}"
            );
        }
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_appendix_d() {
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(hotp(SEED, i as u64, 6), *w);
        }
    }

    #[test]
    fn drift_and_replay() {
        let now = 1_111_111_111;
        let code = code_at_step(SEED, step_of(now));
        assert_eq!(
            verify(SEED, &code, now, None),
            TotpCheck::Valid(step_of(now))
        );
        assert_eq!(
            verify(SEED, &code, now + 30, None),
            TotpCheck::Valid(step_of(now))
        );
        assert_eq!(verify(SEED, &code, now + 61, None), TotpCheck::Invalid);
        assert_eq!(
            verify(SEED, &code, now, Some(step_of(now))),
            TotpCheck::Replayed
        );
        let older = code_at_step(SEED, step_of(now) - 1);
        assert_eq!(
            verify(SEED, &older, now, Some(step_of(now))),
            TotpCheck::Replayed
        );
        assert_eq!(verify(SEED, "12345", now, None), TotpCheck::Invalid);
        assert_eq!(verify(SEED, "abcdef", now, None), TotpCheck::Invalid);
    }

    /// RFC 4648 section 10.
    #[test]
    fn base32_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(raw.as_bytes()), enc);
            assert_eq!(base32_decode(enc).as_deref(), Some(raw.as_bytes()));
        }
        assert_eq!(
            base32_decode("mzxw6ytboi======").as_deref(),
            Some(b"foobar".as_slice())
        );
        assert_eq!(base32_decode("MZ1"), None);
    }
}
