//! Header hygiene: hop-by-hop headers, what the upstream is told about the client, and the
//! IETF RateLimit headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::GatewayState;

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded.
/// (`proxy-connection`: the pre-standard `Connection` some clients and servers still send.)
pub(crate) const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
    strip(h, |_| false);
}

/// Removes the hop-by-hop headers, those `Connection` names, and those `also` picks, in one
/// pass over the names present: a request carries a handful of headers, and removing each
/// name that might be there (thirty-odd) hashed every one of them on every request.
pub(crate) fn strip(h: &mut HeaderMap, also: impl Fn(&str) -> bool) {
    // Names listed in `Connection` (rare); the fixed set needs no allocation.
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| HeaderName::from_bytes(s.trim().as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = h
        .keys()
        .filter(|k| {
            let k = k.as_str();
            HOP_BY_HOP.contains(&k) || also(k) || listed.iter().any(|l| l.as_str() == k)
        })
        .cloned()
        .collect();
    for name in &doomed {
        h.remove(name);
    }
}

/// The items of `RateLimit-Policy` and `RateLimit` (IETF httpapi-ratelimit-headers) of
/// every limit and quota that applied to a request, written out once at the end.
#[derive(Debug, Default)]
pub(crate) struct RateHeaders {
    /// Name, quota and window of each policy.
    policies: Vec<(std::sync::Arc<str>, u64, u64)>,
    /// Name, remaining and reset of each limit.
    limits: Vec<(std::sync::Arc<str>, u64, u64)>,
}

// Names parsed once, not on every request.
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl RateHeaders {
    /// A policy: `q` requests per `w` seconds.
    pub(crate) fn policy(&mut self, name: impl Into<std::sync::Arc<str>>, q: u64, w: u64) {
        self.policies.push((name.into(), q, w));
    }

    /// Where it stands: `r` left, reset in `t` seconds.
    pub(crate) fn limit(&mut self, name: impl Into<std::sync::Arc<str>>, r: u64, t: u64) {
        self.limits.push((name.into(), r, t));
    }

    /// Sets both headers (when anything applied).
    pub(crate) fn write(&self, h: &mut HeaderMap) {
        use std::fmt::Write as _;
        for (header, items, (a, b)) in [
            (RATELIMIT_POLICY, &self.policies, ("q", "w")),
            (RATELIMIT, &self.limits, ("r", "t")),
        ] {
            if items.is_empty() {
                continue;
            }
            let mut v = String::with_capacity(items.len() * 40);
            for (i, (name, x, y)) in items.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(v, "{sep}\"{name}\";{a}={x};{b}={y}");
            }
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header, v);
            }
        }
    }
}

/// Makes the headers the upstream receives (the contract's "Protocols, forwarding and
/// access logs"): hop-by-hop headers go (also those `Connection` names, which can never
/// remove what Portcullis sets, since that is set afterwards), and so does every
/// forwarding, override or identity header the client sent; then Portcullis writes its own:
/// `X-Forwarded-For` (a trusted proxy's chain, then the immediate peer, as nginx's
/// `$proxy_add_x_forwarded_for`; from anyone else the peer alone), `X-Forwarded-Proto`,
/// `X-Forwarded-Host`, `X-Request-Id` (the gateway's own) and the identity.
pub(crate) fn forward_headers(
    parts: &mut axum::http::request::Parts,
    state: &GatewayState,
    forward_authorization: bool,
    upgrade: Option<&HeaderValue>,
    identity: Option<HeaderValue>,
) {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|ci| portcullis_http::client_ip::canonical(ci.0.ip()));
    let trusted = peer.is_some_and(|p| state.web.trusted_proxies.iter().any(|n| n.contains(&p)));
    let h = &mut parts.headers;
    // A trusted proxy's word, from the header Portcullis believes (`[server]
    // forwarded_header`): the chain and the scheme.
    let believed = state.web.forwarded_header;
    let chain: Vec<String> = if trusted {
        portcullis_http::client_ip::forwarded_chain_text(h, believed)
    } else {
        Vec::new()
    };
    let said = |name: &str| {
        trusted
            .then(|| portcullis_http::client_ip::forwarded_param(h, believed, name))
            .flatten()
    };
    let https = parts
        .extensions
        .get::<portcullis_http::edge::TlsConnection>()
        .is_some()
        || said("proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    // The host is the one this request named, whoever sent it.
    let host = h.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let request_id = h.get(portcullis_http::middleware::REQUEST_ID).cloned();
    // `TE: trailers` is the one hop-by-hop header passed on: it says the client takes
    // trailers, which the gateway streams through, and gRPC servers require it.
    let trailers = h
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    // Hop-by-hop headers, every forwarding, override or identity header the client sent,
    // the host (the upstream's is its own), and the credentials unless the route passes
    // them on.
    strip(h, |k| {
        k == "host"
            || portcullis_http::edge::spoofable(k)
            || (!forward_authorization && (k == "authorization" || k == "x-api-key"))
    });
    if trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    upstream_cookies(h);
    if let Some(proto) = upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, proto.clone());
    }
    if let Some(peer) = peer {
        let mut xff = chain.join(", ");
        if !xff.is_empty() {
            xff.push_str(", ");
        }
        xff.push_str(&peer.to_string());
        if let Ok(v) = HeaderValue::from_str(&xff) {
            h.insert(X_FORWARDED_FOR, v);
        }
    }
    h.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    if let Some(host) = host {
        h.insert(X_FORWARDED_HOST, host);
    }
    if let Some(id) = request_id {
        h.insert(portcullis_http::middleware::REQUEST_ID, id);
    }
    if let Some(id) = identity {
        h.insert(crate::IDENTITY_HEADER, id);
    }
}

/// Removes Portcullis's own cookies (`pcl_*`, `__Host-pcl_*`: the browser's sign-in, the
/// console's session, CSRF bindings) from what goes upstream: they belong to Portcullis on
/// this host, and an upstream holding them could act as the person. Other cookies pass, in
/// one header: an HTTP/2 client may send them as several (crumbs, for its header
/// compression), and RFC 9113 §8.2.3 has them joined with `; ` for HTTP/1.1, where servers
/// that keep one header or join with `,` lost the session (black-box pass 11, B11-10).
pub(crate) fn upstream_cookies(h: &mut HeaderMap) {
    let own = |kv: &str| {
        let name = kv.split('=').next().unwrap_or_default().trim();
        let name = name.strip_prefix("__Host-").unwrap_or(name);
        name.starts_with("pcl_")
    };
    let cookies = h.get_all(header::COOKIE);
    if cookies.iter().nth(1).is_none()
        && !cookies
            .iter()
            .any(|v| v.to_str().map_or(true, |v| v.split(';').any(own)))
    {
        return;
    }
    let kept: Vec<String> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && !own(kv))
        .map(str::to_owned)
        .collect();
    h.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&kept.join("; "))
        && !kept.is_empty()
    {
        h.insert(header::COOKIE, v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn portcullis_cookies_never_go_upstream() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; pcl_console=tok; __Host-pcl_session=s.t"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("pcl_csrf=x; b=2"));
        super::upstream_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1; b=2");
        // Crumbs of an HTTP/2 request, none of them Portcullis's: one header all the same.
        let mut crumbs = HeaderMap::new();
        crumbs.append(header::COOKIE, HeaderValue::from_static("a=1"));
        crumbs.append(header::COOKIE, HeaderValue::from_static("b=2; c=3"));
        super::upstream_cookies(&mut crumbs);
        assert_eq!(crumbs.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(crumbs.get(header::COOKIE).unwrap(), "a=1; b=2; c=3");
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, HeaderValue::from_static("pcl_console=tok"));
        super::upstream_cookies(&mut only);
        assert!(only.get(header::COOKIE).is_none());
        let mut other = HeaderMap::new();
        other.insert(
            header::COOKIE,
            HeaderValue::from_static("session=abc; x=pcl_y"),
        );
        super::upstream_cookies(&mut other);
        assert_eq!(other.get(header::COOKIE).unwrap(), "session=abc; x=pcl_y");
    }

    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-secret, keep-alive"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-secret").is_none() && h.get(header::TE).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert_eq!(h.get("x-kept").unwrap(), "1");
    }

    #[test]
    fn rate_headers_list_every_item() {
        let mut r = RateHeaders::default();
        let mut h = HeaderMap::new();
        r.write(&mut h);
        assert!(h.is_empty());
        r.policy("api", 10, 60);
        r.limit("api", 9, 6);
        r.policy("api-daily", 1000, 86400);
        r.limit("api-daily", 999, 3600);
        r.write(&mut h);
        assert_eq!(
            h.get("ratelimit-policy").unwrap(),
            "\"api\";q=10;w=60, \"api-daily\";q=1000;w=86400"
        );
        assert_eq!(
            h.get("ratelimit").unwrap(),
            "\"api\";r=9;t=6, \"api-daily\";r=999;t=3600"
        );
    }
}
