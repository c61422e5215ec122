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

impl Breaker {
    /// 0 closed, 1 half-open (a probe may go or is out), 2 open.
    pub(super) fn state(&self, now: Instant) -> u8 {
        match self.open_until {
            None => 0,
            Some(until) if self.probing || until <= now => 1,
            Some(_) => 2,
        }
    }
}

impl Route {
    /// The next upstream whose breaker lets a request through, if any, as an [`Attempt`]
    /// that keeps the books however the request ends.
    pub(super) fn pick(&self, skip: Option<usize>) -> Option<Attempt<'_>> {
        let (idx, probe) = self.choose(skip)?;
        if let Some(c) = self.in_flight_per.get(idx) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Some(Attempt {
            route: self,
            idx,
            probe,
            settled: false,
        })
    }

    /// The upstream to try, and whether the request is its breaker's half-open probe.
    fn choose(&self, skip: Option<usize>) -> Option<(usize, bool)> {
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
                None => return Some((i, false)),
                Some(until) if until <= now && !b.probing => {
                    b.probing = true; // half-open: one probe
                    return Some((i, true));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// A probe that ended with no verdict on the upstream (the client went away, the
    /// request's deadline passed, the client's own body failed): the next request may probe.
    fn release_probe(&self, i: usize) {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = breakers.get_mut(i) {
            b.probing = false;
        }
    }

    fn record(&self, i: usize, ok: bool) {
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

/// How one attempt at an upstream ended, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The upstream answered (not with a gateway error).
    Ok,
    /// An upstream fault: no connection, no answer in time, or 502-504. Only these count:
    /// a client cannot open the breaker with its own bad requests or bodies. (A 500 is the
    /// application's answer to one request, which anyone could provoke, so it is not one.)
    Fault,
    /// Nothing learnt about the upstream: the client's body failed or was too large.
    Neutral,
}

/// One request in flight to one upstream: the upstream's in-flight count (for
/// least-requests) and its breaker's half-open probe are given back when it is dropped,
/// also when the request future is cancelled (a deadline, a client going away) before it
/// is settled.
#[derive(Debug)]
pub(super) struct Attempt<'a> {
    route: &'a Route,
    /// The upstream.
    pub(super) idx: usize,
    probe: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// Records the outcome with the breaker.
    pub(super) fn settle(mut self, outcome: Outcome) {
        self.settled = true;
        match outcome {
            Outcome::Ok => self.route.record(self.idx, true),
            Outcome::Fault => self.route.record(self.idx, false),
            Outcome::Neutral if self.probe => self.route.release_probe(self.idx),
            Outcome::Neutral => {}
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.route.in_flight_per.get(self.idx) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        if !self.settled && self.probe {
            self.route.release_probe(self.idx);
        }
    }
}
