//! Held four-eyes operations and break-glass, over HTTP against SQLite and PostgreSQL with
//! the fake clock; two nodes on one PostgreSQL database for racing approvals.

use portcullis_core::config::Config;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, FakeClock, STRONG, TestDb, TestServer, access, claims, client};
use serde_json::{Value, json};

use crate::elevation::{actions, count, get, post};
use crate::send;

on_both!(
    held_erasure_runs_once_when_approved,
    held_rotation_and_admin_creation_run_with_their_parameters,
    held_operation_never_runs_after_it_expires,
    break_glass_is_recorded_first_and_works_once,
    held_promotion_to_admin,
);

pub(crate) fn held(c: &mut Config, op: &str, k: u32) {
    c.approvals.required.insert(op.to_owned(), k);
}

async fn admins(srv: &TestServer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("admin{i}@example.com");
        srv.user(&email, STRONG, Role::Admin).await;
        out.push(access(&srv.login(&email, STRONG).await));
    }
    out
}

async fn held_erasure_runs_once_when_approved(b: Backend) {
    let srv = TestServer::start_with(b, |c| held(c, "admin.user.erase", 2)).await;
    let victim = srv.user("victim@example.com", STRONG, Role::User).await;
    let a = admins(&srv, 4).await;
    let (s, body, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{victim}?erase=true")))
            .bearer_auth(&a[0]),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str(), body["required"].as_u64()),
        (202, Some("pending"), Some(2)),
        "{body}"
    );
    let id = body["approval_id"].as_str().unwrap().to_owned();
    srv.login("victim@example.com", STRONG).await;
    let (_, list) = get(&srv, "/api/v1/admin/approvals", &a[1]).await;
    assert_eq!(list["approvals"][0]["params"]["user_id"], victim.as_str());
    let approve = format!("/api/v1/admin/approvals/{id}/approve");
    let (s, _) = post(&srv, &approve, &a[0], json!({})).await;
    assert_eq!(s, 403, "the requester does not approve");
    let (s, body) = post(&srv, &approve, &a[1], json!({})).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let (s, _) = post(&srv, &approve, &a[1], json!({})).await;
    assert_eq!(s, 409, "once per approver");
    srv.login("victim@example.com", STRONG).await;
    let (s, body) = post(&srv, &approve, &a[2], json!({})).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("executed")),
        "{body}"
    );
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "victim@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!(s, 401, "erased");
    let (s, _) = post(&srv, &approve, &a[3], json!({})).await;
    assert_eq!(s, 409, "it ran; it does not run again");
    let acts = actions(&srv).await;
    assert_eq!(count(&acts, "gdpr.erased"), 1);
    assert_eq!(count(&acts, "approval.executed"), 1);
    let (_, list) = get(&srv, "/api/v1/admin/approvals?status=executed", &a[1]).await;
    assert_eq!(list["approvals"][0]["id"], id.as_str());
    let (s, _) = get(&srv, "/api/v1/admin/approvals?status=bogus", &a[1]).await;
    assert_eq!(s, 400);
    srv.stop().await;
}

async fn held_rotation_and_admin_creation_run_with_their_parameters(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        held(c, "keys.rotate", 1);
        held(c, "admin.user.create_admin", 1);
        held(c, "admin.user.reset_admin_mfa", 1);
    })
    .await;
    let a = admins(&srv, 2).await;
    let before = srv.services.kek_status().await.unwrap().current;
    let (s, body) = post(&srv, "/api/v1/admin/keys/rotate", &a[0], json!({})).await;
    assert_eq!(
        (s, body["operation"].as_str()),
        (202, Some("keys.rotate")),
        "{body}"
    );
    assert_eq!(srv.services.kek_status().await.unwrap().current, before);
    let (s, body) = post(
        &srv,
        &format!(
            "/api/v1/admin/approvals/{}/approve",
            body["approval_id"].as_str().unwrap()
        ),
        &a[1],
        json!({}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("executed")),
        "{body}"
    );
    assert_eq!(srv.services.kek_status().await.unwrap().current, before + 1);
    assert_eq!(
        body["result"]["kek_version"].as_u64(),
        Some(u64::from(before + 1))
    );

    // A plain user is created at once; an administrator waits, with only a sealed hash
    // of the password kept.
    let (s, body) = post(
        &srv,
        "/api/v1/admin/users",
        &a[0],
        json!({"email": "plain@example.com", "password": STRONG}),
    )
    .await;
    assert_eq!(
        (s, body["user"]["role"].as_str()),
        (201, Some("user")),
        "{body}"
    );
    let plain = body["user"]["id"].as_str().unwrap().to_owned();
    let (s, body) = post(
        &srv,
        "/api/v1/admin/users",
        &a[0],
        json!({"email": "boss@example.com", "password": "weak"}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = post(&srv, "/api/v1/admin/users", &a[0], json!({"email": "boss@example.com", "password": STRONG, "role": "admin", "display_name": "Boss"})).await;
    assert_eq!(s, 202, "{body}");
    let id = body["approval_id"].as_str().unwrap().to_owned();
    let dump = srv.db.dump();
    assert!(!dump.contains(STRONG), "the password is never stored");
    assert!(
        !dump.contains("boss@example.com"),
        "nor the email in the clear"
    );
    let (_, pending) = get(&srv, "/api/v1/admin/approvals", &a[1]).await;
    let shown = &pending["approvals"][0]["params"];
    assert_eq!(
        (
            shown["email"].as_str(),
            shown["display_name"].as_str(),
            shown["role"].as_str()
        ),
        (Some("boss@example.com"), Some("Boss"), Some("admin")),
        "approvers see what they approve"
    );
    assert!(shown["password_hash"].is_null());
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "boss@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!(s, 401, "not created before approval");
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/approvals/{id}/approve"),
        &a[1],
        json!({}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("executed")),
        "{body}"
    );
    let boss = srv.login("boss@example.com", STRONG).await;
    assert_eq!(claims(&access(&boss))["role"], "admin");
    let events = srv.services.audit_page(0, 10_000).await.unwrap();
    assert!(
        events
            .iter()
            .filter(|e| e.action.starts_with("approval."))
            .all(|e| !e.details.contains("boss@example.com")),
        "the append-only log keeps no new account's email"
    );

    // Resetting an administrator's second factors is held; a user's is not.
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{plain}/mfa")))
            .bearer_auth(&a[0]),
    )
    .await;
    assert_eq!(s, 204);
    let boss_id = claims(&access(&boss))["sub"].as_str().unwrap().to_owned();
    let (s, body, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{boss_id}/mfa")))
            .bearer_auth(&a[0]),
    )
    .await;
    assert_eq!(
        (s, body["operation"].as_str()),
        (202, Some("admin.user.reset_admin_mfa")),
        "{body}"
    );
    let (s, body) = post(
        &srv,
        &format!(
            "/api/v1/admin/approvals/{}/deny",
            body["approval_id"].as_str().unwrap()
        ),
        &a[1],
        json!({"reason": "no"}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("denied")),
        "{body}"
    );
    assert_eq!(
        get(&srv, "/api/v1/auth/me", &access(&boss)).await.0,
        200,
        "denied: the sessions stay"
    );

    // Erasing the account created by a held operation erases the email its request held.
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{boss_id}?erase=true")))
            .bearer_auth(&a[0]),
    )
    .await;
    assert_eq!(s, 204);
    let (_, all) = get(&srv, "/api/v1/admin/approvals?status=all", &a[1]).await;
    let created = all["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "admin.user.create_admin")
        .unwrap();
    assert!(created["params"]["email"].is_null(), "{created}");
    assert_eq!(created["params"]["role"], "admin");
    assert!(!srv.db.dump().contains("boss@example.com"));
    srv.stop().await;
}

async fn held_operation_never_runs_after_it_expires(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        held(c, "admin.user.erase", 1);
        c.approvals.timeout_seconds = 60;
    })
    .await;
    let victim = srv.user("victim@example.com", STRONG, Role::User).await;
    let a = admins(&srv, 2).await;
    let (s, body, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{victim}?erase=true")))
            .bearer_auth(&a[0]),
    )
    .await;
    assert_eq!(s, 202);
    let id = body["approval_id"].as_str().unwrap().to_owned();
    srv.clock.advance(61);
    let a1 = access(&srv.login("admin1@example.com", STRONG).await);
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/approvals/{id}/approve"),
        &a1,
        json!({}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    srv.login("victim@example.com", STRONG).await;
    assert_eq!(srv.services.sweep_approvals().await.unwrap(), 1);
    let acts = actions(&srv).await;
    assert_eq!(count(&acts, "approval.expired"), 1);
    assert_eq!(count(&acts, "gdpr.erased"), 0);
    let (_, list) = get(&srv, "/api/v1/admin/approvals?status=expired", &a1).await;
    assert_eq!(list["approvals"][0]["id"], id.as_str());
    srv.stop().await;
}

async fn break_glass_is_recorded_first_and_works_once(b: Backend) {
    let srv =
        TestServer::start_with(b, |c| c.auth.mfa_required_for_roles = vec![Role::Admin]).await;
    let issued = srv
        .services
        .create_break_glass("glass@example.com", 3, 2)
        .await
        .unwrap();
    let shares: Vec<String> = issued
        .shares
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let bg = |body: Value| {
        let srv = &srv;
        async move {
            send(
                client()
                    .post(srv.url("/api/v1/auth/break-glass"))
                    .json(&body),
            )
            .await
        }
    };
    let (s, body, _) = bg(json!({"shares": [shares[0]]})).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    let (s, _, _) = bg(json!({"shares": ["not a share", shares[1]]})).await;
    assert_eq!(s, 401);
    let (s, body, _) = bg(json!({"shares": [shares[0], shares[2]]})).await;
    assert_eq!(s, 200, "{body}");
    let t = access(&body);
    assert_eq!(claims(&t)["amr"], json!(["mca", "mfa"]));
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &t).await.0,
        200,
        "an administrator with a second factor"
    );
    let (s, _, _) = bg(json!({"shares": [shares[0], shares[2]]})).await;
    assert_eq!(s, 401, "the glass breaks once");
    let events = srv.services.audit_page(0, 10_000).await.unwrap();
    let used = events
        .iter()
        .position(|e| e.action == "auth.break_glass.used")
        .unwrap();
    let login = events
        .iter()
        .rposition(|e| e.action == "auth.login.succeeded")
        .unwrap();
    assert!(used < login, "the use is in the log before the session");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "auth.break_glass.failed")
            .count(),
        3
    );
    let alerts =
        crate::alerts::wait_alerts(&srv, &t, |a| a.iter().any(|x| x["rule"] == "break-glass"))
            .await;
    let alert = alerts.iter().find(|x| x["rule"] == "break-glass").unwrap();
    assert_eq!(alert["severity"], "critical");
    // A new split replaces the old one.
    let again = srv
        .services
        .create_break_glass("glass@example.com", 2, 2)
        .await
        .unwrap();
    assert_eq!(again.user.id, issued.user.id);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approvals_on_two_nodes_count_once_each() {
    let db = TestDb::new(Backend::Postgres).await;
    let clock = FakeClock::new();
    let tweak = |c: &mut Config| held(c, "admin.user.erase", 2);
    let a = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    let b = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    let victim = a.user("victim@example.com", STRONG, Role::User).await;
    let admins = admins(&a, 3).await;
    let (s, body, _) = send(
        client()
            .delete(a.url(&format!("/api/v1/admin/users/{victim}?erase=true")))
            .bearer_auth(&admins[0]),
    )
    .await;
    assert_eq!(s, 202);
    let path = format!(
        "/api/v1/admin/approvals/{}/approve",
        body["approval_id"].as_str().unwrap()
    );
    // Each of two administrators approves on both nodes at once.
    let (r1, r2, r3, r4) = tokio::join!(
        post(&a, &path, &admins[1], json!({})),
        post(&b, &path, &admins[1], json!({})),
        post(&a, &path, &admins[2], json!({})),
        post(&b, &path, &admins[2], json!({})),
    );
    let statuses = [r1.0, r2.0, r3.0, r4.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        2,
        "{statuses:?}"
    );
    let acts = actions(&a).await;
    assert_eq!(count(&acts, "approval.approved"), 2);
    assert_eq!(count(&acts, "gdpr.erased"), 1, "ran exactly once");
    let (_, list) = get(&b, "/api/v1/admin/approvals?status=executed", &admins[1]).await;
    assert_eq!(list["approvals"][0]["approvals"].as_u64(), Some(2));
    a.stop().await;
    b.stop().await;
}

/// With `admin.user.promote_admin` held, `PATCH /admin/users/{id}` with role admin waits for
/// another administrator; a demotion and other changes run at once.
async fn held_promotion_to_admin(b: Backend) {
    let srv = TestServer::start_with(b, |c| held(c, "admin.user.promote_admin", 1)).await;
    let a = admins(&srv, 2).await;
    let pat = srv.user("pat@example.com", STRONG, Role::User).await;
    let patch = |body: Value, who: usize| {
        let (srv, t) = (&srv, a[who].clone());
        let path = format!("/api/v1/admin/users/{pat}");
        async move {
            let (s, v, _) = send(client().patch(srv.url(&path)).bearer_auth(&t).json(&body)).await;
            (s, v)
        }
    };
    let (s, body) = patch(json!({"role": "admin", "display_name": "Pat"}), 0).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (400, Some("held")),
        "{body}"
    );
    let (s, body) = patch(json!({"role": "admin"}), 0).await;
    assert_eq!(
        (s, body["operation"].as_str()),
        (202, Some("admin.user.promote_admin")),
        "{body}"
    );
    let (s, me) = get(
        &srv,
        "/api/v1/auth/me",
        &access(&srv.login("pat@example.com", STRONG).await),
    )
    .await;
    assert_eq!(
        (s, me["user"]["role"].as_str()),
        (200, Some("user")),
        "not yet"
    );
    let (s, done) = post(
        &srv,
        &format!(
            "/api/v1/admin/approvals/{}/approve",
            body["approval_id"].as_str().unwrap()
        ),
        &a[1],
        json!({}),
    )
    .await;
    assert_eq!(
        (s, done["status"].as_str()),
        (200, Some("executed")),
        "{done}"
    );
    let (_, me) = get(
        &srv,
        "/api/v1/auth/me",
        &access(&srv.login("pat@example.com", STRONG).await),
    )
    .await;
    assert_eq!(me["user"]["role"], "admin");
    // Back to user: not held.
    let (s, body) = patch(json!({"role": "user"}), 0).await;
    assert_eq!(
        (s, body["user"]["role"].as_str()),
        (200, Some("user")),
        "{body}"
    );
    srv.stop().await;
}
