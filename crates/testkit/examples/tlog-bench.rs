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

    // The sequencer, as the server runs it: every 20 ms, 2000 queued events at a time.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sequencer = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                while store.sequence_audit(2000).await.unwrap() == 2000 {}
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let sequenced = |n: u64| {
        let store = store.clone();
        async move {
            loop {
                let (head, _) = store.audit_head().await.unwrap();
                if head as u64 >= n {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    };

    // 1. Concurrent writers, one event per transaction (how state changes append).
    let single: u64 = 100_000.min(entries);
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
    let committed = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sequencer.await.unwrap();
    sequenced(n1).await;
    println!(
        "{n1} single-event transactions from {writers} writers, sequenced alongside: \
         committed at {:.0} tx/s, all sequenced at {:.0} entries/s",
        n1 as f64 / committed,
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
    let queued = t.elapsed().as_secs_f64();
    sequenced(done).await;
    let n2 = done - n1;
    println!(
        "  (queued in {queued:.2} s, sequenced in {:.2} s)",
        t.elapsed().as_secs_f64() - queued
    );
    if n2 > 0 {
        println!(
            "{n2} entries in transactions of 1000, then sequenced: {:.0} entries/s",
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

    // The verifier alone, over entries already in memory, and the offline verification of
    // an export file (`portcullis audit verify --export`).
    let mut all = Vec::with_capacity(scanned as usize);
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 5000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let mut v = portcullis_core::tlog::LogVerifier::default();
    for part in all.chunks(16_384) {
        v.push_batch(part, threads, &mut |_, _, _| {}).unwrap();
    }
    println!(
        "verifier alone (chain, commitments, tree) over {} entries in memory, {threads} threads: {:.0} entries/s",
        all.len(),
        all.len() as f64 / t.elapsed().as_secs_f64()
    );
    let export = dir.join("export.jsonl");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&export).unwrap());
        for r in &all {
            let e = portcullis_core::service::ExportedEntry::from(r);
            serde_json::to_writer(&mut f, &e).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    drop(all);
    let cp = svc.latest_checkpoint().await.unwrap();
    let t = Instant::now();
    let f = std::io::BufReader::new(std::fs::File::open(&export).unwrap());
    let (n, _, _) = portcullis_core::service::verify_export(
        std::io::BufRead::lines(f),
        &svc.checkpoint_verifier_key(),
        &cp.record.note,
    )
    .unwrap();
    println!(
        "offline verification of the export file ({n} entries, JSON lines): {:.0} entries/s",
        n as f64 / t.elapsed().as_secs_f64()
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
