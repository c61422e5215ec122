use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, STRONG2, TestServer, access, claims, client};
use serde_json::json;

use crate::send;

on_both!(
    concurrent_failures_all_count,
    registration_and_login,
    unknown_email_and_wrong_password_look_alike,
    locked_account,
    login_throttling,
    hashing_pool_sheds_load
);

async fn registration_and_login(b: Backend) {
    let closed = TestServer::start(b).await;
    let (s, body, _) = send(
        client()
            .post(closed.url("/api/v1/auth/register"))
            .json(&json!({"email": "a@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    closed.stop().await;

    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    let reg = |email: &str, pw: &str| {
        client()
            .post(srv.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": pw, "display_name": "Alice"}))
    };
    let (s, body, _) = send(reg("  Alice@Example.COM ", STRONG)).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["user"]["mfa_enabled"], false);
    assert!(body["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(body["user"].get("password_hash").is_none());

    // Same address after normalisation: conflict.
    let (s, body, _) = send(reg("alice@example.com", STRONG2)).await;
    assert_eq!((s, body["code"].as_str()), (409, Some("conflict")));

    // Weak passwords say why.
    let (s, body, _) = send(reg("bob@example.com", "short")).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("weak_password")));
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(body["errors"][0]["code"], "too_short");
    let (s, body, _) = send(reg("bob@example.com", "password1234")).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (422, Some("too_weak"))
    );
    let (s, body, _) = send(reg("bob@example.com", &"x".repeat(129))).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (422, Some("too_long"))
    );
    let (s, body, _) = send(reg("not-an-email", STRONG)).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));

    // Login, token shape, /me.
    let tokens = srv.login("ALICE@example.com", STRONG).await;
    assert_eq!(tokens["status"], "ok");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let at = access(&tokens);
    let c = claims(&at);
    assert_eq!(c["iss"], srv.config.server.public_url.as_str());
    assert_eq!(c["role"], "user");
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["sid"], tokens["session_id"]);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert!(c["jti"].is_string() && c["auth_time"].is_i64());
    let (s, me, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["display_name"], "Alice");
    assert_eq!(me["user"]["id"], c["sub"]);

    // NFKC: the same password typed in fullwidth form signs in too.
    let fullwidth: String = STRONG
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                char::from_u32(ch as u32 + 0xFEE0).unwrap()
            } else {
                ch
            }
        })
        .collect();
    srv.login("alice@example.com", &fullwidth).await;

    // Logout kills the access token and the refresh token at once.
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/logout"))
            .bearer_auth(&at),
    )
    .await;
    assert_eq!(s, 204);
    let (s, body, h) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // A header that is not `Bearer <token>` is an RFC 6750 invalid_request; none at all has
    // no error parameter.
    for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer "] {
        let (s, body, h) = send(
            client()
                .get(srv.url("/api/v1/auth/me"))
                .header("authorization", bad),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("unauthenticated")),
            "{bad}"
        );
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_request\""),
            "{bad}"
        );
    }
    let (_, _, h) = send(client().get(srv.url("/api/v1/auth/me"))).await;
    assert_eq!(h["www-authenticate"], "Bearer realm=\"portcullis\"");
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": tokens["refresh_token"]})),
    )
    .await;
    assert_eq!(s, 401);
    srv.stop().await;
}

async fn unknown_email_and_wrong_password_look_alike(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("carol@example.com", STRONG, Role::User).await;
    let login = |email: &str| {
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "wrong password 123"}))
    };
    let (s1, b1, h1) = send(login("carol@example.com")).await;
    let (s2, b2, h2) = send(login("nobody@example.com")).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1, b2);
    assert_eq!(b1["code"], "invalid_credentials");
    assert_eq!(h1["www-authenticate"], h2["www-authenticate"]);
    // Both are audited as failures; neither body mentions whether the account exists.
    assert!(!b1.to_string().contains("exist"));
    srv.stop().await;
}

async fn locked_account(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let uid = srv.user("dave@example.com", STRONG, Role::User).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let dave = srv.login("dave@example.com", STRONG).await;

    let (s, _, _) = send(
        client()
            .post(srv.url(&format!("/api/v1/admin/users/{uid}/lock")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    // Locking revoked the session: access and refresh tokens stop at once.
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(access(&dave)),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": dave["refresh_token"]})),
    )
    .await;
    assert_eq!(s, 401);
    // Right password: 423. Wrong password: still the generic 401, so a lock reveals nothing.
    let login = |pw: &str| {
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "dave@example.com", "password": pw}))
    };
    let (s, body, _) = send(login(STRONG)).await;
    assert_eq!((s, body["code"].as_str()), (423, Some("account_locked")));
    let (s, body, _) = send(login("not the password 1")).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let (s, _, _) = send(
        client()
            .post(srv.url(&format!("/api/v1/admin/users/{uid}/unlock")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    srv.login("dave@example.com", STRONG).await;
    srv.stop().await;
}

async fn login_throttling(b: Backend) {
    // Trust loopback as a proxy so the test can speak from many client IPs.
    let srv = TestServer::start_with(b, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.detection.pow_difficulty = 1000;
    })
    .await;
    srv.user("erin@example.com", STRONG, Role::User).await;
    let attempt = |email: &str, pw: &str, ip: &str| {
        client()
            .post(srv.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip.to_owned())
            .json(&json!({"email": email, "password": pw}))
    };
    // The owner signs in from her laptop, which keeps the device cookie.
    let (s, owner, h) = send(attempt("erin@example.com", STRONG, "203.0.113.9")).await;
    assert_eq!(s, 200);
    let cookie = h["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // A flood against her account from many IPs: five wrong passwords are answered as
    // such; then a device the account does not know must solve a proof-of-work before
    // any password is checked. The account is never locked.
    let mut codes = Vec::new();
    for i in 0..8 {
        let (s, body, _) = send(attempt(
            "erin@example.com",
            "wrong password 123",
            &format!("198.51.100.{i}"),
        ))
        .await;
        assert_eq!(s, 401);
        codes.push(body["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(&codes[..5], &["invalid_credentials"; 5]);
    assert_eq!(&codes[5..], &["challenge_required"; 3]);
    // The right password from a new device is challenged too...
    let (s, body, _) = send(attempt("erin@example.com", STRONG, "203.0.113.5")).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    // ...and gets in with the solved challenge.
    let payload = crate::detection::solve(&body["challenge"]);
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .header("x-forwarded-for", "203.0.113.5")
            .json(&json!({"email": "erin@example.com", "password": STRONG, "altcha": payload})),
    )
    .await;
    assert_eq!(s, 200);
    // From her known device she signs in at once, and her existing session was untouched.
    let (s, _, _) =
        send(attempt("erin@example.com", STRONG, "203.0.113.9").header("cookie", cookie.clone()))
            .await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(access(&owner)),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": owner["refresh_token"]})),
    )
    .await;
    assert_eq!(s, 200);

    // One IP spraying many accounts is blocked for every account.
    srv.clock.advance(3601);
    for i in 0..10 {
        let (s, _, _) = send(attempt(
            &format!("spray{i}@example.com"),
            "wrong password 123",
            "192.0.2.66",
        ))
        .await;
        assert_eq!(s, 401, "attempt {i}");
    }
    let (s, body, _) = send(attempt("erin@example.com", STRONG, "192.0.2.66")).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("too_many_attempts")));
    // Other IPs are not affected.
    let (s, _, _) = send(attempt("erin@example.com", STRONG, "192.0.2.67")).await;
    assert_eq!(s, 200);
    srv.stop().await;
}

async fn hashing_pool_sheds_load(b: Backend) {
    // One hashing slot, no queue, expensive hashes: concurrent logins past the bound are
    // answered 429 at once instead of piling up.
    let srv = TestServer::start_with(b, |c| {
        c.auth.password.max_concurrent_hashes = 1;
        c.auth.password.max_queued_hashes = 0;
        c.auth.password.argon2_memory_kib = 65_536;
        c.auth.password.argon2_iterations = 3;
    })
    .await;
    srv.user("frank@example.com", STRONG, Role::User).await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let url = srv.url("/api/v1/auth/login");
        handles.push(tokio::spawn(async move {
            send(
                client()
                    .post(url)
                    .json(&json!({"email": "frank@example.com", "password": STRONG})),
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut shed = 0;
    for h in handles {
        let (s, body, headers) = h.await.unwrap();
        match s {
            200 => ok += 1,
            429 => {
                assert_eq!(body["code"], "rate_limited");
                assert!(headers.contains_key("retry-after"));
                shed += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert!(ok >= 1 && shed >= 1, "ok={ok} shed={shed}");
    srv.stop().await;
}

async fn concurrent_failures_all_count(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("gus@example.com", STRONG, Role::User).await;
    let mut handles = Vec::new();
    for _ in 0..12 {
        let url = srv.url("/api/v1/auth/login");
        handles.push(tokio::spawn(async move {
            send(
                client()
                    .post(url)
                    .json(&json!({"email": "gus@example.com", "password": "wrong password 123"})),
            )
            .await
            .0
        }));
    }
    for h in handles {
        let s = h.await.unwrap();
        assert!(s == 401 || s == 429, "{s}");
    }
    // The failures were counted, not one: a device the account does not know must solve a
    // proof-of-work now (the account itself is not locked).
    let (s, body, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "gus@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    srv.stop().await;
}
