//! A small migration runner: numbered SQL files embedded in the binary, applied in order
//! inside one transaction each, recorded with a checksum so an edited migration is caught.

use sha2::{Digest, Sha256};

/// One migration.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "mfa",
        sql: include_str!("../migrations/sqlite/0002_mfa.sql"),
    },
    Migration {
        version: 3,
        name: "passkeys",
        sql: include_str!("../migrations/sqlite/0003_passkeys.sql"),
    },
    Migration {
        version: 4,
        name: "tlog",
        sql: include_str!("../migrations/sqlite/0004_tlog.sql"),
    },
    Migration {
        version: 5,
        name: "audit_sinks",
        sql: include_str!("../migrations/sqlite/0005_audit_sinks.sql"),
    },
    Migration {
        version: 6,
        name: "api_keys",
        sql: include_str!("../migrations/sqlite/0006_api_keys.sql"),
    },
    Migration {
        version: 7,
        name: "mtls",
        sql: include_str!("../migrations/sqlite/0007_mtls.sql"),
    },
    Migration {
        version: 8,
        name: "audit_redaction",
        sql: include_str!("../migrations/sqlite/0008_audit_redaction.sql"),
    },
    Migration {
        version: 9,
        name: "audit_queue",
        sql: include_str!("../migrations/sqlite/0009_audit_queue.sql"),
    },
    Migration {
        version: 10,
        name: "api_key_usage",
        sql: include_str!("../migrations/sqlite/0010_api_key_usage.sql"),
    },
    Migration {
        version: 11,
        name: "key_meta",
        sql: include_str!("../migrations/sqlite/0011_key_meta.sql"),
    },
    Migration {
        version: 12,
        name: "envelope",
        sql: include_str!("../migrations/sqlite/0012_envelope.sql"),
    },
    Migration {
        version: 13,
        name: "passkey_envelope",
        sql: include_str!("../migrations/sqlite/0013_passkey_envelope.sql"),
    },
    Migration {
        version: 14,
        name: "detection",
        sql: include_str!("../migrations/sqlite/0014_detection.sql"),
    },
    Migration {
        version: 15,
        name: "alerts",
        sql: include_str!("../migrations/sqlite/0015_alerts.sql"),
    },
    Migration {
        version: 16,
        name: "approvals",
        sql: include_str!("../migrations/sqlite/0016_approvals.sql"),
    },
    Migration {
        version: 17,
        name: "oauth_clients",
        sql: include_str!("../migrations/sqlite/0017_oauth_clients.sql"),
    },
    Migration {
        version: 18,
        name: "revoked_access_tokens",
        sql: include_str!("../migrations/sqlite/0018_revoked_access_tokens.sql"),
    },
    Migration {
        version: 19,
        name: "oauth_grants",
        sql: include_str!("../migrations/sqlite/0019_oauth_grants.sql"),
    },
    Migration {
        version: 20,
        name: "session_dpop",
        sql: include_str!("../migrations/sqlite/0020_session_dpop.sql"),
    },
    Migration {
        version: 21,
        name: "account_email",
        sql: include_str!("../migrations/sqlite/0021_account_email.sql"),
    },
    Migration {
        version: 22,
        name: "user_identities",
        sql: include_str!("../migrations/sqlite/0022_user_identities.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "mfa",
        sql: include_str!("../migrations/postgres/0002_mfa.sql"),
    },
    Migration {
        version: 3,
        name: "passkeys",
        sql: include_str!("../migrations/postgres/0003_passkeys.sql"),
    },
    Migration {
        version: 4,
        name: "tlog",
        sql: include_str!("../migrations/postgres/0004_tlog.sql"),
    },
    Migration {
        version: 5,
        name: "audit_sinks",
        sql: include_str!("../migrations/postgres/0005_audit_sinks.sql"),
    },
    Migration {
        version: 6,
        name: "api_keys",
        sql: include_str!("../migrations/postgres/0006_api_keys.sql"),
    },
    Migration {
        version: 7,
        name: "mtls",
        sql: include_str!("../migrations/postgres/0007_mtls.sql"),
    },
    Migration {
        version: 8,
        name: "audit_redaction",
        sql: include_str!("../migrations/postgres/0008_audit_redaction.sql"),
    },
    Migration {
        version: 9,
        name: "audit_queue",
        sql: include_str!("../migrations/postgres/0009_audit_queue.sql"),
    },
    Migration {
        version: 10,
        name: "api_key_usage",
        sql: include_str!("../migrations/postgres/0010_api_key_usage.sql"),
    },
    Migration {
        version: 11,
        name: "key_meta",
        sql: include_str!("../migrations/postgres/0011_key_meta.sql"),
    },
    Migration {
        version: 12,
        name: "envelope",
        sql: include_str!("../migrations/postgres/0012_envelope.sql"),
    },
    Migration {
        version: 13,
        name: "passkey_envelope",
        sql: include_str!("../migrations/postgres/0013_passkey_envelope.sql"),
    },
    Migration {
        version: 14,
        name: "detection",
        sql: include_str!("../migrations/postgres/0014_detection.sql"),
    },
    Migration {
        version: 15,
        name: "alerts",
        sql: include_str!("../migrations/postgres/0015_alerts.sql"),
    },
    Migration {
        version: 16,
        name: "approvals",
        sql: include_str!("../migrations/postgres/0016_approvals.sql"),
    },
    Migration {
        version: 17,
        name: "oauth_clients",
        sql: include_str!("../migrations/postgres/0017_oauth_clients.sql"),
    },
    Migration {
        version: 18,
        name: "revoked_access_tokens",
        sql: include_str!("../migrations/postgres/0018_revoked_access_tokens.sql"),
    },
    Migration {
        version: 19,
        name: "oauth_grants",
        sql: include_str!("../migrations/postgres/0019_oauth_grants.sql"),
    },
    Migration {
        version: 20,
        name: "session_dpop",
        sql: include_str!("../migrations/postgres/0020_session_dpop.sql"),
    },
    Migration {
        version: 21,
        name: "account_email",
        sql: include_str!("../migrations/postgres/0021_account_email.sql"),
    },
    Migration {
        version: 22,
        name: "user_identities",
        sql: include_str!("../migrations/postgres/0022_user_identities.sql"),
    },
];

/// Generates `run(conn)` for one backend; the bookkeeping SQL is the same in both dialects.
macro_rules! migration_runner {
    ($Db:ty, $migrations:expr) => {
        pub(crate) async fn run_migrations(
            conn: &mut <$Db as sqlx::Database>::Connection,
            now: i64,
        ) -> Result<(), portcullis_core::store::StoreError> {
            use sqlx::{Connection, Row};
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS portcullis_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await
            .map_err(crate::map_err)?;
            let applied = sqlx::query("SELECT version, checksum FROM portcullis_migrations ORDER BY version")
                .fetch_all(&mut *conn)
                .await
                .map_err(crate::map_err)?;
            for m in $migrations {
                let done = applied.iter().find(|r| r.try_get::<i64, _>("version").ok() == Some(m.version));
                if let Some(row) = done {
                    let stored: String = row.try_get("checksum").map_err(crate::map_err)?;
                    if stored != m.checksum() {
                        return Err(portcullis_core::store::StoreError::Corrupt(format!(
                            "migration {} ({}) was changed after it was applied",
                            m.version, m.name
                        )));
                    }
                    continue;
                }
                let mut tx = conn.begin().await.map_err(crate::map_err)?;
                sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(crate::map_err)?;
                sqlx::query("INSERT INTO portcullis_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(m.checksum())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::map_err)?;
                tx.commit().await.map_err(crate::map_err)?;
                tracing::info!(version = m.version, name = m.name, "applied migration");
            }
            Ok(())
        }
    };
}
pub(crate) use migration_runner;
