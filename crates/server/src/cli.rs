//! The command line.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use portcullis_core::clock::SystemClock;
use portcullis_core::model::Role;
use portcullis_core::rand::{OsRng, Rng};
use portcullis_core::service::RequestContext;
use toml::{Table, Value};
use zeroize::Zeroizing;

use crate::app::{App, stop_on_signal};
use crate::config::{self, set_path};

/// Portcullis: auth server, identity-aware gateway and security operations in one binary.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Every setting can also come from PORTCULLIS_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded SQLite under ./portcullis-data by default).
    Serve {
        /// Listen address (server.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Database URL (database.url).
        #[arg(long)]
        database_url: Option<String>,
        /// Public base URL (server.public_url).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Manage users.
    Users {
        /// Action.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Inspect the audit log.
    Audit {
        /// Action.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage keys.
    Keys {
        /// Action.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Without --password-stdin a strong password is generated and printed.
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Role: user or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exit 0 when intact, 1 with the first bad sequence number.
    Verify,
}

/// `keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add an access-token signing key; old public keys stay in the JWKS until their tokens expire.
    RotateSigning,
}

fn flags(command: &Command) -> Result<Table, config::LoadError> {
    let mut t = Table::new();
    if let Command::Serve {
        listen,
        database_url,
        public_url,
    } = command
    {
        for (path, v) in [
            (["server", "listen"], listen),
            (["database", "url"], database_url),
            (["server", "public_url"], public_url),
        ] {
            if let Some(v) = v {
                set_path(&mut t, &path.map(str::to_owned), Value::String(v.clone()))?;
            }
        }
    }
    Ok(t)
}

fn generated_password(rng: &dyn Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::new();
    let mut buf = [0u8; 1];
    while out.len() < 24 {
        rng.fill(&mut buf);
        // Rejection sampling keeps the distribution uniform.
        let b = usize::from(buf[0]);
        if b < 256 - 256 % ALPHABET.len()
            && let Some(c) = ALPHABET.get(b % ALPHABET.len())
        {
            out.push(char::from(*c));
        }
    }
    out
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let cfg =
        flags(&cli.command).and_then(|f| config::load(cli.config.as_deref(), std::env::vars(), f));
    let mut cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(cli.command, Command::Serve { .. }) && std::env::var_os("RUST_LOG").is_none() {
        cfg.log.level = "warn".into();
    }
    crate::logging::init(&cfg.log);
    match execute(cli.command, cfg).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "fatal");
            eprintln!("portcullis: {e}");
            ExitCode::from(2)
        }
    }
}

async fn execute(
    command: Command,
    cfg: portcullis_core::config::Config,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let rng: Arc<dyn Rng> = Arc::new(OsRng);
    match command {
        Command::Serve { .. } => {
            let listen = cfg.server.listen;
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            tracing::info!(listen = %listener.local_addr()?, backend = app.services.store().backend(), "portcullis listening");
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(stop_on_signal(tx));
            app.serve(listener, rx).await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Users {
            command:
                UsersCommand::Create {
                    email,
                    role,
                    display_name,
                    password_stdin,
                },
        } => {
            let role: Role = role.parse()?;
            if role == Role::Service {
                return Err("service accounts have no password; use the admin API".into());
            }
            let (password, generated) = if password_stdin {
                let mut line = Zeroizing::new(String::new());
                std::io::stdin().lock().read_line(&mut line)?;
                (
                    Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned()),
                    false,
                )
            } else {
                (Zeroizing::new(generated_password(rng.as_ref())), true)
            };
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let ctx = RequestContext::default();
            let user = app
                .services
                .create_user(
                    &ctx,
                    &email,
                    &password,
                    display_name.as_deref(),
                    role,
                    Some("cli"),
                )
                .await;
            let user = match user {
                Ok(u) => u,
                Err(portcullis_core::Error::WeakPassword(errors)) => {
                    for e in errors {
                        eprintln!("portcullis: weak password: {}", e.message);
                    }
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            };
            println!("created {} user {} ({})", user.role, user.email, user.id);
            if generated {
                println!("password: {}", password.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let r = app.services.verify_audit().await?;
            if r.ok {
                println!("audit chain intact: {} entries, head {}", r.entries, r.head);
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "audit chain BROKEN at seq {}: {} ({} entries verified before it)",
                    r.first_bad_seq.unwrap_or_default(),
                    r.reason.unwrap_or_default(),
                    r.entries
                );
                Ok(ExitCode::from(1))
            }
        }
        Command::Keys {
            command: KeysCommand::RotateSigning,
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let kid = app.services.rotate_signing_key("cli").await?;
            println!(
                "added signing key {kid}; it signs from {} seconds from now, and the previous key stays in the JWKS until its tokens expire",
                portcullis_core::service::SIGNING_KEY_ACTIVATION_DELAY
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
