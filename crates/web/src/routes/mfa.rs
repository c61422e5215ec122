//! `/api/v1/auth/mfa/*` and `/api/v1/auth/step-up`: second factors.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use portcullis_core::clock::rfc3339;
use portcullis_core::service::Factor;
use secrecy::ExposeSecret;

use crate::AppState;
use crate::dto::{
    CodeRequest, MfaDisableRequest, MfaSetupBody, MfaVerifyRequest, RecoveryCodesBody, StepUpBody,
    StepUpRequest, TokenBody,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Auth, Ctx, Enrolling};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/mfa/setup", post(setup))
        .route("/api/v1/auth/mfa/confirm", post(confirm))
        .route("/api/v1/auth/mfa/verify", post(verify))
        .route("/api/v1/auth/mfa/recovery-codes", post(recovery_codes))
        .route("/api/v1/auth/mfa", axum::routing::delete(disable))
        .route("/api/v1/auth/step-up", post(step_up))
}

fn qr_svg(data: &str) -> Result<String, portcullis_core::Error> {
    let code = qrcode::QrCode::new(data.as_bytes())
        .map_err(|e| portcullis_core::Error::Internal(format!("QR code rendering failed: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

/// Start enrolling a TOTP authenticator app.
#[utoipa::path(post, path = "/api/v1/auth/mfa/setup", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Secret, otpauth URI and QR code; pending until confirmed", body = MfaSetupBody),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn setup(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
) -> ApiResult<Json<MfaSetupBody>> {
    let setup = s.svc.mfa_setup(&p, &ctx).await?;
    let uri = setup.otpauth_uri.expose_secret().to_owned();
    Ok(Json(MfaSetupBody {
        secret: setup.secret.expose_secret().to_owned(),
        qr_svg: qr_svg(&uri)?,
        otpauth_uri: uri,
    }))
}

/// Confirm the enrolment with a first code; returns ten single-use recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/mfa/confirm", tag = "mfa", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 200, description = "MFA on", body = RecoveryCodesBody),
        (status = 400, description = "Nothing pending, or bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong code", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Json<RecoveryCodesBody>> {
    Ok(Json(RecoveryCodesBody {
        recovery_codes: s.svc.mfa_confirm(&p, &ctx, &body.code).await?,
    }))
}

/// Second step of a login: a TOTP code or a recovery code for the `mfa_token`.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "mfa", request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong, replayed or expired code, or dead mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Account locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(s): State<AppState>,
    crate::extract::SignInCtx(ctx): crate::extract::SignInCtx,
    ApiJson(body): ApiJson<MfaVerifyRequest>,
) -> ApiResult<(axum::http::HeaderMap, Json<TokenBody>)> {
    let factor = match (&body.code, &body.recovery_code) {
        (Some(c), _) => Factor::Totp(c),
        (None, Some(r)) => Factor::RecoveryCode(r),
        (None, None) => return Err(ApiError::invalid_request("send `code` or `recovery_code`")),
    };
    let t = s.svc.mfa_verify(&ctx, &body.mfa_token, factor).await;
    s.metrics.second_factor(t.is_ok());
    Ok(super::auth::signed_in(&s, t?))
}

/// Replace the recovery codes; the old ones stop working. Needs a recent second factor.
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "New codes", body = RecoveryCodesBody),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn recovery_codes(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<Json<RecoveryCodesBody>> {
    Ok(Json(RecoveryCodesBody {
        recovery_codes: s.svc.regenerate_recovery_codes(&p, &ctx).await?,
    }))
}

/// Remove the TOTP authenticator (password and a current code; recent second factor).
#[utoipa::path(delete, path = "/api/v1/auth/mfa", tag = "mfa", security(("bearer" = [])), request_body = MfaDisableRequest,
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Wrong password or code, or step-up required", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    ApiJson(body): ApiJson<MfaDisableRequest>,
) -> ApiResult<StatusCode> {
    s.svc
        .mfa_disable(&p, &ctx, &body.password, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Prove a factor again for this session; sensitive actions need one within
/// `auth.step_up_max_age_seconds`.
#[utoipa::path(post, path = "/api/v1/auth/step-up", tag = "mfa", security(("bearer" = [])), request_body = StepUpRequest,
    responses(
        (status = 200, description = "A fresh access token", body = StepUpBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong code or password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn step_up(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Enrolling(p): Enrolling,
    ApiJson(body): ApiJson<StepUpRequest>,
) -> ApiResult<Json<StepUpBody>> {
    let factor = match (
        &body.code,
        &body.recovery_code,
        &body.ceremony_id,
        &body.credential,
    ) {
        (Some(c), _, _, _) => Some(Factor::Totp(c)),
        (None, Some(r), _, _) => Some(Factor::RecoveryCode(r)),
        (None, None, Some(ceremony_id), Some(credential)) => Some(Factor::Passkey {
            ceremony_id,
            credential,
        }),
        _ => None,
    };
    let r = s
        .svc
        .step_up(&p, &ctx, factor, body.password.as_deref())
        .await?;
    Ok(Json(StepUpBody {
        status: "ok",
        access_token: r.access_token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: r.expires_in,
        session_id: r.session_id,
        auth_time: rfc3339(r.auth_time),
    }))
}
