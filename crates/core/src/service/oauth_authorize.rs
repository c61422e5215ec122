//! The authorization endpoint's decisions (RFC 6749 §4.1, OpenID Connect Core §3.1.2):
//! which step a person is on (sign in, consent, done), pushed requests (RFC 9126), the
//! browser's sign-in session, consents, and the codes handed to clients.
//!
//! A request a person works through is stored under a random handle (10 minutes, used
//! once); the pages carry only the handle. The browser's sign-in is an ordinary Portcullis
//! session named by a cookie that holds its id and an HMAC of it, so it is revoked (from
//! the sessions list, by an admin, by automated response) like any other session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

use super::oauth::ClientAuth;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::{ct_eq, sha256_hex};
use crate::id::is_valid_id;
use crate::model::{Session, User};
use crate::oauth::authorize::{
    ACR_1FA, ACR_2FA, AuthzError, AuthzRequest, Params, check, redirect_to, redirect_uri_of,
};
use crate::oauth::clients::OAuthClient;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{GrantRecord, Kind, consent_id};
use crate::rand::bytes;

/// Where the endpoints live.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
/// RFC 9126.
pub const PAR_PATH: &str = "/oauth2/par";
/// How long a person has to sign in and consent.
const REQUEST_TTL: i64 = 600;
/// How long a pushed request stays good (RFC 9126 §2.2 suggests 5 to 600 seconds).
const PAR_TTL: i64 = 90;
/// How long a code stays good (RFC 6749 §4.1.2: at most 10 minutes; one is plenty).
pub(crate) const CODE_TTL: i64 = 60;
/// How long a consent is remembered.
const CONSENT_TTL: i64 = 365 * 86_400;
/// The prefix of a pushed request's URI.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What the person's browser is to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzStep {
    /// Go back to the client (with a code or an error).
    Redirect(String),
    /// Sign in (again) for request `handle`; `second_factor` when the request needs one.
    SignIn {
        /// The stored request.
        handle: String,
        /// The request asks for a second factor.
        second_factor: bool,
    },
    /// Consent to the client's scopes for request `handle`.
    Consent {
        /// The stored request.
        handle: String,
    },
    /// Approve the device authorization of request `handle` (RFC 8628).
    Device {
        /// The stored request.
        handle: String,
    },
}

/// A stored request with its client, for the pages.
#[derive(Debug, Clone)]
pub struct PendingAuthz {
    /// The request.
    pub request: AuthzRequest,
    /// The client.
    pub client: OAuthClient,
    /// When it was made.
    pub created_at: i64,
}

/// Where people see and withdraw their consents.
pub const ACCOUNT_PATH: &str = "/oauth2/account";

/// The stand-in client of a sign-in for Portcullis's own pages.
pub(crate) fn account_client() -> OAuthClient {
    OAuthClient {
        id: String::new(),
        name: "your Portcullis account".into(),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        auth_method: crate::oauth::clients::AuthMethod::None,
        scopes: Vec::new(),
        backchannel_logout_uri: None,
        require_pkce: true,
        require_par: false,
        require_dpop: false,
        jwks: None,
        tls_client_auth_san_uri: None,
        secret_hash: None,
        created_by: "portcullis".into(),
        created_at: 0,
        updated_at: 0,
    }
}

/// The `acr` of a session's methods.
pub(crate) fn acr_of(amr: &[String]) -> &'static str {
    if amr
        .iter()
        .any(|m| super::auth::SECOND_FACTORS.contains(&m.as_str()))
    {
        ACR_2FA
    } else {
        ACR_1FA
    }
}

/// The redirect that carries `e` back to the client, with `state` and `iss` (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    e: &OAuthError,
    issuer: &str,
) -> String {
    let mut p: Vec<(&str, &str)> = vec![("error", e.code), ("error_description", &e.description)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    redirect_to(redirect_uri, &p)
}

impl Services {
    fn mac(&self, label: &str, data: &str) -> String {
        let key = self.keyring.derive(label);
        let mut out = Vec::new();
        if let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref()) {
            mac.update(data.as_bytes());
            out = mac.finalize().into_bytes().to_vec();
        }
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The value of the browser's sign-in cookie for session `sid`.
    pub fn browser_cookie(&self, sid: &str) -> String {
        format!("{sid}.{}", self.mac("portcullis:browser-session:v1", sid))
    }

    /// The live session and user a sign-in cookie names, if it names one.
    pub async fn browser_session(
        &self,
        cookie: Option<&str>,
    ) -> crate::error::Result<Option<(Session, User)>> {
        let Some((sid, tag)) = cookie.and_then(|c| c.split_once('.')) else {
            return Ok(None);
        };
        if !is_valid_id(sid)
            || !ct_eq(
                self.mac("portcullis:browser-session:v1", sid).as_bytes(),
                tag.as_bytes(),
            )
            || self.revocations.is_revoked(sid)
        {
            return Ok(None);
        }
        let now = self.now();
        let Some(session) = self.store.session(sid).await? else {
            return Ok(None);
        };
        if !session.is_active(now) {
            return Ok(None);
        }
        let Some(user) = self.store.user_by_id(&session.user_id).await? else {
            return Ok(None);
        };
        Ok((!user.locked).then_some((session, user)))
    }

    /// The CSRF token of a form shown to the browser holding `binding` (a random cookie).
    pub fn csrf_token(&self, binding: &str) -> String {
        self.mac("portcullis:csrf:v1", binding)
    }

    /// Whether a form's CSRF token belongs to the browser's `binding`.
    pub fn csrf_ok(&self, binding: Option<&str>, token: Option<&str>) -> bool {
        match (binding, token) {
            (Some(b), Some(t)) if b.len() >= 16 => {
                ct_eq(self.csrf_token(b).as_bytes(), t.as_bytes())
            }
            _ => false,
        }
    }

    /// A fresh random value (cookie bindings, CSP nonces).
    pub fn random_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(bytes::<24>(self.rng.as_ref()))
    }

    /// `POST /oauth2/par`: authenticates the client, checks the request as the authorization
    /// endpoint would, and keeps it for `PAR_TTL` seconds under a new request URI.
    pub async fn push_authorization_request(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
        params: &Params,
        dpop: Option<&str>,
    ) -> Result<(String, i64), OAuthError> {
        let client = self.authenticate_client(ctx, auth).await?;
        // RFC 9449 §10.1: a proof at PAR binds the code to its key, as dpop_jkt would.
        let proved = match dpop {
            Some(p) => Some(self.dpop_proof_at(p, PAR_PATH).await?),
            None => None,
        };
        if params.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request(
                "a pushed request cannot carry request_uri",
            ));
        }
        let uri = redirect_uri_of(params, &client)?;
        let mut req =
            check(params, &client, uri, &self.settings.issuer, true).map_err(|e| match e {
                AuthzError::Page(e) | AuthzError::Redirect { error: e, .. } => e,
            })?;
        if let Some(jkt) = proved {
            if req.dpop_jkt.as_deref().is_some_and(|j| j != jkt) {
                return Err(OAuthError::invalid_dpop_proof(
                    "dpop_jkt is not the key of the DPoP proof",
                ));
            }
            req.dpop_jkt = Some(jkt);
        }
        let now = self.now();
        let handle = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let request_uri = format!("{REQUEST_URI_PREFIX}{handle}");
        let mut tx = self.store.begin().await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Par,
                id: sha256_hex(request_uri.as_bytes()),
                client_id: client.id.clone(),
                user_id: None,
                parent: None,
                body: serde_json::to_value(&req).unwrap_or_default(),
                created_at: now,
                expires_at: now + PAR_TTL,
                used_at: None,
            })
            .await?;
        tx.commit().await?;
        Ok((request_uri, PAR_TTL))
    }

    /// Starts a sign-in that returns to the account page; its handle.
    pub async fn account_request(&self) -> crate::error::Result<String> {
        let now = self.now();
        let handle = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let req = AuthzRequest {
            client_id: String::new(),
            redirect_uri: String::new(),
            redirect_uri_sent: false,
            scopes: Vec::new(),
            state: None,
            nonce: None,
            code_challenge: String::new(),
            prompt: Vec::new(),
            max_age: None,
            acr_values: Vec::new(),
            resources: Vec::new(),
            dpop_jkt: None,
            login_hint: None,
            pushed: false,
            device: None,
            return_to: Some(ACCOUNT_PATH.to_owned()),
        };
        let mut tx = self.store.begin().await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Request,
                id: sha256_hex(handle.as_bytes()),
                client_id: String::new(),
                user_id: None,
                parent: None,
                body: serde_json::to_value(&req).unwrap_or_default(),
                created_at: now,
                expires_at: now + REQUEST_TTL,
                used_at: None,
            })
            .await?;
        tx.commit().await?;
        Ok(handle)
    }

    /// The stored request behind a handle, while it is good.
    pub async fn pending_authorization(
        &self,
        handle: &str,
    ) -> crate::error::Result<Option<PendingAuthz>> {
        if handle.len() != 43 {
            return Ok(None);
        }
        let now = self.now();
        let Some(rec) = self
            .store
            .clients()
            .grant_record(Kind::Request, &sha256_hex(handle.as_bytes()))
            .await?
        else {
            return Ok(None);
        };
        if rec.expires_at <= now || rec.used_at.is_some() {
            return Ok(None);
        }
        let Ok(request) = serde_json::from_value::<AuthzRequest>(rec.body) else {
            return Ok(None);
        };
        let client = match self.authorizing_client(&rec.client_id).await? {
            Some(c) => c,
            // A sign-in for Portcullis's own pages has no client.
            None if request.return_to.is_some() => account_client(),
            None => return Ok(None),
        };
        Ok(Some(PendingAuthz {
            request,
            client,
            created_at: rec.created_at,
        }))
    }

    /// `GET|POST /oauth2/authorize`: checks the request (or takes the pushed one it names),
    /// keeps it, and decides the first step for the browser's `session`.
    pub async fn authorize(
        &self,
        ctx: &RequestContext,
        params: &Params,
        session: Option<(Session, User)>,
    ) -> Result<AuthzStep, AuthzError> {
        let page = AuthzError::Page;
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page(OAuthError::invalid_request("client_id is required")))?;
        let client = self
            .authorizing_client(client_id)
            .await
            .map_err(|e| page(e.into()))?
            .ok_or_else(|| page(OAuthError::invalid_request("unknown client_id")))?;
        let req = match params.get("request_uri") {
            Some(uri) => self.take_pushed(&client, uri).await?,
            None => {
                let uri = redirect_uri_of(params, &client).map_err(page)?;
                check(params, &client, uri, &self.settings.issuer, false)?
            }
        };
        let now = self.now();
        let handle = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let pending = PendingAuthz {
            request: req,
            client,
            created_at: now,
        };
        // Decided at once (a code, or an error for the client): nothing to keep.
        let step = self
            .next_step(ctx, &handle, &pending, session.as_ref(), false, false)
            .await?;
        if matches!(step, AuthzStep::Redirect(_)) {
            return Ok(step);
        }
        // A page comes next: the request is kept for it under the handle.
        let mut tx = self.store.begin().await.map_err(|e| page(e.into()))?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Request,
                id: sha256_hex(handle.as_bytes()),
                client_id: pending.client.id.clone(),
                user_id: None,
                parent: None,
                body: serde_json::to_value(&pending.request).unwrap_or_default(),
                created_at: now,
                expires_at: now + REQUEST_TTL,
                used_at: None,
            })
            .await
            .map_err(|e| page(e.into()))?;
        tx.commit().await.map_err(|e| page(e.into()))?;
        Ok(step)
    }

    /// The pushed request `uri` names, once: it must be the calling client's and current.
    async fn take_pushed(
        &self,
        client: &OAuthClient,
        uri: &str,
    ) -> Result<AuthzRequest, AuthzError> {
        let page = AuthzError::Page;
        let refused = || {
            page(OAuthError::invalid_request_uri(
                "the request_uri is unknown, expired or used",
            ))
        };
        if !uri.starts_with(REQUEST_URI_PREFIX) {
            return Err(refused());
        }
        let id = sha256_hex(uri.as_bytes());
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(|e| page(e.into()))?;
        let rec = tx
            .clients()
            .grant_record(Kind::Par, &id)
            .await
            .map_err(|e| page(e.into()))?
            .filter(|r| r.client_id == client.id && r.expires_at > now)
            .ok_or_else(refused)?;
        if !tx
            .clients()
            .use_grant_record(Kind::Par, &id, now)
            .await
            .map_err(|e| page(e.into()))?
        {
            return Err(refused());
        }
        tx.commit().await.map_err(|e| page(e.into()))?;
        serde_json::from_value(rec.body).map_err(|_| refused())
    }

    /// The step after the browser signed in for request `handle` (`session` is the sign-in
    /// that just happened, so it satisfies `prompt=login`).
    pub async fn authorize_resume(
        &self,
        ctx: &RequestContext,
        handle: &str,
        session: Option<(Session, User)>,
    ) -> Result<AuthzStep, AuthzError> {
        let pending = self
            .pending_authorization(handle)
            .await
            .map_err(|e| AuthzError::Page(e.into()))?
            .ok_or_else(|| AuthzError::Page(OAuthError::invalid_request(
                "this sign-in took too long or was finished already; go back to the application and start again",
            )))?;
        self.next_step(ctx, handle, &pending, session.as_ref(), true, true)
            .await
    }

    async fn next_step(
        &self,
        ctx: &RequestContext,
        handle: &str,
        p: &PendingAuthz,
        session: Option<&(Session, User)>,
        fresh: bool,
        stored: bool,
    ) -> Result<AuthzStep, AuthzError> {
        let req = &p.request;
        let issuer = &self.settings.issuer;
        let back = |e: OAuthError| {
            Ok(AuthzStep::Redirect(error_redirect(
                &req.redirect_uri,
                req.state.as_deref(),
                &e,
                issuer,
            )))
        };
        let none = req.prompts("none");
        let sign_in = AuthzStep::SignIn {
            handle: handle.to_owned(),
            second_factor: req.wants_second_factor(),
        };
        if let Some(to) = &req.return_to {
            return Ok(match session {
                None => sign_in,
                Some(_) => AuthzStep::Redirect(to.clone()),
            });
        }
        if req.device.is_some() {
            // The device page is the consent; nothing goes back to a redirect URI.
            return Ok(match session {
                None => sign_in,
                Some(_) => AuthzStep::Device {
                    handle: handle.to_owned(),
                },
            });
        }
        let Some((session, user)) = session else {
            return if none {
                back(OAuthError::login_required("the person is not signed in"))
            } else {
                Ok(sign_in)
            };
        };
        let now = self.now();
        let stale = (req.prompts("login") && !fresh)
            || req.max_age.is_some_and(|m| now - session.auth_time > m);
        if stale {
            return if none {
                back(OAuthError::login_required(
                    "the sign-in is older than max_age",
                ))
            } else {
                Ok(sign_in)
            };
        }
        if req.wants_second_factor() && acr_of(&session.amr) != ACR_2FA {
            if none {
                return back(OAuthError::interaction_required(
                    "a second factor is needed",
                ));
            }
            if fresh {
                // Signed in just now, and still without one: the account has none.
                return back(OAuthError::access_denied(
                    "the application needs a second factor, and the account has none enrolled",
                ));
            }
            return Ok(sign_in);
        }
        // The console is Portcullis's own: nothing to consent to.
        let first_party = p.client.id == super::console::CONSOLE_CLIENT_ID;
        let consented = first_party
            || self
                .store
                .clients()
                .grant_record(Kind::Consent, &consent_id(&user.id, &p.client.id))
                .await
                .map_err(|e| AuthzError::Page(e.into()))?
                .filter(|c| c.expires_at > now)
                .is_some_and(|c| {
                    let given: Vec<String> = c.scopes();
                    req.scopes.iter().all(|s| given.contains(s))
                });
        if !consented || req.prompts("consent") {
            return if none {
                back(OAuthError::consent_required("the person has not consented"))
            } else {
                Ok(AuthzStep::Consent {
                    handle: handle.to_owned(),
                })
            };
        }
        self.issue_code(ctx, stored.then_some(handle), p, session, user, false)
            .await
    }

    /// The person's answer on the consent page.
    pub async fn authorize_consent(
        &self,
        ctx: &RequestContext,
        handle: &str,
        session: Option<(Session, User)>,
        allow: bool,
    ) -> Result<AuthzStep, AuthzError> {
        let p = self
            .pending_authorization(handle)
            .await
            .map_err(|e| AuthzError::Page(e.into()))?
            .ok_or_else(|| AuthzError::Page(OAuthError::invalid_request(
                "this sign-in took too long or was finished already; go back to the application and start again",
            )))?;
        let Some((session, user)) = session else {
            return Ok(AuthzStep::SignIn {
                handle: handle.to_owned(),
                second_factor: p.request.wants_second_factor(),
            });
        };
        if !allow {
            let now = self.now();
            let mut tx = self
                .store
                .begin()
                .await
                .map_err(|e| AuthzError::Page(e.into()))?;
            let _ = tx
                .clients()
                .use_grant_record(Kind::Request, &sha256_hex(handle.as_bytes()), now)
                .await;
            tx.append_audit(
                &NewAuditEvent::new(now, "oauth.consent.denied", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(p.client.id.clone())
                    .client(ctx)
                    .details(json!({"scope": p.request.scopes.join(" ")})),
            )
            .await
            .map_err(|e| AuthzError::Page(e.into()))?;
            tx.commit().await.map_err(|e| AuthzError::Page(e.into()))?;
            return Ok(AuthzStep::Redirect(error_redirect(
                &p.request.redirect_uri,
                p.request.state.as_deref(),
                &OAuthError::access_denied("the person declined"),
                &self.settings.issuer,
            )));
        }
        self.issue_code(ctx, Some(handle), &p, &session, &user, true)
            .await
    }

    /// Issues the code of request `handle` (used once, when it was kept), recording consent
    /// when `consent`.
    async fn issue_code(
        &self,
        ctx: &RequestContext,
        handle: Option<&str>,
        p: &PendingAuthz,
        session: &Session,
        user: &User,
        consent: bool,
    ) -> Result<AuthzStep, AuthzError> {
        let page = |e: crate::store::StoreError| AuthzError::Page(e.into());
        let req = &p.request;
        let now = self.now();
        let code = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let mut tx = self.store.begin().await.map_err(page)?;
        // A kept request is answered once; one decided at once was never kept.
        let first = match handle {
            Some(h) => tx
                .clients()
                .use_grant_record(Kind::Request, &sha256_hex(h.as_bytes()), now)
                .await
                .map_err(page)?,
            None => true,
        };
        if !first {
            return Err(AuthzError::Page(OAuthError::invalid_request(
                "this sign-in was finished already; go back to the application and start again",
            )));
        }
        if consent {
            let cid = consent_id(&user.id, &p.client.id);
            let mut scopes: Vec<String> = tx
                .clients()
                .grant_record(Kind::Consent, &cid)
                .await
                .map_err(page)?
                .filter(|c| c.expires_at > now)
                .map(|c| c.scopes())
                .unwrap_or_default();
            for s in &req.scopes {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
            tx.clients()
                .put_grant_record(&GrantRecord {
                    kind: Kind::Consent,
                    id: cid,
                    client_id: p.client.id.clone(),
                    user_id: Some(user.id.clone()),
                    parent: None,
                    body: json!({"scopes": scopes}),
                    created_at: now,
                    expires_at: now + CONSENT_TTL,
                    used_at: None,
                })
                .await
                .map_err(page)?;
            tx.append_audit(
                &NewAuditEvent::new(now, "oauth.consent.granted", Outcome::Success)
                    .actor(user.id.clone())
                    .target(p.client.id.clone())
                    .client(ctx)
                    .details(json!({"scope": scopes.join(" ")})),
            )
            .await
            .map_err(page)?;
        }
        let mut body = serde_json::to_value(req).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("auth_time".into(), session.auth_time.into());
            o.insert("amr".into(), json!(session.amr));
            o.insert("acr".into(), acr_of(&session.amr).into());
        }
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Code,
                id: sha256_hex(code.as_bytes()),
                client_id: p.client.id.clone(),
                user_id: Some(user.id.clone()),
                parent: Some(session.id.clone()),
                body,
                created_at: now,
                expires_at: now + CODE_TTL,
                used_at: None,
            })
            .await
            .map_err(page)?;
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.authorization.granted", Outcome::Success)
                .actor(user.id.clone())
                .target(p.client.id.clone())
                .client(ctx)
                .details(json!({
                    "scope": req.scopes.join(" "), "redirect_uri": req.redirect_uri,
                    "session_id": session.id, "pushed": req.pushed,
                })),
        )
        .await
        .map_err(page)?;
        tx.commit().await.map_err(page)?;
        let mut params: Vec<(&str, &str)> = vec![("code", &code)];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        params.push(("iss", &self.settings.issuer));
        Ok(AuthzStep::Redirect(redirect_to(&req.redirect_uri, &params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_go_back_with_state_and_issuer() {
        let u = error_redirect(
            "https://a.example/cb",
            Some("s 1"),
            &OAuthError::access_denied("no"),
            "https://id.example",
        );
        assert_eq!(
            u,
            "https://a.example/cb?error=access_denied&error_description=no&state=s+1&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(acr_of(&["pwd".into()]), ACR_1FA);
        assert_eq!(acr_of(&["pwd".into(), "otp".into()]), ACR_2FA);
    }
}
