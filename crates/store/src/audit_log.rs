//! SQL of the audit log's storage: sequencing queued events into the hash chain, reading it, the Merkle tree's nodes, signed checkpoints and the SIEM sinks' leases and positions. Stamped out per backend by [`audit_log_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `audit_log_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! audit_log_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod audit_log_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn sequence_audit(store: &$Store, max: u32) -> StoreResult<u64> {
                // Looked at through a reader first: an empty queue costs no write lock.
                // By the primary key: a queue table is full of recently deleted rows that an
                // index scan skips and a sequential scan would wade through.
                let queued: Option<i64> = sqlx::query_scalar("SELECT id FROM audit_pending ORDER BY id LIMIT 1")
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)?;
                if queued.is_none() {
                    return Ok(0);
                }
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn audit_head(store: &$Store) -> StoreResult<(i64, String)> {
                sequence_all(store).await?;
                let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(store.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok((r.try_get("seq").map_err(map_err)?, r.try_get("hash").map_err(map_err)?))
            }

            pub(super) async fn audit_page(store: &$Store, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                sequence_all(store).await?;
                let rows = sqlx::query(
                    "SELECT seq, time, action, outcome, actor, target, ip, user_agent, details, prev_hash, hash,
                            version, pii_salt, pii_commitment, redacted_at
                     FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(store.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(audit_from_row).collect()
            }

            pub(super) async fn audit_about(store: &$Store, subject: &str, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                sequence_all(store).await?;
                let rows = sqlx::query(
                    "SELECT seq, time, action, outcome, actor, target, ip, user_agent, details, prev_hash, hash,
                            version, pii_salt, pii_commitment, redacted_at
                     FROM audit_events WHERE actor = $1 OR target = $1 ORDER BY seq LIMIT $2",
                )
                .bind(subject)
                .bind(i64::from(limit))
                .fetch_all(store.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(audit_from_row).collect()
            }

            pub(super) async fn audit_tree_size(store: &$Store) -> StoreResult<u64> {
                let n: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) + 1 FROM audit_tree WHERE level = 0")
                    .fetch_one(store.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
            }

            pub(super) async fn audit_tree_nodes(store: &$Store, keys: &[(u32, u64)]) -> StoreResult<Vec<(u32, u64, String)>> {
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
                    for r in q.fetch_all(store.read_pool()).await.map_err(map_err)? {
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

            pub(super) async fn audit_tree_level(store: &$Store, level: u32, from: u64, limit: u32) -> StoreResult<Vec<(u64, String)>> {
                let rows = sqlx::query("SELECT idx, hash FROM audit_tree WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                    .bind(i64::from(level))
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        let idx: i64 = r.try_get("idx").map_err(map_err)?;
                        Ok((u64::try_from(idx).map_err(|_| corrupt("negative tree index"))?, r.try_get("hash").map_err(map_err)?))
                    })
                    .collect()
            }

            pub(super) async fn append_audit_tree(store: &$Store, nodes: &[(u32, u64, String)]) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn insert_checkpoint(store: &$Store, cp: &CheckpointRecord) -> StoreResult<bool> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn checkpoints(store: &$Store, after: u64, limit: u32) -> StoreResult<Vec<CheckpointRecord>> {
                let rows = sqlx::query(
                    "SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2",
                )
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(store.read_pool())
                .await
                .map_err(map_err)?;
                rows.iter().map(checkpoint_from_row).collect()
            }

            pub(super) async fn latest_checkpoint(store: &$Store) -> StoreResult<Option<CheckpointRecord>> {
                let row = sqlx::query(
                    "SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(store.read_pool())
                .await
                .map_err(map_err)?;
                row.as_ref().map(checkpoint_from_row).transpose()
            }

            pub(super) async fn sink_lease(store: &$Store, name: &str, owner: &str, now: UnixTime, ttl: i64) -> StoreResult<Option<i64>> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn advance_sink(store: &$Store, name: &str, owner: &str, seq: i64, delivered: i64, now: UnixTime) -> StoreResult<bool> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn release_sink(store: &$Store, name: &str, owner: &str) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE audit_sink_cursors SET lease_owner = NULL, lease_until = 0 WHERE name = $1 AND lease_owner = $2")
                    .bind(name)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            pub(super) async fn sink_failed(store: &$Store, name: &str) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
                sqlx::query("UPDATE audit_sink_cursors SET failures = failures + 1 WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            pub(super) async fn dead_letter(store: &$Store, name: &str, seq: i64, error: &str, now: UnixTime) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn sink_states(store: &$Store) -> StoreResult<Vec<SinkState>> {
                let rows = sqlx::query(
                    "SELECT name, last_seq, delivered, failures, dead_letters FROM audit_sink_cursors ORDER BY name",
                )
                .fetch_all(store.read_pool())
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

            pub(super) async fn redact_audit_subject(tx: &mut $Tx, subject: &str, now: UnixTime) -> StoreResult<u64> {
                let r = sqlx::query(
                    "UPDATE audit_events SET actor = NULL, target = NULL, ip = NULL, user_agent = NULL, details = '{}',
                        pii_salt = NULL, redacted_at = $1
                     WHERE version = 2 AND redacted_at IS NULL
                       AND (actor = $2 OR target = $2 OR details LIKE '%' || $2 || '%')",
                )
                .bind(now)
                .bind(subject)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected())
            }

            pub(super) async fn append_audit(tx: &mut $Tx, event: &NewAuditEvent) -> StoreResult<()> {
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
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                tx.audited = true;
                Ok(())
            }
        }
    };
}
pub(crate) use audit_log_backend;
