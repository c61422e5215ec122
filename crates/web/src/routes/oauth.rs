//! The OAuth 2.0 protocol endpoints: RFC 8414 metadata, the token endpoint (RFC 6749 §3.2)
//! and introspection (RFC 7662). They take `application/x-www-form-urlencoded` bodies and
//! answer the protocol's own JSON errors (`{"error", "error_description"}`), which is what
//! OAuth client libraries read; `Cache-Control: no-store` on everything that carries a token.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::oauth::authorize::Params;
use portcullis_core::oauth::error::OAuthError;
use portcullis_core::service::{
    ClientAuth, DpopRequest, INTROSPECTION_PATH, PeerCert, REVOCATION_PATH, TOKEN_PATH,
    TokenRequest, USERINFO_PATH,
};
use serde_json::json;

use crate::AppState;
use crate::extract::Ctx;

/// Parameters one request may carry.
const MAX_PARAMS: usize = 32;
/// Longest parameter value (a JWT fits; nothing legitimate is longer).
const MAX_VALUE: usize = 8192;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route(TOKEN_PATH, post(token))
        .route(INTROSPECTION_PATH, post(introspect))
        .route(REVOCATION_PATH, post(revoke))
        .route(USERINFO_PATH, get(userinfo).post(userinfo))
}

/// RFC 8414 metadata.
async fn metadata(State(s): State<AppState>) -> Response {
    let mut res = axum::Json(s.svc.authorization_server_metadata()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub(super) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// An RFC 6749 §5.2 error answer.
pub(super) fn error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut res = (
        status,
        axum::Json(json!({"error": e.code, "error_description": e.description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    no_store(res)
}

/// The form parameters: each at most once (RFC 6749 §3.2), except the `repeatable` ones.
pub(super) struct Form(pub(super) Params);

impl Form {
    pub(super) fn parse(
        headers: &HeaderMap,
        body: &[u8],
        repeatable: &[&str],
    ) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Params::parse_limited(body, repeatable, MAX_PARAMS, MAX_VALUE).map(Self)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.all(name)
    }

    /// How the client presents itself: HTTP Basic (id and secret form-encoded, RFC 6749
    /// §2.3.1) and/or `client_id` / `client_secret` in the body.
    pub(super) fn client_auth(
        &self,
        headers: &HeaderMap,
        peer: Peer,
    ) -> Result<ClientAuth, OAuthError> {
        let mut auth = ClientAuth {
            basic: None,
            client_id: self.get("client_id").map(str::to_owned),
            client_secret: self.get("client_secret").map(str::to_owned),
            assertion: self.get("client_assertion").map(str::to_owned),
            assertion_type: self.get("client_assertion_type").map(str::to_owned),
            peer: peer.0,
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Ok(auth);
        };
        let value = value
            .to_str()
            .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
        let Some((scheme, creds)) = value.split_once(' ') else {
            return Err(OAuthError::invalid_client("malformed Authorization header"));
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client(
                "clients authenticate with HTTP Basic or in the body",
            ));
        }
        let decoded = STANDARD
            .decode(creds.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let unform = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        auth.basic = Some((unform(id), unform(secret)));
        Ok(auth)
    }
}

/// The client certificate the TLS layer verified on this connection (mTLS), if any.
pub(super) struct Peer(pub(super) Option<PeerCert>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<portcullis_http::signatures::PeerIdentity>()
                .map(|p| PeerCert {
                    san_uris: p.spiffe_ids.clone(),
                    x5t_s256: p.x5t_s256.clone(),
                }),
        ))
    }
}

impl Peer {
    fn x5t(&self) -> Option<String> {
        self.0.as_ref().map(|p| p.x5t_s256.clone())
    }
}

/// `POST /oauth2/token`
async fn token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = Form::parse(&headers, &body, &["resource"])?;
        let peer_x5t = peer.x5t();
        let auth = form.client_auth(&headers, peer)?;
        let dpop = dpop_header(&headers)?;
        let req = TokenRequest {
            grant_type: form.get("grant_type").unwrap_or("").to_owned(),
            scope: form.get("scope").map(str::to_owned),
            resources: form.all("resource"),
            dpop,
            code: form.get("code").map(str::to_owned),
            redirect_uri: form.get("redirect_uri").map(str::to_owned),
            code_verifier: form.get("code_verifier").map(str::to_owned),
            refresh_token: form.get("refresh_token").map(str::to_owned),
            device_code: form.get("device_code").map(str::to_owned),
            peer_x5t,
        };
        s.svc.token(&ctx, &auth, &req).await
    }
    .await;
    let mut res = match result {
        Ok(t) => {
            let mut body = json!({
                "access_token": t.access_token,
                "token_type": t.token_type,
                "expires_in": t.expires_in,
            });
            if let Some(obj) = body.as_object_mut() {
                if !t.scope.is_empty() {
                    obj.insert("scope".into(), t.scope.into());
                }
                if let Some(r) = t.refresh_token {
                    obj.insert("refresh_token".into(), r.into());
                }
                if let Some(i) = t.id_token {
                    obj.insert("id_token".into(), i.into());
                }
            }
            no_store(axum::Json(body).into_response())
        }
        Err(e) => error(&e),
    };
    // The nonce the next DPoP proof must carry (RFC 9449 §8): on every token answer, so a
    // client has it before its first proof is refused for lacking one.
    if let Ok(v) = HeaderValue::from_str(&s.svc.dpop_nonce(s.svc.now())) {
        res.headers_mut().insert("dpop-nonce", v);
    }
    res
}

/// The one `DPoP` header of a request, if any.
pub(super) fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let mut proofs = headers.get_all("dpop").iter();
    match (proofs.next(), proofs.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(
            v.to_str()
                .map_err(|_| OAuthError::invalid_dpop_proof("the DPoP header is not text"))?
                .to_owned(),
        )),
        (Some(_), Some(_)) => Err(OAuthError::invalid_dpop_proof(
            "one DPoP header per request",
        )),
    }
}

/// What introspection and revocation both take: the caller's credentials and `token`.
fn token_form(
    headers: &HeaderMap,
    body: &[u8],
    peer: Peer,
) -> Result<(ClientAuth, String), OAuthError> {
    let form = Form::parse(headers, body, &[])?;
    let auth = form.client_auth(headers, peer)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((auth, token.to_owned()))
}

/// `POST /oauth2/introspect`
async fn introspect(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match token_form(&headers, &body, peer) {
        Ok((auth, token)) => s.svc.introspect(&ctx, &auth, &token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => no_store(axum::Json(v).into_response()),
        Err(e) => error(&e),
    }
}

/// `POST /oauth2/revoke`: 200 with an empty body, also for a token that is not valid.
async fn revoke(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match token_form(&headers, &body, peer) {
        Ok((auth, token)) => s.svc.revoke(&ctx, &auth, &token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => error(&e),
    }
}

/// `GET|POST /oauth2/userinfo` (OpenID Connect Core §5.3), Bearer or DPoP.
async fn userinfo(
    State(s): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let challenge = |scheme: &str, e: &OAuthError| {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let mut res = (
            status,
            axum::Json(json!({"error": e.code, "error_description": e.description})),
        )
            .into_response();
        let v = format!(
            "{scheme} error=\"{}\", error_description=\"{}\"",
            e.code,
            e.description.replace('"', "'")
        );
        if let Ok(v) = HeaderValue::from_str(&v) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        super::oauth::no_store(res)
    };
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (auth.next().and_then(|v| v.to_str().ok()), auth.next()) else {
        return challenge(
            "Bearer",
            &OAuthError::invalid_token("an access token is required"),
        );
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return challenge(
            "Bearer",
            &OAuthError::invalid_token("malformed Authorization header"),
        );
    };
    let dpop_scheme = scheme.eq_ignore_ascii_case("dpop");
    if !dpop_scheme && !scheme.eq_ignore_ascii_case("bearer") {
        return challenge(
            "Bearer",
            &OAuthError::invalid_token("use the Bearer or DPoP scheme"),
        );
    }
    let target = format!("{}{}", s.svc.issuer().trim_end_matches('/'), uri.path());
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    let dpop = match (dpop_scheme, proof) {
        (true, Some(p)) => Some(DpopRequest {
            proof: p,
            method: method.as_str(),
            uri: &target,
        }),
        (true, None) => {
            return challenge(
                "DPoP",
                &OAuthError::invalid_dpop_proof("the DPoP scheme needs a DPoP proof"),
            );
        }
        (false, _) => None,
    };
    match s
        .svc
        .userinfo(token.trim(), dpop, peer.x5t().as_deref())
        .await
    {
        Ok(v) => super::oauth::no_store(axum::Json(v).into_response()),
        Err(e) => challenge(if dpop_scheme { "DPoP" } else { "Bearer" }, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<Form, OAuthError> {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        Form::parse(&h, body.as_bytes(), &["resource"])
    }

    #[test]
    fn parameters_once_each_but_resources() {
        let f = form("grant_type=client_credentials&resource=a%3Ab&resource=c&scope=").unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.all("resource"), ["a:b", "c"]);
        assert_eq!(f.get("scope"), None, "empty means omitted");
        assert_eq!(
            form("scope=a&scope=b").err().map(|e| e.code),
            Some("invalid_request")
        );
        assert!(
            Form::parse(&HeaderMap::new(), b"a=b", &[]).is_err(),
            "not a form"
        );
        let long = format!("token={}", "a".repeat(MAX_VALUE + 1));
        assert!(form(&long).is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let f = form("grant_type=client_credentials").unwrap();
        let mut h = HeaderMap::new();
        // RFC 6749 §2.3.1: "a b" and "p:%" form-encoded, then base64.
        let creds = STANDARD.encode("a+b:p%3A%25");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {creds}")).unwrap(),
        );
        let auth = f.client_auth(&h, Peer(None)).unwrap();
        assert_eq!(auth.basic, Some(("a b".into(), "p:%".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(
            f.client_auth(&h, Peer(None)).err().map(|e| e.code),
            Some("invalid_client")
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(
            f.client_auth(&h, Peer(None)).err().map(|e| e.code),
            Some("invalid_client")
        );
    }
}
