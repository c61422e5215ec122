use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};

use crate::send;

on_both!(
    admin_requires_role_and_allowed_ip,
    spoofed_forwarded_for_is_ignored,
    user_listing_and_remote_logout
);

async fn admin_requires_role_and_allowed_ip(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    srv.user("quin@example.com", STRONG, Role::User).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let user = access(&srv.login("quin@example.com", STRONG).await);
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&user),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    let (s, body, _) = send(client().get(srv.url("/api/v1/admin/users"))).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")));
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "access.denied" && e.details.contains("role"))
    );
    srv.stop().await;

    // The loopback client is outside this allowlist.
    let srv = TestServer::start_with(b, |c| {
        c.admin.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()]
    })
    .await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit/verify"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    srv.stop().await;

    // A role that must use a second factor cannot use a password-only token.
    let srv =
        TestServer::start_with(b, |c| c.auth.mfa_required_for_roles = vec![Role::Admin]).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("mfa_enrollment_required"))
    );
    srv.stop().await;
}

async fn spoofed_forwarded_for_is_ignored(b: Backend) {
    // No trusted proxies: a client claiming to be 10.1.2.3 is still 127.0.0.1.
    let srv = TestServer::start_with(b, |c| {
        c.admin.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()]
    })
    .await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    for (name, value) in [
        ("x-forwarded-for", "10.1.2.3"),
        ("forwarded", "for=10.1.2.3"),
    ] {
        let (s, body, _) = send(
            client()
                .get(srv.url("/api/v1/admin/users"))
                .bearer_auth(&admin)
                .header(name, value),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("ip_not_allowed")),
            "{name}"
        );
    }
    srv.stop().await;

    // Loopback is a trusted proxy: the right-most untrusted hop is the client, whatever the
    // client itself put further left.
    let srv = TestServer::start_with(b, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.admin.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin)
            .header("x-forwarded-for", "10.1.2.3"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin)
            .header("x-forwarded-for", "10.1.2.3, 203.0.113.7"),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "access.denied" && e.ip.as_deref() == Some("203.0.113.7"))
    );
    // A hop our proxy could not read: the client is unknown, never taken for the proxy.
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(&admin)
            .header("x-forwarded-for", "10.1.2.3, unknown"),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    srv.stop().await;
}

async fn user_listing_and_remote_logout(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            srv.user(&format!("u{i}@example.com"), STRONG, Role::User)
                .await,
        );
    }
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, body, _) = send(
            client()
                .get(srv.url(&format!("/api/v1/admin/users?limit=2&cursor={cursor}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        for u in body["users"].as_array().unwrap() {
            seen.push(u["id"].as_str().unwrap().to_owned());
            assert!(u.get("password_hash").is_none());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "no duplicates across pages");
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users?limit=abc"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users?cursor=bogus"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    // Out of the documented range: refused and named, not silently clamped.
    for q in ["limit=0", "limit=501", "limit=-1"] {
        let (s, body, _) = send(
            client()
                .get(srv.url(&format!("/api/v1/admin/users?{q}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{q}"
        );
    }
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit?limit=1001"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "limit", "{body}");
    assert_eq!(s, 400);

    // Remote logout.
    let victim = srv.login("u0@example.com", STRONG).await;
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{}/sessions", ids[0])))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(access(&victim)),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = send(
        client()
            .delete(srv.url("/api/v1/admin/users/01900000-0000-7000-8000-000000000000/sessions"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/admin/users/nope/lock"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 404);
    srv.stop().await;
}
