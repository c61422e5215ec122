//! Alert rules over the audit log: the `[alerts]` configuration, the stored alert records, and
//! the pure part of the engine (matching events, sliding windows per group, retry backoff).
//!
//! The engine that reads the log, stores alerts, delivers them and runs playbooks lives in the
//! server crate; everything here is deterministic and takes the time as a parameter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::clock::UnixTime;
use crate::config::{ConfigError, SyslogTransport};

mod builtin;
mod evaluator;

pub use builtin::{BUILTIN_RULES, TOKEN_REUSE_RULE};
pub use evaluator::{Evaluator, Firing, MAX_GROUPS, OVERFLOW_GROUP};

/// `[alerts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Evaluate rules at all (default true).
    pub enabled: bool,
    /// Add the built-in rules ([`BUILTIN_RULES`]: token reuse, password spray, credential
    /// stuffing, attack level, impossible travel, admin API from a refused address, audit
    /// verification failure); a configured rule of the same name replaces one
    /// (`enabled = false` turns it off).
    pub builtin_rules: bool,
    /// `[[alerts.sinks]]`: where alerts are sent.
    pub sinks: Vec<AlertSinkConfig>,
    /// `[[alerts.rules]]`: what raises an alert.
    pub rules: Vec<AlertRuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            builtin_rules: true,
            sinks: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// What kind of destination an alert sink is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSinkKind {
    /// HTTP POST signed per the Standard Webhooks specification.
    Webhook,
    /// RFC 5424 syslog over TCP or TLS (RFC 6587 octet counting).
    Syslog,
    /// Mail over SMTP.
    Email,
}

impl AlertSinkKind {
    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSinkKind::Webhook => "webhook",
            AlertSinkKind::Syslog => "syslog",
            AlertSinkKind::Email => "email",
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_app_name() -> String {
    "portcullis".into()
}
fn default_max_per_hour() -> u32 {
    60
}
fn default_max_attempts() -> u32 {
    8
}
fn default_retry_base_ms() -> u64 {
    1000
}
fn default_threshold() -> u32 {
    1
}
fn default_window() -> u64 {
    60
}
fn default_dedup() -> u64 {
    300
}
fn default_ban() -> u64 {
    3600
}

/// One `[[alerts.sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSinkConfig {
    /// `webhook`, `syslog` or `email`.
    #[serde(rename = "type")]
    pub kind: AlertSinkKind,
    /// Unique name that rules refer to; default `<type>-<index>`.
    #[serde(default)]
    pub name: String,
    /// webhook: the `https://` (or `http://`) URL to POST to.
    #[serde(default)]
    pub url: Option<String>,
    /// webhook: the Standard Webhooks secret, `whsec_<base64>`.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// webhook (https) and syslog over TLS: PEM CA certificates to trust instead of the
    /// system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// syslog: `host:port` of the collector.
    #[serde(default)]
    pub address: Option<String>,
    /// syslog: `tcp` (default) or `tls`.
    #[serde(default)]
    pub transport: Option<SyslogTransport>,
    /// syslog over TLS: the name the collector's certificate must carry (default: the host
    /// of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// syslog: APP-NAME.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// email: `smtp://host:port` (STARTTLS when offered is not attempted; add
    /// `?tls=required`) or `smtps://host:port`, optionally with `user:password@`.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    /// email: the sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Alerts sent per rolling hour at most; beyond, they are recorded as `rate_limited`
    /// and not sent (0: no limit).
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
    /// Attempts per alert before it is given up on (recorded as `failed`).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay in milliseconds, doubling, at most a minute.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

impl AlertSinkConfig {
    /// A sink of `kind` with every optional key at its default (for code and tests).
    pub fn new(kind: AlertSinkKind, name: &str) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            url: None,
            secret: None,
            ca_file: None,
            address: None,
            transport: None,
            server_name: None,
            app_name: default_app_name(),
            smtp_url: None,
            from: None,
            to: Vec::new(),
            max_per_hour: default_max_per_hour(),
            max_attempts: default_max_attempts(),
            retry_base_ms: default_retry_base_ms(),
        }
    }

    /// Whether the syslog connection uses TLS.
    pub fn tls(&self) -> bool {
        self.transport == Some(SyslogTransport::Tls)
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Look at it some time.
    Low,
    /// Look at it today.
    #[default]
    Medium,
    /// Look at it now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// The name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The RFC 5424 severity (0 emergency .. 7 debug).
    pub fn syslog(self) -> u32 {
        match self {
            Severity::Info => 6,
            Severity::Low => 5,
            Severity::Medium => 4,
            Severity::High => 3,
            Severity::Critical => 2,
        }
    }
}

/// An automated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybookAction {
    /// Lock the account (which revokes its sessions).
    LockAccount,
    /// Revoke every session of the account.
    RevokeSessions,
    /// Revoke the API key (`details.api_key_id`, else the actor).
    RevokeApiKey,
    /// Ban the client IP for `ban_seconds`.
    BanIp,
    /// Ask for a second factor at the account's next sign-in.
    RequireMfa,
}

impl PlaybookAction {
    /// The name as configured and recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaybookAction::LockAccount => "lock_account",
            PlaybookAction::RevokeSessions => "revoke_sessions",
            PlaybookAction::RevokeApiKey => "revoke_api_key",
            PlaybookAction::BanIp => "ban_ip",
            PlaybookAction::RequireMfa => "require_mfa",
        }
    }
}

/// One `[[alerts.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleConfig {
    /// Unique name.
    pub name: String,
    /// Evaluate this rule (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The audit action to match; `prefix.*` matches every action under `prefix.`.
    #[serde(default)]
    pub action: String,
    /// `success` or `failure`; none: either.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Field equality on the event, by dotted path (`details.reason`); an array field
    /// matches when it contains the value.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, Value>,
    /// `ip`, `actor`, `target` or a dotted path into the event: one counter per value.
    /// Events without the field do not count. None: one counter for the rule.
    #[serde(default)]
    pub group_by: Option<String>,
    /// Events within the window that raise the alert.
    #[serde(default = "default_threshold")]
    pub threshold: u32,
    /// The sliding window, seconds.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// Firing again for the same group within this many seconds of the open alert's last
    /// event only counts on that alert: nothing is sent and no playbook runs again.
    #[serde(default = "default_dedup")]
    pub dedup_seconds: u64,
    /// `info`, `low`, `medium`, `high` or `critical`.
    #[serde(default)]
    pub severity: Severity,
    /// Sink names to send to; empty: every sink.
    #[serde(default)]
    pub sinks: Vec<String>,
    /// Automated responses, in order.
    #[serde(default)]
    pub playbook: Vec<PlaybookAction>,
    /// `ban_ip`: how long the ban lasts, seconds.
    #[serde(default = "default_ban")]
    pub ban_seconds: u64,
    /// Record what the playbook would do, and do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl AlertRuleConfig {
    /// A rule on `action` with every optional key at its default (for code and tests).
    pub fn new(name: &str, action: &str) -> Self {
        Self {
            name: name.to_owned(),
            enabled: true,
            action: action.to_owned(),
            outcome: None,
            where_: BTreeMap::new(),
            group_by: None,
            threshold: default_threshold(),
            window_seconds: default_window(),
            dedup_seconds: default_dedup(),
            severity: Severity::Medium,
            sinks: Vec::new(),
            playbook: Vec::new(),
            ban_seconds: default_ban(),
            dry_run: false,
        }
    }

    /// Whether the event's action is the rule's (exactly, or under a `prefix.*`).
    fn action_matches(&self, action: &str) -> bool {
        match self.action.strip_suffix(".*") {
            Some(prefix) => action
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
            None => self.action == action,
        }
    }

    /// Whether `event` (the JSON of an audit event) matches action, outcome and `where`.
    pub fn matches(&self, event: &Value) -> bool {
        let action = event.get("action").and_then(Value::as_str).unwrap_or("");
        if !self.action_matches(action) {
            return false;
        }
        if let Some(o) = &self.outcome
            && event.get("outcome").and_then(Value::as_str) != Some(o.as_str())
        {
            return false;
        }
        self.where_
            .iter()
            .all(|(path, want)| match lookup(event, path) {
                Some(Value::Array(items)) if !want.is_array() => items.contains(want),
                Some(got) => got == want,
                None => false,
            })
    }

    /// The group an event counts in: `Some("")` without `group_by`, `None` when the event
    /// lacks the field.
    pub fn group_of(&self, event: &Value) -> Option<String> {
        let Some(path) = &self.group_by else {
            return Some(String::new());
        };
        match lookup(event, path)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// The value at a dotted path (`details.reason`) of a JSON object.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// Names valid for rules and sinks: 1 to 64 letters, digits, `-` or `_`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn bad(key: String, message: &str) -> ConfigError {
    ConfigError {
        key,
        message: message.to_owned(),
    }
}

/// Plausible mail address: something, `@`, a host with a dot or `localhost`; no spaces or
/// angle brackets (the transport checks the rest).
fn plausible_mailbox(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, host)| {
        !local.is_empty()
            && !host.is_empty()
            && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
    })
}

impl AlertsConfig {
    /// Names unnamed sinks `<type>-<index>`.
    pub fn normalize(&mut self) {
        for (i, s) in self.sinks.iter_mut().enumerate() {
            if s.name.is_empty() {
                s.name = format!("{}-{i}", s.kind.as_str());
            }
        }
    }

    /// The rules the engine evaluates: the configured ones that are enabled, plus the
    /// built-in ones that no configured rule replaces.
    pub fn effective_rules(&self) -> Vec<AlertRuleConfig> {
        let mut rules: Vec<AlertRuleConfig> = Vec::new();
        if self.builtin_rules {
            rules.extend(
                BUILTIN_RULES
                    .iter()
                    .filter(|name| !self.rules.iter().any(|r| r.name == **name))
                    .filter_map(|name| AlertRuleConfig::builtin(name)),
            );
        }
        rules.extend(self.rules.iter().filter(|r| r.enabled).cloned());
        rules
    }

    /// Checks what the types alone do not; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut sink_names = std::collections::HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let key = |k: &str| format!("alerts.sinks[{i}].{k}");
            if !valid_name(&s.name) || !sink_names.insert(s.name.as_str()) {
                return Err(bad(
                    key("name"),
                    "unique, 1 to 64 letters, digits, `-` or `_`",
                ));
            }
            if s.max_attempts == 0 || s.max_attempts > 100 {
                return Err(bad(key("max_attempts"), "between 1 and 100"));
            }
            if s.retry_base_ms == 0 || s.retry_base_ms > 60_000 {
                return Err(bad(key("retry_base_ms"), "between 1 and 60000"));
            }
            match s.kind {
                AlertSinkKind::Webhook => {
                    if !s
                        .url
                        .as_deref()
                        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
                    {
                        return Err(bad(key("url"), "a webhook sink needs an https:// URL"));
                    }
                    let ok = s
                        .secret
                        .as_ref()
                        .is_some_and(|k| crate::siem::webhook_key(k.expose_secret()).is_ok());
                    if !ok {
                        return Err(bad(
                            key("secret"),
                            "a webhook sink needs a secret: `whsec_` and base64 of 24 to 64 random bytes",
                        ));
                    }
                }
                AlertSinkKind::Syslog => {
                    if s.address
                        .as_deref()
                        .is_none_or(|a| a.rsplit_once(':').is_none())
                    {
                        return Err(bad(key("address"), "a syslog sink needs host:port"));
                    }
                }
                AlertSinkKind::Email => {
                    let url_ok = s.smtp_url.as_ref().is_some_and(|u| {
                        let u = u.expose_secret();
                        u.starts_with("smtp://") || u.starts_with("smtps://")
                    });
                    if !url_ok {
                        return Err(bad(
                            key("smtp_url"),
                            "an email sink needs smtp://host:port or smtps://host:port",
                        ));
                    }
                    if !s.from.as_deref().is_some_and(plausible_mailbox) {
                        return Err(bad(key("from"), "an email sink needs a sender address"));
                    }
                    if s.to.is_empty() || !s.to.iter().all(|t| plausible_mailbox(t)) {
                        return Err(bad(key("to"), "an email sink needs one or more recipients"));
                    }
                }
            }
        }
        let mut rule_names = std::collections::HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = |k: &str| format!("alerts.rules[{i}].{k}");
            if !valid_name(&r.name) || !rule_names.insert(r.name.as_str()) {
                return Err(bad(
                    key("name"),
                    "unique, 1 to 64 letters, digits, `-` or `_`",
                ));
            }
            // A disabled rule needs only its name (that is how a built-in one is turned off).
            if !r.enabled {
                continue;
            }
            let prefix = r.action.strip_suffix(".*").unwrap_or(&r.action);
            let action_ok = !prefix.is_empty()
                && prefix.len() <= 128
                && prefix.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                });
            if !action_ok {
                return Err(bad(
                    key("action"),
                    "a dotted audit action (`auth.login.failed`), or a prefix ending in `.*`",
                ));
            }
            if r.outcome
                .as_deref()
                .is_some_and(|o| o != "success" && o != "failure")
            {
                return Err(bad(key("outcome"), "`success` or `failure`"));
            }
            if r.where_
                .keys()
                .any(|k| k.is_empty() || k.split('.').any(str::is_empty))
            {
                return Err(bad(key("where"), "keys are dotted paths into the event"));
            }
            if r.group_by
                .as_deref()
                .is_some_and(|g| g.is_empty() || g.split('.').any(str::is_empty))
            {
                return Err(bad(
                    key("group_by"),
                    "`ip`, `actor`, `target` or a dotted path such as `details.user_id`",
                ));
            }
            if r.threshold == 0 || r.threshold > 100_000 {
                return Err(bad(key("threshold"), "between 1 and 100000"));
            }
            if r.window_seconds == 0 || r.window_seconds > 86_400 {
                return Err(bad(key("window_seconds"), "between 1 and 86400"));
            }
            if r.dedup_seconds > 604_800 {
                return Err(bad(key("dedup_seconds"), "at most 604800 (a week)"));
            }
            if let Some(s) = r.sinks.iter().find(|s| !sink_names.contains(s.as_str())) {
                return Err(bad(
                    key("sinks"),
                    &format!("`{s}` is not the name of an [[alerts.sinks]] entry"),
                ));
            }
            if r.playbook.contains(&PlaybookAction::BanIp)
                && (r.ban_seconds == 0 || r.ban_seconds > 31_536_000)
            {
                return Err(bad(key("ban_seconds"), "between 1 and 31536000"));
            }
        }
        Ok(())
    }
}

/// Delay before retry `attempt` (0-based): `base_ms` doubling, at most a minute.
pub fn backoff_ms(base_ms: u64, attempt: u32) -> u64 {
    base_ms.saturating_mul(1u64 << attempt.min(16)).min(60_000)
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// UUIDv7.
    pub id: String,
    /// The rule that raised it.
    pub rule: String,
    /// `info` .. `critical`.
    pub severity: String,
    /// The group value (`""`: the rule has no `group_by`).
    pub group_key: String,
    /// Time of the first event counted on it.
    pub first_at: UnixTime,
    /// Time of the latest event counted on it.
    pub last_at: UnixTime,
    /// Events counted on it: the threshold at first, one more per event while open.
    pub count: i64,
    /// `open` or `resolved`.
    pub status: String,
    /// The playbook only recorded what it would do.
    pub dry_run: bool,
    /// JSON array of the playbook's actions and their results.
    pub actions: String,
    /// JSON object: the triggering event and the rule's parameters.
    pub details: String,
    /// When an administrator resolved it.
    pub resolved_at: Option<UnixTime>,
    /// Sequence number of the audit entry that raised it.
    pub event_seq: i64,
}

/// Where one alert stands with one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// The alert.
    pub alert_id: String,
    /// The sink's name.
    pub sink: String,
    /// `pending`, `delivered`, `failed` (gave up after `max_attempts`) or `rate_limited`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: UnixTime,
    /// When it was accepted.
    pub delivered_at: Option<UnixTime>,
}

impl AlertRecord {
    /// The alert as sent to sinks and shown to administrators: times in RFC 3339, the
    /// group `null` for a rule without `group_by`, actions and details as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "status": self.status,
            "group": if self.group_key.is_empty() { None } else { Some(&self.group_key) },
            "count": self.count,
            "first_at": crate::clock::rfc3339(self.first_at),
            "last_at": crate::clock::rfc3339(self.last_at),
            "dry_run": self.dry_run,
            "actions": serde_json::from_str::<Value>(&self.actions).unwrap_or(Value::Array(vec![])),
            "details": serde_json::from_str::<Value>(&self.details).unwrap_or(Value::Object(serde_json::Map::new())),
            "resolved_at": self.resolved_at.map(crate::clock::rfc3339),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn event(action: &str, ip: &str, reason: &str) -> Value {
        json!({"action": action, "outcome": "failure", "ip": ip, "actor": null,
               "target": "u1", "details": {"reason": reason, "reasons": ["new_device", "deny_list"]}})
    }

    #[test]
    fn action_outcome_and_where_match() {
        let mut r = AlertRuleConfig::new("r", "auth.login.failed");
        r.outcome = Some("failure".into());
        r.where_
            .insert("details.reason".into(), json!("invalid_credentials"));
        assert!(r.matches(&event(
            "auth.login.failed",
            "1.2.3.4",
            "invalid_credentials"
        )));
        assert!(!r.matches(&event("auth.login.failed", "1.2.3.4", "account_locked")));
        assert!(!r.matches(&event(
            "auth.login.succeeded",
            "1.2.3.4",
            "invalid_credentials"
        )));
        r.outcome = Some("success".into());
        assert!(!r.matches(&event(
            "auth.login.failed",
            "1.2.3.4",
            "invalid_credentials"
        )));
    }

    #[test]
    fn prefix_and_array_membership() {
        let mut r = AlertRuleConfig::new("r", "auth.login.*");
        assert!(r.matches(&event("auth.login.failed", "ip", "x")));
        assert!(!r.matches(&event("auth.loginx.failed", "ip", "x")));
        assert!(!r.matches(&event("auth.login", "ip", "x")));
        r.where_
            .insert("details.reasons".into(), json!("deny_list"));
        assert!(r.matches(&event("auth.login.failed", "ip", "x")));
        r.where_
            .insert("details.reasons".into(), json!("new_country"));
        assert!(!r.matches(&event("auth.login.failed", "ip", "x")));
    }

    #[test]
    fn sliding_window_per_group() {
        let mut r = AlertRuleConfig::new("r", "auth.login.failed");
        r.group_by = Some("ip".into());
        r.threshold = 3;
        r.window_seconds = 60;
        let mut ev = Evaluator::new(vec![r]);
        let a = event("auth.login.failed", "10.0.0.1", "x");
        let b = event("auth.login.failed", "10.0.0.2", "x");
        assert!(ev.observe(&a, 1000).is_empty());
        assert!(ev.observe(&b, 1001).is_empty());
        assert!(ev.observe(&a, 1030).is_empty());
        // The first event of `a` left the window (1000 <= 1061 - 60): no firing yet.
        assert!(ev.observe(&a, 1061).is_empty());
        let f = ev.observe(&a, 1062);
        assert_eq!(
            f,
            vec![Firing {
                rule: 0,
                group: "10.0.0.1".into(),
                in_window: 3,
                first_at: 1030,
            }]
        );
        // Still over the threshold: fires again (the engine dedups).
        assert_eq!(ev.observe(&a, 1063).len(), 1);
        assert!(ev.observe(&b, 1063).is_empty());
        ev.sweep(2000);
        assert_eq!(ev.groups(), 0);
    }

    #[test]
    fn a_full_evaluator_counts_new_groups_together_and_keys_ipv6_by_64() {
        let mut r = AlertRuleConfig::new("r", "auth.login.failed");
        r.group_by = Some("ip".into());
        r.threshold = 3;
        r.window_seconds = 60;
        let mut ev = Evaluator::new(vec![r]);
        // Three addresses of one /64 are one source.
        for (i, ip) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]
            .iter()
            .enumerate()
        {
            let f = ev.observe(&event("auth.login.failed", ip, "x"), 10 + i as i64);
            if i == 2 {
                assert_eq!(f.len(), 1);
                assert_eq!(f[0].group, "2001:db8:1:2::/64");
            }
        }
        // Fill the map with live groups.
        for i in 0..MAX_GROUPS {
            ev.observe(
                &event(
                    "auth.login.failed",
                    &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                    "x",
                ),
                20,
            );
        }
        assert!((MAX_GROUPS..=MAX_GROUPS + 1).contains(&ev.groups()));
        // New sources flooding in are still counted (together) and still fire.
        let mut fired = Vec::new();
        for i in 0..3 {
            fired = ev.observe(
                &event("auth.login.failed", &format!("192.0.2.{i}"), "x"),
                21,
            );
        }
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].group, OVERFLOW_GROUP);
        assert!(ev.groups() <= MAX_GROUPS + 1);
        // Once the windows pass, one sweep (at most once a second) frees the map.
        ev.observe(&event("auth.login.failed", "198.51.100.1", "x"), 200);
        assert!(ev.groups() < 10, "{}", ev.groups());
    }

    #[test]
    fn events_without_the_group_field_do_not_count() {
        let mut r = AlertRuleConfig::new("r", "auth.login.failed");
        r.group_by = Some("actor".into());
        let mut ev = Evaluator::new(vec![r]);
        assert!(
            ev.observe(&event("auth.login.failed", "ip", "x"), 1)
                .is_empty()
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(100, 0), 100);
        assert_eq!(backoff_ms(100, 3), 800);
        assert_eq!(backoff_ms(1000, 40), 60_000);
    }

    #[test]
    fn builtin_rule_is_replaced_or_disabled_by_name() {
        let mut c = AlertsConfig::default();
        assert_eq!(c.effective_rules()[0].name, TOKEN_REUSE_RULE);
        let mut own = AlertRuleConfig::token_reuse();
        own.enabled = false;
        c.rules.push(own);
        assert!(
            !c.effective_rules()
                .iter()
                .any(|r| r.name == TOKEN_REUSE_RULE)
        );
        assert_eq!(c.effective_rules().len(), BUILTIN_RULES.len() - 1);
        c.rules.clear();
        c.builtin_rules = false;
        assert!(c.effective_rules().is_empty());
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = AlertsConfig::default();
        c.rules.push(AlertRuleConfig::new("a", "auth.login.failed"));
        c.rules.push(AlertRuleConfig::new("b", "auth.login.failed"));
        let mut bad_rule = AlertRuleConfig::new("c", "auth.login.failed");
        bad_rule.threshold = 0;
        c.rules.push(bad_rule);
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("alerts.rules[2].threshold".to_owned())
        );
        c.rules.truncate(2);
        c.rules[1].sinks = vec!["nope".into()];
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("alerts.rules[1].sinks".to_owned())
        );
        c.rules[1].sinks.clear();
        c.rules[1].name = "a".into();
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("alerts.rules[1].name".to_owned())
        );
    }
}
