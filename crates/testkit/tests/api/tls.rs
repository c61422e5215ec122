//! HTTPS and mutual TLS with certificates from `portcullis ca`, checked with curl and
//! openssl s_client, and a rustls client for the post-quantum key exchange.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use portcullis_core::config::{ClientAuth, TlsConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestDb, TestServer, binary};
use serde_json::Value;

on_both!(https_and_mtls, certificate_bound_oauth_tokens);

fn cli(db: &TestDb, args: &[&str]) {
    let cfg = db.write_config(&db.config_toml());
    let out = Command::new(binary())
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(db: &TestDb) -> Pki {
    let d = &db.dir;
    let p = |n: &str| d.join(n);
    cli(
        db,
        &[
            "ca",
            "init",
            "--out",
            p("ca.pem").to_str().unwrap(),
            "--trust-domain",
            "portcullis.test",
        ],
    );
    cli(
        db,
        &[
            "ca",
            "issue",
            "--dns",
            "localhost",
            "--ttl",
            "1h",
            "--cert-out",
            p("server.pem").to_str().unwrap(),
            "--key-out",
            p("server.key").to_str().unwrap(),
        ],
    );
    cli(
        db,
        &[
            "ca",
            "issue",
            "--spiffe-id",
            "spiffe://portcullis.test/billing",
            "--ttl",
            "1h",
            "--cert-out",
            p("client.pem").to_str().unwrap(),
            "--key-out",
            p("client.key").to_str().unwrap(),
        ],
    );
    let mode = std::fs::metadata(p("client.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.permissions().mode() & 0o777,
        0o600,
        "keys are written 0600"
    );
    Pki {
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
    }
}

fn port_of(srv: &TestServer) -> u16 {
    srv.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// curl over HTTPS to localhost; returns (exit code, HTTP status, body, headers).
fn curl(
    srv: &TestServer,
    pki: &Pki,
    path: &str,
    client_cert: bool,
    extra: &[&str],
) -> (i32, u16, String, String) {
    let port = port_of(srv);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-D",
        "-",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ])
    .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
    .arg("--cacert")
    .arg(&pki.ca);
    if client_cert {
        cmd.arg("--cert")
            .arg(&pki.client_cert)
            .arg("--key")
            .arg(&pki.client_key);
    }
    cmd.args(extra)
        .arg(format!("https://localhost:{port}{path}"));
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (rest, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or(("", rest));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
        headers.to_ascii_lowercase(),
    )
}

async fn tls_server(db: &TestDb, pki: &Pki, auth: ClientAuth) -> TestServer {
    let tls = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: Some(pki.ca.clone()),
        client_auth: auth,
    };
    TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.server.tls = Some(tls);
        c.server.public_url = "https://localhost".into();
    })
    .await
}

fn serial(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn served_serial(srv: &TestServer) -> String {
    let port = port_of(srv);
    let child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pem: String = {
        let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
        let end =
            text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
        text[start..end].to_owned()
    };
    let f = std::env::temp_dir().join(format!("served-{port}.pem"));
    std::fs::write(&f, pem).unwrap();
    serial(&f)
}

async fn https_and_mtls(b: Backend) {
    let db = TestDb::new(b).await;
    let pki = pki(&db);
    let srv = tls_server(&db, &pki, ClientAuth::Optional).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;

    // HTTPS with HSTS; plain HTTP on the TLS port gets no answer.
    let (code, status, body, headers) = curl(&srv, &pki, "/healthz", false, &[]);
    assert_eq!((code, status), (0, 200), "{body}");
    assert!(
        headers.contains("strict-transport-security: max-age="),
        "{headers}"
    );

    // A service account mapped to the client certificate's SPIFFE ID.
    let login = format!("{{\"email\":\"root@example.com\",\"password\":\"{STRONG}\"}}");
    let (_, status, body, _) = curl(
        &srv,
        &pki,
        "/api/v1/auth/login",
        false,
        &["-H", "content-type: application/json", "-d", &login],
    );
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sa = r#"{"name":"billing","scopes":["invoices:write"],"spiffe_id":"spiffe://portcullis.test/billing"}"#;
    let (_, status, body, _) = curl(
        &srv,
        &pki,
        "/api/v1/admin/service-accounts",
        false,
        &[
            "-H",
            "content-type: application/json",
            "-H",
            &format!("authorization: Bearer {token}"),
            "-d",
            sa,
        ],
    );
    assert_eq!(status, 201, "{body}");

    // The certificate alone authenticates the service; without it, nothing does.
    let (code, status, body, _) = curl(&srv, &pki, "/api/v1/auth/me", true, &[]);
    assert_eq!((code, status), (0, 200), "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["role"], "service");
    let (_, status, _, _) = curl(&srv, &pki, "/api/v1/auth/me", false, &[]);
    assert_eq!(status, 401);
    let actions: Vec<String> = srv
        .services
        .store()
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.iter().any(|a| a == "auth.mtls.authenticated"),
        "{actions:?}"
    );

    // TLS 1.1 is refused by the server (the client is allowed to offer it).
    let port = port_of(&srv);
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("Cipher is (NONE)"),
        "no TLS 1.1 session: {all}"
    );
    assert!(
        all.contains("alert protocol version") || all.contains("alert handshake failure"),
        "{all}"
    );

    // The post-quantum hybrid is what a client that offers it gets.
    let group = pq_group(port, &pki.ca).await;
    assert_eq!(group, "X25519MLKEM768");

    // SIGHUP reloads the certificate for new connections.
    let before = served_serial(&srv);
    assert_eq!(before, serial(&pki.server_cert));
    cli(
        &db,
        &[
            "ca",
            "issue",
            "--dns",
            "localhost",
            "--ttl",
            "2h",
            "--cert-out",
            pki.server_cert.to_str().unwrap(),
            "--key-out",
            pki.server_key.to_str().unwrap(),
        ],
    );
    assert_ne!(serial(&pki.server_cert), before);
    Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    let mut after = String::new();
    for _ in 0..50 {
        after = served_serial(&srv);
        if after != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        after,
        serial(&pki.server_cert),
        "the new certificate is served"
    );
    srv.stop().await;

    // Where client certificates are required, a connection without one is refused.
    let srv = tls_server(&db, &pki, ClientAuth::Required).await;
    let (code, _, _, _) = curl(&srv, &pki, "/healthz", false, &[]);
    assert_ne!(code, 0, "handshake without a certificate must fail");
    let (code, status, _, _) = curl(&srv, &pki, "/api/v1/auth/me", true, &[]);
    assert_eq!((code, status), (0, 200));
    srv.stop().await;
}

/// The certificates of a PEM CA file as rustls roots.
fn ca_roots(ca: &Path) -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

/// A TLS connection to `localhost:port` from a rustls client (aws-lc-rs) trusting `ca`.
async fn connect_tls(
    port: u16,
    ca: &Path,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca_roots(ca))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// Handshakes with a rustls client (aws-lc-rs, offering X25519MLKEM768 first) and returns
/// the negotiated key exchange group.
async fn pq_group(port: u16, ca: &Path) -> String {
    let tls = connect_tls(port, ca).await;
    let (_, conn) = tls.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    format!("{:?}", conn.negotiated_key_exchange_group().unwrap().name())
}

/// A WebSocket-style upgrade through the gateway on the TLS listener: the 101 comes back
/// and bytes flow both ways over the upgraded connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_over_tls() {
    use tokio::io::AsyncWriteExt;
    // An upstream that switches to an echo protocol.
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = up.accept().await {
            tokio::spawn(async move {
                if crate::read_head(&mut s).await.is_none() {
                    return;
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
                    )
                    .await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let db = TestDb::new(Backend::Sqlite).await;
    let pki = pki(&db);
    let tls = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: None,
        client_auth: ClientAuth::Optional,
    };
    let srv = TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.server.tls = Some(tls);
        c.server.public_url = "https://localhost".into();
        // An idle keep-alive connection parks after one to two seconds.
        c.server.header_timeout_seconds = 4;
        c.routes = vec![portcullis_core::config::RouteConfig {
            name: "ws".into(),
            prefix: "/ws".into(),
            upstreams: vec![format!("http://{up_addr}")],
            auth: portcullis_core::config::RouteAuth::None,
            websocket: true,
            ..Default::default()
        }];
    })
    .await;
    let mut s = connect_tls(port_of(&srv), &pki.ca).await;
    // A request first, then long enough idle for the TLS connection to park: the upgrade
    // is then served by the connection taken up again.
    s.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let head = crate::read_head(&mut s).await.unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let mut m = connect_tls(port_of(&srv), &pki.ca).await;
    m.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut m, &mut text).await;
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("portcullis_connections_parked 1"),
        "the idle TLS connection is parked: {text}"
    );
    s.write_all(
        b"GET /ws/chat HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
    )
    .await
    .unwrap();
    let head = crate::read_head(&mut s).await.unwrap();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    crate::expect_echo(&mut s, &[b"over tls", b"and back"]).await;
    srv.stop().await;
}

/// mTLS from the gateway to an upstream that requires a client certificate from the
/// internal CA: with the route's certificate it passes; without it, or without trusting the
/// upstream's CA, the gateway answers 503 and nothing reaches the upstream's handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_to_upstreams() {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::AsyncWriteExt;
    let db = TestDb::new(Backend::Sqlite).await;
    let pki = pki(&db);
    // The upstream: TLS with the server certificate, client certificates required.
    let roots = ca_roots(&pki.ca);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let has_cert = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                if crate::read_head(&mut s).await.is_none() {
                    return;
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = format!("{{\"client_cert\":{has_cert}}}");
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    let route = |name: &str, ca: bool, cert: bool| portcullis_core::config::RouteConfig {
        name: name.into(),
        prefix: format!("/{name}"),
        upstreams: vec![format!("https://localhost:{port}")],
        auth: portcullis_core::config::RouteAuth::None,
        retries: 0,
        upstream_ca_file: ca.then(|| pki.ca.clone()),
        upstream_client_cert_file: cert.then(|| pki.client_cert.clone()),
        upstream_client_key_file: cert.then(|| pki.client_key.clone()),
        ..Default::default()
    };
    let routes = vec![
        route("mutual", true, true),
        route("nocert", true, false),
        route("untrusted", false, true),
    ];
    let srv = TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.routes = routes;
    })
    .await;
    let get = |path: &str| {
        let url = srv.url(path);
        async move {
            let r = portcullis_testkit::client().get(url).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.text().await.unwrap())
        }
    };
    let (s, body) = get("/mutual/x").await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"client_cert\":true"), "{body}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (s, body) = get("/nocert/x").await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("upstream_unavailable"), "{body}");
    let (s, body) = get("/untrusted/x").await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "nothing else reached the upstream"
    );
    srv.stop().await;
}

/// HTTP/2 over TLS: curl negotiates h2 by ALPN (and HTTP/1.1 when it offers only that),
/// and an `https://` upstream (nginx `ssl http2`) is reached over h2 by ALPN, except on a
/// WebSocket route, which needs HTTP/1.1 for its upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls() {
    use crate::protocols::curl;
    let db = TestDb::new(Backend::Sqlite).await;
    let pki = pki(&db);
    let nginx =
        portcullis_testkit::nginx::Nginx::start_tls(&pki.server_cert, &pki.server_key).await;
    let up = format!("https://localhost:{}", nginx.addr.port());
    let tls = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: None,
        client_auth: ClientAuth::Optional,
    };
    let ca = pki.ca.clone();
    let srv = TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.server.tls = Some(tls);
        c.server.public_url = "https://localhost".into();
        let route = |name: &str, websocket: bool| portcullis_core::config::RouteConfig {
            name: name.into(),
            prefix: format!("/{name}"),
            upstreams: vec![up.clone()],
            auth: portcullis_core::config::RouteAuth::None,
            upstream_ca_file: Some(ca.clone()),
            websocket,
            ..Default::default()
        };
        c.routes = vec![route("h2", false), route("ws", true)];
    })
    .await;
    let port = port_of(&srv);
    let resolve = format!("localhost:{port}:127.0.0.1");
    let ca = pki.ca.to_str().unwrap();
    let url = |p: &str| format!("https://localhost:{port}{p}");
    let base = ["--resolve", &resolve, "--cacert", ca];
    let with = |extra: &'static str| {
        let mut v = base.to_vec();
        v.push(extra);
        v
    };
    let (version, status, _) = curl(&with("--http2"), &url("/healthz"));
    assert_eq!((version.trim(), status), ("HTTP/2 200", 200));
    let (version, status, _) = curl(&with("--http1.1"), &url("/healthz"));
    assert_eq!((version.trim(), status), ("HTTP/1.1 200 OK", 200));
    let (version, status, body) = curl(&with("--http2"), &url("/h2/x"));
    assert_eq!((version.trim(), status), ("HTTP/2 200", 200), "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["protocol"], "HTTP/2.0", "{echo}");
    assert_eq!(echo["x_forwarded_proto"], "https", "{echo}");
    let (_, status, body) = curl(&with("--http2"), &url("/ws/x"));
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["protocol"], "HTTP/1.1", "{echo}");
    srv.stop().await;
}

/// The base64url SHA-256 of a PEM certificate's DER (RFC 8705 `x5t#S256`).
fn x5t(pem: &Path) -> String {
    use base64::Engine;
    use sha2::Digest;
    let text = std::fs::read_to_string(pem).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

/// tls_client_auth (RFC 8705 §2.1): the client is its certificate from the internal CA,
/// and its tokens are bound to it (`cnf.x5t#S256`): the gateway takes them only over a
/// connection that presents that certificate.
async fn certificate_bound_oauth_tokens(b: Backend) {
    use portcullis_core::config::RouteAuth;
    let db = TestDb::new(b).await;
    let pki = pki(&db);
    let up = crate::gateway::start_upstream().await;
    let tls = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: Some(pki.ca.clone()),
        client_auth: ClientAuth::Optional,
    };
    let srv = TestServer::start_on(db.clone(), portcullis_testkit::FakeClock::new(), move |c| {
        c.server.tls = Some(tls);
        c.server.public_url = "https://localhost".into();
        c.routes = vec![portcullis_core::config::RouteConfig {
            auth: RouteAuth::Any,
            ..crate::gateway::open_route("svc", up)
        }];
    })
    .await;
    let spec = |san: Option<&str>| portcullis_core::oauth::clients::ClientSpec {
        name: "billing".into(),
        grant_types: vec!["client_credentials".into()],
        token_endpoint_auth_method: "tls_client_auth".into(),
        scopes: Some(vec!["svc:read".into()]),
        tls_client_auth_san_uri: san.map(str::to_owned),
        ..Default::default()
    };
    let ctx = portcullis_core::service::RequestContext::default();
    // The SAN is required, and a SPIFFE ID.
    for bad in [None, Some("https://billing.example")] {
        assert!(
            srv.services
                .register_oauth_client("cli", &ctx, &spec(bad))
                .await
                .is_err(),
            "{bad:?}"
        );
    }
    let id = srv
        .services
        .register_oauth_client("cli", &ctx, &spec(Some("spiffe://portcullis.test/billing")))
        .await
        .unwrap()
        .client
        .id;
    let other = srv
        .services
        .register_oauth_client("cli", &ctx, &spec(Some("spiffe://portcullis.test/other")))
        .await
        .unwrap()
        .client
        .id;
    let grant = |client: &str, cert: bool| {
        let body = format!(
            "grant_type=client_credentials&client_id={client}&resource=https%3A%2F%2Flocalhost%2Fsvc"
        );
        curl(&srv, &pki, "/oauth2/token", cert, &["-d", &body])
    };
    // Without the certificate, or with one that is not the client's: invalid_client.
    let (_, status, body, _) = grant(&id, false);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client"));
    let (_, status, _, _) = grant(&other, true);
    assert_eq!(status, 401);
    let (_, status, body, _) = grant(&id, true);
    assert_eq!(status, 200, "{body}");
    let tok: Value = serde_json::from_str(&body).unwrap();
    let at = tok["access_token"].as_str().unwrap();
    let claims = portcullis_testkit::claims(at);
    assert_eq!(claims["cnf"]["x5t#S256"], x5t(&pki.client_cert), "{claims}");

    // The gateway takes it over a connection with the certificate, not without.
    let auth = format!("authorization: Bearer {at}");
    let (_, status, body, _) = curl(&srv, &pki, "/svc/x", true, &["-H", &auth]);
    assert_eq!(status, 200, "{body}");
    let (_, status, _, _) = curl(&srv, &pki, "/svc/x", false, &["-H", &auth]);
    assert_eq!(
        status, 401,
        "a stolen certificate-bound token is worthless alone"
    );
    // Discovery says so.
    let (_, _, meta, _) = curl(&srv, &pki, "/.well-known/openid-configuration", false, &[]);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "tls_client_auth")
    );
}
