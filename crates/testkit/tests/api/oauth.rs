//! The OAuth 2.0 token side: RFC 8414 metadata, the client-credentials grant with RFC 9068
//! JWT access tokens, RFC 7662 introspection; driven by Portcullis's own requests, by an
//! OpenID-certified client library (npm `openid-client`) and by Python's Authlib with PyJWT
//! as the resource server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::model::Role;
use portcullis_core::oauth::clients::ClientSpec;
use portcullis_core::service::RequestContext;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::send;

on_both!(
    client_credentials_and_introspection,
    token_requests_break_no_rule,
    private_key_jwt_assertions_work_once,
    dpop_binds_tokens_to_the_clients_key,
    revocation_ends_a_token_everywhere,
    gateway_routes_take_client_tokens_for_them
);

/// A server whose issuer is its own address, as a deployment's `public_url` would be.
async fn server(b: Backend) -> TestServer {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    TestServer::start_with(b, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await
}

/// Registers a client (as `portcullis clients create` does); (id, secret).
async fn register(
    srv: &TestServer,
    method: &str,
    grants: &[&str],
    scopes: &[&str],
) -> (String, String) {
    let r = srv
        .services
        .register_oauth_client(
            "cli",
            &RequestContext::default(),
            &ClientSpec {
                name: format!("{method} client"),
                redirect_uris: vec!["https://app.example/cb".into()],
                grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
                token_endpoint_auth_method: method.into(),
                scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    (
        r.client.id,
        r.secret
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default(),
    )
}

/// A P-256 key pair as JWKs (private, public), with `kid`.
fn ec_key(kid: &str) -> (Value, Value) {
    let key = p256::ecdsa::SigningKey::from_slice(&portcullis_core::rand::bytes::<32>(
        &portcullis_core::rand::OsRng,
    ))
    .unwrap();
    let point = key.verifying_key().to_sec1_point(false);
    let b = point.as_bytes();
    let public = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&b[1..33]), "y": URL_SAFE_NO_PAD.encode(&b[33..65])});
    let mut private = public.clone();
    private["d"] = URL_SAFE_NO_PAD.encode(key.to_bytes()).into();
    (private, public)
}

/// An Ed25519 key pair as JWKs (private, public), with `kid`.
fn ed_key(kid: &str) -> (Value, Value) {
    let key = ed25519_dalek::SigningKey::from_bytes(&portcullis_core::rand::bytes::<32>(
        &portcullis_core::rand::OsRng,
    ));
    let public = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())});
    let mut private = public.clone();
    private["d"] = URL_SAFE_NO_PAD.encode(key.to_bytes()).into();
    (private, public)
}

/// Registers a `private_key_jwt` client with these public keys; its id.
async fn register_keyed(srv: &TestServer, public: &Value, scopes: &[&str]) -> String {
    srv.services
        .register_oauth_client(
            "cli",
            &RequestContext::default(),
            &ClientSpec {
                name: "keyed client".into(),
                grant_types: vec!["client_credentials".into()],
                token_endpoint_auth_method: "private_key_jwt".into(),
                scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
                jwks: Some(json!({"keys": [public]})),
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap()
        .client
        .id
}

/// HTTP Basic credentials, when a request carries them.
type Basic<'a> = Option<(&'a str, &'a str)>;

/// A token request and the answer it must get: credentials, parameters, status, error.
type Case<'a> = (Basic<'a>, Vec<(&'a str, &'a str)>, u16, &'a str);

/// POSTs a form to `path`, with HTTP Basic when `basic` is given.
async fn form(
    srv: &TestServer,
    path: &str,
    basic: Basic<'_>,
    params: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let body = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut rb = client()
        .post(srv.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        rb = rb.basic_auth(id, Some(secret));
    }
    send(rb).await
}

/// `application/x-www-form-urlencoded` of one name or value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a peer program to completion off the runtime's threads (the server shares them).
async fn run_peer(program: &str, script: &str, args: &[&str]) -> Value {
    let mut cmd = std::process::Command::new(program);
    cmd.arg(script).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the peer runs"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        program,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn client_credentials_and_introspection(b: Backend) {
    let srv = server(b).await;
    let issuer = srv.config.server.public_url.clone();
    let (meta_status, meta, headers) =
        send(client().get(srv.url("/.well-known/oauth-authorization-server"))).await;
    assert_eq!(meta_status, 200);
    assert_eq!(meta["issuer"], issuer.as_str());
    assert_eq!(meta["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(meta["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(meta["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    let (id, secret) = register(
        &srv,
        "client_secret_basic",
        &["client_credentials"],
        &["orders:read", "orders:write", "openid"],
    )
    .await;
    let (s, tok, headers) = form(
        &srv,
        "/oauth2/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:read"),
            ("resource", "https://api.example/orders"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["scope"], "orders:read");
    assert_eq!(tok["expires_in"], srv.config.auth.access_token_ttl_seconds);
    let at = tok["access_token"].as_str().unwrap();
    let (header, claims) = (jwt_part(at, 0), jwt_part(at, 1));
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("EdDSA"))
    );
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], "https://api.example/orders");
    assert_eq!(claims["iss"], issuer.as_str());
    assert!(
        claims.get("sid").is_none() && claims.get("role").is_none(),
        "{claims}"
    );

    // Without a scope: every registered scope but a person's; without a resource: the
    // client is the audience.
    let (s, all, _) = form(
        &srv,
        "/oauth2/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(all["scope"], "orders:read orders:write");
    assert_eq!(
        jwt_part(all["access_token"].as_str().unwrap(), 1)["aud"],
        id.as_str()
    );

    // A client's token is never a person's: the API refuses it.
    let (s, _, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at)).await;
    assert_eq!(s, 401);

    // Introspection: active with its claims; garbage and a person's revoked session are not.
    let (s, intro, headers) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", at)],
    )
    .await;
    assert_eq!(s, 200, "{intro}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], id.as_str());
    assert_eq!(intro["scope"], "orders:read");
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", "x.y.z")],
    )
    .await;
    assert_eq!(intro, json!({"active": false}));
    srv.user("quin@example.com", STRONG, Role::User).await;
    let tokens = srv.login("quin@example.com", STRONG).await;
    let user_at = access(&tokens);
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", &user_at)],
    )
    .await;
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(intro["role"], "user");
    let (s, _, _) = send(
        client()
            .post(srv.url("/api/v1/auth/logout"))
            .bearer_auth(&user_at)
            .json(&json!({"refresh_token": portcullis_testkit::refresh(&tokens)})),
    )
    .await;
    assert!(s == 204 || s == 200, "{s}");
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", &user_at)],
    )
    .await;
    assert_eq!(
        intro,
        json!({"active": false}),
        "a logged-out session's token"
    );
    // Expired.
    srv.clock
        .advance(i64::try_from(srv.config.auth.access_token_ttl_seconds).unwrap() + 1);
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", at)],
    )
    .await;
    assert_eq!(intro, json!({"active": false}), "expired");

    // client_secret_post; a deleted client's tokens stop being active.
    let (pid, psecret) = register(
        &srv,
        "client_secret_post",
        &["client_credentials"],
        &["reports"],
    )
    .await;
    let (s, ptok, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &pid),
            ("client_secret", &psecret),
        ],
    )
    .await;
    assert_eq!(
        (s, ptok["scope"].as_str()),
        (200, Some("reports")),
        "{ptok}"
    );
    let pat = ptok["access_token"].as_str().unwrap().to_owned();
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", &pat)],
    )
    .await;
    assert_eq!(intro["active"], true);
    {
        let mut tx = srv.services.store().begin().await.unwrap();
        assert!(tx.clients().delete_oauth_client(&pid).await.unwrap());
        tx.commit().await.unwrap();
    }
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", &pat)],
    )
    .await;
    assert_eq!(intro, json!({"active": false}), "the client is gone");

    // Audited: each token issued, each failed authentication; never a secret or a token.
    let (s, _, h) = form(
        &srv,
        "/oauth2/token",
        Some((&id, "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, 401);
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let events = srv.services.audit_page(0, 10_000).await.unwrap();
    let issued = events
        .iter()
        .filter(|e| e.action == "oauth.token_issued")
        .count();
    assert_eq!(issued, 3);
    assert!(events.iter().any(
        |e| e.action == "oauth.client_auth_failed" && e.target.as_deref() == Some(id.as_str())
    ));
    assert!(
        events
            .iter()
            .all(|e| !e.details.contains(&secret) && !e.details.contains(at))
    );
    srv.stop().await;
}

async fn token_requests_break_no_rule(b: Backend) {
    let srv = server(b).await;
    let (id, secret) = register(
        &srv,
        "client_secret_basic",
        &["client_credentials"],
        &["a", "openid"],
    )
    .await;
    let (code_id, code_secret) = register(
        &srv,
        "client_secret_basic",
        &["authorization_code"],
        &["openid"],
    )
    .await;
    let (post_id, post_secret) =
        register(&srv, "client_secret_post", &["client_credentials"], &["a"]).await;
    let (public_id, _) = register(&srv, "none", &["authorization_code"], &["openid"]).await;
    let basic = Some((id.as_str(), secret.as_str()));
    let cc = ("grant_type", "client_credentials");
    let cases: Vec<Case> = vec![
        (basic, vec![], 400, "invalid_request"),
        (
            basic,
            vec![
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "p"),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            basic,
            vec![("grant_type", "implicit")],
            400,
            "unsupported_grant_type",
        ),
        (
            basic,
            vec![("grant_type", "authorization_code"), ("code", "x")],
            400,
            "unsupported_grant_type",
        ),
        (basic, vec![cc, ("scope", "openid")], 400, "invalid_scope"),
        (basic, vec![cc, ("scope", "a b")], 400, "invalid_scope"),
        (
            basic,
            vec![cc, ("resource", "/relative")],
            400,
            "invalid_target",
        ),
        (
            basic,
            vec![cc, ("resource", "https://api.example/#frag")],
            400,
            "invalid_target",
        ),
        (
            basic,
            vec![cc, ("scope", "a"), ("scope", "a")],
            400,
            "invalid_request",
        ),
        (
            basic,
            vec![cc, ("client_secret", secret.as_str())],
            400,
            "invalid_request",
        ),
        (None, vec![cc], 401, "invalid_client"),
        (
            None,
            vec![cc, ("client_id", "not-a-client"), ("client_secret", "x")],
            401,
            "invalid_client",
        ),
        (
            Some(("00000000-0000-4000-8000-000000000000", "x")),
            vec![cc],
            401,
            "invalid_client",
        ),
        // A client_secret_post client must not authenticate by Basic, nor the reverse.
        (
            Some((post_id.as_str(), post_secret.as_str())),
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            None,
            vec![
                cc,
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ],
            401,
            "invalid_client",
        ),
        // A public client is identified by its id alone, and never gets client_credentials.
        (
            None,
            vec![cc, ("client_id", public_id.as_str())],
            400,
            "unauthorized_client",
        ),
        (
            Some((code_id.as_str(), code_secret.as_str())),
            vec![cc],
            400,
            "unauthorized_client",
        ),
    ];
    for (auth, params, status, code) in cases {
        let (s, body, _) = form(&srv, "/oauth2/token", auth, &params).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (status, Some(code)),
            "{params:?}: {body}"
        );
        assert!(body["error_description"].is_string());
    }
    // Not a form; not a POST.
    let (s, body, _) = send(
        client()
            .post(srv.url("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .json(&json!({"grant_type": "client_credentials"})),
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let (s, _, _) = send(client().get(srv.url("/oauth2/token"))).await;
    assert_eq!(s, 405);
    let (s, body, _) = form(&srv, "/oauth2/introspect", basic, &[]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));

    // Failed client authentication is throttled per address.
    let mut last = 0;
    for _ in 0..60 {
        let (s, _, _) = form(&srv, "/oauth2/token", Some((&id, "guess")), &[cc]).await;
        last = s;
        if s == 429 {
            break;
        }
    }
    assert_eq!(last, 429, "guessing is slowed down");
    let (s, body, _) = form(&srv, "/oauth2/token", basic, &[cc]).await;
    assert_eq!((s, body["error"].as_str()), (429, Some("slow_down")));
    srv.stop().await;
}

/// The database down: no token is issued and none is said to be active (fail closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_fail_closed_when_the_database_is_down() {
    let srv = server(Backend::Postgres).await;
    let (id, secret) = register(&srv, "client_secret_basic", &["client_credentials"], &["a"]).await;
    let cc = [("grant_type", "client_credentials")];
    let (s, tok, _) = form(&srv, "/oauth2/token", Some((&id, &secret)), &cc).await;
    assert_eq!(s, 200);
    srv.db.pg_take_down().await;
    let (s, body, _) = form(&srv, "/oauth2/token", Some((&id, &secret)), &cc).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    let at = tok["access_token"].as_str().unwrap();
    let (s, body, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", at)],
    )
    .await;
    assert_eq!(s, 503, "{body}");
    srv.db.pg_bring_up().await;
    srv.stop().await;
}

/// Independent clients: npm `openid-client` (OpenID-certified; discovery by RFC 8414) and
/// Python's Authlib, with PyJWT verifying the token against the JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certified_and_independent_clients() {
    let srv = server(Backend::Sqlite).await;
    let issuer = srv.config.server.public_url.clone();
    let (id, secret) = register(
        &srv,
        "client_secret_basic",
        &["client_credentials"],
        &["orders:read", "orders:write"],
    )
    .await;
    let (pid, psecret) = register(
        &srv,
        "client_secret_post",
        &["client_credentials"],
        &["reports"],
    )
    .await;
    let (ec_private, ec_public) = ec_key("node");
    let kid = register_keyed(&srv, &ec_public, &["metrics:read"]).await;
    let resource = "https://api.example/orders";
    let ec_private = ec_private.to_string();
    let args = [
        issuer.as_str(),
        &id,
        &secret,
        &pid,
        &psecret,
        resource,
        &kid,
        &ec_private,
    ];
    let js = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    assert!(
        std::path::Path::new(js)
            .join("node_modules/openid-client")
            .is_dir(),
        "npm openid-client is missing: run `npm install` in {js} (scripts/test.sh does)"
    );
    let out = run_peer("node", &format!("{js}/oauth_client.mjs"), &args).await;
    assert_eq!(out["metadata"]["issuer"], issuer.as_str());
    assert!(
        out["basic"]["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "{out}"
    );
    assert_eq!(out["basic"]["scope"], "orders:read");
    assert_eq!(out["introspection"]["active"], true);
    assert_eq!(out["introspection"]["aud"], resource);
    assert_eq!(out["garbage"]["active"], false);
    assert_eq!(
        out["revoked"]["active"], false,
        "revoked through RFC 7009: {out}"
    );
    assert_eq!(out["post"]["scope"], "reports");
    assert_eq!(out["pkjwt"]["scope"], "metrics:read", "{out}");
    assert!(
        out["dpop"]["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop")),
        "{out}"
    );
    assert_eq!(out["dpop"]["introspection"]["token_type"], "DPoP");
    assert_eq!(
        out["dpop"]["introspection"]["cnf"]["jkt"], out["dpop"]["thumbprint"],
        "bound to the client's key: {out}"
    );
    assert_eq!(out["wrong"]["error"], "invalid_client", "{out}");
    assert_eq!(out["wrong"]["status"], 401);

    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/oauth_client.py");
    let out = run_peer("python3", py, &args[..6]).await;
    assert_eq!(out["basic"]["scope"], "orders:read", "{out}");
    assert_eq!(out["post"]["scope"], "reports");
    assert_eq!(out["introspection"]["active"], true);
    assert_eq!(out["header"]["typ"], "at+jwt");
    assert_eq!(out["claims"]["client_id"], id.as_str());
    assert_eq!(out["claims"]["aud"], resource);
    assert_eq!(out["wrong"], "invalid_client");
    srv.stop().await;
}

/// `private_key_jwt`: assertions signed by PyJWT (EdDSA and ES256) authenticate the client
/// once each; a replay, an assertion for another audience, one signed with a key the client
/// did not register, and a secret for a keyed client are `invalid_client`.
async fn private_key_jwt_assertions_work_once(b: Backend) {
    let srv = server(b).await;
    let issuer = srv.config.server.public_url.clone();
    let (ed_private, ed_public) = ed_key("ed-1");
    let (ec_private, ec_public) = ec_key("ec-1");
    let ed_id = register_keyed(&srv, &ed_public, &["jobs"]).await;
    let ec_id = register_keyed(&srv, &ec_public, &["jobs"]).await;
    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/client_assertion.py");
    let sign = |jwk: &Value, alg: &str, id: &str, aud: &str| {
        let out = std::process::Command::new("python3")
            .args([py, &jwk.to_string(), alg, id, aud])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let with = |assertion: &str| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion.to_owned()),
        ]
    };
    let post = |params: Vec<(String, String)>| {
        let srv = &srv;
        async move {
            let p: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            form(srv, "/oauth2/token", None, &p).await
        }
    };
    for (private, alg, id) in [
        (&ed_private, "EdDSA", &ed_id),
        (&ec_private, "ES256", &ec_id),
    ] {
        let assertion = sign(private, alg, id, &issuer);
        let (s, tok, _) = post(with(&assertion)).await;
        assert_eq!(
            (s, tok["scope"].as_str()),
            (200, Some("jobs")),
            "{alg}: {tok}"
        );
        let (s, body, _) = post(with(&assertion)).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{alg} replay"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("used before")
        );
    }
    let refused = [
        // Another audience: the token endpoint URL is not the issuer identifier.
        sign(
            &ed_private,
            "EdDSA",
            &ed_id,
            &format!("{issuer}/oauth2/token"),
        ),
        // Signed with the other client's key.
        sign(&ec_private, "ES256", &ed_id, &issuer),
        // A key nobody registered.
        sign(&ed_key("ed-1").0, "EdDSA", &ed_id, &issuer),
    ];
    for assertion in refused {
        let (s, body, _) = post(with(&assertion)).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{body}"
        );
    }
    // The wrong assertion type, an assertion with a secret, a secret for a keyed client.
    let assertion = sign(&ed_private, "EdDSA", &ed_id, &issuer);
    let mut wrong_type = with(&assertion);
    wrong_type[1].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into();
    let (s, body, _) = post(wrong_type).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let mut both = with(&assertion);
    both.push(("client_secret".into(), "x".into()));
    let (s, body, _) = post(both).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let mut other_id = with(&assertion);
    other_id.push(("client_id".into(), ec_id.clone()));
    let (s, body, _) = post(other_id).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let (s, body, _) = form(
        &srv,
        "/oauth2/token",
        Some((&ed_id, "a-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")));
    // The unused, valid assertion still works after all that.
    let (s, _, _) = post(with(&assertion)).await;
    assert_eq!(s, 200);
    let meta = send(client().get(srv.url("/.well-known/oauth-authorization-server")))
        .await
        .1;
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA", "ES256"])
    );
    srv.stop().await;
}

/// A DPoP proof (RFC 9449) signed with the client's own P-256 key.
fn dpop_proof(key: &p256::ecdsa::SigningKey, htm: &str, htu: &str, jti: &str, iat: i64) -> String {
    dpop_proof_for(key, htm, htu, jti, iat, None)
}

/// A DPoP proof, with `ath` for `token` when presented at a resource.
fn dpop_proof_for(
    key: &p256::ecdsa::SigningKey,
    htm: &str,
    htu: &str,
    jti: &str,
    iat: i64,
    token: Option<&str>,
) -> String {
    use p256::ecdsa::signature::Signer;
    let point = key.verifying_key().to_sec1_point(false);
    let b = point.as_bytes();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&b[1..33]), "y": URL_SAFE_NO_PAD.encode(&b[33..65])}});
    let mut claims = json!({"htm": htm, "htu": htu, "iat": iat, "jti": jti});
    if let Some(t) = token {
        use sha2::Digest;
        claims["ath"] = URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(t.as_bytes()))
            .into();
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// DPoP: a token asked for with a proof is bound to the proof's key (`cnf.jkt`, type
/// `DPoP`); a proof works once, for this endpoint and method only; a client that requires
/// DPoP gets nothing without one.
async fn dpop_binds_tokens_to_the_clients_key(b: Backend) {
    let srv = server(b).await;
    let issuer = srv.config.server.public_url.clone();
    let token_url = format!("{issuer}/oauth2/token");
    let (id, secret) = register(&srv, "client_secret_basic", &["client_credentials"], &["a"]).await;
    let key = p256::ecdsa::SigningKey::from_slice(&portcullis_core::rand::bytes::<32>(
        &portcullis_core::rand::OsRng,
    ))
    .unwrap();
    let now = srv.services.now();
    let request = |proof: Option<String>| {
        let (srv, id, secret) = (&srv, id.clone(), secret.clone());
        async move {
            let mut rb = client()
                .post(srv.url("/oauth2/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .basic_auth(&id, Some(&secret))
                .body("grant_type=client_credentials");
            if let Some(p) = proof {
                rb = rb.header("dpop", p);
            }
            send(rb).await
        }
    };
    let proof = dpop_proof(&key, "POST", &token_url, "p-1", now);
    let (s, tok, _) = request(Some(proof.clone())).await;
    assert_eq!(
        (s, tok["token_type"].as_str()),
        (200, Some("DPoP")),
        "{tok}"
    );
    let claims = jwt_part(tok["access_token"].as_str().unwrap(), 1);
    let point = key.verifying_key().to_sec1_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point.as_bytes()[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point.as_bytes()[33..65])});
    assert_eq!(
        claims["cnf"]["jkt"].as_str(),
        portcullis_core::oauth::dpop::thumbprint(&jwk).as_deref()
    );
    let (_, intro, _) = form(
        &srv,
        "/oauth2/introspect",
        Some((&id, &secret)),
        &[("token", tok["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(intro["token_type"], "DPoP");
    assert_eq!(intro["cnf"], claims["cnf"]);
    let refused = [
        proof,
        dpop_proof(&key, "GET", &token_url, "p-2", now),
        dpop_proof(
            &key,
            "POST",
            &format!("{issuer}/oauth2/introspect"),
            "p-3",
            now,
        ),
        dpop_proof(&key, "POST", &token_url, "p-4", now - 3600),
        "not-a-proof".to_owned(),
    ];
    for p in refused {
        let (s, body, _) = request(Some(p)).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{body}"
        );
    }
    // Without a proof: a Bearer token, unless the client requires DPoP.
    let (s, tok, _) = request(None).await;
    assert_eq!((s, tok["token_type"].as_str()), (200, Some("Bearer")));
    let (s, _) = crate::call(
        &srv,
        reqwest::Method::GET,
        "/.well-known/oauth-authorization-server",
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let admin = access(&srv.login("root@example.com", STRONG).await);
    let (s, _) = crate::call(
        &srv,
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/clients/{id}"),
        Some(&admin),
        Some(json!({"require_dpop": true})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body, _) = request(None).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let (s, _, _) = request(Some(dpop_proof(&key, "POST", &token_url, "p-5", now))).await;
    assert_eq!(s, 200);
    srv.stop().await;
}

/// RFC 7009: a client revokes its own token (introspection says inactive on every node,
/// audited once), gets 200 for garbage and expired tokens, and is refused another client's.
async fn revocation_ends_a_token_everywhere(b: Backend) {
    let srv = server(b).await;
    let (id, secret) = register(&srv, "client_secret_basic", &["client_credentials"], &["a"]).await;
    let (other, other_secret) =
        register(&srv, "client_secret_post", &["client_credentials"], &["a"]).await;
    let token = |id: String, secret: String| {
        let srv = &srv;
        async move {
            let (s, tok, _) = form(
                srv,
                "/oauth2/token",
                Some((&id, &secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
            assert_eq!(s, 200, "{tok}");
            tok["access_token"].as_str().unwrap().to_owned()
        }
    };
    let at = token(id.clone(), secret.clone()).await;
    let keep = token(id.clone(), secret.clone()).await;
    let active = |t: String| {
        let (srv, id, secret) = (&srv, id.clone(), secret.clone());
        async move {
            form(
                srv,
                "/oauth2/introspect",
                Some((&id, &secret)),
                &[("token", &t)],
            )
            .await
            .1["active"]
                == true
        }
    };
    assert!(active(at.clone()).await);
    // Another client may not revoke it (and must authenticate to try).
    let (s, body, _) = form(
        &srv,
        "/oauth2/revoke",
        None,
        &[
            ("token", &at),
            ("client_id", &other),
            ("client_secret", &other_secret),
        ],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (s, _, _) = form(&srv, "/oauth2/revoke", None, &[("token", &at)]).await;
    assert_eq!(s, 401);
    assert!(active(at.clone()).await);
    // Its own client may, twice (the second is a no-op), and only that token ends.
    for _ in 0..2 {
        let (s, body, h) = form(
            &srv,
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", &at)],
        )
        .await;
        assert_eq!((s, &body), (200, &Value::Null));
        assert_eq!(h["cache-control"], "no-store");
    }
    assert!(!active(at.clone()).await);
    assert!(active(keep.clone()).await);
    // A second node sees it too (PostgreSQL: another server on the same database).
    if b == Backend::Postgres {
        let node = TestServer::start_on(srv.db.clone(), srv.clock.clone(), |c| {
            c.server.public_url = srv.config.server.public_url.clone();
        })
        .await;
        let (_, intro, _) = form(
            &node,
            "/oauth2/introspect",
            Some((&id, &secret)),
            &[("token", &at)],
        )
        .await;
        assert_eq!(intro, json!({"active": false}));
        node.stop().await;
    }
    for junk in ["garbage", "a.b.c"] {
        let (s, _, _) = form(
            &srv,
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", junk)],
        )
        .await;
        assert_eq!(s, 200, "{junk}");
    }
    let (s, body, _) = form(&srv, "/oauth2/revoke", Some((&id, &secret)), &[]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let events = srv.services.audit_page(0, 10_000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "oauth.token_revoked")
            .count(),
        1
    );
    let meta = send(client().get(srv.url("/.well-known/oauth-authorization-server")))
        .await
        .1;
    assert_eq!(
        meta["revocation_endpoint"],
        format!("{}/oauth2/revoke", srv.config.server.public_url)
    );
    srv.stop().await;
}

/// A gateway route with `auth = "any"` takes a client's token minted for it (`resource` = the
/// route's public URL): with its scopes checked, refused when minted for something else, once
/// revoked or its client deleted; a DPoP-bound one only with a fresh proof for this request
/// and this token. Routes asking for a person or an API key never take one.
async fn gateway_routes_take_client_tokens_for_them(b: Backend) {
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
    let srv = TestServer::start_with(b, |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = issuer.clone();
        c.routes = vec![
            route("svc", RouteAuth::Any, &["svc:read"]),
            route("other", RouteAuth::Any, &[]),
            route("people", RouteAuth::User, &[]),
            route("keys", RouteAuth::ApiKey, &[]),
        ];
    })
    .await;
    let (id, secret) = register(
        &srv,
        "client_secret_basic",
        &["client_credentials"],
        &["svc:read", "svc:write"],
    )
    .await;
    let grant = |params: Vec<(&'static str, String)>, proof: Option<String>| {
        let (srv, id, secret) = (&srv, id.clone(), secret.clone());
        async move {
            let mut body = String::from("grant_type=client_credentials");
            for (k, v) in &params {
                body.push_str(&format!("&{k}={}", encode(v)));
            }
            let mut rb = client()
                .post(srv.url("/oauth2/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .basic_auth(&id, Some(&secret))
                .body(body);
            if let Some(p) = proof {
                rb = rb.header("dpop", p);
            }
            let (s, tok, _) = send(rb).await;
            assert_eq!(s, 200, "{tok}");
            tok["access_token"].as_str().unwrap().to_owned()
        }
    };
    let call = |path: &str, scheme: &str, token: &str, proof: Option<String>| {
        let mut rb = client()
            .get(srv.url(path))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            rb = rb.header("dpop", p);
        }
        async move { send(rb).await }
    };
    let svc = format!("{issuer}/svc");
    let token = grant(vec![("resource", svc.clone())], None).await;
    let (s, echoed, _) = call("/svc/x", "Bearer", &token, None).await;
    assert_eq!(s, 200, "{echoed}");
    let identity = echoed["headers"]["x-portcullis-identity"].as_str().unwrap();
    assert_eq!(
        jwt_part(identity, 1)["sub"],
        id.as_str(),
        "the client is the principal"
    );
    // Minted for another route, or for nothing in particular: not taken.
    let (s, _, _) = call("/other/x", "Bearer", &token, None).await;
    assert_eq!(s, 401);
    let unnamed = grant(vec![], None).await;
    let (s, _, _) = call("/svc/x", "Bearer", &unnamed, None).await;
    assert_eq!(s, 401);
    // Route scopes: a token without svc:read is refused.
    let narrow = grant(
        vec![("resource", svc.clone()), ("scope", "svc:write".into())],
        None,
    )
    .await;
    let (s, _, _) = call("/svc/x", "Bearer", &narrow, None).await;
    assert_eq!(s, 403);
    // Routes for people or API keys never take a client's token.
    for (path, resource) in [("/people/x", "people"), ("/keys/x", "keys")] {
        let t = grant(vec![("resource", format!("{issuer}/{resource}"))], None).await;
        let (s, _, _) = call(path, "Bearer", &t, None).await;
        assert!(s == 401 || s == 403, "{path}: {s}");
    }
    // A person's token still works on the `any` route; a person's with DPoP does not.
    srv.user("quin@example.com", STRONG, Role::User).await;
    let person = access(&srv.login("quin@example.com", STRONG).await);
    let (s, _, _) = call("/other/x", "Bearer", &person, None).await;
    assert_eq!(s, 200);
    let (s, _, _) = call("/other/x", "DPoP", &person, None).await;
    assert_eq!(s, 401);

    // DPoP-bound: only with the DPoP scheme and a proof of the same key, for this request
    // (method, URL, token), once.
    let key = p256::ecdsa::SigningKey::from_slice(&portcullis_core::rand::bytes::<32>(
        &portcullis_core::rand::OsRng,
    ))
    .unwrap();
    let now = srv.services.now();
    let bound = grant(
        vec![("resource", svc.clone())],
        Some(dpop_proof(
            &key,
            "POST",
            &format!("{issuer}/oauth2/token"),
            "t-1",
            now,
        )),
    )
    .await;
    let url = format!("{issuer}/svc/x");
    let proof = dpop_proof_for(&key, "GET", &url, "r-1", now, Some(&bound));
    let (s, _, _) = call("/svc/x", "Bearer", &bound, None).await;
    assert_eq!(s, 401, "a bound token as a bearer token");
    let (s, body, _) = call("/svc/x", "DPoP", &bound, Some(proof.clone())).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, _) = call("/svc/x", "DPoP", &bound, Some(proof)).await;
    assert_eq!(s, 401, "a proof works once");
    let other_key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
    for (i, p) in [
        dpop_proof_for(&key, "POST", &url, "r-2", now, Some(&bound)),
        dpop_proof_for(
            &key,
            "GET",
            &format!("{issuer}/svc/y"),
            "r-3",
            now,
            Some(&bound),
        ),
        dpop_proof_for(&key, "GET", &url, "r-4", now, None),
        dpop_proof_for(&key, "GET", &url, "r-5", now, Some(&token)),
        dpop_proof_for(&other_key, "GET", &url, "r-6", now, Some(&bound)),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, _, _) = call("/svc/x", "DPoP", &bound, Some(p)).await;
        assert_eq!(s, 401, "proof {i}");
    }
    let (s, _, _) = call(
        "/svc/x",
        "DPoP",
        &token,
        Some(dpop_proof_for(&key, "GET", &url, "r-7", now, Some(&token))),
    )
    .await;
    assert_eq!(s, 401, "an unbound token with the DPoP scheme");

    // Revoked, or its client deleted: refused at once.
    let (s, _, _) = form(
        &srv,
        "/oauth2/revoke",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call("/svc/x", "Bearer", &token, None).await;
    assert_eq!(s, 401);
    let fresh = grant(vec![("resource", svc.clone())], None).await;
    let (s, _, _) = call("/svc/x", "Bearer", &fresh, None).await;
    assert_eq!(s, 200);
    {
        let mut tx = srv.services.store().begin().await.unwrap();
        assert!(tx.clients().delete_oauth_client(&id).await.unwrap());
        tx.commit().await.unwrap();
    }
    let (s, _, _) = call("/svc/x", "Bearer", &fresh, None).await;
    assert_eq!(s, 401);
    srv.stop().await;
}
