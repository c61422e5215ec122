//! The provider's other ways in and its edges: the device grant (RFC 8628), people's app
//! tokens at the gateway, dynamic client registration (RFC 7591), and malformed input at
//! every endpoint.

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::oauth::{encode, form, jwt_part, server};
use crate::oidc::{
    Browser, REDIRECT, authorize_url, code_of, consent, exchange, hidden, register_app, sign_in,
};
use crate::send;

on_both!(
    device_flow,
    gateway_takes_tokens_people_gave_apps,
    dynamic_registration,
    malformed_input_never_breaks_an_endpoint
);

/// A person's token issued to an application, through the gateway to nginx: path tricks do
/// not reach another route, forged identity and forwarding headers are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_tokens_survive_path_and_header_tricks() {
    use portcullis_core::config::{RouteAuth, RouteConfig};
    use portcullis_testkit::nginx::Nginx;
    let nginx = Nginx::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = issuer.clone();
        c.routes = ["public", "adminonly"]
            .into_iter()
            .map(|name| RouteConfig {
                auth: RouteAuth::User,
                ..crate::hardening::route(name, &format!("/{name}"), nginx.url(""))
            })
            .collect();
    })
    .await;
    let user = srv.user("jo@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;
    let mut b = Browser::new(&srv);
    let url = authorize_url(
        &id,
        &format!("&resource={}", encode(&format!("{issuer}/public"))),
    );
    let a = b.get(&url).await;
    let signed = sign_in(&mut b, &a, "jo@example.com", STRONG).await;
    let code = code_of(&srv, &consent(&mut b, &signed, true).await);
    let (s, t) = exchange(&srv, &id, &code).await;
    assert_eq!(s, 200, "{t}");
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        t["access_token"].as_str().unwrap()
    );
    let (s, _, body) = crate::hardening::raw_get(&srv, "/public/x", &auth).await;
    assert_eq!(
        (s, body["served"].as_str()),
        (200, Some("public")),
        "{body}"
    );
    crate::oauth_keys::path_and_header_tricks_fail(&srv, &auth, &user).await;
    srv.stop().await;
}

/// Polls the token endpoint for a device code as a public client.
async fn poll(srv: &TestServer, client_id: &str, device_code: &str) -> (u16, Value) {
    let (s, v, _) = form(
        srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await;
    (s, v)
}

async fn device_flow(be: Backend) {
    let srv = server(be).await;
    srv.user("gus@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |c| {
        c.redirect_uris = vec![];
        c.post_logout_redirect_uris = None;
        c.grant_types = vec![
            "urn:ietf:params:oauth:grant-type:device_code".into(),
            "refresh_token".into(),
        ];
    })
    .await;
    let start = |scope: &'static str| {
        let id = id.clone();
        let srv = &srv;
        async move {
            let (s, d, _) = form(
                srv,
                "/oauth2/device_authorization",
                None,
                &[("client_id", &id), ("scope", scope)],
            )
            .await;
            assert_eq!(s, 200, "{d}");
            d
        }
    };
    let d = start("openid email").await;
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(
        d["verification_uri"],
        format!("{}/oauth2/device", srv.config.server.public_url)
    );
    assert_eq!(d["interval"], 5);
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    let (s, e) = poll(&srv, &id, &device_code).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (s, e) = poll(&srv, &id, &device_code).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("slow_down")),
        "polled at once"
    );
    // Scopes the client does not have are refused at the start.
    let (s, e, _) = form(
        &srv,
        "/oauth2/device_authorization",
        None,
        &[("client_id", &id), ("scope", "admin")],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")));

    let mut b = Browser::new(&srv);
    let page = b
        .get(&format!("/oauth2/device?user_code={user_code}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("value=\"{user_code}\"")));
    let wrong = b
        .post(
            "/oauth2/device",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("user_code", "BBBB-BBBB"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    // Typed as people type it: lower case, no dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let go = b
        .post(
            "/oauth2/device",
            &[("csrf", &hidden(&page.body, "csrf")), ("user_code", &typed)],
        )
        .await;
    let signed = sign_in(&mut b, &go, "gus@example.com", STRONG).await;
    let to = signed.location.clone().unwrap();
    assert!(to.starts_with("/oauth2/device/confirm?req="), "{to}");
    let confirm = b.get(&to).await;
    assert!(
        confirm.body.contains("Orders &lt;App&gt;"),
        "{}",
        confirm.body
    );
    let done = b
        .post(
            "/oauth2/device/confirm",
            &[
                ("req", &hidden(&confirm.body, "req")),
                ("csrf", &hidden(&confirm.body, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Device connected"));
    srv.clock.advance(11);
    let (s, t) = poll(&srv, &id, &device_code).await;
    assert_eq!(s, 200, "{t}");
    assert!(t["refresh_token"].is_string());
    let idt = jwt_part(t["id_token"].as_str().unwrap(), 1);
    assert_eq!(idt["amr"], json!(["pwd"]));
    let (s, e) = poll(&srv, &id, &device_code).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "used once"
    );
    // The code cannot be approved twice.
    let again = b
        .post(
            "/oauth2/device",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("user_code", &user_code),
            ],
        )
        .await;
    assert_eq!(again.status, 400);

    // Denied: the device hears access_denied.
    let d = start("openid").await;
    let go = b
        .post(
            "/oauth2/device",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("user_code", d["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    let to = go.location.clone().unwrap();
    assert!(
        to.starts_with("/oauth2/device/confirm"),
        "signed in already: {to}"
    );
    let confirm = b.get(&to).await;
    b.post(
        "/oauth2/device/confirm",
        &[
            ("req", &hidden(&confirm.body, "req")),
            ("csrf", &hidden(&confirm.body, "csrf")),
            ("decision", "deny"),
        ],
    )
    .await;
    let (s, e) = poll(&srv, &id, d["device_code"].as_str().unwrap()).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("access_denied")));

    // Expired.
    let d = start("openid").await;
    srv.clock.advance(601);
    let (s, e) = poll(&srv, &id, d["device_code"].as_str().unwrap()).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("expired_token")));
    let audit = srv.db.dump();
    assert!(audit.contains("oauth.device.approved") && audit.contains("oauth.device.denied"));
}

async fn gateway_takes_tokens_people_gave_apps(be: Backend) {
    use portcullis_core::config::{RouteAuth, RouteConfig};
    let up = crate::gateway::start_upstream().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let route = |name: &str, auth: RouteAuth, scopes: &[&str]| RouteConfig {
        auth,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..crate::gateway::open_route(name, up)
    };
    let srv = TestServer::start_with(be, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = issuer.clone();
        c.routes = vec![
            route("orders", RouteAuth::User, &["orders:read"]),
            route("people", RouteAuth::User, &[]),
            route("keys", RouteAuth::ApiKey, &[]),
        ];
    })
    .await;
    let user = srv.user("hal@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;
    let mut b = Browser::new(&srv);
    let mut token_for = async |resource: &str, scope: &str| {
        let url = authorize_url(&id, &format!("&resource={}", encode(resource))).replace(
            "scope=openid%20email%20profile",
            &format!("scope={}", encode(scope)),
        );
        let a = b.get(&url).await;
        let a = if a
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/signin"))
        {
            sign_in(&mut b, &a, "hal@example.com", STRONG).await
        } else {
            a
        };
        let a = if a
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/consent"))
        {
            consent(&mut b, &a, true).await
        } else {
            a
        };
        let (s, t) = exchange(&srv, &id, &code_of(&srv, &a)).await;
        assert_eq!(s, 200, "{t}");
        t["access_token"].as_str().unwrap().to_owned()
    };
    let orders = token_for(&format!("{issuer}/orders"), "openid orders:read").await;
    let people = token_for(&format!("{issuer}/people"), "openid").await;
    let get = |path: &str, token: &str| {
        let rb = client().get(srv.url(path)).bearer_auth(token);
        async move { send(rb).await }
    };
    let (s, echoed, _) = get("/orders/x", &orders).await;
    assert_eq!(s, 200, "{echoed}");
    let identity = echoed["headers"]["x-portcullis-identity"].as_str().unwrap();
    assert_eq!(
        jwt_part(identity, 1)["sub"],
        user.as_str(),
        "the person is the principal"
    );
    let (s, _, _) = get("/people/x", &people).await;
    assert_eq!(s, 200);
    // Minted for another route: refused; the route's scope is the consented one.
    let (s, _, _) = get("/orders/x", &people).await;
    assert_eq!(s, 401);
    let (s, _, _) = get("/people/x", &orders).await;
    assert_eq!(s, 401);
    let narrow = token_for(&format!("{issuer}/orders"), "openid").await;
    let (s, _, _) = get("/orders/x", &narrow).await;
    assert_eq!(s, 403, "without orders:read");
    // Never where an API key is asked for.
    let keys = token_for(&format!("{issuer}/keys"), "openid").await;
    let (s, _, _) = get("/keys/x", &keys).await;
    assert!(s == 401 || s == 403, "{s}");
    // Withdrawn consent: the token stops at the gateway at once.
    let api = access(&srv.login("hal@example.com", STRONG).await);
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/auth/connected-apps/{id}")))
            .bearer_auth(&api),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = get("/orders/x", &orders).await;
    assert_eq!(s, 401);
}

async fn dynamic_registration(be: Backend) {
    let srv = server(be).await;
    let register = |token: Option<&'static str>, body: Value| {
        let mut rb = client()
            .post(srv.url("/oauth2/register"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        async move { send(rb).await }
    };
    let app = json!({
        "client_name": "CLI tool", "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "openid email",
        "grant_types": ["authorization_code", "refresh_token"], "software_id": "ignored"
    });
    // Off by default: not there, and not in discovery.
    let (s, _, _) = register(None, app.clone()).await;
    assert_eq!(s, 404);
    let (_, d, _) = send(client().get(srv.url("/.well-known/openid-configuration"))).await;
    assert!(d.get("registration_endpoint").is_none());

    const TOKEN: &str = "initial-access-token-0123456789abcdef";
    srv.services.set_registration_token(TOKEN);
    let (_, d, _) = send(client().get(srv.url("/.well-known/openid-configuration"))).await;
    assert_eq!(
        d["registration_endpoint"],
        format!("{}/oauth2/register", srv.config.server.public_url)
    );
    for token in [None, Some("wrong-token-wrong-token-wrong-token")] {
        let (s, e, h) = register(token, app.clone()).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_token")),
            "{token:?}"
        );
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let (s, c, h) = register(Some(TOKEN), app.clone()).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(c["client_name"], "CLI tool");
    assert_eq!(c["scope"], "openid email");
    assert_eq!(c["response_types"], json!(["code"]));
    assert_eq!(c["client_secret_expires_at"], 0);
    let (id, secret) = (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    );
    // The client works: its secret authenticates at the token endpoint.
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        Some((&id, &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // The registration rules hold: RFC 7591's error codes.
    let (s, e, _) = register(
        Some(TOKEN),
        json!({"redirect_uris": ["https://app.example/cb#frag"]}),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "{e}"
    );
    for bad in [
        json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
        json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
        json!({"redirect_uris": ["https://a.example/cb"], "jwks_uri": "https://a.example/j"}),
        json!("not an object"),
    ] {
        let (s, e, _) = register(Some(TOKEN), bad.clone()).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{bad}"
        );
    }
    assert!(srv.db.dump().contains("oauth.registration_refused"));

    // Configured but without its token in the environment: the server does not start.
    let cfg = srv.db.write_config(&format!(
        "{}[oauth]\nregistration_token_env = \"PCL_TEST_UNSET_REGISTRATION_TOKEN\"\n",
        srv.db.config_toml()
    ));
    let out = std::process::Command::new(portcullis_testkit::binary())
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env_remove("PCL_TEST_UNSET_REGISTRATION_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("oauth.registration_token_env"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Garbage at every endpoint of the provider: a clear 4xx (or a page), never a 5xx.
async fn malformed_input_never_breaks_an_endpoint(be: Backend) {
    let srv = server(be).await;
    srv.services
        .set_registration_token("initial-access-token-0123456789abcdef");
    let (id, _) = register_app(&srv, "none", |_| {}).await;
    let long = "a".repeat(7_000);
    let queries = [
        String::new(),
        "%FF%FE=%C0%AF".to_owned(),
        "client_id=&client_id=".to_owned(),
        format!("client_id={id}&redirect_uri=%00"),
        format!("client_id={id}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax"),
        format!(
            "client_id={id}&response_type=code&redirect_uri={}&state=%0D%0ASet-Cookie:x",
            encode(REDIRECT)
        ),
        format!("req={long}"),
        "req=../../etc/passwd&user_code=%E2%80%AE".to_owned(),
        "a=1&".repeat(100),
        "id_token_hint=e30.e30.e30&post_logout_redirect_uri=javascript:alert(1)".to_owned(),
    ];
    let bodies: [(&str, &[u8]); 6] = [
        (
            "application/x-www-form-urlencoded",
            b"grant_type=%FF&code=\x00",
        ),
        (
            "application/x-www-form-urlencoded",
            b"csrf=&req=&email=&password=",
        ),
        (
            "application/json",
            b"{\"redirect_uris\": [1, null], \"jwks\": [] }",
        ),
        ("application/json", b"[[[[[[[[[[[[[[[[[[[["),
        ("text/plain", b"\xff\xfe\x00"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--"),
    ];
    let paths = [
        "/oauth2/authorize",
        "/oauth2/par",
        "/oauth2/token",
        "/oauth2/userinfo",
        "/oauth2/signin",
        "/oauth2/signin/mfa",
        "/oauth2/signin/passkey",
        "/oauth2/signin/passkey/start",
        "/oauth2/consent",
        "/oauth2/device",
        "/oauth2/device/confirm",
        "/oauth2/device_authorization",
        "/oauth2/logout",
        "/oauth2/register",
        "/oauth2/introspect",
        "/oauth2/revoke",
    ];
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in paths {
        for q in &queries {
            let r = http
                .get(srv.url(&format!("{path}?{q}")))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                status < 500 || status == 503,
                "GET {path}?{}: {status}",
                &q[..q.len().min(80)]
            );
        }
        for (ct, body) in &bodies {
            let r = http
                .post(srv.url(path))
                .header("content-type", *ct)
                .header("cookie", "pcl_session=x.y; pcl_csrf=short; pcl_mfa=%FF")
                .header("dpop", "not.a.proof")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(status < 500, "POST {path} ({ct}): {status}");
        }
    }
}
