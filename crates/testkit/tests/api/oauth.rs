//! The OAuth 2.0 token side: RFC 8414 metadata, the client-credentials grant with RFC 9068
//! JWT access tokens, RFC 7662 introspection and RFC 7009 revocation, with the helpers the
//! other OAuth test files share (`oauth_keys`: private_key_jwt, DPoP, the gateway and the
//! independent clients).

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
    revocation_ends_a_token_everywhere
);

/// A server whose issuer is its own address, as a deployment's `public_url` would be.
pub(crate) async fn server(b: Backend) -> TestServer {
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
pub(crate) async fn register(
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
pub(crate) fn ec_key(kid: &str) -> (Value, Value) {
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
pub(crate) fn ed_key(kid: &str) -> (Value, Value) {
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
pub(crate) async fn register_keyed(srv: &TestServer, public: &Value, scopes: &[&str]) -> String {
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
pub(crate) type Basic<'a> = Option<(&'a str, &'a str)>;

/// A token request and the answer it must get: credentials, parameters, status, error.
pub(crate) type Case<'a> = (Basic<'a>, Vec<(&'a str, &'a str)>, u16, &'a str);

/// POSTs a form to `path`, with HTTP Basic when `basic` is given.
pub(crate) async fn form(
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
pub(crate) fn encode(s: &str) -> String {
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
pub(crate) async fn run_peer(program: &str, script: &str, args: &[&str]) -> Value {
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
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A browser run that went wrong says where, first in the test's own output (its
    // standard error is mostly the server's access lines).
    if !v["error"].is_null() {
        println!(
            "{script} failed: {}\nat {}\npage: {}",
            v["error"], v["at"], v["body"]
        );
    }
    v
}

pub(crate) fn jwt_part(token: &str, i: usize) -> Value {
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
    assert_eq!(
        meta["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
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
            "unauthorized_client",
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
    for i in 0..60 {
        // A forged X-Forwarded-For (from an untrusted peer) does not spread the guesses.
        let (s, _, _) = send(
            client()
                .post(srv.url("/oauth2/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-for", format!("10.9.{}.{}", i / 250, i % 250))
                .basic_auth(&id, Some("guess"))
                .body("grant_type=client_credentials"),
        )
        .await;
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
