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
    one_credential_at_a_time,
    registrations_are_counted_per_source,
    public_challenge_is_as_hard_as_sign_in,
    accounts_stored_under_the_old_spelling_are_found
);

/// An account stored by an older version, under its Unicode domain (before A-labels), still
/// signs in under every spelling, and nobody can register its mailbox again.
async fn accounts_stored_under_the_old_spelling_are_found(b: Backend) {
    use portcullis_core::crypto::passwords::{Argon2Params, PasswordHasher};
    use portcullis_core::email::Email;
    use portcullis_core::model::User;
    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    let rng = portcullis_core::rand::OsRng;
    let params = Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    let hasher = PasswordHasher::new(params, 1, 4, &rng).unwrap();
    let hash = hasher
        .hash(secrecy::SecretString::from(STRONG.to_owned()), &rng)
        .await
        .unwrap();
    let now = portcullis_core::clock::Clock::now(srv.clock.as_ref());
    let user = User {
        id: "0190a0a0-0000-7000-8000-000000000001".into(),
        email: Email::from_stored("old@exämple.com".into()),
        display_name: None,
        role: Role::User,
        password_hash: Some(hash),
        mfa_enabled: false,
        locked: false,
        email_verified: false,
        must_change_password: false,
        created_at: now,
        updated_at: now,
    };
    let mut tx = srv.services.store().begin().await.unwrap();
    tx.insert_user(&user).await.unwrap();
    tx.commit().await.unwrap();
    for spelling in [
        "old@exämple.com",
        "OLD@EXÄMPLE.COM",
        "old@xn--exmple-cua.com",
    ] {
        let (s, body, _) = send(
            client()
                .post(srv.url("/api/v1/auth/login"))
                .json(&json!({"email": spelling, "password": STRONG})),
        )
        .await;
        assert_eq!(s, 200, "{spelling}: {body}");
    }
    let (s, body, _) = send(
        client()
            .post(srv.url("/api/v1/auth/register"))
            .json(&json!({"email": "old@xn--exmple-cua.com", "password": STRONG2})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    srv.stop().await;
}

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

/// Self-registration is counted per source like failed sign-ins: three an hour are free,
/// the next is challenged (ALTCHA), a source that keeps going gets 429; another address is
/// not affected.
async fn registrations_are_counted_per_source(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.auth.self_registration = true;
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.detection.pow_difficulty = 1000;
    })
    .await;
    let reg = |email: &str, ip: &str, altcha: Option<&str>| {
        let mut body = json!({"email": email, "password": STRONG});
        if let Some(a) = altcha {
            body["altcha"] = json!(a);
        }
        client()
            .post(srv.url("/api/v1/auth/register"))
            .header("x-forwarded-for", ip.to_owned())
            .json(&body)
    };
    let bot = "198.51.100.7";
    for i in 0..3 {
        let (s, body, _) = send(reg(&format!("bot{i}@example.com"), bot, None)).await;
        assert_eq!(s, 201, "registration {i}: {body}");
    }
    let (s, challenged, _) = send(reg("bot3@example.com", bot, None)).await;
    assert_eq!(
        (s, challenged["code"].as_str()),
        (401, Some("challenge_required")),
        "{challenged}"
    );
    // Another address is fine.
    let (s, body, _) = send(reg("human@example.com", "198.51.100.8", None)).await;
    assert_eq!(s, 201, "{body}");
    // The public challenge for this address is as hard as the gate, and solving it lets the
    // registration through.
    let (s, ahead, _) = send(
        client()
            .get(srv.url("/api/v1/auth/challenge"))
            .header("x-forwarded-for", bot),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ahead["maxnumber"], challenged["challenge"]["maxnumber"]);
    let payload = crate::detection::solve(&ahead);
    let (s, body, _) = send(reg("bot3@example.com", bot, Some(&payload))).await;
    assert_eq!(s, 201, "{body}");
    // A source that keeps going is refused outright, without more work for the server.
    let mut codes = Vec::new();
    for i in 0..20 {
        let (s, body, _) = send(reg(&format!("more{i}@example.com"), bot, None)).await;
        codes.push((s, body["code"].as_str().unwrap_or("").to_owned()));
        if s == 429 {
            break;
        }
    }
    let last = codes.last().unwrap().clone();
    assert_eq!(last, (429, "too_many_attempts".to_owned()), "{codes:?}");
    assert!(
        codes[..codes.len() - 1]
            .iter()
            .all(|(s, c)| *s == 401 && c == "challenge_required"),
        "{codes:?}"
    );
    let (s, body, _) = send(reg("human2@example.com", "198.51.100.8", None)).await;
    assert_eq!(s, 201, "{body}");
    srv.stop().await;
}

/// `GET /auth/challenge` hands out the difficulty sign-in demands (one level function):
/// after wrong passwords on an account, its sign-in asks for a harder proof-of-work than the
/// service-wide level, and the challenge fetched for that email must be as hard.
async fn public_challenge_is_as_hard_as_sign_in(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.detection.pow_difficulty = 1000;
    })
    .await;
    srv.user("erin@example.com", STRONG, Role::User).await;
    let login = |ip: &str, pw: &str, altcha: Option<&str>| {
        let mut body = json!({"email": "erin@example.com", "password": pw});
        if let Some(a) = altcha {
            body["altcha"] = json!(a);
        }
        client()
            .post(srv.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip.to_owned())
            .json(&body)
    };
    for i in 0..6 {
        let (s, _, _) = send(login(
            &format!("198.51.100.{i}"),
            "wrong password 123",
            None,
        ))
        .await;
        assert_eq!(s, 401);
    }
    let (s, demanded, _) = send(login("203.0.113.5", STRONG, None)).await;
    assert_eq!(
        (s, demanded["code"].as_str()),
        (401, Some("challenge_required")),
        "{demanded}"
    );
    for spelling in ["erin@example.com", "ERIN@Example.com"] {
        let (s, ahead, _) = send(
            client()
                .get(srv.url(&format!(
                    "/api/v1/auth/challenge?email={}",
                    spelling.replace('@', "%40")
                )))
                .header("x-forwarded-for", "203.0.113.5"),
        )
        .await;
        assert_eq!(s, 200, "{ahead}");
        assert_eq!(
            ahead["maxnumber"], demanded["challenge"]["maxnumber"],
            "{spelling}"
        );
    }
    let (_, ahead, _) = send(
        client()
            .get(srv.url("/api/v1/auth/challenge?email=erin%40example.com"))
            .header("x-forwarded-for", "203.0.113.5"),
    )
    .await;
    let payload = crate::detection::solve(&ahead);
    let (s, body, _) = send(login("203.0.113.5", STRONG, Some(&payload))).await;
    assert_eq!(s, 200, "a challenge fetched ahead is accepted: {body}");
    srv.stop().await;
}
