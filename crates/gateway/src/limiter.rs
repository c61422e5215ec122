//! Local GCRA rate limiting (the fallback when Redis is not configured or is down).

use super::*;

/// When rate limits count time (seconds since start-up, sub-second).
pub(super) fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A GCRA decision: allowed with this many left, or refused for this long.
pub(super) enum Gcra {
    Allow { remaining: u64, reset: u64 },
    Deny { retry_after: u64 },
}

/// Most keys one route's local limiter holds. Past it (after a sweep of the expired ones),
/// new keys share one cell: a flood of fresh keys is limited together and memory stays
/// bounded, while the keys already known keep their own cells.
pub(super) const MAX_KEYS: usize = 100_000;
/// The cell new keys share when the map is full.
const OVERFLOW_KEY: &str = "\u{0}overflow";

/// One route's GCRA cells: a theoretical arrival time per key.
#[derive(Debug, Default)]
pub(super) struct LocalLimiter {
    cells: HashMap<String, f64>,
    /// When expired cells were last removed; at most once a second.
    last_sweep: f64,
}

impl LocalLimiter {
    /// GCRA (generic cell rate algorithm): a request is allowed when it does not push its
    /// key's theoretical arrival time more than one window ahead.
    pub(super) fn rate(&mut self, key: &str, requests: u32, window: u32, now: f64) -> Gcra {
        let window = f64::from(window);
        let t = window / f64::from(requests.max(1));
        if self.cells.len() >= MAX_KEYS && now - self.last_sweep >= 1.0 {
            self.cells.retain(|_, tat| *tat > now);
            self.last_sweep = now;
        }
        let key = if self.cells.len() >= MAX_KEYS && !self.cells.contains_key(key) {
            OVERFLOW_KEY
        } else {
            key
        };
        let tat = self.cells.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + t;
        if new_tat - now > window + 1e-9 {
            return Gcra::Deny {
                retry_after: (new_tat - window - now).ceil().max(1.0) as u64,
            };
        }
        self.cells.insert(key.to_owned(), new_tat);
        Gcra::Allow {
            remaining: ((window - (new_tat - now)) / t).floor().max(0.0) as u64,
            reset: (new_tat - now).ceil() as u64,
        }
    }

    /// How many cells are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cells.len()
    }
}

impl Route {
    /// One GCRA step on this node.
    pub(super) fn rate(&self, key: &str, requests: u32, window: u32) -> Gcra {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .rate(key, requests, window, clock())
    }
}

/// The rate-limit key of a client address: IPv6 by its /64, as the sign-in throttle does,
/// so that one site rotating through its own addresses is one client.
pub(super) fn ip_key(ip: Option<std::net::IpAddr>) -> String {
    ip.map_or_else(
        || "ip:unknown".to_owned(),
        portcullis_core::throttle::ip_key,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_bounded_and_new_keys_share_a_cell_when_full() {
        let mut l = LocalLimiter::default();
        for i in 0..MAX_KEYS {
            assert!(matches!(
                l.rate(&format!("k{i}"), 1, 60, 0.0),
                Gcra::Allow { .. }
            ));
        }
        assert_eq!(l.len(), MAX_KEYS);
        // Full of live cells: the newcomers share one, which allows one request a minute.
        assert!(matches!(l.rate("new-1", 1, 60, 0.5), Gcra::Allow { .. }));
        assert!(matches!(l.rate("new-2", 1, 60, 0.5), Gcra::Deny { .. }));
        assert!(l.len() <= MAX_KEYS + 1);
        // A known key keeps its own cell.
        assert!(matches!(l.rate("k7", 1, 60, 0.5), Gcra::Deny { .. }));
        // Once the cells expire, one sweep frees them.
        assert!(matches!(l.rate("new-3", 1, 60, 120.0), Gcra::Allow { .. }));
        assert!(l.len() < 10, "{}", l.len());
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a = ip_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = ip_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()));
        let c = ip_key(Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ip_key(Some("203.0.113.5".parse().unwrap())),
            "ip:203.0.113.5"
        );
    }
}
