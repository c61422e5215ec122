//! OAuth clients that hold keys: `private_key_jwt` assertions, DPoP-bound tokens (at the
//! token endpoint and at the gateway), and the independent clients (npm `openid-client`,
//! OpenID-certified; Python's Authlib with PyJWT as the resource server).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::oauth::{
    ec_key, ed_key, encode, form, jwt_part, register, register_keyed, run_peer, server,
};
use crate::send;

on_both!(
    private_key_jwt_assertions_work_once,
    dpop_binds_tokens_to_the_clients_key,
    gateway_routes_take_client_tokens_for_them
);

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

/// A DPoP proof (RFC 9449) for the token endpoint, signed with the client's own P-256 key,
/// carrying the server's `nonce`.
pub(crate) fn dpop_proof(
    nonce: &str,
    key: &p256::ecdsa::SigningKey,
    htm: &str,
    htu: &str,
    jti: &str,
    iat: i64,
) -> String {
    sign_dpop(
        key,
        json!({"htm": htm, "htu": htu, "iat": iat, "jti": jti, "nonce": nonce}),
    )
}

/// A DPoP proof for a resource, with `ath` for `token` when given.
pub(crate) fn dpop_proof_for(
    key: &p256::ecdsa::SigningKey,
    htm: &str,
    htu: &str,
    jti: &str,
    iat: i64,
    token: Option<&str>,
) -> String {
    let mut claims = json!({"htm": htm, "htu": htu, "iat": iat, "jti": jti});
    if let Some(t) = token {
        use sha2::Digest;
        claims["ath"] = URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(t.as_bytes()))
            .into();
    }
    sign_dpop(key, claims)
}

pub(crate) fn sign_dpop(key: &p256::ecdsa::SigningKey, claims: Value) -> String {
    use p256::ecdsa::signature::Signer;
    let point = key.verifying_key().to_sec1_point(false);
    let b = point.as_bytes();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&b[1..33]), "y": URL_SAFE_NO_PAD.encode(&b[33..65])}});
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
    let nonce = srv.services.dpop_nonce(now);
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
    // Without the server's nonce: use_dpop_nonce, and the answer carries the nonce (as every
    // token answer does); a nonce from an old window is refused the same way.
    let bare = sign_dpop(
        &key,
        json!({"htm": "POST", "htu": token_url, "iat": now, "jti": "p-0"}),
    );
    let (s, body, h) = request(Some(bare)).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    assert_eq!(h["dpop-nonce"].to_str().unwrap(), nonce);
    let stale = srv.services.dpop_nonce(now - 900);
    let (s, body, _) = request(Some(dpop_proof(
        &stale, &key, "POST", &token_url, "p-00", now,
    )))
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    let proof = dpop_proof(&nonce, &key, "POST", &token_url, "p-1", now);
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
        dpop_proof(&nonce, &key, "GET", &token_url, "p-2", now),
        dpop_proof(
            &nonce,
            &key,
            "POST",
            &format!("{issuer}/oauth2/introspect"),
            "p-3",
            now,
        ),
        dpop_proof(&nonce, &key, "POST", &token_url, "p-4", now - 3600),
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
    let (s, _, _) = request(Some(dpop_proof(
        &nonce, &key, "POST", &token_url, "p-5", now,
    )))
    .await;
    assert_eq!(s, 200);
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
    let nonce = srv.services.dpop_nonce(now);
    let bound = grant(
        vec![("resource", svc.clone())],
        Some(dpop_proof(
            &nonce,
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

/// What attackers try with a client token, nginx as the upstream (it normalises paths as
/// production upstreams do): a token minted for `/public` never reaches `/adminonly` through
/// dot segments, encoded dots or slashes, or doubled slashes; `/oauth2` reached through a
/// route is never proxied; forged identity and forwarding headers never reach nginx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tokens_survive_path_and_header_tricks() {
    use portcullis_core::config::RouteAuth;
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
            .map(|name| portcullis_core::config::RouteConfig {
                auth: RouteAuth::Any,
                ..crate::hardening::route(name, &format!("/{name}"), nginx.url(""))
            })
            .collect();
    })
    .await;
    let (id, secret) = register(&srv, "client_secret_basic", &["client_credentials"], &["a"]).await;
    let (s, tok, _) = form(
        &srv,
        "/oauth2/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("resource", &format!("{issuer}/public")),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    let token = tok["access_token"].as_str().unwrap();
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (s, _, b) = crate::hardening::raw_get(&srv, "/public/x", &auth).await;
    assert_eq!((s, b["served"].as_str()), (200, Some("public")), "{b}");
    path_and_header_tricks_fail(&srv, &auth, &id).await;
    srv.stop().await;
}

/// With `auth` (an `Authorization` line for the `public` route), paths that try to reach the
/// `adminonly` route or Portcullis's own endpoints through `public`'s prefix are refused, and
/// forged identity and forwarding headers are replaced before nginx sees them: the identity's
/// subject is `sub`.
pub(crate) async fn path_and_header_tricks_fail(srv: &TestServer, auth: &str, sub: &str) {
    let auth = auth.to_owned();
    for path in [
        "/public/../adminonly/x",
        "/public/%2e%2e/adminonly/x",
        "/public/%2E%2E/adminonly/x",
        "/public/.%2e/adminonly/x",
        "/public/..%2fadminonly/x",
        "/public%2f..%2fadminonly/x",
        "//adminonly/x",
        "/./adminonly/x",
        "/public/./../adminonly/x",
    ] {
        let (s, _, b) = crate::hardening::raw_get(srv, path, &auth).await;
        assert_ne!(b["served"].as_str(), Some("adminonly"), "{path}: {b}");
        assert!(matches!(s, 400 | 401 | 404), "{path}: {s} {b}");
    }
    // Through a route's prefix to Portcullis's own endpoints: served here, never proxied.
    for path in [
        "/public/../oauth2/token",
        "/public/%2e%2e/oauth2/introspect",
    ] {
        let (s, _, b) = crate::hardening::raw_get(srv, path, &auth).await;
        assert_eq!(s, 405, "{path}: {b}");
        assert!(b.get("served").is_none(), "{path} reached nginx: {b}");
    }
    // Forged identity and forwarding headers are replaced: nginx sees the client as the
    // identity's subject and the real peer as X-Forwarded-For.
    let forged = format!(
        "{auth}X-Portcullis-Identity: forged\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n"
    );
    let (s, _, b) = crate::hardening::raw_get(srv, "/public/x", &forged).await;
    assert_eq!(s, 200, "{b}");
    let identity = b["x_portcullis_identity"].as_str().unwrap();
    assert_eq!(jwt_part(identity, 1)["sub"], sub);
    assert_eq!(b["x_forwarded_for"], "127.0.0.1");
    assert_eq!(b["x_real_ip"], "");
}
