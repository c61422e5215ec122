//! SQL of OAuth clients, stamped out per backend by [`client_backend!`] (the same way
//! [`crate::approvals`] does its tables).

/// Implements `ClientReads` for `$Store` and `ClientWrites` for `$Tx`. Expects, in the
/// invoking module, what `sql_backend!` expects (`read_pool()`, the `tx` field).
macro_rules! client_backend {
    ($Db:ty, $Store:ident, $Tx:ident) => {
        mod client_sql {
            use async_trait::async_trait;
            use portcullis_core::oauth::clients::{
                AuthMethod, ClientReads, ClientWrites, OAuthClient,
            };
            use portcullis_core::oauth::grants::{GrantRecord, Kind};
            use portcullis_core::clock::UnixTime;
            use portcullis_core::store::{StoreError, StoreResult};
            use sqlx::Row;

            use super::{$Store, $Tx};
            use crate::map_err;

            type DbRow = <$Db as sqlx::Database>::Row;

            const COLS: &str = "id, name, redirect_uris, post_logout_redirect_uris, grant_types, auth_method,
                scopes, backchannel_logout_uri, require_pkce, require_par, require_dpop, jwks, secret_hash,
                created_by, created_at, updated_at, tls_client_auth_san_uri";

            fn corrupt(what: &str) -> StoreError {
                StoreError::Corrupt(what.to_owned())
            }

            fn list(r: &DbRow, col: &str) -> StoreResult<Vec<String>> {
                let text: String = r.try_get(col).map_err(map_err)?;
                serde_json::from_str(&text).map_err(|_| corrupt(col))
            }

            fn to_json(items: &[String]) -> String {
                serde_json::Value::from(items.to_vec()).to_string()
            }

            fn client_from_row(r: &DbRow) -> StoreResult<OAuthClient> {
                let method: String = r.try_get("auth_method").map_err(map_err)?;
                let jwks: Option<String> = r.try_get("jwks").map_err(map_err)?;
                Ok(OAuthClient {
                    id: r.try_get("id").map_err(map_err)?,
                    name: r.try_get("name").map_err(map_err)?,
                    redirect_uris: list(r, "redirect_uris")?,
                    post_logout_redirect_uris: list(r, "post_logout_redirect_uris")?,
                    grant_types: list(r, "grant_types")?,
                    auth_method: AuthMethod::parse(&method)
                        .ok_or_else(|| corrupt("client auth method"))?,
                    scopes: list(r, "scopes")?,
                    backchannel_logout_uri: r.try_get("backchannel_logout_uri").map_err(map_err)?,
                    require_pkce: r.try_get("require_pkce").map_err(map_err)?,
                    require_par: r.try_get("require_par").map_err(map_err)?,
                    require_dpop: r.try_get("require_dpop").map_err(map_err)?,
                    jwks: jwks
                        .as_deref()
                        .map(|t| serde_json::from_str(t).map_err(|_| corrupt("client jwks")))
                        .transpose()?,
                    secret_hash: r.try_get("secret_hash").map_err(map_err)?,
                    tls_client_auth_san_uri: r.try_get("tls_client_auth_san_uri").map_err(map_err)?,
                    created_by: r.try_get("created_by").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    updated_at: r.try_get("updated_at").map_err(map_err)?,
                })
            }

            const GRANT_COLS: &str = "kind, id, client_id, user_id, parent, body, created_at, expires_at, used_at";

            fn kind_of(s: &str) -> StoreResult<Kind> {
                Ok(match s {
                    "request" => Kind::Request,
                    "par" => Kind::Par,
                    "code" => Kind::Code,
                    "consent" => Kind::Consent,
                    "grant" => Kind::Grant,
                    "device" => Kind::Device,
                    "user_code" => Kind::UserCode,
                    "upstream" => Kind::Upstream,
                    "link" => Kind::Link,
                    _ => return Err(corrupt("grant record kind")),
                })
            }

            fn grant_from_row(r: &DbRow) -> StoreResult<GrantRecord> {
                let kind: String = r.try_get("kind").map_err(map_err)?;
                let body: String = r.try_get("body").map_err(map_err)?;
                Ok(GrantRecord {
                    kind: kind_of(&kind)?,
                    id: r.try_get("id").map_err(map_err)?,
                    client_id: r.try_get("client_id").map_err(map_err)?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    parent: r.try_get("parent").map_err(map_err)?,
                    body: serde_json::from_str(&body).map_err(|_| corrupt("grant record body"))?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    expires_at: r.try_get("expires_at").map_err(map_err)?,
                    used_at: r.try_get("used_at").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl ClientReads for $Store {
                async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClient>> {
                    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM oauth_clients WHERE id = $1"));
                    let row = sqlx::query(sql).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                    row.as_ref().map(client_from_row).transpose()
                }

                async fn list_oauth_clients(&self, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<OAuthClient>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {COLS} FROM oauth_clients WHERE id > $1 ORDER BY id LIMIT $2"
                    ));
                    let rows = sqlx::query(sql)
                        .bind(after_id.unwrap_or(""))
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(client_from_row).collect()
                }

                async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
                    let row = sqlx::query("SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1")
                        .bind(jti)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(map_err)?;
                    Ok(row.is_some())
                }

                async fn grant_record(&self, kind: Kind, id: &str) -> StoreResult<Option<GrantRecord>> {
                    let sql = sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLS} FROM oauth_grants WHERE kind = $1 AND id = $2"));
                    let row = sqlx::query(sql).bind(kind.as_str()).bind(id).fetch_optional(self.read_pool()).await.map_err(map_err)?;
                    row.as_ref().map(grant_from_row).transpose()
                }

                async fn grant_records_of_user(&self, kind: Kind, user_id: &str) -> StoreResult<Vec<GrantRecord>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {GRANT_COLS} FROM oauth_grants WHERE user_id = $1 AND kind = $2 ORDER BY created_at DESC, id LIMIT 500"
                    ));
                    let rows = sqlx::query(sql).bind(user_id).bind(kind.as_str()).fetch_all(self.read_pool()).await.map_err(map_err)?;
                    rows.iter().map(grant_from_row).collect()
                }
            }

            #[async_trait]
            impl ClientWrites for $Tx {
                async fn insert_oauth_client(&mut self, c: &OAuthClient) -> StoreResult<()> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "INSERT INTO oauth_clients ({COLS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                    ));
                    sqlx::query(sql)
                        .bind(&c.id)
                        .bind(&c.name)
                        .bind(to_json(&c.redirect_uris))
                        .bind(to_json(&c.post_logout_redirect_uris))
                        .bind(to_json(&c.grant_types))
                        .bind(c.auth_method.as_str())
                        .bind(to_json(&c.scopes))
                        .bind(c.backchannel_logout_uri.as_deref())
                        .bind(c.require_pkce)
                        .bind(c.require_par)
                        .bind(c.require_dpop)
                        .bind(c.jwks.as_ref().map(|j| j.to_string()))
                        .bind(c.secret_hash.as_deref())
                        .bind(&c.created_by)
                        .bind(c.created_at)
                        .bind(c.updated_at)
                        .bind(c.tls_client_auth_san_uri.as_deref())
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn update_oauth_client(&mut self, c: &OAuthClient) -> StoreResult<bool> {
                    let r = sqlx::query(
                        "UPDATE oauth_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
                         grant_types = $5, scopes = $6, backchannel_logout_uri = $7, require_pkce = $8,
                         require_par = $9, require_dpop = $10, jwks = $11, updated_at = $12,
                         tls_client_auth_san_uri = $13 WHERE id = $1",
                    )
                    .bind(&c.id)
                    .bind(&c.name)
                    .bind(to_json(&c.redirect_uris))
                    .bind(to_json(&c.post_logout_redirect_uris))
                    .bind(to_json(&c.grant_types))
                    .bind(to_json(&c.scopes))
                    .bind(c.backchannel_logout_uri.as_deref())
                    .bind(c.require_pkce)
                    .bind(c.require_par)
                    .bind(c.require_dpop)
                    .bind(c.jwks.as_ref().map(|j| j.to_string()))
                    .bind(c.updated_at)
                    .bind(c.tls_client_auth_san_uri.as_deref())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn revoke_access_token(&mut self, jti: &str, client_id: &str, expires_at: UnixTime, now: UnixTime) -> StoreResult<bool> {
                    let r = sqlx::query(
                        "INSERT INTO revoked_access_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (jti) DO NOTHING",
                    )
                    .bind(jti)
                    .bind(client_id)
                    .bind(expires_at)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn put_grant_record(&mut self, r: &GrantRecord) -> StoreResult<()> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "INSERT INTO oauth_grants ({GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (kind, id) DO UPDATE SET client_id = $3, user_id = $4, parent = $5, body = $6,
                         created_at = $7, expires_at = $8, used_at = $9"
                    ));
                    sqlx::query(sql)
                        .bind(r.kind.as_str())
                        .bind(&r.id)
                        .bind(&r.client_id)
                        .bind(r.user_id.as_deref())
                        .bind(r.parent.as_deref())
                        .bind(r.body.to_string())
                        .bind(r.created_at)
                        .bind(r.expires_at)
                        .bind(r.used_at)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn grant_record(&mut self, kind: Kind, id: &str) -> StoreResult<Option<GrantRecord>> {
                    let sql = sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLS} FROM oauth_grants WHERE kind = $1 AND id = $2"));
                    let row = sqlx::query(sql).bind(kind.as_str()).bind(id).fetch_optional(&mut *self.tx).await.map_err(map_err)?;
                    row.as_ref().map(grant_from_row).transpose()
                }

                async fn use_grant_record(&mut self, kind: Kind, id: &str, now: UnixTime) -> StoreResult<bool> {
                    let r = sqlx::query("UPDATE oauth_grants SET used_at = $3 WHERE kind = $1 AND id = $2 AND used_at IS NULL")
                        .bind(kind.as_str())
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_grant_body(&mut self, kind: Kind, id: &str, body: &serde_json::Value) -> StoreResult<()> {
                    sqlx::query("UPDATE oauth_grants SET body = $3 WHERE kind = $1 AND id = $2")
                        .bind(kind.as_str())
                        .bind(id)
                        .bind(body.to_string())
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn delete_grant_record(&mut self, kind: Kind, id: &str) -> StoreResult<bool> {
                    let r = sqlx::query("DELETE FROM oauth_grants WHERE kind = $1 AND id = $2")
                        .bind(kind.as_str())
                        .bind(id)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn grants_of(&mut self, user_id: &str, client_id: Option<&str>) -> StoreResult<Vec<GrantRecord>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {GRANT_COLS} FROM oauth_grants WHERE user_id = $1 AND kind = 'grant'
                         AND ($2 = '' OR client_id = $2) ORDER BY created_at, id"
                    ));
                    let rows = sqlx::query(sql)
                        .bind(user_id)
                        .bind(client_id.unwrap_or(""))
                        .fetch_all(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(grant_from_row).collect()
                }

                async fn grants_from(&mut self, parent: &str) -> StoreResult<Vec<GrantRecord>> {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {GRANT_COLS} FROM oauth_grants WHERE parent = $1 AND kind = 'grant' ORDER BY created_at, id"
                    ));
                    let rows = sqlx::query(sql).bind(parent).fetch_all(&mut *self.tx).await.map_err(map_err)?;
                    rows.iter().map(grant_from_row).collect()
                }

                async fn delete_oauth_client(&mut self, id: &str) -> StoreResult<bool> {
                    let r = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
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

pub(crate) use client_backend;
