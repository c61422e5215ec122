//! Hot reload of the routes on SIGHUP, on the real binary: `portcullis routes check` first,
//! then the new routes, policies and limits take over under load without one failed
//! request; a file that does not load or compile leaves the running routes in force.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_testkit::nginx::Nginx;
use portcullis_testkit::{Backend, TestDb, client};

use crate::cli::{run, spawn_logged};

fn routes(up: &str, extra: &str) -> String {
    format!(
        "[[routes]]\nname = \"a\"\nprefix = \"/a\"\nupstreams = [\"{up}\"]\nauth = \"none\"\n{extra}"
    )
}

fn hangup(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn status(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_reload_on_sighup_without_failed_requests() {
    let nginx = Nginx::start().await;
    let up = nginx.url("");
    let db = TestDb::new(Backend::Sqlite).await;
    let base = format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n[log]\naccess = false\n",
        db.config_toml()
    );
    let cfg = db.write_config(&format!("{base}{}", routes(&up, "")));
    let cfg_s = cfg.to_str().unwrap().to_owned();
    let (mut child, addr, lines) = spawn_logged(&cfg);
    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(status(&url("/a/x")).await, 200);
    assert_eq!(status(&url("/b/x")).await, 404);

    // Load: four clients on keep-alive connections, for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, u) = (stop.clone(), ok.clone(), failed.clone(), url("/a/load"));
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                let good = match c.get(&u).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if good {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // A new route, a rate limit on it and a Cedar policy forbidding one path.
    let policy = "permit(principal, action, resource);\\nforbid(principal, action, resource) when { context.path like \\\"/b/forbidden*\\\" };";
    let next = format!(
        "{base}{}[[routes]]\nname = \"b\"\nprefix = \"/b\"\nupstreams = [\"{up}\"]\nauth = \"none\"\npolicy = \"{policy}\"\nrate_limit = {{ requests = 2, window_seconds = 3600, by = \"ip\" }}\n",
        routes(&up, "")
    );
    std::fs::write(&cfg, &next).unwrap();
    let (code, out, err) = run(&["routes", "check", "--config", &cfg_s], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK: 2 routes"), "{out}");
    assert!(out.contains("b: /b -> "), "{out}");
    hangup(&child);
    let start = Instant::now();
    while status(&url("/b/x")).await != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "route b never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&url("/b/forbidden")).await,
        403,
        "the new policy holds"
    );
    // Two requests an hour: the limit came with the route (one was spent above).
    assert_eq!(status(&url("/b/y")).await, 200);
    assert_eq!(status(&url("/b/y")).await, 429);

    // Files that do not load or do not compile: refused by the check, and by SIGHUP.
    for (bad, why) in [
        (format!("{next}[[routes]\n"), "TOML syntax"),
        (
            format!(
                "{base}{}",
                routes(
                    &up,
                    "policy = \"permit(principal, action, resource) when { nonsense };\"\n"
                )
            ),
            "policy",
        ),
        (
            format!("{base}{}", routes("ftp://127.0.0.1:1", "")),
            "upstreams",
        ),
        // No routes: an empty or half-written file would take every route away (black-box
        // pass 11, B11-13).
        (String::new(), "an empty file"),
        (base.clone(), "no routes"),
    ] {
        std::fs::write(&cfg, &bad).unwrap();
        let (code, out, err) = run(&["routes", "check", "--config", &cfg_s], None, &[]);
        assert_eq!(code, 1, "{why}: {out}{err}");
        assert!(!err.is_empty(), "{why}: the check says why");
        let before = lines.lock().unwrap().len();
        hangup(&child);
        let start = Instant::now();
        loop {
            let refused = lines.lock().unwrap()[before..].iter().any(|l| {
                l.contains("configuration reload failed; the running routes stay in force")
            });
            if refused {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{why}: no refusal logged"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            status(&url("/b/x2")).await,
            429,
            "{why}: route b and its limit stay"
        );
        assert_eq!(status(&url("/a/x")).await, 200, "{why}");
    }

    // What `serve` would refuse, the check refuses too: a DLP rules file that is not there
    // (SIGHUP leaves [dlp] to a restart).
    std::fs::write(
        &cfg,
        format!("{next}[dlp]\nrules_file = \"/nonexistent/gitleaks.toml\"\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["routes", "check", "--config", &cfg_s], None, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("rules_file"), "{err}");

    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 50, "the load ran ({ok} requests)");
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed across reloads",
        ok + failed
    );
    let _ = child.kill();
    let _ = child.wait();

    // The one reload that took is in the audit log.
    std::fs::write(&cfg, &next).unwrap();
    let (code, export, err) = run(&["audit", "export", "--config", &cfg_s], None, &[]);
    assert_eq!(code, 0, "{err}");
    let reloads: Vec<serde_json::Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["action"] == "gateway.routes_reloaded")
        .collect();
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    // The export keeps `details` as the hashed JSON text.
    let details: serde_json::Value =
        serde_json::from_str(reloads[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(
        details["routes"],
        serde_json::json!(["a", "b"]),
        "{}",
        reloads[0]
    );
}
