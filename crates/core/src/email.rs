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
        let s: String = raw.trim().nfkc().collect::<String>().to_lowercase();
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
