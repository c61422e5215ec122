//! Envelope encryption inside a write transaction, for both backends: the current
//! key-encryption key (made on first use), a subject's data key (made, wrapped and stored on
//! first use), and the sealing of personal fields and credentials with it. Stamped into each
//! backend's module by [`field_sealing!`], which [`crate::common::sql_backend!`] invokes.

/// Defines `current_kek`, `load_dek`, `seal_credential`, `passkey_dek` and
/// `seal_user_fields` for `$Db`. Expects the imports [`crate::common::sql_backend!`] and
/// [`crate::rows::row_codecs!`] make in the invoking module.
macro_rules! field_sealing {
    ($Db:ty) => {
        /// The newest KEK, creating version 1 when there is none (every node may race to;
        /// the database keeps one and every node uses the one it keeps).
        async fn current_kek(
            tx: &mut sqlx::Transaction<'static, $Db>,
            keys: &FieldKeys,
            now: UnixTime,
        ) -> StoreResult<(u32, SecretKey)> {
            for _ in 0..2 {
                let row = sqlx::query("SELECT version, sealed FROM keks WHERE sealed IS NOT NULL ORDER BY version DESC LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
                if let Some(r) = row {
                    let v = version_of(r.try_get("version").map_err(map_err)?)?;
                    let sealed: Vec<u8> = r.try_get("sealed").map_err(map_err)?;
                    return Ok((v, keys.kek(v, &sealed).map_err(envelope_err)?));
                }
                sqlx::query("INSERT INTO keks (version, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (version) DO NOTHING")
                    .bind(keys.new_kek(1, &portcullis_core::rand::OsRng))
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
            }
            Err(StoreError::Unavailable("no key-encryption key could be created".into()))
        }

        /// The subject's DEK, if it has one (an error when it was destroyed).
        async fn load_dek(
            tx: &mut sqlx::Transaction<'static, $Db>,
            keys: &FieldKeys,
            id: &str,
        ) -> StoreResult<Option<SecretKey>> {
            let existing = sqlx::query(
                "SELECT d.kek_version, d.wrapped, k.sealed FROM deks d LEFT JOIN keks k ON k.version = d.kek_version WHERE d.subject = $1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
            let Some(r) = existing else {
                return Ok(None);
            };
            let v = version_of(r.try_get("kek_version").map_err(map_err)?)?;
            let wrapped: Option<Vec<u8>> = r.try_get("wrapped").map_err(map_err)?;
            let sealed: Option<Vec<u8>> = r.try_get("sealed").map_err(map_err)?;
            open_dek(keys, id, v, wrapped.as_deref(), sealed.as_deref()).map(Some)
        }

        /// A passkey's credential sealed under its owner's DEK.
        async fn seal_credential(
            tx: &mut sqlx::Transaction<'static, $Db>,
            keys: Option<&FieldKeys>,
            user_id: &str,
            passkey_id: &str,
            credential: &str,
        ) -> StoreResult<Vec<u8>> {
            let dek = passkey_dek(tx, keys, user_id).await?;
            Ok(envelope::seal_field(
                &dek,
                "passkeys",
                "credential",
                passkey_id,
                credential.as_bytes(),
                &portcullis_core::rand::OsRng,
            ))
        }

        /// The DEK a user's passkeys are sealed under.
        async fn passkey_dek(
            tx: &mut sqlx::Transaction<'static, $Db>,
            keys: Option<&FieldKeys>,
            user_id: &str,
        ) -> StoreResult<SecretKey> {
            let keys = keys.ok_or_else(no_keys)?;
            load_dek(tx, keys, user_id)
                .await?
                .ok_or_else(|| corrupt("a passkey owner without a data key"))
        }

        /// Creates the subject's DEK (or uses the one it has) and seals the user's email and
        /// display name; (email_enc, display_name_enc, email_bidx).
        async fn seal_user_fields(
            tx: &mut sqlx::Transaction<'static, $Db>,
            keys: &FieldKeys,
            id: &str,
            email: &str,
            display_name: Option<&str>,
            now: UnixTime,
        ) -> StoreResult<(Vec<u8>, Option<Vec<u8>>, String)> {
            let rng = portcullis_core::rand::OsRng;
            let dek = match load_dek(tx, keys, id).await? {
                Some(dek) => dek,
                None => {
                    let (v, kek) = current_kek(tx, keys, now).await?;
                    let (dek, wrapped) = keys.new_dek(id, &kek, v, &rng);
                    sqlx::query("INSERT INTO deks (subject, version, kek_version, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(id)
                        .bind(i64::from(envelope::DEK_VERSION))
                        .bind(i64::from(v))
                        .bind(wrapped)
                        .bind(now)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?;
                    dek
                }
            };
            Ok((
                envelope::seal_field(&dek, "users", "email", id, email.as_bytes(), &rng),
                display_name.map(|d| envelope::seal_field(&dek, "users", "display_name", id, d.as_bytes(), &rng)),
                keys.blind_index(email),
            ))
        }
    };
}

pub(crate) use field_sealing;
