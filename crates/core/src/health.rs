//! Readiness: whether the database answers and the revocation view is current. When either
//! is not, every authenticated request fails closed.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How old the last successful revocation sync may be before requests fail closed. The sync
/// runs every 500 ms; a database that hangs instead of erroring is caught by this.
pub const MAX_SYNC_AGE: Duration = Duration::from_secs(3);

/// Monotonic origin of the sync timestamps below.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

fn millis_since_origin() -> u64 {
    u64::try_from(ORIGIN.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Shared readiness flags, set by the background sync task. Read on every authenticated
/// request, so lock-free.
#[derive(Debug, Default)]
pub struct Health {
    db_ok: AtomicBool,
    /// Milliseconds since [`ORIGIN`] of the last successful sync, plus one; 0 = none.
    last_sync: AtomicU64,
}

impl Health {
    /// Records the outcome of the latest database round trip.
    pub fn set_db(&self, ok: bool) {
        self.db_ok.store(ok, Ordering::SeqCst);
    }

    /// Records a complete, successful revocation sync.
    pub fn synced(&self) {
        self.last_sync
            .store(millis_since_origin() + 1, Ordering::SeqCst);
    }

    /// Forgets the last sync: requests fail closed until the next one succeeds.
    pub fn sync_failed(&self) {
        self.last_sync.store(0, Ordering::SeqCst);
    }

    /// Database reachable.
    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::SeqCst)
    }

    /// Safe to authenticate requests: the database answered and the revocation view was
    /// brought up to date recently.
    pub fn ready(&self) -> bool {
        let last = self.last_sync.load(Ordering::SeqCst);
        let max_age = u64::try_from(MAX_SYNC_AGE.as_millis()).unwrap_or(u64::MAX);
        let fresh = last != 0 && (millis_since_origin() + 1).saturating_sub(last) <= max_age;
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
