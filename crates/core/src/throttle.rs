//! Login throttling: exponential backoff per account and per client IP.
//!
//! The account key is a hash of the normalised email, whether or not the account exists, so
//! throttling reveals nothing about which emails are registered. Throttling only gates new
//! logins: an attacker hammering an account never touches the owner's existing sessions.

use std::net::IpAddr;

use crate::clock::UnixTime;
use crate::crypto::tokens::sha256_hex;
use crate::email::Email;
use crate::model::ThrottleState;

/// Backoff rules for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures allowed before delays start.
    pub free_failures: i64,
    /// Longest block, seconds.
    pub max_block: i64,
    /// Failures older than this are forgotten, seconds.
    pub window: i64,
}

/// Per-account rules: 5 free failures, then 1 s, 2 s, 4 s, ... up to 15 minutes.
pub const ACCOUNT: Backoff = Backoff {
    free_failures: 5,
    max_block: 900,
    window: 3600,
};
/// Per-IP rules: more generous (NAT, offices, CI runners), same curve.
pub const CLIENT_IP: Backoff = Backoff {
    free_failures: 50,
    max_block: 900,
    window: 3600,
};

/// Self-registrations counted per source (client IP, IPv6 /64), like failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationLimit {
    /// Registrations a source may make in the window without a proof-of-work.
    pub free: i64,
    /// Attempts after which the source is refused (429) until the window forgets it.
    pub max: i64,
    /// Seconds a registration is remembered.
    pub window: i64,
}

/// Three registrations an hour from one source are free; then each solves a proof-of-work,
/// one level (four times) harder every five more; the twentieth attempt blocks the source
/// for the rest of the hour. Sixty accounts from one address in seconds are no longer free.
pub const REGISTRATIONS: RegistrationLimit = RegistrationLimit {
    free: 3,
    max: 20,
    window: 3600,
};

impl RegistrationLimit {
    /// The proof-of-work level after `count` attempts from one source in the window.
    pub fn level(&self, count: i64) -> u32 {
        if count < self.free {
            0
        } else {
            u32::try_from(1 + (count - self.free) / 5)
                .unwrap_or(4)
                .min(4)
        }
    }
}

/// The throttle key counting a source's registrations.
pub fn registration_key(ip: IpAddr) -> String {
    format!("reg:{}", ip_key(ip))
}

/// The proof-of-work level that `failures` recent wrong passwords on an account ask of a
/// device the account does not know: none up to the free failures, then one level per ten.
pub fn account_pow_level(failures: i64) -> u32 {
    if failures >= ACCOUNT.free_failures {
        u32::try_from(1 + (failures - ACCOUNT.free_failures) / 10)
            .unwrap_or(4)
            .min(4)
    } else {
        0
    }
}

/// The keys one attempt is counted under: its account and, when known, its client IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKeys {
    /// `acct:<keyed hash of the email>`.
    pub account: String,
    /// `ip:<address or /64>`.
    pub ip: Option<String>,
}

impl ThrottleKeys {
    /// The keys of an attempt on `email` from `ip`; `pepper` keys the account hash.
    pub fn new(pepper: &[u8; 32], email: &Email, ip: Option<IpAddr>) -> Self {
        Self {
            account: account_key(pepper, email),
            ip: ip.map(ip_key),
        }
    }

    /// Both keys, for lookups.
    pub fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone())
            .chain(self.ip.clone())
            .collect()
    }
}

/// The throttle key of an account.
/// HMAC-SHA256 under a key derived from the master key: a stolen database does not let
/// anyone confirm a guessed email by hashing it.
pub fn account_key(pepper: &[u8; 32], email: &Email) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(pepper) else {
        return format!("acct:{}", sha256_hex(email.as_str().as_bytes()));
    };
    mac.update(email.as_str().as_bytes());
    format!("acct:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The throttle key of a client IP. IPv6 clients are keyed by their /64, the smallest block
/// a site is usually given, so rotating through one's own addresses does not help.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Backoff {
    /// The block that `failures` failures within the window earn, starting at `now` (0: none).
    pub fn block_until(&self, failures: i64, now: UnixTime) -> UnixTime {
        let over = failures - self.free_failures;
        if over > 0 {
            let exp = u32::try_from(over - 1).unwrap_or(u32::MAX).min(30);
            now + (1i64 << exp).min(self.max_block)
        } else {
            0
        }
    }

    /// State after one more failure at `now` (the store does the same atomically).
    pub fn record_failure(
        &self,
        prev: Option<&ThrottleState>,
        key: &str,
        now: UnixTime,
    ) -> ThrottleState {
        let failures = match prev {
            Some(p) if now - p.last_failure_at < self.window => p.failures + 1,
            _ => 1,
        };
        ThrottleState {
            key: key.to_owned(),
            failures,
            last_failure_at: now,
            blocked_until: self.block_until(failures, now),
        }
    }
}

/// Seconds to wait before another attempt, if any state blocks it.
pub fn retry_after(states: &[ThrottleState], now: UnixTime) -> Option<u64> {
    states
        .iter()
        .filter(|s| s.blocked_until > now)
        .map(|s| u64::try_from(s.blocked_until - now).unwrap_or(1))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_caps() {
        let mut s: Option<ThrottleState> = None;
        let mut blocks = Vec::new();
        for i in 0..20 {
            let next = ACCOUNT.record_failure(s.as_ref(), "k", 1000 + i);
            blocks.push(next.blocked_until.saturating_sub(1000 + i).max(0));
            s = Some(next);
        }
        assert_eq!(&blocks[..9], &[0, 0, 0, 0, 0, 1, 2, 4, 8]);
        assert_eq!(blocks.last().copied(), Some(900));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let s = ACCOUNT.record_failure(None, "k", 0);
        let s = ACCOUNT.record_failure(Some(&s), "k", 10);
        assert_eq!(s.failures, 2);
        let s = ACCOUNT.record_failure(Some(&s), "k", 10 + 3600);
        assert_eq!(s.failures, 1);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = ip_key(
            "2001:db8:1:2:aaaa::1"
                .parse()
                .unwrap_or(IpAddr::from([0u8; 16])),
        );
        let b = ip_key(
            "2001:db8:1:2:bbbb::2"
                .parse()
                .unwrap_or(IpAddr::from([0u8; 16])),
        );
        assert_eq!(a, b);
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_eq!(ip_key(IpAddr::from([192, 0, 2, 1])), "ip:192.0.2.1");
    }

    #[test]
    fn registrations_get_harder_per_source() {
        let levels: Vec<u32> = (0..24).map(|c| REGISTRATIONS.level(c)).collect();
        assert_eq!(&levels[..4], &[0, 0, 0, 1]);
        assert_eq!(levels[8], 2);
        assert_eq!(levels[23], 4);
        assert_eq!(
            registration_key(IpAddr::from([192, 0, 2, 1])),
            "reg:ip:192.0.2.1"
        );
        assert_eq!(account_pow_level(4), 0);
        assert_eq!(account_pow_level(5), 1);
        assert_eq!(account_pow_level(25), 3);
    }

    #[test]
    fn retry_after_takes_the_longest_block() {
        let a = ThrottleState {
            key: "a".into(),
            failures: 9,
            last_failure_at: 0,
            blocked_until: 110,
        };
        let b = ThrottleState {
            key: "b".into(),
            failures: 9,
            last_failure_at: 0,
            blocked_until: 130,
        };
        assert_eq!(retry_after(&[a.clone(), b], 100), Some(30));
        assert_eq!(retry_after(&[a], 200), None);
    }
}
