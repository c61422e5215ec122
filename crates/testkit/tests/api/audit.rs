use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::Value;

use crate::send;

on_both!(
    events_are_chained_and_readable,
    audit_table_is_append_only,
    tampering_is_located
);

async fn events_are_chained_and_readable(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let _ =
        send(client().post(srv.url("/api/v1/auth/login")).json(
            &serde_json::json!({"email": "root@example.com", "password": "nope nope nope 1"}),
        ))
        .await;
    let (s, page, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit?limit=2"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["prev_hash"], "0".repeat(64));
    assert_eq!(events[1]["prev_hash"], events[0]["hash"]);
    for key in [
        "seq",
        "time",
        "action",
        "outcome",
        "actor",
        "target",
        "ip",
        "user_agent",
        "details",
        "prev_hash",
        "hash",
        "leaf_hash",
    ] {
        assert!(events[0].get(key).is_some(), "{key}");
    }
    assert_eq!(page["next_after_seq"], 2);
    let (_, rest, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit?after_seq=2&limit=1000"))
            .bearer_auth(&admin),
    )
    .await;
    let actions: Vec<&str> = rest["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"auth.login.succeeded"), "{actions:?}");
    assert!(actions.contains(&"auth.login.failed"), "{actions:?}");
    let failed = rest["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.login.failed")
        .unwrap();
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(
        !failed.to_string().contains("nope nope"),
        "passwords never reach the audit log"
    );
    assert_eq!(rest["next_after_seq"], Value::Null);

    let (s, v, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit/verify"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["ok"], true);
    assert!(v["entries"].as_i64().unwrap() >= 4);
    assert_eq!(v["head"].as_str().unwrap().len(), 64);
    srv.stop().await;
}

async fn audit_table_is_append_only(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    // The user's events are in the log once sequenced (reading the head does that).
    srv.services.store().audit_head().await.unwrap();
    for sql in [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
    ] {
        let err = srv.db.try_exec(sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{err}");
    }
    if b == Backend::Postgres {
        let err = srv
            .db
            .try_exec("TRUNCATE audit_events")
            .await
            .expect_err("truncate");
        assert!(err.contains("append-only"), "{err}");
    }
    srv.stop().await;
}

/// Lets the test play an attacker with raw database access.
async fn disable_guards(srv: &TestServer, b: Backend) {
    match b {
        Backend::Sqlite => {
            srv.db
                .exec("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete")
                .await
        }
        Backend::Postgres => {
            srv.db
                .exec("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
        }
    }
}

async fn verify(srv: &TestServer) -> Value {
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, v, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit/verify"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    v
}

async fn tampering_is_located(b: Backend) {
    let cases = [
        ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", 3),
        ("DELETE FROM audit_events WHERE seq = 2", 2),
        (
            "UPDATE audit_events SET seq = -2 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = -2",
            2,
        ),
        (
            "UPDATE audit_events SET details = '{\"reason\":\"nothing to see\"}' WHERE seq = 4",
            4,
        ),
    ];
    for (sql, bad) in cases {
        let srv = TestServer::start(b).await;
        srv.user("root@example.com", STRONG, Role::Admin).await;
        for i in 0..3 {
            srv.user(&format!("x{i}@example.com"), STRONG, Role::User)
                .await;
        }
        assert_eq!(verify(&srv).await["ok"], true);
        disable_guards(&srv, b).await;
        srv.db.exec(sql).await;
        let v = verify(&srv).await;
        assert_eq!(v["ok"], false, "{sql}");
        assert_eq!(v["first_bad_seq"], bad, "{sql}: {v}");
        srv.stop().await;
    }
}

on_both!(truncated_tail_is_noticed);

async fn truncated_tail_is_noticed(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    srv.user("x@example.com", STRONG, Role::User).await;
    let before = srv.services.verify_audit().await.unwrap();
    assert!(before.ok && before.entries >= 3, "{before:?}");
    disable_guards(&srv, b).await;
    // Remove the newest entries: what is left is a valid chain, only shorter than its head.
    srv.db.exec("DELETE FROM audit_events WHERE seq > 2").await;
    let after = srv.services.verify_audit().await.unwrap();
    assert!(!after.ok, "{after:?}");
    assert_eq!(after.first_bad_seq, Some(3));
    assert!(after.reason.unwrap().contains("recorded head"));
    srv.stop().await;
}

on_both!(queued_events_are_sequenced_in_order);

/// State changes queue their events; the sequencer chains them. Concurrent writers, some of
/// whose transactions roll back, leave a gapless log of exactly the committed events that
/// verifies, over more than one verification batch.
async fn queued_events_are_sequenced_in_order(b: Backend) {
    use portcullis_core::audit::{NewAuditEvent, Outcome};
    let srv = TestServer::start(b).await;
    let (start, _) = srv.services.store().audit_head().await.unwrap();
    let writers = 8u64;
    let per = 1000u64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = srv.services.store().clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let mut tx = store.begin().await.unwrap();
                tx.append_audit(
                    &NewAuditEvent::new(1_700_000_000, "test.queued", Outcome::Success)
                        .actor(format!("writer-{w}"))
                        .details(serde_json::json!({ "i": i })),
                )
                .await
                .unwrap();
                if i % 10 == 9 {
                    drop(tx); // rolled back: its event must never appear
                } else {
                    tx.commit().await.unwrap();
                }
                // A sequencer round in the middle of the writes, as the server runs one.
                if w == 0 && i % 100 == 0 {
                    store.sequence_audit(50).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (head, _) = srv.services.store().audit_head().await.unwrap();
    let committed = writers * per * 9 / 10;
    assert_eq!((head - start) as u64, committed);
    // Every writer's events are in its own commit order.
    let mut seen = std::collections::HashMap::<String, i64>::new();
    let mut after = start;
    loop {
        let page = srv.services.store().audit_page(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page {
            let who = r.actor.clone().unwrap();
            let i: serde_json::Value = serde_json::from_str(&r.details).unwrap();
            let i = i["i"].as_i64().unwrap();
            assert_ne!(i % 10, 9, "a rolled-back event was sequenced");
            if let Some(prev) = seen.insert(who, i) {
                assert!(i > prev, "events of one writer out of order");
            }
        }
    }
    let v = srv.services.verify_audit().await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.entries, head);
    srv.stop().await;
}
