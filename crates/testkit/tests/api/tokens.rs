use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, claims, client, refresh};
use serde_json::json;

use crate::send;

on_both!(
    refresh_rotates_and_reuse_revokes_the_family,
    concurrent_refresh_has_one_winner,
    expiry_follows_the_clock,
    tampered_tokens_are_refused,
    signing_key_rotation_keeps_old_tokens_valid,
    pyjwt_verifies_access_tokens_against_the_jwks,
);

async fn post_refresh(srv: &TestServer, rt: &str) -> (u16, serde_json::Value) {
    let (s, b, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": rt})),
    )
    .await;
    (s, b)
}

async fn me(srv: &TestServer, at: &str) -> u16 {
    send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at))
        .await
        .0
}

async fn refresh_rotates_and_reuse_revokes_the_family(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("gina@example.com", STRONG, Role::User).await;
    let t1 = srv.login("gina@example.com", STRONG).await;
    let (s, t2) = post_refresh(&srv, &refresh(&t1)).await;
    assert_eq!(s, 200);
    assert_ne!(refresh(&t1), refresh(&t2), "a new refresh token every time");
    assert_eq!(t1["session_id"], t2["session_id"]);
    let (s, t3) = post_refresh(&srv, &refresh(&t2)).await;
    assert_eq!(s, 200);
    assert_eq!(me(&srv, &access(&t3)).await, 200);

    // t1's refresh token was rotated: presenting it again is theft.
    let (s, body) = post_refresh(&srv, &refresh(&t1)).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("token_reused")));
    // The whole family and the session are dead, including the newest tokens.
    assert_eq!(me(&srv, &access(&t3)).await, 401);
    let (s, _) = post_refresh(&srv, &refresh(&t3)).await;
    assert_eq!(s, 401);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "auth.token.reuse_detected"
                && e.target.as_deref() == t1["session_id"].as_str())
    );
    // Other sessions of the same user are untouched.
    let other = srv.login("gina@example.com", STRONG).await;
    assert_eq!(me(&srv, &access(&other)).await, 200);

    // Garbage and unknown tokens.
    let (s, body) = post_refresh(&srv, "rt_not-a-token").await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));
    let unknown = format!("rt_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    let (s, body) = post_refresh(&srv, &unknown).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));
    srv.stop().await;
}

async fn concurrent_refresh_has_one_winner(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("hank@example.com", STRONG, Role::User).await;
    let t = srv.login("hank@example.com", STRONG).await;
    let rt = refresh(&t);
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (url, rt) = (srv.url("/api/v1/auth/refresh"), rt.clone());
        handles.push(tokio::spawn(async move {
            send(client().post(url).json(&json!({"refresh_token": rt}))).await
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        let (s, body, _) = h.await.unwrap();
        statuses.push((s, body["code"].as_str().map(str::to_owned)));
    }
    let wins = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert!(wins <= 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .any(|(s, c)| *s == 401 && c.as_deref() == Some("token_reused")),
        "{statuses:?}"
    );
    srv.stop().await;
}

async fn expiry_follows_the_clock(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("ivy@example.com", STRONG, Role::User).await;
    let t = srv.login("ivy@example.com", STRONG).await;
    srv.clock.advance(899);
    assert_eq!(me(&srv, &access(&t)).await, 200);
    srv.clock.advance(1);
    assert_eq!(me(&srv, &access(&t)).await, 401, "expired at exp");
    let (s, t2) = post_refresh(&srv, &refresh(&t)).await;
    assert_eq!(s, 200);
    // Refresh slides the session; an idle week ends it.
    srv.clock.advance(604_800);
    let (s, body) = post_refresh(&srv, &refresh(&t2)).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));
    srv.stop().await;
}

async fn tampered_tokens_are_refused(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("jack@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("jack@example.com", STRONG).await);
    let parts: Vec<&str> = at.split('.').collect();
    let mut c = claims(&at);
    c["role"] = json!("admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let header_hs = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"x"}"#);
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let cases = [
        format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
        format!("{}.{}.", header_none, forged_payload),
        format!("{}.{}.{}", header_hs, parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig)),
        "garbage".to_owned(),
        format!("{at}.extra"),
    ];
    for token in cases {
        let (s, body, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&token)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("invalid_token")),
            "{token}"
        );
    }
    // A token signed by a key this server never had.
    let other = TestServer::start(b).await;
    other.user("jack@example.com", STRONG, Role::User).await;
    let foreign = access(&other.login("jack@example.com", STRONG).await);
    assert_eq!(me(&srv, &foreign).await, 401);
    // No credentials, or another scheme.
    let (s, body, h) = send(client().get(srv.url("/api/v1/auth/me"))).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")));
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("authorization", format!("Basic {at}")),
    )
    .await;
    assert_eq!(s, 401);
    other.stop().await;
    srv.stop().await;
}

async fn signing_key_rotation_keeps_old_tokens_valid(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("kim@example.com", STRONG, Role::User).await;
    let jwks = || async {
        send(client().get(srv.url("/.well-known/jwks.json")))
            .await
            .1
    };
    let old = srv.login("kim@example.com", STRONG).await;
    let old_kid = jwks().await["keys"][0]["kid"].as_str().unwrap().to_owned();
    let new_kid = srv.services.rotate_signing_key("test").await.unwrap();
    let keys = jwks().await;
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        2,
        "the new key is published before it signs"
    );
    let kid_of = |at: &str| -> String {
        let h: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(at.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        kid_of(&access(&srv.login("kim@example.com", STRONG).await)),
        old_kid
    );
    srv.clock.advance(31);
    let fresh = srv.login("kim@example.com", STRONG).await;
    assert_eq!(kid_of(&access(&fresh)), new_kid);
    srv.clock.advance(100);
    // A token signed by the old key before rotation still verifies until it expires.
    assert_eq!(me(&srv, &access(&old)).await, 200);
    // Once every old-key token has expired, the old key leaves the JWKS.
    srv.clock.advance(900);
    let keys = jwks().await;
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str()]);
    srv.stop().await;
}

async fn pyjwt_verifies_access_tokens_against_the_jwks(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("lee@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("lee@example.com", STRONG).await);
    let script = r#"
import sys, jwt
url, token, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token).key
claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=issuer, issuer=issuer,
                    options={"require": ["exp", "iat", "sub", "sid", "jti"]})
print(claims["sub"])
try:
    jwt.decode(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), key, algorithms=["EdDSA"], audience=issuer)
    print("TAMPERED-ACCEPTED")
except jwt.InvalidSignatureError:
    print("tamper-rejected")
"#;
    let issuer = srv.config.server.public_url.clone();
    let jwks_url = srv.url("/.well-known/jwks.json");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(jwks_url)
            .arg(&at)
            .arg(issuer)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyJWT failed (install with pip install 'pyjwt[crypto]'): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sub = srv
        .services
        .store()
        .user_by_email(&portcullis_core::email::Email::parse("lee@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![sub.as_str(), "tamper-rejected"]
    );
    srv.stop().await;
}
