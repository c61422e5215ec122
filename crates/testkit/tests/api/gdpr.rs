//! Data-subject rights: export of everything held about a user, erasure by the user and by
//! an administrator; the audit log still verifies and a backup no longer names them.

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client, refresh};
use serde_json::{Value, json};

use crate::{call, post, send};

on_both!(export_and_erasure);

async fn get(srv: &TestServer, path: &str, at: &str) -> (u16, Value) {
    call(srv, reqwest::Method::GET, path, Some(at), None).await
}

async fn export_and_erasure(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    srv.user("admin@example.com", STRONG, Role::Admin).await;
    for (email, name) in [
        ("alice.liddell@example.com", "Alice Liddell"),
        ("bob.builder@example.com", "Bob Builder"),
    ] {
        let (s, body) = post(
            &srv,
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": STRONG, "display_name": name}),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    let first = srv.login("alice.liddell@example.com", STRONG).await;
    let t = srv.login("alice.liddell@example.com", STRONG).await;
    let at = access(&t);
    let (s, key) = post(
        &srv,
        "/api/v1/auth/api-keys",
        Some(&at),
        json!({"name": "alice laptop", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(s, 201, "{key}");

    // Export: profile, sessions, API keys, second factors, the audit events about her.
    let (s, export, h) = send(
        client()
            .get(srv.url("/api/v1/auth/me/export"))
            .bearer_auth(&at),
    )
    .await;
    assert_eq!(s, 200, "{export}");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert_eq!(export["format"], "portcullis-export-v1");
    assert_eq!(export["profile"]["email"], "alice.liddell@example.com");
    assert_eq!(export["profile"]["display_name"], "Alice Liddell");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(export["api_keys"][0]["name"], "alice laptop");
    assert!(
        export["api_keys"][0].get("key").is_none(),
        "no secret in an export"
    );
    assert_eq!(export["mfa"]["enabled"], false);
    let actions: Vec<&str> = export["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "auth.user.registered",
        "auth.login.succeeded",
        "auth.api_key.created",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let text = export.to_string();
    assert!(!text.contains("argon2"), "no password hash in an export");
    assert!(!text.contains("bob.builder"), "nothing about another user");

    // Erasure needs the password...
    let (s, body) = post(
        &srv,
        "/api/v1/auth/me/erase",
        Some(&at),
        json!({"password": "not the password at all"}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (s, _) = post(&srv, "/api/v1/auth/me/erase", Some(&at), json!({})).await;
    assert_eq!(s, 400);
    // ...and a recent sign-in or second factor.
    srv.clock.advance(3600);
    let fresh = access(&srv.login("alice.liddell@example.com", STRONG).await);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh(&t)}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let stale = access(&body);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/me/erase",
        Some(&stale),
        json!({"password": STRONG}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    let (s, body) = post(
        &srv,
        "/api/v1/auth/me/erase",
        Some(&fresh),
        json!({"password": STRONG}),
    )
    .await;
    assert_eq!(s, 204, "{body}");

    // Everything is revoked: tokens, refresh tokens, the API key, the password.
    for token in [&fresh, &stale] {
        let (s, _) = get(&srv, "/api/v1/auth/me", token).await;
        assert_eq!(s, 401);
    }
    let (s, _) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh(&first)}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = send(client().get(srv.url("/api/v1/auth/me")).header(
        "authorization",
        format!("Bearer {}", key["key"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(s, 401, "the API key is revoked");
    let (s, _) = post(
        &srv,
        "/api/v1/auth/login",
        None,
        json!({"email": "alice.liddell@example.com", "password": STRONG}),
    )
    .await;
    assert_eq!(s, 401);

    // The administrator sees a pseudonymous, locked account...
    let admin = access(&srv.login("admin@example.com", STRONG).await);
    let (_, users) = get(&srv, "/api/v1/admin/users", &admin).await;
    let alice = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"].as_str().unwrap().starts_with("erased-"))
        .expect("the erased account")
        .clone();
    assert!(
        alice["email"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid")
    );
    assert_eq!(alice["display_name"], Value::Null);
    assert_eq!(alice["locked"], true);
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    // ...audit events about her without their personal fields, and a log that verifies.
    let (_, page) = get(&srv, "/api/v1/admin/audit?limit=1000", &admin).await;
    let events = page["events"].as_array().unwrap();
    // The events about her keep their place in the chain, without actor, target, address
    // or details; the erasure event names her only by her random id.
    let redacted: Vec<&Value> = events
        .iter()
        .filter(|e| !e["redacted_at"].is_null())
        .collect();
    assert!(redacted.len() >= 4, "{redacted:?}");
    assert!(
        redacted
            .iter()
            .all(|e| e["ip"].is_null() && e["actor"].is_null() && e["target"].is_null()),
        "{redacted:?}"
    );
    let erased = events
        .iter()
        .find(|e| e["action"] == "gdpr.erased" && e["outcome"] == "success")
        .expect("gdpr.erased");
    assert_eq!(erased["target"], alice_id.as_str());
    assert_eq!(
        erased["details"]["audit_entries_redacted"].as_u64(),
        Some(redacted.len() as u64)
    );
    assert!(events.iter().any(|e| e["action"] == "gdpr.exported"));
    let (_, v) = get(&srv, "/api/v1/admin/audit/verify", &admin).await;
    assert_eq!(v["ok"], true, "{v}");

    // An administrator erases Bob; it has to be asked for explicitly.
    let bob_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob.builder@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/admin/users/{bob_id}");
    let (s, _) = call(&srv, reqwest::Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(s, 400, "erase=true is required");
    let (s, body) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("{path}?erase=true"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        "/api/v1/admin/users/01900000-0000-7000-8000-000000000000?erase=true",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // With TOTP, the step-up can come in the erasure request itself.
    srv.user("carol.danvers@example.com", STRONG, Role::User)
        .await;
    let carol = access(&srv.login("carol.danvers@example.com", STRONG).await);
    let (secret, _) = crate::mfa::enrol(&srv, &carol).await;
    srv.clock.advance(700);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/me/erase",
        Some(&carol),
        json!({"password": STRONG}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    let now = portcullis_core::clock::Clock::now(srv.clock.as_ref());
    let (s, body) = post(
        &srv,
        "/api/v1/auth/me/erase",
        Some(&carol),
        json!({"password": STRONG, "code": crate::mfa::pyotp(&secret, now)}),
    )
    .await;
    assert_eq!(s, 204, "{body}");

    // A backup taken now names none of them.
    let dump = srv.db.dump();
    assert!(dump.contains(&alice_id), "the dump is real");
    for needle in [
        // Nobody's email or name is in a dump: they are sealed under each user's data key.
        "admin@example.com",
        "example.com",
        "alice.liddell@example.com",
        "Alice Liddell",
        "bob.builder@example.com",
        "Bob Builder",
        "alice laptop",
        "carol.danvers@example.com",
    ] {
        assert!(!dump.contains(needle), "{needle} is still in the dump");
    }
    let (_, v) = get(&srv, "/api/v1/admin/audit/verify", &admin).await;
    assert_eq!(v["ok"], true, "{v}");
    srv.stop().await;
}
