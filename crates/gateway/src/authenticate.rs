//! Phase 3, authenticate: who is calling. An API key or client certificate was already
//! turned into a principal at the edge (its signature checked over the body); otherwise the
//! bearer token: a person's; a person's issued to an OAuth client for this route (on
//! `auth = "user"` and `"any"`: its audience this route, DPoP-bound ones with their proof);
//! or, on a route with `auth = "any"`, an OAuth client's own (client credentials). A public
//! route (`auth = "none"`) neither needs nor checks credentials and forwards no identity.

use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_core::config::RouteAuth;
use portcullis_core::service::Principal;
use portcullis_http::error::ApiError;
use portcullis_http::signatures::KeyPrincipal;

use crate::GatewayState;
use crate::route::Route;

/// The principal of the request, checked against the kind of credential the route takes
/// and the second factor its role requires; `None` on a public route.
pub(crate) async fn authenticate(
    state: &GatewayState,
    route: &Route,
    parts: &Parts,
) -> Result<Option<Principal>, Response> {
    let cfg = &route.cfg;
    if cfg.auth == RouteAuth::None {
        return Ok(None);
    }
    let p = match parts.extensions.get::<KeyPrincipal>() {
        Some(k) => k.0.clone(),
        None if matches!(cfg.auth, RouteAuth::Any | RouteAuth::User) => {
            client_or_person(state, route, parts)
                .await
                .map_err(|e| ApiError::from(e).into_response())?
        }
        None => portcullis_http::context::bearer(parts)
            .and_then(|token| state.svc.authenticate(token))
            .map_err(|e| ApiError::from(e).into_response())?,
    };
    if !kind_allowed(cfg.auth, &p) {
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
    if p.password_change {
        return Err(ApiError::from(Error::PasswordChangeRequired).into_response());
    }
    if p.api_key.is_none() && portcullis_http::context::lacks_required_factor(state, &p) {
        return Err(ApiError::from(Error::MfaEnrollmentRequired).into_response());
    }
    Ok(Some(p))
}

/// On a route that takes a person or any credential: a person's session token (`Bearer`, or
/// `DPoP` with its proof when it is bound), or an OAuth client's token (the client's own, or
/// a person's through it; `Bearer`, or `DPoP` with its proof) whose audience is this route's
/// public URL. A proof names the URI as the client addressed it: the public URL and the path.
async fn client_or_person(
    state: &GatewayState,
    route: &Route,
    parts: &Parts,
) -> Result<Principal, Error> {
    use portcullis_http::context::Credentials;
    let (token, proof) = match portcullis_http::context::credentials(parts)? {
        Credentials::Bearer(token) => (token, None),
        Credentials::Dpop { token, proof } => (token, Some(proof)),
    };
    // A person's token this node verified before: no need to read it again.
    if proof.is_none()
        && let Some(known) = state.svc.authenticate_verified(token)
    {
        return known;
    }
    let issuer = state.svc.issuer().trim_end_matches('/');
    // Only a DPoP proof names the URI.
    let uri = proof.map_or_else(String::new, |_| format!("{issuer}{}", parts.uri.path()));
    let request = proof.map(|proof| portcullis_core::service::DpopRequest {
        proof,
        method: parts.method.as_str(),
        uri: &uri,
    });
    if !portcullis_core::service::is_app_token(token) {
        return match request {
            Some(request) => state.svc.authenticate_dpop(token, request).await,
            None => state.svc.authenticate(token),
        };
    }
    let resource = format!("{issuer}{}", route.cfg.prefix);
    let peer = parts
        .extensions
        .get::<portcullis_http::signatures::PeerIdentity>()
        .map(|p| p.x5t_s256.as_str());
    state
        .svc
        .authenticate_client_token(token, &resource, request, peer)
        .await
}

/// Whether the route's `auth` takes this kind of principal. OAuth client tokens are taken
/// only by routes with `auth = "any"`, never where an API key or a certificate is asked for.
fn kind_allowed(auth: RouteAuth, p: &Principal) -> bool {
    let client = portcullis_core::service::CLIENT_GRANT_PREFIX;
    match (&p.api_key, auth) {
        (_, RouteAuth::Any) => true,
        (None, RouteAuth::User) => true,
        // A person signed in through an OAuth client (a session), never a client alone.
        (Some(g), RouteAuth::User) => g.id.starts_with(client) && !p.session_id.is_empty(),
        (Some(g), RouteAuth::Mtls) => g.id.starts_with("mtls:"),
        (Some(g), RouteAuth::ApiKey) => !g.id.starts_with("mtls:") && !g.id.starts_with(client),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use portcullis_core::model::{Role, SigningMode};
    use portcullis_core::service::ApiKeyGrant;

    fn principal(key: Option<&str>) -> Principal {
        Principal {
            user_id: "u".into(),
            session_id: String::new(),
            role: Role::User,
            amr: vec!["pwd".into()],
            auth_time: 0,
            api_key: key.map(|id| ApiKeyGrant {
                id: id.into(),
                scopes: vec![],
                signing: SigningMode::None,
            }),
            elevation: None,
            password_change: false,
        }
    }

    #[test]
    fn each_route_auth_takes_its_kind_of_principal() {
        let user = principal(None);
        let key = principal(Some("k1"));
        let cert = principal(Some("mtls:spiffe://x"));
        for (auth, user_ok, key_ok, cert_ok) in [
            (RouteAuth::Any, true, true, true),
            (RouteAuth::User, true, false, false),
            (RouteAuth::ApiKey, false, true, false),
            (RouteAuth::Mtls, false, false, true),
        ] {
            assert_eq!(kind_allowed(auth, &user), user_ok, "{auth:?} user");
            assert_eq!(kind_allowed(auth, &key), key_ok, "{auth:?} key");
            assert_eq!(kind_allowed(auth, &cert), cert_ok, "{auth:?} cert");
        }
    }
}
