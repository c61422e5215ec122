//! What the built-in rules found in a value, remembered across requests. Clients send the
//! same `User-Agent`, `Accept` and `Host` on every request, and inspecting the headers was
//! more than half of an ordinary GET's inspection (`cargo bench -p portcullis-waf`); an
//! API's requests repeat their paths and most of their arguments (`page=2`, `sort=price`)
//! too. Headers and the request's data (arguments, cookies, paths) have a memo each.
//!
//! - **Keyed by a hash, not by the value.** An entry is found by a 64-bit keyed hash of the
//!   paranoia level, the kind, the place and the value: SipHash with a random key (std's
//!   `RandomState`), so no value is kept (a header can carry a credential) and a request
//!   cannot aim a collision at an entry whose verdict it wants: without the key, a value
//!   made up to land on one of the [`MAX_ENTRIES`] entries does so with odds of 2^-51 a
//!   try. (A second hash as a check doubled the hashing, a third of an ordinary GET's
//!   inspection, for odds already out of reach.)
//! - **What is kept:** the indexes of the built-in rules that matched, in the order they
//!   matched, replayed through the same exclusions and scoring as a fresh inspection.
//!   OWASP CRS rules from `crs_dir` are not remembered (a chained rule can read other
//!   places of the request).
//! - **Bounded:** [`MAX_ENTRIES`] entries of values up to [`MAX_VALUE`] bytes, in
//!   [`SHARDS`] shards each under its own lock (so that many worker threads do not queue on
//!   one); a full shard is emptied, so a flood of distinct values costs a hash per header
//!   and no memory. The memo belongs to its engine, so a reloaded engine starts with none.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;

use crate::request::{Kind, Kinds, Target};

/// Entries at most.
pub(crate) const MAX_ENTRIES: usize = 8192;
/// Shards, each with its own lock and an equal share of the entries.
pub(crate) const SHARDS: usize = 16;
/// The longest value remembered, in bytes.
pub(crate) const MAX_VALUE: usize = 1024;

/// One memo of an engine: of the header kinds ([`HEADERS`]), or of the request's data
/// ([`DATA`]), kept apart so that a flood of distinct arguments never empties what is known
/// of the headers every request repeats.
#[derive(Debug)]
pub(crate) struct Memo {
    kinds: Kinds,
    key: RandomState,
    shards: [Mutex<Entries>; SHARDS],
}

/// The kinds of the header memo.
pub(crate) const HEADERS: Kinds =
    Kind::Headers as u16 | Kind::UaReferer as u16 | Kind::HeaderNames as u16 | Kind::Method as u16;

/// The kinds of the data memo: arguments and their names, cookies, file names, the path
/// and the request target (not whole bodies).
pub(crate) const DATA: Kinds = Kind::Args as u16
    | Kind::ArgNames as u16
    | Kind::Cookies as u16
    | Kind::CookieNames as u16
    | Kind::FileNames as u16
    | Kind::Path as u16
    | Kind::RawUri as u16;

/// Keyed hash -> the matching rules' indexes. The key is a keyed hash already: the map uses
/// it as it is rather than hash it again.
type Entries = HashMap<u64, Box<[u32]>, std::hash::BuildHasherDefault<AsIs>>;

/// A [`Hasher`] for keys that are random hashes already: the `u64` itself.
#[derive(Default)]
pub(crate) struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else is folded in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Where a target's verdict is filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl Memo {
    /// A memo of `kinds`.
    pub(crate) fn new(kinds: Kinds) -> Self {
        Self {
            kinds,
            key: Default::default(),
            shards: Default::default(),
        }
    }

    /// The key of `target` at paranoia `level`, if its verdicts are remembered here: a
    /// value of this memo's kinds up to [`MAX_VALUE`] bytes.
    pub(crate) fn key(&self, level: u8, target: &Target) -> Option<Key> {
        if target.kind as u16 & self.kinds == 0 || target.value.len() > MAX_VALUE {
            return None;
        }
        let mut h = self.key.build_hasher();
        level.hash(&mut h);
        (target.kind as u16).hash(&mut h);
        target.location.hash(&mut h);
        target.value.hash(&mut h);
        Some(Key(h.finish()))
    }

    /// The rules that matched the value filed under `key`, if known.
    pub(crate) fn get(&self, key: Key) -> Option<Box<[u32]>> {
        let entries = self.shard(key).lock().ok()?;
        entries.get(&key.0).cloned()
    }

    /// Files the rules that matched under `key`.
    pub(crate) fn put(&self, key: Key, hits: &[u32]) {
        let Ok(mut entries) = self.shard(key).lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES / SHARDS && !entries.contains_key(&key.0) {
            entries.clear();
        }
        entries.insert(key.0, hits.into());
    }

    /// The shard of `key`: bits of the hash that the shard's map uses for neither its
    /// buckets (the low bits) nor its tags (the top seven).
    fn shard(&self, key: Key) -> &Mutex<Entries> {
        let i = usize::try_from((key.0 >> 40) % SHARDS as u64).unwrap_or(0);
        self.shards.get(i).unwrap_or(&self.shards[0])
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|e| e.len()).unwrap_or_default())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: Kind, location: &str, value: &str) -> Target<'static> {
        Target::new(kind, location, value)
    }

    #[test]
    fn headers_are_remembered_by_level_place_and_value() {
        let memo = Memo::new(HEADERS);
        let ua = target(Kind::UaReferer, "REQUEST_HEADERS:User-Agent", "curl/8");
        let Some(key) = memo.key(1, &ua) else {
            panic!("a header is remembered");
        };
        assert_eq!(memo.get(key), None);
        memo.put(key, &[3, 1]);
        assert_eq!(memo.get(key).as_deref(), Some(&[3, 1][..]));
        // Another level, place, kind or value is another entry.
        for other in [
            memo.key(2, &ua),
            memo.key(
                1,
                &target(Kind::UaReferer, "REQUEST_HEADERS:Referer", "curl/8"),
            ),
            memo.key(
                1,
                &target(Kind::Headers, "REQUEST_HEADERS:User-Agent", "curl/8"),
            ),
            memo.key(
                1,
                &target(Kind::UaReferer, "REQUEST_HEADERS:User-Agent", "curl/9"),
            ),
        ] {
            let Some(other) = other else {
                panic!("a header is remembered");
            };
            assert_ne!(other, key);
            assert_eq!(memo.get(other), None);
        }
        // Arguments, cookies and whole bodies are not (the data memo has the first two),
        // nor long values.
        let data = Memo::new(DATA);
        for t in [
            target(Kind::Args, "ARGS:q", "x"),
            target(Kind::Cookies, "REQUEST_COOKIES:s", "x"),
        ] {
            assert_eq!(memo.key(1, &t), None);
            assert!(data.key(1, &t).is_some());
        }
        assert_eq!(data.key(1, &target(Kind::Body, "REQUEST_BODY", "x")), None);
        assert_eq!(data.key(1, &ua), None);
        let long = "a".repeat(MAX_VALUE + 1);
        assert_eq!(
            memo.key(1, &target(Kind::Headers, "REQUEST_HEADERS:X", &long)),
            None
        );
    }

    #[test]
    fn a_full_memo_is_emptied_rather_than_grown() {
        let memo = Memo::new(HEADERS);
        for i in 0..10 * MAX_ENTRIES {
            let t = target(Kind::Headers, "REQUEST_HEADERS:X-Id", &i.to_string());
            if let Some(key) = memo.key(1, &t) {
                memo.put(key, &[]);
            }
            assert!(memo.len() <= MAX_ENTRIES);
        }
        // Each shard was emptied at least once and kept filling.
        assert!(memo.len() > MAX_ENTRIES / 4, "{}", memo.len());
    }

    #[test]
    fn two_engines_never_share_keys() {
        let t = target(Kind::Headers, "REQUEST_HEADERS:Accept", "*/*");
        assert_ne!(Memo::new(HEADERS).key(1, &t), Memo::new(HEADERS).key(1, &t));
    }
}
