//! The OAuth client registry: administrators (and `portcullis clients create`) register,
//! change and delete the applications that may use the OpenID provider. Each change is
//! audited in its own transaction; a client secret is generated here, returned once and
//! kept only as an HMAC under a key derived from the master key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::admin::cursor_page;
use super::{Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::apikey;
use crate::crypto::tokens::ct_eq;
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::oauth::clients::{self, CheckedClient, ClientPatch, ClientSpec, OAuthClient};
use crate::rand::bytes;

/// A client just registered: the secret, for the `client_secret_*` methods, is shown once.
#[derive(Debug)]
pub struct RegisteredClient {
    /// What is stored.
    pub client: OAuthClient,
    /// The client secret.
    pub secret: Option<SecretString>,
}

/// A page of clients.
#[derive(Debug)]
pub struct ClientPage {
    /// The clients, by id.
    pub clients: Vec<OAuthClient>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

fn rejected(errors: Vec<FieldError>) -> Error {
    let summary = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    Error::InvalidRequest(format!("invalid client registration: {summary}"), errors)
}

/// What the audit log keeps of a registration: everything but the secret.
fn described(c: &OAuthClient) -> serde_json::Value {
    json!({
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "scopes": c.scopes,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "require_par": c.require_par,
        "require_dpop": c.require_dpop,
        "jwks_keys": c.jwks.as_ref().and_then(|j| j.get("keys")).and_then(|k| k.as_array()).map(Vec::len),
    })
}

impl Services {
    fn client_secret_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.keyring.derive("portcullis:oauth-client-secret:v1")
    }

    /// Registers a client for an administrator (a recent second factor or password is
    /// needed, as for any change of who may sign people in).
    pub async fn create_oauth_client(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        spec: &ClientSpec,
    ) -> Result<RegisteredClient> {
        self.require_recent_auth(admin).await?;
        self.register_oauth_client(&admin.user_id, ctx, spec).await
    }

    /// Registers a client on behalf of `actor` (a user id, or `cli`).
    pub async fn register_oauth_client(
        &self,
        actor: &str,
        ctx: &RequestContext,
        spec: &ClientSpec,
    ) -> Result<RegisteredClient> {
        let checked = clients::check(spec).map_err(rejected)?;
        let now = self.now();
        let secret = checked.auth_method.uses_secret().then(|| {
            let raw: zeroize::Zeroizing<[u8; 32]> =
                zeroize::Zeroizing::new(bytes(self.rng.as_ref()));
            SecretString::from(URL_SAFE_NO_PAD.encode(raw.as_ref()))
        });
        let client = Self::client_from(
            new_id(now, self.rng.as_ref()),
            checked,
            secret
                .as_ref()
                .map(|s| apikey::hash(self.client_secret_key().as_ref(), s.expose_secret())),
            actor.to_owned(),
            now,
        );
        let mut tx = self.store.begin().await?;
        tx.clients().insert_oauth_client(&client).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.client.created", Outcome::Success)
                .actor(actor.to_owned())
                .target(client.id.clone())
                .client(ctx)
                .details(described(&client)),
        )
        .await?;
        tx.commit().await?;
        Ok(RegisteredClient { client, secret })
    }

    fn client_from(
        id: String,
        c: CheckedClient,
        secret_hash: Option<String>,
        created_by: String,
        now: i64,
    ) -> OAuthClient {
        OAuthClient {
            id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            auth_method: c.auth_method,
            scopes: c.scopes,
            backchannel_logout_uri: c.backchannel_logout_uri,
            require_pkce: true,
            require_par: c.require_par,
            require_dpop: c.require_dpop,
            jwks: c.jwks,
            tls_client_auth_san_uri: c.tls_client_auth_san_uri,
            secret_hash,
            created_by,
            created_at: now,
            updated_at: now,
        }
    }

    /// Registered clients, by id, after the cursor.
    pub async fn list_oauth_clients(&self, cursor: Option<&str>, limit: u32) -> Result<ClientPage> {
        if cursor.is_some_and(|c| !is_valid_id(c)) {
            return Err(Error::InvalidRequest("invalid cursor".into(), vec![]));
        }
        let limit = limit.clamp(1, 500);
        let rows = self
            .store
            .clients()
            .list_oauth_clients(cursor, limit + 1)
            .await?;
        let (clients, next_cursor) = cursor_page(rows, limit, |c| c.id.clone());
        Ok(ClientPage {
            clients,
            next_cursor,
        })
    }

    /// One client.
    pub async fn oauth_client(&self, id: &str) -> Result<OAuthClient> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        self.store
            .clients()
            .oauth_client(id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Changes a client's registration (not its id, secret or authentication method).
    pub async fn update_oauth_client(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        id: &str,
        patch: &ClientPatch,
    ) -> Result<OAuthClient> {
        self.require_recent_auth(admin).await?;
        let stored = self.oauth_client(id).await?;
        let checked = clients::check_patch(&stored, patch).map_err(rejected)?;
        let now = self.now();
        let updated = OAuthClient {
            updated_at: now,
            ..Self::client_from(
                stored.id.clone(),
                checked,
                stored.secret_hash.clone(),
                stored.created_by.clone(),
                stored.created_at,
            )
        };
        let mut tx = self.store.begin().await?;
        if !tx.clients().update_oauth_client(&updated).await? {
            return Err(Error::NotFound);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.client.updated", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(updated.id.clone())
                .client(ctx)
                .details(json!({"before": described(&stored), "after": described(&updated)})),
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a client: it can no longer authenticate or start a sign-in.
    pub async fn delete_oauth_client(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        self.require_recent_auth(admin).await?;
        let stored = self.oauth_client(id).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.clients().delete_oauth_client(id).await? {
            return Err(Error::NotFound);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.client.deleted", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(id.to_owned())
                .client(ctx)
                .details(described(&stored)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `presented` is the secret of `client` (constant time; false for a client
    /// that has no secret).
    pub fn client_secret_matches(&self, client: &OAuthClient, presented: &str) -> bool {
        let Some(stored) = &client.secret_hash else {
            return false;
        };
        let hash = apikey::hash(self.client_secret_key().as_ref(), presented);
        ct_eq(hash.as_bytes(), stored.as_bytes())
    }
}
