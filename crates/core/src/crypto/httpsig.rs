//! HTTP Message Signatures (RFC 9421) for requests, with `hmac-sha256` and `ed25519`, and
//! `Content-Digest` (RFC 9530). Parsing of the structured fields is `sfv` (RFC 8941/9651).
//!
//! Pure functions: the caller supplies the request's parts, the key and the clock, and
//! decides policy (which components, the time window, nonce replay).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sfv::{BareItem, Dictionary, FieldType, InnerList, List, ListEntry, Parser};
use sha2::{Digest, Sha256, Sha512};

use crate::crypto::tokens::ct_eq;

/// Why a signature is refused; the text goes into the problem's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SigError(pub String);

fn err(msg: impl Into<String>) -> SigError {
    SigError(msg.into())
}

/// The parts of a request that signatures can cover.
#[derive(Debug, Clone)]
pub struct RequestParts {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as the client addressed it.
    pub authority: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query without `?`, if any.
    pub query: Option<String>,
    /// Header fields: lower-case name and value, in order.
    pub headers: Vec<(String, String)>,
}

/// One signature of a request: its label, covered components and parameters.
#[derive(Debug, Clone)]
pub struct SignatureInput {
    /// The dictionary key (`sig1`).
    pub label: String,
    /// Covered component identifiers, in order (`@method`, `content-digest`, ...).
    pub components: Vec<String>,
    /// `created`.
    pub created: Option<i64>,
    /// `expires`.
    pub expires: Option<i64>,
    /// `keyid`.
    pub keyid: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// The `@signature-params` value: the inner list, serialised.
    pub params: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

fn string_param(list: &InnerList, name: &str) -> Result<Option<String>, SigError> {
    match list.params.get(name) {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.as_str().to_owned())),
        Some(_) => Err(err(format!("parameter `{name}` must be a string"))),
    }
}

fn int_param(list: &InnerList, name: &str) -> Result<Option<i64>, SigError> {
    match list.params.get(name) {
        None => Ok(None),
        Some(BareItem::Integer(i)) => Ok(Some(i64::from(*i))),
        Some(_) => Err(err(format!("parameter `{name}` must be an integer"))),
    }
}

/// Parses `Signature-Input` and `Signature` into the signatures they describe.
pub fn parse(signature_input: &str, signature: &str) -> Result<Vec<SignatureInput>, SigError> {
    let inputs: Dictionary = Parser::new(signature_input).parse().map_err(|e| {
        err(format!(
            "Signature-Input is not a structured dictionary: {e}"
        ))
    })?;
    let sigs: Dictionary = Parser::new(signature)
        .parse()
        .map_err(|e| err(format!("Signature is not a structured dictionary: {e}")))?;
    let mut out = Vec::new();
    for (label, entry) in &inputs {
        let ListEntry::InnerList(list) = entry else {
            return Err(err(format!(
                "Signature-Input `{}` is not an inner list",
                label.as_str()
            )));
        };
        let sig = match sigs.get(label.as_str()) {
            Some(ListEntry::Item(item)) => match &item.bare_item {
                BareItem::ByteSequence(b) => b.clone(),
                _ => {
                    return Err(err(format!(
                        "Signature `{}` is not a byte sequence",
                        label.as_str()
                    )));
                }
            },
            _ => return Err(err(format!("no Signature for label `{}`", label.as_str()))),
        };
        let mut components = Vec::new();
        for item in &list.items {
            let BareItem::String(name) = &item.bare_item else {
                return Err(err("covered components must be strings"));
            };
            if !item.params.is_empty() {
                return Err(err(format!(
                    "component parameters (`{}`;...) are not supported",
                    name.as_str()
                )));
            }
            components.push(name.as_str().to_owned());
        }
        let one: List = vec![ListEntry::InnerList(list.clone())];
        let params = one
            .serialize()
            .ok_or_else(|| err("Signature-Input does not serialise"))?;
        out.push(SignatureInput {
            label: label.as_str().to_owned(),
            components,
            created: int_param(list, "created")?,
            expires: int_param(list, "expires")?,
            keyid: string_param(list, "keyid")?,
            nonce: string_param(list, "nonce")?,
            alg: string_param(list, "alg")?,
            tag: string_param(list, "tag")?,
            params,
            signature: sig,
        });
    }
    if out.is_empty() {
        return Err(err("Signature-Input has no signatures"));
    }
    Ok(out)
}

fn component_value(req: &RequestParts, name: &str) -> Result<String, SigError> {
    Ok(match name {
        "@method" => req.method.clone(),
        "@scheme" => req.scheme.to_ascii_lowercase(),
        "@authority" => req.authority.to_ascii_lowercase(),
        "@path" => {
            if req.path.is_empty() {
                "/".into()
            } else {
                req.path.clone()
            }
        }
        "@query" => format!("?{}", req.query.as_deref().unwrap_or("")),
        "@request-target" => match &req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.clone(),
        },
        "@target-uri" => {
            let mut u = format!(
                "{}://{}{}",
                req.scheme.to_ascii_lowercase(),
                req.authority.to_ascii_lowercase(),
                if req.path.is_empty() { "/" } else { &req.path }
            );
            if let Some(q) = &req.query {
                u.push('?');
                u.push_str(q);
            }
            u
        }
        n if n.starts_with('@') => {
            return Err(err(format!("derived component `{n}` is not supported")));
        }
        n => {
            if n.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(err(format!("component `{n}` must be lower case")));
            }
            let values: Vec<&str> = req
                .headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.trim())
                .collect();
            if values.is_empty() {
                return Err(err(format!("covered header `{n}` is not in the request")));
            }
            values.join(", ")
        }
    })
}

/// The signature base (RFC 9421 section 2.5) of `input` over `req`.
pub fn signature_base(req: &RequestParts, input: &SignatureInput) -> Result<String, SigError> {
    let mut base = String::new();
    let mut seen = std::collections::HashSet::new();
    for c in &input.components {
        if !seen.insert(c.as_str()) {
            return Err(err(format!("component `{c}` is covered twice")));
        }
        let v = component_value(req, c)?;
        if v.contains('\n') || v.contains('\r') {
            return Err(err(format!("component `{c}` contains a line break")));
        }
        base.push_str(&format!("\"{c}\": {v}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {}", input.params));
    Ok(base)
}

/// Checks an `hmac-sha256` signature.
pub fn verify_hmac_sha256(key: &[u8], base: &str, signature: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(base.as_bytes());
    ct_eq(&mac.finalize().into_bytes(), signature)
}

/// Signs with `hmac-sha256` (for clients and tests).
pub fn sign_hmac_sha256(key: &[u8], base: &str) -> Vec<u8> {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(base.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks an `ed25519` signature, strictly only: a weak (small-order) public key or a
/// small-order `R` fails, and there is no fallback to the lenient check (with the identity
/// as the key, `R = [s]B` "verifies" under it for every message).
pub fn verify_ed25519(public_key: &[u8; 32], base: &str, signature: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    if key.is_weak() {
        return false;
    }
    let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(base.as_bytes(), &sig).is_ok()
}

/// Checks `Content-Digest` (RFC 9530) against `body`: every `sha-256` / `sha-512` member
/// must match and at least one must be present.
pub fn check_content_digest(header: &str, body: &[u8]) -> Result<(), SigError> {
    let dict: Dictionary = Parser::new(header).parse().map_err(|e| {
        err(format!(
            "Content-Digest is not a structured dictionary: {e}"
        ))
    })?;
    let mut checked = 0;
    for (alg, entry) in &dict {
        let ListEntry::Item(item) = entry else {
            return Err(err("Content-Digest members must be byte sequences"));
        };
        let BareItem::ByteSequence(digest) = &item.bare_item else {
            return Err(err("Content-Digest members must be byte sequences"));
        };
        let ok = match alg.as_str() {
            "sha-256" => ct_eq(&Sha256::digest(body), digest),
            "sha-512" => ct_eq(&Sha512::digest(body), digest),
            _ => continue,
        };
        if !ok {
            return Err(err(format!(
                "Content-Digest {} does not match the body",
                alg.as_str()
            )));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(err("Content-Digest has neither sha-256 nor sha-512"));
    }
    Ok(())
}

/// A `Content-Digest` value for `body` (sha-256).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// The identity point as an Ed25519 public key: 0x01 then 31 zero bytes.
    const IDENTITY_KEY: [u8; 32] = {
        let mut k = [0u8; 32];
        k[0] = 1;
        k
    };

    /// Issue 16 item 6: with the identity as the key, `R = [s]B` (here `s = 1`, `R = B`)
    /// passes the lenient (cofactorless, weak-key-accepting) check for any message; the
    /// strict check, the only one, refuses it.
    #[test]
    fn small_order_keys_never_verify() {
        let mut forged = [0x66u8; 64];
        forged[0] = 0x58; // the compressed base point B
        forged[32..].fill(0);
        forged[32] = 1; // s = 1
        for base in ["", "\"@method\": GET", "anything at all"] {
            assert!(!verify_ed25519(&IDENTITY_KEY, base, &forged), "{base}");
        }
        // An order-2 point, (0, -1).
        let mut order2 = [0xffu8; 32];
        order2[0] = 0xec;
        order2[31] = 0x7f;
        assert!(!verify_ed25519(&order2, "x", &forged));
        // A sound key still verifies its own signatures.
        let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let sig = ed25519_dalek::Signer::sign(&sk, b"base");
        assert!(verify_ed25519(
            sk.verifying_key().as_bytes(),
            "base",
            &sig.to_bytes()
        ));
    }

    /// The request of RFC 9421 appendix B.2.
    fn rfc_request() -> RequestParts {
        RequestParts {
            method: "POST".into(),
            scheme: "https".into(),
            authority: "example.com".into(),
            path: "/foo".into(),
            query: Some("param=Value&Pet=dog".into()),
            headers: vec![
                ("host".into(), "example.com".into()),
                ("date".into(), "Tue, 20 Apr 2021 02:07:55 GMT".into()),
                ("content-type".into(), "application/json".into()),
                (
                    "content-digest".into(),
                    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:".into(),
                ),
                ("content-length".into(), "18".into()),
            ],
        }
    }

    const BODY: &[u8] = br#"{"hello": "world"}"#;

    #[test]
    fn rfc_9530_content_digest() {
        assert_eq!(
            content_digest(BODY),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        let req = rfc_request();
        assert!(check_content_digest(&req.headers[3].1, BODY).is_ok());
        assert!(check_content_digest(&req.headers[3].1, b"{\"hello\": \"World\"}").is_err());
        assert!(check_content_digest("md5=:AAAA:", BODY).is_err());
        assert!(check_content_digest("garbage(", BODY).is_err());
    }

    #[test]
    fn rfc_9421_b_2_5_hmac_sha256() {
        let input = r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
        let sig = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:";
        let parsed = parse(input, sig).unwrap();
        let s = &parsed[0];
        assert_eq!(s.keyid.as_deref(), Some("test-shared-secret"));
        assert_eq!(s.created, Some(1_618_884_473));
        let base = signature_base(&rfc_request(), s).unwrap();
        assert_eq!(
            base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\""
        );
        let key = STANDARD
            .decode("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==")
            .unwrap();
        assert!(verify_hmac_sha256(&key, &base, &s.signature));
        assert_eq!(sign_hmac_sha256(&key, &base), s.signature);
        assert!(!verify_hmac_sha256(b"another key", &base, &s.signature));
    }

    #[test]
    fn rfc_9421_b_2_6_ed25519() {
        let input = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
        let sig = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
        let parsed = parse(input, sig).unwrap();
        let base = signature_base(&rfc_request(), &parsed[0]).unwrap();
        assert!(base.starts_with("\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\""));
        let public: [u8; 32] = URL_SAFE_NO_PAD
            .decode("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs")
            .unwrap()
            .try_into()
            .unwrap();
        assert!(verify_ed25519(&public, &base, &parsed[0].signature));
        // Ed25519 is deterministic: the RFC's private key reproduces the signature.
        let d: [u8; 32] = URL_SAFE_NO_PAD
            .decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
            .unwrap()
            .try_into()
            .unwrap();
        use ed25519_dalek::Signer;
        let sk = ed25519_dalek::SigningKey::from_bytes(&d);
        assert_eq!(
            sk.sign(base.as_bytes()).to_bytes().to_vec(),
            parsed[0].signature
        );
        let mut tampered = rfc_request();
        tampered.path = "/bar".into();
        let base2 = signature_base(&tampered, &parsed[0]).unwrap();
        assert!(!verify_ed25519(&public, &base2, &parsed[0].signature));
    }

    #[test]
    fn derived_components() {
        let req = rfc_request();
        let v = |c: &str| component_value(&req, c).unwrap();
        assert_eq!(
            v("@target-uri"),
            "https://example.com/foo?param=Value&Pet=dog"
        );
        assert_eq!(v("@request-target"), "/foo?param=Value&Pet=dog");
        assert_eq!(v("@query"), "?param=Value&Pet=dog");
        assert_eq!(v("@scheme"), "https");
        assert!(component_value(&req, "@query-param").is_err());
        assert!(component_value(&req, "x-missing").is_err());
        assert!(component_value(&req, "Date").is_err());
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert!(parse("sig1=(\"@method\");created=1", "sig2=:AAAA:").is_err());
        assert!(parse("sig1=\"x\"", "sig1=:AAAA:").is_err());
        assert!(parse("sig1=(\"@method\";sf)", "sig1=:AAAA:").is_err());
        assert!(parse("sig1=(\"@method\");created=\"x\"", "sig1=:AAAA:").is_err());
        assert!(parse("", "").is_err());
        let dup = parse("s=(\"@method\" \"@method\")", "s=:AAAA:").unwrap();
        assert!(signature_base(&rfc_request(), &dup[0]).is_err());
    }
}
