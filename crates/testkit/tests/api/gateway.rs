//! The gateway in front of a real upstream (a small axum server): each auth mode, roles,
//! scopes, signatures, IP and method rules, body limits, identity forwarding verified by
//! PyJWT against the JWKS, spoofed identities stripped and upstream failures (upgrades and
//! streaming are in `gateway_streams`, shared limits in `gateway_cluster`).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use portcullis_core::config::{Config, RouteAuth, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::send;

on_both!(
    gateway_routes,
    limits_breakers_and_lifecycle,
    cedar_policies,
    health_checks_and_least_requests
);

/// Echoes what it received; `/429` answers 429, `/csp` sets its own CSP.
async fn upstream(mut req: Request) -> Response {
    if req.headers().get("upgrade").is_some_and(|v| v == "echo") {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = hyper_util::rt::TokioIo::new(up);
                let (mut r, mut w) = tokio::io::split(&mut io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(Body::empty())
            .unwrap();
    }
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/sick/healthz") {
        return (StatusCode::SERVICE_UNAVAILABLE, "sick").into_response();
    }
    if parts.uri.path().starts_with("/sick/healthz") {
        return (StatusCode::SERVICE_UNAVAILABLE, "sick").into_response();
    }
    if parts.uri.path().ends_with("/slow") {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    if let Some(mib) = parts
        .uri
        .path()
        .rsplit_once("/download/")
        .and_then(|(_, n)| n.parse::<usize>().ok())
    {
        return Body::from_stream(futures_stream(mib)).into_response();
    }
    if parts.uri.path().ends_with("/fail") {
        return (StatusCode::BAD_GATEWAY, "failing").into_response();
    }
    if parts.uri.path().ends_with("/429") {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            "slow down",
        )
            .into_response();
    }
    let mut len = 0usize;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            len += d.len();
        }
    }
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.to_str().unwrap_or(""))))
        .collect();
    let mut res = axum::Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": len,
    }))
    .into_response();
    if parts.uri.path().ends_with("/csp") {
        res.headers_mut().insert(
            "content-security-policy",
            "default-src 'self'".parse().unwrap(),
        );
    }
    res
}

/// A route `/<name>` to the test upstream, open to anyone, defaults otherwise.
pub(crate) fn open_route(name: &str, up: SocketAddr) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        prefix: format!("/{name}"),
        upstreams: vec![format!("http://{up}")],
        auth: RouteAuth::None,
        ..RouteConfig::default()
    }
}

pub(crate) async fn start_upstream() -> SocketAddr {
    start_upstream_on("127.0.0.1:0").await
}

async fn start_upstream_on(addr: &str) -> SocketAddr {
    let l = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = axum::Router::new().fallback(upstream);
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn routes(c: &mut Config, up: SocketAddr) {
    let u = format!("http://{up}");
    let r = |name: &str, prefix: &str| RouteConfig {
        name: name.into(),
        prefix: prefix.into(),
        upstreams: vec![u.clone()],
        ..RouteConfig::default()
    };
    c.routes = vec![
        RouteConfig {
            auth: RouteAuth::None,
            strip_prefix: true,
            max_body_bytes: Some(64 * 1024 * 1024),
            ..r("open", "/open")
        },
        RouteConfig {
            roles: vec![Role::User, Role::Service],
            scopes: vec!["payments:write".into()],
            methods: vec!["GET".into(), "POST".into()],
            max_body_bytes: Some(1024),
            ..r("pay", "/pay")
        },
        RouteConfig {
            auth: RouteAuth::User,
            allowed_ips: vec!["10.0.0.0/8".parse().unwrap()],
            ..r("ops", "/ops")
        },
        RouteConfig {
            auth: RouteAuth::ApiKey,
            require_signature: true,
            ..r("signed", "/signed")
        },
        RouteConfig {
            upstreams: vec!["http://127.0.0.1:9".into()],
            auth: RouteAuth::None,
            ..r("dead", "/dead")
        },
    ];
}

pub(crate) async fn get(
    srv: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, HeaderMap) {
    let mut rb = client().get(srv.url(path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    send(rb).await
}

fn pyjwt(jwks_url: &str, token: &str, audience: &str, issuer: &str) -> Value {
    let script = r#"
import sys, jwt, json
url, token, aud, iss = sys.argv[1:5]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token).key
print(json.dumps(jwt.decode(token, key, algorithms=["EdDSA"], audience=aud, issuer=iss,
                 options={"require": ["exp", "iat", "sub"]})))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, jwks_url, token, audience, issuer])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn gateway_routes(b: Backend) {
    let up = start_upstream().await;
    let srv = TestServer::start_with(b, |c| routes(c, up)).await;
    let uid = srv.user("gwen@example.com", STRONG, Role::User).await;
    let tokens = srv.login("gwen@example.com", STRONG).await;
    let at = access(&tokens);
    let bearer = format!("Bearer {at}");

    // auth = none, prefix stripped; a client cannot smuggle an identity in.
    let (s, echo, _) = get(
        &srv,
        "/open/x/y?z=1",
        &[("x-portcullis-identity", "forged")],
    )
    .await;
    assert_eq!(s, 200, "{echo}");
    assert_eq!(echo["path"], "/x/y");
    assert_eq!(echo["query"], "z=1");
    assert!(
        echo["headers"].get("x-portcullis-identity").is_none(),
        "{echo}"
    );
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");

    // A public route ignores credentials, even bad ones, and forwards no identity.
    let (s, echo, _) = get(&srv, "/open/x", &[("authorization", "Bearer not-a-token")]).await;
    assert_eq!(s, 200, "{echo}");
    assert!(echo["headers"].get("x-portcullis-identity").is_none());

    // Portcullis's own endpoints win over any route.
    let (s, me, _) = get(&srv, "/api/v1/auth/me", &[("authorization", &bearer)]).await;
    assert_eq!((s, me["id"].as_str()), (200, Some(uid.as_str())));

    // A user: the upstream gets a verifiable identity, never the user's token.
    let (s, body, _) = get(&srv, "/pay/charge", &[]).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthenticated")));
    let (s, echo, _) = get(
        &srv,
        "/pay/charge",
        &[
            ("authorization", &bearer),
            ("x-portcullis-identity", "forged"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{echo}");
    assert_eq!(echo["path"], "/pay/charge");
    assert!(echo["headers"].get("authorization").is_none());
    let token = echo["headers"]["x-portcullis-identity"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(token, "forged");
    let jwks = srv.url("/.well-known/jwks.json");
    let issuer = srv.config.server.public_url.clone();
    let claims = tokio::task::spawn_blocking({
        let (jwks, token, issuer) = (jwks.clone(), token.clone(), issuer.clone());
        move || pyjwt(&jwks, &token, "pay", &issuer)
    })
    .await
    .unwrap();
    assert_eq!(claims["sub"], uid.as_str());
    assert_eq!(claims["auth"], "user");
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["sid"], tokens["session_id"]);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);

    // API keys: the route's scopes are required.
    let (s, k, _) = send(
        client()
            .post(srv.url("/api/v1/auth/api-keys"))
            .bearer_auth(&at)
            .json(&json!({"name": "pay", "scopes": ["payments:write"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    let (s, echo, _) = get(&srv, "/pay/charge", &[("x-api-key", &key)]).await;
    assert_eq!(s, 200, "{echo}");
    assert!(echo["headers"].get("x-api-key").is_none());
    let claims = tokio::task::spawn_blocking({
        let t = echo["headers"]["x-portcullis-identity"]
            .as_str()
            .unwrap()
            .to_owned();
        move || pyjwt(&jwks, &t, "pay", &issuer)
    })
    .await
    .unwrap();
    assert_eq!(claims["auth"], "api_key");
    assert_eq!(claims["scopes"], json!(["payments:write"]));
    assert_eq!(claims["key_id"], k["id"]);
    let (_, k2, _) = send(
        client()
            .post(srv.url("/api/v1/auth/api-keys"))
            .bearer_auth(&at)
            .json(&json!({"name": "read", "scopes": ["payments:read"]})),
    )
    .await;
    let (s, body, _) = get(
        &srv,
        "/pay/charge",
        &[("x-api-key", k2["key"].as_str().unwrap())],
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    assert!(
        body["detail"].as_str().unwrap().contains("payments:write"),
        "{body}"
    );
    // ...and a route that needs signatures refuses a key that does not sign.
    let (s, body, _) = get(&srv, "/signed/x", &[("x-api-key", &key)]).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_signature")),
        "{body}"
    );
    // A user where only API keys may go.
    let (s, _, _) = get(&srv, "/signed/x", &[("authorization", &bearer)]).await;
    assert_eq!(s, 403);

    // Methods, body limits, IP rules.
    let (s, _, headers) = send(
        client()
            .put(srv.url("/pay/charge"))
            .header("authorization", &bearer),
    )
    .await;
    assert_eq!(s, 405);
    assert!(headers.contains_key("allow"), "{headers:?}");
    let (s, body, _) = send(
        client()
            .post(srv.url("/pay/charge"))
            .header("authorization", &bearer)
            .body(vec![b'x'; 2048]),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (413, Some("payload_too_large")));
    let (s, body, _) = get(&srv, "/ops/x", &[("authorization", &bearer)]).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("ip_not_allowed")));

    // Upstream failures and answers.
    let (s, body, _) = get(&srv, "/dead/x", &[]).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    let (s, _, h) = get(&srv, "/open/429", &[]).await;
    assert_eq!(s, 429, "an upstream 429 stays a 429");
    assert_eq!(h["retry-after"], "7");
    let (s, _, h) = get(&srv, "/open/csp", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        h["content-security-policy"], "default-src 'self'",
        "the upstream's policy is kept"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    let (s, body, _) = get(&srv, "/nowhere", &[]).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("not_found")));

    // Bodies stream through: 32 MiB in chunks, counted by the upstream.
    let chunks = futures_stream(32);
    let (s, echo, _) = send(
        client()
            .post(srv.url("/open/upload"))
            .body(reqwest::Body::wrap_stream(chunks)),
    )
    .await;
    assert_eq!(s, 200, "{echo}");
    assert_eq!(echo["body_len"], 32 * 1024 * 1024);
    let _ = Body::empty();
    srv.stop().await;
}

pub(crate) fn futures_stream(
    mib: usize,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Chunks(usize);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            std::task::Poll::Ready(Some(Ok(vec![b'a'; 1024 * 1024])))
        }
    }
    Chunks(mib)
}

async fn limits_breakers_and_lifecycle(b: Backend) {
    use portcullis_core::config::{RateLimitBy, RateLimitConfig};
    let up = start_upstream().await;
    // A port with nothing behind it yet; an upstream appears there later.
    let later = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let srv = TestServer::start_with(b, |c| {
        let r = |name: &str, prefix: &str, ups: Vec<String>| RouteConfig {
            name: name.into(),
            prefix: prefix.into(),
            upstreams: ups,
            auth: RouteAuth::None,
            ..RouteConfig::default()
        };
        c.routes = vec![
            RouteConfig {
                rate_limit: Some(RateLimitConfig {
                    requests: 3,
                    window_seconds: 60,
                    by: RateLimitBy::Ip,
                }),
                deprecated_at: Some(1_700_000_000),
                sunset_at: Some(1_800_000_000),
                ..r("limited", "/limited", vec![format!("http://{up}")])
            },
            RouteConfig {
                breaker_failures: 2,
                retries: 1,
                ..r(
                    "flaky",
                    "/flaky",
                    vec!["http://127.0.0.1:9".into(), format!("http://{up}")],
                )
            },
            RouteConfig {
                breaker_failures: 2,
                breaker_cooldown_seconds: 1,
                ..r("later", "/later", vec![format!("http://{later}")])
            },
            RouteConfig {
                max_concurrent: Some(1),
                ..r("narrow", "/narrow", vec![format!("http://{up}")])
            },
        ];
    })
    .await;

    // GCRA: three per minute, with the IETF RateLimit headers; then 429 with Retry-After.
    for left in [2, 1, 0] {
        let (s, _, h) = get(&srv, "/limited/x", &[]).await;
        assert_eq!(s, 200);
        assert_eq!(h["ratelimit-policy"], "\"limited\";q=3;w=60");
        assert!(
            h["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!("\"limited\";r={left};")),
            "{h:?}"
        );
        assert_eq!(h["deprecation"], "@1700000000");
        assert_eq!(h["sunset"], "Fri, 15 Jan 2027 08:00:00 GMT");
    }
    let (s, body, h) = get(&srv, "/limited/x", &[]).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("rate_limited")));
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");

    // A dead upstream next to a live one: idempotent requests are retried on the live one,
    // and the dead one's breaker opens.
    for _ in 0..6 {
        let (s, body, _) = get(&srv, "/flaky/x", &[]).await;
        assert_eq!(s, 200, "{body}");
    }

    // No upstream at all: failures, then the open breaker answers at once; once the upstream
    // is back and the cool-down is over, a probe closes it.
    for _ in 0..2 {
        let (s, body, _) = get(&srv, "/later/x", &[]).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (503, Some("upstream_unavailable"))
        );
    }
    let (s, body, _) = get(&srv, "/later/x", &[]).await;
    assert_eq!(s, 503);
    assert!(
        body["detail"].as_str().unwrap().contains("circuit open"),
        "{body}"
    );
    start_upstream_on(&later.to_string()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, body, _) = get(&srv, "/later/x", &[]).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, _) = get(&srv, "/later/x", &[]).await;
    assert_eq!(s, 200);

    // One request in flight at most: a second concurrent one is refused.
    let (a, b2) = tokio::join!(get(&srv, "/narrow/slow", &[]), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        get(&srv, "/narrow/slow", &[]).await
    });
    assert_eq!(a.0, 200);
    assert_eq!(
        (b2.0, b2.1["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    srv.stop().await;
}

async fn cedar_policies(b: Backend) {
    let up = start_upstream().await;
    let policy = r#"
@id("users-read")
permit(principal, action == Portcullis::Action::"GET", resource)
when { principal.role == "user" && context.ip.isInRange(ip("127.0.0.0/8")) };

@id("no-secrets")
forbid(principal, action, resource) when { context.path like "*/secret*" };
"#;
    let srv = TestServer::start_with(b, |c| {
        c.routes = vec![RouteConfig {
            name: "cedar".into(),
            prefix: "/cedar".into(),
            upstreams: vec![format!("http://{up}")],
            policy: Some(policy.into()),
            ..RouteConfig::default()
        }];
    })
    .await;
    srv.user("cy@example.com", STRONG, Role::User).await;
    let bearer = format!(
        "Bearer {}",
        access(&srv.login("cy@example.com", STRONG).await)
    );
    let (s, _, _) = get(&srv, "/cedar/x", &[("authorization", &bearer)]).await;
    assert_eq!(s, 200);
    let (s, body, _) = send(
        client()
            .post(srv.url("/cedar/x"))
            .header("authorization", &bearer),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("forbidden")),
        "no permit for POST"
    );
    let (s, _, _) = get(&srv, "/cedar/secret/1", &[("authorization", &bearer)]).await;
    assert_eq!(s, 403, "forbid wins");
    let denied: Vec<String> = srv
        .services
        .store()
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "access.denied")
        .map(|e| e.details)
        .collect();
    assert!(
        denied
            .iter()
            .any(|d| d.contains("cedar deny") && d.contains("no-secrets")),
        "{denied:?}"
    );
    srv.stop().await;

    // A policy that does not validate stops start-up, naming its line and column.
    let db = portcullis_testkit::TestDb::new(b).await;
    let toml = format!(
        "{}\n[[routes]]\nname = \"bad\"\nprefix = \"/bad\"\nupstreams = [\"http://{up}\"]\npolicy = '''\npermit(principal, action, resource)\nwhen {{ principal.nope == 1 }};\n'''\n",
        db.config_toml()
    );
    let cfg = db.write_config(&toml);
    let out = std::process::Command::new(portcullis_testkit::binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("route `bad`") && err.contains("line 2"),
        "{err}"
    );
}

async fn health_checks_and_least_requests(b: Backend) {
    use portcullis_core::config::Balance;
    let up = start_upstream().await;
    let srv = TestServer::start_with(b, |c| {
        let r = |name: &str, prefix: &str, ups: Vec<String>| RouteConfig {
            name: name.into(),
            prefix: prefix.into(),
            upstreams: ups,
            auth: RouteAuth::None,
            ..RouteConfig::default()
        };
        c.routes = vec![
            RouteConfig {
                health_check_path: Some("/healthz".into()),
                health_check_interval_seconds: 1,
                ..r(
                    "checked",
                    "/checked",
                    vec![format!("http://{up}/sick"), format!("http://{up}/well")],
                )
            },
            RouteConfig {
                balance: Balance::LeastRequests,
                ..r(
                    "least",
                    "/least",
                    vec![format!("http://{up}/a"), format!("http://{up}/b")],
                )
            },
        ];
    })
    .await;
    // Once the checks ran, the sick upstream gets nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for _ in 0..6 {
        let (s, echo, _) = get(&srv, "/checked/x", &[]).await;
        assert_eq!(s, 200);
        assert!(
            echo["path"].as_str().unwrap().starts_with("/well/"),
            "{echo}"
        );
    }
    // While one upstream is busy with a slow request, the others go to the idle one.
    let slow = tokio::spawn({
        let url = srv.url("/least/slow");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut quick = Vec::new();
    for _ in 0..3 {
        let (_, echo, _) = get(&srv, "/least/x", &[]).await;
        quick.push(echo["path"].as_str().unwrap()[..2].to_owned());
    }
    let slow = slow.await.unwrap();
    let busy = slow["path"].as_str().unwrap()[..2].to_owned();
    assert!(
        quick.iter().all(|q| *q != busy),
        "slow on {busy}, quick on {quick:?}"
    );
    srv.stop().await;
}
/// The breaker's error-rate threshold: failures that never run consecutively still open it
/// once they are half of the latest requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_error_rate() {
    let up = start_upstream().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        let rated = |name: &str| RouteConfig {
            retries: 0,
            breaker_failures: 100,
            breaker_error_rate: Some(0.5),
            breaker_window: 10,
            breaker_cooldown_seconds: 30,
            ..open_route(name, up)
        };
        c.routes = vec![rated("rated"), rated("solo")];
    })
    .await;
    // One client's faults alone never open it (anyone could call a failing path).
    for _ in 0..12 {
        assert_eq!(get(&srv, "/solo/fail", &[]).await.0, 502);
    }
    assert_eq!(get(&srv, "/solo/ok", &[]).await.0, 200);
    // Two clients' faults do.
    let other = portcullis_testkit::client_from("127.0.0.2");
    let mut codes = Vec::new();
    for i in 0..10 {
        let code = match i % 4 {
            0 | 2 => get(&srv, "/rated/ok", &[]).await.0,
            1 => get(&srv, "/rated/fail", &[]).await.0,
            _ => other
                .get(srv.url("/rated/fail"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        };
        codes.push(code);
    }
    assert_eq!(codes, [200, 502, 200, 502, 200, 502, 200, 502, 200, 502]);
    let (s, body, _) = get(&srv, "/rated/ok", &[]).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["code"], "upstream_unavailable");
    srv.stop().await;
}

/// Routes by host and prefix: a route for a host wins over one for any host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host() {
    let up = start_upstream().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        let r = |name: &str, host: Option<&str>, base: &str| RouteConfig {
            name: name.into(),
            prefix: "/svc".into(),
            host: host.map(str::to_owned),
            upstreams: vec![format!("http://{up}{base}")],
            auth: RouteAuth::None,
            ..RouteConfig::default()
        };
        c.routes = vec![
            r("any", None, "/any"),
            r("a", Some("a.example"), "/a"),
            r("b", Some("B.example"), "/b"),
        ];
    })
    .await;
    for (host, want) in [
        ("a.example", "/a/svc/x"),
        ("A.EXAMPLE:8443", "/a/svc/x"),
        ("b.example", "/b/svc/x"),
        ("c.example", "/any/svc/x"),
    ] {
        let (s, echo, _) = get(&srv, "/svc/x", &[("host", host)]).await;
        assert_eq!(s, 200, "{host}: {echo}");
        assert_eq!(echo["path"], want, "{host}");
    }
    srv.stop().await;
}

/// `max_concurrent` holds for each upstream: two upstreams of one each take two slow
/// requests at once; a third finds both busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_per_upstream() {
    let up = start_upstream().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.routes = vec![RouteConfig {
            // Two upstreams (the same server under two names).
            upstreams: vec![
                format!("http://{up}"),
                format!("http://localhost:{}", up.port()),
            ],
            max_concurrent: Some(1),
            ..open_route("pair", up)
        }];
    })
    .await;
    let later = |ms: u64| {
        let srv = &srv;
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            get(srv, "/pair/slow", &[]).await
        }
    };
    let (a, b, c) = tokio::join!(later(0), later(50), later(150));
    assert_eq!((a.0, b.0), (200, 200), "one on each upstream");
    assert_eq!(
        (c.0, c.1["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    srv.stop().await;
}
