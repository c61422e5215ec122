//! Alerts as administrators see them: raising one (by the engine), listing and resolving.

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::alerting::{AlertDelivery, AlertRecord};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::is_valid_id;

/// One page of alerts, newest first, each with its deliveries.
#[derive(Debug)]
pub struct AlertPage {
    /// The alerts and where each stands with each sink.
    pub alerts: Vec<(AlertRecord, Vec<AlertDelivery>)>,
    /// Cursor for the next (older) page, if there is one.
    pub next_cursor: Option<String>,
}

impl Services {
    /// A new id for an alert (UUIDv7 from the injected clock and randomness).
    pub fn new_alert_id(&self) -> String {
        crate::id::new_id(self.now(), self.rng.as_ref())
    }

    /// Stores a new alert and records `alert.raised` in the same transaction.
    pub async fn raise_alert(&self, alert: &AlertRecord) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.insert_alert(alert).await?;
        let ev = NewAuditEvent::new(self.now(), "alert.raised", Outcome::Success)
            .actor(format!("rule:{}", alert.rule))
            .target(alert.id.clone())
            .details(json!({
                "rule": alert.rule,
                "severity": alert.severity,
                "group": alert.group_key,
                "count": alert.count,
                "dry_run": alert.dry_run,
            }));
        tx.append_audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of alerts, newest first.
    pub async fn list_alerts(&self, cursor: Option<&str>, limit: u32) -> Result<AlertPage> {
        if cursor.is_some_and(|c| !is_valid_id(c)) {
            return Err(Error::InvalidRequest("invalid cursor".into(), vec![]));
        }
        let limit = limit.clamp(1, 500);
        let rows = self.store.alerts(cursor, limit + 1).await?;
        let (rows, next_cursor) = super::admin::cursor_page(rows, limit, |a| a.id.clone());
        let mut alerts = Vec::with_capacity(rows.len());
        for a in rows {
            let d = self.store.alert_deliveries(&a.id).await?;
            alerts.push((a, d));
        }
        Ok(AlertPage {
            alerts,
            next_cursor,
        })
    }

    /// Resolves an open alert: the next firing of its rule for the group raises a new one
    /// (sent again, playbook run again). Audited as `admin.alert.resolved`.
    pub async fn resolve_alert(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.resolve_alert(id, now).await? {
            return Err(Error::NotFound);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.alert.resolved", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(id.to_owned())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
