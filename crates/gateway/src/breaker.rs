//! The circuit breaker of one upstream: opened by upstream faults (a run of
//! `breaker_failures`, or `breaker_error_rate` of the last `breaker_window` requests), it
//! refuses for `breaker_cooldown_seconds`, then lets one probe through (half-open); the
//! probe's outcome closes it or opens it again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use portcullis_core::config::RouteConfig;

/// The circuit breaker of one upstream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// Outcomes of the latest requests (true: failed), for the error-rate threshold.
    recent: VecDeque<bool>,
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

    /// Records an answer (`ok`) or a fault under the route's thresholds; true when this
    /// opened (or kept open) the breaker.
    pub(crate) fn record(&mut self, cfg: &RouteConfig, ok: bool) -> bool {
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
            return false;
        }
        self.failures += 1;
        self.probing = false;
        if rate_tripped {
            self.recent.clear();
        }
        if self.failures >= cfg.breaker_failures || self.open_until.is_some() || rate_tripped {
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
