//! What follows a DLP match: a leaked Portcullis API key revoked, the metrics, the log line
//! and the `dlp.match` audit event (detectors and keyed fingerprints, never the values).

use std::collections::BTreeMap;

use portcullis_core::config::DlpMode;
use portcullis_core::service::RequestContext;
use serde_json::json;

use super::DlpRuntime;
use crate::Edge;
use crate::waf::incident_id;

impl DlpRuntime {
    /// What follows a match in `text` (at `location`): leaked Portcullis API keys revoked
    /// whatever the mode, the metrics, and (at most 20 a client a minute) the `dlp.match`
    /// audit event with detectors and keyed fingerprints, never the values. The incident id,
    /// and the error when the event could not be written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn report(
        &self,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        mode: DlpMode,
        text: &str,
        hits: &[portcullis_waf::dlp::Hit],
        status: u16,
        location: &str,
    ) -> (String, Option<portcullis_core::Error>) {
        self.report_as(
            incident_id(),
            edge,
            ctx,
            route,
            mode,
            text,
            hits,
            status,
            location,
        )
        .await
    }

    /// [`Self::report`] under an incident id the caller chose (and already told the client).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn report_as(
        &self,
        incident: String,
        edge: &Edge,
        ctx: &RequestContext,
        route: &str,
        mode: DlpMode,
        text: &str,
        hits: &[portcullis_waf::dlp::Hit],
        status: u16,
        location: &str,
    ) -> (String, Option<portcullis_core::Error>) {
        let mut revoked = Vec::new();
        if self.cfg.revoke_leaked_api_keys {
            for h in hits.iter().filter(|h| h.detector == "portcullis_api_key") {
                let raw = h.secret(text);
                match edge
                    .svc
                    .revoke_leaked_api_key(raw, ctx, Some(route), &incident)
                    .await
                {
                    Ok(Some(id)) => revoked.push(id),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "a leaked API key could not be revoked"),
                }
            }
        }
        let mut by_detector: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for h in hits {
            let value = h.secret(text);
            by_detector
                .entry(h.detector.as_str())
                .or_default()
                .push(edge.svc.dlp_fingerprint(value));
        }
        let mode_name = match mode {
            DlpMode::Detect => "detect",
            DlpMode::Mask => "mask",
            DlpMode::Block | DlpMode::Off => "block",
        };
        tracing::warn!(
            incident = %incident,
            route,
            location,
            detectors = ?by_detector.keys().collect::<Vec<_>>(),
            mode = mode_name,
            "data loss prevention matched a response"
        );
        for d in by_detector.keys() {
            edge.metrics.dlp(d, mode_name);
        }
        let ip = ctx.ip.unwrap_or(std::net::IpAddr::from([0u8; 4]));
        let admitted = self
            .throttle
            .lock()
            .map(|mut t| t.admit(ip, edge.svc.now()))
            .unwrap_or(Some(0));
        let mut failed = None;
        if let Some(not_audited) = admitted {
            let details = json!({
                "incident_id": incident,
                "route": route,
                "mode": mode_name,
                "location": location,
                "status": status,
                "matches": by_detector.iter().map(|(d, fps)| json!({
                    "detector": d,
                    "count": fps.len(),
                    "fingerprints": fps.iter().take(10).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "api_keys_revoked": revoked,
                "earlier_not_audited": not_audited,
            });
            if let Err(e) = edge
                .svc
                .audit_request_event(ctx, "dlp.match", details)
                .await
            {
                tracing::error!(error = %e, "the DLP match could not be audited");
                failed = Some(e);
            }
        }
        (incident, failed)
    }
}
