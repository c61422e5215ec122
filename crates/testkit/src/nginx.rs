//! nginx as a real upstream, started for one test on a free loopback port. nginx normalises
//! the paths it receives (decodes, merges slashes, removes dot-segments) as production
//! upstreams do, so a path the gateway forwards unnormalised would reach the location nginx
//! resolves it to: the tests see what an attacker would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx; stopped when dropped.
#[derive(Debug)]
pub struct Nginx {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

/// The nginx binary; panics with instructions when it is not installed.
fn binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "nginx is not installed: run ./scripts/test.sh (it installs nginx-light) or apt-get install nginx-light"
    )
}

/// Every request header the tests look at, as nginx received it, in a JSON object; `uri`
/// is nginx's normalised path and `request_uri` the request line's target as sent.
const ECHO: &str = r#"'{"served":"$served","uri":"$uri","request_uri":"$request_uri","method":"$request_method","host":"$http_host","x_forwarded_for":"$http_x_forwarded_for","x_forwarded_host":"$http_x_forwarded_host","x_forwarded_proto":"$http_x_forwarded_proto","x_forwarded_port":"$http_x_forwarded_port","x_forwarded_server":"$http_x_forwarded_server","x_request_id":"$http_x_request_id","forwarded":"$http_forwarded","x_real_ip":"$http_x_real_ip","x_client_ip":"$http_x_client_ip","true_client_ip":"$http_true_client_ip","x_original_url":"$http_x_original_url","x_rewrite_url":"$http_x_rewrite_url","x_http_method_override":"$http_x_http_method_override","x_method_override":"$http_x_method_override","x_portcullis_identity":"$http_x_portcullis_identity","x_portcullis_user":"$http_x_portcullis_user","authorization":"$http_authorization","protocol":"$server_protocol","te":"$http_te","content_type":"$content_type","content_length":"$http_content_length","content_encoding":"$http_content_encoding","proxy":"$http_proxy","client_ip":"$http_client_ip","x_envoy_external_address":"$http_x_envoy_external_address","akamai_client_ip":"$http_akamai_client_ip","x_forwarded":"$http_x_forwarded","accept_encoding":"$http_accept_encoding"}'"#;

impl Nginx {
    /// Starts nginx answering every request with [`ECHO`] from memory; `served` names the
    /// location: `adminonly` under `/adminonly/`, `public` under `/public/`, `secret` under
    /// `/cedar/secret`, else `other`.
    pub async fn start() -> Self {
        Self::start_listening("").await
    }

    /// The same, speaking HTTP/2 with prior knowledge only (h2c): `listen ... http2`.
    pub async fn start_h2c() -> Self {
        Self::start_listening(" http2").await
    }

    /// The same, h2c, ending each connection with a GOAWAY after `requests` streams (as
    /// nginx does after `keepalive_requests`, 1,000 unless set, and on every reload).
    pub async fn start_h2c_recycling(requests: u32) -> Self {
        Self::start_listening(&format!(" http2;\n    keepalive_requests {requests}")).await
    }

    /// The same over TLS with `cert` and `key` (PEM), offering h2 and http/1.1 by ALPN.
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_listening(&format!(
            " ssl http2;\n    ssl_certificate {};\n    ssl_certificate_key {}",
            cert.display(),
            key.display()
        ))
        .await
    }

    /// Starts nginx with `listen` (the rest of the listen directive and any TLS lines).
    async fn start_listening(listen: &str) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir =
            std::env::temp_dir().join(format!("portcullis-nginx-{port}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(dir.join("files")).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port}{listen};
    set $served other;
    location /adminonly/ {{ set $served adminonly; return 200 {ECHO}; }}
    location /public/ {{ set $served public; return 200 {ECHO}; }}
    location /cedar/secret {{ set $served secret; return 200 {ECHO}; }}
    location / {{ return 200 {ECHO}; }}
    location ~ /echo-header/ {{ add_header X-Echo $arg_v always; return 200 '{{}}'; }}
    location /static/ {{ alias {d}/files/; }}
    location /gzip/ {{ alias {d}/files/; add_header Content-Encoding gzip; }}
    location /deflate/ {{ alias {d}/files/; add_header Content-Encoding deflate; }}
    location /br/ {{ alias {d}/files/; add_header Content-Encoding br; }}
    location /digest/ {{ alias {d}/files/; add_header Content-Digest "sha-256=:AAAA:"; add_header Repr-Digest "sha-256=:AAAA:"; add_header Digest "SHA-256=AAAA"; add_header Content-MD5 "AAAA"; add_header x-amz-checksum-sha256 "AAAA"; add_header x-goog-hash "crc32c=AAAA"; add_header x-ms-content-crc64 "AAAA"; add_header Signature "sig1=:AAAA:"; add_header x-content-blake3 "AAAA"; }}
    location /octet/ {{ alias {d}/files/; default_type application/octet-stream; }}
    location /png/ {{ alias {d}/files/; default_type image/png; }}
    location /labelled/ {{ default_type application/grpc; return 200 {ECHO}; }}
    location /utf16/ {{ alias {d}/files/; default_type "text/plain; charset=utf-16"; }}
  }}
}}
"#
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Self { addr, child, dir };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        panic!("nginx did not start on {addr}: {log}");
    }

    /// Serves `bytes` as `name` under `/static/`, under `/gzip/`, `/deflate/` and `/br/`
    /// with that `Content-Encoding` (whatever the bytes are, as a misconfigured upstream
    /// might send them), and as `application/octet-stream` (`/octet/`), `image/png`
    /// (`/png/`) and UTF-16 text (`/utf16/`).
    pub fn file(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join("files").join(name), bytes).unwrap();
    }

    /// The upstream URL of this nginx, with an optional base path.
    pub fn url(&self, base: &str) -> String {
        format!("http://{}{base}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `raw` (a whole HTTP/1.1 request, byte for byte: no client library normalises its
/// path) to `addr` and reads one response: (status, lower-cased head, body).
pub async fn raw_request(addr: &str, raw: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(done) = complete(&buf) {
                buf.truncate(done);
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no complete response within 20 s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head, body)
}

/// The length of the first complete response in `buf`, if it is complete.
fn complete(buf: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(buf);
    let end = text.find("\r\n\r\n")? + 4;
    let head = text[..end].to_ascii_lowercase();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return (buf.len() >= end + len).then_some(end + len);
    }
    if head.contains("transfer-encoding: chunked") {
        return text[end..].find("0\r\n\r\n").map(|i| end + i + 5);
    }
    if head.starts_with("http/1.1 1")
        || head.starts_with("http/1.1 204")
        || head.starts_with("http/1.1 304")
    {
        return Some(end);
    }
    None
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
