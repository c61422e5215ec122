//! Several nodes on one PostgreSQL database, and the database going away.

use std::time::{Duration, Instant};

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, FakeClock, STRONG, TestDb, TestServer, access, client};

use crate::send;

async fn me(srv: &TestServer, at: &str) -> (u16, serde_json::Value) {
    let (s, b, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at)).await;
    (s, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_the_other_node_within_a_second() {
    let db = TestDb::new(Backend::Postgres).await;
    let clock = FakeClock::new();
    let a = TestServer::start_on(db.clone(), clock.clone(), |_| {}).await;
    let b = TestServer::start_on(db.clone(), clock.clone(), |_| {}).await;
    a.user("sam@example.com", STRONG, Role::User).await;
    for round in 0..3 {
        let t = a.login("sam@example.com", STRONG).await;
        let at = access(&t);
        assert_eq!(
            me(&b, &at).await.0,
            200,
            "node B accepts node A's token (round {round})"
        );
        let (s, _, _) = send(client().post(a.url("/api/v1/auth/logout")).bearer_auth(&at)).await;
        assert_eq!(s, 204);
        let start = Instant::now();
        // The one wait the tests allow: cross-node propagation, bounded at one second.
        loop {
            if me(&b, &at).await.0 == 401 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "node B still accepts a revoked token after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!(
            "round {round}: revocation visible on node B after {:?}",
            start.elapsed()
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_fails_closed_and_recovers() {
    let srv = TestServer::start(Backend::Postgres).await;
    srv.user("tia@example.com", STRONG, Role::User).await;
    let t = srv.login("tia@example.com", STRONG).await;
    let at = access(&t);
    assert_eq!(me(&srv, &at).await.0, 200);

    srv.db.pg_take_down().await;
    let (s, body, _) = send(client().get(srv.url("/readyz"))).await;
    assert_eq!((s, body["code"].as_str()), (503, Some("unavailable")));
    let (s, body) = me(&srv, &at).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (503, Some("unavailable")),
        "a valid token is not enough while the database is down"
    );
    let (s, body, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "tia@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (503, Some("unavailable")));
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&serde_json::json!({"refresh_token": t["refresh_token"]})),
    )
    .await;
    assert_eq!(s, 503);
    assert_eq!(
        send(client().get(srv.url("/healthz"))).await.0,
        200,
        "the process itself is alive"
    );

    srv.db.pg_bring_up().await;
    let start = Instant::now();
    while send(client().get(srv.url("/readyz"))).await.0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(me(&srv, &at).await.0, 200);
    srv.stop().await;
}
