//! Data-subject rights: export and erasure.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis_core::clock::rfc3339;

use crate::AppState;
use crate::dto::{
    ApiKeyBody, AuditEventBody, EraseQuery, EraseRequest, ExportBody, ExportMfa, KekVersionBody,
    KeyStatusBody, PasskeyBody, SessionBody, UserBody,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Auth, Ctx};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/me/export", get(export))
        .route("/api/v1/auth/me/erase", post(erase))
        .route(
            "/api/v1/admin/users/{id}",
            delete(admin_erase).patch(super::recovery::update_user),
        )
        .route("/api/v1/admin/keys", get(key_status))
        .route("/api/v1/admin/keys/rotate", post(rotate))
}

fn status_body(st: portcullis_core::store::KekStatus) -> KeyStatusBody {
    KeyStatusBody {
        kek_version: st.current,
        versions: st
            .versions
            .iter()
            .map(|(v, c, r)| KekVersionBody {
                version: *v,
                created_at: rfc3339(*c),
                retired_at: r.map(rfc3339),
            })
            .collect(),
        data_keys: st.deks,
        data_keys_rewrapped: st.deks_current,
        data_keys_destroyed: st.deks_destroyed,
        progress: if st.deks == 0 {
            1.0
        } else {
            st.deks_current as f64 / st.deks as f64
        },
    }
}

/// Key-encryption keys and the progress of a rotation (data keys under the newest KEK).
#[utoipa::path(get, path = "/api/v1/admin/keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Key status", body = KeyStatusBody)))]
pub async fn key_status(
    State(s): State<AppState>,
    Admin(_, _): Admin,
) -> ApiResult<Json<KeyStatusBody>> {
    Ok(Json(status_body(s.svc.kek_status().await?)))
}

/// Start a KEK rotation (step-up required): a new KEK is added at once and every node
/// re-wraps data keys under it in the background; follow `progress` at `GET /admin/keys`.
#[utoipa::path(post, path = "/api/v1/admin/keys/rotate", operation_id = "rotate_kek", tag = "admin", security(("bearer" = [])),
    responses((status = 202, description = "Rotation started (a `KeyStatusBody`), or held for other administrators' approval when `keys.rotate` is configured (a `HeldBody`)", body = KeyStatusBody)))]
pub async fn rotate(State(s): State<AppState>, Admin(p, ctx): Admin) -> ApiResult<Response> {
    Ok(match s.svc.admin_rotate_kek(&p, &ctx).await? {
        portcullis_core::service::Held::Ran(_) => (
            StatusCode::ACCEPTED,
            Json(status_body(s.svc.kek_status().await?)),
        )
            .into_response(),
        portcullis_core::service::Held::Pending(r) => super::approvals::held_response(&r),
    })
}

/// Everything held about the caller, as one JSON document (GDPR art. 15 and 20): profile,
/// sessions, API-key and second-factor metadata, and the audit events about them. No
/// secrets (password hash, TOTP secret, key material) are included.
#[utoipa::path(get, path = "/api/v1/auth/me/export", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The export (also offered as a download)", body = ExportBody),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
) -> ApiResult<Response> {
    let e = s.svc.export_me(&p, &ctx).await?;
    let body = ExportBody {
        format: "portcullis-export-v1",
        exported_at: rfc3339(s.svc.now()),
        profile: UserBody::from(&e.user),
        sessions: e
            .sessions
            .iter()
            .map(|(x, c)| SessionBody::new(x, *c))
            .collect(),
        api_keys: e.api_keys.iter().map(ApiKeyBody::from).collect(),
        mfa: ExportMfa {
            enabled: e.user.mfa_enabled,
            passkeys: e.passkeys.iter().map(PasskeyBody::from).collect(),
        },
        sign_ins: e
            .sign_ins
            .iter()
            .map(crate::dto::ActivityEntry::from)
            .collect(),
        audit_events: e.audit_events.iter().map(AuditEventBody::from).collect(),
        audit_truncated: e.audit_truncated,
    };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"portcullis-export.json\""),
    );
    Ok(res)
}

/// Erase the caller's account (GDPR art. 17): needs the password and a recent second
/// factor: a step-up within `auth.step_up_max_age_seconds`, or `code` / `recovery_code` in
/// this request (`step_up_required` otherwise). Every session and API key is revoked, the
/// personal data is replaced by a pseudonym, and the personal fields of the audit events
/// about the account are redacted; the audit log still verifies.
#[utoipa::path(post, path = "/api/v1/auth/me/erase", tag = "auth", security(("bearer" = [])),
    request_body = EraseRequest,
    responses(
        (status = 204, description = "Erased; the token no longer works"),
        (status = 401, description = "Not authenticated, or wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A recent step-up is needed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<EraseRequest>,
) -> ApiResult<StatusCode> {
    // A second factor in the body is the step-up, done first.
    let factor = match (&body.code, &body.recovery_code) {
        (Some(c), _) => Some(portcullis_core::service::Factor::Totp(c)),
        (None, Some(r)) => Some(portcullis_core::service::Factor::RecoveryCode(r)),
        (None, None) => None,
    };
    if factor.is_some() {
        s.svc.step_up(&p, &ctx, factor, None).await?;
    }
    s.svc.erase_me(&p, &ctx, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erase a user (GDPR art. 17), as an administrator: `?erase=true` is required, since
/// erasure cannot be undone.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$"), EraseQuery),
    responses(
        (status = 204, description = "Erased"),
        (status = 202, description = "Held for other administrators' approval (`admin.user.erase`)", body = crate::dto::HeldBody),
        (status = 400, description = "erase=true missing", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_erase(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EraseQuery>,
) -> ApiResult<Response> {
    if q.erase != Some(true) {
        return Err(crate::error::ApiError::invalid_request(
            "Deleting a user erases their personal data and cannot be undone: send ?erase=true.",
        )
        .with_errors(vec![portcullis_core::FieldError::new(
            "erase",
            "required",
            "must be true",
        )]));
    }
    Ok(match s.svc.admin_erase_user(&p, &ctx, &id).await? {
        portcullis_core::service::Held::Ran(()) => StatusCode::NO_CONTENT.into_response(),
        portcullis_core::service::Held::Pending(r) => super::approvals::held_response(&r),
    })
}
