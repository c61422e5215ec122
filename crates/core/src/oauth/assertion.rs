//! Client authentication by signed assertion (`private_key_jwt`: RFC 7523 §2.2, OpenID
//! Connect Core §9): a JWT the client signs with a key it registered. Accepted algorithms
//! are EdDSA (Ed25519, verified strictly) and ES256; `none` and HMAC never are, so a
//! registered public key can never double as a shared secret.
//!
//! The audience must be the issuer identifier alone (the 2025 fix to OpenID Connect and
//! RFC 7523 after audience-injection attacks: a token endpoint URL or a list naming other
//! parties is refused). The caller records `jti` until `exp`, so an assertion works once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier;
use serde_json::Value;

use crate::clock::UnixTime;

/// The `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Algorithms accepted.
pub const ALGORITHMS: [&str; 2] = ["EdDSA", "ES256"];
/// Longest assertion parsed.
const MAX_LEN: usize = 8192;
/// Longest lifetime an assertion may claim (`exp` from now).
const MAX_LIFETIME: i64 = 600;
/// Clock skew tolerated on `iat` and `nbf`.
const SKEW: i64 = 60;

/// A verified assertion: what the replay cache keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `jti`.
    pub jti: String,
    /// `exp`.
    pub exp: UnixTime,
}

fn b64(part: &str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "the assertion is not a compact JWS")
}

/// The client id an assertion claims (`sub`), read without verifying anything, to find the
/// client whose keys will verify it.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&b64(payload).ok()?).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Whether `sig` over `signing_input` verifies with the public `jwk` under `alg` (EdDSA with
/// an Ed25519 key, ES256 with a P-256 key; a key's own `alg`, when it names one, must agree).
pub(crate) fn verify_with(jwk: &Value, alg: &str, signing_input: &[u8], sig: &[u8]) -> bool {
    let member = |m: &str| {
        jwk.get(m)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
    };
    if jwk
        .get("alg")
        .and_then(Value::as_str)
        .is_some_and(|a| a != alg)
    {
        return false;
    }
    match (
        alg,
        jwk.get("kty").and_then(Value::as_str),
        jwk.get("crv").and_then(Value::as_str),
    ) {
        ("EdDSA", Some("OKP"), Some("Ed25519")) => {
            let (Some(x), Ok(sig)) = (member("x"), <[u8; 64]>::try_from(sig)) else {
                return false;
            };
            let Ok(x) = <[u8; 32]>::try_from(x.as_slice()) else {
                return false;
            };
            ed25519_dalek::VerifyingKey::from_bytes(&x).is_ok_and(|k| {
                k.verify_strict(signing_input, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok()
            })
        }
        ("ES256", Some("EC"), Some("P-256")) => {
            let (Some(x), Some(y)) = (member("x"), member("y")) else {
                return false;
            };
            if x.len() != 32 || y.len() != 32 || sig.len() != 64 {
                return false;
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(4);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1),
                p256::ecdsa::Signature::from_slice(sig),
            ) else {
                return false;
            };
            key.verify(signing_input, &sig).is_ok()
        }
        _ => false,
    }
}

/// Verifies `assertion` for `client_id` against its registered `jwks`, at `now`, for the
/// authorization server `issuer`. The error says what is wrong, for `invalid_client`.
pub fn verify(
    assertion: &str,
    client_id: &str,
    jwks: &Value,
    issuer: &str,
    now: UnixTime,
) -> Result<Verified, &'static str> {
    if assertion.len() > MAX_LEN {
        return Err("the assertion is too long");
    }
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the assertion is not a compact JWS");
    };
    let header: Value =
        serde_json::from_slice(&b64(h)?).map_err(|_| "the assertion header is not JSON")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGORITHMS.contains(&alg) {
        return Err("the assertion is signed with EdDSA or ES256");
    }
    if header.get("crit").is_some() {
        return Err("critical header parameters are not understood");
    }
    let sig = b64(s)?;
    let signing_input = assertion
        .get(..h.len() + 1 + p.len())
        .ok_or("the assertion is not a compact JWS")?;
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the client has no keys")?;
    let signed = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.get("kid").and_then(Value::as_str) == Some(kid)))
        .any(|k| verify_with(k, alg, signing_input.as_bytes(), &sig));
    if !signed {
        return Err("the assertion's signature does not verify with the client's keys");
    }
    let claims: Value =
        serde_json::from_slice(&b64(p)?).map_err(|_| "the assertion claims are not JSON")?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let int = |k: &str| claims.get(k).and_then(Value::as_i64);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err("iss and sub are the client_id");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(a)) => a.len() == 1 && a.first().and_then(Value::as_str) == Some(issuer),
        _ => false,
    };
    if !aud_ok {
        return Err("aud is the issuer identifier, alone");
    }
    let exp = int("exp").ok_or("exp is required")?;
    if exp <= now {
        return Err("the assertion has expired");
    }
    if exp > now + MAX_LIFETIME {
        return Err("the assertion lives at most 10 minutes");
    }
    if int("iat").is_some_and(|iat| iat > now + SKEW) || int("nbf").is_some_and(|n| n > now + SKEW)
    {
        return Err("the assertion is not valid yet");
    }
    if claims.get("iat").is_some_and(|v| !v.is_i64())
        || claims.get("nbf").is_some_and(|v| !v.is_i64())
    {
        return Err("iat and nbf are numbers");
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("jti is required (at most 256 characters)")?;
    Ok(Verified {
        jti: jti.to_owned(),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use serde_json::json;

    const ISS: &str = "https://auth.example";

    fn jws(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{p}");
        let sig = URL_SAFE_NO_PAD.encode(sign(input.as_bytes()));
        format!("{input}.{sig}")
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": ISS, "exp": now + 60, "iat": now, "jti": "j1"})
    }

    fn ed() -> (ed25519_dalek::SigningKey, Value) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())});
        (key, jwk)
    }

    fn ec() -> (p256::ecdsa::SigningKey, Value) {
        let key = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec",
            "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]), "y": URL_SAFE_NO_PAD.encode(&bytes[33..65])});
        (key, jwk)
    }

    #[test]
    fn eddsa_and_es256_assertions_verify() {
        let now = 1_800_000_000;
        let (edk, edj) = ed();
        let (eck, ecj) = ec();
        let jwks = json!({"keys": [edj, ecj]});
        let a = jws(&json!({"alg": "EdDSA", "kid": "ed"}), &claims(now), |m| {
            ed25519_dalek::Signer::sign(&edk, m).to_bytes().to_vec()
        });
        assert_eq!(
            verify(&a, "c1", &jwks, ISS, now),
            Ok(Verified {
                jti: "j1".into(),
                exp: now + 60
            })
        );
        let b = jws(&json!({"alg": "ES256"}), &claims(now), |m| {
            let s: p256::ecdsa::Signature = eck.sign(m);
            s.to_bytes().to_vec()
        });
        assert!(
            verify(&b, "c1", &jwks, ISS, now).is_ok(),
            "no kid: any key that fits"
        );
        assert!(verify(&b, "c2", &jwks, ISS, now).is_err(), "another client");
        assert!(
            verify(&b, "c1", &json!({"keys": [ed().1]}), ISS, now).is_err(),
            "a key the client did not register"
        );
    }

    #[test]
    fn claims_and_algorithms_are_strict() {
        let now = 1_800_000_000;
        let (edk, edj) = ed();
        let jwks = json!({"keys": [edj]});
        let sign = |header: Value, c: Value| {
            jws(&header, &c, |m| {
                ed25519_dalek::Signer::sign(&edk, m).to_bytes().to_vec()
            })
        };
        let ok = claims(now);
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = ok.clone();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        let bad = [
            (json!({"alg": "HS256"}), ok.clone()),
            (json!({"alg": "none"}), ok.clone()),
            (json!({"alg": "EdDSA", "crit": ["x"]}), ok.clone()),
            (json!({"alg": "EdDSA", "kid": "other"}), ok.clone()),
            (
                json!({"alg": "EdDSA"}),
                with("aud", json!("https://auth.example/oauth2/token")),
            ),
            (
                json!({"alg": "EdDSA"}),
                with("aud", json!([ISS, "https://evil.example"])),
            ),
            (json!({"alg": "EdDSA"}), with("iss", json!("c2"))),
            (json!({"alg": "EdDSA"}), with("sub", json!("c2"))),
            (json!({"alg": "EdDSA"}), with("exp", json!(now))),
            (json!({"alg": "EdDSA"}), with("exp", json!(now + 3600))),
            (json!({"alg": "EdDSA"}), with("iat", json!(now + 3600))),
            (json!({"alg": "EdDSA"}), with("nbf", json!(now + 3600))),
            (json!({"alg": "EdDSA"}), with("iat", json!("now"))),
            (json!({"alg": "EdDSA"}), without("jti")),
            (json!({"alg": "EdDSA"}), without("exp")),
        ];
        for (h, c) in bad {
            assert!(
                verify(&sign(h.clone(), c.clone()), "c1", &jwks, ISS, now).is_err(),
                "{h} {c}"
            );
        }
        assert!(
            verify(
                &sign(json!({"alg": "EdDSA"}), with("aud", json!([ISS]))),
                "c1",
                &jwks,
                ISS,
                now
            )
            .is_ok()
        );
        // A signature over other bytes, and malformed input.
        let good = sign(json!({"alg": "EdDSA"}), ok.clone());
        let (head, sig) = good.rsplit_once('.').unwrap();
        let tampered = format!("{}x.{sig}", &head[..head.len() - 1]);
        assert!(verify(&tampered, "c1", &jwks, ISS, now).is_err());
        for junk in ["", "a.b", "a.b.c.d", "!.!.!", &"a".repeat(9000)] {
            assert!(verify(junk, "c1", &jwks, ISS, now).is_err());
        }
        assert_eq!(claimed_client(&good).as_deref(), Some("c1"));
    }
}
