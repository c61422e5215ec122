//! Tokens of Portcullis's own sign-ins: refresh tokens (issued into a session's family,
//! rotated on every use, a reused one revoking the family), access tokens (minted for a
//! session, and authenticated on every request without a database round trip).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::auth::{ElevationGrant, Principal, TokenResponse};
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::jwt::Claims;
use crate::crypto::tokens::{is_refresh_token_shape, new_refresh_token, sha256_hex};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{RefreshToken, Role, Session, User};
use crate::store::Tx;

impl Services {
    pub(crate) async fn issue_refresh(
        &self,
        tx: &mut dyn Tx,
        session_id: &str,
    ) -> Result<SecretString> {
        Ok(self.issue_refresh_id(tx, session_id).await?.0)
    }

    /// [`Self::issue_refresh`], with the new token's id.
    pub(crate) async fn issue_refresh_id(
        &self,
        tx: &mut dyn Tx,
        session_id: &str,
    ) -> Result<(SecretString, String)> {
        let now = self.now();
        let token = new_refresh_token(self.rng.as_ref());
        let id = new_id(now, self.rng.as_ref());
        tx.insert_refresh_token(&RefreshToken {
            id: id.clone(),
            session_id: session_id.to_owned(),
            token_hash: sha256_hex(token.expose_secret().as_bytes()),
            created_at: now,
            expires_at: now + self.settings.refresh_ttl,
            rotated_at: None,
        })
        .await?;
        Ok((token, id))
    }

    /// Signs an access token for `user` in `session`, carrying the session's `amr` and
    /// `auth_time`.
    pub(crate) fn mint_access_token(
        &self,
        user: &User,
        session: &Session,
        elevation: Option<&crate::approvals::ApprovalRequest>,
    ) -> Result<SecretString> {
        let now = self.now();
        let grant = elevation.and_then(super::elevation::grant_of);
        let exp = match &grant {
            Some(g) => (now + self.settings.access_ttl).min(g.until),
            None => now + self.settings.access_ttl,
        };
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: user.id.clone(),
            aud: self.settings.issuer.clone(),
            exp,
            iat: now,
            jti: new_id(now, self.rng.as_ref()),
            sid: session.id.clone(),
            role: grant
                .as_ref()
                .and_then(|g| g.role)
                .unwrap_or(user.role)
                .as_str()
                .to_owned(),
            amr: session.amr.clone(),
            auth_time: session.auth_time,
            elevated: grant.is_some(),
            elevation_id: grant.as_ref().map(|g| g.id.clone()),
            base_role: grant.as_ref().map(|_| user.role.as_str().to_owned()),
            scope: grant
                .as_ref()
                .filter(|g| !g.scopes.is_empty())
                .map(|g| g.scopes.join(" ")),
            pwd_change: user.must_change_password,
            cnf: session
                .dpop_jkt
                .as_ref()
                .map(|jkt| crate::crypto::jwt::Confirmation { jkt: jkt.clone() }),
        };
        Ok(SecretString::from(self.keyring.sign(&claims, now)?))
    }

    pub(crate) fn token_response(
        &self,
        user: &User,
        session: &Session,
        refresh: SecretString,
        elevation: Option<&crate::approvals::ApprovalRequest>,
    ) -> Result<TokenResponse> {
        let expires_in = elevation
            .and_then(super::elevation::grant_of)
            .map_or(self.settings.access_ttl, |g| {
                (g.until - self.now()).clamp(0, self.settings.access_ttl)
            });
        Ok(TokenResponse {
            access_token: self.mint_access_token(user, session, elevation)?,
            expires_in,
            refresh_token: refresh,
            session_id: session.id.clone(),
            device_cookie: None,
            dpop_bound: session.dpop_jkt.is_some(),
        })
    }

    /// Exchanges a refresh token for a new pair. A token that was already rotated revokes
    /// its whole family and session (RFC 9700, section 4.14.2).
    pub async fn refresh(&self, ctx: &RequestContext, token: &str) -> Result<TokenResponse> {
        if !is_refresh_token_shape(token) {
            return Err(Error::InvalidToken("malformed refresh token"));
        }
        let now = self.now();
        let hash = sha256_hex(token.as_bytes());
        let mut tx = self.store.begin().await?;
        let Some(rt) = tx.refresh_token_by_hash(&hash).await? else {
            return Err(Error::InvalidToken("unknown refresh token"));
        };
        // An application's refresh token (an OAuth grant) is good only at /oauth2/token, for
        // that client: here it would buy a token for Portcullis's own API with the person's
        // role.
        if tx
            .clients()
            .grant_record(crate::oauth::grants::Kind::Grant, &rt.session_id)
            .await?
            .is_some()
        {
            return Err(Error::InvalidToken("unknown refresh token"));
        }
        let session = tx
            .session(&rt.session_id)
            .await?
            .ok_or(Error::InvalidToken("unknown session"))?;
        // A bound session's refresh token is worth nothing without the key: refused before
        // it is used, so a thief without the key can neither refresh nor, by replaying a
        // rotated token, revoke the owner's session.
        if let Err(why) = dpop_matches(session.dpop_jkt.as_deref(), ctx.dpop_jkt.as_deref()) {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.token.dpop_refused", Outcome::Failure)
                    .actor(session.user_id.clone())
                    .target(session.id.clone())
                    .client(ctx)
                    .details(json!({"reason": why})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidDpopProof(why));
        }
        let won = rt.rotated_at.is_none() && tx.mark_rotated(&rt.id, now).await?;
        if !won {
            self.revoke_reused_family(tx, ctx, &session, &rt.id, None)
                .await?;
            return Err(Error::TokenReused);
        }
        if !session.is_active(now) || rt.expires_at <= now {
            return Err(Error::InvalidToken(
                "refresh token expired or session revoked",
            ));
        }
        let user = tx
            .user_by_id(&session.user_id)
            .await?
            .ok_or(Error::InvalidToken("unknown user"))?;
        if user.locked {
            return Err(Error::InvalidToken("account locked"));
        }
        let refresh = self.issue_refresh(tx.as_mut(), &session.id).await?;
        let expires_at = now + self.settings.refresh_ttl;
        tx.touch_session(&session.id, now, expires_at).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.token.refreshed", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        let elevation = self
            .store
            .approvals()
            .active_elevation(&session.id, now)
            .await?;
        self.token_response(&user, &session, refresh, elevation.as_ref())
    }

    /// A rotated refresh token came back (RFC 9700 §4.14.2): its family's session is
    /// revoked, on every node, with the audit events, and `tx` committed. `client_id` names
    /// the OAuth client whose grant it was.
    pub(crate) async fn revoke_reused_family(
        &self,
        mut tx: Box<dyn Tx>,
        ctx: &RequestContext,
        session: &Session,
        token_id: &str,
        client_id: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let revoked = tx
            .revoke_session(&session.id, "refresh_token_reuse", now)
            .await?;
        let mut details = json!({"token_id": token_id, "session_revoked": revoked});
        if let (Some(c), Some(o)) = (client_id, details.as_object_mut()) {
            o.insert("client_id".into(), c.into());
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.token.reuse_detected", Outcome::Failure)
                .actor(session.user_id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(details),
        )
        .await?;
        if revoked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.session.revoked", Outcome::Success)
                    .actor("system")
                    .target(session.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "refresh_token_reuse", "user_id": session.user_id})),
            )
            .await?;
        }
        tx.commit().await?;
        self.note_revoked(std::slice::from_ref(&session.id), now);
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, client_id = client_id.unwrap_or(""), "refresh token reuse detected; session revoked");
        Ok(())
    }

    /// Authenticates an access token sent with the Bearer scheme: signature, issuer,
    /// audience, expiry, revocation. No database round trip; refuses everything while the
    /// revocation view is not current. A DPoP-bound token is refused: it needs its proof
    /// ([`Self::authenticate_dpop`]).
    pub fn authenticate(&self, token: &str) -> Result<Principal> {
        match self.verify_access_token(token)? {
            (p, None) => Ok(p),
            (_, Some(_)) => Err(Error::InvalidDpopProof(
                "this token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449)",
            )),
        }
    }

    /// Authenticates an access token sent with the DPoP scheme (RFC 9449 §7): everything
    /// [`Self::authenticate`] checks, and a proof for this request and this token (`ath`)
    /// by the key the token is bound to, used once on any node.
    pub async fn authenticate_dpop(
        &self,
        token: &str,
        request: super::DpopRequest<'_>,
    ) -> Result<Principal> {
        let (p, jkt) = self.verify_access_token(token)?;
        let jkt = jkt.ok_or(Error::InvalidToken(
            "the token is not DPoP-bound: send it with the Bearer scheme",
        ))?;
        self.check_dpop_proof(token, &jkt, request).await?;
        Ok(p)
    }

    /// The principal of a person's session token this node verified before, sent with
    /// the Bearer scheme: what [`Self::authenticate`] answers, without reading the token
    /// again (the gateway asks first, on every request). `None` when it is not one (never
    /// verified here, or an OAuth client's token, which has checks of its own).
    pub fn authenticate_verified(&self, token: &str) -> Option<Result<Principal>> {
        if !self.health.ready() {
            return None;
        }
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let (p, window, jkt, app) = self
            .verified_tokens
            .lock()
            .ok()
            .and_then(|m| m.get(&digest).cloned())?;
        if app {
            return None;
        }
        Some((|| {
            let now = self.now();
            window.check(now)?;
            if self.revocations.is_revoked(&p.session_id) {
                return Err(Error::InvalidToken("session revoked"));
            }
            if jkt.is_some() {
                return Err(Error::InvalidDpopProof(
                    "this token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449)",
                ));
            }
            Ok(self.apply_elevation(p, now))
        })())
    }

    /// The principal of a current access token, and the DPoP key it is bound to.
    fn verify_access_token(&self, token: &str) -> Result<(Principal, Option<String>)> {
        if !self.health.ready() {
            return Err(Error::Unavailable(
                "database unreachable; failing closed".into(),
            ));
        }
        let now = self.now();
        // A token verified before skips the signature check (the expensive part); expiry
        // and revocation are checked every time.
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified_tokens
            .lock()
            .ok()
            .and_then(|m| m.get(&digest).cloned());
        if let Some((p, window, jkt, _)) = cached {
            window.check(now)?;
            if self.revocations.is_revoked(&p.session_id) {
                return Err(Error::InvalidToken("session revoked"));
            }
            return Ok((self.apply_elevation(p, now), jkt));
        }
        let claims = self
            .keyring
            .verify(token, now)
            .map_err(|_| Error::InvalidToken("bad signature or unknown key"))?;
        if claims.iss != self.settings.issuer || claims.aud != self.settings.issuer {
            return Err(Error::InvalidToken("wrong issuer or audience"));
        }
        let window = super::TokenWindow {
            iat: claims.iat,
            exp: claims.exp,
        };
        window.check(now)?;
        if self.revocations.is_revoked(&claims.sid) {
            return Err(Error::InvalidToken("session revoked"));
        }
        let role = claims
            .role
            .parse()
            .map_err(|_| Error::InvalidToken("unknown role"))?;
        // Under an elevation `role` is the elevated one; the principal is cached with the
        // user's own role and the elevation applied (or dropped) on every use.
        let (role, elevation) = match (claims.elevated, claims.elevation_id) {
            (true, Some(id)) => {
                let base: Role = claims
                    .base_role
                    .as_deref()
                    .ok_or(Error::InvalidToken("elevated token without base_role"))?
                    .parse()
                    .map_err(|_| Error::InvalidToken("unknown role"))?;
                let grant = ElevationGrant {
                    id,
                    role: (role != base).then_some(role),
                    scopes: claims
                        .scope
                        .as_deref()
                        .map(|s| {
                            s.split(' ')
                                .filter(|x| !x.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    until: claims.exp,
                };
                (base, Some(grant))
            }
            (false, None) => (role, None),
            _ => return Err(Error::InvalidToken("inconsistent elevation claims")),
        };
        let jkt = claims.cnf.map(|c| c.jkt);
        // Cached as issued (the user's own role); the elevation is applied on every use.
        let p = Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            role,
            amr: claims.amr,
            auth_time: claims.auth_time,
            api_key: None,
            elevation,
            password_change: claims.pwd_change,
        };
        if let Ok(mut m) = self.verified_tokens.lock() {
            if m.len() >= 100_000 {
                m.retain(|_, (_, w, _, _)| w.exp > now);
                if m.len() >= 100_000 {
                    m.clear();
                }
            }
            m.insert(
                digest,
                (p.clone(), window, jkt.clone(), super::is_app_token(token)),
            );
        }
        Ok((self.apply_elevation(p, now), jkt))
    }

    /// The principal as it stands at `now`: an elevation in force lends its role; one that
    /// ended or was revoked (on any node) is dropped, and the token keeps only its own role.
    fn apply_elevation(&self, mut p: Principal, now: i64) -> Principal {
        match &p.elevation {
            Some(e) if e.until > now && !self.revocations.is_revoked(&e.id) => {
                if let Some(r) = e.role {
                    p.role = r;
                }
            }
            Some(_) => p.elevation = None,
            None => {}
        }
        p
    }
}

/// Whether a refresh's DPoP proof fits its session: a bound session needs a proof by its
/// key; an unbound one takes none (its tokens stay bearer tokens).
fn dpop_matches(
    session: Option<&str>,
    proof: Option<&str>,
) -> std::result::Result<(), &'static str> {
    match (session, proof) {
        (None, None) => Ok(()),
        (Some(bound), Some(key))
            if crate::crypto::tokens::ct_eq(bound.as_bytes(), key.as_bytes()) =>
        {
            Ok(())
        }
        (Some(_), Some(_)) => Err("the DPoP proof's key is not the one this session is bound to"),
        (Some(_), None) => {
            Err("this session's tokens are DPoP-bound: refresh with a DPoP proof by its key")
        }
        (None, Some(_)) => Err(
            "this session is not DPoP-bound: refresh without a DPoP proof, or sign in again with one",
        ),
    }
}
