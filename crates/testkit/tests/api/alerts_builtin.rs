//! The built-in alert rules, out of the box: with a webhook sink and no rules configured,
//! password spray, credential stuffing, the attack level rising, impossible travel, admin
//! API calls from refused addresses and a failed audit verification each raise an alert
//! (listed and delivered); a configured rule of the same name disables or replaces one.

use portcullis_core::alerting::{AlertRuleConfig, Severity};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, FakeClock, STRONG, TestDb, TestServer, client};
use serde_json::{Value, json};

use crate::alerts::{
    Receiver, SECRET, admin_token, engine_caught_up, lines, list, receiver, wait_alerts, webhook,
};
use crate::detection::{device_cookie, login, mmdb, tempdir, trust_loopback};
use crate::send;

on_both!(
    spray_stuffing_and_attack_level_raise_builtin_alerts,
    impossible_travel_raises_the_builtin_alert,
    admin_refusals_and_audit_tampering_raise_builtin_alerts,
    builtin_rules_are_disabled_or_replaced_by_name,
);

fn rules_of(alerts: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = alerts
        .iter()
        .map(|a| a["rule"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

fn alert<'a>(alerts: &'a [Value], rule: &str) -> &'a Value {
    alerts.iter().find(|a| a["rule"] == rule).unwrap()
}

/// A server with a webhook sink, trusted X-Forwarded-For from loopback, no rules.
async fn server(
    b: Backend,
    tweak: impl FnOnce(&mut portcullis_core::config::Config) + Send + 'static,
) -> (TestServer, Receiver) {
    let db = TestDb::new(b).await;
    let hook = receiver(&db.dir.clone(), "hook", &["webhook", SECRET, "0"], None);
    let port = hook.port;
    let srv = TestServer::start_on(db, FakeClock::new(), move |c| {
        trust_loopback(c);
        c.alerts.sinks = vec![webhook("ops", port)];
        assert!(c.alerts.rules.is_empty());
        tweak(c);
    })
    .await;
    (srv, hook)
}

/// Ten accounts failing from one address (spray), then failures from other addresses
/// until the service-wide attack level rises, then a sign-in challenged because of it.
async fn spray_then_stuffing(srv: &TestServer) {
    for i in 0..10 {
        send(login(
            srv,
            &format!("spray{i}@example.com"),
            "Summer2026!Summer2026!",
            "203.0.113.66",
            None,
            None,
        ))
        .await;
    }
    for i in 0..8 {
        send(login(
            srv,
            &format!("stuffed{i}@example.com"),
            "leaked password 2019!",
            &format!("10.0.{i}.7"),
            None,
            None,
        ))
        .await;
    }
}

async fn spray_stuffing_and_attack_level_raise_builtin_alerts(b: Backend) {
    let (srv, hook) = server(b, |c| c.detection.attack_failures = 15).await;
    let admin = admin_token(&srv).await;
    spray_then_stuffing(&srv).await;
    let want = ["attack-level", "credential-stuffing", "password-spray"];
    let alerts = wait_alerts(&srv, &admin, |a| {
        let r = rules_of(a);
        want.iter().all(|w| r.iter().any(|x| x == w))
            && a.iter()
                .all(|a| a["deliveries"][0]["status"] == "delivered")
    })
    .await;
    let spray = alert(&alerts, "password-spray");
    assert_eq!(spray["severity"], "high");
    assert_eq!(spray["group"], "203.0.113.66");
    assert_eq!(spray["details"]["event"]["action"], "risk.spray_detected");
    let level = alert(&alerts, "attack-level");
    assert_eq!(level["group"], "1");
    assert_eq!(
        level["details"]["event"]["action"],
        "risk.attack_level_raised"
    );
    assert_eq!(level["details"]["event"]["details"]["level"], 1);
    let stuffing = alert(&alerts, "credential-stuffing");
    assert_eq!(stuffing["severity"], "high");
    assert_eq!(stuffing["details"]["event"]["action"], "risk.assessed");
    // Each reached the webhook receiver (which checks the signature).
    let sent: Vec<String> = lines(&hook.out)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["data"]["rule"].as_str().unwrap().to_owned()
        })
        .collect();
    for w in want {
        assert!(sent.iter().any(|s| s == w), "{w} not delivered: {sent:?}");
    }
    srv.stop().await;
}

async fn impossible_travel_raises_the_builtin_alert(b: Backend) {
    let dir = tempdir();
    let (city, asn) = mmdb(&dir);
    let (srv, _hook) = server(b, move |c| {
        c.detection.geoip_city_db = Some(city);
        c.detection.geoip_asn_db = Some(asn);
    })
    .await;
    let uid = srv.user("alice@example.com", STRONG, Role::User).await;
    let (s, _, h) = send(login(
        &srv,
        "alice@example.com",
        STRONG,
        "192.0.2.1",
        None,
        None,
    ))
    .await;
    assert_eq!(s, 200);
    let cookie = device_cookie(&h);
    srv.clock.advance(3600);
    let (s, body, _) = send(login(
        &srv,
        "alice@example.com",
        STRONG,
        "198.51.100.9",
        Some(&cookie),
        None,
    ))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("risk_denied")),
        "{body}"
    );
    // (After the clock moved: an earlier access token would have expired.)
    let admin = admin_token(&srv).await;
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.iter().any(|a| a["rule"] == "impossible-travel")
    })
    .await;
    let a = alert(&alerts, "impossible-travel");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["group"], uid.as_str());
    assert_eq!(a["details"]["event"]["details"]["decision"], "deny");
    srv.stop().await;
}

/// An administrator's call from outside admin.allowed_ips; returns its status.
async fn admin_from_outside(srv: &TestServer, admin: &str) -> u16 {
    send(
        client()
            .get(srv.url("/api/v1/admin/users"))
            .bearer_auth(admin)
            .header("x-forwarded-for", "203.0.113.7"),
    )
    .await
    .0
}

/// Alters audit entry 2 behind the application's back, then verifies over the API.
async fn tamper_and_verify(srv: &TestServer, b: Backend, admin: &str) {
    match b {
        Backend::Sqlite => srv.db.exec("DROP TRIGGER audit_events_no_update").await,
        Backend::Postgres => {
            srv.db
                .exec("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
        }
    }
    srv.db
        .exec("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 2")
        .await;
    let (s, body, _) = send(
        client()
            .get(srv.url("/api/v1/admin/audit/verify"))
            .bearer_auth(admin),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
}

async fn admin_refusals_and_audit_tampering_raise_builtin_alerts(b: Backend) {
    let (srv, _hook) = server(b, |_| {}).await;
    let admin = admin_token(&srv).await;
    assert_eq!(admin_from_outside(&srv, &admin).await, 403);
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.iter().any(|a| a["rule"] == "admin-ip-refused")
    })
    .await;
    let a = alert(&alerts, "admin-ip-refused");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["group"], "203.0.113.7");
    tamper_and_verify(&srv, b, &admin).await;
    let alerts = wait_alerts(&srv, &admin, |a| {
        a.iter().any(|a| a["rule"] == "audit-verify-failed")
    })
    .await;
    let a = alert(&alerts, "audit-verify-failed");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["details"]["event"]["details"]["first_bad_seq"], 2);
    srv.stop().await;
}

async fn builtin_rules_are_disabled_or_replaced_by_name(b: Backend) {
    let (srv, _hook) = server(b, |c| {
        let off = AlertRuleConfig {
            enabled: false,
            ..AlertRuleConfig::new("password-spray", "")
        };
        let mut mine = AlertRuleConfig::new("admin-ip-refused", "access.denied");
        mine.where_
            .insert("details.reason".into(), json!("ip_not_allowed"));
        mine.severity = Severity::Low;
        c.alerts.rules = vec![off, mine];
    })
    .await;
    let admin = admin_token(&srv).await;
    spray_then_stuffing(&srv).await;
    assert_eq!(admin_from_outside(&srv, &admin).await, 403);
    tamper_and_verify(&srv, b, &admin).await;
    // The other built-in rules still raise; the replaced one with its new severity.
    let alerts = wait_alerts(&srv, &admin, |a| {
        let r = rules_of(a);
        r.iter().any(|x| x == "audit-verify-failed") && r.iter().any(|x| x == "admin-ip-refused")
    })
    .await;
    assert_eq!(alert(&alerts, "admin-ip-refused")["severity"], "low");
    engine_caught_up(&srv).await;
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.action == "risk.spray_detected"));
    let alerts = list(&srv, &admin).await;
    assert!(
        !alerts.iter().any(|a| a["rule"] == "password-spray"),
        "a disabled built-in rule raised: {alerts:#?}"
    );
    srv.stop().await;
}
