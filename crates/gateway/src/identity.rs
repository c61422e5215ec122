//! The identity forwarded to the upstream: a short-lived EdDSA JWT whose `aud` is the
//! route. Tokens are minted per distinct set of facts and reused for half their lifetime;
//! the cache of every route is this module's state.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::sync::Mutex;

use axum::http::HeaderValue;
use portcullis_core::Error;
use portcullis_core::service::Principal;
use serde_json::json;

use crate::GatewayState;
use crate::route::Route;

/// Lifetime of a forwarded identity token.
const IDENTITY_TTL: i64 = 60;
/// Most tokens cached per route before the cache starts again.
const MAX_CACHED: usize = 10_000;

/// The identity tokens minted lately, per route, by a keyed hash of what they say.
pub(crate) struct Identities {
    caches: Vec<Mutex<HashMap<u64, CachedIdentity>>>,
    hasher: RandomState,
}

impl Identities {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            caches: (0..routes).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

/// The identity header for `p` on `route`: a token minted for exactly the same facts is
/// reused for half its lifetime (signing is the expensive part). The cache is keyed by a
/// keyed hash of those facts and a hit is compared field by field, so a lookup allocates
/// nothing and a hash collision can never hand one principal another's identity.
pub(crate) fn identity_token(
    state: &GatewayState,
    ids: &Identities,
    route: &Route,
    p: &Principal,
) -> Result<HeaderValue, Error> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let now = state.svc.now();
    let cache = ids
        .caches
        .get(route.index)
        .ok_or_else(|| Error::Internal("identity cache".into()))?;
    let mut h = ids.hasher.build_hasher();
    p.user_id.hash(&mut h);
    p.session_id.hash(&mut h);
    p.role.as_str().hash(&mut h);
    p.amr.hash(&mut h);
    p.auth_time.hash(&mut h);
    p.api_key.as_ref().map(|g| (&g.id, &g.scopes)).hash(&mut h);
    p.elevation
        .as_ref()
        .map(|e| (&e.id, &e.scopes, e.until))
        .hash(&mut h);
    let key = h.finish();
    if let Some(v) = cache.lock().ok().and_then(|m| {
        m.get(&key)
            .filter(|c| now - c.minted < IDENTITY_TTL / 2 && same_facts(&c.principal, p))
            .map(|c| c.header.clone())
    }) {
        return Ok(v);
    }
    let token = mint_identity(state, route, p, now)?;
    let header =
        HeaderValue::from_str(&token).map_err(|_| Error::Internal("identity token".into()))?;
    if let Ok(mut m) = cache.lock() {
        if m.len() >= MAX_CACHED {
            m.clear();
        }
        m.insert(
            key,
            CachedIdentity {
                principal: p.clone(),
                header: header.clone(),
                minted: now,
            },
        );
    }
    Ok(header)
}

/// A minted identity token, kept for reuse.
#[derive(Debug)]
struct CachedIdentity {
    principal: Principal,
    header: HeaderValue,
    minted: i64,
}

/// Whether two principals carry the same facts into an identity token.
fn same_facts(a: &Principal, b: &Principal) -> bool {
    a.user_id == b.user_id
        && a.session_id == b.session_id
        && a.role == b.role
        && a.amr == b.amr
        && a.auth_time == b.auth_time
        && a.api_key.as_ref().map(|g| (&g.id, &g.scopes))
            == b.api_key.as_ref().map(|g| (&g.id, &g.scopes))
        && a.elevation.as_ref().map(|e| (&e.id, &e.scopes, e.until))
            == b.elevation.as_ref().map(|e| (&e.id, &e.scopes, e.until))
}

fn mint_identity(
    state: &GatewayState,
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
