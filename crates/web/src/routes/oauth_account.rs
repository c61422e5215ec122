//! The account page: the applications a person allowed to act for them ("connected
//! apps"), each with a button that withdraws the consent and ends the application's grants.
//! It takes the browser's sign-in; without one, the hosted sign-in comes first and returns
//! here.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use portcullis_core::Error;
use portcullis_core::clock::rfc3339;
use portcullis_core::service::{ACCOUNT_PATH, LOGOUT_PATH};

use super::oauth_pages::{
    SIGNIN_PATH, browser, csrf, form_ok, form_params, scope_items, unavailable,
};
use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{Page, esc, see_other};

pub fn router() -> Router<AppState> {
    Router::new().route(ACCOUNT_PATH, get(account_page).post(disconnect))
}

/// To the hosted sign-in, which returns here.
async fn sign_in_first(s: &AppState) -> Response {
    match s.svc.account_request().await {
        Ok(handle) => see_other(&format!("{SIGNIN_PATH}?req={handle}"), Vec::new()),
        Err(_) => unavailable(s),
    }
}

pub(super) async fn render(s: &AppState, headers: &HeaderMap, notice: Option<&str>) -> Response {
    let (_, user) = match browser(s, headers).await {
        Ok(Some(b)) => b,
        Ok(None) => return sign_in_first(s).await,
        Err(_) => return unavailable(s),
    };
    let apps = match s.svc.connected_apps_of(&user.id).await {
        Ok(a) => a,
        Err(_) => return unavailable(s),
    };
    let (token, set) = csrf(s, headers);
    let mut html = format!(
        "<p>Signed in as <strong>{}</strong>.</p>",
        esc(user.email.as_str())
    );
    if let Some(n) = notice {
        html.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(n)
        ));
    }
    if apps.is_empty() {
        html.push_str("<p class=\"muted\">No application can act for you.</p>");
    }
    for a in &apps {
        let scopes = scope_items(&a.scopes);
        html.push_str(&format!(
            r#"<section aria-label="{name}"><h2>{name}</h2><p class="muted">Allowed {when}</p><ul class="scopes">{scopes}</ul>
<form method="post" action="{ACCOUNT_PATH}"><input type="hidden" name="csrf" value="{token}"><input type="hidden" name="client_id" value="{id}">
<button type="submit" class="secondary">Disconnect {name}</button></form></section>"#,
            name = esc(&a.name),
            when = esc(&rfc3339(a.granted_at)),
            id = esc(&a.client_id),
            token = esc(&token),
        ));
    }
    let providers = s.svc.identity_providers();
    if !providers.is_empty() {
        let linked = match s.svc.identities_of(&user.id).await {
            Ok(l) => l,
            Err(_) => return unavailable(s),
        };
        html.push_str("<section aria-label=\"Sign-in providers\"><h2>Sign-in providers</h2>");
        for i in &linked {
            html.push_str(&format!(
                r#"<form method="post" action="{ACCOUNT_PATH}"><input type="hidden" name="csrf" value="{token}"><input type="hidden" name="unlink" value="{id}">
<p>{name} <span class="muted">linked</span></p><button type="submit" class="secondary">Unlink {name}</button></form>"#,
                token = esc(&token),
                id = esc(&i.id),
                name = esc(&i.provider_name),
            ));
        }
        for p in providers
            .iter()
            .filter(|p| !linked.iter().any(|i| i.provider == p.id))
        {
            html.push_str(&format!(
                r#"<form method="post" action="/oauth2/upstream/{id}/start"><input type="hidden" name="csrf" value="{token}"><input type="hidden" name="link" value="1">
<button type="submit" class="secondary">Link {name}</button></form>"#,
                token = esc(&token),
                id = esc(&p.id),
                name = esc(p.label()),
            ));
        }
        html.push_str("</section>");
    }
    html.push_str(&format!(
        "<p class=\"or\"><a href=\"{LOGOUT_PATH}\">Sign out</a></p>"
    ));
    let mut page = Page::new("Connected apps", s.svc.random_token()).html(&html);
    // The "Link" buttons' forms end at the provider (a redirect the CSP must allow).
    for p in s.svc.identity_providers() {
        page = page.form_target(&p.issuer);
    }
    page = page.cookies(set);
    page.render()
}

/// `GET /oauth2/account`
async fn account_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    render(&s, &headers, None).await
}

/// `POST /oauth2/account`: disconnect one application.
async fn disconnect(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    if !form_ok(&s, &headers, f.get("csrf")) {
        return render(&s, &headers, Some("The form expired; try again.")).await;
    }
    let user = match browser(&s, &headers).await {
        Ok(Some((_, u))) => u,
        Ok(None) => return sign_in_first(&s).await,
        Err(_) => return unavailable(&s),
    };
    if let Some(id) = f.get("unlink") {
        return match s.svc.unlink_identity_of(&user.id, &ctx, id).await {
            Ok(()) => render(&s, &headers, Some("Unlinked.")).await,
            Err(Error::Conflict(m)) => {
                let mut r = render(&s, &headers, Some(&m)).await;
                *r.status_mut() = StatusCode::CONFLICT;
                r
            }
            Err(Error::NotFound) => {
                let mut r = render(&s, &headers, Some("That was not linked.")).await;
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
            Err(_) => unavailable(&s),
        };
    }
    let client_id = f.get("client_id").unwrap_or("");
    match s
        .svc
        .revoke_connected_app_of(&user.id, &ctx, client_id)
        .await
    {
        Ok(()) => {
            render(
                &s,
                &headers,
                Some("Disconnected: the application can no longer act for you."),
            )
            .await
        }
        Err(Error::NotFound) => {
            let mut r = render(&s, &headers, Some("That application was not connected.")).await;
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Err(_) => unavailable(&s),
    }
}
