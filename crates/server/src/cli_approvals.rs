//! `portcullis elevations ...`, `portcullis approvals ...` and `portcullis break-glass ...`.
//!
//! Listing reads the database. Decisions go through the server's API with the operator's
//! own access token (`PORTCULLIS_TOKEN`), so the same rules hold as in the console: no
//! self-approval, one vote each, a recent second factor, the admin IP allowlist.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::approvals::RequestKind;
use portcullis_core::clock::{SystemClock, rfc3339};
use portcullis_core::rand::Rng;

use crate::app::App;

/// `elevations ...` and `approvals ...`
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// List requests, as JSON lines (default: pending, and elevations in force).
    List {
        /// pending, active, denied, revoked, expired, approved, executed, failed or all.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a request (through the API, as the holder of PORTCULLIS_TOKEN).
    Approve(Decision),
    /// Deny a request.
    Deny(Decision),
    /// Revoke an elevation (pending or in force) on every node.
    Revoke(Decision),
}

/// A decision on one request.
#[derive(Debug, clap::Args)]
pub struct Decision {
    /// The request id.
    pub id: String,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// The server's base URL (default: server.public_url).
    #[arg(long)]
    pub url: Option<String>,
    /// A CA certificate (PEM) to trust for the server.
    #[arg(long)]
    pub ca: Option<std::path::PathBuf>,
}

/// `break-glass ...`
#[derive(Debug, Subcommand)]
pub enum BreakGlassCommand {
    /// Make (or replace) the emergency administrator's credential and split it into Shamir
    /// shares, printed one per line: give each to a different person. Older shares stop
    /// working. `threshold` of them sign in once at POST /api/v1/auth/break-glass.
    Create {
        /// The emergency administrator (created when missing).
        #[arg(long, default_value = "break-glass@portcullis.invalid")]
        email: String,
        /// Shares to make (2..=255).
        #[arg(long)]
        shares: u8,
        /// Shares needed (2..=shares).
        #[arg(long)]
        threshold: u8,
    },
}

/// Runs `elevations` (`kind` elevation) or `approvals` (held operations).
pub async fn requests(
    kind: RequestKind,
    command: RequestsCommand,
    cfg: portcullis_core::config::Config,
    rng: Arc<dyn Rng>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (decision, verb) = match command {
        RequestsCommand::List { status } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let now = app.services.now();
            for r in app.services.list_requests(kind, status.as_deref()).await? {
                let line = serde_json::json!({
                    "id": r.id,
                    "status": r.status_at(now),
                    "operation": r.operation,
                    "requester": r.requester,
                    "params": r.params,
                    "reason": r.reason,
                    "approvals": r.approvals(),
                    "required": r.required,
                    "created_at": rfc3339(r.created_at),
                    "expires_at": rfc3339(r.expires_at),
                    "ends_at": r.ends_at.map(rfc3339),
                });
                out!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        RequestsCommand::Approve(d) => (d, "approve"),
        RequestsCommand::Deny(d) => (d, "deny"),
        RequestsCommand::Revoke(d) => {
            if kind != RequestKind::Elevation {
                return Err("only elevations are revoked; deny a pending operation instead".into());
            }
            (d, "revoke")
        }
    };
    let token = std::env::var("PORTCULLIS_TOKEN").map_err(
        |_| "set PORTCULLIS_TOKEN to your own access token (sign in with a second factor first)",
    )?;
    let base = decision
        .url
        .clone()
        .unwrap_or_else(|| cfg.server.public_url.clone());
    let area = match kind {
        RequestKind::Elevation => "elevations",
        RequestKind::Operation => "approvals",
    };
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(ca) = &decision.ca {
        client = client.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca)?)?);
    }
    let res = client
        .build()?
        .post(format!(
            "{}/api/v1/admin/{area}/{}/{verb}",
            base.trim_end_matches('/'),
            decision.id
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "reason": decision.reason }))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if status.is_success() {
        out!("{body}");
        Ok(ExitCode::SUCCESS)
    } else {
        let message = body
            .get("detail")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        eprintln!("refused ({status}): {message}");
        Ok(ExitCode::FAILURE)
    }
}

/// Runs `break-glass create`.
pub async fn break_glass(
    command: BreakGlassCommand,
    cfg: portcullis_core::config::Config,
    rng: Arc<dyn Rng>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let BreakGlassCommand::Create {
        email,
        shares,
        threshold,
    } = command;
    let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
    let issued = app
        .services
        .create_break_glass(&email, shares, threshold)
        .await?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for s in &issued.shares {
        writeln!(out, "{}", s.as_str())?;
    }
    eprintln!(
        "break-glass credential of {} ({}) split into {shares} shares; {} of them sign in once. Give each to a different person: they are not stored anywhere.",
        issued.user.email, issued.user.id, issued.threshold
    );
    Ok(ExitCode::SUCCESS)
}
