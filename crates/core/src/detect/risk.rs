//! Risk scoring: signals about a sign-in (or a gateway request) become a score with named
//! reasons, and a policy turns the score into a decision. Pure functions: the service
//! gathers the facts, this module judges them, so every rule is unit-tested.

use serde::Serialize;

use super::geo::{GeoInfo, travel_speed_kmh};
use crate::clock::UnixTime;

/// Why a score went up. The names are the `details.reasons` of `risk.assessed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Faster than `impossible_travel_kmh` since the last sign-in.
    ImpossibleTravel,
    /// No signed device cookie (or fingerprint) this user has signed in from.
    NewDevice,
    /// A country this user has not signed in from.
    NewCountry,
    /// An autonomous system this user has not signed in from.
    NewAsn,
    /// An address this user has not signed in from.
    NewIp,
    /// An hour of day this user rarely signs in at.
    UnusualHour,
    /// Recent failed attempts on this account.
    FailureVelocity,
    /// The principal's request rate far above its own baseline.
    RateAnomaly,
    /// The address is on a deny list.
    DenyList,
    /// An administrator or a playbook asked for a second factor at the next sign-in.
    MfaRequired,
    /// The service as a whole is under a login attack.
    AttackInProgress,
    /// Many registrations from this source recently.
    RegistrationVelocity,
}

impl Reason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ImpossibleTravel => "impossible_travel",
            Reason::NewDevice => "new_device",
            Reason::NewCountry => "new_country",
            Reason::NewAsn => "new_asn",
            Reason::NewIp => "new_ip",
            Reason::UnusualHour => "unusual_hour",
            Reason::FailureVelocity => "failure_velocity",
            Reason::RateAnomaly => "rate_anomaly",
            Reason::DenyList => "deny_list",
            Reason::MfaRequired => "mfa_required",
            Reason::AttackInProgress => "attack_in_progress",
            Reason::RegistrationVelocity => "registration_velocity",
        }
    }
}

/// A score and the reasons that make it up, each with its points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// 0..=100.
    pub score: u32,
    /// The reasons, in the order found.
    pub reasons: Vec<(Reason, u32)>,
}

impl Assessment {
    /// Adds `points` for `reason`.
    pub fn add(&mut self, reason: Reason, points: u32) {
        if points > 0 && !self.has(reason) {
            self.reasons.push((reason, points));
            self.score = (self.score + points).min(100);
        }
    }

    /// Whether `reason` contributed.
    pub fn has(&self, reason: Reason) -> bool {
        self.reasons.iter().any(|(r, _)| *r == reason)
    }

    /// The reason names.
    pub fn reason_names(&self) -> Vec<&'static str> {
        self.reasons.iter().map(|(r, _)| r.as_str()).collect()
    }

    /// `{reason: points}`, for the audit event.
    pub fn signals_json(&self) -> serde_json::Value {
        self.reasons
            .iter()
            .map(|(r, p)| (r.as_str().to_owned(), serde_json::Value::from(*p)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Points per reason, and the travel speed that counts as impossible.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// `impossible_travel`.
    pub impossible_travel: u32,
    /// `new_device`.
    pub new_device: u32,
    /// `new_country`.
    pub new_country: u32,
    /// `new_asn`.
    pub new_asn: u32,
    /// `new_ip`.
    pub new_ip: u32,
    /// `unusual_hour`.
    pub unusual_hour: u32,
    /// `failure_velocity`, per recent failure (capped at three times this).
    pub failure: u32,
    /// `deny_list`.
    pub deny_list: u32,
    /// `mfa_required`.
    pub mfa_required: u32,
    /// `attack_in_progress`, per attack level.
    pub attack_level: u32,
    /// Faster than this (km/h) between two sign-ins is impossible travel.
    pub impossible_travel_kmh: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            impossible_travel: 50,
            new_device: 15,
            new_country: 20,
            new_asn: 5,
            new_ip: 5,
            unusual_hour: 20,
            failure: 5,
            deny_list: 100,
            mfa_required: 50,
            attack_level: 5,
            impossible_travel_kmh: 1000.0,
        }
    }
}

/// Scores at which a decision changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// At or above: a proof-of-work (unless a second factor follows anyway).
    pub challenge: u32,
    /// At or above: a second factor; without one, denied.
    pub step_up: u32,
    /// At or above: denied.
    pub deny: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            challenge: 30,
            step_up: 50,
            deny: 90,
        }
    }
}

/// What happens to a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Go ahead (a user with a second factor still proves it, as always).
    Allow,
    /// Solve a proof-of-work first.
    Challenge,
    /// Prove a second factor.
    StepUp,
    /// Refused.
    Deny,
}

impl Decision {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Challenge => "challenge",
            Decision::StepUp => "step_up",
            Decision::Deny => "deny",
        }
    }
}

impl Thresholds {
    /// The decision for `score`, given whether the user has a second factor and whether
    /// this attempt carried a solved proof-of-work.
    pub fn decide(&self, score: u32, has_second_factor: bool, pow_solved: bool) -> Decision {
        if score >= self.deny {
            Decision::Deny
        } else if score >= self.step_up {
            if has_second_factor {
                Decision::StepUp
            } else {
                Decision::Deny
            }
        } else if score >= self.challenge && !has_second_factor && !pow_solved {
            Decision::Challenge
        } else {
            Decision::Allow
        }
    }
}

/// One earlier successful sign-in of the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PastSignIn {
    /// When.
    pub time: UnixTime,
    /// From where.
    pub ip: Option<String>,
    /// Where that was.
    pub geo: GeoInfo,
}

/// A location nobody knows.
static NOWHERE: GeoInfo = GeoInfo {
    country: None,
    city: None,
    latitude: None,
    longitude: None,
    asn: None,
};

/// What is known about this sign-in attempt.
#[derive(Debug, Clone)]
pub struct LoginSignals<'a> {
    /// Now.
    pub now: UnixTime,
    /// The client address, as text.
    pub ip: Option<&'a str>,
    /// Where it is.
    pub geo: &'a GeoInfo,
    /// The signed device cookie names a device of this user.
    pub known_device: bool,
    /// The header fingerprint matches one of this user's devices.
    pub known_fingerprint: bool,
    /// The user's earlier successful sign-ins, newest first.
    pub history: &'a [PastSignIn],
    /// Failed attempts on the account within the throttle window.
    pub account_failures: i64,
    /// The address is on a deny list or banned.
    pub deny_listed: bool,
    /// A second factor was demanded for the next sign-in.
    pub mfa_flag: bool,
    /// Service-wide attack level (0 = none).
    pub attack_level: u32,
}

/// How long sign-in history (and finished bans) are kept, seconds (90 days).
pub const LOGIN_HISTORY_RETENTION: i64 = 90 * 86_400;

impl Default for LoginSignals<'_> {
    fn default() -> Self {
        Self {
            now: 0,
            ip: None,
            geo: &NOWHERE,
            known_device: false,
            known_fingerprint: false,
            history: &[],
            account_failures: 0,
            deny_listed: false,
            mfa_flag: false,
            attack_level: 0,
        }
    }
}

/// Sign-ins needed before hour-of-day habits are judged.
pub const MIN_HISTORY_FOR_HOURS: usize = 10;
/// An hour (with its neighbours) holding less than this share of past sign-ins is unusual.
const UNUSUAL_HOUR_SHARE: f64 = 0.05;

/// Whether `hour` (0..24, UTC) is unusual for a user whose past sign-ins fell at `hours`.
pub fn unusual_hour(hours: &[u32], hour: u32) -> bool {
    if hours.len() < MIN_HISTORY_FOR_HOURS {
        return false;
    }
    let near = |h: u32| {
        let d = h.abs_diff(hour) % 24;
        d.min(24 - d) <= 1
    };
    let hits = hours.iter().filter(|&&h| near(h)).count();
    (hits as f64) / (hours.len() as f64) < UNUSUAL_HOUR_SHARE
}

/// The UTC hour of a Unix time.
pub fn hour_of(t: UnixTime) -> u32 {
    u32::try_from(t.rem_euclid(86_400) / 3600).unwrap_or(0)
}

/// Scores a sign-in attempt.
pub fn assess_login(s: &LoginSignals<'_>, w: &Weights) -> Assessment {
    let mut a = Assessment::default();
    if s.deny_listed {
        a.add(Reason::DenyList, w.deny_list);
    }
    if s.mfa_flag {
        a.add(Reason::MfaRequired, w.mfa_required);
    }
    if s.account_failures >= 3 {
        let n = u32::try_from(s.account_failures).unwrap_or(u32::MAX);
        a.add(
            Reason::FailureVelocity,
            w.failure.saturating_mul(n).min(w.failure.saturating_mul(6)),
        );
    }
    if s.attack_level > 0 {
        a.add(
            Reason::AttackInProgress,
            w.attack_level.saturating_mul(s.attack_level),
        );
    }
    // Comparisons with the past need a past: a first sign-in is new in every way, which
    // tells nothing.
    let Some(last) = s.history.first() else {
        return a;
    };
    if !s.known_device && !s.known_fingerprint {
        a.add(Reason::NewDevice, w.new_device);
    }
    if let Some(ip) = s.ip
        && !s.history.iter().any(|p| p.ip.as_deref() == Some(ip))
    {
        a.add(Reason::NewIp, w.new_ip);
    }
    if let Some(c) = &s.geo.country
        && s.history.iter().any(|p| p.geo.country.is_some())
        && !s.history.iter().any(|p| p.geo.country.as_ref() == Some(c))
    {
        a.add(Reason::NewCountry, w.new_country);
    }
    if let Some(asn) = s.geo.asn
        && s.history.iter().any(|p| p.geo.asn.is_some())
        && !s.history.iter().any(|p| p.geo.asn == Some(asn))
    {
        a.add(Reason::NewAsn, w.new_asn);
    }
    if let (Some(from), Some(to)) = (last.geo.coordinates(), s.geo.coordinates())
        && travel_speed_kmh(from, last.time, to, s.now)
            .is_some_and(|kmh| kmh > w.impossible_travel_kmh)
    {
        a.add(Reason::ImpossibleTravel, w.impossible_travel);
    }
    let hours: Vec<u32> = s.history.iter().map(|p| hour_of(p.time)).collect();
    if unusual_hour(&hours, hour_of(s.now)) {
        a.add(Reason::UnusualHour, w.unusual_hour);
    }
    a
}

/// A principal's request rate against its own baseline: an exponentially weighted moving
/// average of requests per minute, updated at each minute boundary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateBaseline {
    minute: i64,
    count: u64,
    ewma: f64,
    minutes: u32,
    flagged_minute: i64,
}

/// A rate far above the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateAnomaly {
    /// Requests in the current minute.
    pub rate: u64,
    /// The baseline, requests per minute.
    pub baseline: f64,
}

/// How rate baselines judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePolicy {
    /// Weight of the newest minute in the average.
    pub alpha: f64,
    /// A minute at this multiple of the baseline is anomalous...
    pub factor: f64,
    /// ...when it also holds at least this many requests...
    pub min_requests: u64,
    /// ...and the baseline has seen this many minutes.
    pub warmup_minutes: u32,
}

impl Default for RatePolicy {
    fn default() -> Self {
        Self {
            alpha: 0.3,
            factor: 10.0,
            min_requests: 30,
            warmup_minutes: 3,
        }
    }
}

impl RateBaseline {
    /// Whether a request was counted within the last hour.
    pub fn recently_active(&self, now: UnixTime) -> bool {
        now.div_euclid(60) - self.minute < 60
    }

    /// Counts a request at `now`; returns an anomaly the first time a minute crosses the
    /// threshold (once per minute, so a flood is reported, not every request of it).
    pub fn observe(&mut self, now: UnixTime, p: &RatePolicy) -> Option<RateAnomaly> {
        let minute = now.div_euclid(60);
        if self.minutes == 0 && self.count == 0 {
            self.minute = minute;
        }
        if minute > self.minute {
            // Close the finished minute, and the empty minutes after it.
            let gap = u32::try_from(minute - self.minute).unwrap_or(u32::MAX);
            let mut rate = self.count as f64;
            for _ in 0..gap.min(60) {
                self.ewma = if self.minutes == 0 {
                    rate
                } else {
                    p.alpha * rate + (1.0 - p.alpha) * self.ewma
                };
                self.minutes = self.minutes.saturating_add(1);
                rate = 0.0;
            }
            self.minute = minute;
            self.count = 0;
        } else if minute < self.minute {
            // The clock stepped back: keep counting in the current minute.
        }
        self.count = self.count.saturating_add(1);
        let threshold = (self.ewma.max(1.0)) * p.factor;
        if self.minutes >= p.warmup_minutes
            && self.count >= p.min_requests
            && (self.count as f64) >= threshold
            && self.flagged_minute != self.minute
        {
            self.flagged_minute = self.minute;
            return Some(RateAnomaly {
                rate: self.count,
                baseline: self.ewma,
            });
        }
        None
    }
}

/// Service-wide attack level from failed sign-ins in the last window: 0 below `threshold`,
/// then one level per fourfold (1: `threshold`, 2: 4x, 3: 16x, at most 4).
pub fn attack_level(failures: u64, threshold: u64) -> u32 {
    if threshold == 0 || failures < threshold {
        return 0;
    }
    let mut level = 1;
    let mut bar = threshold.saturating_mul(4);
    while failures >= bar && level < 4 {
        level += 1;
        bar = bar.saturating_mul(4);
    }
    level
}

/// Proof-of-work difficulty for a level of suspicion: `base` at 0, four times harder per
/// level, capped.
pub fn pow_difficulty(base: u64, level: u32) -> u64 {
    base.saturating_mul(4u64.saturating_pow(level.min(8)))
        .min(super::altcha::MAX_DIFFICULTY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(country: &str, lat: f64, lon: f64, asn: u32) -> GeoInfo {
        GeoInfo {
            country: Some(country.into()),
            city: None,
            latitude: Some(lat),
            longitude: Some(lon),
            asn: Some(asn),
        }
    }

    fn past(time: i64, ip: &str, g: GeoInfo) -> PastSignIn {
        PastSignIn {
            time,
            ip: Some(ip.into()),
            geo: g,
        }
    }

    #[test]
    fn a_first_sign_in_is_judged_only_by_what_needs_no_past() {
        let g = geo("FR", 48.85, 2.35, 3215);
        let s = LoginSignals {
            now: 1000,
            ip: Some("192.0.2.1"),
            geo: &g,
            ..LoginSignals::default()
        };
        assert_eq!(assess_login(&s, &Weights::default()).score, 0);
        let s = LoginSignals {
            deny_listed: true,
            account_failures: 4,
            ..s
        };
        let a = assess_login(&s, &Weights::default());
        assert_eq!(a.reason_names(), ["deny_list", "failure_velocity"]);
        assert_eq!(a.score, 100);
    }

    #[test]
    fn impossible_travel_new_country_and_device() {
        let paris = geo("FR", 48.85, 2.35, 3215);
        let sydney = geo("AU", -33.87, 151.21, 1221);
        let history = [past(0, "192.0.2.1", paris.clone())];
        let s = LoginSignals {
            now: 3600,
            ip: Some("203.0.113.9"),
            geo: &sydney,
            history: &history,
            ..LoginSignals::default()
        };
        let a = assess_login(&s, &Weights::default());
        assert_eq!(
            a.reason_names(),
            [
                "new_device",
                "new_ip",
                "new_country",
                "new_asn",
                "impossible_travel"
            ]
        );
        // From a new device: refused outright; from a known one, a second factor.
        assert_eq!(a.score, 95);
        let known = LoginSignals {
            known_device: true,
            ..s.clone()
        };
        assert_eq!(assess_login(&known, &Weights::default()).score, 80);
        // The same trip over two days is travel, not impossible.
        let s2 = LoginSignals {
            now: 2 * 86_400,
            known_device: true,
            ..s.clone()
        };
        let a = assess_login(&s2, &Weights::default());
        assert!(!a.has(Reason::ImpossibleTravel) && !a.has(Reason::NewDevice));
        // Home, known device: nothing.
        let s3 = LoginSignals {
            ip: Some("192.0.2.1"),
            geo: &paris,
            known_device: true,
            ..s
        };
        assert_eq!(
            assess_login(&s3, &Weights::default()),
            Assessment::default()
        );
    }

    #[test]
    fn unusual_hours_need_a_habit() {
        // Ten sign-ins around 09:00 UTC.
        let hours = [9, 9, 8, 10, 9, 9, 9, 10, 8, 9];
        assert!(unusual_hour(&hours, 21));
        assert!(unusual_hour(&hours, 3));
        assert!(!unusual_hour(&hours, 9));
        assert!(!unusual_hour(&hours, 11), "a neighbour of a habitual hour");
        assert!(!unusual_hour(&hours[..9], 21), "too little history");
        // Around midnight the neighbourhood wraps.
        let night = [23, 0, 0, 1, 23, 0, 0, 0, 1, 23];
        assert!(!unusual_hour(&night, 0));
        assert!(!unusual_hour(&night, 22));
        assert!(unusual_hour(&night, 12));
        assert_eq!(hour_of(9 * 3600 + 59), 9);
        assert_eq!(hour_of(-1), 23);
    }

    #[test]
    fn decisions_follow_the_thresholds_and_the_factors() {
        let t = Thresholds::default();
        assert_eq!(t.decide(0, false, false), Decision::Allow);
        assert_eq!(t.decide(30, false, false), Decision::Challenge);
        assert_eq!(t.decide(30, false, true), Decision::Allow);
        assert_eq!(t.decide(30, true, false), Decision::Allow);
        assert_eq!(t.decide(50, true, false), Decision::StepUp);
        assert_eq!(t.decide(50, false, true), Decision::Deny);
        assert_eq!(t.decide(90, true, true), Decision::Deny);
    }

    #[test]
    fn a_tenfold_jump_is_flagged_once_per_minute() {
        let p = RatePolicy::default();
        let mut b = RateBaseline::default();
        let mut t = 6000;
        // Five minutes at 5 requests a minute.
        for _ in 0..5 {
            for i in 0..5 {
                assert_eq!(b.observe(t + i, &p), None);
            }
            t += 60;
        }
        // Then 60 in one minute: flagged at the 50th (10 x 5), once.
        let flagged: Vec<usize> = (0..60)
            .filter_map(|i| b.observe(t + (i as i64 % 60), &p).map(|_| i))
            .collect();
        assert_eq!(flagged, vec![49]);
        // A steady high rate becomes the baseline and stops being anomalous.
        for _ in 0..10 {
            t += 60;
            for i in 0..60 {
                let _ = b.observe(t + (i % 60), &p);
            }
        }
        t += 60;
        assert!((0..60).all(|i| b.observe(t + (i % 60), &p).is_none()));
    }

    #[test]
    fn a_new_principal_is_not_flagged_during_warm_up() {
        let p = RatePolicy::default();
        let mut b = RateBaseline::default();
        assert!((0..500).all(|i| b.observe(100 + i / 10, &p).is_none()));
    }

    #[test]
    fn attack_levels_and_difficulty() {
        assert_eq!(attack_level(0, 50), 0);
        assert_eq!(attack_level(49, 50), 0);
        assert_eq!(attack_level(50, 50), 1);
        assert_eq!(attack_level(199, 50), 1);
        assert_eq!(attack_level(200, 50), 2);
        assert_eq!(attack_level(800, 50), 3);
        assert_eq!(attack_level(u64::MAX, 50), 4);
        assert_eq!(attack_level(10, 0), 0);
        assert_eq!(pow_difficulty(50_000, 0), 50_000);
        assert_eq!(pow_difficulty(50_000, 2), 800_000);
        assert_eq!(
            pow_difficulty(50_000, 9),
            super::super::altcha::MAX_DIFFICULTY
        );
    }
}
