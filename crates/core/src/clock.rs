//! Time as a port: production reads the system clock, tests drive a fake one.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC. The unit of every timestamp in the domain.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> UnixTime {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// Formats a Unix time as an RFC 3339 UTC string (`2026-11-22T16:38:36Z`).
pub fn rfc3339(t: UnixTime) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_365_516), "2026-11-22T16:38:36Z");
    }
}
