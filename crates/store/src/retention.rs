//! SQL of what retention and erasure remove: expired rows, and an erased user's personal
//! data. Stamped out per backend by [`retention_backend!`]; the backend's `Store` and `Tx`
//! implementations (in [`crate::common`]) call these functions.

/// Defines the `retention_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! retention_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod retention_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn purge_expired(store: &$Store, before: UnixTime, now: UnixTime) -> StoreResult<u64> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE session_id IN
                       (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let r = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM oauth_grants WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM login_events WHERE time < $1")
                    .bind(now - portcullis_core::detect::risk::LOGIN_HISTORY_RETENTION)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM bans WHERE expires_at < $1 OR lifted_at < $1")
                    .bind(now - portcullis_core::detect::risk::LOGIN_HISTORY_RETENTION)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM signature_nonces WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM login_throttle WHERE blocked_until < $1 AND last_failure_at < $2")
                    .bind(now)
                    .bind(now - portcullis_core::throttle::ACCOUNT.window.max(portcullis_core::throttle::CLIENT_IP.window))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(r.rows_affected())
            }

            pub(super) async fn erase_user(tx: &mut $Tx, user_id: &str, pseudonym: &str, now: UnixTime) -> StoreResult<bool> {
                for sql in [
                    "DELETE FROM recovery_codes WHERE user_id = $1",
                    "DELETE FROM mfa_challenges WHERE user_id = $1",
                    "DELETE FROM passkeys WHERE user_id = $1",
                    "DELETE FROM webauthn_ceremonies WHERE user_id = $1",
                    "DELETE FROM service_identities WHERE user_id = $1",
                    "UPDATE sessions SET ip = NULL, user_agent = NULL WHERE user_id = $1",
                    "DELETE FROM login_events WHERE user_id = $1",
                    "DELETE FROM known_devices WHERE user_id = $1",
                    "DELETE FROM risk_flags WHERE user_id = $1",
                ] {
                    sqlx::query(sql).bind(user_id).execute(&mut *tx.tx).await.map_err(map_err)?;
                }
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2), name = 'erased', last_used_ip = NULL,
                            signing_secret = NULL, public_key = NULL
                     WHERE owner_id = $1",
                )
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                // Crypto-shredding: without its DEK, no copy of the sealed fields opens again.
                sqlx::query("UPDATE deks SET wrapped = NULL, destroyed_at = $2 WHERE subject = $1")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                if let Some(k) = tx.keys() {
                    k.forget(user_id);
                }
                let done = sqlx::query(
                    "UPDATE users SET email = $2, display_name = NULL, email_enc = NULL, display_name_enc = NULL,
                            email_bidx = NULL, password_hash = NULL, totp_secret = NULL,
                            totp_pending = NULL, totp_last_step = NULL, mfa_enabled = $3, locked = $4, updated_at = $5
                     WHERE id = $1",
                )
                .bind(user_id)
                .bind(pseudonym)
                .bind(false)
                .bind(true)
                .bind(now)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use retention_backend;
