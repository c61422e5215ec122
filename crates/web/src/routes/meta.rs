//! Documents outside the API proper: JWKS, security.txt, health, the OpenAPI document, and
//! the problem responses for unknown routes.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::Error;
use portcullis_core::clock::rfc3339;

use crate::AppState;
use crate::dto::{CheckpointBody, HealthBody};
use crate::error::{ApiError, ApiResult, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/security.txt", get(security_txt))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/verifier-key", get(verifier_key))
        .route("/metrics", get(metrics))
        .route("/api/v1/sys/seal-status", get(seal_status))
        .route("/api/v1/sys/unseal", axum::routing::post(unseal))
}

/// Whether the server is sealed. A server that answers here is unsealed; while sealed,
/// the same path answers with the unseal progress.
#[utoipa::path(get, path = "/api/v1/sys/seal-status", tag = "meta",
    responses((status = 200, description = "Seal status", body = crate::dto::SealStatusBody)))]
pub async fn seal_status(State(s): State<AppState>) -> Json<crate::dto::SealStatusBody> {
    Json(crate::dto::SealStatusBody {
        sealed: false,
        progress: 0,
        threshold: s.web.shamir_threshold,
    })
}

/// Give one Shamir share of the master key to a sealed server (`keys.source = "shamir"`;
/// only from `admin.allowed_ips`). When the threshold is reached the server unseals. An
/// unsealed server answers with its status.
#[utoipa::path(post, path = "/api/v1/sys/unseal", tag = "meta",
    request_body = crate::dto::UnsealRequest,
    responses(
        (status = 200, description = "Seal status after this share", body = crate::dto::SealStatusBody),
        (status = 400, description = "Not a share of this key, or the shares do not reconstruct it (progress reset)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Client IP outside admin.allowed_ips", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unseal(
    State(s): State<AppState>,
    crate::extract::ApiJson(_): crate::extract::ApiJson<crate::dto::UnsealRequest>,
) -> Json<crate::dto::SealStatusBody> {
    seal_status(State(s)).await
}

/// The public keys that verify access tokens, including superseded keys whose tokens may
/// still be live.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses((status = 200, description = "JWK Set (RFC 7517)", body = Object)))]
pub async fn jwks(State(s): State<AppState>) -> Response {
    let mut res = Json(s.svc.keyring.jwks(s.svc.now())).into_response();
    // Short: a new key is published 30 s before it signs.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    res
}

/// RFC 9116 security.txt.
#[utoipa::path(get, path = "/.well-known/security.txt", tag = "meta",
    responses((status = 200, description = "security.txt", body = String, content_type = "text/plain")))]
pub async fn security_txt(State(s): State<AppState>) -> Response {
    let w = &s.web;
    let mut out = String::new();
    for c in &w.security_contacts {
        out.push_str(&format!("Contact: {c}\n"));
    }
    let expires = s.svc.now() + i64::from(w.security_expires_days) * 86_400;
    out.push_str(&format!("Expires: {}\n", rfc3339(expires)));
    if let Some(p) = &w.security_policy {
        out.push_str(&format!("Policy: {p}\n"));
    }
    if let Some(l) = &w.security_languages {
        out.push_str(&format!("Preferred-Languages: {l}\n"));
    }
    out.push_str(&format!(
        "Canonical: {}/.well-known/security.txt\n",
        w.public_url
    ));
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Alive", body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// Readiness: the database and key store answer. 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<HealthBody>> {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), s.svc.store().ping()).await;
    let ok = matches!(ping, Ok(Ok(())));
    if !ok {
        s.svc.health.set_db(false);
        return Err(Error::Unavailable("database unreachable".into()).into());
    }
    if !s.svc.health.ready() {
        return Err(Error::Unavailable("revocation view not current yet".into()).into());
    }
    Ok(Json(HealthBody { status: "ready" }))
}

/// This document.
pub async fn openapi() -> Response {
    let mut res = crate::openapi::openapi_json().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// 405 for known routes with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept this method.",
    )
}

/// The latest signed checkpoint of the audit transparency log (public: auditors and
/// witnesses keep these to detect a rewritten log): the C2SP signed note as `text/plain`, or,
/// with `Accept: application/json`, the note with its parsed fields and verifier key.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "meta",
    responses(
        (status = 200, description = "The signed note (default), or as JSON with the key that signs it when `Accept: application/json`",
            content((String = "text/plain"), (CheckpointBody = "application/json"))),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkpoint(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let cp = s.svc.latest_checkpoint().await?;
    let wants_text = !headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/plain"));
    let mut res = if wants_text {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cp.record.note,
        )
            .into_response()
    } else {
        Json(CheckpointBody {
            origin: cp.origin,
            tree_size: cp.record.tree_size,
            root_hash: cp.record.root_hash,
            checkpoint: cp.record.note,
            verifier_key: cp.verifier_key,
            created_at: rfc3339(cp.record.created_at),
        })
        .into_response()
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// The signed-note verifier key that checks the checkpoints (public).
#[utoipa::path(get, path = "/api/v1/audit/verifier-key", tag = "meta",
    responses(
        (status = 200, description = "The verifier key", body = crate::dto::VerifierKeyBody),
    ))]
pub async fn verifier_key(State(s): State<AppState>) -> Json<crate::dto::VerifierKeyBody> {
    Json(crate::dto::VerifierKeyBody {
        verifier_key: s.svc.checkpoint_verifier_key(),
    })
}

/// Prometheus metrics (text exposition format), for scrapers on `admin.allowed_ips` only.
pub async fn metrics(
    State(s): State<AppState>,
    crate::extract::Ctx(ctx): crate::extract::Ctx,
) -> ApiResult<Response> {
    let allowed = ctx
        .ip
        .is_some_and(|ip| s.web.admin_allowed_ips.iter().any(|n| n.contains(&ip)));
    if !allowed {
        return Err(Error::IpNotAllowed.into());
    }
    let m = s.svc.audit_metrics().await?;
    let text = scrape(&s, &m).map_err(|_| Error::Internal("metrics encoding".into()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The OpenMetrics text of one scrape: what is read now (readiness, the audit log and its
/// sinks, every upstream's health, breaker and load), then what was counted all along.
pub(crate) fn scrape(
    s: &AppState,
    m: &portcullis_core::service::AuditMetrics,
) -> Result<String, std::fmt::Error> {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    type Labels = crate::metrics::Labels;

    let mut now = Registry::default();
    let one = |v: i64| {
        let g: Gauge = Gauge::default();
        g.set(v);
        g
    };
    let size = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    now.register(
        "portcullis_ready",
        "1 when the database answers and the revocation view is current.",
        one(i64::from(s.svc.health.ready())),
    );
    now.register(
        "portcullis_audit_entries",
        "Audit entries sequenced.",
        one(m.entries),
    );
    now.register(
        "portcullis_audit_tree_size",
        "Leaves in the audit Merkle tree.",
        one(size(m.tree_size)),
    );
    now.register(
        "portcullis_audit_checkpoint_tree_size",
        "Entries covered by the latest signed checkpoint.",
        one(size(m.checkpoint_size)),
    );
    let gauges = |now: &mut Registry, name: &str, help: &str, rows: Vec<(Labels, i64)>| {
        let f = Family::<Labels, Gauge>::default();
        for (labels, v) in rows {
            f.get_or_create(&labels).set(v);
        }
        now.register(name, help, f);
    };
    // Totals kept in the database: a fresh counter per scrape, set to the stored total.
    let totals = |now: &mut Registry, name: &str, help: &str, rows: Vec<(Labels, i64)>| {
        let f = Family::<Labels, Counter>::default();
        for (labels, v) in rows {
            f.get_or_create(&labels)
                .inc_by(u64::try_from(v).unwrap_or(0));
        }
        now.register(name, help, f);
    };
    let per = |f: &dyn Fn(&portcullis_core::model::SinkState) -> i64| {
        m.sinks
            .iter()
            .map(|x| (vec![("sink", x.name.clone())], f(x)))
            .collect::<Vec<_>>()
    };
    gauges(
        &mut now,
        "portcullis_audit_sink_last_seq",
        "Last audit entry delivered to the sink.",
        per(&|x| x.last_seq),
    );
    gauges(
        &mut now,
        "portcullis_audit_sink_lag",
        "Audit entries not yet delivered to the sink.",
        per(&|x| m.entries - x.last_seq),
    );
    totals(
        &mut now,
        "portcullis_audit_sink_delivered",
        "Audit entries delivered to the sink.",
        per(&|x| x.delivered),
    );
    totals(
        &mut now,
        "portcullis_audit_sink_failures",
        "Failed delivery attempts of the sink.",
        per(&|x| x.failures),
    );
    totals(
        &mut now,
        "portcullis_audit_sink_dead_letters",
        "Audit entries the sink gave up on (audit_sink_dead_letters).",
        per(&|x| x.dead_letters),
    );
    let upstreams = (s.0.upstreams)();
    let per_upstream = |f: &dyn Fn(&crate::metrics::UpstreamState) -> i64| {
        upstreams
            .iter()
            .map(|u| {
                (
                    vec![("route", u.route.clone()), ("upstream", u.upstream.clone())],
                    f(u),
                )
            })
            .collect::<Vec<_>>()
    };
    gauges(
        &mut now,
        "portcullis_gateway_upstream_healthy",
        "1 when the upstream passed its last health check (or has none).",
        per_upstream(&|u| i64::from(u.healthy)),
    );
    gauges(
        &mut now,
        "portcullis_gateway_breaker_state",
        "The upstream's circuit breaker: 0 closed, 1 half-open, 2 open.",
        per_upstream(&|u| i64::from(u.breaker)),
    );
    gauges(
        &mut now,
        "portcullis_gateway_upstream_in_flight",
        "Requests in flight to the upstream.",
        per_upstream(&|u| i64::try_from(u.in_flight).unwrap_or(i64::MAX)),
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode_registry(&mut out, &now)?;
    prometheus_client::encoding::text::encode_registry(&mut out, s.metrics.registry())?;
    prometheus_client::encoding::text::encode_eof(&mut out)?;
    Ok(out)
}
