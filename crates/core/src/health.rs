//! Readiness: whether the database answers and the revocation view is current. When either
//! is not, every authenticated request fails closed.

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared readiness flags, flipped by the background sync task.
#[derive(Debug, Default)]
pub struct Health {
    db_ok: AtomicBool,
    revocations_current: AtomicBool,
}

impl Health {
    /// Records the outcome of the latest database round trip.
    pub fn set_db(&self, ok: bool) {
        self.db_ok.store(ok, Ordering::SeqCst);
    }

    /// Records whether the local revocation view is known to be complete.
    pub fn set_revocations_current(&self, ok: bool) {
        self.revocations_current.store(ok, Ordering::SeqCst);
    }

    /// Database reachable.
    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::SeqCst)
    }

    /// Safe to authenticate requests.
    pub fn ready(&self) -> bool {
        self.db_ok() && self.revocations_current.load(Ordering::SeqCst)
    }
}
