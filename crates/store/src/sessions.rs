//! SQL of sessions and refresh tokens: their rows, touches and revocations, and the rotation
//! of refresh tokens. Stamped out per backend by [`sessions_backend!`]; the backend's `Store`
//! and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `sessions_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! sessions_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod sessions_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn revoked_sessions_since(store: &$Store, since: UnixTime) -> StoreResult<Vec<(String, UnixTime)>> {
                // Revoked elevations travel with revoked sessions: both are ids whose tokens
                // lose what they carried.
                let rows = sqlx::query(
                    "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1
                     UNION ALL
                     SELECT id, ended_at AS revoked_at FROM approval_requests
                     WHERE kind = 'elevation' AND status = 'revoked' AND ended_at >= $1",
                )
                    .bind(since)
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| Ok((r.try_get("id").map_err(map_err)?, r.try_get("revoked_at").map_err(map_err)?)))
                    .collect()
            }

            pub(super) async fn insert_session(tx: &mut $Tx, s: &Session) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, revoked_at, revoked_reason, ip, user_agent, amr, auth_time, dpop_jkt)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&s.id)
                .bind(&s.user_id)
                .bind(s.created_at)
                .bind(s.last_seen_at)
                .bind(s.expires_at)
                .bind(s.revoked_at)
                .bind(&s.revoked_reason)
                .bind(&s.ip)
                .bind(&s.user_agent)
                .bind(amr_json(&s.amr))
                .bind(s.auth_time)
                .bind(&s.dpop_jkt)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn touch_session(tx: &mut $Tx, id: &str, now: UnixTime, expires_at: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
                    .bind(now)
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn revoke_session(tx: &mut $Tx, id: &str, reason: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(reason)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                let revoked = r.rows_affected() == 1;
                if revoked {
                    hooks::notify_revoked(&mut tx.tx, id).await?;
                }
                Ok(revoked)
            }

            pub(super) async fn insert_refresh_token(tx: &mut $Tx, t: &RefreshToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at, rotated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&t.id)
                .bind(&t.session_id)
                .bind(&t.token_hash)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.rotated_at)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn refresh_token_by_hash(tx: &mut $Tx, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
                let row = sqlx::query(
                    "SELECT id, session_id, token_hash, created_at, expires_at, rotated_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                row.map(|r| {
                    Ok(RefreshToken {
                        id: r.try_get("id").map_err(map_err)?,
                        session_id: r.try_get("session_id").map_err(map_err)?,
                        token_hash: r.try_get("token_hash").map_err(map_err)?,
                        created_at: r.try_get("created_at").map_err(map_err)?,
                        expires_at: r.try_get("expires_at").map_err(map_err)?,
                        rotated_at: r.try_get("rotated_at").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            pub(super) async fn mark_rotated(tx: &mut $Tx, token_id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE refresh_tokens SET rotated_at = $1 WHERE id = $2 AND rotated_at IS NULL")
                    .bind(now)
                    .bind(token_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use sessions_backend;
