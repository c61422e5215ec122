//! Request bodies the WAF reads past their form: uploaded files streamed to a real clamd,
//! and bodies in a content coding (gzip, deflate) inspected as they decode.

use portcullis_core::config::{WafExclusion, WafMode};
use portcullis_testkit::nginx::Nginx;
use portcullis_testkit::{Backend, TestServer, client};

use crate::dlp::gzip;
use crate::hardening::route;
use crate::send;
use crate::waf::waf_events;

/// A clamd on loopback whose only signature is the EICAR test string (no official
/// signatures can be downloaded here): `(address, process, scratch directory)`.
async fn start_clamd() -> (String, std::process::Child, std::path::PathBuf) {
    const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let bin = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("clamd is installed (apt-get install clamav-daemon; ./scripts/test.sh does)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("portcullis-clamd-{port}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.join("db/eicar.ndb"),
        format!("Portcullis-Test.EICAR:0:*:{hex}\n"),
    )
    .unwrap();
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "DatabaseDirectory {d}/db\nTCPSocket {port}\nTCPAddr 127.0.0.1\nForeground yes\n\
             LogFile {d}/clamd.log\nPidFile {d}/clamd.pid\nStreamMaxLength 10M\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("clamd starts");
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return (addr, child, dir);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default();
    panic!("clamd did not start on {addr}: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_files_are_scanned_by_clamd() {
    const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let (addr, mut clamd, dir) = start_clamd().await;
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
        c.waf.clamd_address = Some(addr.clone());
        c.routes = vec![route("files", "/files", nginx.url(""))];
    })
    .await;
    let upload = |content: &str| {
        let body = format!(
            "--b0undary\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n\
             --b0undary\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"notes.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n{content}\r\n--b0undary--\r\n"
        );
        client()
            .post(srv.url("/files/upload"))
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body)
    };
    let (s, body, _) = send(upload("a plain text file")).await;
    assert_eq!(s, 200, "{body}");
    let (s, body, _) = send(upload(EICAR)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let events = waf_events(&srv).await;
    let d = &events.last().unwrap().1;
    assert_eq!(d["rules"][0]["id"], 922500, "{d}");
    assert_eq!(d["rules"][0]["category"], "malware");
    assert!(
        d["rules"][0]["locations"][0]
            .as_str()
            .unwrap()
            .contains("Portcullis-Test.EICAR"),
        "{d}"
    );
    // clamd gone: an upload that cannot be scanned does not pass; a dependency is down
    // (503 unavailable, as the contract says), not a detection.
    clamd.kill().unwrap();
    clamd.wait().unwrap();
    let (s, body, _) = send(upload("a plain text file")).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(body["incident_id"].is_string(), "{body}");
    let events = waf_events(&srv).await;
    assert_eq!(events.last().unwrap().1["rules"][0]["id"], 922510);
    // Requests without files do not need clamd.
    let (s, _, _) = send(client().get(srv.url("/files/list?q=holiday"))).await;
    assert_eq!(s, 200);
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A body cannot hide in a content coding: gzip and deflate bodies are inspected as what
/// they decode to (and forwarded as they came), a decompression bomb meets the body limit,
/// and a body in a coding the WAF cannot read or that does not decode is a finding of its
/// own (920950, 920951), which an exclusion can lift on a route that needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_request_bodies_are_inspected_as_they_decode() {
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
        c.waf.exclusions = vec![WafExclusion {
            rule: "920950".into(),
            target: None,
            route: Some("brotli".into()),
        }];
        c.routes = vec![
            route("public", "/public", nginx.url("")),
            route("brotli", "/brotli", nginx.url("")),
        ];
    })
    .await;
    let post = |path: &str, coding: &str, body: Vec<u8>| {
        client()
            .post(srv.url(path))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(body)
    };
    let attack =
        br#"{"q": "1' UNION SELECT password FROM users --", "n": "<script>alert(1)</script>"}"#;
    let deflate = {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(attack).unwrap();
        e.finish().unwrap()
    };
    for (coding, body) in [
        ("gzip", gzip(attack)),
        ("x-gzip", gzip(attack)),
        ("deflate", deflate),
    ] {
        let (s, body, _) = send(post("/public/items", coding, body)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("request_blocked")),
            "{coding}: {body}"
        );
    }
    // The same on Portcullis's own API.
    let login = gzip(br#"{"email": "admin@example.com' OR '1'='1' --", "password": "x"}"#);
    let (s, body, _) = send(post("/api/v1/auth/login", "gzip", login)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    // UTF-16 bodies are inspected as the text XML and JSON parsers read (black-box pass
    // 6, N3): CDATA in a UTF-16 document with and without a BOM; an ordinary one passes.
    let utf16 = |text: &str, bom: bool| -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    for bom in [true, false] {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a><q><![CDATA[1 UNION SELECT password FROM users--]]></q></a>";
        let (s, body, _) = send(
            client()
                .post(srv.url("/public/items"))
                .header("content-type", "application/xml")
                .body(utf16(doc, bom)),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("request_blocked")),
            "{body}"
        );
    }
    let (s, body, _) = send(
        client()
            .post(srv.url("/public/items"))
            .header("content-type", "application/xml")
            .body(utf16(
                "<a><q>O'Brien selects the union station</q></a>",
                true,
            )),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // A benign compressed body passes, and the upstream gets it as it was sent.
    let benign = gzip(br#"{"name": "O'Brien", "note": "select the blue one"}"#);
    let (s, body, _) = send(post("/public/items", "gzip", benign.clone())).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["content_encoding"], "gzip");
    assert_eq!(body["content_length"], benign.len().to_string());
    // A bomb: 64 MiB of spaces decode past the 128 KiB limit, and the body is refused as
    // too large to inspect.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    let (s, body, _) = send(post("/public/items", "gzip", bomb)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    // Unreadable or broken: refused, and audited as such.
    let (s, body, _) = send(post("/public/items", "br", b"\x0b\x02\x80{}".to_vec())).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let (s, body, _) = send(post("/public/items", "gzip, gzip", gzip(&gzip(attack)))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let mut cut = gzip(attack);
    cut.truncate(cut.len() - 8);
    let (s, body, _) = send(post("/public/items", "gzip", cut)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let events = waf_events(&srv).await;
    let rules: Vec<u64> = events
        .iter()
        .flat_map(|(_, d)| d["rules"].as_array().unwrap().iter())
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(
        rules.contains(&920950) && rules.contains(&920951),
        "{rules:?}"
    );
    // Where an exclusion lifts 920950, such a body passes (the upstream's to decode)...
    let (s, body, _) = send(post("/brotli/items", "br", b"\x0b\x02\x80{}".to_vec())).await;
    assert_eq!(s, 200, "{body}");
    // ... but what it says in plain text is inspected all the same.
    let (s, body, _) = send(post("/brotli/items", "br", attack.to_vec())).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    srv.stop().await;
}
