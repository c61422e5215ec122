//! OpenID Connect RP-Initiated Logout 1.0: the confirmation page and its form. Signing out
//! ends the browser's sign-in and the grants applications received from it; the browser
//! goes back only to a post-logout URI the client registered, with its `state`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use portcullis_core::Error;
use portcullis_core::oauth::authorize::Params;
use portcullis_core::oauth::error::OAuthError;
use portcullis_core::service::LOGOUT_PATH;

use super::oauth_pages::{
    Cookies, SESSION, browser, csrf, error_page, form_ok, form_params, unavailable,
};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{Page, esc, see_other};

pub fn router() -> Router<AppState> {
    Router::new().route(LOGOUT_PATH, get(logout_page).post(logout_submit))
}

/// The logout request's parameters, checked: where to go after, and with what state.
struct LogoutTarget {
    redirect: Option<String>,
    state: Option<String>,
}

async fn logout_target(s: &AppState, f: &Params) -> Result<LogoutTarget, Response> {
    let bad = |m: &str| error_page(s, StatusCode::BAD_REQUEST, &OAuthError::invalid_request(m));
    let client = match s
        .svc
        .logout_client(f.get("id_token_hint"), f.get("client_id"))
        .await
    {
        Ok(c) => c,
        Err(Error::InvalidRequest(m, _)) => return Err(bad(&m)),
        Err(_) => return Err(unavailable(s)),
    };
    let redirect = match (f.get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(r), Some(c)) if c.post_logout_redirect_uris.iter().any(|x| x == r) => {
            Some(r.to_owned())
        }
        (Some(_), _) => {
            return Err(bad(
                "post_logout_redirect_uri is not one the client registered (or no client was named)",
            ));
        }
    };
    Ok(LogoutTarget {
        redirect,
        state: f
            .get("state")
            .filter(|s| s.len() <= 1024)
            .map(str::to_owned),
    })
}

/// `GET /oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0): asks to confirm.
async fn logout_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(f) => f,
        Err(e) => return error_page(&s, StatusCode::BAD_REQUEST, &e),
    };
    let t = match logout_target(&s, &f).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (token, set) = csrf(&s, &headers);
    let mut hidden = String::new();
    for k in [
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
    ] {
        if let Some(v) = f.get(k) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                esc(v)
            ));
        }
    }
    let who = match browser(&s, &headers).await {
        Ok(Some((_, u))) => format!(
            "<p>You are signed in as <strong>{}</strong>.</p>",
            esc(u.email.as_str())
        ),
        Ok(None) => "<p>You are not signed in here.</p>".to_owned(),
        Err(_) => return unavailable(&s),
    };
    let html = format!(
        r#"{who}<form method="post" action="{LOGOUT_PATH}"><input type="hidden" name="csrf" value="{token}">{hidden}
<button type="submit" class="wide">Sign out</button></form>"#,
        token = esc(&token),
    );
    let mut page = Page::new("Sign out?", s.svc.random_token()).html(&html);
    if let Some(r) = &t.redirect {
        page = page.form_target(r);
    }
    page = page.cookies(set);
    let _ = t.state;
    page.render()
}

/// `POST /oauth2/logout`: ends the browser's sign-in and the applications' grants from it.
async fn logout_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let t = match logout_target(&s, &f).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !form_ok(&s, &headers, f.get("csrf")) {
        return error_page(
            &s,
            StatusCode::FORBIDDEN,
            &OAuthError::invalid_request("The form expired; sign out again."),
        );
    }
    if let Ok(Some((session, user))) = browser(&s, &headers).await
        && s.svc
            .end_browser_session(&ctx, &user.id, &session.id)
            .await
            .is_err()
    {
        return unavailable(&s);
    }
    let clear = Cookies::of(&s).set(SESSION, "", "Lax", Some(0));
    match t.redirect {
        Some(r) => {
            let mut p: Vec<(&str, &str)> = Vec::new();
            if let Some(st) = &t.state {
                p.push(("state", st));
            }
            let to = if p.is_empty() {
                r
            } else {
                portcullis_core::oauth::authorize::redirect_to(&r, &p)
            };
            see_other(&to, vec![clear])
        }
        None => Page::new("You are signed out", s.svc.random_token())
            .html(
                "<p class=\"notice\">You signed out of Portcullis. You can close this window.</p>",
            )
            .cookie(clear)
            .render(),
    }
}
