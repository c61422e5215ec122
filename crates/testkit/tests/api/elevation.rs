//! Just-in-time elevation, held four-eyes operations and break-glass, over HTTP against
//! SQLite and PostgreSQL with the fake clock; two nodes on one PostgreSQL database for the
//! races and the cross-node revocation.

use std::time::{Duration, Instant};

use portcullis_core::config::{Config, ElevationTarget};
use portcullis_core::model::Role;
use portcullis_testkit::{
    Backend, FakeClock, STRONG, TestDb, TestServer, access, claims, client, refresh,
};
use serde_json::{Value, json};

use crate::send;

on_both!(
    elevation_is_granted_by_k_distinct_approvers_and_expires,
    denied_and_revoked_elevations_end,
    scope_elevations_open_only_their_scope,
    listed_approvers_see_and_decide_only_their_targets,
    the_gateway_and_cedar_see_the_elevation,
);

pub(crate) fn jit(c: &mut Config, required: u32) {
    c.elevation.targets = vec![ElevationTarget {
        role: Some(Role::Admin),
        approvers_role: Some(Role::Admin),
        required,
        max_duration_seconds: 3600,
        ..ElevationTarget::default()
    }];
}

pub(crate) async fn post(srv: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    let (s, b, _) = send(client().post(srv.url(path)).bearer_auth(token).json(&body)).await;
    (s, b)
}

pub(crate) async fn get(srv: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let (s, b, _) = send(client().get(srv.url(path)).bearer_auth(token)).await;
    (s, b)
}

pub(crate) async fn ask_admin(srv: &TestServer, token: &str, seconds: i64) -> Value {
    let (s, b) = post(
        srv,
        "/api/v1/auth/elevations",
        token,
        json!({"role": "admin", "duration_seconds": seconds, "reason": "incident 42: rotate the payments key"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    b
}

pub(crate) async fn refreshed(srv: &TestServer, tokens: &Value) -> Value {
    let (s, b, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh(tokens)})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b
}

pub(crate) async fn actions(srv: &TestServer) -> Vec<String> {
    srv.services
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

pub(crate) fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

async fn elevation_is_granted_by_k_distinct_approvers_and_expires(b: Backend) {
    let srv = TestServer::start_with(b, |c| jit(c, 2)).await;
    srv.user("dev@example.com", STRONG, Role::User).await;
    srv.user("other@example.com", STRONG, Role::User).await;
    for a in ["a1", "a2", "a3"] {
        srv.user(&format!("{a}@example.com"), STRONG, Role::Admin)
            .await;
    }
    let dev = srv.login("dev@example.com", STRONG).await;
    let other = access(&srv.login("other@example.com", STRONG).await);
    let a1 = access(&srv.login("a1@example.com", STRONG).await);
    let a2 = access(&srv.login("a2@example.com", STRONG).await);
    let a3 = access(&srv.login("a3@example.com", STRONG).await);

    let req = ask_admin(&srv, &access(&dev), 600).await;
    assert_eq!(
        (req["status"].as_str(), req["required"].as_u64()),
        (Some("pending"), Some(2))
    );
    let id = req["id"].as_str().unwrap().to_owned();
    let approve = format!("/api/v1/admin/elevations/{id}/approve");
    // A second request on the same session while one is pending is refused.
    let (s, _) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&dev),
        json!({"role": "admin", "duration_seconds": 600, "reason": "again"}),
    )
    .await;
    assert_eq!(s, 409);
    // Too long for the target.
    let dev2 = srv.login("dev@example.com", STRONG).await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&dev2),
        json!({"role": "admin", "duration_seconds": 7200, "reason": "long"}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (s, body) = get(&srv, "/api/v1/admin/users", &access(&dev)).await;
    assert_eq!(s, 403, "{body}");

    // The requester never counts; nor does someone who is not an approver.
    let (s, body) = post(&srv, &approve, &access(&dev), json!({})).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (s, _) = post(&srv, &approve, &other, json!({})).await;
    assert_eq!(s, 403);
    let (s, body) = post(&srv, &approve, &a1, json!({"reason": "ok"})).await;
    assert_eq!(
        (s, body["status"].as_str(), body["approvals"].as_u64()),
        (200, Some("pending"), Some(1)),
        "{body}"
    );
    // Nor does anyone approving twice.
    let (s, body) = post(&srv, &approve, &a1, json!({})).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    // No body at all is a decision without a reason.
    let (s, body, _) = send(client().post(srv.url(&approve)).bearer_auth(&a2)).await;
    assert_eq!(
        (s, body["status"].as_str(), body["approvals"].as_u64()),
        (200, Some("active"), Some(2)),
        "{body}"
    );
    let (s, _) = post(&srv, &approve, &a3, json!({})).await;
    assert_eq!(s, 409, "a granted request takes no more votes");

    // The old token does not carry it; the session's next token does, until its end.
    assert_eq!(get(&srv, "/api/v1/admin/users", &access(&dev)).await.0, 403);
    let elevated = refreshed(&srv, &dev).await;
    let c = claims(&access(&elevated));
    assert_eq!(
        (c["role"].as_str(), c["base_role"].as_str()),
        (Some("admin"), Some("user"))
    );
    assert_eq!(
        (c["elevated"].as_bool(), c["elevation_id"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    let granted = srv.services.now();
    assert!(
        c["exp"].as_i64().unwrap() <= granted + 600,
        "the token ends with the elevation"
    );
    assert!(elevated["expires_in"].as_i64().unwrap() <= 600);
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &access(&elevated)).await.0,
        200
    );
    // Another session of the same user is not elevated.
    let other_session = refreshed(&srv, &dev2).await;
    assert!(claims(&access(&other_session))["elevation_id"].is_null());
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &access(&other_session))
            .await
            .0,
        403
    );
    let (_, mine) = get(&srv, "/api/v1/auth/elevations", &access(&elevated)).await;
    assert_eq!(mine["elevations"][0]["status"], "active");
    let (_, listed) = get(&srv, "/api/v1/admin/elevations", &a1).await;
    assert_eq!(listed["elevations"][0]["id"], id.as_str());
    assert_eq!(
        listed["elevations"][0]["votes"].as_array().unwrap().len(),
        2
    );

    // It ends on time: the elevated token ends with it, and the next one is the user's own.
    srv.clock.advance(601);
    let (s, body) = get(&srv, "/api/v1/admin/users", &access(&elevated)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let after = refreshed(&srv, &elevated).await;
    assert!(claims(&access(&after))["elevation_id"].is_null());
    assert_eq!(claims(&access(&after))["role"], "user");
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &access(&after)).await.0,
        403
    );
    let (_, mine) = get(&srv, "/api/v1/auth/elevations", &access(&after)).await;
    assert_eq!(mine["elevations"][0]["status"], "expired");
    assert_eq!(srv.services.sweep_approvals().await.unwrap(), 1);
    let a = actions(&srv).await;
    for (action, n) in [
        ("elevation.requested", 1),
        ("elevation.approved", 2),
        ("elevation.granted", 1),
        ("elevation.expired", 1),
    ] {
        assert_eq!(count(&a, action), n, "{action} in {a:?}");
    }
    assert!(count(&a, "elevation.decision_refused") >= 3, "{a:?}");
    srv.stop().await;
}

async fn denied_and_revoked_elevations_end(b: Backend) {
    let srv = TestServer::start_with(b, |c| jit(c, 1)).await;
    srv.user("dev@example.com", STRONG, Role::User).await;
    srv.user("a1@example.com", STRONG, Role::Admin).await;
    let dev = srv.login("dev@example.com", STRONG).await;
    let a1 = access(&srv.login("a1@example.com", STRONG).await);
    let id = ask_admin(&srv, &access(&dev), 600).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/deny"),
        &a1,
        json!({"reason": "not during the freeze"}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("denied")),
        "{body}"
    );
    let (s, _) = post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/approve"),
        &a1,
        json!({}),
    )
    .await;
    assert_eq!(s, 409);
    assert!(claims(&access(&refreshed(&srv, &dev).await))["elevation_id"].is_null());

    let dev = srv.login("dev@example.com", STRONG).await;
    let id = ask_admin(&srv, &access(&dev), 600).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/approve"),
        &a1,
        json!({}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    let elevated = refreshed(&srv, &dev).await;
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &access(&elevated)).await.0,
        200
    );
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/revoke"),
        &a1,
        json!({"reason": "done"}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("revoked")),
        "{body}"
    );
    assert_eq!(
        get(&srv, "/api/v1/admin/users", &access(&elevated)).await.0,
        403,
        "revocation takes effect at once"
    );
    assert_eq!(
        get(&srv, "/api/v1/auth/me", &access(&elevated)).await.0,
        200,
        "the session itself stays"
    );
    assert!(claims(&access(&refreshed(&srv, &elevated).await))["elevation_id"].is_null());
    let (s, _) = post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/revoke"),
        &a1,
        json!({}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = post(&srv, "/api/v1/admin/elevations/nope/revoke", &a1, json!({})).await;
    assert_eq!(s, 404);
    // API keys cannot be elevated, and no target grants the service role.
    let (s, _) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&elevated),
        json!({"role": "service", "duration_seconds": 600, "reason": "x"}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&elevated),
        json!({"role": "admin", "scopes": ["admin:read"], "duration_seconds": 600, "reason": "x"}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    let a = actions(&srv).await;
    assert_eq!(count(&a, "elevation.denied"), 1);
    assert_eq!(count(&a, "elevation.revoked"), 1);
    srv.stop().await;
}

async fn scope_elevations_open_only_their_scope(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.elevation.targets = vec![ElevationTarget {
            scopes: vec!["admin:read".into()],
            approvers_role: Some(Role::Admin),
            required: 1,
            ..ElevationTarget::default()
        }];
    })
    .await;
    let victim = srv.user("dev@example.com", STRONG, Role::User).await;
    srv.user("a1@example.com", STRONG, Role::Admin).await;
    let dev = srv.login("dev@example.com", STRONG).await;
    let a1 = access(&srv.login("a1@example.com", STRONG).await);
    let (s, _) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&dev),
        json!({"role": "admin", "duration_seconds": 600, "reason": "x"}),
    )
    .await;
    assert_eq!(s, 403, "no target grants the role");
    let (s, r) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&dev),
        json!({"scopes": ["admin:read"], "duration_seconds": 600, "reason": "audit review"}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let (s, _) = post(
        &srv,
        &format!(
            "/api/v1/admin/elevations/{}/approve",
            r["id"].as_str().unwrap()
        ),
        &a1,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let t = access(&refreshed(&srv, &dev).await);
    assert_eq!(
        (claims(&t)["scope"].as_str(), claims(&t)["role"].as_str()),
        (Some("admin:read"), Some("user"))
    );
    assert_eq!(get(&srv, "/api/v1/admin/audit/verify", &t).await.0, 200);
    let (s, _) = post(
        &srv,
        &format!("/api/v1/admin/users/{victim}/lock"),
        &t,
        json!({}),
    )
    .await;
    assert_eq!(s, 403, "admin:read does not write");
    srv.stop().await;

    // Where administrators must use a second factor, so must an admin scope's holder.
    let srv = TestServer::start_with(b, |c| {
        c.auth.mfa_required_for_roles = vec![Role::Admin];
        c.elevation.targets = vec![ElevationTarget {
            scopes: vec!["admin:read".into()],
            approvers_role: Some(Role::User),
            required: 1,
            ..ElevationTarget::default()
        }];
    })
    .await;
    srv.user("dev@example.com", STRONG, Role::User).await;
    srv.user("peer@example.com", STRONG, Role::User).await;
    let dev = srv.login("dev@example.com", STRONG).await;
    let peer = access(&srv.login("peer@example.com", STRONG).await);
    let (_, r) = post(
        &srv,
        "/api/v1/auth/elevations",
        &access(&dev),
        json!({"scopes": ["admin:read"], "duration_seconds": 600, "reason": "audit review"}),
    )
    .await;
    let (s, _) = post(
        &srv,
        &format!(
            "/api/v1/admin/elevations/{}/approve",
            r["id"].as_str().unwrap()
        ),
        &peer,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let t = access(&refreshed(&srv, &dev).await);
    let (s, body) = get(&srv, "/api/v1/admin/audit/verify", &t).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("mfa_enrollment_required")),
        "{body}"
    );
    srv.stop().await;
}

async fn listed_approvers_see_and_decide_only_their_targets(b: Backend) {
    // Users first (their ids go into the configuration), then the server that names them.
    let db = TestDb::new(b).await;
    let clock = FakeClock::new();
    let setup = TestServer::start_on(db.clone(), clock.clone(), |_| {}).await;
    let lead1 = setup.user("lead1@example.com", STRONG, Role::User).await;
    let lead2 = setup.user("lead2@example.com", STRONG, Role::User).await;
    setup.user("dev@example.com", STRONG, Role::User).await;
    setup.user("root@example.com", STRONG, Role::Admin).await;
    setup.stop().await;
    let srv = TestServer::start_on(db, clock, move |c| {
        c.elevation.targets = vec![
            ElevationTarget {
                scopes: vec!["payments:refund".into()],
                approvers: vec![lead1.clone(), lead2.clone()],
                required: 2,
                ..ElevationTarget::default()
            },
            ElevationTarget {
                role: Some(Role::Admin),
                approvers_role: Some(Role::Admin),
                required: 1,
                ..ElevationTarget::default()
            },
        ];
    })
    .await;
    let l1 = access(&srv.login("lead1@example.com", STRONG).await);
    let l2 = access(&srv.login("lead2@example.com", STRONG).await);
    let root = access(&srv.login("root@example.com", STRONG).await);
    let dev = srv.login("dev@example.com", STRONG).await;
    let dev_b = srv.login("dev@example.com", STRONG).await;
    let (s, refund) = post(&srv, "/api/v1/auth/elevations", &access(&dev), json!({"scopes": ["payments:refund"], "duration_seconds": 300, "reason": "refund ticket 7"})).await;
    assert_eq!(s, 201, "{refund}");
    let admin_req = ask_admin(&srv, &access(&dev_b), 300).await;
    let (s, seen) = get(&srv, "/api/v1/admin/elevations", &l1).await;
    assert_eq!(s, 200, "{seen}");
    let ids: Vec<&str> = seen["elevations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![refund["id"].as_str().unwrap()],
        "only what lead1 approves"
    );
    let (_, all) = get(&srv, "/api/v1/admin/elevations", &root).await;
    assert_eq!(all["elevations"].as_array().unwrap().len(), 2);
    let (s, _) = get(&srv, "/api/v1/admin/elevations", &access(&dev)).await;
    assert_eq!(s, 403, "approves nothing");
    let (s, _) = post(
        &srv,
        &format!(
            "/api/v1/admin/elevations/{}/approve",
            admin_req["id"].as_str().unwrap()
        ),
        &l1,
        json!({}),
    )
    .await;
    assert_eq!(s, 403, "not an approver of the admin target");
    let path = format!(
        "/api/v1/admin/elevations/{}/approve",
        refund["id"].as_str().unwrap()
    );
    assert_eq!(
        post(&srv, &path, &l1, json!({})).await.1["status"],
        "pending"
    );
    assert_eq!(
        post(&srv, &path, &l2, json!({})).await.1["status"],
        "active"
    );
    let t = access(&refreshed(&srv, &dev).await);
    assert_eq!(claims(&t)["scope"], "payments:refund");
    srv.stop().await;
}

async fn the_gateway_and_cedar_see_the_elevation(b: Backend) {
    let up = crate::gateway::start_upstream().await;
    let srv = TestServer::start_with(b, move |c| {
        jit(c, 1);
        c.routes = vec![portcullis_core::config::RouteConfig {
            name: "ops".into(),
            prefix: "/ops".into(),
            upstreams: vec![format!("http://{up}")],
            roles: vec![Role::Admin],
            policy: Some(
                "@id(\"elevated-only\")\npermit(principal, action, resource) when { context.elevated && context.elevation_id != \"\" };".into(),
            ),
            ..portcullis_core::config::RouteConfig::default()
        }];
    })
    .await;
    srv.user("dev@example.com", STRONG, Role::User).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let root = access(&srv.login("root@example.com", STRONG).await);
    let dev = srv.login("dev@example.com", STRONG).await;
    let route = |t: String| {
        let srv = &srv;
        async move { send(client().get(srv.url("/ops/run")).bearer_auth(t)).await }
    };
    assert_eq!(route(access(&dev)).await.0, 403, "the route's role");
    assert_eq!(
        route(root.clone()).await.0,
        403,
        "the policy wants an elevation"
    );
    let id = ask_admin(&srv, &access(&dev), 300).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &srv,
        &format!("/api/v1/admin/elevations/{id}/approve"),
        &root,
        json!({}),
    )
    .await;
    let t = access(&refreshed(&srv, &dev).await);
    let (s, body, _) = route(t.clone()).await;
    assert_eq!(s, 200, "{body}");
    let identity = claims(body["headers"]["x-portcullis-identity"].as_str().unwrap());
    assert_eq!(
        (identity["role"].as_str(), identity["elevated"].as_bool()),
        (Some("admin"), Some(true))
    );
    assert_eq!(identity["elevation_id"], id.as_str());
    assert!(identity["exp"].as_i64().unwrap() <= srv.services.now() + 300);
    srv.clock.advance(301);
    assert_eq!(
        route(t).await.0,
        401,
        "over when it ends: the elevated token ends with it"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_zero_is_refused_at_start() {
    let mut c = Config::default();
    jit(&mut c, 0);
    let e = c.validate().unwrap_err();
    assert_eq!(e.key, "elevation.targets[0].required");
    let mut c = Config::default();
    crate::approvals::held(&mut c, "admin.user.erase", 0);
    assert_eq!(
        c.validate().unwrap_err().key,
        "approvals.required.admin.user.erase"
    );
    // And the binary refuses to start on such a file, naming the key.
    let db = TestDb::new(Backend::Sqlite).await;
    let cfg = db.write_config(&format!(
        "{}\n[[elevation.targets]]\nrole = \"admin\"\napprovers_role = \"admin\"\nrequired = 0\n",
        db.config_toml()
    ));
    let out = std::process::Command::new(portcullis_testkit::binary())
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("elevation.targets[0].required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_grant_leaves_the_other_nodes_tokens_within_a_second() {
    let db = TestDb::new(Backend::Postgres).await;
    let clock = FakeClock::new();
    let a = TestServer::start_on(db.clone(), clock.clone(), |c| jit(c, 1)).await;
    let b = TestServer::start_on(db.clone(), clock.clone(), |c| jit(c, 1)).await;
    a.user("dev@example.com", STRONG, Role::User).await;
    a.user("a1@example.com", STRONG, Role::Admin).await;
    let a1 = access(&a.login("a1@example.com", STRONG).await);
    for round in 0..2 {
        let dev = a.login("dev@example.com", STRONG).await;
        let id = ask_admin(&a, &access(&dev), 600).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // Approved on node B, used on node B, revoked on node A.
        let (s, _) = post(
            &b,
            &format!("/api/v1/admin/elevations/{id}/approve"),
            &a1,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        let t = access(&refreshed(&b, &dev).await);
        assert_eq!(get(&b, "/api/v1/admin/users", &t).await.0, 200);
        let (s, _) = post(
            &a,
            &format!("/api/v1/admin/elevations/{id}/revoke"),
            &a1,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        let start = Instant::now();
        // The one wait the tests allow: cross-node propagation, bounded at one second.
        while get(&b, "/api/v1/admin/users", &t).await.0 != 403 {
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "node B still honours a revoked elevation after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!(
            "round {round}: elevation revocation visible on node B after {:?}",
            start.elapsed()
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_breaks_glass_lists_and_decides() {
    let db = TestDb::new(Backend::Sqlite).await;
    let cfg = db.write_config(&format!(
        "{}\n[[elevation.targets]]\nrole = \"admin\"\napprovers_role = \"admin\"\nrequired = 1\n",
        db.config_toml()
    ));
    let cli = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(portcullis_testkit::binary());
        cmd.arg("--config").arg(&cfg).args(args);
        if let Some(t) = token {
            cmd.env("PORTCULLIS_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = cli(
        &["break-glass", "create", "--shares", "3", "--threshold", "2"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shares: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(shares.len(), 3);
    let out = cli(
        &["break-glass", "create", "--shares", "3", "--threshold", "1"],
        None,
    );
    assert!(!out.status.success(), "a threshold of 1 is no split");

    let srv = TestServer::start_on(db.clone(), FakeClock::new(), |c| jit(c, 1)).await;
    let (s, glass, _) = send(
        client()
            .post(srv.url("/api/v1/auth/break-glass"))
            .json(&json!({"shares": [shares[2], shares[1]]})),
    )
    .await;
    assert_eq!(s, 200, "{glass}");
    let admin = access(&glass);
    srv.user("dev@example.com", STRONG, Role::User).await;
    let dev = srv.login("dev@example.com", STRONG).await;
    let id = ask_admin(&srv, &access(&dev), 300).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = cli(&["elevations", "list"], None);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.contains(&id) && listed.contains("\"pending\""),
        "{listed}"
    );
    let url = srv.base.clone();
    let out = cli(
        &["elevations", "approve", &id, "--url", &url],
        Some(&access(&dev)),
    );
    assert!(!out.status.success(), "the requester cannot approve");
    let out = cli(
        &[
            "elevations",
            "approve",
            &id,
            "--url",
            &url,
            "--reason",
            "on call",
        ],
        Some(&admin),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decided: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decided["status"], "active");
    let out = cli(&["elevations", "list", "--status", "active"], None);
    assert!(String::from_utf8(out.stdout).unwrap().contains(&id));
    srv.stop().await;
}
