//! Fault injection: the wall clock jumps forward and backward (an NTP step, a VM restored
//! from a snapshot). Tokens, TOTP, the login throttle, gateway rate limits and the audit
//! log must keep failing closed and recover without a restart.

use portcullis_core::clock::Clock;
use portcullis_core::config::{RateLimitBy, RateLimitConfig, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client, refresh};
use serde_json::json;

use crate::gateway::{open_route, start_upstream};
use crate::mfa::{enrol, pyotp};
use crate::{post, send};

on_both!(clock_jumps);

const HOUR: i64 = 3600;

async fn me(srv: &TestServer, at: &str) -> (u16, String) {
    let (s, body, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at)).await;
    (s, body["detail"].as_str().unwrap_or("").to_owned())
}

async fn clock_jumps(b: Backend) {
    let up = start_upstream().await;
    let srv = TestServer::start_with(b, |c| {
        c.routes = vec![RouteConfig {
            rate_limit: Some(RateLimitConfig {
                requests: 2,
                window_seconds: 60,
                by: RateLimitBy::Ip,
            }),
            ..open_route("limited", up)
        }];
    })
    .await;
    srv.user("admin@example.com", STRONG, Role::Admin).await;
    srv.user("clock@example.com", STRONG, Role::User).await;
    let tokens = srv.login("clock@example.com", STRONG).await;
    let (at, rt) = (access(&tokens), refresh(&tokens));
    assert_eq!(me(&srv, &at).await.0, 200, "seen once: now cached");

    // Backward by an hour: the token now claims to be issued in the future. Refused, from
    // the verified-token cache as much as from a fresh verification...
    srv.clock.advance(-HOUR);
    let (s, detail) = me(&srv, &at).await;
    assert_eq!(s, 401);
    assert!(detail.contains("future"), "{detail}");
    // ...and the client recovers by refreshing: the refresh token is still within its life.
    let (s, t2) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": rt}),
    )
    .await;
    assert_eq!(s, 200, "{t2}");
    let (at2, rt2) = (access(&t2), refresh(&t2));
    assert_eq!(me(&srv, &at2).await.0, 200);
    // Reuse detection does not depend on the clock: the rotated-out token is refused and
    // takes its family with it.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": rt}),
    )
    .await;
    assert_eq!(s, 401, "{body}");
    let (s, _) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": rt2}),
    )
    .await;
    assert_eq!(s, 401, "the family is revoked");

    // Forward past the access-token lifetime: expired, cached or not.
    let t3 = srv.login("clock@example.com", STRONG).await;
    let (at3, rt3) = (access(&t3), refresh(&t3));
    assert_eq!(me(&srv, &at3).await.0, 200);
    srv.clock.advance(901);
    let (s, detail) = me(&srv, &at3).await;
    assert_eq!((s, detail.contains("expired")), (401, true), "{detail}");
    // Forward past the refresh-token lifetime (7 days): the session is over.
    srv.clock.advance(7 * 24 * HOUR);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": rt3}),
    )
    .await;
    assert_eq!(s, 401, "{body}");

    // TOTP: a code is used at T; the clock steps back ten minutes. The codes of the
    // stepped-back time are refused (their steps are not after the last one used), so a
    // code captured earlier can never be replayed by rewinding the clock; once the clock
    // passes T again, the next code works once.
    let at = access(&srv.login("clock@example.com", STRONG).await);
    let (secret, _) = enrol(&srv, &at).await;
    let mfa = |srv: &TestServer| {
        let srv = srv.url("/api/v1/auth/login");
        async move {
            let (s, body, _) = send(
                client()
                    .post(srv)
                    .json(&json!({"email": "clock@example.com", "password": STRONG})),
            )
            .await;
            assert_eq!(s, 200, "{body}");
            body["mfa_token"].as_str().unwrap().to_owned()
        }
    };
    let used_at = srv.clock.now();
    srv.clock.advance(-600);
    for t in [srv.clock.now(), used_at] {
        let token = mfa(&srv).await;
        let (s, body) = post(
            &srv,
            "/api/v1/auth/mfa/verify",
            None,
            json!({"mfa_token": token, "code": pyotp(&secret, t)}),
        )
        .await;
        assert_eq!(s, 401, "code of {t} after the step back: {body}");
    }
    srv.clock.advance(600 + 30);
    let code = pyotp(&secret, srv.clock.now());
    let token = mfa(&srv).await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": code}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let token = mfa(&srv).await;
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": code}),
    )
    .await;
    assert_eq!(s, 401, "a used code stays used");

    // Gateway rate limits run on the monotonic clock: no wall-clock jump refills them.
    for _ in 0..2 {
        let (s, _, _) = send(client().get(srv.url("/limited/x"))).await;
        assert_eq!(s, 200);
    }
    for jump in [HOUR, -3 * HOUR] {
        srv.clock.advance(jump);
        let (s, body, _) = send(client().get(srv.url("/limited/x"))).await;
        assert_eq!((s, body["code"].as_str()), (429, Some("rate_limited")));
    }
    srv.clock.advance(2 * HOUR);

    // Login throttle: a source spraying ten accounts is blocked; a step back keeps the
    // block (it never shortens one); a step forward past it ends it.
    srv.user("victim@example.com", STRONG, Role::User).await;
    for i in 0..10 {
        let wrong = json!({"email": format!("sprayed{i}@example.com"), "password": "not the password at all"});
        let (s, _) = post(&srv, "/api/v1/auth/login", None, wrong).await;
        assert_eq!(s, 401);
    }
    let right = json!({"email": "victim@example.com", "password": STRONG});
    srv.clock.advance(-HOUR);
    let (s, body) = post(&srv, "/api/v1/auth/login", None, right.clone()).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("too_many_attempts")));
    srv.clock.advance(HOUR + 2 * HOUR);
    let (s, body) = post(&srv, "/api/v1/auth/login", None, right).await;
    assert_eq!(s, 200, "{body}");

    // The audit log recorded all of it, with times that went backwards, and still verifies.
    let admin = access(&srv.login("admin@example.com", STRONG).await);
    let (s, v, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit/verify"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((s, v["ok"].as_bool()), (200, Some(true)), "{v}");
    srv.stop().await;
}
