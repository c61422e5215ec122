//! Break-glass: an emergency administrator whose credential exists only as Shamir shares
//! held by different people. Using it is recorded in the audit log (and raises a critical
//! alert through the built-in `break-glass` rule) before the session exists; each split
//! works once.

use secrecy::SecretString;
use serde_json::json;
use zeroize::Zeroizing;

use super::{RequestContext, Services, TokenResponse};
use crate::approvals::BreakGlassRecord;
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::secretbox::SecretKey;
use crate::crypto::shamir::{self, Share, SplitRecord};
use crate::crypto::tokens::{ct_eq, sha256_hex};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{Role, User};
use crate::throttle;

/// `amr` of a break-glass session: several people's shares (multiple-channel, RFC 8176).
pub const BREAK_GLASS_AMR: [&str; 2] = ["mca", "mfa"];

/// A new split, to hand out.
pub struct BreakGlassIssued {
    /// The emergency administrator.
    pub user: User,
    /// The shares (each to a different holder; never stored).
    pub shares: Vec<Zeroizing<String>>,
    /// Shares needed.
    pub threshold: u8,
}

/// Wrong shares from one address: five free, then the sign-in curve. Only per address: a
/// service-wide counter would let anyone lock the emergency door for everyone (and a
/// 256-bit secret is not guessed either way).
const BACKOFF: throttle::Backoff = throttle::Backoff {
    free_failures: 5,
    max_block: 900,
    window: 3600,
};

fn throttle_keys(ctx: &RequestContext) -> Vec<String> {
    ctx.ip
        .map(|ip| vec![format!("break-glass:{}", throttle::ip_key(ip))])
        .unwrap_or_default()
}

impl Services {
    /// Makes (or replaces) the break-glass credential of the emergency administrator
    /// `email` (created, with an unusable password, when missing): a random 256-bit secret
    /// split into `shares` of which `threshold` sign in. Older splits stop working.
    pub async fn create_break_glass(
        &self,
        email: &str,
        shares: u8,
        threshold: u8,
    ) -> Result<BreakGlassIssued> {
        let parsed = Self::parse_email(email)?;
        let user = match self.user_by_email(&parsed).await? {
            Some(u) if u.role != Role::Admin => {
                return Err(Error::Conflict(format!(
                    "{email} exists and is not an administrator"
                )));
            }
            Some(u) => u,
            None => {
                // A password nobody knows: the account signs in only by breaking the glass.
                let now = self.now();
                let noise: [u8; 32] = crate::rand::bytes(self.rng.as_ref());
                let hash = self
                    .hasher
                    .hash(SecretString::from(hex::encode(noise)), self.rng.as_ref())
                    .await?;
                let user = User {
                    id: new_id(now, self.rng.as_ref()),
                    email: parsed,
                    display_name: Some("Break-glass administrator".into()),
                    role: Role::Admin,
                    password_hash: Some(hash),
                    mfa_enabled: false,
                    locked: false,
                    email_verified: false,
                    must_change_password: false,
                    created_at: now,
                    updated_at: now,
                };
                self.insert_new_user(&RequestContext::default(), user, Some("cli"))
                    .await?
            }
        };
        let key = SecretKey::generate(self.rng.as_ref());
        let set = hex::encode(crate::rand::bytes::<4>(self.rng.as_ref()));
        let (parts, record) = shamir::split(&key, shares, threshold, &set).map_err(|e| {
            Error::InvalidRequest(
                format!("cannot split: {e}"),
                vec![crate::FieldError::new(
                    "threshold",
                    "invalid",
                    "at least 2 and at most the number of shares",
                )],
            )
        })?;
        let now = self.now();
        let row = BreakGlassRecord {
            id: new_id(now, self.rng.as_ref()),
            user_id: user.id.clone(),
            secret_hash: sha256_hex(key.expose()),
            split: serde_json::to_string(&record).unwrap_or_default(),
            created_at: now,
            used_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.approvals().replace_break_glass(&row).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.break_glass.created", Outcome::Success)
                .actor("cli")
                .target(user.id.clone())
                .details(json!({"shares": shares, "threshold": threshold, "set": set, "credential_id": row.id})),
        )
        .await?;
        tx.commit().await?;
        Ok(BreakGlassIssued {
            user,
            shares: parts.iter().map(Share::encode).collect(),
            threshold,
        })
    }

    /// Signs the emergency administrator in with `threshold` shares. The use is committed
    /// to the audit log first; the credential then works no more (make a new split).
    pub async fn use_break_glass(
        &self,
        ctx: &RequestContext,
        shares: &[String],
    ) -> Result<TokenResponse> {
        let keys = throttle_keys(ctx);
        self.check_throttle_keys(&keys).await?;
        let record = self.store.approvals().break_glass().await?;
        let checked = record.as_ref().and_then(|r| {
            let split: SplitRecord = serde_json::from_str(&r.split).ok()?;
            let parsed: Option<Vec<Share>> = shares.iter().map(|s| Share::parse(s).ok()).collect();
            let key = shamir::combine(&parsed?, &split).ok()?;
            ct_eq(
                sha256_hex(key.expose()).as_bytes(),
                r.secret_hash.as_bytes(),
            )
            .then_some(r)
        });
        let now = self.now();
        let Some(record) = checked else {
            let mut tx = self.store.begin().await?;
            for k in &keys {
                self.bump_throttle(tx.as_mut(), k, &BACKOFF).await?;
            }
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.break_glass.failed", Outcome::Failure)
                    .actor("anonymous")
                    .client(ctx)
                    .details(json!({"shares_given": shares.len(), "credential": record.is_some()})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        };
        // Recorded before anything else happens: the use commits on its own first.
        let mut tx = self.store.begin().await?;
        if !tx.approvals().use_break_glass(&record.id, now).await? {
            return Err(Error::InvalidCredentials);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.break_glass.used", Outcome::Success)
                .actor(record.user_id.clone())
                .target(record.user_id.clone())
                .client(ctx)
                .details(json!({"credential_id": record.id, "shares_given": shares.len()})),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(user_id = %record.user_id, ip = ?ctx.ip, "break-glass credential used");
        let mut tx = self.store.begin().await?;
        let user = tx
            .lock_user(&record.user_id)
            .await?
            .ok_or(Error::InvalidCredentials)?;
        if user.locked {
            return Err(Error::AccountLocked);
        }
        let amr = BREAK_GLASS_AMR.iter().map(|s| (*s).to_owned()).collect();
        let (session, refresh) = self.start_session(tx.as_mut(), ctx, &user, amr).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.login.succeeded", Outcome::Success)
                .actor(user.id.clone())
                .target(session.id.clone())
                .client(ctx)
                .details(json!({"amr": session.amr, "break_glass": true})),
        )
        .await?;
        tx.commit().await?;
        self.token_response(&user, &session, refresh, None)
    }
}
