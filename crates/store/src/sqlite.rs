//! The embedded SQLite backend: WAL mode, one writer connection (SQLite has one writer
//! anyway; a single connection avoids lock upgrades between our own transactions) and a pool
//! of read-only connections that WAL lets run beside it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

crate::common::sql_backend!(Sqlite, SqliteStore, SqliteTx, "sqlite");
crate::audit_log::audit_log_backend!(Sqlite, SqliteStore, SqliteTx);
crate::alerts::alerts_backend!(Sqlite, SqliteStore, SqliteTx);
crate::factors::factors_backend!(Sqlite, SqliteStore, SqliteTx);
crate::keys::keys_backend!(Sqlite, SqliteStore, SqliteTx);
crate::signals::signals_backend!(Sqlite, SqliteStore, SqliteTx);
crate::api_keys::api_keys_backend!(Sqlite, SqliteStore, SqliteTx);
crate::sessions::sessions_backend!(Sqlite, SqliteStore, SqliteTx);
crate::retention::retention_backend!(Sqlite, SqliteStore, SqliteTx);
crate::approvals::approval_backend!(sqlx::Sqlite, SqliteStore, SqliteTx);
crate::clients::client_backend!(sqlx::Sqlite, SqliteStore, SqliteTx);
crate::accounts::account_backend!(sqlx::Sqlite, SqliteTx);

crate::migrate::migration_runner!(Sqlite, crate::migrate::SQLITE);

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    keys: crate::common::KeySlot,
    queued: std::sync::Arc<tokio::sync::Notify>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies migrations.
    pub async fn open(url: &str, max_readers: u32) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Freed cells are zeroed, so erased personal data does not linger in free
            // pages of the file.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(5));
        // The writer connection is kept for the life of the process (an in-memory database
        // lives and dies with it).
        // No ping before each use: these are local connections that cannot drop the way a
        // network connection does, and the ping was one more round trip to SQLite's thread
        // in every transaction and every read.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        {
            let mut conn = write.acquire().await.map_err(map_err)?;
            run_migrations(&mut conn, 0).await?;
        }
        // An in-memory database exists only inside its one connection: readers share it.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(Self {
                read: write.clone(),
                write,
                keys: crate::common::KeySlot::default(),
                queued: std::sync::Arc::default(),
            });
        }
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max_readers.clamp(1, 8))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.read_only(true))
            .await
            .map_err(map_err)?;
        Ok(Self {
            read,
            write,
            keys: crate::common::KeySlot::default(),
            queued: std::sync::Arc::default(),
        })
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    async fn begin_tx(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        // IMMEDIATE takes the write lock up front: another process (the CLI) waits on the busy
        // timeout instead of failing a read-then-write upgrade.
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    async fn feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
        Ok(None)
    }
}

mod hooks {
    use portcullis_core::store::StoreResult;
    use sqlx::{Sqlite, Transaction};

    /// SQLite has one writer: there is nothing to lock row by row.
    pub const FOR_UPDATE: &str = "";

    /// The `n`th parameter of a generated multi-row statement. Anonymous `?`: SQLite finds
    /// a named parameter (`$n`) by walking all of them, which makes binding thousands of
    /// them quadratic.
    pub fn param(_n: usize) -> String {
        "?".to_owned()
    }

    pub async fn notify_revoked(
        _tx: &mut Transaction<'static, Sqlite>,
        _session_id: &str,
    ) -> StoreResult<()> {
        Ok(())
    }
}
