//! Request inspection on the gateway's routes (nginx as the upstream) and on Portcullis's
//! own API: modes, per-route overrides, exclusions, the body limit, and what the audit log
//! keeps (rules and places, never the values); disposable addresses refused at
//! registration; OWASP CRS's own rules. Uploads scanned by clamd and compressed bodies are
//! in `waf_bodies.rs`, data loss prevention on responses in `dlp.rs`.

use portcullis_core::config::{RouteConfig, RouteWafConfig, WafExclusion, WafMode, WafOversize};
use portcullis_testkit::nginx::Nginx;
use portcullis_testkit::{Backend, TestServer, client};
use serde_json::{Value, json};

use crate::hardening::route;
use crate::send;

on_both!(attacks_on_a_route_are_blocked_and_audited_without_their_values);

/// `/metrics` as text.
pub(crate) async fn metrics_text(srv: &TestServer) -> String {
    let r = client().get(srv.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

pub(crate) fn assert_in_metrics(metrics: &str, line: &str) {
    assert!(
        metrics.contains(line),
        "{line} is not in /metrics: {metrics}"
    );
}

/// The inspection events of the audit log, oldest first.
pub(crate) async fn waf_events(srv: &TestServer) -> Vec<(String, Value)> {
    srv.services
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("waf."))
        .map(|e| (e.action, serde_json::from_str(&e.details).unwrap()))
        .collect()
}

async fn attacks_on_a_route_are_blocked_and_audited_without_their_values(b: Backend) {
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(b, |c| {
        c.waf.mode = WafMode::Block;
        c.routes = vec![route("public", "/public", nginx.url(""))];
    })
    .await;
    // Ordinary requests reach the upstream.
    for q in [
        "q=O%27Brien",
        "q=select+the+best+option+from+the+list",
        "sort=id&order=desc",
    ] {
        let (s, body, _) = send(client().get(srv.url(&format!("/public/search?{q}")))).await;
        assert_eq!(
            (s, body["served"].as_str()),
            (200, Some("public")),
            "{q}: {body}"
        );
    }
    // Attacks, however encoded, do not.
    let attacks = [
        "/public/search?q=1%27%20OR%20%271%27%3D%271",
        "/public/search?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E",
        "/public/file?name=..%2F..%2F..%2Fetc%2Fpasswd",
        "/public/run?host=127.0.0.1%3Bcat%20%2Fetc%2Fshadow",
        "/public/t?name=%7B%7B7*7%7D%7D",
        // In the path itself: the audit event's path is redacted.
        "/public/%3Cscript%3Ealert(1)%3C/script%3E",
    ];
    let mut incidents = Vec::new();
    for a in attacks {
        let (s, body, headers) = send(client().get(srv.url(a))).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("request_blocked")),
            "{a}: {body}"
        );
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        let id = body["incident_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("inc_"), "{body}");
        incidents.push(id);
    }
    // On a route, fields Portcullis's own API treats as secrets are fields like any other.
    let (s, body, _) = send(
        client().get(srv.url("/public/x?token=1'%20UNION%20SELECT%20password%20FROM%20users--")),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let (s, body, _) = send(
        client()
            .post(srv.url("/public/login"))
            .json(&json!({"user": "kim", "password": "<script>alert(1)</script>"})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    // A JSON body and a multipart file name are inspected as well.
    let (s, body, _) = send(
        client()
            .post(srv.url("/public/items"))
            .json(&json!({"filter": {"name": {"$where": "sleep(5000)"}}, "note": "x"})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let multipart = "--b0undary\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n\
        --b0undary\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"shell.php\"\r\n\
        Content-Type: image/gif\r\n\r\nGIF89a\r\n--b0undary--\r\n";
    let (s, body, _) = send(
        client()
            .post(srv.url("/public/upload"))
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(multipart),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    // An attack in a parameter's name, a cookie's name and the User-Agent: blocked, and
    // not written into the audit log as a place either.
    for req in [
        client().get(srv.url("/public/x?1%27%20OR%201%3D1--=1")),
        client()
            .get(srv.url("/public/x"))
            .header("cookie", "<script>alert(2)</script>=1"),
        client()
            .get(srv.url("/public/x"))
            .header("user-agent", "x' UNION SELECT password FROM users--"),
        // Places the third black-box pass found unread by some rules.
        client()
            .get(srv.url("/public/x"))
            .header("cookie", "../../etc/passwd=1"),
        client()
            .get(srv.url("/public/x"))
            .header("user-agent", "Mozilla/5.0 {{7*7}}"),
        client()
            .get(srv.url("/public/x"))
            .header("user-agent", "Mozilla/5.0 ../../../etc/passwd"),
        client()
            .post(srv.url("/public/upload"))
            .header("content-type", "multipart/form-data; boundary=zz")
            .body("--zz\r\nContent-Disposition: form-data; name=\";cat /etc/passwd\"\r\n\r\nx\r\n--zz--\r\n"),
        client()
            .post(srv.url("/public/upload"))
            .header("content-type", "multipart/form-data; boundary=zz")
            .body("--zz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{{7*7}}.txt\"\r\n\r\nx\r\n--zz--\r\n"),
        client()
            .post(srv.url("/public/x"))
            .header("content-type", "text/json")
            .body(r#"{"q": "1' UNION SELECT password FROM users--"}"#),
    ] {
        let (s, body, _) = send(req).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("request_blocked")),
            "{body}"
        );
    }
    let audited = format!("{:?}", srv.services.audit_page(0, 1000).await.unwrap());
    for value in ["OR 1=1", "alert(2)", "UNION SELECT password"] {
        assert!(!audited.contains(value), "{value}: {audited}");
    }
    // Each block is in the audit log with its incident id, rules and places; the values
    // the attacker sent are not.
    let events = waf_events(&srv).await;
    for id in &incidents {
        let (action, d) = events
            .iter()
            .find(|(_, d)| d["incident_id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("incident {id} is not in the audit log: {events:?}"));
        assert_eq!(action, "waf.request_blocked");
        assert_eq!(d["route"], "public");
        assert!(d["score"].as_u64().unwrap() >= 5, "{d}");
        let rules = d["rules"].as_array().unwrap();
        assert!(!rules.is_empty());
        assert!(
            rules
                .iter()
                .all(|r| r["id"].is_u64() && r["locations"].is_array()),
            "{d}"
        );
    }
    let all = serde_json::to_string(&events).unwrap();
    for value in [
        "etc/passwd",
        "etc/shadow",
        "alert(1)",
        "OR '1'='1",
        "7*7",
        "sleep(5000)",
    ] {
        assert!(
            !all.contains(value),
            "the audit log holds the attack's value {value:?}: {all}"
        );
    }
    // /metrics counts the blocks by category.
    let metrics = metrics_text(&srv).await;
    for category in ["sqli", "xss", "lfi", "rce", "ssti"] {
        let line =
            format!("portcullis_waf_requests_total{{category=\"{category}\",action=\"blocked\"}}");
        assert_in_metrics(&metrics, &line);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_mode_route_overrides_and_exclusions() {
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Off;
        c.waf.exclusions = vec![WafExclusion {
            rule: "942*".into(),
            target: Some("ARGS:q".into()),
            route: Some("search".into()),
        }];
        c.routes = vec![
            // Off by [waf]: nothing is inspected.
            route("plain", "/plain", nginx.url("")),
            RouteConfig {
                waf: Some(RouteWafConfig {
                    mode: Some(WafMode::Detect),
                    ..RouteWafConfig::default()
                }),
                ..route("watched", "/watched", nginx.url(""))
            },
            RouteConfig {
                waf: Some(RouteWafConfig {
                    mode: Some(WafMode::Block),
                    ..RouteWafConfig::default()
                }),
                ..route("search", "/search", nginx.url(""))
            },
            RouteConfig {
                waf: Some(RouteWafConfig {
                    mode: Some(WafMode::Block),
                    detection_paranoia: Some(2),
                    ..RouteWafConfig::default()
                }),
                ..route("tuning", "/tuning", nginx.url(""))
            },
        ];
    })
    .await;
    // Rules above `paranoia` (to `detection_paranoia`) only log: the request passes, the
    // log and /metrics count it (black-box pass 7, D2: nothing did), the audit does not.
    let (s, _, _) = send(client().get(srv.url("/tuning/x?q=abc%27)"))).await;
    assert_eq!(s, 200);
    assert!(waf_events(&srv).await.is_empty());
    assert!(
        metrics_text(&srv)
            .await
            .lines()
            .any(|l| l.starts_with("portcullis_waf_requests_total{")
                && l.contains("action=\"logged\"")),
        "rules above the paranoia level are counted"
    );
    let sqli = "q=1%27%20OR%20%271%27%3D%271";
    let (s, _, _) = send(client().get(srv.url(&format!("/plain/x?{sqli}")))).await;
    assert_eq!(s, 200);
    assert!(waf_events(&srv).await.is_empty());
    // Detect mode lets it through and audits what it would have blocked.
    let (s, body, _) = send(client().get(srv.url(&format!("/watched/x?{sqli}")))).await;
    assert_eq!((s, body["served"].as_str()), (200, Some("other")), "{body}");
    let events = waf_events(&srv).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "waf.request_flagged");
    assert_eq!(events[0].1["route"], "watched");
    assert_eq!(events[0].1["mode"], "detect");
    // The exclusion switches SQL injection rules off for `q` on `search` only: another
    // argument, or another attack class in `q`, is still blocked.
    let (s, _, _) = send(client().get(srv.url(&format!("/search/x?{sqli}")))).await;
    assert_eq!(s, 200);
    let (s, body, _) =
        send(client().get(srv.url("/search/x?other=1%27%20OR%20%271%27%3D%271"))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let (s, _, _) =
        send(client().get(srv.url("/search/x?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"))).await;
    assert_eq!(s, 403);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_rejects_or_inspects_part() {
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
        c.waf.body_limit_bytes = 1024;
        c.routes = vec![
            route("strict", "/strict", nginx.url("")),
            RouteConfig {
                waf: Some(RouteWafConfig {
                    oversize: Some(WafOversize::Partial),
                    ..RouteWafConfig::default()
                }),
                ..route("lenient", "/lenient", nginx.url(""))
            },
        ];
    })
    .await;
    let big = format!("note={}", "a".repeat(4000));
    let post = |path: &str, body: String| {
        client()
            .post(srv.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let (s, body, _) = send(post("/strict/x", big.clone())).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    assert!(body["incident_id"].is_string());
    // Partial: the first KiB is inspected and the whole body reaches the upstream.
    let (s, body, _) = send(post("/lenient/x", big)).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, _) = send(post(
        "/lenient/x",
        format!("q=1'+OR+'1'='1&note={}", "a".repeat(4000)),
    ))
    .await;
    assert_eq!(s, 403);
    // The audit says the body was over the limit and read in part (black-box pass 7, D3).
    let events = waf_events(&srv).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["route"], "lenient", "{last}");
    assert_eq!(
        (&last["oversize"], &last["partial"]),
        (&json!(true), &json!(true)),
        "{last}"
    );
    // Small bodies are inspected whole and forwarded intact.
    let (s, _, _) = send(post("/strict/x", "q=1'+OR+'1'='1".into())).await;
    assert_eq!(s, 403);
    // The first KiB of a longer JSON document is not a document: its text is inspected,
    // and it is not refused for failing to parse.
    let json_post = |body: String| {
        client()
            .post(srv.url("/lenient/x"))
            .header("content-type", "application/json")
            .body(body)
    };
    let (s, body, _) = send(json_post(format!("{{\"t\":\"{}\"}}", "a".repeat(4000)))).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, _) = send(json_post(format!(
        "{{\"q\":\"<script>alert(1)</script>\",\"t\":\"{}\"}}",
        "a".repeat(4000)
    )))
    .await;
    assert_eq!(s, 403);
    // The first KiB of a longer multipart body: its parts as far as they go are inspected.
    let padded = |value: &str| {
        format!(
            "--zz\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n{value}\r\n\
             --zz\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n{}\r\n--zz--\r\n",
            "a".repeat(4000)
        )
    };
    let multipart = |body: String| {
        client()
            .post(srv.url("/lenient/x"))
            .header("content-type", "multipart/form-data; boundary=zz")
            .body(body)
    };
    let (s, body, _) = send(multipart(padded("holiday photos"))).await;
    assert_eq!(s, 200, "{body}");
    let (s, body, _) = send(multipart(padded("1' UNION SELECT password FROM users--"))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    // A whole document that does not parse is refused on a route (an upstream's parser
    // might read it otherwise).
    let (s, body, _) = send(json_post("{\"t\": ".into())).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portcullis_own_api_is_inspected_but_not_its_secret_fields() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
    })
    .await;
    // An injection in the email is refused before the sign-in runs.
    let (s, body, _) = send(client().post(srv.url("/api/v1/auth/login")).json(&json!({
        "email": "admin@example.com' OR '1'='1' --",
        "password": "whatever it is 12",
    })))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    // A body that is not JSON is the API's to refuse, as it would without inspection.
    for bad in ["{\"email\":", "{\"email\": \"\\ud800\"}", "[[[[[[[[[["] {
        let (s, body, _) = send(
            client()
                .post(srv.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body(bad),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_json")),
            "{bad}: {body}"
        );
    }
    // A password that looks like an attack is a password: not inspected, not logged.
    let (s, body, _) = send(client().post(srv.url("/api/v1/auth/login")).json(&json!({
        "email": "nobody@example.com",
        "password": "' OR '1'='1' -- <script>",
    })))
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    let events = serde_json::to_string(&waf_events(&srv).await).unwrap();
    assert!(
        !events.contains("<script>") && !events.contains("'1'='1"),
        "{events}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_disposable_addresses_unless_allowed() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.auth.self_registration = true;
    })
    .await;
    let register = |email: &str| {
        client()
            .post(srv.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": portcullis_testkit::STRONG}))
    };
    for email in ["throwaway@mailinator.com", "x@inbox.Mailinator.com"] {
        let (s, body, _) = send(register(email)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (422, Some("email_not_allowed")),
            "{email}: {body}"
        );
    }
    let (s, body, _) = send(register("lasting@example.com")).await;
    assert_eq!(s, 201, "{body}");
    let refused = srv
        .services
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.register.email_not_allowed")
        .count();
    assert_eq!(refused, 2);
    srv.stop().await;
    let open = TestServer::start_with(Backend::Sqlite, |c| {
        c.auth.self_registration = true;
        c.auth.disposable_emails = portcullis_core::config::DisposableEmails::Allow;
    })
    .await;
    let (s, body, _) = send(client().post(open.url("/api/v1/auth/register")).json(
        &json!({"email": "throwaway@mailinator.com", "password": portcullis_testkit::STRONG}),
    ))
    .await;
    assert_eq!(s, 201, "{body}");
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_forged_addresses_and_malformed_bodies_do_not_get_past_inspection() {
    let nginx = Nginx::start().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
        c.routes = vec![route("public", "/public", nginx.url(""))];
    })
    .await;
    // Traversal however the path spells it never reaches the upstream's other locations.
    for path in [
        "/public/../adminonly/x",
        "/public/%2e%2e/adminonly/x",
        "/public/%2E%2E%2Fadminonly/x",
        "/public/..%2fadminonly/x",
        "/public//..//adminonly/x",
        "/public/x?f=..%2F..%2Fetc%2Fpasswd",
        "/public/x?f=%252e%252e%252fetc%252fpasswd",
    ] {
        let (s, _, body) = crate::hardening::raw_get(&srv, path, "").await;
        assert_ne!(body["served"].as_str(), Some("adminonly"), "{path}: {body}");
        assert!(matches!(s, 400 | 403 | 404), "{path}: {s} {body}");
    }
    // A forged X-Forwarded-For (no trusted proxy) does not change who is audited.
    let (s, _, body) = crate::hardening::raw_get(
        &srv,
        "/public/x?q=1%27%20OR%20%271%27%3D%271",
        "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n",
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let audited = srv
        .services
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .rfind(|e| e.action == "waf.request_blocked")
        .unwrap();
    assert_eq!(audited.ip.as_deref(), Some("127.0.0.1"), "{audited:?}");
    // A body that is not what its content type says is refused, not passed uninspected.
    for (ct, body) in [
        ("application/json", "{\"q\": \"1' OR '1'='1\""),
        (
            "multipart/form-data; boundary=zz",
            "--zz\r\nContent-Disposition: form-data; name=\"q\"",
        ),
    ] {
        let (s, b, _) = send(
            client()
                .post(srv.url("/public/x"))
                .header("content-type", ct)
                .body(body),
        )
        .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (403, Some("request_blocked")),
            "{ct}: {b}"
        );
    }
    srv.stop().await;
}

/// `waf.crs_dir` pointing at OWASP CRS's rules (`../shared/waf/coreruleset/rules`): its
/// rules run beside the built-in ones, so an attack only CRS knows (934100: a Node.js
/// serialized function, base64-encoded) is blocked and audited under CRS's rule id; without
/// it the same request passes. A directory that does not exist stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owasp_crs_rules_load_from_crs_dir() {
    let rules = std::env::var_os("PORTCULLIS_SHARED")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            std::path::PathBuf::from,
        )
        .join("waf/coreruleset/rules");
    assert!(
        rules.is_dir(),
        "OWASP CRS rules are missing: expected {} (see ../shared/waf/coreruleset/SNAPSHOT.md)",
        rules.display()
    );
    let nginx = Nginx::start().await;
    let attack = "/public/x?foo=XyQkTkRfRlVOQyQkXwo=";
    let plain = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Block;
        c.routes = vec![route("public", "/public", nginx.url(""))];
    })
    .await;
    let (s, _, _) = send(client().get(plain.url(attack))).await;
    assert_eq!(s, 200, "the built-in rules alone do not know it");
    plain.stop().await;
    let (dir, upstream) = (rules.clone(), nginx.url(""));
    let srv = TestServer::start_with(Backend::Sqlite, move |c| {
        c.waf.mode = WafMode::Block;
        c.waf.crs_dir = Some(dir);
        c.routes = vec![route("public", "/public", upstream)];
    })
    .await;
    let (s, body, _) = send(client().get(srv.url(attack))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("request_blocked")),
        "{body}"
    );
    let events = waf_events(&srv).await;
    let rules_hit = events[0].1["rules"].to_string();
    assert!(rules_hit.contains("934100"), "{events:?}");
    assert!(
        !events[0].1.to_string().contains("XyQkTkRf"),
        "never the value"
    );
    // Ordinary requests still pass with CRS's rules loaded.
    for q in [
        "q=O%27Brien",
        "q=select+the+best+option",
        "page=2&sort=-created_at",
    ] {
        let (s, _, _) = send(client().get(srv.url(&format!("/public/search?{q}")))).await;
        assert_eq!(s, 200, "{q}");
    }
    srv.stop().await;
    // A crs_dir that is not a directory is a configuration error.
    let mut cfg = portcullis_core::config::Config::default();
    cfg.waf.crs_dir = Some("/nonexistent/crs".into());
    let err = cfg.validate().unwrap_err();
    assert_eq!(err.key, "waf.crs_dir", "{err}");
}
