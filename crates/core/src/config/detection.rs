//! `[detection]`: risk thresholds, proof-of-work, GeoIP, deny lists, registrations.

use super::*;

/// Scores at which a sign-in is challenged, needs a second factor, or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskThresholdsConfig {
    /// At or above: a proof-of-work (users with a second factor prove that instead).
    pub challenge: u32,
    /// At or above: a second factor; a user without one is refused (`risk_denied`).
    pub step_up: u32,
    /// At or above: refused.
    pub deny: u32,
}

impl Default for RiskThresholdsConfig {
    fn default() -> Self {
        Self {
            challenge: 30,
            step_up: 50,
            deny: 90,
        }
    }
}

/// `[detection]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// MaxMind-format city database (GeoLite2-City / GeoIP2-City); optional.
    pub geoip_city_db: Option<PathBuf>,
    /// MaxMind-format ASN database (GeoLite2-ASN); optional.
    pub geoip_asn_db: Option<PathBuf>,
    /// Netset files (an address or CIDR per line, `#` comments) whose addresses are refused
    /// everywhere; re-read when they change.
    pub deny_lists: Vec<PathBuf>,
    /// How often the deny lists are checked for changes, seconds.
    pub deny_list_reload_seconds: u64,
    /// Faster than this between two sign-ins is impossible travel, km/h.
    pub impossible_travel_kmh: f64,
    /// The default thresholds.
    pub thresholds: RiskThresholdsConfig,
    /// Thresholds per role (e.g. stricter for `admin`), overriding the default.
    pub role_thresholds: std::collections::BTreeMap<String, RiskThresholdsConfig>,
    /// Proof-of-work search space at attack level 0 (about 50,000 hashes: a blink in a
    /// browser); four times harder per level.
    pub pow_difficulty: u64,
    /// How long a challenge may be solved for, seconds.
    pub pow_ttl_seconds: u64,
    /// Failed sign-ins service-wide within `attack_window_seconds` that make an attack
    /// (level 1; 4x is level 2, 16x level 3): then devices not known to an account solve a
    /// proof-of-work before their password is even checked.
    pub attack_failures: u64,
    /// The window of `attack_failures`, seconds.
    pub attack_window_seconds: u64,
    /// Failed sign-ins allowed from one /24 (IPv4) before it is slowed down like a single
    /// address (IPv6 addresses are already counted per /64).
    pub net_free_failures: i64,
    /// Self-registrations one address (IPv6: /64) may make in an hour without a
    /// proof-of-work; each further one solves one, harder every five.
    pub registrations_free: i64,
    /// Registrations (and unsolved registration challenges) in an hour after which the
    /// address is refused (429) for the rest of the hour.
    pub registrations_max: i64,
    /// Distinct accounts failing from one address within `spray_window_seconds` that make a
    /// password spray: the address is blocked for `spray_block_seconds`.
    pub spray_accounts: u64,
    /// The window of `spray_accounts`, seconds.
    pub spray_window_seconds: u64,
    /// How long a spraying address is blocked, seconds.
    pub spray_block_seconds: u64,
    /// A principal's requests per minute at this multiple of its own baseline are a
    /// `rate_anomaly` (gateway).
    pub rate_anomaly_factor: f64,
    /// ...when the minute also holds at least this many requests.
    pub rate_anomaly_min_requests: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            geoip_city_db: None,
            geoip_asn_db: None,
            deny_lists: Vec::new(),
            deny_list_reload_seconds: 30,
            impossible_travel_kmh: 1000.0,
            thresholds: RiskThresholdsConfig::default(),
            role_thresholds: std::collections::BTreeMap::new(),
            pow_difficulty: 50_000,
            pow_ttl_seconds: 300,
            attack_failures: 100,
            attack_window_seconds: 300,
            net_free_failures: 200,
            registrations_free: crate::throttle::REGISTRATIONS.free,
            registrations_max: crate::throttle::REGISTRATIONS.max,
            spray_accounts: 10,
            spray_window_seconds: 600,
            spray_block_seconds: 900,
            rate_anomaly_factor: 10.0,
            rate_anomaly_min_requests: 30,
        }
    }
}

impl DetectionConfig {
    /// Checks the values; the error names the key.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let all = std::iter::once(("detection.thresholds".to_owned(), &self.thresholds)).chain(
            self.role_thresholds
                .iter()
                .map(|(r, t)| (format!("detection.role_thresholds.{r}"), t)),
        );
        for (key, t) in all {
            if !(t.challenge <= t.step_up && t.step_up <= t.deny && t.deny <= 100 && t.deny > 0) {
                return Err(bad(
                    &key,
                    "need 0 <= challenge <= step_up <= deny <= 100 and deny > 0",
                ));
            }
        }
        for role in self.role_thresholds.keys() {
            role.parse::<Role>()
                .map_err(|e| bad(&format!("detection.role_thresholds.{role}"), e))?;
        }
        if !(self.impossible_travel_kmh.is_finite() && self.impossible_travel_kmh >= 100.0) {
            return Err(bad(
                "detection.impossible_travel_kmh",
                "must be a number of at least 100",
            ));
        }
        if !(1..=crate::detect::altcha::MAX_DIFFICULTY).contains(&self.pow_difficulty) {
            return Err(bad(
                "detection.pow_difficulty",
                format!(
                    "must be between 1 and {}",
                    crate::detect::altcha::MAX_DIFFICULTY
                ),
            ));
        }
        for (key, v) in [
            ("detection.pow_ttl_seconds", self.pow_ttl_seconds),
            (
                "detection.attack_window_seconds",
                self.attack_window_seconds,
            ),
            ("detection.spray_window_seconds", self.spray_window_seconds),
            ("detection.spray_block_seconds", self.spray_block_seconds),
            (
                "detection.deny_list_reload_seconds",
                self.deny_list_reload_seconds,
            ),
            ("detection.spray_accounts", self.spray_accounts),
        ] {
            if v == 0 || v > 31_536_000 {
                return Err(bad(key, "must be between 1 and 31536000"));
            }
        }
        if self.net_free_failures < 1 {
            return Err(bad("detection.net_free_failures", "must be at least 1"));
        }
        if self.registrations_free < 0 || self.registrations_max <= self.registrations_free {
            return Err(bad(
                "detection.registrations_max",
                "must be above detection.registrations_free (at least 0)",
            ));
        }
        if !(self.rate_anomaly_factor.is_finite() && self.rate_anomaly_factor >= 2.0) {
            return Err(bad(
                "detection.rate_anomaly_factor",
                "must be a number of at least 2",
            ));
        }
        Ok(())
    }
}
