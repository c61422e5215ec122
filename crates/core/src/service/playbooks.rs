//! Automated responses run by alert rules (`playbook = [...]`): the same changes an
//! administrator makes, made by the system on behalf of a rule.
//!
//! Each action records `response.*` in the audit log, naming the rule and the alert, in the
//! transaction of the change. In dry run the event says `dry_run: true` and nothing changes.

use std::net::IpAddr;

use serde_json::json;

use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Result;

/// On whose behalf an automated response runs.
#[derive(Debug, Clone, Copy)]
pub struct ResponseSource<'a> {
    /// The rule's name.
    pub rule: &'a str,
    /// The alert that triggered it.
    pub alert_id: &'a str,
    /// Record what would be done, and do nothing.
    pub dry_run: bool,
}

impl ResponseSource<'_> {
    /// The audit actor of the responses: the rule, not a person.
    fn actor(&self) -> String {
        format!("rule:{}", self.rule)
    }

    /// The `source` string given to bans and MFA requirements.
    pub fn source(&self) -> String {
        self.actor()
    }
}

/// What a response did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseResult {
    /// The change was made.
    Done(serde_json::Value),
    /// Dry run: recorded only.
    DryRun,
    /// Nothing to act on (no such account or key, already revoked).
    Skipped(&'static str),
}

impl ResponseResult {
    /// The result's name as recorded on the alert.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseResult::Done(_) => "done",
            ResponseResult::DryRun => "dry_run",
            ResponseResult::Skipped(_) => "skipped",
        }
    }
}

impl Services {
    /// The `response.*` event of an automated response.
    fn response_event(
        &self,
        action: &str,
        src: &ResponseSource<'_>,
        target: &str,
        extra: serde_json::Value,
    ) -> NewAuditEvent {
        let mut details =
            json!({"rule": src.rule, "alert_id": src.alert_id, "dry_run": src.dry_run});
        if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
            d.extend(extra);
        }
        NewAuditEvent::new(self.now(), action, Outcome::Success)
            .actor(src.actor())
            .target(target.to_owned())
            .details(details)
    }

    /// Writes a dry-run record of `action` on `target`.
    async fn record_dry_run(
        &self,
        action: &str,
        src: &ResponseSource<'_>,
        target: &str,
        extra: serde_json::Value,
    ) -> Result<ResponseResult> {
        let mut tx = self.store.begin().await?;
        tx.append_audit(&self.response_event(action, src, target, extra))
            .await?;
        tx.commit().await?;
        Ok(ResponseResult::DryRun)
    }

    /// Locks an account and revokes its sessions (as an administrator's lock does).
    pub async fn respond_lock_account(
        &self,
        user_id: &str,
        src: &ResponseSource<'_>,
    ) -> Result<ResponseResult> {
        self.respond_on_account(user_id, src, true).await
    }

    /// Revokes every session of an account.
    pub async fn respond_revoke_sessions(
        &self,
        user_id: &str,
        src: &ResponseSource<'_>,
    ) -> Result<ResponseResult> {
        self.respond_on_account(user_id, src, false).await
    }

    /// Revokes every session of an account, locking it first when `lock`.
    async fn respond_on_account(
        &self,
        user_id: &str,
        src: &ResponseSource<'_>,
        lock: bool,
    ) -> Result<ResponseResult> {
        let (action, reason) = if lock {
            ("response.account_locked", "account_locked")
        } else {
            ("response.sessions_revoked", "automated_response")
        };
        if self.store.user_by_id(user_id).await?.is_none() {
            return Ok(ResponseResult::Skipped("no such account"));
        }
        if src.dry_run {
            return self.record_dry_run(action, src, user_id, json!({})).await;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.lock_user(user_id).await?.is_none()
            || (lock && !tx.set_locked(user_id, true, now).await?)
        {
            return Ok(ResponseResult::Skipped("no such account"));
        }
        let revoked = self
            .revoke_all_sessions(
                tx.as_mut(),
                &RequestContext::default(),
                &src.actor(),
                user_id,
                None,
                reason,
            )
            .await?;
        let extra = json!({"sessions_revoked": revoked.len()});
        tx.append_audit(&self.response_event(action, src, user_id, extra.clone()))
            .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        Ok(ResponseResult::Done(extra))
    }

    /// Revokes an API key.
    pub async fn respond_revoke_api_key(
        &self,
        key_id: &str,
        src: &ResponseSource<'_>,
    ) -> Result<ResponseResult> {
        if !crate::id::is_valid_id(key_id) || self.store.api_key(key_id).await?.is_none() {
            return Ok(ResponseResult::Skipped("no such API key"));
        }
        if src.dry_run {
            return self
                .record_dry_run("response.api_key_revoked", src, key_id, json!({}))
                .await;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.revoke_api_key(key_id, now).await? {
            return Ok(ResponseResult::Skipped("already revoked"));
        }
        tx.append_audit(&self.response_event("response.api_key_revoked", src, key_id, json!({})))
            .await?;
        tx.commit().await?;
        Ok(ResponseResult::Done(json!({})))
    }

    /// Bans a client IP (its single-address network) for `ttl_seconds`.
    ///
    /// The ban itself is made and audited (`admin.ban.created`, source `rule:<name>`) by
    /// [`Services::ban_ip`] in its own transaction; `response.ip_banned` follows it, naming
    /// the ban, so the alert and the ban can be joined in the log.
    pub async fn respond_ban_ip(
        &self,
        ip: IpAddr,
        ttl_seconds: i64,
        src: &ResponseSource<'_>,
    ) -> Result<ResponseResult> {
        let net = ipnet::IpNet::from(ip);
        let target = net.to_string();
        if src.dry_run {
            return self
                .record_dry_run(
                    "response.ip_banned",
                    src,
                    &target,
                    json!({"ttl_seconds": ttl_seconds}),
                )
                .await;
        }
        let reason = format!("alert {} of rule {}", src.alert_id, src.rule);
        let ban_id = self
            .ban_for_rule(net, ttl_seconds, &reason, &src.source())
            .await?;
        let extra = json!({"ban_id": ban_id, "ttl_seconds": ttl_seconds});
        let mut tx = self.store.begin().await?;
        tx.append_audit(&self.response_event("response.ip_banned", src, &target, extra.clone()))
            .await?;
        tx.commit().await?;
        Ok(ResponseResult::Done(extra))
    }

    /// Requires a second factor at the account's next sign-in (audited by
    /// [`Services::require_mfa_next_login`] itself; `response.mfa_required` follows).
    pub async fn respond_require_mfa(
        &self,
        user_id: &str,
        src: &ResponseSource<'_>,
    ) -> Result<ResponseResult> {
        if self.store.user_by_id(user_id).await?.is_none() {
            return Ok(ResponseResult::Skipped("no such account"));
        }
        if src.dry_run {
            return self
                .record_dry_run("response.mfa_required", src, user_id, json!({}))
                .await;
        }
        self.mfa_for_rule(user_id, &src.source()).await?;
        let mut tx = self.store.begin().await?;
        tx.append_audit(&self.response_event("response.mfa_required", src, user_id, json!({})))
            .await?;
        tx.commit().await?;
        Ok(ResponseResult::Done(json!({})))
    }

    /// The one call into the IP-ban service (`service/bans.rs`), kept here so that its
    /// signature is relied on in one place.
    async fn ban_for_rule(
        &self,
        net: ipnet::IpNet,
        ttl_seconds: i64,
        reason: &str,
        source: &str,
    ) -> Result<String> {
        Ok(self.ban_ip(net, ttl_seconds, reason, source).await?.id)
    }

    /// The one call into the MFA requirement of `service/bans.rs`.
    async fn mfa_for_rule(&self, user_id: &str, source: &str) -> Result<()> {
        self.require_mfa_next_login(user_id, source).await
    }
}
