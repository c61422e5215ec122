//! Phase 4, authorise: what the principal may do here. Roles, API-key scopes, the signed
//! requests a route demands, then the route's Cedar policy. A Cedar denial is audited once
//! a minute per principal, route and policies (the [`Denials`] this phase keeps), so a
//! client retrying in a loop cannot flood the audit log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_core::model::SigningMode;
use portcullis_core::service::{Principal, RequestContext};
use portcullis_http::error::ApiError;

use crate::GatewayState;
use crate::route::Route;

/// Most denial keys remembered per route before the memory starts again.
const MAX_DENIALS: usize = 10_000;
/// How often one denial is audited.
const DENIAL_AUDIT_EVERY: Duration = Duration::from_secs(60);

/// When each Cedar denial was last audited, per route.
pub(crate) struct Denials(Vec<Mutex<HashMap<String, Instant>>>);

impl Denials {
    pub(crate) fn new(routes: usize) -> Self {
        Self((0..routes).map(|_| Mutex::new(HashMap::new())).collect())
    }

    /// Whether the denial `key` on `route` is due to be audited (and notes it if so).
    fn due(&self, route: &Route, key: String) -> bool {
        let Some(m) = self.0.get(route.index) else {
            return true;
        };
        let mut m = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > MAX_DENIALS {
            m.clear();
        }
        let due = m
            .get(&key)
            .is_none_or(|t| t.elapsed() >= DENIAL_AUDIT_EVERY);
        if due {
            m.insert(key, Instant::now());
        }
        due
    }
}

/// Roles, scopes and signatures for an authenticated principal; the rate observation;
/// then the Cedar policy (which also sees public routes' anonymous requests).
pub(crate) async fn authorize(
    state: &GatewayState,
    denials: &Denials,
    route: &Route,
    parts: &Parts,
    principal: Option<&Principal>,
    ctx: &RequestContext,
) -> Result<(), Response> {
    let cfg = &route.cfg;
    if let Some(p) = principal {
        grants(route, p)?;
        // Each principal's rate against its own baseline: an anomaly is recorded (and can
        // fire an alert rule), not refused here.
        let key = p
            .api_key
            .as_ref()
            .map_or(p.user_id.as_str(), |k| k.id.as_str());
        if let Err(e) = state.svc.observe_rate(key, &cfg.name, ctx).await {
            return Err(ApiError::from(e).into_response());
        }
    }
    let Some(policy) = &route.policy else {
        return Ok(());
    };
    let verdict = policy.decide(&crate::policy::Facts {
        principal,
        method: parts.method.as_str(),
        route: (&cfg.name, &cfg.prefix),
        path: portcullis_http::edge::decoded_path(parts),
        ip: ctx.ip,
        now: state.svc.now(),
    });
    if verdict.allow {
        return Ok(());
    }
    let who = principal.map(|p| p.user_id.as_str());
    let key = format!(
        "{}|{}|{}",
        who.unwrap_or("-"),
        cfg.name,
        verdict.policies.join(",")
    );
    tracing::info!(route = %cfg.name, policies = ?verdict.policies, "gateway policy denied");
    if denials.due(route, key) {
        let reason = format!("cedar deny; policies: {}", verdict.policies.join(", "));
        if let Err(e) = state
            .svc
            .audit_access_denied(who, ctx, parts.uri.path(), &reason)
            .await
        {
            return Err(ApiError::from(e).into_response());
        }
    }
    Err(ApiError::from(Error::Forbidden(
        "A policy of this route does not allow the request.".into(),
    ))
    .into_response())
}

/// The route's `roles`, `scopes` and `require_signature` against what `p` holds.
fn grants(route: &Route, p: &Principal) -> Result<(), Response> {
    let cfg = &route.cfg;
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
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};
    use axum::http::StatusCode;
    use portcullis_core::model::Role;
    use portcullis_core::service::ApiKeyGrant;

    fn key(scopes: &[&str], signing: SigningMode) -> Principal {
        Principal {
            user_id: "u".into(),
            session_id: String::new(),
            role: Role::User,
            amr: vec![],
            auth_time: 0,
            api_key: Some(ApiKeyGrant {
                id: "k".into(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                signing,
            }),
            elevation: None,
            password_change: false,
        }
    }

    #[test]
    fn roles_scopes_and_signatures() {
        let g = gateway(&[
            config("roles", "prefix = \"/a\"\nroles = [\"admin\"]"),
            config("scoped", "prefix = \"/b\"\nscopes = [\"orders:read\"]"),
            config("signed", "prefix = \"/c\"\nrequire_signature = true"),
        ]);
        let by = |n: &str| g.routes.iter().find(|r| r.name() == n).unwrap();
        let status = |r: Result<(), Response>| r.err().map(|e| e.status());
        assert_eq!(
            status(grants(by("roles"), &key(&[], SigningMode::None))),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(grants(
                by("scoped"),
                &key(&["orders:read"], SigningMode::None)
            )),
            None
        );
        assert_eq!(
            status(grants(
                by("scoped"),
                &key(&["orders:write"], SigningMode::None)
            )),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(grants(by("signed"), &key(&[], SigningMode::None)).is_err());
    }

    #[test]
    fn a_denial_is_audited_once_a_minute() {
        let g = gateway(&[config("r", "prefix = \"/r\"")]);
        let d = Denials::new(1);
        assert!(d.due(&g.routes[0], "u|r|p".into()));
        assert!(!d.due(&g.routes[0], "u|r|p".into()));
        assert!(d.due(&g.routes[0], "v|r|p".into()));
    }
}
