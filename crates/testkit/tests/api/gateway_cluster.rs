//! Limits and quotas the gateway's nodes share: GCRA limits through a real `redis-server`
//! (plain and `rediss://`, and each node on its own while Redis is gone), and daily and
//! monthly quotas per API key through the database.

use portcullis_core::config::{Config, RouteAuth, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::json;

use crate::gateway::{open_route, start_upstream};
use crate::send;

/// A real `redis-server` on a loopback port, stopped on drop.
struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    async fn start_on(port: u16) -> Self {
        let mut child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test.sh installs it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { child, port };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on port {port}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

on_both!(limits_shared_through_redis);

/// Two nodes with `[cluster] redis_url` count against one limit; with Redis gone each node
/// limits on its own (never unlimited, never an error); when it returns, sharing resumes.
async fn limits_shared_through_redis(b: Backend) {
    use portcullis_core::config::{RateLimitBy, RateLimitConfig};
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut redis = RedisServer::start_on(port).await;
    let up = start_upstream().await;
    let tweak = |c: &mut Config| {
        c.cluster.redis_url = Some(format!("redis://127.0.0.1:{}/0", redis.port).into());
        c.routes = vec![RouteConfig {
            rate_limit: Some(RateLimitConfig {
                requests: 4,
                window_seconds: 60,
                by: RateLimitBy::Ip,
            }),
            ..open_route("shared", up)
        }];
    };
    let db = portcullis_testkit::TestDb::new(b).await;
    let clock = portcullis_testkit::FakeClock::new();
    let a = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    let bnode = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    let status = |srv: &TestServer| {
        let url = srv.url("/shared/x");
        async move {
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), r.headers().clone())
        }
    };
    // Four between the two nodes, then both refuse.
    for (srv, left) in [(&a, 3), (&bnode, 2), (&a, 1), (&bnode, 0)] {
        let (s, h) = status(srv).await;
        assert_eq!(s, 200);
        assert_eq!(
            h["ratelimit"]
                .to_str()
                .unwrap()
                .split(";r=")
                .nth(1)
                .unwrap()
                .split(';')
                .next(),
            Some(left.to_string().as_str()),
            "{h:?}"
        );
    }
    for srv in [&a, &bnode] {
        let (s, h) = status(srv).await;
        assert_eq!(s, 429);
        assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }

    // Redis down: each node falls back to its own limiter, fresh, and still limits.
    redis.stop();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(status(&a).await.0);
    }
    assert_eq!(codes, [200, 200, 200, 200, 429, 429], "node A alone");

    // Redis back (empty): after the retry pause, the nodes share again.
    let _redis = RedisServer::start_on(port).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut codes = Vec::new();
    for srv in [&a, &bnode, &a, &bnode, &a, &bnode] {
        codes.push(status(srv).await.0);
    }
    assert_eq!(codes, [200, 200, 200, 200, 429, 429], "shared again");
    a.stop().await;
    bnode.stop().await;
}

/// `rediss://`: Redis behind TLS with a certificate from Portcullis's own CA, trusted through
/// `cluster.redis_ca_file`; a node that does not trust the CA never talks to it in clear
/// and limits on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_shared_through_redis_over_tls() {
    use portcullis_core::config::{RateLimitBy, RateLimitConfig};
    let db = portcullis_testkit::TestDb::new(Backend::Sqlite).await;
    let dir = tempfile_dir();
    let cfg = db.write_config(&db.config_toml());
    let ca = dir.join("ca.pem");
    let cert = dir.join("redis");
    for args in [
        vec!["ca", "init", "--out", ca.to_str().unwrap()],
        vec![
            "ca",
            "issue",
            "--ip",
            "127.0.0.1",
            "--ttl",
            "1h",
            "--out",
            cert.to_str().unwrap(),
        ],
    ] {
        let out = std::process::Command::new(portcullis_testkit::binary())
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(dir.join("redis.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("redis.key"))
        .arg("--tls-ca-cert-file")
        .arg(&ca)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let up = start_upstream().await;
    let tweak = |trust: bool| {
        let ca = ca.clone();
        move |c: &mut Config| {
            c.cluster.redis_url = Some(format!("rediss://127.0.0.1:{port}/0").into());
            c.cluster.redis_ca_file = trust.then_some(ca);
            c.routes = vec![RouteConfig {
                rate_limit: Some(RateLimitConfig {
                    requests: 3,
                    window_seconds: 60,
                    by: RateLimitBy::Ip,
                }),
                ..open_route("tls", up)
            }];
        }
    };
    let clock = portcullis_testkit::FakeClock::new();
    let a = TestServer::start_on(db.clone(), clock.clone(), tweak(true)).await;
    let b = TestServer::start_on(db.clone(), clock.clone(), tweak(true)).await;
    let code = |srv: &TestServer| {
        let url = srv.url("/tls/x");
        async move { client().get(url).send().await.unwrap().status().as_u16() }
    };
    let mut codes = Vec::new();
    for srv in [&a, &b, &a, &b] {
        codes.push(code(srv).await);
    }
    assert_eq!(codes, [200, 200, 200, 429], "shared over TLS");
    let untrusting = TestServer::start_on(db.clone(), clock, tweak(false)).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(code(&untrusting).await);
    }
    assert_eq!(
        codes,
        [200, 200, 200, 429],
        "a node that cannot verify Redis limits alone"
    );
    let _ = redis.kill();
    let _ = redis.wait();
    a.stop().await;
    b.stop().await;
    untrusting.stop().await;
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "portcullis-redis-tls-{}-{}",
        std::process::id(),
        portcullis_core::rand::bytes::<4>(&portcullis_core::rand::OsRng)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

on_both!(quotas_per_api_key);

/// Daily and monthly quotas per API key: shared by the nodes through the database, reset
/// when the UTC day or month turns, kept across restarts, separate for each key, and
/// carried to a key's rotated successor.
async fn quotas_per_api_key(b: Backend) {
    use portcullis_core::config::QuotaConfig;
    let up = start_upstream().await;
    let tweak = |c: &mut Config| {
        c.routes = vec![RouteConfig {
            auth: RouteAuth::ApiKey,
            quota: Some(QuotaConfig {
                daily: Some(4),
                monthly: Some(6),
            }),
            ..open_route("metered", up)
        }];
    };
    let db = portcullis_testkit::TestDb::new(b).await;
    // 2026-03-10 12:00:00 UTC: the day ends in 12 hours, the month in 21.5 days.
    let clock = portcullis_testkit::FakeClock::at(1_773_144_000);
    let a = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    let bnode = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    a.user("meter@example.com", STRONG, Role::User).await;
    let at = access(&a.login("meter@example.com", STRONG).await);
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let (s, k, _) = send(
            client()
                .post(a.url("/api/v1/auth/api-keys"))
                .bearer_auth(&at)
                .json(&json!({"name": name, "scopes": ["metered:read"]})),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        keys.push(k["key"].as_str().unwrap().to_owned());
        ids.push(k["id"].as_str().unwrap().to_owned());
    }
    let call = |srv: &TestServer, key: &str| {
        let rb = client().get(srv.url("/metered/x")).header("x-api-key", key);
        async move {
            let r = rb.send().await.unwrap();
            let h = r.headers().clone();
            (r.status().as_u16(), h)
        }
    };
    let (s, h) = call(&a, &keys[0]).await;
    assert_eq!(s, 200);
    assert_eq!(
        h["ratelimit-policy"],
        "\"metered-daily\";q=4;w=86400, \"metered-monthly\";q=6;w=2678400"
    );
    assert_eq!(
        h["ratelimit"],
        "\"metered-daily\";r=3;t=43200, \"metered-monthly\";r=5;t=1857600"
    );
    assert_eq!(call(&a, &keys[0]).await.0, 200);
    // Node B learns node A's count from the database (A stores it within a second).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(call(&bnode, &keys[0]).await.0, 200);
    assert_eq!(call(&bnode, &keys[0]).await.0, 200);
    let (s, h) = call(&bnode, &keys[0]).await;
    assert_eq!(s, 429, "the daily quota is spent across both nodes");
    assert_eq!(h["retry-after"], "43200");
    assert!(
        h["ratelimit"]
            .to_str()
            .unwrap()
            .contains("\"metered-daily\";r=0;t=43200")
    );
    // Another key has its own quota.
    assert_eq!(call(&bnode, &keys[1]).await.0, 200);

    // The next UTC day: the daily quota is back, the monthly one has two left.
    clock.advance(43_200 + 60);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(call(&a, &keys[0]).await.0, 200);
    assert_eq!(call(&a, &keys[0]).await.0, 200);
    let (s, h) = call(&a, &keys[0]).await;
    assert_eq!(s, 429, "the monthly quota is spent");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(wait, 1_857_600 - 43_260);

    // Counts survive the nodes: a new node on the same database refuses as well.
    a.stop().await;
    bnode.stop().await;
    let c = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    assert_eq!(call(&c, &keys[0]).await.0, 429);
    assert_eq!(call(&c, &keys[1]).await.0, 200);
    // A rotated key counts on its predecessor's quota: rotating does not start afresh.
    let at = access(&c.login("meter@example.com", STRONG).await);
    let (s, k, _) = send(
        client()
            .post(c.url(&format!("/api/v1/auth/api-keys/{}/rotate", ids[0])))
            .bearer_auth(&at)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let rotated = k["key"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&c, &rotated).await.0,
        429,
        "the rotated key's quota is spent"
    );
    c.stop().await;
}
