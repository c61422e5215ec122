//! The identity forwarded to the upstream: a short-lived EdDSA JWT.

use super::*;

pub(super) fn identity_token(
    state: &AppState,
    route: &Route,
    p: &Principal,
) -> Result<String, Error> {
    let now = state.svc.now();
    // The same identity is reused for half its lifetime: signing is the expensive part.
    let cache_key = format!(
        "{}|{}|{}|{:?}|{}|{:?}|{:?}",
        p.user_id,
        p.session_id,
        p.role.as_str(),
        p.api_key.as_ref().map(|g| (&g.id, &g.scopes)),
        p.auth_time,
        p.amr,
        p.elevation.as_ref().map(|e| &e.id),
    );
    if let Some((t, at)) = route
        .identities
        .lock()
        .ok()
        .and_then(|m| m.get(&cache_key).cloned())
        && now - at < IDENTITY_TTL / 2
    {
        return Ok(t);
    }
    let token = mint_identity(state, route, p, now)?;
    if let Ok(mut m) = route.identities.lock() {
        if m.len() >= 10_000 {
            m.clear();
        }
        m.insert(cache_key, (token.clone(), now));
    }
    Ok(token)
}

pub(super) fn mint_identity(
    state: &AppState,
    route: &Route,
    p: &Principal,
    now: i64,
) -> Result<String, Error> {
    let issuer = state.svc.settings().issuer.clone();
    let jti: [u8; 16] = portcullis_core::rand::bytes(&portcullis_core::rand::OsRng);
    let (kind, key_id, scopes) = match &p.api_key {
        Some(g) if g.id.starts_with("mtls:") => ("mtls", Some(g.id.clone()), g.scopes.clone()),
        Some(g) => ("api_key", Some(g.id.clone()), g.scopes.clone()),
        None => (
            "user",
            None,
            p.elevation
                .as_ref()
                .map(|e| e.scopes.clone())
                .unwrap_or_default(),
        ),
    };
    // An elevated identity never outlives its elevation.
    let exp = match &p.elevation {
        Some(e) => (now + IDENTITY_TTL).min(e.until),
        None => now + IDENTITY_TTL,
    };
    let claims = json!({
        "iss": issuer,
        "aud": route.cfg.name,
        "sub": p.user_id,
        "iat": now,
        "exp": exp,
        "jti": hex::encode(jti),
        "role": p.role.as_str(),
        "auth": kind,
        "scopes": scopes,
        "key_id": key_id,
        "sid": (!p.session_id.is_empty()).then_some(&p.session_id),
        "amr": p.amr,
        "auth_time": p.auth_time,
        "elevated": p.elevation.is_some(),
        "elevation_id": p.elevation.as_ref().map(|e| &e.id),
    });
    state
        .svc
        .keyring
        .sign_value(&claims, "portcullis-identity+jwt", now)
}
