//! Account recovery by mail and administrators' account management, with a real SMTP
//! server on loopback (Python's `aiosmtpd`) receiving the mails and the tests following the
//! codes in them: forgotten passwords, invitations, verification at registration, security
//! notices, and what administrators change (role, address, "must change the password").

use std::time::{Duration, Instant};

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client, refresh};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::alerts::{Receiver, lines, receiver};
use crate::send;

on_both!(
    a_forgotten_password_is_reset_by_mail,
    registration_needs_a_verified_address,
    administrators_manage_accounts,
    pages_in_a_browser_and_a_change_of_address,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_takes_as_long_for_unknown_addresses() {
    forgot_timing(Backend::Sqlite).await;
}

/// With verification by mail, registering a taken address answers like a new one, in
/// about the same time (medians of interleaved requests, within a wide band).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_takes_as_long_for_taken_addresses() {
    let (srv, _smtp) = with_mail(Backend::Sqlite, |c| {
        c.email.verify_on_register = true;
        c.auth.self_registration = true;
        c.detection.registrations_free = 1_000;
        c.detection.registrations_max = 1_001;
    })
    .await;
    for i in 0..16 {
        srv.user(&format!("taken{i}@example.com"), STRONG, Role::User)
            .await;
    }
    let (mut taken, mut new) = (Vec::new(), Vec::new());
    for i in 0..16 {
        for (email, into) in [
            (format!("taken{i}@example.com"), &mut taken),
            (format!("fresh{i}@example.com"), &mut new),
        ] {
            let t = Instant::now();
            let (s, body) = post(
                &srv,
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": STRONG}),
            )
            .await;
            into.push(t.elapsed().as_secs_f64());
            assert_eq!(s, 201, "{body}");
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut taken), median(&mut new));
    eprintln!("registration medians: taken {k:.4}s, new {u:.4}s");
    assert!(k / u < 3.0 && u / k < 3.0, "taken {k:.4}s vs new {u:.4}s");
    srv.stop().await;
}

const NEW_PASSWORD: &str = "a different passphrase, just as long 7";

/// A server whose `[email]` is an aiosmtpd on loopback, with `tweak` applied.
async fn with_mail(
    b: Backend,
    tweak: impl FnOnce(&mut portcullis_core::config::Config) + Send + 'static,
) -> (TestServer, Receiver) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let smtp = receiver(&db.dir.clone(), "smtp", &["smtp"], None);
    let port = smtp.port;
    let srv = TestServer::start_on(db, portcullis_testkit::FakeClock::new(), move |c| {
        c.email.smtp_url = Some(SecretString::from(format!("smtp://127.0.0.1:{port}")));
        c.email.from = "Portcullis <no-reply@example.com>".into();
        tweak(c);
    })
    .await;
    (srv, smtp)
}

/// The mails received so far: (recipients, subject, body).
fn mails(smtp: &Receiver) -> Vec<(Vec<String>, String, String)> {
    lines(&smtp.out)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|m| {
            let data = quoted_printable(m["data"].as_str().unwrap_or(""));
            let subject = data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_owned();
            let to = m["rcpt_tos"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (to, subject, data)
        })
        .collect()
}

/// The text of a quoted-printable body (RFC 2045 §6.7): soft line breaks joined, `=XX`
/// decoded (the mails are plain text; headers pass through unchanged).
fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("\r\n", "\n");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits for a mail to `to` whose subject contains `subject`, and returns its body.
async fn mail_to(smtp: &Receiver, to: &str, subject: &str) -> String {
    let started = Instant::now();
    loop {
        if let Some((_, _, body)) = mails(smtp)
            .into_iter()
            .find(|(t, s, _)| t.iter().any(|x| x == to) && s.contains(subject))
        {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no mail to {to} about \"{subject}\": {:?}",
            mails(smtp).iter().map(|m| (&m.0, &m.1)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many mails `to` has received whose subject contains `subject`.
fn count(smtp: &Receiver, to: &str, subject: &str) -> usize {
    mails(smtp)
        .iter()
        .filter(|(t, s, _)| t.iter().any(|x| x == to) && s.contains(subject))
        .count()
}

/// The code in a mail (`pcm_` and 32 base64url characters), and that its link carries it
/// in the fragment.
fn code_in(body: &str) -> String {
    let at = body.find("pcm_").expect("a code in the mail");
    let code: String = body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(code.len(), 36, "{body}");
    assert!(
        body.contains(&format!("#code={code}")),
        "the link carries the code in its fragment: {body}"
    );
    code
}

async fn post(srv: &TestServer, path: &str, at: Option<&str>, body: Value) -> (u16, Value) {
    let mut rb = client().post(srv.url(path)).json(&body);
    if let Some(t) = at {
        rb = rb.bearer_auth(t);
    }
    let (s, b, _) = send(rb).await;
    (s, b)
}

async fn login(srv: &TestServer, email: &str, password: &str) -> (u16, Value) {
    post(
        srv,
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn a_forgotten_password_is_reset_by_mail(b: Backend) {
    let (srv, smtp) = with_mail(b, |_| {}).await;
    srv.user("olga@example.com", STRONG, Role::User).await;
    let before = srv.login("olga@example.com", STRONG).await;
    let (s, key) = post(
        &srv,
        "/api/v1/auth/api-keys",
        Some(&access(&before)),
        json!({"name": "ci", "scopes": ["deploy:write"]}),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    let api_key = key["key"].as_str().unwrap().to_owned();
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("x-api-key", &api_key),
    )
    .await;
    assert_eq!(s, 200);
    mail_to(&smtp, "olga@example.com", "A new API key was created").await;

    // Known and unknown addresses: the same answer, and mail only for the known one.
    let forgot = |email: &'static str| {
        let srv = &srv;
        async move {
            let (s, b, h) = send(
                client()
                    .post(srv.url("/api/v1/auth/password/forgot"))
                    .json(&json!({"email": email})),
            )
            .await;
            (s, b, h.get("content-length").cloned())
        }
    };
    let known = forgot("olga@example.com").await;
    let unknown = forgot("nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 202);
    let body = mail_to(&smtp, "olga@example.com", "Reset your password").await;
    let code = code_in(&body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&smtp, "nobody@example.com", ""), 0);

    // A weak password is refused and leaves the code usable; a made-up code counts
    // against the source.
    let reset = |code: String, pw: &'static str, keys: bool| {
        let srv = &srv;
        async move {
            post(
                srv,
                "/api/v1/auth/password/reset",
                None,
                json!({"token": code, "new_password": pw, "revoke_api_keys": keys}),
            )
            .await
        }
    };
    let (s, body) = reset(code.clone(), "password", false).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (422, Some("weak_password")),
        "{body}"
    );
    let (s, body) = reset(format!("pcm_{}", "A".repeat(32)), NEW_PASSWORD, false).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let (s, body) = reset(code.clone(), NEW_PASSWORD, true).await;
    assert_eq!(s, 204, "{body}");
    // Once only.
    let (s, _) = reset(code, NEW_PASSWORD, false).await;
    assert_eq!(s, 401);
    // Every session ended, the API key too; the new password signs in, the old does not.
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(access(&before)),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh(&before)}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .header("x-api-key", &api_key),
    )
    .await;
    assert_eq!(s, 401, "the API key was revoked with the reset");
    assert_eq!(login(&srv, "olga@example.com", STRONG).await.0, 401);
    assert_eq!(login(&srv, "olga@example.com", NEW_PASSWORD).await.0, 200);
    mail_to(&smtp, "olga@example.com", "Your password was changed").await;
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    for action in [
        "auth.password.reset_requested",
        "auth.password.reset",
        "email.delivered",
    ] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
    // No audit event names the unknown address, and no mail content reaches the log.
    let dump = srv.db.dump();
    assert!(!dump.contains("nobody@example.com"));
    assert!(!dump.contains("pcm_"));

    // The same through the hosted pages: the form answers alike, the mail's link opens the
    // reset page.
    let page = send(client().get(srv.url("/oauth2/password/forgot"))).await;
    assert_eq!(page.0, 200);
    let page = send(client().get(srv.url("/oauth2/password/reset"))).await;
    assert_eq!(page.0, 200);
    srv.stop().await;
}

async fn registration_needs_a_verified_address(b: Backend) {
    let (srv, smtp) = with_mail(b, |c| {
        c.email.verify_on_register = true;
        c.auth.self_registration = true;
    })
    .await;
    let register = |email: &'static str| {
        let srv = &srv;
        async move {
            post(
                srv,
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": STRONG, "display_name": "Pat"}),
            )
            .await
        }
    };
    let (s, first) = register("pat@example.com").await;
    assert_eq!(s, 201, "{first}");
    let body = mail_to(&smtp, "pat@example.com", "Confirm your email address").await;
    let code = code_in(&body);
    assert!(body.contains("/oauth2/email/verify#code="));
    // Registering the same address again looks the same (another id), and its owner is told.
    let (s, again) = register("pat@example.com").await;
    assert_eq!(s, 201);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v["user"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&first), keys(&again));
    assert_ne!(first["user"]["id"], again["user"]["id"]);
    assert_eq!(first["user"]["email"], again["user"]["email"]);
    mail_to(
        &smtp,
        "pat@example.com",
        "Someone tried to create an account",
    )
    .await;

    // Not before the address is proved.
    let (s, body) = login(&srv, "pat@example.com", STRONG).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("email_not_verified")),
        "{body}"
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/email/verify",
        None,
        json!({"token": "pcm_nope"}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/email/verify",
        None,
        json!({"token": code}),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let (s, body) = login(&srv, "pat@example.com", STRONG).await;
    assert_eq!(s, 200, "{body}");
    // The page a verification link opens is a form (a scanner following it uses nothing).
    let (s, _, _) = send(client().get(srv.url("/oauth2/email/verify"))).await;
    assert_eq!(s, 200);
    srv.stop().await;
}

async fn administrators_manage_accounts(b: Backend) {
    let (srv, smtp) = with_mail(b, |_| {}).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (srv, admin) = (&srv, admin.clone());
        async move {
            let mut rb = client().request(method, srv.url(&path)).bearer_auth(&admin);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let (s, v, _) = send(rb).await;
            (s, v)
        }
    };
    // An invitation: no password, a mail whose code sets the first one.
    let (s, created) = call(
        reqwest::Method::POST,
        "/api/v1/admin/users".into(),
        Some(json!({"email": "ivy@example.com", "display_name": "Ivy Quinn"})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["user"]["id"].as_str().unwrap().to_owned();
    let invite = mail_to(&smtp, "ivy@example.com", "You have been invited").await;
    assert_eq!(
        login(&srv, "ivy@example.com", STRONG).await.0,
        401,
        "no password yet"
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/password/reset",
        None,
        json!({"token": code_in(&invite), "new_password": STRONG}),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let (s, ivy) = login(&srv, "ivy@example.com", STRONG).await;
    assert_eq!(s, 200, "{ivy}");

    // Search by part of a name or an address.
    for q in ["quinn", "IVY@EXAMPLE.COM", "ivy@"] {
        let (s, found) = call(
            reqwest::Method::GET,
            format!("/api/v1/admin/users?q={q}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{found}");
        let ids: Vec<&str> = found["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["id"].as_str())
            .collect();
        assert_eq!(ids, vec![id.as_str()], "{q}");
    }

    // A new role ends the user's sessions (no token carries the old one).
    let (s, changed) = call(
        reqwest::Method::PATCH,
        format!("/api/v1/admin/users/{id}"),
        Some(json!({"role": "admin", "display_name": null})),
    )
    .await;
    assert_eq!(
        (s, changed["user"]["role"].as_str()),
        (200, Some("admin")),
        "{changed}"
    );
    assert!(changed["user"]["display_name"].is_null());
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/me"))
            .bearer_auth(access(&ivy)),
    )
    .await;
    assert_eq!(s, 401);
    // Not one's own role; not a service role; not an unknown user.
    let me = srv
        .services
        .search_users("root@example.com", 1)
        .await
        .unwrap()[0]
        .id
        .clone();
    for (path, body, want) in [
        (
            format!("/api/v1/admin/users/{me}"),
            json!({"role": "user"}),
            403,
        ),
        (
            format!("/api/v1/admin/users/{id}"),
            json!({"role": "service"}),
            400,
        ),
        (
            "/api/v1/admin/users/nope".to_owned(),
            json!({"role": "user"}),
            404,
        ),
        (
            format!("/api/v1/admin/users/{id}"),
            json!({"email": "root@example.com"}),
            409,
        ),
        (
            format!("/api/v1/admin/users/{id}"),
            json!({"colour": "red"}),
            400,
        ),
    ] {
        let (s, body) = call(reqwest::Method::PATCH, path.clone(), Some(body)).await;
        assert_eq!(s, want, "{path}: {body}");
    }

    // "Must change the password": the next sign-in's tokens open nothing else until it is.
    let (s, _) = call(
        reqwest::Method::PATCH,
        format!("/api/v1/admin/users/{id}"),
        Some(json!({"must_change_password": true, "role": "user"})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, t) = login(&srv, "ivy@example.com", STRONG).await;
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/auth/sessions"))
            .bearer_auth(access(&t)),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("password_change_required")),
        "{body}"
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/password",
        Some(&access(&t)),
        json!({"current_password": STRONG, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let (s, t2) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh(&t)}),
    )
    .await;
    assert_eq!(s, 200, "{t2}");
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/auth/sessions"))
            .bearer_auth(access(&t2)),
    )
    .await;
    assert_eq!(s, 200);

    // A new address: the old one is told; a reset mail goes to the new one.
    let (s, changed) = call(
        reqwest::Method::PATCH,
        format!("/api/v1/admin/users/{id}"),
        Some(json!({"email": "ivy.quinn@example.com"})),
    )
    .await;
    assert_eq!(
        (s, changed["user"]["email"].as_str()),
        (200, Some("ivy.quinn@example.com"))
    );
    mail_to(
        &smtp,
        "ivy@example.com",
        "email address of your account was changed",
    )
    .await;
    let (s, _) = call(
        reqwest::Method::POST,
        format!("/api/v1/admin/users/{id}/password-reset"),
        None,
    )
    .await;
    assert_eq!(s, 202);
    mail_to(&smtp, "ivy.quinn@example.com", "Reset your password").await;
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    for action in [
        "admin.user.invited",
        "admin.user.updated",
        "admin.user.password_reset_sent",
    ] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
    srv.stop().await;
}

/// The mail's link in `body` that opens `page`.
fn link_in(body: &str, page: &str) -> String {
    body.lines()
        .find(|l| l.contains(page) && l.contains("#code="))
        .unwrap_or_else(|| panic!("no {page} link: {body}"))
        .trim()
        .to_owned()
}

async fn browser(args: &[&str]) -> Value {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (apt-get install chromium; scripts/test.sh installs it)"
    );
    let script = format!(
        "{}/tests/js/recovery_browser.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    crate::oauth::run_peer("node", &script, args).await
}

/// The hosted pages in Chromium (the forgotten-password form, the reset link with its code
/// in the fragment, the confirmation of an address), and a change of address through the
/// API: the password again, a code to the new address, the old one told.
async fn pages_in_a_browser_and_a_change_of_address(b: Backend) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://localhost:{port}");
    let public = base.clone();
    let (srv, smtp) = with_mail(b, move |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = public;
    })
    .await;
    srv.user("uma@example.com", STRONG, Role::User).await;
    srv.user("vic@example.com", STRONG, Role::User).await;

    let out = browser(&["forgot", &base, "uma@example.com"]).await;
    assert_eq!(out["heading"], "Check your mail", "{out}");
    let body = mail_to(&smtp, "uma@example.com", "Reset your password").await;
    let link = link_in(&body, "/oauth2/password/reset");
    assert!(
        link.starts_with(&format!("{base}/oauth2/password/reset#code=pcm_")),
        "{link}"
    );
    let out = browser(&["reset", &link, NEW_PASSWORD]).await;
    assert_eq!(out["heading"], "Your password is set", "{out}");
    assert_eq!(out["code_in_form"].as_str(), Some(code_in(&body).as_str()));
    assert!(
        !out["url_after_load"].as_str().unwrap().contains('#'),
        "{out}"
    );
    assert_eq!(out["console_errors"], json!([]), "CSP or SRI errors: {out}");
    let (s, t) = login(&srv, "uma@example.com", NEW_PASSWORD).await;
    assert_eq!(s, 200, "{t}");
    let at = access(&t);

    // A change of address: the password again; an address with an account gets nothing.
    let change = |new: &'static str, pw: &'static str| {
        let (srv, at) = (&srv, at.clone());
        async move {
            post(
                srv,
                "/api/v1/auth/email",
                Some(&at),
                json!({"new_email": new, "password": pw}),
            )
            .await
        }
    };
    let (s, body) = change("uma.new@example.com", STRONG).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    let (s, _) = change("vic@example.com", NEW_PASSWORD).await;
    assert_eq!(s, 202);
    let (s, _) = change("uma.new@example.com", NEW_PASSWORD).await;
    assert_eq!(s, 202);
    let body = mail_to(
        &smtp,
        "uma.new@example.com",
        "Confirm your new email address",
    )
    .await;
    let out = browser(&["verify", &link_in(&body, "/oauth2/email/verify")]).await;
    assert_eq!(out["heading"], "Address confirmed", "{out}");
    mail_to(
        &smtp,
        "uma@example.com",
        "email address of your account was changed",
    )
    .await;
    assert_eq!(
        count(&smtp, "vic@example.com", ""),
        0,
        "the taken address got nothing"
    );
    assert_eq!(
        login(&srv, "uma.new@example.com", NEW_PASSWORD).await.0,
        200
    );
    assert_eq!(login(&srv, "uma@example.com", NEW_PASSWORD).await.0, 401);
    srv.stop().await;
}

/// The forgotten-password answer leaves before the address is looked up: known and unknown
/// addresses take alike (medians of interleaved requests, within a wide band: this machine
/// is shared and noisy; a lookup-and-mail path would show as a constant offset).
async fn forgot_timing(b: Backend) {
    let (srv, _smtp) = with_mail(b, |_| {}).await;
    // Each address asked once: the per-address throttle stays out of the way.
    for i in 0..24 {
        srv.user(&format!("tess{i}@example.com"), STRONG, Role::User)
            .await;
    }
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..24 {
        for (email, into) in [
            (format!("tess{i}@example.com"), &mut known),
            (format!("nobody{i}@example.com"), &mut unknown),
        ] {
            let t = Instant::now();
            let (s, body) = post(
                &srv,
                "/api/v1/auth/password/forgot",
                None,
                json!({"email": email}),
            )
            .await;
            into.push(t.elapsed().as_secs_f64());
            assert_eq!(s, 202, "{body}");
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    assert!(
        k / u < 3.0 && u / k < 3.0,
        "known {k:.4}s vs unknown {u:.4}s"
    );
    srv.stop().await;
}
