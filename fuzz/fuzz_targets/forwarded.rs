//! `Forwarded` (RFC 7239) and `X-Forwarded-For` from a trusted proxy, and the node syntax
//! on its own: never a panic, whatever the header holds.
#![no_main]
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis_core::config::ForwardedHeader;
use portcullis_http::client_ip::{client_ip, forwarded_chain_text, forwarded_param, parse_node};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_node(s);
    let Ok(v) = HeaderValue::from_str(s) else {
        return;
    };
    let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let peer: std::net::IpAddr = "10.1.2.3".parse().unwrap();
    for (name, kind) in [
        ("x-forwarded-for", ForwardedHeader::XForwardedFor),
        ("forwarded", ForwardedHeader::Forwarded),
    ] {
        let mut h = HeaderMap::new();
        h.insert(name, v.clone());
        // From an untrusted peer the header is never believed.
        assert_eq!(
            client_ip("192.0.2.9".parse().unwrap(), &h, &proxies, kind),
            Some("192.0.2.9".parse().unwrap())
        );
        let _ = client_ip(peer, &h, &proxies, kind);
        // What is passed on upstream: one entry per hop, each a header-safe value.
        for hop in forwarded_chain_text(&h, kind) {
            assert!(HeaderValue::from_str(&hop).is_ok(), "{hop:?}");
        }
        for param in ["proto", "host"] {
            let _ = forwarded_param(&h, kind, param);
        }
    }
});
