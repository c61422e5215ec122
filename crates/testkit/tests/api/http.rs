use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};

use crate::send;

on_both!(strict_bodies_and_problem_responses, headers_and_documents);

async fn strict_bodies_and_problem_responses(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.server.max_body_bytes = 4096).await;
    let login = srv.url("/api/v1/auth/login");
    let raw = |body: &str, ct: &str| {
        client()
            .post(&login)
            .header("content-type", ct.to_owned())
            .body(body.to_owned())
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (raw("{not json", "application/json"), 400, "invalid_json"),
        (raw("", "application/json"), 400, "invalid_json"),
        (
            raw(
                r#"{"email":"a@b.co","password":"x"} trailing"#,
                "application/json",
            ),
            400,
            "invalid_json",
        ),
        (
            raw(
                r#"{"email":"a@b.co","password":"x","admin":true}"#,
                "application/json",
            ),
            400,
            "invalid_request",
        ),
        (
            raw(r#"{"email":"a@b.co"}"#, "application/json"),
            400,
            "invalid_request",
        ),
        (
            raw(r#"{"email":5,"password":"x"}"#, "application/json"),
            400,
            "invalid_request",
        ),
        (
            raw(
                r#"{"email":"a@b.co","password":"x","password":"y"}"#,
                "application/json",
            ),
            400,
            "invalid_request",
        ),
        (
            raw(r#"{"email":"a@b.co","password":"x"}"#, "text/plain"),
            400,
            "invalid_json",
        ),
        (
            raw(
                &format!(r#"{{"email":"a@b.co","password":"{}"}}"#, "x".repeat(5000)),
                "application/json",
            ),
            413,
            "payload_too_large",
        ),
        (
            raw(
                &format!(r#"{{"email":"{}@b.co","password":"x"}}"#, "a".repeat(2000)),
                "application/json",
            ),
            400,
            "invalid_request",
        ),
        (client().get(srv.url("/api/v1/nope")), 404, "not_found"),
        (client().delete(&login), 405, "method_not_allowed"),
    ];
    for (i, (rb, status, code)) in cases.into_iter().enumerate() {
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "case {i}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "case {i}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], code, "case {i}: {body}");
        assert_eq!(body["status"], status);
        for key in ["type", "title", "detail"] {
            assert!(body[key].is_string(), "case {i}: {key}");
        }
    }
    // Validation errors name the field.
    let (_, body, _) = send(raw(
        r#"{"email":"a@b.co","password":"x","admin":true}"#,
        "application/json",
    ))
    .await;
    assert_eq!(body["errors"][0]["code"], "unknown_field");
    assert_eq!(body["errors"][0]["field"], "admin");
    // No SQL, no stack traces, no echoed secrets.
    let (_, body, _) = send(raw(
        r#"{"email":"a@b.co","password":"hunter2-secret'; DROP TABLE users;--"}"#,
        "application/json",
    ))
    .await;
    let text = body.to_string();
    assert!(
        !text.contains("hunter2") && !text.to_lowercase().contains("sql"),
        "{text}"
    );
    srv.stop().await;
}

async fn headers_and_documents(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.server.public_url = "https://auth.example.com".into()
    })
    .await;
    srv.user("rae@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("rae@example.com", STRONG).await);
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/auth/me",
        "/.well-known/jwks.json",
        "/api/v1/nope",
    ] {
        let r = client()
            .get(srv.url(path))
            .bearer_auth(&at)
            .header("x-request-id", "trace-abc.123")
            .send()
            .await
            .unwrap();
        let h = r.headers();
        assert_eq!(
            h["strict-transport-security"], "max-age=63072000; includeSubDomains; preload",
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert!(h.contains_key("permissions-policy"));
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(h["x-download-options"], "noopen");
        assert_eq!(h["x-dns-prefetch-control"], "off");
        let id = h["x-request-id"].to_str().unwrap();
        assert!(
            id != "trace-abc.123" && id.len() == 32,
            "the request id is Portcullis's own, never the client's: {id}"
        );
        if path.starts_with("/api/v1/") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
    }
    // A malformed one is replaced too.
    let r = client()
        .get(srv.url("/healthz"))
        .header("x-request-id", "evil\tid")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id.contains("evil") && id.len() == 32, "{id}");

    // security.txt: Contact and an Expires under a year ahead.
    let r = client()
        .get(srv.url("/.well-known/security.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Contact: mailto:security@example.com"),
        "{text}"
    );
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .unwrap();
    let t = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp();
    let now = portcullis_core::clock::Clock::now(srv.clock.as_ref());
    assert!(t > now && t < now + 365 * 86_400);

    // JWKS and OpenAPI.
    let (s, jwks, _) = send(client().get(srv.url("/.well-known/jwks.json"))).await;
    assert_eq!(s, 200);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none(), "never the private key");
    let (s, doc, _) = send(client().get(srv.url("/api/v1/openapi.json"))).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every documented operation exists on the running server (none answers 404/405).
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "01900000-0000-7000-8000-000000000000");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = client()
                .request(m, srv.url(&concrete))
                .bearer_auth(&at)
                .send()
                .await
                .unwrap();
            assert!(
                r.status() != 404 || path.contains("{id}"),
                "{method} {path}: {}",
                r.status()
            );
            assert_ne!(r.status(), 405, "{method} {path}");
            operations += 1;
        }
    }
    assert!(operations >= 19, "{operations}");
    // Query parameters are documented as such, operation ids are unique, and links name
    // operations that exist.
    let mut ids = std::collections::BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                assert!(
                    p["in"] == "query" || p["in"] == "path" && p["required"] == true,
                    "{p}"
                );
                assert!(
                    [
                        "limit",
                        "cursor",
                        "after_seq",
                        "erase",
                        "tree_size",
                        "from",
                        "to",
                        "id",
                        "seq",
                        "all",
                        "email",
                        "status",
                        "q",
                        "action",
                        "actor",
                        "target",
                        "since",
                        "until",
                        "before_seq",
                        "format"
                    ]
                    .contains(&name),
                    "{name}"
                );
            }
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "duplicate operationId {}",
                op["operationId"]
            );
        }
    }
    let links = doc["paths"]["/api/v1/auth/api-keys"]["post"]["responses"]["201"]["links"]
        .as_object()
        .unwrap();
    for link in links.values() {
        assert!(
            ids.contains(link["operationId"].as_str().unwrap()),
            "{link}"
        );
    }
    let (s, body, _) = send(client().get(srv.url("/healthz"))).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    srv.stop().await;
}

/// `server.cors_origins`: an allowed origin's preflight and calls carry CORS headers (also
/// on errors, so a page can read the problem), another origin's preflight is refused and
/// its calls carry none, gateway routes and health checks are untouched, no credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_for_allowed_origins_only() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.cors_origins = vec!["https://App.example/".into()];
    })
    .await;
    let app = "https://app.example";
    let preflight = |origin: &str| {
        client()
            .request(reqwest::Method::OPTIONS, srv.url("/api/v1/auth/login"))
            .header("origin", origin.to_owned())
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let ok = preflight(app).await.unwrap();
    assert_eq!(ok.status(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], app);
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(h["vary"].to_str().unwrap().contains("origin"));
    assert!(h.contains_key("x-request-id"));

    let evil = preflight("https://evil.example").await.unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let body: serde_json::Value = evil.json().await.unwrap();
    assert_eq!(body["code"], "origin_not_allowed");
    // A prefix or suffix of the allowed origin is another origin.
    for near in [
        "https://app.example.evil.example",
        "http://app.example",
        "https://app.example:8443",
    ] {
        assert_eq!(preflight(near).await.unwrap().status(), 403, "{near}");
    }

    // A real call, failing: the page may read the problem and the request id.
    let res = client()
        .post(srv.url("/api/v1/auth/login"))
        .header("origin", app)
        .json(
            &serde_json::json!({"email": "nobody@example.com", "password": "wrong password here"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], app);
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    let other = client()
        .get(srv.url("/api/v1/auth/me"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other.headers()["vary"].to_str().unwrap().contains("origin"));
    // The discovery documents and the JWKS, which a browser app reads before anything
    // (black-box pass 13, B13-3).
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
    ] {
        let res = client()
            .get(srv.url(path))
            .header("origin", app)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["access-control-allow-origin"], app, "{path}");
    }
    // Outside /api/v1: nothing.
    let health = client()
        .get(srv.url("/healthz"))
        .header("origin", app)
        .send()
        .await
        .unwrap();
    assert!(
        health
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    srv.stop().await;
}

/// Without `server.cors_origins` a preflight is refused plainly, and answers carry no CORS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_off_by_default() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let res = client()
        .request(reqwest::Method::OPTIONS, srv.url("/api/v1/auth/login"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "origin_not_allowed");
    let res = client()
        .get(srv.url("/api/v1/auth/me"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(
        res.headers()
            .get("vary")
            .is_none_or(|v| !v.to_str().unwrap().contains("origin"))
    );
    srv.stop().await;
}

#[test]
fn cors_wildcards_are_refused_at_start() {
    let mut c = portcullis_core::config::Config::default();
    c.server.cors_origins = vec!["*".into()];
    let err = c.validate().unwrap_err();
    assert_eq!(err.key, "server.cors_origins");
    assert!(err.message.contains("each origin"), "{}", err.message);
}
