//! The device authorization grant's endpoints (RFC 8628): the device asks for codes at
//! `/oauth2/device_authorization`; a person enters the user code on `/oauth2/device`, signs
//! in on the hosted pages if needed, and approves or denies on the confirmation page.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_core::Error;
use portcullis_core::oauth::error::OAuthError;
use portcullis_core::service::{DEVICE_AUTHORIZATION_PATH, DEVICE_PAGE_PATH};
use serde_json::json;

use super::oauth_pages::{
    SIGNIN_PATH, browser, csrf, error_page, form_ok, form_params, pending, scope_items, unavailable,
};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{Page, esc, see_other};

/// Where the person confirms.
pub const CONFIRM_PATH: &str = "/oauth2/device/confirm";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(DEVICE_AUTHORIZATION_PATH, post(device_authorization))
        .route(DEVICE_PAGE_PATH, get(entry_page).post(entry_submit))
        .route(CONFIRM_PATH, get(confirm_page).post(confirm_submit))
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1, §3.2).
async fn device_authorization(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    peer: super::oauth::Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = super::oauth::Form::parse(&headers, &body, &[])?;
        let auth = form.client_auth(&headers, peer)?;
        s.svc
            .device_authorization(&ctx, &auth, form.get("scope"))
            .await
    }
    .await;
    match result {
        Ok(d) => super::oauth::no_store(
            axum::Json(json!({
                "device_code": d.device_code,
                "user_code": d.user_code,
                "verification_uri": d.verification_uri,
                "verification_uri_complete": d.verification_uri_complete,
                "expires_in": d.expires_in,
                "interval": d.interval,
            }))
            .into_response(),
        ),
        Err(e) => super::oauth::error(&e),
    }
}

#[derive(serde::Deserialize)]
struct EntryQuery {
    user_code: Option<String>,
}

fn entry_form(
    s: &AppState,
    headers: &HeaderMap,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, set) = csrf(s, headers);
    let mut html =
        String::from("<p>Enter the code your device shows to connect it to your account.</p>");
    if let Some(e) = error {
        html.push_str(&format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(e)));
    }
    html.push_str(&format!(
        r#"<form method="post" action="{DEVICE_PAGE_PATH}"><input type="hidden" name="csrf" value="{token}">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required value="{code}" autofocus>
<button type="submit" class="wide">Continue</button></form>"#,
        token = esc(&token),
        code = esc(code),
    ));
    let mut page = Page::new("Connect a device", s.svc.random_token())
        .status(status)
        .html(&html);
    page = page.cookies(set);
    page.render()
}

/// `GET /oauth2/device[?user_code=]`
async fn entry_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EntryQuery>,
) -> Response {
    let code = q.user_code.unwrap_or_default();
    let code: String = code.chars().take(20).collect();
    entry_form(&s, &headers, &code, None, StatusCode::OK)
}

/// `POST /oauth2/device`: the code entered; on to sign-in or confirmation.
async fn entry_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let entered = f.get("user_code").unwrap_or("");
    if !form_ok(&s, &headers, f.get("csrf")) {
        return entry_form(
            &s,
            &headers,
            "",
            Some("The form expired; enter the code again."),
            StatusCode::FORBIDDEN,
        );
    }
    let shown: String = entered.chars().take(20).collect();
    let (device_id, ask) = match s.svc.device_lookup(&ctx, entered).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return entry_form(
                &s,
                &headers,
                &shown,
                Some("That code is not valid, or it expired. Check your device."),
                StatusCode::BAD_REQUEST,
            );
        }
        Err(Error::TooManyAttempts { retry_after }) => {
            return entry_form(
                &s,
                &headers,
                "",
                Some(&format!(
                    "Too many wrong codes. Try again in {retry_after} seconds."
                )),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(_) => return unavailable(&s),
    };
    let handle = match s.svc.device_request(&device_id, &ask).await {
        Ok(h) => h,
        Err(_) => return unavailable(&s),
    };
    match browser(&s, &headers).await {
        Ok(Some(_)) => see_other(&format!("{CONFIRM_PATH}?req={handle}"), Vec::new()),
        Ok(None) => see_other(&format!("{SIGNIN_PATH}?req={handle}"), Vec::new()),
        Err(_) => unavailable(&s),
    }
}

#[derive(serde::Deserialize)]
struct ReqQuery {
    req: Option<String>,
}

/// `GET /oauth2/device/confirm?req=`
async fn confirm_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReqQuery>,
) -> Response {
    let (handle, p) = match pending(&s, q.req.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if p.request.device.is_none() {
        return error_page(
            &s,
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("This is not a device sign-in."),
        );
    }
    let user = match browser(&s, &headers).await {
        Ok(Some((_, u))) => u,
        Ok(None) => return see_other(&format!("{SIGNIN_PATH}?req={handle}"), Vec::new()),
        Err(_) => return unavailable(&s),
    };
    let (token, set) = csrf(&s, &headers);
    let items = scope_items(&p.request.scopes);
    let html = format!(
        r#"<p>A device is asking to connect as <strong>{client}</strong>. It will be able to:</p><ul class="scopes">{items}</ul>
<p class="muted">Signed in as {email}. Only continue if you started this on your own device.</p>
<form method="post" action="{CONFIRM_PATH}"><input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<div class="row"><button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button></div></form>"#,
        client = esc(&p.client.name),
        email = esc(user.email.as_str()),
        req = esc(&handle),
        token = esc(&token),
    );
    let mut page = Page::new("Connect this device?", s.svc.random_token()).html(&html);
    page = page.cookies(set);
    page.render()
}

/// `POST /oauth2/device/confirm`
async fn confirm_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let (handle, _) = match pending(&s, f.get("req")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !form_ok(&s, &headers, f.get("csrf")) {
        return see_other(&format!("{CONFIRM_PATH}?req={handle}"), Vec::new());
    }
    let (session, user) = match browser(&s, &headers).await {
        Ok(Some(b)) => b,
        Ok(None) => return see_other(&format!("{SIGNIN_PATH}?req={handle}"), Vec::new()),
        Err(_) => return unavailable(&s),
    };
    let allow = f.get("decision") == Some("allow");
    match s
        .svc
        .device_decide(&ctx, &handle, &session, &user, allow)
        .await
    {
        Ok(true) => {
            let (title, text) = if allow {
                ("Device connected", "You can return to your device.")
            } else {
                (
                    "Device not connected",
                    "The device was refused. You can close this window.",
                )
            };
            Page::new(title, s.svc.random_token())
                .html(&format!("<p class=\"notice\">{text}</p>"))
                .render()
        }
        Ok(false) => error_page(
            &s,
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request(
                "This code expired or was answered already. Start again on your device.",
            ),
        ),
        Err(_) => unavailable(&s),
    }
}
