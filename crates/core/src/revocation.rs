//! The in-memory view of revoked sessions, so that checking an access token needs no
//! database round trip. Kept current by the sync task (polling, plus push where the backend
//! has it); entries older than the longest access-token lifetime are dropped, since their
//! tokens have expired anyway.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::clock::UnixTime;

/// Revoked session ids and when they were revoked.
#[derive(Debug, Default)]
pub struct RevocationCache {
    revoked: RwLock<HashMap<String, UnixTime>>,
}

impl RevocationCache {
    /// Marks a session revoked.
    pub fn insert(&self, sid: &str, at: UnixTime) {
        if let Ok(mut m) = self.revoked.write() {
            m.entry(sid.to_owned()).or_insert(at);
        }
    }

    /// Whether the session is revoked. A poisoned lock answers "revoked": fail closed.
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.revoked.read().map_or(true, |m| m.contains_key(sid))
    }

    /// Forgets revocations older than `before`.
    pub fn prune(&self, before: UnixTime) {
        if let Ok(mut m) = self.revoked.write() {
            m.retain(|_, at| *at >= before);
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.revoked.read().map_or(0, |m| m.len())
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_check_prune() {
        let c = RevocationCache::default();
        c.insert("a", 10);
        c.insert("b", 20);
        assert!(c.is_revoked("a") && c.is_revoked("b") && !c.is_revoked("c"));
        c.prune(15);
        assert!(!c.is_revoked("a") && c.is_revoked("b"));
    }
}
