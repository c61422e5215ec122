//! Email addresses as typed at sign-up and login: normalised or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::email::Email;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = Email::parse(s) {
        // Normalising is idempotent.
        assert_eq!(
            Email::parse(e.as_str()).map(|x| x.as_str().to_owned()),
            Ok(e.as_str().to_owned())
        );
    }
});
