//! The audit log as a transparency log: an RFC 9162 Merkle tree over the audit entries,
//! inclusion and consistency proofs, and checkpoints in the C2SP `tlog-checkpoint` format
//! signed as C2SP `signed-note`s with Ed25519.
//!
//! Leaf `i` (0-based) is audit entry `seq = i + 1`; its leaf input is the entry's 32-byte
//! chain hash, which commits to the entry's content and to every entry before it. Hashing
//! follows RFC 9162 section 2.1.1: `SHA-256(0x00 || leaf)` for leaves and
//! `SHA-256(0x01 || left || right)` for interior nodes.
//!
//! Only perfect, aligned subtrees are stored (`node(level, idx)` covers leaves
//! `[idx * 2^level, (idx + 1) * 2^level)`); any root or proof is assembled from O(log² n) of
//! them through a [`NodeSource`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    let mut k = 1u64;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Where stored perfect subtrees come from.
pub trait NodeSource {
    /// The hash of the perfect subtree `(level, idx)`, if stored.
    fn node(&mut self, level: u32, idx: u64) -> Option<Hash>;
}

impl NodeSource for HashMap<(u32, u64), Hash> {
    fn node(&mut self, level: u32, idx: u64) -> Option<Hash> {
        self.get(&(level, idx)).copied()
    }
}

/// Why a root or proof cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A stored node the computation needs is missing.
    #[error("tree node ({0}, {1}) is missing")]
    MissingNode(u32, u64),
    /// The request does not fit the tree (index beyond the size, sizes reversed...).
    #[error("{0}")]
    OutOfRange(&'static str),
}

/// `MTH(D[start:end])` of RFC 9162, from perfect subtrees.
pub fn subtree_root(src: &mut dyn NodeSource, start: u64, end: u64) -> Result<Hash, TreeError> {
    let n = end.saturating_sub(start);
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return src
            .node(level, start >> level)
            .ok_or(TreeError::MissingNode(level, start >> level));
    }
    let k = split(n);
    let left = subtree_root(src, start, start + k)?;
    let right = subtree_root(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root(src: &mut dyn NodeSource, size: u64) -> Result<Hash, TreeError> {
    subtree_root(src, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1).
pub fn inclusion_proof(
    src: &mut dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::OutOfRange(
            "the leaf is not in a tree of that size",
        ));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    src: &mut dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(subtree_root(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(subtree_root(src, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `first` and `second` leaves (RFC 9162 2.1.4.1).
pub fn consistency_proof(
    src: &mut dyn NodeSource,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, TreeError> {
    if first == 0 || first > second {
        return Err(TreeError::OutOfRange(
            "consistency needs 0 < from <= to (every tree is consistent with the empty one)",
        ));
    }
    let mut proof = Vec::new();
    subproof(src, first, 0, second, true, &mut proof)?;
    Ok(proof)
}

fn subproof(
    src: &mut dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree_root(src, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, whole, out)?;
        out.push(subtree_root(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(subtree_root(src, start, start + k)?);
    }
    Ok(())
}

/// Checks an inclusion proof (RFC 9162 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Checks a consistency proof (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

/// Builds perfect subtrees as leaves are appended: the right edge of the tree is kept as a
/// stack of perfect subtrees (one per set bit of the size), merged like a binary counter.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves, from its stored perfect subtrees.
    pub fn load(src: &mut dyn NodeSource, size: u64) -> Result<Self, TreeError> {
        let mut stack = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                let idx = start >> level;
                let h = src
                    .node(level, idx)
                    .ok_or(TreeError::MissingNode(level, idx))?;
                stack.push((level, h));
                start += 1u64 << level;
            }
        }
        Ok(Self { size, stack })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns every perfect subtree it completes as
    /// `(level, idx, hash)`, the leaf itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut made = Vec::with_capacity(2);
        self.push_with(leaf, &mut |l, i, h| made.push((l, i, h)));
        made
    }

    /// As [`Frontier::push`], handing each completed subtree to `made` instead.
    pub fn push_with(&mut self, leaf: Hash, made: &mut dyn FnMut(u32, u64, Hash)) {
        let index = self.size;
        made(0, index, leaf);
        let mut cur = (0u32, leaf);
        while let Some(&(level, left)) = self.stack.last() {
            if level != cur.0 {
                break;
            }
            self.stack.pop();
            let h = node_hash(&left, &cur.1);
            let level = level + 1;
            made(level, index >> level, h);
            cur = (level, h);
        }
        self.stack.push(cur);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, h) in it {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

// ---- Checkpoints: C2SP tlog-checkpoint, signed per C2SP signed-note (Ed25519). ----

/// The signature algorithm byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// A checkpoint's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (unique name of the log).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each on its own line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a note body (extension lines are ignored).
    pub fn parse_body(body: &str) -> Option<Self> {
        let mut lines = body.strip_suffix('\n')?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty())?.to_owned();
        let size_line = lines.next()?;
        if size_line.len() > 1 && size_line.starts_with('0') {
            return None;
        }
        let size = size_line.parse().ok()?;
        let root: Hash = STANDARD.decode(lines.next()?).ok()?.try_into().ok()?;
        Some(Self { origin, size, root })
    }
}

/// The Ed25519 key that signs checkpoints, with its signed-note name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The 4-byte key id of a signed-note Ed25519 key: SHA-256(name || '\n' || 0x01 || key)[..4].
pub fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    id
}

impl NoteSigner {
    /// A signer named `name` from a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Self {
        Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string: `<name>+<hex key id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            STANDARD.encode(raw)
        )
    }

    /// Signs `body` (which ends in a newline) into a signed note.
    pub fn sign(&self, body: &str) -> String {
        let public = self.key.verifying_key();
        let sig = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, &public).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A parsed verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

/// Why a signed note does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a signed note.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// No signature by the expected key.
    #[error("no signature by key {0}")]
    NoSignature(String),
    /// A signature by the expected key that does not verify.
    #[error("signature by {0} does not verify (note altered?)")]
    BadSignature(String),
    /// The verifier key string is malformed.
    #[error("malformed verifier key")]
    BadKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 || key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey);
        };
        let raw = STANDARD.decode(b64).map_err(|_| NoteError::BadKey)?;
        let (alg, key) = raw.split_first().ok_or(NoteError::BadKey)?;
        if *alg != ALG_ED25519 {
            return Err(NoteError::BadKey);
        }
        let key: [u8; 32] = key.try_into().map_err(|_| NoteError::BadKey)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::BadKey)?;
        let id: [u8; 4] = hex::decode(id_hex)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(NoteError::BadKey)?;
        if id != key_id(name, &key) || name.is_empty() {
            return Err(NoteError::BadKey);
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Verifies a signed note and returns its body.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note
            .find("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (body, sigs) = note.split_at(split + 1);
        let sigs = sigs
            .strip_prefix('\n')
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature lines must end in a newline",
            ));
        }
        let mut seen = false;
        for line in sigs.lines() {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
                "signature line does not start with an em dash",
            ))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line has no signature"))?;
            if name != self.name {
                continue;
            }
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if blob.len() != 68 || blob.get(..4) != Some(&self.id[..]) {
                continue;
            }
            seen = true;
            let sig = blob
                .get(4..)
                .and_then(|s| ed25519_dalek::Signature::from_slice(s).ok())
                .ok_or(NoteError::Malformed("signature has the wrong length"))?;
            if self.key.verify(body.as_bytes(), &sig).is_ok() {
                return Ok(body);
            }
        }
        if seen {
            Err(NoteError::BadSignature(self.name.clone()))
        } else {
            Err(NoteError::NoSignature(self.name.clone()))
        }
    }
}

// ---- Verifying a whole log in one pass ----

/// Where a log stops verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBreak {
    /// The first entry affected (for a tree node: the first leaf it covers; for a checkpoint:
    /// its tree size).
    pub seq: i64,
    /// What is wrong, naming the entry, node or checkpoint.
    pub reason: String,
}

/// Verifies a log entry by entry: the hash chain, the Merkle tree it implies, and
/// checkpoints as their tree sizes are reached.
#[derive(Debug, Default)]
pub struct LogVerifier {
    chain: crate::audit::ChainVerifier,
    frontier: Frontier,
    checkpoints_verified: u64,
}

impl LogVerifier {
    /// Checks the next entry; returns the tree nodes it completes.
    pub fn push(
        &mut self,
        r: &crate::audit::AuditRecord,
    ) -> Result<Vec<(u32, u64, Hash)>, LogBreak> {
        self.chain.push(r).map_err(|b| LogBreak {
            seq: b.seq,
            reason: format!("entry {}: {}", b.seq, b.reason),
        })?;
        let h = crate::audit::decode_hash(&r.hash).unwrap_or_default();
        Ok(self.frontier.push(leaf_hash(&h)))
    }

    /// Checks the next entries, in order, exactly as [`LogVerifier::push`] one by one would
    /// (same first break, same reason), but with the per-entry work (each entry's content
    /// against its hash, given its stored link, and its leaf hash) spread over `threads`
    /// threads. Only the links and the tree's frontier are then walked in order. Every
    /// tree node the entries complete is passed to `made`.
    pub fn push_batch(
        &mut self,
        records: &[crate::audit::AuditRecord],
        threads: usize,
        made: &mut dyn FnMut(u32, u64, Hash),
    ) -> Result<(), LogBreak> {
        /// One entry checked on its own: its stored link, and its hash and leaf hash if the
        /// content matches it.
        type Checked = (Option<Hash>, Result<(Hash, Hash), &'static str>);
        fn check(r: &crate::audit::AuditRecord) -> Checked {
            let prev = crate::audit::decode_hash(&r.prev_hash);
            let own = match prev {
                None => Err("previous-hash link broken (entry removed, reordered or altered)"),
                Some(p) => crate::audit::expected_hash(r, &p).and_then(|computed| {
                    if crate::audit::decode_hash(&r.hash) == Some(computed) {
                        Ok((computed, leaf_hash(&computed)))
                    } else {
                        Err("entry content does not match its hash (altered)")
                    }
                }),
            };
            (prev, own)
        }
        let threads = threads.clamp(1, 16);
        let checked: Vec<Checked> = if threads == 1 || records.len() < 512 {
            records.iter().map(check).collect()
        } else {
            let per = records.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = records
                    .chunks(per)
                    .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<_>>()))
                    .collect();
                let mut all = Vec::with_capacity(records.len());
                for part in parts {
                    // A panic in a worker is a bug; treat its entries as unverifiable.
                    match part.join() {
                        Ok(v) => all.extend(v),
                        Err(_) => all.resize(all.len() + per, (None, Err("verification failed"))),
                    }
                }
                all
            })
        };
        for (r, (prev, own)) in records.iter().zip(checked) {
            let at = |reason: &str| LogBreak {
                seq: r.seq,
                reason: format!("entry {}: {reason}", r.seq),
            };
            let expected = self.chain.entries() + 1;
            if r.seq != expected {
                let reason = if r.seq > expected {
                    "entry missing (gap in sequence)"
                } else {
                    "entries out of order"
                };
                return Err(LogBreak {
                    seq: expected,
                    reason: format!("entry {expected}: {reason}"),
                });
            }
            if prev != Some(self.chain.prev()) {
                return Err(at(
                    "previous-hash link broken (entry removed, reordered or altered)",
                ));
            }
            let (h, leaf) = own.map_err(at)?;
            self.chain.advance(h);
            self.frontier.push_with(leaf, made);
        }
        Ok(())
    }

    /// Entries verified.
    pub fn entries(&self) -> u64 {
        self.frontier.size()
    }

    /// The chain head, hex.
    pub fn head(&self) -> String {
        self.chain.head()
    }

    /// The tree root so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Checkpoints verified.
    pub fn checkpoints_verified(&self) -> u64 {
        self.checkpoints_verified
    }

    /// Checks a signed checkpoint whose tree size is the number of entries pushed so far.
    pub fn check_checkpoint(
        &mut self,
        note: &str,
        verifier: &NoteVerifier,
        origin: &str,
    ) -> Result<(), LogBreak> {
        let size = self.entries();
        let seq = i64::try_from(size).unwrap_or(i64::MAX);
        let fail = |why: String| LogBreak {
            seq,
            reason: format!("checkpoint {size}: {why}"),
        };
        let body = verifier.open(note).map_err(|e| fail(e.to_string()))?;
        let cp = Checkpoint::parse_body(body).ok_or_else(|| fail("malformed body".into()))?;
        if cp.origin != origin {
            return Err(fail(format!(
                "origin is `{}`, expected `{origin}`",
                cp.origin
            )));
        }
        if cp.size != size {
            return Err(fail(format!("body says tree size {}", cp.size)));
        }
        if cp.root != self.root() {
            return Err(fail(
                "root hash does not match the entries (log rewritten since it was signed)".into(),
            ));
        }
        self.checkpoints_verified += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight leaves of the RFC 6962 / RFC 9162 reference test tree (used by Certificate
    /// Transparency and transparency-dev/merkle).
    fn leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap_or_default())
        .collect()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn tree(n: usize) -> (Frontier, HashMap<(u32, u64), Hash>) {
        let mut f = Frontier::default();
        let mut nodes = HashMap::new();
        for leaf in leaves().iter().cycle().take(n) {
            for (l, i, h) in f.push(leaf_hash(leaf)) {
                nodes.insert((l, i), h);
            }
        }
        (f, nodes)
    }

    fn hx(h: &Hash) -> String {
        hex::encode(h)
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        assert_eq!(
            hx(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, want) in ROOTS.iter().enumerate() {
            let (f, mut nodes) = tree(n + 1);
            assert_eq!(hx(&f.root()), *want, "frontier root of {}", n + 1);
            let (_, mut all) = tree(8);
            assert_eq!(hx(&root(&mut all, n as u64 + 1).unwrap_or_default()), *want);
            assert_eq!(
                hx(&root(&mut nodes, n as u64 + 1).unwrap_or_default()),
                *want
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        let (_, mut nodes) = tree(8);
        let p = inclusion_proof(&mut nodes, 0, 8).unwrap_or_default();
        assert_eq!(
            p.iter().map(hx).collect::<Vec<_>>(),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        let (_, mut nodes) = tree(8);
        let p = consistency_proof(&mut nodes, 6, 8).unwrap_or_default();
        assert_eq!(
            p.iter().map(hx).collect::<Vec<_>>(),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    #[test]
    fn every_proof_verifies_and_no_wrong_one_does() {
        let n = 37u64;
        let (_, mut nodes) = tree(n as usize);
        let roots: Vec<Hash> = (1..=n)
            .map(|s| root(&mut nodes, s).unwrap_or_default())
            .collect();
        let leaf_hashes: Vec<Hash> = leaves()
            .iter()
            .cycle()
            .take(n as usize)
            .map(|l| leaf_hash(l))
            .collect();
        for size in 1..=n {
            let r = roots[(size - 1) as usize];
            for i in 0..size {
                let p = inclusion_proof(&mut nodes, i, size).unwrap_or_default();
                let leaf = leaf_hashes[i as usize];
                assert!(verify_inclusion(i, size, &leaf, &p, &r), "{i} in {size}");
                assert!(!verify_inclusion(i, size, &leaf_hash(b"x"), &p, &r));
                if size > 1 {
                    assert!(
                        !verify_inclusion((i + 1) % size, size, &leaf, &p, &r)
                            || leaf == leaf_hashes[((i + 1) % size) as usize]
                    );
                }
            }
            for first in 1..=size {
                let p = consistency_proof(&mut nodes, first, size).unwrap_or_default();
                let fr = roots[(first - 1) as usize];
                assert!(
                    verify_consistency(first, size, &fr, &r, &p),
                    "{first} -> {size}"
                );
                if first < size {
                    assert!(!verify_consistency(first, size, &leaf_hash(b"x"), &r, &p));
                    assert!(!verify_consistency(first, size, &fr, &leaf_hash(b"x"), &p));
                }
            }
        }
        assert!(inclusion_proof(&mut nodes, 5, 5).is_err());
        assert!(consistency_proof(&mut nodes, 0, 5).is_err());
        assert!(consistency_proof(&mut nodes, 6, 5).is_err());
    }

    #[test]
    fn frontier_reloads_from_stored_nodes() {
        let (f, mut nodes) = tree(13);
        let g = Frontier::load(&mut nodes, 13).unwrap_or_default();
        assert_eq!(g.root(), f.root());
        assert_eq!(g.size(), 13);
    }

    #[test]
    fn signed_notes_match_the_go_reference() {
        // golang.org/x/mod/sumdb/note's documented example key and note.
        let skey = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let raw = STANDARD.decode(skey).unwrap_or_default();
        let seed: [u8; 32] = raw
            .get(1..)
            .unwrap_or_default()
            .try_into()
            .unwrap_or([0; 32]);
        let signer = NoteSigner::new("PeterNeumann", &seed);
        assert_eq!(
            signer.verifier_key(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let note = signer.sign(text);
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
        let v = NoteVerifier::parse(&signer.verifier_key()).map_err(|e| e.to_string());
        let v = v.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(v.open(&note), Ok(text));
        let forged = note.replace("cryptography", "cryptographx");
        assert_eq!(
            v.open(&forged),
            Err(NoteError::BadSignature("PeterNeumann".into()))
        );
        let other = NoteSigner::new("Other", &[7; 32]);
        assert_eq!(
            v.open(&other.sign(text)),
            Err(NoteError::NoSignature("PeterNeumann".into()))
        );
    }

    #[test]
    fn checkpoint_bodies_round_trip() {
        let cp = Checkpoint {
            origin: "example.com/audit".into(),
            size: 42,
            root: leaf_hash(b"r"),
        };
        let body = cp.body();
        assert_eq!(body.lines().count(), 3);
        assert_eq!(Checkpoint::parse_body(&body), Some(cp));
        assert_eq!(Checkpoint::parse_body("o\n042\nAAAA\n"), None);
        assert_eq!(Checkpoint::parse_body("o\n1\n"), None);
    }
}
