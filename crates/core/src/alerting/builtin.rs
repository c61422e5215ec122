//! The built-in alert rules: what a security team expects to hear about without writing a
//! rule. Each matches an event a detector already writes.

use serde_json::Value;

use super::{AlertRuleConfig, Severity};

/// Name of the built-in rule that raises an alert on refresh-token reuse.
pub const TOKEN_REUSE_RULE: &str = "token-reuse";
/// Names of every built-in rule (see [`AlertRuleConfig::builtin`]).
pub const BUILTIN_RULES: [&str; 13] = [
    TOKEN_REUSE_RULE,
    "password-spray",
    "credential-stuffing",
    "attack-level",
    "impossible-travel",
    "admin-ip-refused",
    "audit-verify-failed",
    "elevation-requested",
    "elevation-granted",
    "elevation-refused",
    "approval-requested",
    "approval-executed",
    "break-glass",
];

impl AlertRuleConfig {
    /// The built-in rule: every refresh-token reuse raises a high alert (the contract says
    /// reuse "raises an alert"), one per session within five minutes.
    pub fn token_reuse() -> Self {
        Self {
            group_by: Some("target".into()),
            severity: Severity::High,
            ..Self::new(TOKEN_REUSE_RULE, "auth.token.reuse_detected")
        }
    }

    /// The built-in rule named `name`, if there is one. Each matches an event that a
    /// detector already wrote, so one event is one alert (repeats within the dedup window
    /// count on the open alert).
    pub fn builtin(name: &str) -> Option<Self> {
        let on = |action: &str, group: Option<&str>, severity: Severity| Self {
            group_by: group.map(str::to_owned),
            severity,
            ..Self::new(name, action)
        };
        let mut r = match name {
            TOKEN_REUSE_RULE => Self::token_reuse(),
            // One address failing for many accounts (detection.spray_accounts distinct).
            "password-spray" => on("risk.spray_detected", Some("ip"), Severity::High),
            // Sign-ins challenged because failures across the service crossed
            // detection.attack_failures: stuffing from many addresses.
            "credential-stuffing" => on("risk.assessed", None, Severity::High),
            // The service-wide attack level went up (one alert per level).
            "attack-level" => on(
                "risk.attack_level_raised",
                Some("details.level"),
                Severity::High,
            ),
            // A correct password refused for travel faster than an airliner.
            "impossible-travel" => on("risk.assessed", Some("target"), Severity::High),
            // Someone signed in called the admin API from outside admin.allowed_ips.
            "admin-ip-refused" => on("access.denied", Some("ip"), Severity::High),
            // `audit verify` (CLI or API) found the log altered.
            "audit-verify-failed" => on("audit.verification_failed", None, Severity::Critical),
            // Just-in-time elevation: every request, every grant, and every refused
            // decision (self-approval, a second vote, a non-approver) is worth a look.
            "elevation-requested" => on("elevation.requested", Some("target"), Severity::Medium),
            "elevation-granted" => on("elevation.granted", Some("target"), Severity::High),
            "elevation-refused" => on("elevation.decision_refused", Some("actor"), Severity::High),
            // Four-eyes operations: held, and run.
            "approval-requested" => on("approval.requested", Some("target"), Severity::High),
            "approval-executed" => on("approval.executed", Some("target"), Severity::High),
            // The emergency administrator signed in.
            "break-glass" => on("auth.break_glass.used", None, Severity::Critical),
            _ => return None,
        };
        let mut when = |k: &str, v: &str| {
            r.where_.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        match name {
            "credential-stuffing" => when("details.reasons", "attack_in_progress"),
            "impossible-travel" => {
                when("details.decision", "deny");
                when("details.reasons", "impossible_travel");
            }
            "admin-ip-refused" => when("details.reason", "ip_not_allowed"),
            _ => {}
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::alerting::AlertsConfig;
    use serde_json::json;

    #[test]
    fn builtin_rules_match_what_the_detectors_write() {
        for name in BUILTIN_RULES {
            let r = AlertRuleConfig::builtin(name).unwrap();
            assert_eq!(r.name, name);
            assert!(r.enabled && r.threshold == 1);
        }
        assert!(AlertRuleConfig::builtin("nope").is_none());
        let travel = AlertRuleConfig::builtin("impossible-travel").unwrap();
        let assessed = |decision: &str, reasons: Value| {
            json!({"action": "risk.assessed", "outcome": "failure", "target": "u1",
                   "details": {"decision": decision, "reasons": reasons}})
        };
        assert!(travel.matches(&assessed("deny", json!(["impossible_travel", "new_ip"]))));
        assert!(!travel.matches(&assessed("step_up", json!(["impossible_travel"]))));
        assert!(!travel.matches(&assessed("deny", json!(["deny_list"]))));
        let stuffing = AlertRuleConfig::builtin("credential-stuffing").unwrap();
        assert!(stuffing.matches(&assessed("challenge", json!(["attack_in_progress"]))));
        // Disabled by name alone; replaced by a rule of the same name.
        let off = AlertRuleConfig {
            enabled: false,
            ..AlertRuleConfig::new("password-spray", "")
        };
        let mine = AlertRuleConfig {
            severity: Severity::Low,
            ..AlertRuleConfig::new("admin-ip-refused", "access.denied")
        };
        let cfg = AlertsConfig {
            rules: vec![off, mine],
            ..AlertsConfig::default()
        };
        assert_eq!(cfg.validate(), Ok(()));
        let rules = cfg.effective_rules();
        assert_eq!(rules.len(), BUILTIN_RULES.len() - 1);
        assert!(!rules.iter().any(|r| r.name == "password-spray"));
        let admin: Vec<_> = rules
            .iter()
            .filter(|r| r.name == "admin-ip-refused")
            .collect();
        assert_eq!(admin.len(), 1);
        assert_eq!(admin[0].severity, Severity::Low);
        let none = AlertsConfig {
            builtin_rules: false,
            ..AlertsConfig::default()
        };
        assert!(none.effective_rules().is_empty());
    }
}
