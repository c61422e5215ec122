//! Master key sources, run through the binary: Shamir shares and a sealed start, the key
//! from an environment variable.

use portcullis_testkit::{Backend, STRONG, TestDb, client};
use serde_json::{Value, json};

use crate::cli::{run, spawn_server};
use crate::send;

on_both!(shamir_sealed_start, master_key_from_env);

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
    // PKCS#11 is named as unavailable rather than half-working.
    let cfg = config(&db, "source = \"pkcs11\"");
    let (code, _, err) = run(
        &["keys", "rotate-signing", "--config", cfg.to_str().unwrap()],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("pkcs11"), "{err}");
}
