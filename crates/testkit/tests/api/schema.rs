//! The OpenAPI document says what the server enforces, and the server enforces what the
//! document says: bodies are JSON objects, integers are whole numbers however they are
//! spelt, lengths count characters as JSON Schema does, and the constraints schemathesis's
//! positive_data_acceptance relies on (email format, scope pattern, `code` xor
//! `recovery_code`, the WebAuthn JSON shapes, the Ed25519 JWK) are in the document.

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::{post, send};

on_both!(
    bodies_are_json_objects,
    server_enforces_what_the_document_says
);

/// A body that is JSON but not an object is refused everywhere: serde would otherwise fill
/// a struct from an array by position (`["a@b.co", "pw"]` as a login).
async fn bodies_are_json_objects(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("ana@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("ana@example.com", STRONG).await);
    let (s, key) = post(
        &srv,
        "/api/v1/auth/api-keys",
        Some(&at),
        json!({"name": "ci", "scopes": ["deploy:write"]}),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    let rotate = format!(
        "/api/v1/auth/api-keys/{}/rotate",
        key["id"].as_str().unwrap()
    );
    let paths = [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/refresh",
        "/api/v1/auth/mfa/verify",
        "/api/v1/auth/step-up",
        "/api/v1/auth/api-keys",
        rotate.as_str(),
        "/api/v1/auth/webauthn/login/start",
        "/api/v1/auth/webauthn/login/finish",
    ];
    let bodies = [
        r#"["ana@example.com", "correct horse battery staple 42"]"#,
        "[]",
        r#"[3600]"#,
        r#""x""#,
        "1",
        "null",
        "true",
    ];
    for path in paths {
        for body in bodies {
            let (s, problem, _) = send(
                client()
                    .post(srv.url(path))
                    .bearer_auth(&at)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
            assert_eq!(
                (s, problem["code"].as_str()),
                (400, Some("invalid_request")),
                "{path} {body}: {problem}"
            );
        }
        // Not JSON at all stays `invalid_json`.
        let (s, problem, _) = send(
            client()
                .post(srv.url(path))
                .bearer_auth(&at)
                .header("content-type", "application/json")
                .body("[1,"),
        )
        .await;
        assert_eq!(
            (s, problem["code"].as_str()),
            (400, Some("invalid_json")),
            "{path}"
        );
    }
    // The rotation's optional body is held to the same rules as any other: JSON only.
    let (s, problem, _) = send(
        client()
            .post(srv.url(&rotate))
            .bearer_auth(&at)
            .header("content-type", "text/plain")
            .body(r#"{"overlap_seconds": 60}"#),
    )
    .await;
    assert_eq!((s, problem["code"].as_str()), (400, Some("invalid_json")));
    // ... and whole numbers are whole numbers however they are written (JSON Schema's
    // `integer`): 60.0 is 60.
    let (s, rotated) = post(&srv, &rotate, Some(&at), json!({"overlap_seconds": 60.0})).await;
    assert_eq!(s, 201, "{rotated}");
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

async fn server_enforces_what_the_document_says(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("ben@example.com", STRONG, Role::User).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let at = access(&srv.login("ben@example.com", STRONG).await);
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, doc, _) = send(client().get(srv.url("/api/v1/openapi.json"))).await;
    assert_eq!(s, 200);

    // The document says it ...
    for name in ["RegisterRequest", "LoginRequest"] {
        let email = &schema(&doc, name)["properties"]["email"];
        assert_eq!(email["format"], "email", "{name}");
        assert_eq!(email["maxLength"], 254, "{name}");
    }
    let scope = &schema(&doc, "ApiKeyCreateRequest")["properties"]["scopes"]["items"];
    assert_eq!(scope["pattern"], "^[A-Za-z0-9:._*/-]{1,64}$");
    assert_eq!(
        schema(&doc, "MfaVerifyRequest")["oneOf"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        schema(&doc, "StepUpRequest")["oneOf"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert_eq!(
        schema(&doc, "PasskeyRegisterFinishRequest")["properties"]["credential"]["$ref"],
        "#/components/schemas/RegistrationResponseJSON"
    );
    assert_eq!(
        schema(&doc, "PasskeyLoginFinishRequest")["properties"]["credential"]["$ref"],
        "#/components/schemas/AuthenticationResponseJSON"
    );
    for name in ["RegistrationResponseJSON", "AuthenticationResponseJSON"] {
        let c = schema(&doc, name);
        assert_eq!(
            c["properties"]["type"]["enum"],
            json!(["public-key"]),
            "{name}"
        );
        assert!(c["properties"]["rawId"]["pattern"].is_string(), "{name}");
        assert_eq!(c["additionalProperties"], false, "{name}");
    }
    let users = &doc["paths"]["/api/v1/admin/users"]["get"]["parameters"];
    let cursor = users
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .unwrap();
    assert!(cursor["schema"]["pattern"].is_string());
    let erase = doc["paths"]["/api/v1/admin/users/{id}"]["delete"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "erase")
        .unwrap()
        .clone();
    assert_eq!(
        (&erase["required"], &erase["schema"]["enum"]),
        (&json!(true), &json!([true]))
    );
    assert_eq!(
        doc["paths"]["/api/v1/auth/api-keys/{id}/rotate"]["post"]["requestBody"]["required"],
        false
    );

    // ... and the server holds to it. Lengths count characters, as `maxLength` does: a
    // 16-character code of 4-byte characters is not too long (just wrong).
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": "x", "code": "🦀".repeat(16)}),
    )
    .await;
    assert_eq!(s, 401, "{body}");
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": "x", "code": "🦀".repeat(17)}),
    )
    .await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (400, Some("too_long"))
    );
    // `code` xor `recovery_code`: null is absent.
    for bad in [
        json!({"mfa_token": "x"}),
        json!({"mfa_token": "x", "code": "123456", "recovery_code": "abcd-efgh"}),
        json!({"mfa_token": "x", "code": null, "recovery_code": null}),
    ] {
        let (s, _) = post(&srv, "/api/v1/auth/mfa/verify", None, bad.clone()).await;
        assert_eq!(s, 400, "{bad}");
    }
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": "x", "code": "123456", "recovery_code": null}),
    )
    .await;
    assert_eq!(s, 401);

    // Whole numbers: 30.0 days is 30 days; 30.5 is not a number of days.
    let key = |extra: Value| {
        let mut body = json!({"name": "ci", "scopes": ["deploy:write"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (s, k) = post(
        &srv,
        "/api/v1/auth/api-keys",
        Some(&at),
        key(json!({"expires_in_days": 30.0})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    // The Ed25519 JWK is a public key with the members a public key has (RFC 8037).
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let jwk = |extra: Value| {
        let mut j = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        j.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        key(json!({"signing": "ed25519", "public_key_jwk": j}))
    };
    let (s, k) = post(
        &srv,
        "/api/v1/auth/api-keys",
        Some(&at),
        jwk(json!({"kid": "k1", "alg": "EdDSA", "use": "sig"})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    for bad in [
        key(json!({"expires_in_days": 30.5})),
        key(json!({"expires_in_days": "30"})),
        jwk(json!({"d": x})),
        jwk(json!({"x5c": ["MII"]})),
        jwk(json!({"use": "enc"})),
        key(
            json!({"signing": "hmac-sha256", "public_key_jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}),
        ),
    ] {
        let (s, body) = post(&srv, "/api/v1/auth/api-keys", Some(&at), bad.clone()).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {body}"
        );
    }
    // A service account's name has no control characters.
    let (s, body) = post(
        &srv,
        "/api/v1/admin/service-accounts",
        Some(&admin),
        json!({"name": "billing\u{7}", "scopes": ["a"]}),
    )
    .await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (400, Some("name")),
        "{body}"
    );

    // The WebAuthn JSON: `type` is `public-key`, binary members are canonical unpadded
    // base64url, unknown members are refused; `extensions` (webauthn-rs's name) or
    // `clientExtensionResults` (L3's), not both.
    let (s, start) = post(&srv, "/api/v1/auth/webauthn/login/start", None, json!({})).await;
    assert_eq!(s, 200, "{start}");
    let assertion = |patch: Value| {
        let mut c = json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"clientDataJSON": "AAAA", "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": null},
            "clientExtensionResults": {},
        });
        merge(&mut c, patch);
        json!({"ceremony_id": start["ceremony_id"], "credential": c})
    };
    for (patch, field) in [
        (json!({"type": "password"}), "credential.type"),
        (json!({"rawId": "AAA="}), "credential.rawId"),
        (json!({"rawId": "AB"}), "credential.rawId"),
        (
            json!({"response": {"signature": "+/+/"}}),
            "credential.response.signature",
        ),
        (json!({"bogus": 1}), "credential"),
        (json!({"response": {"bogus": 1}}), "credential"),
        (json!({"extensions": {}}), "credential"),
        (json!({"clientExtensionResults": null}), "credential"),
        (json!({"authenticatorAttachment": "usb"}), "credential"),
    ] {
        let (s, body) = post(
            &srv,
            "/api/v1/auth/webauthn/login/finish",
            None,
            assertion(patch.clone()),
        )
        .await;
        assert_eq!(
            (s, body["errors"][0]["field"].as_str()),
            (400, Some(field)),
            "{patch}: {body}"
        );
    }
    // A well-formed assertion of no registered credential is a wrong credential, not a
    // malformed request.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        assertion(json!({"authenticatorAttachment": "platform"})),
    )
    .await;
    assert_eq!(s, 401, "{body}");
}

/// Merges `patch` into `target` (objects member by member).
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}
