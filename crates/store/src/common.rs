//! SQL shared by both backends, stamped out per backend by [`sql_backend!`]. The dialects
//! agree on everything here (`$n` parameters, `ON CONFLICT`, `RETURNING`-free statements);
//! what differs is delegated to the backend's `hooks` module.

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
                // Revoked elevations travel with revoked sessions: both are ids whose tokens
                // lose what they carried.
                let rows = sqlx::query(
                    "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1
                     UNION ALL
                     SELECT id, ended_at AS revoked_at FROM approval_requests
                     WHERE kind = 'elevation' AND status = 'revoked' AND ended_at >= $1",
                )
                    .bind(since)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| Ok((r.try_get("id").map_err(map_err)?, r.try_get("revoked_at").map_err(map_err)?)))
                    .collect()
            }

            async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                let rows = sqlx::query(
                    "SELECT kid, public_key, sealed_private_key, created_at, activates_at FROM signing_keys ORDER BY activates_at, kid",
                )
                .fetch_all(self.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(signing_key_from_row).collect()
            }

            async fn throttle_states(&self, keys: &[String]) -> StoreResult<Vec<ThrottleState>> {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let row = sqlx::query("SELECT key, failures, last_failure_at, blocked_until FROM login_throttle WHERE key = $1")
                        .bind(key)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(map_err)?;
                    if let Some(r) = row {
                        out.push(throttle_from_row(&r)?);
                    }
                }
                Ok(out)
            }

            fn audit_queued(&self) -> std::sync::Arc<tokio::sync::Notify> {
                self.queued.clone()
            }

            async fn sequence_audit(&self, max: u32) -> StoreResult<u64> {
                // Looked at through a reader first: an empty queue costs no write lock.
                // By the primary key: a queue table is full of recently deleted rows that an
                // index scan skips and a sequential scan would wade through.
                let queued: Option<i64> = sqlx::query_scalar("SELECT id FROM audit_pending ORDER BY id LIMIT 1")
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                if queued.is_none() {
                    return Ok(0);
                }
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                // The head row is the sequencer's lock on PostgreSQL (FOR UPDATE, to commit):
                // sequencers on several nodes take turns; writers never touch it.
                let sql = sqlx::AssertSqlSafe(format!("SELECT seq, hash FROM audit_head WHERE id = 1{}", hooks::FOR_UPDATE));
                let head = sqlx::query(sql).fetch_one(&mut *tx).await.map_err(map_err)?;
                let head_hash: String = head.try_get("hash").map_err(map_err)?;
                let (mut seq, mut prev) = decode_head(head.try_get("seq").map_err(map_err)?, &head_hash)?;
                // Taken and removed in one statement; under the head lock no other sequencer
                // sees them, and a queued event whose transaction commits later (a lower id
                // on PostgreSQL) is simply sequenced by the next round.
                let rows = sqlx::query(
                    "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT $1)
                     RETURNING id, time, action, outcome, actor, target, ip, user_agent, details",
                )
                .bind(i64::from(max))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
                if rows.is_empty() {
                    return Ok(0);
                }
                let mut queued = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: i64 = r.try_get("id").map_err(map_err)?;
                    queued.push((
                        id,
                        audit_chain::PendingAudit {
                            time: r.try_get("time").map_err(map_err)?,
                            action: r.try_get("action").map_err(map_err)?,
                            outcome: r.try_get("outcome").map_err(map_err)?,
                            actor: r.try_get("actor").map_err(map_err)?,
                            target: r.try_get("target").map_err(map_err)?,
                            ip: r.try_get("ip").map_err(map_err)?,
                            user_agent: r.try_get("user_agent").map_err(map_err)?,
                            details: r.try_get("details").map_err(map_err)?,
                        },
                    ));
                }
                queued.sort_unstable_by_key(|(id, _)| *id);
                let mut records = Vec::with_capacity(queued.len());
                for (_, p) in queued {
                    seq += 1;
                    let salt: [u8; 32] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
                    let r = p.seal(seq, &prev, &salt);
                    prev = audit_chain::decode_hash(&r.hash).ok_or_else(|| corrupt("sealed hash"))?;
                    records.push(r);
                }
                const COLS: usize = 14;
                for chunk in records.chunks(400) {
                    let mut sql = String::from(
                        "INSERT INTO audit_events (seq, time, action, outcome, actor, target, ip, user_agent, details, prev_hash, hash,
                                                   version, pii_salt, pii_commitment) VALUES ",
                    );
                    sql.push_str(&values_rows(chunk.len(), COLS));
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q
                            .bind(r.seq)
                            .bind(r.time)
                            .bind(&r.action)
                            .bind(&r.outcome)
                            .bind(&r.actor)
                            .bind(&r.target)
                            .bind(&r.ip)
                            .bind(&r.user_agent)
                            .bind(&r.details)
                            .bind(&r.prev_hash)
                            .bind(&r.hash)
                            .bind(r.version)
                            .bind(&r.pii_salt)
                            .bind(&r.pii_commitment);
                    }
                    q.execute(&mut *tx).await.map_err(map_err)?;
                }
                sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                    .bind(seq)
                    .bind(hex::encode(prev))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(u64::try_from(records.len()).unwrap_or(0))
            }

            async fn audit_head(&self) -> StoreResult<(i64, String)> {
                sequence_all(self).await?;
                let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok((r.try_get("seq").map_err(map_err)?, r.try_get("hash").map_err(map_err)?))
            }

            async fn audit_page(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                sequence_all(self).await?;
                let rows = sqlx::query(
                    "SELECT seq, time, action, outcome, actor, target, ip, user_agent, details, prev_hash, hash,
                            version, pii_salt, pii_commitment, redacted_at
                     FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_about(&self, subject: &str, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                sequence_all(self).await?;
                let rows = sqlx::query(
                    "SELECT seq, time, action, outcome, actor, target, ip, user_agent, details, prev_hash, hash,
                            version, pii_salt, pii_commitment, redacted_at
                     FROM audit_events WHERE actor = $1 OR target = $1 ORDER BY seq LIMIT $2",
                )
                .bind(subject)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_tree_size(&self) -> StoreResult<u64> {
                let n: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) + 1 FROM audit_tree WHERE level = 0")
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
            }

            async fn audit_tree_nodes(&self, keys: &[(u32, u64)]) -> StoreResult<Vec<(u32, u64, String)>> {
                // One round trip per 100 nodes (a proof needs a few dozen).
                let mut out = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(100) {
                    let mut sql = String::from("SELECT level, idx, hash FROM audit_tree WHERE ");
                    let mut binds = Vec::with_capacity(chunk.len());
                    for &(level, idx) in chunk {
                        let Ok(i) = i64::try_from(idx) else { continue };
                        if !binds.is_empty() {
                            sql.push_str(" OR ");
                        }
                        let n = binds.len() * 2;
                        sql.push_str(&format!("(level = {} AND idx = {})", hooks::param(n + 1), hooks::param(n + 2)));
                        binds.push((i64::from(level), i));
                    }
                    if binds.is_empty() {
                        continue;
                    }
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (level, idx) in binds {
                        q = q.bind(level).bind(idx);
                    }
                    for r in q.fetch_all(self.read_pool()).await.map_err(map_err)? {
                        let level: i64 = r.try_get("level").map_err(map_err)?;
                        let idx: i64 = r.try_get("idx").map_err(map_err)?;
                        out.push((
                            u32::try_from(level).map_err(|_| corrupt("tree level"))?,
                            u64::try_from(idx).map_err(|_| corrupt("negative tree index"))?,
                            r.try_get("hash").map_err(map_err)?,
                        ));
                    }
                }
                Ok(out)
            }

            async fn audit_tree_level(&self, level: u32, from: u64, limit: u32) -> StoreResult<Vec<(u64, String)>> {
                let rows = sqlx::query("SELECT idx, hash FROM audit_tree WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                    .bind(i64::from(level))
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        let idx: i64 = r.try_get("idx").map_err(map_err)?;
                        Ok((u64::try_from(idx).map_err(|_| corrupt("negative tree index"))?, r.try_get("hash").map_err(map_err)?))
                    })
                    .collect()
            }

            async fn append_audit_tree(&self, nodes: &[(u32, u64, String)]) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                for chunk in nodes.chunks(500) {
                    let mut sql = String::from("INSERT INTO audit_tree (level, idx, hash) VALUES ");
                    sql.push_str(&values_rows(chunk.len(), 3));
                    sql.push_str(" ON CONFLICT (level, idx) DO NOTHING");
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (level, idx, hash) in chunk {
                        q = q
                            .bind(i64::from(*level))
                            .bind(i64::try_from(*idx).map_err(|_| corrupt("tree index overflow"))?)
                            .bind(hash.as_str());
                    }
                    q.execute(&mut *tx).await.map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn api_key_usage(&self, key_id: &str, route: &str, period: &str) -> StoreResult<u64> {
                let n: Option<i64> = sqlx::query_scalar(
                    "SELECT count FROM api_key_usage WHERE key_id = $1 AND route = $2 AND period = $3",
                )
                .bind(key_id)
                .bind(route)
                .bind(period)
                .fetch_optional(self.read_pool())
                .await
                .map_err(map_err)?;
                Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
            }

            async fn add_api_key_usage(&self, rows: &[(String, String, String, u64)]) -> StoreResult<Vec<u64>> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
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

            async fn insert_checkpoint(&self, cp: &CheckpointRecord) -> StoreResult<bool> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                let r = sqlx::query(
                    "INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tree_size) DO NOTHING",
                )
                .bind(i64::try_from(cp.tree_size).map_err(|_| corrupt("tree size overflow"))?)
                .bind(&cp.root_hash)
                .bind(&cp.note)
                .bind(cp.created_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn checkpoints(&self, after: u64, limit: u32) -> StoreResult<Vec<CheckpointRecord>> {
                let rows = sqlx::query(
                    "SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2",
                )
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(checkpoint_from_row).collect()
            }

            async fn latest_checkpoint(&self) -> StoreResult<Option<CheckpointRecord>> {
                let row = sqlx::query(
                    "SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(self.read_pool())
                .await
                .map_err(map_err)?;
                row.as_ref().map(checkpoint_from_row).transpose()
            }

            async fn sink_lease(&self, name: &str, owner: &str, now: UnixTime, ttl: i64) -> StoreResult<Option<i64>> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO audit_sink_cursors (name, last_seq, lease_owner, lease_until, delivered, failures, dead_letters, updated_at)
                     VALUES ($1, 0, NULL, 0, 0, 0, 0, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let r = sqlx::query(
                    "UPDATE audit_sink_cursors SET lease_owner = $1, lease_until = $2
                     WHERE name = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
                )
                .bind(owner)
                .bind(now + ttl)
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let seq: Option<i64> = if r.rows_affected() == 1 {
                    sqlx::query_scalar("SELECT last_seq FROM audit_sink_cursors WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?
                } else {
                    None
                };
                tx.commit().await.map_err(map_err)?;
                Ok(seq)
            }

            async fn advance_sink(&self, name: &str, owner: &str, seq: i64, delivered: i64, now: UnixTime) -> StoreResult<bool> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                let r = sqlx::query(
                    "UPDATE audit_sink_cursors SET last_seq = $1, delivered = delivered + $2, updated_at = $3
                     WHERE name = $4 AND lease_owner = $5 AND last_seq < $1",
                )
                .bind(seq)
                .bind(delivered)
                .bind(now)
                .bind(name)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn release_sink(&self, name: &str, owner: &str) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE audit_sink_cursors SET lease_owner = NULL, lease_until = 0 WHERE name = $1 AND lease_owner = $2")
                    .bind(name)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn sink_failed(&self, name: &str) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE audit_sink_cursors SET failures = failures + 1 WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn dead_letter(&self, name: &str, seq: i64, error: &str, now: UnixTime) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                let r = sqlx::query(
                    "INSERT INTO audit_sink_dead_letters (sink, seq, error, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (sink, seq) DO NOTHING",
                )
                .bind(name)
                .bind(seq)
                .bind(error)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if r.rows_affected() == 1 {
                    sqlx::query("UPDATE audit_sink_cursors SET dead_letters = dead_letters + 1 WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn sink_states(&self) -> StoreResult<Vec<SinkState>> {
                let rows = sqlx::query(
                    "SELECT name, last_seq, delivered, failures, dead_letters FROM audit_sink_cursors ORDER BY name",
                )
                .fetch_all(self.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(SinkState {
                            name: r.try_get("name").map_err(map_err)?,
                            last_seq: r.try_get("last_seq").map_err(map_err)?,
                            delivered: r.try_get("delivered").map_err(map_err)?,
                            failures: r.try_get("failures").map_err(map_err)?,
                            dead_letters: r.try_get("dead_letters").map_err(map_err)?,
                        })
                    })
                    .collect()
            }

            async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE prefix = $1"));
                let row = sqlx::query(sql).bind(prefix).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn api_keys_of(&self, owner_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE owner_id = $1 ORDER BY created_at, id"));
                let rows = sqlx::query(sql).bind(owner_id).fetch_all(self.read_pool()).await.map_err(map_err)?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn list_api_keys(&self, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2"));
                let rows = sqlx::query(sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn touch_api_key(&self, id: &str, now: UnixTime, ip: Option<&str>) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE api_keys SET last_used_at = $1, last_used_ip = COALESCE($2, last_used_ip) WHERE id = $3")
                    .bind(now)
                    .bind(ip)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn use_nonce(&self, key_id: &str, nonce: &str, expires_at: UnixTime, now: UnixTime) -> StoreResult<bool> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
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

            async fn service_identity(&self, spiffe_id: &str) -> StoreResult<Option<(String, Vec<String>)>> {
                let row = sqlx::query("SELECT user_id, scopes FROM service_identities WHERE spiffe_id = $1")
                    .bind(spiffe_id)
                    .fetch_optional(self.read_pool())
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

            async fn internal_ca(&self) -> StoreResult<Option<(String, Vec<u8>)>> {
                let row = sqlx::query("SELECT cert_pem, sealed_key FROM internal_ca WHERE id = 1")
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                row.map(|r| Ok((r.try_get("cert_pem").map_err(map_err)?, r.try_get("sealed_key").map_err(map_err)?)))
                    .transpose()
            }

            fn install_field_keys(&self, keys: std::sync::Arc<FieldKeys>) {
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Some(keys);
                }
            }

            async fn kek_status(&self) -> StoreResult<portcullis_core::store::KekStatus> {
                let rows = sqlx::query("SELECT version, created_at, retired_at FROM keks ORDER BY version")
                    .fetch_all(self.read_pool())
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
                    let n = q.fetch_one(self.read_pool()).await.map_err(map_err)?;
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

            async fn rewrap_deks(&self, batch: u32) -> StoreResult<u64> {
                let keys = self.keys().ok_or_else(no_keys)?;
                let mut tx = self.begin_tx().await.map_err(map_err)?;
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

            async fn encrypt_legacy_users(&self, batch: u32) -> StoreResult<u64> {
                let keys = self.keys().ok_or_else(no_keys)?;
                let mut tx = self.begin_tx().await.map_err(map_err)?;
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

            async fn key_meta(&self, name: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT value FROM key_meta WHERE name = $1")
                    .bind(name)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                row.map(|r| r.try_get("value").map_err(map_err)).transpose()
            }

            async fn active_bans(&self, now: UnixTime) -> StoreResult<Vec<Ban>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {BAN_COLS} FROM bans WHERE lifted_at IS NULL AND expires_at > $1 ORDER BY id"
                ));
                let rows = sqlx::query(sql).bind(now).fetch_all(self.read_pool()).await.map_err(map_err)?;
                rows.iter().map(ban_from_row).collect()
            }

            async fn list_bans(&self, all: bool, now: UnixTime, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<Ban>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {BAN_COLS} FROM bans WHERE id > $1 AND ($2 OR (lifted_at IS NULL AND expires_at > $3))
                     ORDER BY id LIMIT $4"
                ));
                let rows = sqlx::query(sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(all)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(ban_from_row).collect()
            }

            async fn login_events_of(&self, user_id: &str, successes: bool, limit: u32) -> StoreResult<Vec<LoginEvent>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {LOGIN_EVENT_COLS} FROM login_events WHERE user_id = $1 AND (NOT $2 OR outcome = 'success')
                     ORDER BY time DESC, id DESC LIMIT $3"
                ));
                let rows = sqlx::query(sql)
                    .bind(user_id)
                    .bind(successes)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(login_event_from_row).collect()
            }

            async fn login_failures_since(&self, since: UnixTime) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_events WHERE time >= $1 AND outcome = 'failure'")
                    .bind(since)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn failed_accounts_from(&self, ip: &str, net: bool, since: UnixTime) -> StoreResult<u64> {
                let sql = if net {
                    "SELECT COUNT(DISTINCT account_key) FROM login_events WHERE net = $1 AND time >= $2 AND outcome = 'failure'"
                } else {
                    "SELECT COUNT(DISTINCT account_key) FROM login_events WHERE ip = $1 AND time >= $2 AND outcome = 'failure'"
                };
                let n: i64 = sqlx::query_scalar(sql).bind(ip).bind(since).fetch_one(self.read_pool()).await.map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn known_devices(&self, user_id: &str, devices: &[String]) -> StoreResult<Vec<String>> {
                let mut out = Vec::new();
                for d in devices {
                    let hit = sqlx::query("SELECT 1 AS one FROM known_devices WHERE user_id = $1 AND device = $2")
                        .bind(user_id)
                        .bind(d)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(map_err)?;
                    if hit.is_some() {
                        out.push(d.clone());
                    }
                }
                Ok(out)
            }

            async fn risk_flag(&self, user_id: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar("SELECT flag FROM risk_flags WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)
            }

            async fn purge_expired(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
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

            async fn revocation_feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>> {
                self.feed().await
            }

            async fn alerts(&self, before_id: Option<&str>, limit: u32) -> StoreResult<Vec<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
                ));
                let rows = sqlx::query(sql)
                    .bind(before_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(alert_from_row).collect()
            }

            async fn alert(&self, id: &str) -> StoreResult<Option<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(alert_from_row).transpose()
            }

            async fn open_alert(&self, rule: &str, group_key: &str, since: UnixTime) -> StoreResult<Option<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {ALERT_COLS} FROM alerts
                     WHERE rule = $1 AND group_key = $2 AND status = 'open' AND last_at >= $3
                     ORDER BY id DESC LIMIT 1"
                ));
                let row = sqlx::query(sql)
                    .bind(rule)
                    .bind(group_key)
                    .bind(since)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(alert_from_row).transpose()
            }

            async fn bump_alert(&self, id: &str, last_at: UnixTime) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query(
                    "UPDATE alerts SET count = count + 1,
                        last_at = CASE WHEN last_at < $1 THEN $1 ELSE last_at END
                     WHERE id = $2",
                )
                .bind(last_at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn complete_alert(&self, id: &str, actions: &str, sinks: &[String], now: UnixTime) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE alerts SET actions = $1 WHERE id = $2")
                    .bind(actions)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for sink in sinks {
                    sqlx::query(
                        "INSERT INTO alert_deliveries (alert_id, sink, status, attempts, last_error, created_at, updated_at, delivered_at)
                         VALUES ($1, $2, 'pending', 0, NULL, $3, $3, NULL)
                         ON CONFLICT (alert_id, sink) DO NOTHING",
                    )
                    .bind(id)
                    .bind(sink)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn alert_deliveries(&self, alert_id: &str) -> StoreResult<Vec<AlertDelivery>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE alert_id = $1 ORDER BY sink"
                ));
                let rows = sqlx::query(sql).bind(alert_id).fetch_all(self.read_pool()).await.map_err(map_err)?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn pending_alert_deliveries(&self, sink: &str, limit: u32) -> StoreResult<Vec<AlertDelivery>> {
                // In the order the alerts were raised (ids are time-ordered only to the second).
                let rows = sqlx::query(
                    "SELECT d.alert_id, d.sink, d.status, d.attempts, d.last_error, d.created_at, d.delivered_at
                     FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
                     WHERE d.sink = $1 AND d.status = 'pending'
                     ORDER BY a.event_seq, a.id LIMIT $2",
                )
                    .bind(sink)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn update_alert_delivery(
                &self,
                alert_id: &str,
                sink: &str,
                status: &str,
                attempts: i64,
                error: Option<&str>,
                now: UnixTime,
            ) -> StoreResult<()> {
                let mut tx = self.begin_tx().await.map_err(map_err)?;
                sqlx::query(
                    "UPDATE alert_deliveries SET status = $1, attempts = $2, last_error = $3, updated_at = $4,
                        delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END
                     WHERE alert_id = $5 AND sink = $6",
                )
                .bind(status)
                .bind(attempts)
                .bind(error)
                .bind(now)
                .bind(alert_id)
                .bind(sink)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn alerts_delivered_since(&self, sink: &str, since: UnixTime) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM alert_deliveries WHERE sink = $1 AND status = 'delivered' AND delivered_at >= $2",
                )
                .bind(sink)
                .bind(since)
                .fetch_one(self.read_pool())
                .await
                .map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
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
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
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
                sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
                    .bind(now)
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn revoke_session(&mut self, id: &str, reason: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(reason)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                let revoked = r.rows_affected() == 1;
                if revoked {
                    hooks::notify_revoked(&mut self.tx, id).await?;
                }
                Ok(revoked)
            }

            async fn insert_refresh_token(&mut self, t: &RefreshToken) -> StoreResult<()> {
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
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
                let row = sqlx::query(
                    "SELECT id, session_id, token_hash, created_at, expires_at, rotated_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *self.tx)
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

            async fn mark_rotated(&mut self, token_id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE refresh_tokens SET rotated_at = $1 WHERE id = $2 AND rotated_at IS NULL")
                    .bind(now)
                    .bind(token_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_signing_key(&mut self, k: &SigningKeyRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, public_key, sealed_private_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&k.kid)
                .bind(k.public_key.to_vec())
                .bind(&k.sealed_private_key)
                .bind(k.created_at)
                .bind(k.activates_at)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn bump_throttle(&mut self, key: &str, now: UnixTime, window: i64) -> StoreResult<ThrottleState> {
                let row = sqlx::query(
                    "INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) VALUES ($1, 1, $2, 0)
                     ON CONFLICT (key) DO UPDATE SET
                        failures = CASE WHEN excluded.last_failure_at - login_throttle.last_failure_at < $3
                                        THEN login_throttle.failures + 1 ELSE 1 END,
                        last_failure_at = excluded.last_failure_at
                     RETURNING key, failures, last_failure_at, blocked_until",
                )
                .bind(key)
                .bind(now)
                .bind(window)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(map_err)?;
                throttle_from_row(&row)
            }

            async fn set_throttle_block(&mut self, key: &str, blocked_until: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE login_throttle SET blocked_until = $1 WHERE key = $2")
                    .bind(blocked_until)
                    .bind(key)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn clear_throttle(&mut self, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM login_throttle WHERE key = $1")
                    .bind(key)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn mfa_state(&mut self, user_id: &str) -> StoreResult<MfaState> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(user_id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                let Some(r) = row else { return Ok(MfaState::default()) };
                let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                let recovery_codes: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&mut *self.tx)
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

            async fn set_totp_pending(&mut self, user_id: &str, sealed: Option<&[u8]>, now: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE users SET totp_pending = $1, updated_at = $2 WHERE id = $3")
                    .bind(sealed.map(<[u8]>::to_vec))
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn enable_totp(&mut self, user_id: &str, step: i64, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1,
                        mfa_enabled = $2, updated_at = $3 WHERE id = $4 AND totp_pending IS NOT NULL",
                )
                .bind(step)
                .bind(true)
                .bind(now)
                .bind(user_id)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn disable_totp(&mut self, user_id: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL,
                        updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(user_id)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn sync_mfa_enabled(&mut self, user_id: &str, now: UnixTime) -> StoreResult<bool> {
                sqlx::query(
                    "UPDATE users SET updated_at = $1, mfa_enabled =
                        (totp_secret IS NOT NULL OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = users.id))
                     WHERE id = $2",
                )
                .bind(now)
                .bind(user_id)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                let enabled: bool = sqlx::query_scalar("SELECT mfa_enabled FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(map_err)?
                    .unwrap_or(false);
                if !enabled {
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(enabled)
            }

            async fn insert_passkey(&mut self, p: &PasskeyRecord) -> StoreResult<()> {
                let keys = self.keys();
                let sealed = seal_credential(&mut self.tx, keys.as_deref(), &p.user_id, &p.id, &p.credential).await?;
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
                .execute(&mut *self.tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("credential"),
                    other => other,
                })?;
                Ok(())
            }

            async fn passkeys(&mut self, user_id: &str) -> StoreResult<Vec<PasskeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {PASSKEY_COLS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
                ));
                let rows = sqlx::query(sql).bind(user_id).fetch_all(&mut *self.tx).await.map_err(map_err)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let keys = self.keys();
                let dek = passkey_dek(&mut self.tx, keys.as_deref(), user_id).await?;
                rows.iter().map(|r| passkey_from_row(r, Some(&dek))).collect()
            }

            async fn passkey_by_credential(&mut self, credential_id: &str) -> StoreResult<Option<PasskeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {PASSKEY_COLS} FROM passkeys WHERE credential_id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(credential_id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let user_id: String = row.try_get("user_id").map_err(map_err)?;
                let keys = self.keys();
                let dek = passkey_dek(&mut self.tx, keys.as_deref(), &user_id).await?;
                passkey_from_row(&row, Some(&dek)).map(Some)
            }

            async fn update_passkey(&mut self, id: &str, credential: &str, now: UnixTime) -> StoreResult<()> {
                let user_id: String = sqlx::query_scalar("SELECT user_id FROM passkeys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                let keys = self.keys();
                let sealed = seal_credential(&mut self.tx, keys.as_deref(), &user_id, id, credential).await?;
                sqlx::query("UPDATE passkeys SET credential = '', credential_enc = $1, last_used_at = $2 WHERE id = $3")
                    .bind(sealed)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
                let r = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_passkeys(&mut self, user_id: &str) -> StoreResult<u64> {
                let r = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected())
            }

            async fn insert_ceremony(&mut self, c: &WebauthnCeremony) -> StoreResult<()> {
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
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn take_ceremony(&mut self, id: &str) -> StoreResult<Option<WebauthnCeremony>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT id, kind, user_id, binding, state, created_at, expires_at FROM webauthn_ceremonies WHERE id = $1{}",
                    hooks::FOR_UPDATE
                ));
                let Some(r) = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)? else {
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
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok((gone.rows_affected() == 1).then_some(c))
            }

            async fn advance_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(user_id)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[String], now: UnixTime) -> StoreResult<()> {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                for h in hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                        .bind(user_id)
                        .bind(h)
                        .bind(now)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(())
            }

            async fn use_recovery_code(&mut self, user_id: &str, hash: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(now)
                .bind(user_id)
                .bind(hash)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_mfa_challenge(&mut self, c: &MfaChallenge) -> StoreResult<()> {
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
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn mfa_challenge(&mut self, token_hash: &str) -> StoreResult<Option<MfaChallenge>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT token_hash, user_id, created_at, expires_at, attempts, used_at FROM mfa_challenges WHERE token_hash = $1{}",
                    hooks::FOR_UPDATE
                ));
                let row = sqlx::query(sql).bind(token_hash).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
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

            async fn bump_mfa_attempts(&mut self, token_hash: &str) -> StoreResult<()> {
                sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn use_mfa_challenge(&mut self, token_hash: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_session_auth(&mut self, session_id: &str, amr: &[String], auth_time: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET amr = $1, auth_time = $2 WHERE id = $3")
                    .bind(amr_json(amr))
                    .bind(auth_time)
                    .bind(session_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_api_key(&mut self, k: &ApiKeyRecord) -> StoreResult<()> {
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
                .execute(&mut *self.tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("prefix"),
                    other => other,
                })?;
                Ok(())
            }

            async fn lock_api_key(&mut self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1{}", hooks::FOR_UPDATE));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn revoke_api_key(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn limit_api_key(&mut self, id: &str, expires_at: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2 AND (expires_at IS NULL OR expires_at > $1)")
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_ban(&mut self, b: &Ban) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO bans (id, cidr, reason, source, created_at, expires_at, lifted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&b.id)
                .bind(b.cidr.to_string())
                .bind(&b.reason)
                .bind(&b.source)
                .bind(b.created_at)
                .bind(b.expires_at)
                .bind(b.lifted_at)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn lift_ban(&mut self, id: &str, by: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE bans SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL AND expires_at > $1")
                    .bind(now)
                    .bind(by)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_login_event(&mut self, e: &LoginEvent) -> StoreResult<()> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO login_events ({LOGIN_EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ));
                sqlx::query(sql)
                    .bind(&e.id)
                    .bind(&e.user_id)
                    .bind(&e.account_key)
                    .bind(&e.ip)
                    .bind(&e.net)
                    .bind(e.time)
                    .bind(&e.outcome)
                    .bind(&e.device)
                    .bind(i64::from(e.new_device))
                    .bind(&e.geo.country)
                    .bind(&e.geo.city)
                    .bind(e.geo.latitude)
                    .bind(e.geo.longitude)
                    .bind(e.geo.asn.map(i64::from))
                    .bind(i64::from(e.risk))
                    .bind(serde_json::to_string(&e.reasons).unwrap_or_else(|_| "[]".into()))
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn remember_device(&mut self, user_id: &str, device: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "INSERT INTO known_devices (user_id, device, first_seen, last_seen) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (user_id, device) DO NOTHING",
                )
                .bind(user_id)
                .bind(device)
                .bind(now)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                if r.rows_affected() == 1 {
                    return Ok(true);
                }
                sqlx::query("UPDATE known_devices SET last_seen = $3 WHERE user_id = $1 AND device = $2")
                    .bind(user_id)
                    .bind(device)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(false)
            }

            async fn set_risk_flag(&mut self, user_id: &str, flag: &str, source: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO risk_flags (user_id, flag, source, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id) DO UPDATE SET flag = excluded.flag, source = excluded.source, created_at = excluded.created_at",
                )
                .bind(user_id)
                .bind(flag)
                .bind(source)
                .bind(now)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn clear_risk_flag(&mut self, user_id: &str) -> StoreResult<bool> {
                let r = sqlx::query("DELETE FROM risk_flags WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn insert_service_identity(&mut self, spiffe_id: &str, user_id: &str, scopes: &[String], now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO service_identities (spiffe_id, user_id, scopes, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(spiffe_id)
                    .bind(user_id)
                    .bind(serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into()))
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("spiffe_id"),
                        other => other,
                    })?;
                Ok(())
            }

            async fn erase_user(&mut self, user_id: &str, pseudonym: &str, now: UnixTime) -> StoreResult<bool> {
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
                    sqlx::query(sql).bind(user_id).execute(&mut *self.tx).await.map_err(map_err)?;
                }
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2), name = 'erased', last_used_ip = NULL,
                            signing_secret = NULL, public_key = NULL
                     WHERE owner_id = $1",
                )
                .bind(user_id)
                .bind(now)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                // Crypto-shredding: without its DEK, no copy of the sealed fields opens again.
                sqlx::query("UPDATE deks SET wrapped = NULL, destroyed_at = $2 WHERE subject = $1")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                if let Some(k) = self.keys() {
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
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn add_kek(&mut self, now: UnixTime) -> StoreResult<u32> {
                let keys = self.keys().ok_or_else(no_keys)?;
                current_kek(&mut self.tx, &keys, now).await?;
                let max: i64 = sqlx::query_scalar("SELECT MAX(version) FROM keks")
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                let v = version_of(max)?.saturating_add(1);
                sqlx::query("INSERT INTO keks (version, sealed, created_at) VALUES ($1, $2, $3)")
                    .bind(i64::from(v))
                    .bind(keys.new_kek(v, &portcullis_core::rand::OsRng))
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("kek"),
                        other => other,
                    })?;
                Ok(v)
            }

            async fn ensure_kek(&mut self, now: UnixTime) -> StoreResult<()> {
                let keys = self.keys().ok_or_else(no_keys)?;
                current_kek(&mut self.tx, &keys, now).await.map(|_| ())
            }

            async fn retire_keks(&mut self, now: UnixTime) -> StoreResult<Vec<u32>> {
                let rows: Vec<i64> = sqlx::query_scalar(
                    "SELECT version FROM keks WHERE sealed IS NOT NULL
                       AND version < (SELECT MAX(version) FROM keks)
                       AND NOT EXISTS (SELECT 1 FROM deks WHERE deks.kek_version = keks.version AND deks.wrapped IS NOT NULL)",
                )
                .fetch_all(&mut *self.tx)
                .await
                .map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for v in rows {
                    sqlx::query("UPDATE keks SET sealed = NULL, retired_at = $1 WHERE version = $2")
                        .bind(now)
                        .bind(v)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    out.push(version_of(v)?);
                }
                Ok(out)
            }

            async fn insert_key_meta(&mut self, name: &str, value: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO key_meta (name, value, created_at) VALUES ($1, $2, $3)")
                    .bind(name)
                    .bind(value)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("key_meta"),
                        other => other,
                    })?;
                Ok(())
            }

            async fn insert_internal_ca(&mut self, cert_pem: &str, sealed_key: &[u8], now: UnixTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO internal_ca (id, cert_pem, sealed_key, created_at) VALUES (1, $1, $2, $3)")
                    .bind(cert_pem)
                    .bind(sealed_key)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("internal_ca"),
                        other => other,
                    })?;
                Ok(())
            }

            async fn redact_audit_subject(&mut self, subject: &str, now: UnixTime) -> StoreResult<u64> {
                let r = sqlx::query(
                    "UPDATE audit_events SET actor = NULL, target = NULL, ip = NULL, user_agent = NULL, details = '{}',
                        pii_salt = NULL, redacted_at = $1
                     WHERE version = 2 AND redacted_at IS NULL
                       AND (actor = $2 OR target = $2 OR details LIKE '%' || $2 || '%')",
                )
                .bind(now)
                .bind(subject)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected())
            }

            async fn insert_alert(&mut self, a: &AlertRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO alerts (id, rule, severity, group_key, first_at, last_at, count, status, dry_run, actions, details, resolved_at, event_seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&a.id)
                .bind(&a.rule)
                .bind(&a.severity)
                .bind(&a.group_key)
                .bind(a.first_at)
                .bind(a.last_at)
                .bind(a.count)
                .bind(&a.status)
                .bind(a.dry_run)
                .bind(&a.actions)
                .bind(&a.details)
                .bind(a.resolved_at)
                .bind(a.event_seq)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn resolve_alert(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 AND status = 'open'")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn redact_alerts_subject(&mut self, subject: &str) -> StoreResult<u64> {
                let r = sqlx::query(
                    "UPDATE alerts SET group_key = '', details = '{\"redacted\":true}', actions = '[]'
                     WHERE group_key = $1 OR details LIKE '%' || $1 || '%'",
                )
                .bind(subject)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected())
            }

            async fn append_audit(&mut self, event: &NewAuditEvent) -> StoreResult<()> {
                let p = audit_chain::PendingAudit::from(event);
                sqlx::query(
                    "INSERT INTO audit_pending (time, action, outcome, actor, target, ip, user_agent, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(p.time)
                .bind(&p.action)
                .bind(&p.outcome)
                .bind(&p.actor)
                .bind(&p.target)
                .bind(&p.ip)
                .bind(&p.user_agent)
                .bind(&p.details)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
                self.audited = true;
                Ok(())
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
