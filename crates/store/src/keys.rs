//! SQL of keys: token signing keys, key-encryption keys and the data keys they wrap, key metadata and the internal CA. Stamped out per backend by [`keys_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `keys_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! keys_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod keys_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn signing_keys(store: &$Store) -> StoreResult<Vec<SigningKeyRecord>> {
                let rows = sqlx::query(
                    "SELECT kid, public_key, sealed_private_key, created_at, activates_at FROM signing_keys ORDER BY activates_at, kid",
                )
                .fetch_all(store.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(signing_key_from_row).collect()
            }

            pub(super) async fn internal_ca(store: &$Store) -> StoreResult<Option<(String, Vec<u8>)>> {
                let row = sqlx::query("SELECT cert_pem, sealed_key FROM internal_ca WHERE id = 1")
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)?;
                row.map(|r| Ok((r.try_get("cert_pem").map_err(map_err)?, r.try_get("sealed_key").map_err(map_err)?)))
                    .transpose()
            }

            pub(super) async fn kek_status(store: &$Store) -> StoreResult<portcullis_core::store::KekStatus> {
                let rows = sqlx::query("SELECT version, created_at, retired_at FROM keks ORDER BY version")
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                let mut versions = Vec::with_capacity(rows.len());
                for r in &rows {
                    versions.push((
                        version_of(r.try_get("version").map_err(map_err)?)?,
                        r.try_get("created_at").map_err(map_err)?,
                        r.try_get("retired_at").map_err(map_err)?,
                    ));
                }
                let current = versions.iter().map(|v| v.0).max().unwrap_or(0);
                let count = |sql: &'static str, version: Option<u32>| async move {
                    let mut q = sqlx::query_scalar::<_, i64>(sql);
                    if let Some(v) = version {
                        q = q.bind(i64::from(v));
                    }
                    let n = q.fetch_one(store.read_pool()).await.map_err(map_err)?;
                    StoreResult::Ok(u64::try_from(n).unwrap_or(0))
                };
                Ok(portcullis_core::store::KekStatus {
                    current,
                    versions,
                    deks: count("SELECT COUNT(*) FROM deks WHERE wrapped IS NOT NULL", None).await?,
                    deks_current: count("SELECT COUNT(*) FROM deks WHERE wrapped IS NOT NULL AND kek_version = $1", Some(current)).await?,
                    deks_destroyed: count("SELECT COUNT(*) FROM deks WHERE wrapped IS NULL", None).await?,
                })
            }

            pub(super) async fn rewrap_deks(store: &$Store, batch: u32) -> StoreResult<u64> {
                let keys = store.keys().ok_or_else(no_keys)?;
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                // A KEK exists by now (made at start); the time is only used if it did not.
                let (v, kek) = current_kek(&mut tx, &keys, 0).await?;
                let rows = sqlx::query(
                    "SELECT d.subject, d.kek_version, d.wrapped, k.sealed FROM deks d LEFT JOIN keks k ON k.version = d.kek_version
                     WHERE d.wrapped IS NOT NULL AND d.kek_version <> $1 ORDER BY d.subject LIMIT $2",
                )
                .bind(i64::from(v))
                .bind(i64::from(batch))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
                let mut done = 0u64;
                for r in &rows {
                    let subject: String = r.try_get("subject").map_err(map_err)?;
                    let old = version_of(r.try_get("kek_version").map_err(map_err)?)?;
                    let wrapped: Option<Vec<u8>> = r.try_get("wrapped").map_err(map_err)?;
                    let sealed: Option<Vec<u8>> = r.try_get("sealed").map_err(map_err)?;
                    let dek = open_dek(&keys, &subject, old, wrapped.as_deref(), sealed.as_deref())?;
                    let rewrapped = keys.wrap_dek(&subject, &dek, &kek, v, &portcullis_core::rand::OsRng);
                    // Only if nobody changed it meanwhile (another node re-wrapping, an erasure).
                    let n = sqlx::query("UPDATE deks SET wrapped = $1, kek_version = $2 WHERE subject = $3 AND kek_version = $4 AND wrapped IS NOT NULL")
                        .bind(rewrapped)
                        .bind(i64::from(v))
                        .bind(&subject)
                        .bind(i64::from(old))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    done += n.rows_affected();
                }
                tx.commit().await.map_err(map_err)?;
                Ok(done)
            }

            pub(super) async fn encrypt_legacy_users(store: &$Store, batch: u32) -> StoreResult<u64> {
                let keys = store.keys().ok_or_else(no_keys)?;
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                let rows = sqlx::query(
                    "SELECT id, email, display_name, created_at FROM users
                     WHERE email_enc IS NULL AND email NOT LIKE '%@erased.invalid' ORDER BY id LIMIT $1",
                )
                .bind(i64::from(batch))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
                let mut done = 0u64;
                for r in &rows {
                    let id: String = r.try_get("id").map_err(map_err)?;
                    let email: String = r.try_get("email").map_err(map_err)?;
                    let name: Option<String> = r.try_get("display_name").map_err(map_err)?;
                    let created: UnixTime = r.try_get("created_at").map_err(map_err)?;
                    let (email_enc, name_enc, bidx) =
                        seal_user_fields(&mut tx, &keys, &id, &email, name.as_deref(), created).await?;
                    sqlx::query(
                        "UPDATE users SET email = id, display_name = NULL, email_enc = $1, display_name_enc = $2, email_bidx = $3
                         WHERE id = $4",
                    )
                    .bind(email_enc)
                    .bind(name_enc)
                    .bind(bidx)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    done += 1;
                }
                let rows = sqlx::query("SELECT id, user_id, credential FROM passkeys WHERE credential_enc IS NULL ORDER BY id LIMIT $1")
                    .bind(i64::from(batch))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for r in &rows {
                    let id: String = r.try_get("id").map_err(map_err)?;
                    let user_id: String = r.try_get("user_id").map_err(map_err)?;
                    let credential: String = r.try_get("credential").map_err(map_err)?;
                    let sealed = seal_credential(&mut tx, Some(&keys), &user_id, &id, &credential).await?;
                    sqlx::query("UPDATE passkeys SET credential = '', credential_enc = $1 WHERE id = $2")
                        .bind(sealed)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    done += 1;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(done)
            }

            pub(super) async fn key_meta(store: &$Store, name: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT value FROM key_meta WHERE name = $1")
                    .bind(name)
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)?;
                row.map(|r| r.try_get("value").map_err(map_err)).transpose()
            }

            pub(super) async fn insert_signing_key(tx: &mut $Tx, k: &SigningKeyRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, public_key, sealed_private_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&k.kid)
                .bind(k.public_key.to_vec())
                .bind(&k.sealed_private_key)
                .bind(k.created_at)
                .bind(k.activates_at)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn add_kek(tx: &mut $Tx, now: UnixTime) -> StoreResult<u32> {
                let keys = tx.keys().ok_or_else(no_keys)?;
                current_kek(&mut tx.tx, &keys, now).await?;
                let max: i64 = sqlx::query_scalar("SELECT MAX(version) FROM keks")
                    .fetch_one(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                let v = version_of(max)?.saturating_add(1);
                sqlx::query("INSERT INTO keks (version, sealed, created_at) VALUES ($1, $2, $3)")
                    .bind(i64::from(v))
                    .bind(keys.new_kek(v, &portcullis_core::rand::OsRng))
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("kek"),
                        other => other,
                    })?;
                Ok(v)
            }

            pub(super) async fn ensure_kek(tx: &mut $Tx, now: UnixTime) -> StoreResult<()> {
                let keys = tx.keys().ok_or_else(no_keys)?;
                current_kek(&mut tx.tx, &keys, now).await.map(|_| ())
            }

            pub(super) async fn retire_keks(tx: &mut $Tx, now: UnixTime) -> StoreResult<Vec<u32>> {
                let rows: Vec<i64> = sqlx::query_scalar(
                    "SELECT version FROM keks WHERE sealed IS NOT NULL
                       AND version < (SELECT MAX(version) FROM keks)
                       AND NOT EXISTS (SELECT 1 FROM deks WHERE deks.kek_version = keks.version AND deks.wrapped IS NOT NULL)",
                )
                .fetch_all(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for v in rows {
                    sqlx::query("UPDATE keks SET sealed = NULL, retired_at = $1 WHERE version = $2")
                        .bind(now)
                        .bind(v)
                        .execute(&mut *tx.tx)
                        .await
                        .map_err(map_err)?;
                    out.push(version_of(v)?);
                }
                Ok(out)
            }

            pub(super) async fn insert_key_meta(tx: &mut $Tx, name: &str, value: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO key_meta (name, value, created_at) VALUES ($1, $2, $3)")
                    .bind(name)
                    .bind(value)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("key_meta"),
                        other => other,
                    })?;
                Ok(())
            }

            pub(super) async fn insert_internal_ca(tx: &mut $Tx, cert_pem: &str, sealed_key: &[u8], now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO internal_ca (id, cert_pem, sealed_key, created_at) VALUES (1, $1, $2, $3)")
                    .bind(cert_pem)
                    .bind(sealed_key)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("internal_ca"),
                        other => other,
                    })?;
                Ok(())
            }
        }
    };
}
pub(crate) use keys_backend;
