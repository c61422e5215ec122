//! Registration, login, sessions and password changes (tokens: `tokens.rs`).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::mfa::LoginOutcome;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};

use crate::email::Email;
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::model::{Role, Session, User};
use crate::password::normalize;
use crate::store::Tx;
use crate::throttle;

/// An authenticated caller, established from a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Session id.
    pub session_id: String,
    /// Role at token issue.
    pub role: Role,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Last factor time.
    pub auth_time: i64,
    /// Set when the request authenticated with an API key (then there is no session).
    pub api_key: Option<super::ApiKeyGrant>,
    /// The just-in-time elevation in force (its role is already `role`).
    pub elevation: Option<ElevationGrant>,
    /// An administrator asked this user to change the password: the token opens nothing
    /// but that (and reading the account, signing out).
    pub password_change: bool,
}

/// An approved elevation carried by a session's access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElevationGrant {
    /// The elevation request's id.
    pub id: String,
    /// The role granted, if a role.
    pub role: Option<Role>,
    /// The scopes granted, if scopes.
    pub scopes: Vec<String>,
    /// When it ends.
    pub until: i64,
}

/// RFC 8176 methods that count as a second factor.
pub const SECOND_FACTORS: [&str; 5] = ["otp", "hwk", "swk", "mfa", "sms"];

impl Principal {
    /// Whether an elevation in force grants `scope` (`admin:write` implies `admin:read`).
    pub fn elevated_scope(&self, scope: &str) -> bool {
        self.elevation.as_ref().is_some_and(|e| {
            e.scopes
                .iter()
                .any(|s| s == scope || (scope == "admin:read" && s == "admin:write"))
        })
    }

    /// Whether the session proved a second factor (per its `amr`).
    pub fn has_second_factor(&self) -> bool {
        self.amr
            .iter()
            .any(|m| SECOND_FACTORS.contains(&m.as_str()))
    }
}

/// What a successful login or refresh returns.
#[derive(Debug)]
pub struct TokenResponse {
    /// The EdDSA access token.
    pub access_token: SecretString,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The new refresh token (shown once).
    pub refresh_token: SecretString,
    /// The session.
    pub session_id: String,
    /// The signed device cookie to set, after a sign-in.
    pub device_cookie: Option<String>,
    /// Whether the tokens are bound to a DPoP key (`token_type` DPoP, RFC 9449 §5).
    pub dpop_bound: bool,
}

const MAX_DISPLAY_NAME: usize = 100;

impl Services {
    pub(crate) fn parse_email(raw: &str) -> Result<Email> {
        Email::parse(raw).map_err(|m| {
            Error::InvalidRequest(
                "invalid email".into(),
                vec![FieldError::new("email", "invalid", m)],
            )
        })
    }

    pub(crate) fn check_display_name(name: Option<&str>) -> Result<Option<String>> {
        match name.map(str::trim) {
            None | Some("") => Ok(None),
            Some(n) if n.chars().count() > MAX_DISPLAY_NAME || n.chars().any(char::is_control) => {
                Err(Error::InvalidRequest(
                    "invalid display_name".into(),
                    vec![FieldError::new(
                        "display_name",
                        "invalid",
                        "at most 100 characters, no control characters",
                    )],
                ))
            }
            Some(n) => Ok(Some(n.to_owned())),
        }
    }

    /// Open self-registration (`POST /auth/register`).
    pub async fn register(
        &self,
        ctx: &RequestContext,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        altcha: Option<&str>,
    ) -> Result<User> {
        if !self.settings.self_registration {
            return Err(Error::Forbidden("registration is closed".into()));
        }
        self.registration_gate(ctx, altcha).await?;
        if self.settings.block_disposable_emails
            && let Ok(parsed) = Self::parse_email(email)
            && let Some(domain) = crate::disposable::disposable_domain(parsed.as_str())
        {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(
                    self.now(),
                    "auth.register.email_not_allowed",
                    Outcome::Failure,
                )
                .client(ctx)
                .details(serde_json::json!({"domain": domain, "reason": "disposable"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::EmailNotAllowed);
        }
        let created = self
            .create_user(ctx, email, password, display_name, Role::User, None)
            .await;
        if !self.settings.verify_on_register {
            return created;
        }
        match created {
            Ok(user) => {
                self.send_verification(ctx, &user).await?;
                Ok(user)
            }
            // With verification by mail, the answer never says that an address has an
            // account: the same 201 with an account that does not exist, and its owner is
            // told by mail.
            Err(Error::Conflict(_)) => {
                let parsed = Self::parse_email(email)?;
                let now = self.now();
                if let Some(owner) = self.user_by_email(&parsed).await? {
                    // Recorded (a write, as creating the account is): someone tried the
                    // address of an existing account.
                    let mut tx = self.store.begin().await?;
                    tx.append_audit(
                        &NewAuditEvent::new(now, "auth.register.existing_email", Outcome::Failure)
                            .target(owner.id.clone())
                            .client(ctx),
                    )
                    .await?;
                    tx.commit().await?;
                    self.notify(&owner, &super::Notice::RegistrationAttempt);
                }
                Ok(User {
                    id: new_id(now, self.rng.as_ref()),
                    email: parsed,
                    display_name: Self::check_display_name(display_name)?,
                    role: Role::User,
                    password_hash: None,
                    mfa_enabled: false,
                    locked: false,
                    email_verified: false,
                    must_change_password: false,
                    created_at: now,
                    updated_at: now,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Refuses the attempt when any of `keys` is blocked.
    pub(crate) async fn check_throttle(&self, keys: &throttle::ThrottleKeys) -> Result<()> {
        self.check_throttle_keys(&keys.all()).await
    }

    /// Refuses the attempt when any of the throttle `keys` is blocked.
    pub(crate) async fn check_throttle_keys(&self, keys: &[String]) -> Result<()> {
        let states = self.store.throttle_states(keys).await?;
        match throttle::retry_after(&states, self.now()) {
            Some(retry_after) => Err(Error::TooManyAttempts { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts one failure against `key` and blocks it once past `policy`'s free failures;
    /// returns its failure count.
    pub(crate) async fn bump_throttle(
        &self,
        tx: &mut dyn Tx,
        key: &str,
        policy: &throttle::Backoff,
    ) -> Result<i64> {
        let now = self.now();
        let st = tx.bump_throttle(key, now, policy.window).await?;
        let until = policy.block_until(st.failures, now);
        if until > st.blocked_until {
            tx.set_throttle_block(key, until).await?;
        }
        Ok(st.failures)
    }

    /// Counts a failed attempt against the account and the client IP, atomically, and blocks
    /// them once past their free failures. Returns the account's failure count.
    pub(crate) async fn record_failure(
        &self,
        tx: &mut dyn Tx,
        keys: &throttle::ThrottleKeys,
    ) -> Result<i64> {
        let failures = self
            .bump_throttle(tx, &keys.account, &throttle::ACCOUNT)
            .await?;
        if let Some(ip_key) = &keys.ip {
            self.bump_throttle(tx, ip_key, &throttle::CLIENT_IP).await?;
        }
        Ok(failures)
    }

    /// Password login. Unknown email and wrong password are answered alike and take alike.
    ///
    /// In order: the source's throttles (the address and its /24: attackers are slowed,
    /// not their victims); the proof-of-work gate (devices unknown to the account, while the
    /// service is under attack or the account has recent failures); the password; then the
    /// risk score of the sign-in, which may ask for a second factor or refuse it. A victim is
    /// never locked out by someone who only knows their email: from a device they signed in
    /// from before they pass the gate, and from a new one a proof-of-work lets them in.
    pub async fn login(
        &self,
        ctx: &RequestContext,
        email: &str,
        password: &str,
        altcha: Option<&str>,
    ) -> Result<LoginOutcome> {
        let email = Self::parse_email(email)?;
        let keys = self.throttle_keys(&email, ctx.ip);
        let password_key = format!("pw:{}", keys.account);
        let net_key = ctx
            .ip
            .and_then(super::detection::net_of)
            .map(|n| format!("net:{n}"));
        let source_keys: Vec<String> = keys.ip.iter().chain(net_key.iter()).cloned().collect();
        self.check_throttle_keys(&source_keys).await?;

        let user = self.user_by_email(&email).await?;
        if let Some(ip) = ctx.ip
            && let Some(blocked) = self.ip_blocked(ip).await?
        {
            let mut a = crate::detect::risk::Assessment::default();
            a.add(crate::detect::risk::Reason::DenyList, 100);
            let mut tx = self.store.begin().await?;
            self.record_assessment(
                tx.as_mut(),
                ctx,
                user.as_ref().map(|u| u.id.as_str()),
                &keys.account,
                &a,
                crate::detect::risk::Decision::Deny,
                blocked.as_str(),
                false,
            )
            .await?;
            tx.commit().await?;
            return Err(Error::RiskDenied);
        }
        let gate = self
            .login_gate(ctx, user.as_ref(), &password_key, &keys.account, altcha)
            .await?;

        let password = normalize(password);
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let known_id = user.as_ref().map(|u| u.id.clone());
        let ok = self.hasher.verify(password.clone(), stored.clone()).await?;
        let now = self.now();

        let Some(user) = user.filter(|_| ok) else {
            let spray = self.spray_verdict(ctx).await?;
            let mut tx = self.store.begin().await?;
            // Password failures make the account's unknown devices solve a proof-of-work;
            // only the source is blocked.
            let failures = tx
                .bump_throttle(&password_key, now, throttle::ACCOUNT.window)
                .await?
                .failures;
            if let Some(ip_key) = &keys.ip {
                self.bump_throttle(tx.as_mut(), ip_key, &throttle::CLIENT_IP)
                    .await?;
            }
            if let Some(net_key) = &net_key {
                let net_policy = throttle::Backoff {
                    free_failures: self.detection_config().net_free_failures,
                    ..throttle::CLIENT_IP
                };
                self.bump_throttle(tx.as_mut(), net_key, &net_policy)
                    .await?;
            }
            self.insert_login_event(
                tx.as_mut(),
                ctx,
                known_id.as_deref(),
                &keys.account,
                "failure",
                &crate::detect::risk::Assessment::default(),
                false,
                &self.locate(ctx.ip),
            )
            .await?;
            if let Some(spray) = &spray {
                self.block_spray(tx.as_mut(), ctx, spray).await?;
            }
            let mut ev = NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                .client(ctx)
                .details(json!({"reason": "invalid_credentials", "account_failures": failures}));
            if let Some(id) = known_id {
                ev = ev.target(id);
            }
            tx.append_audit(&ev).await?;
            tx.commit().await?;
            self.recount_attack_level();
            return Err(Error::InvalidCredentials);
        };

        // The password was right; an address never proved (`verify_on_register`) is the
        // only thing between it and a session.
        if self.unverified(ctx, &user).await? {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "email_not_verified"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::EmailNotVerified);
        }
        let (assessment, decision) = self.assess_sign_in(ctx, &user, &gate).await?;
        let rehash = match &stored {
            Some(h) if self.hasher.needs_rehash(h) => {
                Some(self.hasher.hash(password, self.rng.as_ref()).await?)
            }
            _ => None,
        };

        let mut tx = self.store.begin().await?;
        // Re-read under a row lock: a lock that committed while the hash ran must be seen, and
        // a lock that commits after this transaction must see (and revoke) the new session.
        let user = tx
            .lock_user(&user.id)
            .await?
            .ok_or(Error::InvalidCredentials)?;
        if user.locked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "account_locked"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::AccountLocked);
        }
        let new_device = !gate.known_device;
        // Users with a second factor always prove it; the decision only says whether the
        // score would have asked for it anyway.
        let decision = match decision {
            crate::detect::risk::Decision::Allow if user.mfa_enabled => {
                crate::detect::risk::Decision::StepUp
            }
            d => d,
        };
        self.record_assessment(
            tx.as_mut(),
            ctx,
            Some(&user.id),
            &keys.account,
            &assessment,
            decision,
            "login",
            new_device,
        )
        .await?;
        match decision {
            crate::detect::risk::Decision::Deny => {
                tx.commit().await?;
                return Err(Error::RiskDenied);
            }
            crate::detect::risk::Decision::Challenge => {
                tx.commit().await?;
                return Err(Error::ChallengeRequired {
                    challenge: Box::new(self.challenge_at(1)),
                    why: "this sign-in looks unusual: solve the proof-of-work and sign in again",
                });
            }
            _ => {}
        }
        if let Some(h) = &rehash {
            tx.set_password_hash(&user.id, h, now).await?;
        }
        if user.mfa_enabled {
            // The password was right; the throttle is cleared only by the second factor.
            let methods = self.mfa_methods(tx.as_mut(), &user.id).await?;
            let mfa_token = self.start_mfa_challenge(tx.as_mut(), &user).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.login.mfa_required", Outcome::Success)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"methods": methods, "risk": assessment.score})),
            )
            .await?;
            tx.commit().await?;
            return Ok(LoginOutcome::MfaRequired { mfa_token, methods });
        }
        tx.clear_throttle(&keys.account).await?;
        let (device_cookie, _) = self.remember_device(tx.as_mut(), ctx, &user.id).await?;
        let (session, refresh) = self
            .start_session(tx.as_mut(), ctx, &user, vec!["pwd".to_owned()])
            .await?;
        let evicted = self
            .evict_over_cap(tx.as_mut(), ctx, &user.id, &session.id)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.login.succeeded", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({"amr": session.amr, "rehashed": rehash.is_some(), "risk": assessment.score, "new_device": new_device})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&evicted, now);
        if new_device {
            self.notify_new_device(&user, ctx);
        }
        let mut t = self.token_response(&user, &session, refresh, None)?;
        t.device_cookie = Some(device_cookie);
        Ok(LoginOutcome::Tokens(t))
    }

    /// Starts a session and its refresh-token family, inside `tx`.
    pub(crate) async fn start_session(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user: &User,
        amr: Vec<String>,
    ) -> Result<(Session, SecretString)> {
        let now = self.now();
        let session = Session {
            id: new_id(now, self.rng.as_ref()),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.refresh_ttl,
            revoked_at: None,
            revoked_reason: None,
            ip: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            amr,
            auth_time: now,
            dpop_jkt: ctx.dpop_jkt.clone(),
        };
        tx.insert_session(&session).await?;
        let refresh = self.issue_refresh(tx, &session.id).await?;
        Ok((session, refresh))
    }

    /// Revokes the user's oldest sessions beyond the cap, never `new_session`; returns their
    /// ids. Revocations first, audit events after (see the lock order on [`Tx`]).
    pub(crate) async fn evict_over_cap(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user_id: &str,
        new_session: &str,
    ) -> Result<Vec<String>> {
        let now = self.now();
        let others: Vec<Session> = tx
            .active_sessions(user_id, now)
            .await?
            .into_iter()
            .filter(|s| s.id != new_session)
            .collect();
        let excess = (others.len() + 1).saturating_sub(self.settings.max_sessions);
        let mut evicted = Vec::new();
        for s in others.into_iter().take(excess) {
            if tx.revoke_session(&s.id, "evicted", now).await? {
                evicted.push(s.id);
            }
        }
        for id in &evicted {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.session.revoked", Outcome::Success)
                    .actor("system")
                    .target(id.clone())
                    .client(ctx)
                    .details(json!({"reason": "max_sessions_per_user", "user_id": user_id})),
            )
            .await?;
        }
        Ok(evicted)
    }

    /// After commit: make this node's view of revocations current at once.
    pub(crate) fn note_revoked(&self, ids: &[String], now: i64) {
        for id in ids {
            self.revocations.insert(id, now);
        }
        if let (false, Some(n)) = (ids.is_empty(), self.logout_notifier.get()) {
            n.sessions_ended(ids.to_vec());
        }
    }

    /// The caller's user record.
    pub async fn me(&self, p: &Principal) -> Result<User> {
        self.store
            .user_by_id(&p.user_id)
            .await?
            .ok_or(Error::InvalidToken("unknown user"))
    }

    /// Revokes the caller's current session.
    pub async fn logout(&self, p: &Principal, ctx: &RequestContext) -> Result<()> {
        self.revoke_one(p, ctx, &p.session_id, "logout")
            .await
            .map(|_| ())
    }

    async fn revoke_one(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        sid: &str,
        reason: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(s) = tx.session(sid).await? else {
            return Err(Error::NotFound);
        };
        if s.user_id != p.user_id {
            return Err(Error::NotFound);
        }
        let revoked = tx.revoke_session(sid, reason, now).await?;
        if revoked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.session.revoked", Outcome::Success)
                    .actor(p.user_id.clone())
                    .target(sid.to_owned())
                    .client(ctx)
                    .details(json!({"reason": reason})),
            )
            .await?;
        }
        tx.commit().await?;
        self.note_revoked(&[sid.to_owned()], now);
        Ok(revoked)
    }

    /// Revokes one of the caller's own sessions.
    pub async fn revoke_own_session(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        sid: &str,
    ) -> Result<()> {
        if !is_valid_id(sid) {
            return Err(Error::NotFound);
        }
        self.revoke_one(p, ctx, sid, "revoked_by_user")
            .await
            .map(|_| ())
    }

    /// Revokes the user's sessions except `keep`, inside `tx`; returns the revoked ids.
    /// Revocations first, audit events after (see the lock order on [`Tx`]).
    pub(crate) async fn revoke_all_sessions(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        actor: &str,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
    ) -> Result<Vec<String>> {
        let now = self.now();
        let mut revoked = Vec::new();
        for s in tx.active_sessions(user_id, now).await? {
            if Some(s.id.as_str()) != keep && tx.revoke_session(&s.id, reason, now).await? {
                revoked.push(s.id);
            }
        }
        for id in &revoked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.session.revoked", Outcome::Success)
                    .actor(actor.to_owned())
                    .target(id.clone())
                    .client(ctx)
                    .details(json!({"reason": reason, "user_id": user_id})),
            )
            .await?;
        }
        Ok(revoked)
    }

    /// Revokes all the caller's sessions but the current one.
    pub async fn revoke_other_sessions(&self, p: &Principal, ctx: &RequestContext) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let ids = self
            .revoke_all_sessions(
                tx.as_mut(),
                ctx,
                &p.user_id,
                &p.user_id,
                Some(&p.session_id),
                "revoked_by_user",
            )
            .await?;
        tx.commit().await?;
        self.note_revoked(&ids, self.now());
        Ok(())
    }

    /// The caller's live sessions, oldest first, with the current one marked.
    pub async fn list_sessions(&self, p: &Principal) -> Result<Vec<(Session, bool)>> {
        let sessions = self.store.active_sessions(&p.user_id, self.now()).await?;
        Ok(sessions
            .into_iter()
            .map(|s| {
                let current = s.id == p.session_id;
                (s, current)
            })
            .collect())
    }

    /// Changes the caller's password after checking the current one; revokes every other
    /// session. Wrong current passwords count toward the account's login throttle, so a stolen
    /// access token is no oracle for the password.
    pub async fn change_password(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        current: &str,
        new: &str,
    ) -> Result<()> {
        self.require_recent_auth(p).await?;
        let user = self.me(p).await?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let current = normalize(current);
        if !self
            .hasher
            .verify(current.clone(), user.password_hash.clone())
            .await?
        {
            let mut tx = self.store.begin().await?;
            let failures = self.record_failure(tx.as_mut(), &keys).await?;
            tx.append_audit(
                &NewAuditEvent::new(self.now(), "auth.password.change_failed", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(
                        json!({"reason": "invalid_current_password", "account_failures": failures}),
                    ),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        }
        let new = normalize(new);
        self.check_new_password(
            "new_password",
            &new,
            &user.email,
            user.display_name.as_deref(),
        )?;
        if new.expose_secret() == current.expose_secret() {
            return Err(Error::WeakPassword(vec![FieldError::new(
                "new_password",
                "reused",
                "the new password must differ from the current one",
            )]));
        }
        let hash = self.hasher.hash(new, self.rng.as_ref()).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_user(&user.id).await?;
        tx.set_password_hash(&user.id, &hash, now).await?;
        tx.accounts()
            .set_must_change_password(&user.id, false, now)
            .await?;
        let ids = self
            .revoke_all_sessions(
                tx.as_mut(),
                ctx,
                &user.id,
                &user.id,
                Some(&p.session_id),
                "password_changed",
            )
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.password.changed", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"sessions_revoked": ids.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&ids, now);
        self.notify(&user, &super::Notice::PasswordChanged);
        Ok(())
    }
}

impl Services {
    /// The account of `email`: under its canonical spelling, else under the spelling older
    /// versions stored (a Unicode domain instead of its A-label).
    pub(crate) async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        if let Some(u) = self.store.user_by_email(email).await? {
            return Ok(Some(u));
        }
        match email.legacy_spelling() {
            Some(old) => Ok(self.store.user_by_email(&Email::from_stored(old)).await?),
            None => Ok(None),
        }
    }
}
