//! RFC 9421 `Signature-Input` / `Signature` structured fields and RFC 9530
//! `Content-Digest`: first line, second line, the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::httpsig;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.splitn(3, '\n');
    let input = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    if let Ok(sigs) = httpsig::parse(input, signature) {
        let req = httpsig::RequestParts {
            method: "POST".into(),
            scheme: "https".into(),
            authority: "api.example.com".into(),
            path: "/payments".into(),
            query: Some("a=1".into()),
            headers: vec![
                ("content-digest".into(), signature.into()),
                ("content-type".into(), "application/json".into()),
            ],
        };
        for sig in &sigs {
            let _ = httpsig::signature_base(&req, sig);
        }
    }
    let _ = httpsig::check_content_digest(input, body.as_bytes());
});
