//! The OpenID provider's authorization-code flow as a browser and a client go through it
//! over real HTTP: the authorization endpoint, the hosted sign-in (password, TOTP,
//! recovery code), consent, the code exchange with PKCE, ID tokens, userinfo, connected
//! apps; and the RFC 9700 checklist (redirect URI mismatch and open redirects, code replay,
//! PKCE downgrade, `iss`, escaping). The helpers here (a browser, sign-in, consent) are
//! shared with `oidc_grants`, `oidc_edges` and `oidc_peers`.

use std::collections::HashMap;

use portcullis_core::clock::Clock;
use portcullis_core::model::Role;
use portcullis_core::oauth::clients::ClientSpec;
use portcullis_core::oauth::pkce::Challenge;
use portcullis_core::service::RequestContext;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::oauth::{encode, form, jwt_part, server};
use crate::send;

on_both!(
    code_flow_end_to_end,
    second_factor_and_step_up,
    the_rfc_9700_checklist
);

pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Registers a client of the code flow; (id, secret).
pub(crate) async fn register_app(
    srv: &TestServer,
    method: &str,
    tweak: impl FnOnce(&mut ClientSpec),
) -> (String, String) {
    let mut spec = ClientSpec {
        name: "Orders <App>".into(),
        redirect_uris: vec![REDIRECT.into(), "https://app.example/cb".into()],
        post_logout_redirect_uris: Some(vec!["https://app.example/bye".into()]),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: method.into(),
        scopes: Some(vec![
            "openid".into(),
            "email".into(),
            "profile".into(),
            "orders:read".into(),
        ]),
        ..ClientSpec::default()
    };
    tweak(&mut spec);
    let r = srv
        .services
        .register_oauth_client("cli", &RequestContext::default(), &spec)
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

/// A browser: no redirects followed, cookies kept by name.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    base: String,
}

/// One answer: status, `Location`, body.
pub(crate) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub(crate) fn new(srv: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            base: srv.url(""),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base.trim_end_matches('/'))
        }
    }

    async fn take(&mut self, rb: reqwest::RequestBuilder) -> Answer {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let rb = if jar.is_empty() {
            rb
        } else {
            rb.header("cookie", jar.join("; "))
        };
        let res = rb.send().await.unwrap();
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        Answer {
            status,
            location,
            body,
            headers,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let rb = self.http.get(self.url(path));
        self.take(rb).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let rb = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.take(rb).await
    }

    pub(crate) fn has_session(&self) -> bool {
        self.cookies.contains_key("pcl_session")
    }

    pub(crate) fn forget_session(&mut self) {
        self.cookies.remove("pcl_session");
    }
}

/// The value of hidden input `name` in a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// The query parameters of a redirect.
pub(crate) fn query(location: &str) -> HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// An authorization request of `client_id` (PKCE with [`VERIFIER`]), and `extra`.
pub(crate) fn authorize_url(client_id: &str, extra: &str) -> String {
    let challenge = Challenge::of_verifier(VERIFIER);
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20email%20profile\
         &state=st-1&nonce=n-1&code_challenge={}&code_challenge_method=S256{extra}",
        encode(REDIRECT),
        challenge.as_str()
    )
}

/// Signs in on the hosted page the answer `a` sent the browser to; the next answer.
pub(crate) async fn sign_in(b: &mut Browser, a: &Answer, email: &str, password: &str) -> Answer {
    let to = a.location.clone().expect("a redirect to the sign-in page");
    assert!(to.starts_with("/oauth2/signin?req="), "{to}");
    let page = b.get(&to).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"),
        "{csp}"
    );
    assert!(page.body.contains("integrity=\"sha384-"));
    b.post(
        "/oauth2/signin",
        &[
            ("req", &hidden(&page.body, "req")),
            ("csrf", &hidden(&page.body, "csrf")),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

/// Allows on the consent page the answer `a` sent the browser to.
pub(crate) async fn consent(b: &mut Browser, a: &Answer, allow: bool) -> Answer {
    let to = a.location.clone().expect("a redirect to the consent page");
    assert!(to.starts_with("/oauth2/consent?req="), "{to}");
    let page = b.get(&to).await;
    assert_eq!(page.status, 200, "{}", page.body);
    b.post(
        "/oauth2/consent",
        &[
            ("req", &hidden(&page.body, "req")),
            ("csrf", &hidden(&page.body, "csrf")),
            ("decision", if allow { "allow" } else { "deny" }),
        ],
    )
    .await
}

/// The code in a redirect to the client, after checking `state` and `iss`.
pub(crate) fn code_of(srv: &TestServer, a: &Answer) -> String {
    assert_eq!(a.status, 303, "{}", a.body);
    let to = a.location.clone().unwrap();
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"), "{to}");
    assert_eq!(q["iss"], srv.config.server.public_url, "RFC 9207");
    q.get("code")
        .unwrap_or_else(|| panic!("no code: {to}"))
        .clone()
}

/// Exchanges a code as a public client.
pub(crate) async fn exchange(srv: &TestServer, client_id: &str, code: &str) -> (u16, Value) {
    let (s, v, _) = form(
        srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    (s, v)
}

async fn code_flow_end_to_end(be: Backend) {
    let srv = server(be).await;
    let issuer = srv.config.server.public_url.clone();
    srv.user("ada@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;

    // Discovery names every endpoint it serves.
    let (s, d, _) = send(client().get(srv.url("/.well-known/openid-configuration"))).await;
    assert_eq!(s, 200);
    for (k, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("pushed_authorization_request_endpoint", "/oauth2/par"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[k], format!("{issuer}{path}"), "{k}");
    }
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);

    let mut b = Browser::new(&srv);
    let a = b.get(&authorize_url(&id, "&login_hint=%3Cb%3Eada")).await;
    assert_eq!(a.status, 303);
    // The hint is shown escaped, never as markup.
    let page = b.get(a.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("value=\"&lt;b&gt;ada\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Orders &lt;App&gt;"));
    assert!(!page.body.contains("<b>ada"));

    // A wrong password: the page again, no session.
    let a2 = sign_in(&mut b, &a, "ada@example.com", "wrong password!").await;
    assert_eq!(a2.status, 401);
    assert!(a2.body.contains("Wrong email or password"));
    assert!(!b.has_session());

    let signed = sign_in(&mut b, &a, "ada@example.com", STRONG).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(b.has_session());
    let consented = consent(&mut b, &signed, true).await;
    let code = code_of(&srv, &consented);

    let (s, t) = exchange(&srv, &id, &code).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "openid email profile");
    let idt = jwt_part(t["id_token"].as_str().unwrap(), 1);
    assert_eq!(idt["iss"], issuer.as_str());
    assert_eq!(idt["aud"], id.as_str());
    assert_eq!(idt["nonce"], "n-1");
    assert_eq!(idt["amr"], json!(["pwd"]));
    assert_eq!(idt["acr"], "urn:portcullis:acr:1fa");
    assert!(idt["auth_time"].as_i64().unwrap() > 0);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(at, 0)["typ"], "at+jwt");
    let atc = jwt_part(at, 1);
    assert_eq!(atc["sub"], idt["sub"]);
    assert_eq!(atc["client_id"], id.as_str());
    assert_eq!(atc["aud"], id.as_str());
    assert!(
        atc.get("role").is_none(),
        "no Portcullis role in an app's token"
    );
    // Not a token for Portcullis's own API.
    let (s, _, _) = send(client().get(srv.url("/api/v1/auth/me")).bearer_auth(at)).await;
    assert_eq!(s, 401);

    let (s, info, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(at)).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["sub"], idt["sub"]);
    assert_eq!(info["email"], "ada@example.com");
    let (s, _, h) = send(
        client()
            .get(srv.url("/oauth2/userinfo"))
            .bearer_auth("x.y.z"),
    )
    .await;
    assert_eq!(s, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Signed in and consented: prompt=none comes straight back with a code.
    let again = b.get(&authorize_url(&id, "&prompt=none")).await;
    let code2 = code_of(&srv, &again);
    assert_ne!(code2, code);
    // prompt=consent asks again; prompt=login signs in again.
    let c = b.get(&authorize_url(&id, "&prompt=consent")).await;
    assert!(c.location.unwrap().starts_with("/oauth2/consent"));
    let l = b.get(&authorize_url(&id, "&prompt=login")).await;
    assert!(l.location.clone().unwrap().starts_with("/oauth2/signin"));
    // max_age=0 too, once a second has passed.
    srv.clock.advance(2);
    let m = b.get(&authorize_url(&id, "&max_age=0")).await;
    assert!(m.location.unwrap().starts_with("/oauth2/signin"));
    // A declined consent goes back as access_denied.
    let mut other = Browser::new(&srv);
    let a = other.get(&authorize_url(&id, "")).await;
    let signed = sign_in(&mut other, &a, "ada@example.com", STRONG).await;
    // Consent is remembered per person: straight to the client.
    assert!(signed.location.unwrap().starts_with(REDIRECT));
    let d = other.get(&authorize_url(&id, "&prompt=consent")).await;
    let denied = consent(&mut other, &d, false).await;
    let q = query(denied.location.as_deref().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], issuer.as_str());

    // Without a browser session prompt=none says login_required.
    let mut fresh = Browser::new(&srv);
    let n = fresh.get(&authorize_url(&id, "&prompt=none")).await;
    assert_eq!(
        query(n.location.as_deref().unwrap())["error"],
        "login_required"
    );

    // Connected apps: listed, and withdrawing consent ends the app's tokens.
    let api = access(&srv.login("ada@example.com", STRONG).await);
    let (s, apps, _) = send(
        client()
            .get(srv.url("/api/v1/auth/connected-apps"))
            .bearer_auth(&api),
    )
    .await;
    assert_eq!(s, 200, "{apps}");
    assert_eq!(apps["connected_apps"][0]["client_id"], id.as_str());
    assert_eq!(apps["connected_apps"][0]["name"], "Orders <App>");
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/auth/connected-apps/{id}")))
            .bearer_auth(&api),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(at)).await;
    assert_eq!(s, 401, "the app's token stopped with the consent");
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &id),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let audit = srv.db.dump();
    for action in [
        "oauth.authorization.granted",
        "oauth.consent.granted",
        "oauth.consent.denied",
        "oauth.consent.revoked",
        "oauth.token_issued",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
}

/// Enrols TOTP for `email` through the API; its secret and recovery codes.
async fn with_totp(srv: &TestServer, email: &str) -> (String, Vec<String>) {
    let at = access(&srv.login(email, STRONG).await);
    crate::mfa::enrol(srv, &at).await
}

async fn second_factor_and_step_up(be: Backend) {
    let srv = server(be).await;
    srv.user("bob@example.com", STRONG, Role::User).await;
    srv.user("cy@example.com", STRONG, Role::User).await;
    let (secret, codes) = with_totp(&srv, "bob@example.com").await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;

    // Password, then the TOTP page; a wrong code keeps the person there.
    let mut b = Browser::new(&srv);
    let a = b.get(&authorize_url(&id, "")).await;
    let mfa = sign_in(&mut b, &a, "bob@example.com", STRONG).await;
    assert_eq!(mfa.status, 200, "{}", mfa.body);
    assert!(mfa.body.contains("one-time-code"));
    assert!(!b.has_session(), "no session before the second factor");
    let req = hidden(&mfa.body, "req");
    let csrf = hidden(&mfa.body, "csrf");
    let wrong = b
        .post(
            "/oauth2/signin/mfa",
            &[("req", &req), ("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    srv.clock.advance(31);
    let code = crate::mfa::pyotp(&secret, srv.clock.now());
    let ok = b
        .post(
            "/oauth2/signin/mfa",
            &[("req", &req), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert!(b.has_session());
    let consented = consent(&mut b, &ok, true).await;
    let (s, t) = exchange(&srv, &id, &code_of(&srv, &consented)).await;
    assert_eq!(s, 200, "{t}");
    let idt = jwt_part(t["id_token"].as_str().unwrap(), 1);
    assert_eq!(idt["amr"], json!(["pwd", "otp"]));
    assert_eq!(idt["acr"], "urn:portcullis:acr:2fa");

    // A recovery code works as the second factor, once.
    let mut r = Browser::new(&srv);
    let a = r.get(&authorize_url(&id, "")).await;
    let mfa = sign_in(&mut r, &a, "bob@example.com", STRONG).await;
    let done = r
        .post(
            "/oauth2/signin/mfa",
            &[
                ("req", &hidden(&mfa.body, "req")),
                ("csrf", &hidden(&mfa.body, "csrf")),
                ("recovery_code", &codes[0]),
            ],
        )
        .await;
    code_of(&srv, &done);

    // acr_values asks for a second factor: a one-factor account is refused, clearly.
    let acr = "&acr_values=urn%3Aportcullis%3Aacr%3A2fa";
    let mut c = Browser::new(&srv);
    let a = c.get(&authorize_url(&id, acr)).await;
    let signed = sign_in(&mut c, &a, "cy@example.com", STRONG).await;
    let q = query(signed.location.as_deref().unwrap());
    assert_eq!(q["error"], "access_denied", "{q:?}");
    // A one-factor session is asked to sign in again when 2FA is wanted.
    let a = c.get(&authorize_url(&id, "")).await;
    assert!(a.location.unwrap().starts_with("/oauth2/consent"));
    let a = c
        .get(&authorize_url(&id, &format!("{acr}&prompt=none")))
        .await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "interaction_required"
    );
}

async fn the_rfc_9700_checklist(be: Backend) {
    let srv = server(be).await;
    srv.user("dee@example.com", STRONG, Role::User).await;
    let (id, _) = register_app(&srv, "none", |_| {}).await;
    let (conf, secret) = register_app(&srv, "client_secret_basic", |_| {}).await;
    let mut b = Browser::new(&srv);

    // Redirect URI mismatch and open-redirect attempts: an error page, never a redirect.
    for evil in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/cb/../evil",
        "http://127.0.0.1:9/cb%2F..%2Fevil",
        "http://127.0.0.1:9/CB",
        "http://127.0.0.1:9/cb?x=1",
        "http://127.0.0.1.evil.example/cb",
        "//evil.example/cb",
        "javascript:alert(1)",
    ] {
        let url = authorize_url(&id, "").replace(
            &format!("redirect_uri={}", encode(REDIRECT)),
            &format!("redirect_uri={}", encode(evil)),
        );
        let a = b.get(&url).await;
        assert_eq!((a.status, a.location.as_deref()), (400, None), "{evil}");
        assert!(
            !a.body.contains("evil.example"),
            "the page does not echo it"
        );
    }
    let a = b
        .get("/oauth2/authorize?client_id=nope&response_type=code")
        .await;
    assert_eq!((a.status, a.location.as_deref()), (400, None));
    // An XSS attempt in a parameter shown back: escaped on the error page.
    let a = b
        .get(&authorize_url(
            &id,
            "&prompt=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ))
        .await;
    let q = query(a.location.as_deref().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["iss"], srv.config.server.public_url);

    // PKCE downgrade: no challenge, plain, and a verifier for the wrong challenge.
    let no_pkce = format!(
        "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={}&state=s",
        encode(REDIRECT)
    );
    let a = b.get(&no_pkce).await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "invalid_request"
    );
    let a = b
        .get(&format!(
            "{no_pkce}&code_challenge={VERIFIER}&code_challenge_method=plain"
        ))
        .await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "invalid_request"
    );
    // Implicit and hybrid are not offered.
    let a = b
        .get(&authorize_url(&id, "").replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(
        query(a.location.as_deref().unwrap())["error"],
        "unsupported_response_type"
    );

    let a = b.get(&authorize_url(&id, "")).await;
    let signed = sign_in(&mut b, &a, "dee@example.com", STRONG).await;
    let code = code_of(&srv, &consent(&mut b, &signed, true).await);
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "no verifier"
    );
    // The failed attempt used the code up; a fresh one for the rest.
    let a = b.get(&authorize_url(&id, "")).await;
    let code = code_of(&srv, &a);
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"x".repeat(43)),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );

    // A code used twice revokes what the first use issued.
    let code = code_of(&srv, &b.get(&authorize_url(&id, "")).await);
    let (s, t) = exchange(&srv, &id, &code).await;
    assert_eq!(s, 200);
    let at = t["access_token"].as_str().unwrap().to_owned();
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(&at)).await;
    assert_eq!(s, 200);
    let (s, e) = exchange(&srv, &id, &code).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = send(client().get(srv.url("/oauth2/userinfo")).bearer_auth(&at)).await;
    assert_eq!(s, 401, "the replay revoked the first exchange's tokens");
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &id),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert!(srv.db.dump().contains("oauth.code_reused"));

    // Another client cannot redeem a code; a confidential client must authenticate.
    let code = code_of(&srv, &b.get(&authorize_url(&id, "")).await);
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        Some((&conf, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let a = b.get(&authorize_url(&conf, "")).await;
    let code = code_of(&srv, &consent(&mut b, &a, true).await);
    let (s, e) = exchange(&srv, &conf, &code).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    // A redirect_uri that differs from the request's.
    let code = code_of(&srv, &b.get(&authorize_url(&conf, "")).await);
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        Some((&conf, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // An expired code.
    let code = code_of(&srv, &b.get(&authorize_url(&conf, "")).await);
    srv.clock.advance(61);
    let (s, e, _) = form(
        &srv,
        "/oauth2/token",
        Some((&conf, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));

    // A form posted without this browser's CSRF token (or from another origin) is refused.
    let a = b.get(&authorize_url(&id, "&prompt=login")).await;
    let page = b.get(a.location.as_deref().unwrap()).await;
    let forged = b
        .post(
            "/oauth2/signin",
            &[
                ("req", &hidden(&page.body, "req")),
                ("csrf", "forged"),
                ("email", "dee@example.com"),
                ("password", STRONG),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
}
