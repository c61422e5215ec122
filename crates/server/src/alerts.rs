//! The alert engine: evaluates `[[alerts.rules]]` over the sequenced audit log, stores and
//! dedups alerts, runs their playbooks and delivers them to `[[alerts.sinks]]`.
//!
//! The evaluator reads the log with a leased cursor (the `alerts-engine` row of the audit
//! sink cursors), so exactly one node of a cluster evaluates and a restart resumes where it
//! stopped; the windows of the rules are rebuilt from the entries before the cursor. Each
//! sink has its own leased delivery task reading queued deliveries from the database, so a
//! slow or failing sink delays only itself, never the evaluation.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lettre::AsyncTransport;
use portcullis_core::alerting::{
    AlertRecord, AlertRuleConfig, AlertSinkConfig, AlertSinkKind, AlertsConfig, Evaluator, Firing,
    PlaybookAction, backoff_ms,
};
use portcullis_core::audit::AuditRecord;
use portcullis_core::service::{ResponseResult, ResponseSource, Services};
use portcullis_core::siem;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sinks::{SyslogTarget, hostname};

/// The cursor row of the evaluator.
const ENGINE: &str = "alerts-engine";
/// Entries per evaluation round.
const BATCH: u32 = 200;
/// How long a node's lease lasts without renewal.
const LEASE_SECONDS: i64 = 30;
/// Pause when there is nothing to do or the lease is elsewhere.
const IDLE: Duration = Duration::from_millis(250);
/// Entries before the cursor replayed (without firing) to rebuild the windows.
const WARM_ENTRIES: i64 = 20_000;
/// Events older than this (and than the rule's window) when evaluated only count: a node
/// catching up after a long outage does not ban addresses for what happened hours ago.
const STALE_SECONDS: i64 = 3600;
/// Deliveries taken per round.
const DELIVERY_BATCH: u32 = 20;
/// RFC 5424 facility of alerts: 10, security/authorization (authpriv).
const FACILITY_AUTHPRIV: u32 = 10;

/// Sleeps `d` unless asked to stop; returns false when stopping.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Starts the evaluator and one delivery task per sink; nothing when alerts are disabled.
pub fn spawn(
    svc: Arc<Services>,
    cfg: AlertsConfig,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    if !cfg.enabled {
        return Vec::new();
    }
    let owner = {
        let b: [u8; 8] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
        format!("{}-{}", hostname(), hex::encode(b))
    };
    let mut tasks = Vec::new();
    for sink in cfg.sinks.clone() {
        let (svc, owner, stop) = (svc.clone(), owner.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let lease = format!("alerts-sink:{}", sink.name);
            let store = svc.store().clone();
            run_sink(svc, sink, &lease, &owner, stop).await;
            let _ = store.release_sink(&lease, &owner).await;
        }));
    }
    let rules = cfg.effective_rules();
    if !rules.is_empty() {
        let sinks: Vec<String> = cfg.sinks.iter().map(|s| s.name.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let store = svc.store().clone();
            run_engine(svc, rules, sinks, &owner, stop).await;
            let _ = store.release_sink(ENGINE, &owner).await;
        }));
    }
    tasks
}

async fn run_engine(
    svc: Arc<Services>,
    rules: Vec<AlertRuleConfig>,
    sinks: Vec<String>,
    owner: &str,
    mut stop: watch::Receiver<bool>,
) {
    let store = svc.store().clone();
    let mut eval = Evaluator::new(rules);
    let mut warm = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let cursor = match store
            .sink_lease(ENGINE, owner, svc.now(), LEASE_SECONDS)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Another node evaluates; its windows are not ours, rebuild on takeover.
                warm = false;
                if !pause(IDLE * 4, &mut stop).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "alert engine cannot read its cursor");
                if !pause(IDLE * 8, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        if !warm {
            eval = Evaluator::new(eval.rules().to_vec());
            if let Err(e) = warm_up(&svc, &mut eval, cursor).await {
                tracing::warn!(error = %e, "alert engine could not rebuild its windows");
                if !pause(IDLE * 8, &mut stop).await {
                    return;
                }
                continue;
            }
            warm = true;
        }
        let batch = match store.audit_page(cursor, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "alert engine cannot read the audit log");
                if !pause(IDLE * 8, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let Some(last) = batch.last().map(|r| r.seq) else {
            if !pause(IDLE, &mut stop).await {
                return;
            }
            continue;
        };
        for r in &batch {
            let event = siem::event_json(r);
            for f in eval.observe(&event, r.time) {
                let Some(rule) = eval.rules().get(f.rule) else {
                    continue;
                };
                let stale = svc.now() - r.time > STALE_SECONDS.max(window_of(rule));
                if stale {
                    continue;
                }
                if let Err(e) = fire(&svc, rule, &f, r, &event, &sinks).await {
                    tracing::error!(rule = %rule.name, seq = r.seq, error = %e, "could not raise an alert");
                }
            }
        }
        let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        match store.advance_sink(ENGINE, owner, last, n, svc.now()).await {
            Ok(true) => {}
            Ok(false) => warm = false,
            Err(e) => tracing::warn!(error = %e, "alert engine could not store its cursor"),
        }
    }
}

fn window_of(rule: &AlertRuleConfig) -> i64 {
    i64::try_from(rule.window_seconds).unwrap_or(i64::MAX)
}

/// Replays (without firing) the entries before `cursor` that are still inside a window.
async fn warm_up(
    svc: &Services,
    eval: &mut Evaluator,
    cursor: i64,
) -> portcullis_core::store::StoreResult<()> {
    let since = svc.now() - eval.max_window();
    let mut from = (cursor - WARM_ENTRIES).max(0);
    while from < cursor {
        let page = svc.store().audit_page(from, BATCH).await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        for r in page.iter().filter(|r| r.seq <= cursor && r.time > since) {
            let _ = eval.observe(&siem::event_json(r), r.time);
        }
        from = last;
    }
    Ok(())
}

/// A rule fired for a group: count it on the open alert within the dedup window, or raise a
/// new alert, run the playbook and queue the deliveries.
async fn fire(
    svc: &Services,
    rule: &AlertRuleConfig,
    f: &Firing,
    r: &AuditRecord,
    event: &Value,
    all_sinks: &[String],
) -> portcullis_core::error::Result<()> {
    let store = svc.store();
    if rule.dedup_seconds > 0 {
        let since = r.time - i64::try_from(rule.dedup_seconds).unwrap_or(i64::MAX);
        if let Some(open) = store.open_alert(&rule.name, &f.group, since).await? {
            store.bump_alert(&open.id, r.time).await?;
            return Ok(());
        }
    }
    let id = svc.new_alert_id();
    let alert = AlertRecord {
        id: id.clone(),
        rule: rule.name.clone(),
        severity: rule.severity.as_str().to_owned(),
        group_key: f.group.clone(),
        first_at: f.first_at,
        last_at: r.time,
        count: i64::from(f.in_window),
        status: "open".into(),
        dry_run: rule.dry_run,
        actions: "[]".into(),
        details: json!({
            "event": {
                "seq": r.seq,
                "time": portcullis_core::clock::rfc3339(r.time),
                "action": r.action,
                "outcome": r.outcome,
                "actor": r.actor,
                "target": r.target,
                "ip": r.ip,
                "details": event.get("details"),
            },
            "action": rule.action,
            "group_by": rule.group_by,
            "threshold": rule.threshold,
            "window_seconds": rule.window_seconds,
        })
        .to_string(),
        resolved_at: None,
        event_seq: r.seq,
    };
    svc.raise_alert(&alert).await?;
    tracing::warn!(alert = %id, rule = %rule.name, severity = %alert.severity, "alert raised");
    let actions = run_playbook(svc, rule, &id, r, event).await;
    let sinks: Vec<String> = if rule.sinks.is_empty() {
        all_sinks.to_vec()
    } else {
        rule.sinks.clone()
    };
    store
        .complete_alert(&id, &Value::Array(actions).to_string(), &sinks, svc.now())
        .await?;
    Ok(())
}

/// The account an event is about: its actor when that is a user id, else its target.
fn account_of(r: &AuditRecord) -> Option<String> {
    [r.actor.as_deref(), r.target.as_deref()]
        .into_iter()
        .flatten()
        .find(|s| portcullis_core::id::is_valid_id(s))
        .map(str::to_owned)
}

/// The API key an event is about: `details.api_key_id`, else the actor.
fn api_key_of(r: &AuditRecord, event: &Value) -> Option<String> {
    portcullis_core::alerting::lookup(event, "details.api_key_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| r.actor.clone())
}

/// Runs the rule's playbook on the triggering event; one record per action.
async fn run_playbook(
    svc: &Services,
    rule: &AlertRuleConfig,
    alert_id: &str,
    r: &AuditRecord,
    event: &Value,
) -> Vec<Value> {
    let src = ResponseSource {
        rule: &rule.name,
        alert_id,
        dry_run: rule.dry_run,
    };
    let mut out = Vec::new();
    for action in &rule.playbook {
        let (subject, result) = match action {
            PlaybookAction::LockAccount => match account_of(r) {
                Some(u) => (
                    Some(u.clone()),
                    Some(svc.respond_lock_account(&u, &src).await),
                ),
                None => (None, None),
            },
            PlaybookAction::RevokeSessions => match account_of(r) {
                Some(u) => (
                    Some(u.clone()),
                    Some(svc.respond_revoke_sessions(&u, &src).await),
                ),
                None => (None, None),
            },
            PlaybookAction::RequireMfa => match account_of(r) {
                Some(u) => (
                    Some(u.clone()),
                    Some(svc.respond_require_mfa(&u, &src).await),
                ),
                None => (None, None),
            },
            PlaybookAction::RevokeApiKey => match api_key_of(r, event) {
                Some(k) => (
                    Some(k.clone()),
                    Some(svc.respond_revoke_api_key(&k, &src).await),
                ),
                None => (None, None),
            },
            PlaybookAction::BanIp => match r.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()) {
                Some(ip) => {
                    let ttl = i64::try_from(rule.ban_seconds).unwrap_or(i64::MAX);
                    (
                        Some(ip.to_string()),
                        Some(svc.respond_ban_ip(ip, ttl, &src).await),
                    )
                }
                None => (None, None),
            },
        };
        let record = match result {
            None => json!({"action": action.as_str(), "subject": subject, "result": "skipped",
                           "detail": "the event names no subject for this action"}),
            Some(Ok(ResponseResult::Done(d))) => {
                json!({"action": action.as_str(), "subject": subject,
                           "result": "done", "detail": d})
            }
            Some(Ok(ResponseResult::Skipped(why))) => json!({"action": action.as_str(),
                           "subject": subject, "result": "skipped", "detail": why}),
            Some(Ok(res)) => json!({"action": action.as_str(), "subject": subject,
                           "result": res.as_str()}),
            Some(Err(e)) => {
                tracing::error!(rule = %rule.name, alert = %alert_id, action = action.as_str(), error = %e, "automated response failed");
                json!({"action": action.as_str(), "subject": subject, "result": "failed",
                       "detail": e.to_string()})
            }
        };
        out.push(record);
    }
    out
}

/// Where one alert sink sends.
enum Output {
    Webhook {
        url: String,
        key: zeroize::Zeroizing<Vec<u8>>,
        client: reqwest::Client,
    },
    Syslog(SyslogTarget),
    Email {
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        from: lettre::message::Mailbox,
        to: Vec<lettre::message::Mailbox>,
    },
}

impl Output {
    fn new(cfg: &AlertSinkConfig) -> Result<Self, String> {
        Ok(match cfg.kind {
            AlertSinkKind::Webhook => Output::Webhook {
                url: cfg.url.clone().ok_or("webhook sink without a url")?,
                key: siem::webhook_key(
                    cfg.secret
                        .as_ref()
                        .map(|s| s.expose_secret())
                        .unwrap_or_default(),
                )
                .map_err(|e| e.to_string())?,
                client: crate::sinks::webhook_client(cfg.ca_file.as_deref())?,
            },
            AlertSinkKind::Syslog => Output::Syslog(SyslogTarget::new(
                cfg.address.as_deref(),
                cfg.tls(),
                cfg.ca_file.as_deref(),
                cfg.server_name.as_deref(),
                &cfg.app_name,
            )?),
            AlertSinkKind::Email => {
                let url = cfg.smtp_url.as_ref().ok_or("email sink without smtp_url")?;
                // The URL may carry a password: never echo it in the error.
                let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(
                    url.expose_secret(),
                )
                .map_err(|_| "smtp_url is not a valid smtp:// or smtps:// URL".to_owned())?
                .timeout(Some(Duration::from_secs(10)))
                .build();
                let from = cfg
                    .from
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| format!("from: {e}"))?;
                let to = cfg
                    .to
                    .iter()
                    .map(|t| t.parse().map_err(|e| format!("to `{t}`: {e}")))
                    .collect::<Result<Vec<_>, String>>()?;
                Output::Email {
                    transport,
                    from,
                    to,
                }
            }
        })
    }

    /// Sends one alert; the error says why it was not accepted.
    async fn send(&mut self, alert: &AlertRecord, now: i64) -> Result<(), String> {
        let data = alert.to_json();
        match self {
            Output::Webhook { url, key, client } => {
                let body = json!({
                    "type": "alert.raised",
                    "timestamp": portcullis_core::clock::rfc3339(now),
                    "data": data,
                })
                .to_string();
                // The same id on every attempt, so receivers can drop duplicates.
                let id = format!("alert_{}", alert.id);
                let sig = siem::webhook_signature(key, &id, now, &body);
                let res = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", now.to_string())
                    .header("webhook-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                if res.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{url} answered {}", res.status()))
                }
            }
            Output::Syslog(target) => {
                let severity = severity_of(&alert.severity);
                let frame = siem::syslog_message(
                    FACILITY_AUTHPRIV * 8 + severity,
                    now,
                    &target.hostname,
                    &target.app_name,
                    "alert",
                    &[
                        ("alert_id", &alert.id),
                        ("rule", &alert.rule),
                        ("severity", &alert.severity),
                    ],
                    &data.to_string(),
                );
                target.send(&frame).await
            }
            Output::Email {
                transport,
                from,
                to,
            } => {
                let mut b = lettre::Message::builder()
                    .from(from.clone())
                    .subject(subject_of(alert));
                for t in to.iter() {
                    b = b.to(t.clone());
                }
                let body = format!(
                    "Portcullis raised an alert.\n\nrule: {}\nseverity: {}\ngroup: {}\nevents: {}\nfirst: {}\nlast: {}\ndry run: {}\nalert id: {}\n\n{}\n",
                    alert.rule,
                    alert.severity,
                    printable(&alert.group_key),
                    alert.count,
                    portcullis_core::clock::rfc3339(alert.first_at),
                    portcullis_core::clock::rfc3339(alert.last_at),
                    alert.dry_run,
                    alert.id,
                    serde_json::to_string_pretty(&data).unwrap_or_default(),
                );
                let msg = b
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|e| format!("message: {e}"))?;
                transport
                    .send(msg)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
        }
    }
}

/// RFC 5424 severity of a stored severity name.
fn severity_of(s: &str) -> u32 {
    match s {
        "critical" => 2,
        "high" => 3,
        "medium" => 4,
        "low" => 5,
        _ => 6,
    }
}

/// Printable text of at most 100 characters (a group comes from an event and may hold
/// anything; control characters must not reach a mail header).
fn printable(s: &str) -> String {
    let t: String = s.chars().filter(|c| !c.is_control()).take(100).collect();
    if t.is_empty() { "-".into() } else { t }
}

fn subject_of(a: &AlertRecord) -> String {
    format!(
        "[Portcullis] {} alert: {} ({})",
        a.severity,
        a.rule,
        printable(&a.group_key)
    )
}

async fn run_sink(
    svc: Arc<Services>,
    cfg: AlertSinkConfig,
    lease: &str,
    owner: &str,
    mut stop: watch::Receiver<bool>,
) {
    let name = cfg.name.clone();
    let mut out = match Output::new(&cfg) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(sink = %name, error = %e, "alert sink misconfigured; not delivering");
            return;
        }
    };
    let store = svc.store().clone();
    loop {
        if *stop.borrow() {
            return;
        }
        match store
            .sink_lease(lease, owner, svc.now(), LEASE_SECONDS)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                if !pause(IDLE * 4, &mut stop).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "alert sink cannot take its lease");
                if !pause(IDLE * 8, &mut stop).await {
                    return;
                }
                continue;
            }
        }
        let pending = match store.pending_alert_deliveries(&name, DELIVERY_BATCH).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "alert sink cannot read its queue");
                if !pause(IDLE * 8, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        if pending.is_empty() {
            if !pause(IDLE, &mut stop).await {
                return;
            }
            continue;
        }
        for d in pending {
            let now = svc.now();
            if cfg.max_per_hour > 0 {
                match store.alerts_delivered_since(&name, now - 3600).await {
                    Ok(n) if n >= u64::from(cfg.max_per_hour) => {
                        let _ = store
                            .update_alert_delivery(
                                &d.alert_id,
                                &name,
                                "rate_limited",
                                d.attempts,
                                Some("max_per_hour reached"),
                                now,
                            )
                            .await;
                        tracing::warn!(sink = %name, alert = %d.alert_id, "alert not sent: the sink's max_per_hour is reached");
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(sink = %name, error = %e, "alert sink cannot count its deliveries");
                        break;
                    }
                }
            }
            let alert = match store.alert(&d.alert_id).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    let _ = store
                        .update_alert_delivery(
                            &d.alert_id,
                            &name,
                            "failed",
                            d.attempts,
                            Some("no such alert"),
                            now,
                        )
                        .await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(sink = %name, error = %e, "alert sink cannot read an alert");
                    break;
                }
            };
            let attempts = d.attempts.saturating_add(1);
            match out.send(&alert, now).await {
                Ok(()) => {
                    if let Err(e) = store
                        .update_alert_delivery(&d.alert_id, &name, "delivered", attempts, None, now)
                        .await
                    {
                        tracing::warn!(sink = %name, error = %e, "alert delivered but not recorded; it may be sent again");
                    }
                }
                Err(reason) => {
                    let give_up = attempts >= i64::from(cfg.max_attempts);
                    let status = if give_up { "failed" } else { "pending" };
                    let _ = store
                        .update_alert_delivery(
                            &d.alert_id,
                            &name,
                            status,
                            attempts,
                            Some(&reason),
                            svc.now(),
                        )
                        .await;
                    if give_up {
                        tracing::error!(sink = %name, alert = %d.alert_id, attempts, error = %reason, "gave up sending an alert");
                        continue;
                    }
                    tracing::warn!(sink = %name, alert = %d.alert_id, attempts, error = %reason, "alert delivery failed; retrying");
                    let wait = backoff_ms(
                        cfg.retry_base_ms,
                        u32::try_from(attempts - 1).unwrap_or(u32::MAX),
                    );
                    if !pause(Duration::from_millis(wait), &mut stop).await {
                        return;
                    }
                    // Start again from the oldest pending alert, in order.
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use portcullis_core::alerting::BUILTIN_RULES;

    fn record(actor: Option<&str>, target: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq: 1,
            time: 0,
            action: "auth.login.failed".into(),
            outcome: "failure".into(),
            actor: actor.map(str::to_owned),
            target: target.map(str::to_owned),
            ip: Some("192.0.2.1".into()),
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
    fn the_account_is_the_actor_else_the_target() {
        let u1 = "0190f5a0-0000-7000-8000-000000000001";
        let u2 = "0190f5a0-0000-7000-8000-000000000002";
        assert_eq!(account_of(&record(Some(u1), Some(u2))).as_deref(), Some(u1));
        assert_eq!(
            account_of(&record(Some("rule:x"), Some(u2))).as_deref(),
            Some(u2)
        );
        assert_eq!(account_of(&record(None, None)), None);
    }

    /// The `[[alerts.sinks]]` snippet of the contract and a rule as documented load as
    /// written; the placeholder secret `whsec_...` is refused by name, a real one passes.
    #[test]
    fn contract_snippet_and_documented_rule_load() {
        let snippet = r#"
[[alerts.sinks]]
type = "webhook"                         # webhook (Standard Webhooks) | syslog | email
url = "https://ops.example/alerts"
secret = "whsec_..."

[[alerts.sinks]]
type = "email"
smtp_url = "smtp://127.0.0.1:2525"       # lettre URL form; smtps:// for TLS
from = "portcullis@example.com"
to = ["oncall@example.com"]

[[alerts.rules]]
name = "credential-stuffing"             # unique
action = "auth.login.failed"             # audit action to match; also allow a trailing ".*" prefix match
outcome = "failure"                       # optional
where = { "details.reason" = "invalid_credentials" }   # optional field equality on the event (dotted paths into the event JSON)
group_by = "ip"                           # optional: ip | actor | target | or a dotted details path; one counter per group
threshold = 20                            # events in the window that fire it
window_seconds = 60
severity = "high"                         # info | low | medium | high | critical
sinks = []                                # sink names; empty = all
playbook = ["ban_ip"]                     # lock_account | revoke_sessions | revoke_api_key | ban_ip | require_mfa
ban_seconds = 3600                        # for ban_ip
dry_run = false                           # record what would be done, do nothing
"#;
        let mut c: portcullis_core::config::Config = toml::from_str(snippet).unwrap();
        c.normalize();
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("alerts.sinks[0].secret".to_owned())
        );
        let real = snippet.replace(
            "whsec_...",
            "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        );
        let mut c: portcullis_core::config::Config = toml::from_str(&real).unwrap();
        c.normalize();
        assert_eq!(c.validate(), Ok(()));
        let names: Vec<&str> = c.alerts.sinks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["webhook-0", "email-1"]);
        let rule = c.alerts.rules.first().unwrap();
        assert_eq!(rule.threshold, 20);
        assert_eq!(rule.playbook, [PlaybookAction::BanIp]);
        assert_eq!(rule.dedup_seconds, 300);
        // The built-in rules are there too; the configured credential-stuffing replaces its
        // built-in namesake.
        let rules = c.alerts.effective_rules();
        assert_eq!(rules.len(), BUILTIN_RULES.len());
        assert_eq!(
            rules
                .iter()
                .filter(|r| r.name == "credential-stuffing")
                .map(|r| r.threshold)
                .collect::<Vec<_>>(),
            [20]
        );
        let bad = real.replace("threshold = 20", "threshold = 0");
        let mut c: portcullis_core::config::Config = toml::from_str(&bad).unwrap();
        c.normalize();
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("alerts.rules[0].threshold".to_owned())
        );
        assert!(
            toml::from_str::<portcullis_core::config::Config>(&real.replace("dry_run", "dryrun"))
                .is_err()
        );
    }

    #[test]
    fn mail_subjects_carry_no_control_characters() {
        let a = AlertRecord {
            id: "a".into(),
            rule: "r".into(),
            severity: "high".into(),
            group_key: "x\r\nBcc: evil@example.com".into(),
            first_at: 0,
            last_at: 0,
            count: 1,
            status: "open".into(),
            dry_run: false,
            actions: "[]".into(),
            details: "{}".into(),
            resolved_at: None,
            event_seq: 1,
        };
        assert!(!subject_of(&a).contains('\n'));
        assert_eq!(severity_of("critical"), 2);
    }
}
