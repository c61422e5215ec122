//! SQL of what detection reads and writes: sign-in throttles, bans, sign-in events, known devices and risk flags. Stamped out per backend by [`signals_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `signals_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! signals_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod signals_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn throttle_states(store: &$Store, keys: &[String]) -> StoreResult<Vec<ThrottleState>> {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let row = sqlx::query("SELECT key, failures, last_failure_at, blocked_until FROM login_throttle WHERE key = $1")
                        .bind(key)
                        .fetch_optional(store.read_pool())
                        .await
                        .map_err(map_err)?;
                    if let Some(r) = row {
                        out.push(throttle_from_row(&r)?);
                    }
                }
                Ok(out)
            }

            pub(super) async fn active_bans(store: &$Store, now: UnixTime) -> StoreResult<Vec<Ban>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {BAN_COLS} FROM bans WHERE lifted_at IS NULL AND expires_at > $1 ORDER BY id"
                ));
                let rows = sqlx::query(sql).bind(now).fetch_all(store.read_pool()).await.map_err(map_err)?;
                rows.iter().map(ban_from_row).collect()
            }

            pub(super) async fn list_bans(store: &$Store, all: bool, now: UnixTime, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<Ban>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {BAN_COLS} FROM bans WHERE id > $1 AND ($2 OR (lifted_at IS NULL AND expires_at > $3))
                     ORDER BY id LIMIT $4"
                ));
                let rows = sqlx::query(sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(all)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(ban_from_row).collect()
            }

            pub(super) async fn login_events_of(store: &$Store, user_id: &str, successes: bool, limit: u32) -> StoreResult<Vec<LoginEvent>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {LOGIN_EVENT_COLS} FROM login_events WHERE user_id = $1 AND (NOT $2 OR outcome = 'success')
                     ORDER BY time DESC, id DESC LIMIT $3"
                ));
                let rows = sqlx::query(sql)
                    .bind(user_id)
                    .bind(successes)
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(login_event_from_row).collect()
            }

            pub(super) async fn login_failures_since(store: &$Store, since: UnixTime) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_events WHERE time >= $1 AND outcome = 'failure'")
                    .bind(since)
                    .fetch_one(store.read_pool())
                    .await
                    .map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            pub(super) async fn failed_accounts_from(store: &$Store, ip: &str, net: bool, since: UnixTime) -> StoreResult<u64> {
                let sql = if net {
                    "SELECT COUNT(DISTINCT account_key) FROM login_events WHERE net = $1 AND time >= $2 AND outcome = 'failure'"
                } else {
                    "SELECT COUNT(DISTINCT account_key) FROM login_events WHERE ip = $1 AND time >= $2 AND outcome = 'failure'"
                };
                let n: i64 = sqlx::query_scalar(sql).bind(ip).bind(since).fetch_one(store.read_pool()).await.map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            pub(super) async fn known_devices(store: &$Store, user_id: &str, devices: &[String]) -> StoreResult<Vec<String>> {
                let mut out = Vec::new();
                for d in devices {
                    let hit = sqlx::query("SELECT 1 AS one FROM known_devices WHERE user_id = $1 AND device = $2")
                        .bind(user_id)
                        .bind(d)
                        .fetch_optional(store.read_pool())
                        .await
                        .map_err(map_err)?;
                    if hit.is_some() {
                        out.push(d.clone());
                    }
                }
                Ok(out)
            }

            pub(super) async fn risk_flag(store: &$Store, user_id: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar("SELECT flag FROM risk_flags WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)
            }

            pub(super) async fn bump_throttle(tx: &mut $Tx, key: &str, now: UnixTime, window: i64) -> StoreResult<ThrottleState> {
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
                .fetch_one(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                throttle_from_row(&row)
            }

            pub(super) async fn set_throttle_block(tx: &mut $Tx, key: &str, blocked_until: UnixTime) -> StoreResult<()> {
                sqlx::query("UPDATE login_throttle SET blocked_until = $1 WHERE key = $2")
                    .bind(blocked_until)
                    .bind(key)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn clear_throttle(tx: &mut $Tx, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM login_throttle WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn insert_ban(tx: &mut $Tx, b: &Ban) -> StoreResult<()> {
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
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn lift_ban(tx: &mut $Tx, id: &str, by: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE bans SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL AND expires_at > $1")
                    .bind(now)
                    .bind(by)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn insert_login_event(tx: &mut $Tx, e: &LoginEvent) -> StoreResult<()> {
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
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn remember_device(tx: &mut $Tx, user_id: &str, device: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query(
                    "INSERT INTO known_devices (user_id, device, first_seen, last_seen) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (user_id, device) DO NOTHING",
                )
                .bind(user_id)
                .bind(device)
                .bind(now)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                if r.rows_affected() == 1 {
                    return Ok(true);
                }
                sqlx::query("UPDATE known_devices SET last_seen = $3 WHERE user_id = $1 AND device = $2")
                    .bind(user_id)
                    .bind(device)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(false)
            }

            pub(super) async fn set_risk_flag(tx: &mut $Tx, user_id: &str, flag: &str, source: &str, now: UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO risk_flags (user_id, flag, source, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id) DO UPDATE SET flag = excluded.flag, source = excluded.source, created_at = excluded.created_at",
                )
                .bind(user_id)
                .bind(flag)
                .bind(source)
                .bind(now)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn clear_risk_flag(tx: &mut $Tx, user_id: &str) -> StoreResult<bool> {
                let r = sqlx::query("DELETE FROM risk_flags WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use signals_backend;
