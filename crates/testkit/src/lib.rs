//! Test support: a whole Portcullis (the same wiring as the binary) on 127.0.0.1:0, against
//! a fresh SQLite file or a fresh PostgreSQL database, with a fake clock.
//!
//! PostgreSQL tests need `PORTCULLIS_TEST_DATABASE_URL` (an admin URL of a throwaway
//! cluster; `scripts/test.sh` starts one). Each server gets its own database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod nginx;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::config::Config;
use portcullis_core::model::Role;
use portcullis_core::rand::{OsRng, bytes};
use portcullis_core::service::{RequestContext, Services};
use portcullis_server::app::App;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::watch;

/// The environment variable naming the PostgreSQL admin URL for tests.
pub const PG_URL_ENV: &str = "PORTCULLIS_TEST_DATABASE_URL";

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A clock the test moves by hand. Starts at the real time, so that tokens are also valid
/// for independent verifiers (PyJWT) that read the real clock.
#[derive(Debug)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// A clock at the current real time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(SystemClock.now())))
    }

    /// A clock at `unix_time`.
    pub fn at(unix_time: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(unix_time)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A database prepared for one test (shared by the nodes of a multi-node test).
#[derive(Debug, Clone)]
pub struct TestDb {
    /// The backend.
    pub backend: Backend,
    /// URL the server connects to.
    pub url: String,
    /// PostgreSQL: the database name; SQLite: the file path.
    pub name: String,
    /// Scratch directory (master key, config files).
    pub dir: PathBuf,
}

fn random_suffix() -> String {
    let b: [u8; 8] = bytes(&OsRng);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The admin URL of the test cluster; panics with instructions when unset.
pub fn pg_admin_url() -> String {
    std::env::var(PG_URL_ENV).unwrap_or_else(|_| {
        panic!("{PG_URL_ENV} is not set: run ./scripts/test.sh, which starts a throwaway PostgreSQL cluster")
    })
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn new(backend: Backend) -> Self {
        let suffix = random_suffix();
        let dir = std::env::temp_dir().join(format!("portcullis-test-{suffix}"));
        std::fs::create_dir_all(&dir).unwrap();
        match backend {
            Backend::Sqlite => {
                let file = dir.join("portcullis.db");
                Self {
                    backend,
                    url: format!("sqlite://{}", file.display()),
                    name: file.display().to_string(),
                    dir,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("pcl_{suffix}");
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to the test cluster");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(b, _)| b)
                    .to_owned();
                Self {
                    backend,
                    url: format!("{base}/{name}"),
                    name,
                    dir,
                }
            }
        }
    }

    /// A logical dump of every live row, as a backup would hold it: `pg_dump` for
    /// PostgreSQL, Python's `sqlite3` `iterdump` for SQLite (the file itself may still hold
    /// freed pages until SQLite reuses them).
    pub fn dump(&self) -> String {
        let out = match self.backend {
            Backend::Sqlite => std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print('\\n'.join(c.iterdump()))",
                    &self.name,
                ])
                .output()
                .expect("python3 runs"),
            Backend::Postgres => {
                let bin = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()
                    .and_then(|d| d.flatten().map(|e| e.path()).max())
                    .map(|p| p.join("bin/pg_dump"))
                    .unwrap_or_else(|| "pg_dump".into());
                std::process::Command::new(bin)
                    .args(["--data-only", "--dbname", &self.url])
                    .output()
                    .expect("pg_dump runs")
            }
        };
        assert!(
            out.status.success(),
            "dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs raw SQL as the database owner (for tampering and fault injection).
    pub async fn exec(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
    }

    /// Runs raw SQL and returns the error text, if any.
    pub async fn try_exec(&self, sql: &str) -> Result<(), String> {
        let r = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
            }
        };
        r.map_err(|e| e.to_string())
    }

    /// PostgreSQL: refuses new connections and kills open ones (the database "goes down").
    pub async fn pg_take_down(&self) {
        let mut c = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {n} ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{n}'",
            n = self.name
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }

    /// PostgreSQL: lets connections in again.
    pub async fn pg_bring_up(&self) {
        let mut c = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }

    /// A configuration for this database with cheap (but real) Argon2id parameters.
    pub fn config(&self) -> Config {
        let mut c = Config::default();
        c.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        c.database.url = SecretString::from(self.url.clone());
        c.database.max_connections = 8;
        c.keys.master_key_file = self.dir.join("master.key");
        c.auth.password.argon2_memory_kib = 256;
        c.auth.password.argon2_iterations = 1;
        c.auth.password.argon2_parallelism = 1;
        c
    }

    /// Writes `toml` as a config file in the scratch directory and returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let p = self.dir.join(format!("config-{}.toml", random_suffix()));
        std::fs::write(&p, toml).unwrap();
        p
    }

    /// The TOML of this database's connection settings (for the binary).
    pub fn config_toml(&self) -> String {
        format!(
            "[database]\nurl = \"{}\"\n[keys]\nmaster_key_file = \"{}\"\n[auth.password]\nargon2_memory_kib = 256\nargon2_iterations = 1\n",
            self.url,
            self.dir.join("master.key").display()
        )
    }
}

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Its clock.
    pub clock: Arc<FakeClock>,
    /// Its services (to create fixtures without HTTP).
    pub services: Arc<Services>,
    /// Its database.
    pub db: TestDb,
    /// Its configuration.
    pub config: Config,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// A server on a fresh database with the test defaults.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// A server on a fresh database, with `tweak` applied to the configuration.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        Self::start_on(db, FakeClock::new(), tweak).await
    }

    /// A server on an existing database (another node of the same deployment).
    pub async fn start_on(
        db: TestDb,
        clock: Arc<FakeClock>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = db.config();
        tweak(&mut config);
        config.validate().expect("test configuration is valid");
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::build(config.clone(), clock.clone(), Arc::new(OsRng))
            .await
            .expect("server builds");
        let services = app.services.clone();
        let (stop, rx) = watch::channel(false);
        let handle = tokio::spawn(app.serve(listener, rx));
        Self {
            base: format!("http://{addr}"),
            clock,
            services,
            db,
            config,
            stop,
            handle,
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user directly (no HTTP); returns its id.
    pub async fn user(&self, email: &str, password: &str, role: Role) -> String {
        self.services
            .create_user(
                &RequestContext::default(),
                email,
                password,
                None,
                role,
                Some("test"),
            )
            .await
            .expect("fixture user")
            .id
    }

    /// Logs in over HTTP and returns the token response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = client()
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {email} failed");
        r.json().await.unwrap()
    }

    /// Stops the server (graceful shutdown) and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// An HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// A client whose connections come from `ip` (another loopback address, `127.0.0.2`: a
/// second client as the server sees it).
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap()
}

/// The access token of a token response.
pub fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// The refresh token of a token response.
pub fn refresh(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

/// Decodes a JWT's payload without verifying it (to inspect claims in tests).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The `portcullis` binary built alongside the tests (`cargo build --bin portcullis`).
pub fn binary() -> PathBuf {
    // A binary named explicitly wins (a copy, when several worktrees share a target dir).
    if let Some(p) = std::env::var_os("PORTCULLIS_TEST_BINARY") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let p = target.join(profile).join("portcullis");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --bin portcullis` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A password that passes the default policy.
pub const STRONG: &str = "correct horse battery staple 42";
/// Another one.
pub const STRONG2: &str = "plinth marmalade kayak 9 zephyr";
