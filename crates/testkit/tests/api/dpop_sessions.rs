//! DPoP-bound sessions of Portcullis's own API (RFC 9449): a sign-in that sends a proof
//! binds the session's tokens to the proof's key; its access tokens are then taken only with
//! the DPoP scheme and a fresh proof (at `/api/v1` and at the gateway), and its refresh
//! token only with a proof by the same key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::clock::Clock;
use portcullis_core::config::{RouteAuth, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, claims, client, refresh};
use serde_json::{Value, json};

use crate::oauth_keys::{dpop_proof_for, sign_dpop};
use crate::send;

on_both!(
    a_sign_in_with_a_proof_binds_the_session,
    bound_refresh_tokens_need_their_key,
    every_way_in_binds_and_the_gateway_checks,
);

fn new_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&portcullis_core::rand::bytes::<32>(
        &portcullis_core::rand::OsRng,
    ))
    .unwrap()
}

fn thumbprint(key: &p256::ecdsa::SigningKey) -> String {
    let point = key.verifying_key().to_sec1_point(false);
    let b = point.as_bytes();
    portcullis_core::oauth::dpop::thumbprint(&json!({"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&b[1..33]), "y": URL_SAFE_NO_PAD.encode(&b[33..65])}))
    .unwrap()
}

/// A unique `jti`.
fn jti() -> String {
    URL_SAFE_NO_PAD.encode(portcullis_core::rand::bytes::<12>(
        &portcullis_core::rand::OsRng,
    ))
}

/// A proof for a POST to one of the server's own endpoints (no token: a sign-in or refresh).
fn sign_in_proof(srv: &TestServer, key: &p256::ecdsa::SigningKey, path: &str) -> String {
    let htu = format!("{}{path}", srv.config.server.public_url);
    dpop_proof_for(key, "POST", &htu, &jti(), srv.clock.now(), None)
}

/// POSTs JSON with an optional DPoP proof.
async fn post(srv: &TestServer, path: &str, body: Value, proof: Option<String>) -> (u16, Value) {
    let mut rb = client().post(srv.url(path)).json(&body);
    if let Some(p) = proof {
        rb = rb.header("dpop", p);
    }
    let (s, b, _) = send(rb).await;
    (s, b)
}

/// GETs `path` with the DPoP scheme and a proof for it (by `key`, for `token`).
async fn get_dpop(
    srv: &TestServer,
    path: &str,
    token: &str,
    proof: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    send(
        client()
            .get(srv.url(path))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof),
    )
    .await
}

fn resource_proof(
    srv: &TestServer,
    key: &p256::ecdsa::SigningKey,
    method: &str,
    path: &str,
    token: &str,
) -> String {
    let htu = format!("{}{path}", srv.config.server.public_url);
    dpop_proof_for(key, method, &htu, &jti(), srv.clock.now(), Some(token))
}

/// Signing in with a proof gives `token_type` DPoP and `cnf.jkt`; the access token is taken
/// only with the DPoP scheme and a proof for this request, this token and that key, once.
async fn a_sign_in_with_a_proof_binds_the_session(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("dora@example.com", STRONG, Role::Admin).await;
    let key = new_key();
    let login = json!({"email": "dora@example.com", "password": STRONG});
    let proof = sign_in_proof(&srv, &key, "/api/v1/auth/login");
    let (s, t) = post(
        &srv,
        "/api/v1/auth/login",
        login.clone(),
        Some(proof.clone()),
    )
    .await;
    assert_eq!((s, t["token_type"].as_str()), (200, Some("DPoP")), "{t}");
    let at = access(&t);
    assert_eq!(claims(&at)["cnf"]["jkt"], thumbprint(&key));
    // The same proof again (a replay), or one for another endpoint: refused.
    let (s, body) = post(&srv, "/api/v1/auth/login", login.clone(), Some(proof)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );
    let elsewhere = sign_in_proof(&srv, &key, "/api/v1/auth/refresh");
    let (s, body) = post(&srv, "/api/v1/auth/login", login.clone(), Some(elsewhere)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );

    // As a Bearer token: refused, with a DPoP challenge.
    let (s, body, h) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );
    let challenge = h["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("algs="),
        "{challenge}"
    );
    // With its proof: taken, once.
    let good = resource_proof(&srv, &key, "GET", "/api/v1/auth/me", &at);
    let (s, me, _) = get_dpop(&srv, "/api/v1/auth/me", &at, &good).await;
    assert_eq!(
        (s, me["user"]["email"].as_str()),
        (200, Some("dora@example.com")),
        "{me}"
    );
    let (s, body, _) = get_dpop(&srv, "/api/v1/auth/me", &at, &good).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );
    // Proofs that name something else, or come from another key: refused.
    let other_key = new_key();
    let issuer = srv.config.server.public_url.clone();
    let now = srv.clock.now();
    let wrong = [
        resource_proof(&srv, &other_key, "GET", "/api/v1/auth/me", &at),
        resource_proof(&srv, &key, "POST", "/api/v1/auth/me", &at),
        resource_proof(&srv, &key, "GET", "/api/v1/auth/sessions", &at),
        resource_proof(&srv, &key, "GET", "/api/v1/auth/me", "another-token"),
        dpop_proof_for(
            &key,
            "GET",
            &format!("{issuer}/api/v1/auth/me"),
            &jti(),
            now,
            None,
        ),
        dpop_proof_for(
            &key,
            "GET",
            &format!("{issuer}/api/v1/auth/me"),
            &jti(),
            now - 3600,
            Some(&at),
        ),
        sign_dpop(
            &key,
            json!({"htm": "GET", "htu": format!("{issuer}/api/v1/auth/me")}),
        ),
        "not.a.proof".to_owned(),
    ];
    for p in wrong {
        let (s, body, _) = get_dpop(&srv, "/api/v1/auth/me", &at, &p).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("invalid_dpop_proof")),
            "{body}"
        );
    }
    // The DPoP scheme without its header, or with two proofs.
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("authorization", format!("DPoP {at}")),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("authorization", format!("DPoP {at}"))
            .header(
                "dpop",
                resource_proof(&srv, &key, "GET", "/api/v1/auth/me", &at),
            )
            .header(
                "dpop",
                resource_proof(&srv, &key, "GET", "/api/v1/auth/me", &at),
            ),
    )
    .await;
    assert_eq!(s, 401);
    // Administrator endpoints ask several questions of one request: one proof answers all.
    for path in ["/api/v1/admin/users", "/api/v1/admin/elevations"] {
        let p = resource_proof(&srv, &key, "GET", path, &at);
        let (s, body, _) = get_dpop(&srv, path, &at, &p).await;
        assert_eq!(s, 200, "{path}: {body}");
    }

    // An unbound session's token: Bearer only.
    let (s, plain) = post(&srv, "/api/v1/auth/login", login, None).await;
    assert_eq!((s, plain["token_type"].as_str()), (200, Some("Bearer")));
    let plain_at = access(&plain);
    assert!(claims(&plain_at).get("cnf").is_none());
    let p = resource_proof(&srv, &key, "GET", "/api/v1/auth/me", &plain_at);
    let (s, body, _) = get_dpop(&srv, "/api/v1/auth/me", &plain_at, &p).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(&plain_at),
    )
    .await;
    assert_eq!(s, 200);
    srv.stop().await;
}

/// A bound session refreshes only with a proof by its key; a refusal does not use up the
/// refresh token (a thief without the key cannot log the owner out by replaying it), and is
/// audited. An unbound session refreshes without a proof only.
async fn bound_refresh_tokens_need_their_key(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("ezra@example.com", STRONG, Role::User).await;
    let key = new_key();
    let login = json!({"email": "ezra@example.com", "password": STRONG});
    let (s, t) = post(
        &srv,
        "/api/v1/auth/login",
        login.clone(),
        Some(sign_in_proof(&srv, &key, "/api/v1/auth/login")),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let rt = json!({"refresh_token": refresh(&t)});
    let path = "/api/v1/auth/refresh";
    for proof in [None, Some(sign_in_proof(&srv, &new_key(), path))] {
        let (s, body) = post(&srv, path, rt.clone(), proof).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("invalid_dpop_proof")),
            "{body}"
        );
    }
    let (s, t2) = post(
        &srv,
        path,
        rt.clone(),
        Some(sign_in_proof(&srv, &key, path)),
    )
    .await;
    assert_eq!((s, t2["token_type"].as_str()), (200, Some("DPoP")), "{t2}");
    assert_eq!(t2["session_id"], t["session_id"]);
    assert_eq!(claims(&access(&t2))["cnf"]["jkt"], thumbprint(&key));
    // The rotated token with the right key is reuse, as ever.
    let (s, body) = post(&srv, path, rt, Some(sign_in_proof(&srv, &key, path))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("token_reused")),
        "{body}"
    );
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    let refused = events
        .iter()
        .filter(|e| e.action == "auth.token.dpop_refused")
        .count();
    assert_eq!(refused, 2);

    let (s, plain) = post(&srv, "/api/v1/auth/login", login, None).await;
    assert_eq!(s, 200);
    let rt = json!({"refresh_token": refresh(&plain)});
    let (s, body) = post(
        &srv,
        path,
        rt.clone(),
        Some(sign_in_proof(&srv, &key, path)),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "{body}"
    );
    let (s, body) = post(&srv, path, rt, None).await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("Bearer")),
        "{body}"
    );
    srv.stop().await;
}

/// The second factor's step binds as the password's does; the gateway takes a bound
/// person's token on a route for people only with its proof, for the URL the client used.
async fn every_way_in_binds_and_the_gateway_checks(b: Backend) {
    let up = crate::gateway::start_upstream().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let srv = TestServer::start_with(b, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = issuer.clone();
        c.routes = vec![RouteConfig {
            auth: RouteAuth::User,
            ..crate::gateway::open_route("people", up)
        }];
    })
    .await;
    srv.user("fay@example.com", STRONG, Role::User).await;
    let first = srv.login("fay@example.com", STRONG).await;
    let (_, recovery) = crate::mfa::enrol(&srv, &access(&first)).await;
    let key = new_key();
    let (s, pending) = post(
        &srv,
        "/api/v1/auth/login",
        json!({"email": "fay@example.com", "password": STRONG}),
        None,
    )
    .await;
    assert_eq!(
        (s, pending["status"].as_str()),
        (200, Some("mfa_required")),
        "{pending}"
    );
    let path = "/api/v1/auth/mfa/verify";
    let (s, t) = post(
        &srv,
        path,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": recovery[0]}),
        Some(sign_in_proof(&srv, &key, path)),
    )
    .await;
    assert_eq!((s, t["token_type"].as_str()), (200, Some("DPoP")), "{t}");
    let at = access(&t);
    assert_eq!(claims(&at)["cnf"]["jkt"], thumbprint(&key));

    let (s, _, _) = send(client().get(srv.url("/people/x")).bearer_auth(&at)).await;
    assert_eq!(
        s, 401,
        "a bound token is not a bearer token at the gateway either"
    );
    let p = resource_proof(&srv, &key, "GET", "/people/x", &at);
    let (s, echoed, _) = get_dpop(&srv, "/people/x", &at, &p).await;
    assert_eq!(s, 200, "{echoed}");
    let (s, _, _) = get_dpop(&srv, "/people/x", &at, &p).await;
    assert_eq!(s, 401, "a proof works once");
    let p = resource_proof(&srv, &key, "GET", "/people/y", &at);
    let (s, _, _) = get_dpop(&srv, "/people/x", &at, &p).await;
    assert_eq!(s, 401, "a proof for another URL");
    srv.stop().await;
}
