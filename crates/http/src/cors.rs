//! CORS for Portcullis's own API (`/api/v1`), the OAuth token, revocation and userinfo
//! endpoints, and the discovery documents and JWKS a browser app reads first:
//! browser pages from `server.cors_origins` may call them. Origins match exactly, never by
//! pattern; credentials mode is not offered (the API authenticates by header, and its one
//! cookie never crosses sites). Preflights from an allowed origin are answered 204; from any
//! other (and when none is configured), 403 `origin_not_allowed`. Gateway
//! routes are the upstream's business and get no CORS from here.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Edge;
use crate::error::ApiError;

/// Methods a page may use.
const METHODS: HeaderValue = HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE");
/// Request headers a page may send.
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "authorization, content-type, accept, accept-language, dpop, idempotency-key, x-api-key, signature, signature-input, content-digest",
);
/// Response headers a page may read besides the safelisted ones.
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static(
    "ratelimit, ratelimit-policy, retry-after, x-request-id, www-authenticate, location, dpop-nonce",
);
/// How long a browser may cache a preflight, seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("600");

/// Whether CORS applies to `path` at all.
fn covered(path: &str) -> bool {
    // The token endpoint too, for browser apps (public clients); never the authorization
    // endpoint, which is navigated to, not fetched.
    path.starts_with("/api/v1/")
        || path == "/oauth2/token"
        || path == "/oauth2/revoke"
        || path == "/oauth2/userinfo"
        // What a browser app fetches before it signs anyone in (black-box pass 13, B13-3).
        || path == "/.well-known/openid-configuration"
        || path == "/.well-known/oauth-authorization-server"
        || path == "/.well-known/jwks.json"
}

/// The CORS layer of the API router.
pub async fn cors(State(state): State<Edge>, req: Request, next: Next) -> Response {
    let origins = &state.web.cors_origins;
    if !covered(req.uri().path()) {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .filter(|o| origins.iter().any(|a| a.as_bytes() == o.as_bytes()))
        .cloned();
    if req.method() == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        // Answered also when no origin is configured: a clear refusal, not a 405.
        return preflight(allowed);
    }
    if origins.is_empty() {
        return next.run(req).await;
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    vary(h, "origin");
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
    }
    res
}

/// The answer to a preflight.
fn preflight(allowed: Option<HeaderValue>) -> Response {
    let Some(origin) = allowed else {
        let mut res = ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "This origin may not call the API from a browser (server.cors_origins).",
        )
        .into_response();
        vary(res.headers_mut(), "origin");
        return res;
    };
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    vary(
        h,
        "origin, access-control-request-method, access-control-request-headers",
    );
    res
}

/// Adds `names` to the response's `Vary`.
fn vary(h: &mut HeaderMap, names: &'static str) {
    match h.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => {
            if let Ok(v) = HeaderValue::from_str(&format!("{existing}, {names}")) {
                h.insert(header::VARY, v);
            }
        }
        _ => {
            h.insert(header::VARY, HeaderValue::from_static(names));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn preflights() {
        let ok = preflight(Some(HeaderValue::from_static("https://app.example")));
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        let h = ok.headers();
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("authorization")
        );
        let refused = preflight(None);
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    #[test]
    fn vary_appends() {
        let mut h = HeaderMap::new();
        vary(&mut h, "origin");
        assert_eq!(h[header::VARY], "origin");
        h.insert(header::VARY, HeaderValue::from_static("accept"));
        vary(&mut h, "origin");
        assert_eq!(h[header::VARY], "accept, origin");
    }

    #[test]
    fn only_the_api_is_covered() {
        assert!(covered("/api/v1/auth/login"));
        assert!(!covered("/healthz"));
        assert!(!covered("/payments/x"));
    }
}
