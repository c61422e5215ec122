//! Audit events as a SIEM receives them: OCSF 1.x records, RFC 5424 syslog messages with
//! RFC 6587 octet-counting framing, and Standard Webhooks signatures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use crate::audit::AuditRecord;

/// The OCSF schema version the records follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// The OCSF class of an audit action, with its category and activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfClass {
    /// `class_uid`: 3001 Account Change, 3002 Authentication, 6003 API Activity.
    pub class_uid: u32,
    /// `class_name`.
    pub class_name: &'static str,
    /// `category_uid`: 3 Identity & Access Management, 6 Application Activity.
    pub category_uid: u32,
    /// `category_name`.
    pub category_name: &'static str,
    /// `activity_id` within the class.
    pub activity_id: u32,
    /// `activity_name`.
    pub activity_name: &'static str,
}

const fn class(
    class_uid: u32,
    class_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
) -> OcsfClass {
    let (category_uid, category_name) = if class_uid / 1000 == 3 {
        (3, "Identity & Access Management")
    } else {
        (6, "Application Activity")
    };
    OcsfClass {
        class_uid,
        class_name,
        category_uid,
        category_name,
        activity_id,
        activity_name,
    }
}

/// Maps an audit action to its OCSF class and activity.
pub fn ocsf_class(action: &str) -> OcsfClass {
    const AUTH: (u32, &str) = (3002, "Authentication");
    const ACCT: (u32, &str) = (3001, "Account Change");
    const API: (u32, &str) = (6003, "API Activity");
    let a = |(u, n): (u32, &'static str), id, name| class(u, n, id, name);
    match action {
        "auth.logout" | "auth.session.revoked" => a(AUTH, 2, "Logoff"),
        "auth.step_up.succeeded" | "auth.step_up.failed" => a(AUTH, 99, "Other"),
        s if s.starts_with("auth.login.") || s == "auth.mfa.verified" => a(AUTH, 1, "Logon"),
        // A refresh renews the session's ticket (OCSF 1.1+: 4 is Service Ticket Request).
        s if s.starts_with("auth.token.") => a(AUTH, 5, "Service Ticket Renew"),
        "auth.mfa.failed" | "auth.mfa.replay_rejected" => a(AUTH, 1, "Logon"),
        "auth.user.registered" | "admin.user.created" => a(ACCT, 1, "Create"),
        s if s.starts_with("auth.password.") => a(ACCT, 3, "Password Change"),
        "admin.user.locked" => a(ACCT, 9, "Lock"),
        "admin.user.unlocked" => a(ACCT, 12, "Unlock"),
        "auth.mfa.enabled" | "auth.passkey.registered" => a(ACCT, 10, "MFA Factor Enable"),
        "auth.mfa.disabled" | "auth.passkey.removed" | "admin.user.mfa_reset" => {
            a(ACCT, 11, "MFA Factor Disable")
        }
        s if s.starts_with("auth.mfa.") || s.starts_with("auth.passkey.") => a(ACCT, 99, "Other"),
        s if s.ends_with(".created") || s.ends_with(".registered") => a(API, 1, "Create"),
        s if s.ends_with(".revoked") || s.ends_with(".deleted") || s.ends_with(".removed") => {
            a(API, 4, "Delete")
        }
        s if s.ends_with(".read") || s.ends_with(".viewed") => a(API, 2, "Read"),
        s if s.ends_with(".rotated") || s.ends_with(".updated") => a(API, 3, "Update"),
        _ => a(API, 99, "Other"),
    }
}

/// The original event as JSON (details parsed back from their canonical text).
pub fn event_json(r: &AuditRecord) -> Value {
    json!({
        "seq": r.seq,
        "time": r.time,
        "action": r.action,
        "outcome": r.outcome,
        "actor": r.actor,
        "target": r.target,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "details": serde_json::from_str::<Value>(&r.details).unwrap_or(Value::Null),
        "prev_hash": r.prev_hash,
        "hash": r.hash,
        "version": r.version,
        "redacted_at": r.redacted_at,
    })
}

/// The OCSF record of an audit event; the original event is attached as `unmapped.portcullis`
/// and `raw_data`.
pub fn ocsf(r: &AuditRecord, log_name: &str, product_version: &str) -> Value {
    let c = ocsf_class(&r.action);
    let failed = r.outcome == "failure";
    let original = event_json(r);
    let mut v = json!({
        "class_uid": c.class_uid,
        "class_name": c.class_name,
        "category_uid": c.category_uid,
        "category_name": c.category_name,
        "activity_id": c.activity_id,
        "activity_name": c.activity_name,
        "type_uid": c.class_uid * 100 + c.activity_id,
        "type_name": format!("{}: {}", c.class_name, c.activity_name),
        "time": r.time.saturating_mul(1000),
        "severity_id": if failed { 3 } else { 1 },
        "severity": if failed { "Medium" } else { "Informational" },
        "status_id": if failed { 2 } else { 1 },
        "status": if failed { "Failure" } else { "Success" },
        "message": r.action,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": r.seq.to_string(),
            "log_name": log_name,
            "product": {"name": "Portcullis", "vendor_name": "Portcullis", "version": product_version},
        },
        "raw_data": original.to_string(),
        "unmapped": {"portcullis": original},
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(actor) = &r.actor {
            obj.insert("actor".into(), json!({"user": {"uid": actor}}));
        }
        if let Some(target) = &r.target {
            let key = if c.class_uid == 6003 {
                "resources"
            } else {
                "user"
            };
            let val = if c.class_uid == 6003 {
                json!([{"uid": target}])
            } else {
                json!({"uid": target})
            };
            obj.insert(key.into(), val);
        }
        if let Some(ip) = &r.ip {
            obj.insert("src_endpoint".into(), json!({"ip": ip}));
        }
        if let Some(ua) = &r.user_agent {
            obj.insert("http_request".into(), json!({"user_agent": ua}));
        }
        if c.class_uid == 6003 {
            obj.insert(
                "api".into(),
                json!({"operation": r.action, "service": {"name": "portcullis"}}),
            );
        }
    }
    v
}

/// Escapes an RFC 5424 structured-data parameter value (`"`, `\` and `]`).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A printable-ASCII header field of at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// One RFC 5424 message (facility 13, "log audit"; severity notice, or warning for
/// failures) carrying `msg`, framed by octet counting (RFC 6587 section 3.4.1).
pub fn syslog_frame(r: &AuditRecord, hostname: &str, app_name: &str, msg: &str) -> Vec<u8> {
    const FACILITY_LOG_AUDIT: u32 = 13;
    let severity = if r.outcome == "failure" { 4 } else { 5 };
    syslog_message(
        FACILITY_LOG_AUDIT * 8 + severity,
        r.time,
        hostname,
        app_name,
        &r.action,
        &[
            ("seq", &r.seq.to_string()),
            ("hash", &r.hash),
            ("outcome", &r.outcome),
        ],
        msg,
    )
}

/// One RFC 5424 message with priority `pri`, MSGID `msgid` and one structured-data element
/// `portcullis@32473` of `params`, framed by octet counting (RFC 6587 section 3.4.1).
pub fn syslog_message(
    pri: u32,
    time: crate::clock::UnixTime,
    hostname: &str,
    app_name: &str,
    msgid: &str,
    params: &[(&str, &str)],
    msg: &str,
) -> Vec<u8> {
    let ts = crate::clock::rfc3339(time);
    let sd: String = params
        .iter()
        .map(|(k, v)| format!(" {k}=\"{}\"", sd_escape(v)))
        .collect();
    let line = format!(
        "<{pri}>1 {ts} {host} {app} {pid} {msgid} [portcullis@32473{sd}] {msg}",
        host = header_field(hostname, 255),
        app = header_field(app_name, 48),
        pid = std::process::id(),
        msgid = header_field(msgid, 32),
    );
    let mut out = format!("{} ", line.len()).into_bytes();
    out.extend_from_slice(line.as_bytes());
    out
}

/// Why a webhook secret is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a Standard Webhooks secret is `whsec_` followed by base64 of 24 to 64 bytes")]
pub struct BadWebhookSecret;

/// The key of a Standard Webhooks secret (`whsec_<base64>`).
pub fn webhook_key(secret: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, BadWebhookSecret> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD.decode(b64).map_err(|_| BadWebhookSecret)?;
    if !(24..=64).contains(&key.len()) {
        return Err(BadWebhookSecret);
    }
    Ok(zeroize::Zeroizing::new(key))
}

/// The `webhook-signature` header value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, outcome: &str) -> AuditRecord {
        AuditRecord {
            seq: 7,
            time: 1_700_000_000,
            action: action.into(),
            outcome: outcome.into(),
            actor: Some("u1".into()),
            target: Some("s1".into()),
            ip: Some("192.0.2.1".into()),
            user_agent: Some("curl/8".into()),
            details: r#"{"amr":["pwd"]}"#.into(),
            prev_hash: "00".repeat(32),
            hash: "ab".repeat(32),
            version: 2,
            pii_salt: None,
            pii_commitment: None,
            redacted_at: None,
        }
    }

    #[test]
    fn standard_webhooks_reference_signature() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_default();
        assert_eq!(
            webhook_signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(webhook_key("whsec_c2hvcnQ=").is_err());
        assert!(webhook_key("whsec_!!!").is_err());
    }

    #[test]
    fn actions_map_to_ocsf_classes() {
        assert_eq!(ocsf_class("auth.login.succeeded").class_uid, 3002);
        assert_eq!(ocsf_class("auth.login.failed").activity_id, 1);
        assert_eq!(ocsf_class("auth.logout").activity_id, 2);
        assert_eq!(ocsf_class("auth.mfa.enabled").class_uid, 3001);
        assert_eq!(ocsf_class("auth.mfa.enabled").activity_id, 10);
        assert_eq!(ocsf_class("admin.user.locked").activity_id, 9);
        assert_eq!(ocsf_class("auth.user.registered").activity_id, 1);
        assert_eq!(ocsf_class("access.denied").class_uid, 6003);
        assert_eq!(ocsf_class("keys.signing.rotated").activity_id, 3);
    }

    /// Issue 16 item 6: the numbers of OCSF 1.1+ (Authentication 3002: 1 Logon, 2 Logoff,
    /// 3 Authentication Ticket, 4 Service Ticket Request, 5 Service Ticket Renew, 6 Preauth,
    /// 99 Other; Account Change 3001: 1 Create, 3 Password Change, 9 Lock, 10 MFA Factor
    /// Enable, 11 MFA Factor Disable, 12 Unlock, 99 Other), id and name agreeing.
    #[test]
    fn activity_ids_follow_the_ocsf_schema() {
        const AUTHENTICATION: &[(u32, &str)] = &[
            (1, "Logon"),
            (2, "Logoff"),
            (3, "Authentication Ticket"),
            (4, "Service Ticket Request"),
            (5, "Service Ticket Renew"),
            (6, "Preauth"),
            (99, "Other"),
        ];
        const ACCOUNT_CHANGE: &[(u32, &str)] = &[
            (1, "Create"),
            (2, "Enable"),
            (3, "Password Change"),
            (4, "Password Reset"),
            (5, "Disable"),
            (6, "Delete"),
            (7, "Attach Policy"),
            (8, "Detach Policy"),
            (9, "Lock"),
            (10, "MFA Factor Enable"),
            (11, "MFA Factor Disable"),
            (12, "Unlock"),
            (99, "Other"),
        ];
        for (action, id) in [
            ("auth.token.refreshed", 5),
            ("auth.token.reuse_detected", 5),
            ("auth.login.succeeded", 1),
            ("auth.logout", 2),
            ("auth.session.revoked", 2),
            ("auth.step_up.succeeded", 99),
        ] {
            let c = ocsf_class(action);
            assert_eq!((c.class_uid, c.activity_id), (3002, id), "{action}");
            assert!(
                AUTHENTICATION.contains(&(c.activity_id, c.activity_name)),
                "{action}"
            );
        }
        let r = ocsf(&record("auth.token.refreshed", "success"), "log", "0.1.0");
        assert_eq!(r["type_uid"], 300205);
        assert_eq!(r["activity_name"], "Service Ticket Renew");
        for (action, id) in [
            ("auth.user.registered", 1),
            ("auth.password.changed", 3),
            ("admin.user.locked", 9),
            ("auth.mfa.enabled", 10),
            ("auth.mfa.disabled", 11),
            ("admin.user.unlocked", 12),
        ] {
            let c = ocsf_class(action);
            assert_eq!((c.class_uid, c.activity_id), (3001, id), "{action}");
            assert!(
                ACCOUNT_CHANGE.contains(&(c.activity_id, c.activity_name)),
                "{action}"
            );
        }
    }

    #[test]
    fn ocsf_records_carry_the_original() {
        let v = ocsf(&record("auth.login.failed", "failure"), "log", "0.1.0");
        assert_eq!(v["class_uid"], 3002);
        assert_eq!(v["category_uid"], 3);
        assert_eq!(v["type_uid"], 300201);
        assert_eq!(v["status_id"], 2);
        assert_eq!(v["time"], 1_700_000_000_000i64);
        assert_eq!(v["actor"]["user"]["uid"], "u1");
        assert_eq!(v["src_endpoint"]["ip"], "192.0.2.1");
        assert_eq!(v["metadata"]["version"], OCSF_VERSION);
        assert_eq!(v["unmapped"]["portcullis"]["seq"], 7);
        assert_eq!(v["unmapped"]["portcullis"]["details"]["amr"][0], "pwd");
        let raw: Value =
            serde_json::from_str(v["raw_data"].as_str().unwrap_or("")).unwrap_or_default();
        assert_eq!(raw["hash"], "ab".repeat(32));
    }

    #[test]
    fn syslog_frames_are_octet_counted_rfc_5424() {
        let f = syslog_frame(
            &record("auth.login.failed", "failure"),
            "host one",
            "portcullis",
            "{}",
        );
        let s = String::from_utf8(f).unwrap_or_default();
        let (len, msg) = s.split_once(' ').unwrap_or_default();
        assert_eq!(len.parse::<usize>().ok(), Some(msg.len()));
        // facility 13 (log audit) * 8 + severity 4 (warning)
        assert!(
            msg.starts_with("<108>1 2023-11-14T22:13:20Z hostone portcullis "),
            "{msg}"
        );
        assert!(
            msg.contains(" auth.login.failed [portcullis@32473 seq=\"7\""),
            "{msg}"
        );
        assert!(msg.ends_with("] {}"));
        assert_eq!(sd_escape(r#"a"b\c]"#), r#"a\"b\\c\]"#);
    }
}
