//! The API-key layer: authenticates requests that carry an API key (`Authorization: Bearer
//! pcl_...` or `X-API-Key`) and, for keys that require it, verifies their HTTP message
//! signature (RFC 9421) and `Content-Digest` (RFC 9530) before any handler runs. A tower
//! layer (`axum::middleware::from_fn_with_state`), so the gateway puts the same one in front
//! of upstream routes.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_core::crypto::httpsig::RequestParts;
use portcullis_core::model::SigningMode;
use portcullis_core::service::{Principal, SignedRequest};

use crate::Edge;
use crate::context::request_context;
use crate::error::ApiError;

/// The identity in a client certificate that the TLS layer verified (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// `spiffe://` URI SANs.
    pub spiffe_ids: Vec<String>,
    /// The subject's common name.
    pub common_name: Option<String>,
    /// The base64url SHA-256 of the leaf certificate's DER (RFC 8705 §3.1 `x5t#S256`).
    pub x5t_s256: String,
}

/// The principal an API key established for this request.
#[derive(Clone, Debug)]
pub struct KeyPrincipal(pub Principal);

/// The API key a request carries, if any (`X-API-Key`, or a bearer token that looks like one).
/// Credentials must be unambiguous: a bearer token together with `X-API-Key`, or either
/// header twice, is refused (400 `invalid_request`) rather than one of them silently chosen,
/// for the API and the gateway alike (both pass through here).
pub fn api_key_of(headers: &HeaderMap) -> Result<Option<String>, Box<ApiError>> {
    let keys = headers.get_all("x-api-key").iter().count();
    let auths = headers.get_all(header::AUTHORIZATION).iter().count();
    if keys > 1 || auths > 1 {
        return Err(Box::new(ApiError::invalid_request(
            "Send one credential: the Authorization or X-API-Key header appears more than once.",
        )));
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if let Some(v) = headers.get("x-api-key") {
        if bearer.is_some() {
            return Err(Box::new(ApiError::invalid_request(
                "Send one credential: a bearer token or X-API-Key, not both.",
            )));
        }
        return Ok(Some(v.to_str().unwrap_or("").trim().to_owned()));
    }
    Ok(bearer
        .filter(|token| token.starts_with("pcl_"))
        .map(str::to_owned))
}

fn scheme_of(public_url: &str) -> &'static str {
    if public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    }
}

/// The middleware.
pub async fn api_keys(State(state): State<Edge>, req: Request, next: Next) -> Response {
    match key_principal(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(res) => res,
    }
}

/// Authenticates the request's API key (verifying its RFC 9421 signature when the key
/// signs) or its client certificate, and attaches the [`KeyPrincipal`]; a request with
/// neither passes unchanged. `Err`: the refusal to answer with.
pub async fn key_principal(state: &Edge, req: Request) -> Result<Request, Response> {
    let raw = match api_key_of(req.headers()) {
        Ok(raw) => raw,
        Err(e) => return Err(e.into_response()),
    };
    if raw.is_none() && req.extensions().get::<PeerIdentity>().is_none() {
        return Ok(req);
    }
    // Boxed: its state (2.4 KiB) would otherwise sit in every request's future, a key or
    // certificate or not.
    Box::pin(authenticate_key(state, req, raw)).await
}

async fn authenticate_key(
    state: &Edge,
    req: Request,
    raw: Option<String>,
) -> Result<Request, Response> {
    let Some(raw) = raw else {
        // A verified client certificate mapped to a service account (mTLS) authenticates,
        // unless the request carries a user's bearer token.
        if let Some(id) = req.extensions().get::<PeerIdentity>().cloned()
            && !req.headers().contains_key(header::AUTHORIZATION)
        {
            let (mut parts, body) = req.into_parts();
            let ctx = request_context(&parts, state);
            match state.svc.authenticate_peer(&id.spiffe_ids, &ctx).await {
                Ok(Some(p)) => {
                    parts.extensions.insert(KeyPrincipal(p));
                }
                Ok(None) => {}
                Err(e) => return Err(ApiError::from(e).into_response()),
            }
            return Ok(Request::from_parts(parts, body));
        }
        return Ok(req);
    };
    let (mut parts, body) = req.into_parts();
    let ctx = request_context(&parts, state);
    let (principal, key) = match state.svc.authenticate_api_key(&raw, &ctx).await {
        Ok(v) => v,
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let body = if key.signing == SigningMode::None {
        body
    } else {
        let bytes = match to_bytes(body, state.web.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => {
                return Err(ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("The body is over {} bytes.", state.web.max_body_bytes),
                )
                .into_response());
            }
        };
        let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let authority = header_str("host")
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
            .unwrap_or_default();
        let rp = RequestParts {
            method: parts.method.as_str().to_owned(),
            scheme: scheme_of(&state.web.public_url).to_owned(),
            authority,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        };
        let signed = SignedRequest {
            parts: &rp,
            signature_input: header_str("signature-input"),
            signature: header_str("signature"),
            content_digest: header_str("content-digest"),
            body: &bytes,
        };
        if let Err(e) = state
            .svc
            .verify_request_signature(&key, &ctx, &signed)
            .await
        {
            return Err(ApiError::from(e).into_response());
        }
        Body::from(bytes)
    };
    parts.extensions.insert(KeyPrincipal(principal));
    Ok(Request::from_parts(parts, body))
}

/// A request authenticated by an API key where only a user session will do.
pub fn session_required() -> ApiError {
    ApiError::from(Error::Forbidden(
        "This endpoint needs a signed-in user (an access token), not an API key.".into(),
    ))
}
