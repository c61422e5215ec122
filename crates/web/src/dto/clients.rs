//! OAuth 2.0 / OpenID Connect clients (`/api/v1/admin/clients`).

use portcullis_core::FieldError;
use portcullis_core::clock::rfc3339;
use portcullis_core::oauth::clients::{
    ClientPatch, ClientSpec, GRANTS, MAX_JWKS_BYTES, MAX_NAME_LEN, MAX_REDIRECT_URIS,
    MAX_SCOPE_LEN, MAX_SCOPES, OAuthClient,
};
use portcullis_core::oauth::redirect::MAX_LEN as MAX_URI_LEN;
use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::wire::LABEL_PATTERN;
use crate::extract::{Validate, max_len};

/// A scope name (RFC 6749 §3.3): printable ASCII without space, `"` or `\`.
const CLIENT_SCOPE_PATTERN: &str = "^[!#-\\[\\]-~]+$";

/// `POST /api/v1/admin/clients`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCreateRequest {
    /// Shown to people on the consent page.
    pub name: String,
    /// Exact redirect URIs (https, http on a loopback address, or a private-use scheme);
    /// needed by `authorization_code`.
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub grant_types: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `tls_client_auth`, or
    /// `none` (a public client).
    pub token_endpoint_auth_method: String,
    /// Scopes the client may ask for (default `openid`).
    pub scopes: Option<Vec<String>>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// OpenID Connect back-channel logout endpoint.
    pub backchannel_logout_uri: Option<String>,
    /// PKCE with S256; always required (only `true` is accepted).
    pub require_pkce: Option<bool>,
    /// Authorization requests only by PAR (RFC 9126).
    pub require_par: Option<bool>,
    /// Tokens only bound to a DPoP key (RFC 9449).
    pub require_dpop: Option<bool>,
    /// The client's public JWK Set, for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// For `tls_client_auth` (RFC 8705 §2.1.2): the URI SAN (a SPIFFE ID) the client's
    /// certificate from the internal CA must carry.
    #[schema(max_length = 2000)]
    pub tls_client_auth_san_uri: Option<String>,
}

/// Lengths and counts, before the registration rules (which name the field they refuse).
fn bounds(
    e: &mut Vec<FieldError>,
    name: Option<&str>,
    lists: [(&str, Option<&[String]>, usize, usize); 4],
    backchannel: Option<&str>,
    jwks: Option<&serde_json::Value>,
) {
    if let Some(n) = name {
        max_len(e, "name", n, MAX_NAME_LEN);
    }
    for (field, items, max_items, max_chars) in lists {
        let Some(items) = items else { continue };
        if items.len() > max_items {
            e.push(FieldError::new(
                field,
                "too_many",
                format!("at most {max_items}"),
            ));
        }
        for i in items {
            max_len(e, field, i, max_chars);
        }
    }
    if let Some(b) = backchannel {
        max_len(e, "backchannel_logout_uri", b, MAX_URI_LEN);
    }
    if jwks.is_some_and(|j| j.to_string().len() > MAX_JWKS_BYTES) {
        e.push(FieldError::new(
            "jwks",
            "too_long",
            format!("at most {MAX_JWKS_BYTES} bytes"),
        ));
    }
}

impl Validate for ClientCreateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        bounds(
            &mut e,
            Some(&self.name),
            [
                (
                    "redirect_uris",
                    Some(&self.redirect_uris),
                    MAX_REDIRECT_URIS,
                    MAX_URI_LEN,
                ),
                (
                    "post_logout_redirect_uris",
                    self.post_logout_redirect_uris.as_deref(),
                    MAX_REDIRECT_URIS,
                    MAX_URI_LEN,
                ),
                ("grant_types", Some(&self.grant_types), GRANTS.len(), 64),
                ("scopes", self.scopes.as_deref(), MAX_SCOPES, MAX_SCOPE_LEN),
            ],
            self.backchannel_logout_uri.as_deref(),
            self.jwks.as_ref(),
        );
        max_len(
            &mut e,
            "token_endpoint_auth_method",
            &self.token_endpoint_auth_method,
            32,
        );
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

impl ClientCreateRequest {
    /// The domain's view.
    pub fn spec(&self) -> ClientSpec {
        ClientSpec {
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            scopes: self.scopes.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            require_pkce: self.require_pkce,
            require_par: self.require_par,
            require_dpop: self.require_dpop,
            jwks: self.jwks.clone(),
            tls_client_auth_san_uri: self.tls_client_auth_san_uri.clone(),
        }
    }
}

/// A member that may be sent as `null` to clear it: absent is `None`, `null` is
/// `Some(None)`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/admin/clients/{id}`: what is sent changes; what is left out stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdateRequest {
    /// Name.
    pub name: Option<String>,
    /// Redirect URIs (the whole list).
    pub redirect_uris: Option<Vec<String>>,
    /// Grants (the whole list).
    pub grant_types: Option<Vec<String>>,
    /// Only the registered method is accepted: a client changes how it authenticates by
    /// being registered again.
    pub token_endpoint_auth_method: Option<String>,
    /// Scopes (the whole list).
    pub scopes: Option<Vec<String>>,
    /// Post-logout redirect URIs (the whole list).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Back-channel logout URI; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub backchannel_logout_uri: Option<Option<String>>,
    /// Only `true`.
    pub require_pkce: Option<bool>,
    /// PAR only.
    pub require_par: Option<bool>,
    /// DPoP only.
    pub require_dpop: Option<bool>,
    /// Public JWK Set; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Option<serde_json::Value>>,
    /// The certificate's URI SAN (`tls_client_auth`).
    #[schema(max_length = 2000)]
    pub tls_client_auth_san_uri: Option<String>,
}

impl Validate for ClientUpdateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        bounds(
            &mut e,
            self.name.as_deref(),
            [
                (
                    "redirect_uris",
                    self.redirect_uris.as_deref(),
                    MAX_REDIRECT_URIS,
                    MAX_URI_LEN,
                ),
                (
                    "post_logout_redirect_uris",
                    self.post_logout_redirect_uris.as_deref(),
                    MAX_REDIRECT_URIS,
                    MAX_URI_LEN,
                ),
                ("grant_types", self.grant_types.as_deref(), GRANTS.len(), 64),
                ("scopes", self.scopes.as_deref(), MAX_SCOPES, MAX_SCOPE_LEN),
            ],
            self.backchannel_logout_uri
                .as_ref()
                .and_then(Option::as_deref),
            self.jwks.as_ref().and_then(Option::as_ref),
        );
        if let Some(m) = &self.token_endpoint_auth_method {
            max_len(&mut e, "token_endpoint_auth_method", m, 32);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

impl ClientUpdateRequest {
    /// The domain's view.
    pub fn patch(&self) -> ClientPatch {
        ClientPatch {
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            scopes: self.scopes.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            require_pkce: self.require_pkce,
            require_par: self.require_par,
            require_dpop: self.require_dpop,
            jwks: self.jwks.clone(),
            tls_client_auth_san_uri: self.tls_client_auth_san_uri.clone(),
        }
    }
}

/// A registered client (RFC 7591's client information response, plus Portcullis's own
/// members).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBody {
    /// `client_id`.
    pub client_id: String,
    /// The secret of a `client_secret_*` client: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// 0 (the secret does not expire), for clients that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// Unix time of registration.
    pub client_id_issued_at: i64,
    /// Name.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants.
    pub grant_types: Vec<String>,
    /// Always `["code"]` when the code grant is registered.
    pub response_types: Vec<String>,
    /// How it authenticates.
    pub token_endpoint_auth_method: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Always true.
    pub require_pkce: bool,
    /// PAR only.
    pub require_par: bool,
    /// DPoP only.
    pub require_dpop: bool,
    /// Public JWK Set.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// The certificate's URI SAN (`tls_client_auth`).
    pub tls_client_auth_san_uri: Option<String>,
    /// Who registered it (a user id, or `cli`).
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&OAuthClient> for ClientBody {
    fn from(c: &OAuthClient) -> Self {
        Self {
            client_id: c.id.clone(),
            client_secret: None,
            client_secret_expires_at: c.auth_method.uses_secret().then_some(0),
            client_id_issued_at: c.created_at,
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            response_types: if c.grant_types.iter().any(|g| g == "authorization_code") {
                vec!["code".to_owned()]
            } else {
                Vec::new()
            },
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            scopes: c.scopes.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            require_pkce: c.require_pkce,
            require_par: c.require_par,
            require_dpop: c.require_dpop,
            jwks: c.jwks.clone(),
            tls_client_auth_san_uri: c.tls_client_auth_san_uri.clone(),
            created_by: c.created_by.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

impl From<portcullis_core::service::RegisteredClient> for ClientBody {
    fn from(r: portcullis_core::service::RegisteredClient) -> Self {
        let mut body = Self::from(&r.client);
        body.client_secret = r.secret.map(|s| s.expose_secret().to_owned());
        body
    }
}

/// A page of clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// Clients by id.
    pub clients: Vec<ClientBody>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// What the derived schemas cannot say.
pub fn refinements() -> serde_json::Value {
    use serde_json::json;
    let uris =
        json!({"maxItems": MAX_REDIRECT_URIS, "items": {"minLength": 1, "maxLength": MAX_URI_LEN}});
    let fields = |create: bool| {
        let mut schema = json!({
            "properties": {
                "name": {"minLength": 1, "maxLength": MAX_NAME_LEN, "pattern": LABEL_PATTERN},
                "redirect_uris": uris,
                "post_logout_redirect_uris": uris,
                "grant_types": {"minItems": 1, "maxItems": GRANTS.len(), "items": {"enum": GRANTS}},
                "token_endpoint_auth_method": {"enum": ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "none"]},
                "scopes": {"maxItems": MAX_SCOPES, "items": {"minLength": 1, "maxLength": MAX_SCOPE_LEN, "pattern": CLIENT_SCOPE_PATTERN}},
                "backchannel_logout_uri": {"minLength": 1, "maxLength": MAX_URI_LEN},
                "require_pkce": {"enum": [true, null]},
            },
        });
        if !create && let Some(p) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            p.insert(
                "backchannel_logout_uri".into(),
                json!({"type": ["string", "null"], "minLength": 1, "maxLength": MAX_URI_LEN}),
            );
            p.insert("jwks".into(), json!({"type": ["object", "null"]}));
        }
        schema
    };
    json!({
        "ClientCreateRequest": fields(true),
        "ClientUpdateRequest": fields(false),
    })
}

/// An application the caller consented to (`GET /api/v1/auth/connected-apps`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedAppBody {
    /// The client.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was last given (RFC 3339).
    pub granted_at: String,
}

/// `GET /api/v1/auth/connected-apps`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedAppList {
    /// Newest consent first.
    pub connected_apps: Vec<ConnectedAppBody>,
}

impl From<portcullis_core::service::ConnectedApp> for ConnectedAppBody {
    fn from(a: portcullis_core::service::ConnectedApp) -> Self {
        Self {
            client_id: a.client_id,
            name: a.name,
            scopes: a.scopes,
            granted_at: rfc3339(a.granted_at),
        }
    }
}
