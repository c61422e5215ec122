//! The circuit breaker of one upstream: opened by upstream faults (a run of
//! `breaker_failures`, or `breaker_error_rate` of the last `breaker_window` requests; faults
//! a request can provoke count only once more than one client saw them), it
//! refuses for `breaker_cooldown_seconds`, then lets one probe through (half-open); the
//! probe's outcome closes it or opens it again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use portcullis_core::config::RouteConfig;

/// What one request learnt about the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// It answered.
    Answered,
    /// No connection could be made: the upstream is down whoever asks.
    Unreachable,
    /// No answer in time, a dropped connection or a gateway error, for a request of this
    /// client (a keyed hash of its address): a slow or fragile path the client chose.
    Faulted(u64),
}

/// The circuit breaker of one upstream.
///
/// Faults a request can provoke (a slow path, a query that crashes the upstream's
/// worker) open it only when they come from more than one client: one anonymous client
/// calling a slow path six times took a whole route offline for everyone. A connection
/// that cannot be made counts whoever asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// Outcomes of the latest requests (true: failed), for the error-rate threshold.
    recent: VecDeque<bool>,
    /// In the current run of faults: whether a connection could not be made, and the
    /// clients (up to two) whose requests faulted.
    unreachable: bool,
    clients: Vec<u64>,
}

impl Breaker {
    /// 0 closed, 1 half-open (a probe may go or is out), 2 open.
    pub(crate) fn state(&self, now: Instant) -> u8 {
        match self.open_until {
            None => 0,
            Some(until) if self.probing || until <= now => 1,
            Some(_) => 2,
        }
    }

    /// Whether a request may go now: `Some(false)` closed, `Some(true)` as the half-open
    /// probe (no other goes until it is settled), `None` refused.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<bool> {
        match self.open_until {
            None => Some(false),
            Some(until) if until <= now && !self.probing => {
                self.probing = true;
                Some(true)
            }
            Some(_) => None,
        }
    }

    /// A probe that ended with no verdict on the upstream (the client went away, the
    /// request's deadline passed, the client's own body failed): the next request may probe.
    pub(crate) fn release_probe(&mut self) {
        self.probing = false;
    }

    /// Records an answer (`ok`) or an unreachable upstream; see [`Self::observe`].
    #[cfg(test)]
    pub(crate) fn record(&mut self, cfg: &RouteConfig, ok: bool) -> bool {
        self.observe(
            cfg,
            if ok {
                Seen::Answered
            } else {
                Seen::Unreachable
            },
        )
    }

    /// Records what a request saw under the route's thresholds; true when this opened (or
    /// kept open) the breaker.
    pub(crate) fn observe(&mut self, cfg: &RouteConfig, seen: Seen) -> bool {
        let ok = seen == Seen::Answered;
        let window = usize::try_from(cfg.breaker_window).unwrap_or(usize::MAX);
        let rate_tripped = match cfg.breaker_error_rate {
            Some(rate) if window > 0 => {
                self.recent.push_back(!ok);
                while self.recent.len() > window {
                    self.recent.pop_front();
                }
                let failed = self.recent.iter().filter(|f| **f).count();
                self.recent.len() == window && failed as f64 >= rate * window as f64
            }
            _ => false,
        };
        if ok && !rate_tripped {
            self.failures = 0;
            self.open_until = None;
            self.probing = false;
            // Who saw faults is forgotten with the faults: at the end of a run, or (with an
            // error rate) once none is left in the window.
            if cfg.breaker_error_rate.is_none() || !self.recent.iter().any(|f| *f) {
                self.unreachable = false;
                self.clients.clear();
            }
            return false;
        }
        self.failures += 1;
        self.probing = false;
        match seen {
            Seen::Unreachable => self.unreachable = true,
            Seen::Faulted(c) if self.clients.len() < 2 && !self.clients.contains(&c) => {
                self.clients.push(c);
            }
            _ => {}
        }
        let shared = self.unreachable || self.clients.len() >= 2;
        if rate_tripped && shared {
            self.recent.clear();
        }
        if self.open_until.is_some()
            || (shared && (self.failures >= cfg.breaker_failures || rate_tripped))
        {
            self.unreachable = false;
            self.clients.clear();
            self.open_until =
                Some(Instant::now() + Duration::from_secs(cfg.breaker_cooldown_seconds));
            return true;
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(failures: u32, rate: Option<f64>, window: u32) -> RouteConfig {
        RouteConfig {
            breaker_failures: failures,
            breaker_error_rate: rate,
            breaker_window: window,
            breaker_cooldown_seconds: 3600,
            ..RouteConfig::default()
        }
    }

    #[test]
    fn a_run_of_faults_opens_and_an_answer_resets_the_run() {
        let c = cfg(3, None, 0);
        let mut b = Breaker::default();
        assert!(!b.record(&c, false));
        assert!(!b.record(&c, false));
        assert!(!b.record(&c, true));
        assert!(!b.record(&c, false) && !b.record(&c, false));
        assert!(b.record(&c, false));
        let now = Instant::now();
        assert_eq!(b.state(now), 2);
        assert_eq!(b.admit(now), None);
    }

    #[test]
    fn an_error_rate_opens_over_a_full_window() {
        let c = cfg(1000, Some(0.5), 4);
        let mut b = Breaker::default();
        for ok in [true, false, true] {
            assert!(!b.record(&c, ok));
        }
        assert!(b.record(&c, false));
    }

    #[test]
    fn faults_of_one_client_alone_do_not_open_it() {
        let c = cfg(3, None, 0);
        let mut b = Breaker::default();
        for _ in 0..10 {
            assert!(!b.observe(&c, Seen::Faulted(1)));
        }
        assert_eq!(b.state(Instant::now()), 0);
        // A second client's fault: the run is shared, and long enough.
        assert!(b.observe(&c, Seen::Faulted(2)));
        // An answer closes it and starts a new run.
        let mut b = Breaker::default();
        assert!(!b.observe(&c, Seen::Faulted(1)));
        assert!(!b.observe(&c, Seen::Answered));
        assert!(!b.observe(&c, Seen::Faulted(2)) && !b.observe(&c, Seen::Faulted(2)));
        // One client's faults and an unreachable upstream: that is down for everyone.
        assert!(b.observe(&c, Seen::Unreachable));
    }

    #[test]
    fn one_probe_at_a_time_when_half_open() {
        let c = RouteConfig {
            breaker_failures: 1,
            breaker_cooldown_seconds: 0,
            ..RouteConfig::default()
        };
        let mut b = Breaker::default();
        assert_eq!(b.admit(Instant::now()), Some(false));
        b.record(&c, false);
        let now = Instant::now() + Duration::from_millis(1);
        assert_eq!(b.admit(now), Some(true));
        assert_eq!(b.admit(now), None);
        b.release_probe();
        assert_eq!(b.admit(now), Some(true));
        b.record(&c, true);
        assert_eq!(b.state(now), 0);
    }
}
