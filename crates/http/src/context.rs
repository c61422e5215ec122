//! What a request says about its caller before anyone is authenticated: the network context
//! (client address by the trusted-proxy rule, User-Agent, device cookie, fingerprint) and the
//! bearer token.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header;
use axum::http::request::Parts;
use portcullis_core::Error;
use portcullis_core::service::{Principal, RequestContext};

use crate::Edge;
use crate::client_ip::client_ip;

/// Longest User-Agent kept.
const MAX_USER_AGENT: usize = 256;

/// Computes the request context from the parts.
pub fn request_context(parts: &Parts, state: &Edge) -> RequestContext {
    context(parts, state, true)
}

/// The context of a request the gateway proxies: without the header fingerprint, a keyed
/// hash that only sign-ins and their risk checks read (it was 2% of a proxied request's
/// CPU, for nothing).
pub fn proxied_context(parts: &Parts, state: &Edge) -> RequestContext {
    context(parts, state, false)
}

fn context(parts: &Parts, state: &Edge, fingerprint: bool) -> RequestContext {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    let ip = peer.and_then(|p| {
        client_ip(
            p,
            &parts.headers,
            &state.web.trusted_proxies,
            state.web.forwarded_header,
        )
    });
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            let ua: String = s
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT)
                .collect();
            // Audit events and sessions keep it: what DLP detects in it is masked (B11-9).
            state.dlp.mask_text(&ua).unwrap_or(ua)
        });
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let device = cookie(&parts.headers, portcullis_core::detect::device::COOKIE)
        .and_then(|v| state.svc.device_from_cookie(v));
    let fingerprint = fingerprint
        .then(|| {
            state.svc.fingerprint(&[
                header("user-agent"),
                header("accept-language"),
                header("sec-ch-ua-platform"),
                header("sec-ch-ua-mobile"),
            ])
        })
        .flatten();
    RequestContext {
        ip,
        user_agent,
        device,
        fingerprint,
        dpop_jkt: None,
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// An access token as the request presents it (RFC 6750, RFC 9449 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` with its proof in the one `DPoP` header.
    Dpop {
        /// The access token.
        token: &'a str,
        /// The `DPoP` header.
        proof: &'a str,
    },
}

/// The access token of the request, by either scheme. One `Authorization` header only: two
/// could name two principals to two readers.
pub fn credentials(parts: &Parts) -> Result<Credentials<'_>, Error> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let (value, None) = (values.next().ok_or(Error::Unauthenticated)?, values.next()) else {
        return Err(Error::MalformedCredentials);
    };
    let value = value.to_str().map_err(|_| Error::MalformedCredentials)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::MalformedCredentials)?;
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(Error::MalformedCredentials);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(token));
    }
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Err(Error::MalformedCredentials);
    }
    let mut proofs = parts.headers.get_all("dpop").iter();
    match (proofs.next(), proofs.next()) {
        (Some(proof), None) => Ok(Credentials::Dpop {
            token,
            proof: proof
                .to_str()
                .map_err(|_| Error::InvalidDpopProof("the DPoP header is not ASCII text"))?,
        }),
        (None, _) => Err(Error::InvalidDpopProof(
            "the DPoP scheme needs its proof in a DPoP header",
        )),
        _ => Err(Error::InvalidDpopProof("send exactly one DPoP proof")),
    }
}

/// The bearer token of the request (`Authorization: Bearer`, one header).
pub fn bearer(parts: &Parts) -> Result<&str, Error> {
    match credentials(parts)? {
        Credentials::Bearer(token) => Ok(token),
        Credentials::Dpop { .. } => Err(Error::MalformedCredentials),
    }
}

/// The person signed in with a session access token: Bearer, or DPoP-bound with its proof
/// for this request (the URI as the client addressed it: the public URL and the path).
pub async fn session_principal(parts: &Parts, state: &Edge) -> Result<Principal, Error> {
    match credentials(parts)? {
        Credentials::Bearer(token) => state.svc.authenticate(token),
        Credentials::Dpop { token, proof } => {
            let uri = format!(
                "{}{}",
                state.svc.issuer().trim_end_matches('/'),
                parts.uri.path()
            );
            let request = portcullis_core::service::DpopRequest {
                proof,
                method: parts.method.as_str(),
                uri: &uri,
            };
            state.svc.authenticate_dpop(token, request).await
        }
    }
}

/// Whether the principal's role demands a second factor that its token lacks.
pub fn lacks_required_factor(state: &Edge, p: &Principal) -> bool {
    state.web.mfa_required_for_roles.contains(&p.role) && !p.has_second_factor()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn parts(headers: &[(&str, &[u8])]) -> Parts {
        let mut b = axum::http::Request::builder().uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_two_schemes_and_what_is_refused() {
        let p = parts(&[("authorization", b"Bearer abc")]);
        assert_eq!(credentials(&p).unwrap(), Credentials::Bearer("abc"));
        let p = parts(&[("authorization", b"bearer   abc ")]);
        assert_eq!(credentials(&p).unwrap(), Credentials::Bearer("abc"));
        let p = parts(&[("authorization", b"DPoP abc"), ("dpop", b"proof")]);
        assert_eq!(
            credentials(&p).unwrap(),
            Credentials::Dpop {
                token: "abc",
                proof: "proof"
            }
        );
        assert!(matches!(
            credentials(&parts(&[])),
            Err(Error::Unauthenticated)
        ));
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Basic abc",
            b"Bearer a b",
            b"Bearer \xff",
            b"abc",
        ] {
            assert!(
                matches!(
                    credentials(&parts(&[("authorization", bad)])),
                    Err(Error::MalformedCredentials)
                ),
                "{bad:?}"
            );
        }
        // Two Authorization headers could name two principals to two readers.
        let two = parts(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
        ]);
        assert!(matches!(
            credentials(&two),
            Err(Error::MalformedCredentials)
        ));
        // The DPoP scheme needs exactly one proof.
        for headers in [
            vec![("authorization", &b"DPoP abc"[..])],
            vec![
                ("authorization", b"DPoP abc"),
                ("dpop", b"a"),
                ("dpop", b"b"),
            ],
            vec![("authorization", b"DPoP abc"), ("dpop", b"\xff")],
        ] {
            assert!(matches!(
                credentials(&parts(&headers)),
                Err(Error::InvalidDpopProof(_))
            ));
        }
        // `bearer` takes the Bearer scheme only.
        let p = parts(&[("authorization", b"DPoP abc"), ("dpop", b"proof")]);
        assert!(matches!(bearer(&p), Err(Error::MalformedCredentials)));
    }

    proptest::proptest! {
        #[test]
        fn any_header_gives_an_answer(auth in proptest::collection::vec(proptest::num::u8::ANY, 0..64), dpop in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..64))) {
            let mut b = axum::http::Request::builder().uri("/x");
            if let Ok(v) = axum::http::HeaderValue::from_bytes(&auth) {
                b = b.header("authorization", v);
            }
            if let Some(Ok(v)) = dpop.map(|d| axum::http::HeaderValue::from_bytes(&d)) {
                b = b.header("dpop", v);
            }
            let p = b.body(()).unwrap().into_parts().0;
            if let Ok(Credentials::Bearer(t) | Credentials::Dpop { token: t, .. }) = credentials(&p) {
                proptest::prop_assert!(!t.is_empty() && !t.contains(' '));
            }
        }
    }
}
