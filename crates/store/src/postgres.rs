//! The PostgreSQL backend, for several nodes behind a load balancer: revocations are pushed
//! with LISTEN/NOTIFY (sent on commit), the audit chain head is a row locked by appenders, and
//! migrations run under an advisory lock so nodes starting together do not race.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

crate::common::sql_backend!(Postgres, PgStore, PgTx, "postgres");
crate::audit_log::audit_log_backend!(Postgres, PgStore, PgTx);
crate::alerts::alerts_backend!(Postgres, PgStore, PgTx);
crate::factors::factors_backend!(Postgres, PgStore, PgTx);
crate::keys::keys_backend!(Postgres, PgStore, PgTx);
crate::signals::signals_backend!(Postgres, PgStore, PgTx);
crate::api_keys::api_keys_backend!(Postgres, PgStore, PgTx);
crate::sessions::sessions_backend!(Postgres, PgStore, PgTx);
crate::retention::retention_backend!(Postgres, PgStore, PgTx);
crate::approvals::approval_backend!(sqlx::Postgres, PgStore, PgTx);
crate::clients::client_backend!(sqlx::Postgres, PgStore, PgTx);
crate::accounts::account_backend!(sqlx::Postgres, PgTx);

crate::migrate::migration_runner!(Postgres, crate::migrate::POSTGRES);

/// The channel revoked session ids are announced on.
pub const REVOCATION_CHANNEL: &str = "portcullis_revocations";
const MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    keys: crate::common::KeySlot,
    queued: std::sync::Arc<tokio::sync::Notify>,
}

impl PgStore {
    /// Connects and applies migrations.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            // Fail fast (and closed) when the database is gone, rather than queueing requests.
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(map_err)?;
        let mut conn = pool.acquire().await.map_err(map_err)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let result = run_migrations(&mut conn, 0).await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        result?;
        drop(conn);
        Ok(Self {
            pool,
            keys: crate::common::KeySlot::default(),
            queued: std::sync::Arc::default(),
        })
    }

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_tx(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    async fn feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(map_err)?;
        listener.listen(REVOCATION_CHANNEL).await.map_err(map_err)?;
        Ok(Some(Box::new(PgFeed { listener })))
    }
}

struct PgFeed {
    listener: PgListener,
}

#[async_trait]
impl RevocationFeed for PgFeed {
    async fn next(&mut self) -> StoreResult<String> {
        match self.listener.try_recv().await {
            Ok(Some(n)) => Ok(n.payload().to_owned()),
            // The connection dropped; notifications may have been lost. The next call
            // reconnects; the caller resynchronises by polling meanwhile.
            Ok(None) => Err(StoreError::Unavailable(
                "revocation listener reconnecting".into(),
            )),
            Err(e) => Err(map_err(e)),
        }
    }
}

mod hooks {
    use portcullis_core::store::StoreResult;
    use sqlx::{Postgres, Transaction};

    use crate::map_err;

    /// The `n`th parameter of a generated multi-row statement.
    pub fn param(n: usize) -> String {
        format!("${n}")
    }

    /// Row locks keep concurrent writers of one user or session in order.
    pub const FOR_UPDATE: &str = " FOR UPDATE";

    /// Delivered to listeners when the transaction commits, never if it rolls back.
    pub async fn notify_revoked(
        tx: &mut Transaction<'static, Postgres>,
        session_id: &str,
    ) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::REVOCATION_CHANNEL)
            .bind(session_id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
