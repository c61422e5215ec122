//! `/api/v1/auth/webauthn/*`: passkeys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis_core::service::CeremonyStart;

use crate::AppState;
use crate::dto::{
    CeremonyBody, PasskeyBody, PasskeyList, PasskeyLoginFinishRequest, PasskeyLoginStartRequest,
    PasskeyRegisterFinishRequest, TokenBody,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Auth, Ctx, Enrolling};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/webauthn/register/start", post(register_start))
        .route(
            "/api/v1/auth/webauthn/register/finish",
            post(register_finish),
        )
        .route("/api/v1/auth/webauthn/login/start", post(login_start))
        .route("/api/v1/auth/webauthn/login/finish", post(login_finish))
        .route("/api/v1/auth/webauthn/step-up/start", post(step_up_start))
        .route("/api/v1/auth/webauthn/credentials", get(list))
        .route("/api/v1/auth/webauthn/credentials/{id}", delete(remove))
}

impl From<CeremonyStart> for CeremonyBody {
    fn from(c: CeremonyStart) -> Self {
        Self {
            ceremony_id: c.ceremony_id,
            public_key: c.public_key,
        }
    }
}

/// Start registering a passkey (needs a recent factor: sign in or step up first).
#[utoipa::path(post, path = "/api/v1/auth/webauthn/register/start", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Creation options for navigator.credentials.create()", body = CeremonyBody),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Passkeys unavailable (server.public_url names no host)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many passkeys", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_start(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
) -> ApiResult<Json<CeremonyBody>> {
    Ok(Json(s.svc.passkey_register_start(&p, &ctx).await?.into()))
}

/// Finish the registration with the authenticator's response.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = PasskeyRegisterFinishRequest,
    responses(
        (status = 201, description = "Registered; `recovery_codes` when it is the first second factor", body = PasskeyBody),
        (status = 400, description = "Bad body, unknown ceremony, or the response does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This credential is already registered", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_finish(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
    ApiJson(body): ApiJson<PasskeyRegisterFinishRequest>,
) -> ApiResult<(StatusCode, Json<PasskeyBody>)> {
    let r = s
        .svc
        .passkey_register_finish(&p, &ctx, &body.ceremony_id, &body.name, &body.credential)
        .await?;
    let mut out = PasskeyBody::from(&r.passkey);
    out.recovery_codes = r.recovery_codes;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Start a passkey login: `{}` for passwordless (discoverable credentials), `{mfa_token}` for
/// the second step after the password.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/login/start", tag = "passkeys",
    request_body = PasskeyLoginStartRequest,
    responses(
        (status = 200, description = "Request options for navigator.credentials.get()", body = CeremonyBody),
        (status = 400, description = "Bad body, or the account has no passkey", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Dead mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login_start(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<PasskeyLoginStartRequest>,
) -> ApiResult<Json<CeremonyBody>> {
    Ok(Json(
        s.svc
            .passkey_login_start(&ctx, body.mfa_token.as_deref())
            .await?
            .into(),
    ))
}

/// Finish a passkey login with the authenticator's assertion.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/login/finish", tag = "passkeys",
    request_body = PasskeyLoginFinishRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The assertion does not verify, or the ceremony is unknown or used", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Account locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login_finish(
    State(s): State<AppState>,
    crate::extract::SignInCtx(ctx): crate::extract::SignInCtx,
    ApiJson(body): ApiJson<PasskeyLoginFinishRequest>,
) -> ApiResult<(axum::http::HeaderMap, Json<TokenBody>)> {
    let t = s
        .svc
        .passkey_login_finish(&ctx, &body.ceremony_id, &body.credential)
        .await;
    s.metrics
        .signin("passkey", if t.is_ok() { "success" } else { "failure" });
    Ok(super::auth::signed_in(&s, t?))
}

/// Start a passkey step-up; finish it at `POST /api/v1/auth/step-up` with `ceremony_id` and
/// `credential`.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/step-up/start", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Request options for navigator.credentials.get()", body = CeremonyBody),
        (status = 400, description = "The account has no passkey", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn step_up_start(
    State(s): State<AppState>,
    Enrolling(p): Enrolling,
) -> ApiResult<Json<CeremonyBody>> {
    Ok(Json(s.svc.passkey_step_up_start(&p).await?.into()))
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/api/v1/auth/webauthn/credentials", operation_id = "list_passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Passkeys, oldest first", body = PasskeyList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(s): State<AppState>,
    Enrolling(p): Enrolling,
) -> ApiResult<Json<PasskeyList>> {
    let keys = s.svc.list_passkeys(&p).await?;
    Ok(Json(PasskeyList {
        credentials: keys.iter().map(PasskeyBody::from).collect(),
    }))
}

/// Remove one of the caller's passkeys (needs a recent factor).
#[utoipa::path(delete, path = "/api/v1/auth/webauthn/credentials/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.delete_passkey(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
