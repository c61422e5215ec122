//! Hosted pages for what mail opens: asking for a password reset, setting the new password
//! with the mailed code (a reset or an invitation), and confirming an address. The code
//! arrives in the link's fragment (never sent to a server nor put in a `Referer`); the page's
//! script moves it into the form, and it can be typed instead.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use portcullis_core::Error;
use portcullis_core::service::ACCOUNT_PATH;

use super::oauth_pages::{csrf, form_ok, form_params, unavailable};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{Page, esc};

/// The forgotten-password page.
pub const FORGOT_PATH: &str = "/oauth2/password/forgot";
/// The page that sets a password with a mailed code.
pub const RESET_PATH: &str = "/oauth2/password/reset";
/// The page that confirms an address with a mailed code.
pub const VERIFY_PATH: &str = "/oauth2/email/verify";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(FORGOT_PATH, get(forgot_page).post(forgot_post))
        .route(RESET_PATH, get(reset_page).post(reset_post))
        .route(VERIFY_PATH, get(verify_page).post(verify_post))
}

fn alert(html: &mut String, message: Option<&str>) {
    if let Some(m) = message {
        html.push_str(&format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)));
    }
}

fn no_mail(s: &AppState) -> Response {
    Page::new("Not available", s.svc.random_token())
        .status(StatusCode::NOT_FOUND)
        .html("<p>This server sends no mail, so passwords cannot be reset by mail here. Ask your administrator.</p>")
        .render()
}

fn forgot_form(
    s: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, set) = csrf(s, headers);
    let mut html = String::from(
        "<p>Enter the address of your account. If it has one, we send it a link to choose a new password.</p>",
    );
    alert(&mut html, error);
    html.push_str(&format!(
        r#"<form method="post" action="{FORGOT_PATH}"><input type="hidden" name="csrf" value="{token}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus>
<button type="submit" class="wide">Send the link</button></form>"#,
        token = esc(&token),
    ));
    Page::new("Forgot your password?", s.svc.random_token())
        .status(status)
        .html(&html)
        .cookies(set)
        .render()
}

/// `GET /oauth2/password/forgot`
async fn forgot_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !s.svc.mail_enabled() {
        return no_mail(&s);
    }
    forgot_form(&s, &headers, None, StatusCode::OK)
}

/// `POST /oauth2/password/forgot`: the same answer whether or not the address has an
/// account; the lookup and the mail happen after it.
async fn forgot_post(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.svc.mail_enabled() {
        return no_mail(&s);
    }
    let f = form_params(&body);
    if !form_ok(&s, &headers, f.get("csrf")) {
        return forgot_form(
            &s,
            &headers,
            Some("The form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let email = match s
        .svc
        .forgot_password_gate(&ctx, f.get("email").unwrap_or(""))
        .await
    {
        Ok(e) => e,
        Err(Error::TooManyAttempts { .. }) => {
            return forgot_form(
                &s,
                &headers,
                Some("Too many requests for this address; wait a few minutes."),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(Error::InvalidRequest(..)) => {
            return forgot_form(
                &s,
                &headers,
                Some("That is not an email address."),
                StatusCode::BAD_REQUEST,
            );
        }
        Err(_) => return unavailable(&s),
    };
    let svc = s.svc.clone();
    tokio::spawn(async move {
        if let Err(e) = svc.send_password_reset(&ctx, &email).await {
            tracing::warn!("password reset not sent: {e}");
        }
    });
    Page::new("Check your mail", s.svc.random_token())
        .status(StatusCode::ACCEPTED)
        .html("<p>If an account uses this address, a link to choose a new password is on its way. It works once, for 15 minutes.</p>")
        .render()
}

fn reset_form(
    s: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, set) = csrf(s, headers);
    let mut html = String::from("<p>Choose the new password of your account.</p>");
    alert(&mut html, error);
    html.push_str(&format!(
        r#"<form method="post" action="{RESET_PATH}"><input type="hidden" name="csrf" value="{token}">
<label for="code">Code from the mail</label>
<input id="code" name="code" autocomplete="one-time-code" required spellcheck="false">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<label class="check"><input type="checkbox" name="revoke_api_keys" value="1"> Also revoke my API keys</label>
<button type="submit" class="wide">Set the password</button></form>"#,
        token = esc(&token),
    ));
    Page::new("Choose a new password", s.svc.random_token())
        .status(status)
        .with_script()
        .html(&html)
        .cookies(set)
        .render()
}

/// `GET /oauth2/password/reset`
async fn reset_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    reset_form(&s, &headers, None, StatusCode::OK)
}

/// `POST /oauth2/password/reset`
async fn reset_post(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    if !form_ok(&s, &headers, f.get("csrf")) {
        return reset_form(
            &s,
            &headers,
            Some("The form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let code = f.get("code").unwrap_or("").trim();
    let password = f.get("password").unwrap_or("");
    let revoke_keys = f.get("revoke_api_keys") == Some("1");
    let fail = |m: &str, st| reset_form(&s, &headers, Some(m), st);
    match s.svc.reset_password(&ctx, code, password, revoke_keys).await {
        Ok(()) => Page::new("Your password is set", s.svc.random_token())
            .html(&format!(
                "<p>Every earlier session of your account has ended. Sign in with the new password.</p><p class=\"or\"><a href=\"{ACCOUNT_PATH}\">Sign in</a></p>"
            ))
            .render(),
        Err(Error::InvalidToken(_)) => fail(
            "That code is unknown, used or expired. Ask for a new one.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::WeakPassword(errors)) => {
            let why: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            fail(
                &format!("Choose another password: {}.", why.join("; ")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(Error::AccountLocked) => fail(
            "This account is locked. Ask your administrator.",
            StatusCode::LOCKED,
        ),
        Err(Error::TooManyAttempts { .. }) => fail(
            "Too many wrong codes from here; wait a few minutes.",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(_) => unavailable(&s),
    }
}

fn verify_form(
    s: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, set) = csrf(s, headers);
    let mut html = String::from("<p>Confirm the address of your account.</p>");
    alert(&mut html, error);
    html.push_str(&format!(
        r#"<form method="post" action="{VERIFY_PATH}"><input type="hidden" name="csrf" value="{token}">
<label for="code">Code from the mail</label>
<input id="code" name="code" autocomplete="one-time-code" required spellcheck="false">
<button type="submit" class="wide">Confirm</button></form>"#,
        token = esc(&token),
    ));
    Page::new("Confirm your address", s.svc.random_token())
        .status(status)
        .with_script()
        .html(&html)
        .cookies(set)
        .render()
}

/// `GET /oauth2/email/verify`: a form, not the verification itself, so that a mail
/// scanner following the link uses nothing up.
async fn verify_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    verify_form(&s, &headers, None, StatusCode::OK)
}

/// `POST /oauth2/email/verify`
async fn verify_post(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    if !form_ok(&s, &headers, f.get("csrf")) {
        return verify_form(
            &s,
            &headers,
            Some("The form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    match s
        .svc
        .verify_email(&ctx, f.get("code").unwrap_or("").trim())
        .await
    {
        Ok(()) => Page::new("Address confirmed", s.svc.random_token())
            .html(&format!(
                "<p>Thank you: your address is confirmed, and you can sign in.</p><p class=\"or\"><a href=\"{ACCOUNT_PATH}\">Sign in</a></p>"
            ))
            .render(),
        Err(Error::InvalidToken(_)) => verify_form(
            &s,
            &headers,
            Some("That code is unknown, used or expired. Sign in to have a new one sent."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::TooManyAttempts { .. }) => verify_form(
            &s,
            &headers,
            Some("Too many wrong codes from here; wait a few minutes."),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(_) => unavailable(&s),
    }
}
