//! The OAuth 2.0 authorization server's token side: client authentication, the
//! client-credentials grant (RFC 6749 §4.4) issuing RFC 9068 JWT access tokens, token
//! introspection (RFC 7662), revocation (RFC 7009) and the RFC 8414 metadata document.
//!
//! A client-credentials token names the client (`sub` = `client_id`) and has no session,
//! role or authentication time: the user-token verifier ([`Services::authenticate`]) refuses
//! it, so it can never be mistaken for a person's token.

use serde_json::{Map, Value, json};

use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::id::is_valid_id;
use crate::oauth::assertion;
use crate::oauth::clients::{AuthMethod, GRANT_CLIENT_CREDENTIALS, OAuthClient};
use crate::oauth::error::OAuthError;
use crate::rand::bytes;
use crate::throttle;

/// Scopes that speak of a person; a client acting for itself gets none of them.
const USER_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];
/// Resource indicators one token request may carry.
const MAX_RESOURCES: usize = 10;

/// How confidential clients may authenticate at the token and introspection endpoints.
const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
];

/// A client certificate the TLS layer verified against the internal CA (mTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCert {
    /// Its URI SANs.
    pub san_uris: Vec<String>,
    /// RFC 8705 §3.1: the base64url SHA-256 of its DER.
    pub x5t_s256: String,
}

/// Where the token endpoints live, under the issuer.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// RFC 7662.
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
/// RFC 7009.
pub const REVOCATION_PATH: &str = "/oauth2/revoke";
/// OpenID Connect RP-Initiated Logout.
pub const LOGOUT_PATH: &str = "/oauth2/logout";

/// How a client presented itself at an endpoint.
#[derive(Debug, Default)]
pub struct ClientAuth {
    /// From HTTP Basic (`client_secret_basic`): id and secret, form-decoded.
    pub basic: Option<(String, String)>,
    /// `client_id` in the body.
    pub client_id: Option<String>,
    /// `client_secret` in the body (`client_secret_post`).
    pub client_secret: Option<String>,
    /// `client_assertion` (`private_key_jwt`).
    pub assertion: Option<String>,
    /// `client_assertion_type`.
    pub assertion_type: Option<String>,
    /// The certificate the client presented on this connection, if any.
    pub peer: Option<PeerCert>,
}

/// A token request (RFC 6749 §4.4.2), parameters as sent.
#[derive(Debug, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// RFC 8707 `resource`, each an absolute URI.
    pub resources: Vec<String>,
    /// The `DPoP` header's proof (RFC 9449), when one was sent.
    pub dpop: Option<String>,
    /// `code` (authorization_code).
    pub code: Option<String>,
    /// `redirect_uri` (authorization_code).
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<String>,
    /// `refresh_token` (refresh_token).
    pub refresh_token: Option<String>,
    /// `device_code` (RFC 8628).
    pub device_code: Option<String>,
    /// The thumbprint of the client certificate on this connection (RFC 8705).
    pub peer_x5t: Option<String>,
}

/// An issued access token (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// `Bearer`, or `DPoP` for a token bound to the proof's key.
    pub token_type: &'static str,
    /// A refresh token (grants that act for a person).
    pub refresh_token: Option<String>,
    /// An OpenID Connect ID token (the `openid` scope).
    pub id_token: Option<String>,
}

fn grants_scope(client: &OAuthClient, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client
            .scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect());
    };
    let mut granted: Vec<String> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !crate::oauth::clients::is_scope_token(s) {
            return Err(OAuthError::invalid_scope("scope names are printable ASCII"));
        }
        if USER_SCOPES.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "`{s}` is about a person; the client_credentials grant acts for the client itself"
            )));
        }
        if !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::invalid_scope(format!(
                "the client is not registered for `{s}`"
            )));
        }
        if !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    Ok(granted)
}

/// The `cnf` claim (RFC 7800) of a token bound to a DPoP key (RFC 9449) and/or a client
/// certificate (RFC 8705).
pub(crate) fn confirmation(jkt: Option<&str>, x5t: Option<&str>) -> Option<Value> {
    let mut cnf = Map::new();
    if let Some(j) = jkt {
        cnf.insert("jkt".into(), j.into());
    }
    if let Some(x) = x5t {
        cnf.insert("x5t#S256".into(), x.into());
    }
    (!cnf.is_empty()).then_some(Value::Object(cnf))
}

/// The certificate a `tls_client_auth` client's tokens are bound to (RFC 8705 §3).
pub(crate) fn cert_binding(client: &OAuthClient, req: &TokenRequest) -> Option<String> {
    (client.auth_method == AuthMethod::TlsClientAuth)
        .then(|| req.peer_x5t.clone())
        .flatten()
}

/// RFC 8707 §2: an absolute URI without a fragment.
fn check_resources(resources: &[String]) -> Result<(), OAuthError> {
    if resources.len() > MAX_RESOURCES {
        return Err(OAuthError::invalid_target(format!(
            "at most {MAX_RESOURCES} resource indicators"
        )));
    }
    for r in resources {
        let ok = r.len() <= 2000 && !r.contains('#') && url::Url::parse(r).is_ok();
        if !ok {
            return Err(OAuthError::invalid_target(
                "a resource is an absolute URI without a fragment",
            ));
        }
    }
    Ok(())
}

/// What a client presented to prove who it is.
enum Presented<'a> {
    /// A client secret (Basic or body).
    Secret(&'a str),
    /// A signed JWT (`private_key_jwt`).
    Assertion(&'a str),
    /// Only its id (a public client).
    Nothing,
    /// Only its id, and the certificate on the connection (`tls_client_auth`).
    Certificate,
}

/// The client id a request names, what it presents, and the method that is: exactly one
/// method per request (RFC 6749 §2.3), and a `client_id` in the body must agree.
fn presented(auth: &ClientAuth) -> Result<(String, Presented<'_>, AuthMethod), OAuthError> {
    let methods = usize::from(auth.basic.is_some())
        + usize::from(auth.client_secret.is_some())
        + usize::from(auth.assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "one client authentication method per request (RFC 6749 §2.3)",
        ));
    }
    if auth.assertion.is_some() != auth.assertion_type.is_some() {
        return Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type come together",
        ));
    }
    let agrees = |id: &str| {
        if auth.client_id.as_deref().is_some_and(|b| b != id) {
            Err(OAuthError::invalid_request(
                "client_id in the body differs from the authenticated client",
            ))
        } else {
            Ok(id.to_owned())
        }
    };
    if let Some((id, secret)) = &auth.basic {
        return Ok((
            agrees(id)?,
            Presented::Secret(secret),
            AuthMethod::ClientSecretBasic,
        ));
    }
    if let Some(a) = &auth.assertion {
        if auth.assertion_type.as_deref() != Some(assertion::JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {}",
                assertion::JWT_BEARER
            )));
        }
        let claimed = assertion::claimed_client(a)
            .ok_or_else(|| OAuthError::invalid_client("the assertion names no client (sub)"))?;
        return Ok((
            agrees(&claimed)?,
            Presented::Assertion(a),
            AuthMethod::PrivateKeyJwt,
        ));
    }
    let Some(id) = &auth.client_id else {
        return Err(OAuthError::invalid_client(
            "client authentication is required",
        ));
    };
    Ok(match &auth.client_secret {
        Some(s) => (
            id.clone(),
            Presented::Secret(s),
            AuthMethod::ClientSecretPost,
        ),
        None => (id.clone(), Presented::Nothing, AuthMethod::None),
    })
}

impl Services {
    /// The RFC 8414 authorization server metadata, which is also the OpenID Connect
    /// Discovery document: only what is served.
    pub fn authorization_server_metadata(&self) -> Value {
        let issuer = self.settings.issuer.trim_end_matches('/');
        let mut methods = AUTH_METHODS.to_vec();
        methods.push("none");
        let mut doc = json!({
            "issuer": self.settings.issuer,
            "authorization_endpoint": format!("{issuer}{}", super::oauth_authorize::AUTHORIZE_PATH),
            "pushed_authorization_request_endpoint": format!("{issuer}{}", super::oauth_authorize::PAR_PATH),
            "require_pushed_authorization_requests": false,
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "userinfo_endpoint": format!("{issuer}{}", super::oauth_code::USERINFO_PATH),
            "end_session_endpoint": format!("{issuer}{}", LOGOUT_PATH),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "grant_types_supported": ["authorization_code", "refresh_token", GRANT_CLIENT_CREDENTIALS, crate::oauth::clients::GRANT_DEVICE_CODE],
            "device_authorization_endpoint": format!("{issuer}{}", super::oauth_device::DEVICE_AUTHORIZATION_PATH),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "userinfo_signing_alg_values_supported": [],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "email", "email_verified", "name", "preferred_username"],
            "acr_values_supported": [crate::oauth::authorize::ACR_1FA, crate::oauth::authorize::ACR_2FA],
            "prompt_values_supported": crate::oauth::authorize::PROMPTS,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "token_endpoint_auth_methods_supported": methods.clone(),
            "token_endpoint_auth_signing_alg_values_supported": assertion::ALGORITHMS,
            "introspection_endpoint": format!("{issuer}{INTROSPECTION_PATH}"),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_signing_alg_values_supported": assertion::ALGORITHMS,
            "revocation_endpoint": format!("{issuer}{REVOCATION_PATH}"),
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": assertion::ALGORITHMS,
            "access_token_signing_alg_values_supported": ["EdDSA"],
            "tls_client_certificate_bound_access_tokens": true,
            "dpop_signing_alg_values_supported": assertion::ALGORITHMS,
        });
        if self.registration_open()
            && let Some(o) = doc.as_object_mut()
        {
            o.insert(
                "registration_endpoint".into(),
                format!("{issuer}{}", super::oauth_register::REGISTRATION_PATH).into(),
            );
        }
        doc
    }

    /// Authenticates the calling client by the method it registered; every failure is
    /// `invalid_client`, counted against the client address and audited. An unknown client
    /// costs the same HMAC as a known one.
    pub async fn authenticate_client(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
    ) -> Result<OAuthClient, OAuthError> {
        let throttle_key = ctx.ip.map(|ip| format!("oauth-{}", throttle::ip_key(ip)));
        if let Some(k) = &throttle_key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let (id, presented, method) = presented(auth)?;
        let client = if is_valid_id(&id) {
            self.store.clients().oauth_client(&id).await?
        } else {
            None
        };
        let now = self.now();
        // A client registered for tls_client_auth names itself and shows its certificate.
        let (method, presented) = match (&client, presented) {
            (Some(c), Presented::Nothing) if c.auth_method == AuthMethod::TlsClientAuth => {
                (AuthMethod::TlsClientAuth, Presented::Certificate)
            }
            (_, p) => (method, p),
        };
        let why = match (&client, &presented) {
            (None, Presented::Secret(s)) => {
                // The same work as a wrong secret: nothing tells a registered id apart.
                let _ = crate::crypto::apikey::hash(b"portcullis:unknown-client", s);
                Some("unknown client or wrong secret")
            }
            (None, _) => Some("unknown client"),
            (Some(c), _) if c.auth_method != method => {
                Some("the client authenticates with another method")
            }
            (Some(c), Presented::Certificate) => {
                let san = c.tls_client_auth_san_uri.as_deref().unwrap_or("");
                let shown = auth
                    .peer
                    .as_ref()
                    .is_some_and(|p| p.san_uris.iter().any(|u| u == san));
                (!shown).then_some(
                    "no client certificate with the registered URI SAN on this connection",
                )
            }
            (Some(c), Presented::Secret(s)) if !self.client_secret_matches(c, s) => {
                Some("unknown client or wrong secret")
            }
            (Some(c), Presented::Assertion(a)) => {
                let jwks = c.jwks.clone().unwrap_or(Value::Null);
                match assertion::verify(a, &c.id, &jwks, &self.settings.issuer, now) {
                    Err(why) => Some(why),
                    // One use: the jti is kept (on every node) until the assertion expires.
                    Ok(v) => (!self
                        .store
                        .use_nonce(&format!("client-assertion:{}", c.id), &v.jti, v.exp, now)
                        .await?)
                        .then_some("the assertion was used before"),
                }
            }
            _ => None,
        };
        let Some(why) = why else {
            return client.ok_or_else(|| OAuthError::invalid_client("unknown client"));
        };
        let mut tx = self.store.begin().await?;
        if let Some(k) = &throttle_key {
            self.bump_throttle(tx.as_mut(), k, &throttle::CLIENT_IP)
                .await?;
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.client_auth_failed", Outcome::Failure)
                .target(
                    client
                        .as_ref()
                        .map_or_else(|| "unknown".to_owned(), |c| c.id.clone()),
                )
                .client(ctx)
                .details(json!({"method": method.as_str(), "reason": why})),
        )
        .await?;
        tx.commit().await?;
        Err(OAuthError::invalid_client(why))
    }

    /// The token endpoint: authenticates the client, then runs the grant.
    pub async fn token(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
        req: &TokenRequest,
    ) -> Result<IssuedToken, OAuthError> {
        if req.grant_type.is_empty() {
            return Err(OAuthError::invalid_request("grant_type is required"));
        }
        let client = self.authenticate_client(ctx, auth).await?;
        match req.grant_type.as_str() {
            GRANT_CLIENT_CREDENTIALS => {}
            "authorization_code" => return self.exchange_code(ctx, &client, req).await,
            "refresh_token" => return self.refresh_grant(ctx, &client, req).await,
            crate::oauth::clients::GRANT_DEVICE_CODE => {
                return self.device_grant(ctx, &client, req).await;
            }
            other => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "`{}` is not a grant this server offers (no implicit or password grant)",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
        if !client
            .grant_types
            .iter()
            .any(|g| g == GRANT_CLIENT_CREDENTIALS)
        {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for the client_credentials grant",
            ));
        }
        let scopes = grants_scope(&client, req.scope.as_deref())?;
        check_resources(&req.resources)?;
        let jkt = self.dpop_binding(&client, req.dpop.as_deref()).await?;
        let x5t = cert_binding(&client, req);
        self.issue_client_token(ctx, &client, &scopes, &req.resources, jkt, x5t)
            .await
    }

    async fn issue_client_token(
        &self,
        ctx: &RequestContext,
        client: &OAuthClient,
        scopes: &[String],
        resources: &[String],
        jkt: Option<String>,
        x5t: Option<String>,
    ) -> Result<IssuedToken, OAuthError> {
        let now = self.now();
        let ttl = self.settings.access_ttl;
        let jti = hex::encode(bytes::<16>(self.rng.as_ref()));
        let aud = match resources {
            [] => Value::from(client.id.clone()),
            [one] => Value::from(one.clone()),
            many => Value::from(many.to_vec()),
        };
        let scope = scopes.join(" ");
        let mut claims = Map::new();
        claims.insert("iss".into(), self.settings.issuer.clone().into());
        claims.insert("sub".into(), client.id.clone().into());
        claims.insert("aud".into(), aud.clone());
        claims.insert("client_id".into(), client.id.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ttl).into());
        claims.insert("jti".into(), jti.clone().into());
        if !scope.is_empty() {
            claims.insert("scope".into(), scope.clone().into());
        }
        if let Some(cnf) = confirmation(jkt.as_deref(), x5t.as_deref()) {
            claims.insert("cnf".into(), cnf);
        }
        let access_token = self
            .keyring
            .sign_value(&Value::Object(claims), "at+jwt", now)?;
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "oauth.token_issued", Outcome::Success)
                .actor(client.id.clone())
                .target(client.id.clone())
                .client(ctx)
                .details(json!({
                    "grant_type": GRANT_CLIENT_CREDENTIALS, "scope": scope, "aud": aud,
                    "jti": jti, "expires_at": now + ttl, "dpop_jkt": jkt,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
            scope,
            token_type: if jkt.is_some() { "DPoP" } else { "Bearer" },
            refresh_token: None,
            id_token: None,
        })
    }

    /// RFC 7009 revocation: an access token this server issued to the calling client stops
    /// being active at once (introspection says so on every node). A token that is not
    /// valid (or already expired) is answered as revoked, since there is nothing left to
    /// do; a valid token issued to someone else is refused.
    pub async fn revoke(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<(), OAuthError> {
        let caller = self.authenticate_client(ctx, auth).await?;
        let now = self.now();
        if crate::crypto::tokens::is_refresh_token_shape(token) {
            return self.revoke_refresh(ctx, &caller, token).await;
        }
        let Some(claims) = self.current_access_token(token, now) else {
            return Ok(());
        };
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if claims.get("client_id").and_then(Value::as_str) != Some(caller.id.as_str()) {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
        let mut tx = self.store.begin().await?;
        if tx
            .clients()
            .revoke_access_token(jti, &caller.id, exp, now)
            .await?
        {
            tx.append_audit(
                &NewAuditEvent::new(now, "oauth.token_revoked", Outcome::Success)
                    .actor(caller.id.clone())
                    .target(caller.id.clone())
                    .client(ctx)
                    .details(json!({"jti": jti, "expires_at": exp})),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// RFC 7662 introspection for an authenticated client: the claims of an active token
    /// this server issued (a client's, or a person's whose session still stands), else
    /// `{"active": false}` and nothing more.
    pub async fn introspect(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<Value, OAuthError> {
        let caller = self.authenticate_client(ctx, auth).await?;
        if caller.auth_method == AuthMethod::None {
            return Err(OAuthError::invalid_client(
                "a public client cannot introspect tokens",
            ));
        }
        if !self.health.ready() {
            return Err(OAuthError::temporarily_unavailable(
                "database unreachable; failing closed",
            ));
        }
        let inactive = json!({"active": false});
        let now = self.now();
        let Some(claims) = self.current_access_token(token, now) else {
            return Ok(inactive);
        };
        let mut out = Map::new();
        out.insert("active".into(), true.into());
        let bound = claims.get("cnf").is_some();
        out.insert(
            "token_type".into(),
            if bound { "DPoP" } else { "Bearer" }.into(),
        );
        for k in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "scope",
            "client_id",
            "cnf",
        ] {
            if let Some(v) = claims.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        if let Some(sid) = claims.get("sid").and_then(Value::as_str) {
            // A person's token: active while its session stands and it was not revoked.
            let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
            if self.revocations.is_revoked(sid)
                || self.store.clients().access_token_revoked(jti).await?
            {
                return Ok(inactive);
            }
            let Ok(session) = self.store.session(sid).await else {
                return Err(OAuthError::temporarily_unavailable(
                    "database unreachable; failing closed",
                ));
            };
            if session.is_none_or(|s| s.revoked_at.is_some() || s.expires_at <= now) {
                return Ok(inactive);
            }
            for k in ["role", "auth_time", "amr", "acr"] {
                if let Some(v) = claims.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
        } else if !self.client_token_stands(&claims).await? {
            // A client's token: active while the client is registered and has not revoked it.
            return Ok(inactive);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str]) -> OAuthClient {
        OAuthClient {
            id: "c".into(),
            name: "n".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GRANT_CLIENT_CREDENTIALS.into()],
            auth_method: AuthMethod::ClientSecretBasic,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            backchannel_logout_uri: None,
            require_pkce: true,
            require_par: false,
            require_dpop: false,
            jwks: None,
            tls_client_auth_san_uri: None,
            secret_hash: None,
            created_by: "cli".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn scopes_are_the_registered_ones_never_a_persons() {
        let c = client(&["openid", "orders:read", "orders:write"]);
        assert_eq!(
            grants_scope(&c, None).unwrap(),
            ["orders:read", "orders:write"]
        );
        assert_eq!(
            grants_scope(&c, Some("orders:read  orders:read")).unwrap(),
            ["orders:read"]
        );
        assert!(grants_scope(&c, Some("")).unwrap().is_empty());
        for bad in ["openid", "admin", "orders:read offline_access", "a\"b"] {
            assert_eq!(
                grants_scope(&c, Some(bad)).unwrap_err().code,
                "invalid_scope",
                "{bad}"
            );
        }
    }

    #[test]
    fn resources_are_absolute_uris() {
        assert!(check_resources(&["https://api.example/orders".into()]).is_ok());
        assert!(check_resources(&[]).is_ok());
        assert!(check_resources(&["urn:example:orders".into()]).is_ok());
        for bad in ["/orders", "https://api.example/#x", "not a uri", ""] {
            assert_eq!(
                check_resources(&[bad.into()]).unwrap_err().code,
                "invalid_target",
                "{bad}"
            );
        }
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        assert!(check_resources(&many).is_err());
    }

    #[test]
    fn errors_have_their_status() {
        assert_eq!(OAuthError::invalid_client("x").status(), 401);
        assert_eq!(OAuthError::invalid_scope("x").status(), 400);
        assert_eq!(OAuthError::temporarily_unavailable("x").status(), 503);
        let e: OAuthError = crate::error::Error::Unavailable("db".into()).into();
        assert_eq!(e.code, "temporarily_unavailable");
    }
}
