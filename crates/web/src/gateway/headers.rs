//! Header hygiene: hop-by-hop headers and the IETF RateLimit headers.

use super::*;

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded.
pub(super) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(super) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().map(str::to_owned).chain(listed) {
        h.remove(name.as_str());
    }
}

/// Sets `RateLimit-Policy` and `RateLimit` (IETF httpapi-ratelimit-headers) from their items.
pub(super) fn rate_limit_headers(h: &mut HeaderMap, policies: &[String], limits: &[String]) {
    for (name, items) in [("ratelimit-policy", policies), ("ratelimit", limits)] {
        if !items.is_empty()
            && let Ok(v) = HeaderValue::from_str(&items.join(", "))
        {
            h.insert(name, v);
        }
    }
}
