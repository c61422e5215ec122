//! Issue 16 item 6: cryptography. Ed25519 request signatures verify strictly only, and
//! small-order (weak) public keys are refused at registration.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::json;

use crate::{call, send};

on_both!(weak_ed25519_keys_are_refused);

/// The identity point: 0x01 followed by 31 zero bytes.
fn identity() -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
}

async fn weak_ed25519_keys_are_refused(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("wes@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("wes@example.com", STRONG).await);
    let mut order2 = [0xffu8; 32];
    order2[0] = 0xec;
    order2[31] = 0x7f;
    for weak in [identity(), order2, [0u8; 32]] {
        let (s, body) = call(
            &srv,
            reqwest::Method::POST,
            "/api/v1/auth/api-keys",
            Some(&at),
            Some(json!({"name": "weak", "scopes": ["x"], "signing": "ed25519",
                "public_key_jwk": {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(weak)}})),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
        assert_eq!(body["errors"][0]["field"], "public_key_jwk", "{body}");
    }

    // A key stored before the check (or put there behind the API's back) never verifies:
    // with the identity as the key, R = B and s = 1 pass the lenient check for any request.
    let good = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
    let (s, k) = call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        Some(&at),
        Some(json!({"name": "signer", "scopes": ["x"], "signing": "ed25519",
            "public_key_jwk": {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(good.as_bytes())}})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let id = k["id"].as_str().unwrap();
    let hex_identity: String = identity().iter().map(|b| format!("{b:02x}")).collect();
    srv.db
        .exec(&match b {
            Backend::Sqlite => {
                format!("UPDATE api_keys SET public_key = X'{hex_identity}' WHERE id = '{id}'")
            }
            Backend::Postgres => format!(
                "UPDATE api_keys SET public_key = '\\x{hex_identity}'::bytea WHERE id = '{id}'"
            ),
        })
        .await;
    let mut forged = [0x66u8; 64];
    forged[0] = 0x58;
    forged[32..].fill(0);
    forged[32] = 1;
    let input = format!(
        "sig1=(\"@method\" \"@target-uri\");created={};keyid=\"{id}\";alg=\"ed25519\";nonce=\"forged-1\"",
        srv.clock.now()
    );
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("x-api-key", k["key"].as_str().unwrap())
            .header("signature-input", input)
            .header("signature", format!("sig1=:{}:", STANDARD.encode(forged))),
    )
    .await;
    assert_eq!(s, 401, "a forged signature under the identity key: {body}");
    srv.stop().await;
}
