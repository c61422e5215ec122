//! The rule evaluator: sliding windows per rule and group, bounded in memory.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::AlertRuleConfig;
use crate::clock::UnixTime;

/// A rule crossed its threshold for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Index into the evaluator's rules.
    pub rule: usize,
    /// The group (`""` for a rule without `group_by`).
    pub group: String,
    /// Matching events in the window, this one included.
    pub in_window: u32,
    /// Time of the oldest of them.
    pub first_at: UnixTime,
}

/// Sliding windows per rule and group, in memory. Only the newest `threshold` event times
/// of a group are kept: the rule fires when the oldest of them is still in the window.
#[derive(Debug)]
pub struct Evaluator {
    rules: Vec<AlertRuleConfig>,
    windows: HashMap<(usize, String), VecDeque<UnixTime>>,
    /// Events seen since the last sweep of expired groups.
    since_sweep: u32,
    /// When the map, full, was last swept: at most once a second of event time.
    last_full_sweep: UnixTime,
}

/// Groups held at most (all rules), so that an attacker cycling through addresses cannot
/// exhaust memory. Past it (after a sweep, at most once a second), new groups of a rule are
/// counted together in [`OVERFLOW_GROUP`]: a flood of new groups still raises its alert,
/// it cannot blind the rule.
pub const MAX_GROUPS: usize = 100_000;

/// The group that new groups share while the evaluator is full.
pub const OVERFLOW_GROUP: &str = "(overflow)";

/// The group an event's value is counted in: an IPv6 address by its /64 (a site rotating
/// through its own addresses is one source, as for the sign-in throttle), anything else as is.
fn group_key(value: String) -> String {
    match value.parse::<std::net::Ipv6Addr>() {
        Ok(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => value,
    }
}

impl Evaluator {
    /// An evaluator of `rules` with empty windows.
    pub fn new(rules: Vec<AlertRuleConfig>) -> Self {
        Self {
            rules,
            windows: HashMap::new(),
            since_sweep: 0,
            last_full_sweep: UnixTime::MIN,
        }
    }

    /// The rules, by index.
    pub fn rules(&self) -> &[AlertRuleConfig] {
        &self.rules
    }

    /// Groups currently held.
    pub fn groups(&self) -> usize {
        self.windows.len()
    }

    /// Counts `event` (the JSON of an audit event at `time`) in every rule it matches and
    /// returns the rules that are at or over their threshold for its group.
    pub fn observe(&mut self, event: &Value, time: UnixTime) -> Vec<Firing> {
        self.since_sweep = self.since_sweep.saturating_add(1);
        let full = self.windows.len() >= MAX_GROUPS;
        if self.since_sweep >= 10_000 || (full && time > self.last_full_sweep) {
            if full {
                self.last_full_sweep = time;
            }
            self.sweep(time);
        }
        let mut fired = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.matches(event) {
                continue;
            }
            let Some(group) = rule.group_of(event) else {
                continue;
            };
            let window = i64::try_from(rule.window_seconds).unwrap_or(i64::MAX);
            let mut key = (i, group_key(group));
            if !self.windows.contains_key(&key) && self.windows.len() >= MAX_GROUPS {
                key = (i, OVERFLOW_GROUP.to_owned());
            }
            let times = self.windows.entry(key.clone()).or_default();
            times.push_back(time);
            while times.front().is_some_and(|t| *t <= time - window) {
                times.pop_front();
            }
            let keep = usize::try_from(rule.threshold).unwrap_or(usize::MAX);
            while times.len() > keep {
                times.pop_front();
            }
            if times.len() >= keep {
                fired.push(Firing {
                    rule: i,
                    group: key.1,
                    in_window: u32::try_from(times.len()).unwrap_or(u32::MAX),
                    first_at: times.front().copied().unwrap_or(time),
                });
            }
        }
        fired
    }

    /// Forgets groups whose newest event has left their window.
    pub fn sweep(&mut self, now: UnixTime) {
        self.since_sweep = 0;
        let rules = &self.rules;
        self.windows.retain(|(i, _), times| {
            let window = rules
                .get(*i)
                .map_or(0, |r| i64::try_from(r.window_seconds).unwrap_or(i64::MAX));
            times.back().is_some_and(|t| *t > now - window)
        });
    }

    /// The longest window of any rule, seconds (how far back a restart replays).
    pub fn max_window(&self) -> i64 {
        self.rules
            .iter()
            .map(|r| i64::try_from(r.window_seconds).unwrap_or(i64::MAX))
            .max()
            .unwrap_or(0)
    }
}
