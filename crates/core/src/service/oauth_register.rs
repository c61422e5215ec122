//! Dynamic client registration (RFC 7591), off by default: with `[oauth]
//! registration_token_env` set, `POST /oauth2/register` registers a client from its RFC 7591
//! metadata for a caller presenting that initial access token. The same rules as the admin
//! API apply (exact redirect URIs, code flow only, PKCE, ...); each registration is audited.

use serde_json::{Map, Value, json};
use sha2::Digest;

use super::{RegisteredClient, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::ct_eq;
use crate::oauth::clients::{ClientSpec, GRANT_CODE};
use crate::oauth::error::OAuthError;
use crate::throttle;

/// Where clients register.
pub const REGISTRATION_PATH: &str = "/oauth2/register";

fn metadata_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new_pub("invalid_client_metadata", d)
}

/// An optional list of strings.
fn strings(m: &Map<String, Value>, k: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= 50 => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| metadata_error(format!("{k} is a list of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!(
            "{k} is a list of at most 50 strings"
        ))),
    }
}

/// An optional string.
fn string(m: &Map<String, Value>, k: &str) -> Result<Option<String>, OAuthError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2000 => Ok(Some(s.clone())),
        Some(_) => Err(metadata_error(format!("{k} is a string"))),
    }
}

/// RFC 7591 §2 metadata as the registration rules read it.
fn spec_of(metadata: &Value) -> Result<ClientSpec, OAuthError> {
    let m = metadata
        .as_object()
        .ok_or_else(|| metadata_error("the body is a JSON object of client metadata"))?;
    if m.contains_key("jwks_uri") {
        return Err(metadata_error(
            "jwks_uri is not fetched: send the public keys as jwks",
        ));
    }
    if let Some(types) = strings(m, "response_types")?
        && types.iter().any(|t| t != "code")
    {
        return Err(metadata_error(
            "only the code response type is offered (no implicit or hybrid flow)",
        ));
    }
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(metadata_error("jwks is a JWK Set object")),
    };
    Ok(ClientSpec {
        name: string(m, "client_name")?.unwrap_or_else(|| "Registered client".to_owned()),
        redirect_uris: strings(m, "redirect_uris")?.unwrap_or_default(),
        grant_types: strings(m, "grant_types")?.unwrap_or_else(|| vec![GRANT_CODE.to_owned()]),
        token_endpoint_auth_method: string(m, "token_endpoint_auth_method")?
            .unwrap_or_else(|| "client_secret_basic".to_owned()),
        scopes: string(m, "scope")?.map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        post_logout_redirect_uris: strings(m, "post_logout_redirect_uris")?,
        backchannel_logout_uri: string(m, "backchannel_logout_uri")?,
        require_pkce: None,
        require_par: m
            .get("require_pushed_authorization_requests")
            .and_then(Value::as_bool),
        require_dpop: m.get("dpop_bound_access_tokens").and_then(Value::as_bool),
        jwks,
        tls_client_auth_san_uri: string(m, "tls_client_auth_san_uri")?,
    })
}

/// The RFC 7591 §3.2.1 client information response.
pub fn registration_response(r: &RegisteredClient) -> Value {
    use secrecy::ExposeSecret;
    let c = &r.client;
    let mut out = json!({
        "client_id": c.id,
        "client_id_issued_at": c.created_at,
        "client_name": c.name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "response_types": if c.grant_types.iter().any(|g| g == GRANT_CODE) { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "scope": c.scopes.join(" "),
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "require_pushed_authorization_requests": c.require_par,
        "dpop_bound_access_tokens": c.require_dpop,
    });
    if let Some(o) = out.as_object_mut() {
        if let Some(s) = &r.secret {
            o.insert("client_secret".into(), s.expose_secret().into());
            o.insert("client_secret_expires_at".into(), 0.into());
        }
        if let Some(u) = &c.backchannel_logout_uri {
            o.insert("backchannel_logout_uri".into(), u.clone().into());
        }
        if let Some(j) = &c.jwks {
            o.insert("jwks".into(), j.clone());
        }
        if let Some(u) = &c.tls_client_auth_san_uri {
            o.insert("tls_client_auth_san_uri".into(), u.clone().into());
        }
    }
    out
}

impl Services {
    /// Turns dynamic registration on with this initial access token (kept as its SHA-256).
    pub fn set_registration_token(&self, token: &str) {
        let _ = self
            .registration_token
            .set(sha2::Sha256::digest(token.as_bytes()).into());
    }

    /// Whether dynamic registration is on.
    pub fn registration_open(&self) -> bool {
        self.registration_token.get().is_some()
    }

    /// `POST /oauth2/register`: the initial access token, then the metadata.
    pub async fn register_dynamic(
        &self,
        ctx: &RequestContext,
        bearer: Option<&str>,
        metadata: &Value,
    ) -> Result<RegisteredClient, OAuthError> {
        let Some(expected) = self.registration_token.get() else {
            return Err(OAuthError::new_pub(
                "invalid_request",
                "dynamic client registration is off",
            ));
        };
        let key = ctx.ip.map(|ip| format!("oauth-{}", throttle::ip_key(ip)));
        if let Some(k) = &key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let presented: [u8; 32] = sha2::Sha256::digest(bearer.unwrap_or("").as_bytes()).into();
        if bearer.is_none() || !ct_eq(&presented, expected) {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            if let Some(k) = &key {
                self.bump_throttle(tx.as_mut(), k, &throttle::CLIENT_IP)
                    .await?;
            }
            tx.append_audit(
                &NewAuditEvent::new(now, "oauth.registration_refused", Outcome::Failure)
                    .target("registration")
                    .client(ctx)
                    .details(json!({"reason": "initial access token missing or wrong"})),
            )
            .await?;
            tx.commit().await?;
            return Err(OAuthError::invalid_token(
                "the initial access token is missing or wrong",
            ));
        }
        let spec = spec_of(metadata)?;
        self.register_oauth_client("dynamic-registration", ctx, &spec)
            .await
            .map_err(|e| match e {
                crate::error::Error::InvalidRequest(m, fields) => {
                    if fields.iter().any(|f| f.field.starts_with("redirect_uris")) {
                        OAuthError::new_pub("invalid_redirect_uri", m)
                    } else {
                        metadata_error(m)
                    }
                }
                other => other.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_read_as_rfc_7591_spells_it() {
        let s = spec_of(&json!({
            "client_name": "CLI", "redirect_uris": ["http://127.0.0.1/cb"],
            "scope": "openid  email", "token_endpoint_auth_method": "none",
            "response_types": ["code"], "software_id": "ignored"
        }))
        .unwrap();
        assert_eq!(s.scopes, Some(vec!["openid".into(), "email".into()]));
        assert_eq!(s.grant_types, ["authorization_code"]);
        assert_eq!(s.token_endpoint_auth_method, "none");
        for bad in [
            json!([]),
            json!({"response_types": ["token"]}),
            json!({"redirect_uris": "https://a.example/cb"}),
            json!({"jwks_uri": "https://a.example/jwks"}),
            json!({"jwks": "x"}),
        ] {
            assert_eq!(
                spec_of(&bad).unwrap_err().code,
                "invalid_client_metadata",
                "{bad}"
            );
        }
    }
}
