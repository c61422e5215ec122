//! API keys, service accounts, scopes, and RFC 9421 signed requests made by an independent
//! client (Python `http-message-signatures`).

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::{call, send};

on_both!(
    lifecycle_rotation_and_revocation,
    scopes_and_service_accounts,
    signed_requests
);

async fn me_with_key(srv: &TestServer, key: &str) -> (u16, Value) {
    call(
        srv,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        Some(key),
        None,
    )
    .await
}

async fn create_key(srv: &TestServer, at: &str, body: Value) -> Value {
    let (s, k) = call(
        srv,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        Some(at),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    k
}

fn is_key_shape(k: &str) -> bool {
    k.len() == 42 && k.starts_with("pcl_") && k[4..].bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn lifecycle_rotation_and_revocation(b: Backend) {
    let srv = TestServer::start(b).await;
    let uid = srv.user("kim@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("kim@example.com", STRONG).await);
    let k = create_key(
        &srv,
        &at,
        json!({"name": "ci", "scopes": ["deploy:write"], "expires_in_days": 30}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();
    assert!(is_key_shape(&key), "{key}");
    assert_eq!(k["prefix"], key[..12]);
    assert_eq!(k["scopes"], json!(["deploy:write"]));
    assert!(k["expires_at"].is_string());
    assert_eq!(k["signing"], "none");

    // A typo is refused by shape (checksum), before any lookup.
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let (s, body) = me_with_key(&srv, std::str::from_utf8(&typo).unwrap()).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));

    // The key authenticates as its owner, as a bearer token or in X-API-Key.
    let (s, me) = me_with_key(&srv, &key).await;
    assert_eq!((s, me["id"].as_str()), (200, Some(uid.as_str())));
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(s, 200);
    // ...but not where a user session is needed.
    let (s, body) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/sessions",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );

    // Listed without secrets, with its last use.
    let (s, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/api-keys",
        Some(&at),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let listed = &list["api_keys"][0];
    assert!(listed.get("key").is_none() && listed.get("key_hash").is_none());
    assert_eq!(listed["last_used_ip"], "127.0.0.1");
    assert!(listed["last_used_at"].is_string());

    // Rotation with an overlap: both work, then only the new one.
    let id = k["id"].as_str().unwrap();
    let (s, new) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/api/v1/auth/api-keys/{id}/rotate"),
        Some(&at),
        Some(json!({"overlap_seconds": 60})),
    )
    .await;
    assert_eq!(s, 201, "{new}");
    let new_key = new["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(new["rotated_from"], id);
    assert_eq!(new["scopes"], k["scopes"]);
    assert_eq!(me_with_key(&srv, &key).await.0, 200);
    assert_eq!(me_with_key(&srv, &new_key).await.0, 200);
    srv.clock.advance(61);
    assert_eq!(me_with_key(&srv, &key).await.0, 401, "overlap over");
    assert_eq!(me_with_key(&srv, &new_key).await.0, 200);

    // Rotation without overlap stops the old key at once.
    let at = access(&srv.login("kim@example.com", STRONG).await);
    let new_id = new["id"].as_str().unwrap();
    let (s, newer) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/api/v1/auth/api-keys/{new_id}/rotate"),
        Some(&at),
        None,
    )
    .await;
    assert_eq!(s, 201, "{newer}");
    assert_eq!(me_with_key(&srv, &new_key).await.0, 401);
    let newest = newer["key"].as_str().unwrap().to_owned();

    // Revocation is immediate on every node sharing the database.
    let other = TestServer::start_on(srv.db.clone(), srv.clock.clone(), |_| {}).await;
    assert_eq!(me_with_key(&other, &newest).await.0, 200);
    let newest_id = newer["id"].as_str().unwrap();
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/api/v1/auth/api-keys/{newest_id}"),
        Some(&at),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(me_with_key(&other, &newest).await.0, 401);
    assert_eq!(me_with_key(&srv, &newest).await.0, 401);

    // Creating keys needs a recent factor; bad bodies are clear 400s.
    srv.clock.advance(601);
    let (s, body) = call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        Some(&at),
        Some(json!({"name": "x", "scopes": ["a"]})),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    let at = access(&srv.login("kim@example.com", STRONG).await);
    for bad in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "", "scopes": ["a"]}),
        json!({"name": "x", "scopes": ["has space"]}),
        json!({"name": "x", "scopes": ["a"], "signing": "rsa"}),
        json!({"name": "x", "scopes": ["a"], "signing": "ed25519"}),
        json!({"name": "x", "scopes": ["a"], "expires_in_days": 0}),
        json!({"name": "x", "scopes": ["a"], "bogus": 1}),
    ] {
        let (s, body) = call(
            &srv,
            reqwest::Method::POST,
            "/api/v1/auth/api-keys",
            Some(&at),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {body}"
        );
    }
    let actions: Vec<String> = srv
        .services
        .store()
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "auth.api_key.created",
        "auth.api_key.rotated",
        "auth.api_key.revoked",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
    other.stop().await;
    srv.stop().await;
}

async fn scopes_and_service_accounts(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    srv.user("lou@example.com", STRONG, Role::User).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let user = access(&srv.login("lou@example.com", STRONG).await);

    // A user's key carries at most the user's rights.
    let (s, body) = call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        Some(&user),
        Some(json!({"name": "x", "scopes": ["admin:read"]})),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    let user_key = create_key(
        &srv,
        &user,
        json!({"name": "x", "scopes": ["reports:read"]}),
    )
    .await;
    let (s, _) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/admin/users",
        user_key["key"].as_str(),
        None,
    )
    .await;
    assert_eq!(s, 403);

    // An administrator's key works on the admin API within its scopes.
    let ro = create_key(
        &srv,
        &admin,
        json!({"name": "ro", "scopes": ["admin:read"]}),
    )
    .await;
    let ro_key = ro["key"].as_str().unwrap();
    let (s, users) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/admin/users",
        Some(ro_key),
        None,
    )
    .await;
    assert_eq!(s, 200, "{users}");
    let victim = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "lou@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, body) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/api/v1/admin/users/{victim}/lock"),
        Some(ro_key),
        None,
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    assert!(
        body["detail"].as_str().unwrap().contains("admin:write"),
        "{body}"
    );

    // Service accounts: no password, a key, role `service`.
    let (s, sa) = call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/admin/service-accounts",
        Some(&admin),
        Some(json!({"name": "Billing worker", "scopes": ["invoices:write"]})),
    )
    .await;
    assert_eq!(s, 201, "{sa}");
    assert_eq!(sa["role"], "service");
    let sa_key = sa["api_key"]["key"].as_str().unwrap().to_owned();
    let (s, me) = me_with_key(&srv, &sa_key).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("service")));
    let (s, body) = call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": me["email"], "password": STRONG})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "no password"
    );

    // Administrators list and revoke any key.
    let (s, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/admin/api-keys?limit=2",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["api_keys"].as_array().unwrap().len(), 2);
    assert!(list["next_cursor"].is_string());
    let sa_key_id = sa["api_key"]["id"].as_str().unwrap();
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/api/v1/admin/api-keys/{sa_key_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(me_with_key(&srv, &sa_key).await.0, 401);
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        "/api/v1/admin/api-keys/0190c1d2-0000-7000-8000-000000000000",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // A locked owner's keys stop.
    let (s, _) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/api/v1/admin/users/{victim}/lock"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, body) = me_with_key(&srv, user_key["key"].as_str().unwrap()).await;
    assert_eq!((s, body["code"].as_str()), (423, Some("account_locked")));
    srv.stop().await;
}

/// Runs the independent signing client.
fn signed(spec: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sign_request.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sign_request.py (pip install http-message-signatures requests): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn signed_requests(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("max@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("max@example.com", STRONG).await);

    // hmac-sha256: the signing secret is issued once.
    let k = create_key(
        &srv,
        &at,
        json!({"name": "hook", "scopes": ["x"], "signing": "hmac-sha256"}),
    )
    .await;
    let secret = k["signing_secret"].as_str().unwrap().to_owned();
    let key = k["key"].as_str().unwrap().to_owned();
    let id = k["id"].as_str().unwrap().to_owned();
    let url = srv.url("/api/v1/auth/me");
    let now = srv.clock.now();
    let spec = |nonce: &str| {
        json!({"method": "GET", "url": url, "api_key": key, "key_id": id, "alg": "hmac-sha256",
               "key": secret, "body": null, "nonce": nonce, "created": now})
    };

    // Accepted once; the very same request again is a replay.
    let r = signed(json!({"send": 2}).as_object().unwrap().iter().fold(
        spec("n-1"),
        |mut acc, (k, v)| {
            acc[k] = v.clone();
            acc
        },
    ));
    assert_eq!(r["responses"][0]["status"], 200, "{r}");
    assert_eq!(r["responses"][0]["body"]["email"], "max@example.com");
    assert_eq!(r["responses"][1]["status"], 401);
    assert_eq!(r["responses"][1]["body"]["code"], "invalid_signature");
    assert!(
        r["responses"][1]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("replay"),
        "{r}"
    );

    // Without a signature, with a stale one, or with another key: refused, saying why.
    let (s, body) = me_with_key(&srv, &key).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_signature")));
    let mut stale = spec("n-2");
    stale["created"] = json!(now - 301);
    let r = signed(stale);
    assert_eq!(r["responses"][0]["status"], 401);
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("created"),
        "{r}"
    );
    let mut wrong = spec("n-3");
    wrong["key"] = json!("d3JvbmcgZG9lcyBub3Qgd29yayBhdCBhbGwgaGVyZSEh");
    let r = signed(wrong);
    assert_eq!(r["responses"][0]["status"], 401);
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{r}"
    );
    let mut unknown = spec("n-4");
    unknown["key_id"] = json!("someone-else");
    let r = signed(unknown);
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("keyid"),
        "{r}"
    );
    let mut partial = spec("n-5");
    partial["components"] = json!(["@method", "@authority"]);
    let r = signed(partial);
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("@target-uri"),
        "{r}"
    );
    let mut no_nonce = spec("n-6");
    no_nonce["nonce"] = Value::Null;
    let r = signed(no_nonce);
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("nonce"),
        "{r}"
    );

    // ed25519: the client registers its public key; bodies are covered by Content-Digest.
    let seed = [7u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let k = create_key(
        &srv,
        &at,
        json!({"name": "signer", "scopes": ["x"], "signing": "ed25519",
               "public_key_jwk": {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public.as_bytes())}}),
    )
    .await;
    assert!(k.get("signing_secret").is_none());
    let ed = |nonce: &str, body: Value, tamper: Value| {
        json!({"method": "POST", "url": srv.url("/api/v1/auth/api-keys"), "api_key": k["key"], "key_id": k["id"],
               "alg": "ed25519", "key": URL_SAFE_NO_PAD.encode(seed), "body": body, "tamper_body": tamper,
               "nonce": nonce, "created": now, "components": ["@method", "@target-uri", "content-digest"]})
    };
    // A signed POST reaches the handler (which then refuses API keys for key management).
    let r = signed(ed(
        "e-1",
        json!("{\"name\":\"k\",\"scopes\":[\"a\"]}"),
        Value::Null,
    ));
    assert_eq!(r["responses"][0]["status"], 403, "{r}");
    assert!(r["content_digest"].as_str().unwrap().starts_with("sha-"));
    // A body changed after signing fails its digest.
    let r = signed(ed(
        "e-2",
        json!("{\"name\":\"k\",\"scopes\":[\"a\"]}"),
        json!("{\"name\":\"evil\",\"scopes\":[\"a\"]}"),
    ));
    assert_eq!(r["responses"][0]["status"], 401, "{r}");
    assert!(
        r["responses"][0]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Digest"),
        "{r}"
    );
    let mut get = ed("e-3", Value::Null, Value::Null);
    get["method"] = json!("GET");
    get["url"] = json!(srv.url("/api/v1/auth/me"));
    get["components"] = json!(["@method", "@authority", "@path", "@query"]);
    let r = signed(get);
    assert_eq!(r["responses"][0]["status"], 200, "{r}");

    let failures = srv
        .services
        .store()
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.api_key.signature_failed")
        .count();
    assert!(
        failures >= 2,
        "signature failures are audited (rate-limited per key)"
    );
    srv.stop().await;
}
