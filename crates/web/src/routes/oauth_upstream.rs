//! Signing in through upstream OpenID providers from the hosted sign-in page: the button
//! starts (`POST /oauth2/upstream/{id}/start`, which sends the browser to the provider with
//! a cookie binding the answer to it), the provider answers at
//! `GET /oauth2/upstream/{id}/callback`, and a first sign-in that would join an existing
//! account asks for that account's password (and second factor) at
//! `POST /oauth2/upstream/link`. Refusals are pages that say why, never a loop.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use portcullis_core::Error;
use portcullis_core::service::Federated;

use super::oauth_pages::{Cookies, csrf, form_ok, form_params, pending, signed_in, unavailable};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{Page, esc, see_other};

/// The cookie binding a provider's answer to the browser that went there.
const UPSTREAM: &str = "pcl_up";
/// The page's form of the link proof.
const LINK_PATH: &str = "/oauth2/upstream/link";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/upstream/{id}/start", post(start))
        .route("/oauth2/upstream/{id}/callback", get(callback))
        .route(LINK_PATH, post(link))
}

/// The sign-in page's buttons, one per provider, for the authorization request `handle`.
pub(super) fn buttons(s: &AppState, handle: &str, token: &str) -> String {
    let mut html = String::new();
    for p in s.svc.identity_providers() {
        html.push_str(&format!(
            r#"<form method="post" action="/oauth2/upstream/{id}/start"><input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}"><button type="submit" class="secondary wide">Sign in with {label}</button></form>"#,
            id = esc(&p.id),
            req = esc(handle),
            token = esc(token),
            label = esc(p.label()),
        ));
    }
    if !html.is_empty() {
        html.insert_str(0, "<p class=\"or\">or</p>");
    }
    html
}

fn refusal(s: &AppState, status: StatusCode, message: &str) -> Response {
    Page::new("This sign-in cannot continue", s.svc.random_token())
        .status(status)
        .html(&format!(
            "<p>{}</p><p class=\"muted\">Go back to the application and sign in again, or with your password.</p>",
            esc(message)
        ))
        .cookie(Cookies::of(s).set(UPSTREAM, "", "Lax", Some(0)))
        .render()
}

fn failure(s: &AppState, e: &Error) -> Response {
    match e {
        Error::Forbidden(m) => refusal(s, StatusCode::FORBIDDEN, m),
        Error::AccountLocked => refusal(
            s,
            StatusCode::LOCKED,
            "This account is locked. Contact an administrator.",
        ),
        Error::NotFound => refusal(s, StatusCode::NOT_FOUND, "No such sign-in provider."),
        Error::Conflict(m) => refusal(s, StatusCode::CONFLICT, m),
        Error::Unavailable(m) => refusal(s, StatusCode::SERVICE_UNAVAILABLE, m),
        _ => unavailable(s),
    }
}

/// `POST /oauth2/upstream/{id}/start`
async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    if !form_ok(&s, &headers, f.get("csrf")) {
        return refusal(
            &s,
            StatusCode::FORBIDDEN,
            "The form expired; sign in again.",
        );
    }
    let begun = if f.get("link") == Some("1") {
        // From the account page: link to the browser's signed-in account.
        match super::oauth_pages::browser(&s, &headers).await {
            Ok(Some((_, user))) => s.svc.upstream_begin_link(&id, &user.id).await,
            Ok(None) => {
                return refusal(
                    &s,
                    StatusCode::FORBIDDEN,
                    "Sign in first, then link from your account page.",
                );
            }
            Err(_) => return unavailable(&s),
        }
    } else {
        let (handle, _) = match pending(&s, f.get("req")).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        s.svc.upstream_begin(&id, &handle).await
    };
    match begun {
        // SameSite=Lax: the provider's answer is a top-level navigation from its site.
        Ok((url, binding)) => see_other(
            &url,
            vec![Cookies::of(&s).set(UPSTREAM, &binding, "Lax", Some(600))],
        ),
        Err(e) => failure(&s, &e),
    }
}

/// The provider's answer.
#[derive(Debug, serde::Deserialize)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth2/upstream/{id}/callback`
async fn callback(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Query(a): Query<Answer>,
    headers: HeaderMap,
) -> Response {
    if let Some(e) = &a.error {
        let why = a.error_description.as_deref().unwrap_or(e);
        return refusal(
            &s,
            StatusCode::FORBIDDEN,
            &format!("The provider did not sign you in: {why}"),
        );
    }
    let (Some(code), Some(state)) = (a.code.as_deref(), a.state.as_deref()) else {
        return refusal(
            &s,
            StatusCode::BAD_REQUEST,
            "The provider's answer is incomplete.",
        );
    };
    let binding = super::oauth_pages::cookie_of(&s, &headers, UPSTREAM);
    let clear = Cookies::of(&s).set(UPSTREAM, "", "Lax", Some(0));
    match s
        .svc
        .upstream_finish(&ctx, &id, state, code, binding.as_deref())
        .await
    {
        Ok(Federated::SignedIn(t, Some(handle))) => {
            let mut r = signed_in(&s, &ctx, &handle, t).await;
            if let Ok(v) = axum::http::HeaderValue::from_str(&clear) {
                r.headers_mut().append(axum::http::header::SET_COOKIE, v);
            }
            r
        }
        Ok(Federated::SignedIn(_, None)) => unavailable(&s),
        Ok(Federated::Linked { user_id, provider }) => {
            // The browser that asked is still signed in as the account it links to.
            match super::oauth_pages::browser(&s, &headers).await {
                Ok(Some((_, user))) if user.id == user_id => {
                    let notice = format!("Linked: you can sign in with {provider} from now on.");
                    let mut r = super::oauth_account::render(&s, &headers, Some(&notice)).await;
                    if let Ok(v) = axum::http::HeaderValue::from_str(&clear) {
                        r.headers_mut().append(axum::http::header::SET_COOKIE, v);
                    }
                    r
                }
                Ok(_) => refusal(
                    &s,
                    StatusCode::FORBIDDEN,
                    "Sign in again to link an account.",
                ),
                Err(_) => unavailable(&s),
            }
        }
        Ok(Federated::NeedsProof {
            token,
            email,
            second_factor,
        }) => link_form(
            &s,
            &headers,
            &token,
            Some(&email),
            second_factor,
            None,
            StatusCode::OK,
        ),
        Err(e) => failure(&s, &e),
    }
}

fn link_form(
    s: &AppState,
    headers: &HeaderMap,
    token: &str,
    email: Option<&str>,
    second_factor: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf_token, set) = csrf(s, headers);
    let mut html = match email {
        Some(e) => format!(
            "<p>An account here already uses <strong>{}</strong>. Prove it is yours once, and the provider's sign-in joins it.</p>",
            esc(e)
        ),
        None => "<p>Prove the account is yours once, and the provider's sign-in joins it.</p>"
            .to_owned(),
    };
    if let Some(e) = error {
        html.push_str(&format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(e)));
    }
    let factor = if second_factor {
        r#"<label for="code">Code from your authenticator app (or a recovery code)</label>
<input id="code" name="code" autocomplete="one-time-code" required spellcheck="false"><input type="hidden" name="second_factor" value="1">"#
    } else {
        ""
    };
    html.push_str(&format!(
        r#"<form method="post" action="{LINK_PATH}"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="token" value="{token}">
<label for="password">The account's password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
{factor}<button type="submit" class="wide">Link and sign in</button></form>"#,
        csrf = esc(&csrf_token),
        token = esc(token),
    ));
    Page::new("Link your account", s.svc.random_token())
        .status(status)
        .html(&html)
        .cookies(set)
        .render()
}

/// `POST /oauth2/upstream/link`: the local account's password (and second factor).
async fn link(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let token = f.get("token").unwrap_or("").to_owned();
    let second = f.get("second_factor") == Some("1");
    if !form_ok(&s, &headers, f.get("csrf")) {
        return link_form(
            &s,
            &headers,
            &token,
            None,
            second,
            Some("The form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let password = f.get("password").unwrap_or("");
    match s
        .svc
        .upstream_link(&ctx, &token, password, f.get("code"))
        .await
    {
        Ok((t, Some(handle))) => signed_in(&s, &ctx, &handle, t).await,
        Ok((_, None)) => unavailable(&s),
        Err(Error::InvalidCredentials) => link_form(
            &s,
            &headers,
            &token,
            None,
            second,
            Some("That password is not the account's."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::InvalidMfaCode(_)) => link_form(
            &s,
            &headers,
            &token,
            None,
            second,
            Some("That code is not right."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::TooManyAttempts { .. }) => link_form(
            &s,
            &headers,
            &token,
            None,
            second,
            Some("Too many attempts; wait a few minutes."),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(e) => failure(&s, &e),
    }
}
