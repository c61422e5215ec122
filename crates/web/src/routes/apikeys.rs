//! API keys (`/api/v1/auth/api-keys`) and their administration, and service accounts.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::AppState;
use crate::dto::{
    ApiKeyBody, ApiKeyCreateRequest, ApiKeyList, ApiKeyRotateRequest, CursorQuery,
    ServiceAccountBody, ServiceAccountRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Auth, Ctx, decode_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/api-keys", post(create).get(list))
        .route("/api/v1/auth/api-keys/{id}/rotate", post(rotate))
        .route("/api/v1/auth/api-keys/{id}", delete(revoke))
        .route("/api/v1/admin/api-keys", get(admin_list))
        .route("/api/v1/admin/api-keys/{id}", delete(admin_revoke))
        .route(
            "/api/v1/admin/service-accounts",
            post(create_service_account),
        )
}

/// Create an API key (needs a recent factor). The key, and an `hmac-sha256` key's signing
/// secret, are in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = ApiKeyCreateRequest,
    responses(
        (status = 201, description = "Created; `key` is shown only here", body = ApiKeyBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A scope beyond the caller's rights", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ApiKeyCreateRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyBody>)> {
    let issued = s.svc.create_api_key(&p, &ctx, &body.spec()).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// The caller's API keys (without secrets), including revoked and expired ones.
#[utoipa::path(get, path = "/api/v1/auth/api-keys", operation_id = "list_api_keys", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys, oldest first", body = ApiKeyList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<ApiKeyList>> {
    let keys = s.svc.list_api_keys(&p).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyBody::from).collect(),
        next_cursor: None,
    }))
}

/// Issue a successor; the old key keeps working for `overlap_seconds` (default 0), then stops.
#[utoipa::path(post, path = "/api/v1/auth/api-keys/{id}/rotate", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body(content = ApiKeyRotateRequest, description = "Optional"),
    responses(
        (status = 201, description = "The new key; `key` is shown only here", body = ApiKeyBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked or expired", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ApiKeyBody>)> {
    // No body means the defaults; a body is held to the same rules as every other one.
    let req: ApiKeyRotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ApiKeyRotateRequest::default()
    } else {
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        decode_json(ct, &body)?
    };
    let issued = s
        .svc
        .rotate_api_key(&p, &ctx, &id, req.overlap_seconds)
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Revoke one of the caller's keys: it stops working at once, on every node.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.revoke_own_api_key(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every API key, by id.
#[utoipa::path(get, path = "/api/v1/admin/api-keys", tag = "admin", security(("bearer" = [])),
    params(CursorQuery),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_list(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<CursorQuery>,
) -> ApiResult<Json<ApiKeyList>> {
    let page = s
        .svc
        .admin_list_api_keys(
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(ApiKeyList {
        api_keys: page.keys.iter().map(ApiKeyBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Revoke any key.
#[utoipa::path(delete, path = "/api/v1/admin/api-keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_revoke(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.admin_revoke_api_key(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a service account (role `service`, no password) with its first API key.
#[utoipa::path(post, path = "/api/v1/admin/service-accounts", tag = "admin", security(("bearer" = [])),
    request_body = ServiceAccountRequest,
    responses(
        (status = 201, description = "Created; the key is shown only here", body = ServiceAccountBody),
        (status = 400, description = "Bad body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A service account of that name, or with that SPIFFE ID, exists", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_service_account(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    ApiJson(body): ApiJson<ServiceAccountRequest>,
) -> ApiResult<(StatusCode, Json<ServiceAccountBody>)> {
    let spec = portcullis_core::service::ApiKeySpec {
        name: body.key_name.clone().unwrap_or_else(|| "default".into()),
        scopes: body.scopes.clone(),
        expires_in_days: body.expires_in_days,
        signing: body.signing.clone(),
        public_key_jwk: body.public_key_jwk.clone(),
    };
    let (user, issued) = s
        .svc
        .create_service_account(&p, &ctx, &body.name, &spec, body.spiffe_id.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ServiceAccountBody {
            id: user.id,
            name: user.display_name.unwrap_or_default(),
            role: "service",
            created_at: portcullis_core::clock::rfc3339(user.created_at),
            api_key: issued.into(),
            spiffe_id: body.spiffe_id.clone(),
        }),
    ))
}
