//! The command line.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use portcullis_core::clock::SystemClock;
use portcullis_core::model::Role;
use portcullis_core::rand::{OsRng, Rng};
use portcullis_core::service::RequestContext;
use toml::{Table, Value};
use zeroize::Zeroizing;

use crate::app::{App, Create, stop_on_signal};
pub use crate::cli_args::{
    AuditCommand, CaCommand, Cli, Command, KeysCommand, RoutesCommand, UsersCommand,
};
use crate::config::{self, set_path};

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

/// Whether the command opens the database (and says which one it uses).
fn uses_data(command: &Command) -> bool {
    !matches!(
        command,
        Command::Unseal { .. }
            | Command::Routes { .. }
            | Command::Audit {
                command: AuditCommand::Verify {
                    export: Some(_),
                    ..
                }
            }
    )
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let flags = flags(&cli.command);
    // SIGHUP reads the configuration again the same way: file, environment, flags.
    let source: crate::reload::ConfigSource = {
        let (file, flags) = (
            cli.config.clone(),
            flags.as_ref().ok().cloned().unwrap_or_default(),
        );
        Arc::new(move || {
            config::load(file.as_deref(), std::env::vars(), flags.clone())
                .map_err(|e| e.to_string())
        })
    };
    let cfg = flags.and_then(|f| config::load(cli.config.as_deref(), std::env::vars(), f));
    let mut cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portcullis: {e}");
            // `routes check` is asked exactly this: its answer is 1 (as its help says), not
            // the 2 of a command that could not start.
            let checking = matches!(
                cli.command,
                Command::Routes {
                    command: RoutesCommand::Check
                }
            );
            return ExitCode::from(if checking { 1 } else { 2 });
        }
    };
    if !matches!(cli.command, Command::Serve { .. }) && std::env::var_os("RUST_LOG").is_none() {
        cfg.log.level = "warn".into();
    }
    crate::logging::init(&cfg.log);
    if uses_data(&cli.command) {
        if matches!(cli.command, Command::Serve { .. }) {
            tracing::info!(
                database = %crate::datadir::database(&cfg),
                master_key = %crate::datadir::master_key(&cfg),
                "{}",
                crate::datadir::describe(&cfg)
            );
        } else {
            eprintln!("portcullis: {}", crate::datadir::describe(&cfg));
        }
    }
    match execute(cli.command, cfg, source).await {
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
    source: crate::reload::ConfigSource,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let rng: Arc<dyn Rng> = Arc::new(OsRng);
    match command {
        Command::Serve { .. } => {
            let listen = cfg.server.listen;
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(stop_on_signal(tx));
            let (mut app, listener) = match App::prepare(cfg, Arc::new(SystemClock), rng.clone())
                .await?
            {
                crate::app::Prepared::Ready(app) => {
                    let listener = tokio::net::TcpListener::bind(listen).await?;
                    (*app, listener)
                }
                crate::app::Prepared::Sealed(cfg, record, store) => {
                    let listener = tokio::net::TcpListener::bind(listen).await?;
                    tracing::info!(listen = %listener.local_addr()?, sealed = true, "portcullis listening");
                    let threshold = record.threshold;
                    let Some((key, by)) =
                        crate::app::serve_sealed(&listener, &cfg, record, rx.clone()).await?
                    else {
                        tracing::info!("stopped while sealed");
                        return Ok(ExitCode::SUCCESS);
                    };
                    let app = App::build_with(*cfg, Arc::new(SystemClock), rng, store, key).await?;
                    app.services
                        .audit_system_event(
                            "system",
                            "keys.unsealed",
                            serde_json::json!({"threshold": threshold, "share_ips": by.ips}),
                        )
                        .await?;
                    (app, listener)
                }
            };
            app.reload = Some(source);
            tracing::info!(listen = %listener.local_addr()?, backend = app.services.store().backend(), "portcullis listening");
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
            out!("created {} user {} ({})", user.role, user.email, user.id);
            if generated {
                out!("password: {}", password.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    export: Some(export),
                    public_key,
                    checkpoint,
                },
        } => {
            let key = public_key.unwrap_or_default();
            let key = match std::fs::read_to_string(&key) {
                Ok(k) => k.trim().to_owned(),
                Err(_) => key,
            };
            let (_, note) = portcullis_core::service::parse_checkpoint_file(
                &std::fs::read_to_string(checkpoint.unwrap_or_default())?,
            );
            let file = std::io::BufReader::new(std::fs::File::open(&export)?);
            let started = std::time::Instant::now();
            match portcullis_core::service::verify_export(file.lines(), &key, &note) {
                Ok((entries, size, head)) => {
                    out!(
                        "exported log intact: {entries} entries, head {head}; the checkpoint of {size} entries is signed by the key and its root matches ({:.0} entries/s)",
                        entries as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    out!("exported log does NOT verify: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoint,
                    public_key,
                    ..
                },
        } => {
            // Read the checkpoint before opening anything: a wrong path fails early.
            let note = match &checkpoint {
                Some(p) => Some(portcullis_core::service::parse_checkpoint_file(
                    &std::fs::read_to_string(p)
                        .map_err(|e| format!("checkpoint {}: {e}", p.display()))?,
                )),
                None => None,
            };
            let key = public_key.map(|k| match std::fs::read_to_string(&k) {
                Ok(text) => text.trim().to_owned(),
                Err(_) => k,
            });
            let app = App::build_as(cfg, Arc::new(SystemClock), rng, Create::Never).await?;
            app.services.tlog_catch_up().await?;
            let started = std::time::Instant::now();
            let r = app.services.verify_audit().await?;
            let rate = r.entries as f64 / started.elapsed().as_secs_f64().max(1e-9);
            if r.ok {
                out!(
                    "audit log intact: {} entries, head {}, tree of {} leaves with root {}, {} signed checkpoints verified ({rate:.0} entries/s)",
                    r.entries,
                    r.head,
                    r.tree_size,
                    r.root,
                    r.checkpoints_verified
                );
                let Some((_, note)) = note else {
                    return Ok(ExitCode::SUCCESS);
                };
                match app.services.check_checkpoint(&note, key.as_deref()).await? {
                    Ok(size) => {
                        out!(
                            "the checkpoint of {size} entries is signed by the log's key and the log still holds what it signed"
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(why) => {
                        out!("the checkpoint does NOT verify against this log: {why}");
                        Ok(ExitCode::from(1))
                    }
                }
            } else {
                out!(
                    "audit log BROKEN at seq {}: {} ({} entries verified before it)",
                    r.first_bad_seq.unwrap_or_default(),
                    r.reason.unwrap_or_default(),
                    r.entries
                );
                Ok(ExitCode::from(1))
            }
        }
        Command::Audit {
            command: AuditCommand::Export { output },
        } => {
            let app = App::build_as(cfg, Arc::new(SystemClock), rng, Create::Never).await?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut after = 0;
            let mut n = 0u64;
            loop {
                let page = app.services.store().audit_page(after, 5000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for r in &page {
                    let line =
                        serde_json::to_string(&portcullis_core::service::ExportedEntry::from(r))?;
                    writeln!(out, "{line}")?;
                    n += 1;
                }
            }
            out.flush()?;
            if output.is_some() {
                eprintln!("exported {n} audit entries");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Redact { subject },
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let n = app
                .services
                .redact_audit_subject("cli", &RequestContext::default(), &subject)
                .await?;
            out!("redacted the personal fields of {n} audit entries");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            format,
            out,
            dependency_scan,
        } => {
            let report_cfg = portcullis_core::service::report::ReportConfig {
                admin_allowed_ips: cfg
                    .admin
                    .allowed_ips
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                mfa_required_roles: cfg
                    .auth
                    .mfa_required_for_roles
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect(),
                dependency_scan: dependency_scan.or_else(|| cfg.report.dependency_scan.clone()),
            };
            let app = App::build_as(cfg, Arc::new(SystemClock), rng, Create::Never).await?;
            let r = app.services.compliance_report(&report_cfg).await?;
            let bytes = if format == "pdf" {
                portcullis_core::report_render::pdf(&r)
            } else {
                portcullis_core::report_render::html(&r).into_bytes()
            };
            std::fs::write(&out, bytes)?;
            let failing = r
                .controls
                .iter()
                .filter(|c| c.status != portcullis_core::service::report::Status::Pass)
                .count();
            out!(
                "{}: {} controls, {failing} not passing",
                out.display(),
                r.controls.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Checkpoint,
        } => {
            let app = App::build_as(cfg, Arc::new(SystemClock), rng, Create::Never).await?;
            app.services.tlog_tick().await?;
            let cp = app.services.latest_checkpoint().await?;
            out!("verifier key: {}", cp.verifier_key);
            print!("{}", cp.record.note);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ca {
            command: CaCommand::Init { out, trust_domain },
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            crate::ca::init(&app.services, &trust_domain, &out).await?;
            out!(
                "internal CA created; its certificate is in {} (set server.tls.client_ca_file to it)",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ca {
            command: CaCommand::Cert { out },
        } => {
            let store = crate::app::open_store_as(&cfg, Create::Never).await?;
            let (pem, _) = store
                .internal_ca()
                .await?
                .ok_or("no internal CA yet: run `portcullis ca init` first")?;
            std::fs::write(&out, pem)?;
            out!("wrote the internal CA certificate to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Ca {
            command:
                CaCommand::Issue {
                    spiffe_id,
                    dns,
                    ip,
                    ttl,
                    out,
                    cert_out,
                    key_out,
                },
        } => {
            let ttl = crate::ca::parse_ttl(&ttl)?;
            let with = |ext: &str| {
                out.as_ref().map(|p| {
                    let mut s = p.clone().into_os_string();
                    s.push(ext);
                    PathBuf::from(s)
                })
            };
            let (Some(cert_out), Some(key_out)) = (
                cert_out.or_else(|| with(".crt")),
                key_out.or_else(|| with(".key")),
            ) else {
                return Err("give --out PREFIX (or --cert-out and --key-out)".into());
            };
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            crate::ca::issue(
                &app.services,
                &crate::ca::Names {
                    spiffe_id: spiffe_id.as_deref(),
                    dns: &dns,
                    ip: &ip,
                },
                ttl,
                &cert_out,
                &key_out,
            )
            .await?;
            out!(
                "issued a certificate valid for {ttl} s: {} (key in {})",
                cert_out.display(),
                key_out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Split { shares, threshold },
        } => {
            crate::cli_shamir::keys_split(&cfg, shares, threshold, rng.as_ref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let svc = &app.services;
            let status = svc.kek_status().await?;
            if status.rotation_pending() {
                eprintln!("resuming the rotation to KEK version {}", status.current);
            } else {
                let v = svc.rotate_kek("cli").await?;
                eprintln!("added KEK version {v}; re-wrapping data keys");
            }
            let total = svc.kek_status().await?.deks;
            let started = std::time::Instant::now();
            loop {
                let n = svc.rewrap_step(1000).await?;
                let st = svc.kek_status().await?;
                let width = 40usize;
                let done = usize::try_from(st.deks_current).unwrap_or(0);
                let all = usize::try_from(st.deks.max(1)).unwrap_or(1);
                let filled = (done * width / all).min(width);
                eprint!(
                    "\r[{}{}] {}/{} data keys",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    st.deks_current,
                    st.deks
                );
                if n == 0 {
                    break;
                }
            }
            let st = svc.kek_status().await?;
            eprintln!();
            out!(
                "{}",
                serde_json::json!({
                    "kek_version": st.current,
                    "rewrapped": total,
                    "seconds": started.elapsed().as_secs_f64(),
                    "retired": st.versions.iter().filter(|v| v.2.is_some()).map(|v| v.0).collect::<Vec<_>>(),
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Status,
        } => {
            let store = crate::app::open_store_as(&cfg, Create::Never).await?;
            let split = crate::masterkey::split_record(store.as_ref()).await?;
            let signing = store.signing_keys().await?;
            let keks = store.kek_status().await?;
            let source = format!("{:?}", cfg.keys.source).to_lowercase();
            let status = serde_json::json!({
                "source": source,
                "shamir": split.map(|r| serde_json::json!({"threshold": r.threshold, "shares": r.shares, "set": r.set})),
                "signing_keys": signing.iter().map(|k| serde_json::json!({"kid": k.kid, "created_at": k.created_at, "activates_at": k.activates_at})).collect::<Vec<_>>(),
                "rotate_every_days": cfg.keys.rotate_every_days,
                "kek": keks,
            });
            out!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Unseal { url, ca } => crate::cli_shamir::unseal(&url, ca.as_deref()).await,
        Command::Routes {
            command: RoutesCommand::Check,
        } => match crate::reload::check(&cfg) {
            Ok(lines) => {
                out!("configuration OK: {} routes", lines.len());
                for line in lines {
                    out!("  {line}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("portcullis: routes: {e}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Elevations { command } => {
            crate::cli_approvals::requests(
                portcullis_core::approvals::RequestKind::Elevation,
                command,
                cfg,
                rng,
            )
            .await
        }
        Command::Approvals { command } => {
            crate::cli_approvals::requests(
                portcullis_core::approvals::RequestKind::Operation,
                command,
                cfg,
                rng,
            )
            .await
        }
        Command::BreakGlass { command } => {
            crate::cli_approvals::break_glass(command, cfg, rng).await
        }
        Command::Clients { command } => crate::cli_clients::run(command, cfg, rng).await,
        Command::Users {
            command: UsersCommand::More(command),
        } => crate::cli_users::run(command, cfg, rng, generated_password).await,
        Command::Keys {
            command: KeysCommand::RotateSigning,
        } => {
            let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
            let kid = app.services.rotate_signing_key("cli").await?;
            out!(
                "added signing key {kid}; it signs from {} seconds from now, and the previous key stays in the JWKS until its tokens expire",
                portcullis_core::service::SIGNING_KEY_ACTIVATION_DELAY
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
