//! Account recovery by mail (`/api/v1/auth/password/*`, `/api/v1/auth/email/verify`) and
//! administrators' account changes (`PATCH /api/v1/admin/users/{id}`, password resets).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis_core::model::Role;
use portcullis_core::service::UserPatch;
use portcullis_core::{Error, FieldError};

use crate::AppState;
use crate::dto::{
    EmailChangeRequest, ForgotPasswordRequest, IdentityBody, IdentityList, ResetPasswordRequest,
    UserEnvelope, UserPatchRequest, VerifyEmailRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiJson, Auth, Ctx};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/password/forgot", post(forgot))
        .route("/api/v1/auth/password/reset", post(reset))
        .route("/api/v1/auth/email/verify", post(verify_email))
        .route("/api/v1/auth/email", post(change_email))
        .route("/api/v1/auth/identities", get(identities))
        .route("/api/v1/auth/identities/{id}", delete(unlink))
        .route(
            "/api/v1/admin/users/{id}/password-reset",
            post(admin_password_reset),
        )
}

/// Forgotten password: a single-use code (15 minutes) goes by mail to the account of this
/// address, if there is one. The answer is the same 202 either way, given before the
/// address is even looked up.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted: a code is mailed if the address has an account"),
        (status = 400, description = "Invalid body or address", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "This server sends no mail (no [email] settings)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests for this address or from this source", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn forgot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<StatusCode> {
    let email = s.svc.forgot_password_gate(&ctx, &body.email).await?;
    let svc = s.svc.clone();
    tokio::spawn(async move {
        if let Err(e) = svc.send_password_reset(&ctx, &email).await {
            tracing::warn!("password reset not sent: {e}");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

/// Sets a new password with a code from a reset or invitation mail. Every session of the
/// account ends (and, with `revoke_api_keys`, every API key); the code works once.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session revoked"),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, used or expired code (`invalid_token`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password (the code stays usable)", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Account locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes from this source", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reset(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    s.svc
        .reset_password(&ctx, &body.token, &body.new_password, body.revoke_api_keys)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Proves the account's address with the code from the verification mail.
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Address verified"),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, used or expired code (`invalid_token`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes from this source", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> ApiResult<StatusCode> {
    s.svc.verify_email(&ctx, &body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the account's address: the password again, then a code mailed to the new
/// address; the change happens when the code comes back at `POST /auth/email/verify`, and
/// the old address is told. The answer is the same 202 whether or not the new address
/// already has an account (which then gets nothing).
#[utoipa::path(post, path = "/api/v1/auth/email", tag = "auth", security(("bearer" = [])), request_body = EmailChangeRequest,
    responses(
        (status = 202, description = "A confirmation code is mailed to the new address"),
        (status = 400, description = "Invalid body, or the same address", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "This server sends no mail", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    ApiJson(body): ApiJson<EmailChangeRequest>,
) -> ApiResult<StatusCode> {
    s.svc
        .request_email_change(&p, &ctx, &body.new_email, &body.password)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// The caller's identities at upstream OpenID providers.
#[utoipa::path(get, path = "/api/v1/auth/identities", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Linked identities", body = IdentityList)))]
pub async fn identities(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<IdentityList>> {
    let list = s.svc.identities(&p).await?;
    Ok(Json(IdentityList {
        identities: list.into_iter().map(IdentityBody::from).collect(),
    }))
}

/// Unlinks one of the caller's upstream identities (refused when it is the account's only
/// way to sign in).
#[utoipa::path(delete, path = "/api/v1/auth/identities/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Identity id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "Not one of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account's only way to sign in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unlink(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.unlink_identity(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails the user a password reset code (an invitation again, for an account that never
/// had a password).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password-reset", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 202, description = "The reset mail is on its way"),
        (status = 403, description = "Not allowed, or this server sends no mail", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "The account is locked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_password_reset(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.admin_password_reset(&p, &ctx, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Changes a user's role, display name, email or "must change the password" (step-up
/// first). A new role, or requiring a password change, ends the user's sessions; a new
/// address is unproved until verified, and the old one is told by mail.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body = UserPatchRequest,
    responses(
        (status = 200, description = "The user as changed", body = UserEnvelope),
        (status = 202, description = "A promotion to admin, held for other administrators' approval", body = crate::dto::HeldBody),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (your own role, a service account)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account has this email", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatchRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let role = match body.role.as_deref() {
        None => None,
        Some(r) => match r.parse::<Role>() {
            Ok(Role::Service) | Err(_) => {
                return Err(Error::InvalidRequest(
                    "invalid role".into(),
                    vec![FieldError::new("role", "invalid", "user or admin")],
                )
                .into());
            }
            Ok(r) => Some(r),
        },
    };
    let patch = UserPatch {
        role,
        display_name: body.display_name,
        email: body.email,
        must_change_password: body.must_change_password,
    };
    Ok(match s.svc.admin_update_user(&p, &ctx, &id, patch).await? {
        portcullis_core::service::Held::Ran(user) => {
            Json(super::auth::envelope(&user)).into_response()
        }
        portcullis_core::service::Held::Pending(r) => super::approvals::held_response(&r),
    })
}
