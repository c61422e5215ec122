//! The admin console (`/console`) and the API reference (`/docs`).
//!
//! The console signs in through Portcullis's own OpenID provider as a client of itself
//! (authorization code, PKCE, `acr_values` asking for a second factor), and only an
//! administrator with a second factor, calling from `admin.allowed_ips`, gets in. Its
//! session is an API access token in an HttpOnly `SameSite=Strict` cookie that page
//! scripts cannot read; the API honours it only on requests carrying the console's header
//! (which a form or a cross-site request cannot send), and asks for a fresh sign-in
//! before any change once the sign-in is older than `auth.step_up_max_age_seconds`.
//!
//! Pages are server-rendered shells; the console's own script (compiled in, SRI-pinned,
//! CSP nonce, Trusted Types) fills them from the JSON admin API with DOM calls only, and
//! checks audit-log proofs with WebCrypto against a verifier key the admin pins.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::Error;
use portcullis_core::model::Role;
use portcullis_core::oauth::authorize::ACR_2FA;
use portcullis_core::service::{
    AUTHORIZE_PATH, CONSOLE_CALLBACK_PATH, CONSOLE_CLIENT_ID, CONSOLE_PATH, Principal,
};
use portcullis_http::Edge;
use portcullis_http::context::cookie;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Digest;
use std::sync::LazyLock;

use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{self, Asset, esc, see_other};

/// The header the console's script sends with every API call: without it the console's
/// cookie opens nothing (a form post or a cross-site request cannot set it).
pub const CONSOLE_HEADER: &str = "x-portcullis-console";
const SESSION_COOKIE: &str = "pcl_console";
const FLOW_COOKIE: &str = "pcl_console_flow";
const ASSETS: &str = "/console/assets";

/// The console's pages: path segment, title.
pub const PAGES: [(&str, &str); 11] = [
    ("", "Dashboard"),
    ("users", "Users"),
    ("service-accounts", "Service accounts and API keys"),
    ("clients", "OAuth clients"),
    ("routes", "Gateway routes"),
    ("bans", "Bans"),
    ("alerts", "Alerts"),
    ("keys", "Key management"),
    ("audit", "Audit log"),
    ("approvals", "Approvals"),
    ("report", "Compliance report"),
];

static CONSOLE_JS: LazyLock<Asset> = LazyLock::new(|| {
    pages::asset(
        include_bytes!("../pages/assets/console.js"),
        "text/javascript; charset=utf-8",
    )
});
static CONSOLE_CSS: LazyLock<Asset> = LazyLock::new(|| {
    pages::asset(
        include_bytes!("../pages/assets/console.css"),
        "text/css; charset=utf-8",
    )
});
static DOCS_JS: LazyLock<Asset> = LazyLock::new(|| {
    pages::asset(
        include_bytes!("../pages/assets/docs.js"),
        "text/javascript; charset=utf-8",
    )
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONSOLE_PATH, get(home))
        .route("/console/{page}", get(page))
        .route("/console/login", get(login))
        .route(CONSOLE_CALLBACK_PATH, get(callback))
        .route("/console/logout", post(logout))
        .route("/console/report.html", get(report_html))
        .route("/console/report.pdf", get(report_pdf))
        .route(
            "/console/assets/console.js",
            get(|| async { pages::serve(&CONSOLE_JS) }),
        )
        .route(
            "/console/assets/console.css",
            get(|| async { pages::serve(&CONSOLE_CSS) }),
        )
        .route("/docs", get(docs))
        .route(
            "/docs/assets/docs.js",
            get(|| async { pages::serve(&DOCS_JS) }),
        )
}

fn secure(edge: &Edge) -> bool {
    edge.web.public_url.starts_with("https://")
}

fn cookie_name(edge: &Edge, base: &str) -> String {
    if secure(edge) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn set_cookie(edge: &Edge, base: &str, value: &str, same_site: &str, max_age: i64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}{}; Max-Age={max_age}",
        cookie_name(edge, base),
        if secure(edge) { "; Secure" } else { "" },
    )
}

fn session_token<'h>(edge: &Edge, h: &'h HeaderMap) -> Option<&'h str> {
    cookie(h, &cookie_name(edge, SESSION_COOKIE)).filter(|t| !t.is_empty())
}

fn allowed_ip(edge: &Edge, ctx: &portcullis_core::service::RequestContext) -> bool {
    ctx.ip
        .is_some_and(|ip| edge.web.admin_allowed_ips.iter().any(|n| n.contains(&ip)))
}

/// The administrator of a console cookie, when it is one (with a second factor).
fn console_admin(edge: &Edge, h: &HeaderMap) -> Option<Principal> {
    let p = edge.svc.authenticate(session_token(edge, h)?).ok()?;
    (p.role == Role::Admin && p.has_second_factor() && !p.password_change).then_some(p)
}

/// A page of the console's own layout, with its CSP nonce and the console's assets.
fn render(
    status: StatusCode,
    nonce: &str,
    title: &str,
    current: Option<&str>,
    body: &str,
) -> Response {
    let nav = match current {
        None => String::new(),
        Some(cur) => {
            let mut n = String::from(r#"<nav aria-label="Console"><ul>"#);
            for (slug, t) in PAGES {
                let href = if slug.is_empty() {
                    CONSOLE_PATH.to_owned()
                } else {
                    format!("{CONSOLE_PATH}/{slug}")
                };
                let here = if slug == cur {
                    r#" aria-current="page""#
                } else {
                    ""
                };
                n.push_str(&format!(
                    r#"<li><a href="{href}"{here}>{}</a></li>"#,
                    esc(t)
                ));
            }
            n.push_str(r#"</ul><p><button type="button" id="signout" class="secondary">Sign out</button></p></nav>"#);
            n
        }
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · Portcullis console</title>
<link rel="stylesheet" href="{ASSETS}/console.css" integrity="{css}">
<script type="module" src="{ASSETS}/console.js" integrity="{js}" nonce="{nonce}"></script></head>
<body><header><p class="brand"><a href="{CONSOLE_PATH}">Portcullis</a> console</p><p id="who" class="muted"></p></header>
<div class="layout">{nav}<main id="main" data-page="{page}"><h1>{title}</h1>
{body}</main></div></body></html>"#,
        title = esc(title),
        css = CONSOLE_CSS.integrity,
        js = CONSOLE_JS.integrity,
        page = esc(current.unwrap_or("none")),
    );
    secured(status, nonce, html)
}

/// An HTML response with the console's CSP (nonce, no inline code, Trusted Types).
fn secured(status: StatusCode, nonce: &str, html: String) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'nonce-{nonce}'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    );
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

fn notice(
    s: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
    link: (&str, &str),
) -> Response {
    let body = format!(
        r#"<p>{}</p><p><a href="{}">{}</a></p>"#,
        esc(text),
        esc(link.0),
        esc(link.1)
    );
    render(status, &s.svc.random_token(), title, None, &body)
}

fn refused_ip(s: &AppState) -> Response {
    notice(
        s,
        StatusCode::FORBIDDEN,
        "Not from this address",
        "The console answers only addresses in admin.allowed_ips.",
        ("/", "Leave"),
    )
}

/// `GET /console`
async fn home(State(s): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap) -> Response {
    shell(&s, &ctx, &headers, "").await
}

/// `GET /console/{page}`
async fn page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    shell(&s, &ctx, &headers, &slug).await
}

async fn shell(
    s: &AppState,
    ctx: &portcullis_core::service::RequestContext,
    headers: &HeaderMap,
    slug: &str,
) -> Response {
    let Some((slug, title)) = PAGES.iter().find(|(p, _)| *p == slug) else {
        return notice(
            s,
            StatusCode::NOT_FOUND,
            "No such page",
            "The console has no page here.",
            (CONSOLE_PATH, "To the dashboard"),
        );
    };
    if !allowed_ip(s.edge(), ctx) {
        return refused_ip(s);
    }
    if console_admin(s.edge(), headers).is_none() {
        let back = if slug.is_empty() {
            CONSOLE_PATH.to_owned()
        } else {
            format!("{CONSOLE_PATH}/{slug}")
        };
        let issuer = s.svc.issuer().trim_end_matches('/').to_owned();
        return see_other(&format!("{issuer}/console/login?return={back}"), Vec::new());
    }
    let body = format!(
        r#"<div id="view" aria-live="polite"><p class="muted">Loading…</p></div>
<noscript><p>The console needs JavaScript (its own, served from here).</p></noscript>
<template id="step-up-age" data-seconds="{}"></template>"#,
        s.svc.settings().step_up_max_age
    );
    render(
        StatusCode::OK,
        &s.svc.random_token(),
        title,
        Some(slug),
        &body,
    )
}

/// `GET /console/report.html` and `.pdf`: the compliance report for the console's admin
/// (a top-level navigation, so by the console's cookie alone: it reads, never changes).
async fn report(
    s: &AppState,
    ctx: &portcullis_core::service::RequestContext,
    h: &HeaderMap,
    pdf: bool,
) -> Response {
    if !allowed_ip(s.edge(), ctx) {
        return refused_ip(s);
    }
    if console_admin(s.edge(), h).is_none() {
        return see_other("/console/login?return=/console/report", Vec::new());
    }
    match super::dashboard::report_response(s, pdf).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn report_html(State(s): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap) -> Response {
    report(&s, &ctx, &headers, false).await
}

async fn report_pdf(State(s): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap) -> Response {
    report(&s, &ctx, &headers, true).await
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(rename = "return")]
    back: Option<String>,
    fresh: Option<String>,
}

/// A path inside the console to return to, or the dashboard.
fn console_return(r: Option<&str>) -> String {
    match r {
        Some(p)
            if (p == CONSOLE_PATH || p.starts_with("/console/"))
                && p.len() <= 200
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-_?=&.%".contains(&b))
                && !p.contains("//")
                && !p.contains("..") =>
        {
            p.to_owned()
        }
        _ => CONSOLE_PATH.to_owned(),
    }
}

/// `GET /console/login`: to the authorization endpoint as the console client (PKCE S256,
/// a second factor asked; `fresh=1` asks for a new sign-in, the console's step-up).
async fn login(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if !allowed_ip(s.edge(), &ctx) {
        return refused_ip(&s);
    }
    // The sign-in's cookies belong to the public URL's origin, where the provider sends the
    // browser back: a console opened under another name (127.0.0.1 for localhost) moves
    // there first.
    let public = url::Url::parse(&s.web.public_url).ok();
    let here = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let (Some(p), Some(here)) = (&public, here) {
        let authority = match p.port() {
            Some(port) => format!("{}:{port}", p.host_str().unwrap_or_default()),
            None => p.host_str().unwrap_or_default().to_owned(),
        };
        if !here.eq_ignore_ascii_case(&authority) {
            let back = console_return(q.back.as_deref());
            let fresh = if q.fresh.as_deref() == Some("1") {
                "fresh=1&"
            } else {
                ""
            };
            return see_other(
                &format!(
                    "{}/console/login?{fresh}return={back}",
                    s.web.public_url.trim_end_matches('/')
                ),
                Vec::new(),
            );
        }
    }
    let verifier = format!("{}{}", s.svc.random_token(), s.svc.random_token());
    let back = console_return(q.back.as_deref());
    let flow = format!("{verifier}.{}", URL_SAFE_NO_PAD.encode(back.as_bytes()));
    let state = s.svc.csrf_token(&flow);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let issuer = s.svc.issuer().trim_end_matches('/').to_owned();
    let mut url = url::Url::parse(&format!("{issuer}{AUTHORIZE_PATH}")).unwrap_or_else(|_| {
        url::Url::parse("http://localhost/oauth2/authorize").unwrap_or_else(|_| unreachable!())
    });
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("redirect_uri", &format!("{issuer}{CONSOLE_CALLBACK_PATH}"))
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("acr_values", ACR_2FA);
    if q.fresh.as_deref() == Some("1") {
        url.query_pairs_mut().append_pair("prompt", "login");
    }
    // The flow cookie is Lax: the provider's redirect back is a top-level navigation.
    let c = set_cookie(s.edge(), FLOW_COOKIE, &flow, "Lax", 600);
    let location = format!("{AUTHORIZE_PATH}?{}", url.query().unwrap_or_default());
    see_other(&location, vec![c])
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /console/callback`: the code back from the provider, redeemed in-process.
async fn callback(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if !allowed_ip(s.edge(), &ctx) {
        return refused_ip(&s);
    }
    let again = ("/console/login", "Sign in again");
    let flow = cookie(&headers, &cookie_name(s.edge(), FLOW_COOKIE)).unwrap_or_default();
    if !s.svc.csrf_ok(Some(flow), q.state.as_deref()) {
        return notice(
            &s,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot continue",
            "The sign-in did not start in this browser, or took too long.",
            again,
        );
    }
    if let Some(e) = q.error.as_deref() {
        let why = q.error_description.as_deref().unwrap_or(e);
        return notice(
            &s,
            StatusCode::FORBIDDEN,
            "The sign-in did not finish",
            &why.chars().take(300).collect::<String>(),
            again,
        );
    }
    let (Some(code), Some((verifier, back))) = (q.code.as_deref(), flow.split_once('.')) else {
        return notice(
            &s,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot continue",
            "The provider sent no code.",
            again,
        );
    };
    let back = URL_SAFE_NO_PAD
        .decode(back)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let back = console_return(back.as_deref());
    let clear_flow = set_cookie(s.edge(), FLOW_COOKIE, "", "Lax", 0);
    match s.svc.console_sign_in(&ctx, code, verifier).await {
        Ok(session) => {
            let c = set_cookie(
                s.edge(),
                SESSION_COOKIE,
                session.token.expose_secret(),
                "Strict",
                session.expires_in,
            );
            // A Strict cookie set on a redirect that began at another page is sent from the
            // next same-site navigation on: the console's own page is that navigation.
            see_other(&back, vec![clear_flow, c])
        }
        Err(Error::Forbidden(why)) => {
            let mut r = notice(
                &s,
                StatusCode::FORBIDDEN,
                "Not for this account",
                &why,
                ("/oauth2/logout", "Sign out and use another account"),
            );
            if let Ok(v) = HeaderValue::from_str(&clear_flow) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(Error::Unavailable(_)) => notice(
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "Portcullis cannot reach its database; nothing is let through. Try again shortly.",
            again,
        ),
        Err(_) => notice(
            &s,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot continue",
            "The code is unknown, expired or was used already.",
            again,
        ),
    }
}

/// `POST /console/logout` (the console's header required): ends the console's session and
/// clears its cookie; the script then takes the browser to the provider's logout.
async fn logout(State(s): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap) -> Response {
    if headers.get(CONSOLE_HEADER).is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    if let Some(p) = session_token(s.edge(), &headers).and_then(|t| s.svc.authenticate(t).ok())
        && s.svc.logout(&p, &ctx).await.is_err()
    {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(s.edge(), SESSION_COOKIE, "", "Strict", 0)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// The API side of the console's session: a request to `/api/v1` with the console's header
/// and cookie and no credentials of its own is authenticated by the cookie's token. A
/// change (anything but GET and HEAD) needs a sign-in younger than
/// `auth.step_up_max_age_seconds`: otherwise 401 `step_up_required`, and the console signs
/// in again before it retries.
pub async fn console_session(
    State(edge): State<Edge>,
    mut req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let wanted = req.uri().path().starts_with("/api/v1/")
        && req.headers().get(CONSOLE_HEADER).is_some()
        && req.headers().get(header::AUTHORIZATION).is_none()
        // Fetch metadata, where the browser sends it: only the console's own origin.
        && req
            .headers()
            .get("sec-fetch-site")
            .is_none_or(|v| v.as_bytes() == b"same-origin");
    let token = wanted
        .then(|| session_token(&edge, req.headers()).map(str::to_owned))
        .flatten();
    if let Some(token) = token {
        let safe = matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if !safe
            && let Ok(p) = edge.svc.authenticate(&token)
            && edge.svc.now() - p.auth_time > edge.svc.settings().step_up_max_age
        {
            return portcullis_http::error::ApiError::new(
                StatusCode::UNAUTHORIZED,
                "step_up_required",
                "This change needs a recent sign-in: sign in to the console again.",
            )
            .into_response();
        }
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    next.run(req).await
}

/// `GET /docs`: the OpenAPI document in Portcullis's own viewer.
async fn docs(State(s): State<AppState>) -> Response {
    let nonce = s.svc.random_token();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference · Portcullis</title>
<link rel="stylesheet" href="{ASSETS}/console.css" integrity="{css}">
<script type="module" src="/docs/assets/docs.js" integrity="{js}" nonce="{nonce}"></script></head>
<body><header><p class="brand">Portcullis</p></header><main id="docs"><h1>API reference</h1>
<p class="muted">From <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
<div id="view" aria-live="polite"><p class="muted">Loading…</p></div>
<noscript><p>The reference needs JavaScript; the document itself is at /api/v1/openapi.json.</p></noscript>
</main></body></html>"#,
        css = CONSOLE_CSS.integrity,
        js = DOCS_JS.integrity,
    );
    secured(StatusCode::OK, &nonce, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_returned_to() {
        assert_eq!(console_return(Some("/console/users")), "/console/users");
        assert_eq!(
            console_return(Some("/console/audit?seq=4")),
            "/console/audit?seq=4"
        );
        for bad in [
            "https://evil.example/console",
            "//evil.example",
            "/console/../api",
            "/consolex",
            "/console//evil",
            "/console/\\evil",
            "/console/<x>",
        ] {
            assert_eq!(console_return(Some(bad)), CONSOLE_PATH, "{bad}");
        }
        assert_eq!(console_return(None), CONSOLE_PATH);
    }

    #[test]
    fn assets_are_pinned() {
        for a in [&*CONSOLE_JS, &*CONSOLE_CSS, &*DOCS_JS] {
            assert!(a.integrity.starts_with("sha384-"));
        }
    }
}
