//! Administration: users, locks, remote logout, the audit log.

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::audit::{AuditRecord, NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::is_valid_id;
use crate::model::User;

/// One page of users.
#[derive(Debug)]
pub struct UserPage {
    /// The users.
    pub users: Vec<User>,
    /// Cursor for the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Result of checking the whole audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerifyReport {
    /// True when every entry verifies.
    pub ok: bool,
    /// Entries verified (up to the first bad one).
    pub entries: i64,
    /// Hash of the last good entry.
    pub head: String,
    /// The first entry that fails.
    pub first_bad_seq: Option<i64>,
    /// Why it fails.
    pub reason: Option<String>,
    /// Leaves in the stored Merkle tree.
    pub tree_size: u64,
    /// Root of the tree over the verified entries, hex.
    pub root: String,
    /// Signed checkpoints verified (signature and root).
    pub checkpoints_verified: u64,
}

/// Cuts a page fetched with one extra row to `limit` rows, and names the cursor of the next
/// page when the extra row was there.
pub(crate) fn cursor_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let max = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > max;
    rows.truncate(max);
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}

impl Services {
    /// A page of users ordered by id.
    pub async fn list_users(&self, cursor: Option<&str>, limit: u32) -> Result<UserPage> {
        if cursor.is_some_and(|c| !is_valid_id(c)) {
            return Err(Error::InvalidRequest("invalid cursor".into(), vec![]));
        }
        let limit = limit.clamp(1, 500);
        let users = self.store.list_users(cursor, limit + 1).await?;
        let (users, next_cursor) = cursor_page(users, limit, |u| u.id.clone());
        Ok(UserPage { users, next_cursor })
    }

    /// Locks (revoking every session) or unlocks a user.
    pub async fn set_user_locked(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        user_id: &str,
        locked: bool,
    ) -> Result<()> {
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        if locked && user_id == admin.user_id {
            return Err(Error::Forbidden(
                "administrators cannot lock themselves out".into(),
            ));
        }
        self.require_recent_auth(admin).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.set_locked(user_id, locked, now).await? {
            return Err(Error::NotFound);
        }
        let revoked = if locked {
            self.revoke_all_sessions(
                tx.as_mut(),
                ctx,
                &admin.user_id,
                user_id,
                None,
                "account_locked",
            )
            .await?
        } else {
            Vec::new()
        };
        let action = if locked {
            "admin.user.locked"
        } else {
            "admin.user.unlocked"
        };
        tx.append_audit(
            &NewAuditEvent::new(now, action, Outcome::Success)
                .actor(admin.user_id.clone())
                .target(user_id.to_owned())
                .client(ctx)
                .details(json!({"sessions_revoked": revoked.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(())
    }

    /// A user's live sessions, oldest first (for an administrator).
    pub async fn admin_user_sessions(&self, user_id: &str) -> Result<Vec<crate::model::Session>> {
        if !is_valid_id(user_id) || self.store.user_by_id(user_id).await?.is_none() {
            return Err(Error::NotFound);
        }
        Ok(self.store.active_sessions(user_id, self.now()).await?)
    }

    /// Remote logout: revokes every session of a user.
    pub async fn admin_revoke_sessions(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<()> {
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        self.require_recent_auth(admin).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.user_by_id(user_id).await?.is_none() {
            return Err(Error::NotFound);
        }
        let revoked = self
            .revoke_all_sessions(
                tx.as_mut(),
                ctx,
                &admin.user_id,
                user_id,
                None,
                "admin_remote_logout",
            )
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.user.sessions_revoked", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(user_id.to_owned())
                .client(ctx)
                .details(json!({"sessions_revoked": revoked.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(())
    }

    /// Resets a user's second factors (lost authenticator): removes TOTP, every passkey and
    /// the recovery codes, and revokes every session, so the user signs in with the password
    /// alone and enrols again. Needs a recent factor of the administrator.
    pub async fn admin_reset_mfa(
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
                "administrators cannot reset their own second factors; ask another administrator"
                    .into(),
            ));
        }
        self.require_recent_auth(admin).await?;
        if let Some(k) = self.approvals_required("admin.user.reset_admin_mfa") {
            let target = self
                .store
                .user_by_id(user_id)
                .await?
                .ok_or(Error::NotFound)?;
            if target.role == crate::model::Role::Admin {
                return self
                    .hold(
                        admin,
                        ctx,
                        "admin.user.reset_admin_mfa",
                        k,
                        json!({"user_id": user_id}),
                        None,
                    )
                    .await
                    .map(|r| super::Held::Pending(Box::new(r)));
            }
        }
        self.reset_mfa(&admin.user_id, ctx, user_id)
            .await
            .map(super::Held::Ran)
    }

    /// Removes every second factor of `user_id` and revokes its sessions, as `actor`.
    pub(crate) async fn reset_mfa(
        &self,
        actor: &str,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.lock_user(user_id).await?.is_none() {
            return Err(Error::NotFound);
        }
        let had_totp = tx.mfa_state(user_id).await?.totp_secret.is_some();
        tx.disable_totp(user_id, now).await?;
        let passkeys = tx.delete_passkeys(user_id).await?;
        tx.sync_mfa_enabled(user_id, now).await?;
        let revoked = self
            .revoke_all_sessions(tx.as_mut(), ctx, actor, user_id, None, "mfa_reset")
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.user.mfa_reset", Outcome::Success)
                .actor(actor.to_owned())
                .target(user_id.to_owned())
                .client(ctx)
                .details(json!({"totp_removed": had_totp, "passkeys_removed": passkeys, "sessions_revoked": revoked.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        self.notify_user(
            user_id,
            super::Notice::SecondFactorRemoved("every second factor, by an administrator"),
        )
        .await;
        Ok(())
    }

    /// Erases the personal fields of every audit entry about `subject` (GDPR erasure); the
    /// chain, the Merkle tree and all proofs still verify. Returns how many entries.
    pub async fn redact_audit_subject(
        &self,
        actor: &str,
        ctx: &RequestContext,
        subject: &str,
    ) -> Result<u64> {
        if subject.is_empty() || subject.len() > 200 {
            return Err(Error::InvalidRequest("invalid subject".into(), vec![]));
        }
        let now = self.now();
        // Everything about the subject queued so far is sequenced first, so redaction
        // reaches it too.
        self.store.audit_head().await?;
        let mut tx = self.store.begin().await?;
        let n = tx.redact_audit_subject(subject, now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "audit.redacted", Outcome::Success)
                .actor(actor.to_owned())
                .client(ctx)
                .details(json!({
                    "subject_sha256": crate::crypto::tokens::sha256_hex(subject.as_bytes()),
                    "entries": n,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Adds a key-encryption key (audited `keys.kek.rotated` in the same transaction); data
    /// keys move to it in the background ([`Services::rewrap_step`]).
    pub async fn rotate_kek(&self, actor: &str) -> Result<u32> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let version = tx.add_kek(now).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "keys.kek.rotated", Outcome::Success)
                .actor(actor.to_owned())
                .details(json!({"kek_version": version})),
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// [`Services::rotate_kek`] for an administrator (with a recent step-up).
    /// Held for approval when `keys.rotate` is configured.
    pub async fn admin_rotate_kek(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
    ) -> Result<super::Held<u32>> {
        self.require_recent_auth(admin).await?;
        if let Some(k) = self.approvals_required("keys.rotate") {
            return self
                .hold(admin, ctx, "keys.rotate", k, json!({}), None)
                .await
                .map(|r| super::Held::Pending(Box::new(r)));
        }
        self.rotate_kek(&admin.user_id).await.map(super::Held::Ran)
    }

    /// Where key-encryption keys and data keys stand.
    pub async fn kek_status(&self) -> Result<crate::store::KekStatus> {
        Ok(self.store.kek_status().await?)
    }

    /// One step of a KEK rotation: re-wraps up to `batch` data keys under the newest KEK,
    /// and once none is left under an older one, retires the older KEKs (audited
    /// `keys.kek.retired`). Returns how many were re-wrapped. Safe to run on every node at
    /// once and to stop at any point: a later step carries on.
    pub async fn rewrap_step(&self, batch: u32) -> Result<u64> {
        let n = self.store.rewrap_deks(batch).await?;
        if n == 0 {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let retired = tx.retire_keks(now).await?;
            for v in &retired {
                tx.append_audit(
                    &NewAuditEvent::new(now, "keys.kek.retired", Outcome::Success)
                        .actor("system".to_owned())
                        .details(json!({"kek_version": v})),
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// Records an event that changes nothing in the database itself (the master key
    /// unsealed from shares, the gateway's routes reloaded): `action` with `details`, by
    /// `actor`.
    pub async fn audit_system_event(
        &self,
        actor: &str,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(self.now(), action, Outcome::Success)
                .actor(actor.to_owned())
                .details(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what request inspection saw (`waf.request_blocked`, `waf.request_flagged`,
    /// `dlp.match`): `details` name rules and places, never the values.
    pub async fn audit_request_event(
        &self,
        ctx: &RequestContext,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let outcome = if action.ends_with("_blocked") {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let ev = NewAuditEvent::new(self.now(), action, outcome)
            .client(ctx)
            .details(details);
        let mut tx = self.store.begin().await?;
        tx.append_audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a refused access (wrong role, IP outside the allowlist).
    pub async fn audit_access_denied(
        &self,
        actor: Option<&str>,
        ctx: &RequestContext,
        resource: &str,
        reason: &str,
    ) -> Result<()> {
        let mut ev = NewAuditEvent::new(self.now(), "access.denied", Outcome::Failure)
            .client(ctx)
            .details(json!({"resource": resource, "reason": reason}));
        if let Some(a) = actor {
            ev = ev.actor(a.to_owned());
        }
        let mut tx = self.store.begin().await?;
        tx.append_audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of audit events.
    pub async fn audit_page(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        Ok(self
            .store
            .audit_page(after_seq.max(0), limit.clamp(1, 1000))
            .await?)
    }

    /// One pass of the background sync: pull revocations made elsewhere, drop expired ones,
    /// and record whether the database answered. `since` is the caller's cursor.
    pub async fn sync_revocations(&self, since: i64) -> Result<i64> {
        let now = self.now();
        match self.store.revoked_sessions_since(since).await {
            Ok(rows) => {
                let mut cursor = since;
                for (id, at) in rows {
                    self.revocations.insert(&id, at);
                    cursor = cursor.max(at);
                }
                self.revocations.prune(now - self.settings.access_ttl - 120);
                self.health.set_db(true);
                self.health.synced();
                Ok(cursor)
            }
            Err(e) => {
                self.health.set_db(false);
                self.health.sync_failed();
                Err(e.into())
            }
        }
    }

    /// Housekeeping: forgets sessions that ended more than a day ago (their tokens are long
    /// expired), stale throttle entries, and reset and invitation codes a day after they
    /// expired.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.now();
        let keep = self.settings.access_ttl.max(86_400);
        let mut n = self.store.purge_expired(now - keep, now).await?;
        let mut tx = self.store.begin().await?;
        n += tx.accounts().purge_email_codes(now - 86_400).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Rotates the access-token signing key.
    pub async fn rotate_signing_key(&self, actor: &str) -> Result<String> {
        self.keyring
            .rotate(self.store.as_ref(), self.now(), actor, self.rng.as_ref())
            .await
    }
}
