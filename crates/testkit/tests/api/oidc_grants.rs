//! What a grant lives through after the code exchange: refresh-token rotation with its
//! grace and reuse detection, RFC 7009 for refresh tokens, PAR, RP-initiated logout and
//! back-channel logout.

use portcullis_core::model::Role;
use portcullis_core::oauth::pkce::Challenge;
use portcullis_testkit::{Backend, STRONG, TestServer, client};
use serde_json::{Value, json};

use crate::oauth::{encode, form, jwt_part, server};
use crate::oidc::{
    Browser, REDIRECT, VERIFIER, authorize_url, code_of, consent, exchange, hidden, query,
    register_app, sign_in,
};
use crate::send;

on_both!(
    refresh_rotation_with_grace,
    pushed_requests_and_logout,
    the_account_page_disconnects_apps,
    every_way_a_sign_in_ends_tells_the_client
);

async fn refresh_rotation_with_grace(be: Backend) {
    let srv = server(be).await;
    srv.user("eve@example.com", STRONG, Role::User).await;
    let (id, secret) = register_app(&srv, "client_secret_post", |_| {}).await;
    let mut b = Browser::new(&srv);
    let a = b.get(&authorize_url(&id, "")).await;
    let signed = sign_in(&mut b, &a, "eve@example.com", STRONG).await;
    let code = code_of(&srv, &consent(&mut b, &signed, true).await);
    let (s, t, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let refresh = |rt: String| {
        let (id, secret) = (id.clone(), secret.clone());
        let srv = &srv;
        async move {
            let (s, v, _) = form(
                srv,
                "/oauth2/token",
                None,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("refresh_token", &rt),
                ],
            )
            .await;
            (s, v)
        }
    };
    let r0 = t["refresh_token"].as_str().unwrap().to_owned();
    // An application's refresh token buys nothing at Portcullis's own API.
    let (s, e) = crate::post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r0}),
    )
    .await;
    assert_eq!(s, 401, "{e}");
    let (s, t1) = refresh(r0.clone()).await;
    assert_eq!(s, 200, "{t1}");
    let r1 = t1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r0, "rotated");
    assert!(t1["id_token"].is_string());
    // The client lost that answer and retries with r0 within the grace: a new pair (the r1
    // it never saw stops working; presenting it later counts as reuse).
    srv.clock.advance(5);
    let (s, t2) = refresh(r0.clone()).await;
    assert_eq!(s, 200, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    let (s, t3) = refresh(r2.clone()).await;
    assert_eq!(s, 200, "{t3}");
    let r3 = t3["refresh_token"].as_str().unwrap().to_owned();
    let (s, t4) = refresh(r3).await;
    assert_eq!(s, 200, "{t4}");
    let r4 = t4["refresh_token"].as_str().unwrap().to_owned();
    // r2's successor was used: presenting r2 again (even within the grace) is reuse, and
    // the family is revoked.
    let (s, e) = refresh(r2).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, e) = refresh(r4).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "family revoked"
    );
    let at = t4["access_token"].as_str().unwrap();
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(at)).await;
    assert_eq!(s, 401);
    assert!(srv.db.dump().contains("auth.token.reuse_detected"));

    // Past the grace a rotated token is reuse at once.
    let code = code_of(&srv, &b.get(&authorize_url(&id, "")).await);
    let (_, t, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let r0 = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, t1) = refresh(r0.clone()).await;
    assert_eq!(s, 200);
    srv.clock
        .advance(portcullis_core::service::REFRESH_GRACE + 1);
    let (s, _) = refresh(r0).await;
    assert_eq!(s, 400);
    let (s, _) = refresh(t1["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(s, 400, "family revoked");

    // RFC 7009 on a refresh token ends its grant.
    let code = code_of(&srv, &b.get(&authorize_url(&id, "")).await);
    let (_, t, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, _, _) = form(
        &srv,
        "/oauth2/revoke",
        None,
        &[
            ("client_id", &id),
            ("client_secret", &secret),
            ("token", &rt),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = refresh(rt).await;
    assert_eq!(s, 400);
}

/// A client's back-channel logout endpoint on loopback: its URL and the bodies it gets.
async fn logout_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bcl", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn pushed_requests_and_logout(be: Backend) {
    let srv = server(be).await;
    srv.user("fay@example.com", STRONG, Role::User).await;
    let (bcl, mut logouts) = logout_receiver().await;
    let (id, secret) = register_app(&srv, "client_secret_basic", |s| {
        s.require_par = Some(true);
        s.backchannel_logout_uri = Some(bcl.clone());
    })
    .await;
    let mut b = Browser::new(&srv);
    // require_par: a front-channel request is refused back to the client.
    let a = b.get(&authorize_url(&id, "")).await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "invalid_request"
    );

    let challenge = Challenge::of_verifier(VERIFIER);
    let (s, par, _) = form(
        &srv,
        "/oauth2/par",
        Some((&id, &secret)),
        &[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("state", "st-1"),
            ("nonce", "n-par"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(s, 201, "{par}");
    let uri = par["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(par["expires_in"].as_i64().unwrap() <= 600);
    // A pushed request with a bad parameter is refused at the push.
    let (s, e, _) = form(
        &srv,
        "/oauth2/par",
        Some((&id, &secret)),
        &[
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));

    let go = format!(
        "/oauth2/authorize?client_id={id}&request_uri={}",
        encode(&uri)
    );
    let a = b.get(&go).await;
    let signed = sign_in(&mut b, &a, "fay@example.com", STRONG).await;
    let code = code_of(&srv, &consent(&mut b, &signed, true).await);
    // The request URI is single-use, and only for its client.
    let again = b.get(&go).await;
    assert_eq!((again.status, again.location.as_deref()), (400, None));
    let (s, t, _) = form(
        &srv,
        "/oauth2/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_part(&id_token, 1)["nonce"], "n-par");
    let at = t["access_token"].as_str().unwrap().to_owned();

    // RP-initiated logout: a registered post-logout URI only; confirm, then back with state.
    let bad = b
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            encode("https://evil.example/")
        ))
        .await;
    assert_eq!((bad.status, bad.location.as_deref()), (400, None));
    let page = b
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
            encode("https://app.example/bye")
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("fay@example.com"));
    let out = b
        .post(
            "/oauth2/logout",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://app.example/bye"),
                ("state", "bye-1"),
            ],
        )
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(
        out.location.as_deref(),
        Some("https://app.example/bye?state=bye-1")
    );
    assert!(!b.has_session(), "the cookie is cleared");
    // Back-channel logout: the client hears of it with a signed logout token.
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), logouts.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap();
    let token = body.strip_prefix("logout_token=").unwrap();
    assert_eq!(jwt_part(token, 0)["typ"], "logout+jwt");
    let lt = jwt_part(token, 1);
    let idc = jwt_part(&id_token, 1);
    assert_eq!(lt["aud"], id.as_str());
    assert_eq!(lt["sid"], idc["sid"]);
    assert_eq!(lt["sub"], idc["sub"]);
    assert!(lt["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(lt.get("nonce").is_none());
    for _ in 0..50 {
        if srv.db.dump().contains("oauth.backchannel_logout.delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(srv.db.dump().contains("oauth.backchannel_logout.delivered"));
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(&at)).await;
    assert_eq!(s, 401, "the grants of the sign-in ended with it");
    // Signed out: the next request needs a sign-in again.
    b.forget_session();
    let (s, par, _) = form(
        &srv,
        "/oauth2/par",
        Some((&id, &secret)),
        &[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(s, 201);
    let a = b
        .get(&format!(
            "/oauth2/authorize?client_id={id}&request_uri={}",
            encode(par["request_uri"].as_str().unwrap())
        ))
        .await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "login_required"
    );
}

/// The hosted account page: signed in (through the hosted sign-in, which returns there), a
/// person sees the applications they allowed and disconnects one; its tokens stop at once.
async fn the_account_page_disconnects_apps(be: Backend) {
    let srv = server(be).await;
    srv.user("ida@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;
    let mut app_browser = Browser::new(&srv);
    let a = app_browser.get(&authorize_url(&id, "")).await;
    let signed = sign_in(&mut app_browser, &a, "ida@example.com", STRONG).await;
    let code = code_of(&srv, &consent(&mut app_browser, &signed, true).await);
    let (s, t) = exchange(&srv, &id, &code).await;
    assert_eq!(s, 200, "{t}");
    let at = t["access_token"].as_str().unwrap().to_owned();

    let mut b = Browser::new(&srv);
    let first = b.get("/oauth2/account").await;
    assert_eq!(first.status, 303);
    let back = sign_in(&mut b, &first, "ida@example.com", STRONG).await;
    assert_eq!(
        back.location.as_deref(),
        Some("/oauth2/account"),
        "{}",
        back.body
    );
    let page = b.get("/oauth2/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Orders &lt;App&gt;"), "{}", page.body);
    assert!(page.body.contains("See your email address"));
    let forged = b
        .post("/oauth2/account", &[("csrf", "forged"), ("client_id", &id)])
        .await;
    assert!(forged.body.contains("The form expired"));
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(&at)).await;
    assert_eq!(s, 200, "a forged form changed nothing");
    let done = b
        .post(
            "/oauth2/account",
            &[("csrf", &hidden(&page.body, "csrf")), ("client_id", &id)],
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Disconnected"));
    assert!(done.body.contains("No application can act for you"));
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(&at)).await;
    assert_eq!(s, 401, "the app's token stopped with the consent");
    let again = b
        .post(
            "/oauth2/account",
            &[("csrf", &hidden(&page.body, "csrf")), ("client_id", &id)],
        )
        .await;
    assert_eq!(again.status, 404);
}

/// A sign-in through the hosted pages and the app's code exchange: the app's access token
/// and the sign-in's `sid`.
async fn app_grant(srv: &TestServer, client_id: &str, email: &str) -> (String, String) {
    let mut b = Browser::new(srv);
    let a = b.get(&authorize_url(client_id, "")).await;
    let signed = sign_in(&mut b, &a, email, STRONG).await;
    // Consent is asked the first time only.
    let asked = signed
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/oauth2/consent"));
    let back = if asked {
        consent(&mut b, &signed, true).await
    } else {
        signed
    };
    let code = code_of(srv, &back);
    let (s, t) = exchange(srv, client_id, &code).await;
    assert_eq!(s, 200, "{t}");
    let sid = jwt_part(t["id_token"].as_str().unwrap(), 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    (t["access_token"].as_str().unwrap().to_owned(), sid)
}

/// The claims of the next logout token the client's endpoint receives.
async fn next_logout(logouts: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), logouts.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap();
    jwt_part(body.strip_prefix("logout_token=").unwrap(), 1)
}

async fn userinfo(srv: &TestServer, at: &str) -> u16 {
    send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(at))
        .await
        .0
}

/// A sign-in can end without the application asking (RP-initiated logout is above): the
/// person revokes the browser session from the API, or an administrator locks the account.
/// Either way the grants that came from it end and the client hears of it by back-channel
/// logout, for that sign-in's `sid`.
async fn every_way_a_sign_in_ends_tells_the_client(be: Backend) {
    let srv = server(be).await;
    let user_id = srv.user("gus@example.com", STRONG, Role::User).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let (bcl, mut logouts) = logout_receiver().await;
    let (id, _) = register_app(&srv, "none", |s| {
        s.backchannel_logout_uri = Some(bcl.clone());
    })
    .await;

    // The person revokes the browser session from the API.
    let (at, sid) = app_grant(&srv, &id, "gus@example.com").await;
    assert_eq!(userinfo(&srv, &at).await, 200);
    let mine = portcullis_testkit::access(&srv.login("gus@example.com", STRONG).await);
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/auth/sessions/{sid}")))
            .bearer_auth(&mine),
    )
    .await;
    assert_eq!(s, 204);
    let lt = next_logout(&mut logouts).await;
    assert_eq!(
        (lt["sid"].as_str(), lt["aud"].as_str()),
        (Some(sid.as_str()), Some(id.as_str()))
    );
    assert_eq!(lt["sub"], user_id.as_str());
    assert_eq!(
        userinfo(&srv, &at).await,
        401,
        "the app's grant ended with the sign-in"
    );

    // An administrator locks the account: every sign-in ends, and the client is told.
    let (at, sid) = app_grant(&srv, &id, "gus@example.com").await;
    let admin = portcullis_testkit::access(&srv.login("root@example.com", STRONG).await);
    let (s, _, _) = send(
        client()
            .post(srv.url(&format!("/api/v1/admin/users/{user_id}/lock")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    let lt = next_logout(&mut logouts).await;
    assert_eq!(lt["sid"].as_str(), Some(sid.as_str()));
    assert_eq!(userinfo(&srv, &at).await, 401);
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "auth.session.revoked" && e.details.contains("sign_in_ended"))
    );
    // Nothing more: one notice per sign-in, none for the API sessions.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), logouts.recv())
            .await
            .is_err()
    );
}
