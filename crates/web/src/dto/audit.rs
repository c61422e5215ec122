//! The audit log, its transparency-log proofs and checkpoints.

use portcullis_core::FieldError;
use portcullis_core::audit::AuditRecord;
use portcullis_core::clock::rfc3339;
use portcullis_core::service::AuditVerifyReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::in_range;
use crate::extract::Validate;

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Position from 1, no gaps.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// Dotted action.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who.
    pub actor: Option<String>,
    /// To what.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// Structured details.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Previous entry's hash (hex).
    pub prev_hash: String,
    /// This entry's chain hash (hex).
    pub hash: String,
    /// RFC 9162 leaf hash of the entry in the transparency log: SHA-256(0x00 || hash).
    pub leaf_hash: Option<String>,
    /// Encoding version: 2 commits to the personal fields with a salted hash.
    pub version: i64,
    /// RFC 3339, when the personal fields were erased (GDPR); null otherwise.
    pub redacted_at: Option<String>,
    /// `time` as Unix seconds (what the chain hash commits to).
    pub unix_time: i64,
    /// `details` exactly as hashed (canonical JSON: keys sorted, no whitespace).
    pub details_canonical: String,
    /// Version 2: the salt of the commitment to the personal fields (hex); null once erased.
    pub pii_salt: Option<String>,
    /// Version 2: SHA-256 commitment to the personal fields (hex), part of the chain hash.
    pub pii_commitment: Option<String>,
}

impl From<&AuditRecord> for AuditEventBody {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            time: rfc3339(r.time),
            action: r.action.clone(),
            outcome: r.outcome.clone(),
            actor: r.actor.clone(),
            target: r.target.clone(),
            ip: r.ip.clone(),
            user_agent: r.user_agent.clone(),
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
            leaf_hash: portcullis_core::audit::decode_hash(&r.hash)
                .map(|h| hex::encode(portcullis_core::tlog::leaf_hash(&h))),
            version: r.version,
            redacted_at: r.redacted_at.map(rfc3339),
            unix_time: r.time,
            details_canonical: r.details.clone(),
            pii_salt: r.pii_salt.clone(),
            pii_commitment: r.pii_commitment.clone(),
        }
    }
}

/// `GET /admin/audit`
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Events in sequence order.
    pub events: Vec<AuditEventBody>,
    /// Pass as `after_seq` for the next page; null when this page is the last.
    pub next_after_seq: Option<i64>,
}

/// `?after_seq=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Return events after this sequence number (default 0).
    #[param(minimum = 0)]
    pub after_seq: Option<u64>,
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl Validate for AuditQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "after_seq", self.after_seq, 0, i64::MAX as u64);
        in_range(&mut e, "limit", self.limit.map(u64::from), 1, 1000);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `GET /admin/audit/verify`
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyBody {
    /// True when the whole chain verifies.
    pub ok: bool,
    /// Entries verified.
    pub entries: i64,
    /// Hash of the last verified entry (hex).
    pub head: String,
    /// First entry that fails, when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    /// Why it fails: names the entry, tree node or checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Leaves in the stored Merkle tree.
    pub tree_size: u64,
    /// Root of the Merkle tree over the verified entries (hex).
    pub root: String,
    /// Signed checkpoints whose signature and root verified.
    pub checkpoints_verified: u64,
}

impl From<AuditVerifyReport> for AuditVerifyBody {
    fn from(r: AuditVerifyReport) -> Self {
        Self {
            ok: r.ok,
            entries: r.entries,
            head: r.head,
            first_bad_seq: r.first_bad_seq,
            reason: r.reason,
            tree_size: r.tree_size,
            root: r.root,
            checkpoints_verified: r.checkpoints_verified,
        }
    }
}

/// `GET /audit/checkpoint`
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointBody {
    /// The log's origin line.
    pub origin: String,
    /// Entries covered.
    pub tree_size: u64,
    /// Merkle root of those entries (hex; base64 inside the note).
    pub root_hash: String,
    /// The C2SP tlog-checkpoint, signed as a C2SP signed-note (Ed25519).
    pub checkpoint: String,
    /// The signed-note verifier key (`<name>+<key id>+<base64 key>`).
    pub verifier_key: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /audit/verifier-key`
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierKeyBody {
    /// The signed-note verifier key of the checkpoints: `<name>+<hex key hash>+<base64(0x01 ||
    /// public key)>`.
    pub verifier_key: String,
}

/// `GET /admin/audit/{seq}/proof`
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProofBody {
    /// The entry.
    pub seq: i64,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// Root of the tree of `tree_size` entries (hex).
    pub root_hash: String,
    /// RFC 9162 audit path (hex), leaf side first.
    pub hashes: Vec<String>,
    /// The same as `hashes` (earlier name).
    pub inclusion_proof: Vec<String>,
    /// The entry itself.
    pub entry: AuditEventBody,
}

/// `GET /admin/audit/consistency`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProofBody {
    /// The smaller tree size.
    pub from: u64,
    /// The larger tree size.
    pub to: u64,
    /// Root at `from` (hex).
    pub from_root: String,
    /// Root at `to` (hex).
    pub to_root: String,
    /// RFC 9162 consistency proof (hex).
    pub hashes: Vec<String>,
    /// The same as `hashes` (earlier name).
    pub consistency_proof: Vec<String>,
}

/// `?tree_size=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// The tree size to prove inclusion in (default: the whole log).
    #[param(minimum = 1)]
    pub tree_size: Option<u64>,
}

impl Validate for ProofQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "tree_size", self.tree_size, 1, i64::MAX as u64);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// `?from=&to=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree size (at least 1).
    #[param(minimum = 1)]
    pub from: u64,
    /// The larger tree size (default: the whole log).
    #[param(minimum = 1)]
    pub to: Option<u64>,
}

impl Validate for ConsistencyQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        in_range(&mut e, "from", Some(self.from), 1, i64::MAX as u64);
        in_range(&mut e, "to", self.to, 1, i64::MAX as u64);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}
