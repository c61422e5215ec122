//! The client IP: the socket peer, unless the peer is a trusted proxy; then the right-most
//! address of `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`, that is not itself a
//! trusted proxy. Headers from untrusted peers are ignored, so they cannot be spoofed.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;
use portcullis_core::config::ForwardedHeader;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// Parses one address as forwarding headers write it: `1.2.3.4`, `1.2.3.4:80`, `[::1]`,
/// `[::1]:80`, `::1`, optionally quoted.
pub fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    let inner = s.strip_prefix('[')?;
    let (addr, _) = inner.split_once(']')?;
    addr.parse().ok()
}

/// The `for=` values of all `Forwarded` headers, in order. `None` for a value that is not an
/// address (`unknown`, obfuscated identifiers).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(v) = value.to_str() else {
            out.push(None);
            continue;
        };
        for element in v.split(',') {
            let for_value = element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map(|(_, v)| v);
            if let Some(fv) = for_value {
                out.push(parse_node(fv));
            }
        }
    }
    out
}

fn xff_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(v) => out.extend(v.split(',').map(parse_node)),
            Err(_) => out.push(None),
        }
    }
    out
}

/// The chain of addresses a trusted proxy forwarded, as `X-Forwarded-For` passes it on:
/// read from the header Portcullis believes (`Forwarded`'s `for=` values, or
/// `X-Forwarded-For`'s), an address that cannot be read as `unknown`.
pub fn forwarded_chain_text(headers: &HeaderMap, header: ForwardedHeader) -> Vec<String> {
    match header {
        ForwardedHeader::Forwarded => forwarded_chain(headers)
            .into_iter()
            .map(|hop| hop.map_or_else(|| "unknown".to_owned(), |ip| canonical(ip).to_string()))
            .collect(),
        ForwardedHeader::XForwardedFor => headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// What the nearest proxy said of the request's `proto` or `host`: the parameter of the
/// last `Forwarded` element, or `X-Forwarded-Proto` / `X-Forwarded-Host` (their last value).
/// Only to be asked of a trusted peer's request.
pub fn forwarded_param(headers: &HeaderMap, header: ForwardedHeader, name: &str) -> Option<String> {
    match header {
        ForwardedHeader::Forwarded => {
            let last = headers.get_all("forwarded").iter().next_back()?;
            let element = last.to_str().ok()?.rsplit(',').next()?;
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        }
        ForwardedHeader::XForwardedFor => {
            let last = headers
                .get_all(format!("x-forwarded-{name}").as_str())
                .iter()
                .next_back()?;
            let value = last.to_str().ok()?.rsplit(',').next()?.trim();
            (!value.is_empty()).then(|| value.to_owned())
        }
    }
    .filter(|v| !v.is_empty())
}

/// Derives the client IP of a request: `None` when a trusted proxy forwarded an address that
/// cannot be read (the client is then unknown, never mistaken for the proxy).
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    proxies: &[IpNet],
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    let chain = match header {
        ForwardedHeader::Forwarded => forwarded_chain(headers),
        ForwardedHeader::XForwardedFor => xff_chain(headers),
    };
    if chain.is_empty() {
        misconfigured(headers, header);
    }
    let mut last_trusted = peer;
    for hop in chain.iter().rev() {
        match hop.map(canonical) {
            Some(ip) if trusted(ip, proxies) => last_trusted = ip,
            Some(ip) => return Some(ip),
            None => return None,
        }
    }
    // Every hop is one of ours: the request started inside.
    Some(last_trusted)
}

/// A trusted proxy that forwarded the other header than the one Portcullis believes (only
/// one is: a proxy writes one and may pass a client's other one through, which would then
/// be believed): every client looks like the proxy. Said once, with the setting to change
/// (black-box pass 13, B13-1).
fn misconfigured(headers: &HeaderMap, header: ForwardedHeader) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    let (other, setting) = match header {
        ForwardedHeader::Forwarded => ("x-forwarded-for", "x-forwarded-for"),
        ForwardedHeader::XForwardedFor => ("forwarded", "forwarded"),
    };
    if headers.contains_key(other) && !SAID.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            header = other,
            "a trusted proxy forwarded the client's address in `{other}`, which is not the header \
             Portcullis believes: every client looks like the proxy until \
             server.forwarded_header = \"{setting}\" (if that proxy overwrites it)"
        );
    }
}

/// IPv4-mapped IPv6 addresses are IPv4 addresses.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn some(s: &str) -> Option<IpAddr> {
        Some(ip(s))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn proxies() -> Vec<IpNet> {
        vec![
            "10.0.0.0/8"
                .parse()
                .unwrap_or_else(|_| IpNet::from(ip("10.0.0.1"))),
        ]
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=1.1.1.1")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &proxies(), XFF),
            some("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &proxies(), FWD),
            some("203.0.113.9")
        );
    }

    #[test]
    fn rightmost_untrusted_of_xff() {
        // The client can prepend anything; only what our proxies appended counts.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &proxies(), XFF),
            some("198.51.100.7")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // A proxy that writes X-Forwarded-For passes the client's own Forwarded through.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=10.9.9.9"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &proxies(), XFF),
            some("198.51.100.7")
        );
        let h = headers(&[
            ("x-forwarded-for", "10.9.9.9"),
            (
                "forwarded",
                r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https"#,
            ),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &proxies(), FWD),
            some("2001:db8:cafe::17")
        );
    }

    #[test]
    fn multiple_headers_are_one_list() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &proxies(), XFF),
            some("198.51.100.7")
        );
    }

    #[test]
    fn unreadable_hops_make_the_client_unknown() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4, garbage")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies(), XFF), None);
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies(), FWD), None);
        let h = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &proxies(), XFF),
            some("10.0.0.3")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &proxies(), XFF),
            some("10.0.0.1")
        );
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &HeaderMap::new(), &[], XFF),
            some("203.0.113.9")
        );
    }
}
