//! Who may use a route: IP and country rules, methods, credentials, roles, scopes, signatures.

use super::*;

/// Checks who may use `route`; returns the principal to forward (none for `auth = none`).
pub(super) async fn authorize(
    state: &GatewayState,
    route: &Route,
    req: &axum::http::request::Parts,
    ip: Option<std::net::IpAddr>,
) -> Result<Option<Principal>, Response> {
    let cfg = &route.cfg;
    if ip_in(&cfg.denied_ips, ip) || (!cfg.allowed_ips.is_empty() && !ip_in(&cfg.allowed_ips, ip)) {
        return Err(ApiError::from(Error::IpNotAllowed).into_response());
    }
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
    if !route.methods.is_empty() && !route.methods.contains(&req.method) {
        return Err(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("This route accepts {}.", cfg.methods.join(", ")),
        ));
    }
    // A public route neither needs nor checks credentials, and forwards no identity.
    if cfg.auth == RouteAuth::None {
        return Ok(None);
    }
    let p = match req.extensions.get::<KeyPrincipal>() {
        Some(k) => k.0.clone(),
        None => portcullis_http::context::bearer(req)
            .and_then(|token| state.svc.authenticate(token))
            .map_err(|e| ApiError::from(e).into_response())?,
    };
    let kind_ok = match (&p.api_key, cfg.auth) {
        (_, RouteAuth::Any) => true,
        (None, RouteAuth::User) => true,
        (Some(g), RouteAuth::Mtls) => g.id.starts_with("mtls:"),
        (Some(g), RouteAuth::ApiKey) => !g.id.starts_with("mtls:"),
        _ => false,
    };
    if !kind_ok {
        return Err(ApiError::from(Error::Forbidden(format!(
            "This route needs {}.",
            match cfg.auth {
                RouteAuth::User => "a signed-in user",
                RouteAuth::ApiKey => "an API key",
                RouteAuth::Mtls => "a client certificate",
                _ => "credentials",
            }
        )))
        .into_response());
    }
    if p.api_key.is_none() && portcullis_http::context::lacks_required_factor(state, &p) {
        return Err(ApiError::from(Error::MfaEnrollmentRequired).into_response());
    }
    if !cfg.roles.is_empty() && !cfg.roles.contains(&p.role) {
        return Err(ApiError::from(Error::Forbidden(format!(
            "This route is for the roles {}.",
            cfg.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .into_response());
    }
    if let Some(g) = &p.api_key {
        for scope in &cfg.scopes {
            g.require(scope)
                .map_err(|e| ApiError::from(e).into_response())?;
        }
    }
    if cfg.require_signature
        && !p
            .api_key
            .as_ref()
            .is_some_and(|g| g.signing != SigningMode::None)
    {
        return Err(ApiError::from(Error::InvalidSignature(
            "this route only accepts API keys that sign their requests (RFC 9421)".into(),
        ))
        .into_response());
    }
    Ok(Some(p))
}
