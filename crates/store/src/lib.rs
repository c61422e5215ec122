//! Storage backends for Portcullis: SQLite (embedded default, WAL) and PostgreSQL (several
//! nodes). Both implement [`portcullis_core::store::Store`] with the same SQL where the
//! dialects agree (`$n` parameters work in both) and small backend hooks where they do not:
//! how a write transaction begins, how the audit head is locked, how revocations are pushed.
//! sqlx errors stop here.

mod accounts;
mod alerts;
mod api_keys;
mod approvals;
mod audit_log;
mod clients;
mod common;
mod factors;
mod keys;
mod migrate;
mod postgres;
mod retention;
mod rows;
mod sealing;
mod sessions;
mod signals;
mod sqlite;

use std::sync::Arc;

use portcullis_core::store::{Store, StoreError};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens the database named by `url`, applies pending migrations, and returns the store.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, max_connections).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, max_connections).await?))
    } else {
        Err(StoreError::Unavailable(
            "unsupported database URL scheme".into(),
        ))
    }
}

/// Maps a sqlx error to the domain's storage error, without leaking SQL to clients.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("unique"),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}
