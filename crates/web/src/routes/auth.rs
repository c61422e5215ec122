//! `/api/v1/auth/*`: registration, login, tokens, sessions, password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::AppState;
use crate::dto::{
    LoginBody, LoginRequest, MfaRequiredBody, PasswordChangeRequest, RefreshRequest,
    RegisterRequest, SessionBody, SessionList, TokenBody, UserBody, UserEnvelope,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{AnyAuth, ApiJson, Auth, Ctx, Enrolling, SignInCtx};
use axum::http::{HeaderMap, HeaderValue, header};
use portcullis_core::service::{LoginOutcome, TokenResponse};
use secrecy::ExposeSecret;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route(
            "/api/v1/auth/sessions",
            get(list_sessions).delete(revoke_other_sessions),
        )
        .route("/api/v1/auth/sessions/{id}", delete(revoke_session))
}

pub(crate) fn envelope(user: &portcullis_core::model::User) -> UserEnvelope {
    UserEnvelope {
        user: UserBody::from(user),
        flat: UserBody::from(user),
    }
}

/// Register an account (when `auth.self_registration` is on).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = UserEnvelope),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Under attack, or many registrations from this address: solve the proof-of-work in `challenge` first (`challenge_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Registration is closed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password, or an address at a disposable mail provider (`email_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address (`too_many_attempts`, `Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserEnvelope>)> {
    let user = s
        .svc
        .register(
            &ctx,
            &body.email,
            &body.password,
            body.display_name.as_deref(),
            body.altcha.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(envelope(&user))))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in, or `mfa_required` with an `mfa_token`", body = LoginBody),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid_credentials`), or a proof-of-work to solve first (`challenge_required`, with `challenge`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Risk too high for the factors the account has (`risk_denied`)", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Account locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(s): State<AppState>,
    SignInCtx(ctx): SignInCtx,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<(HeaderMap, Json<LoginBody>)> {
    let outcome = s
        .svc
        .login(&ctx, &body.email, &body.password, body.altcha.as_deref())
        .await;
    s.metrics.signin(
        "password",
        match &outcome {
            Ok(LoginOutcome::Tokens(_)) => "success",
            Ok(LoginOutcome::MfaRequired { .. }) => "second_factor",
            Err(_) => "failure",
        },
    );
    match outcome? {
        LoginOutcome::Tokens(t) => {
            let (h, Json(t)) = signed_in(&s, t);
            Ok((h, Json(LoginBody::Tokens(t))))
        }
        LoginOutcome::MfaRequired { mfa_token, methods } => Ok((
            HeaderMap::new(),
            Json(LoginBody::MfaRequired(MfaRequiredBody {
                status: "mfa_required",
                mfa_token: mfa_token.expose_secret().to_owned(),
                methods,
            })),
        )),
    }
}

/// The token body of a completed sign-in, with the signed device cookie that lets this
/// device past the proof-of-work gate next time (HttpOnly, scoped to the auth endpoints).
pub(crate) fn signed_in(s: &AppState, t: TokenResponse) -> (HeaderMap, Json<TokenBody>) {
    let mut h = HeaderMap::new();
    if let Some(v) = &t.device_cookie {
        let secure = if s.web.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={v}; Path=/api/v1/auth; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}",
            portcullis_core::detect::device::COOKIE
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    (h, Json(t.into()))
}

/// Exchange a refresh token for a new access and refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenBody),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(s): State<AppState>,
    SignInCtx(ctx): SignInCtx,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenBody>> {
    let tokens = s.svc.refresh(&ctx, &body.refresh_token).await;
    s.metrics.refresh(tokens.is_ok());
    Ok(Json(tokens?.into()))
}

/// Sign out: revoke the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
) -> ApiResult<StatusCode> {
    s.svc.logout(&p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserEnvelope),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(State(s): State<AppState>, AnyAuth(p): AnyAuth) -> ApiResult<Json<UserEnvelope>> {
    let user = s.svc.me(&p).await?;
    Ok(Json(envelope(&user)))
}

/// Change the password; every other session is revoked.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated or wrong current password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak new password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> ApiResult<StatusCode> {
    s.svc
        .change_password(&p, &ctx, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions", body = SessionList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_sessions(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<SessionList>> {
    let sessions = s.svc.list_sessions(&p).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .iter()
            .map(|(s, c)| SessionBody::new(s, *c))
            .collect(),
    }))
}

/// Revoke every session of the caller but the current one.
#[utoipa::path(delete, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_other_sessions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<StatusCode> {
    s.svc.revoke_other_sessions(&p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_session(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.revoke_own_session(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
