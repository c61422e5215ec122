//! Four-eyes for dangerous operations: an operation named in `[approvals] required` is held
//! with its exact parameters and runs once, when `k` other administrators approve that same
//! request within `approvals.timeout_seconds`.

use serde_json::{Value, json};

use super::{Principal, RequestContext, Services};
use crate::approvals::{ApprovalRequest, RequestKind, Transition, status};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{PasswordHash, Role, User};

/// The outcome of an operation that may be held.
#[derive(Debug)]
pub enum Held<T> {
    /// It ran.
    Ran(T),
    /// It waits for approvals.
    Pending(Box<ApprovalRequest>),
}

/// The parameters as the audit log keeps them: ids and roles, not a new account's email or
/// name (the log is append-only; the request row can be erased, see
/// `redact_approval_subject`).
fn audited(params: &Value) -> Value {
    let mut p = params.clone();
    if let Some(obj) = p.as_object_mut() {
        obj.remove("email");
        obj.remove("display_name");
    }
    p
}

fn sealed_aad(id: &str) -> Vec<u8> {
    format!("portcullis:held-operation:{id}").into_bytes()
}

impl Services {
    /// Approvals `operation` needs before it runs, if it is held.
    pub fn approvals_required(&self, operation: &str) -> Option<u32> {
        self.approvals.approvals.required.get(operation).copied()
    }

    /// Holds `operation` with `params` (and `secret`, sealed) for `k` other administrators.
    pub(crate) async fn hold(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        operation: &str,
        k: u32,
        params: Value,
        secret: Option<&[u8]>,
    ) -> Result<ApprovalRequest> {
        let now = self.now();
        let id = new_id(now, self.rng.as_ref());
        let sealed = secret.map(|s| self.keyring.seal(&sealed_aad(&id), s, self.rng.as_ref()));
        let record = ApprovalRequest {
            id,
            kind: RequestKind::Operation,
            requester: admin.user_id.clone(),
            session_id: admin.session_id.clone(),
            operation: operation.to_owned(),
            params,
            sealed,
            reason: String::new(),
            required: k,
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
            &NewAuditEvent::new(now, "approval.requested", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(record.id.clone())
                .client(ctx)
                .details(json!({"operation": operation, "params": audited(&record.params), "required": k})),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// An administrator's decision on a held operation. The `k`th approval runs it, once:
    /// the request is claimed (`approved`) in the transaction that counts the approval, so
    /// two approvals racing on two nodes cannot both run it.
    pub async fn decide_held(
        &self,
        approver: &Principal,
        ctx: &RequestContext,
        id: &str,
        approve: bool,
        reason: Option<String>,
    ) -> Result<ApprovalRequest> {
        let (_, own_role) = self
            .check_approver(
                approver,
                ctx,
                id,
                RequestKind::Operation,
                "approval.decision_refused",
            )
            .await?;
        if own_role != Role::Admin {
            self.audit_refused_decision(
                approver,
                ctx,
                id,
                "approval.decision_refused",
                "not_an_administrator",
            )
            .await?;
            return Err(Error::Forbidden(
                "Held operations are approved by administrators (by their own role, not an elevation).".into(),
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
                "approval.decision_refused",
            )
            .await?;
        let approvals = r.approvals() + u32::from(approve);
        let required = r
            .required
            .max(self.approvals_required(&r.operation).unwrap_or(0));
        let action = if approve {
            "approval.approved"
        } else {
            "approval.denied"
        };
        tx.append_audit(
            &NewAuditEvent::new(now, action, Outcome::Success)
                .actor(approver.user_id.clone())
                .target(id.to_owned())
                .client(ctx)
                .details(json!({"operation": r.operation, "requester": r.requester, "approvals": approvals, "required": required, "reason": reason})),
        )
        .await?;
        let run = approve && approvals >= required;
        if !approve || run {
            let change = Transition {
                to: if approve {
                    status::APPROVED
                } else {
                    status::DENIED
                }
                .into(),
                ended_at: Some(now),
                ended_by: Some(approver.user_id.clone()),
                ..Transition::default()
            };
            if !tx
                .approvals()
                .transition_request(id, status::PENDING, &change)
                .await?
            {
                return Err(Error::Conflict(
                    "The operation changed meanwhile; try again.".into(),
                ));
            }
        }
        tx.commit().await?;
        if run {
            let outcome = self.run_held(&r, ctx).await;
            let (to, result, outcome_flag) = match &outcome {
                Ok(v) => (status::EXECUTED, v.clone(), Outcome::Success),
                Err(e) => (
                    status::FAILED,
                    json!({"error": e.to_string()}),
                    Outcome::Failure,
                ),
            };
            let mut tx = self.store.begin().await?;
            tx.approvals()
                .transition_request(
                    id,
                    status::APPROVED,
                    &Transition {
                        to: to.into(),
                        result: Some(result.clone()),
                        ..Transition::default()
                    },
                )
                .await?;
            let approvers: Vec<String> = r
                .votes
                .iter()
                .filter(|v| v.approve)
                .map(|v| v.approver.clone())
                .chain(std::iter::once(approver.user_id.clone()))
                .collect();
            tx.append_audit(
                &NewAuditEvent::new(self.now(), if outcome.is_ok() { "approval.executed" } else { "approval.failed" }, outcome_flag)
                    .actor(r.requester.clone())
                    .target(id.to_owned())
                    .client(ctx)
                    .details(json!({"operation": r.operation, "params": audited(&r.params), "approvers": approvers, "result": result})),
            )
            .await?;
            tx.commit().await?;
        }
        self.store
            .approvals()
            .approval_request(id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// The sealed arguments of a held request (JSON), opened.
    fn held_secret(&self, r: &ApprovalRequest) -> Result<Value> {
        let sealed = r.sealed.as_deref().ok_or_else(|| {
            Error::Internal("the held request has no sealed arguments (erased?)".into())
        })?;
        let opened = self.keyring.open(&sealed_aad(&r.id), sealed)?;
        serde_json::from_slice(&opened)
            .map_err(|_| Error::Internal("sealed arguments are not JSON".into()))
    }

    /// The parameters of a held request as approvers see them: the stored ones, and the
    /// new account's email and name from the sealed part (never the password hash).
    pub fn held_params(&self, r: &ApprovalRequest) -> Value {
        let mut p = r.params.clone();
        if r.sealed.is_some()
            && let Ok(secret) = self.held_secret(r)
            && let Some(obj) = p.as_object_mut()
        {
            for k in ["email", "display_name"] {
                if let Some(v) = secret.get(k) {
                    obj.insert(k.to_owned(), v.clone());
                }
            }
        }
        p
    }

    /// Runs an approved operation with its stored parameters, as its requester.
    async fn run_held(&self, r: &ApprovalRequest, ctx: &RequestContext) -> Result<Value> {
        let user_id = || {
            r.params
                .get("user_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Internal("held operation without user_id".into()))
        };
        match r.operation.as_str() {
            "admin.user.erase" => {
                let uid = user_id()?;
                self.erase(&r.requester, &uid, ctx).await?;
                Ok(json!({"user_id": uid, "erased": true}))
            }
            "admin.user.reset_admin_mfa" => {
                let uid = user_id()?;
                self.reset_mfa(&r.requester, ctx, &uid).await?;
                Ok(json!({"user_id": uid, "mfa_reset": true}))
            }
            "admin.user.promote_admin" => {
                let uid = user_id()?;
                let patch = super::UserPatch {
                    role: Some(Role::Admin),
                    ..super::UserPatch::default()
                };
                self.update_user_as(&r.requester, ctx, &uid, patch).await?;
                Ok(json!({"user_id": uid, "role": "admin"}))
            }
            "keys.rotate" => {
                let v = self.rotate_kek(&r.requester).await?;
                Ok(json!({"kek_version": v}))
            }
            "admin.user.create_admin" => {
                let secret = self.held_secret(r)?;
                let field = |k: &str| secret.get(k).and_then(Value::as_str).map(str::to_owned);
                let hash = field("password_hash")
                    .ok_or_else(|| Error::Internal("held user without a password".into()))?;
                let email = crate::email::Email::parse(&field("email").unwrap_or_default())
                    .map_err(|m| Error::Internal(format!("held email: {m}")))?;
                let now = self.now();
                let user = User {
                    id: new_id(now, self.rng.as_ref()),
                    email,
                    display_name: field("display_name"),
                    role: Role::Admin,
                    password_hash: Some(PasswordHash(hash)),
                    mfa_enabled: false,
                    locked: false,
                    email_verified: false,
                    must_change_password: false,
                    created_at: now,
                    updated_at: now,
                };
                let user = self.insert_new_user(ctx, user, Some(&r.requester)).await?;
                Ok(json!({"user_id": user.id, "role": "admin"}))
            }
            other => Err(Error::Internal(format!("unknown held operation {other}"))),
        }
    }
}
