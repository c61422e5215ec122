//! API keys and service accounts.

use portcullis_core::FieldError;
use portcullis_core::clock::rfc3339;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::{LABEL_PATTERN, SCOPE_PATTERN, opt_whole_i64, opt_whole_u32};
use crate::extract::{Validate, max_len};

/// `POST /auth/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreateRequest {
    /// A label, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 1 to 32 scopes (`admin:read` and `admin:write` for administrators only).
    #[schema(min_items = 1, max_items = 32)]
    pub scopes: Vec<String>,
    /// Expiry, 1 to 3650 days; none by default.
    #[serde(default, deserialize_with = "opt_whole_u32")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// `hmac-sha256` or `ed25519`: every request with the key must then be signed (RFC 9421).
    pub signing: Option<String>,
    /// For `ed25519`: the client's public key, `{"kty":"OKP","crv":"Ed25519","x":"..."}`.
    #[schema(value_type = Option<Object>)]
    pub public_key_jwk: Option<serde_json::Value>,
}

impl Validate for ApiKeyCreateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "name", &self.name, 400);
        if self.scopes.len() > 64 {
            e.push(FieldError::new("scopes", "too_long", "at most 32 scopes"));
        }
        for s in &self.scopes {
            max_len(&mut e, "scopes", s, 256);
        }
        max_len(&mut e, "signing", self.signing.as_deref().unwrap_or(""), 32);
        if self
            .public_key_jwk
            .as_ref()
            .is_some_and(|j| j.to_string().len() > 1024)
        {
            e.push(FieldError::new(
                "public_key_jwk",
                "too_long",
                "at most 1024 bytes",
            ));
        }
        jwk_members(&mut e, self.public_key_jwk.as_ref());
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

impl ApiKeyCreateRequest {
    /// The domain's view.
    pub fn spec(&self) -> portcullis_core::service::ApiKeySpec {
        portcullis_core::service::ApiKeySpec {
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            expires_in_days: self.expires_in_days,
            signing: self.signing.clone(),
            public_key_jwk: self.public_key_jwk.clone(),
        }
    }
}

/// `POST /auth/api-keys/{id}/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRotateRequest {
    /// How long the old key keeps working, 0 (default) to 2592000 seconds.
    #[serde(default, deserialize_with = "opt_whole_i64")]
    #[schema(minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
}

impl Validate for ApiKeyRotateRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    /// Id; also the `keyid` of its message signatures.
    pub id: String,
    /// Label.
    pub name: String,
    /// Public prefix (`pcl_` + 8 characters), to recognise the key.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// `none`, `hmac-sha256` or `ed25519`.
    pub signing: &'static str,
    /// The owner (user or service account).
    pub owner_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the key stops working then (expiry, or the end of a rotation overlap).
    pub expires_at: Option<String>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339 of the last use (written at most once a minute).
    pub last_used_at: Option<String>,
    /// Client IP of the last use.
    pub last_used_ip: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `hmac-sha256` keys: the signing secret (base64), only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<&portcullis_core::model::ApiKeyRecord> for ApiKeyBody {
    fn from(k: &portcullis_core::model::ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            signing: k.signing.as_str(),
            owner_id: k.owner_id.clone(),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            last_used_ip: k.last_used_ip.clone(),
            rotated_from: k.rotated_from.clone(),
            key: None,
            signing_secret: None,
        }
    }
}

impl From<portcullis_core::service::IssuedApiKey> for ApiKeyBody {
    fn from(k: portcullis_core::service::IssuedApiKey) -> Self {
        let mut b = Self::from(&k.record);
        b.key = Some(k.key.expose_secret().to_owned());
        b.signing_secret = k.signing_secret.map(|s| s.expose_secret().to_owned());
        b
    }
}

/// `GET /auth/api-keys`
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Oldest first.
    pub api_keys: Vec<ApiKeyBody>,
    /// Admin listing: the cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /admin/service-accounts`: a principal with role `service` and its first key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRequest {
    /// The service's name, 1 to 100 characters with a letter or digit.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Scopes of its first key, 1 to 32.
    #[schema(min_items = 1, max_items = 32)]
    pub scopes: Vec<String>,
    /// Label of the key (default "default").
    pub key_name: Option<String>,
    /// Key expiry in days, 1 to 3650.
    #[serde(default, deserialize_with = "opt_whole_u32")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// `hmac-sha256` or `ed25519`.
    pub signing: Option<String>,
    /// For `ed25519`: the service's public key (JWK).
    #[schema(value_type = Option<Object>)]
    pub public_key_jwk: Option<serde_json::Value>,
    /// A SPIFFE ID (`spiffe://trust-domain/path`): a client certificate with this URI SAN,
    /// verified against `server.tls.client_ca_file`, authenticates the service with `scopes`.
    #[schema(max_length = 2048)]
    pub spiffe_id: Option<String>,
}

impl Validate for ServiceAccountRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "name", &self.name, 400);
        jwk_members(&mut e, self.public_key_jwk.as_ref());
        if self.name.chars().any(char::is_control) {
            e.push(FieldError::new("name", "invalid", "no control characters"));
        }
        max_len(
            &mut e,
            "key_name",
            self.key_name.as_deref().unwrap_or(""),
            400,
        );
        if self.scopes.len() > 64 {
            e.push(FieldError::new("scopes", "too_long", "at most 32 scopes"));
        }
        for s in &self.scopes {
            max_len(&mut e, "scopes", s, 256);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// The created service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountBody {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Always `service`.
    pub role: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// Its first key (with the secret, shown once).
    pub api_key: ApiKeyBody,
    /// The SPIFFE ID that authenticates it over mTLS, if any.
    pub spiffe_id: Option<String>,
}

/// Refuses JWK members an Ed25519 public key does not carry (RFC 8037, RFC 7517 §4): only
/// `kty`, `crv`, `x` and optionally `kid` (at most 64 characters), `alg` (`EdDSA` or
/// `Ed25519`) and `use` (`sig`). The private `d` above all is refused.
fn jwk_members(e: &mut Vec<FieldError>, jwk: Option<&serde_json::Value>) {
    let Some(serde_json::Value::Object(m)) = jwk else {
        return;
    };
    let bad = m.iter().any(|(k, v)| match k.as_str() {
        "kty" | "crv" | "x" => false,
        "kid" => v.as_str().is_none_or(|s| s.chars().count() > 64),
        "alg" => !matches!(v.as_str(), Some("EdDSA" | "Ed25519")),
        "use" => v.as_str() != Some("sig"),
        _ => true,
    });
    if bad {
        e.push(FieldError::new(
            "public_key_jwk",
            "invalid",
            "an Ed25519 public JWK: kty, crv, x and optionally kid, alg, use",
        ));
    }
}

/// Labels, scopes, the signing modes, the Ed25519 JWK (required with `ed25519`, refused
/// otherwise) and SPIFFE IDs, as `check_spec` and `valid_spiffe_id` refuse the rest. Whether
/// the JWK's `x` is a point on the curve no schema can say.
pub(super) fn refinements() -> serde_json::Value {
    use serde_json::json;
    let jwk = json!({
        "type": "object",
        "required": ["kty", "crv", "x"],
        "properties": {
            "kty": {"enum": ["OKP"]},
            "crv": {"enum": ["Ed25519"]},
            "x": {"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"},
            "kid": {"type": "string", "maxLength": 64},
            "alg": {"enum": ["EdDSA", "Ed25519"]},
            "use": {"enum": ["sig"]},
        },
        "additionalProperties": false,
    });
    let key = |name_pattern: &str| {
        json!({
            "properties": {
                "name": {"pattern": name_pattern},
                "scopes": {"items": {"type": "string", "pattern": SCOPE_PATTERN}},
                "signing": {"enum": ["none", "hmac-sha256", "ed25519", null]},
                "public_key_jwk": {"oneOf": [{"type": "null"}, jwk]},
            },
            "oneOf": [
                {
                    "required": ["signing", "public_key_jwk"],
                    "properties": {"signing": {"enum": ["ed25519"]}, "public_key_jwk": {"type": "object"}},
                },
                {
                    "properties": {"signing": {"enum": ["none", "hmac-sha256", null]}, "public_key_jwk": {"type": "null"}},
                },
            ],
        })
    };
    let mut service = key("^[^\\x00-\\x1f\\x7f-\\x9f]*[A-Za-z0-9][^\\x00-\\x1f\\x7f-\\x9f]*$");
    if let Some(p) = service
        .get_mut("properties")
        .and_then(|p| p.as_object_mut())
    {
        p.insert(
            "key_name".into(),
            json!({"minLength": 1, "maxLength": 100, "pattern": LABEL_PATTERN}),
        );
        p.insert("spiffe_id".into(), json!({"pattern": SPIFFE_ID_PATTERN}));
    }
    json!({
        "ApiKeyCreateRequest": key(LABEL_PATTERN),
        "ServiceAccountRequest": service,
    })
}

/// `spiffe://<lower-case trust domain>/<path>`: segments of letters, digits and `. _ -`,
/// never `.` or `..`.
const SPIFFE_ID_PATTERN: &str = "^spiffe://[a-z0-9._-]+(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+))+$";
