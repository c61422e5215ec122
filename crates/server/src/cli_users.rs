//! `portcullis users list|set-role|reset-password|delete`: the operator's account
//! management from the command line, for when no administrator can sign in (or there is
//! none yet). Every change is audited with the actor `cli`, as the API's are with the
//! administrator's id.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::clock::SystemClock;
use portcullis_core::model::{Role, User};
use portcullis_core::rand::Rng;
use portcullis_core::service::{RequestContext, Services, UserPatch};
use zeroize::Zeroizing;

use crate::app::App;

/// The `users` actions beyond `create`.
#[derive(Debug, Subcommand)]
pub enum MoreUsers {
    /// List accounts (id, email, role, second factor, locked), or those whose email or
    /// display name contains --query.
    List {
        /// Only accounts whose email or display name contains this.
        #[arg(long)]
        query: Option<String>,
        /// At most this many (1..500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Change an account's role (user or admin); its sessions end.
    SetRole {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// user or admin.
        #[arg(long)]
        role: String,
    },
    /// Give an account a new password (generated and printed, or read from standard input)
    /// that must be changed at the next sign-in; its sessions end. With --mail, send a
    /// reset code to the account's address instead (needs [email]).
    ResetPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// Mail a reset code instead of setting a password.
        #[arg(long, conflicts_with = "password_stdin")]
        mail: bool,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Erase an account: sessions and keys revoked, personal data replaced by a pseudonym,
    /// its audit events redacted (GDPR art. 17), as the admin API's erasure does.
    Delete {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

async fn find(svc: &Services, email: &str) -> Result<User, Box<dyn std::error::Error>> {
    let found = svc.search_users(email, 2).await?;
    found
        .into_iter()
        .find(|u| u.email.as_str().eq_ignore_ascii_case(email.trim()))
        .ok_or_else(|| format!("no account has the address {email}").into())
}

/// Runs one of the actions.
pub async fn run(
    command: MoreUsers,
    cfg: portcullis_core::config::Config,
    rng: Arc<dyn Rng>,
    generate: fn(&dyn Rng) -> String,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let MoreUsers::Delete { yes: false, .. } = &command {
        eprintln!("portcullis: erasure cannot be undone; add --yes");
        return Ok(ExitCode::from(2));
    }
    let app = App::build(cfg, Arc::new(SystemClock), rng.clone()).await?;
    let svc = app.services.clone();
    let ctx = RequestContext::default();
    match command {
        MoreUsers::List { query, limit } => {
            let users = match query.as_deref() {
                Some(q) => svc.search_users(q, limit).await?,
                None => svc.list_users(None, limit).await?.users,
            };
            for u in users {
                out!(
                    "{}\t{}\t{}\tmfa={}\tlocked={}",
                    u.id,
                    u.email,
                    u.role,
                    u.mfa_enabled,
                    u.locked
                );
            }
        }
        MoreUsers::SetRole { email, role } => {
            let role: Role = role.parse()?;
            if role == Role::Service {
                return Err("service accounts are created as such; use the admin API".into());
            }
            let user = find(&svc, &email).await?;
            let patch = UserPatch {
                role: Some(role),
                ..UserPatch::default()
            };
            let u = svc.update_user_as("cli", &ctx, &user.id, patch).await?;
            out!("{} is now {} (sessions ended)", u.email, u.role);
        }
        MoreUsers::ResetPassword {
            email,
            mail,
            password_stdin,
        } => {
            let user = find(&svc, &email).await?;
            if mail {
                svc.operator_password_reset(&ctx, &user.id).await?;
                out!("a reset code is on its way to {}", user.email);
                return Ok(ExitCode::SUCCESS);
            }
            let (password, generated) = if password_stdin {
                let mut line = Zeroizing::new(String::new());
                std::io::stdin().lock().read_line(&mut line)?;
                (
                    Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned()),
                    false,
                )
            } else {
                (Zeroizing::new(generate(rng.as_ref())), true)
            };
            match svc.operator_set_password(&ctx, &user.id, &password).await {
                Ok(()) => {}
                Err(portcullis_core::Error::WeakPassword(errors)) => {
                    for e in errors {
                        eprintln!("portcullis: weak password: {}", e.message);
                    }
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
            out!(
                "{}: password set; it must be changed at the next sign-in (sessions ended)",
                user.email
            );
            if generated {
                out!("password: {}", password.as_str());
            }
        }
        MoreUsers::Delete { email, .. } => {
            let user = find(&svc, &email).await?;
            svc.operator_erase(&ctx, &user.id).await?;
            out!("erased {} ({})", email, user.id);
        }
    }
    // Queued audit events reach the log before the process ends.
    svc.store().audit_head().await?;
    Ok(ExitCode::SUCCESS)
}
