//! What a request's inspection comes to in the mode in force: the logged-only rules'
//! line, the `waf.request_flagged` and `waf.request_blocked` audit events (rules and
//! places, never the values, at most 20 a client a minute), the metrics, and the answer
//! (403 `request_blocked`, 413 over the limit, 503 when a scanner is down or the block
//! could not be audited). (Split from `waf.rs`.)

use super::*;

impl Waf {
    /// What `report` (and a body over the limit, `oversize`) comes to in the mode in force:
    /// `None` lets the request go on (nothing found, or detect mode, flagged and audited);
    /// `Some` is the answer instead (the block, or a 503 when the block could not be
    /// audited). `incident` is the id to use, when the caller already told someone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn decide(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        eff: &WafEffective,
        route: Option<&str>,
        asked: Asked<'_>,
        report: Report,
        oversize: bool,
        incident: Option<String>,
    ) -> Option<Response> {
        if !report.exceeded && !oversize {
            // Rules above `paranoia` (up to `detection_paranoia`) only log: a line and a
            // count, so that a higher paranoia can be tried on live traffic first.
            let logged: Vec<&portcullis_waf::Finding> =
                report.findings.iter().filter(|f| !f.counted).collect();
            if !logged.is_empty() {
                let mut categories: Vec<&str> = logged.iter().map(|f| f.category).collect();
                categories.sort_unstable();
                categories.dedup();
                edge.metrics.waf(&categories, "logged");
                tracing::info!(
                    route = route.unwrap_or("api"),
                    ip = %ctx.ip.map(|i| i.to_string()).unwrap_or_default(),
                    rules = ?logged.iter().map(|f| (f.rule, f.paranoia)).collect::<Vec<_>>(),
                    locations = ?logged.iter().flat_map(|f| f.locations.iter().map(|l| audit_location(l))).collect::<Vec<_>>(),
                    "request inspection: rules above the paranoia level matched (logged only)"
                );
            } else if !report.findings.is_empty() {
                tracing::debug!(route = route.unwrap_or("api"), rules = ?rule_ids(&report), score = report.score, "request inspection: below the threshold");
            }
            return None;
        }
        let incident = incident.unwrap_or_else(incident_id);
        let block = eff.mode == WafMode::Block;
        let mut categories: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.counted)
            .map(|f| f.category)
            .collect();
        categories.sort_unstable();
        categories.dedup();
        if oversize && categories.is_empty() {
            categories.push("oversize");
        }
        edge.metrics
            .waf(&categories, if block { "blocked" } else { "flagged" });
        let action = if block {
            "waf.request_blocked"
        } else {
            "waf.request_flagged"
        };
        tracing::warn!(
            incident = %incident,
            route = route.unwrap_or("api"),
            ip = %ctx.ip.map(|i| i.to_string()).unwrap_or_default(),
            rules = ?rule_ids(&report),
            score = report.score,
            oversize = oversize || asked.partial,
            partial = asked.partial,
            action,
            "request inspection"
        );
        let now = edge.svc.now();
        let admitted = self
            .throttle
            .lock()
            .map(|mut t| t.admit(ctx.ip.unwrap_or(IpAddr::from([0u8; 4])), now))
            .unwrap_or(Some(0));
        if let Some(not_audited) = admitted {
            // Where a rule matched the path itself, the path is the matched value, which the
            // audit log never holds.
            let path_matched = report.findings.iter().any(|f| {
                f.locations.iter().any(|l| {
                    [
                        "REQUEST_FILENAME",
                        "REQUEST_BASENAME",
                        "REQUEST_URI",
                        "REQUEST_LINE",
                        "PATH_INFO",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
                })
            });
            let path = if path_matched {
                "[redacted: a rule matched the path]".to_owned()
            } else {
                edge.dlp
                    .mask_text(asked.path)
                    .unwrap_or_else(|| asked.path.to_owned())
            };
            let details = json!({
                "incident_id": incident,
                "route": route,
                "method": asked.method,
                "path": path,
                "mode": if block { "block" } else { "detect" },
                "score": report.score,
                "threshold": eff.inbound_threshold,
                // Over the limit: refused (`reject`), or inspected in part (`partial`).
                "oversize": oversize || asked.partial,
                "partial": asked.partial,
                "rules": report.findings.iter().map(|f| json!({
                    "id": f.rule,
                    "category": f.category,
                    "paranoia": f.paranoia,
                    "counted": f.counted,
                    "locations": f.locations.iter().map(|l| audit_location(l)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "earlier_not_audited": not_audited,
            });
            // A User-Agent a rule matched is the matched value too.
            let ua_matched = report.findings.iter().any(|f| {
                f.locations
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case("REQUEST_HEADERS:User-Agent"))
            });
            let redacted;
            let ctx = if ua_matched {
                redacted = RequestContext {
                    user_agent: Some("[redacted: a rule matched it]".to_owned()),
                    ..ctx.clone()
                };
                &redacted
            } else {
                ctx
            };
            if let Err(e) = edge.svc.audit_request_event(ctx, action, details).await {
                tracing::error!(error = %e, "the inspection event could not be audited");
                if block {
                    return Some(ApiError::from(e).into_response());
                }
            }
        }
        if !block {
            return None;
        }
        // Nothing found but an upload the scanner could not read (clamd down): a dependency
        // is down, and the request fails closed as the contract says for one (503).
        let counted = || report.findings.iter().filter(|f| f.counted);
        let scanner_down = counted().next().is_some() && counted().all(|f| f.rule == 922510);
        let res = if scanner_down && !oversize {
            let mut res = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "An uploaded file could not be scanned: the malware scanner is unavailable. Retry shortly.",
            )
            .with_incident(incident)
            .into_response();
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            res
        } else if oversize {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "The request body is larger than the {} bytes that are inspected.",
                    eff.body_limit_bytes
                ),
            )
            .with_incident(incident)
            .into_response()
        } else {
            blocked(incident)
        };
        Some(res)
    }
}
