//! Wiring: configuration in, a running HTTP service and its background tasks out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::clock::Clock;
use portcullis_core::config::Config;
use portcullis_core::crypto::passwords::{Argon2Params, PasswordHasher};
use portcullis_core::password::PasswordPolicy;
use portcullis_core::rand::Rng;
use portcullis_core::service::{AuditSettings, AuthSettings, Keyring, Services};
use portcullis_gateway::GatewayState;
use portcullis_http::metrics::ConnectionGauges;
use portcullis_http::{Edge, WebSettings};
use portcullis_web::AppState;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connections::{ConnLimits, serve_connections};
use crate::keyfile::KeyFileError;
use portcullis_core::crypto::shamir::SplitRecord;

mod background;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The master key file.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] portcullis_core::store::StoreError),
    /// Domain set-up (keys, hashing parameters).
    #[error("{0}")]
    Core(#[from] portcullis_core::Error),
    /// Directories, sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The master key source.
    #[error("{0}")]
    MasterKey(#[from] crate::masterkey::MasterKeyError),
}

/// Opens the configured database (creating the SQLite directory), migrated.
pub async fn open_store(
    config: &Config,
) -> Result<Arc<dyn portcullis_core::store::Store>, StartError> {
    open_store_as(config, Create::IfNew).await
}

/// Whether opening may create a database and a master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// A missing SQLite file and (on an empty database) a missing master key are made.
    IfNew,
    /// Nothing is created: a missing database or key file is an error naming its path.
    Never,
}

/// Opens the configured database, migrated; with [`Create::Never`] a SQLite file that does
/// not exist is refused before anything is created.
pub async fn open_store_as(
    config: &Config,
    create: Create,
) -> Result<Arc<dyn portcullis_core::store::Store>, StartError> {
    if create == Create::Never {
        crate::datadir::require_existing(config, false).map_err(std::io::Error::other)?;
    }
    let url = config.database.url.expose_secret().to_owned();
    ensure_sqlite_dir(&url)?;
    let store = portcullis_store::connect(&url, config.database.max_connections).await?;
    restrict_sqlite_files(&url)?;
    Ok(store)
}

/// What `serve` starts with: a built application, or a sealed key to wait for.
pub enum Prepared {
    /// Ready to serve.
    Ready(Box<App>),
    /// The master key is split into shares; serve [`serve_sealed`] first, then
    /// [`App::build_with`] on the same store.
    Sealed(
        Box<Config>,
        SplitRecord,
        Arc<dyn portcullis_core::store::Store>,
    ),
}

/// How often the revocation view and health are refreshed.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);

/// A wired Portcullis, ready to serve.
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The domain services.
    pub services: Arc<Services>,
    /// The HTTP application.
    pub(crate) router: crate::dispatch::Dispatch,
    /// The gateway in force (its health checks run in the background; SIGHUP swaps it).
    pub gateway: portcullis_gateway::LiveGateway,
    /// What `/metrics` counts (a reloaded gateway counts on in the same series).
    pub metrics: Arc<portcullis_http::metrics::Metrics>,
    /// The access log, written out when serving stops.
    pub access: Arc<portcullis_http::access_log::AccessLog>,
    /// Where the configuration comes from, to reload the routes on SIGHUP (`serve` sets it).
    pub reload: Option<crate::reload::ConfigSource>,
}

/// Compiles the routes of `config` into a gateway: upstreams, Cedar policies and the TLS
/// client of each `https://` route. Everything a route needs is checked here, so that a
/// configuration that builds also serves (`portcullis routes check` runs this).
pub fn build_gateway(
    config: &Config,
    metrics: &portcullis_http::metrics::Metrics,
) -> Result<portcullis_gateway::Gateway, String> {
    let mut gateway =
        portcullis_gateway::Gateway::new(&config.routes, config.server.max_body_bytes, metrics)?;
    for route in &config.routes {
        if let Some(tls) = crate::tls::upstream_client_config(route)
            .map_err(|e| format!("routes `{}`: {e}", route.name))?
        {
            gateway = gateway.with_upstream_tls(&route.name, tls);
        }
    }
    Ok(gateway)
}

/// Request inspection and DLP, compiled on a thread of their own that ends with the
/// compilation: building the rules' automata allocates some 44 MiB and frees most of it at
/// once. The allocator gives part of a finished thread's free memory back (3 MiB less
/// resident at idle, measured), where a runtime thread's stays resident until that thread
/// allocates again; `PasswordHasher::new` hashes its decoy password the same way.
pub(crate) fn inspection(
    config: &Config,
) -> std::io::Result<(portcullis_http::waf::Waf, portcullis_http::dlp::DlpRuntime)> {
    let build = || -> std::io::Result<_> {
        let waf = portcullis_http::waf::Waf::new(&config.waf)
            .and_then(|waf| {
                waf.prepare(config.routes.iter().map(|r| r.waf.as_ref()))?;
                Ok(waf)
            })
            .map_err(|e| std::io::Error::other(format!("waf: {e}")))?;
        let dlp =
            portcullis_http::dlp::DlpRuntime::new(&config.dlp).map_err(std::io::Error::other)?;
        dlp.check_allow(
            config
                .routes
                .iter()
                .filter_map(|r| Some((r.name.as_str(), r.dlp.as_ref()?))),
        )
        .map_err(std::io::Error::other)?;
        Ok((waf, dlp))
    };
    std::thread::scope(|s| s.spawn(build).join())
        .map_err(|_| std::io::Error::other("compiling request inspection panicked"))?
}

/// Creates the directory of a SQLite database file (mode 0700) when missing.
fn ensure_sqlite_dir(url: &str) -> std::io::Result<()> {
    let Some(path) = crate::datadir::sqlite_path(url) else {
        return Ok(());
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::create_dir_all(dir)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The SQLite file holds password hashes: readable by the owner only, wherever it lives.
fn restrict_sqlite_files(url: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = crate::datadir::sqlite_path(url) else {
        return Ok(());
    };
    let path = path.display().to_string();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{path}{suffix}");
        if Path::new(&p).exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

impl App {
    /// Opens the key and database, loads signing keys and the revocation view, builds the
    /// router. Nothing is served yet.
    pub async fn build(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Result<Self, StartError> {
        Self::build_as(config, clock, rng, Create::IfNew).await
    }

    /// [`App::build`] for commands that only read: with [`Create::Never`] the database and
    /// the master key must exist, nothing is created.
    pub async fn build_as(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        create: Create,
    ) -> Result<Self, StartError> {
        match Self::prepare_as(config, clock, rng, create).await? {
            Prepared::Ready(app) => Ok(*app),
            Prepared::Sealed(..) => Err(crate::masterkey::MasterKeyError::Config(format!(
                "the master key is split into Shamir shares: give this command the shares in {} (one per line), or run `portcullis serve` and unseal it",
                crate::masterkey::SHARES_ENV
            ))
            .into()),
        }
    }

    /// Opens the database and resolves the master key: built when the key is available,
    /// `Sealed` when it has to be reconstructed from shares first.
    pub async fn prepare(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Result<Prepared, StartError> {
        Self::prepare_as(config, clock, rng, Create::IfNew).await
    }

    /// [`App::prepare`], creating only what `create` allows.
    pub async fn prepare_as(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        create: Create,
    ) -> Result<Prepared, StartError> {
        if create == Create::Never {
            crate::datadir::require_existing(&config, true).map_err(std::io::Error::other)?;
        }
        let store = open_store_as(&config, create).await?;
        match crate::masterkey::resolve(&config, store.as_ref(), rng.as_ref(), create).await? {
            crate::masterkey::Master::Ready(master) => {
                crate::masterkey::verify_key_check(&config, store.as_ref(), &master).await?;
                let check = (create != Create::Never).then(|| master.clone());
                let app = Self::build_with(config, clock, rng, store.clone(), master).await?;
                // The key opened what the database holds: remember which key that was.
                if let Some(key) = check {
                    crate::masterkey::record_key_check(store.as_ref(), &key).await?;
                }
                Ok(Prepared::Ready(Box::new(app)))
            }
            crate::masterkey::Master::Sealed(record) => {
                Ok(Prepared::Sealed(Box::new(config), record, store))
            }
        }
    }

    /// Builds with a master key already in hand (after unsealing).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        store: Arc<dyn portcullis_core::store::Store>,
        master: portcullis_core::crypto::secretbox::SecretKey,
    ) -> Result<Self, StartError> {
        let p = &config.auth.password;
        let workers = match p.max_concurrent_hashes {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let hasher = PasswordHasher::new(
            Argon2Params {
                memory_kib: p.argon2_memory_kib,
                iterations: p.argon2_iterations,
                parallelism: p.argon2_parallelism,
            },
            workers,
            p.max_queued_hashes,
            rng.as_ref(),
        )?;
        let policy = PasswordPolicy {
            min_length: p.min_length,
            max_length: p.max_length,
            min_strength: p.min_strength,
        };
        let access_ttl = i64::try_from(config.auth.access_token_ttl_seconds).unwrap_or(900);
        let settings = AuthSettings {
            issuer: config.server.public_url.clone(),
            access_ttl,
            refresh_ttl: i64::try_from(config.auth.refresh_token_ttl_seconds).unwrap_or(604_800),
            max_sessions: usize::try_from(config.auth.max_sessions_per_user).unwrap_or(10),
            self_registration: config.auth.self_registration,
            block_disposable_emails: config.auth.disposable_emails
                == portcullis_core::config::DisposableEmails::Block,
            step_up_max_age: i64::try_from(config.auth.step_up_max_age_seconds).unwrap_or(600),
            signature_window: i64::try_from(config.auth.signature_window_seconds).unwrap_or(300),
            verify_on_register: config.email.verify_on_register,
            audit: AuditSettings {
                origin: config.audit.origin(&config.server.public_url),
                checkpoint_every_entries: config.audit.checkpoint_every_entries,
                checkpoint_every_seconds: i64::try_from(config.audit.checkpoint_every_seconds)
                    .unwrap_or(60),
                witness_dir: config.audit.witness_dir.clone(),
            },
        };
        // Personal fields: sealed under per-subject data keys, wrapped by KEKs under the
        // master key. Rows from before envelope encryption are encrypted now.
        let keyring = Arc::new(Keyring::new(master.clone(), access_ttl));
        let field_keys = Arc::new(portcullis_core::crypto::envelope::FieldKeys::new(
            master,
            keyring.derive("portcullis:blind-index:v1"),
        ));
        store.install_field_keys(field_keys);
        {
            let mut tx = store.begin().await?;
            tx.ensure_kek(clock.now()).await?;
            tx.commit().await?;
            let mut encrypted = 0;
            loop {
                let n = store.encrypt_legacy_users(500).await?;
                if n == 0 {
                    break;
                }
                encrypted += n;
            }
            if encrypted > 0 {
                tracing::info!(
                    users = encrypted,
                    "encrypted the personal data of users stored before envelope encryption"
                );
            }
        }
        keyring
            .load(store.as_ref(), clock.now(), rng.as_ref())
            .await?;
        let geo = crate::detection::locator(&config.detection).map_err(std::io::Error::other)?;
        let deny = crate::detection::load_deny_lists(&config.detection.deny_lists)
            .map_err(std::io::Error::other)?;
        let services = Arc::new(
            Services::new(store, clock, rng, hasher, policy, settings, keyring)
                .with_detection(config.detection.clone(), geo)
                .with_approvals(config.elevation.clone(), config.approvals.clone()),
        );
        services.set_deny_list(deny);
        crate::backchannel::Notifier::install(&services);
        crate::mail::SmtpMailer::install(&config.email, &services)
            .map_err(std::io::Error::other)?;
        crate::upstream::Upstream::install(&config.identity_providers, &services)
            .map_err(std::io::Error::other)?;
        if let Some(var) = &config.oauth.registration_token_env {
            // Fail closed: a configured but missing or short token does not start the server.
            let token = std::env::var(var).unwrap_or_default();
            if token.len() < 32 {
                return Err(std::io::Error::other(format!(
                    "oauth.registration_token_env: the environment variable {var} must hold the initial access token (at least 32 characters)"
                ))
                .into());
            }
            services.set_registration_token(&token);
        }
        if let Some(why) = services.passkeys_unavailable() {
            tracing::warn!("{why}");
        }
        services
            .sync_revocations(services.now() - access_ttl - 120)
            .await?;

        let metrics = Arc::new(portcullis_http::metrics::Metrics::new());
        let mut gateway = build_gateway(&config, &metrics).map_err(std::io::Error::other)?;
        if let Some(url) = &config.cluster.redis_url {
            use secrecy::ExposeSecret;
            let ca = match &config.cluster.redis_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    std::io::Error::other(format!("cluster.redis_ca_file {}: {e}", path.display()))
                })?),
                None => None,
            };
            gateway = gateway
                .with_redis(url.expose_secret(), ca)
                .map_err(|e| std::io::Error::other(format!("cluster.redis_url: {e}")))?;
            gateway.warm_redis().await;
        }
        let gateway = gateway.live();
        let mut web = WebSettings::from_config(&config);
        if config.keys.source == portcullis_core::config::KeySource::Shamir {
            web.shamir_threshold = crate::masterkey::split_record(services.store().as_ref())
                .await?
                .map(|r| r.threshold);
        }
        let (waf, dlp) = inspection(&config)?;
        let edge = Edge::new(
            services.clone(),
            Arc::new(web),
            metrics.clone(),
            Arc::new(waf),
            Arc::new(dlp),
        );
        let access = edge.access.clone();
        let shown = gateway.clone();
        let api = portcullis_web::api(AppState::new(
            edge.clone(),
            Arc::new(move || shown.load().upstream_states()),
        ));
        let router =
            crate::dispatch::router(edge.clone(), api, GatewayState::new(edge, gateway.clone()));
        Ok(Self {
            config,
            services,
            router,
            gateway,
            metrics,
            access,
            reload: None,
        })
    }

    /// Serves on `listener` until `stop` turns true, then drains in-flight requests for at
    /// most `server.shutdown_grace_seconds`.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let (tasks, sinks) = self.spawn_background(stop.clone());
        let limits = ConnLimits::of(&self.config);
        let tls = tls_of(&self.config);
        let result = match tls {
            Ok(tls) => {
                serve_connections(
                    listener,
                    self.router.clone(),
                    tls,
                    stop,
                    limits,
                    self.metrics.connections(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        // Every request has ended (or the grace period has): its access line goes out now.
        self.access.finish();
        for t in tasks {
            t.abort();
        }
        // Sinks store their cursor after the delivery in flight, so a restart does not
        // deliver it again; they stop at the next pause.
        let wait = async {
            for t in sinks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!(
                "audit sinks did not stop in time; undelivered entries resume on the next start"
            );
        }
        result
    }
}

/// The TLS acceptor of `[server.tls]`, if configured.
fn tls_of(config: &Config) -> std::io::Result<Option<crate::tls::Tls>> {
    match &config.server.tls {
        None => Ok(None),
        Some(tls_cfg) => crate::tls::setup(tls_cfg, config.server.http2)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("[server.tls]: {e}"))),
    }
}

/// Serves the sealed API on `listener` (over TLS when configured) until key holders have
/// posted enough shares to reconstruct the master key, which is returned with the
/// addresses that gave them; `None` when `stop` turns true first.
pub async fn serve_sealed(
    listener: &TcpListener,
    config: &Config,
    record: SplitRecord,
    stop: watch::Receiver<bool>,
) -> std::io::Result<
    Option<(
        portcullis_core::crypto::secretbox::SecretKey,
        portcullis_web::sealed::UnsealedBy,
    )>,
> {
    tracing::warn!(
        threshold = record.threshold,
        shares = record.shares,
        "sealed: the master key is split into shares; post {} of them to /api/v1/sys/unseal (portcullis unseal --url ...)",
        record.threshold
    );
    let (key_tx, mut key_rx) = tokio::sync::oneshot::channel();
    let router = portcullis_web::sealed::router(portcullis_web::sealed::Unsealer::new(
        record, key_tx, config,
    ));
    let (phase_tx, phase_rx) = watch::channel(false);
    let mut outer = stop.clone();
    let watcher = tokio::spawn(async move {
        let result = tokio::select! {
            k = &mut key_rx => k.ok(),
            _ = async { let _ = outer.wait_for(|s| *s).await; } => None,
        };
        let _ = phase_tx.send(true);
        result
    });
    let mut limits = ConnLimits::of(config);
    // Switch over quickly: the unseal answer is out before the sealed listener stops.
    limits.grace = Duration::from_secs(2);
    serve_connections(
        listener,
        router,
        tls_of(config)?,
        phase_rx,
        limits,
        ConnectionGauges::default(),
    )
    .await?;
    Ok(watcher.await.ok().flatten())
}

/// Resolves when SIGTERM or SIGINT arrives, then flips `stop`.
pub async fn stop_on_signal(stop: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received; shutting down gracefully"),
                _ = int.recv() => tracing::info!("SIGINT received; shutting down gracefully"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    let _ = stop.send(true);
}
