//! The contract's CLI: `ca cert`, `ca issue --dns/--ip/--out PREFIX`, and `audit checkpoint`
//! output accepted, as printed, by `audit verify --checkpoint`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use portcullis_core::config::{ClientAuth, TlsConfig};
use portcullis_testkit::{Backend, TestDb, TestServer, binary};

on_both!(
    ca_cert_and_issue_with_ip_sans,
    checkpoint_output_round_trips
);

/// Runs the binary with `--config cfg`; (exit code, stdout, stderr).
fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli(cfg, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// `ca issue --dns localhost --ip 127.0.0.1 --ip ::1 --ttl 3600 --out PREFIX`: PREFIX.crt
/// carries the DNS and IP SANs and chains to the certificate `ca cert` writes; PREFIX.key is
/// 0600 (even over an existing wider file); a TLS server using them is accepted by curl at
/// the IP address and at the name, trusting only that CA. The old flags still work.
async fn ca_cert_and_issue_with_ip_sans(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&db.config_toml());
    let d = db.dir.clone();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    ok(&cfg, &["ca", "init", "--out", &p("init.pem")]);
    ok(&cfg, &["ca", "cert", "--out", &p("ca.pem")]);
    let ca_pem = std::fs::read_to_string(p("ca.pem")).unwrap();
    assert_eq!(ca_pem, std::fs::read_to_string(p("init.pem")).unwrap());
    std::fs::write(p("srv.key"), "old").unwrap();
    std::fs::set_permissions(p("srv.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(
        &cfg,
        &[
            "ca",
            "issue",
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
            "--ip",
            "::1",
            "--ttl",
            "3600",
            "--out",
            &p("srv"),
        ],
    );
    let mode = std::fs::metadata(p("srv.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is 0600");
    let chain = std::fs::read(p("srv.crt")).unwrap();
    let pems: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(&chain)
        .map(Result::unwrap)
        .collect();
    assert_eq!(pems.len(), 2, "leaf and CA");
    let leaf = pems[0].parse_x509().unwrap();
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).unwrap();
    let ca = ca.parse_x509().unwrap();
    assert_eq!(leaf.issuer(), ca.subject(), "issued by the CA of `ca cert`");
    assert_eq!(
        pems[1].contents,
        x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
            .unwrap()
            .1
            .contents
    );
    let sans = leaf.subject_alternative_name().unwrap().unwrap();
    use x509_parser::extensions::GeneralName;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in &sans.value.general_names {
        match n {
            GeneralName::DNSName(s) => dns.push(s.to_string()),
            GeneralName::IPAddress(b) => ips.push(b.to_vec()),
            _ => {}
        }
    }
    assert_eq!(dns, ["localhost"]);
    let mut v6 = vec![0u8; 16];
    v6[15] = 1;
    assert_eq!(ips, [vec![127, 0, 0, 1], v6]);
    let validity = leaf.validity();
    let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert!((3600..=3700).contains(&lifetime), "{lifetime}");

    // A TLS handshake with them, trusting only `ca cert`'s certificate.
    let tls = TlsConfig {
        cert_file: p("srv.crt").into(),
        key_file: p("srv.key").into(),
        client_ca_file: None,
        client_auth: ClientAuth::default(),
    };
    let srv = TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.server.tls = Some(tls);
        c.server.public_url = "https://localhost".into();
    })
    .await;
    let port: u16 = srv.base.rsplit(':').next().unwrap().parse().unwrap();
    for url in [
        format!("https://127.0.0.1:{port}/healthz"),
        format!("https://localhost:{port}/healthz"),
    ] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .arg("--cacert")
            .arg(p("ca.pem"))
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    srv.stop().await;

    // The flags of before still work; --out with them is refused.
    ok(
        &cfg,
        &[
            "ca",
            "issue",
            "--spiffe-id",
            "spiffe://portcullis.internal/billing",
            "--ttl",
            "1h",
            "--cert-out",
            &p("old.pem"),
            "--key-out",
            &p("old.key"),
        ],
    );
    assert!(Path::new(&p("old.pem")).exists());
    let (code, _, _) = cli(
        &cfg,
        &[
            "ca",
            "issue",
            "--dns",
            "x",
            "--out",
            &p("x"),
            "--cert-out",
            &p("y"),
            "--key-out",
            &p("z"),
        ],
    );
    assert_ne!(code, 0);
    let (code, _, _) = cli(&cfg, &["ca", "issue", "--dns", "x"]);
    assert_ne!(code, 0, "an output is needed");
}

/// What `audit checkpoint` prints, saved to a file as is, is accepted by `audit verify
/// --checkpoint FILE` (against the database, and offline with --export and --public-key);
/// a checkpoint whose signature was altered is refused.
async fn checkpoint_output_round_trips(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = db.write_config(&db.config_toml());
    let d = db.dir.clone();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    ok(&cfg, &["ca", "init", "--out", &p("ca.pem")]);
    let printed = ok(&cfg, &["audit", "checkpoint"]);
    std::fs::write(p("cp.txt"), &printed).unwrap();
    let key = printed
        .lines()
        .next()
        .unwrap()
        .strip_prefix("verifier key: ")
        .unwrap()
        .to_owned();
    let out = ok(&cfg, &["audit", "verify", "--checkpoint", &p("cp.txt")]);
    assert!(out.contains("the checkpoint of"), "{out}");
    ok(&cfg, &["audit", "export", "--output", &p("log.jsonl")]);
    let out = ok(
        &cfg,
        &[
            "audit",
            "verify",
            "--export",
            &p("log.jsonl"),
            "--public-key",
            &key,
            "--checkpoint",
            &p("cp.txt"),
        ],
    );
    assert!(out.contains("exported log intact"), "{out}");
    // More entries later: the old checkpoint still verifies against the grown log.
    ok(&cfg, &["keys", "rotate-signing"]);
    ok(&cfg, &["audit", "verify", "--checkpoint", &p("cp.txt")]);
    // A forged signature is refused.
    let sig_line = printed.lines().last().unwrap();
    let (head, sig) = sig_line.rsplit_once(' ').unwrap();
    let mut raw = base64_decode(sig);
    raw[10] ^= 1;
    let forged = printed.replace(sig_line, &format!("{head} {}", base64_encode(&raw)));
    std::fs::write(p("forged.txt"), forged).unwrap();
    let (code, out, _) = cli(&cfg, &["audit", "verify", "--checkpoint", &p("forged.txt")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does NOT verify"), "{out}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
