//! Just-in-time elevation: a user asks for a role or scopes for a bounded time with a
//! reason; `k` distinct approvers (never the requester, each once) grant it; the session's
//! next tokens carry it until it ends, and revoking it ends it on every node at once.

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::approvals::{ApprovalRequest, RequestKind, Transition, Vote, status};
use crate::audit::{NewAuditEvent, Outcome};
use crate::config::{ApprovalsConfig, ElevationConfig, ElevationTarget};
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::model::Role;

/// Most requests listed at once.
pub const MAX_LISTED: u32 = 200;

/// What a user asks for.
#[derive(Debug, Clone)]
pub struct ElevationAsk {
    /// A role...
    pub role: Option<Role>,
    /// ...or scopes.
    pub scopes: Vec<String>,
    /// For how long, seconds.
    pub duration_seconds: i64,
    /// Why (shown to approvers, kept in the audit log).
    pub reason: String,
}

/// The `[elevation]` and `[approvals]` settings.
#[derive(Debug, Clone, Default)]
pub struct ApprovalSettings {
    /// Elevation targets.
    pub elevation: ElevationConfig,
    /// Held operations and the pending timeout.
    pub approvals: ApprovalsConfig,
}

/// What a grant in force lends a token.
pub(crate) fn grant_of(r: &ApprovalRequest) -> Option<super::ElevationGrant> {
    if r.kind != RequestKind::Elevation || r.status != status::ACTIVE {
        return None;
    }
    Some(super::ElevationGrant {
        id: r.id.clone(),
        role: r.role(),
        scopes: r.scopes(),
        until: r.ends_at?,
    })
}

fn invalid(field: &str, message: &str) -> Error {
    Error::InvalidRequest(
        format!("invalid {field}"),
        vec![FieldError::new(field, "invalid", message)],
    )
}

impl Services {
    /// Sets the `[elevation]` and `[approvals]` settings.
    pub fn with_approvals(
        mut self,
        elevation: ElevationConfig,
        approvals: ApprovalsConfig,
    ) -> Self {
        self.approvals = ApprovalSettings {
            elevation,
            approvals,
        };
        self
    }

    /// The target that grants `role` or `scopes`.
    fn elevation_target(&self, role: Option<Role>, scopes: &[String]) -> Option<&ElevationTarget> {
        self.approvals
            .elevation
            .targets
            .iter()
            .find(|t| t.grants(role, scopes))
    }

    /// Asks for an elevation of the caller's session (`POST /auth/elevations`).
    pub async fn request_elevation(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        ask: ElevationAsk,
    ) -> Result<ApprovalRequest> {
        if p.api_key.is_some() || p.session_id.is_empty() {
            return Err(Error::Forbidden(
                "Elevation is granted to a signed-in session, not to an API key.".into(),
            ));
        }
        let mut scopes = ask.scopes.clone();
        scopes.sort();
        scopes.dedup();
        let target = self.elevation_target(ask.role, &scopes).ok_or_else(|| {
            Error::Forbidden(
                "No [[elevation.targets]] entry grants this; nothing can approve it.".into(),
            )
        })?;
        let user = self.me(p).await?;
        if ask.role == Some(user.role) {
            return Err(Error::Conflict(format!(
                "You already have the role {}.",
                user.role.as_str()
            )));
        }
        let max = i64::try_from(target.max_duration_seconds).unwrap_or(i64::MAX);
        if !(60..=max).contains(&ask.duration_seconds) {
            return Err(Error::InvalidRequest(
                "invalid duration_seconds".into(),
                vec![FieldError::new(
                    "duration_seconds",
                    "out_of_range",
                    format!("between 60 and {max} seconds for this target"),
                )],
            ));
        }
        let reason = ask.reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "say why the elevation is needed"));
        }
        if target.approvers_role.is_none() {
            let others = target.approvers.iter().filter(|a| **a != p.user_id).count();
            if others < target.required as usize {
                return Err(Error::Conflict(format!(
                    "This needs {} approvals but only {others} approvers other than you are configured.",
                    target.required
                )));
            }
        }
        let now = self.now();
        let open = self
            .store
            .approvals()
            .approval_requests_of(&p.user_id, RequestKind::Elevation, MAX_LISTED)
            .await?;
        if open.iter().any(|r| {
            r.session_id == p.session_id
                && matches!(r.status_at(now), status::PENDING | status::ACTIVE)
        }) {
            return Err(Error::Conflict(
                "This session already has an elevation pending or in force; revoke it first."
                    .into(),
            ));
        }
        let record = ApprovalRequest {
            id: new_id(now, self.rng.as_ref()),
            kind: RequestKind::Elevation,
            requester: p.user_id.clone(),
            session_id: p.session_id.clone(),
            operation: "elevation".into(),
            params: json!({
                "role": ask.role.map(|r| r.as_str()),
                "scopes": scopes,
                "duration_seconds": ask.duration_seconds,
            }),
            sealed: None,
            reason: reason.to_owned(),
            required: target.required,
            status: status::PENDING.into(),
            created_at: now,
            expires_at: now + self.approval_timeout(),
            granted_at: None,
            ends_at: None,
            ended_at: None,
            ended_by: None,
            result: None,
            votes: Vec::new(),
        };
        let mut tx = self.store.begin().await?;
        tx.approvals().insert_approval_request(&record).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "elevation.requested", Outcome::Success)
                .actor(p.user_id.clone())
                .target(record.id.clone())
                .client(ctx)
                .details(json!({
                    "role": ask.role.map(|r| r.as_str()),
                    "scopes": record.scopes(),
                    "duration_seconds": ask.duration_seconds,
                    "required": target.required,
                    "reason": record.reason,
                    "session_id": p.session_id,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// How long a request waits for approvals, seconds.
    pub(crate) fn approval_timeout(&self) -> i64 {
        i64::try_from(self.approvals.approvals.timeout_seconds).unwrap_or(3600)
    }

    /// The caller's elevation requests and grants, newest first.
    pub async fn my_elevations(&self, p: &Principal) -> Result<Vec<ApprovalRequest>> {
        Ok(self
            .store
            .approvals()
            .approval_requests_of(&p.user_id, RequestKind::Elevation, MAX_LISTED)
            .await?)
    }

    /// Requests of `kind` whose status at this moment is `wanted` (`all`: every one; none:
    /// the pending ones and, for elevations, those in force).
    pub async fn list_requests(
        &self,
        kind: RequestKind,
        wanted: Option<&str>,
    ) -> Result<Vec<ApprovalRequest>> {
        let now = self.now();
        let stored: Vec<&str> = match wanted {
            Some("all") => Vec::new(),
            Some(status::EXPIRED) => vec![status::PENDING, status::ACTIVE, status::EXPIRED],
            Some(s) => vec![s],
            None => vec![status::PENDING, status::ACTIVE],
        };
        let rows = self
            .store
            .approvals()
            .approval_requests(kind, &stored, MAX_LISTED)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| match wanted {
                Some("all") => true,
                Some(s) => r.status_at(now) == s,
                None => matches!(r.status_at(now), status::PENDING | status::ACTIVE),
            })
            .collect())
    }

    /// What [`Services::list_requests`] lists for someone who is not an administrator:
    /// the elevation requests they may decide (by the targets' approvers). Forbidden for
    /// someone who approves no target.
    pub async fn elevations_for_approver(
        &self,
        p: &Principal,
        wanted: Option<&str>,
    ) -> Result<Vec<ApprovalRequest>> {
        let own = self.me(p).await?.role;
        let targets: Vec<&ElevationTarget> = self
            .approvals
            .elevation
            .targets
            .iter()
            .filter(|t| t.is_approver(&p.user_id, own))
            .collect();
        if targets.is_empty() || p.api_key.is_some() {
            return Err(Error::Forbidden(
                "This needs the admin role, or to be an approver of an elevation target.".into(),
            ));
        }
        let rows = self.list_requests(RequestKind::Elevation, wanted).await?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                r.requester != p.user_id && targets.iter().any(|t| t.grants(r.role(), &r.scopes()))
            })
            .collect())
    }

    /// Audits a refused decision in its own transaction (the decision itself rolls back).
    pub(crate) async fn audit_refused_decision(
        &self,
        approver: &Principal,
        ctx: &RequestContext,
        request_id: &str,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(self.now(), action, Outcome::Failure)
                .actor(approver.user_id.clone())
                .target(request_id.to_owned())
                .client(ctx)
                .details(json!({"reason": reason})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Locks request `id`, which must be pending, and records `approver`'s vote in the
    /// transaction returned (to be committed with what the vote changes). A second vote by
    /// the same approver, on any node, is refused (and audited as `refused_action`).
    pub(crate) async fn cast_vote(
        &self,
        approver: &Principal,
        ctx: &RequestContext,
        id: &str,
        approve: bool,
        reason: Option<String>,
        refused_action: &str,
    ) -> Result<(Box<dyn crate::store::Tx>, ApprovalRequest)> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let r = tx
            .approvals()
            .lock_approval_request(id)
            .await?
            .ok_or(Error::NotFound)?;
        let state = r.status_at(now).to_owned();
        if state != status::PENDING {
            return Err(Error::Conflict(format!(
                "This is {state}; only a pending request can be decided."
            )));
        }
        let vote = Vote {
            approver: approver.user_id.clone(),
            approve,
            reason,
            at: now,
        };
        if let Err(e) = tx.approvals().insert_vote(id, &vote).await {
            drop(tx);
            if matches!(e, crate::store::StoreError::Conflict(_)) {
                self.audit_refused_decision(approver, ctx, id, refused_action, "already_decided")
                    .await?;
                return Err(Error::Conflict(
                    "You have already decided on this request.".into(),
                ));
            }
            return Err(e.into());
        }
        Ok((tx, r))
    }

    /// Loads request `id` of `kind` and makes the checks every approver passes: a
    /// signed-in person (no API key) with a recent second factor, who is not the requester.
    /// Returns the request and the approver's own role (from the database: an elevated role
    /// never approves).
    pub(crate) async fn check_approver(
        &self,
        approver: &Principal,
        ctx: &RequestContext,
        id: &str,
        kind: RequestKind,
        refused_action: &str,
    ) -> Result<(ApprovalRequest, Role)> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let request = self
            .store
            .approvals()
            .approval_request(id)
            .await?
            .filter(|r| r.kind == kind)
            .ok_or(Error::NotFound)?;
        if approver.api_key.is_some() {
            return Err(Error::Forbidden(
                "Approvals are given by a signed-in person, not an API key.".into(),
            ));
        }
        if approver.user_id == request.requester {
            self.audit_refused_decision(
                approver,
                ctx,
                &request.id,
                refused_action,
                "self_approval",
            )
            .await?;
            return Err(Error::Forbidden(
                "You cannot approve or deny your own request.".into(),
            ));
        }
        self.require_recent_auth(approver).await?;
        let user = self.me(approver).await?;
        if user.locked {
            return Err(Error::AccountLocked);
        }
        Ok((request, user.role))
    }

    /// An approver's decision on an elevation request; the `k`th distinct approval grants
    /// it at once, for its duration.
    pub async fn decide_elevation(
        &self,
        approver: &Principal,
        ctx: &RequestContext,
        id: &str,
        approve: bool,
        reason: Option<String>,
    ) -> Result<ApprovalRequest> {
        let (current, own_role) = self
            .check_approver(
                approver,
                ctx,
                id,
                RequestKind::Elevation,
                "elevation.decision_refused",
            )
            .await?;
        let target = self
            .elevation_target(current.role(), &current.scopes())
            .cloned()
            .ok_or_else(|| {
                Error::Conflict("No [[elevation.targets]] entry grants this any more.".into())
            })?;
        if !target.is_approver(&approver.user_id, own_role) {
            self.audit_refused_decision(
                approver,
                ctx,
                id,
                "elevation.decision_refused",
                "not_an_approver",
            )
            .await?;
            return Err(Error::Forbidden(
                "You are not an approver of this elevation.".into(),
            ));
        }
        let now = self.now();
        let (mut tx, r) = self
            .cast_vote(
                approver,
                ctx,
                id,
                approve,
                reason.clone(),
                "elevation.decision_refused",
            )
            .await?;
        let approvals = r.approvals() + u32::from(approve);
        // The threshold is the higher of the one asked under and the one configured now.
        let required = r.required.max(target.required);
        let duration = r.duration_seconds();
        let event = |action: &str| {
            NewAuditEvent::new(now, action, Outcome::Success)
                .actor(approver.user_id.clone())
                .target(id.to_owned())
                .client(ctx)
        };
        let change = if !approve {
            tx.append_audit(&event("elevation.denied").details(json!({
                "requester": r.requester, "reason": reason,
            })))
            .await?;
            Some(Transition {
                to: status::DENIED.into(),
                ended_at: Some(now),
                ended_by: Some(approver.user_id.clone()),
                ..Transition::default()
            })
        } else {
            tx.append_audit(&event("elevation.approved").details(json!({
                "requester": r.requester, "approvals": approvals, "required": required, "reason": reason,
            })))
            .await?;
            (approvals >= required).then(|| Transition {
                to: status::ACTIVE.into(),
                granted_at: Some(now),
                ends_at: Some(now + duration),
                ..Transition::default()
            })
        };
        if let Some(change) = &change {
            if !tx
                .approvals()
                .transition_request(id, status::PENDING, change)
                .await?
            {
                return Err(Error::Conflict(
                    "The request changed meanwhile; try again.".into(),
                ));
            }
            if change.to == status::ACTIVE {
                tx.append_audit(
                    &NewAuditEvent::new(now, "elevation.granted", Outcome::Success)
                        .actor("system")
                        .target(id.to_owned())
                        .details(json!({
                            "user_id": r.requester,
                            "session_id": r.session_id,
                            "role": r.role().map(|x| x.as_str()),
                            "scopes": r.scopes(),
                            "ends_at": now + duration,
                            "approvers": r.votes.iter().filter(|v| v.approve).map(|v| v.approver.clone())
                                .chain(std::iter::once(approver.user_id.clone())).collect::<Vec<_>>(),
                        })),
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.store
            .approvals()
            .approval_request(id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Ends a pending or active elevation at once, on every node (`/revoke`).
    pub async fn revoke_elevation(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        id: &str,
        reason: Option<String>,
    ) -> Result<ApprovalRequest> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let r = tx
            .approvals()
            .lock_approval_request(id)
            .await?
            .filter(|r| r.kind == RequestKind::Elevation)
            .ok_or(Error::NotFound)?;
        let state = r.status_at(now).to_owned();
        if !matches!(state.as_str(), status::PENDING | status::ACTIVE) {
            return Err(Error::Conflict(format!(
                "The elevation is {state}; only a pending or active one can be revoked."
            )));
        }
        let change = Transition {
            to: status::REVOKED.into(),
            ended_at: Some(now),
            ended_by: Some(admin.user_id.clone()),
            ..Transition::default()
        };
        if !tx
            .approvals()
            .transition_request(id, &r.status, &change)
            .await?
        {
            return Err(Error::Conflict(
                "The request changed meanwhile; try again.".into(),
            ));
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "elevation.revoked", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(id.to_owned())
                .client(ctx)
                .details(json!({"user_id": r.requester, "was": state, "reason": reason})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&[id.to_owned()], now);
        self.store
            .approvals()
            .approval_request(id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Records as expired what time has ended (pending requests past their deadline,
    /// grants past their end), each with its audit event; how many. Safe on every node:
    /// a request moves once.
    pub async fn sweep_approvals(&self) -> Result<u64> {
        let now = self.now();
        let lapsed = self.store.approvals().lapsed_requests(now, 500).await?;
        let mut n = 0;
        for r in lapsed {
            let mut tx = self.store.begin().await?;
            let change = Transition {
                to: status::EXPIRED.into(),
                ended_at: Some(now),
                ended_by: Some("system".into()),
                ..Transition::default()
            };
            if !tx
                .approvals()
                .transition_request(&r.id, &r.status, &change)
                .await?
            {
                continue;
            }
            let action = match (r.kind, r.status.as_str()) {
                (RequestKind::Elevation, status::ACTIVE) => "elevation.expired",
                (RequestKind::Elevation, _) => "elevation.request_expired",
                (RequestKind::Operation, _) => "approval.expired",
            };
            tx.append_audit(
                &NewAuditEvent::new(now, action, Outcome::Success)
                    .actor("system")
                    .target(r.id.clone())
                    .details(json!({"requester": r.requester, "operation": r.operation, "approvals": r.approvals(), "required": r.required})),
            )
            .await?;
            tx.commit().await?;
            n += 1;
        }
        Ok(n)
    }
}
