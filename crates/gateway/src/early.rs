//! Phase 2, early filter: what refuses a request before anyone is authenticated. Bans and
//! deny lists (for every request outside the API, before a signed body is even read), then
//! the route's own rules: denied and allowed addresses, countries, methods.

use std::net::IpAddr;

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use portcullis_core::Error;
use portcullis_http::error::ApiError;

use crate::GatewayState;
use crate::route::Route;

/// The refusal of a request from a banned or deny-listed address (or, when the bans cannot
/// be read, of every request: fail closed).
pub(crate) async fn banned(state: &GatewayState, ip: Option<IpAddr>) -> Option<Response> {
    portcullis_http::middleware::blocked(state, ip?).await
}

/// The route's address, country and method rules.
pub(crate) fn route_rules(
    state: &GatewayState,
    route: &Route,
    parts: &Parts,
    ip: Option<IpAddr>,
) -> Result<(), Response> {
    addresses(route, ip)?;
    let cfg = &route.cfg;
    if let Some(country) =
        state
            .svc
            .country_refused(ip, &cfg.allowed_countries, &cfg.denied_countries)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!("Requests from this location ({country}) may not use this route."),
        )
        .into_response());
    }
    method(route, parts)
}

fn ip_in(nets: &[IpNet], ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

/// `denied_ips` refuse; a non-empty `allowed_ips` admits only its own (and never an unknown
/// client address).
fn addresses(route: &Route, ip: Option<IpAddr>) -> Result<(), Response> {
    let cfg = &route.cfg;
    if ip_in(&cfg.denied_ips, ip) || (!cfg.allowed_ips.is_empty() && !ip_in(&cfg.allowed_ips, ip)) {
        return Err(ApiError::from(Error::IpNotAllowed).into_response());
    }
    Ok(())
}

/// A route with `methods` takes only those, and HEAD where it takes GET (RFC 9110 §9.3.2:
/// GET's answer without its body). A refusal names them in `Allow` (RFC 9110 §15.5.6: a
/// 405 must; black-box pass 11).
fn method(route: &Route, parts: &Parts) -> Result<(), Response> {
    let takes = |m: &Method| route.methods.contains(m);
    if route.methods.is_empty()
        || takes(&parts.method)
        || (parts.method == Method::HEAD && takes(&Method::GET))
    {
        return Ok(());
    }
    let mut allowed: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
    if takes(&Method::GET) && !takes(&Method::HEAD) {
        allowed.push("HEAD");
    }
    let allowed = allowed.join(", ");
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("This route accepts {allowed}."),
    )
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&allowed) {
        res.headers_mut().insert(axum::http::header::ALLOW, v);
    }
    Err(res)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn denied_before_allowed_and_unknown_clients_are_not_allowed() {
        let g = gateway(&[config(
            "r",
            "prefix = \"/r\"\nallowed_ips = [\"10.0.0.0/8\"]\ndenied_ips = [\"10.9.0.0/16\"]",
        )]);
        let r = &g.routes[0];
        assert!(addresses(r, ip("10.1.2.3")).is_ok());
        assert_eq!(
            addresses(r, ip("10.9.1.1")).unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
        assert!(addresses(r, ip("192.0.2.1")).is_err());
        assert!(addresses(r, None).is_err());
        let open = gateway(&[config("o", "prefix = \"/o\"")]);
        assert!(addresses(&open.routes[0], None).is_ok());
    }

    #[test]
    fn methods_are_enforced_when_listed() {
        let g = gateway(&[config("r", "prefix = \"/r\"\nmethods = [\"GET\"]")]);
        let parts = |m: &str| {
            axum::http::Request::builder()
                .method(m)
                .uri("/r")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert!(method(&g.routes[0], &parts("GET")).is_ok());
        assert!(method(&g.routes[0], &parts("HEAD")).is_ok());
        let refused = method(&g.routes[0], &parts("DELETE")).unwrap_err();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()["allow"], "GET, HEAD");
        let g = gateway(&[config(
            "r",
            "prefix = \"/r\"\nmethods = [\"POST\", \"PUT\"]",
        )]);
        let refused = method(&g.routes[0], &parts("HEAD")).unwrap_err();
        assert_eq!(refused.headers()["allow"], "POST, PUT");
    }
}
