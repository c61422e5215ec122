//! What OAuth clients send: client assertions (private_key_jwt), DPoP proofs, JWKs,
//! registrations and redirect URIs. Never a panic; nothing the fuzzer makes authenticates
//! (it cannot sign with the registered key), and a URI that matches a registered one is
//! that URI, or a loopback one differing only in its port. Authorization requests: whatever
//! the parameters, an answer only ever goes to a registered redirect URI, and a request
//! that passes has an S256 challenge and only registered scopes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::oauth::{assertion, authorize, clients, dpop, redirect};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
        "x": base64url(key.verifying_key().as_bytes())}]});
    let now = 1_800_000_000;
    assert!(assertion::verify(text, "c1", &jwks, "https://auth.example", now).is_err());
    let _ = assertion::claimed_client(text);
    // A proof carries its own key, so a well-formed one can verify; it must bind this request.
    if let Ok(p) = dpop::verify(text, "POST", "https://auth.example/oauth2/token", now, None) {
        assert!(!p.jti.is_empty() && !p.jkt.is_empty());
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = dpop::thumbprint(&v);
        let _ = clients::check_jwks(&v);
        let list = |k: &str| {
            v.get(k)
                .and_then(|l| l.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let spec = clients::ClientSpec {
            name: v.get("name").and_then(|n| n.as_str()).unwrap_or("").to_owned(),
            redirect_uris: list("redirect_uris"),
            grant_types: list("grant_types"),
            token_endpoint_auth_method: v
                .get("method")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_owned(),
            scopes: Some(list("scopes")),
            jwks: v.get("jwks").cloned(),
            ..clients::ClientSpec::default()
        };
        if let Ok(c) = clients::check(&spec) {
            assert!(c.redirect_uris.iter().all(|u| redirect::validate(u).is_ok()));
        }
    }
    let registered = "http://127.0.0.1:8000/cb";
    if redirect::matches([registered], text) {
        assert!(text == registered || text.starts_with("http://127.0.0.1"));
    }
    let _ = redirect::validate(text);
    authorization_request(data);
    if let Some(code) = portcullis_core::service::normalize_user_code(text) {
        assert_eq!(code.len(), 8);
    }
});

fn authorization_request(data: &[u8]) {
    let Ok(params) = authorize::Params::parse(data) else {
        return;
    };
    let client = clients::OAuthClient {
        id: "c1".into(),
        name: "app".into(),
        redirect_uris: vec!["http://127.0.0.1:8000/cb".into(), "https://app.example/cb?t=1".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![clients::GRANT_CODE.into()],
        auth_method: clients::AuthMethod::None,
        scopes: vec!["openid".into(), "email".into()],
        backchannel_logout_uri: None,
        require_pkce: true,
        require_par: false,
        require_dpop: false,
        jwks: None,
        tls_client_auth_san_uri: None,
        secret_hash: None,
        created_by: "fuzz".into(),
        created_at: 0,
        updated_at: 0,
    };
    let Ok((uri, sent)) = authorize::redirect_uri_of(&params, &client) else {
        return;
    };
    assert!(redirect::matches(client.redirect_uris.iter().map(String::as_str), &uri));
    match authorize::check(&params, &client, (uri.clone(), sent), "https://auth.example", false) {
        Ok(req) => {
            assert_eq!(req.redirect_uri, uri);
            assert_eq!(req.code_challenge.len(), 43);
            assert!(req.scopes.iter().all(|s| client.scopes.contains(s)));
            let to = authorize::redirect_to(&req.redirect_uri, &[("code", "x"), ("state", req.state.as_deref().unwrap_or(""))]);
            assert!(to.starts_with(&uri));
        }
        Err(authorize::AuthzError::Redirect { redirect_uri, .. }) => assert_eq!(redirect_uri, uri),
        Err(authorize::AuthzError::Page(_)) => {}
    }
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
