//! `/api/v1/admin/alerts`: what the alert rules raised, what their playbooks did and where
//! each alert was delivered. Admin role, allowed IPs only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_core::alerting::{AlertDelivery, AlertRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::dto::CursorQuery;
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/alerts", get(list))
        .route("/api/v1/admin/alerts/{id}/resolve", post(resolve))
}

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertBody {
    /// UUIDv7.
    pub id: String,
    /// The rule that raised it.
    pub rule: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `open` or `resolved`.
    pub status: String,
    /// The value of the rule's `group_by` (an IP, a user id, ...); null without `group_by`.
    pub group: Option<String>,
    /// Matching events counted on it (repeats within the dedup window add to it).
    pub count: i64,
    /// RFC 3339: the first event counted.
    pub first_at: String,
    /// RFC 3339: the latest event counted.
    pub last_at: String,
    /// The playbook only recorded what it would have done.
    pub dry_run: bool,
    /// The playbook's actions: `{action, subject, result: done|dry_run|skipped|failed, detail}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    /// The triggering event and the rule's parameters.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// RFC 3339, once resolved.
    pub resolved_at: Option<String>,
    /// Where it was sent.
    pub deliveries: Vec<AlertDeliveryBody>,
}

/// An alert's delivery to one sink.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDeliveryBody {
    /// The sink's name.
    pub sink: String,
    /// `pending`, `delivered`, `failed` (given up after `max_attempts`) or `rate_limited`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// `GET /admin/alerts`
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Alerts, newest first.
    pub alerts: Vec<AlertBody>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

impl AlertBody {
    fn of(a: &AlertRecord, deliveries: &[AlertDelivery]) -> Self {
        let j = a.to_json();
        let text = |k: &str| {
            j.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            id: a.id.clone(),
            rule: a.rule.clone(),
            severity: a.severity.clone(),
            status: a.status.clone(),
            group: (!a.group_key.is_empty()).then(|| a.group_key.clone()),
            count: a.count,
            first_at: text("first_at"),
            last_at: text("last_at"),
            dry_run: a.dry_run,
            actions: j.get("actions").cloned().unwrap_or_default(),
            details: j.get("details").cloned().unwrap_or_default(),
            resolved_at: a.resolved_at.map(portcullis_core::clock::rfc3339),
            deliveries: deliveries
                .iter()
                .map(|d| AlertDeliveryBody {
                    sink: d.sink.clone(),
                    status: d.status.clone(),
                    attempts: d.attempts,
                    last_error: d.last_error.clone(),
                })
                .collect(),
        }
    }
}

/// List alerts, newest first, paginated by cursor.
#[utoipa::path(get, path = "/api/v1/admin/alerts", tag = "admin", security(("bearer" = [])), params(CursorQuery),
    responses(
        (status = 200, description = "A page of alerts", body = AlertList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<CursorQuery>,
) -> ApiResult<Json<AlertList>> {
    let page = s
        .svc
        .list_alerts(
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(AlertList {
        alerts: page
            .alerts
            .iter()
            .map(|(a, d)| AlertBody::of(a, d))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Resolve an open alert: the next firing of its rule for the same group raises a new alert
/// (sent, playbook run) instead of counting on this one.
#[utoipa::path(post, path = "/api/v1/admin/alerts/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Alert id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Resolved"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such open alert", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.resolve_alert(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
