//! TOTP enrolment, MFA login, recovery codes, enforcement and step-up, with codes made by
//! independent clients (pyotp and oathtool).

use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, STRONG2, TestServer, access, claims, client};
use serde_json::{Value, json};

use crate::{post, send};

on_both!(
    enrolment_and_mfa_login,
    recovery_codes_work_once,
    mfa_token_dies,
    role_enforcement,
    step_up,
    disabling_mfa
);

/// The TOTP code of `secret` at `t`, from pyotp.
pub(crate) fn pyotp(secret: &str, t: i64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &t.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyotp missing (pip install pyotp): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The same from oathtool (Debian's oath-toolkit).
fn oathtool(secret: &str, t: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &format!("--now=@{t}"), secret])
        .output()
        .expect("oathtool runs (apt-get install oathtool)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Enrols TOTP for a signed-in user; returns (secret, recovery codes).
pub(crate) async fn enrol(srv: &TestServer, at: &str) -> (String, Vec<String>) {
    let (s, setup) = post(srv, "/api/v1/auth/mfa/setup", Some(at), Value::Null).await;
    assert_eq!(s, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let now = srv.clock.now();
    let (s, body) = post(
        srv,
        "/api/v1/auth/mfa/confirm",
        Some(at),
        json!({"code": pyotp(&secret, now)}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn mfa_login(srv: &TestServer, email: &str) -> String {
    let (s, body) = post(
        srv,
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": STRONG}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("mfa_required")),
        "{body}"
    );
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn enrolment_and_mfa_login(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("una@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("una@example.com", STRONG).await);

    let (s, setup) = post(&srv, "/api/v1/auth/mfa/setup", Some(&at), Value::Null).await;
    assert_eq!(s, 200);
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Portcullis:una%40example.com?secret="),
        "{uri}"
    );
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    // An independent client understands the URI.
    let parsed = std::process::Command::new("python3")
        .args(["-c", "import pyotp, sys; t = pyotp.parse_uri(sys.argv[1]); print(t.secret, t.issuer, t.name, t.digits, t.interval)", uri])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout).trim(),
        format!("{secret} Portcullis una@example.com 6 30")
    );

    // A wrong code does not confirm; the right one does and yields ten recovery codes.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/confirm",
        Some(&at),
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_mfa_code")));
    let now = srv.clock.now();
    let first = oathtool(&secret, now);
    assert_eq!(
        first,
        pyotp(&secret, now),
        "the two independent clients agree"
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/confirm",
        Some(&at),
        json!({"code": first}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);
    let (_, me, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await;
    assert_eq!(me["user"]["mfa_enabled"], true);

    // Login now asks for the second factor. The code used to confirm is spent (RFC 6238 5.2).
    let token = mfa_login(&srv, "una@example.com").await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": first}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_mfa_code")));
    srv.clock.advance(30);
    let (s, tokens) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": oathtool(&secret, srv.clock.now())}),
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    let c = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["pwd", "otp"]));
    // The mfa_token is single use.
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": pyotp(&secret, srv.clock.now())}),
    )
    .await;
    assert_eq!(s, 401);

    let actions: Vec<String> = srv
        .services
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "auth.mfa.setup_started",
        "auth.mfa.enabled",
        "auth.mfa.failed",
        "auth.mfa.replay_rejected",
        "auth.mfa.verified",
        "auth.login.mfa_required",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }

    // The secret is nowhere in the database in plaintext.
    if b == Backend::Sqlite {
        let raw = portcullis_core::crypto::totp::base32_decode(&secret).unwrap();
        for suffix in ["", "-wal"] {
            let bytes = std::fs::read(format!("{}{suffix}", srv.db.name)).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "base32 secret in {suffix}"
            );
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw.as_slice()),
                "raw secret in {suffix}"
            );
        }
    }
    srv.stop().await;
}

async fn recovery_codes_work_once(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("vic@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("vic@example.com", STRONG).await);
    let (_, codes) = enrol(&srv, &at).await;
    let token = mfa_login(&srv, "vic@example.com").await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "recovery_code": codes[0].to_lowercase()}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let token = mfa_login(&srv, "vic@example.com").await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_mfa_code")),
        "a recovery code works once"
    );
    // Regenerating invalidates the old set.
    let (s, fresh) = post(
        &srv,
        "/api/v1/auth/mfa/recovery-codes",
        Some(&at),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{fresh}");
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "recovery_code": codes[1]}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "recovery_code": fresh["recovery_codes"][0]}),
    )
    .await;
    assert_eq!(s, 200);
    // Both or neither: a bad body.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    srv.stop().await;
}

async fn mfa_token_dies(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("wes@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("wes@example.com", STRONG).await);
    let (secret, _) = enrol(&srv, &at).await;
    srv.clock.advance(30);
    // Five wrong codes kill the token, even for the right code afterwards.
    let token = mfa_login(&srv, "wes@example.com").await;
    for _ in 0..5 {
        let (s, _) = post(
            &srv,
            "/api/v1/auth/mfa/verify",
            None,
            json!({"mfa_token": token, "code": "123456"}),
        )
        .await;
        assert!(s == 401 || s == 429, "{s}");
    }
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": pyotp(&secret, srv.clock.now())}),
    )
    .await;
    assert!(s == 401 || s == 429, "{s}");
    // Wrong codes count toward the account's second-factor throttle: five were free, the
    // sixth blocks, and even the right code waits (guessing TOTP codes across many logins
    // does not work). Wrong passwords do not count here: someone who only knows the email
    // cannot block the owner's second factor.
    let token = mfa_login(&srv, "wes@example.com").await;
    let (s, _) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": "123456"}),
    )
    .await;
    assert_eq!(s, 401);
    let token = mfa_login(&srv, "wes@example.com").await;
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": pyotp(&secret, srv.clock.now() + 30)}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (429, Some("too_many_attempts")));
    // After the block, a token older than five minutes is dead.
    srv.clock.advance(3600);
    let token = mfa_login(&srv, "wes@example.com").await;
    srv.clock.advance(301);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": pyotp(&secret, srv.clock.now())}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));
    srv.stop().await;
}

async fn role_enforcement(b: Backend) {
    let srv =
        TestServer::start_with(b, |c| c.auth.mfa_required_for_roles = vec![Role::Admin]).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let t = srv.login("root@example.com", STRONG).await;
    let at = access(&t);
    for (method, path) in [
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/auth/sessions"),
        ("GET", "/api/v1/admin/users"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (s, body, _) = send(client().request(m, srv.url(path)).bearer_auth(&at)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("mfa_enrollment_required")),
            "{path}"
        );
    }
    // Enrolment stays open; afterwards a refreshed token carries the factor.
    enrol(&srv, &at).await;
    let (s, t2) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": t["refresh_token"]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        claims(t2["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(access(&t2)),
    )
    .await;
    assert_eq!(s, 200);
    srv.stop().await;
}

async fn step_up(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let victim = srv.user("xena@example.com", STRONG, Role::User).await;
    let admin_tokens = srv.login("root@example.com", STRONG).await;
    let admin = access(&admin_tokens);
    let user = access(&srv.login("xena@example.com", STRONG).await);
    srv.clock.advance(601);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/password",
        Some(&user),
        json!({"current_password": STRONG, "new_password": STRONG2}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    let (s, body) = post(
        &srv,
        &format!("/api/v1/admin/users/{victim}/lock"),
        Some(&admin),
        Value::Null,
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));

    // Without a second factor, the password steps up; a wrong one counts as a failure.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&user),
        json!({"password": "wrong password 123"}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&user),
        json!({"password": STRONG}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(claims(fresh)["auth_time"].as_i64(), Some(srv.clock.now()));
    let (s, _) = post(
        &srv,
        "/api/v1/auth/password",
        Some(fresh),
        json!({"current_password": STRONG, "new_password": STRONG2}),
    )
    .await;
    assert_eq!(s, 204);

    // With a second factor, a code steps up (and a password alone does not).
    let (secret, _) = enrol(&srv, &admin).await;
    srv.clock.advance(601);
    // The access token outlived its 900 s; a refreshed one keeps the session's old auth_time.
    let (s, refreshed) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": admin_tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(s, 200);
    let admin = access(&refreshed);
    let (s, _) = post(
        &srv,
        &format!("/api/v1/admin/users/{victim}/lock"),
        Some(&admin),
        Value::Null,
    )
    .await;
    assert_eq!(s, 401);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&admin),
        json!({"password": STRONG}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&admin),
        json!({"code": pyotp(&secret, srv.clock.now())}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    let (s, _) = post(
        &srv,
        &format!("/api/v1/admin/users/{victim}/lock"),
        Some(&admin),
        Value::Null,
    )
    .await;
    assert_eq!(s, 204);
    srv.stop().await;
}

async fn disabling_mfa(b: Backend) {
    let srv = TestServer::start(b).await;
    srv.user("yan@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("yan@example.com", STRONG).await);
    let (secret, _) = enrol(&srv, &at).await;
    srv.clock.advance(30);
    let del = |pw: &str, code: String| {
        client()
            .delete(srv.url("/api/v1/auth/mfa"))
            .bearer_auth(&at)
            .json(&json!({"password": pw, "code": code}))
    };
    let (s, body, _) = send(del("wrong password 123", pyotp(&secret, srv.clock.now()))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (s, body, _) = send(del(STRONG, "000000".into())).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_mfa_code")));
    let (s, _, _) = send(del(STRONG, pyotp(&secret, srv.clock.now()))).await;
    assert_eq!(s, 204);
    let t = srv.login("yan@example.com", STRONG).await;
    assert_eq!(t["status"], "ok", "no second step any more");
    let actions: Vec<String> = srv
        .services
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.iter().any(|a| a == "auth.mfa.disabled"));
    srv.stop().await;
}
