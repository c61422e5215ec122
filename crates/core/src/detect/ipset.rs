//! Sets of IP networks with logarithmic lookup: deny lists (FireHOL-style netsets, tens of
//! thousands of ranges) and bans. IPv4 addresses live in the IPv4-mapped part of the IPv6
//! space, so one sorted list of disjoint ranges serves both families.

use std::net::IpAddr;

use ipnet::IpNet;

/// Disjoint, sorted, inclusive ranges of addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    ranges: Vec<(u128, u128)>,
}

/// A line of a netset file that is neither a network, an address, a comment nor blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: `{text}` is not an IP address or CIDR network")]
pub struct NetsetError {
    /// 1-based line number.
    pub line: usize,
    /// The offending text (truncated).
    pub text: String,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn range(net: &IpNet) -> (u128, u128) {
    (key(net.network()), key(net.broadcast()))
}

impl IpSet {
    /// The set of `nets`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self::union([Self {
            ranges: nets.into_iter().map(|n| range(&n)).collect(),
        }])
    }

    /// The union of several sets.
    pub fn union(sets: impl IntoIterator<Item = IpSet>) -> Self {
        let mut ranges: Vec<(u128, u128)> = sets.into_iter().flat_map(|s| s.ranges).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Self { ranges: merged }
    }

    /// Parses a netset: one address or CIDR network per line; `#` starts a comment (whole
    /// line or trailing); blank lines are skipped.
    pub fn parse_netset(text: &str) -> Result<Self, NetsetError> {
        let mut nets = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let net = line
                .parse::<IpNet>()
                .or_else(|_| line.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| NetsetError {
                    line: i + 1,
                    text: line.chars().take(60).collect(),
                })?;
            nets.push(net.trunc());
        }
        Ok(Self::new(nets))
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let k = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(u128::from(v6), |v4| key(IpAddr::V4(v4))),
            v4 => key(v4),
        };
        let i = self.ranges.partition_point(|&(lo, _)| lo <= k);
        i > 0 && self.ranges.get(i - 1).is_some_and(|&(_, hi)| k <= hi)
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0u8; 4]))
    }

    #[test]
    fn netsets_parse_with_comments_and_look_up_both_families() {
        let set = IpSet::parse_netset(
            "# FireHOL level 1\n\n0.0.0.0/8\n192.0.2.0/24 # test-net\n198.51.100.7\n2001:db8::/32\n10.1.2.3/16\n",
        )
        .unwrap_or_default();
        assert_eq!(set.len(), 5);
        for yes in [
            "0.1.2.3",
            "192.0.2.0",
            "192.0.2.255",
            "198.51.100.7",
            "2001:db8:ffff::1",
            "10.1.200.1",
            "::ffff:192.0.2.9",
        ] {
            assert!(set.contains(ip(yes)), "{yes}");
        }
        for no in ["1.0.0.0", "192.0.3.0", "198.51.100.8", "2001:db9::1", "::1"] {
            assert!(!set.contains(ip(no)), "{no}");
        }
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let nets = ["10.0.0.0/25", "10.0.0.128/25", "10.0.0.5/32", "10.0.1.0/24"]
            .iter()
            .filter_map(|s| s.parse().ok());
        let set = IpSet::new(nets);
        assert_eq!(set.len(), 1);
        assert!(set.contains(ip("10.0.1.255")));
        assert!(!set.contains(ip("10.0.2.0")));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = IpSet::parse_netset("1.2.3.4\nnot-an-ip\n").err();
        assert_eq!(
            e,
            Some(NetsetError {
                line: 2,
                text: "not-an-ip".into()
            })
        );
        assert!(IpSet::default().is_empty());
        assert!(!IpSet::default().contains(ip("1.2.3.4")));
    }
}
