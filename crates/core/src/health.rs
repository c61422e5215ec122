//! Readiness: whether the database answers and the revocation view is current. When either
//! is not, every authenticated request fails closed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How old the last successful revocation sync may be before requests fail closed. The sync
/// runs every 500 ms; a database that hangs instead of erroring is caught by this.
pub const MAX_SYNC_AGE: Duration = Duration::from_secs(3);

/// Shared readiness flags, set by the background sync task.
#[derive(Debug, Default)]
pub struct Health {
    db_ok: AtomicBool,
    last_sync: Mutex<Option<Instant>>,
}

impl Health {
    /// Records the outcome of the latest database round trip.
    pub fn set_db(&self, ok: bool) {
        self.db_ok.store(ok, Ordering::SeqCst);
    }

    /// Records a complete, successful revocation sync.
    pub fn synced(&self) {
        if let Ok(mut t) = self.last_sync.lock() {
            *t = Some(Instant::now());
        }
    }

    /// Forgets the last sync: requests fail closed until the next one succeeds.
    pub fn sync_failed(&self) {
        if let Ok(mut t) = self.last_sync.lock() {
            *t = None;
        }
    }

    /// Database reachable.
    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::SeqCst)
    }

    /// Safe to authenticate requests: the database answered and the revocation view was
    /// brought up to date recently.
    pub fn ready(&self) -> bool {
        let fresh = self
            .last_sync
            .lock()
            .map(|t| t.is_some_and(|t| t.elapsed() <= MAX_SYNC_AGE))
            .unwrap_or(false);
        self.db_ok() && fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_synced_and_after_failure() {
        let h = Health::default();
        assert!(!h.ready());
        h.set_db(true);
        assert!(!h.ready());
        h.synced();
        assert!(h.ready());
        h.sync_failed();
        assert!(!h.ready());
    }
}
