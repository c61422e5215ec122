//! SQL of second factors: TOTP, passkeys and their ceremonies, recovery codes, MFA challenges, and what a session was signed in with. Stamped out per backend by [`factors_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `factors_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! factors_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod factors_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn mfa_state(tx: &mut $Tx, user_id: &str) -> StoreResult<MfaState> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(user_id).fetch_optional(&mut *tx.tx).await.map_err(map_err)?;
                let Some(r) = row else { return Ok(MfaState::default()) };
                let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                let recovery_codes: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&mut *tx.tx)
                        .await
                        .map_err(map_err)?;
                Ok(MfaState {
                    totp_secret: r.try_get("totp_secret").map_err(map_err)?,
                    totp_pending: r.try_get("totp_pending").map_err(map_err)?,
                    totp_last_step: r.try_get("totp_last_step").map_err(map_err)?,
                    passkeys,
                    recovery_codes,
                })
            }

            pub(super) async fn set_totp_pending(tx: &mut $Tx, user_id: &str, sealed: Option<&[u8]>, now: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE users SET totp_pending = $1, updated_at = $2 WHERE id = $3")
                    .bind(sealed.map(<[u8]>::to_vec))
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn enable_totp(tx: &mut $Tx, user_id: &str, step: i64, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1,
                        mfa_enabled = $2, updated_at = $3 WHERE id = $4 AND totp_pending IS NOT NULL",
                )
                .bind(step)
                .bind(true)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn disable_totp(tx: &mut $Tx, user_id: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL,
                        updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn sync_mfa_enabled(tx: &mut $Tx, user_id: &str, now: UnixTime) -> StoreResult<bool> {
                sqlx::query(
                    "UPDATE users SET updated_at = $1, mfa_enabled =
                        (totp_secret IS NOT NULL OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = users.id))
                     WHERE id = $2",
                )
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                let enabled: bool = sqlx::query_scalar("SELECT mfa_enabled FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx.tx)
                    .await
                    .map_err(map_err)?
                    .unwrap_or(false);
                if !enabled {
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx.tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(enabled)
            }

            pub(super) async fn insert_passkey(tx: &mut $Tx, p: &PasskeyRecord) -> StoreResult<()> {
                let keys = tx.keys();
                let sealed = seal_credential(&mut tx.tx, keys.as_deref(), &p.user_id, &p.id, &p.credential).await?;
                sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, name, credential, credential_enc, backup_eligible, created_at, last_used_at)
                     VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8)",
                )
                .bind(&p.id)
                .bind(&p.user_id)
                .bind(&p.credential_id)
                .bind(&p.name)
                .bind(sealed)
                .bind(p.backup_eligible)
                .bind(p.created_at)
                .bind(p.last_used_at)
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("credential"),
                    other => other,
                })?;
                Ok(())
            }

            pub(super) async fn passkeys(tx: &mut $Tx, user_id: &str) -> StoreResult<Vec<PasskeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {PASSKEY_COLS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
                ));
                let rows = sqlx::query(sql).bind(user_id).fetch_all(&mut *tx.tx).await.map_err(map_err)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let keys = tx.keys();
                let dek = passkey_dek(&mut tx.tx, keys.as_deref(), user_id).await?;
                rows.iter().map(|r| passkey_from_row(r, Some(&dek))).collect()
            }

            pub(super) async fn passkey_by_credential(tx: &mut $Tx, credential_id: &str) -> StoreResult<Option<PasskeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {PASSKEY_COLS} FROM passkeys WHERE credential_id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(credential_id).fetch_optional(&mut *tx.tx).await.map_err(map_err)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let user_id: String = row.try_get("user_id").map_err(map_err)?;
                let keys = tx.keys();
                let dek = passkey_dek(&mut tx.tx, keys.as_deref(), &user_id).await?;
                passkey_from_row(&row, Some(&dek)).map(Some)
            }

            pub(super) async fn update_passkey(tx: &mut $Tx, id: &str, credential: &str, now: UnixTime) -> StoreResult<()> {
                let user_id: String = sqlx::query_scalar("SELECT user_id FROM passkeys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                let keys = tx.keys();
                let sealed = seal_credential(&mut tx.tx, keys.as_deref(), &user_id, id, credential).await?;
                sqlx::query("UPDATE passkeys SET credential = '', credential_enc = $1, last_used_at = $2 WHERE id = $3")
                    .bind(sealed)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn delete_passkey(tx: &mut $Tx, user_id: &str, id: &str) -> StoreResult<bool> {
                let r = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn delete_passkeys(tx: &mut $Tx, user_id: &str) -> StoreResult<u64> {
                let r = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected())
            }

            pub(super) async fn insert_ceremony(tx: &mut $Tx, c: &WebauthnCeremony) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO webauthn_ceremonies (id, kind, user_id, binding, state, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&c.id)
                .bind(c.kind.as_str())
                .bind(&c.user_id)
                .bind(&c.binding)
                .bind(&c.state)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn take_ceremony(tx: &mut $Tx, id: &str) -> StoreResult<Option<WebauthnCeremony>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT id, kind, user_id, binding, state, created_at, expires_at FROM webauthn_ceremonies WHERE id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let Some(r) = sqlx::query(sql).bind(id).fetch_optional(&mut *tx.tx).await.map_err(map_err)? else {
                    return Ok(None);
                };
                let kind: String = r.try_get("kind").map_err(map_err)?;
                let c = WebauthnCeremony {
                    id: r.try_get("id").map_err(map_err)?,
                    kind: kind.parse().map_err(|_| corrupt("stored ceremony kind unknown"))?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    binding: r.try_get("binding").map_err(map_err)?,
                    state: r.try_get("state").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    expires_at: r.try_get("expires_at").map_err(map_err)?,
                };
                let gone = sqlx::query("DELETE FROM webauthn_ceremonies WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok((gone.rows_affected() == 1).then_some(c))
            }

            pub(super) async fn advance_totp_step(tx: &mut $Tx, user_id: &str, step: i64) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(user_id)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn replace_recovery_codes(tx: &mut $Tx, user_id: &str, hashes: &[String], now: UnixTime) -> StoreResult<()> {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                for h in hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                        .bind(user_id)
                        .bind(h)
                        .bind(now)
                        .execute(&mut *tx.tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(())
            }

            pub(super) async fn use_recovery_code(tx: &mut $Tx, user_id: &str, hash: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(now)
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn insert_mfa_challenge(tx: &mut $Tx, c: &MfaChallenge) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at, attempts, used_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.token_hash)
                .bind(&c.user_id)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(c.attempts)
                .bind(c.used_at)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn mfa_challenge(tx: &mut $Tx, token_hash: &str) -> StoreResult<Option<MfaChallenge>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT token_hash, user_id, created_at, expires_at, attempts, used_at FROM mfa_challenges WHERE token_hash = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(token_hash).fetch_optional(&mut *tx.tx).await.map_err(map_err)?;
                row.map(|r| {
                    Ok(MfaChallenge {
                        token_hash: r.try_get("token_hash").map_err(map_err)?,
                        user_id: r.try_get("user_id").map_err(map_err)?,
                        created_at: r.try_get("created_at").map_err(map_err)?,
                        expires_at: r.try_get("expires_at").map_err(map_err)?,
                        attempts: r.try_get("attempts").map_err(map_err)?,
                        used_at: r.try_get("used_at").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            pub(super) async fn bump_mfa_attempts(tx: &mut $Tx, token_hash: &str) -> StoreResult<()> {
                sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn use_mfa_challenge(tx: &mut $Tx, token_hash: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn set_session_auth(tx: &mut $Tx, session_id: &str, amr: &[String], auth_time: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET amr = $1, auth_time = $2 WHERE id = $3")
                    .bind(amr_json(amr))
                    .bind(auth_time)
                    .bind(session_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use factors_backend;
