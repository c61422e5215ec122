//! Data-subject rights: export of everything held about a user (GDPR art. 15 and 20) and
//! erasure (art. 17), by the user or by an administrator.
//!
//! Erasure keeps the user's row under a pseudonymous email (the id is random and reveals
//! nothing), so the audit log stays complete and verifiable: events about the user keep
//! their place in the hash chain and the Merkle tree, while their personal fields (IP,
//! user agent, details) are redacted behind the salted commitments of the log.

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::audit::{AuditRecord, NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::is_valid_id;
use crate::model::{ApiKeyRecord, LoginEvent, PasskeyRecord, Session, User};
use crate::password::normalize;

/// Most audit events an export carries (the newest are the ones cut).
pub const EXPORT_AUDIT_LIMIT: u32 = 10_000;

/// Everything held about one user.
#[derive(Debug)]
pub struct Export {
    /// The account.
    pub user: User,
    /// Sessions (active and ended), with whether each is the caller's.
    pub sessions: Vec<(Session, bool)>,
    /// API keys (metadata; no secrets).
    pub api_keys: Vec<ApiKeyRecord>,
    /// Passkeys (metadata).
    pub passkeys: Vec<PasskeyRecord>,
    /// Sign-in history kept by the risk engine (90 days), newest first.
    pub sign_ins: Vec<LoginEvent>,
    /// Audit events whose actor or target is the user.
    pub audit_events: Vec<AuditRecord>,
    /// True when the audit events were cut at [`EXPORT_AUDIT_LIMIT`].
    pub audit_truncated: bool,
}

impl Services {
    /// The caller's personal data; audited as `gdpr.exported`.
    pub async fn export_me(&self, p: &Principal, ctx: &RequestContext) -> Result<Export> {
        let user = self.me(p).await?;
        let sessions = self.list_sessions(p).await?;
        let api_keys = self.list_api_keys(p).await?;
        let passkeys = self.list_passkeys(p).await?;
        let sign_ins = self
            .store
            .login_events_of(&p.user_id, false, 10_000)
            .await?;
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(self.now(), "gdpr.exported", Outcome::Success)
                .actor(p.user_id.clone())
                .target(p.user_id.clone())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        let mut audit_events = self
            .store
            .audit_about(&p.user_id, EXPORT_AUDIT_LIMIT + 1)
            .await?;
        let audit_truncated = audit_events.len() > EXPORT_AUDIT_LIMIT as usize;
        audit_events.truncate(EXPORT_AUDIT_LIMIT as usize);
        Ok(Export {
            user,
            sessions,
            api_keys,
            passkeys,
            sign_ins,
            audit_events,
            audit_truncated,
        })
    }

    /// Erasure asked by the user: needs the password and a recent second factor (step-up).
    pub async fn erase_me(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        password: &str,
    ) -> Result<()> {
        self.require_recent_auth(p).await?;
        let user = self.me(p).await?;
        // A stolen token must not become a password oracle: the login throttle applies.
        let keys = self.throttle_keys(&user.email, ctx.ip);
        self.check_throttle(&keys).await?;
        let ok = self
            .hasher
            .verify(normalize(password), user.password_hash.clone())
            .await?;
        if !ok {
            let mut tx = self.store.begin().await?;
            let failures = self.record_failure(tx.as_mut(), &keys).await?;
            tx.append_audit(
                &NewAuditEvent::new(self.now(), "gdpr.erased", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(user.id.clone())
                    .client(ctx)
                    .details(json!({"reason": "wrong password", "account_failures": failures})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        }
        self.erase(&user.id, &user.id, ctx).await
    }

    /// Erasure by an administrator (step-up as for every sensitive admin action).
    pub async fn admin_erase_user(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<super::Held<()>> {
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        if user_id == admin.user_id {
            return Err(Error::Forbidden(
                "administrators cannot erase their own account here; use POST /api/v1/auth/me/erase".into(),
            ));
        }
        self.require_recent_auth(admin).await?;
        if let Some(k) = self.approvals_required("admin.user.erase") {
            if self.store.user_by_id(user_id).await?.is_none() {
                return Err(Error::NotFound);
            }
            return self
                .hold(
                    admin,
                    ctx,
                    "admin.user.erase",
                    k,
                    json!({"user_id": user_id}),
                    None,
                )
                .await
                .map(|r| super::Held::Pending(Box::new(r)));
        }
        self.erase(&admin.user_id, user_id, ctx)
            .await
            .map(super::Held::Ran)
    }

    /// Revokes everything, replaces the personal data with a pseudonym, redacts the
    /// personal fields of the audit events about the user, and records `gdpr.erased`, in
    /// one transaction.
    pub(crate) async fn erase(
        &self,
        actor: &str,
        user_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = self.now();
        // Events queued so far get their place first, so the redaction reaches them.
        self.store.audit_head().await?;
        let mut tx = self.store.begin().await?;
        let revoked = self
            .revoke_all_sessions(tx.as_mut(), ctx, actor, user_id, None, "erased")
            .await?;
        let pseudonym = format!(
            "erased-{}@erased.invalid",
            crate::crypto::tokens::sha256_hex(user_id.as_bytes())
                .get(..16)
                .unwrap_or("0")
        );
        if !tx.erase_user(user_id, &pseudonym, now).await? {
            return Err(Error::NotFound);
        }
        tx.accounts().delete_identities_of(user_id).await?;
        let redacted = tx.redact_audit_subject(user_id, now).await?;
        let alerts_redacted = tx.redact_alerts_subject(user_id).await?;
        let approvals_redacted = tx.approvals().redact_approval_subject(user_id).await?;
        // The erasure event itself names only ids: the actor keeps its address when it is
        // an administrator acting on someone else.
        let mut event = NewAuditEvent::new(now, "gdpr.erased", Outcome::Success)
            .actor(actor.to_owned())
            .target(user_id.to_owned())
            .details(json!({
                "sessions_revoked": revoked.len(),
                "audit_entries_redacted": redacted,
                "alerts_redacted": alerts_redacted,
                "approvals_redacted": approvals_redacted,
            }));
        if actor != user_id {
            event = event.client(ctx);
        }
        tx.append_audit(&event).await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(())
    }
}
