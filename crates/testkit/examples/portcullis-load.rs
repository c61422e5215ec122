//! `portcullis-load`: a small closed-loop load generator for the benchmarks in
//! `scripts/bench.sh`. Each of `--concurrency` workers signs in once (login scenario: on
//! every request) and then repeats its request until `--duration` seconds have passed.
//! Prints requests/s and p50/p99 latency.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    url: String,
    scenario: String,
    concurrency: usize,
    duration: u64,
    email: String,
    password: String,
}

fn parse() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        scenario: "me".into(),
        concurrency: 32,
        duration: 10,
        email: "bench@example.com".into(),
        password: "correct horse battery staple 42".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = v,
            "--scenario" => a.scenario = v,
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency N"),
            "--duration" => a.duration = v.parse().expect("--duration SECONDS"),
            "--email" => a.email = v,
            "--password" => a.password = v,
            other => panic!(
                "unknown flag {other}; flags: --url --scenario me|refresh|login|apikey|signed --concurrency --duration --email --password"
            ),
        }
    }
    a
}

async fn login(c: &reqwest::Client, a: &Args) -> Result<Value, String> {
    let r = c
        .post(format!("{}/api/v1/auth/login", a.url))
        .json(&json!({"email": a.email, "password": a.password}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("login: {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

fn rand_u64() -> u64 {
    let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    u64::from_le_bytes(b)
}

#[tokio::main]
async fn main() {
    let a = std::sync::Arc::new(parse());
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let mut workers = Vec::new();
    for _ in 0..a.concurrency {
        let a = a.clone();
        workers.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut tokens = if a.scenario == "login" {
                Value::Null
            } else {
                login(&c, &a).await.expect("initial login")
            };
            // apikey / signed: one key per worker, made with the session.
            let key = if a.scenario == "apikey" || a.scenario == "signed" {
                let signing = if a.scenario == "signed" { json!("hmac-sha256") } else { Value::Null };
                let r = c
                    .post(format!("{}/api/v1/auth/api-keys", a.url))
                    .bearer_auth(tokens["access_token"].as_str().unwrap())
                    .json(&json!({"name": "load", "scopes": ["load"], "signing": signing}))
                    .send()
                    .await
                    .expect("create key");
                assert_eq!(r.status(), 201, "create key");
                r.json::<Value>().await.unwrap()
            } else {
                Value::Null
            };
            let secret = key["signing_secret"]
                .as_str()
                .map(|s| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).unwrap())
                .unwrap_or_default();
            let mut n: u64 = 0;
            let nonce_prefix: u64 = rand_u64();
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = match a.scenario.as_str() {
                    "me" => {
                        let r = c
                            .get(format!("{}/api/v1/auth/me", a.url))
                            .bearer_auth(tokens["access_token"].as_str().unwrap())
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                            _ => false,
                        }
                    }
                    "refresh" => {
                        let r = c
                            .post(format!("{}/api/v1/auth/refresh", a.url))
                            .json(&json!({"refresh_token": tokens["refresh_token"]}))
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                                Ok(v) => {
                                    tokens = v;
                                    true
                                }
                                Err(_) => false,
                            },
                            _ => false,
                        }
                    }
                    "login" => login(&c, &a).await.is_ok(),
                    "apikey" => {
                        let r = c
                            .get(format!("{}/api/v1/auth/me", a.url))
                            .header("x-api-key", key["key"].as_str().unwrap())
                            .send()
                            .await;
                        matches!(r, Ok(r) if r.status() == 200)
                    }
                    "signed" => {
                        n += 1;
                        let url = format!("{}/api/v1/auth/me", a.url);
                        let created = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs();
                        let params = format!(
                            "(\"@method\" \"@target-uri\");created={created};keyid=\"{}\";nonce=\"{nonce_prefix:x}-{n}\"",
                            key["id"].as_str().unwrap()
                        );
                        let base = format!(
                            "\"@method\": GET\n\"@target-uri\": {url}\n\"@signature-params\": {params}"
                        );
                        let sig = portcullis_core::crypto::httpsig::sign_hmac_sha256(&secret, &base);
                        let r = c
                            .get(&url)
                            .header("authorization", format!("Bearer {}", key["key"].as_str().unwrap()))
                            .header("signature-input", format!("sig1={params}"))
                            .header(
                                "signature",
                                format!(
                                    "sig1=:{}:",
                                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig)
                                ),
                            )
                            .send()
                            .await;
                        matches!(r, Ok(r) if r.status() == 200)
                    }
                    other => panic!("unknown scenario {other}"),
                };
                if ok {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                    if a.scenario == "refresh" {
                        tokens = login(&c, &a).await.unwrap_or(tokens);
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "scenario={} concurrency={} duration={}s ok={} errors={} rps={:.0} p50={:.2}ms p99={:.2}ms",
        a.scenario,
        a.concurrency,
        a.duration,
        all.len(),
        errors,
        all.len() as f64 / a.duration as f64,
        pct(0.50),
        pct(0.99)
    );
}
