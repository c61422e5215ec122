//! The pages a person goes through when an application sends them to sign in: the
//! authorization endpoint, sign-in (password, then a second factor; passkeys; the
//! proof-of-work when the risk engine asks for one), consent, and logout. Plus the
//! endpoints around them that clients call: PAR and userinfo.
//!
//! Forms carry a CSRF token bound to an HttpOnly `SameSite=Strict` cookie and are refused
//! from another origin. The browser's sign-in session is an HttpOnly `SameSite=Lax` cookie
//! (`__Host-` over https). Nothing a request says is shown unescaped, and nothing redirects
//! anywhere but to a redirect URI the client registered.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_core::Error;
use portcullis_core::model::{Session, User};
use portcullis_core::oauth::authorize::{AuthzError, Params};
use portcullis_core::oauth::error::OAuthError;
use portcullis_core::service::{
    AUTHORIZE_PATH, AuthzStep, Factor, LoginOutcome, PAR_PATH, PendingAuthz, RequestContext,
    TokenResponse, error_redirect,
};
use portcullis_http::context::cookie;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::AppState;
use crate::extract::Ctx;
use crate::pages::{self, Page, esc, see_other};

pub(super) const SIGNIN_PATH: &str = "/oauth2/signin";
const CONSENT_PATH: &str = "/oauth2/consent";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize_get).post(authorize_post))
        .route(PAR_PATH, post(par))
        .route(SIGNIN_PATH, get(signin_page).post(signin_submit))
        .route("/oauth2/signin/mfa", post(mfa_submit))
        .route("/oauth2/signin/passkey/start", post(passkey_start))
        .route("/oauth2/signin/passkey", post(passkey_submit))
        .route(CONSENT_PATH, get(consent_page).post(consent_submit))
        .route(
            "/oauth2/assets/portcullis.css",
            get(|| async { pages::serve(&pages::CSS) }),
        )
        .route(
            "/oauth2/assets/signin.js",
            get(|| async { pages::serve(&pages::SIGNIN_JS) }),
        )
}

/// The cookies of the hosted pages, `__Host-` prefixed over https.
pub(super) struct Cookies {
    secure: bool,
}

impl Cookies {
    pub(super) fn of(s: &AppState) -> Self {
        Self {
            secure: s.web.public_url.starts_with("https://"),
        }
    }

    fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    pub(super) fn set(
        &self,
        base: &str,
        value: &str,
        same_site: &str,
        max_age: Option<i64>,
    ) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age
            .map(|a| format!("; Max-Age={a}"))
            .unwrap_or_default();
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}{secure}{age}",
            self.name(base)
        )
    }

    fn get<'h>(&self, h: &'h HeaderMap, base: &str) -> Option<&'h str> {
        cookie(h, &self.name(base))
    }
}

/// The value of this server's cookie `base` (under its `__Host-` name over https).
pub(super) fn cookie_of(s: &AppState, h: &HeaderMap, base: &str) -> Option<String> {
    Cookies::of(s).get(h, base).map(str::to_owned)
}

pub(super) const SESSION: &str = "pcl_session";
const CSRF: &str = "pcl_csrf";
const MFA: &str = "pcl_mfa";

/// The page's CSRF token, and the cookie to set when the browser has no binding yet.
pub(super) fn csrf(s: &AppState, h: &HeaderMap) -> (String, Option<String>) {
    let c = Cookies::of(s);
    match c.get(h, CSRF).filter(|b| b.len() >= 16) {
        Some(b) => (s.svc.csrf_token(b), None),
        None => {
            let b = s.svc.random_token();
            (s.svc.csrf_token(&b), Some(c.set(CSRF, &b, "Strict", None)))
        }
    }
}

/// Whether a form post is this browser's own, from this origin.
pub(super) fn form_ok(s: &AppState, h: &HeaderMap, token: Option<&str>) -> bool {
    let origin_ok = match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(o) => {
            url::Url::parse(&s.web.public_url).is_ok_and(|u| u.origin().ascii_serialization() == o)
        }
    };
    origin_ok && s.svc.csrf_ok(Cookies::of(s).get(h, CSRF), token)
}

pub(super) async fn browser(s: &AppState, h: &HeaderMap) -> Result<Option<(Session, User)>, Error> {
    s.svc.browser_session(Cookies::of(s).get(h, SESSION)).await
}

pub(super) fn error_page(s: &AppState, status: StatusCode, e: &OAuthError) -> Response {
    Page::new("This sign-in cannot continue", s.svc.random_token())
        .status(status)
        .html(&format!(
            "<p>{}</p><p class=\"muted\">Error: <code>{}</code>. Go back to the application and try again.</p>",
            esc(&e.description),
            esc(e.code)
        ))
        .render()
}

pub(super) fn unavailable(s: &AppState) -> Response {
    error_page(
        s,
        StatusCode::SERVICE_UNAVAILABLE,
        &OAuthError::temporarily_unavailable(
            "Sign-in is unavailable right now; try again shortly.",
        ),
    )
}

pub(super) fn step(
    s: &AppState,
    r: Result<AuthzStep, AuthzError>,
    cookies: Vec<String>,
) -> Response {
    match r {
        Ok(AuthzStep::Redirect(to)) => see_other(&to, cookies),
        Ok(AuthzStep::SignIn { handle, .. }) => {
            see_other(&format!("{SIGNIN_PATH}?req={handle}"), cookies)
        }
        Ok(AuthzStep::Consent { handle }) => {
            see_other(&format!("{CONSENT_PATH}?req={handle}"), cookies)
        }
        Ok(AuthzStep::Device { handle }) => see_other(
            &format!("{}?req={handle}", super::oauth_device::CONFIRM_PATH),
            cookies,
        ),
        Err(AuthzError::Redirect {
            redirect_uri,
            state,
            error,
        }) => see_other(
            &error_redirect(&redirect_uri, state.as_deref(), &error, s.svc.issuer()),
            cookies,
        ),
        Err(AuthzError::Page(e)) if e.code == "temporarily_unavailable" => unavailable(s),
        Err(AuthzError::Page(e)) => error_page(s, StatusCode::BAD_REQUEST, &e),
    }
}

async fn run_authorize(
    s: AppState,
    ctx: RequestContext,
    headers: HeaderMap,
    raw: &[u8],
) -> Response {
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(e) => return error_page(&s, StatusCode::BAD_REQUEST, &e),
    };
    let session = match browser(&s, &headers).await {
        Ok(b) => b,
        Err(_) => return unavailable(&s),
    };
    let r = s.svc.authorize(&ctx, &params, session).await;
    step(&s, r, Vec::new())
}

/// `GET /oauth2/authorize`
async fn authorize_get(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    run_authorize(s, ctx, headers, q.unwrap_or_default().as_bytes()).await
}

/// `POST /oauth2/authorize` (form-encoded, OpenID Connect Core §3.1.2.1).
async fn authorize_post(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_authorize(s, ctx, headers, &body).await
}

/// `POST /oauth2/par` (RFC 9126): 201 `{request_uri, expires_in}`.
async fn par(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    peer: super::oauth::Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = super::oauth::Form::parse(&headers, &body, &["resource"])?;
        let auth = form.client_auth(&headers, peer)?;
        let dpop = super::oauth::dpop_header(&headers)?;
        s.svc
            .push_authorization_request(&ctx, &auth, &form.0, dpop.as_deref())
            .await
    }
    .await;
    let mut res = match result {
        Ok((uri, ttl)) => super::oauth::no_store(
            (
                StatusCode::CREATED,
                axum::Json(json!({"request_uri": uri, "expires_in": ttl})),
            )
                .into_response(),
        ),
        Err(e) => super::oauth::error(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&s.svc.dpop_nonce(s.svc.now())) {
        res.headers_mut().insert("dpop-nonce", v);
    }
    res
}

#[derive(serde::Deserialize)]
struct ReqQuery {
    req: Option<String>,
}

pub(super) async fn pending(
    s: &AppState,
    handle: Option<&str>,
) -> Result<(String, PendingAuthz), Response> {
    let gone = || {
        error_page(
            s,
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request(
                "This sign-in took too long or was finished already. Go back to the application and start again.",
            ),
        )
    };
    let Some(handle) = handle else {
        return Err(gone());
    };
    match s.svc.pending_authorization(handle).await {
        Ok(Some(p)) => Ok((handle.to_owned(), p)),
        Ok(None) => Err(gone()),
        Err(_) => Err(unavailable(s)),
    }
}

/// What the sign-in form shows besides its fields.
#[derive(Default)]
struct SignInView<'a> {
    error: Option<&'a str>,
    email: Option<&'a str>,
    pow: Option<String>,
}

fn signin_form(
    s: &AppState,
    headers: &HeaderMap,
    handle: &str,
    p: &PendingAuthz,
    v: SignInView<'_>,
    status: StatusCode,
) -> Response {
    let (token, set) = csrf(s, headers);
    let email = v.email.or(p.request.login_hint.as_deref()).unwrap_or("");
    let mut html = format!(
        "<p>to continue to <strong>{}</strong></p>",
        esc(&p.client.name)
    );
    if p.request.wants_second_factor() {
        html.push_str("<p class=\"muted\">This application asks for a second factor.</p>");
    }
    if let Some(e) = v.error {
        html.push_str(&format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(e)));
    }
    let (pow_attr, pow_field) = match &v.pow {
        Some(c) => (
            " data-has-pow",
            format!(
                "<input type=\"hidden\" name=\"altcha\" data-pow=\"{}\"><p class=\"muted\" data-pow-status aria-live=\"polite\">Checking this browser first; this takes a few seconds…</p>",
                esc(c)
            ),
        ),
        None => ("", String::new()),
    };
    html.push_str(&format!(
        r#"<form method="post" action="{SIGNIN_PATH}"{pow_attr}>
<input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username webauthn" required value="{email}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{pow_field}<button type="submit" class="wide">Sign in</button></form>"#,
        req = esc(handle),
        token = esc(&token),
        email = esc(email),
    ));
    if s.svc.mail_enabled() {
        html.push_str(&format!(
            "<p class=\"or\"><a href=\"{}\">Forgot your password?</a></p>",
            super::oauth_recovery::FORGOT_PATH
        ));
    }
    html.push_str(&passkey_form(handle, &token, false));
    html.push_str(&super::oauth_upstream::buttons(s, handle, &token));
    let mut page = Page::new("Sign in", s.svc.random_token())
        .status(status)
        .with_script()
        .form_target(&p.request.redirect_uri)
        .html(&html);
    // The provider buttons' forms end at the provider (a redirect the CSP must allow).
    for provider in s.svc.identity_providers() {
        page = page.form_target(&provider.issuer);
    }
    page = page.cookies(set);
    page.render()
}

fn passkey_form(handle: &str, token: &str, mfa: bool) -> String {
    format!(
        r#"<p class="or">or</p><form id="passkey-form" method="post" action="/oauth2/signin/passkey" data-start="/oauth2/signin/passkey/start" data-mfa="{m}">
<input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<input type="hidden" name="ceremony_id"><input type="hidden" name="credential"><input type="hidden" name="mode" value="{mode}">
<button type="button" id="passkey-button" class="secondary wide">{label}</button>
<p class="muted" data-passkey-status aria-live="polite"></p></form>"#,
        m = u8::from(mfa),
        req = esc(handle),
        token = esc(token),
        mode = if mfa { "mfa" } else { "login" },
        label = if mfa {
            "Use a passkey"
        } else {
            "Sign in with a passkey"
        },
    )
}

/// `GET /oauth2/signin?req=`
async fn signin_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReqQuery>,
) -> Response {
    match pending(&s, q.req.as_deref()).await {
        Ok((handle, p)) => signin_form(
            &s,
            &headers,
            &handle,
            &p,
            SignInView::default(),
            StatusCode::OK,
        ),
        Err(r) => r,
    }
}

fn mfa_form(
    s: &AppState,
    headers: &HeaderMap,
    handle: &str,
    p: &PendingAuthz,
    error: Option<&str>,
    mfa_cookie: Option<String>,
) -> Response {
    let (token, set) = csrf(s, headers);
    let mut html = format!(
        "<p>A second factor is needed to continue to <strong>{}</strong>.</p>",
        esc(&p.client.name)
    );
    if let Some(e) = error {
        html.push_str(&format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(e)));
    }
    html.push_str(&format!(
        r#"<form method="post" action="/oauth2/signin/mfa">
<input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{{6}}" maxlength="6" autofocus>
<button type="submit" class="wide">Verify</button></form>
<details><summary>Use a recovery code</summary>
<form method="post" action="/oauth2/signin/mfa">
<input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<label for="recovery_code">Recovery code</label>
<input id="recovery_code" name="recovery_code" type="text" autocomplete="off" spellcheck="false">
<button type="submit" class="wide">Use recovery code</button></form></details>"#,
        req = esc(handle),
        token = esc(&token),
    ));
    html.push_str(&passkey_form(handle, &token, true));
    let mut page = Page::new("Verify it's you", s.svc.random_token())
        .with_script()
        .form_target(&p.request.redirect_uri)
        .html(&html);
    if error.is_some() {
        page = page.status(StatusCode::UNAUTHORIZED);
    }
    for c in set.into_iter().chain(mfa_cookie) {
        page = page.cookie(c);
    }
    page.render()
}

/// What a failed sign-in tells the person (never which of email or password was wrong).
fn sign_in_error(e: &Error) -> (StatusCode, String) {
    match e {
        Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "Wrong email or password.".into()),
        Error::TooManyAttempts { retry_after } | Error::RateLimited { retry_after, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts. Try again in {retry_after} seconds."),
        ),
        Error::AccountLocked => (
            StatusCode::FORBIDDEN,
            "This account is locked. Contact your administrator.".into(),
        ),
        Error::RiskDenied => (
            StatusCode::FORBIDDEN,
            "This sign-in was refused for your account's safety.".into(),
        ),
        Error::InvalidRequest(..) => (
            StatusCode::BAD_REQUEST,
            "Enter a valid email address and your password.".into(),
        ),
        Error::InvalidToken(_) => (
            StatusCode::UNAUTHORIZED,
            "That code is not right, or it was used already.".into(),
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable right now; try again shortly.".into(),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "The sign-in could not be completed.".into(),
        ),
    }
}

/// After a factor was proved: the browser's session cookie, then on with the request.
pub(super) async fn signed_in(
    s: &AppState,
    ctx: &RequestContext,
    handle: &str,
    t: TokenResponse,
) -> Response {
    let c = Cookies::of(s);
    let value = s.svc.browser_cookie(&t.session_id);
    let mut cookies = vec![
        c.set(SESSION, &value, "Lax", None),
        c.set(MFA, "", "Strict", Some(0)),
    ];
    if let Some(d) = &t.device_cookie {
        let secure = if c.secure { "; Secure" } else { "" };
        cookies.push(format!(
            "{}={d}; Path=/oauth2; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}",
            portcullis_core::detect::device::COOKIE
        ));
    }
    let session = match s.svc.browser_session(Some(&value)).await {
        Ok(b) => b,
        Err(_) => return unavailable(s),
    };
    let r = s.svc.authorize_resume(ctx, handle, session).await;
    step(s, r, cookies)
}

pub(super) fn form_params(body: &[u8]) -> Params {
    Params::parse(body).unwrap_or_default()
}

/// `POST /oauth2/signin`: email and password.
async fn signin_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let (handle, p) = match pending(&s, f.get("req")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !form_ok(&s, &headers, f.get("csrf")) {
        let v = SignInView {
            error: Some("The form expired; sign in again."),
            ..Default::default()
        };
        return signin_form(&s, &headers, &handle, &p, v, StatusCode::FORBIDDEN);
    }
    let email = f.get("email").unwrap_or("");
    let password = f.get("password").unwrap_or("");
    match s.svc.login(&ctx, email, password, f.get("altcha")).await {
        Ok(LoginOutcome::Tokens(t)) => signed_in(&s, &ctx, &handle, t).await,
        Ok(LoginOutcome::MfaRequired { mfa_token, .. }) => {
            let c = Cookies::of(&s).set(MFA, mfa_token.expose_secret(), "Strict", Some(300));
            mfa_form(&s, &headers, &handle, &p, None, Some(c))
        }
        Err(Error::ChallengeRequired { challenge, why }) => {
            let v = SignInView {
                error: Some(why),
                email: Some(email),
                pow: serde_json::to_string(&challenge).ok(),
            };
            // A step of the sign-in, not a failure: the page solves it and asks again.
            signin_form(&s, &headers, &handle, &p, v, StatusCode::OK)
        }
        Err(e) => {
            let (status, msg) = sign_in_error(&e);
            let v = SignInView {
                error: Some(&msg),
                email: Some(email),
                pow: None,
            };
            signin_form(&s, &headers, &handle, &p, v, status)
        }
    }
}

/// `POST /oauth2/signin/mfa`: a TOTP or recovery code for the sign-in in progress.
async fn mfa_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let (handle, p) = match pending(&s, f.get("req")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mfa_token = Cookies::of(&s)
        .get(&headers, MFA)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let Some(mfa_token) = mfa_token.filter(|_| form_ok(&s, &headers, f.get("csrf"))) else {
        let v = SignInView {
            error: Some("The sign-in expired; sign in again."),
            ..Default::default()
        };
        return signin_form(&s, &headers, &handle, &p, v, StatusCode::FORBIDDEN);
    };
    let factor = match (f.get("code"), f.get("recovery_code")) {
        (Some(c), None) => Factor::Totp(c),
        (None, Some(r)) => Factor::RecoveryCode(r),
        _ => return mfa_form(&s, &headers, &handle, &p, Some("Enter one code."), None),
    };
    match s.svc.mfa_verify(&ctx, &mfa_token, factor).await {
        Ok(t) => signed_in(&s, &ctx, &handle, t).await,
        Err(
            e @ (Error::InvalidCredentials
            | Error::InvalidMfaCode(_)
            | Error::TooManyAttempts { .. }),
        ) => {
            let (_, msg) = sign_in_error(&e);
            let msg = if matches!(e, Error::InvalidCredentials | Error::InvalidMfaCode(_)) {
                "That code is not right, or it was used already.".to_owned()
            } else {
                msg
            };
            mfa_form(&s, &headers, &handle, &p, Some(&msg), None)
        }
        Err(e) => {
            let (status, msg) = sign_in_error(&e);
            let msg = if matches!(e, Error::InvalidToken(_)) {
                "The sign-in expired; sign in again.".to_owned()
            } else {
                msg
            };
            let v = SignInView {
                error: Some(&msg),
                ..Default::default()
            };
            signin_form(&s, &headers, &handle, &p, v, status)
        }
    }
}

/// `POST /oauth2/signin/passkey/start` (the page's script, JSON): the WebAuthn options,
/// passwordless or as the second factor of the sign-in in progress.
async fn passkey_start(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    if !form_ok(&s, &headers, token) {
        return (StatusCode::FORBIDDEN, axum::Json(json!({"error": "csrf"}))).into_response();
    }
    let mfa = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("mfa").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let mfa_token = Cookies::of(&s)
        .get(&headers, MFA)
        .filter(|t| mfa && !t.is_empty());
    if mfa && mfa_token.is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "sign in again"})),
        )
            .into_response();
    }
    match s.svc.passkey_login_start(&ctx, mfa_token).await {
        Ok(c) => super::oauth::no_store(
            axum::Json(json!({"ceremony_id": c.ceremony_id, "publicKey": c.public_key}))
                .into_response(),
        ),
        Err(e) => {
            let (status, msg) = sign_in_error(&e);
            (status, axum::Json(json!({"error": msg}))).into_response()
        }
    }
}

/// `POST /oauth2/signin/passkey`: the authenticator's answer.
async fn passkey_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_params(&body);
    let (handle, p) = match pending(&s, f.get("req")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let credential = f
        .get("credential")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
    let (Some(ceremony_id), Some(credential), true) = (
        f.get("ceremony_id"),
        credential,
        form_ok(&s, &headers, f.get("csrf")),
    ) else {
        let v = SignInView {
            error: Some("The passkey sign-in did not complete; try again."),
            ..Default::default()
        };
        return signin_form(&s, &headers, &handle, &p, v, StatusCode::BAD_REQUEST);
    };
    let result = if f.get("mode") == Some("mfa") {
        match Cookies::of(&s).get(&headers, MFA).filter(|t| !t.is_empty()) {
            Some(t) => {
                let t = t.to_owned();
                s.svc
                    .mfa_verify(
                        &ctx,
                        &t,
                        Factor::Passkey {
                            ceremony_id,
                            credential: &credential,
                        },
                    )
                    .await
            }
            None => Err(Error::InvalidToken("no sign-in in progress")),
        }
    } else {
        s.svc
            .passkey_login_finish(&ctx, ceremony_id, &credential)
            .await
    };
    match result {
        Ok(t) => signed_in(&s, &ctx, &handle, t).await,
        Err(e) => {
            let (status, _) = sign_in_error(&e);
            let v = SignInView {
                error: Some("That passkey was not accepted."),
                ..Default::default()
            };
            signin_form(&s, &headers, &handle, &p, v, status)
        }
    }
}

/// What each scope lets an application do, for the consent page.
fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".into(),
        "profile" => "See your name".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Stay connected when you are not using it".into(),
        other => format!("Use <code>{}</code>", esc(other)),
    }
}

/// The list items of what `scopes` allow, for the consent, device and account pages.
pub(super) fn scope_items(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "<li>Know that you signed in</li>".to_owned();
    }
    scopes
        .iter()
        .map(|sc| format!("<li>{}</li>", describe(sc)))
        .collect()
}

/// `GET /oauth2/consent?req=`
async fn consent_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReqQuery>,
) -> Response {
    let (handle, p) = match pending(&s, q.req.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let user = match browser(&s, &headers).await {
        Ok(Some((_, u))) => u,
        Ok(None) => return see_other(&format!("{SIGNIN_PATH}?req={handle}"), Vec::new()),
        Err(_) => return unavailable(&s),
    };
    let (token, set) = csrf(&s, &headers);
    let items = scope_items(&p.request.scopes);
    let html = format!(
        r#"<p><strong>{client}</strong> wants to:</p><ul class="scopes">{items}</ul>
<p class="muted">Signed in as {email}. You can withdraw this later from your connected apps.</p>
<form method="post" action="{CONSENT_PATH}"><input type="hidden" name="req" value="{req}"><input type="hidden" name="csrf" value="{token}">
<div class="row"><button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button></div></form>"#,
        client = esc(&p.client.name),
        email = esc(user.email.as_str()),
        req = esc(&handle),
        token = esc(&token),
    );
    let mut page = Page::new("Allow access?", s.svc.random_token())
        .form_target(&p.request.redirect_uri)
        .html(&html);
    page = page.cookies(set);
    page.render()
}

/// `POST /oauth2/consent`
async fn consent_submit(
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
        return see_other(&format!("{CONSENT_PATH}?req={handle}"), Vec::new());
    }
    let session = match browser(&s, &headers).await {
        Ok(b) => b,
        Err(_) => return unavailable(&s),
    };
    let allow = f.get("decision") == Some("allow");
    let r = s.svc.authorize_consent(&ctx, &handle, session, allow).await;
    step(&s, r, Vec::new())
}
