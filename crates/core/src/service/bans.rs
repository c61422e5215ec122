//! Bans (client IPs or ranges refused everywhere for a while) and the "second factor at the
//! next sign-in" flag: made by administrators or by automated-response playbooks, listed and
//! reversed by administrators, every change audited in its own transaction.

use ipnet::IpNet;
use serde_json::json;

use super::admin::cursor_page;
use super::{Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::model::Ban;

/// Longest ban, seconds (one year).
pub const MAX_BAN_SECONDS: i64 = 31_536_000;
/// Longest ban reason, characters.
const MAX_REASON: usize = 200;

/// One page of bans.
#[derive(Debug)]
pub struct BanPage {
    /// The bans, oldest first.
    pub bans: Vec<Ban>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

fn invalid(field: &str, message: &str) -> Error {
    Error::InvalidRequest(
        format!("invalid {field}"),
        vec![FieldError::new(field, "invalid", message)],
    )
}

impl Services {
    /// Bans `net` for `ttl_seconds`. `source` says who: `admin:<id>` or `rule:<name>`.
    /// Audited as `admin.ban.created` in the same transaction; in force on this node at
    /// once and on the others within two seconds.
    pub async fn ban_ip(
        &self,
        net: IpNet,
        ttl_seconds: i64,
        reason: &str,
        source: &str,
    ) -> Result<Ban> {
        self.ban_ip_from(&RequestContext::default(), net, ttl_seconds, reason, source)
            .await
    }

    async fn ban_ip_from(
        &self,
        ctx: &RequestContext,
        net: IpNet,
        ttl_seconds: i64,
        reason: &str,
        source: &str,
    ) -> Result<Ban> {
        if !(1..=MAX_BAN_SECONDS).contains(&ttl_seconds) {
            return Err(invalid("duration_seconds", "between 1 second and one year"));
        }
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
            return Err(invalid(
                "reason",
                "at most 200 characters, no control characters",
            ));
        }
        let now = self.now();
        let ban = Ban {
            id: new_id(now, self.rng.as_ref()),
            cidr: net.trunc(),
            reason: if reason.is_empty() {
                "unspecified".to_owned()
            } else {
                reason.to_owned()
            },
            source: source.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(ttl_seconds),
            lifted_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_ban(&ban).await?;
        let actor = source.strip_prefix("admin:").unwrap_or("system");
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.ban.created", Outcome::Success)
                .actor(actor.to_owned())
                .target(ban.id.clone())
                .client(ctx)
                .details(json!({
                    "cidr": ban.cidr.to_string(),
                    "expires_at": ban.expires_at,
                    "reason": ban.reason,
                    "source": ban.source,
                })),
        )
        .await?;
        tx.commit().await?;
        self.fresh_bans(true).await?;
        Ok(ban)
    }

    /// An administrator bans `net` (needs a recent factor).
    pub async fn admin_ban(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        net: IpNet,
        ttl_seconds: i64,
        reason: &str,
    ) -> Result<Ban> {
        self.require_recent_auth(admin).await?;
        if ctx.ip.is_some_and(|ip| net.contains(&ip)) {
            return Err(Error::Forbidden(
                "this ban would cover your own address".into(),
            ));
        }
        self.ban_ip_from(
            ctx,
            net,
            ttl_seconds,
            reason,
            &format!("admin:{}", admin.user_id),
        )
        .await
    }

    /// Bans, oldest first: those in force, or every one kept when `all`.
    pub async fn list_bans(&self, all: bool, cursor: Option<&str>, limit: u32) -> Result<BanPage> {
        if cursor.is_some_and(|c| !is_valid_id(c)) {
            return Err(invalid("cursor", "not a cursor this API returned"));
        }
        let limit = limit.clamp(1, 500);
        let rows = self
            .store
            .list_bans(all, self.now(), cursor, limit + 1)
            .await?;
        let (bans, next_cursor) = cursor_page(rows, limit, |b| b.id.clone());
        Ok(BanPage { bans, next_cursor })
    }

    /// Lifts a ban in force (an administrator reverses it).
    pub async fn lift_ban(&self, admin: &Principal, ctx: &RequestContext, id: &str) -> Result<()> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        self.require_recent_auth(admin).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.lift_ban(id, &admin.user_id, now).await? {
            return Err(Error::NotFound);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.ban.lifted", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(id.to_owned())
                .client(ctx),
        )
        .await?;
        tx.commit().await?;
        self.fresh_bans(true).await?;
        Ok(())
    }

    /// Makes the user's next sign-in prove a second factor: one with a factor gets the
    /// second-factor step as always (and the flag is audited with the sign-in), one without
    /// is refused (`risk_denied`) until an administrator clears the flag or the user enrols
    /// a factor from an existing session. Audited as `risk.flag.set`.
    pub async fn require_mfa_next_login(&self, user_id: &str, source: &str) -> Result<()> {
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.user_by_id(user_id).await?.is_none() {
            return Err(Error::NotFound);
        }
        tx.set_risk_flag(user_id, "mfa", source, now).await?;
        let actor = source.strip_prefix("admin:").unwrap_or("system");
        tx.append_audit(
            &NewAuditEvent::new(now, "risk.flag.set", Outcome::Success)
                .actor(actor.to_owned())
                .target(user_id.to_owned())
                .details(json!({"flag": "mfa", "source": source})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
