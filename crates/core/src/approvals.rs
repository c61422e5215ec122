//! Requests that wait for other people's approval: just-in-time elevations (a user asks
//! for a role or scopes for a while) and held operations (a dangerous admin action that
//! runs only when other administrators approve it), with their storage ports.

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::store::StoreResult;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A just-in-time elevation of the requester's session.
    Elevation,
    /// A held four-eyes operation.
    Operation,
}

impl RequestKind {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Elevation => "elevation",
            RequestKind::Operation => "operation",
        }
    }

    /// From the database name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "elevation" => Some(RequestKind::Elevation),
            "operation" => Some(RequestKind::Operation),
            _ => None,
        }
    }
}

/// Where a request stands, as stored. [`ApprovalRequest::status_at`] adds what time alone
/// decides (`expired`).
pub mod status {
    /// Waiting for approvals.
    pub const PENDING: &str = "pending";
    /// An elevation in force.
    pub const ACTIVE: &str = "active";
    /// Refused by an approver.
    pub const DENIED: &str = "denied";
    /// Ended early by an administrator.
    pub const REVOKED: &str = "revoked";
    /// Ran out: a pending request not approved in time, or a grant past its end.
    pub const EXPIRED: &str = "expired";
    /// A held operation claimed for running (approved, not yet recorded as run).
    pub const APPROVED: &str = "approved";
    /// A held operation that ran.
    pub const EXECUTED: &str = "executed";
    /// A held operation that was approved but failed when it ran.
    pub const FAILED: &str = "failed";
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The approver's user id.
    pub approver: String,
    /// Approved (true) or denied.
    pub approve: bool,
    /// Why, if they said.
    pub reason: Option<String>,
    /// When.
    pub at: UnixTime,
}

/// A stored request and its votes.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    /// Id.
    pub id: String,
    /// Elevation or operation.
    pub kind: RequestKind,
    /// Who asked (user id).
    pub requester: String,
    /// The requester's session (elevations are bound to it).
    pub session_id: String,
    /// `elevation`, or the operation name (`admin.user.erase`).
    pub operation: String,
    /// The exact parameters (JSON): the role or scopes and duration of an elevation, the
    /// arguments of an operation. Never a secret (see `sealed`).
    pub params: serde_json::Value,
    /// Secret arguments (a new user's password hash), sealed under the master key.
    pub sealed: Option<Vec<u8>>,
    /// The requester's reason.
    pub reason: String,
    /// Approvals needed.
    pub required: u32,
    /// Stored status (see [`status`]).
    pub status: String,
    /// Asked at.
    pub created_at: UnixTime,
    /// Pending until (then expired).
    pub expires_at: UnixTime,
    /// An elevation's start.
    pub granted_at: Option<UnixTime>,
    /// An elevation's end.
    pub ends_at: Option<UnixTime>,
    /// When it was denied, revoked, expired or ran.
    pub ended_at: Option<UnixTime>,
    /// Who ended it (user id or `system`).
    pub ended_by: Option<String>,
    /// What running a held operation gave (JSON), or why it failed.
    pub result: Option<serde_json::Value>,
    /// Decisions so far, oldest first.
    pub votes: Vec<Vote>,
}

impl ApprovalRequest {
    /// The status at `now`: a pending request past its deadline, or a grant past its end,
    /// is `expired` whether or not the sweep has recorded it yet.
    pub fn status_at(&self, now: UnixTime) -> &str {
        match self.status.as_str() {
            status::PENDING if self.expires_at <= now => status::EXPIRED,
            status::ACTIVE if self.ends_at.is_none_or(|e| e <= now) => status::EXPIRED,
            s => s,
        }
    }

    /// The role an elevation asks for.
    pub fn role(&self) -> Option<crate::model::Role> {
        self.params
            .get("role")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// The scopes an elevation asks for.
    pub fn scopes(&self) -> Vec<String> {
        self.params
            .get("scopes")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The seconds an elevation asks for.
    pub fn duration_seconds(&self) -> i64 {
        self.params
            .get("duration_seconds")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    }

    /// Distinct approvals so far.
    pub fn approvals(&self) -> u32 {
        u32::try_from(self.votes.iter().filter(|v| v.approve).count()).unwrap_or(u32::MAX)
    }
}

/// Reads of requests, outside a transaction.
#[async_trait]
pub trait ApprovalReads: Send + Sync {
    /// A request by id, with its votes.
    async fn approval_request(&self, id: &str) -> StoreResult<Option<ApprovalRequest>>;
    /// Requests of `kind`, newest first, at most `limit`; only those whose stored status is
    /// one of `statuses` when it is not empty.
    async fn approval_requests(
        &self,
        kind: RequestKind,
        statuses: &[&str],
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>>;
    /// A user's requests of `kind`, newest first, at most `limit`.
    async fn approval_requests_of(
        &self,
        requester: &str,
        kind: RequestKind,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>>;
    /// The elevation in force on a session at `now`, the latest granted if several.
    async fn active_elevation(
        &self,
        session_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<ApprovalRequest>>;
    /// Requests whose stored status no longer holds at `now` (pending past their deadline,
    /// active past their end), at most `limit`.
    async fn lapsed_requests(&self, now: UnixTime, limit: u32)
    -> StoreResult<Vec<ApprovalRequest>>;
    /// The break-glass credential in force: (id, user id, SHA-256 hex of the secret, the
    /// Shamir split record as JSON).
    async fn break_glass(&self) -> StoreResult<Option<BreakGlassRecord>>;
}

/// The emergency administrator's split credential.
#[derive(Debug, Clone)]
pub struct BreakGlassRecord {
    /// Id.
    pub id: String,
    /// The emergency administrator.
    pub user_id: String,
    /// SHA-256 (hex) of the secret the shares combine to.
    pub secret_hash: String,
    /// The split record (threshold, shares, check value), JSON.
    pub split: String,
    /// Created at.
    pub created_at: UnixTime,
    /// Used (then it works no more) or replaced at.
    pub used_at: Option<UnixTime>,
}

/// Writes of requests, inside a transaction (with its audit events).
#[async_trait]
pub trait ApprovalWrites: Send {
    /// Stores a new request (without votes).
    async fn insert_approval_request(&mut self, r: &ApprovalRequest) -> StoreResult<()>;
    /// A request with its votes, locked until commit, so that concurrent approvals (on any
    /// node) are counted one after the other.
    async fn lock_approval_request(&mut self, id: &str) -> StoreResult<Option<ApprovalRequest>>;
    /// Records a vote; `Conflict` when this approver decided already.
    async fn insert_vote(&mut self, request_id: &str, vote: &Vote) -> StoreResult<()>;
    /// Moves a request from status `from` to `to`, with the times and result given (each
    /// left as stored when `None`); false when it was not in `from`. Moving an elevation to
    /// `revoked` is pushed to the other nodes on commit, as session revocations are.
    async fn transition_request(
        &mut self,
        id: &str,
        from: &str,
        change: &Transition,
    ) -> StoreResult<bool>;
    /// GDPR erasure: requests made by `subject` lose their reason, and requests whose
    /// parameters or result name `subject` (an account created by a held operation) lose
    /// their sealed arguments (the email they carried); returns how many.
    async fn redact_approval_subject(&mut self, subject: &str) -> StoreResult<u64>;
    /// Stores a new break-glass credential; every older one stops working.
    async fn replace_break_glass(&mut self, r: &BreakGlassRecord) -> StoreResult<()>;
    /// Marks the break-glass credential `id` used, only if it was unused: false means it
    /// was used (or replaced) already.
    async fn use_break_glass(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
}

/// A status change of a request.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    /// The new status.
    pub to: String,
    /// An elevation's start.
    pub granted_at: Option<UnixTime>,
    /// An elevation's end.
    pub ends_at: Option<UnixTime>,
    /// When it ended (denied, revoked, expired, ran).
    pub ended_at: Option<UnixTime>,
    /// Who ended it.
    pub ended_by: Option<String>,
    /// The result of a held operation.
    pub result: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(status: &str, expires_at: i64, ends_at: Option<i64>) -> ApprovalRequest {
        ApprovalRequest {
            id: "r".into(),
            kind: RequestKind::Elevation,
            requester: "u".into(),
            session_id: "s".into(),
            operation: "elevation".into(),
            params: serde_json::Value::Null,
            sealed: None,
            reason: "x".into(),
            required: 2,
            status: status.into(),
            created_at: 0,
            expires_at,
            granted_at: None,
            ends_at,
            ended_at: None,
            ended_by: None,
            result: None,
            votes: vec![
                Vote {
                    approver: "a".into(),
                    approve: true,
                    reason: None,
                    at: 1,
                },
                Vote {
                    approver: "b".into(),
                    approve: false,
                    reason: None,
                    at: 2,
                },
            ],
        }
    }

    #[test]
    fn time_decides_expiry() {
        assert_eq!(req("pending", 100, None).status_at(99), "pending");
        assert_eq!(req("pending", 100, None).status_at(100), "expired");
        assert_eq!(req("active", 0, Some(50)).status_at(49), "active");
        assert_eq!(req("active", 0, Some(50)).status_at(50), "expired");
        assert_eq!(req("active", 0, None).status_at(0), "expired");
        assert_eq!(req("denied", 0, None).status_at(10), "denied");
        assert_eq!(req("pending", 100, None).approvals(), 1);
        assert_eq!(
            RequestKind::parse("operation"),
            Some(RequestKind::Operation)
        );
        assert_eq!(RequestKind::parse("x"), None);
    }
}
