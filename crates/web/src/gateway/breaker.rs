//! Circuit breakers: one per upstream of a route, opened by upstream faults.

use super::*;

/// The circuit breaker of one upstream.
#[derive(Debug, Clone, Default)]
pub(super) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// Outcomes of the latest requests (true: failed), for the error-rate threshold.
    recent: std::collections::VecDeque<bool>,
}

impl Route {
    /// The next upstream whose breaker lets a request through, if any.
    pub(super) fn pick(&self, skip: Option<usize>) -> Option<usize> {
        let n = self.upstreams.len();
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Candidates in the order the balancing mode prefers; unhealthy upstreams last-resort
        // only when every upstream failed its health check.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n.max(1)).collect();
        if self.cfg.balance == portcullis_core::config::Balance::LeastRequests {
            order.sort_by_key(|&i| {
                self.in_flight_per
                    .get(i)
                    .map_or(usize::MAX, |c| c.load(Ordering::Relaxed))
            });
        }
        let any_healthy = self.healthy.iter().any(|h| h.load(Ordering::Relaxed));
        for i in order {
            if Some(i) == skip && n > 1 {
                continue;
            }
            if any_healthy
                && !self
                    .healthy
                    .get(i)
                    .is_some_and(|h| h.load(Ordering::Relaxed))
            {
                continue;
            }
            let b = breakers.get_mut(i)?;
            match b.open_until {
                None => return Some(i),
                Some(until) if until <= now && !b.probing => {
                    b.probing = true; // half-open: one probe
                    return Some(i);
                }
                Some(_) => {}
            }
        }
        None
    }

    pub(super) fn record(&self, i: usize, ok: bool) {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(b) = breakers.get_mut(i) else { return };
        let window = usize::try_from(self.cfg.breaker_window).unwrap_or(usize::MAX);
        let rate_tripped = match self.cfg.breaker_error_rate {
            Some(rate) if window > 0 => {
                b.recent.push_back(!ok);
                while b.recent.len() > window {
                    b.recent.pop_front();
                }
                let failed = b.recent.iter().filter(|f| **f).count();
                b.recent.len() == window && failed as f64 >= rate * window as f64
            }
            _ => false,
        };
        if ok && !rate_tripped {
            b.failures = 0;
            b.open_until = None;
            b.probing = false;
            return;
        }
        b.failures += 1;
        b.probing = false;
        if rate_tripped {
            b.recent.clear();
        }
        if b.failures >= self.cfg.breaker_failures || b.open_until.is_some() || rate_tripped {
            b.open_until =
                Some(Instant::now() + Duration::from_secs(self.cfg.breaker_cooldown_seconds));
            tracing::warn!(route = %self.cfg.name, upstream = i, "circuit breaker open");
        }
    }
}
