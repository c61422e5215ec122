//! What a request says about its caller before anyone is authenticated: the network context
//! (client address by the trusted-proxy rule, User-Agent, device cookie, fingerprint) and the
//! bearer token.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header;
use axum::http::request::Parts;
use portcullis_core::Error;
use portcullis_core::service::{Principal, RequestContext};

use crate::Edge;
use crate::client_ip::client_ip;

/// Longest User-Agent kept.
const MAX_USER_AGENT: usize = 256;

/// Computes the request context from the parts.
pub fn request_context(parts: &Parts, state: &Edge) -> RequestContext {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    let ip = peer.and_then(|p| {
        client_ip(
            p,
            &parts.headers,
            &state.web.trusted_proxies,
            state.web.forwarded_header,
        )
    });
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT)
                .collect()
        });
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let device = cookie(&parts.headers, portcullis_core::detect::device::COOKIE)
        .and_then(|v| state.svc.device_from_cookie(v));
    let fingerprint = state.svc.fingerprint(&[
        header("user-agent"),
        header("accept-language"),
        header("sec-ch-ua-platform"),
        header("sec-ch-ua-mobile"),
    ]);
    RequestContext {
        ip,
        user_agent,
        device,
        fingerprint,
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The bearer token of the request.
pub fn bearer(parts: &Parts) -> Result<&str, Error> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(Error::Unauthenticated)?;
    let value = value.to_str().map_err(|_| Error::MalformedCredentials)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::MalformedCredentials)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::MalformedCredentials);
    }
    Ok(token.trim())
}

/// Whether the principal's role demands a second factor that its token lacks.
pub fn lacks_required_factor(state: &Edge, p: &Principal) -> bool {
    state.web.mfa_required_for_roles.contains(&p.role) && !p.has_second_factor()
}
