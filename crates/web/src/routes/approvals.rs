//! Just-in-time elevations (`/auth/elevations`, `/admin/elevations`), held four-eyes
//! operations (`/admin/approvals`), break-glass sign-in, and administrators creating
//! accounts (which may be held).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_core::approvals::RequestKind;
use portcullis_core::model::Role;
use portcullis_core::service::{ElevationAsk, Held};
use portcullis_core::{Error, FieldError};

use crate::AppState;
use crate::dto::{
    ApprovalBody, ApprovalList, BreakGlassRequest, CreateUserRequest, DecisionRequest,
    ElevationBody, ElevationList, ElevationRequest, HeldBody, StatusQuery, TokenBody, UserBody,
    UserEnvelope,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Approver, Auth, Ctx, ElevationViewer, decode_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/auth/elevations",
            post(request_elevation).get(my_elevations),
        )
        .route("/api/v1/auth/break-glass", post(break_glass))
        .route("/api/v1/admin/elevations", get(list_elevations))
        .route(
            "/api/v1/admin/elevations/{id}/approve",
            post(approve_elevation),
        )
        .route("/api/v1/admin/elevations/{id}/deny", post(deny_elevation))
        .route(
            "/api/v1/admin/elevations/{id}/revoke",
            post(revoke_elevation),
        )
        .route("/api/v1/admin/approvals", get(list_approvals))
        .route("/api/v1/admin/approvals/{id}/approve", post(approve_held))
        .route("/api/v1/admin/approvals/{id}/deny", post(deny_held))
}

/// The optional `{reason}` body of a decision: none at all is fine.
#[allow(clippy::result_large_err)]
fn decision(headers: &HeaderMap, body: &Bytes) -> Result<DecisionRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionRequest::default());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    decode_json(ct, body)
}

/// The answer of an operation that may have been held: 202 with the approval to follow.
pub(crate) fn held_response(r: &portcullis_core::approvals::ApprovalRequest) -> Response {
    (StatusCode::ACCEPTED, Json(HeldBody::from(r))).into_response()
}

/// Ask for a role or scopes for a while. Approvers (per `[[elevation.targets]]`) are
/// alerted; once `required` of them approve, this session's next tokens
/// (`POST /auth/refresh`) carry the elevation until it ends.
#[utoipa::path(post, path = "/api/v1/auth/elevations", tag = "elevation", security(("bearer" = [])),
    request_body = ElevationRequest,
    responses(
        (status = 201, description = "Requested; pending approval", body = ElevationBody),
        (status = 403, description = "No target grants this, or an API key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "One is already pending or in force on this session", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_elevation(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ElevationRequest>,
) -> ApiResult<(StatusCode, Json<ElevationBody>)> {
    let role = match body.role.as_deref() {
        None => None,
        Some(r) => Some(r.parse::<Role>().map_err(|m| {
            ApiError::from(Error::InvalidRequest(
                "invalid role".into(),
                vec![FieldError::new("role", "invalid", m)],
            ))
        })?),
    };
    let r = s
        .svc
        .request_elevation(
            &p,
            &ctx,
            ElevationAsk {
                role,
                scopes: body.scopes.unwrap_or_default(),
                duration_seconds: body.duration_seconds,
                reason: body.reason,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ElevationBody::new(&r, s.svc.now())),
    ))
}

/// The caller's elevation requests and grants.
#[utoipa::path(get, path = "/api/v1/auth/elevations", tag = "elevation", security(("bearer" = [])),
    responses((status = 200, description = "Newest first", body = ElevationList)))]
pub async fn my_elevations(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<ElevationList>> {
    let now = s.svc.now();
    let rows = s.svc.my_elevations(&p).await?;
    Ok(Json(ElevationList {
        elevations: rows.iter().map(|r| ElevationBody::new(r, now)).collect(),
    }))
}

/// Elevation requests and grants (default: pending and active ones): every one for an
/// administrator; for an approver named by `[[elevation.targets]]`, those they may decide.
#[utoipa::path(get, path = "/api/v1/admin/elevations", tag = "elevation", security(("bearer" = [])),
    params(StatusQuery),
    responses((status = 200, description = "Newest first", body = ElevationList)))]
pub async fn list_elevations(
    State(s): State<AppState>,
    ElevationViewer(p, all): ElevationViewer,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<ElevationList>> {
    let now = s.svc.now();
    let rows = if all {
        s.svc
            .list_requests(RequestKind::Elevation, q.status.as_deref())
            .await?
    } else {
        s.svc
            .elevations_for_approver(&p, q.status.as_deref())
            .await?
    };
    Ok(Json(ElevationList {
        elevations: rows.iter().map(|r| ElevationBody::new(r, now)).collect(),
    }))
}

async fn decide_elevation(
    s: AppState,
    approver: Approver,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    approve: bool,
) -> ApiResult<Json<ElevationBody>> {
    let Approver(p, ctx) = approver;
    let d = decision(&headers, &body)?;
    let r = s
        .svc
        .decide_elevation(&p, &ctx, &id, approve, d.reason)
        .await?;
    Ok(Json(ElevationBody::new(&r, s.svc.now())))
}

/// Approve an elevation request (an approver of its target, with a recent second factor;
/// never the requester, once per approver). The `required`th approval grants it.
#[utoipa::path(post, path = "/api/v1/admin/elevations/{id}/approve", tag = "elevation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Elevation id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = DecisionRequest, description = "Optional reason (the body may be empty)"),
    responses(
        (status = 200, description = "Counted; `status` is `active` once granted", body = ElevationBody),
        (status = 401, description = "Step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Your own request, or not an approver", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_elevation(
    State(s): State<AppState>,
    approver: Approver,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ElevationBody>> {
    decide_elevation(s, approver, id, headers, body, true).await
}

/// Deny an elevation request: one approver's denial ends it.
#[utoipa::path(post, path = "/api/v1/admin/elevations/{id}/deny", tag = "elevation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Elevation id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = DecisionRequest, description = "Optional reason (the body may be empty)"),
    responses(
        (status = 200, description = "Denied", body = ElevationBody),
        (status = 403, description = "Your own request, or not an approver", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deny_elevation(
    State(s): State<AppState>,
    approver: Approver,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ElevationBody>> {
    decide_elevation(s, approver, id, headers, body, false).await
}

/// End a pending or active elevation now, on every node: tokens that carry it lose it.
#[utoipa::path(post, path = "/api/v1/admin/elevations/{id}/revoke", tag = "elevation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Elevation id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = DecisionRequest, description = "Optional reason (the body may be empty)"),
    responses(
        (status = 200, description = "Revoked", body = ElevationBody),
        (status = 404, description = "No such elevation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending or active", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_elevation(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ElevationBody>> {
    let d = decision(&headers, &body)?;
    let r = s.svc.revoke_elevation(&p, &ctx, &id, d.reason).await?;
    Ok(Json(ElevationBody::new(&r, s.svc.now())))
}

/// Held four-eyes operations (default: pending ones).
#[utoipa::path(get, path = "/api/v1/admin/approvals", tag = "elevation", security(("bearer" = [])),
    params(StatusQuery),
    responses((status = 200, description = "Newest first", body = ApprovalList)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<ApprovalList>> {
    let now = s.svc.now();
    let rows = s
        .svc
        .list_requests(RequestKind::Operation, q.status.as_deref())
        .await?;
    Ok(Json(ApprovalList {
        approvals: rows
            .iter()
            .map(|r| ApprovalBody::new(r, s.svc.held_params(r), now))
            .collect(),
    }))
}

async fn decide_held(
    s: AppState,
    admin: Admin,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    approve: bool,
) -> ApiResult<Json<ApprovalBody>> {
    let Admin(p, ctx) = admin;
    let d = decision(&headers, &body)?;
    let r = s.svc.decide_held(&p, &ctx, &id, approve, d.reason).await?;
    Ok(Json(ApprovalBody::new(
        &r,
        s.svc.held_params(&r),
        s.svc.now(),
    )))
}

/// Approve a held operation (another administrator, by their own role, with a recent
/// second factor; once each). The `required`th approval runs it, once, with its exact
/// parameters; `status` then says `executed` (or `failed`, with `result.error`).
#[utoipa::path(post, path = "/api/v1/admin/approvals/{id}/approve", tag = "elevation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Approval id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = DecisionRequest, description = "Optional reason (the body may be empty)"),
    responses(
        (status = 200, description = "Counted (and run when it was the last one needed)", body = ApprovalBody),
        (status = 401, description = "Step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Your own request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such operation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or not pending (expired, ran)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_held(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ApprovalBody>> {
    decide_held(s, admin, id, headers, body, true).await
}

/// Deny a held operation: it will not run.
#[utoipa::path(post, path = "/api/v1/admin/approvals/{id}/deny", tag = "elevation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Approval id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = DecisionRequest, description = "Optional reason (the body may be empty)"),
    responses(
        (status = 200, description = "Denied", body = ApprovalBody),
        (status = 403, description = "Your own request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such operation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deny_held(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ApprovalBody>> {
    decide_held(s, admin, id, headers, body, false).await
}

/// Sign in as the emergency administrator with `threshold` Shamir shares of the
/// break-glass credential (`portcullis break-glass create`). The use is written to the
/// audit log and raises a critical alert before the session exists; the credential then
/// works no more.
#[utoipa::path(post, path = "/api/v1/auth/break-glass", tag = "auth", request_body = BreakGlassRequest,
    responses(
        (status = 200, description = "Signed in as the emergency administrator", body = TokenBody),
        (status = 401, description = "The shares do not open the credential (or it was used)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn break_glass(
    State(s): State<AppState>,
    crate::extract::SignInCtx(ctx): crate::extract::SignInCtx,
    ApiJson(body): ApiJson<BreakGlassRequest>,
) -> ApiResult<Json<TokenBody>> {
    Ok(Json(
        s.svc.use_break_glass(&ctx, &body.shares).await?.into(),
    ))
}

/// Create an account with a password (step-up required). Creating an administrator is held
/// for approval when `[approvals] required` names `admin.user.create_admin`: the answer is
/// then 202 with the approval to follow.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserEnvelope),
        (status = 202, description = "Held for other administrators' approval", body = HeldBody),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<Response> {
    let role = match body.role.as_deref() {
        None => Role::User,
        Some(r) => match r.parse::<Role>() {
            Ok(Role::Service) | Err(_) => {
                return Err(Error::InvalidRequest(
                    "invalid role".into(),
                    vec![FieldError::new(
                        "role",
                        "invalid",
                        "user or admin (service accounts: POST /api/v1/admin/service-accounts)",
                    )],
                )
                .into());
            }
            Ok(r) => r,
        },
    };
    let Some(password) = body.password else {
        // No password: an invitation by mail, whose code sets the first one.
        let u = s
            .svc
            .admin_invite_user(&p, &ctx, &body.email, body.display_name.as_deref(), role)
            .await?;
        return Ok((StatusCode::CREATED, Json(super::auth::envelope(&u))).into_response());
    };
    match s
        .svc
        .admin_create_user(
            &p,
            &ctx,
            &body.email,
            &password,
            body.display_name.as_deref(),
            role,
        )
        .await?
    {
        Held::Ran(u) => Ok((
            StatusCode::CREATED,
            Json(UserEnvelope {
                user: UserBody::from(&u),
                flat: UserBody::from(&u),
            }),
        )
            .into_response()),
        Held::Pending(r) => Ok(held_response(&r)),
    }
}
