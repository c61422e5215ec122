//! The console's dashboard and audit search.

use std::collections::BTreeMap;

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AuditEventBody, in_range};
use crate::extract::Validate;

/// Sign-ins in one hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourCountBody {
    /// The hour's start (RFC 3339).
    pub hour: String,
    /// Successful sign-ins.
    pub succeeded: u64,
    /// Failed sign-ins.
    pub failed: u64,
}

/// Second-factor coverage of one role.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageBody {
    /// Active (unlocked) accounts.
    pub users: u64,
    /// Of them, those with a second factor.
    pub with_second_factor: u64,
}

/// One sample of `/metrics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSample {
    /// The series name (`portcullis_...`, with `_bucket`, `_sum`, `_count`, `_total`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// The dashboard's figures: from the audit log and the accounts, and every `portcullis_*`
/// sample of `/metrics` (the same figures, for the page's charts).
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardBody {
    /// When measured (RFC 3339).
    pub generated_at: String,
    /// The last 24 hours, oldest first.
    pub signins_by_hour: Vec<HourCountBody>,
    /// Risk decisions in the window.
    pub risk_decisions: BTreeMap<String, u64>,
    /// Risk reasons in the window.
    pub risk_reasons: BTreeMap<String, u64>,
    /// Open alerts by severity.
    pub open_alerts: BTreeMap<String, u64>,
    /// Second-factor coverage by role.
    pub mfa_coverage: BTreeMap<String, CoverageBody>,
    /// The service-wide attack level (0: none).
    pub attack_level: u32,
    /// The audit entries read, first and last sequence numbers.
    pub audit_window: [i64; 2],
    /// Whether they reach back 24 hours (false: the figures are a lower bound).
    pub audit_window_complete: bool,
    /// Every `portcullis_*` sample of `/metrics`.
    pub metrics: Vec<MetricSample>,
}

/// `?action=&actor=&target=&since=&until=&before_seq=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditSearchQuery {
    /// An action, or a prefix ending in `*` (`auth.*`).
    #[param(max_length = 128, pattern = "^[^*]*[*]?$")]
    pub action: Option<String>,
    /// The actor (a user id, `rule:...`).
    #[param(max_length = 256)]
    pub actor: Option<String>,
    /// The target.
    #[param(max_length = 256)]
    pub target: Option<String>,
    /// Not before, Unix seconds.
    #[param(minimum = 0)]
    pub since: Option<u64>,
    /// Not after, Unix seconds.
    #[param(minimum = 0)]
    pub until: Option<u64>,
    /// Only entries before this sequence number (the previous page's `next_before_seq`).
    #[param(minimum = 1)]
    pub before_seq: Option<u64>,
    /// 1..500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl Validate for AuditSearchQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "since", self.since, 0, i64::MAX as u64);
        in_range(&mut e, "until", self.until, 0, i64::MAX as u64);
        in_range(&mut e, "before_seq", self.before_seq, 1, i64::MAX as u64);
        in_range(&mut e, "limit", self.limit.map(u64::from), 1, 500);
        for (field, v, max) in [
            ("action", &self.action, 128),
            ("actor", &self.actor, 256),
            ("target", &self.target, 256),
        ] {
            if v.as_ref().is_some_and(|v| v.chars().count() > max) {
                e.push(FieldError::new(
                    field,
                    "too_long",
                    format!("at most {max} characters"),
                ));
            }
        }
        if self
            .action
            .as_deref()
            .is_some_and(|a| a.trim_end_matches('*').contains('*') || a.ends_with("**"))
        {
            e.push(FieldError::new(
                "action",
                "invalid",
                "an action, or a prefix ending in one *",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Matching audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditSearchPage {
    /// The entries.
    pub events: Vec<AuditEventBody>,
    /// Where the next (older) page starts, when entries remain unread.
    pub next_before_seq: Option<i64>,
    /// How many entries this page looked through.
    pub scanned: u64,
}
