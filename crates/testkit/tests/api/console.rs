//! The admin console: signed in through Portcullis's own OpenID provider in Chromium
//! (password and TOTP), every page walked with axe-core, a lock, an MFA reset and an alert
//! resolution, and an audit entry's proof checked in the page; and over plain HTTP, what
//! the console's session opens and what it does not (no header, another origin, a stale
//! sign-in, a non-admin, an address outside `admin.allowed_ips`), and `/docs`.

use portcullis_core::alerting::AlertRecord;
use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::oauth::run_peer;
use crate::post;

on_both!(console_in_chromium, console_session_rules);

async fn localhost_server(
    b: Backend,
    f: impl FnOnce(&mut portcullis_core::config::Config),
) -> TestServer {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    TestServer::start_with(b, move |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = format!("http://localhost:{port}");
        f(c);
    })
    .await
}

/// Enrols TOTP for `email` (confirmed with the previous step's code) and returns the secret.
async fn with_totp(srv: &TestServer, email: &str) -> String {
    let at = access(&srv.login(email, STRONG).await);
    let (s, setup) = post(srv, "/api/v1/auth/mfa/setup", Some(&at), Value::Null).await;
    assert_eq!(s, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let (s, body) = post(
        srv,
        "/api/v1/auth/mfa/confirm",
        Some(&at),
        json!({"code": crate::mfa::pyotp(&secret, srv.clock.now() - 30)}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    secret
}

async fn console_in_chromium(b: Backend) {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (apt-get install chromium; scripts/test.sh installs it)"
    );
    // A signed checkpoint after every entry: the lock is in one by the time it is checked.
    let srv = localhost_server(b, |c| c.audit.checkpoint_every_entries = 1).await;
    let base = srv.config.server.public_url.clone();
    let ada = srv.user("ada@example.com", STRONG, Role::Admin).await;
    let secret = with_totp(&srv, "ada@example.com").await;
    let bob = srv.user("bob@example.com", STRONG, Role::User).await;
    with_totp(&srv, "bob@example.com").await;
    // Something for the dashboard to count: a failed sign-in, and an open alert.
    let (s, _) = post(
        &srv,
        "/api/v1/auth/login",
        None,
        json!({"email": "bob@example.com", "password": "not the password at all"}),
    )
    .await;
    assert_eq!(s, 401);
    let now = srv.clock.now();
    srv.services
        .raise_alert(&AlertRecord {
            id: srv.services.new_alert_id(),
            rule: "credential-stuffing".into(),
            severity: "high".into(),
            group_key: String::new(),
            first_at: now,
            last_at: now,
            count: 3,
            status: "open".into(),
            dry_run: false,
            actions: "[]".into(),
            details: "{}".into(),
            resolved_at: None,
            event_seq: 1,
        })
        .await
        .unwrap();
    let shots = std::env::temp_dir().join(format!("portcullis-console-{}", std::process::id()));
    std::fs::create_dir_all(&shots).unwrap();
    let script = format!(
        "{}/tests/js/console_browser.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = run_peer(
        "node",
        &script,
        &[
            &base,
            "ada@example.com",
            STRONG,
            &secret,
            &now.to_string(),
            "bob@example.com",
            shots.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out["error"], Value::Null, "{out}");
    // The sign-in went through the provider as the console client, asking a second factor.
    let q = out["signin_query"].as_str().unwrap_or_default();
    assert!(q.starts_with("?req="), "{out}");
    assert!(
        out["who"].as_str().unwrap().contains("ada@example.com"),
        "{out}"
    );
    // The session cookie is HttpOnly and Strict: the page's script cannot read it.
    let cookie = out["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pcl_console")
        .unwrap_or_else(|| panic!("no console cookie: {out}"));
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    assert_eq!(out["script_sees_cookie"], false);
    // The lock and the MFA reset happened, and were audited by the admin.
    assert!(
        out["lock_flash"].as_str().unwrap().contains("done"),
        "{out}"
    );
    assert_eq!(out["mfa_button_gone"], true, "{out}");
    let bob = srv
        .services
        .store()
        .user_by_id(&bob)
        .await
        .unwrap()
        .unwrap();
    assert!(bob.locked);
    assert!(!bob.mfa_enabled);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    for action in [
        "admin.user.locked",
        "admin.user.mfa_reset",
        "admin.alert.resolved",
    ] {
        assert!(
            events
                .iter()
                .any(|e| e.action == action && e.actor.as_deref() == Some(ada.as_str())),
            "{action} by the admin"
        );
    }
    // The admin's own sessions were listed; a service account's key was shown once.
    assert!(out["sessions_rows"].as_u64().unwrap() >= 1, "{out}");
    let key = out["service_key"].as_str().unwrap();
    assert!(key.len() > 20, "{out}");
    // The table names the new key by its prefix, never the key itself.
    assert!(
        out["keys_table"].as_str().unwrap().contains(&key[..12]),
        "{out}"
    );
    assert!(!out["keys_table"].as_str().unwrap().contains(key), "{out}");
    // Every page rendered without an error, and axe found nothing serious.
    for (page, v) in out["pages"].as_object().unwrap() {
        assert_eq!(v["error"], Value::Null, "{page}: {v}");
    }
    for (page, v) in out["axe"].as_object().unwrap() {
        assert_eq!(v, &json!([]), "axe on {page}: {v}");
    }
    // The dashboard shows what happened: the failed sign-in, the alert, MFA coverage.
    let d = &out["dashboard"];
    assert_eq!(d["failures"], "1", "{d}");
    assert_eq!(d["open_alerts"], "1", "{d}");
    assert_eq!(d["mfa_admin"].as_str().unwrap(), "100% (1/1)", "{d}");
    assert!(d["charts"].as_array().unwrap().len() >= 6, "{d}");
    let png = std::fs::read(shots.join("dashboard.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    // The alert is resolved; the audit proof verified in the page against the pinned key,
    // and a tampered entry or checkpoint does not.
    assert!(
        out["alert_after"].as_str().unwrap().contains("resolved"),
        "{out}"
    );
    assert!(out["audit_rows"].as_u64().unwrap() >= 1, "{out}");
    assert!(
        out["verdict"].as_str().unwrap().starts_with("Verified"),
        "{out}"
    );
    assert_eq!(out["tampered"]["genuine"], "ok", "{out}");
    assert_ne!(out["tampered"]["altered_entry"], "ok", "{out}");
    assert_ne!(out["tampered"]["altered_checkpoint"], "ok", "{out}");
    assert_ne!(out["tampered"]["altered_action"], "ok", "{out}");
    assert_ne!(out["tampered"]["altered_actor"], "ok", "{out}");
    // /docs lists the API.
    assert!(out["docs"]["ops"].as_u64().unwrap() > 50, "{out}");
    assert_eq!(out["api_after_signout"], 401, "{out}");
    assert_eq!(out["after_signout"], "/oauth2/signin");
    // The report shows every control with its result; the failing one is the unmeasured
    // dependency scan, which says so rather than passing.
    let summary = out["report"]["summary"].as_str().unwrap();
    assert!(summary.contains("controls pass"), "{out}");
    let rows = out["report"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 9, "{out}");
    assert!(
        rows.iter()
            .any(|r| r.as_str().unwrap().contains("Tamper-evident audit log")
                && r.as_str().unwrap().contains("pass")),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.as_str().unwrap().contains("Known vulnerabilities")
                && r.as_str().unwrap().contains("no evidence")),
        "{out}"
    );
    let png = std::fs::read(shots.join("report.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    assert_eq!(out["console_errors"], json!([]), "CSP or SRI errors: {out}");
    std::fs::remove_dir_all(&shots).ok();
    report_as_pdf(&srv, &secret).await;
    srv.stop().await;
}

/// The PDF report, rendered by poppler (`pdftoppm`) and read back (`pdftotext`).
async fn report_as_pdf(srv: &TestServer, secret: &str) {
    let t = srv.login("ada@example.com", STRONG).await;
    let mfa = t["mfa_token"].as_str().unwrap_or_default().to_owned();
    let at = if mfa.is_empty() {
        access(&t)
    } else {
        let (s, body) = post(
            srv,
            "/api/v1/auth/mfa/verify",
            None,
            json!({"mfa_token": mfa, "code": crate::mfa::pyotp(secret, srv.clock.now() + 30)}),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        access(&body)
    };
    let r = client()
        .get(srv.url("/api/v1/admin/report?format=pdf"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.pdf"), &pdf).unwrap();
    let ok = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "50"])
        .arg(dir.join("r.pdf"))
        .arg(dir.join("page"))
        .status()
        .expect("pdftoppm (poppler-utils) runs");
    assert!(ok.success());
    let pages = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("page")
        })
        .count();
    assert!(pages >= 1, "{pages} pages");
    let text = std::process::Command::new("pdftotext")
        .arg(dir.join("r.pdf"))
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for want in [
        "Compliance report",
        "Multi-factor authentication for administrative access",
        "Tamper-evident audit log",
        "NO EVIDENCE",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A browser's cookies, kept by hand (name to value; a Max-Age=0 removes one).
#[derive(Default)]
struct Jar(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl Jar {
    fn header(&self) -> String {
        let m = self.0.lock().unwrap();
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&self, r: &reqwest::Response) {
        let mut m = self.0.lock().unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                m.remove(k);
            } else {
                m.insert(k.to_owned(), val.to_owned());
            }
        }
    }
}

/// Signs `email` in as the console would, through the provider, with plain HTTP: returns
/// the console cookie's value, or the callback's status when it refused.
async fn console_cookie(srv: &TestServer, email: &str, totp: Option<&str>) -> Result<String, u16> {
    let http = no_redirects();
    let jar = Jar::default();
    let origin = srv.config.server.public_url.clone();
    let abs = |path: &str| {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            srv.url(path)
        }
    };
    let mut r = http.get(abs("/console/login")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    jar.take(&r);
    let field = |html: &str, name: &str| {
        let at = html
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("{name} in {html}"));
        let rest = &html[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    let form = |pairs: Vec<(&str, String)>| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", urlencoding(&v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut posted = false;
    loop {
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        if location.contains("/oauth2/signin") && !posted {
            let page = http
                .get(abs(&location))
                .header("cookie", jar.header())
                .send()
                .await
                .unwrap();
            jar.take(&page);
            let page = page.text().await.unwrap();
            r = http
                .post(srv.url("/oauth2/signin"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", origin.clone())
                .header("cookie", jar.header())
                .body(form(vec![
                    ("csrf", field(&page, "csrf")),
                    ("req", field(&page, "req")),
                    ("email", email.to_owned()),
                    ("password", STRONG.to_owned()),
                ]))
                .send()
                .await
                .unwrap();
            jar.take(&r);
            if r.status() == 200 {
                let mfa_page = r.text().await.unwrap();
                let secret = totp.expect("a second factor is asked");
                r = http
                    .post(srv.url("/oauth2/signin/mfa"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("origin", origin.clone())
                    .header("cookie", jar.header())
                    .body(form(vec![
                        ("csrf", field(&mfa_page, "csrf")),
                        ("req", field(&mfa_page, "req")),
                        ("code", crate::mfa::pyotp(secret, srv.clock.now())),
                    ]))
                    .send()
                    .await
                    .unwrap();
                jar.take(&r);
            }
            assert!(r.status().is_redirection(), "sign-in: {}", r.status());
            posted = true;
            continue;
        }
        r = http
            .get(abs(&location))
            .header("cookie", jar.header())
            .send()
            .await
            .unwrap();
        jar.take(&r);
        if location.contains("/console/callback") {
            break;
        }
        assert!(r.status().is_redirection(), "{location}: {}", r.status());
    }
    if r.status() != 303 {
        return Err(r.status().as_u16());
    }
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let c = set
        .iter()
        .find(|c| c.starts_with("pcl_console=") && !c.starts_with("pcl_console=;"))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    Ok(c["pcl_console=".len()..c.find(';').unwrap()].to_owned())
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn console_session_rules(b: Backend) {
    let srv = localhost_server(b, |c| {
        c.auth.step_up_max_age_seconds = 300;
    })
    .await;
    srv.user("ada@example.com", STRONG, Role::Admin).await;
    let secret = with_totp(&srv, "ada@example.com").await;
    srv.user("eve@example.com", STRONG, Role::User).await;
    let eve = with_totp(&srv, "eve@example.com").await;
    srv.user("max@example.com", STRONG, Role::Admin).await;

    // An administrator without a second factor is refused by the provider (the console
    // asks for one); a user with one, by the console, which audits the refusal.
    assert_eq!(
        console_cookie(&srv, "max@example.com", None).await,
        Err(403)
    );
    assert_eq!(
        console_cookie(&srv, "eve@example.com", Some(&eve)).await,
        Err(403)
    );
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "access.denied" && e.details.contains("\"role\"")),
        "{:?}",
        events
            .iter()
            .filter(|e| e.action == "access.denied")
            .collect::<Vec<_>>()
    );

    let token = console_cookie(&srv, "ada@example.com", Some(&secret))
        .await
        .unwrap();
    let cookie = format!("pcl_console={token}");
    let users = "/api/v1/admin/users";
    let get = |headers: Vec<(&'static str, String)>| {
        let mut rb = client().get(srv.url(users));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    // The cookie alone opens nothing: the console's header is needed, and a cross-site
    // fetch (Sec-Fetch-Site) is refused.
    assert_eq!(get(vec![("cookie", cookie.clone())]).await, 401);
    assert_eq!(
        get(vec![
            ("cookie", cookie.clone()),
            ("x-portcullis-console", "1".into())
        ])
        .await,
        200
    );
    assert_eq!(
        get(vec![
            ("cookie", cookie.clone()),
            ("x-portcullis-console", "1".into()),
            ("sec-fetch-site", "cross-site".into())
        ])
        .await,
        401
    );
    // The console's pages: the shell for the admin; the sign-in for anyone else.
    let r = client()
        .get(srv.url("/console/users"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("require-trusted-types-for 'script'") && csp.contains("'nonce-"),
        "{csp}"
    );
    let r = no_redirects()
        .get(srv.url("/console/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let public = srv.config.server.public_url.clone();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{public}/console/login?return=/console/users")),
        "{:?}",
        r.headers()["location"]
    );
    // Opened under another name than the public URL's, the sign-in moves to the public
    // origin first (its cookies must be there when the provider sends the browser back).
    let r = no_redirects()
        .get(srv.url("/console/login?return=/console/audit"))
        .header("host", "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{public}/console/login?return=/console/audit")
    );
    // A change on a sign-in older than step_up_max_age_seconds asks for a fresh one.
    srv.clock.advance(301);
    let bob = srv.user("bob@example.com", STRONG, Role::User).await;
    let r = client()
        .post(srv.url(&format!("/api/v1/admin/users/{bob}/lock")))
        .header("cookie", cookie.clone())
        .header("x-portcullis-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "step_up_required", "{body}");
    assert_eq!(
        get(vec![
            ("cookie", cookie.clone()),
            ("x-portcullis-console", "1".into())
        ])
        .await,
        200,
        "reading needs no step-up"
    );
    // Signing out ends the session behind the cookie.
    let r = client()
        .post(srv.url("/console/logout"))
        .header("cookie", cookie.clone())
        .header("x-portcullis-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        get(vec![
            ("cookie", cookie.clone()),
            ("x-portcullis-console", "1".into())
        ])
        .await,
        401
    );
    // The console's code cannot be redeemed at the public token endpoint.
    let r = client()
        .post(srv.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&client_id=portcullis-console&code=x&code_verifier=y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // /docs is served with its own script under the same CSP.
    let r = client().get(srv.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("/docs/assets/docs.js") && html.contains("integrity=\"sha384-"));
    srv.stop().await;

    // From an address outside admin.allowed_ips the console does not even start a sign-in.
    let srv = localhost_server(b, |c| {
        c.admin.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let r = no_redirects()
        .get(srv.url("/console/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    srv.stop().await;
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
