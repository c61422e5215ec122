//! `tlog-bench`: the audit transparency log under load, through the server's own wiring.
//!
//! Sequencing (entries appended in their own transactions by concurrent writers, as state
//! changes do, and in batches), building the Merkle tree, verifying everything, and proof
//! generation, at `--entries` entries (default 1,000,000) on SQLite or, with `--database-url`,
//! PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Instant;

use portcullis_core::audit::{NewAuditEvent, Outcome};
use portcullis_core::clock::SystemClock;
use portcullis_core::config::Config;
use portcullis_core::rand::OsRng;
use portcullis_server::app::App;
use secrecy::SecretString;
use serde_json::json;

fn event(i: u64) -> NewAuditEvent {
    NewAuditEvent::new(
        1_700_000_000 + i as i64,
        "auth.login.succeeded",
        Outcome::Success,
    )
    .actor(format!("0190c1d2-0000-7000-8000-{i:012}"))
    .target(format!("0190c1d2-0000-7000-9000-{i:012}"))
    .details(json!({"amr": ["pwd", "otp"], "i": i}))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut entries: u64 = 1_000_000;
    let mut url: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().expect("flag value");
        match flag.as_str() {
            "--entries" => entries = v.parse().expect("--entries N"),
            "--database-url" => url = Some(v),
            other => panic!("unknown flag {other}; flags: --entries N --database-url URL"),
        }
    }
    let dir = std::env::temp_dir().join(format!("tlog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = Config::default();
    cfg.database.url = SecretString::from(
        url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
    );
    cfg.database.max_connections = 16;
    cfg.keys.master_key_file = dir.join("master.key");
    let app = App::build(cfg, Arc::new(SystemClock), Arc::new(OsRng))
        .await
        .expect("builds");
    let svc = app.services.clone();
    let store = svc.store().clone();
    println!("backend: {}", store.backend());

    // 1. Concurrent writers, one event per transaction (how state changes append).
    let single: u64 = 20_000.min(entries);
    let writers = 16u64;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..single / writers {
                let mut tx = store.begin().await.unwrap();
                tx.append_audit(&event(w * 1_000_000 + i)).await.unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n1 = single / writers * writers;
    println!(
        "sequenced {n1} entries, one per transaction, {writers} writers: {:.0} entries/s",
        n1 as f64 / t.elapsed().as_secs_f64()
    );

    // 2. Batches (bulk import, or many events of one request).
    let t = Instant::now();
    let mut done = n1;
    while done < entries {
        let mut tx = store.begin().await.unwrap();
        for _ in 0..1000.min(entries - done) {
            tx.append_audit(&event(done)).await.unwrap();
            done += 1;
        }
        tx.commit().await.unwrap();
    }
    let n2 = done - n1;
    if n2 > 0 {
        println!(
            "sequenced {n2} entries in transactions of 1000: {:.0} entries/s",
            n2 as f64 / t.elapsed().as_secs_f64()
        );
    }

    // 3. The Merkle tree.
    let t = Instant::now();
    let size = svc.tlog_catch_up().await.unwrap();
    println!(
        "built the Merkle tree over {size} entries: {:.1} s ({:.0} leaves/s)",
        t.elapsed().as_secs_f64(),
        size as f64 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    svc.tlog_checkpoint(true).await.unwrap();
    println!(
        "signed a checkpoint: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // 4. Verification of everything (and, for scale, a bare scan of the entries).
    let t = Instant::now();
    let mut after = 0;
    let mut scanned = 0u64;
    loop {
        let page = store.audit_page(after, 5000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        scanned += page.len() as u64;
    }
    println!(
        "bare scan of {scanned} entries: {:.0} entries/s",
        scanned as f64 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let r = svc.verify_audit().await.unwrap();
    assert!(r.ok, "{r:?}");
    println!(
        "verified chain, tree and checkpoints of {} entries: {:.1} s ({:.0} entries/s)",
        r.entries,
        t.elapsed().as_secs_f64(),
        r.entries as f64 / t.elapsed().as_secs_f64()
    );

    // 5. Proofs at this size.
    let rounds = 200u64;
    let t = Instant::now();
    for k in 0..rounds {
        let seq = 1 + (k * 7919 * 104_729) % size;
        svc.audit_inclusion_proof(seq as i64, None).await.unwrap();
    }
    println!(
        "inclusion proof at {size} entries: {:.2} ms each",
        t.elapsed().as_secs_f64() * 1e3 / rounds as f64
    );
    let t = Instant::now();
    for k in 0..rounds {
        let from = 1 + (k * 7919 * 104_729) % size;
        svc.audit_consistency_proof(from, None).await.unwrap();
    }
    println!(
        "consistency proof at {size} entries: {:.2} ms each",
        t.elapsed().as_secs_f64() * 1e3 / rounds as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
