//! The compliance report: controls of SOC 2 (CC6, CC7), ISO/IEC 27001:2022 Annex A and
//! PCI DSS 4.0 (requirements 3, 7, 8, 10), each mapped to evidence measured from the live
//! system now. A control whose evidence Portcullis cannot measure says so ("no evidence")
//! instead of passing.

use serde::Serialize;

use super::Services;
use crate::clock::rfc3339;
use crate::error::Result;

/// What a control's evidence shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The evidence meets the control.
    Pass,
    /// The evidence falls short.
    Fail,
    /// Portcullis cannot measure it.
    NoEvidence,
}

impl Status {
    /// As shown.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NoEvidence => "no evidence",
        }
    }
}

/// One control and its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// What it is about.
    pub title: String,
    /// The framework references it maps to.
    pub refs: Vec<&'static str>,
    /// The verdict.
    pub status: Status,
    /// What was measured.
    pub evidence: Vec<String>,
}

/// A bar of a chart: label, value, maximum.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// What it counts.
    pub label: String,
    /// The value.
    pub value: u64,
    /// Out of.
    pub of: u64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When it was measured (RFC 3339).
    pub generated_at: String,
    /// The issuer it was measured on.
    pub issuer: String,
    /// The controls.
    pub controls: Vec<Control>,
    /// Second-factor coverage by role.
    pub mfa_chart: Vec<Bar>,
    /// Open alerts by severity.
    pub alerts_chart: Vec<Bar>,
    /// The signed checkpoint the audit evidence refers to.
    pub checkpoint: Option<String>,
}

/// Configuration the report reads (what the service alone does not hold).
#[derive(Debug, Clone, Default)]
pub struct ReportConfig {
    /// `admin.allowed_ips`, as written.
    pub admin_allowed_ips: Vec<String>,
    /// Roles that must sign in with a second factor.
    pub mfa_required_roles: Vec<String>,
    /// A file holding the last dependency scan's result (`cargo audit --json`), if any.
    pub dependency_scan: Option<std::path::PathBuf>,
}

const DAY: i64 = 86_400;

impl Services {
    /// Measures the report now.
    pub async fn compliance_report(&self, cfg: &ReportConfig) -> Result<Report> {
        let now = self.now();
        let d = self.dashboard().await?;
        let mut controls = Vec::new();

        // Identification and authentication: second factors.
        let mut ev = Vec::new();
        let mut mfa_ok = true;
        let mut mfa_chart = Vec::new();
        for (role, c) in &d.mfa_coverage {
            ev.push(format!(
                "{role}: {} of {} active accounts have a second factor",
                c.with_second_factor, c.users
            ));
            mfa_chart.push(Bar {
                label: format!("{role}s with a second factor"),
                value: c.with_second_factor,
                of: c.users,
            });
            if role == "admin" && c.with_second_factor < c.users {
                mfa_ok = false;
            }
        }
        let admin_required = cfg.mfa_required_roles.iter().any(|r| r == "admin");
        ev.push(format!(
            "auth.mfa_required_for_roles = [{}]",
            cfg.mfa_required_roles.join(", ")
        ));
        controls.push(Control {
            title: "Multi-factor authentication for administrative access".into(),
            refs: vec!["SOC 2 CC6.1", "ISO 27001 A.8.5", "PCI DSS 8.4.1"],
            status: if mfa_ok && admin_required {
                Status::Pass
            } else {
                Status::Fail
            },
            evidence: ev,
        });

        // Passwords.
        let p = &self.policy;
        controls.push(Control {
            title: "Password policy".into(),
            refs: vec!["ISO 27001 A.5.17", "PCI DSS 8.3.6"],
            status: if p.min_length >= 12 {
                Status::Pass
            } else {
                Status::Fail
            },
            evidence: vec![
                format!("minimum length {} (PCI DSS 8.3.6 asks 12)", p.min_length),
                format!("minimum zxcvbn strength {} of 4", p.min_strength),
                "stored as Argon2id hashes; compared in constant time".into(),
            ],
        });

        // Sessions and tokens.
        let s = &self.settings;
        controls.push(Control {
            title: "Session and token lifetimes".into(),
            refs: vec!["SOC 2 CC6.1", "PCI DSS 8.2.8"],
            status: if s.access_ttl <= 900 {
                Status::Pass
            } else {
                Status::Fail
            },
            evidence: vec![
                format!(
                    "access tokens live {} s (PCI DSS 8.2.8: re-authenticate after 15 min idle)",
                    s.access_ttl
                ),
                format!(
                    "refresh tokens live {} s and rotate on use; reuse revokes the family",
                    s.refresh_ttl
                ),
                format!("at most {} sessions per user", s.max_sessions),
                format!(
                    "sensitive actions need a factor at most {} s old",
                    s.step_up_max_age
                ),
            ],
        });

        // Keys.
        let k = self.kek_status().await?;
        let current = k.versions.iter().find(|v| v.0 == k.current);
        let age = current.map(|v| (now - v.1) / DAY);
        let mut ev = vec![format!("key-encryption key version {}", k.current)];
        if let Some(v) = current {
            ev.push(format!(
                "created {} ({} days ago)",
                rfc3339(v.1),
                age.unwrap_or(0)
            ));
        }
        ev.push(format!(
            "{} earlier versions retired",
            k.versions.len().saturating_sub(1)
        ));
        controls.push(Control {
            title: "Cryptographic key rotation".into(),
            refs: vec!["ISO 27001 A.8.24", "PCI DSS 3.6.1", "PCI DSS 3.7.4"],
            status: match age {
                Some(a) if a <= 365 && !k.rotation_pending() => Status::Pass,
                Some(_) => Status::Fail,
                None => Status::NoEvidence,
            },
            evidence: ev,
        });
        controls.push(Control {
            title: "Encryption of personal data at rest".into(),
            refs: vec!["ISO 27001 A.8.24", "PCI DSS 3.5.1"],
            status: if k.deks == k.deks_current + k.deks_destroyed {
                Status::Pass
            } else {
                Status::Fail
            },
            evidence: vec![
                format!(
                    "{} data keys, {} wrapped by the current key-encryption key, {} destroyed (erased users)",
                    k.deks, k.deks_current, k.deks_destroyed
                ),
                "personal fields (email, display name, TOTP secrets, audit personal fields) are sealed with per-user data keys (AES-256-GCM)".into(),
            ],
        });

        // The audit log.
        let v = self.verify_audit().await?;
        let cp = self.latest_checkpoint().await.ok();
        let mut ev = vec![format!(
            "hash chain of {} entries verified: {}",
            v.entries,
            if v.ok { "intact" } else { "BROKEN" }
        )];
        if let Some(bad) = v.first_bad_seq {
            ev.push(format!("first bad entry: {bad}"));
        }
        ev.push(format!(
            "Merkle tree of {} entries, root {}",
            v.tree_size, v.root
        ));
        if let Some(c) = &cp {
            ev.push(format!(
                "latest signed checkpoint: {} entries, {} (verifier key {})",
                c.record.tree_size,
                rfc3339(c.record.created_at),
                c.verifier_key
            ));
        }
        controls.push(Control {
            title: "Tamper-evident audit log".into(),
            refs: vec![
                "SOC 2 CC7.2",
                "ISO 27001 A.8.15",
                "PCI DSS 10.2.1",
                "PCI DSS 10.3.4",
            ],
            status: if v.ok { Status::Pass } else { Status::Fail },
            evidence: ev,
        });

        // Administrative access.
        let open = cfg
            .admin_allowed_ips
            .iter()
            .any(|n| n.ends_with("/0") || n == "0.0.0.0" || n == "::");
        controls.push(Control {
            title: "Restriction of administrative access".into(),
            refs: vec!["SOC 2 CC6.3", "ISO 27001 A.8.2", "PCI DSS 7.2.1"],
            status: if open || cfg.admin_allowed_ips.is_empty() {
                Status::Fail
            } else {
                Status::Pass
            },
            evidence: vec![
                format!(
                    "admin API and console only from: {}",
                    cfg.admin_allowed_ips.join(", ")
                ),
                "administrators need the admin role and a second factor; held operations need other administrators' approval where configured".into(),
            ],
        });

        // Monitoring.
        let high: u64 = ["high", "critical"]
            .iter()
            .filter_map(|s| d.open_alerts.get(*s))
            .sum();
        let total: u64 = d.open_alerts.values().sum();
        let alerts_chart = d
            .open_alerts
            .iter()
            .map(|(k, v)| Bar {
                label: k.clone(),
                value: *v,
                of: total,
            })
            .collect();
        controls.push(Control {
            title: "Security events detected and responded to".into(),
            refs: vec!["SOC 2 CC7.3", "SOC 2 CC7.4", "PCI DSS 10.7.2"],
            status: if high == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            evidence: vec![
                format!("{total} open alerts, {high} of them high or critical"),
                format!("attack level {}", d.attack_level),
            ],
        });

        // Dependencies.
        controls.push(dependency_control(cfg.dependency_scan.as_deref(), now));

        Ok(Report {
            generated_at: rfc3339(now),
            issuer: self.settings.issuer.clone(),
            controls,
            mfa_chart,
            alerts_chart,
            checkpoint: cp.map(|c| c.record.note),
        })
    }
}

/// The last dependency scan, from `cargo audit --json` output when one is configured.
fn dependency_control(path: Option<&std::path::Path>, now: i64) -> Control {
    let refs = vec!["SOC 2 CC7.1", "PCI DSS 6.3.3"];
    let title = "Known vulnerabilities in dependencies".to_owned();
    let Some(path) = path else {
        return Control {
            title,
            refs,
            status: Status::NoEvidence,
            evidence: vec!["no dependency scan result is configured (`report.dependency_scan`, or `portcullis report --dependency-scan FILE`: the JSON of `cargo audit --json`)".into()],
        };
    };
    let read = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0));
    match (read, modified) {
        (Some(v), Some(at)) => {
            let found = v
                .pointer("/vulnerabilities/count")
                .and_then(serde_json::Value::as_u64);
            let days = (now - at) / DAY;
            Control {
                title,
                refs,
                status: match found {
                    Some(0) if days <= 31 => Status::Pass,
                    Some(_) => Status::Fail,
                    None => Status::NoEvidence,
                },
                evidence: vec![
                    format!("scanned {} ({days} days ago)", rfc3339(at)),
                    match found {
                        Some(n) => format!("{n} known vulnerabilities"),
                        None => "the file is not `cargo audit --json` output".into(),
                    },
                ],
            }
        }
        _ => Control {
            title,
            refs,
            status: Status::NoEvidence,
            evidence: vec![format!("{} cannot be read as JSON", path.display())],
        },
    }
}
