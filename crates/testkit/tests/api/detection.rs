//! Detection and response over real HTTP: simulated attacks from many addresses (trusted
//! `X-Forwarded-For` from loopback stands in for them), ALTCHA challenges solved by the
//! reference implementation (the `altcha` Python package), GeoIP from `.mmdb` files written
//! by `mmdb-writer`, bans, deny lists, country rules and rate anomalies on the gateway.

use std::path::PathBuf;

use portcullis_core::audit::AuditRecord;
use portcullis_core::config::{Config, RouteAuth, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::send;

on_both!(
    credential_stuffing_is_stopped_and_owners_still_sign_in,
    password_spray_blocks_the_source,
    impossible_travel_and_unusual_hours,
    bans_deny_lists_and_country_rules,
    rate_anomalies_are_flagged
);

pub(crate) fn trust_loopback(c: &mut Config) {
    c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// Writes the test GeoIP databases (Paris and Lyon in 192.0.2.0/24 and 203.0.113.0/24,
/// Sydney in 198.51.100.0/24) into `dir`; (city, asn).
pub(crate) fn mmdb(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let city = dir.join("city.mmdb");
    let asn = dir.join("asn.mmdb");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/make_mmdb.py");
    let out = std::process::Command::new("python3")
        .args([script, city.to_str().unwrap(), asn.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_mmdb.py (pip install mmdb-writer): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (city, asn)
}

/// Solves a challenge with the `altcha` reference implementation.
pub(crate) fn solve(challenge: &Value) -> String {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/altcha_solve.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(challenge.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "altcha_solve.py (pip install altcha)");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub(crate) fn login(
    srv: &TestServer,
    email: &str,
    password: &str,
    ip: &str,
    cookie: Option<&str>,
    altcha: Option<&str>,
) -> RequestBuilder {
    let mut body = json!({"email": email, "password": password});
    if let Some(a) = altcha {
        body["altcha"] = a.into();
    }
    let mut rb = client()
        .post(srv.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip.to_owned())
        // One browser build for every client here: the address tells them apart (and no
        // email may end up in a stored user agent).
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) portcullis-test/1",
        )
        .json(&body);
    if let Some(c) = cookie {
        rb = rb.header("cookie", format!("pcl_device={c}"));
    }
    rb
}

/// The device cookie a sign-in set.
pub(crate) fn device_cookie(h: &reqwest::header::HeaderMap) -> String {
    let v = h["set-cookie"].to_str().unwrap();
    assert!(
        v.contains("HttpOnly") && v.contains("Path=/api/v1/auth"),
        "{v}"
    );
    v.split(';')
        .next()
        .unwrap()
        .strip_prefix("pcl_device=")
        .unwrap()
        .to_owned()
}

/// The details of the audit events of `action`, in order.
async fn events(srv: &TestServer, action: &str) -> Vec<Value> {
    srv.services
        .store()
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e: AuditRecord| serde_json::from_str(&e.details).unwrap())
        .collect()
}

fn reasons(e: &Value) -> Vec<String> {
    e["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

async fn credential_stuffing_is_stopped_and_owners_still_sign_in(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        trust_loopback(c);
        c.detection.attack_failures = 40;
        c.detection.pow_difficulty = 2000;
        c.auth.self_registration = true;
    })
    .await;
    let n = 200;
    for i in 0..n {
        srv.user(&format!("u{i}@example.com"), STRONG, Role::User)
            .await;
    }
    // Ten owners sign in from their own devices first; five keep the device cookie (a
    // browser), five do not (an API client: the same client from the same address).
    let mut cookies = Vec::new();
    for i in 0..10 {
        let (s, body, h) = send(login(
            &srv,
            &format!("u{i}@example.com"),
            STRONG,
            &format!("192.0.2.{}", 10 + i),
            None,
            None,
        ))
        .await;
        assert_eq!(s, 200, "{body}");
        cookies.push(device_cookie(&h));
    }

    // The stuffing run: 200 accounts from 50 addresses, one leaked-list password each;
    // every fourth account's real password is on the list.
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    let mut tokens_won = 0;
    for i in 0..n {
        let pw = if i % 4 == 0 {
            STRONG
        } else {
            "leaked password 2019!"
        };
        let (s, body, _) = send(login(
            &srv,
            &format!("u{i}@example.com"),
            pw,
            // 50 addresses in 50 different /24s: no single source stands out.
            &format!("10.0.{}.7", i % 50),
            None,
            None,
        ))
        .await;
        if s == 200 {
            tokens_won += 1;
        }
        let code = body["code"].as_str().unwrap_or("ok").to_owned();
        *outcomes.entry(format!("{s} {code}")).or_default() += 1;
        if code == "challenge_required" {
            assert_eq!(body["challenge"]["algorithm"], "SHA-256");
            assert!(body["challenge"]["maxnumber"].as_u64().unwrap() >= 2000);
        }
    }
    // Once the failures pass the attack threshold, no password is checked for an unknown
    // device without a proof-of-work: the run stalls at the challenge.
    let challenged = outcomes.get("401 challenge_required").copied().unwrap_or(0);
    assert!(challenged >= 140, "{outcomes:?}");
    assert!(tokens_won <= 20, "{tokens_won} {outcomes:?}");

    // The owners, from their known devices, sign in at once.
    for (i, c) in cookies.iter().enumerate() {
        let (s, body, _) = send(login(
            &srv,
            &format!("u{i}@example.com"),
            STRONG,
            &format!("192.0.2.{}", 10 + i),
            (i < 5).then_some(c.as_str()),
            None,
        ))
        .await;
        assert_eq!(s, 200, "owner {i}: {body}");
    }
    // The same client at another address is not a known device.
    let (s, body, _) = send(login(
        &srv,
        "u6@example.com",
        STRONG,
        "192.0.2.99",
        None,
        None,
    ))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    // An owner on a new device solves the challenge (with the reference ALTCHA client)
    // and is in; the same solution does not work twice.
    let (s, body, _) = send(login(
        &srv,
        "u7@example.com",
        STRONG,
        "192.0.2.77",
        None,
        None,
    ))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    let payload = solve(&body["challenge"]);
    let (s, body, h) = send(login(
        &srv,
        "u7@example.com",
        STRONG,
        "192.0.2.77",
        None,
        Some(&payload),
    ))
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(h.get("set-cookie").is_some());
    let (s, body, _) = send(login(
        &srv,
        "u7@example.com",
        STRONG,
        "192.0.2.78",
        None,
        Some(&payload),
    ))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    // A cookie that is not ours is no known device.
    let (s, _, _) = send(login(
        &srv,
        "u0@example.com",
        STRONG,
        "192.0.2.79",
        Some("forged.AAAA"),
        None,
    ))
    .await;
    assert_eq!(s, 401);
    // The challenge endpoint hands out a challenge as hard as the attack asks; a solution
    // fetched ahead works.
    let (s, c, _) = send(client().get(srv.url("/api/v1/auth/challenge"))).await;
    assert_eq!(s, 200);
    assert!(c["maxnumber"].as_u64().unwrap() >= 2000, "{c}");
    let (s, _, _) = send(login(
        &srv,
        "u8@example.com",
        STRONG,
        "192.0.2.80",
        None,
        Some(&solve(&c)),
    ))
    .await;
    assert_eq!(s, 200);

    // Unsolved challenges count against their source: a flood of them is blocked.
    let mut blocked_after = None;
    for i in 0..60 {
        let (s, _, _) = send(login(&srv, "u9@example.com", "x", "10.9.9.9", None, None)).await;
        if s == 429 {
            blocked_after = Some(i);
            break;
        }
        assert_eq!(s, 401);
    }
    assert_eq!(blocked_after, Some(51), "50 free, then exponential backoff");

    // Under attack, registrations solve a proof-of-work too.
    let reg = |altcha: Option<String>| {
        let mut body = json!({"email": "new@example.com", "password": STRONG});
        if let Some(a) = altcha {
            body["altcha"] = a.into();
        }
        client().post(srv.url("/api/v1/auth/register")).json(&body)
    };
    let (s, body, _) = send(reg(None)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("challenge_required"))
    );
    let (s, body, _) = send(reg(Some(solve(&body["challenge"])))).await;
    assert_eq!(s, 201, "{body}");

    let assessed = events(&srv, "risk.assessed").await;
    assert!(
        assessed.iter().any(|e| e["decision"] == "challenge"
            && reasons(e).contains(&"attack_in_progress".to_owned())),
        "risk.assessed records the challenges"
    );
    srv.stop().await;
}

async fn password_spray_blocks_the_source(b: Backend) {
    let srv = TestServer::start_with(b, trust_loopback).await;
    srv.user("victim@example.com", STRONG, Role::User).await;
    // One address, many accounts, one common password each.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let (s, _, _) = send(login(
            &srv,
            &format!("spray{i}@example.com"),
            "Summer2026!Summer2026!",
            "203.0.113.66",
            None,
            None,
        ))
        .await;
        statuses.push(s);
    }
    // The tenth distinct account trips the detector; from then on the address is blocked.
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    let (s, body, h) = send(login(
        &srv,
        "victim@example.com",
        STRONG,
        "203.0.113.66",
        None,
        None,
    ))
    .await;
    assert_eq!((s, body["code"].as_str()), (429, Some("too_many_attempts")));
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 600);
    // The victim, elsewhere, is not affected.
    let (s, _, _) = send(login(
        &srv,
        "victim@example.com",
        STRONG,
        "203.0.113.67",
        None,
        None,
    ))
    .await;
    assert_eq!(s, 200);
    let spray = events(&srv, "risk.spray_detected").await;
    assert_eq!(spray.len(), 1, "one detection, not one per attempt");
    assert_eq!(spray[0]["source"], "203.0.113.66");
    assert_eq!(spray[0]["accounts"], 10);
    srv.stop().await;
}

async fn impossible_travel_and_unusual_hours(b: Backend) {
    let dir = tempdir();
    let (city, asn) = mmdb(&dir);
    let srv = TestServer::start_with(b, |c| {
        trust_loopback(c);
        c.detection.geoip_city_db = Some(city.clone());
        c.detection.geoip_asn_db = Some(asn.clone());
    })
    .await;
    srv.user("alice@example.com", STRONG, Role::User).await;
    srv.user("mfa@example.com", STRONG, Role::User).await;

    // Alice signs in from Paris, then an hour later "from Sydney" with her own device:
    // impossible travel, refused (she has no second factor to step up with).
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
    let last = events(&srv, "risk.assessed").await.pop().unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["country"], "AU");
    assert_eq!(last["asn"], 1221);
    let r = reasons(&last);
    for want in ["impossible_travel", "new_country", "new_asn", "new_ip"] {
        assert!(r.contains(&want.to_owned()), "{r:?}");
    }
    assert!(!r.contains(&"new_device".to_owned()), "{r:?}");
    // Lyon, two hours after Paris (390 km): travel, not impossible.
    srv.clock.advance(3600);
    let (s, body, _) = send(login(
        &srv,
        "alice@example.com",
        STRONG,
        "203.0.113.5",
        Some(&cookie),
        None,
    ))
    .await;
    assert_eq!(s, 200, "{body}");
    let at = access(&body);

    // Alice's activity: newest first, with places, devices, outcomes and risk.
    let (s, act, _) = send(
        client()
            .get(srv.url("/api/v1/auth/activity"))
            .bearer_auth(&at),
    )
    .await;
    assert_eq!(s, 200, "{act}");
    let a = act["activity"].as_array().unwrap();
    assert_eq!(a.len(), 3, "{act}");
    assert_eq!(a[0]["city"], "Lyon");
    assert_eq!(a[0]["outcome"], "success");
    assert_eq!(a[0]["device"], "known");
    assert_eq!(a[1]["country"], "AU");
    assert_eq!(a[1]["outcome"], "denied");
    assert!(a[1]["risk"]["score"].as_u64().unwrap() >= 80);
    assert_eq!(a[2]["city"], "Paris");
    assert_eq!(a[2]["ip"], "192.0.2.1");
    assert!(a[2]["time"].as_str().unwrap().ends_with('Z'));

    // A user with a second factor is asked for it (step-up) on the same trip.
    let (s, tokens, h) = send(login(
        &srv,
        "mfa@example.com",
        STRONG,
        "192.0.2.2",
        None,
        None,
    ))
    .await;
    assert_eq!(s, 200);
    let mfa_cookie = device_cookie(&h);
    crate::mfa::enrol(&srv, &access(&tokens)).await;
    srv.clock.advance(1800);
    let (s, body, _) = send(login(
        &srv,
        "mfa@example.com",
        STRONG,
        "198.51.100.10",
        Some(&mfa_cookie),
        None,
    ))
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("mfa_required")),
        "{body}"
    );
    let last = events(&srv, "risk.assessed").await.pop().unwrap();
    assert_eq!(last["decision"], "step_up");
    assert!(reasons(&last).contains(&"impossible_travel".to_owned()));

    // Unusual hour: ten sign-ins around 09:00 UTC on ten days, then one at 21:00.
    srv.user("bob@example.com", STRONG, Role::User).await;
    let now: i64 = srv.services.now();
    let to_nine = (9 * 3600 - now.rem_euclid(86_400)).rem_euclid(86_400);
    srv.clock.advance(to_nine + 86_400);
    let mut cookie: Option<String> = None;
    for _ in 0..10 {
        let (s, _, h) = send(login(
            &srv,
            "bob@example.com",
            STRONG,
            "192.0.2.50",
            cookie.as_deref(),
            None,
        ))
        .await;
        assert_eq!(s, 200);
        cookie = Some(device_cookie(&h));
        srv.clock.advance(86_400);
    }
    let last = events(&srv, "risk.assessed").await.pop().unwrap();
    assert_eq!(reasons(&last), Vec::<String>::new(), "a habitual hour");
    srv.clock.advance(12 * 3600);
    let (s, body, _) = send(login(
        &srv,
        "bob@example.com",
        STRONG,
        "192.0.2.50",
        cookie.as_deref(),
        None,
    ))
    .await;
    assert_eq!(s, 200, "a raised score, still below the challenge: {body}");
    let last = events(&srv, "risk.assessed").await.pop().unwrap();
    assert_eq!(reasons(&last), vec!["unusual_hour".to_owned()]);
    assert_eq!(last["score"], 20);
    srv.stop().await;
}

async fn bans_deny_lists_and_country_rules(b: Backend) {
    let dir = tempdir();
    let (city, _) = mmdb(&dir);
    let deny = dir.join("deny.netset");
    std::fs::write(&deny, "# test deny list\n192.0.2.128/25\n").unwrap();
    let up = crate::gateway::start_upstream().await;
    let srv = TestServer::start_with(b, |c| {
        trust_loopback(c);
        c.detection.geoip_city_db = Some(city.clone());
        c.detection.deny_lists = vec![deny.clone()];
        c.detection.deny_list_reload_seconds = 1;
        c.routes = vec![RouteConfig {
            name: "fr".into(),
            prefix: "/fr".into(),
            upstreams: vec![format!("http://{up}")],
            auth: RouteAuth::None,
            allowed_countries: vec!["FR".into()],
            ..RouteConfig::default()
        }];
    })
    .await;
    srv.user("admin@example.com", STRONG, Role::Admin).await;
    srv.user("carol@example.com", STRONG, Role::User).await;
    let admin = access(&srv.login("admin@example.com", STRONG).await);
    let get = |path: &str, ip: &str| {
        client()
            .get(srv.url(path))
            .header("x-forwarded-for", ip.to_owned())
    };

    // Country rules per route.
    let (s, _, _) = send(get("/fr/x", "192.0.2.5")).await;
    assert_eq!(s, 200);
    let (s, body, _) = send(get("/fr/x", "198.51.100.5")).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("ip_not_allowed")),
        "{body}"
    );
    let (s, _, _) = send(get("/fr/x", "10.1.1.1")).await;
    assert_eq!(s, 403, "an address the database cannot place is refused");

    // Deny lists: refused everywhere; sign-in says why in the audit log.
    let (s, body, _) = send(get("/fr/x", "192.0.2.200")).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    let (s, body, _) = send(login(
        &srv,
        "carol@example.com",
        STRONG,
        "192.0.2.200",
        None,
        None,
    ))
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("risk_denied")));
    let last = events(&srv, "risk.assessed").await.pop().unwrap();
    assert_eq!(reasons(&last), vec!["deny_list".to_owned()]);
    // The list is re-read when it changes.
    std::fs::write(&deny, "192.0.2.5\n").unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if send(get("/fr/x", "192.0.2.5")).await.0 == 403 {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the deny list was not reloaded");
    assert_eq!(send(get("/fr/x", "192.0.2.200")).await.0, 200);
    // A list that no longer parses keeps the previous one in force.
    std::fs::write(&deny, "not an address\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(send(get("/fr/x", "192.0.2.5")).await.0, 403);

    // An administrator bans a range; it is refused everywhere, listed, and lifted.
    let (s, ban) = crate::post(
        &srv,
        "/api/v1/admin/bans",
        Some(&admin),
        json!({"cidr": "203.0.113.0/24", "duration_seconds": 3600, "reason": "scanner"}),
    )
    .await;
    assert_eq!(s, 201, "{ban}");
    assert_eq!(ban["cidr"], "203.0.113.0/24");
    assert_eq!(ban["active"], true);
    let carol = access(&srv.login("carol@example.com", STRONG).await);
    let (s, body, _) = send(get("/api/v1/auth/me", "203.0.113.9").bearer_auth(&carol)).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));
    let (s, _, _) = send(get("/api/v1/auth/me", "192.0.2.9").bearer_auth(&carol)).await;
    assert_eq!(s, 200);
    let (s, body, _) = send(login(
        &srv,
        "carol@example.com",
        STRONG,
        "203.0.113.9",
        None,
        None,
    ))
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("risk_denied")));
    let (s, list, _) = send(
        client()
            .get(srv.url("/api/v1/admin/bans"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["bans"].as_array().unwrap().len(), 1);
    assert!(
        list["bans"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("admin:")
    );
    let id = ban["id"].as_str().unwrap();
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/bans/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = send(get("/api/v1/auth/me", "203.0.113.9").bearer_auth(&carol)).await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/admin/bans/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 404, "lifted already");

    // A playbook's ban expires by the clock.
    srv.services
        .ban_ip("203.0.113.77/32".parse().unwrap(), 60, "test", "rule:test")
        .await
        .unwrap();
    assert_eq!(
        send(get("/api/v1/auth/me", "203.0.113.77").bearer_auth(&carol))
            .await
            .0,
        403
    );
    assert_eq!(
        send(get("/api/v1/auth/me", "203.0.113.78").bearer_auth(&carol))
            .await
            .0,
        200
    );
    srv.clock.advance(61);
    assert_eq!(
        send(get("/api/v1/auth/me", "203.0.113.77").bearer_auth(&carol))
            .await
            .0,
        200
    );
    let (s, all, _) = send(
        client()
            .get(srv.url("/api/v1/admin/bans?all=true"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(all["bans"].as_array().unwrap().len(), 2);
    assert!(
        all["bans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["active"] == false)
    );
    // Bad requests are problems, not crashes.
    for bad in [
        json!({"cidr": "nope", "duration_seconds": 60}),
        json!({"cidr": "10.0.0.0/8", "duration_seconds": 0}),
        json!({"cidr": "10.0.0.0/8", "duration_seconds": 60, "extra": 1}),
    ] {
        let (s, body) = crate::post(&srv, "/api/v1/admin/bans", Some(&admin), bad).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
    }
    let (s, body) = crate::post(
        &srv,
        "/api/v1/admin/bans",
        Some(&admin),
        json!({"cidr": "127.0.0.0/8", "duration_seconds": 60}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("forbidden")),
        "no banning oneself"
    );
    // Admin actions are audited.
    assert_eq!(events(&srv, "admin.ban.created").await.len(), 2);
    assert_eq!(events(&srv, "admin.ban.lifted").await.len(), 1);
    srv.stop().await;
}

async fn rate_anomalies_are_flagged(b: Backend) {
    let up = crate::gateway::start_upstream().await;
    let srv = TestServer::start_with(b, |c| {
        c.routes = vec![RouteConfig {
            name: "api".into(),
            prefix: "/api-upstream".into(),
            upstreams: vec![format!("http://{up}")],
            auth: RouteAuth::User,
            ..RouteConfig::default()
        }];
    })
    .await;
    srv.user("dave@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("dave@example.com", STRONG).await);
    let hit = || client().get(srv.url("/api-upstream/x")).bearer_auth(&at);
    // Five minutes at five requests a minute...
    for _ in 0..5 {
        for _ in 0..5 {
            assert_eq!(send(hit()).await.0, 200);
        }
        srv.clock.advance(60);
    }
    assert!(
        events(&srv, "risk.assessed")
            .await
            .iter()
            .all(|e| e["stage"] != "gateway")
    );
    // ...then tenfold and more: flagged once, and the requests still pass.
    for _ in 0..60 {
        assert_eq!(send(hit()).await.0, 200);
    }
    let flagged: Vec<Value> = events(&srv, "risk.assessed")
        .await
        .into_iter()
        .filter(|e| e["stage"] == "gateway")
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(reasons(&flagged[0]), vec!["rate_anomaly".to_owned()]);
    assert_eq!(flagged[0]["route"], "api");
    assert_eq!(flagged[0]["requests_this_minute"], 50);
    srv.stop().await;
}

pub(crate) fn tempdir() -> PathBuf {
    let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    let d = std::env::temp_dir().join(format!(
        "portcullis-detect-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
