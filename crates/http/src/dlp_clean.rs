//! The texts DLP masks in logs that held nothing to mask, remembered by a keyed hash.
//! Logs and audit events write the same User-Agents and, for an API, much the same paths
//! on every request, and each is scanned before it is written (black-box pass 11, B11-9):
//! with a gitleaks rules file a User-Agent took 11 µs to scan, a quarter of a proxied
//! request. A text is scanned once; a text with something to mask is never remembered.
//!
//! Bounded: [`SHARDS`] shards of at most [`PER_SHARD`] hashes, each under its own lock; a
//! full shard is emptied. The hash is SipHash with a random key (std's `RandomState`): a
//! text with a secret cannot be made to land on a clean one's entry without it (odds of
//! 2^-51 a try), and the worst it could do is keep its own secret in a log line.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Shards, each with its own lock.
const SHARDS: usize = 16;
/// Hashes a shard keeps at most.
const PER_SHARD: usize = 512;
/// The longest text remembered (longer ones are scanned every time).
const MAX_TEXT: usize = 2048;

/// Texts known to hold nothing to mask.
#[derive(Debug, Default)]
pub(crate) struct Clean {
    key: RandomState,
    shards: [Mutex<HashSet<u64>>; SHARDS],
}

impl Clean {
    /// The hash `text` is remembered by, when it may be.
    pub(crate) fn key(&self, text: &str) -> Option<u64> {
        (text.len() <= MAX_TEXT).then(|| self.key.hash_one(text))
    }

    /// Whether the text of `key` is known to hold nothing to mask.
    pub(crate) fn known(&self, key: u64) -> bool {
        self.shard(key).lock().is_ok_and(|s| s.contains(&key))
    }

    /// Remembers that the text of `key` holds nothing to mask.
    pub(crate) fn remember(&self, key: u64) {
        if let Ok(mut s) = self.shard(key).lock() {
            if s.len() >= PER_SHARD {
                s.clear();
            }
            s.insert(key);
        }
    }

    fn shard(&self, key: u64) -> &Mutex<HashSet<u64>> {
        let i = usize::try_from(key >> 60).unwrap_or(0) % SHARDS;
        self.shards.get(i).unwrap_or(&self.shards[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_texts_are_remembered_within_bounds() {
        let c = Clean::default();
        let ua = c.key("curl/8").unwrap();
        assert!(!c.known(ua));
        c.remember(ua);
        assert!(c.known(ua));
        assert!(c.key(&"x".repeat(MAX_TEXT + 1)).is_none());
        for i in 0..20 * SHARDS * PER_SHARD {
            c.remember(c.key(&i.to_string()).unwrap());
        }
        let held: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * PER_SHARD, "{held}");
        // Another memo has another key.
        assert_ne!(Clean::default().key("curl/8"), c.key("curl/8"));
    }
}
