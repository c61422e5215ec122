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
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis_core::model::Role;
use portcullis_core::service::{CONSOLE_PATH, Principal};
use portcullis_http::Edge;
use portcullis_http::context::cookie;
use std::sync::LazyLock;

use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{self, Asset, esc, see_other};
use crate::routes::console_signin as signin;

/// The header the console's script sends with every API call: without it the console's
/// cookie opens nothing (a form post or a cross-site request cannot set it).
pub const CONSOLE_HEADER: &str = "x-portcullis-console";
pub(super) const SESSION_COOKIE: &str = "pcl_console";
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
        .merge(signin::router())
}

fn secure(edge: &Edge) -> bool {
    edge.web.public_url.starts_with("https://")
}

pub(super) fn cookie_name(edge: &Edge, base: &str) -> String {
    if secure(edge) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

pub(super) fn set_cookie(
    edge: &Edge,
    base: &str,
    value: &str,
    same_site: &str,
    max_age: i64,
) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}{}; Max-Age={max_age}",
        cookie_name(edge, base),
        if secure(edge) { "; Secure" } else { "" },
    )
}

pub(super) fn session_token<'h>(edge: &Edge, h: &'h HeaderMap) -> Option<&'h str> {
    cookie(h, &cookie_name(edge, SESSION_COOKIE)).filter(|t| !t.is_empty())
}

pub(super) fn allowed_ip(edge: &Edge, ctx: &portcullis_core::service::RequestContext) -> bool {
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

pub(super) fn notice(
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

pub(super) fn refused_ip(s: &AppState) -> Response {
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
    fn assets_are_pinned() {
        for a in [&*CONSOLE_JS, &*CONSOLE_CSS, &*DOCS_JS] {
            assert!(a.integrity.starts_with("sha384-"));
        }
    }
}
