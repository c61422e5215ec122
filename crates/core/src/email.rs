//! Email addresses: normalised once, at the boundary, so that uniqueness holds.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// The longest address SMTP can carry (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid, canonical email address: the local part trimmed, NFKC and
/// lower-case; the domain as its A-label (UTS #46 ToASCII, so `exämple.com` and
/// `xn--exmple-cua.com` are one mailbox). Quoted local parts and invisible or bidi
/// control characters are refused: they would let one mailbox hold two accounts.
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
        if s.chars().any(is_invisible) {
            return Err("email contains invisible or bidi control characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("email has no @");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("email local part is invalid");
        }
        // `"user"@example.com` is the same mailbox as `user@example.com` for most servers,
        // and quoting allows characters nothing else here is checked for: refuse quoting.
        if local.contains('"') {
            return Err("email local part must not be quoted");
        }
        // Dots and labels are checked on the A-label form (UTS #46 maps U+3002 to `.`).
        if domain.is_empty()
            || domain.chars().any(|c| {
                matches!(
                    c,
                    '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"'
                )
            })
        {
            return Err("email domain is invalid");
        }
        let domain = canonical_domain(domain)?;
        let s = format!("{local}@{domain}");
        if s.len() > MAX_EMAIL_LEN {
            return Err("email is longer than 254 bytes");
        }
        Ok(Self(s))
    }

    /// An address as it was stored, trusted as it is: rows written before a rule changed
    /// (the A-label domain, invisible characters) still load, so one old row can never
    /// break a listing or a sign-in of anyone else.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// How this address was spelt by the rules before domains were stored as A-labels
    /// (NFKC and lower case only: `user@exämple.com`), when that differs: accounts made
    /// then are still found under it, and no new account can take the same mailbox.
    pub fn legacy_spelling(&self) -> Option<String> {
        let (local, domain) = self.0.rsplit_once('@')?;
        if !domain.split('.').any(|label| label.starts_with("xn--")) {
            return None;
        }
        let (unicode, result) = idna::domain_to_unicode(domain);
        result.ok()?;
        let legacy = format!("{local}@{unicode}");
        (legacy != self.0).then_some(legacy)
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

/// The domain's A-label form (UTS #46 ToASCII with the STD3 rules and DNS lengths), so
/// every spelling of one internationalised domain is one string.
fn canonical_domain(domain: &str) -> Result<String, &'static str> {
    let ascii = idna::uts46::Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            idna::uts46::AsciiDenyList::STD3,
            idna::uts46::Hyphens::Allow,
            idna::uts46::DnsLength::Verify,
        )
        .map_err(|_| "email domain is not a valid (internationalised) domain name")?;
    if ascii.is_empty()
        || !ascii.contains('.')
        || ascii.starts_with('.')
        || ascii.ends_with('.')
        || ascii.contains("..")
    {
        return Err("email domain is invalid");
    }
    Ok(ascii.into_owned())
}

/// Characters that render as nothing or reorder text: Unicode format characters (Cf,
/// among them U+200B..U+200F, the bidi embeddings, overrides and isolates, U+2060..U+2064,
/// U+FEFF, the tag characters) and the other default-ignorable code points (combining
/// grapheme joiner, Hangul fillers, variation selectors). `\u{200b}user` and `user` must
/// not be two accounts, and an address must read as it is.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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

    /// Issue 16 item 5: one mailbox, one account.
    #[test]
    fn the_spelling_older_versions_stored_is_known() {
        let e = Email::parse("User@Exämple.com").unwrap();
        assert_eq!(e.legacy_spelling().as_deref(), Some("user@exämple.com"));
        let e = Email::parse("user@xn--exmple-cua.com").unwrap();
        assert_eq!(e.legacy_spelling().as_deref(), Some("user@exämple.com"));
        assert_eq!(
            Email::parse("user@example.com").unwrap().legacy_spelling(),
            None
        );
    }

    #[test]
    fn one_mailbox_has_one_spelling() {
        let canon = |s: &str| Email::parse(s).map(|e| e.as_str().to_owned());
        assert_eq!(
            canon("user@exämple.com"),
            Ok("user@xn--exmple-cua.com".to_owned())
        );
        assert_eq!(canon("user@xn--exmple-cua.com"), canon("user@exämple.com"));
        assert_eq!(canon("User@EXÄMPLE.com"), canon("user@xn--exmple-cua.com"));
        // Fullwidth full stop and letters in the domain fold under UTS #46 / NFKC.
        assert_eq!(
            canon("user@ｅxample。com"),
            Ok("user@example.com".to_owned())
        );
        for refused in [
            "\"user\"@example.com",
            "\"us er\"@example.com",
            "\u{200b}user@example.com",
            "us\u{200d}er@example.com",
            "\u{feff}user@example.com",
            "user\u{202e}@example.com",
            "user\u{2066}x@example.com",
            "user@exa\u{200b}mple.com",
            "user\u{e0041}@example.com",
            "user@xn--a.com",
            "user@exa_mple.com",
        ] {
            assert!(Email::parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn debug_hides_the_address() {
        let e = Email::parse("alice@example.com").ok();
        assert!(!format!("{e:?}").contains("alice"));
    }
}
