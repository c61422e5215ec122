//! Extractors: strict JSON bodies, the request context, and the authenticated principal.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use portcullis_core::model::Role;
use portcullis_core::service::{Principal, RequestContext};
use portcullis_core::{Error, FieldError};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;
use crate::signatures::{KeyPrincipal, session_required};
pub use portcullis_http::context::{lacks_required_factor, request_context};

/// Bodies that have limits beyond their types (string lengths).
pub trait Validate {
    /// Checks lengths and shapes; the error lists the bad fields.
    fn validate(&self) -> Result<(), Vec<FieldError>>;
}

/// Checks one string's length in characters (Unicode code points), as JSON Schema's
/// `maxLength` counts them, so that the document's limits are the server's.
pub fn max_len(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    // More bytes than `4 * max` are more than `max` characters without counting them.
    if value.len() > max.saturating_mul(4) || value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
}

/// A JSON body: `application/json`, within the size limit, valid JSON, exactly the schema
/// (unknown fields rejected), and within the field limits.
pub struct ApiJson<T>(pub T);

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let mime = portcullis_http::media_type(ct);
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether a JSON text is an object. Every request body of the API is one; serde's derived
/// structs also take a JSON array (fields by position), so `["a@example.com", "pw"]` was a
/// login. Checked before deserialising, by every place that reads a JSON body.
pub(crate) fn require_object(bytes: &[u8]) -> Result<(), Box<ApiError>> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none_or(|b| *b == b'{') {
        return Ok(());
    }
    // Say `invalid_json` for what is not JSON at all, `invalid_request` for JSON that is
    // not an object.
    Err(Box::new(
        match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => {
                ApiError::invalid_request("The body must be a JSON object.").with_errors(vec![
                    FieldError::new("", "invalid_type", "the body must be a JSON object"),
                ])
            }
            Err(e) => ApiError::invalid_json(format!("The body is not valid JSON: {e}")),
        },
    ))
}

fn classify(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "required"
    } else if message.starts_with("duplicate field") {
        "duplicate_field"
    } else {
        "invalid_type"
    }
}

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is larger than allowed.",
                    )
                } else {
                    ApiError::invalid_request("The request body could not be read.")
                }
            })?;
        decode_json(ct.as_deref(), &bytes).map(ApiJson)
    }
}

/// Decodes a JSON request body as [`ApiJson`] does: `application/json`, a JSON object (never
/// an array, string, number or null: serde would fill a struct from an array by position),
/// exactly the schema, and within the field limits.
// The problem every extractor and handler answers with; boxing it here alone gains nothing.
#[allow(clippy::result_large_err)]
pub fn decode_json<T>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, ApiError>
where
    T: DeserializeOwned + Validate,
{
    if !is_json(content_type) {
        return Err(ApiError::invalid_json(
            "The request body must be JSON, sent as Content-Type: application/json.",
        ));
    }
    require_object(bytes).map_err(|e| *e)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::invalid_json(format!(
                    "The body is not valid JSON: {inner}"
                )));
            }
            let path = e.path().to_string();
            let message = inner.to_string();
            let field = if path == "." {
                message.split('`').nth(1).unwrap_or("").to_owned()
            } else {
                path
            };
            let code = classify(&message);
            return Err(
                ApiError::invalid_request("The body does not match the schema.")
                    .with_errors(vec![FieldError::new(&field, code, message)]),
            );
        }
    };
    if de.end().is_err() {
        return Err(ApiError::invalid_json(
            "Trailing characters after the JSON value.",
        ));
    }
    value.validate().map_err(|errors| {
        ApiError::invalid_request("A field is out of bounds.").with_errors(errors)
    })?;
    Ok(value)
}

/// Query parameters with problem-shaped errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Validate + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Query(v) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::invalid_request(format!("Invalid query parameters: {}", e.body_text()))
            })?;
        v.validate().map_err(|errors| {
            ApiError::invalid_request("A query parameter is out of bounds.").with_errors(errors)
        })?;
        Ok(ApiQuery(v))
    }
}

/// The request's network context (client IP per the trusted-proxy rule, User-Agent).
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx(request_context(parts, state.edge())))
    }
}

/// The person of this request's session access token (Bearer, or DPoP with its proof),
/// checked once per request: a DPoP proof is good once, and several extractors ask.
async fn signed_in(parts: &mut Parts, state: &AppState) -> Result<Principal, Error> {
    #[derive(Clone)]
    struct Checked(Principal);
    if let Some(Checked(p)) = parts.extensions.get::<Checked>() {
        return Ok(p.clone());
    }
    let p = portcullis_http::context::session_principal(parts, state.edge()).await?;
    parts.extensions.insert(Checked(p.clone()));
    Ok(p)
}

/// The request's context on an endpoint that starts or refreshes a session, with the key of
/// its DPoP proof (RFC 9449) when it sent one: the session's tokens are then bound to that
/// key, and refreshing them needs a proof by it.
pub struct SignInCtx(pub RequestContext);

impl FromRequestParts<AppState> for SignInCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut ctx = request_context(parts, state.edge());
        let mut proofs = parts.headers.get_all("dpop").iter();
        match (proofs.next(), proofs.next()) {
            (None, _) => {}
            (Some(proof), None) => {
                let proof = proof
                    .to_str()
                    .map_err(|_| Error::InvalidDpopProof("the DPoP header is not ASCII text"))?;
                let key = state.svc.dpop_sign_in_key(proof, parts.uri.path()).await?;
                ctx.dpop_jkt = Some(key);
            }
            _ => return Err(Error::InvalidDpopProof("send exactly one DPoP proof").into()),
        }
        Ok(SignInCtx(ctx))
    }
}

/// An authenticated user. Users whose role requires a second factor and whose token has none
/// get 403 `mfa_enrollment_required` everywhere but enrolment ([`Enrolling`]).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<KeyPrincipal>().is_some() {
            return Err(session_required());
        }
        let p = signed_in(parts, state).await?;
        if p.password_change {
            return Err(Error::PasswordChangeRequired.into());
        }
        if lacks_required_factor(state, &p) {
            return Err(Error::MfaEnrollmentRequired.into());
        }
        Ok(Auth(p))
    }
}

/// A signed-in user or an API key (whose scopes the handler checks where they apply).
pub struct AnyAuth(pub Principal);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(KeyPrincipal(p)) = parts.extensions.get::<KeyPrincipal>() {
            return Ok(AnyAuth(p.clone()));
        }
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        Ok(AnyAuth(p))
    }
}

/// An authenticated user on the endpoints that stay open before enrolment and before a
/// password change an administrator asked for (MFA setup and confirmation, changing the
/// password, logout).
pub struct Enrolling(pub Principal);

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<KeyPrincipal>().is_some() {
            return Err(session_required());
        }
        Ok(Enrolling(signed_in(parts, state).await?))
    }
}

/// An administrator calling from an allowed IP.
pub struct Admin(pub Principal, pub RequestContext);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = admin_context(parts, state).await?;
        let resource = parts.uri.path().to_owned();
        if let Some(KeyPrincipal(p)) = parts.extensions.get::<KeyPrincipal>() {
            // An administrator's API key: its scopes bound it (read for GET, write otherwise).
            let scope = if parts.method == axum::http::Method::GET
                || parts.method == axum::http::Method::HEAD
            {
                "admin:read"
            } else {
                "admin:write"
            };
            let allowed = p.role == Role::Admin
                && p.api_key.as_ref().is_some_and(|g| g.require(scope).is_ok());
            if !allowed {
                state
                    .svc
                    .audit_access_denied(Some(&p.user_id), &ctx, &resource, "api_key_scope")
                    .await?;
                return Err(Error::Forbidden(format!(
                    "This endpoint needs an administrator's API key with the scope `{scope}`."
                ))
                .into());
            }
            return Ok(Admin(p.clone(), ctx));
        }
        let p = signed_in(parts, state).await?;
        if p.password_change {
            return Err(Error::PasswordChangeRequired.into());
        }
        // An elevation to the admin role makes `role` admin; one to an admin scope opens
        // what that scope covers (read for GET, everything for `admin:write`).
        let scope = if parts.method == axum::http::Method::GET
            || parts.method == axum::http::Method::HEAD
        {
            "admin:read"
        } else {
            "admin:write"
        };
        let scoped = p.role != Role::Admin && p.elevated_scope(scope);
        if p.role != Role::Admin && !scoped {
            state
                .svc
                .audit_access_denied(Some(&p.user_id), &ctx, &resource, "role")
                .await?;
            return Err(Error::Forbidden(
                "This endpoint requires the admin role (or an elevation to an admin scope).".into(),
            )
            .into());
        }
        // An admin scope lent by an elevation needs the second factor an administrator would.
        let lacks_admin_factor = scoped
            && state.web.mfa_required_for_roles.contains(&Role::Admin)
            && !p.has_second_factor();
        if lacks_required_factor(state, &p) || lacks_admin_factor {
            state
                .svc
                .audit_access_denied(Some(&p.user_id), &ctx, &resource, "second_factor_required")
                .await?;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "Administrators must sign in with a second factor.",
            ));
        }
        Ok(Admin(p, ctx))
    }
}

/// The request context of an admin endpoint, once the client IP is inside
/// `admin.allowed_ips`; 403 `ip_not_allowed` otherwise (audited for known principals).
async fn admin_context(parts: &mut Parts, state: &AppState) -> Result<RequestContext, ApiError> {
    let ctx = request_context(parts, state);
    let allowed = ctx
        .ip
        .is_some_and(|ip| state.web.admin_allowed_ips.iter().any(|n| n.contains(&ip)));
    if allowed {
        return Ok(ctx);
    }
    let resource = parts.uri.path().to_owned();
    // Audit refusals of known principals; anonymous probes only reach the log file, so
    // outsiders cannot grow the append-only audit log at will.
    let who = signed_in(parts, state).await.ok();
    match who {
        Some(p) => {
            state
                .svc
                .audit_access_denied(Some(&p.user_id), &ctx, &resource, "ip_not_allowed")
                .await?
        }
        None => {
            tracing::info!(ip = ?ctx.ip, resource = %resource, "anonymous admin request from a disallowed IP")
        }
    }
    Err(Error::IpNotAllowed.into())
}

/// Someone deciding on an elevation request: a signed-in person (no API key) calling from
/// `admin.allowed_ips`. Whether they may approve this request is the service's to say
/// (the target's approvers), not their role's.
pub struct Approver(pub Principal, pub RequestContext);

impl FromRequestParts<AppState> for Approver {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = admin_context(parts, state).await?;
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        Ok(Approver(p, ctx))
    }
}

/// Who lists elevation requests: an administrator (every request: `true`), or an approver
/// of some target (what they may decide: `false`), from `admin.allowed_ips`.
pub struct ElevationViewer(pub Principal, pub bool);

impl FromRequestParts<AppState> for ElevationViewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        admin_context(parts, state).await?;
        let admin_like = parts.extensions.get::<KeyPrincipal>().is_some()
            || signed_in(parts, state)
                .await
                .is_ok_and(|p| p.role == Role::Admin || p.elevated_scope("admin:read"));
        if admin_like {
            let Admin(p, _) = Admin::from_request_parts(parts, state).await?;
            return Ok(ElevationViewer(p, true));
        }
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        Ok(ElevationViewer(p, false))
    }
}
