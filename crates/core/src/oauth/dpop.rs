//! DPoP proofs (RFC 9449) at the token endpoint: the client proves it holds a private key,
//! and the access token is bound to that key's thumbprint (`cnf.jkt`, RFC 7638), so a
//! stolen token is useless without the key.
//!
//! A proof is a `dpop+jwt` signed with EdDSA or ES256 under the public key in its own `jwk`
//! header; `htm` and `htu` name this request (the URI without query or fragment), `iat` is
//! recent, and the caller keeps `jti` so a proof works once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::Digest;

use super::assertion::{ALGORITHMS, verify_with};
use crate::clock::UnixTime;

/// How old a proof may be (`iat`), seconds.
pub const MAX_AGE: i64 = 300;
/// How far in the future its `iat` may be (clock skew), seconds.
const SKEW: i64 = 60;
/// Longest proof parsed.
const MAX_LEN: usize = 4096;

/// A checked proof: the key it binds to and what the replay cache keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key (base64url SHA-256).
    pub jkt: String,
    /// `jti`.
    pub jti: String,
    /// Until when the `jti` must be remembered.
    pub keep_until: UnixTime,
    /// The server nonce the proof carries (`nonce`), if any.
    pub nonce: Option<String>,
}

/// The RFC 7638 thumbprint of an EC P-256 or Ed25519 public JWK: SHA-256 over the required
/// members in lexicographic order, without whitespace.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let m = |k: &str| jwk.get(k).and_then(Value::as_str);
    let canonical = match (m("kty")?, m("crv")?) {
        ("EC", crv) => serde_json::json!({"crv": crv, "kty": "EC", "x": m("x")?, "y": m("y")?}),
        ("OKP", crv) => serde_json::json!({"crv": crv, "kty": "OKP", "x": m("x")?}),
        _ => return None,
    };
    // serde_json's map is sorted by key: the canonical member order.
    let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
    Some(URL_SAFE_NO_PAD.encode(digest))
}

/// Without query and fragment, as `htu` compares (RFC 9449 §4.3), normalised by the URL
/// parser (scheme and host case, default port).
fn target(uri: &str) -> Option<String> {
    let mut u = url::Url::parse(uri).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// Checks the proof in a `DPoP` header for a request `method` to `uri` at `now`. At a
/// resource, `access_token` is the token presented with it: the proof's `ath` must be its
/// SHA-256 (RFC 9449 §4.3, §7), so a proof cannot travel with another token.
pub fn verify(
    proof: &str,
    method: &str,
    uri: &str,
    now: UnixTime,
    access_token: Option<&str>,
) -> Result<Proof, &'static str> {
    if proof.len() > MAX_LEN {
        return Err("the DPoP proof is too long");
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the DPoP proof is not a compact JWS");
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let header: Value = decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the DPoP proof header is not JSON")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("a DPoP proof has typ dpop+jwt");
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGORITHMS.contains(&alg) {
        return Err("a DPoP proof is signed with EdDSA or ES256");
    }
    let jwk = header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or("a DPoP proof carries its public key (jwk)")?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk.get(*m).is_some())
    {
        return Err("the DPoP proof's jwk holds a private key");
    }
    let sig = decode(s).ok_or("the DPoP proof is not a compact JWS")?;
    let signing_input = proof
        .get(..h.len() + 1 + p.len())
        .ok_or("the DPoP proof is not a compact JWS")?;
    if !verify_with(jwk, alg, signing_input.as_bytes(), &sig) {
        return Err("the DPoP proof's signature does not verify with its jwk");
    }
    let jkt = thumbprint(jwk).ok_or("the DPoP proof's jwk is not an EC or OKP key")?;
    let claims: Value = decode(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the DPoP proof claims are not JSON")?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("htm") != Some(method) {
        return Err("the DPoP proof's htm is not this request's method");
    }
    let (Some(htu), Some(expected)) = (text("htu").and_then(target), target(uri)) else {
        return Err("the DPoP proof's htu is not this request's URI");
    };
    if htu != expected {
        return Err("the DPoP proof's htu is not this request's URI");
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the DPoP proof has no iat")?;
    if iat > now + SKEW || iat < now - MAX_AGE {
        return Err("the DPoP proof's iat is not recent");
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("the DPoP proof has no jti")?;
    if let Some(token) = access_token {
        let ath = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err("the DPoP proof's ath is not this access token's hash");
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        keep_until: iat + MAX_AGE + SKEW,
        nonce: text("nonce").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use serde_json::json;

    const URI: &str = "https://auth.example/oauth2/token";

    #[test]
    fn rfc8037_thumbprint_vector() {
        // RFC 8037 Appendix A.3.
        let jwk = json!({"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
        let mut extra = jwk.clone();
        extra["kid"] = json!("ignored");
        assert_eq!(
            thumbprint(&extra),
            thumbprint(&jwk),
            "only the required members"
        );
    }

    fn proof(header: &Value, claims: &Value, key: &p256::ecdsa::SigningKey) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig: p256::ecdsa::Signature = key.sign(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    #[test]
    fn proofs_bind_this_request_once() {
        let now = 1_800_000_000;
        let key = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let b = point.as_bytes();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&b[1..33]), "y": URL_SAFE_NO_PAD.encode(&b[33..65])});
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let claims = json!({"htm": "POST", "htu": URI, "iat": now, "jti": "p1"});
        let ok = verify(&proof(&header, &claims, &key), "POST", URI, now, None).unwrap();
        assert_eq!(ok.jkt, thumbprint(&jwk).unwrap());
        assert_eq!(ok.jti, "p1");
        // The query and fragment of either side do not count; case and default port neither.
        let loose = json!({"htm": "POST", "htu": "HTTPS://Auth.Example:443/oauth2/token?x=1", "iat": now, "jti": "p2"});
        assert!(verify(&proof(&header, &loose, &key), "POST", URI, now, None).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = claims.clone();
            c[k] = v;
            c
        };
        let mut private = header.clone();
        private["jwk"]["d"] = json!("AAAA");
        let mut hs = header.clone();
        hs["alg"] = json!("HS256");
        let mut typ = header.clone();
        typ["typ"] = json!("JWT");
        let other = p256::ecdsa::SigningKey::from_slice(&[6; 32]).unwrap();
        let cases = [
            proof(&header, &with("htm", json!("GET")), &key),
            proof(
                &header,
                &with("htu", json!("https://auth.example/oauth2/other")),
                &key,
            ),
            proof(
                &header,
                &with("htu", json!("https://evil.example/oauth2/token")),
                &key,
            ),
            proof(&header, &with("iat", json!(now - 3600)), &key),
            proof(&header, &with("iat", json!(now + 3600)), &key),
            proof(&header, &with("jti", json!("")), &key),
            proof(&private, &claims, &key),
            proof(&hs, &claims, &key),
            proof(&typ, &claims, &key),
            proof(&header, &claims, &other),
            "a.b.c".to_owned(),
            String::new(),
        ];
        for c in cases {
            assert!(verify(&c, "POST", URI, now, None).is_err(), "{c}");
        }
        // At a resource: ath binds the proof to the token it comes with.
        let ath = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(b"tok"));
        let with_ath = proof(&header, &with("ath", json!(ath)), &key);
        assert!(verify(&with_ath, "POST", URI, now, Some("tok")).is_ok());
        assert!(verify(&with_ath, "POST", URI, now, Some("other")).is_err());
        assert!(
            verify(
                &proof(&header, &claims, &key),
                "POST",
                URI,
                now,
                Some("tok")
            )
            .is_err()
        );
    }
}
