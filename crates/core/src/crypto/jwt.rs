//! Compact JWS with EdDSA (Ed25519, RFC 8037) for access tokens.
//!
//! Only `alg: EdDSA` is accepted, with a `kid` that must name a known key: there is no
//! algorithm negotiation to confuse. Claims are checked by the caller, which owns the clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Longest token we will even parse.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Access-token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (`server.public_url`).
    pub iss: String,
    /// Subject: user id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Session id.
    pub sid: String,
    /// Role.
    pub role: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// When the user last authenticated with a factor.
    pub auth_time: i64,
    /// Set (with `elevation_id` and `base_role`) while a just-in-time elevation of the
    /// session is in force: `role` and `scope` are then what the elevation grants, and
    /// `exp` is never past the elevation's end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub elevated: bool,
    /// The elevation request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elevation_id: Option<String>,
    /// The user's own role, under an elevation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_role: Option<String>,
    /// Scopes an elevation grants, space-separated (RFC 9068 `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Set while an administrator requires the user to change the password: the token
    /// opens nothing but that.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pwd_change: bool,
    /// Confirmation (RFC 7800): the key a DPoP-bound token is bound to (RFC 9449 `jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A token's confirmation claim: the JWK SHA-256 thumbprint (RFC 7638) of its DPoP key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The thumbprint, base64url.
    pub jkt: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
}

/// Why a token failed to verify; never shown to clients beyond `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts, or not JSON.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not EdDSA.
    #[error("unsupported algorithm")]
    Algorithm,
    /// `kid` missing or unknown.
    #[error("unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
}

/// Signs claims with `key` under key id `kid`.
pub fn sign(claims: &Claims, kid: &str, key: &SigningKey) -> String {
    // Serialising this plain struct cannot fail.
    let value = serde_json::to_value(claims).unwrap_or_default();
    sign_value(&value, "at+jwt", kid, key)
}

/// Signs any JSON claims (e.g. the gateway's forwarded identity) with header type `typ`.
pub fn sign_value(claims: &serde_json::Value, typ: &str, kid: &str, key: &SigningKey) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        kid: Some(kid.to_owned()),
        typ: Some(typ.to_owned()),
    };
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{h}.{p}");
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// Verifies the signature with the key `lookup` returns for the token's `kid`, then decodes
/// the claims. Expiry, issuer and audience are the caller's to check.
pub fn verify(
    token: &str,
    lookup: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<Claims, JwtError> {
    let (_, payload) = verify_payload(token, lookup)?;
    serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)
}

/// Like [`verify`], for any claims: the header's `typ` (if any) and the claims as a JSON
/// object. Expiry, issuer, audience and type are the caller's to check.
pub fn verify_json(
    token: &str,
    lookup: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<(Option<String>, serde_json::Map<String, serde_json::Value>), JwtError> {
    let (typ, payload) = verify_payload(token, lookup)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    Ok((typ, claims))
}

/// The signature check both share: the header's `typ` and the payload's bytes.
fn verify_payload(
    token: &str,
    lookup: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<(Option<String>, Vec<u8>), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(JwtError::Algorithm);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(&lookup)
        .ok_or(JwtError::UnknownKey)?;
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JwtError::Malformed)?;
    let sig = Signature::from_bytes(&sig_bytes);
    let signing_input_len = h.len() + 1 + p.len();
    let signing_input = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
    key.verify_strict(signing_input.as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed)?;
    Ok((header.typ, payload))
}

/// The JWK (RFC 8037 OKP) of a public key.
pub fn jwk(kid: &str, key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap_or_default()
    }

    /// RFC 8037, appendix A.4: Ed25519 signing of a JWS.
    #[test]
    fn rfc8037_a4_vector() {
        let d: [u8; 32] = b64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .try_into()
            .unwrap_or_default();
        let key = SigningKey::from_bytes(&d);
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes());
        assert_eq!(
            sig,
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    fn claims() -> Claims {
        Claims {
            iss: "http://127.0.0.1:8080".into(),
            sub: "u1".into(),
            aud: "http://127.0.0.1:8080".into(),
            exp: 2000,
            iat: 1000,
            jti: "j".into(),
            sid: "s".into(),
            role: "user".into(),
            amr: vec!["pwd".into()],
            auth_time: 1000,
            elevated: false,
            elevation_id: None,
            base_role: None,
            scope: None,
            pwd_change: false,
            cnf: None,
        }
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let vk = key.verifying_key();
        let t = sign(&claims(), "k1", &key);
        let lookup = |kid: &str| (kid == "k1").then_some(vk);
        assert_eq!(verify(&t, lookup), Ok(claims()));

        // Altered payload.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut c = claims();
        c.role = "admin".into();
        if let Some(p) = parts.get_mut(1) {
            *p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default());
        }
        assert_eq!(verify(&parts.join("."), lookup), Err(JwtError::Signature));
        // Unknown key, other algorithm, garbage.
        assert_eq!(verify(&t, |_| None), Err(JwtError::UnknownKey));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#),
            parts.get(1).cloned().unwrap_or_default()
        );
        assert_eq!(verify(&none, lookup), Err(JwtError::Algorithm));
        assert_eq!(verify("a.b", lookup), Err(JwtError::Malformed));
        assert_eq!(verify("a.b.c.d", lookup), Err(JwtError::Malformed));
        assert_eq!(
            verify(&"x".repeat(MAX_TOKEN_LEN + 1), lookup),
            Err(JwtError::Malformed)
        );
    }
}
