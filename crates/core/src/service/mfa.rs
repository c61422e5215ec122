//! Second factors: TOTP enrolment with recovery codes, the second step of a login, step-up,
//! and the recency check that sensitive actions make.

use secrecy::SecretString;
use serde_json::json;

use super::auth::{Principal, TokenResponse};
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::sha256_hex;
use crate::crypto::totp::{self, TotpCheck};
use crate::error::{Error, Result};
use crate::model::{MfaChallenge, User, WebauthnCeremony};
use crate::password::normalize;
use crate::rand::bytes;
use crate::store::Tx;

/// How long the `mfa_token` of a password-verified login lives.
pub const MFA_TOKEN_TTL: i64 = 300;
/// Wrong codes a login challenge survives.
pub const MFA_MAX_ATTEMPTS: i64 = 5;
/// Recovery codes per user.
pub const RECOVERY_CODES: usize = 10;
/// Issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Portcullis";
/// The RFC 8176 value of a one-time password.
const OTP: &str = "otp";
/// The answer to an `mfa_token` that cannot be used (any more).
pub(crate) const DEAD_MFA_TOKEN: Error =
    Error::InvalidToken("the mfa_token is expired, used or unknown; sign in again");

/// What a password login leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in.
    Tokens(TokenResponse),
    /// The password was right; a second factor must follow at `/auth/mfa/verify`.
    MfaRequired {
        /// Single-use, five-minute token of this login attempt.
        mfa_token: SecretString,
        /// Factors the user can use.
        methods: Vec<&'static str>,
    },
}

/// A new, unconfirmed TOTP enrolment.
#[derive(Debug)]
pub struct MfaSetup {
    /// Base32 secret.
    pub secret: SecretString,
    /// `otpauth://` URI for QR codes.
    pub otpauth_uri: SecretString,
}

/// A proof offered as a second factor.
#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    /// A TOTP code.
    Totp(&'a str),
    /// A recovery code.
    RecoveryCode(&'a str),
    /// A WebAuthn assertion (`AuthenticationResponseJSON`) answering a started ceremony.
    Passkey {
        /// From the ceremony's start.
        ceremony_id: &'a str,
        /// The authenticator's response.
        credential: &'a serde_json::Value,
    },
}

/// A factor ready to check inside a transaction: a passkey's ceremony already taken.
pub(crate) enum Proof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
    Passkey(
        Box<(
            Option<WebauthnCeremony>,
            webauthn_rs::prelude::PublicKeyCredential,
        )>,
    ),
}

/// A factor that checked out: its name (for the audit log) and its RFC 8176 method.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FactorUsed {
    pub(crate) method: &'static str,
    pub(crate) amr: &'static str,
}

/// Outcome of checking a factor: what was used, or the audit action and reason of a failure.
type Checked = std::result::Result<FactorUsed, (&'static str, &'static str)>;

/// The result of a step-up: a fresh access token for the same session.
#[derive(Debug)]
pub struct StepUp {
    /// Access token carrying the new `auth_time`.
    pub access_token: SecretString,
    /// Its lifetime.
    pub expires_in: i64,
    /// The session.
    pub session_id: String,
    /// The new `auth_time`.
    pub auth_time: i64,
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `amr` with `method` added once.
pub(crate) fn with_amr(amr: &[String], method: &str) -> Vec<String> {
    let mut v = amr.to_vec();
    if !v.iter().any(|m| m == method) {
        v.push(method.to_owned());
    }
    v
}

impl Services {
    fn totp_aad(user_id: &str) -> Vec<u8> {
        format!("portcullis:totp:v1:{user_id}").into_bytes()
    }

    /// Keyed hash of a recovery code: a stolen database alone does not allow brute-forcing it.
    fn recovery_hash(&self, user_id: &str, code: &str) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let key = self.keyring.derive("portcullis:recovery-codes:v1");
        let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref()) else {
            return String::new();
        };
        mac.update(user_id.as_bytes());
        mac.update(&[0]);
        mac.update(normalize_recovery(code).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub(crate) fn new_recovery_codes(&self, user_id: &str) -> (Vec<String>, Vec<String>) {
        let mut plain = Vec::with_capacity(RECOVERY_CODES);
        let mut hashes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            // 60 bits, as three groups of four base32 characters.
            let raw: [u8; 8] = bytes(self.rng.as_ref());
            let b32 = totp::base32_encode(&raw);
            let part = |r: std::ops::Range<usize>| b32.get(r).unwrap_or_default().to_owned();
            let code = format!("{}-{}-{}", part(0..4), part(4..8), part(8..12));
            hashes.push(self.recovery_hash(user_id, &code));
            plain.push(code);
        }
        (plain, hashes)
    }

    /// Fails with `step_up_required` unless the caller's session proved a factor within
    /// `auth.step_up_max_age_seconds`.
    pub async fn require_recent_auth(&self, p: &Principal) -> Result<()> {
        // API keys are non-interactive credentials created after a step-up; their scopes,
        // not a session's recency, bound what they may do.
        if p.api_key.is_some() {
            return Ok(());
        }
        let session = self
            .store
            .session(&p.session_id)
            .await?
            .ok_or(Error::InvalidToken("unknown session"))?;
        if self.now() - session.auth_time > self.settings.step_up_max_age {
            return Err(Error::StepUpRequired);
        }
        Ok(())
    }

    /// Starts a TOTP enrolment: a fresh secret, pending until confirmed with a code.
    pub async fn mfa_setup(&self, p: &Principal, ctx: &RequestContext) -> Result<MfaSetup> {
        let user = self.me(p).await?;
        let secret: [u8; totp::SECRET_LEN] = bytes(self.rng.as_ref());
        let sealed = self
            .keyring
            .seal(&Self::totp_aad(&user.id), &secret, self.rng.as_ref());
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.mfa_state(&user.id).await?.totp_secret.is_some() {
            return Err(Error::Conflict(
                "a TOTP authenticator is already enrolled; remove it first".into(),
            ));
        }
        tx.set_totp_pending(&user.id, Some(&sealed), now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.mfa.setup_started", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"method": "totp"})),
        )
        .await?;
        tx.commit().await?;
        let b32 = totp::base32_encode(&secret);
        let uri = format!(
            "otpauth://totp/{issuer}:{label}?secret={b32}&issuer={issuer}&algorithm=SHA1&digits={digits}&period={period}",
            issuer = TOTP_ISSUER,
            label = percent_encode(user.email.as_str()),
            digits = totp::DIGITS,
            period = totp::STEP,
        );
        Ok(MfaSetup {
            secret: SecretString::from(b32),
            otpauth_uri: SecretString::from(uri),
        })
    }

    /// Confirms a pending enrolment with a first code; returns the recovery codes (shown once).
    pub async fn mfa_confirm(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        code: &str,
    ) -> Result<Vec<String>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let state = tx.mfa_state(&p.user_id).await?;
        let Some(pending) = state.totp_pending else {
            return Err(Error::InvalidRequest(
                "no TOTP enrolment is pending: POST /api/v1/auth/mfa/setup first".into(),
                vec![],
            ));
        };
        let secret = self.keyring.open(&Self::totp_aad(&p.user_id), &pending)?;
        let TotpCheck::Valid(step) = totp::verify(&secret, code, now, None) else {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.mfa.failed", Outcome::Failure)
                    .actor(p.user_id.clone())
                    .target(p.user_id.clone())
                    .client(ctx)
                    .details(json!({"method": "totp", "stage": "confirm"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidMfaCode("wrong or expired code"));
        };
        tx.enable_totp(&p.user_id, step, now).await?;
        let (codes, hashes) = self.new_recovery_codes(&p.user_id);
        tx.replace_recovery_codes(&p.user_id, &hashes, now).await?;
        // The user just proved the factor in this session.
        let amr = with_amr(&p.amr, OTP);
        tx.set_session_auth(&p.session_id, &amr, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.mfa.enabled", Outcome::Success)
                .actor(p.user_id.clone())
                .target(p.user_id.clone())
                .client(ctx)
                .details(json!({"method": "totp", "recovery_codes": RECOVERY_CODES})),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Replaces the recovery codes (the old ones stop working). Needs a recent factor.
    pub async fn regenerate_recovery_codes(
        &self,
        p: &Principal,
        ctx: &RequestContext,
    ) -> Result<Vec<String>> {
        self.require_recent_auth(p).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.sync_mfa_enabled(&p.user_id, now).await? {
            return Err(Error::InvalidRequest(
                "no second factor is enrolled".into(),
                vec![],
            ));
        }
        let (codes, hashes) = self.new_recovery_codes(&p.user_id);
        tx.replace_recovery_codes(&p.user_id, &hashes, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.mfa.recovery_codes_regenerated", Outcome::Success)
                .actor(p.user_id.clone())
                .target(p.user_id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Takes what a factor needs from the store: the ceremony of a passkey assertion (so it
    /// is spent even when the assertion fails). A credential that is not WebAuthn JSON is a
    /// bad request.
    pub(crate) async fn proof<'a>(&self, tx: &mut dyn Tx, factor: Factor<'a>) -> Result<Proof<'a>> {
        Ok(match factor {
            Factor::Totp(c) => Proof::Totp(c),
            Factor::RecoveryCode(c) => Proof::RecoveryCode(c),
            Factor::Passkey {
                ceremony_id,
                credential,
            } => {
                let cred = serde_json::from_value(credential.clone()).map_err(|e| {
                    Error::InvalidRequest(
                        "credential is not a WebAuthn response".into(),
                        vec![crate::error::FieldError::new(
                            "credential",
                            "invalid",
                            e.to_string(),
                        )],
                    )
                })?;
                Proof::Passkey(Box::new((tx.take_ceremony(ceremony_id).await?, cred)))
            }
        })
    }

    /// Checks a second factor of `user_id` inside `tx`; on success it is spent (TOTP step
    /// recorded, recovery code marked used, passkey counter moved on). `binding` is what a
    /// passkey ceremony must be bound to (the session, or the `mfa_token` hash).
    pub(crate) async fn check_factor(
        &self,
        tx: &mut dyn Tx,
        user_id: &str,
        binding: &str,
        proof: Proof<'_>,
    ) -> Result<Checked> {
        let now = self.now();
        let otp = |method| Ok(Ok(FactorUsed { method, amr: OTP }));
        match proof {
            Proof::Totp(code) => {
                let state = tx.mfa_state(user_id).await?;
                let Some(sealed) = state.totp_secret else {
                    return Ok(Err(("auth.mfa.failed", "no TOTP enrolled")));
                };
                let secret = self.keyring.open(&Self::totp_aad(user_id), &sealed)?;
                match totp::verify(&secret, code, now, state.totp_last_step) {
                    TotpCheck::Valid(step) if tx.advance_totp_step(user_id, step).await? => {
                        otp("totp")
                    }
                    TotpCheck::Valid(_) | TotpCheck::Replayed => {
                        Ok(Err(("auth.mfa.replay_rejected", "code already used")))
                    }
                    TotpCheck::Invalid => Ok(Err(("auth.mfa.failed", "wrong or expired code"))),
                }
            }
            Proof::RecoveryCode(code) => {
                let hash = self.recovery_hash(user_id, code);
                if tx.use_recovery_code(user_id, &hash, now).await? {
                    otp("recovery_code")
                } else {
                    Ok(Err(("auth.mfa.failed", "unknown or used recovery code")))
                }
            }
            Proof::Passkey(p) => {
                let (ceremony, cred) = *p;
                self.check_passkey(tx, user_id, binding, ceremony, &cred)
                    .await
            }
        }
    }

    /// The factors a user can answer a login challenge with.
    pub(crate) async fn mfa_methods(
        &self,
        tx: &mut dyn Tx,
        user_id: &str,
    ) -> Result<Vec<&'static str>> {
        let state = tx.mfa_state(user_id).await?;
        let mut methods = Vec::new();
        if state.totp_secret.is_some() {
            methods.push("totp");
        }
        if state.passkeys > 0 {
            methods.push("webauthn");
        }
        if state.recovery_codes > 0 {
            methods.push("recovery_code");
        }
        Ok(methods)
    }

    /// Creates the login challenge of a password-verified user, inside `tx`.
    pub(crate) async fn start_mfa_challenge(
        &self,
        tx: &mut dyn Tx,
        user: &User,
    ) -> Result<SecretString> {
        let now = self.now();
        let raw: [u8; 32] = bytes(self.rng.as_ref());
        let token = format!("mfa_{}", hex::encode(raw));
        tx.insert_mfa_challenge(&MfaChallenge {
            token_hash: sha256_hex(token.as_bytes()),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + MFA_TOKEN_TTL,
            attempts: 0,
            used_at: None,
        })
        .await?;
        Ok(SecretString::from(token))
    }

    /// The second step of a login: exchanges the `mfa_token` and a code for tokens.
    pub async fn mfa_verify(
        &self,
        ctx: &RequestContext,
        mfa_token: &str,
        factor: Factor<'_>,
    ) -> Result<TokenResponse> {
        let token_hash = Self::live_mfa_token_hash(mfa_token)?;
        let mut tx = self.store.begin().await?;
        let proof = self.proof(tx.as_mut(), factor).await?;
        self.mfa_complete(tx, ctx, &token_hash, proof).await
    }

    /// Completes the login challenge `token_hash` with `proof`, in `tx`.
    pub(crate) async fn mfa_complete(
        &self,
        mut tx: Box<dyn Tx>,
        ctx: &RequestContext,
        token_hash: &str,
        proof: Proof<'_>,
    ) -> Result<TokenResponse> {
        let now = self.now();
        let Some(ch) = tx.mfa_challenge(token_hash).await? else {
            return Err(DEAD_MFA_TOKEN);
        };
        if ch.used_at.is_some() || ch.expires_at <= now || ch.attempts >= MFA_MAX_ATTEMPTS {
            return Err(DEAD_MFA_TOKEN);
        }
        let user = tx.lock_user(&ch.user_id).await?.ok_or(DEAD_MFA_TOKEN)?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        if user.locked {
            return Err(Error::AccountLocked);
        }
        match self
            .check_factor(tx.as_mut(), &user.id, token_hash, proof)
            .await?
        {
            Err((action, reason)) => {
                tx.bump_mfa_attempts(token_hash).await?;
                let failures = self.record_failure(tx.as_mut(), &keys).await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, action, Outcome::Failure)
                        .target(user.id.clone())
                        .client(ctx)
                        .details(json!({"stage": "login", "reason": reason, "attempt": ch.attempts + 1, "account_failures": failures})),
                )
                .await?;
                tx.commit().await?;
                Err(Error::InvalidMfaCode(reason))
            }
            Ok(used) => {
                if !tx.use_mfa_challenge(token_hash, now).await? {
                    return Err(DEAD_MFA_TOKEN);
                }
                tx.clear_throttle(&keys.account).await?;
                let amr = vec!["pwd".to_owned(), used.amr.to_owned()];
                let (session, refresh) = self.start_session(tx.as_mut(), ctx, &user, amr).await?;
                let evicted = self
                    .evict_over_cap(tx.as_mut(), ctx, &user.id, &session.id)
                    .await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.mfa.verified", Outcome::Success)
                        .actor(user.id.clone())
                        .target(session.id.clone())
                        .client(ctx)
                        .details(json!({"method": used.method, "stage": "login"})),
                )
                .await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.login.succeeded", Outcome::Success)
                        .actor(user.id.clone())
                        .target(session.id.clone())
                        .client(ctx)
                        .details(json!({"amr": session.amr})),
                )
                .await?;
                let device_cookie = self.complete_sign_in(tx.as_mut(), ctx, &user).await?;
                tx.commit().await?;
                self.note_revoked(&evicted, now);
                let mut t = self.token_response(&user, &session, refresh, None)?;
                t.device_cookie = Some(device_cookie);
                Ok(t)
            }
        }
    }

    /// Step-up: proves a factor again in the current session. Users with a second factor
    /// must use it; users without one re-enter their password.
    pub async fn step_up(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        factor: Option<Factor<'_>>,
        password: Option<&str>,
    ) -> Result<StepUp> {
        let user = self.me(p).await?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let now = self.now();
        let outcome: Checked;
        let mut tx;
        match (user.mfa_enabled, factor, password) {
            (true, Some(f), _) => {
                tx = self.store.begin().await?;
                let proof = self.proof(tx.as_mut(), f).await?;
                outcome = self
                    .check_factor(tx.as_mut(), &user.id, &p.session_id, proof)
                    .await?;
            }
            (false, _, Some(pw)) => {
                let ok = self
                    .hasher
                    .verify(normalize(pw), user.password_hash.clone())
                    .await?;
                tx = self.store.begin().await?;
                outcome = if ok {
                    Ok(FactorUsed {
                        method: "password",
                        amr: "pwd",
                    })
                } else {
                    Err(("auth.step_up.failed", "wrong password"))
                };
            }
            (true, _, _) => {
                return Err(Error::InvalidRequest(
                    "send `code`, `recovery_code` or a passkey assertion (`ceremony_id` and `credential`): this account has a second factor".into(),
                    vec![],
                ));
            }
            (false, _, None) => {
                return Err(Error::InvalidRequest(
                    "send `password`: this account has no second factor yet".into(),
                    vec![],
                ));
            }
        }
        let used = match outcome {
            Ok(u) => u,
            Err((action, reason)) => {
                let failures = self.record_failure(tx.as_mut(), &keys).await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, action, Outcome::Failure)
                        .actor(user.id.clone())
                        .target(p.session_id.clone())
                        .client(ctx)
                        .details(json!({"stage": "step_up", "reason": reason, "account_failures": failures})),
                )
                .await?;
                tx.commit().await?;
                return Err(if method_is_password(action) {
                    Error::InvalidCredentials
                } else {
                    Error::InvalidMfaCode(reason)
                });
            }
        };
        let session = tx
            .session(&p.session_id)
            .await?
            .filter(|s| s.is_active(now))
            .ok_or(Error::InvalidToken("session revoked"))?;
        let amr = with_amr(&session.amr, used.amr);
        tx.set_session_auth(&session.id, &amr, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.step_up.succeeded", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({"method": used.method})),
        )
        .await?;
        tx.commit().await?;
        let session = crate::model::Session {
            amr,
            auth_time: now,
            ..session
        };
        // A step-up keeps the session's elevation (the fresh token replaces the old one).
        let elevation = self
            .store
            .approvals()
            .active_elevation(&session.id, now)
            .await?;
        Ok(StepUp {
            access_token: self.mint_access_token(&user, &session, elevation.as_ref())?,
            expires_in: self.settings.access_ttl,
            session_id: session.id,
            auth_time: now,
        })
    }

    /// Removes the TOTP authenticator: needs the password, a current code and a recent factor.
    pub async fn mfa_disable(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        password: &str,
        code: &str,
    ) -> Result<()> {
        self.require_recent_auth(p).await?;
        let user = self.me(p).await?;
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let pw_ok = self
            .hasher
            .verify(normalize(password), user.password_hash.clone())
            .await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let outcome = if pw_ok {
            self.check_factor(tx.as_mut(), &user.id, "", Proof::Totp(code))
                .await?
        } else {
            Err(("auth.mfa.failed", "wrong password"))
        };
        if let Err((action, reason)) = outcome {
            let failures = self.record_failure(tx.as_mut(), &keys).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, action, Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(
                        json!({"stage": "disable", "reason": reason, "account_failures": failures}),
                    ),
            )
            .await?;
            tx.commit().await?;
            return Err(if pw_ok {
                Error::InvalidMfaCode(reason)
            } else {
                Error::InvalidCredentials
            });
        }
        tx.disable_totp(&user.id, now).await?;
        tx.sync_mfa_enabled(&user.id, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.mfa.disabled", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"method": "totp"})),
        )
        .await?;
        tx.commit().await?;
        self.notify(
            &user,
            &super::Notice::SecondFactorRemoved("an authenticator app"),
        );
        Ok(())
    }
}

fn method_is_password(action: &str) -> bool {
    action == "auth.step_up.failed"
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn recovery_codes_normalise() {
        assert_eq!(normalize_recovery("abcd-efgh-ijkl"), "ABCDEFGHIJKL");
        assert_eq!(normalize_recovery(" ABCD EFGH IJKL "), "ABCDEFGHIJKL");
    }

    #[test]
    fn otpauth_labels_are_encoded() {
        assert_eq!(percent_encode("a+b@example.com"), "a%2Bb%40example.com");
    }

    #[test]
    fn methods_are_added_once() {
        assert_eq!(
            with_amr(&["pwd".into()], OTP),
            vec!["pwd".to_owned(), "otp".to_owned()]
        );
        assert_eq!(with_amr(&["pwd".into(), "otp".into()], OTP).len(), 2);
    }

    #[test]
    fn secret_reveals_nothing_in_debug() {
        let s = MfaSetup {
            secret: SecretString::from("JBSWY3DPEHPK3PXP"),
            otpauth_uri: SecretString::from("otpauth://x"),
        };
        assert!(!format!("{s:?}").contains("JBSWY3DP"));
        assert_eq!(s.secret.expose_secret(), "JBSWY3DPEHPK3PXP");
    }
}
