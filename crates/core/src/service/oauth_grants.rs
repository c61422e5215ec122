//! What a person and a client can undo: a client revoking its refresh token (RFC 7009), a
//! person listing and revoking the applications they consented to ("connected apps"), and
//! signing out of the browser session (OpenID Connect RP-Initiated Logout), which ends the
//! grants that came from it.

use serde_json::{Value, json};

use super::auth::Principal;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::sha256_hex;
use crate::error::{Error, Result};
use crate::id::is_valid_id;
use crate::oauth::clients::OAuthClient;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{Kind, consent_id};
use crate::store::Tx;

/// One application a person consented to.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    /// The client.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was last given.
    pub granted_at: i64,
}

impl Services {
    /// RFC 7009 for a refresh token: the grant it belongs to ends, when it is the caller's.
    pub(crate) async fn revoke_refresh(
        &self,
        ctx: &RequestContext,
        caller: &OAuthClient,
        token: &str,
    ) -> std::result::Result<(), OAuthError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(rt) = tx
            .refresh_token_by_hash(&sha256_hex(token.as_bytes()))
            .await?
        else {
            return Ok(());
        };
        let Some(rec) = tx
            .clients()
            .grant_record(Kind::Grant, &rt.session_id)
            .await?
        else {
            return Ok(());
        };
        if rec.client_id != caller.id {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        let revoked = self
            .end_grant(
                tx.as_mut(),
                ctx,
                &caller.id,
                &rt.session_id,
                "revoked_by_client",
            )
            .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(())
    }

    /// Revokes grant session `sid`, with its audit event; its id when it was live.
    async fn end_grant(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        actor: &str,
        sid: &str,
        reason: &str,
    ) -> Result<Vec<String>> {
        let now = self.now();
        if !tx.revoke_session(sid, reason, now).await? {
            return Ok(Vec::new());
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.session.revoked", Outcome::Success)
                .actor(actor.to_owned())
                .target(sid.to_owned())
                .client(ctx)
                .details(json!({"reason": reason})),
        )
        .await?;
        Ok(vec![sid.to_owned()])
    }

    /// The applications the caller consented to.
    pub async fn connected_apps(&self, p: &Principal) -> Result<Vec<ConnectedApp>> {
        self.connected_apps_of(&p.user_id).await
    }

    /// The applications `user_id` consented to.
    pub async fn connected_apps_of(&self, user_id: &str) -> Result<Vec<ConnectedApp>> {
        let now = self.now();
        let consents = self
            .store
            .clients()
            .grant_records_of_user(Kind::Consent, user_id)
            .await?;
        let mut out = Vec::new();
        for c in consents.into_iter().filter(|c| c.expires_at > now) {
            let Some(client) = self.store.clients().oauth_client(&c.client_id).await? else {
                continue;
            };
            out.push(ConnectedApp {
                client_id: client.id,
                name: client.name,
                scopes: c.scopes(),
                granted_at: c.created_at,
            });
        }
        Ok(out)
    }

    /// Withdraws the caller's consent to `client_id` and ends every grant it has.
    pub async fn revoke_connected_app(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        client_id: &str,
    ) -> Result<()> {
        self.revoke_connected_app_of(&p.user_id, ctx, client_id)
            .await
    }

    /// Withdraws `user_id`'s consent to `client_id` and ends every grant it has.
    pub async fn revoke_connected_app_of(
        &self,
        user_id: &str,
        ctx: &RequestContext,
        client_id: &str,
    ) -> Result<()> {
        if !is_valid_id(client_id) {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let had = tx
            .clients()
            .delete_grant_record(Kind::Consent, &consent_id(user_id, client_id))
            .await?;
        let grants = tx.clients().grants_of(user_id, Some(client_id)).await?;
        if !had && grants.is_empty() {
            return Err(Error::NotFound);
        }
        let mut revoked = Vec::new();
        for g in &grants {
            revoked.extend(
                self.end_grant(tx.as_mut(), ctx, user_id, &g.id, "consent_withdrawn")
                    .await?,
            );
            // The grant is over: nothing of it remains to list or withdraw again.
            tx.clients().delete_grant_record(Kind::Grant, &g.id).await?;
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.consent.revoked", Outcome::Success)
                .actor(user_id.to_owned())
                .target(client_id.to_owned())
                .client(ctx)
                .details(json!({"grants_revoked": revoked.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(())
    }

    /// Signs the browser session `sid` out, with the grants that came from it; returns
    /// the ids revoked.
    pub async fn end_browser_session(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        sid: &str,
    ) -> Result<Vec<String>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut revoked = self
            .end_grant(tx.as_mut(), ctx, user_id, sid, "logout")
            .await?;
        let grants = tx.clients().grants_from(sid).await?;
        for g in &grants {
            revoked.extend(
                self.end_grant(tx.as_mut(), ctx, user_id, &g.id, "logout")
                    .await?,
            );
        }
        tx.commit().await?;
        // The clients hear of it from end_grants_from, as for every other way a session ends.
        self.note_revoked(&revoked, now);
        Ok(revoked)
    }

    /// Sessions `sids` were revoked: the grants that came from each (the applications the
    /// person signed in to from that browser session) end too, each audited, and every
    /// client of them with a `backchannel_logout_uri` is told once per session. A grant
    /// session among `sids` has no grants of its own, and one whose grants had already
    /// ended (in the same revocation, as when an account is locked) still has its clients
    /// told.
    pub async fn end_grants_from(&self, sids: &[String]) -> Result<()> {
        let ctx = RequestContext::default();
        for sid in sids {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let grants = tx.clients().grants_from(sid).await?;
            if grants.is_empty() {
                continue;
            }
            let mut ended = Vec::new();
            for g in &grants {
                ended.extend(
                    self.end_grant(tx.as_mut(), &ctx, "system", &g.id, "sign_in_ended")
                        .await?,
                );
            }
            tx.commit().await?;
            // Directly: these are grant sessions, with nothing further to end.
            for id in &ended {
                self.revocations.insert(id, now);
            }
            let mut told: Vec<&str> = Vec::new();
            for g in &grants {
                let Some(user_id) = g.user_id.as_deref() else {
                    continue;
                };
                if !told.contains(&g.client_id.as_str()) {
                    told.push(&g.client_id);
                    self.backchannel_logout(&g.client_id, user_id, sid).await;
                }
            }
        }
        Ok(())
    }

    /// Tells a client with a `backchannel_logout_uri` that the sign-in `sid` of `user_id`
    /// ended: a signed logout token (`typ` logout+jwt), delivered off the request path.
    async fn backchannel_logout(&self, client_id: &str, user_id: &str, sid: &str) {
        let Some(notifier) = self.logout_notifier.get() else {
            return;
        };
        let Ok(Some(client)) = self.store.clients().oauth_client(client_id).await else {
            return;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            return;
        };
        let now = self.now();
        let claims = json!({
            "iss": self.settings.issuer,
            "aud": client.id,
            "iat": now,
            "exp": now + 120,
            "jti": hex::encode(crate::rand::bytes::<16>(self.rng.as_ref())),
            "sub": user_id,
            "sid": sid,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        match self.keyring.sign_value(&claims, "logout+jwt", now) {
            Ok(token) => notifier.notify(client.id, uri, token),
            Err(e) => tracing::warn!(client_id = %client.id, "cannot sign a logout token: {e}"),
        }
    }

    /// Installs what delivers back-channel logout tokens (once, at start).
    pub fn set_logout_notifier(&self, n: std::sync::Arc<dyn super::LogoutNotifier>) {
        let _ = self.logout_notifier.set(n);
    }

    /// Audits the delivery of a back-channel logout token.
    pub async fn record_backchannel_logout(&self, client_id: &str, delivered: bool, detail: &str) {
        let now = self.now();
        let (action, outcome) = if delivered {
            ("oauth.backchannel_logout.delivered", Outcome::Success)
        } else {
            ("oauth.backchannel_logout.failed", Outcome::Failure)
        };
        let result = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(now, action, outcome)
                    .actor("system")
                    .target(client_id.to_owned())
                    .details(json!({"result": detail})),
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(client_id, "cannot audit a back-channel logout: {e}");
        }
    }

    /// The client an ID token hint was issued to, when this server signed it (expired
    /// hints are accepted: logging out is what they are for).
    pub async fn logout_client(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Option<OAuthClient>> {
        let from_hint = id_token_hint.and_then(|t| {
            let (typ, claims) = self.keyring.verify_json(t, self.now()).ok()?;
            (typ.as_deref() == Some("JWT")
                && claims.get("iss").and_then(Value::as_str) == Some(self.settings.issuer.as_str()))
            .then(|| claims.get("aud").and_then(Value::as_str).map(str::to_owned))
            .flatten()
        });
        if id_token_hint.is_some() && from_hint.is_none() {
            return Err(Error::InvalidRequest(
                "id_token_hint is not an ID token of this server".into(),
                vec![],
            ));
        }
        let id = match (from_hint, client_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::InvalidRequest(
                    "client_id differs from the ID token's audience".into(),
                    vec![],
                ));
            }
            (Some(a), _) => a,
            (None, Some(b)) => b.to_owned(),
            (None, None) => return Ok(None),
        };
        if !is_valid_id(&id) {
            return Ok(None);
        }
        Ok(self.store.clients().oauth_client(&id).await?)
    }
}
