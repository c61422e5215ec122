//! The password policy of NIST SP 800-63B: length bounds counted in Unicode code points after
//! NFKC normalisation, and a strength estimate (zxcvbn) instead of composition rules.

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::error::FieldError;

/// The configured policy.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Minimum length in code points.
    pub min_length: usize,
    /// Maximum length in code points.
    pub max_length: usize,
    /// Minimum zxcvbn score, 0..=4.
    pub min_strength: u8,
}

/// Normalises a password the same way on every path (set and verify): NFKC, so that the same
/// password typed on two keyboards hashes alike.
pub fn normalize(raw: &str) -> SecretString {
    SecretString::from(raw.nfkc().collect::<String>())
}

impl PasswordPolicy {
    /// Checks a (normalised) password. `context` holds words the user is known by (email local
    /// part, display name); a password built from them is weak.
    pub fn check(
        &self,
        field: &str,
        password: &SecretString,
        context: &[&str],
    ) -> Result<(), Vec<FieldError>> {
        let pw = password.expose_secret();
        let len = pw.chars().count();
        let mut errors = Vec::new();
        if len < self.min_length {
            errors.push(FieldError::new(
                field,
                "too_short",
                format!(
                    "password must be at least {} characters long",
                    self.min_length
                ),
            ));
        }
        if len > self.max_length {
            errors.push(FieldError::new(
                field,
                "too_long",
                format!(
                    "password must be at most {} characters long",
                    self.max_length
                ),
            ));
        }
        if pw.chars().any(char::is_control) {
            errors.push(FieldError::new(
                field,
                "invalid_character",
                "password contains control characters",
            ));
        }
        if errors.is_empty() && self.min_strength > 0 {
            let entropy = zxcvbn::zxcvbn(pw, context);
            let score = u8::from(entropy.score());
            if score < self.min_strength {
                let mut message = format!(
                    "password is too easy to guess (strength {score} of 4, at least {} required)",
                    self.min_strength
                );
                if let Some(feedback) = entropy.feedback() {
                    if let Some(w) = feedback.warning() {
                        message.push_str(&format!(". {w}"));
                    }
                    for s in feedback.suggestions() {
                        message.push_str(&format!(". {s}"));
                    }
                }
                errors.push(FieldError::new(field, "too_weak", message));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            max_length: 128,
            min_strength: 3,
        }
    }

    fn codes(r: Result<(), Vec<FieldError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.code)
            .collect()
    }

    #[test]
    fn length_is_counted_in_code_points() {
        assert_eq!(
            codes(policy().check("password", &normalize("short"), &[])),
            ["too_short"]
        );
        // 12 emoji are 12 code points but 48 bytes: long enough.
        let emoji = "🦀🔑🚪🛡️🐙🌋🎻🧩🪐🦉🍄🛶";
        assert!(
            !codes(policy().check("password", &normalize(emoji), &[]))
                .contains(&"too_short".to_owned())
        );
        assert_eq!(
            codes(policy().check("password", &normalize(&"x".repeat(129)), &[])),
            ["too_long"]
        );
    }

    #[test]
    fn weak_passwords_say_why() {
        let r = policy().check("password", &normalize("password1234"), &[]);
        let errs = r.err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs.first().map(|e| e.code.as_str()), Some("too_weak"));
        assert!(errs.first().is_some_and(|e| e.message.contains("strength")));
        // Built from the user's own name.
        assert!(
            policy()
                .check("password", &normalize("alicealice2026"), &["alice"])
                .is_err()
        );
    }

    #[test]
    fn strong_passphrase_passes() {
        assert!(
            policy()
                .check(
                    "password",
                    &normalize("correct horse battery staple 42"),
                    &[]
                )
                .is_ok()
        );
    }

    #[test]
    fn nfkc_makes_equivalent_inputs_equal() {
        assert_eq!(normalize("ｐａｓｓ").expose_secret(), "pass");
        assert_eq!(normalize("e\u{301}").expose_secret(), "\u{e9}");
    }
}
