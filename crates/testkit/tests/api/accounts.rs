//! Issue 16 item 5: one mailbox is one account, registrations are throttled per source,
//! JSON bodies must be objects, credentials are unambiguous, and the public proof-of-work
//! challenge is as hard as sign-in demands.

use portcullis_core::config::RouteConfig;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, STRONG2, TestServer, access, client};
use serde_json::json;

use crate::send;

on_both!(
    one_mailbox_one_account,
    json_bodies_must_be_objects,
    one_credential_at_a_time
);

async fn one_mailbox_one_account(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    let reg = |email: &str, pw: &str| {
        client()
            .post(srv.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": pw}))
    };
    let (s, body, _) = send(reg("user@exämple.com", STRONG)).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["user"]["email"], "user@xn--exmple-cua.com");
    // The A-label and an upper-case U-label spelling are the same mailbox.
    for same in ["user@xn--exmple-cua.com", "USER@EXÄMPLE.COM"] {
        let (s, body, _) = send(reg(same, STRONG2)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (409, Some("conflict")),
            "{same}"
        );
    }
    // Sign-in works with either spelling.
    for spelling in ["user@xn--exmple-cua.com", "User@exämple.com"] {
        let (s, body, _) = send(
            client()
                .post(srv.url("/api/v1/auth/login"))
                .json(&json!({"email": spelling, "password": STRONG})),
        )
        .await;
        assert_eq!(s, 200, "{spelling}: {body}");
    }

    let (s, _, _) = send(reg("user@example.com", STRONG)).await;
    assert_eq!(s, 201);
    // Quoted local parts and invisible or bidi characters are refused, not a second account.
    for refused in [
        "\"user\"@example.com",
        "\u{200b}user@example.com",
        "user\u{200d}@example.com",
        "\u{feff}user@example.com",
        "user\u{202e}@example.com",
    ] {
        let (s, body, _) = send(reg(refused, STRONG2)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{refused:?}: {body}"
        );
    }
    srv.stop().await;
}

/// A JSON array (or any non-object) is no body of this API: serde's derived structs took
/// `["email", "password"]` as a login. Every endpoint that reads JSON shares the check.
async fn json_bodies_must_be_objects(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    srv.user("arr@example.com", STRONG, Role::User).await;
    let tokens = srv.login("arr@example.com", STRONG).await;
    let at = access(&tokens);
    let raw = |path: &str, body: &str| {
        client()
            .post(srv.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let array_login = format!("[\"arr@example.com\", \"{STRONG}\"]");
    let (s, body, _) = send(raw("/api/v1/auth/login", &array_login)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    for (path, bad) in [
        ("/api/v1/auth/login", " \n[\"arr@example.com\"]".to_owned()),
        ("/api/v1/auth/login", "\"arr@example.com\"".to_owned()),
        ("/api/v1/auth/login", "null".to_owned()),
        ("/api/v1/auth/login", "42".to_owned()),
        (
            "/api/v1/auth/register",
            format!("[\"new@example.com\", \"{STRONG}\"]"),
        ),
        (
            "/api/v1/auth/refresh",
            format!("[{}]", tokens["refresh_token"]),
        ),
    ] {
        let (s, body, _) = send(raw(path, &bad)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{path} {bad}: {body}"
        );
    }
    // The same for authenticated endpoints and the ones that read their body by hand.
    for (path, bad) in [
        ("/api/v1/auth/api-keys", "[\"k\", [\"a\"]]"),
        ("/api/v1/auth/api-keys/nope/rotate", "[60]"),
    ] {
        let (s, body, _) = send(raw(path, bad).bearer_auth(&at)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {body}"
        );
    }
    // Not JSON at all is still `invalid_json`; an object still works.
    let (s, body, _) = send(raw("/api/v1/auth/login", "[nope")).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    let (s, _, _) = send(raw(
        "/api/v1/auth/login",
        &format!("{{\"email\": \"arr@example.com\", \"password\": \"{STRONG}\"}}"),
    ))
    .await;
    assert_eq!(s, 200);
    srv.stop().await;
}

/// A bearer token and an X-API-Key together are ambiguous: 400, in the API and in the
/// gateway, instead of one of them silently winning.
async fn one_credential_at_a_time(b: Backend) {
    let up = crate::gateway::start_upstream().await;
    let srv = TestServer::start_with(b, move |c| {
        c.routes = vec![RouteConfig {
            name: "svc".into(),
            prefix: "/svc".into(),
            upstreams: vec![format!("http://{up}")],
            ..RouteConfig::default()
        }];
    })
    .await;
    srv.user("two@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("two@example.com", STRONG).await);
    let (s, k) = crate::call(
        &srv,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        Some(&at),
        Some(json!({"name": "k", "scopes": ["x"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    for path in ["/api/v1/auth/me", "/svc/x"] {
        // Each alone works.
        let (s, body, _) = send(client().get(srv.url(path)).bearer_auth(&at)).await;
        assert_eq!(s, 200, "{path} bearer: {body}");
        let (s, body, _) = send(client().get(srv.url(path)).header("x-api-key", &key)).await;
        assert_eq!(s, 200, "{path} key: {body}");
        // Together, in either combination of who is valid, they are refused.
        for (bearer, api_key) in [
            (at.as_str(), key.as_str()),
            (key.as_str(), key.as_str()),
            ("not-a-token", key.as_str()),
            (at.as_str(), "pcl_invalid"),
        ] {
            let (s, body, _) = send(
                client()
                    .get(srv.url(path))
                    .bearer_auth(bearer)
                    .header("x-api-key", api_key),
            )
            .await;
            assert_eq!(
                (s, body["code"].as_str()),
                (400, Some("invalid_request")),
                "{path}: {body}"
            );
        }
        // The same header twice is ambiguous too.
        let (s, body, _) = send(
            client()
                .get(srv.url(path))
                .header("x-api-key", &key)
                .header("x-api-key", "pcl_other"),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {body}"
        );
    }
    srv.stop().await;
}
