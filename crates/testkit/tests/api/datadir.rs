//! Data safety of the binary: commands that only read create nothing (no database, no
//! directory, no master key) and name the path they looked at; `serve` never makes a master
//! key for a database sealed under another one; every command says what it uses.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portcullis_testkit::{Backend, TestDb, binary};

on_both!(serve_refuses_a_new_key_for_a_sealed_database);

/// Runs the binary in `dir` with no PORTCULLIS_* settings; (exit code, stdout, stderr).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PORTCULLIS_") && k != "PORTCULLIS_TEST_BINARY" {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn empty_dir() -> PathBuf {
    let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("portcullis-empty-{suffix}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// From an empty directory with the defaults (`./portcullis-data/...`): every read-only
/// command fails, naming the database it looked for, and leaves the directory empty.
#[tokio::test]
async fn read_only_commands_create_nothing_elsewhere() {
    let dir = empty_dir();
    let db = dir.join("portcullis-data").join("portcullis.db");
    for args in [
        &["audit", "verify"][..],
        &["audit", "export"],
        &["audit", "checkpoint"],
        &["keys", "status"],
    ] {
        let (code, out, err) = run_in(&dir, args);
        assert_ne!(code, 0, "{args:?} succeeded: {out}{err}");
        assert!(
            err.contains(&format!("no database at {}", db.display())),
            "{args:?} does not name the path: {err}"
        );
        assert!(!out.contains("intact"), "{out}");
        assert_eq!(
            entries(&dir),
            Vec::<String>::new(),
            "{args:?} created files"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `users create` on a new database makes the key and says where it is and that it must
/// be backed up; `serve` with that key file gone refuses, names the file it expects, and
/// leaves no new key behind.
async fn serve_refuses_a_new_key_for_a_sealed_database(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n",
        db.config_toml()
    ));
    let cfg = cfg.to_str().unwrap().to_owned();
    let dir = db.dir.clone();
    let key = dir.join("master.key");
    let (code, out, err) = tokio::task::spawn_blocking({
        let (dir, cfg) = (dir.clone(), cfg.clone());
        move || {
            run_in(
                &dir,
                &[
                    "users",
                    "create",
                    "--email",
                    "first@example.com",
                    "--config",
                    &cfg,
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("using the "), "which data it uses: {err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("back it up"), "{err}");
    assert!(key.exists());
    // A second command does not announce a new key.
    let (code, out, err) = run_in(&dir, &["audit", "verify", "--config", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("back it up"), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");

    std::fs::rename(&key, dir.join("master.key.moved")).unwrap();
    // Commands that only read refuse, naming the key file, and make none.
    for args in [
        &["audit", "verify"][..],
        &["audit", "export"],
        &["audit", "checkpoint"],
    ] {
        let args: Vec<&str> = args.iter().copied().chain(["--config", &cfg]).collect();
        let (code, out, err) = run_in(&dir, &args);
        assert_ne!(code, 0, "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!("no master key file at {}", key.display())),
            "{args:?}: {err}"
        );
        assert!(!key.exists(), "{args:?} made a master key");
    }
    let (code, _, err) = tokio::task::spawn_blocking({
        let (dir, cfg) = (dir.clone(), cfg.clone());
        move || run_in(&dir, &["serve", "--config", &cfg])
    })
    .await
    .unwrap();
    assert_ne!(code, 0, "serve started without its key: {err}");
    assert!(
        err.contains(&format!("the master key file {} is missing", key.display())),
        "{err}"
    );
    assert!(!key.exists(), "serve left a new, wrong master key behind");
    // Another valid key in its place is named as the wrong key, by serve and by readers.
    {
        use base64::Engine;
        use std::os::unix::fs::PermissionsExt;
        let other: [u8; 32] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
        std::fs::write(
            &key,
            base64::engine::general_purpose::STANDARD.encode(other),
        )
        .unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for args in [&["audit", "verify"][..], &["serve"]] {
        let args: Vec<String> = args
            .iter()
            .copied()
            .chain(["--config", &cfg])
            .map(str::to_owned)
            .collect();
        let (code, _, err) = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || run_in(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert_ne!(code, 0, "started with the wrong key: {err}");
        assert!(
            err.contains(&format!(
                "the master key file {} is not the master key of",
                key.display()
            )),
            "{err}"
        );
    }
    // With the key back, it starts as before.
    std::fs::rename(dir.join("master.key.moved"), &key).unwrap();
    let (code, out, err) = run_in(&dir, &["audit", "verify", "--config", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
}
