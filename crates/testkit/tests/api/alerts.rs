//! Alert rules, sinks and playbooks, end to end: failed logins over HTTP raise alerts that a
//! Standard Webhooks receiver (the Python reference implementation verifies each signature)
//! and a real SMTP server (aiosmtpd) receive once; repeats are deduplicated, a sink's hourly
//! limit holds, a receiver that comes up late still gets the alert, a dead one is given up on;
//! playbooks lock accounts and revoke sessions (or, in dry run, only say they would).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use portcullis_core::alerting::{AlertRuleConfig, AlertSinkConfig, AlertSinkKind, PlaybookAction};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client, refresh};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::send;

on_both!(
    alerts_reach_webhook_and_email_once,
    sink_rate_limit_retry_and_give_up,
    lock_account_playbook_takes_effect,
    dry_run_changes_nothing,
    token_reuse_raises_the_builtin_alert,
    ban_ip_playbook_bans_until_the_ban_expires,
    windows_and_cursor_survive_a_restart,
);

pub(crate) const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub(crate) struct Receiver {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `receivers.py kind ...` (on `port` when given) and waits for its port.
pub(crate) fn receiver(dir: &Path, name: &str, args: &[&str], port: Option<u16>) -> Receiver {
    let portfile = dir.join(format!("{name}.port"));
    let out = dir.join(format!("{name}.out"));
    let _ = std::fs::remove_file(&portfile);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/receivers.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(args[0])
        .arg(&portfile)
        .arg(&out)
        .args(&args[1..]);
    if let Some(p) = port {
        cmd.env("RECEIVER_PORT", p.to_string());
    }
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile)
            && let Ok(p) = p.trim().parse()
        {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{name} receiver did not start (standardwebhooks and aiosmtpd installed?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Receiver { child, port, out }
}

pub(crate) fn lines(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn webhook(name: &str, port: u16) -> AlertSinkConfig {
    AlertSinkConfig {
        url: Some(format!("http://127.0.0.1:{port}/alerts")),
        secret: Some(SecretString::from(SECRET)),
        retry_base_ms: 50,
        ..AlertSinkConfig::new(AlertSinkKind::Webhook, name)
    }
}

/// A rule on failed password logins (`details.reason = invalid_credentials`).
fn failed_logins(name: &str, group_by: &str, threshold: u32) -> AlertRuleConfig {
    let mut r = AlertRuleConfig::new(name, "auth.login.failed");
    r.outcome = Some("failure".into());
    r.where_
        .insert("details.reason".into(), json!("invalid_credentials"));
    r.group_by = Some(group_by.into());
    r.threshold = threshold;
    r
}

async fn fail_login(srv: &TestServer, email: &str) {
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "wrong password 123456"})),
    )
    .await;
    assert_eq!(s, 401, "a wrong password is refused");
}

pub(crate) async fn admin_token(srv: &TestServer) -> String {
    srv.user("root@example.com", STRONG, Role::Admin).await;
    access(&srv.login("root@example.com", STRONG).await)
}

pub(crate) async fn list(srv: &TestServer, admin: &str) -> Vec<Value> {
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/alerts?limit=100"))
            .bearer_auth(admin),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body["alerts"].as_array().cloned().unwrap_or_default()
}

/// Polls the alert list until `done` holds (at most 20 s).
pub(crate) async fn wait_alerts(
    srv: &TestServer,
    admin: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let alerts = list(srv, admin).await;
        if done(&alerts) {
            return alerts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "alerts never got there: {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delivery<'a>(alert: &'a Value, sink: &str) -> &'a Value {
    alert["deliveries"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["sink"] == sink))
        .unwrap_or(&Value::Null)
}

async fn alerts_reach_webhook_and_email_once(b: Backend) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let dir = db.dir.clone();
    let hook = receiver(&dir, "hook", &["webhook", SECRET, "0"], None);
    let smtp = receiver(&dir, "smtp", &["smtp"], None);
    let syslog = receiver(&dir, "syslog", &["syslog"], None);
    let (hook_port, smtp_port, syslog_port) = (hook.port, smtp.port, syslog.port);
    let srv = TestServer::start_on(db, portcullis_testkit::FakeClock::new(), move |c| {
        c.alerts.sinks = vec![
            webhook("ops-hook", hook_port),
            AlertSinkConfig {
                smtp_url: Some(SecretString::from(format!("smtp://127.0.0.1:{smtp_port}"))),
                from: Some("portcullis@example.com".into()),
                to: vec!["oncall@example.com".into()],
                ..AlertSinkConfig::new(AlertSinkKind::Email, "oncall")
            },
            AlertSinkConfig {
                address: Some(format!("127.0.0.1:{syslog_port}")),
                ..AlertSinkConfig::new(AlertSinkKind::Syslog, "collector")
            },
        ];
        let mut r = failed_logins("credential-stuffing", "ip", 3);
        r.severity = portcullis_core::alerting::Severity::High;
        c.alerts.rules = vec![r];
    })
    .await;
    let admin = admin_token(&srv).await;
    for i in 0..5 {
        fail_login(&srv, &format!("nobody{i}@example.com")).await;
    }
    // Five failures from one address: one alert (raised at the third, two more counted).
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.len() == 1
            && a[0]["count"] == 5
            && delivery(&a[0], "ops-hook")["status"] == "delivered"
            && delivery(&a[0], "oncall")["status"] == "delivered"
            && delivery(&a[0], "collector")["status"] == "delivered"
    })
    .await;
    let a = &alerts[0];
    assert_eq!(a["rule"], "credential-stuffing");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["group"], "127.0.0.1");
    assert_eq!(a["status"], "open");
    assert_eq!(a["dry_run"], false);
    assert_eq!(a["details"]["event"]["action"], "auth.login.failed");
    assert_eq!(a["details"]["threshold"], 3);
    // Sent once to each sink, although the rule fired three times.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let hooks = lines(&hook.out);
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let body: Value = serde_json::from_str(&hooks[0]).unwrap();
    assert_eq!(body["type"], "alert.raised");
    assert_eq!(body["data"]["id"], a["id"]);
    assert_eq!(body["data"]["rule"], "credential-stuffing");
    let mails = lines(&smtp.out);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail: Value = serde_json::from_str(&mails[0]).unwrap();
    assert_eq!(mail["mail_from"], "portcullis@example.com");
    assert_eq!(mail["rcpt_tos"], json!(["oncall@example.com"]));
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: [Portcullis] high alert: credential-stuffing (127.0.0.1)"),
        "{data}"
    );
    assert!(data.contains(a["id"].as_str().unwrap()), "{data}");
    // RFC 5424: facility authpriv (10), severity error (3) for a high alert, MSGID alert.
    let frames = lines(&syslog.out);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert!(frames[0].starts_with("<83>1 "), "{}", frames[0]);
    let sd = format!(
        " alert [portcullis@32473 alert_id=\"{}\" rule=\"credential-stuffing\" severity=\"high\"] ",
        a["id"].as_str().unwrap()
    );
    assert!(frames[0].contains(&sd), "{}", frames[0]);
    let msg: Value = serde_json::from_str(frames[0].split_once("] ").unwrap().1).unwrap();
    assert_eq!(msg["id"], a["id"]);
    // The alert is in the audit log, and an administrator resolves it.
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "alert.raised" && e.target.as_deref() == a["id"].as_str())
    );
    let path = format!("/api/v1/admin/alerts/{}/resolve", a["id"].as_str().unwrap());
    let (s, _, _) = send(client().post(srv.url(&path)).bearer_auth(&admin)).await;
    assert_eq!(s, 204);
    let (s, body, _) = send(client().post(srv.url(&path)).bearer_auth(&admin)).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("not_found")));
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/admin/alerts?cursor=not-an-id"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 400);
    let user_token = {
        srv.user("u@example.com", STRONG, Role::User).await;
        access(&srv.login("u@example.com", STRONG).await)
    };
    let (s, _, _) = send(
        client()
            .get(srv.url("/api/v1/admin/alerts"))
            .bearer_auth(&user_token),
    )
    .await;
    assert_eq!(s, 403);
    // After resolution, the next failure from the address raises a new alert.
    fail_login(&srv, "nobody9@example.com").await;
    // (Ids are time-ordered to the second only: find the new one by status.)
    wait_alerts(&srv, &admin, |a| {
        a.len() == 2
            && a.iter().any(|a| a["status"] == "open" && a["count"] == 3)
            && a.iter().any(|a| a["status"] == "resolved")
    })
    .await;
    srv.stop().await;
}

async fn sink_rate_limit_retry_and_give_up(b: Backend) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let dir = db.dir.clone();
    // The receiver is down at first: reserve a port and leave it closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let srv = TestServer::start_on(db, portcullis_testkit::FakeClock::new(), move |c| {
        c.alerts.sinks = vec![
            AlertSinkConfig {
                max_per_hour: 2,
                max_attempts: 30,
                ..webhook("late", port)
            },
            AlertSinkConfig {
                max_attempts: 2,
                retry_base_ms: 10,
                ..webhook("dead", 9)
            },
        ];
        c.alerts.rules = vec![failed_logins("per-account", "target", 1)];
    })
    .await;
    let admin = admin_token(&srv).await;
    for who in ["a", "b", "c"] {
        let email = format!("{who}@example.com");
        srv.user(&email, STRONG, Role::User).await;
        fail_login(&srv, &email).await;
    }
    // Three alerts; the dead sink gives up on each after two attempts, the late one keeps
    // retrying the oldest.
    wait_alerts(&srv, &admin, |a| {
        a.len() == 3
            && a.iter().all(|a| delivery(a, "dead")["status"] == "failed")
            && a.iter()
                .any(|a| delivery(a, "late")["attempts"].as_i64().unwrap_or(0) >= 1)
    })
    .await;
    let alerts = list(&srv, &admin).await;
    for a in &alerts {
        assert_eq!(delivery(a, "dead")["attempts"], 2);
        assert!(delivery(a, "dead")["last_error"].is_string());
    }
    let hook = receiver(&dir, "late", &["webhook", SECRET, "0"], Some(port));
    // Two delivered (the hourly limit), the third recorded as rate limited, not sent.
    let alerts = wait_alerts(&srv, &admin, |a| {
        let st = |s: &str| {
            a.iter()
                .filter(|a| delivery(a, "late")["status"] == s)
                .count()
        };
        st("delivered") == 2 && st("rate_limited") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lines(&hook.out).len(), 2);
    // The first alert raised (the lowest audit sequence number) waited for the receiver.
    let oldest = alerts
        .iter()
        .min_by_key(|a| a["details"]["event"]["seq"].as_i64().unwrap())
        .unwrap();
    assert_eq!(delivery(oldest, "late")["status"], "delivered");
    assert!(delivery(oldest, "late")["attempts"].as_i64().unwrap() >= 2);
    srv.stop().await;
}

async fn lock_account_playbook_takes_effect(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        let mut r = failed_logins("guess", "target", 2);
        r.playbook = vec![
            PlaybookAction::LockAccount,
            PlaybookAction::RevokeSessions,
            PlaybookAction::RequireMfa,
        ];
        c.alerts.rules = vec![r];
    })
    .await;
    let admin = admin_token(&srv).await;
    let uid = srv.user("vic@example.com", STRONG, Role::User).await;
    let tokens = srv.login("vic@example.com", STRONG).await;
    let at = access(&tokens);
    let me = |t: String| {
        let srv = &srv;
        async move {
            send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(t))
                .await
                .0
        }
    };
    assert_eq!(me(at.clone()).await, 200);
    fail_login(&srv, "vic@example.com").await;
    fail_login(&srv, "vic@example.com").await;
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.len() == 1 && a[0]["actions"].as_array().is_some_and(|x| x.len() == 3)
    })
    .await;
    let a = &alerts[0];
    assert_eq!(a["group"], uid.as_str());
    assert_eq!(a["actions"][2]["action"], "require_mfa");
    assert_eq!(a["actions"][2]["result"], "done", "{}", a["actions"][2]);
    assert_eq!(a["actions"][0]["action"], "lock_account");
    assert_eq!(a["actions"][0]["result"], "done");
    assert_eq!(a["actions"][0]["subject"], uid.as_str());
    assert_eq!(a["actions"][1]["action"], "revoke_sessions");
    // The session is gone at once and the account is locked.
    assert_eq!(me(at).await, 401);
    let (s, body, _) = send(
        client()
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": "vic@example.com", "password": STRONG})),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (423, Some("account_locked")));
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh(&tokens)})),
    )
    .await;
    assert_eq!(s, 401);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    let locked = events
        .iter()
        .find(|e| e.action == "response.account_locked")
        .expect("response.account_locked audited");
    let d: Value = serde_json::from_str(&locked.details).unwrap();
    assert_eq!(d["rule"], "guess");
    assert_eq!(d["alert_id"], a["id"]);
    assert_eq!(d["dry_run"], false);
    assert_eq!(locked.actor.as_deref(), Some("rule:guess"));
    assert_eq!(locked.target.as_deref(), Some(uid.as_str()));
    assert!(events.iter().any(|e| e.action == "auth.session.revoked"
        && e.actor.as_deref() == Some("rule:guess")));
    // The MFA requirement is recorded by its own service, then as a response.
    assert!(events.iter().any(|e| e.action == "risk.flag.set"
        && e.target.as_deref() == Some(uid.as_str())
        && e.details.contains("rule:guess")));
    assert!(
        events
            .iter()
            .any(|e| e.action == "response.mfa_required"
                && e.target.as_deref() == Some(uid.as_str()))
    );
    // Erasure of the account also erases what its alerts say about it.
    let (s, body, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/users/{uid}?erase=true")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let alerts = list(&srv, &admin).await;
    assert_eq!(alerts[0]["group"], Value::Null);
    assert_eq!(alerts[0]["details"], json!({"redacted": true}));
    assert_eq!(alerts[0]["actions"], json!([]));
    assert!(!alerts[0].to_string().contains(&uid));
    srv.stop().await;
}

async fn dry_run_changes_nothing(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        let mut r = failed_logins("guess", "target", 2);
        r.playbook = vec![
            PlaybookAction::LockAccount,
            PlaybookAction::RevokeSessions,
            PlaybookAction::BanIp,
        ];
        r.dry_run = true;
        c.alerts.rules = vec![r];
    })
    .await;
    let admin = admin_token(&srv).await;
    srv.user("vic@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("vic@example.com", STRONG).await);
    fail_login(&srv, "vic@example.com").await;
    fail_login(&srv, "vic@example.com").await;
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.len() == 1 && a[0]["actions"].as_array().is_some_and(|x| x.len() == 3)
    })
    .await;
    let a = &alerts[0];
    assert_eq!(a["dry_run"], true);
    for act in a["actions"].as_array().unwrap() {
        assert_eq!(act["result"], "dry_run", "{act}");
    }
    assert_eq!(a["actions"][2]["subject"], "127.0.0.1");
    // Nothing changed: the token works, the password signs in.
    let (s, _, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await;
    assert_eq!(s, 200);
    srv.login("vic@example.com", STRONG).await;
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    for action in [
        "response.account_locked",
        "response.sessions_revoked",
        "response.ip_banned",
    ] {
        let e = events
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action} recorded"));
        let d: Value = serde_json::from_str(&e.details).unwrap();
        assert_eq!(d["dry_run"], true);
        assert_eq!(d["alert_id"], a["id"]);
    }
    assert!(!events.iter().any(|e| e.action == "auth.session.revoked"));
    srv.stop().await;
}

async fn token_reuse_raises_the_builtin_alert(b: Backend) {
    let srv = TestServer::start(b).await;
    let admin = admin_token(&srv).await;
    srv.user("ria@example.com", STRONG, Role::User).await;
    let tokens = srv.login("ria@example.com", STRONG).await;
    let rt = refresh(&tokens);
    for expected in [200, 401] {
        let (s, _, _) = send(
            client()
                .post(srv.url("/api/v1/auth/refresh"))
                .json(&json!({"refresh_token": rt})),
        )
        .await;
        assert_eq!(s, expected);
    }
    let alerts = wait_alerts(&srv, &admin, |a| a.len() == 1).await;
    assert_eq!(alerts[0]["rule"], "token-reuse");
    assert_eq!(alerts[0]["severity"], "high");
    assert_eq!(alerts[0]["group"], tokens["session_id"]);
    assert_eq!(
        alerts[0]["details"]["event"]["action"],
        "auth.token.reuse_detected"
    );
    srv.stop().await;
}

async fn ban_ip_playbook_bans_until_the_ban_expires(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        let mut r = failed_logins("stuffing", "ip", 2);
        r.playbook = vec![PlaybookAction::BanIp];
        r.ban_seconds = 600;
        c.alerts.rules = vec![r];
    })
    .await;
    let admin = admin_token(&srv).await;
    srv.user("ada@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("ada@example.com", STRONG).await);
    let me = || async { send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(&at)).await };
    assert_eq!(me().await.0, 200);
    fail_login(&srv, "nobody1@example.com").await;
    fail_login(&srv, "nobody2@example.com").await;
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.len() == 1 && a[0]["actions"].as_array().is_some_and(|x| x.len() == 1)
    })
    .await;
    let act = &alerts[0]["actions"][0];
    assert_eq!(act["action"], "ban_ip", "{act}");
    assert_eq!(act["result"], "done", "{act}");
    assert_eq!(act["subject"], "127.0.0.1");
    let ban_id = act["detail"]["ban_id"].as_str().unwrap().to_owned();
    // The address is refused everywhere but the admin API of the allowed IPs.
    let (s, body, _) = me().await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/bans"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["bans"][0]["id"], ban_id.as_str());
    assert_eq!(body["bans"][0]["cidr"], "127.0.0.1/32");
    assert_eq!(body["bans"][0]["source"], "rule:stuffing");
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    let banned = events
        .iter()
        .find(|e| e.action == "response.ip_banned")
        .expect("response.ip_banned audited");
    let d: Value = serde_json::from_str(&banned.details).unwrap();
    assert_eq!(d["ban_id"], ban_id.as_str());
    assert_eq!(d["alert_id"], alerts[0]["id"]);
    assert!(
        events.iter().any(
            |e| e.action == "admin.ban.created" && e.target.as_deref() == Some(ban_id.as_str())
        )
    );
    // Past its end (by the service clock) the ban no longer applies.
    srv.clock.advance(601);
    let started = Instant::now();
    loop {
        if me().await.0 == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the ban did not expire"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    srv.stop().await;
}

fn stuffing_rule(c: &mut portcullis_core::config::Config) {
    c.alerts.rules = vec![failed_logins("stuffing", "ip", 3)];
}

/// Waits until the engine's cursor reached the head of the audit log.
pub(crate) async fn engine_caught_up(srv: &TestServer) {
    let started = Instant::now();
    loop {
        let (head, _) = srv.services.store().audit_head().await.unwrap();
        let states = srv.services.store().sink_states().await.unwrap();
        if states
            .iter()
            .any(|s| s.name == "alerts-engine" && s.last_seq >= head)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the engine did not catch up: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn windows_and_cursor_survive_a_restart(b: Backend) {
    let db = portcullis_testkit::TestDb::new(b).await;
    let clock = portcullis_testkit::FakeClock::new();
    let srv = TestServer::start_on(db.clone(), clock.clone(), stuffing_rule).await;
    let admin = admin_token(&srv).await;
    fail_login(&srv, "nobody1@example.com").await;
    fail_login(&srv, "nobody2@example.com").await;
    engine_caught_up(&srv).await;
    assert!(list(&srv, &admin).await.is_empty());
    srv.stop().await;
    // Another process on the same database: the two failures before the restart still
    // count in the window, and nothing already evaluated is evaluated again.
    let srv = TestServer::start_on(db.clone(), clock.clone(), stuffing_rule).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    fail_login(&srv, "nobody3@example.com").await;
    let alerts = wait_alerts(&srv, &admin, |a| a.len() == 1).await;
    assert_eq!(alerts[0]["count"], 3);
    engine_caught_up(&srv).await;
    assert_eq!(list(&srv, &admin).await.len(), 1);
    srv.stop().await;
}
