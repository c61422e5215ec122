//! Signing in through upstream OpenID providers (`[[identity_providers]]`): the protocol is
//! the server's ([`UpstreamClient`], on the `openidconnect` crate); which account the
//! provider's person becomes is decided here.
//!
//! In order: an identity linked before signs in to its account. Otherwise, when an account
//! has the provider's address, the sign-in joins it only when the provider says the address
//! is verified, the provider's `link` is `verified_email`, **and** the person proves the
//! local account first (its password, and its second factor if it has one): joining on an
//! unverified or unproved address would hand the account to whoever controls the provider
//! account. Otherwise, with `jit`, a new account is created; without, the sign-in is refused
//! with a page that says so. `allowed_domains` applies to every sign-in through the provider.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use super::{RequestContext, Services, TokenResponse};
use crate::accounts::LinkedIdentity;
use crate::audit::{NewAuditEvent, Outcome};
use crate::config::{IdentityProviderConfig, LinkPolicy};
use crate::crypto::tokens::{ct_eq, sha256_hex};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{Role, User};
use crate::oauth::grants::{GrantRecord, Kind};
use crate::password::normalize;

/// How long a sign-in at the provider may take, and a link proof after it, seconds.
const PENDING_SECONDS: i64 = 600;

/// What starting a sign-in at a provider gives: where to send the browser, and the secrets
/// the answer must match.
pub struct UpstreamStart {
    /// The provider's authorization URL, with `state`, `nonce` and the PKCE challenge.
    pub url: String,
    /// `state`.
    pub state: SecretString,
    /// `nonce`.
    pub nonce: SecretString,
    /// The PKCE verifier.
    pub verifier: SecretString,
}

/// The person the provider vouched for, from its verified ID token and userinfo.
#[derive(Debug, Clone, Default)]
pub struct UpstreamIdentity {
    /// `sub`.
    pub subject: String,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `amr`.
    pub amr: Vec<String>,
    /// Every claim (the ID token's, then userinfo's), for `role_claim`.
    pub claims: Map<String, Value>,
}

/// The protocol side of an upstream provider (discovery, authorization URL, code exchange,
/// ID token checks, userinfo), which the server implements.
#[async_trait]
pub trait UpstreamClient: Send + Sync {
    /// Starts a sign-in at `provider`, answering to `redirect_uri`.
    async fn start(
        &self,
        provider: &IdentityProviderConfig,
        redirect_uri: &str,
    ) -> std::result::Result<UpstreamStart, String>;
    /// Exchanges the code and checks the ID token (signature, issuer, audience, expiry,
    /// `nonce`), then reads userinfo.
    async fn finish(
        &self,
        provider: &IdentityProviderConfig,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> std::result::Result<UpstreamIdentity, String>;
}

/// Where an upstream sign-in ended.
pub enum Federated {
    /// A signed-in person linked a provider's account to theirs (from the account page).
    Linked {
        /// Whose account: the browser must still be signed in as them.
        user_id: String,
        /// The provider's label.
        provider: String,
    },
    /// Signed in: the session's tokens, and the authorization request to go back to.
    SignedIn(TokenResponse, Option<String>),
    /// An account has this address: the person proves it before the identity joins it.
    NeedsProof {
        /// The token of the proof's page (single use, 10 minutes).
        token: String,
        /// The account's address, to show.
        email: String,
        /// Whether the account has a second factor to give too.
        second_factor: bool,
    },
}

fn refused(why: &str) -> Error {
    Error::Forbidden(why.to_owned())
}

/// The role `role_claim` maps to: the highest of the claim's values found in `role_map`.
fn mapped_role(p: &IdentityProviderConfig, claims: &Map<String, Value>) -> Option<Role> {
    if p.role_claim.is_empty() {
        return None;
    }
    let values: Vec<&str> = match claims.get(&p.role_claim) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let roles = values
        .iter()
        .filter_map(|v| p.role_map.get(*v))
        .filter_map(|r| r.parse::<Role>().ok());
    Some(
        roles
            .max_by_key(|r| u8::from(*r == Role::Admin))
            .unwrap_or(Role::User),
    )
}

fn domain_allowed(p: &IdentityProviderConfig, email: Option<&str>) -> bool {
    if p.allowed_domains.is_empty() {
        return true;
    }
    email
        .and_then(|e| e.rsplit_once('@'))
        .is_some_and(|(_, d)| p.allowed_domains.iter().any(|a| a.eq_ignore_ascii_case(d)))
}

impl Services {
    /// Installs the upstream providers and their protocol client (once, at start).
    pub fn set_upstream(
        &self,
        client: std::sync::Arc<dyn UpstreamClient>,
        providers: Vec<IdentityProviderConfig>,
    ) {
        let _ = self.upstream.set((client, providers));
    }

    /// The configured providers (the sign-in page's buttons).
    pub fn identity_providers(&self) -> &[IdentityProviderConfig] {
        self.upstream.get().map_or(&[], |(_, p)| p.as_slice())
    }

    fn provider(&self, id: &str) -> Result<(&dyn UpstreamClient, &IdentityProviderConfig)> {
        let (client, providers) = self.upstream.get().ok_or(Error::NotFound)?;
        let p = providers
            .iter()
            .find(|p| p.id == id)
            .ok_or(Error::NotFound)?;
        Ok((client.as_ref(), p))
    }

    /// The redirect URI registered at the provider.
    pub fn upstream_redirect_uri(&self, provider: &str) -> String {
        format!(
            "{}/oauth2/upstream/{provider}/callback",
            self.settings.issuer.trim_end_matches('/')
        )
    }

    /// Starts a sign-in at `provider` for the authorization request `handle`: the URL to
    /// send the browser to, and a value for a cookie that binds the answer to this browser.
    pub async fn upstream_begin(&self, provider: &str, handle: &str) -> Result<(String, String)> {
        self.upstream_start(provider, Some(handle), None).await
    }

    /// Starts linking a provider's account to `user_id`'s (signed in at the account page):
    /// the same round trip, ending in a link rather than a sign-in.
    pub async fn upstream_begin_link(
        &self,
        provider: &str,
        user_id: &str,
    ) -> Result<(String, String)> {
        self.upstream_start(provider, None, Some(user_id)).await
    }

    async fn upstream_start(
        &self,
        provider: &str,
        handle: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<(String, String)> {
        let (client, p) = self.provider(provider)?;
        let started = client
            .start(p, &self.upstream_redirect_uri(provider))
            .await
            .map_err(|e| {
                tracing::warn!(provider, "upstream sign-in could not start: {e}");
                Error::Unavailable(format!("the provider {} cannot be reached", p.label()))
            })?;
        let binding = self.random_token();
        let id = sha256_hex(started.state.expose_secret().as_bytes());
        let secret = json!({
            "nonce": started.nonce.expose_secret(),
            "verifier": started.verifier.expose_secret(),
            "binding": sha256_hex(binding.as_bytes()),
        })
        .to_string();
        let sealed = self
            .keyring
            .seal(id.as_bytes(), secret.as_bytes(), self.rng.as_ref());
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Upstream,
                id,
                client_id: p.id.clone(),
                user_id: user_id.map(str::to_owned),
                parent: handle.map(str::to_owned),
                body: json!({"sealed": URL_SAFE_NO_PAD.encode(sealed)}),
                created_at: now,
                expires_at: now + PENDING_SECONDS,
                used_at: None,
            })
            .await?;
        tx.commit().await?;
        Ok((started.url, binding))
    }

    /// The provider's answer (`state`, `code`) in the browser that started the sign-in
    /// (`binding`, its cookie): the person it vouches for becomes an account, per the
    /// module's rules.
    pub async fn upstream_finish(
        &self,
        ctx: &RequestContext,
        provider: &str,
        state: &str,
        code: &str,
        binding: Option<&str>,
    ) -> Result<Federated> {
        let (client, p) = self.provider(provider)?;
        let now = self.now();
        let id = sha256_hex(state.as_bytes());
        let mut tx = self.store.begin().await?;
        let rec = tx
            .clients()
            .grant_record(Kind::Upstream, &id)
            .await?
            .filter(|r| r.client_id == p.id && r.expires_at > now && r.used_at.is_none());
        let Some(rec) = rec else {
            return Err(refused(
                "This sign-in took too long or was finished already. Start again.",
            ));
        };
        if !tx
            .clients()
            .use_grant_record(Kind::Upstream, &id, now)
            .await?
        {
            return Err(refused("This sign-in was finished already. Start again."));
        }
        tx.commit().await?;
        let secret = rec
            .body
            .get("sealed")
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or(Error::Internal(
                "an upstream record without its secret".into(),
            ))?;
        let secret: Value = serde_json::from_slice(&self.keyring.open(id.as_bytes(), &secret)?)
            .map_err(|_| Error::Internal("an upstream record's secret is not JSON".into()))?;
        let field = |k: &str| secret.get(k).and_then(Value::as_str).unwrap_or("");
        let bound = binding.is_some_and(|b| {
            ct_eq(
                sha256_hex(b.as_bytes()).as_bytes(),
                field("binding").as_bytes(),
            )
        });
        if !bound {
            return Err(refused(
                "This sign-in was started in another browser. Start again here.",
            ));
        }
        let handle = rec.parent.clone();
        let person = client
            .finish(
                p,
                &self.upstream_redirect_uri(provider),
                code,
                field("verifier"),
                field("nonce"),
            )
            .await
            .map_err(|e| {
                tracing::warn!(provider, "upstream sign-in refused: {e}");
                refused("The provider's answer could not be verified. Start again.")
            })?;
        if let Some(user_id) = rec.user_id.as_deref() {
            return self.link_signed_in(ctx, p, &person, user_id).await;
        }
        self.federate(ctx, p, &person, handle).await
    }

    /// The account page's "link": the provider's person joins the signed-in account
    /// (its address need not match: the person proved both), unless the provider's account
    /// is linked to another one, or its address is outside `allowed_domains`.
    async fn link_signed_in(
        &self,
        ctx: &RequestContext,
        p: &IdentityProviderConfig,
        person: &UpstreamIdentity,
        user_id: &str,
    ) -> Result<Federated> {
        if !domain_allowed(p, person.email.as_deref()) {
            return Err(refused(&format!(
                "Accounts of {} may be used here only with an address in {}.",
                p.label(),
                p.allowed_domains.join(", ")
            )));
        }
        let mut tx = self.store.begin().await?;
        let linked = tx
            .accounts()
            .identity_by_subject(&p.id, &person.subject)
            .await?;
        drop(tx);
        match linked {
            Some(l) if l.user_id == user_id => {}
            Some(_) => {
                return Err(refused(&format!(
                    "This {} account is linked to another account here.",
                    p.label()
                )));
            }
            None => {
                self.link_identity(ctx, p, user_id, &person.subject, false)
                    .await?;
            }
        }
        Ok(Federated::Linked {
            user_id: user_id.to_owned(),
            provider: p.label().to_owned(),
        })
    }

    /// Decides which account `person` is, per the module's rules.
    async fn federate(
        &self,
        ctx: &RequestContext,
        p: &IdentityProviderConfig,
        person: &super::federation::UpstreamIdentity,
        handle: Option<String>,
    ) -> Result<Federated> {
        let now = self.now();
        let audit_refusal = |reason: &'static str| {
            let (provider, subject) = (p.id.clone(), sha256_hex(person.subject.as_bytes()));
            async move {
                let mut tx = self.store.begin().await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.upstream.refused", Outcome::Failure)
                        .client(ctx)
                        .details(json!({"provider": provider, "subject_hash": subject, "reason": reason})),
                )
                .await?;
                tx.commit().await?;
                Ok::<(), Error>(())
            }
        };
        if !domain_allowed(p, person.email.as_deref()) {
            audit_refusal("domain_not_allowed").await?;
            return Err(refused(&format!(
                "Accounts of {} may sign in here only with an address in {}.",
                p.label(),
                p.allowed_domains.join(", ")
            )));
        }
        let mut tx = self.store.begin().await?;
        let linked = tx
            .accounts()
            .identity_by_subject(&p.id, &person.subject)
            .await?;
        drop(tx);
        if let Some(link) = linked {
            let user = self
                .store
                .user_by_id(&link.user_id)
                .await?
                .ok_or(Error::NotFound)?;
            let t = self
                .federated_sign_in(ctx, p, person, &user, &link.id)
                .await?;
            return Ok(Federated::SignedIn(t, handle));
        }
        let email = person
            .email
            .as_deref()
            .map(Self::parse_email)
            .transpose()
            .map_err(|_| refused("The provider gave an address this server cannot use."))?;
        let existing = match &email {
            Some(e) => self.user_by_email(e).await?,
            None => None,
        };
        if let Some(user) = existing {
            if p.link == LinkPolicy::VerifiedEmail && person.email_verified {
                let token = self.random_token();
                let mut tx = self.store.begin().await?;
                tx.clients()
                    .put_grant_record(&GrantRecord {
                        kind: Kind::Link,
                        id: sha256_hex(token.as_bytes()),
                        client_id: p.id.clone(),
                        user_id: Some(user.id.clone()),
                        parent: handle,
                        body: json!({"subject": person.subject, "amr": person.amr, "claims": person.claims}),
                        created_at: now,
                        expires_at: now + PENDING_SECONDS,
                        used_at: None,
                    })
                    .await?;
                tx.commit().await?;
                return Ok(Federated::NeedsProof {
                    token,
                    email: user.email.as_str().to_owned(),
                    second_factor: user.mfa_enabled,
                });
            }
            audit_refusal(if person.email_verified {
                "account_exists"
            } else {
                "account_exists_unverified_email"
            })
            .await?;
            return Err(refused(
                "An account already uses this address. Sign in with its password; then you can link this provider on your account page.",
            ));
        }
        if !p.jit {
            audit_refusal("no_account").await?;
            return Err(refused(&format!(
                "No account here belongs to this {} account, and accounts are not created on first sign-in. Ask your administrator.",
                p.label()
            )));
        }
        let Some(email) = email else {
            audit_refusal("no_email").await?;
            return Err(refused(
                "The provider gave no email address, which a new account needs.",
            ));
        };
        let user = User {
            id: new_id(now, self.rng.as_ref()),
            email,
            display_name: person
                .name
                .as_deref()
                .and_then(|n| Self::check_display_name(Some(n)).ok().flatten()),
            role: mapped_role(p, &person.claims).unwrap_or(Role::User),
            password_hash: None,
            mfa_enabled: false,
            locked: false,
            email_verified: person.email_verified,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let user = self.insert_new_user(ctx, user, None).await?;
        let link_id = self
            .link_identity(ctx, p, &user.id, &person.subject, true)
            .await?;
        let t = self
            .federated_sign_in(ctx, p, person, &user, &link_id)
            .await?;
        Ok(Federated::SignedIn(t, handle))
    }

    /// Links `subject` at `p` to `user_id`, with its audit event; the link's id.
    async fn link_identity(
        &self,
        ctx: &RequestContext,
        p: &IdentityProviderConfig,
        user_id: &str,
        subject: &str,
        jit: bool,
    ) -> Result<String> {
        let now = self.now();
        let id = new_id(now, self.rng.as_ref());
        let mut tx = self.store.begin().await?;
        tx.accounts()
            .insert_identity(&LinkedIdentity {
                id: id.clone(),
                user_id: user_id.to_owned(),
                provider: p.id.clone(),
                subject: subject.to_owned(),
                created_at: now,
                last_used_at: None,
            })
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("this provider account is linked to another account".into())
                }
                other => other,
            })?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.identity.linked", Outcome::Success)
                .actor(user_id.to_owned())
                .target(user_id.to_owned())
                .client(ctx)
                .details(json!({"provider": p.id, "identity_id": id, "jit": jit})),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A session for `user` signed in through `p`: `amr` `fed`, and `mfa` when the
    /// provider's `amr` names a factor `second_factor_amr` counts; the role follows
    /// `role_claim` when it is set.
    async fn federated_sign_in(
        &self,
        ctx: &RequestContext,
        p: &IdentityProviderConfig,
        person: &UpstreamIdentity,
        user: &User,
        identity_id: &str,
    ) -> Result<TokenResponse> {
        self.federated_sign_in_with(ctx, p, person, user, identity_id, &[])
            .await
    }

    /// [`Self::federated_sign_in`], with factors proved locally too (`local_amr`).
    async fn federated_sign_in_with(
        &self,
        ctx: &RequestContext,
        p: &IdentityProviderConfig,
        person: &UpstreamIdentity,
        user: &User,
        identity_id: &str,
        local_amr: &[String],
    ) -> Result<TokenResponse> {
        let now = self.now();
        if user.locked {
            return Err(Error::AccountLocked);
        }
        if user.role == Role::Service {
            return Err(refused("Service accounts do not sign in here."));
        }
        let mut amr = vec!["fed".to_owned()];
        if person.amr.iter().any(|m| p.second_factor_amr.contains(m)) {
            amr.push("mfa".to_owned());
        }
        for m in local_amr {
            if !amr.contains(m) {
                amr.push(m.clone());
            }
        }
        let mut tx = self.store.begin().await?;
        let mut user = tx.lock_user(&user.id).await?.ok_or(Error::NotFound)?;
        if let Some(role) = mapped_role(p, &person.claims).filter(|r| *r != user.role) {
            tx.accounts().set_role(&user.id, role, now).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.upstream.role_synced", Outcome::Success)
                    .actor("system")
                    .target(user.id.clone())
                    .client(ctx)
                    .details(
                        json!({"provider": p.id, "from": user.role.as_str(), "to": role.as_str()}),
                    ),
            )
            .await?;
            user.role = role;
        }
        tx.accounts().touch_identity(identity_id, now).await?;
        let (device_cookie, new_device) = self.remember_device(tx.as_mut(), ctx, &user.id).await?;
        let (session, refresh) = self.start_session(tx.as_mut(), ctx, &user, amr).await?;
        let evicted = self
            .evict_over_cap(tx.as_mut(), ctx, &user.id, &session.id)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.login.succeeded", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({"amr": session.amr, "method": "upstream", "provider": p.id, "new_device": new_device})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&evicted, now);
        if new_device {
            self.notify_new_device(&user, ctx);
        }
        let mut t = self.token_response(&user, &session, refresh, None)?;
        t.device_cookie = Some(device_cookie);
        Ok(t)
    }

    /// The proof a first upstream sign-in needs before it joins an existing account: the
    /// account's password (throttled and audited as a sign-in), and its TOTP or recovery
    /// code when it has a second factor. Then the identity is linked and the person signed
    /// in; the authorization request to go back to comes with the tokens.
    pub async fn upstream_link(
        &self,
        ctx: &RequestContext,
        token: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<(TokenResponse, Option<String>)> {
        let now = self.now();
        let id = sha256_hex(token.as_bytes());
        let rec = self
            .store
            .clients()
            .grant_record(Kind::Link, &id)
            .await?
            .filter(|r| r.expires_at > now && r.used_at.is_none())
            .ok_or_else(|| refused("This link took too long; sign in with the provider again."))?;
        let (_, p) = self.provider(&rec.client_id)?;
        let user_id = rec.user_id.clone().unwrap_or_default();
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(Error::NotFound)?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let pw_ok = self
            .hasher
            .verify(normalize(password), user.password_hash.clone())
            .await?;
        let mut tx = self.store.begin().await?;
        let factor = if !pw_ok {
            Err(("auth.login.failed", "invalid_credentials"))
        } else if user.mfa_enabled {
            let proof = match code {
                Some(c) if c.contains('-') || c.len() > 8 => super::mfa::Proof::RecoveryCode(c),
                Some(c) => super::mfa::Proof::Totp(c),
                None => super::mfa::Proof::Totp(""),
            };
            self.check_factor(tx.as_mut(), &user.id, "", proof)
                .await?
                .map(|used| Some(used.amr))
        } else {
            Ok(None)
        };
        let factor = match factor {
            Ok(f) => f,
            Err((action, reason)) => {
                let failures = self.record_failure(tx.as_mut(), &keys).await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, action, Outcome::Failure)
                        .target(user.id.clone())
                        .client(ctx)
                        .details(json!({"reason": reason, "stage": "upstream_link", "account_failures": failures})),
                )
                .await?;
                tx.commit().await?;
                return Err(if pw_ok {
                    Error::InvalidMfaCode(reason)
                } else {
                    Error::InvalidCredentials
                });
            }
        };
        if !tx.clients().use_grant_record(Kind::Link, &id, now).await? {
            return Err(refused("This link was used already."));
        }
        tx.clear_throttle(&keys.account).await?;
        tx.commit().await?;
        let subject = rec
            .body
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let person = UpstreamIdentity {
            subject: subject.clone(),
            amr: rec
                .body
                .get("amr")
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default(),
            claims: rec
                .body
                .get("claims")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            ..UpstreamIdentity::default()
        };
        let link_id = self
            .link_identity(ctx, p, &user.id, &subject, false)
            .await?;
        // The local proof counts too: the password, and the second factor when given.
        let mut local = vec!["pwd".to_owned()];
        local.extend(factor.map(str::to_owned));
        let t = self
            .federated_sign_in_with(ctx, p, &person, &user, &link_id, &local)
            .await?;
        Ok((t, rec.parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> IdentityProviderConfig {
        serde_json::from_value(json!({
            "id": "corp", "issuer": "https://idp.example", "client_id": "c",
            "role_claim": "groups", "role_map": {"admins": "admin", "staff": "user"},
            "allowed_domains": ["corp.example"]
        }))
        .unwrap()
    }

    #[test]
    fn roles_follow_the_claim() {
        let p = provider();
        let claims = |v: Value| json!({"groups": v}).as_object().unwrap().clone();
        assert_eq!(
            mapped_role(&p, &claims(json!(["staff", "admins"]))),
            Some(Role::Admin)
        );
        assert_eq!(mapped_role(&p, &claims(json!("staff"))), Some(Role::User));
        assert_eq!(mapped_role(&p, &claims(json!(["other"]))), Some(Role::User));
        assert_eq!(mapped_role(&p, &Map::new()), Some(Role::User));
        let mut none = p.clone();
        none.role_claim.clear();
        assert_eq!(mapped_role(&none, &claims(json!("admins"))), None);
    }

    #[test]
    fn domains_are_whole() {
        let p = provider();
        assert!(domain_allowed(&p, Some("a@corp.example")));
        assert!(domain_allowed(&p, Some("a@CORP.example")));
        assert!(!domain_allowed(&p, Some("a@evilcorp.example")));
        assert!(!domain_allowed(&p, Some("a@corp.example.evil")));
        assert!(!domain_allowed(&p, None));
    }
}
