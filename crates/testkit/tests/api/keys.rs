//! Master key sources, run through the binary: Shamir shares and a sealed start, the key
//! from an environment variable.

use portcullis_testkit::{Backend, STRONG, TestDb, client};
use serde_json::{Value, json};

use crate::cli::{run, spawn_server, spawn_with};
use crate::send;

on_both!(
    shamir_sealed_start,
    master_key_from_env,
    master_key_on_a_pkcs11_token
);

fn config(db: &TestDb, keys: &str) -> std::path::PathBuf {
    db.write_config(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://localhost:8080\"\n[database]\nurl = \"{}\"\n[keys]\n{keys}\n[auth.password]\nargon2_memory_kib = 256\nargon2_iterations = 1\n",
        db.url
    ))
}

async fn unseal(base: &str, share: &str) -> (u16, Value) {
    let (s, body, _) = send(
        client()
            .post(format!("{base}/api/v1/sys/unseal"))
            .json(&json!({ "share": share })),
    )
    .await;
    (s, body)
}

async fn shamir_sealed_start(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = config(&db, "source = \"shamir\"");
    let cfg_s = cfg.to_str().unwrap().to_owned();
    // Split: five shares, three needed; only the check value is stored.
    let (code, out, err) = run(
        &[
            "keys",
            "split",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--config",
            &cfg_s,
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let shares: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(shares.len(), 5);
    assert!(shares.iter().all(|s| s.starts_with("pcs1-3-")), "{out}");
    // Splitting again would orphan the first shares: refused.
    let (code, _, err) = run(
        &[
            "keys",
            "split",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--config",
            &cfg_s,
        ],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("already split"), "{err}");
    // CLI commands that need the key take shares from the environment; too few are refused.
    let two = format!("{}\n{}", shares[0], shares[3]);
    let (code, _, err) = run(
        &[
            "users",
            "create",
            "--email",
            "admin@example.com",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
            &cfg_s,
        ],
        Some(&format!("{STRONG}\n")),
        &[("PORTCULLIS_UNSEAL_SHARES", &two)],
    );
    assert_ne!(code, 0);
    assert!(err.contains("2 distinct shares of 3"), "{err}");
    let three = format!("{}\n{}\n{}", shares[0], shares[3], shares[4]);
    let (code, _, err) = run(
        &[
            "users",
            "create",
            "--email",
            "admin@example.com",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
            &cfg_s,
        ],
        Some(&format!("{STRONG}\n")),
        &[("PORTCULLIS_UNSEAL_SHARES", &three)],
    );
    assert_eq!(code, 0, "{err}");

    // The server starts sealed: the API and /readyz answer 503 `sealed`.
    let (mut child, addr) = spawn_server(&cfg);
    let base = format!("http://{addr}");
    for path in ["/readyz", "/api/v1/auth/me", "/api/v1/openapi.json"] {
        let (s, body, _) = send(client().get(format!("{base}{path}"))).await;
        assert_eq!((s, body["code"].as_str()), (503, Some("sealed")), "{path}");
    }
    let (s, body) = post_login(&base).await;
    assert_eq!((s, body["code"].as_str()), (503, Some("sealed")));
    let (s, st, _) = send(client().get(format!("{base}/api/v1/sys/seal-status"))).await;
    assert_eq!(s, 200);
    assert_eq!(st, json!({"sealed": true, "progress": 0, "threshold": 3}));

    // Not a share; a share of another split: refused, progress untouched.
    let (s, body) = unseal(&base, "hello").await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    let foreign = shares[1].replacen(&shares[1][7..15], "00000000", 1);
    let (s, _) = unseal(&base, &foreign).await;
    assert_eq!(s, 400);
    // Two shares (one twice): still sealed, below the threshold.
    let (s, st) = unseal(&base, &shares[1]).await;
    assert_eq!((s, st["progress"].as_u64()), (200, Some(1)));
    let (s, st) = unseal(&base, &shares[1]).await;
    assert_eq!(
        (s, st["progress"].as_u64()),
        (200, Some(1)),
        "a repeated share counts once"
    );
    let (s, st) = unseal(&base, &shares[2]).await;
    assert_eq!(
        (s, st["sealed"].as_bool(), st["progress"].as_u64()),
        (200, Some(true), Some(2))
    );
    // A damaged third share reconstructs a wrong key: refused, and progress starts over.
    let mut damaged = shares[0].clone().into_bytes();
    let last = damaged.len() - 3;
    damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
    let (s, body) = unseal(&base, std::str::from_utf8(&damaged).unwrap()).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("do not reconstruct")
    );
    let (_, st, _) = send(client().get(format!("{base}/api/v1/sys/seal-status"))).await;
    assert_eq!(st["progress"], 0);
    assert_eq!(st["sealed"], true);

    // `portcullis unseal` posts shares from stdin; the third unseals.
    let base2 = base.clone();
    let s2 = shares.clone();
    tokio::task::spawn_blocking(move || {
        for (i, share) in [&s2[4], &s2[0]].into_iter().enumerate() {
            let (code, out, err) = run(
                &["unseal", "--url", &base2],
                Some(&format!("{share}\n")),
                &[],
            );
            assert_eq!(code, 0, "{err}");
            assert!(out.contains(&format!("{} of 3", i + 1)), "{out}");
        }
        let (code, out, err) = run(
            &["unseal", "--url", &base2],
            Some(&format!("{}\n", s2[2])),
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("unsealed"), "{out}");
    })
    .await
    .unwrap();
    // Serving on the same address within moments.
    let mut ready = false;
    for _ in 0..100 {
        let r = client().get(format!("{base}/readyz")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the unsealed server is ready");
    let (s, st, _) = send(client().get(format!("{base}/api/v1/sys/seal-status"))).await;
    assert_eq!(
        (s, st),
        (200, json!({"sealed": false, "progress": 0, "threshold": 3}))
    );
    let (s, tokens) = post_login(&base).await;
    assert_eq!(s, 200, "{tokens}");
    // The unseal is in the audit log, which verifies.
    let at = tokens["access_token"].as_str().unwrap();
    let (s, page, _) = send(
        client()
            .get(format!("{base}/api/v1/admin/audit?limit=1000"))
            .bearer_auth(at),
    )
    .await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"keys.master.split"), "{actions:?}");
    assert!(actions.contains(&"keys.unsealed"), "{actions:?}");
    let (_, v, _) = send(
        client()
            .get(format!("{base}/api/v1/admin/audit/verify"))
            .bearer_auth(at),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let _ = child.kill();
    let _ = child.wait();

    // A restart is sealed again: the key was never written down.
    let (mut child, addr) = spawn_server(&cfg);
    let (s, body, _) = send(client().get(format!("http://{addr}/readyz"))).await;
    assert_eq!((s, body["code"].as_str()), (503, Some("sealed")));
    let _ = child.kill();
    let _ = child.wait();
}

async fn post_login(base: &str) -> (u16, Value) {
    let (s, body, _) = send(
        client()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": STRONG})),
    )
    .await;
    (s, body)
}

async fn master_key_from_env(b: Backend) {
    use base64::Engine;
    let db = TestDb::new(b).await;
    let cfg = config(
        &db,
        "source = \"env\"\nmaster_key_env = \"TEST_PORTCULLIS_KEY\"",
    );
    let cfg_s = cfg.to_str().unwrap().to_owned();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let args = [
        "users",
        "create",
        "--email",
        "admin@example.com",
        "--role",
        "admin",
        "--password-stdin",
        "--config",
        &cfg_s,
    ];
    // Unset, not base64, the wrong length: refused with the reason.
    for (env, why) in [
        (vec![], "TEST_PORTCULLIS_KEY is not set"),
        (vec![("TEST_PORTCULLIS_KEY", "%%%")], "not base64"),
        (vec![("TEST_PORTCULLIS_KEY", "AAAA")], "exactly 32 bytes"),
    ] {
        let (code, _, err) = run(&args, Some(&format!("{STRONG}\n")), &env);
        assert_ne!(code, 0);
        assert!(err.contains(why), "{err}");
    }
    let (code, _, err) = run(
        &args,
        Some(&format!("{STRONG}\n")),
        &[("TEST_PORTCULLIS_KEY", &key)],
    );
    assert_eq!(code, 0, "{err}");
    // Secrets sealed under the key (the signing key) open again with the same key, and
    // refuse to open under another one.
    let other = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", &cfg_s],
        None,
        &[("TEST_PORTCULLIS_KEY", &other)],
    );
    assert_ne!(
        code, 0,
        "a different key cannot open the sealed signing key"
    );
    assert!(!err.is_empty());
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", &cfg_s],
        None,
        &[("TEST_PORTCULLIS_KEY", &key)],
    );
    assert_eq!(code, 0, "{err}");
}

on_both!(
    envelope_encryption_and_kek_rotation,
    plaintext_rows_are_sealed_at_start
);

/// Emails and names are sealed per user (a backup and the raw database file hold none);
/// ciphertexts do not move between rows; a KEK rotation under live traffic loses nothing,
/// resumes on another node after an interruption, and retires the old KEK.
async fn envelope_encryption_and_kek_rotation(b: Backend) {
    use portcullis_core::model::Role;
    use portcullis_testkit::{TestServer, access};
    // Background re-wrapping off, so this test decides when each step runs.
    let srv = TestServer::start_with(b, |c| {
        c.auth.self_registration = true;
        c.keys.rewrap_batch = 0;
        // The traffic below registers from one address (loopback) freely.
        c.detection.registrations_free = 1000;
        c.detection.registrations_max = 1001;
    })
    .await;
    let svc = srv.services.clone();
    let store = svc.store().clone();
    let mut emails = Vec::new();
    for i in 0..60 {
        let email = format!("person{i:03}@envelope.example");
        srv.user(&email, STRONG, Role::User).await;
        emails.push(email);
    }
    let admin_id = srv
        .user("admin@envelope.example", STRONG, Role::Admin)
        .await;
    // Lookups by email go through the blind index.
    let t = srv.login("person007@envelope.example", STRONG).await;
    assert!(t["access_token"].is_string());
    let (s, _) = crate::post(
        &srv,
        "/api/v1/auth/register",
        None,
        json!({"email": "Person007@Envelope.Example", "password": STRONG}),
    )
    .await;
    assert_eq!(s, 409, "uniqueness holds on the blind index");

    // Nothing personal in a logical dump, nor in the SQLite file and its WAL.
    let dump = srv.db.dump();
    assert!(dump.contains(&admin_id));
    assert!(!dump.contains("envelope.example"), "an email in the dump");
    if b == Backend::Sqlite {
        for suffix in ["", "-wal"] {
            let raw = std::fs::read(format!("{}{suffix}", srv.db.name)).unwrap_or_default();
            let needle = b"envelope.example";
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle),
                "an email in the SQLite file{suffix}"
            );
        }
    }

    // A ciphertext copied to another row does not open there.
    let a = svc
        .store()
        .user_by_email(&portcullis_core::email::Email::parse("person001@envelope.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    let bob = svc
        .store()
        .user_by_email(&portcullis_core::email::Email::parse("person002@envelope.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    srv.db
        .exec(&format!(
            "CREATE TABLE saved_enc AS SELECT email_enc FROM users WHERE id = '{}'",
            a.id
        ))
        .await;
    srv.db
        .exec(&format!(
            "UPDATE users SET email_enc = (SELECT email_enc FROM users WHERE id = '{}') WHERE id = '{}'",
            bob.id, a.id
        ))
        .await;
    assert!(
        store.user_by_id(&a.id).await.is_err(),
        "a swapped ciphertext must not open"
    );
    let (s, _) = crate::post(
        &srv,
        "/api/v1/auth/login",
        None,
        json!({"email": "person002@envelope.example", "password": STRONG}),
    )
    .await;
    assert_eq!(s, 200, "the row the ciphertext came from is untouched");

    // Rotation under traffic: sign-ins and registrations keep working throughout.
    let before = svc.kek_status().await.unwrap();
    assert_eq!(before.current, 1);
    let v = svc.rotate_kek("test").await.unwrap();
    assert_eq!(v, 2);
    let base = srv.base.clone();
    let traffic = tokio::spawn(async move {
        let mut n = 0;
        for i in 0..20 {
            let r = client()
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": format!("person{:03}@envelope.example", 10 + i), "password": STRONG}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let r = client()
                .post(format!("{base}/api/v1/auth/register"))
                .json(&json!({"email": format!("new{i}@envelope.example"), "password": STRONG, "display_name": format!("New {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            n += 2;
        }
        n
    });
    // Part of the way on this node...
    let first = svc.rewrap_step(25).await.unwrap();
    assert_eq!(first, 25);
    assert_eq!(traffic.await.unwrap(), 40);
    let mid = svc.kek_status().await.unwrap();
    assert!(mid.deks_current < mid.deks, "{mid:?}");
    assert!(mid.versions[0].2.is_none(), "KEK 1 is still in use");
    // ...then, as if this node had died, another node (fresh caches) finishes the job.
    let other = TestServer::start_on(srv.db.clone(), srv.clock.clone(), |c| {
        c.keys.rewrap_batch = 0
    })
    .await;
    while other.services.rewrap_step(25).await.unwrap() > 0 {}
    let done = other.services.kek_status().await.unwrap();
    assert_eq!(done.current, 2);
    assert_eq!(done.deks_current, done.deks, "{done:?}");
    assert!(
        done.versions[0].2.is_some(),
        "KEK 1 is retired once unused: {done:?}"
    );
    // Every user reads back on both nodes, nothing lost.
    srv.db
        .exec(&format!(
            "UPDATE users SET email_enc = (SELECT email_enc FROM saved_enc) WHERE id = '{}'",
            a.id
        ))
        .await;
    for node in [&srv, &other] {
        let mut seen = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = node
                .services
                .store()
                .list_users(cursor.as_deref(), 50)
                .await;
            let page = match page {
                Ok(p) => p,
                Err(_) => break,
            };
            if page.is_empty() {
                break;
            }
            for u in &page {
                if u.email.as_str().ends_with("@envelope.example") {
                    seen += 1;
                }
            }
            cursor = page.last().map(|u| u.id.clone());
        }
        assert!(seen >= 60 + 20, "{seen}");
    }
    let audit = svc.store().audit_page(0, 10_000).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "keys.kek.rotated"));
    assert!(audit.iter().any(|e| e.action == "keys.kek.retired"));
    let admin = access(&srv.login("admin@envelope.example", STRONG).await);
    let (srv_db, clock) = (srv.db.clone(), srv.clock.clone());
    let (s, st, _) = send(
        client()
            .get(srv.url("/api/v1/admin/keys"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(
        (s, st["kek_version"].as_u64(), st["progress"].as_f64()),
        (200, Some(2), Some(1.0)),
        "{st}"
    );
    other.stop().await;
    srv.stop().await;

    // `portcullis keys rotate`, interrupted: a rotation left half done is resumed by the
    // next run (no new KEK), which finishes it and retires the old KEK.
    let node =
        TestServer::start_on(srv_db.clone(), clock.clone(), |c| c.keys.rewrap_batch = 0).await;
    node.services.rotate_kek("test").await.unwrap();
    assert_eq!(node.services.rewrap_step(10).await.unwrap(), 10);
    node.stop().await;
    let cfg = srv_db.write_config(&srv_db.config_toml());
    let cfg_s = cfg.to_str().unwrap().to_owned();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(&["keys", "rotate", "--config", &cfg_s], None, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("resuming the rotation to KEK version 3"),
        "{err}"
    );
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["kek_version"], 3, "{summary}");
    assert!(
        summary["retired"].as_array().unwrap().contains(&json!(2)),
        "{summary}"
    );

    // With background re-wrapping on (the default), a node finishes a rotation by itself.
    let node = TestServer::start_on(srv_db, clock, |_| {}).await;
    node.services.rotate_kek("test").await.unwrap();
    let mut finished = false;
    for _ in 0..100 {
        let st = node.services.kek_status().await.unwrap();
        if st.current == 4 && st.deks_current == st.deks && st.versions[2].2.is_some() {
            finished = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(finished, "the background job re-wraps and retires");
    node.stop().await;
}

/// SoftHSM2 with a fresh token in `dir`; the environment the binary needs to reach it.
fn softhsm(dir: &std::path::Path, label: &str) -> Vec<(String, String)> {
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs (apt-get install softhsm2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        ("SOFTHSM2_CONF".into(), conf.display().to_string()),
        ("TEST_HSM_PIN".into(), "1234".into()),
    ]
}

async fn master_key_on_a_pkcs11_token(b: Backend) {
    let db = TestDb::new(b).await;
    let env = softhsm(&db.dir, "portcullis");
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys = "source = \"pkcs11\"\npkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\npkcs11_token_label = \"portcullis\"\npkcs11_pin_env = \"TEST_HSM_PIN\"\npkcs11_key_label = \"portcullis-master\"";
    let cfg = config(&db, keys);
    let cfg_s = cfg.to_str().unwrap().to_owned();
    let create = [
        "users",
        "create",
        "--email",
        "admin@example.com",
        "--role",
        "admin",
        "--password-stdin",
        "--config",
        &cfg_s,
    ];
    // First start: the token makes its key and encrypts a new master key with it.
    let (code, _, err) = run(&create, Some(&format!("{STRONG}\n")), &env_ref);
    assert_eq!(code, 0, "{err}");
    // Every later start has the token open it again: secrets sealed under it still open.
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", &cfg_s],
        None,
        &env_ref,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["keys", "status", "--config", &cfg_s], None, &env_ref);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"source\": \"pkcs11\""), "{out}");
    // The master key itself is stored nowhere: only what the token encrypted.
    let dump = db.dump();
    assert!(
        dump.contains("portcullis-master"),
        "the wrapped-key record is there"
    );
    // A wrong PIN, or another token without the key, cannot start.
    let wrong: Vec<(&str, &str)> = vec![(env_ref[0].0, env_ref[0].1), ("TEST_HSM_PIN", "9999")];
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", &cfg_s],
        None,
        &wrong,
    );
    assert_ne!(code, 0);
    assert!(err.contains("PIN"), "{err}");
    let other_dir = db.dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = softhsm(&other_dir, "portcullis");
    let other_ref: Vec<(&str, &str)> = other
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", &cfg_s],
        None,
        &other_ref,
    );
    assert_ne!(code, 0);
    assert!(err.contains("not on the token"), "{err}");
    // The server runs on it and signs people in.
    let (mut child, addr) = {
        let mut cmd = std::process::Command::new(portcullis_testkit::binary());
        cmd.args(["serve", "--config", &cfg_s])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        spawn_with(cmd)
    };
    let (s, body) = post_login(&format!("http://{addr}")).await;
    assert_eq!(s, 200, "{body}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A database from before envelope encryption (plaintext email and name, no data key) is
/// sealed when the server starts, and its users sign in as before.
async fn plaintext_rows_are_sealed_at_start(b: Backend) {
    use portcullis_core::model::Role;
    use portcullis_testkit::TestServer;
    let srv = TestServer::start(b).await;
    let id = srv
        .user("old.timer@legacy.example", STRONG, Role::User)
        .await;
    let (db, clock) = (srv.db.clone(), srv.clock.clone());
    srv.stop().await;
    // Turn the row back into what an older version wrote.
    db.exec(&format!(
        "UPDATE users SET email = 'old.timer@legacy.example', display_name = 'Old Timer',
                email_enc = NULL, display_name_enc = NULL, email_bidx = NULL WHERE id = '{id}'"
    ))
    .await;
    db.exec(&format!("DELETE FROM deks WHERE subject = '{id}'"))
        .await;
    assert!(db.dump().contains("old.timer@legacy.example"));
    let srv = TestServer::start_on(db, clock, |_| {}).await;
    let dump = srv.db.dump();
    assert!(!dump.contains("legacy.example"), "sealed at start");
    assert!(!dump.contains("Old Timer"), "sealed at start");
    let t = srv.login("old.timer@legacy.example", STRONG).await;
    let (s, me, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(t["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["display_name"], "Old Timer", "{me}");
    srv.stop().await;
}
