use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, STRONG2, TestServer, access, client};
use serde_json::json;

use crate::send;

on_both!(
    list_and_revoke_sessions,
    oldest_session_is_evicted_past_the_cap,
    password_change_revokes_other_sessions,
    ended_sessions_are_purged
);

async fn me(srv: &TestServer, at: &str) -> u16 {
    send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at))
        .await
        .0
}

async fn list_and_revoke_sessions(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("mia@example.com", STRONG, Role::User).await;
    srv.user("ned@example.com", STRONG, Role::User).await;
    let a = srv.login("mia@example.com", STRONG).await;
    let bb = srv.login("mia@example.com", STRONG).await;
    let c = srv.login("mia@example.com", STRONG).await;
    let ned = srv.login("ned@example.com", STRONG).await;

    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/auth/sessions"))
            .bearer_auth(access(&a))
            .header("user-agent", "test-agent"),
    )
    .await;
    assert_eq!(s, 200);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], a["session_id"]);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    for key in [
        "id",
        "created_at",
        "last_seen_at",
        "ip",
        "user_agent",
        "current",
    ] {
        assert!(sessions[0].get(key).is_some(), "{key}");
    }

    // Someone else's session is not found, not forbidden: ids are not confirmed.
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!(
                "/api/v1/auth/sessions/{}",
                ned["session_id"].as_str().unwrap()
            )))
            .bearer_auth(access(&a)),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(me(&srv, &access(&ned)).await, 200);
    let (s, _, _) = send(
        client()
            .delete(srv.url("/api/v1/auth/sessions/not-an-id"))
            .bearer_auth(access(&a)),
    )
    .await;
    assert_eq!(s, 404);

    // Revoke one.
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!(
                "/api/v1/auth/sessions/{}",
                bb["session_id"].as_str().unwrap()
            )))
            .bearer_auth(access(&a)),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(me(&srv, &access(&bb)).await, 401);
    assert_eq!(me(&srv, &access(&c)).await, 200);

    // Revoke all others.
    let (s, _, _) = send(
        client()
            .delete(srv.url("/api/v1/auth/sessions"))
            .bearer_auth(access(&a)),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(me(&srv, &access(&c)).await, 401);
    assert_eq!(me(&srv, &access(&a)).await, 200);
    let (_, body, _) = send(
        client()
            .get(srv.url("/api/v1/auth/sessions"))
            .bearer_auth(access(&a)),
    )
    .await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    srv.stop().await;
}

async fn oldest_session_is_evicted_past_the_cap(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.auth.max_sessions_per_user = 2).await;
    srv.user("ola@example.com", STRONG, Role::User).await;
    let first = srv.login("ola@example.com", STRONG).await;
    srv.clock.advance(1);
    let second = srv.login("ola@example.com", STRONG).await;
    srv.clock.advance(1);
    let third = srv.login("ola@example.com", STRONG).await;
    assert_eq!(me(&srv, &access(&first)).await, 401, "oldest evicted");
    assert_eq!(me(&srv, &access(&second)).await, 200);
    assert_eq!(me(&srv, &access(&third)).await, 200);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "auth.session.revoked"
                && e.details.contains("max_sessions_per_user"))
    );
    srv.stop().await;
}

async fn password_change_revokes_other_sessions(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("pat@example.com", STRONG, Role::User).await;
    let here = srv.login("pat@example.com", STRONG).await;
    let elsewhere = srv.login("pat@example.com", STRONG).await;
    let change = |cur: &str, new: &str| {
        client()
            .post(srv.url("/api/v1/auth/password"))
            .bearer_auth(access(&here))
            .json(&json!({"current_password": cur, "new_password": new}))
    };
    let (s, body, _) = send(change("wrong password 123", STRONG2)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (s, body, _) = send(change(STRONG, "pat@example.com")).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("weak_password")));
    let (s, body, _) = send(change(STRONG, STRONG)).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("weak_password")));
    let (s, _, _) = send(change(STRONG, STRONG2)).await;
    assert_eq!(s, 204);
    assert_eq!(
        me(&srv, &access(&here)).await,
        200,
        "the current session stays"
    );
    assert_eq!(
        me(&srv, &access(&elsewhere)).await,
        401,
        "every other session is revoked"
    );
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "pat@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!(s, 401);
    srv.login("pat@example.com", STRONG2).await;
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.action == "auth.password.changed"));
    srv.stop().await;
}

async fn ended_sessions_are_purged(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("quinn@example.com", STRONG, Role::User).await;
    let old = srv.login("quinn@example.com", STRONG).await;
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/logout"))
            .bearer_auth(access(&old)),
    )
    .await;
    assert_eq!(s, 204);
    let live = srv.login("quinn@example.com", STRONG).await;
    assert_eq!(
        srv.services.purge_expired().await.unwrap(),
        0,
        "nothing is old enough yet"
    );
    srv.clock.advance(86_401);
    assert_eq!(
        srv.services.purge_expired().await.unwrap(),
        1,
        "the session revoked a day ago goes"
    );
    // The live session (idle for a day, within the refresh lifetime) stays.
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": live["refresh_token"]})),
    )
    .await;
    assert_eq!(s, 200);
    srv.stop().await;
}
