//! Account recovery by mail: forgotten passwords, invitations, address verification, and
//! the security notices people get by mail.
//!
//! Codes are 192-bit random strings, sent once, stored as their SHA-256, good once and for
//! a short time ([`CodePurpose::lifetime`]). Nothing an outsider sees tells whether an
//! address has an account: the forgotten-password answer is the same 202 before any lookup,
//! and the lookup and the mail happen after it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Mail, Mailer, Principal, RequestContext, Services};
use crate::accounts::{CodePurpose, EmailCode};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::sha256_hex;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::id::is_valid_id;
use crate::model::{Role, User};
use crate::password::normalize;
use crate::store::Tx;
use crate::throttle;

/// Prefix of codes sent by mail, so scanners and logs can recognise them.
const CODE_PREFIX: &str = "pcm_";

/// A security notice mailed to a person about their own account.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A sign-in from a device not seen before.
    NewDevice {
        /// Its address.
        ip: Option<String>,
        /// Its browser.
        user_agent: Option<String>,
    },
    /// The password was changed or reset.
    PasswordChanged,
    /// A second factor was removed (`totp`, `passkey`, or all by an administrator).
    SecondFactorRemoved(&'static str),
    /// An API key was created.
    ApiKeyCreated(String),
    /// The address was changed (sent to the old one).
    EmailChanged(String),
    /// Someone tried to register an account with this address.
    RegistrationAttempt,
}

impl Notice {
    fn kind(&self) -> &'static str {
        match self {
            Self::NewDevice { .. } => "notice.new_device",
            Self::PasswordChanged => "notice.password_changed",
            Self::SecondFactorRemoved(_) => "notice.second_factor_removed",
            Self::ApiKeyCreated(_) => "notice.api_key_created",
            Self::EmailChanged(_) => "notice.email_changed",
            Self::RegistrationAttempt => "notice.registration_attempt",
        }
    }

    fn text(&self) -> (String, String) {
        let unsure = "If this was not you, reset your password and tell your administrator.";
        match self {
            Self::NewDevice { ip, user_agent } => (
                "New sign-in to your account".into(),
                format!(
                    "Your account was just signed in to from a device it had not been used from before.\n\n\
                     Address: {}\nBrowser: {}\n\n{unsure}",
                    ip.as_deref().unwrap_or("unknown"),
                    user_agent.as_deref().unwrap_or("unknown"),
                ),
            ),
            Self::PasswordChanged => (
                "Your password was changed".into(),
                format!(
                    "The password of your account was just changed, and its other sessions ended.\n\n{unsure}"
                ),
            ),
            Self::SecondFactorRemoved(what) => (
                "A second factor was removed from your account".into(),
                format!("A second factor ({what}) was just removed from your account.\n\n{unsure}"),
            ),
            Self::ApiKeyCreated(name) => (
                "A new API key was created".into(),
                format!(
                    "An API key named \"{name}\" was just created for your account.\n\n{unsure}"
                ),
            ),
            Self::EmailChanged(new) => (
                "The email address of your account was changed".into(),
                format!(
                    "The email address of your account was just changed to {new}. Mail about the \
                     account now goes there.\n\n{unsure}"
                ),
            ),
            Self::RegistrationAttempt => (
                "Someone tried to create an account with your address".into(),
                "Someone just tried to create an account with this address, which already has \
                 one. Nothing was changed. If it was you, sign in, or reset your password if you \
                 forgot it."
                    .into(),
            ),
        }
    }
}

fn new_code(rng: &dyn crate::rand::Rng) -> SecretString {
    let raw: [u8; 24] = crate::rand::bytes(rng);
    SecretString::from(format!("{CODE_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// Whether `s` has the shape of a mailed code (checked before any lookup).
fn is_code_shape(s: &str) -> bool {
    s.strip_prefix(CODE_PREFIX).is_some_and(|rest| {
        rest.len() == 32 && URL_SAFE_NO_PAD.decode(rest).is_ok_and(|b| b.len() == 24)
    })
}

impl Services {
    /// Installs what sends mail (once, at start, when `[email]` is configured).
    pub fn set_mailer(&self, m: std::sync::Arc<dyn Mailer>) {
        let _ = self.mailer.set(m);
    }

    /// Whether mail can be sent.
    pub fn mail_enabled(&self) -> bool {
        self.mailer.get().is_some()
    }

    pub(crate) fn require_mail(&self) -> Result<()> {
        if self.mail_enabled() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this needs mail, and this server has no [email] settings".into(),
            ))
        }
    }

    fn mail(&self, to: &Email, kind: &'static str, subject: String, text: String) {
        if let Some(m) = self.mailer.get() {
            m.send(Mail {
                to: to.as_str().to_owned(),
                subject,
                text,
                kind,
            });
        }
    }

    /// Mails `user` a security notice about their account (when mail is configured).
    pub(crate) fn notify(&self, user: &User, notice: &Notice) {
        if user.role == Role::Service {
            return;
        }
        let (subject, text) = notice.text();
        self.mail(&user.email, notice.kind(), subject, text);
    }

    /// Mails `user` that their account was signed in to from a device it had not seen.
    pub(crate) fn notify_new_device(&self, user: &User, ctx: &RequestContext) {
        self.notify(
            user,
            &Notice::NewDevice {
                ip: ctx.ip.map(|ip| ip.to_string()),
                user_agent: ctx.user_agent.clone(),
            },
        );
    }

    /// Mails the notice to the user `user_id` (looked up), for callers that hold only the id.
    pub(crate) async fn notify_user(&self, user_id: &str, notice: Notice) {
        if !self.mail_enabled() {
            return;
        }
        if let Ok(Some(u)) = self.store.user_by_id(user_id).await {
            self.notify(&u, &notice);
        }
    }

    /// Audits the delivery of one mail (its kind, never its content or address).
    pub async fn record_mail_delivery(&self, kind: &str, delivered: bool, detail: &str) {
        let now = self.now();
        let (action, outcome) = if delivered {
            ("email.delivered", Outcome::Success)
        } else {
            ("email.failed", Outcome::Failure)
        };
        let result = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(now, action, outcome)
                    .actor("system")
                    .details(json!({"kind": kind, "result": detail})),
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(kind, "cannot audit a mail delivery: {e}");
        }
    }

    /// A new code for `user_id`, stored (hashed) inside `tx`.
    async fn issue_mail_code(
        &self,
        tx: &mut dyn Tx,
        user_id: &str,
        purpose: CodePurpose,
    ) -> Result<SecretString> {
        self.issue_code_for(tx, user_id, purpose, None).await
    }

    /// [`Self::issue_mail_code`], with the new address of a change (sealed).
    async fn issue_code_for(
        &self,
        tx: &mut dyn Tx,
        user_id: &str,
        purpose: CodePurpose,
        new_email: Option<&Email>,
    ) -> Result<SecretString> {
        let now = self.now();
        let code = new_code(self.rng.as_ref());
        let code_hash = sha256_hex(code.expose_secret().as_bytes());
        let new_email = new_email.map(|e| {
            self.keyring.seal(
                code_hash.as_bytes(),
                e.as_str().as_bytes(),
                self.rng.as_ref(),
            )
        });
        tx.accounts()
            .insert_email_code(&EmailCode {
                code_hash,
                user_id: user_id.to_owned(),
                purpose,
                created_at: now,
                expires_at: now + purpose.lifetime(),
                used_at: None,
                new_email,
            })
            .await?;
        Ok(code)
    }

    /// The hosted page a code opens: the code rides in the fragment, which browsers never
    /// send to a server nor put in a `Referer`.
    fn code_link(&self, page: &str, code: &SecretString) -> String {
        format!(
            "{}/oauth2/{page}#code={}",
            self.settings.issuer.trim_end_matches('/'),
            code.expose_secret()
        )
    }

    fn mail_code(&self, user: &User, purpose: CodePurpose, code: &SecretString) {
        self.mail_code_to(&user.email, purpose, code);
    }

    fn mail_code_to(&self, to: &Email, purpose: CodePurpose, code: &SecretString) {
        let minutes = purpose.lifetime() / 60;
        let (kind, subject, page, what) = match purpose {
            CodePurpose::Reset => (
                "password_reset",
                "Reset your password",
                "password/reset",
                "Someone (hopefully you) asked to reset the password of your account.",
            ),
            CodePurpose::Invite => (
                "invitation",
                "You have been invited",
                "password/reset",
                "An administrator created an account for you. Choose its password to start.",
            ),
            CodePurpose::Verify => (
                "verification",
                "Confirm your email address",
                "email/verify",
                "Confirm that this address is yours to finish creating your account.",
            ),
            CodePurpose::Change => (
                "email_change",
                "Confirm your new email address",
                "email/verify",
                "Confirm that this address is yours: the mail of your account will come here.",
            ),
        };
        let text = format!(
            "{what}\n\nOpen this link (it works once, for {}):\n{}\n\nor enter this code on the page:\n{}\n\n\
             If you did not ask for this, ignore this mail: nothing changes.",
            if minutes >= 120 {
                format!("{} hours", minutes / 60)
            } else {
                format!("{minutes} minutes")
            },
            self.code_link(page, code),
            code.expose_secret(),
        );
        self.mail(to, kind, subject.into(), text);
    }

    fn forgot_keys(&self, email: &Email, ctx: &RequestContext) -> Vec<String> {
        let keys = self.throttle_keys(email, ctx.ip);
        let mut out = vec![format!("forgot:{}", keys.account)];
        if let Some(ip) = keys.ip {
            out.push(format!("forgot:{ip}"));
        }
        out
    }

    /// `POST /auth/password/forgot`, the part before the answer: the address's shape and the
    /// throttles (per address and per source), the same work whether or not it has an
    /// account. The caller answers 202 and runs [`Self::send_password_reset`] after.
    pub async fn forgot_password_gate(&self, ctx: &RequestContext, email: &str) -> Result<Email> {
        self.require_mail()?;
        let email = Self::parse_email(email)?;
        let keys = self.forgot_keys(&email, ctx);
        self.check_throttle_keys(&keys).await?;
        let mut tx = self.store.begin().await?;
        for (i, k) in keys.iter().enumerate() {
            let policy = if i == 0 {
                &throttle::ACCOUNT
            } else {
                &throttle::CLIENT_IP
            };
            self.bump_throttle(tx.as_mut(), k, policy).await?;
        }
        tx.commit().await?;
        Ok(email)
    }

    /// Mails a reset code to the account of `email`, if there is one that can sign in with a
    /// password (not a service account, not locked). Runs after the 202 has gone.
    pub async fn send_password_reset(&self, ctx: &RequestContext, email: &Email) -> Result<()> {
        let Some(user) = self.user_by_email(email).await? else {
            return Ok(());
        };
        if user.role == Role::Service {
            return Ok(());
        }
        self.issue_reset(ctx, &user, &user.id, "auth.password.reset_requested")
            .await
    }

    /// Stores and mails a reset code for `user`, with its audit event (refused for a locked
    /// account: its owner cannot sign in anyway, and a reset is no way around a lock).
    pub(crate) async fn issue_reset(
        &self,
        ctx: &RequestContext,
        user: &User,
        actor: &str,
        action: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if user.locked {
            tx.append_audit(
                &NewAuditEvent::new(now, action, Outcome::Failure)
                    .actor(actor.to_owned())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "account_locked"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::AccountLocked);
        }
        let purpose = if user.password_hash.is_none() {
            CodePurpose::Invite
        } else {
            CodePurpose::Reset
        };
        let code = self.issue_mail_code(tx.as_mut(), &user.id, purpose).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, action, Outcome::Success)
                .actor(actor.to_owned())
                .target(user.id.clone())
                .client(ctx)
                .details(
                    json!({"purpose": purpose.as_str(), "expires_at": now + purpose.lifetime()}),
                ),
        )
        .await?;
        tx.commit().await?;
        self.mail_code(user, purpose, &code);
        Ok(())
    }

    /// An administrator has a reset code mailed to a user (`POST /admin/users/{id}/password-reset`).
    pub async fn admin_password_reset(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<()> {
        self.require_mail()?;
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| u.role != Role::Service)
            .ok_or(Error::NotFound)?;
        self.issue_reset(ctx, &user, &admin.user_id, "admin.user.password_reset_sent")
            .await
    }

    /// Mails an invitation to an account created without a password: a code that sets its
    /// first one (`admin.user.invited`).
    pub(crate) async fn send_invitation(
        &self,
        ctx: &RequestContext,
        admin: &Principal,
        user: &User,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let code = self
            .issue_mail_code(tx.as_mut(), &user.id, CodePurpose::Invite)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.user.invited", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"expires_at": now + CodePurpose::Invite.lifetime()})),
        )
        .await?;
        tx.commit().await?;
        self.mail_code(user, CodePurpose::Invite, &code);
        Ok(())
    }

    /// `POST /auth/password/reset`: a reset or invitation code sets a new password (the
    /// policy applies); every session of the user ends, and with `revoke_api_keys` every
    /// API key too. The address is proved by it. Wrong codes count against the source like
    /// failed sign-ins.
    pub async fn reset_password(
        &self,
        ctx: &RequestContext,
        code: &str,
        new_password: &str,
        revoke_api_keys: bool,
    ) -> Result<()> {
        let ip_key = ctx.ip.map(|ip| format!("reset:{}", throttle::ip_key(ip)));
        if let Some(k) = &ip_key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let now = self.now();
        let bad_code = async || -> Result<()> {
            if let Some(k) = &ip_key {
                let mut tx = self.store.begin().await?;
                self.bump_throttle(tx.as_mut(), k, &throttle::CLIENT_IP)
                    .await?;
                tx.commit().await?;
            }
            Err(Error::InvalidToken("unknown, used or expired code"))
        };
        if !is_code_shape(code) {
            return bad_code().await;
        }
        let new = normalize(new_password);
        // Hashed before the transaction, which then holds no lock through Argon2.
        let hash = self.hasher.hash(new.clone(), self.rng.as_ref()).await?;
        let mut tx = self.store.begin().await?;
        let Some(used) = tx
            .accounts()
            .use_email_code(
                &sha256_hex(code.as_bytes()),
                &[CodePurpose::Reset, CodePurpose::Invite],
                now,
            )
            .await?
        else {
            drop(tx);
            return bad_code().await;
        };
        let user = tx
            .lock_user(&used.user_id)
            .await?
            .ok_or(Error::InvalidToken("unknown, used or expired code"))?;
        if user.locked {
            return Err(Error::AccountLocked);
        }
        // A weak password leaves the code unused (the transaction is dropped).
        self.check_new_password(
            "new_password",
            &new,
            &user.email,
            user.display_name.as_deref(),
        )?;
        tx.set_password_hash(&user.id, &hash, now).await?;
        tx.accounts()
            .set_must_change_password(&user.id, false, now)
            .await?;
        tx.accounts()
            .set_email_verified(&user.id, true, now)
            .await?;
        tx.accounts().drop_email_codes(&user.id, now).await?;
        let ids = self
            .revoke_all_sessions(tx.as_mut(), ctx, &user.id, &user.id, None, "password_reset")
            .await?;
        let mut keys_revoked = 0;
        if revoke_api_keys {
            for k in self.store.api_keys_of(&user.id).await? {
                if tx.revoke_api_key(&k.id, now).await? {
                    keys_revoked += 1;
                    tx.append_audit(
                        &NewAuditEvent::new(now, "auth.api_key.revoked", Outcome::Success)
                            .actor(user.id.clone())
                            .target(k.id.clone())
                            .client(ctx)
                            .details(json!({"reason": "password_reset"})),
                    )
                    .await?;
                }
            }
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.password.reset", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({
                    "purpose": used.purpose.as_str(),
                    "sessions_revoked": ids.len(),
                    "api_keys_revoked": keys_revoked,
                })),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&ids, now);
        if used.purpose == CodePurpose::Reset {
            self.notify(&user, &Notice::PasswordChanged);
        }
        Ok(())
    }

    /// Mails a verification code to a newly registered user (`verify_on_register`).
    pub(crate) async fn send_verification(&self, ctx: &RequestContext, user: &User) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let code = self
            .issue_mail_code(tx.as_mut(), &user.id, CodePurpose::Verify)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.email.verification_sent", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        self.mail_code(user, CodePurpose::Verify, &code);
        Ok(())
    }

    /// Whether `user` may not sign in yet: registered under `verify_on_register` and never
    /// proved the address. When every code it was sent has expired or been used, a new
    /// one goes out (the caller has checked the password).
    pub(crate) async fn unverified(&self, ctx: &RequestContext, user: &User) -> Result<bool> {
        if user.email_verified || !self.settings.verify_on_register {
            return Ok(false);
        }
        let mut tx = self.store.begin().await?;
        let (sent, live) = tx.accounts().verify_codes(&user.id, self.now()).await?;
        drop(tx);
        if sent == 0 {
            // Created another way (an administrator, the command line, before the setting).
            return Ok(false);
        }
        if live == 0 {
            self.send_verification(ctx, user).await?;
        }
        Ok(true)
    }

    /// `POST /auth/email/verify`: a verification code proves the address.
    pub async fn verify_email(&self, ctx: &RequestContext, code: &str) -> Result<()> {
        let ip_key = ctx.ip.map(|ip| format!("reset:{}", throttle::ip_key(ip)));
        if let Some(k) = &ip_key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let used = if is_code_shape(code) {
            tx.accounts()
                .use_email_code(
                    &sha256_hex(code.as_bytes()),
                    &[CodePurpose::Verify, CodePurpose::Change],
                    now,
                )
                .await?
        } else {
            None
        };
        let Some(used) = used else {
            if let Some(k) = &ip_key {
                self.bump_throttle(tx.as_mut(), k, &throttle::CLIENT_IP)
                    .await?;
            }
            tx.commit().await?;
            return Err(Error::InvalidToken("unknown, used or expired code"));
        };
        if used.purpose == CodePurpose::Change {
            return self.apply_email_change(tx, ctx, &used).await;
        }
        tx.accounts()
            .set_email_verified(&used.user_id, true, now)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.email.verified", Outcome::Success)
                .actor(used.user_id.clone())
                .target(used.user_id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `POST /auth/email`: asks to change the account's address. The password is asked
    /// again; a code goes to the new address, and the change happens when it comes back
    /// ([`Self::verify_email`]), the old address told then. An address that already has an
    /// account gets nothing, and the answer is the same.
    pub async fn request_email_change(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        new_email: &str,
        password: &str,
    ) -> Result<()> {
        self.require_mail()?;
        let user = self.me(p).await?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let new_email = Self::parse_email(new_email)?;
        if new_email.as_str() == user.email.as_str() {
            return Err(Error::InvalidRequest(
                "this is the account's address already".into(),
                vec![crate::error::FieldError::new(
                    "new_email",
                    "unchanged",
                    "the same as the current address",
                )],
            ));
        }
        let ok = self
            .hasher
            .verify(normalize(password), user.password_hash.clone())
            .await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !ok {
            let failures = self.record_failure(tx.as_mut(), &keys).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.email.change_failed", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "invalid_password", "account_failures": failures})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        }
        let taken = self.user_by_email(&new_email).await?.is_some();
        let code = if taken {
            None
        } else {
            Some(
                self.issue_code_for(tx.as_mut(), &user.id, CodePurpose::Change, Some(&new_email))
                    .await?,
            )
        };
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.email.change_requested", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"sent": !taken})),
        )
        .await?;
        tx.commit().await?;
        if let Some(code) = code {
            self.mail_code_to(&new_email, CodePurpose::Change, &code);
        }
        Ok(())
    }

    /// A change-of-address code came back: the new address replaces the old (proved by
    /// the code), and the old address is told.
    async fn apply_email_change(
        &self,
        mut tx: Box<dyn Tx>,
        ctx: &RequestContext,
        used: &EmailCode,
    ) -> Result<()> {
        let now = self.now();
        let sealed = used
            .new_email
            .as_deref()
            .ok_or(Error::Internal("a change code without its address".into()))?;
        let plain = self.keyring.open(used.code_hash.as_bytes(), sealed)?;
        let new_email = Self::parse_email(
            std::str::from_utf8(&plain)
                .map_err(|_| Error::Internal("a sealed address is not text".into()))?,
        )?;
        let user = tx
            .lock_user(&used.user_id)
            .await?
            .ok_or(Error::InvalidToken("unknown, used or expired code"))?;
        tx.accounts()
            .set_profile(&user.id, &new_email, user.display_name.as_deref(), now)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("an account with this email already exists".into())
                }
                other => other,
            })?;
        tx.accounts()
            .set_email_verified(&user.id, true, now)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.email.changed", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        self.notify(&user, &Notice::EmailChanged(new_email.as_str().to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_one_shape() {
        let rng = crate::rand::OsRng;
        let c = new_code(&rng);
        assert!(is_code_shape(c.expose_secret()));
        assert_ne!(c.expose_secret(), new_code(&rng).expose_secret());
        for bad in [
            "",
            "pcm_",
            "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pcm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pcm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pcm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/",
        ] {
            assert!(!is_code_shape(bad), "{bad}");
        }
    }
}
