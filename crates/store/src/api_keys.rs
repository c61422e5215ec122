//! SQL of aPI keys (their usage counts and request-signature nonces) and service identities. Stamped out per backend by [`api_keys_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `api_keys_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! api_keys_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod api_keys_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn api_key_usage(store: &$Store, key_id: &str, route: &str, period: &str) -> StoreResult<u64> {
                let n: Option<i64> = sqlx::query_scalar(
                    "SELECT count FROM api_key_usage WHERE key_id = $1 AND route = $2 AND period = $3",
                )
                .bind(key_id)
                .bind(route)
                .bind(period)
                .fetch_optional(store.read_pool())
                .await
                .map_err(map_err)?;
                Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
            }

            pub(super) async fn add_api_key_usage(store: &$Store, rows: &[(String, String, String, u64)]) -> StoreResult<Vec<u64>> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for (key_id, route, period, delta) in rows {
                    let total: i64 = sqlx::query_scalar(
                        "INSERT INTO api_key_usage (key_id, route, period, count) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (key_id, route, period) DO UPDATE SET count = api_key_usage.count + excluded.count
                         RETURNING count",
                    )
                    .bind(key_id)
                    .bind(route)
                    .bind(period)
                    .bind(i64::try_from(*delta).unwrap_or(i64::MAX))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    out.push(u64::try_from(total).unwrap_or(0));
                }
                tx.commit().await.map_err(map_err)?;
                Ok(out)
            }

            pub(super) async fn api_key_by_prefix(store: &$Store, prefix: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE prefix = $1"));
                let row = sqlx::query(sql).bind(prefix).fetch_optional(store.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            pub(super) async fn api_key(store: &$Store, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(store.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            pub(super) async fn api_keys_of(store: &$Store, owner_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE owner_id = $1 ORDER BY created_at, id"));
                let rows = sqlx::query(sql).bind(owner_id).fetch_all(store.read_pool()).await.map_err(map_err)?;
                rows.iter().map(api_key_from_row).collect()
            }

            pub(super) async fn list_api_keys(store: &$Store, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2"));
                let rows = sqlx::query(sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(api_key_from_row).collect()
            }

            pub(super) async fn touch_api_key(store: &$Store, id: &str, now: UnixTime, ip: Option<&str>) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE api_keys SET last_used_at = $1, last_used_ip = COALESCE($2, last_used_ip) WHERE id = $3")
                    .bind(now)
                    .bind(ip)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            pub(super) async fn use_nonce(store: &$Store, key_id: &str, nonce: &str, expires_at: UnixTime, now: UnixTime) -> StoreResult<bool> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                // An expired record of the same nonce no longer protects anything: replace it.
                sqlx::query("DELETE FROM signature_nonces WHERE key_id = $1 AND nonce = $2 AND expires_at <= $3")
                    .bind(key_id)
                    .bind(nonce)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let r = sqlx::query(
                    "INSERT INTO signature_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key_id, nonce) DO NOTHING",
                )
                .bind(key_id)
                .bind(nonce)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn service_identity(store: &$Store, spiffe_id: &str) -> StoreResult<Option<(String, Vec<String>)>> {
                let row = sqlx::query("SELECT user_id, scopes FROM service_identities WHERE spiffe_id = $1")
                    .bind(spiffe_id)
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)?;
                row.map(|r| {
                    let scopes: String = r.try_get("scopes").map_err(map_err)?;
                    Ok((
                        r.try_get("user_id").map_err(map_err)?,
                        serde_json::from_str(&scopes).map_err(|_| corrupt("stored scopes are not a JSON array"))?,
                    ))
                })
                .transpose()
            }

            pub(super) async fn insert_api_key(tx: &mut $Tx, k: &ApiKeyRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, owner_id, name, prefix, key_hash, scopes, signing, signing_secret, public_key, created_at, expires_at, revoked_at, last_used_at, last_used_ip, rotated_from)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&k.id)
                .bind(&k.owner_id)
                .bind(&k.name)
                .bind(&k.prefix)
                .bind(&k.key_hash)
                .bind(serde_json::to_string(&k.scopes).unwrap_or_else(|_| "[]".into()))
                .bind(k.signing.as_str())
                .bind(&k.signing_secret)
                .bind(k.public_key.map(|p| p.to_vec()))
                .bind(k.created_at)
                .bind(k.expires_at)
                .bind(k.revoked_at)
                .bind(k.last_used_at)
                .bind(&k.last_used_ip)
                .bind(&k.rotated_from)
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("prefix"),
                    other => other,
                })?;
                Ok(())
            }

            pub(super) async fn lock_api_key(tx: &mut $Tx, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1{}", hooks::FOR_UPDATE));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *tx.tx).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            pub(super) async fn revoke_api_key(tx: &mut $Tx, id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn limit_api_key(tx: &mut $Tx, id: &str, expires_at: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2 AND (expires_at IS NULL OR expires_at > $1)")
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn insert_service_identity(tx: &mut $Tx, spiffe_id: &str, user_id: &str, scopes: &[String], now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO service_identities (spiffe_id, user_id, scopes, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(spiffe_id)
                    .bind(user_id)
                    .bind(serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into()))
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("spiffe_id"),
                        other => other,
                    })?;
                Ok(())
            }
        }
    };
}
pub(crate) use api_keys_backend;
