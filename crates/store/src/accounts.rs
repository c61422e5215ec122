//! SQL of account recovery and administration (codes sent by mail, role, profile), stamped
//! out per backend by [`account_backend!`] (the same way [`crate::clients`] does its tables).

/// Implements `AccountWrites` for `$Tx`. Expects, in the invoking module, what
/// `sql_backend!` makes there (`seal_user_fields`, the `tx` field, `keys()`).
macro_rules! account_backend {
    ($Db:ty, $Tx:ident) => {
        mod account_sql {
            use async_trait::async_trait;
            use portcullis_core::accounts::{AccountWrites, CodePurpose, EmailCode, LinkedIdentity};
            use portcullis_core::clock::UnixTime;
            use portcullis_core::email::Email;
            use portcullis_core::model::Role;
            use portcullis_core::store::{StoreError, StoreResult};
            use sqlx::Row;

            use super::$Tx;
            use crate::map_err;

            fn identity_from_row(r: &<$Db as sqlx::Database>::Row) -> StoreResult<LinkedIdentity> {
                Ok(LinkedIdentity {
                    id: r.try_get("id").map_err(map_err)?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    provider: r.try_get("provider").map_err(map_err)?,
                    subject: r.try_get("subject").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    last_used_at: r.try_get("last_used_at").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl AccountWrites for $Tx {
                async fn insert_email_code(&mut self, c: &EmailCode) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO email_codes (code_hash, user_id, purpose, created_at, expires_at, used_at, new_email)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&c.code_hash)
                    .bind(&c.user_id)
                    .bind(c.purpose.as_str())
                    .bind(c.created_at)
                    .bind(c.expires_at)
                    .bind(c.used_at)
                    .bind(&c.new_email)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn use_email_code(
                    &mut self,
                    code_hash: &str,
                    purposes: &[CodePurpose],
                    now: UnixTime,
                ) -> StoreResult<Option<EmailCode>> {
                    // One statement marks it used, so two concurrent uses have one winner.
                    let r = sqlx::query(
                        "UPDATE email_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1",
                    )
                    .bind(now)
                    .bind(code_hash)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() != 1 {
                        return Ok(None);
                    }
                    let row = sqlx::query(
                        "SELECT code_hash, user_id, purpose, created_at, expires_at, used_at, new_email FROM email_codes WHERE code_hash = $1",
                    )
                    .bind(code_hash)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    let purpose: String = row.try_get("purpose").map_err(map_err)?;
                    let purpose = CodePurpose::parse(&purpose)
                        .ok_or_else(|| StoreError::Corrupt("email code purpose".into()))?;
                    if !purposes.contains(&purpose) {
                        // Used up all the same: a code shown where it does not belong is
                        // not tried again elsewhere.
                        return Ok(None);
                    }
                    Ok(Some(EmailCode {
                        code_hash: row.try_get("code_hash").map_err(map_err)?,
                        user_id: row.try_get("user_id").map_err(map_err)?,
                        purpose,
                        created_at: row.try_get("created_at").map_err(map_err)?,
                        expires_at: row.try_get("expires_at").map_err(map_err)?,
                        used_at: row.try_get("used_at").map_err(map_err)?,
                        new_email: row.try_get("new_email").map_err(map_err)?,
                    }))
                }

                async fn drop_email_codes(&mut self, user_id: &str, now: UnixTime) -> StoreResult<u64> {
                    let r = sqlx::query(
                        "UPDATE email_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected())
                }

                async fn set_role(&mut self, user_id: &str, role: Role, now: UnixTime) -> StoreResult<bool> {
                    let r = sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                        .bind(role.as_str())
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_must_change_password(
                    &mut self,
                    user_id: &str,
                    on: bool,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let r = sqlx::query(
                        "UPDATE users SET must_change_password = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(on)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_email_verified(
                    &mut self,
                    user_id: &str,
                    verified: bool,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let r = sqlx::query("UPDATE users SET email_verified = $1, updated_at = $2 WHERE id = $3")
                        .bind(verified)
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_profile(
                    &mut self,
                    user_id: &str,
                    email: &Email,
                    display_name: Option<&str>,
                    now: UnixTime,
                ) -> StoreResult<()> {
                    let keys = self.keys().ok_or_else(super::no_keys)?;
                    let (email_enc, name_enc, bidx) = super::seal_user_fields(
                        &mut self.tx,
                        &keys,
                        user_id,
                        email.as_str(),
                        display_name,
                        now,
                    )
                    .await?;
                    sqlx::query(
                        "UPDATE users SET email_enc = $1, display_name_enc = $2, email_bidx = $3, display_name = NULL,
                                          updated_at = $4 WHERE id = $5",
                    )
                    .bind(email_enc)
                    .bind(name_enc)
                    .bind(bidx)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("email"),
                        other => other,
                    })?;
                    Ok(())
                }

                async fn verify_codes(&mut self, user_id: &str, now: UnixTime) -> StoreResult<(u64, u64)> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS total,
                                COALESCE(SUM(CASE WHEN used_at IS NULL AND expires_at > $2 THEN 1 ELSE 0 END), 0) AS live
                         FROM email_codes WHERE user_id = $1 AND purpose = 'verify'",
                    )
                    .bind(user_id)
                    .bind(now)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    let total: i64 = row.try_get("total").map_err(map_err)?;
                    let live: i64 = row.try_get("live").map_err(map_err)?;
                    Ok((u64::try_from(total).unwrap_or(0), u64::try_from(live).unwrap_or(0)))
                }

                async fn insert_identity(&mut self, i: &LinkedIdentity) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO user_identities (id, user_id, provider, subject, created_at, last_used_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&i.id)
                    .bind(&i.user_id)
                    .bind(&i.provider)
                    .bind(&i.subject)
                    .bind(i.created_at)
                    .bind(i.last_used_at)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("identity"),
                        other => other,
                    })?;
                    Ok(())
                }

                async fn identity_by_subject(
                    &mut self,
                    provider: &str,
                    subject: &str,
                ) -> StoreResult<Option<LinkedIdentity>> {
                    let row = sqlx::query(
                        "SELECT id, user_id, provider, subject, created_at, last_used_at FROM user_identities
                         WHERE provider = $1 AND subject = $2",
                    )
                    .bind(provider)
                    .bind(subject)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(identity_from_row).transpose()
                }

                async fn identities_of(&mut self, user_id: &str) -> StoreResult<Vec<LinkedIdentity>> {
                    let rows = sqlx::query(
                        "SELECT id, user_id, provider, subject, created_at, last_used_at FROM user_identities
                         WHERE user_id = $1 ORDER BY created_at, id",
                    )
                    .bind(user_id)
                    .fetch_all(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(identity_from_row).collect()
                }

                async fn delete_identity(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
                    let r = sqlx::query("DELETE FROM user_identities WHERE id = $1 AND user_id = $2")
                        .bind(id)
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn delete_identities_of(&mut self, user_id: &str) -> StoreResult<u64> {
                    let r = sqlx::query("DELETE FROM user_identities WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected())
                }

                async fn touch_identity(&mut self, id: &str, now: UnixTime) -> StoreResult<()> {
                    sqlx::query("UPDATE user_identities SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn purge_email_codes(&mut self, before: UnixTime) -> StoreResult<u64> {
                    let r = sqlx::query("DELETE FROM email_codes WHERE expires_at < $1 AND purpose <> 'verify'")
                        .bind(before)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected())
                }
            }
        }
    };
}
pub(crate) use account_backend;
