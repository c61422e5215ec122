//! C2SP signed notes and tlog checkpoints: only a note signed by the log's key opens, and
//! the body parser never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::tlog::{Checkpoint, NoteSigner, NoteVerifier};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Checkpoint::parse_body(s);
    let signer = NoteSigner::new("example.com/log", &[9; 32]);
    let Ok(verifier) = NoteVerifier::parse(&signer.verifier_key()) else {
        return;
    };
    if let Ok(body) = verifier.open(s) {
        // Opening means the log's key signed exactly this body.
        assert_eq!(signer.sign(body), s);
    }
    let _ = NoteVerifier::parse(s);
});
