//! Configuration files (TOML): CIDRs, routes, sinks, TLS; parsed and validated, never a
//! panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for line in s.lines().take(64) {
        let _ = line.trim().parse::<ipnet::IpNet>();
    }
    if let Ok(mut c) = toml::from_str::<Config>(s) {
        c.normalize();
        let _ = c.validate();
    }
});
