//! The hash-chained audit log.
//!
//! Each event's hash is SHA-256 over a canonical, versioned, length-prefixed encoding of the
//! event and the previous event's hash. Changing, removing or reordering any entry breaks the
//! chain at that entry, which [`ChainVerifier`] names.
//!
//! Version 2 entries commit to their personal fields (actor, target, IP, User-Agent, details)
//! through a salted hash instead of the fields themselves, so a data subject's fields can be
//! erased (GDPR) while the chain, the Merkle tree and every proof still verify: the erased
//! entry keeps its time, action, outcome and commitment, and says that it was redacted.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;

/// Domain separation tag and encoding version of the chain hash.
const CHAIN_V1: &[u8] = b"portcullis.audit.v1\0";
/// Version 2: personal fields enter through [`pii_commitment`].
const CHAIN_V2: &[u8] = b"portcullis.audit.v2\0";
/// Domain separation tag of the commitment to an entry's personal fields.
const PII_V1: &[u8] = b"portcullis.audit.pii.v1\0";
/// What the details of a redacted entry are replaced with.
pub const REDACTED_DETAILS: &str = "{}";

/// The hash before the first entry.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Outcome of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The action happened.
    Success,
    /// The action was attempted and refused.
    Failure,
}

impl Outcome {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// When it happened.
    pub time: UnixTime,
    /// Dotted action name (`auth.login.succeeded`).
    pub action: String,
    /// `success` or `failure`.
    pub outcome: Outcome,
    /// Who did it (user id), if known.
    pub actor: Option<String>,
    /// What it was done to (user or session id).
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// Structured details; never secrets.
    pub details: Value,
}

impl NewAuditEvent {
    /// An event with the given action and outcome and nothing else yet.
    pub fn new(time: UnixTime, action: &str, outcome: Outcome) -> Self {
        Self {
            time,
            action: action.to_owned(),
            outcome,
            actor: None,
            target: None,
            ip: None,
            user_agent: None,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the client context.
    pub fn client(mut self, ctx: &crate::service::RequestContext) -> Self {
        self.ip = ctx.ip.map(|ip| ip.to_string());
        self.user_agent = ctx.user_agent.clone();
        self
    }

    /// Sets the details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// An event as stored in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position, from 1, without gaps.
    pub seq: i64,
    /// When it happened.
    pub time: UnixTime,
    /// Dotted action.
    pub action: String,
    /// `success` | `failure`.
    pub outcome: String,
    /// Actor id.
    pub actor: Option<String>,
    /// Target id.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// Canonical JSON of the details, exactly as hashed.
    pub details: String,
    /// Previous entry's hash, hex.
    pub prev_hash: String,
    /// This entry's hash, hex.
    pub hash: String,
    /// Encoding version: 1 (fields in the chain hash) or 2 (salted commitment).
    pub version: i64,
    /// Version 2: the 32-byte salt of the commitment, hex; gone once redacted.
    pub pii_salt: Option<String>,
    /// Version 2: the commitment to the personal fields, hex.
    pub pii_commitment: Option<String>,
    /// Version 2: when the personal fields were erased.
    pub redacted_at: Option<UnixTime>,
}

/// Serialises JSON with object keys sorted at every level and no insignificant whitespace,
/// so the hashed bytes do not depend on map ordering.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    if let Some(child) = map.get(*k) {
                        write(child, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn put_field(h: &mut Sha256, field: Option<&str>) {
    match field {
        None => h.update(u32::MAX.to_be_bytes()),
        Some(s) => {
            h.update(u32::try_from(s.len()).unwrap_or(u32::MAX - 1).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

/// The chain hash of one entry.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    seq: i64,
    prev_hash: &[u8; 32],
    time: UnixTime,
    action: &str,
    outcome: &str,
    actor: Option<&str>,
    target: Option<&str>,
    ip: Option<&str>,
    user_agent: Option<&str>,
    details_canonical: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHAIN_V1);
    h.update(seq.to_be_bytes());
    h.update(prev_hash);
    h.update(time.to_be_bytes());
    for f in [
        Some(action),
        Some(outcome),
        actor,
        target,
        ip,
        user_agent,
        Some(details_canonical),
    ] {
        put_field(&mut h, f);
    }
    h.finalize().into()
}

/// The salted commitment of a version 2 entry to its personal fields.
pub fn pii_commitment(
    salt: &[u8; 32],
    actor: Option<&str>,
    target: Option<&str>,
    ip: Option<&str>,
    user_agent: Option<&str>,
    details_canonical: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PII_V1);
    h.update(salt);
    for f in [actor, target, ip, user_agent, Some(details_canonical)] {
        put_field(&mut h, f);
    }
    h.finalize().into()
}

/// The chain hash of a version 2 entry.
pub fn chain_hash_v2(
    seq: i64,
    prev_hash: &[u8; 32],
    time: UnixTime,
    action: &str,
    outcome: &str,
    commitment: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHAIN_V2);
    h.update(seq.to_be_bytes());
    h.update(prev_hash);
    h.update(time.to_be_bytes());
    put_field(&mut h, Some(action));
    put_field(&mut h, Some(outcome));
    h.update(commitment);
    h.finalize().into()
}

/// Builds the stored (version 2) record for `event` at position `seq` after `prev_hash`,
/// committing to its personal fields with `salt` (32 random bytes, one per entry).
pub fn seal(seq: i64, prev_hash: &[u8; 32], event: &NewAuditEvent, salt: &[u8; 32]) -> AuditRecord {
    PendingAudit::from(event).seal(seq, prev_hash, salt)
}

/// An audit event as the transaction that caused it queues it: written atomically with the
/// change it records, not yet given its place in the log. The sequencer takes queued events
/// in order and gives each its sequence number, chain hash and commitment, so writers never
/// wait on one another for the head of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAudit {
    /// When it happened.
    pub time: UnixTime,
    /// Dotted action name.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who did it.
    pub actor: Option<String>,
    /// What it was done to.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// The details as canonical JSON (what is hashed).
    pub details: String,
}

impl From<&NewAuditEvent> for PendingAudit {
    fn from(event: &NewAuditEvent) -> Self {
        Self {
            time: event.time,
            action: event.action.clone(),
            outcome: event.outcome.as_str().to_owned(),
            actor: event.actor.clone(),
            target: event.target.clone(),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            details: canonical_json(&event.details),
        }
    }
}

impl PendingAudit {
    /// The stored (version 2) record of this event at position `seq` after `prev_hash`,
    /// committing to its personal fields with `salt` (32 random bytes, one per entry).
    pub fn seal(self, seq: i64, prev_hash: &[u8; 32], salt: &[u8; 32]) -> AuditRecord {
        let commitment = pii_commitment(
            salt,
            self.actor.as_deref(),
            self.target.as_deref(),
            self.ip.as_deref(),
            self.user_agent.as_deref(),
            &self.details,
        );
        let hash = chain_hash_v2(
            seq,
            prev_hash,
            self.time,
            &self.action,
            &self.outcome,
            &commitment,
        );
        AuditRecord {
            seq,
            time: self.time,
            action: self.action,
            outcome: self.outcome,
            actor: self.actor,
            target: self.target,
            ip: self.ip,
            user_agent: self.user_agent,
            details: self.details,
            prev_hash: hex::encode(prev_hash),
            hash: hex::encode(hash),
            version: 2,
            pii_salt: Some(hex::encode(salt)),
            pii_commitment: Some(hex::encode(commitment)),
            redacted_at: None,
        }
    }
}

/// The chain hash an entry should have, by its version; `Err` names what does not hold.
pub fn expected_hash(r: &AuditRecord, prev: &[u8; 32]) -> Result<[u8; 32], &'static str> {
    match r.version {
        1 => Ok(chain_hash(
            r.seq,
            prev,
            r.time,
            &r.action,
            &r.outcome,
            r.actor.as_deref(),
            r.target.as_deref(),
            r.ip.as_deref(),
            r.user_agent.as_deref(),
            &r.details,
        )),
        2 => {
            let stored = r
                .pii_commitment
                .as_deref()
                .and_then(decode_hash)
                .ok_or("version 2 entry without a commitment")?;
            if r.redacted_at.is_some() {
                let erased = r.actor.is_none()
                    && r.target.is_none()
                    && r.ip.is_none()
                    && r.user_agent.is_none()
                    && r.details == REDACTED_DETAILS
                    && r.pii_salt.is_none();
                if !erased {
                    return Err("entry marked redacted still holds personal fields");
                }
            } else {
                let salt = r
                    .pii_salt
                    .as_deref()
                    .and_then(decode_hash)
                    .ok_or("version 2 entry without its salt (personal fields erased without being marked)")?;
                let c = pii_commitment(
                    &salt,
                    r.actor.as_deref(),
                    r.target.as_deref(),
                    r.ip.as_deref(),
                    r.user_agent.as_deref(),
                    &r.details,
                );
                if c != stored {
                    return Err("personal fields do not match their commitment (altered)");
                }
            }
            Ok(chain_hash_v2(
                r.seq, prev, r.time, &r.action, &r.outcome, &stored,
            ))
        }
        _ => Err("unknown entry version"),
    }
}

/// Decodes a 32-byte hex hash.
pub fn decode_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number that does not verify (for a removed entry: the missing one).
    pub seq: i64,
    /// What is wrong.
    pub reason: &'static str,
}

/// Verifies entries one by one, in stored order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev: GENESIS_HASH,
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        if r.seq != self.expected_seq {
            let reason = if r.seq > self.expected_seq {
                "entry missing (gap in sequence)"
            } else {
                "entries out of order"
            };
            return Err(ChainBreak {
                seq: self.expected_seq,
                reason,
            });
        }
        if decode_hash(&r.prev_hash) != Some(self.prev) {
            return Err(ChainBreak {
                seq: r.seq,
                reason: "previous-hash link broken (entry removed, reordered or altered)",
            });
        }
        let computed =
            expected_hash(r, &self.prev).map_err(|reason| ChainBreak { seq: r.seq, reason })?;
        if decode_hash(&r.hash) != Some(computed) {
            return Err(ChainBreak {
                seq: r.seq,
                reason: "entry content does not match its hash (altered)",
            });
        }
        self.prev = computed;
        self.expected_seq += 1;
        Ok(())
    }

    /// The hash of the last verified entry.
    pub fn prev(&self) -> [u8; 32] {
        self.prev
    }

    /// Accepts the next entry, checked elsewhere, whose hash is `hash`.
    pub fn advance(&mut self, hash: [u8; 32]) {
        self.prev = hash;
        self.expected_seq += 1;
    }

    /// Number of entries verified so far.
    pub fn entries(&self) -> i64 {
        self.expected_seq - 1
    }

    /// The hash of the last verified entry, hex.
    pub fn head(&self) -> String {
        hex::encode(self.prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let ev = NewAuditEvent::new(1000 + seq, "auth.login.succeeded", Outcome::Success)
                    .actor(format!("user-{seq}"))
                    .details(json!({"b": 1, "a": [1, {"z": null, "y": "x"}]}));
                let r = seal(seq, &prev, &ev, &[seq as u8; 32]);
                prev = decode_hash(&r.hash).unwrap_or_default();
                r
            })
            .collect()
    }

    fn verify(rs: &[AuditRecord]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in rs {
            v.push(r)?;
        }
        Ok(v.entries())
    }

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": [true], "c": "é"}})),
            r#"{"a":{"c":"é","d":[true]},"b":1}"#
        );
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn alteration_is_named() {
        let mut c = chain(5);
        if let Some(r) = c.get_mut(2) {
            r.actor = Some("mallory".into());
        }
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(3));
    }

    #[test]
    fn removal_and_reordering_are_named() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(2));
        let mut c = chain(5);
        c.swap(1, 2);
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(2));
    }

    /// Erases the personal fields of an entry, as a redaction does.
    fn redact(r: &mut AuditRecord) {
        r.actor = None;
        r.target = None;
        r.ip = None;
        r.user_agent = None;
        r.details = REDACTED_DETAILS.into();
        r.pii_salt = None;
        r.redacted_at = Some(99);
    }

    #[test]
    fn redaction_keeps_the_chain_and_alteration_is_still_caught() {
        let mut c = chain(5);
        redact(&mut c[1]);
        redact(&mut c[3]);
        assert_eq!(verify(&c), Ok(5), "redacted entries still verify");
        // Altering the fields of an entry that was not redacted is caught...
        let mut c = chain(5);
        c[2].ip = Some("203.0.113.9".into());
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(3));
        // ...and so is erasing them without marking the entry redacted.
        let mut c = chain(5);
        c[2].actor = None;
        c[2].pii_salt = None;
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(3));
        // A redacted entry cannot keep (or regain) personal fields.
        let mut c = chain(5);
        redact(&mut c[2]);
        c[2].actor = Some("mallory".into());
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(3));
        // Version 1 entries (written before commitments) still verify.
        let v1 = AuditRecord {
            seq: 1,
            time: 5,
            action: "a".into(),
            outcome: "success".into(),
            actor: Some("x".into()),
            target: None,
            ip: None,
            user_agent: None,
            details: "{}".into(),
            prev_hash: hex::encode(GENESIS_HASH),
            hash: hex::encode(chain_hash(
                1,
                &GENESIS_HASH,
                5,
                "a",
                "success",
                Some("x"),
                None,
                None,
                None,
                "{}",
            )),
            version: 1,
            pii_salt: None,
            pii_commitment: None,
            redacted_at: None,
        };
        assert_eq!(verify(&[v1]), Ok(1));
    }

    #[test]
    fn rehashed_entry_breaks_the_next_link() {
        // An attacker who recomputes the altered entry's own hash still breaks seq + 1.
        let mut c = chain(4);
        let prev = c
            .get(1)
            .and_then(|r| decode_hash(&r.hash))
            .unwrap_or_default();
        let forged = seal(
            3,
            &prev,
            &NewAuditEvent::new(1, "admin.user.unlocked", Outcome::Success),
            &[9; 32],
        );
        if let Some(r) = c.get_mut(2) {
            *r = forged;
        }
        assert_eq!(verify(&c).map_err(|b| b.seq), Err(4));
    }
}
