//! SQL of alerts and their deliveries. Stamped out per backend by [`alerts_backend!`]; the
//! backend's `Store` and `Tx` implementations (in [`crate::common`]) call these functions.

/// Defines the `alerts_sql` module of `$Store`'s and `$Tx`'s backend. Expects, in the invoking
/// module, what `sql_backend!` makes there.
macro_rules! alerts_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod alerts_sql {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            pub(super) async fn alerts(store: &$Store, before_id: Option<&str>, limit: u32) -> StoreResult<Vec<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
                ));
                let rows = sqlx::query(sql)
                    .bind(before_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(alert_from_row).collect()
            }

            pub(super) async fn alert(store: &$Store, id: &str) -> StoreResult<Option<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(store.read_pool()).await.map_err(map_err)?;
                row.as_ref().map(alert_from_row).transpose()
            }

            pub(super) async fn open_alert(store: &$Store, rule: &str, group_key: &str, since: UnixTime) -> StoreResult<Option<AlertRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {ALERT_COLS} FROM alerts
                     WHERE rule = $1 AND group_key = $2 AND status = 'open' AND last_at >= $3
                     ORDER BY id DESC LIMIT 1"
                ));
                let row = sqlx::query(sql)
                    .bind(rule)
                    .bind(group_key)
                    .bind(since)
                    .fetch_optional(store.read_pool())
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(alert_from_row).transpose()
            }

            pub(super) async fn bump_alert(store: &$Store, id: &str, last_at: UnixTime) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn complete_alert(store: &$Store, id: &str, actions: &str, sinks: &[String], now: UnixTime) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn alert_deliveries(store: &$Store, alert_id: &str) -> StoreResult<Vec<AlertDelivery>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE alert_id = $1 ORDER BY sink"
                ));
                let rows = sqlx::query(sql).bind(alert_id).fetch_all(store.read_pool()).await.map_err(map_err)?;
                rows.iter().map(delivery_from_row).collect()
            }

            pub(super) async fn pending_alert_deliveries(store: &$Store, sink: &str, limit: u32) -> StoreResult<Vec<AlertDelivery>> {
                // In the order the alerts were raised (ids are time-ordered only to the second).
                let rows = sqlx::query(
                    "SELECT d.alert_id, d.sink, d.status, d.attempts, d.last_error, d.created_at, d.delivered_at
                     FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
                     WHERE d.sink = $1 AND d.status = 'pending'
                     ORDER BY a.event_seq, a.id LIMIT $2",
                )
                    .bind(sink)
                    .bind(i64::from(limit))
                    .fetch_all(store.read_pool())
                    .await
                    .map_err(map_err)?;
                rows.iter().map(delivery_from_row).collect()
            }

            pub(super) async fn update_alert_delivery(store: &$Store, alert_id: &str, sink: &str, status: &str, attempts: i64, error: Option<&str>, now: UnixTime) -> StoreResult<()> {
                let mut tx = store.begin_tx().await.map_err(map_err)?;
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

            pub(super) async fn alerts_delivered_since(store: &$Store, sink: &str, since: UnixTime) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM alert_deliveries WHERE sink = $1 AND status = 'delivered' AND delivered_at >= $2",
                )
                .bind(sink)
                .bind(since)
                .fetch_one(store.read_pool())
                .await
                .map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            pub(super) async fn insert_alert(tx: &mut $Tx, a: &AlertRecord) -> StoreResult<()> {
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
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(super) async fn resolve_alert(tx: &mut $Tx, id: &str, now: UnixTime) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 AND status = 'open'")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            pub(super) async fn redact_alerts_subject(tx: &mut $Tx, subject: &str) -> StoreResult<u64> {
                let r = sqlx::query(
                    "UPDATE alerts SET group_key = '', details = '{\"redacted\":true}', actions = '[]'
                     WHERE group_key = $1 OR details LIKE '%' || $1 || '%'",
                )
                .bind(subject)
                .execute(&mut *tx.tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected())
            }
        }
    };
}
pub(crate) use alerts_backend;
