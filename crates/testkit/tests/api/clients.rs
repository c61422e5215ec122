//! The OAuth client registry: `/api/v1/admin/clients` and `portcullis clients create`.

use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{call, post};

on_both!(
    clients_are_registered_changed_and_deleted,
    registrations_break_no_rule
);

const PATH: &str = "/api/v1/admin/clients";

async fn admin(srv: &TestServer) -> String {
    srv.user("root@example.com", STRONG, Role::Admin).await;
    access(&srv.login("root@example.com", STRONG).await)
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Create (secret shown once, stored only as a keyed hash), read, list, change, delete;
/// every change audited without the secret; users and stale sessions refused.
async fn clients_are_registered_changed_and_deleted(b: Backend) {
    let srv = TestServer::start(b).await;
    let token = admin(&srv).await;
    let (s, web) = post(
        &srv,
        PATH,
        Some(&token),
        json!({
            "name": "Shop",
            "redirect_uris": ["https://shop.example/cb", "http://127.0.0.1/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scopes": ["openid", "email", "orders:read"],
            "require_pkce": true,
        }),
    )
    .await;
    assert_eq!(s, 201, "{web}");
    let id = web["client_id"].as_str().unwrap().to_owned();
    let secret = web["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256 bits: {secret}");
    assert_eq!(web["client_secret_expires_at"], 0);
    assert_eq!(web["response_types"], json!(["code"]));
    assert_eq!(web["require_pkce"], true);
    assert_eq!(web["require_par"], false);
    assert_eq!(web["scopes"], json!(["openid", "email", "orders:read"]));

    // Stored hashed: the secret is nowhere in the database, and never shown again.
    assert!(!srv.db.dump().contains(&secret), "secret stored in clear");
    let (s, read) = call(
        &srv,
        Method::GET,
        &format!("{PATH}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(read.get("client_secret").is_none(), "{read}");
    assert_eq!(read["redirect_uris"], web["redirect_uris"]);
    let stored = srv.services.oauth_client(&id).await.unwrap();
    assert!(srv.services.client_secret_matches(&stored, &secret));
    assert!(!srv.services.client_secret_matches(&stored, &secret[1..]));

    // A public client: no secret; a service: client_credentials without redirect URIs.
    let (s, spa) = post(
        &srv,
        PATH,
        Some(&token),
        json!({"name": "SPA", "redirect_uris": ["https://app.example/cb"],
               "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(s, 201, "{spa}");
    assert!(spa.get("client_secret").is_none());
    assert!(spa.get("client_secret_expires_at").is_none());
    assert_eq!(spa["scopes"], json!(["openid"]), "the default scope");
    let (s, svc) = post(
        &srv,
        PATH,
        Some(&token),
        json!({"name": "Billing", "redirect_uris": [], "grant_types": ["client_credentials"],
               "token_endpoint_auth_method": "client_secret_post", "scopes": ["invoices:write"]}),
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    assert_eq!(svc["response_types"], json!([]));

    let (s, list) = call(
        &srv,
        Method::GET,
        &format!("{PATH}?limit=2"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["clients"].as_array().unwrap().len(), 2);
    let cursor = list["next_cursor"].as_str().unwrap();
    let (s, rest) = call(
        &srv,
        Method::GET,
        &format!("{PATH}?limit=2&cursor={cursor}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(rest["clients"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    assert!(list.to_string().find(&secret).is_none());

    // A change: lists replaced whole, the rest kept; the method is not changeable.
    let (s, changed) = call(
        &srv,
        Method::PATCH,
        &format!("{PATH}/{id}"),
        Some(&token),
        Some(
            json!({"name": "Shop (EU)", "redirect_uris": ["https://eu.shop.example/cb"],
                    "require_dpop": true, "backchannel_logout_uri": "https://shop.example/bcl"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["name"], "Shop (EU)");
    assert_eq!(
        changed["redirect_uris"],
        json!(["https://eu.shop.example/cb"])
    );
    assert_eq!(changed["require_dpop"], true);
    assert_eq!(changed["scopes"], web["scopes"]);
    assert_eq!(
        changed["backchannel_logout_uri"],
        "https://shop.example/bcl"
    );
    let stored = srv.services.oauth_client(&id).await.unwrap();
    assert!(
        srv.services.client_secret_matches(&stored, &secret),
        "the secret survives a change"
    );
    let (s, cleared) = call(
        &srv,
        Method::PATCH,
        &format!("{PATH}/{id}"),
        Some(&token),
        Some(json!({"backchannel_logout_uri": null})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(cleared["backchannel_logout_uri"].is_null());
    let (s, body) = call(
        &srv,
        Method::PATCH,
        &format!("{PATH}/{id}"),
        Some(&token),
        Some(json!({"token_endpoint_auth_method": "none"})),
    )
    .await;
    assert_eq!(
        (s, fields(&body)),
        (400, vec!["token_endpoint_auth_method".to_owned()])
    );
    let (s, body) = call(
        &srv,
        Method::PATCH,
        &format!("{PATH}/{id}"),
        Some(&token),
        Some(json!({"redirect_uris": []})),
    )
    .await;
    assert_eq!(
        (s, fields(&body)),
        (400, vec!["redirect_uris".to_owned()]),
        "the code grant needs one"
    );

    // Users are refused; a stale session must step up first.
    srv.user("quin@example.com", STRONG, Role::User).await;
    let user = access(&srv.login("quin@example.com", STRONG).await);
    let (s, _) = call(&srv, Method::GET, PATH, Some(&user), None).await;
    assert_eq!(s, 403);
    let (s, _) = post(&srv, PATH, Some(&user), json!({})).await;
    assert_eq!(s, 403);
    srv.clock.advance(601);
    let (s, body) = call(
        &srv,
        Method::DELETE,
        &format!("{PATH}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    let token = access(&srv.login("root@example.com", STRONG).await);

    let (s, _) = call(
        &srv,
        Method::DELETE,
        &format!("{PATH}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &srv,
        Method::GET,
        &format!("{PATH}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &srv,
        Method::DELETE,
        &format!("{PATH}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &srv,
        Method::GET,
        &format!("{PATH}/not-an-id"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Audited, in order, never with the secret.
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action.starts_with("oauth.client."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "oauth.client.created",
            "oauth.client.created",
            "oauth.client.created",
            "oauth.client.updated",
            "oauth.client.updated",
            "oauth.client.deleted"
        ]
    );
    assert!(events.iter().all(|e| !e.details.contains(&secret)));
    srv.stop().await;
}

/// What RFC 9700 and the issue rule out is refused at registration, naming the field.
async fn registrations_break_no_rule(b: Backend) {
    let srv = TestServer::start(b).await;
    let token = admin(&srv).await;
    let base = json!({
        "name": "App",
        "redirect_uris": ["https://app.example/cb"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let with = |patch: Value| {
        let mut b = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (json!({"grant_types": ["implicit"]}), "grant_types"),
        (json!({"grant_types": ["password"]}), "grant_types"),
        (json!({"grant_types": []}), "grant_types"),
        (
            json!({"redirect_uris": ["https://*.app.example/cb"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)//"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["https://user:pw@app.example/cb"]}),
            "redirect_uris[0]",
        ),
        (json!({"redirect_uris": []}), "redirect_uris"),
        (
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_jwt"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "jwks",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}}),
            "jwks",
        ),
        (
            json!({"jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a"}]}}),
            "jwks",
        ),
        (json!({"require_pkce": false}), "require_pkce"),
        (json!({"scopes": ["has space"]}), "scopes"),
        (json!({"name": "   "}), "name"),
        (
            json!({"backchannel_logout_uri": "ftp://app.example/x"}),
            "backchannel_logout_uri",
        ),
    ];
    for (patch, field) in cases {
        let (s, body) = post(&srv, PATH, Some(&token), with(patch.clone())).await;
        assert_eq!(s, 400, "{patch}: {body}");
        assert_eq!(body["code"], "invalid_request", "{patch}: {body}");
        assert!(fields(&body).iter().any(|f| f == field), "{patch}: {body}");
    }
    // Unknown members and wrong types are refused too.
    let (s, _) = post(
        &srv,
        PATH,
        Some(&token),
        with(json!({"client_secret": "mine"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &srv,
        PATH,
        Some(&token),
        with(json!({"require_par": "yes"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, list) = call(&srv, Method::GET, PATH, Some(&token), None).await;
    assert_eq!(
        (s, list["clients"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    srv.stop().await;
}

/// `portcullis clients create` prints the API's JSON, secret included, and the client is
/// there for the API; a bad registration exits 2 naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_create_on_the_command_line() {
    let db = portcullis_testkit::TestDb::new(Backend::Sqlite).await;
    let cfg = db.write_config(&db.config_toml());
    let cfg = cfg.to_str().unwrap().to_owned();
    let (out, public) = tokio::task::spawn_blocking(move || {
        let (code, out, err) = crate::cli::run(
            &[
                "clients",
                "create",
                "--name",
                "Shop",
                "--redirect-uri",
                "https://shop.example/cb",
                "--scope",
                "openid",
                "--scope",
                "email",
                "--config",
                &cfg,
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{out}{err}");
        let (code, public, err) = crate::cli::run(
            &[
                "--config",
                &cfg,
                "clients",
                "create",
                "--name",
                "CLI tool",
                "--public",
                "--redirect-uri",
                "http://127.0.0.1/callback",
                "--grant",
                "authorization_code",
            ],
            None,
            &[],
        );
        assert_eq!(code, 0, "{public}{err}");
        let (code, _, err) = crate::cli::run(
            &[
                "--config",
                &cfg,
                "clients",
                "create",
                "--name",
                "Bad",
                "--public",
                "--grant",
                "client_credentials",
            ],
            None,
            &[],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("grant_types"), "{err}");
        (out, public)
    })
    .await
    .unwrap();
    let shop: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shop["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        shop["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(shop["scopes"], json!(["openid", "email"]));
    assert_eq!(shop["created_by"], "cli");
    let secret = shop["client_secret"].as_str().unwrap();
    let public: Value = serde_json::from_str(public.trim()).unwrap();
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert!(public.get("client_secret").is_none());

    let srv = TestServer::start_on(db, portcullis_testkit::FakeClock::new(), |_| {}).await;
    let stored = srv
        .services
        .oauth_client(shop["client_id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(srv.services.client_secret_matches(&stored, secret));
    let token = admin(&srv).await;
    let (s, list) = call(&srv, Method::GET, PATH, Some(&token), None).await;
    assert_eq!(
        (s, list["clients"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "oauth.client.created" && e.actor.as_deref() == Some("cli"))
            .count(),
        2
    );
    srv.stop().await;
}
