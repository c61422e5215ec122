//! What the console's dashboard and audit page read: figures measured from the audit log
//! and the accounts (sign-ins per hour, risk decisions and reasons, open alerts by
//! severity, second-factor coverage by role, the attack level), and a filtered search of the
//! audit log. Both read a bounded window of the log, newest first, and say how far they
//! looked, so a large log costs a known amount and the page can ask for older entries.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Services;
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::Role;

/// How many audit entries the dashboard reads at most (newest first).
pub const DASHBOARD_WINDOW: u32 = 20_000;
/// How many audit entries one search looks through at most.
pub const SEARCH_SCAN: u32 = 20_000;
/// How many users the coverage figure counts at most.
const COVERAGE_SCAN: usize = 200_000;

/// Sign-ins in one hour.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HourCount {
    /// The hour's start, Unix seconds.
    pub hour: i64,
    /// Successful sign-ins.
    pub succeeded: u64,
    /// Failed ones.
    pub failed: u64,
}

/// Second-factor coverage of one role.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Coverage {
    /// Active (unlocked) accounts.
    pub users: u64,
    /// Of them, those with a second factor enrolled.
    pub with_second_factor: u64,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    /// The last 24 hours, oldest first.
    pub signins_by_hour: Vec<HourCount>,
    /// Risk decisions in the window (`allow`, `step_up`, `challenge`, `deny`).
    pub risk_decisions: BTreeMap<String, u64>,
    /// Risk reasons in the window.
    pub risk_reasons: BTreeMap<String, u64>,
    /// Open alerts by severity.
    pub open_alerts: BTreeMap<String, u64>,
    /// Second-factor coverage by role (people: users and admins).
    pub mfa_coverage: BTreeMap<String, Coverage>,
    /// The service-wide attack level (0: none).
    pub attack_level: u32,
    /// The audit entries read: `[from_seq, to_seq]`, and whether that is the whole day.
    pub window: (i64, i64),
    /// Whether the window reached back 24 hours (false: the figures are a lower bound).
    pub window_complete: bool,
}

/// What an audit search asks for (every field optional; all given must match).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An action, or a prefix ending in `*` (`auth.*`).
    pub action: Option<String>,
    /// The actor (a user id, `rule:...`).
    pub actor: Option<String>,
    /// The target.
    pub target: Option<String>,
    /// Not before (Unix seconds).
    pub since: Option<i64>,
    /// Not after (Unix seconds).
    pub until: Option<i64>,
    /// Only entries before this sequence number (paging back).
    pub before_seq: Option<i64>,
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let action = match self.action.as_deref() {
            None | Some("") => true,
            Some(a) => match a.strip_suffix('*') {
                Some(prefix) => r.action.starts_with(prefix),
                None => r.action == a,
            },
        };
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| w.is_empty() || have.as_deref() == Some(w))
        };
        action
            && eq(&self.actor, &r.actor)
            && eq(&self.target, &r.target)
            && self.since.is_none_or(|s| r.time >= s)
            && self.until.is_none_or(|u| r.time <= u)
    }
}

/// One page of a search, newest first.
#[derive(Debug)]
pub struct AuditSearch {
    /// The matching entries.
    pub events: Vec<AuditRecord>,
    /// Where to continue (`before_seq`), when older entries remain unread.
    pub next_before_seq: Option<i64>,
    /// How many entries were looked at.
    pub scanned: u64,
}

impl Services {
    /// Reads entries `(lo, hi]` newest first, calling `f` on each until it says stop.
    async fn audit_backwards(
        &self,
        hi: i64,
        budget: u32,
        mut f: impl FnMut(&AuditRecord) -> bool,
    ) -> Result<(i64, u64)> {
        let mut top = hi;
        let mut scanned = 0u64;
        while top > 0 && scanned < u64::from(budget) {
            let step = 1000i64.min(i64::from(budget) - scanned as i64);
            let from = (top - step).max(0);
            let page = self.store.audit_page(from, (top - from) as u32).await?;
            for r in page.iter().rev() {
                scanned += 1;
                if !f(r) {
                    return Ok((r.seq, scanned));
                }
            }
            top = from;
        }
        Ok((top + 1, scanned))
    }

    /// The dashboard's figures.
    pub async fn dashboard(&self) -> Result<Dashboard> {
        let now = self.now();
        let first_hour = (now / 3600 - 23) * 3600;
        let mut d = Dashboard {
            signins_by_hour: (0..24)
                .map(|i| HourCount {
                    hour: first_hour + i * 3600,
                    ..HourCount::default()
                })
                .collect(),
            attack_level: self.attack_level().await?,
            ..Dashboard::default()
        };
        let (head, _) = self.store.audit_head().await?;
        let mut reached = false;
        let (from, _) = self
            .audit_backwards(head, DASHBOARD_WINDOW, |r| {
                if r.time < first_hour {
                    reached = true;
                    return false;
                }
                let slot = usize::try_from((r.time - first_hour) / 3600).unwrap_or(0);
                match r.action.as_str() {
                    "auth.login.succeeded" => {
                        if let Some(h) = d.signins_by_hour.get_mut(slot) {
                            h.succeeded += 1;
                        }
                    }
                    "auth.login.failed" => {
                        if let Some(h) = d.signins_by_hour.get_mut(slot) {
                            h.failed += 1;
                        }
                    }
                    "risk.assessed" => {
                        let details: Value = serde_json::from_str(&r.details).unwrap_or_default();
                        if let Some(dec) = details.get("decision").and_then(Value::as_str) {
                            *d.risk_decisions.entry(dec.to_owned()).or_default() += 1;
                        }
                        for reason in details
                            .get("reasons")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            *d.risk_reasons.entry(reason.to_owned()).or_default() += 1;
                        }
                    }
                    _ => {}
                }
                true
            })
            .await?;
        d.window = (from.max(1).min(head.max(1)), head);
        d.window_complete = reached || from <= 1;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_alerts(cursor.as_deref(), 500).await?;
            for (a, _) in &page.alerts {
                if a.status == "open" {
                    *d.open_alerts.entry(a.severity.clone()).or_default() += 1;
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut after: Option<String> = None;
        let mut counted = 0usize;
        for role in [Role::User, Role::Admin] {
            d.mfa_coverage
                .insert(role.as_str().to_owned(), Coverage::default());
        }
        while counted < COVERAGE_SCAN {
            let users = self.store.list_users(after.as_deref(), 1000).await?;
            let Some(last) = users.last() else { break };
            after = Some(last.id.clone());
            counted += users.len();
            // People only: a service account signs in with its key, never a second factor.
            for u in users
                .iter()
                .filter(|u| !u.locked && u.role != Role::Service)
            {
                let c = d
                    .mfa_coverage
                    .entry(u.role.as_str().to_owned())
                    .or_default();
                c.users += 1;
                if u.mfa_enabled {
                    c.with_second_factor += 1;
                }
            }
            if users.len() < 1000 {
                break;
            }
        }
        Ok(d)
    }

    /// Audit entries matching `filter`, newest first: at most `limit`, looking through at
    /// most [`SEARCH_SCAN`] entries per call.
    pub async fn search_audit(&self, filter: &AuditFilter, limit: u32) -> Result<AuditSearch> {
        if filter
            .action
            .as_deref()
            .is_some_and(|a| a.chars().count() > 128 || a.trim_end_matches('*').contains('*'))
        {
            return Err(Error::InvalidRequest(
                "action: an action name, or a prefix ending in *".into(),
                vec![],
            ));
        }
        let limit = limit.clamp(1, 500) as usize;
        let (head, _) = self.store.audit_head().await?;
        let top = filter.before_seq.map_or(head, |b| (b - 1).min(head));
        let mut events = Vec::new();
        let mut last_seq = top + 1;
        let (stopped_at, scanned) = self
            .audit_backwards(top, SEARCH_SCAN, |r| {
                last_seq = r.seq;
                if filter.since.is_some_and(|s| r.time < s) {
                    // Older than the window asked: nothing further back can match.
                    last_seq = 1;
                    return false;
                }
                if filter.matches(r) {
                    events.push(r.clone());
                }
                events.len() < limit
            })
            .await?;
        let next = stopped_at.min(last_seq);
        Ok(AuditSearch {
            events,
            next_before_seq: (next > 1).then_some(next),
            scanned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, time: i64, action: &str, actor: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq,
            time,
            action: action.into(),
            outcome: "success".into(),
            actor: actor.map(str::to_owned),
            target: None,
            ip: None,
            user_agent: None,
            details: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
            version: 2,
            pii_salt: None,
            pii_commitment: None,
            redacted_at: None,
        }
    }

    #[test]
    fn filters_by_action_prefix_actor_and_time() {
        let f = AuditFilter {
            action: Some("auth.*".into()),
            actor: Some("u1".into()),
            since: Some(100),
            until: Some(200),
            ..AuditFilter::default()
        };
        assert!(f.matches(&rec(1, 150, "auth.login.failed", Some("u1"))));
        assert!(!f.matches(&rec(1, 150, "admin.user.locked", Some("u1"))));
        assert!(!f.matches(&rec(1, 150, "auth.login.failed", Some("u2"))));
        assert!(!f.matches(&rec(1, 99, "auth.login.failed", Some("u1"))));
        assert!(!f.matches(&rec(1, 201, "auth.login.failed", Some("u1"))));
        let exact = AuditFilter {
            action: Some("auth.login".into()),
            ..AuditFilter::default()
        };
        assert!(!exact.matches(&rec(1, 1, "auth.login.failed", None)));
        assert!(AuditFilter::default().matches(&rec(1, 1, "anything", None)));
    }
}
