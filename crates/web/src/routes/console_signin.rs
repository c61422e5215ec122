//! The console's sign-in: to Portcullis's own authorization endpoint as the console
//! client (PKCE S256, a second factor asked), back with a code redeemed in-process, the
//! session cookie, sign-out, and the API side of the cookie (`console_session`: the console's
//! header required, cross-site fetches refused, a recent sign-in for any change).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::Error;
use portcullis_core::oauth::authorize::ACR_2FA;
use portcullis_core::service::{
    AUTHORIZE_PATH, CONSOLE_CALLBACK_PATH, CONSOLE_CLIENT_ID, CONSOLE_PATH,
};
use portcullis_http::Edge;
use portcullis_http::context::cookie;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Digest;

use super::console::{
    CONSOLE_HEADER, SESSION_COOKIE, allowed_ip, cookie_name, notice, refused_ip, session_token,
    set_cookie,
};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::see_other;

const FLOW_COOKIE: &str = "pcl_console_flow";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login))
        .route(CONSOLE_CALLBACK_PATH, get(callback))
        .route("/console/logout", post(logout))
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
}
