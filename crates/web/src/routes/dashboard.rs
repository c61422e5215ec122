//! `/api/v1/admin/dashboard` and `/api/v1/admin/audit/search`: what the console's
//! dashboard and audit pages read.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::clock::rfc3339;
use portcullis_core::service::AuditFilter;

use crate::AppState;
use crate::dto::{
    AuditEventBody, AuditSearchPage, AuditSearchQuery, CoverageBody, DashboardBody, HourCountBody,
    MetricSample,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/dashboard", get(dashboard))
        .route("/api/v1/admin/audit/search", get(search))
        .route("/api/v1/admin/report", get(report))
}

/// The dashboard's figures: sign-ins per hour, risk decisions and reasons, open alerts by
/// severity, second-factor coverage by role, the attack level, and every `portcullis_*`
/// sample of `/metrics`.
#[utoipa::path(get, path = "/api/v1/admin/dashboard", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = DashboardBody),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dashboard(
    State(s): State<AppState>,
    Admin(_, _): Admin,
) -> ApiResult<Json<DashboardBody>> {
    let d = s.svc.dashboard().await?;
    let m = s.svc.audit_metrics().await?;
    let text = super::meta::scrape(&s, &m)
        .map_err(|_| portcullis_core::Error::Internal("metrics encoding".into()))?;
    Ok(Json(DashboardBody {
        generated_at: rfc3339(s.svc.now()),
        signins_by_hour: d
            .signins_by_hour
            .iter()
            .map(|h| HourCountBody {
                hour: rfc3339(h.hour),
                succeeded: h.succeeded,
                failed: h.failed,
            })
            .collect(),
        risk_decisions: d.risk_decisions,
        risk_reasons: d.risk_reasons,
        open_alerts: d.open_alerts,
        mfa_coverage: d
            .mfa_coverage
            .into_iter()
            .map(|(k, c)| {
                (
                    k,
                    CoverageBody {
                        users: c.users,
                        with_second_factor: c.with_second_factor,
                    },
                )
            })
            .collect(),
        attack_level: d.attack_level,
        audit_window: [d.window.0, d.window.1],
        audit_window_complete: d.window_complete,
        metrics: samples(&text),
    }))
}

/// The `portcullis_*` samples of a Prometheus text exposition.
pub(crate) fn samples(text: &str) -> Vec<MetricSample> {
    text.lines()
        .filter(|l| l.starts_with("portcullis_"))
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<MetricSample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
    };
    Some(MetricSample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y\"z"` into a map (the exposition's escapes `\\`, `\"`, `\n` undone).
fn labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after.get(end + 1..)?.trim_start_matches(',');
    }
    Some(out)
}

/// Audit entries matching a filter, newest first, looking through at most 20,000 entries
/// per call (continue with `next_before_seq`).
#[utoipa::path(get, path = "/api/v1/admin/audit/search", tag = "admin", security(("bearer" = [])),
    params(AuditSearchQuery),
    responses(
        (status = 200, description = "Matching entries", body = AuditSearchPage),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<AuditSearchQuery>,
) -> ApiResult<Json<AuditSearchPage>> {
    let seconds = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let filter = AuditFilter {
        action: q.action,
        actor: q.actor,
        target: q.target,
        since: seconds(q.since),
        until: seconds(q.until),
        before_seq: seconds(q.before_seq),
    };
    let found = s.svc.search_audit(&filter, q.limit.unwrap_or(50)).await?;
    Ok(Json(AuditSearchPage {
        events: found.events.iter().map(AuditEventBody::from).collect(),
        next_before_seq: found.next_before_seq,
        scanned: found.scanned,
    }))
}

/// The report's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// A standalone HTML page.
    Html,
    /// A PDF document.
    Pdf,
}

/// `?format=html|pdf`
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `html` (default) or `pdf`.
    pub format: Option<ReportFormat>,
}

impl crate::extract::Validate for ReportQuery {
    fn validate(&self) -> Result<(), Vec<portcullis_core::FieldError>> {
        Ok(())
    }
}

/// The compliance report (SOC 2 CC6/CC7, ISO 27001 Annex A, PCI DSS 4.0 requirements 3, 7,
/// 8 and 10), measured now, as HTML or PDF.
#[utoipa::path(get, path = "/api/v1/admin/report", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "The report: HTML (format=html, the default) or PDF (format=pdf)", content(
            (String = "text/html"),
            (String = "application/pdf"),
        )),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<axum::response::Response> {
    report_response(&s, q.format == Some(ReportFormat::Pdf)).await
}

/// The report measured now, as a response (HTML with a CSP that runs nothing, or a PDF).
pub(crate) async fn report_response(
    s: &AppState,
    pdf: bool,
) -> ApiResult<axum::response::Response> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let cfg = portcullis_core::service::report::ReportConfig {
        admin_allowed_ips: s
            .web
            .admin_allowed_ips
            .iter()
            .map(ToString::to_string)
            .collect(),
        mfa_required_roles: s
            .web
            .mfa_required_for_roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        dependency_scan: s.web.report_dependency_scan.clone(),
    };
    let r = s.svc.compliance_report(&cfg).await?;
    let mut res = if pdf {
        let mut res = portcullis_core::report_render::pdf(&r).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pdf"),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"portcullis-compliance-report.pdf\""),
        );
        res
    } else {
        let mut res = portcullis_core::report_render::html(&r).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        res
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lines_become_samples() {
        let text = "# HELP x y\nportcullis_a_total 3\nportcullis_h_bucket{route=\"r\\\"1\",le=\"+Inf\"} 7\nother 1\nportcullis_g{a=\"x,y\",b=\"\"} -Inf\n";
        let s = samples(text);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].name.as_str(), s[0].value),
            ("portcullis_a_total", 3.0)
        );
        assert_eq!(s[1].labels["route"], "r\"1");
        assert_eq!(s[1].labels["le"], "+Inf");
        assert_eq!(s[2].labels["a"], "x,y");
        assert_eq!(s[2].labels["b"], "");
        assert!(sample("portcullis_x{a=\"unterminated} 1").is_none());
        assert!(sample("portcullis_x nope").is_none());
    }
}
