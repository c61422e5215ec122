//! SQL of elevation requests, held operations and the break-glass credential, stamped out
//! per backend by [`approval_backend!`] (the same way [`crate::common`] does the rest).

/// Implements `ApprovalReads` for `$Store` and `ApprovalWrites` for `$Tx`. Expects, in the
/// invoking module, what `sql_backend!` expects (`read_pool()`, the `tx` field, `hooks`).
macro_rules! approval_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod approval_sql {
            use async_trait::async_trait;
            use portcullis_core::approvals::{
                ApprovalReads, ApprovalRequest, ApprovalWrites, BreakGlassRecord, RequestKind,
                Transition, Vote, status,
            };
            use portcullis_core::clock::UnixTime;
            use portcullis_core::store::{StoreError, StoreResult};
            use sqlx::Row;

            use super::{$Store, $Tx, hooks};
            use crate::map_err;

            type DbRow = <$Db as sqlx::Database>::Row;

            const REQUEST_COLS: &str = "id, kind, requester, session_id, operation, params, sealed, reason, required, status,
                created_at, expires_at, granted_at, ends_at, ended_at, ended_by, result";

            fn corrupt(what: &str) -> StoreError {
                StoreError::Corrupt(what.to_owned())
            }

            fn json_of(text: &str, what: &str) -> StoreResult<serde_json::Value> {
                serde_json::from_str(text).map_err(|_| corrupt(what))
            }

            fn request_from_row(r: &DbRow) -> StoreResult<ApprovalRequest> {
                let kind: String = r.try_get("kind").map_err(map_err)?;
                let params: String = r.try_get("params").map_err(map_err)?;
                let result: Option<String> = r.try_get("result").map_err(map_err)?;
                let required: i64 = r.try_get("required").map_err(map_err)?;
                Ok(ApprovalRequest {
                    id: r.try_get("id").map_err(map_err)?,
                    kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("request kind"))?,
                    requester: r.try_get("requester").map_err(map_err)?,
                    session_id: r.try_get("session_id").map_err(map_err)?,
                    operation: r.try_get("operation").map_err(map_err)?,
                    params: json_of(&params, "request parameters")?,
                    sealed: r.try_get("sealed").map_err(map_err)?,
                    reason: r.try_get("reason").map_err(map_err)?,
                    required: u32::try_from(required).map_err(|_| corrupt("request threshold"))?,
                    status: r.try_get("status").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    expires_at: r.try_get("expires_at").map_err(map_err)?,
                    granted_at: r.try_get("granted_at").map_err(map_err)?,
                    ends_at: r.try_get("ends_at").map_err(map_err)?,
                    ended_at: r.try_get("ended_at").map_err(map_err)?,
                    ended_by: r.try_get("ended_by").map_err(map_err)?,
                    result: result.as_deref().map(|t| json_of(t, "request result")).transpose()?,
                    votes: Vec::new(),
                })
            }

            fn vote_from_row(r: &DbRow) -> StoreResult<Vote> {
                Ok(Vote {
                    approver: r.try_get("approver").map_err(map_err)?,
                    approve: r.try_get("approve").map_err(map_err)?,
                    reason: r.try_get("reason").map_err(map_err)?,
                    at: r.try_get("at").map_err(map_err)?,
                })
            }

            const VOTES_SQL: &str =
                "SELECT approver, approve, reason, at FROM approval_votes WHERE request_id = $1 ORDER BY at, approver";

            fn break_glass_from_row(r: &DbRow) -> StoreResult<BreakGlassRecord> {
                Ok(BreakGlassRecord {
                    id: r.try_get("id").map_err(map_err)?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    secret_hash: r.try_get("secret_hash").map_err(map_err)?,
                    split: r.try_get("split").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    used_at: r.try_get("used_at").map_err(map_err)?,
                })
            }

            impl $Store {
                async fn with_votes(&self, rows: Vec<DbRow>) -> StoreResult<Vec<ApprovalRequest>> {
                    let mut out = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let mut r = request_from_row(row)?;
                        let votes = sqlx::query(VOTES_SQL)
                            .bind(&r.id)
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(map_err)?;
                        r.votes = votes.iter().map(vote_from_row).collect::<StoreResult<_>>()?;
                        out.push(r);
                    }
                    Ok(out)
                }
            }

            #[async_trait]
            impl ApprovalReads for $Store {
                async fn approval_request(&self, id: &str) -> StoreResult<Option<ApprovalRequest>> {
                    let sql = sqlx::AssertSqlSafe(format!("SELECT {REQUEST_COLS} FROM approval_requests WHERE id = $1"));
                    let rows = sqlx::query(sql).bind(id).fetch_all(self.read_pool()).await.map_err(map_err)?;
                    Ok(self.with_votes(rows).await?.pop())
                }

                async fn approval_requests(&self, kind: RequestKind, statuses: &[&str], limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
                    // At most a handful of statuses: one bound parameter each, never text.
                    let filter = if statuses.is_empty() {
                        String::new()
                    } else {
                        let params: Vec<String> = (0..statuses.len()).map(|i| format!("${}", i + 3)).collect();
                        format!(" AND status IN ({})", params.join(", "))
                    };
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {REQUEST_COLS} FROM approval_requests WHERE kind = $1{filter} ORDER BY id DESC LIMIT $2"
                    ));
                    let mut q = sqlx::query(sql).bind(kind.as_str()).bind(i64::from(limit));
                    for s in statuses {
                        q = q.bind(*s);
                    }
                    let rows = q.fetch_all(self.read_pool()).await.map_err(map_err)?;
                    self.with_votes(rows).await
                }

                async fn approval_requests_of(&self, requester: &str, kind: RequestKind, limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {REQUEST_COLS} FROM approval_requests WHERE requester = $1 AND kind = $2 ORDER BY id DESC LIMIT $3"
                    ));
                    let rows = sqlx::query(sql)
                        .bind(requester)
                        .bind(kind.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(map_err)?;
                    self.with_votes(rows).await
                }

                async fn active_elevation(&self, session_id: &str, now: UnixTime) -> StoreResult<Option<ApprovalRequest>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {REQUEST_COLS} FROM approval_requests
                         WHERE session_id = $1 AND kind = 'elevation' AND status = 'active' AND ends_at > $2
                         ORDER BY granted_at DESC, id DESC LIMIT 1"
                    ));
                    let row = sqlx::query(sql).bind(session_id).bind(now).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                    row.as_ref().map(request_from_row).transpose()
                }

                async fn lapsed_requests(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {REQUEST_COLS} FROM approval_requests
                         WHERE (status = 'pending' AND expires_at <= $1) OR (status = 'active' AND ends_at <= $1)
                         ORDER BY id LIMIT $2"
                    ));
                    let rows = sqlx::query(sql).bind(now).bind(i64::from(limit)).fetch_all(self.read_pool()).await.map_err(map_err)?;
                    rows.iter().map(request_from_row).collect()
                }

                async fn break_glass(&self) -> StoreResult<Option<BreakGlassRecord>> {
                    let row = sqlx::query(
                        "SELECT id, user_id, secret_hash, split, created_at, used_at FROM break_glass
                         WHERE used_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
                    )
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(break_glass_from_row).transpose()
                }
            }

            #[async_trait]
            impl ApprovalWrites for $Tx {
                async fn insert_approval_request(&mut self, r: &ApprovalRequest) -> StoreResult<()> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "INSERT INTO approval_requests ({REQUEST_COLS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                    ));
                    sqlx::query(sql)
                        .bind(&r.id)
                        .bind(r.kind.as_str())
                        .bind(&r.requester)
                        .bind(&r.session_id)
                        .bind(&r.operation)
                        .bind(r.params.to_string())
                        .bind(r.sealed.as_deref())
                        .bind(&r.reason)
                        .bind(i64::from(r.required))
                        .bind(&r.status)
                        .bind(r.created_at)
                        .bind(r.expires_at)
                        .bind(r.granted_at)
                        .bind(r.ends_at)
                        .bind(r.ended_at)
                        .bind(r.ended_by.as_deref())
                        .bind(r.result.as_ref().map(|v| v.to_string()))
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn lock_approval_request(&mut self, id: &str) -> StoreResult<Option<ApprovalRequest>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {REQUEST_COLS} FROM approval_requests WHERE id = $1{}",
                        hooks::FOR_UPDATE
                    ));
                    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)? else {
                        return Ok(None);
                    };
                    let mut r = request_from_row(&row)?;
                    let votes = sqlx::query(VOTES_SQL).bind(id).fetch_all(&mut *self.tx).await.map_err(map_err)?;
                    r.votes = votes.iter().map(vote_from_row).collect::<StoreResult<_>>()?;
                    Ok(Some(r))
                }

                async fn insert_vote(&mut self, request_id: &str, v: &Vote) -> StoreResult<()> {
                    sqlx::query("INSERT INTO approval_votes (request_id, approver, approve, reason, at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(request_id)
                        .bind(&v.approver)
                        .bind(v.approve)
                        .bind(v.reason.as_deref())
                        .bind(v.at)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(|e| match map_err(e) {
                            StoreError::Conflict(_) => StoreError::Conflict("vote"),
                            other => other,
                        })?;
                    Ok(())
                }

                async fn transition_request(&mut self, id: &str, from: &str, c: &Transition) -> StoreResult<bool> {
                    let r = sqlx::query(
                        "UPDATE approval_requests SET status = $1,
                            granted_at = COALESCE($2, granted_at), ends_at = COALESCE($3, ends_at),
                            ended_at = COALESCE($4, ended_at), ended_by = COALESCE($5, ended_by),
                            result = COALESCE($6, result)
                         WHERE id = $7 AND status = $8",
                    )
                    .bind(&c.to)
                    .bind(c.granted_at)
                    .bind(c.ends_at)
                    .bind(c.ended_at)
                    .bind(c.ended_by.as_deref())
                    .bind(c.result.as_ref().map(|v| v.to_string()))
                    .bind(id)
                    .bind(from)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    let moved = r.rows_affected() == 1;
                    if moved && c.to == status::REVOKED {
                        // Tokens carrying this elevation lose it on every node at commit.
                        hooks::notify_revoked(&mut self.tx, id).await?;
                    }
                    Ok(moved)
                }

                async fn redact_approval_subject(&mut self, subject: &str) -> StoreResult<u64> {
                    // The id inside a JSON text, quoted: a bound LIKE pattern, escaped.
                    let needle = format!(
                        "%\"{}\"%",
                        subject.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                    );
                    let rows = sqlx::query(
                        "SELECT id, requester, params FROM approval_requests
                         WHERE requester = $1 OR result LIKE $2 ESCAPE '\\' OR params LIKE $2 ESCAPE '\\'",
                    )
                    .bind(subject)
                    .bind(&needle)
                    .fetch_all(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    let mut n = 0;
                    for r in &rows {
                        let id: String = r.try_get("id").map_err(map_err)?;
                        let requester: String = r.try_get("requester").map_err(map_err)?;
                        let params: String = r.try_get("params").map_err(map_err)?;
                        let mut params = json_of(&params, "request parameters")?;
                        if let Some(obj) = params.as_object_mut() {
                            for field in ["email", "display_name"] {
                                if obj.contains_key(field) {
                                    obj.insert(field.into(), serde_json::Value::String("[erased]".into()));
                                }
                            }
                        }
                        let reason = if requester == subject { "[erased]" } else { "" };
                        sqlx::query(
                            "UPDATE approval_requests SET params = $1, sealed = NULL,
                                reason = CASE WHEN $2 = '' THEN reason ELSE $2 END WHERE id = $3",
                        )
                        .bind(params.to_string())
                        .bind(reason)
                        .bind(&id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                        n += 1;
                    }
                    Ok(n)
                }

                async fn replace_break_glass(&mut self, b: &BreakGlassRecord) -> StoreResult<()> {
                    sqlx::query("UPDATE break_glass SET used_at = $1 WHERE used_at IS NULL")
                        .bind(b.created_at)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO break_glass (id, user_id, secret_hash, split, created_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)",
                    )
                    .bind(&b.id)
                    .bind(&b.user_id)
                    .bind(&b.secret_hash)
                    .bind(&b.split)
                    .bind(b.created_at)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn use_break_glass(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
                    let r = sqlx::query("UPDATE break_glass SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                        .bind(now)
                        .bind(id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }
            }
        }
    };
}

pub(crate) use approval_backend;
