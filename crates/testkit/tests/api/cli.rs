//! The `portcullis` binary as a user runs it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_testkit::{Backend, STRONG, TestDb, binary, client};

on_both!(
    cli_users_audit_keys,
    serve_and_graceful_shutdown,
    sigkill_during_writes_loses_nothing
);

/// Starts `portcullis serve` with `cfg`; the child and the address it announced.
pub(crate) fn spawn_server(cfg: &std::path::Path) -> (std::process::Child, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    spawn_with(cmd)
}

/// Spawns a prepared `portcullis serve` command; the child and the address it announced.
pub(crate) fn spawn_with(mut cmd: Command) -> (std::process::Child, String) {
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["fields"]["message"] == "portcullis listening" {
                let _ = tx.send(
                    v["fields"]["listen"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server announced its address in a JSON log line");
    (child, addr)
}

/// A server process, killed when dropped: a test that fails (panics) does not leave it
/// running.
pub(crate) struct Serving(std::process::Child);

impl std::ops::Deref for Serving {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Serving {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `portcullis serve` with `cfg`, keeping every line it writes on stderr.
pub(crate) fn spawn_logged(
    cfg: &std::path::Path,
) -> (
    Serving,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut child = Command::new(binary())
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = lines.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["fields"]["message"] == "portcullis listening" {
                let _ = tx.send(
                    v["fields"]["listen"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            keep.lock().unwrap().push(line);
        }
    });
    let child = Serving(child);
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    (child, addr, lines)
}

/// Access lines: one JSON line per request by default, written off the request path;
/// `log.access_sample` keeps that share of successes and every error; `log.access = false`
/// writes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lines_are_sampled_and_can_be_turned_off() {
    let db = TestDb::new(Backend::Sqlite).await;
    for (extra, successes, errors) in [
        ("", 20, 4),
        ("[log]\naccess_sample = 0.25\n", 5, 4),
        ("[log]\naccess = false\n", 0, 0),
    ] {
        let cfg = db.write_config(&format!(
            "{}\n[server]\nlisten = \"127.0.0.1:0\"\n{extra}",
            db.config_toml()
        ));
        let (mut child, addr, lines) = spawn_logged(&cfg);
        for _ in 0..20 {
            let (s, _, _) = crate::send(client().get(format!("http://{addr}/healthz"))).await;
            assert_eq!(s, 200);
        }
        for _ in 0..4 {
            let (s, _, _) =
                crate::send(client().get(format!("http://{addr}/api/v1/auth/me"))).await;
            assert_eq!(s, 401);
        }
        let count = |status: u64| {
            lines
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| {
                    v["fields"]["message"] == "request completed"
                        && v["fields"]["status"] == status
                        && v["span"]["request_id"]
                            .as_str()
                            .is_some_and(|r| r.len() == 32)
                })
                .count()
        };
        if successes == 0 {
            // Nothing must come, however long one waits: give the writer its chance first.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let start = Instant::now();
        while (count(200), count(401)) != (successes, errors) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{extra:?}: {} and {} access lines",
                count(200),
                count(401)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A request the gateway served names its route in the access line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lines_name_the_gateway_route() {
    let db = TestDb::new(Backend::Sqlite).await;
    let up = crate::gateway::start_upstream().await;
    let cfg = db.write_config(&format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n[dlp]\nmode = \"off\"\n[[routes]]\nname = \"echo\"\nprefix = \"/echo\"\nauth = \"none\"\nupstreams = [\"http://{up}\"]\ndlp = {{ mode = \"detect\" }}\n",
        db.config_toml()
    ));
    let (mut child, addr, lines) = spawn_logged(&cfg);
    // A card number in the path (and so in the echoing upstream's answer): DLP reports it,
    // and no line of the log holds it, the access line's path and the request's span both
    // masked. In a User-Agent, and on a path no route serves, where DLP is off (`[dlp]`'s
    // mode is for answers): masked all the same (black-box pass 11, B11-9).
    let (s, _, _) = crate::send(
        client()
            .get(format!("http://{addr}/echo/pay/4111-1111-1111-1111"))
            .header("user-agent", "probe/1.0"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = crate::send(
        client()
            .get(format!("http://{addr}/nowhere/5500-0000-0000-0004"))
            .header("user-agent", "probe 4111-1111-1111-1111"),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = crate::send(
        client()
            .get(format!("http://{addr}/echo/x"))
            .header("user-agent", "probe/1.0"),
    )
    .await;
    assert_eq!(s, 200);
    let start = Instant::now();
    loop {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| {
                v["fields"]["message"] == "request completed" && v["span"]["path"] == "/echo/x"
            });
        if let Some(v) = found {
            assert_eq!(v["fields"]["route"], "echo");
            assert!(v["fields"].get("principal").is_none());
            assert_eq!(v["fields"]["client"], "127.0.0.1", "{v}");
            assert_eq!(v["fields"]["protocol"], "HTTP/1.1", "{v}");
            assert_eq!(v["fields"]["user_agent"], "probe/1.0", "{v}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no access line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = lines.lock().unwrap().join("\n");
    assert!(
        all.contains("data loss prevention matched a response"),
        "{all}"
    );
    assert!(
        !all.contains("4111-1111-1111-1111") && !all.contains("5500-0000-0000-0004"),
        "the log holds the card: {all}"
    );
    assert!(all.contains("/nowhere/************0004"), "{all}");
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGKILL in the middle of a burst of writes (registrations: a user row and its audit
/// event in one transaction, the event queued for the sequencer): after a restart the log
/// verifies, and every user that exists has exactly one registration event; nothing
/// half-done is visible.
async fn sigkill_during_writes_loses_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nself_registration = true\n[detection]\nregistrations_free = 1000000\nregistrations_max = 1000001\n",
        db.config_toml()
    ));
    let (mut child, addr) = spawn_server(&cfg);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0u32;
            for i in 0..10_000 {
                let r = client()
                    .post(format!("http://{addr}/api/v1/auth/register"))
                    .json(&serde_json::json!({
                        "email": format!("burst-{w}-{i}@example.com"),
                        "password": STRONG,
                    }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => created += 1,
                    Ok(r) => panic!("registration answered {}", r.status()),
                    Err(_) => break, // the server is gone
                }
            }
            created
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.unwrap();
    }
    assert!(
        acknowledged > 0,
        "the burst was under way when the server died"
    );

    // Restart: queued events are sequenced, the log verifies.
    let (mut child, addr) = spawn_server(&cfg);
    let (s, _, _) = crate::send(client().get(format!("http://{addr}/readyz"))).await;
    assert_eq!(s, 200);
    let (code, out, err) = run(
        &["audit", "verify", "--config", cfg.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, export, err) = run(
        &["audit", "export", "--config", cfg.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let mut registered = std::collections::HashMap::<String, u32>::new();
    for line in export.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["action"] == "auth.user.registered" {
            *registered
                .entry(e["target"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    // Every user in the database has exactly one event; every acknowledged one exists.
    let srv = portcullis_testkit::TestServer::start_on(
        db.clone(),
        portcullis_testkit::FakeClock::new(),
        |_| {},
    )
    .await;
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = srv
            .services
            .store()
            .list_users(after.as_deref(), 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        users.extend(page);
    }
    assert!(
        users.len() as u32 >= acknowledged,
        "{} users, {acknowledged} acknowledged",
        users.len()
    );
    for u in &users {
        assert_eq!(
            registered.get(&u.id.to_string()),
            Some(&1),
            "user {} has no single registration event",
            u.id
        );
    }
    assert_eq!(registered.len(), users.len(), "an event without its user");
    srv.stop().await;
}

pub(crate) fn run(
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn cli_users_audit_keys(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&db.config_toml());
    let cfg = cfg.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let (code, out, err) = run(
            &[
                "users",
                "create",
                "--email",
                "Root@Example.com",
                "--role",
                "admin",
                "--password-stdin",
                "--config",
                &cfg,
            ],
            Some(&format!("{STRONG}\n")),
            &[],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("created admin user root@example.com"), "{out}");
        // --config anywhere on the line; weak password refused with the reason.
        let (code, _, err) = run(
            &[
                "--config",
                &cfg,
                "users",
                "create",
                "--email",
                "weak@example.com",
                "--password-stdin",
            ],
            Some("password\n"),
            &[],
        );
        assert_eq!(code, 1);
        assert!(err.contains("weak password"), "{err}");
        // Without --password-stdin a strong password is generated and shown once.
        let (code, out, _) = run(
            &[
                "users",
                "create",
                "--email",
                "gen@example.com",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0);
        assert!(
            out.lines()
                .any(|l| l.starts_with("password: ") && l.len() > 30),
            "{out}"
        );
        // list, set-role, reset-password, delete.
        let (code, out, err) = run(&["users", "list", "--config", &cfg], None, &[]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("root@example.com\tadmin") && out.contains("gen@example.com\tuser"),
            "{out}"
        );
        let (code, out, _) = run(
            &["users", "list", "--query", "GEN@", "--config", &cfg],
            None,
            &[],
        );
        assert_eq!(code, 0);
        assert_eq!(out.lines().count(), 1, "{out}");
        let (code, out, err) = run(
            &[
                "users",
                "set-role",
                "--email",
                "gen@example.com",
                "--role",
                "admin",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("gen@example.com is now admin"), "{out}");
        let (code, out, err) = run(
            &[
                "users",
                "reset-password",
                "--email",
                "gen@example.com",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("must be changed at the next sign-in"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("password: ")), "{out}");
        let (code, _, err) = run(
            &[
                "users",
                "reset-password",
                "--email",
                "gen@example.com",
                "--mail",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_ne!(code, 0, "no [email]: refused");
        assert!(err.contains("[email]"), "{err}");
        let (code, _, err) = run(
            &[
                "users",
                "delete",
                "--email",
                "gen@example.com",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 2, "erasure needs --yes: {err}");
        let (code, out, err) = run(
            &[
                "users",
                "delete",
                "--email",
                "gen@example.com",
                "--yes",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("erased gen@example.com"), "{out}");
        let (_, out, _) = run(&["users", "list", "--config", &cfg], None, &[]);
        assert!(!out.contains("gen@example.com"), "{out}");
        let (code, _, err) = run(
            &[
                "users",
                "set-role",
                "--email",
                "nobody@example.com",
                "--role",
                "admin",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_ne!(code, 0);
        assert!(err.contains("no account has the address"), "{err}");
        let (code, out, _) = run(&["audit", "verify", "--config", &cfg], None, &[]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("intact"), "{out}");
        let (code, out, _) = run(&["keys", "rotate-signing", "--config", &cfg], None, &[]);
        assert_eq!(code, 0);
        assert!(out.contains("added signing key"), "{out}");
        // The compliance report, both forms; the dependency scan's result is evidence.
        let dir = std::path::Path::new(&cfg).parent().unwrap().to_owned();
        let scan = dir.join("cargo-audit.json");
        std::fs::write(
            &scan,
            r#"{"vulnerabilities":{"found":false,"count":0,"list":[]}}"#,
        )
        .unwrap();
        let html = dir.join("report.html");
        let (code, out, err) = run(
            &[
                "report",
                "--format",
                "html",
                "--out",
                html.to_str().unwrap(),
                "--dependency-scan",
                scan.to_str().unwrap(),
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("controls"), "{out}");
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains("Known vulnerabilities in dependencies"),
            "{page}"
        );
        assert!(page.contains("0 known vulnerabilities"), "{page}");
        assert!(page.contains("Tamper-evident audit log"), "{page}");
        let pdf = dir.join("report.pdf");
        let (code, _, err) = run(
            &[
                "report",
                "--format",
                "pdf",
                "--out",
                pdf.to_str().unwrap(),
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-1.4"));
        let (code, _, err) = run(
            &[
                "report",
                "--format",
                "docx",
                "--out",
                pdf.to_str().unwrap(),
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 2, "{err}");
        // Configuration errors name the key.
        let bad = format!("{cfg}.bad.toml");
        std::fs::write(
            &bad,
            format!(
                "{}\n[server]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n",
                std::fs::read_to_string(&cfg).unwrap()
            ),
        )
        .unwrap();
        let (code, _, err) = run(&["audit", "verify", "--config", &bad], None, &[]);
        assert_eq!(code, 2);
        assert!(err.contains("`server.bogus`"), "{err}");
        let (code, _, err) = run(
            &["audit", "verify", "--config", &cfg],
            None,
            &[("PORTCULLIS_AUTH__ACCESS_TOKEN_TTL_SECONDS", "ten")],
        );
        assert_eq!(code, 2);
        assert!(err.contains("`auth.access_token_ttl_seconds`"), "{err}");
    })
    .await
    .unwrap();

    // Tamper, then verify names the entry and exits non-zero.
    match b {
        Backend::Sqlite => db.exec("DROP TRIGGER audit_events_no_update").await,
        Backend::Postgres => {
            db.exec("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
        }
    }
    db.exec("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 2")
        .await;
    let cfg = db
        .dir
        .read_dir()
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "toml") && !p.to_string_lossy().contains(".bad")
        })
        .unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let (code, out, _) =
        tokio::task::spawn_blocking(move || run(&["audit", "verify", "--config", &cfg], None, &[]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 2"), "{out}");
}

async fn serve_and_graceful_shutdown(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n",
        db.config_toml()
    ));
    let (mut child, addr) = spawn_server(&cfg);
    let (s, _, _) = crate::send(client().get(format!("http://{addr}/readyz"))).await;
    assert_eq!(s, 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0: {status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
