//! The audit transparency log: the Merkle tree built from sequenced entries, signed
//! checkpoints, inclusion and consistency proofs, and verification of everything at once.
//!
//! Entries are sequenced (numbered and chained) inside the transaction of the change they
//! record; the tree is derived from them afterwards, by whichever node gets there first
//! (nodes compute identical hashes, so concurrent builders only skip each other's rows).

use std::collections::{BTreeMap, HashSet};

use super::Services;
use super::admin::AuditVerifyReport;
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::CheckpointRecord;
use crate::tlog::{
    self, Checkpoint, Frontier, Hash, LogVerifier, NodeSource, NoteSigner, NoteVerifier, TreeError,
};

/// Entries read per page while building or verifying.
const PAGE: u32 = 5000;

/// An inclusion proof of one entry.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// The entry.
    pub entry: AuditRecord,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// `SHA-256(0x00 || entry hash)`, hex.
    pub leaf_hash: String,
    /// The root of that tree, hex.
    pub root_hash: String,
    /// Audit path, hex, leaf side first.
    pub proof: Vec<String>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    /// The smaller size.
    pub from: u64,
    /// The larger size.
    pub to: u64,
    /// Root at `from`, hex.
    pub from_root: String,
    /// Root at `to`, hex.
    pub to_root: String,
    /// The proof, hex.
    pub proof: Vec<String>,
}

/// The latest checkpoint and how to check it.
#[derive(Debug, Clone)]
pub struct LatestCheckpoint {
    /// The checkpoint.
    pub record: CheckpointRecord,
    /// Its origin line.
    pub origin: String,
    /// The signed-note verifier key of the log.
    pub verifier_key: String,
}

/// Numbers of the audit log for `/metrics`.
#[derive(Debug, Clone)]
pub struct AuditMetrics {
    /// Entries sequenced.
    pub entries: i64,
    /// Leaves in the stored Merkle tree.
    pub tree_size: u64,
    /// Size of the latest signed checkpoint.
    pub checkpoint_size: u64,
    /// Delivery state of every sink.
    pub sinks: Vec<crate::model::SinkState>,
}

fn hx(h: &Hash) -> String {
    hex::encode(h)
}

fn tree_error(e: TreeError) -> Error {
    match e {
        TreeError::OutOfRange(why) => Error::InvalidRequest(why.into(), vec![]),
        TreeError::MissingNode(l, i) => {
            Error::Internal(format!("audit tree node ({l}, {i}) is missing"))
        }
    }
}

/// Records which nodes a computation asks for (answering with zeros).
#[derive(Default)]
struct Recorder(HashSet<(u32, u64)>);

impl NodeSource for Recorder {
    fn node(&mut self, level: u32, idx: u64) -> Option<Hash> {
        self.0.insert((level, idx));
        Some([0; 32])
    }
}

impl Services {
    /// The Ed25519 key that signs checkpoints, derived from the master key (so every node of
    /// a deployment signs with the same key, and rotating the master key rotates it).
    fn checkpoint_signer(&self) -> NoteSigner {
        let seed = self.keyring.derive("portcullis:audit-checkpoint:v1");
        NoteSigner::new(&self.settings.audit.origin, &seed)
    }

    /// The signed-note verifier key of the checkpoints (publish it to auditors).
    pub fn checkpoint_verifier_key(&self) -> String {
        self.checkpoint_signer().verifier_key()
    }

    /// Runs a tree computation against the stored nodes: a dry run names the nodes it
    /// needs, they are fetched at once, then it runs for real.
    async fn with_nodes<T>(
        &self,
        f: impl Fn(&mut dyn NodeSource) -> std::result::Result<T, TreeError>,
    ) -> Result<T> {
        let mut rec = Recorder::default();
        f(&mut rec).map_err(tree_error)?;
        let keys: Vec<(u32, u64)> = rec.0.into_iter().collect();
        let mut nodes = std::collections::HashMap::new();
        for (l, i, h) in self.store.audit_tree_nodes(&keys).await? {
            let h = crate::audit::decode_hash(&h).ok_or_else(|| {
                Error::Internal(format!("audit tree node ({l}, {i}) is not a hash"))
            })?;
            nodes.insert((l, i), h);
        }
        f(&mut nodes).map_err(tree_error)
    }

    /// Numbers of the audit log, its tree, checkpoints and sinks.
    pub async fn audit_metrics(&self) -> Result<AuditMetrics> {
        let (entries, _) = self.store.audit_head().await?;
        Ok(AuditMetrics {
            entries,
            tree_size: self.store.audit_tree_size().await?,
            checkpoint_size: self
                .store
                .latest_checkpoint()
                .await?
                .map_or(0, |c| c.tree_size),
            // Alert sinks hold a lease row there but no audit cursor: no lag to report.
            sinks: self
                .store
                .sink_states()
                .await?
                .into_iter()
                .filter(|s| !s.name.starts_with("alerts-sink:"))
                .collect(),
        })
    }

    /// Extends the stored Merkle tree to every sequenced entry; returns its size.
    pub async fn tlog_catch_up(&self) -> Result<u64> {
        let _one = self.tlog_lock.lock().await;
        let built = self.store.audit_tree_size().await?;
        let (head_seq, _) = self.store.audit_head().await?;
        let head = u64::try_from(head_seq).unwrap_or(0);
        if built >= head {
            return Ok(built);
        }
        let mut frontier = self.with_nodes(|src| Frontier::load(src, built)).await?;
        while frontier.size() < head {
            let after = i64::try_from(frontier.size()).unwrap_or(i64::MAX);
            let page = self.store.audit_page(after, PAGE).await?;
            if page.is_empty() {
                break;
            }
            let mut nodes = Vec::with_capacity(page.len() * 2);
            for r in &page {
                if u64::try_from(r.seq).ok() != Some(frontier.size() + 1) {
                    return Err(Error::Internal(format!(
                        "audit entry {} follows entry {}: the log has a gap",
                        r.seq,
                        frontier.size()
                    )));
                }
                let h = crate::audit::decode_hash(&r.hash).ok_or_else(|| {
                    Error::Internal(format!("audit entry {} has no valid hash", r.seq))
                })?;
                for (l, i, n) in frontier.push(tlog::leaf_hash(&h)) {
                    nodes.push((l, i, hx(&n)));
                }
            }
            self.store.append_audit_tree(&nodes).await?;
        }
        Ok(frontier.size())
    }

    /// Builds the tree and signs a checkpoint when one is due (`audit.checkpoint_every_*`).
    /// Returns the new checkpoint, if one was made.
    pub async fn tlog_tick(&self) -> Result<Option<CheckpointRecord>> {
        self.tlog_checkpoint(false).await
    }

    /// Builds the tree and signs a checkpoint of it when one is due or, with `force`, when
    /// the tree grew since the last one (or there is none).
    pub async fn tlog_checkpoint(&self, force: bool) -> Result<Option<CheckpointRecord>> {
        let size = self.tlog_catch_up().await?;
        let now = self.now();
        let latest = self.store.latest_checkpoint().await?;
        let due = match &latest {
            None => force || size > 0,
            Some(cp) => {
                size > cp.tree_size
                    && (force
                        || size - cp.tree_size >= self.settings.audit.checkpoint_every_entries
                        || now - cp.created_at >= self.settings.audit.checkpoint_every_seconds)
            }
        };
        if !due {
            return Ok(None);
        }
        let root = self.with_nodes(|src| tlog::root(src, size)).await?;
        let body = Checkpoint {
            origin: self.settings.audit.origin.clone(),
            size,
            root,
        }
        .body();
        let record = CheckpointRecord {
            tree_size: size,
            root_hash: hx(&root),
            note: self.checkpoint_signer().sign(&body),
            created_at: now,
        };
        if !self.store.insert_checkpoint(&record).await? {
            return Ok(None);
        }
        if let Some(dir) = &self.settings.audit.witness_dir {
            let write = |name: String| std::fs::write(dir.join(name), &record.note);
            if let Err(e) =
                write(format!("checkpoint.{size}")).and_then(|()| write("checkpoint".into()))
            {
                tracing::warn!(error = %e, dir = %dir.display(), "could not write the checkpoint to the witness directory");
            }
        }
        Ok(Some(record))
    }

    /// The body of a C2SP tlog-witness `add-checkpoint` request for `cp`, to a witness that
    /// knows tree size `old`: `old <size>`, the consistency proof from `old` to `cp`'s size
    /// (one base64 hash a line; none from 0 or from the same size), a blank line, then the
    /// signed checkpoint.
    pub async fn witness_add_checkpoint_body(
        &self,
        old: u64,
        cp: &CheckpointRecord,
    ) -> Result<String> {
        use base64::Engine;
        let new = cp.tree_size;
        if old > new {
            return Err(Error::InvalidRequest(
                format!("the witness knows size {old}, beyond this checkpoint's {new}"),
                vec![],
            ));
        }
        let proof = if old == 0 || old == new {
            Vec::new()
        } else {
            self.with_nodes(|src| tlog::consistency_proof(src, old, new))
                .await?
        };
        let mut body = format!("old {old}\n");
        for h in &proof {
            body.push_str(&base64::engine::general_purpose::STANDARD.encode(h));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&cp.note);
        Ok(body)
    }

    /// The latest signed checkpoint (made now if there is none yet).
    pub async fn latest_checkpoint(&self) -> Result<LatestCheckpoint> {
        let record = match self.store.latest_checkpoint().await? {
            Some(r) => r,
            None => {
                self.tlog_checkpoint(true).await?;
                self.store
                    .latest_checkpoint()
                    .await?
                    .ok_or_else(|| Error::Internal("no checkpoint could be made".into()))?
            }
        };
        Ok(LatestCheckpoint {
            record,
            origin: self.settings.audit.origin.clone(),
            verifier_key: self.checkpoint_verifier_key(),
        })
    }

    /// The inclusion proof of entry `seq` in the tree of `tree_size` entries (default: all).
    pub async fn audit_inclusion_proof(
        &self,
        seq: i64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof> {
        let size = self.tlog_catch_up().await?;
        let tree_size = tree_size.unwrap_or(size);
        let Some(index) = u64::try_from(seq).ok().and_then(|s| s.checked_sub(1)) else {
            return Err(Error::NotFound);
        };
        if tree_size > size {
            return Err(Error::InvalidRequest(
                format!("tree_size {tree_size} is beyond the log ({size} entries)"),
                vec![],
            ));
        }
        if index >= size {
            return Err(Error::NotFound);
        }
        if index >= tree_size {
            return Err(Error::InvalidRequest(
                format!("entry {seq} is not in the tree of size {tree_size}"),
                vec![],
            ));
        }
        let entry = self
            .store
            .audit_page(seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound)?;
        let (proof, root) = self
            .with_nodes(|src| {
                Ok((
                    tlog::inclusion_proof(src, index, tree_size)?,
                    tlog::root(src, tree_size)?,
                ))
            })
            .await?;
        let leaf = tlog::leaf_hash(&crate::audit::decode_hash(&entry.hash).unwrap_or_default());
        Ok(InclusionProof {
            entry,
            leaf_index: index,
            tree_size,
            leaf_hash: hx(&leaf),
            root_hash: hx(&root),
            proof: proof.iter().map(hx).collect(),
        })
    }

    /// The consistency proof between tree sizes `from` and `to` (default: all).
    pub async fn audit_consistency_proof(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof> {
        let size = self.tlog_catch_up().await?;
        let to = to.unwrap_or(size);
        if to > size {
            return Err(Error::InvalidRequest(
                format!("`to` {to} is beyond the log ({size} entries)"),
                vec![],
            ));
        }
        let (proof, from_root, to_root) = self
            .with_nodes(|src| {
                Ok((
                    tlog::consistency_proof(src, from, to)?,
                    tlog::root(src, from)?,
                    tlog::root(src, to)?,
                ))
            })
            .await?;
        Ok(ConsistencyProof {
            from,
            to,
            from_root: hx(&from_root),
            to_root: hx(&to_root),
            proof: proof.iter().map(hx).collect(),
        })
    }

    /// Compares the stored tree nodes against `made`, the nodes the entries imply (by level),
    /// where the tree was built that far; the first difference as `(seq, reason)`.
    async fn check_stored_nodes(
        &self,
        made: BTreeMap<u32, Vec<(u64, Hash)>>,
        built: u64,
    ) -> Result<Option<(i64, String)>> {
        for (level, nodes) in made {
            let Some(&(first, _)) = nodes.first() else {
                continue;
            };
            if ((first + 1) << level) > built {
                continue;
            }
            let stored = self
                .store
                .audit_tree_level(level, first, u32::try_from(nodes.len()).unwrap_or(u32::MAX))
                .await?;
            let stored: std::collections::HashMap<u64, String> = stored.into_iter().collect();
            for (idx, h) in nodes {
                if ((idx + 1) << level) > built {
                    continue;
                }
                let seq = i64::try_from((idx << level) + 1).unwrap_or(i64::MAX);
                match stored.get(&idx) {
                    None => {
                        return Ok(Some((
                            seq,
                            format!("tree node ({level}, {idx}) is missing"),
                        )));
                    }
                    Some(s) if crate::audit::decode_hash(s) != Some(h) => {
                        return Ok(Some((
                            seq,
                            format!(
                                "tree node ({level}, {idx}) does not match the entries it covers (altered)"
                            ),
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(None)
    }

    /// Verifies everything in one pass: the hash chain and its recorded head, every stored
    /// tree node against the tree the entries imply, and every stored checkpoint's signature
    /// and root. A failure is itself audited (`audit.verification_failed`, which the
    /// built-in `audit-verify-failed` alert rule watches).
    pub async fn verify_audit(&self) -> Result<AuditVerifyReport> {
        let report = self.verify_audit_once().await?;
        if !report.ok {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &crate::audit::NewAuditEvent::new(
                    self.now(),
                    "audit.verification_failed",
                    crate::audit::Outcome::Failure,
                )
                .actor("system")
                .details(serde_json::json!({
                    "first_bad_seq": report.first_bad_seq,
                    "reason": report.reason,
                    "entries_verified": report.entries,
                })),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn verify_audit_once(&self) -> Result<AuditVerifyReport> {
        let verifier = NoteVerifier::parse(&self.checkpoint_verifier_key())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let origin = self.settings.audit.origin.clone();
        // The tree first, then the head: entries appended meanwhile are not this run's
        // business, and the tree can never legitimately be ahead of the head read after it.
        let built = self.store.audit_tree_size().await?;
        let (head_seq, head_hash) = self.store.audit_head().await?;
        let mut v = LogVerifier::default();
        let mut checkpoints = std::collections::VecDeque::new();
        let mut cp_after = 0u64;
        let mut cp_exhausted = false;
        let broken = |v: &LogVerifier, seq: i64, reason: String| AuditVerifyReport {
            ok: false,
            entries: i64::try_from(v.entries()).unwrap_or(i64::MAX),
            head: v.head(),
            first_bad_seq: Some(seq),
            reason: Some(reason),
            tree_size: built,
            root: hx(&v.root()),
            checkpoints_verified: v.checkpoints_verified(),
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let verifier = std::sync::Arc::new(verifier);
        let origin = std::sync::Arc::new(origin);
        let mut unchecked: Option<BTreeMap<u32, Vec<(u64, Hash)>>> = None;
        let mut page = if head_seq > 0 {
            self.store.audit_page(0, PAGE).await?
        } else {
            Vec::new()
        };
        loop {
            page.retain(|r| r.seq <= head_seq);
            let Some(last) = page.last() else { break };
            let after = last.seq;
            let reach = u64::try_from(after).unwrap_or(0);
            // The checkpoints this page reaches, taken along to be checked at their size.
            while !cp_exhausted
                && checkpoints
                    .back()
                    .is_none_or(|c: &CheckpointRecord| c.tree_size <= reach)
            {
                let more = self.store.checkpoints(cp_after, 1000).await?;
                match more.last() {
                    Some(c) => cp_after = c.tree_size,
                    None => cp_exhausted = true,
                }
                checkpoints.extend(more);
            }
            let mut due = Vec::new();
            while checkpoints.front().is_some_and(|c| c.tree_size <= reach) {
                due.extend(checkpoints.pop_front());
            }
            // This page is verified on blocking threads while the next one is read.
            let (verifier, origin) = (verifier.clone(), origin.clone());
            let mut state = std::mem::take(&mut v);
            let work = tokio::task::spawn_blocking(move || {
                let mut made: BTreeMap<u32, Vec<(u64, Hash)>> = BTreeMap::new();
                let mut rest: &[AuditRecord] = &page;
                let mut outcome = Ok(());
                for cp in due {
                    let have = state.entries();
                    if cp.tree_size < have {
                        continue;
                    }
                    let take = usize::try_from(cp.tree_size - have)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    let (now, later) = rest.split_at(take);
                    rest = later;
                    outcome = state.push_batch(now, threads, &mut |l, i, h| {
                        made.entry(l).or_default().push((i, h))
                    });
                    if outcome.is_err() || state.entries() != cp.tree_size {
                        break;
                    }
                    outcome = state.check_checkpoint(&cp.note, &verifier, &origin);
                    if outcome.is_err() {
                        break;
                    }
                    if crate::audit::decode_hash(&cp.root_hash) != Some(state.root()) {
                        outcome = Err(crate::tlog::LogBreak {
                            seq: i64::try_from(cp.tree_size).unwrap_or(i64::MAX),
                            reason: format!(
                                "checkpoint {}: stored root_hash differs from its signed note",
                                cp.tree_size
                            ),
                        });
                        break;
                    }
                }
                if outcome.is_ok() {
                    outcome = state.push_batch(rest, threads, &mut |l, i, h| {
                        made.entry(l).or_default().push((i, h))
                    });
                }
                (state, made, outcome)
            });
            let next = async {
                if after < head_seq {
                    self.store.audit_page(after, PAGE).await
                } else {
                    Ok(Vec::new())
                }
            };
            // The stored tree nodes the previous page completed are compared meanwhile too.
            let nodes = async {
                match unchecked.take() {
                    Some(made) => self.check_stored_nodes(made, built).await,
                    None => Ok(None),
                }
            };
            let (done, next, nodes) = tokio::join!(work, next, nodes);
            let (state, made, outcome) =
                done.map_err(|e| Error::Internal(format!("verification task failed: {e}")))?;
            v = state;
            if let Some((seq, reason)) = nodes? {
                return Ok(broken(&v, seq, reason));
            }
            if let Err(b) = outcome {
                return Ok(broken(&v, b.seq, b.reason));
            }
            page = next?;
            unchecked = Some(made);
        }
        if let Some(made) = unchecked.take()
            && let Some((seq, reason)) = self.check_stored_nodes(made, built).await?
        {
            return Ok(broken(&v, seq, reason));
        }
        let entries = v.entries();
        let entries_i = i64::try_from(entries).unwrap_or(i64::MAX);
        // Entries removed from the end leave an intact chain behind; the recorded head, the
        // tree and the checkpoints say how long it was.
        if head_seq != entries_i || head_hash != v.head() {
            return Ok(broken(
                &v,
                entries_i.min(head_seq) + 1,
                format!(
                    "the chain ends at entry {entries} but its recorded head is entry {head_seq}"
                ),
            ));
        }
        if built > entries {
            return Ok(broken(
                &v,
                entries_i + 1,
                format!(
                    "the tree has {built} leaves but the log only {entries} entries (entries removed)"
                ),
            ));
        }
        let (now_head, _) = self.store.audit_head().await?;
        let beyond = self
            .store
            .checkpoints(u64::try_from(now_head).unwrap_or(0), 1)
            .await?;
        if let Some(cp) = beyond.into_iter().next() {
            return Ok(broken(
                &v,
                entries_i + 1,
                format!(
                    "checkpoint {} covers entries that are missing (the log has {entries})",
                    cp.tree_size
                ),
            ));
        }
        Ok(AuditVerifyReport {
            ok: true,
            entries: entries_i,
            head: v.head(),
            first_bad_seq: None,
            reason: None,
            tree_size: built,
            root: hx(&v.root()),
            checkpoints_verified: v.checkpoints_verified(),
        })
    }
}

/// Verifies an exported log (JSON lines of entries) offline, with a checkpoint and the log's
/// verifier key: the chain, the tree, and that the checkpoint's root is the root of the
/// first `tree_size` entries.
pub fn verify_export(
    lines: impl Iterator<Item = std::io::Result<String>>,
    verifier_key: &str,
    checkpoint_note: &str,
) -> std::result::Result<(u64, u64, String), String> {
    let verifier = NoteVerifier::parse(verifier_key).map_err(|e| format!("public key: {e}"))?;
    let body = verifier
        .open(checkpoint_note)
        .map_err(|e| format!("checkpoint: {e}"))?;
    let cp = Checkpoint::parse_body(body).ok_or("checkpoint: malformed body")?;
    let mut v = LogVerifier::default();
    if cp.size == 0 {
        v.check_checkpoint(checkpoint_note, &verifier, &cp.origin)
            .map_err(|b| b.reason)?;
    }
    // Lines are read in batches; each batch is parsed and checked entry by entry on every
    // core, then its links and tree are walked in order.
    const BATCH: usize = 16_384;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut lines = lines.enumerate();
    loop {
        let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH);
        for (n, line) in lines.by_ref() {
            let line = line.map_err(|e| format!("reading the export: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            batch.push((n + 1, line));
            if batch.len() == BATCH {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        let records = parse_export_lines(&batch, threads)?;
        let have = v.entries();
        let at_checkpoint = usize::try_from(cp.size.saturating_sub(have)).unwrap_or(usize::MAX);
        let mut ignore = |_: u32, _: u64, _: Hash| {};
        if have < cp.size && at_checkpoint <= records.len() {
            let (before, after) = records.split_at(at_checkpoint);
            v.push_batch(before, threads, &mut ignore)
                .map_err(|b| b.reason)?;
            v.check_checkpoint(checkpoint_note, &verifier, &cp.origin)
                .map_err(|b| b.reason)?;
            v.push_batch(after, threads, &mut ignore)
                .map_err(|b| b.reason)?;
        } else {
            v.push_batch(&records, threads, &mut ignore)
                .map_err(|b| b.reason)?;
        }
    }
    if v.entries() < cp.size {
        return Err(format!(
            "the export has {} entries but the checkpoint covers {}",
            v.entries(),
            cp.size
        ));
    }
    Ok((v.entries(), cp.size, v.head()))
}

/// Parses numbered export lines into records on up to `threads` threads; the first bad
/// line is the error.
fn parse_export_lines(
    batch: &[(usize, String)],
    threads: usize,
) -> std::result::Result<Vec<AuditRecord>, String> {
    fn parse(part: &[(usize, String)]) -> std::result::Result<Vec<AuditRecord>, String> {
        part.iter()
            .map(|(n, line)| {
                serde_json::from_str::<ExportedEntry>(line)
                    .map(ExportedEntry::into_record)
                    .map_err(|e| format!("export line {n}: {e}"))
            })
            .collect()
    }
    if threads <= 1 || batch.len() < 1024 {
        return parse(batch);
    }
    let per = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = batch
            .chunks(per)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut all = Vec::with_capacity(batch.len());
        for part in parts {
            all.extend(
                part.join()
                    .map_err(|_| "parsing the export failed".to_owned())??,
            );
        }
        Ok(all)
    })
}

/// One line of `portcullis audit export`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEntry {
    /// Sequence number.
    pub seq: i64,
    /// Unix time.
    pub time: i64,
    /// Action.
    pub action: String,
    /// Outcome.
    pub outcome: String,
    /// Actor.
    pub actor: Option<String>,
    /// Target.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// User-Agent.
    pub user_agent: Option<String>,
    /// Canonical JSON of the details, exactly as hashed.
    pub details: String,
    /// Previous hash, hex.
    pub prev_hash: String,
    /// Entry hash, hex.
    pub hash: String,
    /// Encoding version (1 or 2).
    #[serde(default = "version_one")]
    pub version: i64,
    /// Version 2: salt of the commitment to the personal fields (gone once redacted).
    #[serde(default)]
    pub pii_salt: Option<String>,
    /// Version 2: the commitment.
    #[serde(default)]
    pub pii_commitment: Option<String>,
    /// Version 2: when the personal fields were erased.
    #[serde(default)]
    pub redacted_at: Option<i64>,
}

fn version_one() -> i64 {
    1
}

impl From<&AuditRecord> for ExportedEntry {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            time: r.time,
            action: r.action.clone(),
            outcome: r.outcome.clone(),
            actor: r.actor.clone(),
            target: r.target.clone(),
            ip: r.ip.clone(),
            user_agent: r.user_agent.clone(),
            details: r.details.clone(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
            version: r.version,
            pii_salt: r.pii_salt.clone(),
            pii_commitment: r.pii_commitment.clone(),
            redacted_at: r.redacted_at,
        }
    }
}

impl ExportedEntry {
    fn into_record(self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            time: self.time,
            action: self.action,
            outcome: self.outcome,
            actor: self.actor,
            target: self.target,
            ip: self.ip,
            user_agent: self.user_agent,
            details: self.details,
            prev_hash: self.prev_hash,
            hash: self.hash,
            version: self.version,
            pii_salt: self.pii_salt,
            pii_commitment: self.pii_commitment,
            redacted_at: self.redacted_at,
        }
    }
}
