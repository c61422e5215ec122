//! SIEM export: a JSON-lines file, an RFC 5424 syslog receiver and a Standard Webhooks
//! receiver (independent Python implementations) get every audit event once, in order, as
//! OCSF, across a restart; failing deliveries are retried, and given up on into the
//! dead-letter table after `max_attempts`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use portcullis_core::config::{Config, SinkConfig, SinkKind};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, client};
use secrecy::SecretString;
use serde_json::Value;

on_both!(
    sinks_deliver_everything_once_in_order,
    webhook_messages_carry_their_own_time,
    witnesses_get_checkpoints
);

/// Issue 16 item 6: every webhook message is stamped (and signed) when it is sent. The
/// receiver, like a Standard Webhooks verifier, refuses a timestamp more than five minutes
/// from its clock; each delivery takes "200 s" (the receiver advances the shared fake clock),
/// so one timestamp for a whole batch is stale by the third message.
async fn webhook_messages_carry_their_own_time(b: Backend) {
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<(i64, i64, bool)>>>;
    let db = portcullis_testkit::TestDb::new(b).await;
    let clock = portcullis_testkit::FakeClock::new();
    // Events first, with no sink, so the sink's first batch holds many of them.
    let srv = TestServer::start_on(db.clone(), clock.clone(), |_| {}).await;
    for i in 0..6 {
        srv.user(&format!("t{i}@example.com"), STRONG, Role::User)
            .await;
    }
    srv.stop().await;

    let seen: Seen = Arc::default();
    let key = portcullis_core::siem::webhook_key(SECRET).unwrap();
    let (c2, s2) = (clock.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (clock, seen, key) = (c2.clone(), s2.clone(), key.clone());
            async move {
                use portcullis_core::clock::Clock;
                let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                let ts: i64 = h("webhook-timestamp").parse().unwrap();
                let signed =
                    portcullis_core::siem::webhook_signature(&key, &h("webhook-id"), ts, &body)
                        == h("webhook-signature");
                let fresh = (clock.now() - ts).abs() <= 300;
                let v: Value = serde_json::from_str(&body).unwrap();
                let seq = v["unmapped"]["portcullis"]["seq"].as_i64().unwrap();
                seen.lock().unwrap().push((seq, ts, signed));
                clock.advance(200);
                if fresh && signed {
                    axum::http::StatusCode::NO_CONTENT
                } else {
                    axum::http::StatusCode::BAD_REQUEST
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let srv = TestServer::start_on(db, clock.clone(), move |c| {
        c.audit.sinks = vec![SinkConfig {
            name: "hook".into(),
            kind: SinkKind::Webhook,
            url: Some(format!("http://127.0.0.1:{port}/hook")),
            secret: Some(SecretString::from(SECRET)),
            retry_base_ms: 1,
            max_attempts: 1,
            ..SinkConfig::default()
        }];
    })
    .await;
    let (head, _) = srv.services.store().audit_head().await.unwrap();
    assert!(head >= 6);
    let started = Instant::now();
    while seen.lock().unwrap().len() < head as usize {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let seqs: Vec<i64> = seen.iter().map(|s| s.0).collect();
    // Delivered in order, each once and accepted (nothing dead-lettered, nothing retried).
    assert_eq!(
        seqs[..head as usize],
        (1..=head).collect::<Vec<_>>()[..],
        "{seen:?}"
    );
    for w in seen.windows(2) {
        assert!(
            w[1].1 >= w[0].1 + 200,
            "each message has its own time: {seen:?}"
        );
    }
    assert!(seen.iter().all(|s| s.2), "{seen:?}");
    srv.stop().await;
    server.abort();
}

/// Issue 16 item 6: checkpoints reach witnesses by the C2SP tlog-witness protocol. The
/// witness (tests/py/witness.py, written from the spec) checks the log's signature and the
/// consistency proof from the size it knows; a restarted server, which does not know what
/// the witness has, gets 409 with the witness's size and retries from there.
async fn witnesses_get_checkpoints(b: Backend) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let dir = db.dir.clone();
    let (portfile, out, vkey) = (
        dir.join("witness.port"),
        dir.join("witness.out"),
        dir.join("witness.vkey"),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/witness.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(&portfile)
        .arg(&out)
        .arg(&vkey)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let port: u16 = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile)
            && let Ok(p) = p.trim().parse()
        {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "witness did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let witness = Receiver {
        child,
        port,
        out: out.clone(),
    };
    let wdir = dir.join("witness");
    std::fs::create_dir_all(&wdir).unwrap();
    let url = format!("http://127.0.0.1:{}/add-checkpoint", witness.port);
    let tweak = |c: &mut Config| {
        c.audit.witness_urls = vec![url.clone()];
        c.audit.witness_dir = Some(wdir.clone());
        c.audit.checkpoint_every_entries = 1;
    };
    let answers = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let wait_for = |what: &str, ok: &dyn Fn(&[Value]) -> bool| {
        let started = Instant::now();
        loop {
            let a = answers();
            if ok(&a) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{what}: {a:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let clock = portcullis_testkit::FakeClock::new();
    let srv = TestServer::start_on(db.clone(), clock.clone(), tweak).await;
    std::fs::write(&vkey, srv.services.checkpoint_verifier_key()).unwrap();
    srv.user("w@example.com", STRONG, Role::User).await;
    wait_for("a first checkpoint cosigned", &|a| {
        a.iter().any(|x| x["status"] == 200)
    });
    // The tree grows: the next push proves consistency with what the witness holds.
    for i in 0..3 {
        srv.user(&format!("w{i}@example.com"), STRONG, Role::User)
            .await;
    }
    wait_for("a consistency proof accepted", &|a| {
        a.iter().any(|x| {
            x["status"] == 200 && x["old"].as_u64() > Some(0) && x["proof_len"].as_u64() > Some(0)
        })
    });
    let written = std::fs::read_to_string(wdir.join("checkpoint")).unwrap_or_default();
    assert!(
        written.starts_with("localhost:8080/portcullis/audit\n"),
        "{written}"
    );
    srv.stop().await;

    // A new process does not know the witness's size: 409 (text/x.tlog.size), then a retry
    // from the size the witness named, which it accepts.
    let before = answers().len();
    let srv = TestServer::start_on(db, clock, tweak).await;
    for i in 3..5 {
        srv.user(&format!("w{i}@example.com"), STRONG, Role::User)
            .await;
    }
    wait_for("409 then an accepted retry", &|a| {
        let new = &a[before.min(a.len())..];
        let conflict = new.iter().position(|x| x["status"] == 409 && x["old"] == 0);
        conflict.is_some_and(|c| {
            new[c + 1..]
                .iter()
                .any(|x| x["status"] == 200 && x["old"].as_u64() > Some(0))
        })
    });
    assert!(
        answers()
            .iter()
            .all(|x| x["status"] == 200 || x["status"] == 409 || x["status"] == 503),
        "the witness refused a proof or a signature: {:?}",
        answers()
    );
    srv.stop().await;
}

const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(dir: &Path, args: &[&str]) -> Receiver {
    let kind = args[0];
    let portfile = dir.join(format!("{kind}.port"));
    let out = dir.join(format!("{kind}.out"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/receivers.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(kind).arg(&portfile).arg(&out);
    cmd.args(&args[1..]);
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile)
            && let Ok(p) = p.trim().parse()
        {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{kind} receiver did not start (standardwebhooks installed?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Receiver { child, port, out }
}

struct Ports {
    syslog: u16,
    syslog_tls: u16,
    hook: u16,
    ca: PathBuf,
}

fn sinks(c: &mut Config, file: &Path, p: &Ports) {
    let (syslog, hook) = (p.syslog, p.hook);
    c.audit.sinks = vec![
        SinkConfig {
            name: "syslog-tls".into(),
            kind: SinkKind::Syslog,
            address: Some(format!("127.0.0.1:{}", p.syslog_tls)),
            tls: true,
            ca_file: Some(p.ca.clone()),
            server_name: Some("localhost".into()),
            ..SinkConfig::default()
        },
        SinkConfig {
            name: "file".into(),
            kind: SinkKind::File,
            path: Some(file.to_owned()),
            ..SinkConfig::default()
        },
        SinkConfig {
            name: "syslog".into(),
            kind: SinkKind::Syslog,
            address: Some(format!("127.0.0.1:{syslog}")),
            ..SinkConfig::default()
        },
        SinkConfig {
            name: "hook".into(),
            kind: SinkKind::Webhook,
            url: Some(format!("https://localhost:{hook}/audit")),
            secret: Some(SecretString::from(SECRET)),
            ca_file: Some(p.ca.clone()),
            retry_base_ms: 20,
            ..SinkConfig::default()
        },
        SinkConfig {
            name: "dead".into(),
            kind: SinkKind::Webhook,
            url: Some("http://127.0.0.1:9/unreachable".into()),
            secret: Some(SecretString::from(SECRET)),
            max_attempts: 1,
            retry_base_ms: 1,
            ..SinkConfig::default()
        },
    ];
}

/// The audit sequence numbers in a receiver's output, in arrival order.
fn seqs(out: &Path, kind: &str) -> Vec<i64> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| {
            let json = if kind.starts_with("syslog") {
                assert!(l.starts_with("<"), "{l}");
                assert!(l.contains(" [portcullis@32473 seq=\""), "{l}");
                l.split_once("] ").unwrap().1
            } else {
                l
            };
            let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert!(v["class_uid"].is_u64(), "OCSF record: {v}");
            assert_eq!(v["metadata"]["version"], "1.3.0");
            v["unmapped"]["portcullis"]["seq"].as_i64().unwrap()
        })
        .collect()
}

async fn wait_for_all(srv: &TestServer, outs: &[(&Path, &str)]) -> i64 {
    let (head, _) = srv.services.store().audit_head().await.unwrap();
    let started = Instant::now();
    loop {
        let done = outs.iter().all(|(p, k)| seqs(p, k).len() as i64 >= head);
        if done {
            return head;
        }
        if started.elapsed() >= Duration::from_secs(20) {
            let page = srv.services.store().audit_page(0, 100).await.unwrap();
            eprintln!(
                "log: {:?}",
                page.iter()
                    .map(|r| (r.seq, r.action.clone()))
                    .collect::<Vec<_>>()
            );
            eprintln!(
                "sinks: {:?}",
                srv.services.store().sink_states().await.unwrap()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not everything delivered: head {head}, {:?}",
            outs.iter()
                .map(|(p, k)| seqs(p, k).len())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sinks_deliver_everything_once_in_order(b: Backend) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let dir = db.dir.clone();
    // Receivers on TLS get a certificate from the internal CA.
    let cfg = db.write_config(&db.config_toml());
    for args in [
        vec!["ca", "init", "--out", dir.join("ca.pem").to_str().unwrap()],
        vec![
            "ca",
            "issue",
            "--dns",
            "localhost",
            "--cert-out",
            dir.join("rx.pem").to_str().unwrap(),
            "--key-out",
            dir.join("rx.key").to_str().unwrap(),
        ],
    ] {
        let out = Command::new(portcullis_testkit::binary())
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
    let (cert, key) = (dir.join("rx.pem"), dir.join("rx.key"));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let syslog = receiver(&dir, &["syslog"]);
    let syslog_tls = receiver(&dir, &["syslog-tls", cert, key]);
    // The webhook receiver (HTTPS) refuses the first three deliveries with a 500.
    let hook = receiver(&dir, &["webhook", SECRET, "3", cert, key]);
    let file = dir.join("audit.jsonl");
    let ports = Ports {
        syslog: syslog.port,
        syslog_tls: syslog_tls.port,
        hook: hook.port,
        ca: dir.join("ca.pem"),
    };
    let clock = portcullis_testkit::FakeClock::new();
    let srv = TestServer::start_on(db.clone(), clock.clone(), |c| sinks(c, &file, &ports)).await;
    for i in 0..5 {
        srv.user(&format!("s{i}@example.com"), STRONG, Role::User)
            .await;
    }
    let _ = srv.login("s0@example.com", STRONG).await;
    let outs = [
        (file.as_path(), "file"),
        (syslog.out.as_path(), "syslog"),
        (syslog_tls.out.as_path(), "syslog-tls"),
        (hook.out.as_path(), "webhook"),
    ];
    let head = wait_for_all(&srv, &outs).await;
    for (p, k) in &outs {
        assert_eq!(seqs(p, k), (1..=head).collect::<Vec<_>>(), "{k}");
    }

    // Restart: delivery resumes from the stored cursors, nothing twice, nothing lost.
    srv.stop().await;
    let srv = TestServer::start_on(db.clone(), clock.clone(), |c| sinks(c, &file, &ports)).await;
    for i in 5..9 {
        srv.user(&format!("s{i}@example.com"), STRONG, Role::User)
            .await;
    }
    let head = wait_for_all(&srv, &outs).await;
    for (p, k) in &outs {
        assert_eq!(
            seqs(p, k),
            (1..=head).collect::<Vec<_>>(),
            "{k} after a restart"
        );
    }

    // Metrics: deliveries, the webhook's retries, and the unreachable sink's dead letters.
    let started = Instant::now();
    let text = loop {
        let text = client()
            .get(srv.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(&format!(
            "portcullis_audit_sink_dead_letters_total{{sink=\"dead\"}} {head}"
        )) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        text.contains(&format!(
            "portcullis_audit_sink_delivered_total{{sink=\"hook\"}} {head}"
        )),
        "{text}"
    );
    assert!(
        text.contains("portcullis_audit_sink_lag{sink=\"hook\"} 0"),
        "{text}"
    );
    let failures: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_audit_sink_failures_total{sink=\"hook\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 3, "{text}");
    assert!(
        text.contains(&format!("portcullis_audit_entries {head}")),
        "{text}"
    );
    srv.stop().await;
}
