//! The first thing every request meets, before routing: HTTP framing that a proxy must not
//! guess at is refused, and the path is normalised once (see [`crate::normalize`]), so that
//! the API's router, the gateway's route match and every policy see the same path, and the
//! upstream is sent exactly that path.
//!
//! Refused here:
//! - HTTP/1.1 without exactly one `Host` (RFC 9112 section 3.2): 400;
//! - a `Transfer-Encoding` other than exactly `chunked` (RFC 9112 section 6.1: a coding
//!   Portcullis would not apply is not silently dropped): 501; with `Content-Length` too
//!   (the request-smuggling shape): 400;
//! - more than one `Content-Type`, or one listing several types; in HTTP/2 a field value
//!   with whitespace at either end: 400;
//! - a request head over `server.max_header_bytes`, counted as it came on the wire: 431;
//! - a path that cannot be normalised safely: 400.

use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};

use crate::Edge;
use crate::error::ApiError;
use crate::normalize::{DecodedPath, normalize_cow};

/// A problem answered before the request reached any handler: with the security headers
/// and a request id, and the connection closed when its framing is in doubt.
fn refuse(status: StatusCode, code: &'static str, detail: String, close: bool) -> Response {
    let mut res = ApiError::new(status, code, detail).into_response();
    crate::middleware::apply_security_headers(&mut res, true, false);
    if let Ok(v) = HeaderValue::from_str(&crate::middleware::new_request_id()) {
        res.headers_mut().insert(crate::middleware::REQUEST_ID, v);
    }
    if close {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The size of the request head as sent: request line, each header line, the blank line.
fn head_bytes(req: &Request) -> usize {
    let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
        + line
        + 2
}

/// Whether `host` is `name[:port]` as RFC 3986 writes an authority's host and port: a
/// registered name of letters, digits, `-`, `.` and `_`, an IPv4 address, or an IPv6
/// address in brackets; the port, digits. (No user information, path, list or space: a
/// Host that is anything else would be read one way here and another way upstream.)
pub fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    // A port is a number from 1 to 65535 (`:99999` or `:0` named no port an upstream
    // could agree on).
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.len() <= 253
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    });
    port_ok && name_ok
}

/// One host per request: the `Host` header and the request target's authority (HTTP/2's
/// `:authority`, an absolute-form target) must be well formed, and name the same host
/// when both are there (RFC 9113 section 8.3.1; RFC 9112 section 3.2.2), so that routing
/// here and the upstream's reading of the request cannot disagree.
fn one_host(req: &Request) -> Result<(), &'static str> {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|v| {
            v.to_str()
                .map_err(|_| "The Host header is not a host name.")
        })
        .transpose()?;
    let authority = req
        .uri()
        .authority()
        .map(axum::http::uri::Authority::as_str);
    for h in [host, authority].into_iter().flatten() {
        if !valid_host(h) {
            return Err("The request's host is not a well-formed host[:port].");
        }
    }
    match (host, authority) {
        (Some(h), Some(a)) if !h.eq_ignore_ascii_case(a) => {
            Err("The Host header and the request target name different hosts.")
        }
        _ => Ok(()),
    }
}

/// Whether a media type lists more than one type (a comma outside a quoted parameter):
/// `application/json, text/plain` is two readings of one body.
fn lists_types(value: &[u8]) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for &b in value {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// Fields whose reading must not depend on who reads them: one `Content-Type` naming one
/// type (the WAF chose its parser by the last of two, most upstreams by the first), and, in
/// HTTP/2, no value with whitespace at either end (RFC 9113 section 8.2.1: malformed; an
/// HTTP/1.1 parser trims it, so the two hops would see different values).
fn unambiguous_fields(req: &Request) -> Result<(), &'static str> {
    let mut types = req.headers().get_all(header::CONTENT_TYPE).iter();
    if let Some(ct) = types.next()
        && (types.next().is_some() || lists_types(ct.as_bytes()))
    {
        return Err("A request carries one Content-Type naming one media type.");
    }
    if req.version() == Version::HTTP_2
        && req.headers().values().any(|v| {
            let b = v.as_bytes();
            matches!(b.first(), Some(b' ' | b'\t')) || matches!(b.last(), Some(b' ' | b'\t'))
        })
    {
        return Err("An HTTP/2 field value may not begin or end with whitespace.");
    }
    Ok(())
}

/// One `Content-Length`, written plainly: HTTP/2 lets a request repeat an equal one (and
/// write `0005`), which strict HTTP/1.1 upstreams refuse and lenient ones may read apart.
fn one_length(h: &mut HeaderMap) -> Result<(), &'static str> {
    let mut lengths = h.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Ok(());
    };
    let repeated = lengths.next().is_some();
    let value = std::str::from_utf8(first.as_bytes())
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or("The Content-Length is not a number.")?;
    if repeated
        && !h
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .all(|v| v.as_bytes() == first.as_bytes())
    {
        return Err("Two different Content-Length values are ambiguous.");
    }
    if repeated || first.as_bytes().len() != value.to_string().len() {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(value));
    }
    Ok(())
}

/// Checks framing and normalises the path: the request to pass on, or the refusal.
/// (Called by the server's front service for every request, before anything else.)
pub fn admit(state: &Edge, mut req: Request) -> Result<Request, Box<Response>> {
    let h = req.headers();
    if matches!(req.version(), Version::HTTP_11 | Version::HTTP_10) {
        let hosts = h.get_all(header::HOST).iter().count();
        if hosts > 1 || (hosts == 0 && req.version() == Version::HTTP_11) {
            return Err(Box::new(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "An HTTP/1.1 request carries exactly one Host header.".into(),
                true,
            )));
        }
    }
    if let Err(why) = one_host(&req) {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why.into(),
            true,
        )));
    }
    if let Err(why) = unambiguous_fields(&req) {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why.into(),
            true,
        )));
    }
    if let Err(why) = one_length(req.headers_mut()) {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why.into(),
            true,
        )));
    }
    let h = req.headers();
    if h.contains_key(header::TRANSFER_ENCODING) {
        let mut codings = h
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty());
        let only_chunked = codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
            && codings.next().is_none();
        if !only_chunked {
            return Err(Box::new(refuse(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "Only Transfer-Encoding: chunked is supported.".into(),
                true,
            )));
        }
        if h.contains_key(header::CONTENT_LENGTH) {
            return Err(Box::new(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Transfer-Encoding and Content-Length together are ambiguous.".into(),
                true,
            )));
        }
    }
    let max = state.web.max_header_bytes;
    if head_bytes(&req) > max {
        return Err(Box::new(refuse(
            StatusCode::from_u16(431).unwrap_or(StatusCode::BAD_REQUEST),
            "request_header_fields_too_large",
            format!("The request line and headers are over {max} bytes."),
            true,
        )));
    }
    let rewritten = match normalize_cow(req.uri().path()) {
        Ok((_, None)) => None,
        Ok((path, Some(decoded))) => Some((path.into_owned(), decoded)),
        Err(e) => {
            return Err(Box::new(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Bad request path: {e}."),
                false,
            )));
        }
    };
    if let Some((path, decoded)) = rewritten {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = match pq.parse() {
            Ok(pq) => Some(pq),
            Err(_) => {
                return Err(Box::new(refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Bad request path.".into(),
                    false,
                )));
            }
        };
        match Uri::from_parts(parts) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return Err(Box::new(refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Bad request path.".into(),
                    false,
                )));
            }
        }
        req.extensions_mut().insert(DecodedPath(decoded));
    }
    Ok(req)
}

/// Marks a request that arrived over TLS (the server inserts it per connection).
#[derive(Debug, Clone, Copy)]
pub struct TlsConnection;

/// The decoded form of the request's (normalised) path.
pub fn decoded_path(parts: &axum::http::request::Parts) -> &str {
    parts
        .extensions
        .get::<DecodedPath>()
        .map_or(parts.uri.path(), |d| d.0.as_str())
}

/// Headers a client may not send through the gateway: forwarding information only
/// Portcullis writes, URL and method overrides some frameworks believe, `Proxy` (which CGI
/// stacks turn into `HTTP_PROXY`: httpoxy), and Portcullis's own (`x-portcullis-*` is
/// removed by prefix), and the client-address, client-certificate and identity headers of
/// other proxies and clouds, which sidecars and frameworks behind the gateway may believe
/// (Envoy's, Akamai's, Azure's, App Engine's, Fly's, Vercel's, auth proxies'). [`spoofable`] also knows them spelt with underscores.
pub const SPOOFABLE: [HeaderName; 48] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("x-original-method"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("x-originating-ip"),
    HeaderName::from_static("x-remote-ip"),
    HeaderName::from_static("x-remote-addr"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("front-end-https"),
    HeaderName::from_static("x-url-scheme"),
    HeaderName::from_static("x-scheme"),
    HeaderName::from_static("proxy"),
    HeaderName::from_static("x-forwarded"),
    HeaderName::from_static("forwarded-for"),
    HeaderName::from_static("x-original-forwarded-for"),
    HeaderName::from_static("x-envoy-external-address"),
    HeaderName::from_static("x-envoy-original-path"),
    HeaderName::from_static("akamai-client-ip"),
    HeaderName::from_static("x-proxyuser-ip"),
    HeaderName::from_static("x-azure-clientip"),
    HeaderName::from_static("x-azure-socketip"),
    HeaderName::from_static("x-appengine-user-ip"),
    HeaderName::from_static("x-envoy-original-url"),
    HeaderName::from_static("cf-connecting-ipv6"),
    HeaderName::from_static("fly-client-ip"),
    HeaderName::from_static("x-vercel-forwarded-for"),
    HeaderName::from_static("x-ms-forwarded-client-ip"),
    HeaderName::from_static("x-real-client-ip"),
    HeaderName::from_static("x-original-remote-addr"),
    HeaderName::from_static("x-remote-user"),
    HeaderName::from_static("remote-user"),
    HeaderName::from_static("x-webauth-user"),
    HeaderName::from_static("x-ssl-client-cert"),
    HeaderName::from_static("x-client-cert"),
];

/// Families of identity and client-certificate headers other gateways and proxies vouch
/// for: Authelia's and Kubernetes' front proxy's `Remote-*` / `X-Remote-*`, Kong's
/// consumer and credential, TLS terminators' client certificate (nginx, HAProxy, Traefik,
/// IIS ARR), CloudFront's viewer, Google IAP's and Cloudflare Access's assertions, Azure
/// App Service's tokens, Grafana's auth proxy, Kubernetes' impersonation, Pomerium's,
/// Tailscale's and Vouch's identities.
const IDENTITY_PREFIXES: [&str; 24] = [
    "x-pomerium-",
    "tailscale-",
    "x-vouch-",
    "x-grafana-",
    "remote-",
    "x-remote-",
    "x-consumer-",
    "x-credential-",
    "x-ssl-client-",
    "ssl-client-",
    "x-tls-client-",
    "cloudfront-viewer-",
    "x-goog-iap-",
    "cf-access-",
    "x-ms-token-",
    "x-webauth-",
    "impersonate-",
    "x-authenticated-",
    "teleport-",
    "x-teleport-",
    "oidc-claim-",
    "shib-",
    "x-kong-jwt-claim-",
    "x-appengine-user-",
];

/// Single identity headers of that kind (Kong's and Google's user info, JWT payloads
/// gateways pass on, the user names frameworks read).
const IDENTITY_NAMES: [&str; 26] = [
    "x-scope-orgid",
    "x-anonymous-consumer",
    "x-auth-user",
    "x-auth-email",
    "x-roles",
    "x-tenant-id",
    "x-org-id",
    "x-userinfo",
    "x-endpoint-api-userinfo",
    "x-apigateway-api-userinfo",
    "x-jwt-payload",
    "x-jwt-claims",
    "x-user",
    "x-user-id",
    "x-user-email",
    "x-real-user",
    "x-arr-clientcert",
    "x-client-dn",
    "x-client-verify",
    "x-client-cert-chain",
    "gap-auth",
    "x-cas-user",
    "x-otoroshi-claim",
    "auth-user",
    "x-spiffe-id",
    "x-client-spiffe-id",
];

/// Whether a client's header `name` (lower case) is one only Portcullis may send upstream:
/// in [`SPOOFABLE`], or `x-forwarded-*` / `x-portcullis-*` / `x-envoy-*` (Envoy trusts its
/// own headers from whoever is in front of it), also when spelt with `_` for `-` (CGI and
/// WSGI servers read `X_Forwarded_For` as `X-Forwarded-For`).
pub fn spoofable(name: &str) -> bool {
    let own = |n: &str| {
        n.starts_with("x-forwarded-")
            || n.starts_with("x-portcullis-")
            || n.starts_with("x-envoy-")
            // The identity other auth proxies vouch for (oauth2-proxy, AWS ALB, Google
            // IAP, Azure App Service): behind Portcullis, the identity is Portcullis's.
            || n.starts_with("x-auth-request-")
            || n.starts_with("x-amzn-oidc-")
            || n.starts_with("x-goog-authenticated-user-")
            || n.starts_with("x-ms-client-principal")
            || IDENTITY_PREFIXES.iter().any(|p| n.starts_with(p))
            || IDENTITY_NAMES.contains(&n)
            || SPOOFABLE.iter().any(|s| s.as_str() == n)
    };
    own(name) || (name.contains('_') && own(&name.replace('_', "-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_content_length_goes_on() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::CONTENT_LENGTH, HeaderValue::from_str(v).unwrap());
            }
            one_length(&mut h).map(|()| {
                h.get_all(header::CONTENT_LENGTH)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(with(&[]), Ok(vec![]));
        assert_eq!(with(&["5"]), Ok(vec!["5".to_owned()]));
        // Black-box pass 7, D4: an HTTP/2 request's two equal lengths reached the upstream.
        assert_eq!(with(&["5", "5"]), Ok(vec!["5".to_owned()]));
        assert_eq!(with(&["0005"]), Ok(vec!["5".to_owned()]));
        assert!(with(&["5", "6"]).is_err());
        assert!(with(&["5", "05"]).is_err());
        assert!(with(&["-1"]).is_err());
        assert!(with(&["+5"]).is_err());
        assert!(with(&["99999999999999999999"]).is_err());
    }

    #[test]
    fn spoofable_names_also_with_underscores() {
        for name in [
            "x-forwarded-for",
            "x_forwarded_for",
            "x-forwarded",
            "x-envoy-external-address",
            "x_envoy_original_path",
            "akamai-client-ip",
            "x-azure-clientip",
            "x-appengine-user-ip",
            "x-remote-user",
            // Black-box pass 7, C3/B7.
            "remote-groups",
            "x-remote-group",
            "x-consumer-username",
            "x-credential-identifier",
            "x-userinfo",
            "x-endpoint-api-userinfo",
            "x-jwt-payload",
            "x-authenticated-userid",
            "x-user-id",
            "x-ssl-client-verify",
            "ssl-client-cert",
            "x-arr-clientcert",
            "x-tls-client-cert",
            "x-client-verify",
            "cloudfront-viewer-address",
            // Black-box pass 8.
            "x-goog-iap-jwt-assertion",
            "cf-access-jwt-assertion",
            "cf-access-authenticated-user-email",
            "x-ms-token-aad-id-token",
            "x-webauth-email",
            "x-scope-orgid",
            "impersonate-user",
            "impersonate-group",
            // Black-box pass 9.
            "x-pomerium-jwt-assertion",
            "tailscale-user-login",
            "x-vouch-user",
            "x-grafana-org-id",
            "x-anonymous-consumer",
            "x-auth-user",
            "x-roles",
            "x-tenant-id",
            "x-auth-request-email",
            "x-amzn-oidc-identity",
            "x-goog-authenticated-user-email",
            "x-ms-client-principal-name",
            "fly-client-ip",
            "x-ssl-client-cert",
            "x-forwarded-prefix",
            "x_portcullis_user",
            "proxy",
            "x-real-ip",
            "x_real_ip",
            "client-ip",
            "front-end-https",
            // Black-box pass 10.
            "x-authenticated-scope",
            "x-authenticated-groups",
            "teleport-jwt-assertion",
            "x-teleport-jwt-assertion",
            "gap-auth",
            "oidc-claim-email",
            "oidc_claim_sub",
            "shib-identity-provider",
            "x-cas-user",
            "x-spiffe-id",
            "x-client-spiffe-id",
            "x-appengine-user-email",
            "x-kong-jwt-claim-sub",
            "x-otoroshi-claim",
            "auth-user",
        ] {
            assert!(spoofable(name), "{name}");
        }
        for name in [
            "x-request-idx",
            "proxy-status",
            "accept",
            "x-api-key",
            "user_agent",
        ] {
            assert!(!spoofable(name), "{name}");
        }
    }

    #[test]
    fn hosts_are_host_and_port_only() {
        for ok in [
            "a.example",
            "A.Example:8443",
            "127.0.0.1:8080",
            "[::1]",
            "[2001:db8::1]:443",
            "my_host.internal",
            "localhost",
            "a.example:65535",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "a.example:",
            "a.example:abc",
            "a.example:123456",
            "a.example:99999",
            "a.example:0",
            "[::1]:65536",
            "b@a.example",
            "a.example/x",
            "b.example, a.example",
            "a.example\tb",
            "a example",
            "::1",
            "[::1",
            "[not-v6]",
            "[::1]x",
            "a.example:80:80",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    fn request(uri: &str, host: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(axum::body::Body::empty())
            .unwrap_or_else(|_| Request::new(axum::body::Body::empty()))
    }

    #[test]
    fn the_host_header_and_the_target_name_one_host() {
        // HTTP/2's :authority and an absolute-form target are the URI's authority.
        assert!(one_host(&request("http://a.example/x", Some("a.example"))).is_ok());
        assert!(one_host(&request("http://a.example/x", Some("A.EXAMPLE"))).is_ok());
        assert!(one_host(&request("http://a.example/x", None)).is_ok());
        assert!(one_host(&request("/x", Some("b.example"))).is_ok());
        assert!(one_host(&request("http://a.example/x", Some("b.example"))).is_err());
        assert!(one_host(&request("http://a.example:8080/x", Some("a.example"))).is_err());
        assert!(one_host(&request("/x", Some("b@a.example"))).is_err());
    }

    #[test]
    fn one_content_type_of_one_type_and_h2_values_without_edge_whitespace() {
        assert!(!lists_types(b"application/json"));
        assert!(!lists_types(b"multipart/form-data; boundary=\"a,b\""));
        assert!(!lists_types(b"text/plain; x=\"q\\\",\"; charset=utf-8"));
        assert!(lists_types(b"application/json, text/plain"));
        assert!(lists_types(b"text/plain; x=\"a\", application/json"));
        let with = |version: Version, fields: &[(&str, &str)]| {
            let mut b = axum::http::Request::builder().version(version).uri("/x");
            for (k, v) in fields {
                b = b.header(*k, *v);
            }
            let req = b
                .body(axum::body::Body::empty())
                .unwrap_or_else(|_| Request::new(axum::body::Body::empty()));
            unambiguous_fields(&req)
        };
        let ct = |v| ("content-type", v);
        assert!(with(Version::HTTP_11, &[ct("application/json")]).is_ok());
        assert!(with(Version::HTTP_11, &[]).is_ok());
        assert!(
            with(
                Version::HTTP_11,
                &[ct("application/json"), ct("text/plain")]
            )
            .is_err()
        );
        assert!(with(Version::HTTP_11, &[ct("application/json, text/plain")]).is_err());
        assert!(with(Version::HTTP_2, &[("x-a", "b c")]).is_ok());
        assert!(with(Version::HTTP_2, &[("x-a", " b")]).is_err());
        assert!(with(Version::HTTP_2, &[("x-a", "b\t")]).is_err());
    }
}
