//! Passkeys (WebAuthn, via webauthn-rs): registration by a signed-in user, the second step of a
//! password login, passwordless login with discoverable credentials, step-up, listing and
//! removal.
//!
//! Every ceremony's state lives server-side in the store (never with the client), is bound to
//! what started it (the session, or the `mfa_token` of a login) and is used at most once: it
//! is deleted by the first attempt to finish it, successful or not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use super::auth::{Principal, TokenResponse};
use super::mfa::{FactorUsed, with_amr};
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::sha256_hex;
use crate::error::{Error, FieldError, Result};
use crate::id::new_id;
use crate::model::{CeremonyKind, PasskeyRecord, WebauthnCeremony};
use crate::store::Tx;
use crate::throttle;

/// How long a started ceremony may be finished (the authenticator's own timeout is shorter).
pub const CEREMONY_TTL: i64 = 300;
/// Passkeys one account may register.
pub const MAX_PASSKEYS: usize = 20;
/// Longest passkey name, in characters.
const MAX_NAME: usize = 64;
/// The authenticator timeout sent to clients.
const AUTHENTICATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The relying party of `public_url`: id = its host, origin = its scheme, host and port.
/// `None` (passkeys off) when the host is an IP address, which WebAuthn does not allow.
pub fn relying_party(public_url: &str) -> std::result::Result<Webauthn, String> {
    let url = Url::parse(public_url).map_err(|e| format!("server.public_url: {e}"))?;
    let Some(host) = url.domain() else {
        return Err(format!(
            "passkeys need server.public_url to name a host (WebAuthn does not allow IP \
             addresses); `{public_url}` does not"
        ));
    };
    let origin = Url::parse(&url.origin().ascii_serialization())
        .map_err(|e| format!("server.public_url: {e}"))?;
    WebauthnBuilder::new(host, &origin)
        .and_then(|b| {
            b.rp_name("Portcullis")
                .timeout(AUTHENTICATOR_TIMEOUT)
                .build()
        })
        .map_err(|e| format!("passkeys: {e}"))
}

/// A started ceremony, for the client's `navigator.credentials.create/get`.
#[derive(Debug)]
pub struct CeremonyStart {
    /// Where to send the result.
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    pub public_key: Value,
}

/// A registered passkey and, when it is the account's first second factor, its recovery codes.
#[derive(Debug)]
pub struct PasskeyRegistered {
    /// The new passkey.
    pub passkey: PasskeyRecord,
    /// Ten recovery codes, shown once, when the account had no second factor before.
    pub recovery_codes: Option<Vec<String>>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn corrupt_state(e: serde_json::Error) -> Error {
    Error::Internal(format!("stored WebAuthn state does not decode: {e}"))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("WebAuthn state: {e}")))
}

fn options_json<T: serde::Serialize>(options: &T) -> Result<Value> {
    serde_json::to_value(options).map_err(|e| Error::Internal(format!("WebAuthn options: {e}")))
}

fn bad_credential(e: serde_json::Error) -> Error {
    Error::InvalidRequest(
        "credential is not a WebAuthn response".into(),
        vec![FieldError::new("credential", "invalid", e.to_string())],
    )
}

/// Why an assertion failed, for the audit log and `detail`.
fn assertion_failure(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::CredentialPossibleCompromise => {
            "signature counter did not increase (cloned authenticator?)"
        }
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            "assertion is for another relying party or origin"
        }
        WebauthnError::MismatchedChallenge => "assertion answers another challenge",
        WebauthnError::UserNotVerified => "the authenticator did not verify the user",
        WebauthnError::CredentialNotFound => "credential not allowed for this ceremony",
        _ => "passkey assertion did not verify",
    }
}

/// The RFC 8176 method of a passkey: a synced (backup-eligible) key is software-held.
fn passkey_amr(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "invalid name".into(),
            vec![FieldError::new(
                "name",
                "invalid",
                "1 to 64 characters, no control characters",
            )],
        ));
    }
    Ok(name.to_owned())
}

fn user_handle(user_id: &str) -> Result<Uuid> {
    Uuid::parse_str(user_id).map_err(|_| Error::Internal("user id is not a UUID".into()))
}

impl Services {
    /// The relying party, or why passkeys are off.
    fn webauthn(&self) -> Result<&Webauthn> {
        self.webauthn.as_ref().map_err(|why| {
            Error::Forbidden(format!("Passkeys are not available on this server: {why}"))
        })
    }

    async fn save_ceremony(
        &self,
        tx: &mut dyn Tx,
        kind: CeremonyKind,
        user_id: Option<&str>,
        binding: Option<&str>,
        state: String,
    ) -> Result<String> {
        let now = self.now();
        let id = new_id(now, self.rng.as_ref());
        tx.insert_ceremony(&WebauthnCeremony {
            id: id.clone(),
            kind,
            user_id: user_id.map(str::to_owned),
            binding: binding.map(str::to_owned),
            state,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
        })
        .await?;
        Ok(id)
    }

    /// Starts registering a passkey for the signed-in user (needs a recent factor).
    pub async fn passkey_register_start(
        &self,
        p: &Principal,
        _ctx: &RequestContext,
    ) -> Result<CeremonyStart> {
        let webauthn = self.webauthn()?;
        self.require_recent_auth(p).await?;
        let user = self.me(p).await?;
        let mut tx = self.store.begin().await?;
        let existing = tx.passkeys(&user.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(Error::Conflict(format!(
                "at most {MAX_PASSKEYS} passkeys per account; remove one first"
            )));
        }
        let exclude: Vec<Vec<u8>> = existing
            .iter()
            .filter_map(|k| URL_SAFE_NO_PAD.decode(&k.credential_id).ok())
            .collect();
        let display = user
            .display_name
            .clone()
            .unwrap_or_else(|| user.email.as_str().to_owned());
        let (ccr, state) = webauthn
            .start_passkey_registration(
                user_handle(&user.id)?,
                user.email.as_str(),
                &display,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| Error::Internal(format!("WebAuthn registration start: {e}")))?;
        let id = self
            .save_ceremony(
                tx.as_mut(),
                CeremonyKind::Register,
                Some(&user.id),
                Some(&p.session_id),
                encode(&state)?,
            )
            .await?;
        tx.commit().await?;
        let mut public_key = options_json(&ccr.public_key)?;
        // Ask for a discoverable credential where the authenticator can make one, so the same
        // passkey also signs in without a password; authenticators that cannot still register.
        if let Some(sel) = public_key
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            sel.insert("residentKey".into(), Value::from("preferred"));
        }
        Ok(CeremonyStart {
            ceremony_id: id,
            public_key,
        })
    }

    /// Finishes a registration started in the same session.
    pub async fn passkey_register_finish(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        ceremony_id: &str,
        name: &str,
        credential: &Value,
    ) -> Result<PasskeyRegistered> {
        let webauthn = self.webauthn()?;
        let name = check_name(name)?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(bad_credential)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = tx
            .lock_user(&p.user_id)
            .await?
            .ok_or(Error::InvalidToken("unknown user"))?;
        let ceremony = tx.take_ceremony(ceremony_id).await?.filter(|c| {
            c.kind == CeremonyKind::Register
                && c.user_id.as_deref() == Some(user.id.as_str())
                && c.binding.as_deref() == Some(p.session_id.as_str())
                && c.expires_at > now
        });
        let Some(ceremony) = ceremony else {
            return Err(Error::InvalidRequest(
                "unknown, used or expired ceremony_id: start the registration again".into(),
                vec![FieldError::new(
                    "ceremony_id",
                    "invalid",
                    "unknown, used or expired",
                )],
            ));
        };
        let state: PasskeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(corrupt_state)?;
        let passkey = match webauthn.finish_passkey_registration(&reg, &state) {
            Ok(pk) => pk,
            Err(e) => {
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.passkey.registration_failed", Outcome::Failure)
                        .actor(user.id.clone())
                        .target(user.id.clone())
                        .client(ctx)
                        .details(json!({"reason": e.to_string()})),
                )
                .await?;
                tx.commit().await?;
                return Err(Error::InvalidRequest(
                    format!("the passkey registration was rejected: {e}"),
                    vec![FieldError::new("credential", "invalid", e.to_string())],
                ));
            }
        };
        let stored =
            serde_json::to_value(&passkey).map_err(|e| Error::Internal(format!("passkey: {e}")))?;
        let backup_eligible = stored
            .pointer("/cred/backup_eligible")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let had_factor = user.mfa_enabled;
        let record = PasskeyRecord {
            id: new_id(now, self.rng.as_ref()),
            user_id: user.id.clone(),
            credential_id: b64(passkey.cred_id()),
            name,
            credential: stored.to_string(),
            backup_eligible,
            created_at: now,
            last_used_at: None,
        };
        tx.insert_passkey(&record)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("this authenticator's credential is already registered".into())
                }
                other => other,
            })?;
        tx.sync_mfa_enabled(&user.id, now).await?;
        let recovery_codes = if had_factor {
            None
        } else {
            let (codes, hashes) = self.new_recovery_codes(&user.id);
            tx.replace_recovery_codes(&user.id, &hashes, now).await?;
            Some(codes)
        };
        // Registering proved possession of the key, with user verification, in this session.
        let amr = with_amr(&p.amr, passkey_amr(backup_eligible));
        tx.set_session_auth(&p.session_id, &amr, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.passkey.registered", Outcome::Success)
                .actor(user.id.clone())
                .target(record.id.clone())
                .client(ctx)
                .details(json!({"name": record.name, "backup_eligible": backup_eligible})),
        )
        .await?;
        if !had_factor {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.mfa.enabled", Outcome::Success)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"method": "passkey", "recovery_codes": super::RECOVERY_CODES})),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(PasskeyRegistered {
            passkey: record,
            recovery_codes,
        })
    }

    /// Starts a passkey login: passwordless (`mfa_token` absent, any discoverable credential)
    /// or as the second step after the password (`mfa_token` present, the user's passkeys).
    pub async fn passkey_login_start(
        &self,
        ctx: &RequestContext,
        mfa_token: Option<&str>,
    ) -> Result<CeremonyStart> {
        let webauthn = self.webauthn()?;
        let Some(mfa_token) = mfa_token else {
            self.check_ip_throttle(ctx).await?;
            let (rcr, state) = webauthn
                .start_discoverable_authentication()
                .map_err(|e| Error::Internal(format!("WebAuthn login start: {e}")))?;
            let mut tx = self.store.begin().await?;
            let id = self
                .save_ceremony(
                    tx.as_mut(),
                    CeremonyKind::Discoverable,
                    None,
                    None,
                    encode(&state)?,
                )
                .await?;
            tx.commit().await?;
            return Ok(CeremonyStart {
                ceremony_id: id,
                public_key: options_json(&rcr.public_key)?,
            });
        };
        let token_hash = Self::live_mfa_token_hash(mfa_token)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let ch = tx
            .mfa_challenge(&token_hash)
            .await?
            .filter(|ch| ch.used_at.is_none() && ch.expires_at > now)
            .filter(|ch| ch.attempts < super::MFA_MAX_ATTEMPTS)
            .ok_or(super::mfa::DEAD_MFA_TOKEN)?;
        self.start_assertion(
            tx,
            &ch.user_id,
            &token_hash,
            "this account has no passkey: answer with a TOTP or recovery code",
        )
        .await
    }

    /// Starts an assertion by one of `user_id`'s passkeys, bound to `binding`, in `tx`.
    async fn start_assertion(
        &self,
        mut tx: Box<dyn Tx>,
        user_id: &str,
        binding: &str,
        no_passkey: &str,
    ) -> Result<CeremonyStart> {
        let webauthn = self.webauthn()?;
        let keys = tx.passkeys(user_id).await?;
        if keys.is_empty() {
            return Err(Error::InvalidRequest(no_passkey.into(), vec![]));
        }
        let creds = keys
            .iter()
            .map(|k| serde_json::from_str::<Passkey>(&k.credential).map_err(corrupt_state))
            .collect::<Result<Vec<_>>>()?;
        let (rcr, state) = webauthn
            .start_passkey_authentication(&creds)
            .map_err(|e| Error::Internal(format!("WebAuthn assertion start: {e}")))?;
        let id = self
            .save_ceremony(
                tx.as_mut(),
                CeremonyKind::Authenticate,
                Some(user_id),
                Some(binding),
                encode(&state)?,
            )
            .await?;
        tx.commit().await?;
        Ok(CeremonyStart {
            ceremony_id: id,
            public_key: options_json(&rcr.public_key)?,
        })
    }

    /// Starts a passkey step-up for the current session.
    pub async fn passkey_step_up_start(&self, p: &Principal) -> Result<CeremonyStart> {
        self.webauthn()?;
        let tx = self.store.begin().await?;
        self.start_assertion(tx, &p.user_id, &p.session_id, "this account has no passkey")
            .await
    }

    /// Finishes a passkey login of either kind.
    pub async fn passkey_login_finish(
        &self,
        ctx: &RequestContext,
        ceremony_id: &str,
        credential: &Value,
    ) -> Result<TokenResponse> {
        let cred: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(bad_credential)?;
        let mut tx = self.store.begin().await?;
        let Some(ceremony) = tx.take_ceremony(ceremony_id).await? else {
            return Err(Error::InvalidCredentials);
        };
        match ceremony.kind {
            CeremonyKind::Authenticate => {
                let token_hash = ceremony.binding.clone().unwrap_or_default();
                self.mfa_complete(
                    tx,
                    ctx,
                    &token_hash,
                    super::mfa::Proof::Passkey(Box::new((Some(ceremony), cred))),
                )
                .await
            }
            CeremonyKind::Discoverable => self.passwordless(tx, ctx, ceremony, &cred).await,
            CeremonyKind::Register => Err(Error::InvalidCredentials),
        }
    }

    async fn passwordless(
        &self,
        mut tx: Box<dyn Tx>,
        ctx: &RequestContext,
        ceremony: WebauthnCeremony,
        cred: &PublicKeyCredential,
    ) -> Result<TokenResponse> {
        let webauthn = self.webauthn()?;
        let now = self.now();
        self.check_ip_throttle(ctx).await?;
        let found = match webauthn.identify_discoverable_authentication(cred) {
            Ok((uuid, cred_id)) => tx
                .passkey_by_credential(&b64(cred_id))
                .await?
                .filter(|k| Uuid::parse_str(&k.user_id).ok() == Some(uuid)),
            Err(_) => None,
        };
        let user = match &found {
            Some(k) => tx.lock_user(&k.user_id).await?,
            None => None,
        };
        let (Some(key), Some(user)) = (found, user) else {
            self.record_ip_failure(tx.as_mut(), ctx).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                    .client(ctx)
                    .details(json!({"method": "passkey", "reason": "unknown credential"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        };
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        if ceremony.expires_at <= now {
            return Err(Error::InvalidCredentials);
        }
        if user.locked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"method": "passkey", "reason": "account_locked"})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::AccountLocked);
        }
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(corrupt_state)?;
        let mut passkey: Passkey = serde_json::from_str(&key.credential).map_err(corrupt_state)?;
        let result = match webauthn.finish_discoverable_authentication_v2(cred, state, &passkey) {
            Ok(r) => r,
            Err(e) => {
                let failures = self.record_failure(tx.as_mut(), &keys).await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.login.failed", Outcome::Failure)
                        .target(user.id.clone())
                        .client(ctx)
                        .details(json!({"method": "passkey", "passkey_id": key.id, "reason": assertion_failure(&e), "account_failures": failures})),
                )
                .await?;
                tx.commit().await?;
                return Err(Error::InvalidCredentials);
            }
        };
        passkey.update_credential(&result);
        tx.update_passkey(&key.id, &encode(&passkey)?, now).await?;
        tx.clear_throttle(&keys.account).await?;
        let amr = vec![
            passkey_amr(key.backup_eligible || result.backup_eligible()).to_owned(),
            "mfa".to_owned(),
        ];
        let (session, refresh) = self.start_session(tx.as_mut(), ctx, &user, amr).await?;
        let evicted = self
            .evict_over_cap(tx.as_mut(), ctx, &user.id, &session.id)
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.login.succeeded", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({"amr": session.amr, "method": "passkey", "passkey_id": key.id})),
        )
        .await?;
        let device_cookie = self.complete_sign_in(tx.as_mut(), ctx, &user).await?;
        tx.commit().await?;
        self.note_revoked(&evicted, now);
        let mut t = self.token_response(&user, &session, refresh, None)?;
        t.device_cookie = Some(device_cookie);
        Ok(t)
    }

    /// Checks a passkey assertion answering an `Authenticate` ceremony of `user_id` bound to
    /// `binding`, inside `tx`; on success the stored counter moves on.
    pub(crate) async fn check_passkey(
        &self,
        tx: &mut dyn Tx,
        user_id: &str,
        binding: &str,
        ceremony: Option<WebauthnCeremony>,
        cred: &PublicKeyCredential,
    ) -> Result<std::result::Result<FactorUsed, (&'static str, &'static str)>> {
        let webauthn = self.webauthn()?;
        let now = self.now();
        let Some(c) = ceremony.filter(|c| {
            c.kind == CeremonyKind::Authenticate
                && c.user_id.as_deref() == Some(user_id)
                && c.binding.as_deref() == Some(binding)
                && c.expires_at > now
        }) else {
            return Ok(Err((
                "auth.mfa.failed",
                "unknown, used or expired passkey ceremony",
            )));
        };
        let state: PasskeyAuthentication = serde_json::from_str(&c.state).map_err(corrupt_state)?;
        let result = match webauthn.finish_passkey_authentication(cred, &state) {
            Ok(r) => r,
            Err(e) => return Ok(Err(("auth.mfa.failed", assertion_failure(&e)))),
        };
        let Some(key) = tx
            .passkey_by_credential(&b64(result.cred_id()))
            .await?
            .filter(|k| k.user_id == user_id)
        else {
            return Ok(Err(("auth.mfa.failed", "the passkey was removed")));
        };
        let mut passkey: Passkey = serde_json::from_str(&key.credential).map_err(corrupt_state)?;
        passkey.update_credential(&result);
        tx.update_passkey(&key.id, &encode(&passkey)?, now).await?;
        Ok(Ok(FactorUsed {
            method: "passkey",
            amr: passkey_amr(key.backup_eligible || result.backup_eligible()),
        }))
    }

    /// The caller's passkeys.
    pub async fn list_passkeys(&self, p: &Principal) -> Result<Vec<PasskeyRecord>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.passkeys(&p.user_id).await?)
    }

    /// Removes one of the caller's passkeys (needs a recent factor). Removing the last second
    /// factor turns MFA off and voids the recovery codes.
    pub async fn delete_passkey(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        self.require_recent_auth(p).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_user(&p.user_id).await?;
        if !tx.delete_passkey(&p.user_id, id).await? {
            return Err(Error::NotFound);
        }
        let still = tx.sync_mfa_enabled(&p.user_id, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.passkey.removed", Outcome::Success)
                .actor(p.user_id.clone())
                .target(id.to_owned())
                .client(ctx),
        )
        .await?;
        if !still {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.mfa.disabled", Outcome::Success)
                    .actor(p.user_id.clone())
                    .target(p.user_id.clone())
                    .client(ctx)
                    .details(json!({"method": "passkey", "reason": "last second factor removed"})),
            )
            .await?;
        }
        tx.commit().await?;
        self.notify_user(&p.user_id, super::Notice::SecondFactorRemoved("a passkey"))
            .await;
        Ok(())
    }

    /// Refuses when the client IP is blocked (attempts with no account to count against).
    async fn check_ip_throttle(&self, ctx: &RequestContext) -> Result<()> {
        match ctx.ip {
            Some(ip) => self.check_throttle_keys(&[throttle::ip_key(ip)]).await,
            None => Ok(()),
        }
    }

    async fn record_ip_failure(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<()> {
        if let Some(ip) = ctx.ip {
            self.bump_throttle(tx, &throttle::ip_key(ip), &throttle::CLIENT_IP)
                .await?;
        }
        Ok(())
    }

    /// The hash of a well-formed `mfa_token`, or the error of a dead one.
    pub(crate) fn live_mfa_token_hash(mfa_token: &str) -> Result<String> {
        if !mfa_token.starts_with("mfa_") || mfa_token.len() != 68 {
            return Err(super::mfa::DEAD_MFA_TOKEN);
        }
        Ok(sha256_hex(mfa_token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_comes_from_the_public_url() {
        assert!(relying_party("https://auth.example.com").is_ok());
        assert!(relying_party("http://localhost:8080/").is_ok());
        let why = relying_party("http://127.0.0.1:8080")
            .err()
            .unwrap_or_default();
        assert!(why.contains("IP"), "{why}");
        assert!(relying_party("not a url").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            check_name("  YubiKey 5 ").ok().as_deref(),
            Some("YubiKey 5")
        );
        assert!(check_name("").is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn synced_keys_are_software_keys() {
        assert_eq!(passkey_amr(true), "swk");
        assert_eq!(passkey_amr(false), "hwk");
    }
}
