//! Email addresses as typed at sign-up and login: normalised or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::email::Email;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = Email::parse(s) {
        // The domain is its A-label (one spelling per mailbox), and nothing invisible or
        // quoted survives.
        let (local, domain) = e.as_str().rsplit_once('@').unwrap_or_default();
        assert!(domain.is_ascii() && !domain.is_empty());
        assert!(!local.contains('"'));
        assert!(!e.as_str().chars().any(|c| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')));
        // Normalising is idempotent.
        assert_eq!(
            Email::parse(e.as_str()).map(|x| x.as_str().to_owned()),
            Ok(e.as_str().to_owned())
        );
    }
});
