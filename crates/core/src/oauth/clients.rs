//! OAuth 2.0 clients (the contract's "OAuth 2.0 and OpenID Connect provider" section): what
//! an administrator registers, the rules a registration must meet, and the storage port.
//!
//! The rules are the profile the issue asks for: code flow only (no implicit, hybrid or
//! password grant), PKCE S256 for every client, redirect URIs registered exactly
//! ([`super::redirect`]), public clients authenticate with nothing and so never get the
//! client-credentials grant, `private_key_jwt` clients bring their public keys. Secrets are
//! generated here, shown once and stored as an HMAC under a server key.

use async_trait::async_trait;
use serde_json::Value;

use super::grants::{GrantRecord, Kind};
use crate::clock::UnixTime;
use crate::error::FieldError;
use crate::store::StoreResult;

/// The authorization-code grant.
pub const GRANT_CODE: &str = "authorization_code";
/// The refresh-token grant.
pub const GRANT_REFRESH: &str = "refresh_token";
/// The client-credentials grant (a service acting for itself).
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The device-authorization grant (RFC 8628).
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Every grant a client may register.
pub const GRANTS: [&str; 4] = [
    GRANT_CODE,
    GRANT_REFRESH,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
];

/// Redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// Scopes one client may register.
pub const MAX_SCOPES: usize = 50;
/// Longest scope name.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest client name.
pub const MAX_NAME_LEN: usize = 100;
/// Keys in a `private_key_jwt` client's JWK Set.
pub const MAX_JWKS_KEYS: usize = 10;
/// Largest JWK Set accepted, serialised.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret.
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A JWT signed with one of the client's registered keys (RFC 7523).
    PrivateKeyJwt,
    /// A certificate from the internal CA (RFC 8705).
    TlsClientAuth,
    /// A public client: no authentication, PKCE only.
    None,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::None => "none",
        }
    }

    /// From the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "client_secret_basic" => Self::ClientSecretBasic,
            "client_secret_post" => Self::ClientSecretPost,
            "private_key_jwt" => Self::PrivateKeyJwt,
            "tls_client_auth" => Self::TlsClientAuth,
            "none" => Self::None,
            _ => return None,
        })
    }

    /// Whether the client holds a secret Portcullis issued.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// A registered client, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    /// `client_id`.
    pub id: String,
    /// Shown to people on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants the client may use.
    pub grant_types: Vec<String>,
    /// How it authenticates.
    pub auth_method: AuthMethod,
    /// Scopes it may ask for.
    pub scopes: Vec<String>,
    /// Back-channel logout (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// PKCE S256 on every authorization request (always true; kept for the contract).
    pub require_pkce: bool,
    /// Authorization requests only through PAR (RFC 9126).
    pub require_par: bool,
    /// Tokens only bound to a DPoP key (RFC 9449).
    pub require_dpop: bool,
    /// The client's public keys, for `private_key_jwt`.
    pub jwks: Option<Value>,
    /// The URI SAN (a SPIFFE ID) its certificate must carry, for `tls_client_auth`
    /// (RFC 8705 §2.1.2).
    pub tls_client_auth_san_uri: Option<String>,
    /// HMAC-SHA-256 (hex) of the secret, for the `client_secret_*` methods.
    pub secret_hash: Option<String>,
    /// Who registered it (a user id, or `cli`).
    pub created_by: String,
    /// When.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// What an administrator asks for. Missing optional fields take the defaults.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// Name.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grants.
    pub grant_types: Vec<String>,
    /// Authentication method name.
    pub token_endpoint_auth_method: String,
    /// Scopes (default `openid`).
    pub scopes: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Must be true when given.
    pub require_pkce: Option<bool>,
    /// PAR only.
    pub require_par: Option<bool>,
    /// DPoP only.
    pub require_dpop: Option<bool>,
    /// Public keys for `private_key_jwt`.
    pub jwks: Option<Value>,
    /// The certificate's URI SAN for `tls_client_auth`.
    pub tls_client_auth_san_uri: Option<String>,
}

/// A change to a client; `None` keeps what is stored. `backchannel_logout_uri` and `jwks`
/// are cleared by `Some(None)`.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// Name.
    pub name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Grants.
    pub grant_types: Option<Vec<String>>,
    /// Must equal the stored method when given: a client changes how it authenticates by
    /// being registered again.
    pub token_endpoint_auth_method: Option<String>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    /// Must be true when given.
    pub require_pkce: Option<bool>,
    /// PAR only.
    pub require_par: Option<bool>,
    /// DPoP only.
    pub require_dpop: Option<bool>,
    /// Public keys.
    pub jwks: Option<Option<Value>>,
    /// The certificate's URI SAN.
    pub tls_client_auth_san_uri: Option<String>,
}

/// The registration's fields, checked together (a create, or a stored client with a patch
/// applied): every problem at once, as the API reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedClient {
    /// Name, trimmed.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants, in the order given, without duplicates.
    pub grant_types: Vec<String>,
    /// Method.
    pub auth_method: AuthMethod,
    /// Scopes, without duplicates.
    pub scopes: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// PAR only.
    pub require_par: bool,
    /// DPoP only.
    pub require_dpop: bool,
    /// Public keys.
    pub jwks: Option<Value>,
    /// The certificate's URI SAN (`tls_client_auth`).
    pub tls_client_auth_san_uri: Option<String>,
}

fn field(name: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// A scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

fn check_uris(name: &str, uris: &[String], errors: &mut Vec<FieldError>) {
    if uris.len() > MAX_REDIRECT_URIS {
        errors.push(field(
            name,
            "too_many",
            format!("at most {MAX_REDIRECT_URIS}"),
        ));
        return;
    }
    for (i, u) in uris.iter().enumerate() {
        if let Err(e) = super::redirect::validate(u) {
            errors.push(field(&format!("{name}[{i}]"), "invalid", e.to_string()));
        }
    }
}

/// Checks a JWK Set of public keys: `{"keys": [...]}` with 1 to 10 EC P-256 or Ed25519 keys,
/// none carrying private members, `kid`s distinct when present.
pub fn check_jwks(jwks: &Value) -> Result<(), String> {
    if jwks.to_string().len() > MAX_JWKS_BYTES {
        return Err(format!("at most {MAX_JWKS_BYTES} bytes"));
    }
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Err("a JWK Set: {\"keys\": [...]}".into());
    };
    if keys.is_empty() || keys.len() > MAX_JWKS_KEYS {
        return Err(format!("1 to {MAX_JWKS_KEYS} keys"));
    }
    let mut kids = Vec::new();
    for k in keys {
        let Some(obj) = k.as_object() else {
            return Err("every key is a JSON object".into());
        };
        let kty = obj.get("kty").and_then(Value::as_str).unwrap_or("");
        let crv = obj.get("crv").and_then(Value::as_str).unwrap_or("");
        let complete = match (kty, crv) {
            ("EC", "P-256") => ["x", "y"]
                .iter()
                .all(|m| obj.get(*m).is_some_and(Value::is_string)),
            ("OKP", "Ed25519") => obj.get("x").is_some_and(Value::is_string),
            _ => {
                return Err("keys are EC P-256 (ES256) or OKP Ed25519 (EdDSA), the algorithms client assertions are verified with".into());
            }
        };
        if !complete {
            return Err(format!("a {kty} key lacks a public member"));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| obj.contains_key(*m))
        {
            return Err("public keys only: a private member was sent".into());
        }
        if let Some(kid) = obj.get("kid") {
            let Some(kid) = kid.as_str() else {
                return Err("kid is a string".into());
            };
            if kids.contains(&kid) {
                return Err("kids are distinct".into());
            }
            kids.push(kid);
        }
    }
    Ok(())
}

/// Checks a registration (every problem at once).
#[allow(clippy::too_many_lines)]
pub fn check(spec: &ClientSpec) -> Result<CheckedClient, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = spec.name.trim().to_owned();
    if name.is_empty() || spec.name.chars().count() > MAX_NAME_LEN {
        errors.push(field(
            "name",
            "invalid",
            format!("1 to {MAX_NAME_LEN} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(field("name", "invalid", "no control characters"));
    }
    let auth_method = AuthMethod::parse(&spec.token_endpoint_auth_method);
    if auth_method.is_none() {
        errors.push(field(
            "token_endpoint_auth_method",
            "invalid",
            "client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or none",
        ));
    }
    let grant_types = dedup(&spec.grant_types);
    if grant_types.is_empty() {
        errors.push(field("grant_types", "required", "at least one grant"));
    }
    for g in &grant_types {
        if !GRANTS.contains(&g.as_str()) {
            let why = match g.as_str() {
                "implicit" | "password" => {
                    "not offered: use authorization_code with PKCE (RFC 9700)".to_owned()
                }
                _ => format!("one of {}", GRANTS.join(", ")),
            };
            errors.push(field("grant_types", "invalid", why));
        }
    }
    let has = |g: &str| grant_types.iter().any(|x| x == g);
    if has(GRANT_REFRESH) && !has(GRANT_CODE) && !has(GRANT_DEVICE_CODE) {
        errors.push(field(
            "grant_types",
            "invalid",
            "refresh_token comes with authorization_code or the device grant",
        ));
    }
    if auth_method == Some(AuthMethod::None) && has(GRANT_CLIENT_CREDENTIALS) {
        errors.push(field(
            "grant_types",
            "invalid",
            "a public client (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    let redirect_uris = dedup(&spec.redirect_uris);
    if spec.redirect_uris.len() > MAX_REDIRECT_URIS {
        errors.push(field(
            "redirect_uris",
            "too_many",
            format!("at most {MAX_REDIRECT_URIS}"),
        ));
    } else {
        check_uris("redirect_uris", &redirect_uris, &mut errors);
    }
    if has(GRANT_CODE) && redirect_uris.is_empty() {
        errors.push(field(
            "redirect_uris",
            "required",
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    let post_logout_redirect_uris = dedup(spec.post_logout_redirect_uris.as_deref().unwrap_or(&[]));
    check_uris(
        "post_logout_redirect_uris",
        &post_logout_redirect_uris,
        &mut errors,
    );
    if let Some(uri) = &spec.backchannel_logout_uri {
        let web = uri.starts_with("https://") || uri.starts_with("http://");
        if !web || super::redirect::validate(uri).is_err() {
            errors.push(field(
                "backchannel_logout_uri",
                "invalid",
                "an https URI (http on a loopback address), no fragment",
            ));
        }
    }
    let scopes = dedup(spec.scopes.as_deref().unwrap_or(&["openid".to_owned()]));
    if scopes.len() > MAX_SCOPES {
        errors.push(field("scopes", "too_many", format!("at most {MAX_SCOPES}")));
    }
    if scopes.iter().any(|s| !is_scope_token(s)) {
        errors.push(field(
            "scopes",
            "invalid",
            "scope names are printable ASCII without spaces, quotes or backslashes",
        ));
    }
    if spec.require_pkce == Some(false) {
        errors.push(field(
            "require_pkce",
            "invalid",
            "PKCE with S256 is required of every client",
        ));
    }
    match (&spec.jwks, auth_method) {
        (Some(j), Some(AuthMethod::PrivateKeyJwt)) => {
            if let Err(e) = check_jwks(j) {
                errors.push(field("jwks", "invalid", e));
            }
        }
        (None, Some(AuthMethod::PrivateKeyJwt)) => {
            errors.push(field(
                "jwks",
                "required",
                "private_key_jwt needs the client's public keys",
            ));
        }
        (Some(_), Some(_)) => errors.push(field(
            "jwks",
            "invalid",
            "public keys are registered for private_key_jwt only",
        )),
        _ => {}
    }
    match (&spec.tls_client_auth_san_uri, auth_method) {
        (Some(u), Some(AuthMethod::TlsClientAuth)) => {
            let ok = u.len() <= 2000
                && u.starts_with("spiffe://")
                && !u.contains('#')
                && u.bytes().all(|b| b.is_ascii_graphic())
                && url::Url::parse(u).is_ok();
            if !ok {
                errors.push(field(
                    "tls_client_auth_san_uri",
                    "invalid",
                    "a SPIFFE ID (spiffe://trust-domain/path) from the internal CA's certificates",
                ));
            }
        }
        (None, Some(AuthMethod::TlsClientAuth)) => errors.push(field(
            "tls_client_auth_san_uri",
            "required",
            "tls_client_auth needs the URI SAN (SPIFFE ID) of the client's certificate",
        )),
        (Some(_), Some(_)) => errors.push(field(
            "tls_client_auth_san_uri",
            "invalid",
            "a certificate's SAN is registered for tls_client_auth only",
        )),
        _ => {}
    }
    match auth_method {
        Some(auth_method) if errors.is_empty() => Ok(CheckedClient {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            auth_method,
            scopes,
            backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
            require_par: spec.require_par.unwrap_or(false),
            require_dpop: spec.require_dpop.unwrap_or(false),
            jwks: spec.jwks.clone(),
            tls_client_auth_san_uri: spec.tls_client_auth_san_uri.clone(),
        }),
        _ => Err(errors),
    }
}

/// Checks a change: the stored client with the patch applied must pass [`check`], and the
/// authentication method cannot change.
pub fn check_patch(
    stored: &OAuthClient,
    patch: &ClientPatch,
) -> Result<CheckedClient, Vec<FieldError>> {
    if let Some(m) = &patch.token_endpoint_auth_method
        && m != stored.auth_method.as_str()
    {
        return Err(vec![field(
            "token_endpoint_auth_method",
            "immutable",
            "a client's authentication method does not change; register a new client",
        )]);
    }
    let spec = ClientSpec {
        name: patch.name.clone().unwrap_or_else(|| stored.name.clone()),
        redirect_uris: patch
            .redirect_uris
            .clone()
            .unwrap_or_else(|| stored.redirect_uris.clone()),
        grant_types: patch
            .grant_types
            .clone()
            .unwrap_or_else(|| stored.grant_types.clone()),
        token_endpoint_auth_method: stored.auth_method.as_str().to_owned(),
        scopes: Some(
            patch
                .scopes
                .clone()
                .unwrap_or_else(|| stored.scopes.clone()),
        ),
        post_logout_redirect_uris: Some(
            patch
                .post_logout_redirect_uris
                .clone()
                .unwrap_or_else(|| stored.post_logout_redirect_uris.clone()),
        ),
        backchannel_logout_uri: patch
            .backchannel_logout_uri
            .clone()
            .unwrap_or_else(|| stored.backchannel_logout_uri.clone()),
        require_pkce: patch.require_pkce,
        require_par: Some(patch.require_par.unwrap_or(stored.require_par)),
        require_dpop: Some(patch.require_dpop.unwrap_or(stored.require_dpop)),
        jwks: patch.jwks.clone().unwrap_or_else(|| stored.jwks.clone()),
        tls_client_auth_san_uri: patch
            .tls_client_auth_san_uri
            .clone()
            .or_else(|| stored.tls_client_auth_san_uri.clone()),
    };
    check(&spec)
}

/// Reads of clients, outside a transaction.
#[async_trait]
pub trait ClientReads: Send + Sync {
    /// A client by id.
    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClient>>;
    /// Clients ordered by id, after the cursor, at most `limit`.
    async fn list_oauth_clients(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<OAuthClient>>;
    /// Whether the access token `jti` was revoked (RFC 7009).
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// A protocol record by kind and id, used or not, expired or not.
    async fn grant_record(&self, kind: Kind, id: &str) -> StoreResult<Option<GrantRecord>>;
    /// The records of `kind` of a person, newest first, at most 500.
    async fn grant_records_of_user(
        &self,
        kind: Kind,
        user_id: &str,
    ) -> StoreResult<Vec<GrantRecord>>;
}

/// Changes to clients, inside a transaction (with their audit event).
#[async_trait]
pub trait ClientWrites: Send {
    /// Stores a new client.
    async fn insert_oauth_client(&mut self, c: &OAuthClient) -> StoreResult<()>;
    /// Replaces a stored client's registration (every field but id, secret, creator and
    /// creation time); false when there is none.
    async fn update_oauth_client(&mut self, c: &OAuthClient) -> StoreResult<bool>;
    /// Deletes a client; false when there was none.
    async fn delete_oauth_client(&mut self, id: &str) -> StoreResult<bool>;
    /// Records the access token `jti` of `client_id` as revoked until it expires; false when
    /// it already was.
    async fn revoke_access_token(
        &mut self,
        jti: &str,
        client_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Stores a protocol record, replacing one of the same kind and id.
    async fn put_grant_record(&mut self, r: &GrantRecord) -> StoreResult<()>;
    /// A protocol record, read in this transaction.
    async fn grant_record(&mut self, kind: Kind, id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Marks a record used at `now`; false when it was used already (or is not there).
    async fn use_grant_record(&mut self, kind: Kind, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Replaces a record's body.
    async fn set_grant_body(&mut self, kind: Kind, id: &str, body: &Value) -> StoreResult<()>;
    /// Deletes a record; false when there was none.
    async fn delete_grant_record(&mut self, kind: Kind, id: &str) -> StoreResult<bool>;
    /// The grants (their session ids) of a person with a client, or of every client when
    /// `client_id` is none.
    async fn grants_of(
        &mut self,
        user_id: &str,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<GrantRecord>>;
    /// The grants that came from the browser session `parent`.
    async fn grants_from(&mut self, parent: &str) -> StoreResult<Vec<GrantRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(method: &str, grants: &[&str]) -> ClientSpec {
        ClientSpec {
            name: "Shop".into(),
            redirect_uris: vec!["https://shop.example/cb".into()],
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            token_endpoint_auth_method: method.into(),
            ..ClientSpec::default()
        }
    }

    fn fields(r: Result<CheckedClient, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_confidential_web_app() {
        let c = check(&spec(
            "client_secret_basic",
            &[GRANT_CODE, GRANT_REFRESH, GRANT_CODE],
        ))
        .unwrap();
        assert_eq!(c.grant_types, [GRANT_CODE, GRANT_REFRESH], "deduplicated");
        assert_eq!(c.scopes, ["openid"], "the default scope");
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert!(!c.require_par && !c.require_dpop);
    }

    #[test]
    fn no_implicit_password_or_unknown_grants() {
        for g in ["implicit", "password", "urn:x", ""] {
            assert_eq!(
                fields(check(&spec("none", &[GRANT_CODE, g]))),
                ["grant_types"],
                "{g}"
            );
        }
        assert_eq!(fields(check(&spec("none", &[]))), ["grant_types"]);
        assert_eq!(
            fields(check(&spec("client_secret_post", &[GRANT_REFRESH]))),
            ["grant_types"],
            "refresh alone"
        );
    }

    #[test]
    fn public_clients_have_no_client_credentials() {
        assert_eq!(
            fields(check(&spec("none", &[GRANT_CLIENT_CREDENTIALS]))),
            ["grant_types"]
        );
        let mut s = spec("client_secret_basic", &[GRANT_CLIENT_CREDENTIALS]);
        s.redirect_uris.clear();
        assert!(check(&s).is_ok(), "a service needs no redirect URI");
    }

    #[test]
    fn redirect_uris_are_checked_and_required_for_the_code_grant() {
        let mut s = spec("none", &[GRANT_CODE]);
        s.redirect_uris = vec![
            "https://ok.example/cb".into(),
            "https://*.example/cb".into(),
            "javascript:alert(1)".into(),
            "https://x.example/cb#frag".into(),
        ];
        assert_eq!(
            fields(check(&s)),
            ["redirect_uris[1]", "redirect_uris[2]", "redirect_uris[3]"]
        );
        s.redirect_uris.clear();
        assert_eq!(fields(check(&s)), ["redirect_uris"]);
        s.redirect_uris = vec!["http://127.0.0.1/cb".into(), "com.example.app:/cb".into()];
        assert!(check(&s).is_ok(), "native app URIs");
        s.redirect_uris = (0..21).map(|i| format!("https://a.example/{i}")).collect();
        assert_eq!(fields(check(&s)), ["redirect_uris"]);
    }

    #[test]
    fn pkce_cannot_be_turned_off() {
        let mut s = spec("client_secret_basic", &[GRANT_CODE]);
        s.require_pkce = Some(false);
        assert_eq!(fields(check(&s)), ["require_pkce"]);
        s.require_pkce = Some(true);
        assert!(check(&s).is_ok());
    }

    #[test]
    fn private_key_jwt_brings_public_keys_only() {
        let mut s = spec("private_key_jwt", &[GRANT_CLIENT_CREDENTIALS]);
        assert_eq!(fields(check(&s)), ["jwks"], "missing");
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        s.jwks = Some(json!({"keys": [ec]}));
        assert!(check(&s).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        for bad in [
            json!({"keys": [private]}),
            json!({"keys": []}),
            json!([ec]),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AQAB"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "AQAB", "y": "AQAB"}]}),
            json!({"keys": [ec, ec]}),
        ] {
            s.jwks = Some(bad.clone());
            assert_eq!(fields(check(&s)), ["jwks"], "{bad}");
        }
        let mut s = spec("client_secret_basic", &[GRANT_CODE]);
        s.jwks = Some(json!({"keys": [ec]}));
        assert_eq!(fields(check(&s)), ["jwks"], "keys for another method");
    }

    #[test]
    fn names_scopes_and_methods() {
        let mut s = spec("client_secret_jwt", &[GRANT_CODE]);
        s.name = " \u{7}x".into();
        s.scopes = Some(vec!["openid".into(), "a b".into()]);
        s.backchannel_logout_uri = Some("com.example.app:/logout".into());
        assert_eq!(
            fields(check(&s)),
            [
                "name",
                "token_endpoint_auth_method",
                "backchannel_logout_uri",
                "scopes"
            ]
        );
    }

    #[test]
    fn patches_keep_the_method_and_the_rules() {
        let c = check(&spec("client_secret_basic", &[GRANT_CODE])).unwrap();
        let stored = OAuthClient {
            id: "c1".into(),
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: vec![],
            grant_types: c.grant_types,
            auth_method: c.auth_method,
            scopes: c.scopes,
            backchannel_logout_uri: None,
            require_pkce: true,
            require_par: false,
            require_dpop: false,
            jwks: None,
            tls_client_auth_san_uri: None,
            secret_hash: Some("h".into()),
            created_by: "u".into(),
            created_at: 1,
            updated_at: 1,
        };
        let renamed = check_patch(
            &stored,
            &ClientPatch {
                name: Some("Shop 2".into()),
                require_par: Some(true),
                ..ClientPatch::default()
            },
        )
        .unwrap();
        assert_eq!(renamed.name, "Shop 2");
        assert!(renamed.require_par);
        assert_eq!(renamed.redirect_uris, stored.redirect_uris);
        let e = check_patch(
            &stored,
            &ClientPatch {
                token_endpoint_auth_method: Some("none".into()),
                ..ClientPatch::default()
            },
        )
        .unwrap_err();
        assert_eq!(e[0].code, "immutable");
        let e = check_patch(
            &stored,
            &ClientPatch {
                redirect_uris: Some(vec![]),
                ..ClientPatch::default()
            },
        )
        .unwrap_err();
        assert_eq!(e[0].field, "redirect_uris");
    }
}
