//! OAuth tokens at a resource (the gateway's routes): a client's own (client credentials)
//! or a person's through a client (the code, refresh and device grants).
//! Client-credentials tokens at a resource: the token is checked as
//! introspection would (signature, issuer, expiry, the client still registered, not
//! revoked), its audience must name the route, and a DPoP-bound token needs a proof of the
//! key it is bound to, for this request and this token, used once.
//!
//! The principal is the client: role `service`, its scopes carried as an `oauth:` grant so
//! that route scopes, rate limits and quotas treat it as they treat an API key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{ApiKeyGrant, Principal, Services};
use crate::error::{Error, Result};
use crate::id::is_valid_id;
use crate::model::{Role, SigningMode};
use crate::oauth::dpop;

/// What identifies a principal authenticated by an OAuth client token (its grant's id).
pub const CLIENT_GRANT_PREFIX: &str = "oauth:";

/// The request a DPoP proof must name.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The `DPoP` header.
    pub proof: &'a str,
    /// The request's method.
    pub method: &'a str,
    /// The request's URI as the client addressed it (public URL and path).
    pub uri: &'a str,
}

/// Whether `token` looks like a token this server issued to an OAuth client (a
/// `client_id` claim: the client's own, or a person's through the client), read without
/// verifying anything: it only chooses which verifier runs.
pub fn is_app_token(token: &str) -> bool {
    named_claims(token).is_some_and(|c| c.client_id)
}

/// Whether `token` looks like a client-credentials token (a `client_id` claim and no
/// session), read without verifying anything: it only chooses which verifier runs.
pub fn is_client_token(token: &str) -> bool {
    named_claims(token).is_some_and(|c| c.client_id && !c.sid)
}

/// Which of the claims that choose a verifier a token's payload has (present with any
/// value, `null` included, as a JSON object's key), if the payload is a JSON object.
/// Every gateway request with a bearer token asks, so the payload is read without building
/// it as a `Value` (that cost three times the verification itself): the document is still
/// parsed whole, and a key spelt with escapes counts as its unescaped self.
fn named_claims(token: &str) -> Option<NamedClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<NamedClaims>(&bytes).ok()
}

#[derive(Debug, Default)]
struct NamedClaims {
    client_id: bool,
    sid: bool,
}

impl<'de> serde::Deserialize<'de> for NamedClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(NamedClaimsVisitor)
    }
}

struct NamedClaimsVisitor;

impl<'de> serde::de::Visitor<'de> for NamedClaimsVisitor {
    type Value = NamedClaims;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<NamedClaims, A::Error> {
        let mut claims = NamedClaims::default();
        while let Some(key) = map.next_key::<ClaimName>()? {
            match key {
                ClaimName::ClientId => claims.client_id = true,
                ClaimName::Sid => claims.sid = true,
                ClaimName::Other => {}
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(claims)
    }
}

/// A claim's name, as far as choosing a verifier goes.
enum ClaimName {
    ClientId,
    Sid,
    Other,
}

impl<'de> serde::Deserialize<'de> for ClaimName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ClaimName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<ClaimName, E> {
                Ok(match v {
                    "client_id" => ClaimName::ClientId,
                    "sid" => ClaimName::Sid,
                    _ => ClaimName::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn names(aud: Option<&Value>, resource: &str) -> bool {
    let resource = resource.trim_end_matches('/');
    let is = |v: &Value| {
        v.as_str()
            .is_some_and(|a| a.trim_end_matches('/') == resource)
    };
    match aud {
        Some(Value::Array(list)) => list.iter().any(is),
        Some(v) => is(v),
        None => false,
    }
}

impl Services {
    /// The issuer (`server.public_url`): tokens' `iss`, and the base of every public URL.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The claims of an access token this server signed (`typ` at+jwt, its `iss`) that is
    /// current at `now`: not expired, not issued in the future. What introspection,
    /// revocation and resources all check first.
    pub(crate) fn current_access_token(
        &self,
        token: &str,
        now: crate::clock::UnixTime,
    ) -> Option<Map<String, Value>> {
        let (typ, claims) = self.keyring.verify_json(token, now).ok()?;
        let int = |k: &str| claims.get(k).and_then(Value::as_i64);
        let (exp, iat) = (int("exp")?, int("iat")?);
        let ours = typ.as_deref() == Some("at+jwt")
            && claims.get("iss").and_then(Value::as_str) == Some(self.settings.issuer.as_str());
        (ours && exp > now && iat <= now + 60).then_some(claims)
    }

    /// Whether a client's token still stands: its client is registered and its `jti` was
    /// not revoked.
    pub(crate) async fn client_token_stands(
        &self,
        claims: &Map<String, Value>,
    ) -> crate::store::StoreResult<bool> {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
        let id = text("client_id");
        Ok(is_valid_id(id)
            && self.store.clients().oauth_client(id).await?.is_some()
            && !self
                .store
                .clients()
                .access_token_revoked(text("jti"))
                .await?)
    }

    /// Checks the DPoP proof sent with `token` (bound to `jkt`): for this request, for this
    /// token (`ath`), by that key, and never seen before on any node (the replay cache
    /// lives in the store).
    pub(crate) async fn check_dpop_proof(
        &self,
        token: &str,
        jkt: &str,
        req: DpopRequest<'_>,
    ) -> Result<()> {
        let now = self.now();
        let proof = dpop::verify(req.proof, req.method, req.uri, now, Some(token))
            .map_err(Error::InvalidDpopProof)?;
        if !crate::crypto::tokens::ct_eq(proof.jkt.as_bytes(), jkt.as_bytes()) {
            return Err(Error::InvalidDpopProof(
                "the DPoP proof's key is not the one the token is bound to",
            ));
        }
        if !self
            .store
            .use_nonce(&format!("dpop:{jkt}"), &proof.jti, proof.keep_until, now)
            .await?
        {
            return Err(Error::InvalidDpopProof("the DPoP proof was used before"));
        }
        Ok(())
    }

    /// The key of a DPoP proof sent to an endpoint that starts or refreshes a session
    /// (a POST to `path`): valid, recent and never seen before. The session's tokens are
    /// then bound to it.
    pub async fn dpop_sign_in_key(&self, proof: &str, path: &str) -> Result<String> {
        let now = self.now();
        let uri = format!("{}{path}", self.settings.issuer.trim_end_matches('/'));
        let checked =
            dpop::verify(proof, "POST", &uri, now, None).map_err(Error::InvalidDpopProof)?;
        if !self
            .store
            .use_nonce(
                &format!("dpop:{}", checked.jkt),
                &checked.jti,
                checked.keep_until,
                now,
            )
            .await?
        {
            return Err(Error::InvalidDpopProof("the DPoP proof was used before"));
        }
        Ok(checked.jkt)
    }

    /// Authenticates a client-credentials token presented at `resource` (the route's
    /// public URL), with the DPoP proof when the request used the `DPoP` scheme.
    pub async fn authenticate_client_token(
        &self,
        token: &str,
        resource: &str,
        dpop: Option<DpopRequest<'_>>,
        peer_x5t: Option<&str>,
    ) -> Result<Principal> {
        if !self.health.ready() {
            return Err(Error::Unavailable(
                "database unreachable; failing closed".into(),
            ));
        }
        let now = self.now();
        let claims = self
            .current_access_token(token, now)
            .ok_or(Error::InvalidToken(
                "not a current access token of this issuer",
            ))?;
        if !names(claims.get("aud"), resource) {
            return Err(Error::InvalidToken(
                "the token's audience is not this resource",
            ));
        }
        let client_id = claims
            .get("client_id")
            .and_then(Value::as_str)
            .filter(|id| is_valid_id(id))
            .ok_or(Error::InvalidToken("malformed claims"))?;
        let bound = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str);
        match (bound, dpop) {
            (None, None) => {}
            (Some(jkt), Some(req)) => self.check_dpop_proof(token, jkt, req).await?,
            (Some(_), None) => {
                return Err(Error::InvalidDpopProof(
                    "this token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449)",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::InvalidToken("the token is not DPoP-bound"));
            }
        }
        super::oauth_code::check_cert_binding(&claims, peer_x5t).map_err(Error::InvalidToken)?;
        let person = claims.get("sid").and_then(Value::as_str);
        let stands = match person {
            // A person's token through the client: while its grant's session stands (on
            // every node), the client is registered, and the token was not revoked.
            Some(sid) => {
                !self.revocations.is_revoked(sid) && self.client_token_stands(&claims).await?
            }
            None => self.client_token_stands(&claims).await?,
        };
        if !stands {
            return Err(Error::InvalidToken("revoked"));
        }
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let grant = ApiKeyGrant {
            id: format!("{CLIENT_GRANT_PREFIX}{client_id}"),
            scopes,
            signing: SigningMode::None,
        };
        if let (Some(sid), Some(sub)) = (person, claims.get("sub").and_then(Value::as_str)) {
            // The person as the application acts for them: their id and factors, the
            // scopes they consented to, and no Portcullis role beyond `user`.
            let amr = claims
                .get("amr")
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default();
            return Ok(Principal {
                user_id: sub.to_owned(),
                session_id: sid.to_owned(),
                role: Role::User,
                amr,
                auth_time: claims
                    .get("auth_time")
                    .and_then(Value::as_i64)
                    .unwrap_or(iat),
                api_key: Some(grant),
                elevation: None,
                password_change: false,
            });
        }
        Ok(Principal {
            user_id: client_id.to_owned(),
            session_id: String::new(),
            role: Role::Service,
            amr: Vec::new(),
            auth_time: iat,
            api_key: Some(grant),
            elevation: None,
            password_change: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: &Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    #[test]
    fn client_tokens_are_told_apart_from_peoples() {
        assert!(is_client_token(&token(
            &json!({"client_id": "c", "sub": "c"})
        )));
        assert!(!is_client_token(&token(&json!({"sub": "u", "sid": "s"}))));
        assert!(!is_client_token(&token(
            &json!({"client_id": "c", "sid": "s"})
        )));
        assert!(!is_client_token("garbage"));
        assert!(!is_client_token("a.!!.c"));
    }

    /// The claims are read as a `Value` would read them: a key counts whatever its value
    /// (`null` too), escaped or not, repeated or not; a key inside another claim does not;
    /// a payload that is not a JSON object (or not JSON at all) is neither kind.
    #[test]
    fn choosing_the_verifier_reads_keys_as_a_value_would() {
        let raw = |payload: &str| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload));
        let as_value = |payload: &str| {
            serde_json::from_str::<Value>(payload).ok().map(|c| {
                (
                    c.get("client_id").is_some(),
                    c.get("client_id").is_some() && c.get("sid").is_none(),
                )
            })
        };
        for payload in [
            r#"{"client_id":null}"#,
            r#"{"client\u005fid":"c"}"#,
            r#"{"client_id":"a","client_id":"b"}"#,
            r#"{"client_id":"c","sid":null}"#,
            r#"{"sub":"u","nested":{"client_id":"c"}}"#,
            r#"{"roles":["client_id"],"sid":"s"}"#,
            r#"["client_id"]"#,
            r#""client_id""#,
            r#"{"client_id":"c"} trailing"#,
            r#"{"client_id":"c""#,
            "{}",
        ] {
            let t = raw(payload);
            let (app, client) = as_value(payload).unwrap_or_default();
            assert_eq!(is_app_token(&t), app, "{payload}");
            assert_eq!(is_client_token(&t), client, "{payload}");
        }
    }

    #[test]
    fn the_audience_must_name_the_resource() {
        let r = "https://api.example/orders";
        assert!(names(Some(&json!(r)), r));
        assert!(names(Some(&json!("https://api.example/orders/")), r));
        assert!(names(Some(&json!(["x", r])), r));
        assert!(!names(Some(&json!("https://api.example/orders2")), r));
        assert!(!names(Some(&json!("https://api.example")), r));
        assert!(!names(Some(&json!(["x"])), r));
        assert!(!names(None, r));
    }
}
