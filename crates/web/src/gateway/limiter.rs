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

impl Route {
    /// GCRA (generic cell rate algorithm): one theoretical arrival time per key; a request
    /// is allowed when it does not push that time more than one window ahead.
    pub(super) fn rate(&self, key: &str, requests: u32, window: u32) -> Gcra {
        let now = clock();
        let window = f64::from(window);
        let t = window / f64::from(requests);
        let mut map = self
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, tat| *tat > now);
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + t;
        if new_tat - now > window + 1e-9 {
            return Gcra::Deny {
                retry_after: (new_tat - window - now).ceil().max(1.0) as u64,
            };
        }
        map.insert(key.to_owned(), new_tat);
        Gcra::Allow {
            remaining: ((window - (new_tat - now)) / t).floor().max(0.0) as u64,
            reset: (new_tat - now).ceil() as u64,
        }
    }
}
