//! `[[elevation.targets]]` (just-in-time elevation) and `[approvals]` (four-eyes for
//! dangerous operations).

use std::collections::BTreeMap;

use super::*;

/// Operations `[approvals] required` may hold for other administrators' approval, with
/// the endpoint each one guards.
pub const HELD_OPERATIONS: [(&str, &str); 5] = [
    (
        "admin.user.erase",
        "DELETE /api/v1/admin/users/{id}?erase=true",
    ),
    (
        "admin.user.create_admin",
        "POST /api/v1/admin/users with role admin",
    ),
    (
        "admin.user.promote_admin",
        "PATCH /api/v1/admin/users/{id} with role admin",
    ),
    (
        "admin.user.reset_admin_mfa",
        "DELETE /api/v1/admin/users/{id}/mfa of an administrator",
    ),
    ("keys.rotate", "POST /api/v1/admin/keys/rotate"),
];

/// Longest elevation a target may allow (seven days).
pub const MAX_ELEVATION_SECONDS: u64 = 7 * 86_400;

/// `[elevation]`: who may ask for what, and who approves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElevationConfig {
    /// What can be asked for; a request matching none is refused.
    pub targets: Vec<ElevationTarget>,
}

/// One `[[elevation.targets]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElevationTarget {
    /// The role granted (`admin`), or...
    pub role: Option<Role>,
    /// ...the scopes granted (`admin:read`, a gateway route's scope).
    pub scopes: Vec<String>,
    /// Approvers: every user whose (own, not elevated) role is this, or...
    pub approvers_role: Option<Role>,
    /// ...these user ids.
    pub approvers: Vec<String>,
    /// Distinct approvals needed, never counting the requester. At least 1.
    pub required: u32,
    /// Longest grant, seconds.
    pub max_duration_seconds: u64,
}

impl Default for ElevationTarget {
    fn default() -> Self {
        Self {
            role: None,
            scopes: Vec::new(),
            approvers_role: None,
            approvers: Vec::new(),
            // No default threshold: a target must say how many approve.
            required: 0,
            max_duration_seconds: 3600,
        }
    }
}

impl ElevationTarget {
    /// Whether `user_id` with own role `role` may approve requests for this target.
    pub fn is_approver(&self, user_id: &str, role: Role) -> bool {
        match self.approvers_role {
            Some(r) => r == role,
            None => self.approvers.iter().any(|a| a == user_id),
        }
    }

    /// Whether this target grants `role` or every one of `scopes`.
    pub fn grants(&self, role: Option<Role>, scopes: &[String]) -> bool {
        match role {
            Some(r) => self.role == Some(r) && scopes.is_empty(),
            None => {
                self.role.is_none()
                    && !scopes.is_empty()
                    && scopes.iter().all(|s| self.scopes.contains(s))
            }
        }
    }
}

/// `[approvals]`: operations held until other administrators approve them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// Operation name to the number of other administrators who must approve it.
    pub required: BTreeMap<String, u32>,
    /// How long a held operation (and a pending elevation request) waits, seconds.
    pub timeout_seconds: u64,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            required: BTreeMap::new(),
            timeout_seconds: 3600,
        }
    }
}

fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'/'))
}

/// Checks `[elevation]` and `[approvals]`: every threshold at least 1 (a threshold of 0
/// would let a request through unapproved), approver lists that can reach their threshold,
/// and only operation names Portcullis can hold.
pub fn validate_approvals(
    elevation: &ElevationConfig,
    approvals: &ApprovalsConfig,
) -> Result<(), ConfigError> {
    let mut seen: Vec<(Option<Role>, Vec<String>)> = Vec::new();
    for (i, t) in elevation.targets.iter().enumerate() {
        let key = |k: &str| format!("elevation.targets[{i}].{k}");
        match (t.role, t.scopes.is_empty()) {
            (Some(_), false) | (None, true) => {
                return Err(bad(&key("role"), "give exactly one of `role` or `scopes`"));
            }
            (Some(Role::Service), _) => {
                return Err(bad(
                    &key("role"),
                    "the service role cannot be granted to a person",
                ));
            }
            _ => {}
        }
        if let Some(s) = t.scopes.iter().find(|s| !valid_scope(s)) {
            return Err(bad(
                &key("scopes"),
                format!("`{s}` is not a scope (1 to 64 letters, digits, `:._-/`)"),
            ));
        }
        if t.required < 1 {
            return Err(bad(
                &key("required"),
                "must be at least 1: an elevation is never granted without an approval",
            ));
        }
        match (t.approvers_role, t.approvers.is_empty()) {
            (Some(_), false) | (None, true) => {
                return Err(bad(
                    &key("approvers"),
                    "give exactly one of `approvers_role` or `approvers` (user ids)",
                ));
            }
            (None, false) => {
                let mut distinct = t.approvers.clone();
                distinct.sort();
                distinct.dedup();
                if distinct.len() != t.approvers.len() {
                    return Err(bad(&key("approvers"), "lists a user twice"));
                }
                if (t.required as usize) > distinct.len() {
                    return Err(bad(
                        &key("required"),
                        format!(
                            "needs {} approvals but only {} approvers are listed",
                            t.required,
                            distinct.len()
                        ),
                    ));
                }
            }
            _ => {}
        }
        if !(60..=MAX_ELEVATION_SECONDS).contains(&t.max_duration_seconds) {
            return Err(bad(
                &key("max_duration_seconds"),
                format!("must be between 60 and {MAX_ELEVATION_SECONDS}"),
            ));
        }
        let mut scopes = t.scopes.clone();
        scopes.sort();
        if seen.contains(&(t.role, scopes.clone())) {
            return Err(bad(&key("role"), "another target grants the same"));
        }
        seen.push((t.role, scopes));
    }
    for (op, k) in &approvals.required {
        if !HELD_OPERATIONS.iter().any(|(name, _)| name == op) {
            let known: Vec<&str> = HELD_OPERATIONS.iter().map(|(n, _)| *n).collect();
            return Err(bad(
                &format!("approvals.required.{op}"),
                format!(
                    "unknown operation; Portcullis can hold {} (admin.allowed_ips and audit sinks change only in the configuration file, never through the API)",
                    known.join(", ")
                ),
            ));
        }
        if *k < 1 {
            return Err(bad(
                &format!("approvals.required.{op}"),
                "must be at least 1: a threshold of 0 would run the operation unapproved; remove the entry instead",
            ));
        }
        if *k > 16 {
            return Err(bad(
                &format!("approvals.required.{op}"),
                "must be at most 16",
            ));
        }
    }
    if !(60..=7 * 86_400).contains(&approvals.timeout_seconds) {
        return Err(bad(
            "approvals.timeout_seconds",
            "must be between 60 and 604800",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn target(required: u32) -> ElevationTarget {
        ElevationTarget {
            role: Some(Role::Admin),
            approvers_role: Some(Role::Admin),
            required,
            ..ElevationTarget::default()
        }
    }

    fn check(t: Vec<ElevationTarget>, a: ApprovalsConfig) -> Result<(), ConfigError> {
        validate_approvals(&ElevationConfig { targets: t }, &a)
    }

    #[test]
    fn thresholds_below_one_are_refused() {
        assert!(check(vec![target(2)], ApprovalsConfig::default()).is_ok());
        let e = check(vec![target(0)], ApprovalsConfig::default()).unwrap_err();
        assert_eq!(e.key, "elevation.targets[0].required");
        let mut a = ApprovalsConfig::default();
        a.required.insert("keys.rotate".into(), 0);
        assert_eq!(
            check(vec![], a).unwrap_err().key,
            "approvals.required.keys.rotate"
        );
    }

    #[test]
    fn unknown_operations_and_unreachable_thresholds_are_refused() {
        let mut a = ApprovalsConfig::default();
        a.required.insert("admin.user.erse".into(), 2);
        assert!(
            check(vec![], a)
                .unwrap_err()
                .message
                .contains("unknown operation")
        );
        let listed = ElevationTarget {
            approvers_role: None,
            approvers: vec!["u1".into(), "u2".into()],
            ..target(3)
        };
        assert!(check(vec![listed], ApprovalsConfig::default()).is_err());
        let both = ElevationTarget {
            scopes: vec!["admin:read".into()],
            ..target(1)
        };
        assert!(check(vec![both], ApprovalsConfig::default()).is_err());
        assert!(check(vec![target(1), target(2)], ApprovalsConfig::default()).is_err());
    }

    #[test]
    fn targets_match_what_they_grant() {
        let role = target(1);
        assert!(role.grants(Some(Role::Admin), &[]));
        assert!(!role.grants(None, &["admin:read".into()]));
        let scopes = ElevationTarget {
            role: None,
            scopes: vec!["admin:read".into(), "payments:refund".into()],
            ..target(1)
        };
        assert!(scopes.grants(None, &["admin:read".into()]));
        assert!(!scopes.grants(None, &["admin:write".into()]));
        assert!(!scopes.grants(None, &[]));
        assert!(role.is_approver("x", Role::Admin) && !role.is_approver("x", Role::User));
    }
}
