//! An exported audit log (JSON lines) checked offline against a checkpoint: malformed or
//! forged lines are refused with a reason, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::tlog::NoteSigner;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let signer = NoteSigner::new("example.com/log", &[9; 32]);
    // A checkpoint over one entry whose hash random input cannot produce.
    let cp = signer.sign(&format!(
        "example.com/log\n1\n{}\n",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    ));
    let lines = s.lines().map(|l| Ok::<_, std::io::Error>(l.to_owned()));
    let r = portcullis_core::service::verify_export(lines, &signer.verifier_key(), &cp);
    assert!(r.is_err());
});
