//! The grants that act for a person at the token endpoint: the authorization code (RFC 6749
//! §4.1.3 with PKCE) and the refresh token (§6), and what they issue: RFC 9068 access
//! tokens for the person, OpenID Connect ID tokens, and refresh tokens from today's
//! families (rotation on every use, reuse revokes the family).
//!
//! Each code exchange starts a session of its own (the grant), child of the browser's
//! sign-in session: the application's refresh tokens can be revoked alone (by the person in
//! "connected apps", by the client at the revocation endpoint) or with the sign-in (logout).
//!
//! A rotated refresh token presented again within [`REFRESH_GRACE`] seconds, while its
//! successor was never used, is a client that did not receive the answer (a dropped
//! connection, a retry): it gets a new pair and the unused successor stops working. Any
//! other reuse revokes the family (RFC 9700 §4.14.2).

use serde_json::{Map, Value, json};

use super::oauth::{IssuedToken, TokenRequest};
use super::oauth_authorize::acr_of;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::{is_refresh_token_shape, sha256_hex};
use crate::id::new_id;
use crate::model::Session;
use crate::oauth::authorize::AuthzRequest;
use crate::oauth::clients::{GRANT_CODE, GRANT_REFRESH, OAuthClient};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{GrantRecord, Kind};
use crate::oauth::pkce::{self, Challenge};
use crate::rand::bytes;
use secrecy::ExposeSecret;

/// Seconds a rotated refresh token may be presented again by a client that lost the
/// answer (FAPI 2.0 Security Profile §5.3.2.1, note 2).
pub const REFRESH_GRACE: i64 = 60;
/// Where userinfo lives.
pub const USERINFO_PATH: &str = "/oauth2/userinfo";

/// What a grant carries from the code to every token of its family.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct GrantBody {
    pub(crate) scopes: Vec<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) dpop_jkt: Option<String>,
    pub(crate) amr: Vec<String>,
    pub(crate) auth_time: i64,
    pub(crate) nonce: Option<String>,
    /// The last rotation: (the refresh token rotated, the one issued for it), by id.
    #[serde(default)]
    pub(crate) rotation: Option<(String, String)>,
    /// The client certificate the access tokens are bound to (RFC 8705), for the
    /// `tls_client_auth` clients.
    #[serde(default)]
    pub(crate) x5t: Option<String>,
}

/// RFC 8705 §3: a token bound to a client certificate is good only over a connection
/// that presented that certificate.
pub(crate) fn check_cert_binding(
    claims: &Map<String, Value>,
    peer_x5t: Option<&str>,
) -> Result<(), &'static str> {
    let bound = claims
        .get("cnf")
        .and_then(|c| c.get("x5t#S256"))
        .and_then(Value::as_str);
    match bound {
        None => Ok(()),
        Some(b) if peer_x5t == Some(b) => Ok(()),
        Some(_) => {
            Err("the token is bound to a client certificate this connection did not present")
        }
    }
}

impl Services {
    /// The authorization-code grant for an authenticated `client`.
    pub(crate) async fn exchange_code(
        &self,
        ctx: &RequestContext,
        client: &OAuthClient,
        req: &TokenRequest,
    ) -> Result<IssuedToken, OAuthError> {
        self.exchange_code_session(ctx, client, req)
            .await
            .map(|(issued, _)| issued)
    }

    /// The authorization-code grant, with the id of the session it opened.
    pub(crate) async fn exchange_code_session(
        &self,
        ctx: &RequestContext,
        client: &OAuthClient,
        req: &TokenRequest,
    ) -> Result<(IssuedToken, String), OAuthError> {
        if !client.grant_types.iter().any(|g| g == GRANT_CODE) {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for the authorization_code grant",
            ));
        }
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        if req.resources.iter().any(|r| r.len() > 2000) {
            return Err(OAuthError::invalid_target("resource too long"));
        }
        // The proof is checked (and its jti spent) before the code is.
        let jkt = self.dpop_binding(client, req.dpop.as_deref()).await?;
        let now = self.now();
        let id = sha256_hex(code.as_bytes());
        let bad =
            || OAuthError::invalid_grant("the code is unknown, expired, used or another client's");
        let mut tx = self.store.begin().await?;
        let Some(rec) = tx.clients().grant_record(Kind::Code, &id).await? else {
            return Err(bad());
        };
        if rec.client_id != client.id {
            return Err(bad());
        }
        if !tx.clients().use_grant_record(Kind::Code, &id, now).await? {
            // A code used twice: what it issued is revoked (RFC 6749 §4.1.2, RFC 9700 §4.5).
            let issued = rec
                .body
                .get("session_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut revoked = false;
            if let Some(sid) = &issued {
                revoked = tx.revoke_session(sid, "code_reused", now).await?;
            }
            tx.append_audit(
                &NewAuditEvent::new(now, "oauth.code_reused", Outcome::Failure)
                    .actor(client.id.clone())
                    .target(rec.user_id.clone().unwrap_or_default())
                    .client(ctx)
                    .details(json!({"client_id": client.id, "session_revoked": revoked, "session_id": issued})),
            )
            .await?;
            tx.commit().await?;
            if let Some(sid) = issued.filter(|_| revoked) {
                self.note_revoked(&[sid], now);
            }
            return Err(bad());
        }
        if rec.expires_at <= now {
            tx.commit().await?;
            return Err(bad());
        }
        let authz: AuthzRequest = serde_json::from_value(rec.body.clone()).map_err(|_| bad())?;
        match (&req.redirect_uri, authz.redirect_uri_sent) {
            (Some(r), _) if *r != authz.redirect_uri => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri differs from the authorization request's",
                ));
            }
            (None, true) => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri is required: the authorization request named one",
                ));
            }
            _ => {}
        }
        let challenge = Challenge::parse(&authz.code_challenge, Some("S256")).map_err(|_| bad())?;
        pkce::verify(Some(&challenge), req.code_verifier.as_deref())
            .map_err(|e| OAuthError::invalid_grant(e.to_string()))?;
        if let Some(bound) = &authz.dpop_jkt
            && jkt.as_deref() != Some(bound.as_str())
        {
            return Err(OAuthError::invalid_grant(
                "the code is bound to another DPoP key (dpop_jkt)",
            ));
        }
        // RFC 8707 §2.2: the token request may narrow the resources, never widen them.
        let resources = if req.resources.is_empty() {
            authz.resources.clone()
        } else if req.resources.iter().all(|r| authz.resources.contains(r)) {
            req.resources.clone()
        } else {
            return Err(OAuthError::invalid_target(
                "a resource not named in the authorization request",
            ));
        };
        let parent = rec.parent.clone().unwrap_or_default();
        let parent_live = tx.session(&parent).await?.is_some_and(|s| s.is_active(now));
        let user = match &rec.user_id {
            Some(u) => tx.user_by_id(u).await?,
            None => None,
        };
        let Some(user) = user.filter(|u| !u.locked && parent_live) else {
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the sign-in behind the code has ended",
            ));
        };
        let amr: Vec<String> = serde_json::from_value(rec.field("amr")).unwrap_or_default();
        let auth_time = rec.field("auth_time").as_i64().unwrap_or(now);
        let grant = GrantBody {
            scopes: authz.scopes.clone(),
            resources,
            dpop_jkt: jkt,
            amr,
            auth_time,
            nonce: authz.nonce.clone(),
            rotation: None,
            x5t: super::oauth::cert_binding(client, req),
        };
        let (issued, session_id) = self
            .open_grant(
                tx.as_mut(),
                ctx,
                client,
                &user.id,
                &parent,
                grant,
                GRANT_CODE,
            )
            .await?;
        let mut code_body = rec.body.clone();
        if let Some(o) = code_body.as_object_mut() {
            o.insert("session_id".into(), session_id.clone().into());
        }
        tx.clients()
            .set_grant_body(Kind::Code, &id, &code_body)
            .await?;
        tx.commit().await?;
        Ok((issued, session_id))
    }

    /// Starts a grant of `client` for `user_id` (a session of its own, child of the browser
    /// sign-in `parent`), inside `tx`: its refresh token when the client refreshes, its
    /// access token and ID token, and the audit event. Returns them with the session id.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open_grant(
        &self,
        tx: &mut dyn crate::store::Tx,
        ctx: &RequestContext,
        client: &OAuthClient,
        user_id: &str,
        parent: &str,
        grant: GrantBody,
        grant_type: &str,
    ) -> Result<(IssuedToken, String), OAuthError> {
        let now = self.now();
        let session = Session {
            id: new_id(now, self.rng.as_ref()),
            user_id: user_id.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.refresh_ttl,
            revoked_at: None,
            revoked_reason: None,
            ip: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            amr: grant.amr.clone(),
            auth_time: grant.auth_time,
            dpop_jkt: grant.dpop_jkt.clone(),
        };
        tx.insert_session(&session).await?;
        let refresh = if client.grant_types.iter().any(|g| g == GRANT_REFRESH) {
            Some(self.issue_refresh_id(tx, &session.id).await?.0)
        } else {
            None
        };
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Grant,
                id: session.id.clone(),
                client_id: client.id.clone(),
                user_id: Some(user_id.to_owned()),
                parent: Some(parent.to_owned()),
                body: serde_json::to_value(&grant).unwrap_or_default(),
                created_at: now,
                expires_at: now + self.settings.refresh_ttl,
                used_at: None,
            })
            .await?;
        let (access_token, jti) =
            self.person_access_token(client, user_id, &session.id, &grant, now)?;
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.token_issued", Outcome::Success)
                .actor(user_id.to_owned())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({
                    "grant_type": grant_type, "client_id": client.id, "scope": grant.scopes.join(" "),
                    "jti": jti, "refresh": refresh.is_some(), "dpop_jkt": grant.dpop_jkt, "parent_session": parent,
                })),
        )
        .await?;
        let id_token =
            self.id_token(client, user_id, parent, &grant, grant.nonce.as_deref(), now)?;
        Ok((
            IssuedToken {
                access_token,
                expires_in: self.settings.access_ttl,
                scope: grant.scopes.join(" "),
                token_type: if grant.dpop_jkt.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                },
                refresh_token: refresh.map(|r| r.expose_secret().to_owned()),
                id_token,
            },
            session.id,
        ))
    }

    /// The refresh-token grant for an authenticated `client`.
    pub(crate) async fn refresh_grant(
        &self,
        ctx: &RequestContext,
        client: &OAuthClient,
        req: &TokenRequest,
    ) -> Result<IssuedToken, OAuthError> {
        if !client.grant_types.iter().any(|g| g == GRANT_REFRESH) {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for the refresh_token grant",
            ));
        }
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let bad = || {
            OAuthError::invalid_grant(
                "the refresh token is unknown, expired, revoked or another client's",
            )
        };
        if !is_refresh_token_shape(token) {
            return Err(bad());
        }
        let jkt = self.dpop_binding(client, req.dpop.as_deref()).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(rt) = tx
            .refresh_token_by_hash(&sha256_hex(token.as_bytes()))
            .await?
        else {
            return Err(bad());
        };
        let Some(rec) = tx
            .clients()
            .grant_record(Kind::Grant, &rt.session_id)
            .await?
        else {
            return Err(bad());
        };
        if rec.client_id != client.id {
            return Err(bad());
        }
        let mut grant: GrantBody = serde_json::from_value(rec.body.clone()).map_err(|_| bad())?;
        if let Some(bound) = &grant.dpop_jkt
            && jkt.as_deref() != Some(bound.as_str())
        {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to the DPoP key it was issued with",
            ));
        }
        let Some(session) = tx.session(&rt.session_id).await? else {
            return Err(bad());
        };
        let won = match (rt.rotated_at, &grant.rotation) {
            (None, _) => tx.mark_rotated(&rt.id, now).await?,
            // A retry of a client that lost the answer: the last rotation was of this token,
            // and its successor was never used (and now never will be).
            (Some(at), Some((from, to)))
                if *from == rt.id && now - at <= REFRESH_GRACE && session.is_active(now) =>
            {
                tx.mark_rotated(to, now).await?
            }
            _ => false,
        };
        if !won {
            self.revoke_reused_family(tx, ctx, &session, &rt.id, Some(&client.id))
                .await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was used before; the grant is revoked",
            ));
        }
        if !session.is_active(now) || rt.expires_at <= now {
            return Err(bad());
        }
        let Some(user) = tx.user_by_id(&session.user_id).await?.filter(|u| !u.locked) else {
            return Err(bad());
        };
        // RFC 6749 §6: the new access token may have a narrower scope, never a wider one;
        // the grant keeps its own.
        let mut issued = grant.clone();
        // A certificate-bound grant's new tokens follow the certificate the client
        // authenticated with now (certificates are renewed).
        if grant.x5t.is_some() {
            issued.x5t = super::oauth::cert_binding(client, req);
        }
        if let Some(asked) = &req.scope {
            let asked: Vec<String> = asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if !asked.iter().all(|s| grant.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope("a scope wider than the grant's"));
            }
            issued.scopes = asked;
        }
        let (refresh, refresh_id) = self.issue_refresh_id(tx.as_mut(), &session.id).await?;
        let expires_at = now + self.settings.refresh_ttl;
        tx.touch_session(&session.id, now, expires_at).await?;
        grant.rotation = Some((rt.id.clone(), refresh_id));
        let mut extended = rec.clone();
        extended.expires_at = expires_at;
        extended.body = serde_json::to_value(&grant).unwrap_or_default();
        tx.clients().put_grant_record(&extended).await?;
        let grant = issued;
        let (access_token, jti) =
            self.person_access_token(client, &user.id, &session.id, &grant, now)?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.token.refreshed", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(
                    json!({"client_id": client.id, "jti": jti, "grace": rt.rotated_at.is_some()}),
                ),
        )
        .await?;
        tx.commit().await?;
        let parent = rec.parent.clone().unwrap_or_default();
        let id_token = self.id_token(client, &user.id, &parent, &grant, None, now)?;
        Ok(IssuedToken {
            access_token,
            expires_in: self.settings.access_ttl,
            scope: grant.scopes.join(" "),
            token_type: if grant.dpop_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            refresh_token: Some(refresh.expose_secret().to_owned()),
            id_token,
        })
    }

    /// An RFC 9068 access token for a person through `client`; with its `jti`.
    fn person_access_token(
        &self,
        client: &OAuthClient,
        user_id: &str,
        sid: &str,
        grant: &GrantBody,
        now: i64,
    ) -> Result<(String, String), OAuthError> {
        let jti = hex::encode(bytes::<16>(self.rng.as_ref()));
        let aud = match grant.resources.as_slice() {
            [] => Value::from(client.id.clone()),
            [one] => Value::from(one.clone()),
            many => Value::from(many.to_vec()),
        };
        let mut c = Map::new();
        c.insert("iss".into(), self.settings.issuer.clone().into());
        c.insert("sub".into(), user_id.into());
        c.insert("aud".into(), aud);
        c.insert("client_id".into(), client.id.clone().into());
        c.insert("iat".into(), now.into());
        c.insert("exp".into(), (now + self.settings.access_ttl).into());
        c.insert("jti".into(), jti.clone().into());
        c.insert("sid".into(), sid.into());
        c.insert("auth_time".into(), grant.auth_time.into());
        c.insert("amr".into(), json!(grant.amr));
        c.insert("acr".into(), acr_of(&grant.amr).into());
        if !grant.scopes.is_empty() {
            c.insert("scope".into(), grant.scopes.join(" ").into());
        }
        if let Some(cnf) =
            super::oauth::confirmation(grant.dpop_jkt.as_deref(), grant.x5t.as_deref())
        {
            c.insert("cnf".into(), cnf);
        }
        let token = self.keyring.sign_value(&Value::Object(c), "at+jwt", now)?;
        Ok((token, jti))
    }

    /// An OpenID Connect ID token, when the grant has the `openid` scope.
    fn id_token(
        &self,
        client: &OAuthClient,
        user_id: &str,
        browser_sid: &str,
        grant: &GrantBody,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Option<String>, OAuthError> {
        if !grant.scopes.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        let mut c = Map::new();
        c.insert("iss".into(), self.settings.issuer.clone().into());
        c.insert("sub".into(), user_id.into());
        c.insert("aud".into(), client.id.clone().into());
        c.insert("azp".into(), client.id.clone().into());
        c.insert("iat".into(), now.into());
        c.insert("exp".into(), (now + self.settings.access_ttl).into());
        c.insert("auth_time".into(), grant.auth_time.into());
        c.insert("amr".into(), json!(grant.amr));
        c.insert("acr".into(), acr_of(&grant.amr).into());
        c.insert("sid".into(), browser_sid.into());
        if let Some(n) = nonce {
            c.insert("nonce".into(), n.into());
        }
        Ok(Some(self.keyring.sign_value(
            &Value::Object(c),
            "JWT",
            now,
        )?))
    }

    /// OpenID Connect userinfo for a person's access token (with its DPoP proof when bound):
    /// the claims its scopes allow.
    pub async fn userinfo(
        &self,
        token: &str,
        dpop: Option<super::DpopRequest<'_>>,
        peer_x5t: Option<&str>,
    ) -> Result<Value, OAuthError> {
        if !self.health.ready() {
            return Err(OAuthError::temporarily_unavailable(
                "database unreachable; failing closed",
            ));
        }
        let now = self.now();
        let bad = || OAuthError::invalid_token("the access token is not valid");
        let claims = self.current_access_token(token, now).ok_or_else(bad)?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str);
        let (Some(sub), Some(sid), Some(_)) = (text("sub"), text("sid"), text("client_id")) else {
            return Err(bad());
        };
        self.check_binding(&claims, token, dpop, now).await?;
        check_cert_binding(&claims, peer_x5t).map_err(OAuthError::invalid_token)?;
        if self.revocations.is_revoked(sid)
            || self
                .store
                .clients()
                .access_token_revoked(text("jti").unwrap_or(""))
                .await?
            || !self
                .store
                .session(sid)
                .await?
                .is_some_and(|s| s.is_active(now))
        {
            return Err(bad());
        }
        let scopes: Vec<&str> = text("scope").unwrap_or("").split(' ').collect();
        if !scopes.contains(&"openid") {
            return Err(OAuthError::insufficient_scope(
                "userinfo needs the openid scope",
            ));
        }
        let user = self
            .store
            .user_by_id(sub)
            .await?
            .filter(|u| !u.locked)
            .ok_or_else(bad)?;
        let mut out = Map::new();
        out.insert("sub".into(), user.id.clone().into());
        if scopes.contains(&"email") {
            out.insert("email".into(), user.email.as_str().into());
            // Addresses are not verified by mail yet (the federation issue).
            out.insert("email_verified".into(), false.into());
        }
        if scopes.contains(&"profile") {
            if let Some(n) = &user.display_name {
                out.insert("name".into(), n.clone().into());
            }
            out.insert("preferred_username".into(), user.email.as_str().into());
        }
        Ok(Value::Object(out))
    }

    /// A DPoP-bound token needs the DPoP scheme and a proof of its key for this request and
    /// token, used once; an unbound one must not come with the DPoP scheme.
    pub(crate) async fn check_binding(
        &self,
        claims: &Map<String, Value>,
        token: &str,
        dpop: Option<super::DpopRequest<'_>>,
        now: i64,
    ) -> Result<(), OAuthError> {
        let bound = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str);
        match (bound, dpop) {
            (None, None) => Ok(()),
            (Some(jkt), Some(req)) => {
                let proof =
                    crate::oauth::dpop::verify(req.proof, req.method, req.uri, now, Some(token))
                        .map_err(OAuthError::invalid_dpop_proof)?;
                if proof.jkt != jkt {
                    return Err(OAuthError::invalid_dpop_proof(
                        "the proof's key is not the token's",
                    ));
                }
                if !self
                    .store
                    .use_nonce(&format!("dpop:{jkt}"), &proof.jti, proof.keep_until, now)
                    .await?
                {
                    return Err(OAuthError::invalid_dpop_proof(
                        "the DPoP proof was used before",
                    ));
                }
                Ok(())
            }
            (Some(_), None) => Err(OAuthError::invalid_token(
                "a DPoP-bound token needs the DPoP scheme and a proof",
            )),
            (None, Some(_)) => Err(OAuthError::invalid_token("the token is not DPoP-bound")),
        }
    }
}
