//! Access tokens as they arrive in `Authorization: Bearer`: never a panic, and nothing
//! the fuzzer makes verifies (it cannot forge an Ed25519 signature of this key). The
//! gateway's choice of verifier (`is_app_token`, `is_client_token`, which read the claims
//! without building them) answers as reading the payload as a JSON `Value` does.
#![no_main]
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use portcullis_core::crypto::jwt;
use portcullis_core::service::{is_app_token, is_client_token};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(jwt::verify(token, |_| Some(key)).is_err());

    // The input as a token's payload, and as a whole token.
    let payload = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(data));
    for t in [token, payload.as_str()] {
        let claims = t
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let app = claims.as_ref().is_some_and(|c| c.get("client_id").is_some());
        let client = app && claims.as_ref().is_some_and(|c| c.get("sid").is_none());
        assert_eq!(is_app_token(t), app, "{t}");
        assert_eq!(is_client_token(t), client, "{t}");
    }
});
