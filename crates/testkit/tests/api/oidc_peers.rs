//! Independent peers through the OpenID provider: npm `openid-client` (an OpenID-certified
//! client) with Debian's Chromium driven by `playwright-core` (PAR, PKCE, DPoP, password,
//! TOTP, a passkey in the virtual authenticator, consent, refresh, revocation, logout), and
//! Python's Authlib (code + PKCE, client credentials) as a second client.

use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access};
use serde_json::{Value, json};

use crate::oauth::run_peer;
use crate::oidc::{REDIRECT, register_app};
use crate::post;

on_both!(openid_client_in_chromium, authlib_client);

/// A server at `http://localhost:PORT`: WebAuthn needs a domain as relying party id.
async fn localhost_server(b: Backend) -> TestServer {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    TestServer::start_with(b, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = format!("http://localhost:{port}");
        // A quick proof-of-work: the page's script solves it in the browser.
        c.detection.pow_difficulty = 5000;
    })
    .await
}

fn js(name: &str) -> String {
    format!("{}/tests/js/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn py(name: &str) -> String {
    format!("{}/tests/py/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn openid_client_in_chromium(b: Backend) {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (apt-get install chromium; scripts/test.sh installs it)"
    );
    let srv = localhost_server(b).await;
    let issuer = srv.config.server.public_url.clone();
    srv.user("pw@example.com", STRONG, Role::User).await;
    srv.user("totp@example.com", STRONG, Role::User).await;
    srv.user("pk@example.com", STRONG, Role::User).await;
    // TOTP enrolled with the previous step's code (one step of drift is allowed), so the
    // browser signs in with the current step's.
    let at = access(&srv.login("totp@example.com", STRONG).await);
    let (s, setup) = post(&srv, "/api/v1/auth/mfa/setup", Some(&at), Value::Null).await;
    assert_eq!(s, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let now = srv.clock.now();
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/confirm",
        Some(&at),
        json!({"code": crate::mfa::pyotp(&secret, now - 30)}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let pk_token = access(&srv.login("pk@example.com", STRONG).await);
    // Wrong passwords on one account: an unknown browser must solve a proof-of-work.
    srv.user("pow@example.com", STRONG, Role::User).await;
    for _ in 0..6 {
        let (s, _) = post(
            &srv,
            "/api/v1/auth/login",
            None,
            json!({"email": "pow@example.com", "password": "not the password at all"}),
        )
        .await;
        assert_eq!(s, 401);
    }
    let (id, _) = register_app(&srv, "none", |c| {
        c.post_logout_redirect_uris = Some(vec!["http://127.0.0.1:9/bye".into()]);
    })
    .await;

    let (device, _) = register_app(&srv, "none", |c| {
        c.redirect_uris = vec![];
        c.post_logout_redirect_uris = None;
        c.grant_types = vec![
            "urn:ietf:params:oauth:grant-type:device_code".into(),
            "refresh_token".into(),
        ];
    })
    .await;
    // The device polls on real time: the server's clock moves with it from here.
    let ticking = {
        let clock = srv.clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                clock.advance(1);
            }
        })
    };
    let out = run_peer(
        "node",
        &js("oidc_browser.mjs"),
        &[
            &issuer,
            &id,
            STRONG,
            "pw@example.com",
            "totp@example.com",
            &secret,
            &now.to_string(),
            "pk@example.com",
            &pk_token,
            &device,
            "pow@example.com",
        ],
    )
    .await;
    ticking.abort();
    eprintln!("peer: {out}");
    assert_eq!(
        out["discovery"]["authorization_endpoint"],
        format!("{issuer}/oauth2/authorize")
    );
    assert_eq!(out["discovery"]["iss_parameter"], true);
    assert_eq!(out["signin_title"], "Sign in · Portcullis");
    let csp = out["signin_csp"].as_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("'nonce-"),
        "{csp}"
    );
    assert_eq!(
        out["console_errors"],
        json!([]),
        "no CSP or SRI errors in the pages"
    );
    assert!(
        out["consent_text"]
            .as_str()
            .unwrap()
            .contains("See your email address")
    );

    let f1 = &out["flow1"];
    assert_eq!(f1["token_type"], "dpop", "{f1}");
    assert_eq!(f1["amr"], json!(["pwd"]));
    assert_eq!(f1["nonce_ok"], true);
    assert_eq!(f1["userinfo_email"], "pw@example.com");
    assert_eq!(f1["rotated"], true);
    assert_eq!(f1["refresh_without_proof"], "invalid_grant");
    assert_eq!(f1["after_revocation"], "invalid_grant");
    assert_eq!(
        out["logout"]["landed"],
        "http://127.0.0.1:9/bye?state=bye-1"
    );
    assert_eq!(out["logout"]["signin_again"], "/oauth2/signin");

    assert_eq!(
        out["flow2"]["amr"],
        json!(["pwd", "otp"]),
        "{}",
        out["flow2"]
    );
    assert_eq!(out["flow2"]["acr"], "urn:portcullis:acr:2fa");
    let pk_amr = out["flow3"]["amr"].as_array().unwrap();
    assert!(
        pk_amr.iter().any(|m| m == "hwk" || m == "swk"),
        "{}",
        out["flow3"]
    );
    assert_eq!(out["flow5"]["token_type"], "bearer", "{}", out["flow5"]);
    assert_eq!(out["flow5"]["amr"], json!(["pwd"]));
    assert_eq!(out["flow5"]["has_refresh"], true);
    assert_eq!(out["flow6"]["challenged"], true, "{}", out["flow6"]);
    assert_eq!(out["flow6"]["amr"], json!(["pwd"]));
    eprintln!(
        "benchmark: a full hosted sign-in (PAR, password, consent, code exchange with DPoP) took {} ms in Chromium",
        out["hosted_signin_ms"]
    );
}

async fn authlib_client(b: Backend) {
    let srv = crate::oauth::server(b).await;
    let issuer = srv.config.server.public_url.clone();
    srv.user("al@example.com", STRONG, Role::User).await;
    let (id, secret) = register_app(&srv, "client_secret_basic", |c| {
        c.grant_types.push("client_credentials".into());
    })
    .await;
    let out = run_peer(
        "python3",
        &py("oidc_authlib.py"),
        &[&issuer, &id, &secret, REDIRECT, "al@example.com", STRONG],
    )
    .await;
    assert_eq!(out["token_type"], "Bearer", "{out}");
    assert_eq!(out["id_token_aud"], id.as_str());
    assert_eq!(out["id_token_verified"], true);
    assert_eq!(out["userinfo_email"], "al@example.com");
    assert_eq!(out["refreshed"], true);
    assert_eq!(out["client_credentials_scope"], "orders:read");
    assert_eq!(out["iss_in_callback"], issuer.as_str());
}
