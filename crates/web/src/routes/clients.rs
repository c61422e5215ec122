//! `/api/v1/admin/clients`: the applications that may use the OpenID provider. Admin role,
//! allowed IPs only; a change needs a recent second factor or password (step-up).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

use crate::AppState;
use crate::dto::{
    ClientBody, ClientCreateRequest, ClientList, ClientUpdateRequest, ConnectedAppList, CursorQuery,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Auth, Ctx};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/clients", get(list).post(create))
        .route(
            "/api/v1/admin/clients/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v1/auth/connected-apps", get(connected_apps))
        .route("/api/v1/auth/connected-apps/{id}", delete(disconnect))
}

/// The applications the caller allowed to act for them (consents given on the hosted
/// consent page).
#[utoipa::path(get, path = "/api/v1/auth/connected-apps", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Connected applications", body = ConnectedAppList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn connected_apps(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<ConnectedAppList>> {
    let apps = s.svc.connected_apps(&p).await?;
    Ok(Json(ConnectedAppList {
        connected_apps: apps.into_iter().map(Into::into).collect(),
    }))
}

/// Withdraw consent from an application: its refresh tokens and access tokens stop at once.
#[utoipa::path(delete, path = "/api/v1/auth/connected-apps/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller has no consent or grant for this client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn disconnect(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.revoke_connected_app(&p, &ctx, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a client. The secret of a `client_secret_basic` or `client_secret_post` client
/// is in this answer only.
#[utoipa::path(post, path = "/api/v1/admin/clients", operation_id = "create_client", tag = "oauth", security(("bearer" = [])),
    request_body = ClientCreateRequest,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown only here", body = ClientBody),
        (status = 400, description = "The registration breaks a rule; `errors` names the fields", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    ApiJson(body): ApiJson<ClientCreateRequest>,
) -> ApiResult<(StatusCode, Json<ClientBody>)> {
    let registered = s.svc.create_oauth_client(&p, &ctx, &body.spec()).await?;
    Ok((StatusCode::CREATED, Json(registered.into())))
}

/// Registered clients, by id (without secrets).
#[utoipa::path(get, path = "/api/v1/admin/clients", operation_id = "list_clients", tag = "oauth", security(("bearer" = [])), params(CursorQuery),
    responses(
        (status = 200, description = "A page of clients", body = ClientList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<CursorQuery>,
) -> ApiResult<Json<ClientList>> {
    let page = s
        .svc
        .list_oauth_clients(
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(ClientList {
        clients: page.clients.iter().map(ClientBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One client (without its secret).
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", operation_id = "read_client", tag = "oauth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 200, description = "The client", body = ClientBody),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn read(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientBody>> {
    Ok(Json(ClientBody::from(&s.svc.oauth_client(&id).await?)))
}

/// Change a client: the members sent replace the stored ones (lists whole). Its id, secret
/// and authentication method stay.
#[utoipa::path(patch, path = "/api/v1/admin/clients/{id}", operation_id = "update_client", tag = "oauth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    request_body = ClientUpdateRequest,
    responses(
        (status = 200, description = "The client as changed", body = ClientBody),
        (status = 400, description = "The change breaks a rule; `errors` names the fields", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClientUpdateRequest>,
) -> ApiResult<Json<ClientBody>> {
    let updated = s
        .svc
        .update_oauth_client(&p, &ctx, &id, &body.patch())
        .await?;
    Ok(Json(ClientBody::from(&updated)))
}

/// Delete a client: it can no longer authenticate or start a sign-in.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", operation_id = "delete_client", tag = "oauth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.delete_oauth_client(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
