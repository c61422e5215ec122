//! `risk-bench`: what the risk engine costs.
//!
//! - scoring a sign-in against a 50-entry history (the pure function): assessments/s;
//! - verifying an ALTCHA payload, and solving one at the default difficulty;
//! - a deny-list lookup in a 100,000-range netset;
//! - the work the gateway adds to every request (ban and deny-list check, the principal's
//!   rate baseline, a country rule against a MaxMind database), through a running server's
//!   services on SQLite: ns per request;
//! - whole password sign-ins through HTTP with the risk engine (cheap Argon2id, SQLite):
//!   assessments/s end to end, with the history and audit writes.
//!
//! `cargo run --release -p portcullis-testkit --example risk-bench`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::IpAddr;
use std::time::Instant;

use portcullis_core::detect::altcha;
use portcullis_core::detect::geo::GeoInfo;
use portcullis_core::detect::ipset::IpSet;
use portcullis_core::detect::risk::{LoginSignals, PastSignIn, Weights, assess_login};
use portcullis_core::model::Role;
use portcullis_core::rand::OsRng;
use portcullis_core::service::RequestContext;
use portcullis_testkit::{Backend, STRONG, TestServer, client};

fn per_sec(n: u64, t: Instant) -> String {
    format!("{:>12.0} /s", n as f64 / t.elapsed().as_secs_f64())
}

fn scoring() {
    let paris = GeoInfo {
        country: Some("FR".into()),
        city: Some("Paris".into()),
        latitude: Some(48.85),
        longitude: Some(2.35),
        asn: Some(3215),
    };
    let sydney = GeoInfo {
        country: Some("AU".into()),
        latitude: Some(-33.87),
        longitude: Some(151.21),
        asn: Some(1221),
        ..GeoInfo::default()
    };
    let history: Vec<PastSignIn> = (0..50)
        .map(|i| PastSignIn {
            time: 1_700_000_000 - i * 86_400,
            ip: Some(format!("192.0.2.{i}")),
            geo: paris.clone(),
        })
        .collect();
    let w = Weights::default();
    let n = 1_000_000u64;
    let t = Instant::now();
    let mut total = 0u64;
    for i in 0..n {
        let s = LoginSignals {
            now: 1_700_003_600 + i as i64,
            ip: Some("198.51.100.9"),
            geo: &sydney,
            history: &history,
            ..LoginSignals::default()
        };
        total += u64::from(assess_login(&s, &w).score);
    }
    println!("score a sign-in (50-entry history)   {}", per_sec(n, t));
    assert!(total > 0);
}

fn pow() {
    let key = [9u8; 32];
    let c = altcha::create(&key, 50_000, 0, 300, &OsRng);
    let t = Instant::now();
    let payload = altcha::solve(&c).unwrap();
    println!(
        "solve a challenge, difficulty 50,000  {:>10.1} ms (Rust; a browser takes a few times longer)",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let n = 200_000u64;
    let t = Instant::now();
    for _ in 0..n {
        altcha::verify(&key, &payload, 1, 0).unwrap();
    }
    println!("verify an ALTCHA payload             {}", per_sec(n, t));
}

fn deny_list() {
    let mut text = String::new();
    for i in 0..100_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i * 512);
        text.push_str(&format!("{ip}/24\n"));
    }
    let t = Instant::now();
    let set = IpSet::parse_netset(&text).unwrap();
    println!(
        "parse a 100,000-line netset           {:>10.1} ms ({} ranges after merging)",
        t.elapsed().as_secs_f64() * 1000.0,
        set.len()
    );
    let n = 2_000_000u64;
    let t = Instant::now();
    let mut hits = 0u64;
    for i in 0..n {
        let ip = IpAddr::from(std::net::Ipv4Addr::from(
            (i as u32).wrapping_mul(2_654_435_761),
        ));
        hits += u64::from(set.contains(ip));
    }
    println!("deny-list lookup                     {}", per_sec(n, t));
    assert!(hits > 0);
}

async fn gateway_and_logins() {
    let dir = std::env::temp_dir().join(format!("portcullis-risk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let city = dir.join("city.mmdb");
    let asn = dir.join("asn.mmdb");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/make_mmdb.py");
    let ok = std::process::Command::new("python3")
        .args([script, city.to_str().unwrap(), asn.to_str().unwrap()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        if ok {
            c.detection.geoip_city_db = Some(city.clone());
            c.detection.geoip_asn_db = Some(asn.clone());
        }
    })
    .await;
    let svc = srv.services.clone();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let ctx = RequestContext {
        ip: Some(ip),
        ..RequestContext::default()
    };
    let allowed = vec!["FR".to_owned()];
    let n = 200_000u64;
    let t = Instant::now();
    for i in 0..n {
        assert!(svc.ip_blocked(ip).await.unwrap().is_none());
        svc.observe_rate(&format!("p{}", i % 1000), "api", &ctx)
            .await
            .unwrap();
        assert!(svc.country_refused(Some(ip), &allowed, &[]).is_none());
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "gateway detection work per request   {ns:>10.0} ns (ban + deny list, rate baseline, country rule{})",
        if ok {
            " with MaxMind"
        } else {
            ", no GeoIP database"
        }
    );

    // Whole sign-ins over HTTP: gate, password (Argon2id 256 KiB), score, history, audit.
    srv.user("bench@example.com", STRONG, Role::User).await;
    let c = client();
    let n = 500u64;
    let t = Instant::now();
    for i in 0..n {
        let r = c
            .post(srv.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("192.0.2.{}", i % 200))
            .json(&serde_json::json!({"email": "bench@example.com", "password": STRONG}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    println!(
        "sign-ins with risk assessment (HTTP, SQLite, one client) {}",
        per_sec(n, t)
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main]
async fn main() {
    scoring();
    pow();
    deny_list();
    gateway_and_logins().await;
}
