//! SQL shared by both backends, stamped out per backend by [`sql_backend!`]. The dialects
//! agree on everything here (`$n` parameters, `ON CONFLICT`, `RETURNING`-free statements);
//! what differs is delegated to the backend's `hooks` module.
//!
//! The `Store` and `Tx` implementations are here, with the SQL of users and the revocation
//! feed. The SQL of each other purpose is in its own module, which these implementations
//! call: [`crate::sessions`], [`crate::audit_log`], [`crate::alerts`], [`crate::factors`],
//! [`crate::keys`], [`crate::signals`], [`crate::api_keys`] and [`crate::retention`].

/// Where a store keeps the field keys once the master key is known (shared by clones).
pub(crate) type KeySlot = std::sync::Arc<
    std::sync::RwLock<Option<std::sync::Arc<portcullis_core::crypto::envelope::FieldKeys>>>,
>;

/// Generates the `Store` and `Tx` implementations for one backend.
///
/// Expects, in the invoking module: a `$Store` with `read_pool()`, `begin_tx()` and `feed()`,
/// and a `hooks` module with `FOR_UPDATE` (the row-lock suffix of the dialect) and
/// `notify_revoked`.
macro_rules! sql_backend {
    ($Db:ty, $Store:ident, $Tx:ident, $name:literal) => {
        use async_trait::async_trait;
        use portcullis_core::alerting::{AlertDelivery, AlertRecord};
        use portcullis_core::audit::{self as audit_chain, AuditRecord, NewAuditEvent};
        use portcullis_core::clock::UnixTime;
        use portcullis_core::email::Email;
        use portcullis_core::model::{
            ApiKeyRecord, Ban, CheckpointRecord, LoginEvent, MfaChallenge, SigningMode, SinkState, MfaState, PasskeyRecord, PasswordHash, RefreshToken, Role, Session,
            SigningKeyRecord, ThrottleState, User, WebauthnCeremony,
        };
        use portcullis_core::store::{RevocationFeed, Store, StoreError, StoreResult, Tx};
        use sqlx::Row;

        use crate::map_err;

        /// Events the sequencer takes per transaction.
        const AUDIT_SEQUENCE_BATCH: u32 = 2000;

        /// Sequences every queued audit event, so a read of the log sees all committed ones.
        async fn sequence_all(store: &$Store) -> StoreResult<()> {
            while store.sequence_audit(AUDIT_SEQUENCE_BATCH).await? == u64::from(AUDIT_SEQUENCE_BATCH) {}
            Ok(())
        }

        /// `(p1, ..., pC), (...)` for `rows` rows of `cols` parameters, in the backend's
        /// placeholder syntax, for a multi-row INSERT.
        fn values_rows(rows: usize, cols: usize) -> String {
            (0..rows)
                .map(|r| {
                    let params: Vec<String> = (1..=cols).map(|c| hooks::param(r * cols + c)).collect();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>()
                .join(",")
        }

        crate::rows::row_codecs!($Db);

        #[async_trait]
        impl Store for $Store {
            async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
                let tx = self.begin_tx().await.map_err(map_err)?;
                Ok(Box::new($Tx {
                    tx,
                    keys: self.keys(),
                    queued: self.queued.clone(),
                    audited: false,
                }))
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.read_pool()).await.map_err(map_err)?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                $name
            }

            async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLS} FROM users WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(|r| user_from_row(r, self.keys().as_deref())).transpose()
            }

            async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
                // By blind index; plaintext rows (not yet encrypted) by the email itself.
                let bidx = self.keys().map(|k| k.blind_index(email.as_str())).unwrap_or_default();
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLS} FROM users WHERE email_bidx = $1 OR (email_enc IS NULL AND email = $2)"
                ));
                let row = sqlx::query(sql)
                    .bind(bidx)
                    .bind(email.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(|r| user_from_row(r, self.keys().as_deref())).transpose()
            }

            async fn list_users(&self, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"));
                let rows = sqlx::query(sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(|r| user_from_row(r, self.keys().as_deref())).collect()
            }

            async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(session_from_row).transpose()
            }

            async fn active_sessions(&self, user_id: &str, now: UnixTime) -> StoreResult<Vec<Session>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, id"
                ));
                let rows = sqlx::query(sql).bind(user_id).bind(now).fetch_all(self.read_pool()).await.map_err(map_err)?;
                rows.iter().map(session_from_row).collect()
            }

            async fn revoked_sessions_since(&self, since: UnixTime) -> StoreResult<Vec<(String, UnixTime)>> {
                sessions_sql::revoked_sessions_since(self, since).await
            }

            async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                keys_sql::signing_keys(self).await
            }

            async fn throttle_states(&self, keys: &[String]) -> StoreResult<Vec<ThrottleState>> {
                signals_sql::throttle_states(self, keys).await
            }

            fn audit_queued(&self) -> std::sync::Arc<tokio::sync::Notify> {
                self.queued.clone()
            }

            async fn sequence_audit(&self, max: u32) -> StoreResult<u64> {
                audit_log_sql::sequence_audit(self, max).await
            }

            async fn audit_head(&self) -> StoreResult<(i64, String)> {
                audit_log_sql::audit_head(self).await
            }

            async fn audit_page(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                audit_log_sql::audit_page(self, after_seq, limit).await
            }

            async fn audit_about(&self, subject: &str, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                audit_log_sql::audit_about(self, subject, limit).await
            }

            async fn audit_tree_size(&self) -> StoreResult<u64> {
                audit_log_sql::audit_tree_size(self).await
            }

            async fn audit_tree_nodes(&self, keys: &[(u32, u64)]) -> StoreResult<Vec<(u32, u64, String)>> {
                audit_log_sql::audit_tree_nodes(self, keys).await
            }

            async fn audit_tree_level(&self, level: u32, from: u64, limit: u32) -> StoreResult<Vec<(u64, String)>> {
                audit_log_sql::audit_tree_level(self, level, from, limit).await
            }

            async fn append_audit_tree(&self, nodes: &[(u32, u64, String)]) -> StoreResult<()> {
                audit_log_sql::append_audit_tree(self, nodes).await
            }

            async fn api_key_usage(&self, key_id: &str, route: &str, period: &str) -> StoreResult<u64> {
                api_keys_sql::api_key_usage(self, key_id, route, period).await
            }

            async fn add_api_key_usage(&self, rows: &[(String, String, String, u64)]) -> StoreResult<Vec<u64>> {
                api_keys_sql::add_api_key_usage(self, rows).await
            }

            async fn insert_checkpoint(&self, cp: &CheckpointRecord) -> StoreResult<bool> {
                audit_log_sql::insert_checkpoint(self, cp).await
            }

            async fn checkpoints(&self, after: u64, limit: u32) -> StoreResult<Vec<CheckpointRecord>> {
                audit_log_sql::checkpoints(self, after, limit).await
            }

            async fn latest_checkpoint(&self) -> StoreResult<Option<CheckpointRecord>> {
                audit_log_sql::latest_checkpoint(self).await
            }

            async fn sink_lease(&self, name: &str, owner: &str, now: UnixTime, ttl: i64) -> StoreResult<Option<i64>> {
                audit_log_sql::sink_lease(self, name, owner, now, ttl).await
            }

            async fn advance_sink(&self, name: &str, owner: &str, seq: i64, delivered: i64, now: UnixTime) -> StoreResult<bool> {
                audit_log_sql::advance_sink(self, name, owner, seq, delivered, now).await
            }

            async fn release_sink(&self, name: &str, owner: &str) -> StoreResult<()> {
                audit_log_sql::release_sink(self, name, owner).await
            }

            async fn sink_failed(&self, name: &str) -> StoreResult<()> {
                audit_log_sql::sink_failed(self, name).await
            }

            async fn dead_letter(&self, name: &str, seq: i64, error: &str, now: UnixTime) -> StoreResult<()> {
                audit_log_sql::dead_letter(self, name, seq, error, now).await
            }

            async fn sink_states(&self) -> StoreResult<Vec<SinkState>> {
                audit_log_sql::sink_states(self).await
            }

            async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiKeyRecord>> {
                api_keys_sql::api_key_by_prefix(self, prefix).await
            }

            async fn api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                api_keys_sql::api_key(self, id).await
            }

            async fn api_keys_of(&self, owner_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
                api_keys_sql::api_keys_of(self, owner_id).await
            }

            async fn list_api_keys(&self, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<ApiKeyRecord>> {
                api_keys_sql::list_api_keys(self, after_id, limit).await
            }

            async fn touch_api_key(&self, id: &str, now: UnixTime, ip: Option<&str>) -> StoreResult<()> {
                api_keys_sql::touch_api_key(self, id, now, ip).await
            }

            async fn use_nonce(&self, key_id: &str, nonce: &str, expires_at: UnixTime, now: UnixTime) -> StoreResult<bool> {
                api_keys_sql::use_nonce(self, key_id, nonce, expires_at, now).await
            }

            async fn service_identity(&self, spiffe_id: &str) -> StoreResult<Option<(String, Vec<String>)>> {
                api_keys_sql::service_identity(self, spiffe_id).await
            }

            async fn internal_ca(&self) -> StoreResult<Option<(String, Vec<u8>)>> {
                keys_sql::internal_ca(self).await
            }

            fn install_field_keys(&self, keys: std::sync::Arc<FieldKeys>) {
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Some(keys);
                }
            }

            async fn kek_status(&self) -> StoreResult<portcullis_core::store::KekStatus> {
                keys_sql::kek_status(self).await
            }

            async fn rewrap_deks(&self, batch: u32) -> StoreResult<u64> {
                keys_sql::rewrap_deks(self, batch).await
            }

            async fn encrypt_legacy_users(&self, batch: u32) -> StoreResult<u64> {
                keys_sql::encrypt_legacy_users(self, batch).await
            }

            async fn key_meta(&self, name: &str) -> StoreResult<Option<String>> {
                keys_sql::key_meta(self, name).await
            }

            async fn active_bans(&self, now: UnixTime) -> StoreResult<Vec<Ban>> {
                signals_sql::active_bans(self, now).await
            }

            async fn list_bans(&self, all: bool, now: UnixTime, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<Ban>> {
                signals_sql::list_bans(self, all, now, after_id, limit).await
            }

            async fn login_events_of(&self, user_id: &str, successes: bool, limit: u32) -> StoreResult<Vec<LoginEvent>> {
                signals_sql::login_events_of(self, user_id, successes, limit).await
            }

            async fn login_failures_since(&self, since: UnixTime) -> StoreResult<u64> {
                signals_sql::login_failures_since(self, since).await
            }

            async fn failed_accounts_from(&self, ip: &str, net: bool, since: UnixTime) -> StoreResult<u64> {
                signals_sql::failed_accounts_from(self, ip, net, since).await
            }

            async fn known_devices(&self, user_id: &str, devices: &[String]) -> StoreResult<Vec<String>> {
                signals_sql::known_devices(self, user_id, devices).await
            }

            async fn risk_flag(&self, user_id: &str) -> StoreResult<Option<String>> {
                signals_sql::risk_flag(self, user_id).await
            }

            async fn purge_expired(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64> {
                retention_sql::purge_expired(self, before, now).await
            }

            async fn revocation_feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
                self.feed().await
            }

            async fn alerts(&self, before_id: Option<&str>, limit: u32) -> StoreResult<Vec<AlertRecord>> {
                alerts_sql::alerts(self, before_id, limit).await
            }

            async fn alert(&self, id: &str) -> StoreResult<Option<AlertRecord>> {
                alerts_sql::alert(self, id).await
            }

            async fn open_alert(&self, rule: &str, group_key: &str, since: UnixTime) -> StoreResult<Option<AlertRecord>> {
                alerts_sql::open_alert(self, rule, group_key, since).await
            }

            async fn bump_alert(&self, id: &str, last_at: UnixTime) -> StoreResult<()> {
                alerts_sql::bump_alert(self, id, last_at).await
            }

            async fn complete_alert(&self, id: &str, actions: &str, sinks: &[String], now: UnixTime) -> StoreResult<()> {
                alerts_sql::complete_alert(self, id, actions, sinks, now).await
            }

            async fn alert_deliveries(&self, alert_id: &str) -> StoreResult<Vec<AlertDelivery>> {
                alerts_sql::alert_deliveries(self, alert_id).await
            }

            async fn pending_alert_deliveries(&self, sink: &str, limit: u32) -> StoreResult<Vec<AlertDelivery>> {
                alerts_sql::pending_alert_deliveries(self, sink, limit).await
            }

            async fn update_alert_delivery(&self, alert_id: &str, sink: &str, status: &str, attempts: i64, error: Option<&str>, now: UnixTime) -> StoreResult<()> {
                alerts_sql::update_alert_delivery(self, alert_id, sink, status, attempts, error, now).await
            }

            async fn alerts_delivered_since(&self, sink: &str, since: UnixTime) -> StoreResult<u64> {
                alerts_sql::alerts_delivered_since(self, sink, since).await
            }

            fn approvals(&self) -> &dyn portcullis_core::approvals::ApprovalReads {
                self
            }

            fn clients(&self) -> &dyn portcullis_core::oauth::clients::ClientReads {
                self
            }
        }

        /// A write transaction of this backend.
        pub struct $Tx {
            tx: sqlx::Transaction<'static, $Db>,
            keys: Option<std::sync::Arc<FieldKeys>>,
            /// Woken on commit when this transaction queued audit events.
            queued: std::sync::Arc<tokio::sync::Notify>,
            audited: bool,
        }

        impl $Tx {
            fn keys(&self) -> Option<std::sync::Arc<FieldKeys>> {
                self.keys.clone()
            }
        }

        impl $Store {
            fn keys(&self) -> Option<std::sync::Arc<FieldKeys>> {
                keys_of(&self.keys)
            }
        }

        crate::sealing::field_sealing!($Db);

        #[async_trait]
        impl Tx for $Tx {
            async fn insert_user(&mut self, u: &User) -> StoreResult<()> {
                let keys = self.keys().ok_or_else(no_keys)?;
                let (email_enc, name_enc, bidx) = seal_user_fields(
                    &mut self.tx,
                    &keys,
                    &u.id,
                    u.email.as_str(),
                    u.display_name.as_deref(),
                    u.created_at,
                )
                .await?;
                // The old plaintext column keeps the id: unique, not null, and says nothing.
                sqlx::query(
                    "INSERT INTO users (id, email, display_name, email_enc, display_name_enc, email_bidx, role, password_hash,
                                        mfa_enabled, locked, created_at, updated_at, email_verified, must_change_password)
                     VALUES ($1, $1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&u.id)
                .bind(email_enc)
                .bind(name_enc)
                .bind(bidx)
                .bind(u.role.as_str())
                .bind(u.password_hash.as_ref().map(|h| h.0.as_str()))
                .bind(u.mfa_enabled)
                .bind(u.locked)
                .bind(u.created_at)
                .bind(u.updated_at)
                .bind(u.email_verified)
                .bind(u.must_change_password)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("email"),
                    other => other,
                })?;
                Ok(())
            }

            async fn user_by_id(&mut self, id: &str) -> StoreResult<Option<User>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLS} FROM users WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                row.as_ref().map(|r| user_from_row(r, self.keys().as_deref())).transpose()
            }

            async fn lock_user(&mut self, id: &str) -> StoreResult<Option<User>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLS} FROM users WHERE id = $1{}", hooks::FOR_UPDATE));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                row.as_ref().map(|r| user_from_row(r, self.keys().as_deref())).transpose()
            }

            async fn set_password_hash(&mut self, user_id: &str, hash: &PasswordHash, now: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(hash.0.as_str())
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn set_locked(&mut self, user_id: &str, locked: bool, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE users SET locked = $1, updated_at = $2 WHERE id = $3")
                    .bind(locked)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
                sessions_sql::insert_session(self, s).await
            }

            async fn session(&mut self, id: &str) -> StoreResult<Option<Session>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                row.as_ref().map(session_from_row).transpose()
            }

            async fn active_sessions(&mut self, user_id: &str, now: UnixTime) -> StoreResult<Vec<Session>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, id"
                ));
                let rows = sqlx::query(sql).bind(user_id).bind(now).fetch_all(&mut *self.tx).await.map_err(map_err)?;
                rows.iter().map(session_from_row).collect()
            }

            async fn touch_session(&mut self, id: &str, now: UnixTime, expires_at: UnixTime) -> StoreResult<()> {
                sessions_sql::touch_session(self, id, now, expires_at).await
            }

            async fn revoke_session(&mut self, id: &str, reason: &str, now: UnixTime) -> StoreResult<bool> {
                sessions_sql::revoke_session(self, id, reason, now).await
            }

            async fn insert_refresh_token(&mut self, t: &RefreshToken) -> StoreResult<()> {
                sessions_sql::insert_refresh_token(self, t).await
            }

            async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
                sessions_sql::refresh_token_by_hash(self, token_hash).await
            }

            async fn mark_rotated(&mut self, token_id: &str, now: UnixTime) -> StoreResult<bool> {
                sessions_sql::mark_rotated(self, token_id, now).await
            }

            async fn insert_signing_key(&mut self, k: &SigningKeyRecord) -> StoreResult<()> {
                keys_sql::insert_signing_key(self, k).await
            }

            async fn bump_throttle(&mut self, key: &str, now: UnixTime, window: i64) -> StoreResult<ThrottleState> {
                signals_sql::bump_throttle(self, key, now, window).await
            }

            async fn set_throttle_block(&mut self, key: &str, blocked_until: UnixTime) -> StoreResult<()> {
                signals_sql::set_throttle_block(self, key, blocked_until).await
            }

            async fn clear_throttle(&mut self, key: &str) -> StoreResult<()> {
                signals_sql::clear_throttle(self, key).await
            }

            async fn mfa_state(&mut self, user_id: &str) -> StoreResult<MfaState> {
                factors_sql::mfa_state(self, user_id).await
            }

            async fn set_totp_pending(&mut self, user_id: &str, sealed: Option<&[u8]>, now: UnixTime) -> StoreResult<()> {
                factors_sql::set_totp_pending(self, user_id, sealed, now).await
            }

            async fn enable_totp(&mut self, user_id: &str, step: i64, now: UnixTime) -> StoreResult<bool> {
                factors_sql::enable_totp(self, user_id, step, now).await
            }

            async fn disable_totp(&mut self, user_id: &str, now: UnixTime) -> StoreResult<()> {
                factors_sql::disable_totp(self, user_id, now).await
            }

            async fn sync_mfa_enabled(&mut self, user_id: &str, now: UnixTime) -> StoreResult<bool> {
                factors_sql::sync_mfa_enabled(self, user_id, now).await
            }

            async fn insert_passkey(&mut self, p: &PasskeyRecord) -> StoreResult<()> {
                factors_sql::insert_passkey(self, p).await
            }

            async fn passkeys(&mut self, user_id: &str) -> StoreResult<Vec<PasskeyRecord>> {
                factors_sql::passkeys(self, user_id).await
            }

            async fn passkey_by_credential(&mut self, credential_id: &str) -> StoreResult<Option<PasskeyRecord>> {
                factors_sql::passkey_by_credential(self, credential_id).await
            }

            async fn update_passkey(&mut self, id: &str, credential: &str, now: UnixTime) -> StoreResult<()> {
                factors_sql::update_passkey(self, id, credential, now).await
            }

            async fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
                factors_sql::delete_passkey(self, user_id, id).await
            }

            async fn delete_passkeys(&mut self, user_id: &str) -> StoreResult<u64> {
                factors_sql::delete_passkeys(self, user_id).await
            }

            async fn insert_ceremony(&mut self, c: &WebauthnCeremony) -> StoreResult<()> {
                factors_sql::insert_ceremony(self, c).await
            }

            async fn take_ceremony(&mut self, id: &str) -> StoreResult<Option<WebauthnCeremony>> {
                factors_sql::take_ceremony(self, id).await
            }

            async fn advance_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool> {
                factors_sql::advance_totp_step(self, user_id, step).await
            }

            async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[String], now: UnixTime) -> StoreResult<()> {
                factors_sql::replace_recovery_codes(self, user_id, hashes, now).await
            }

            async fn use_recovery_code(&mut self, user_id: &str, hash: &str, now: UnixTime) -> StoreResult<bool> {
                factors_sql::use_recovery_code(self, user_id, hash, now).await
            }

            async fn insert_mfa_challenge(&mut self, c: &MfaChallenge) -> StoreResult<()> {
                factors_sql::insert_mfa_challenge(self, c).await
            }

            async fn mfa_challenge(&mut self, token_hash: &str) -> StoreResult<Option<MfaChallenge>> {
                factors_sql::mfa_challenge(self, token_hash).await
            }

            async fn bump_mfa_attempts(&mut self, token_hash: &str) -> StoreResult<()> {
                factors_sql::bump_mfa_attempts(self, token_hash).await
            }

            async fn use_mfa_challenge(&mut self, token_hash: &str, now: UnixTime) -> StoreResult<bool> {
                factors_sql::use_mfa_challenge(self, token_hash, now).await
            }

            async fn set_session_auth(&mut self, session_id: &str, amr: &[String], auth_time: UnixTime) -> StoreResult<()> {
                factors_sql::set_session_auth(self, session_id, amr, auth_time).await
            }

            async fn insert_api_key(&mut self, k: &ApiKeyRecord) -> StoreResult<()> {
                api_keys_sql::insert_api_key(self, k).await
            }

            async fn lock_api_key(&mut self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                api_keys_sql::lock_api_key(self, id).await
            }

            async fn revoke_api_key(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
                api_keys_sql::revoke_api_key(self, id, now).await
            }

            async fn limit_api_key(&mut self, id: &str, expires_at: UnixTime) -> StoreResult<()> {
                api_keys_sql::limit_api_key(self, id, expires_at).await
            }

            async fn insert_ban(&mut self, b: &Ban) -> StoreResult<()> {
                signals_sql::insert_ban(self, b).await
            }

            async fn lift_ban(&mut self, id: &str, by: &str, now: UnixTime) -> StoreResult<bool> {
                signals_sql::lift_ban(self, id, by, now).await
            }

            async fn insert_login_event(&mut self, e: &LoginEvent) -> StoreResult<()> {
                signals_sql::insert_login_event(self, e).await
            }

            async fn remember_device(&mut self, user_id: &str, device: &str, now: UnixTime) -> StoreResult<bool> {
                signals_sql::remember_device(self, user_id, device, now).await
            }

            async fn set_risk_flag(&mut self, user_id: &str, flag: &str, source: &str, now: UnixTime) -> StoreResult<()> {
                signals_sql::set_risk_flag(self, user_id, flag, source, now).await
            }

            async fn clear_risk_flag(&mut self, user_id: &str) -> StoreResult<bool> {
                signals_sql::clear_risk_flag(self, user_id).await
            }

            async fn insert_service_identity(&mut self, spiffe_id: &str, user_id: &str, scopes: &[String], now: UnixTime) -> StoreResult<()> {
                api_keys_sql::insert_service_identity(self, spiffe_id, user_id, scopes, now).await
            }

            async fn erase_user(&mut self, user_id: &str, pseudonym: &str, now: UnixTime) -> StoreResult<bool> {
                retention_sql::erase_user(self, user_id, pseudonym, now).await
            }

            async fn add_kek(&mut self, now: UnixTime) -> StoreResult<u32> {
                keys_sql::add_kek(self, now).await
            }

            async fn ensure_kek(&mut self, now: UnixTime) -> StoreResult<()> {
                keys_sql::ensure_kek(self, now).await
            }

            async fn retire_keks(&mut self, now: UnixTime) -> StoreResult<Vec<u32>> {
                keys_sql::retire_keks(self, now).await
            }

            async fn insert_key_meta(&mut self, name: &str, value: &str, now: UnixTime) -> StoreResult<()> {
                keys_sql::insert_key_meta(self, name, value, now).await
            }

            async fn insert_internal_ca(&mut self, cert_pem: &str, sealed_key: &[u8], now: UnixTime) -> StoreResult<()> {
                keys_sql::insert_internal_ca(self, cert_pem, sealed_key, now).await
            }

            async fn redact_audit_subject(&mut self, subject: &str, now: UnixTime) -> StoreResult<u64> {
                audit_log_sql::redact_audit_subject(self, subject, now).await
            }

            async fn insert_alert(&mut self, a: &AlertRecord) -> StoreResult<()> {
                alerts_sql::insert_alert(self, a).await
            }

            async fn resolve_alert(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
                alerts_sql::resolve_alert(self, id, now).await
            }

            async fn redact_alerts_subject(&mut self, subject: &str) -> StoreResult<u64> {
                alerts_sql::redact_alerts_subject(self, subject).await
            }

            async fn append_audit(&mut self, event: &NewAuditEvent) -> StoreResult<()> {
                audit_log_sql::append_audit(self, event).await
            }

            fn approvals(&mut self) -> &mut dyn portcullis_core::approvals::ApprovalWrites {
                self
            }

            fn clients(&mut self) -> &mut dyn portcullis_core::oauth::clients::ClientWrites {
                self
            }

            fn accounts(&mut self) -> &mut dyn portcullis_core::accounts::AccountWrites {
                self
            }

            async fn commit(self: Box<Self>) -> StoreResult<()> {
                let (queued, audited) = (self.queued, self.audited);
                self.tx.commit().await.map_err(map_err)?;
                if audited {
                    queued.notify_one();
                }
                Ok(())
            }
        }

        fn decode_head(seq: i64, hash: &str) -> StoreResult<(i64, [u8; 32])> {
            let h = audit_chain::decode_hash(hash).ok_or_else(|| corrupt("audit head hash"))?;
            Ok((seq, h))
        }
    };
}
pub(crate) use sql_backend;
