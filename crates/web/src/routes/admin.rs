//! `/api/v1/admin/*`: users, locks, remote logout, audit. Admin role, allowed IPs only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::AppState;
use crate::dto::{
    AuditEventBody, AuditPage, AuditQuery, AuditVerifyBody, ConsistencyProofBody, ConsistencyQuery,
    InclusionProofBody, ProofQuery, SessionBody, SessionList, UserBody, UserList, UserListQuery,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/users",
            get(list_users).post(super::approvals::create_user),
        )
        .route("/api/v1/admin/users/{id}/lock", post(lock_user))
        .route("/api/v1/admin/users/{id}/unlock", post(unlock_user))
        .route(
            "/api/v1/admin/users/{id}/sessions",
            get(list_user_sessions).delete(revoke_user_sessions),
        )
        .route("/api/v1/admin/users/{id}/mfa", delete(reset_user_mfa))
        .route("/api/v1/admin/audit", get(audit))
        .route("/api/v1/admin/audit/verify", get(audit_verify))
        .route("/api/v1/admin/audit/{seq}/proof", get(audit_proof))
        .route("/api/v1/admin/audit/consistency", get(audit_consistency))
}

/// List users, paginated by cursor; or, with `q`, the accounts whose email or display name
/// contains it.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_users(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> ApiResult<Json<UserList>> {
    // The cursor is checked whether or not a search ignores it.
    if q.cursor
        .as_deref()
        .is_some_and(|c| !c.is_empty() && !portcullis_core::id::is_valid_id(c))
    {
        return Err(portcullis_core::Error::InvalidRequest("invalid cursor".into(), vec![]).into());
    }
    // An empty `q` is no search: the plain listing.
    if let Some(needle) = q.q.as_deref().filter(|n| !n.trim().is_empty()) {
        let users = s.svc.search_users(needle, q.limit.unwrap_or(50)).await?;
        return Ok(Json(UserList {
            users: users.iter().map(UserBody::from).collect(),
            next_cursor: None,
        }));
    }
    let page = s
        .svc
        .list_users(
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(UserList {
        users: page.users.iter().map(UserBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Lock a user: no sign-in, every session revoked.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/lock", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Locked"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn lock_user(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.set_user_locked(&p, &ctx, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reset a user's second factors (lost authenticator): TOTP, passkeys and recovery codes are
/// removed and every session revoked; the user signs in with the password and enrols again.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Second factors removed, sessions revoked"),
        (status = 202, description = "An administrator's: held for other administrators' approval", body = crate::dto::HeldBody),
        (status = 401, description = "Step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (or your own account)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reset_user_mfa(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    Ok(match s.svc.admin_reset_mfa(&p, &ctx, &id).await? {
        portcullis_core::service::Held::Ran(()) => StatusCode::NO_CONTENT.into_response(),
        portcullis_core::service::Held::Pending(r) => super::approvals::held_response(&r),
    })
}

/// Unlock a user.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unlock_user(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.set_user_locked(&p, &ctx, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's live sessions, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 200, description = "Sessions", body = SessionList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_user_sessions(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionList>> {
    let sessions = s.svc.admin_user_sessions(&id).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .iter()
            .map(|x| SessionBody::new(x, false))
            .collect(),
    }))
}

/// Remote logout: revoke every session of a user.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_user_sessions(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.admin_revoke_sessions(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Read the audit log in sequence order.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let after = i64::try_from(q.after_seq.unwrap_or(0)).unwrap_or(i64::MAX);
    let events = s.svc.audit_page(after, limit).await?;
    let full = events.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_after_seq = if full {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        events: events.iter().map(AuditEventBody::from).collect(),
        next_after_seq,
    }))
}

/// Verify the whole hash chain; names the first entry that was altered, removed or reordered.
#[utoipa::path(get, path = "/api/v1/admin/audit/verify", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Verification result", body = AuditVerifyBody),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_verify(
    State(s): State<AppState>,
    Admin(_, _): Admin,
) -> ApiResult<Json<AuditVerifyBody>> {
    Ok(Json(s.svc.verify_audit().await?.into()))
}

/// Inclusion proof of one entry in the transparency log (RFC 9162), against the tree of
/// `tree_size` entries (default: the whole log, as of now).
#[utoipa::path(get, path = "/api/v1/admin/audit/{seq}/proof", tag = "admin", security(("bearer" = [])),
    params(("seq" = i64, Path, description = "Entry sequence number"), ProofQuery),
    responses(
        (status = 200, description = "The audit path", body = InclusionProofBody),
        (status = 400, description = "Bad query, or the entry is not in a tree of that size", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_proof(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    Path(seq): Path<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> ApiResult<Json<InclusionProofBody>> {
    let seq: i64 = seq
        .parse()
        .map_err(|_| crate::error::ApiError::invalid_request("seq must be a positive integer"))?;
    let p = s.svc.audit_inclusion_proof(seq, q.tree_size).await?;
    Ok(Json(InclusionProofBody {
        seq: p.entry.seq,
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        leaf_hash: p.leaf_hash,
        root_hash: p.root_hash,
        hashes: p.proof.clone(),
        inclusion_proof: p.proof,
        entry: AuditEventBody::from(&p.entry),
    }))
}

/// Consistency proof between two sizes of the transparency log (RFC 9162): the smaller tree
/// is a prefix of the larger one.
#[utoipa::path(get, path = "/api/v1/admin/audit/consistency", tag = "admin", security(("bearer" = [])),
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProofBody),
        (status = 400, description = "Bad query (sizes reversed, zero, or beyond the log)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_consistency(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProofBody>> {
    let p = s.svc.audit_consistency_proof(q.from, q.to).await?;
    Ok(Json(ConsistencyProofBody {
        from: p.from,
        to: p.to,
        from_root: p.from_root,
        to_root: p.to_root,
        hashes: p.proof.clone(),
        consistency_proof: p.proof,
    }))
}
