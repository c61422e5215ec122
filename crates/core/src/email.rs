//! Email addresses: normalised once, at the boundary, so that uniqueness holds.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// The longest address SMTP can carry (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid, normalised (NFKC, trimmed, lower-case) email address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address; the error says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // NFKC, then lower case, until neither changes anything: lower-casing can undo
        // normalisation (found by fuzzing: "T\u{344}" lower-cases to a string NFKC changes
        // again), and two spellings of one address must never become two accounts.
        let mut s: String = raw.trim().to_owned();
        let mut stable = false;
        for _ in 0..4 {
            let next = s.nfkc().collect::<String>().to_lowercase();
            if next == s {
                stable = true;
                break;
            }
            s = next;
        }
        if !stable {
            return Err("email has no stable normal form");
        }
        if s.is_empty() {
            return Err("email is empty");
        }
        if s.len() > MAX_EMAIL_LEN {
            return Err("email is longer than 254 bytes");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("email contains whitespace or control characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("email has no @");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("email local part is invalid");
        }
        if domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || domain.chars().any(|c| {
                matches!(
                    c,
                    '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"'
                )
            })
        {
            return Err("email domain is invalid");
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, fed to the password strength estimator.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: keep it out of debug logs.
        f.write_str("Email(..)")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/corpus/email/regression-idempotent): parsing the normalised
    /// form again must give the same address.
    #[test]
    fn normalising_is_idempotent() {
        let raw = "T\u{344}@Ee.i\u{344}j\u{35c}\u{344}\u{344}";
        let once = Email::parse(raw).map(|e| e.as_str().to_owned());
        let twice = once
            .as_deref()
            .map_err(|e| *e)
            .and_then(Email::parse)
            .map(|e| e.as_str().to_owned());
        assert!(once.is_ok());
        assert_eq!(once, twice);
    }

    #[test]
    fn normalises_case_width_and_space() {
        let e = Email::parse("  Alice@Example.COM ").ok();
        assert_eq!(e.as_ref().map(Email::as_str), Some("alice@example.com"));
        // Fullwidth letters fold to ASCII under NFKC.
        let e = Email::parse("ａｌｉｃｅ@example.com").ok();
        assert_eq!(e.as_ref().map(Email::as_str), Some("alice@example.com"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a b@example.com",
            "alice@exa..mple.com",
            "alice@.example.com",
            "alice@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn debug_hides_the_address() {
        let e = Email::parse("alice@example.com").ok();
        assert!(!format!("{e:?}").contains("alice"));
    }
}
