//! What clients send the risk engine: ALTCHA payloads, device cookies, and the netset
//! files of deny lists. Refused or parsed, never a panic; a parsed netset contains every
//! address it lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::detect::{altcha, device, ipset::IpSet};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let key = [7u8; 32];
    let _ = altcha::verify(&key, s, 1_700_000_000, 0);
    if let Some(id) = device::verify_cookie(&key, s) {
        assert_eq!(device::cookie_value(&key, &id), s);
    }
    if let Ok(set) = IpSet::parse_netset(s) {
        for line in s.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Ok(ip) = line.parse::<std::net::IpAddr>() {
                assert!(set.contains(ip), "{line}");
            }
        }
    }
});
