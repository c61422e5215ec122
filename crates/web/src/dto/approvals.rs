//! Just-in-time elevations, held four-eyes operations, break-glass and administrators
//! creating accounts.

use portcullis_core::FieldError;
use portcullis_core::approvals::{ApprovalRequest, Vote};
use portcullis_core::clock::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Validate, max_len};

/// Longest reason, characters.
const MAX_REASON: usize = 500;

fn reason_ok(errors: &mut Vec<FieldError>, field: &str, r: &str) {
    max_len(errors, field, r, MAX_REASON);
    if r.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(FieldError::new(field, "invalid", "no control characters"));
    }
}

/// `POST /auth/elevations`: a role or scopes, for a while, with a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ElevationRequest {
    /// The role asked for (`admin`); or give `scopes`.
    #[serde(default)]
    #[schema(max_length = 16)]
    pub role: Option<String>,
    /// The scopes asked for (`admin:read`, a gateway route's scope); or give `role`.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub scopes: Option<Vec<String>>,
    /// For how long, seconds (at most the target's `max_duration_seconds`).
    #[serde(deserialize_with = "super::wire::whole_i64")]
    #[schema(minimum = 60, maximum = 604800)]
    pub duration_seconds: i64,
    /// Why: shown to the approvers and kept in the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

impl Validate for ElevationRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if let Some(r) = &self.role {
            max_len(&mut e, "role", r, 16);
        }
        if let Some(s) = &self.scopes {
            if s.len() > 16 {
                e.push(FieldError::new("scopes", "too_many", "at most 16 scopes"));
            }
            for x in s {
                max_len(&mut e, "scopes", x, 64);
            }
        }
        match (&self.role, self.scopes.as_ref().filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) | (None, None) => e.push(FieldError::new(
                "role",
                "invalid",
                "give exactly one of role or scopes",
            )),
            _ => {}
        }
        if !(60..=604_800).contains(&self.duration_seconds) {
            e.push(FieldError::new(
                "duration_seconds",
                "out_of_range",
                "between 60 and 604800 seconds",
            ));
        }
        if self.reason.trim().is_empty() {
            e.push(FieldError::new("reason", "required", "say why"));
        }
        reason_ok(&mut e, "reason", &self.reason);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST .../approve`, `/deny`, `/revoke`: an optional reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (kept in the audit log).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl Validate for DecisionRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if let Some(r) = &self.reason {
            reason_ok(&mut e, "reason", r);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// One approver's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteBody {
    /// The approver's user id.
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: &'static str,
    /// Their reason.
    pub reason: Option<String>,
    /// RFC 3339.
    pub at: String,
}

impl From<&Vote> for VoteBody {
    fn from(v: &Vote) -> Self {
        Self {
            approver: v.approver.clone(),
            decision: if v.approve { "approve" } else { "deny" },
            reason: v.reason.clone(),
            at: rfc3339(v.at),
        }
    }
}

/// An elevation request or grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ElevationBody {
    /// Id (the `elevation_id` of tokens and policies).
    pub id: String,
    /// `pending`, `active`, `denied`, `revoked` or `expired`.
    pub status: String,
    /// The requester.
    pub user_id: String,
    /// The session it is bound to.
    pub session_id: String,
    /// The role asked for.
    pub role: Option<String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Seconds asked for.
    pub duration_seconds: i64,
    /// The requester's reason.
    pub reason: String,
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub required: u32,
    /// Decisions so far.
    pub votes: Vec<VoteBody>,
    /// RFC 3339.
    pub created_at: String,
    /// Pending until (RFC 3339).
    pub expires_at: String,
    /// Granted at (RFC 3339).
    pub granted_at: Option<String>,
    /// In force until (RFC 3339).
    pub ends_at: Option<String>,
    /// Ended (denied, revoked, expired) at (RFC 3339).
    pub ended_at: Option<String>,
    /// Who ended it.
    pub ended_by: Option<String>,
}

impl ElevationBody {
    /// The body of `r` as it stands at `now`.
    pub fn new(r: &ApprovalRequest, now: i64) -> Self {
        Self {
            id: r.id.clone(),
            status: r.status_at(now).to_owned(),
            user_id: r.requester.clone(),
            session_id: r.session_id.clone(),
            role: r.role().map(|x| x.as_str().to_owned()),
            scopes: r.scopes(),
            duration_seconds: r.duration_seconds(),
            reason: r.reason.clone(),
            approvals: r.approvals(),
            required: r.required,
            votes: r.votes.iter().map(VoteBody::from).collect(),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            granted_at: r.granted_at.map(rfc3339),
            ends_at: r.ends_at.map(rfc3339),
            ended_at: r.ended_at.map(rfc3339),
            ended_by: r.ended_by.clone(),
        }
    }
}

/// Elevation requests and grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct ElevationList {
    /// Newest first.
    pub elevations: Vec<ElevationBody>,
}

/// `?status=`: `pending`, `active`, `denied`, `revoked`, `expired` or `all` (default:
/// pending and active ones).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Status to list.
    #[param(
        max_length = 16,
        pattern = "^(pending|active|denied|revoked|expired|approved|executed|failed|all)$"
    )]
    pub status: Option<String>,
}

impl Validate for StatusQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        const KNOWN: [&str; 9] = [
            "pending", "active", "denied", "revoked", "expired", "approved", "executed", "failed",
            "all",
        ];
        match &self.status {
            Some(s) if !KNOWN.contains(&s.as_str()) => Err(vec![FieldError::new(
                "status",
                "invalid",
                "pending, active, denied, revoked, expired, approved, executed, failed or all",
            )]),
            _ => Ok(()),
        }
    }
}

/// The answer to a held operation (202).
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldBody {
    /// Approve it at `POST /api/v1/admin/approvals/{approval_id}/approve`.
    pub approval_id: String,
    /// `pending`.
    pub status: String,
    /// Approvals of other administrators needed.
    pub required: u32,
    /// The operation held.
    pub operation: String,
    /// Pending until (RFC 3339).
    pub expires_at: String,
}

impl From<&ApprovalRequest> for HeldBody {
    fn from(r: &ApprovalRequest) -> Self {
        Self {
            approval_id: r.id.clone(),
            status: r.status.clone(),
            required: r.required,
            operation: r.operation.clone(),
            expires_at: rfc3339(r.expires_at),
        }
    }
}

/// A held four-eyes operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    /// Id.
    pub id: String,
    /// `pending`, `approved` (running), `executed`, `failed`, `denied` or `expired`.
    pub status: String,
    /// The operation (`admin.user.erase`, `keys.rotate`, ...).
    pub operation: String,
    /// Its exact parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The administrator who asked.
    pub requested_by: String,
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed (other administrators).
    pub required: u32,
    /// Decisions so far.
    pub votes: Vec<VoteBody>,
    /// What running it gave, or why it failed.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// RFC 3339.
    pub created_at: String,
    /// Pending until (RFC 3339).
    pub expires_at: String,
    /// Decided at (RFC 3339).
    pub ended_at: Option<String>,
}

impl ApprovalBody {
    /// The body of `r` as it stands at `now`, showing `params` (with its sealed arguments
    /// opened: [`portcullis_core::service::Services::held_params`]).
    pub fn new(r: &ApprovalRequest, params: serde_json::Value, now: i64) -> Self {
        Self {
            id: r.id.clone(),
            status: r.status_at(now).to_owned(),
            operation: r.operation.clone(),
            params,
            requested_by: r.requester.clone(),
            approvals: r.approvals(),
            required: r.required,
            votes: r.votes.iter().map(VoteBody::from).collect(),
            result: r.result.clone(),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            ended_at: r.ended_at.map(rfc3339),
        }
    }
}

/// Held operations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalList {
    /// Newest first.
    pub approvals: Vec<ApprovalBody>,
}

/// `POST /auth/break-glass`: the Shamir shares of the emergency credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// At least the threshold of shares, as `portcullis break-glass create` printed them.
    #[schema(min_items = 1, max_items = 255)]
    pub shares: Vec<String>,
}

impl Validate for BreakGlassRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if self.shares.is_empty() || self.shares.len() > 255 {
            e.push(FieldError::new("shares", "invalid", "1 to 255 shares"));
        }
        for s in &self.shares {
            max_len(&mut e, "shares", s, 512);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `POST /admin/users`: a new account with a password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Email address.
    #[schema(max_length = 254)]
    pub email: String,
    /// Display name.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub display_name: Option<String>,
    /// `user` (default) or `admin`.
    #[serde(default)]
    #[schema(max_length = 16)]
    pub role: Option<String>,
    /// The initial password (the policy applies). Invitations by mail need `[email]`.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub password: Option<String>,
}

impl Validate for CreateUserRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "email", &self.email, 254);
        if let Some(n) = &self.display_name {
            max_len(&mut e, "display_name", n, 100);
        }
        if let Some(r) = &self.role {
            max_len(&mut e, "role", r, 16);
        }
        if let Some(p) = &self.password {
            max_len(&mut e, "password", p, super::MAX_PASSWORD_CHARS);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}
