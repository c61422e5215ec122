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

/// The IPv4-mapped block `::ffff:0:0/96`, where IPv4 addresses live.
const MAPPED: (u128, u128) = (0xffff_0000_0000, 0xffff_ffff_ffff);

/// The ranges of `net`. An IPv6 network that holds the whole IPv4-mapped block without being
/// inside it (`::/0`, the bogon `::/8`) names IPv6 addresses only: it does not take in every
/// IPv4 address. A network inside the block (`::ffff:10.0.0.0/104`) names those IPv4
/// addresses, as the mapped form says.
fn ranges(net: IpNet) -> impl Iterator<Item = (u128, u128)> {
    let (lo, hi) = (key(net.network()), key(net.broadcast()));
    let spans_mapped =
        matches!(net, IpNet::V6(_)) && lo <= MAPPED.0 && MAPPED.1 <= hi && (lo, hi) != MAPPED;
    let parts = if spans_mapped {
        [
            (lo < MAPPED.0).then(|| (lo, MAPPED.0 - 1)),
            (MAPPED.1 < hi).then(|| (MAPPED.1 + 1, hi)),
        ]
    } else {
        [Some((lo, hi)), None]
    };
    parts.into_iter().flatten()
}

impl IpSet {
    /// The set of `nets`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self::union([Self {
            ranges: nets.into_iter().flat_map(ranges).collect(),
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

    /// An IPv6 network around the IPv4-mapped block (`::/0`, the bogon `::/8` of deny lists)
    /// does not ban every IPv4 client; one inside it names IPv4 addresses.
    #[test]
    fn ipv6_networks_around_the_mapped_block_leave_ipv4_alone() {
        for wide in ["::/0", "::/8", "::/64"] {
            let set = IpSet::parse_netset(wide).unwrap();
            assert!(!set.contains(ip("127.0.0.1")), "{wide}");
            assert!(!set.contains(ip("203.0.113.9")), "{wide}");
            assert!(!set.contains(ip("::ffff:203.0.113.9")), "{wide}");
            assert!(set.contains(ip("::1")), "{wide}");
        }
        let all = IpSet::parse_netset("::/0").unwrap();
        assert!(all.contains(ip("2001:db8::1")));
        assert!(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let mapped = IpSet::parse_netset("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(ip("10.1.2.3")));
        assert!(mapped.contains(ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(ip("11.0.0.1")));
        let block = IpSet::parse_netset("::ffff:0:0/96").unwrap();
        assert!(block.contains(ip("192.0.2.1")));
        let v4_all = IpSet::parse_netset("0.0.0.0/0").unwrap();
        assert!(v4_all.contains(ip("192.0.2.1")));
        assert!(!v4_all.contains(ip("2001:db8::1")));
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
