//! `envelope-bench`: the cost of envelope encryption.
//!
//! - sealing and opening fields (an email-sized 32-byte value and a 4 KiB value): ops/s, MB/s;
//! - unwrapping data keys, uncached and from the cache: ops/s;
//! - a KEK rotation over `--deks` data keys (default 1,000,000) through the server's own
//!   store, on SQLite or, with `--database-url`, PostgreSQL: seconds and keys/s.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use portcullis_core::clock::SystemClock;
use portcullis_core::config::Config;
use portcullis_core::crypto::envelope::{self, FieldKeys};
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::rand::OsRng;
use portcullis_server::app::App;
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use sqlx::Connection;

fn rate(n: u64, secs: f64) -> String {
    format!("{:>12.0} /s", n as f64 / secs)
}

fn fields() {
    let dek = SecretKey::generate(&OsRng);
    for size in [32usize, 4096] {
        let value = vec![b'x'; size];
        let n: u64 = if size == 32 { 500_000 } else { 50_000 };
        let t = Instant::now();
        let mut sealed = Vec::new();
        for i in 0..n {
            sealed = envelope::seal_field(&dek, "users", "email", &i.to_string(), &value, &OsRng);
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "seal {size:>5} B: {}  {:>8.1} MB/s",
            rate(n, s),
            (n as f64 * size as f64) / s / 1e6
        );
        let t = Instant::now();
        for _ in 0..n {
            envelope::open_field(&dek, "users", "email", &(n - 1).to_string(), &sealed).unwrap();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "open {size:>5} B: {}  {:>8.1} MB/s",
            rate(n, s),
            (n as f64 * size as f64) / s / 1e6
        );
    }
}

fn unwraps() {
    let master = SecretKey::generate(&OsRng);
    let keys = FieldKeys::new(master.clone(), Zeroizing::new([0; 32]));
    let sealed_kek = keys.new_kek(1, &OsRng);
    let kek = keys.kek(1, &sealed_kek).unwrap();
    let n = 200_000u64;
    let wrapped: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let s = format!("subject-{i}");
            let (_, w) = keys.new_dek(&s, &kek, 1, &OsRng);
            (s, w)
        })
        .collect();
    // Uncached: a fresh key set, every DEK unwrapped once.
    let fresh = FieldKeys::new(master, Zeroizing::new([0; 32]));
    let t = Instant::now();
    for (s, w) in &wrapped {
        fresh.dek(s, Some(&kek), 1, Some(w)).unwrap();
    }
    println!(
        "DEK unwrap, uncached: {}",
        rate(n, t.elapsed().as_secs_f64())
    );
    let t = Instant::now();
    for _ in 0..5 {
        for (s, w) in &wrapped {
            fresh.dek(s, Some(&kek), 1, Some(w)).unwrap();
        }
    }
    println!(
        "DEK unwrap, cached:   {}",
        rate(5 * n, t.elapsed().as_secs_f64())
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut deks: u64 = 1_000_000;
    let mut url: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().expect("flag value");
        match flag.as_str() {
            "--deks" => deks = v.parse().expect("--deks N"),
            "--database-url" => url = Some(v),
            other => panic!("unknown flag {other}; flags: --deks N --database-url URL"),
        }
    }
    fields();
    unwraps();

    let dir = std::env::temp_dir().join(format!("envelope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = Config::default();
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    cfg.database.url = SecretString::from(url.clone());
    cfg.keys.master_key_file = dir.join("master.key");
    cfg.keys.rewrap_batch = 0;
    let app = App::build(cfg.clone(), Arc::new(SystemClock), Arc::new(OsRng))
        .await
        .expect("builds");
    let svc = app.services.clone();
    let store = svc.store().clone();
    let master = base64::engine::general_purpose::STANDARD
        .decode(
            std::fs::read_to_string(&cfg.keys.master_key_file)
                .unwrap()
                .trim(),
        )
        .unwrap();
    let keys = FieldKeys::new(
        SecretKey::from_bytes(master.try_into().unwrap()),
        Zeroizing::new([0; 32]),
    );

    // Fill `deks` data keys under KEK 1, in multi-row inserts.
    let t = Instant::now();
    let insert = |conn_rows: Vec<(String, Vec<u8>)>| {
        let mut sql = String::from(
            "INSERT INTO deks (subject, version, kek_version, wrapped, created_at) VALUES ",
        );
        for (i, _) in conn_rows.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            let b = i * 2;
            sql.push_str(&format!("(${}, 1, 1, ${}, 0)", b + 1, b + 2));
        }
        (sql, conn_rows)
    };
    macro_rules! fill {
        ($conn:expr) => {{
            let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM keks WHERE version = 1")
                .fetch_one(&mut $conn)
                .await
                .unwrap();
            let kek = keys.kek(1, &sealed).unwrap();
            let mut done = 0u64;
            while done < deks {
                let mut tx = $conn.begin().await.unwrap();
                for _ in 0..20 {
                    let n = 400.min(deks - done);
                    if n == 0 {
                        break;
                    }
                    let rows: Vec<(String, Vec<u8>)> = (done..done + n)
                        .map(|i| {
                            let s = format!("bench-{i:09}");
                            let (_, w) = keys.new_dek(&s, &kek, 1, &OsRng);
                            (s, w)
                        })
                        .collect();
                    let (sql, rows) = insert(rows);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (s, w) in rows {
                        q = q.bind(s).bind(w);
                    }
                    q.execute(&mut *tx).await.unwrap();
                    done += n;
                }
                tx.commit().await.unwrap();
            }
        }};
    }
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        fill!(conn);
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        fill!(conn);
    }
    println!(
        "backend: {}; {deks} data keys written in {:.1} s",
        store.backend(),
        t.elapsed().as_secs_f64()
    );

    // The rotation: a new KEK, then every data key re-wrapped, as the background job and
    // `portcullis keys rotate` do it.
    let v = svc.rotate_kek("bench").await.unwrap();
    let t = Instant::now();
    let mut total = 0;
    loop {
        let n = svc.rewrap_step(10_000).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    let s = t.elapsed().as_secs_f64();
    let st = svc.kek_status().await.unwrap();
    assert_eq!(st.current, v);
    assert_eq!(st.deks_current, st.deks);
    println!(
        "re-wrapped {total} data keys under KEK {v} in {s:.1} s: {}",
        rate(total, s)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
