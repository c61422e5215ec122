//! The authorization request (RFC 6749 §4.1.1 with OpenID Connect Core §3.1.2.1), checked
//! before anything is shown to a person: code flow only, PKCE S256 for every client, exact
//! redirect URIs. Errors found before the redirect URI is known to be the client's are shown
//! on Portcullis's own error page and never redirected (RFC 6749 §4.1.2.1: no open
//! redirector); later ones go back to the client with `state` and `iss` (RFC 9207).

use serde::{Deserialize, Serialize};

use super::clients::{GRANT_CODE, OAuthClient, is_scope_token};
use super::error::OAuthError;
use super::pkce::Challenge;
use super::redirect;

/// The authentication context of a sign-in with one factor (a password, or a passkey
/// without user verification).
pub const ACR_1FA: &str = "urn:portcullis:acr:1fa";
/// The authentication context of a sign-in with a second factor (or a verified passkey).
pub const ACR_2FA: &str = "urn:portcullis:acr:2fa";
/// The `prompt` values honoured.
pub const PROMPTS: [&str; 3] = ["none", "login", "consent"];
/// Longest `state` and `nonce` accepted.
pub const MAX_STATE: usize = 1024;

/// A checked authorization request, as kept while the person signs in and consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzRequest {
    /// The client.
    pub client_id: String,
    /// Where the answer goes: one of the client's registered redirect URIs.
    pub redirect_uri: String,
    /// Whether the request named it (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    /// The scopes asked for, each registered for the client.
    pub scopes: Vec<String>,
    /// The client's `state`, returned as sent.
    pub state: Option<String>,
    /// The OpenID Connect `nonce`, put in the ID token.
    pub nonce: Option<String>,
    /// The S256 code challenge.
    pub code_challenge: String,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `acr_values` asked for, in order of preference.
    pub acr_values: Vec<String>,
    /// RFC 8707 resource indicators.
    pub resources: Vec<String>,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
    /// `login_hint` (an email to pre-fill).
    pub login_hint: Option<String>,
    /// Whether it came through PAR.
    pub pushed: bool,
    /// The device authorization (RFC 8628) this sign-in approves, instead of a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// A page of Portcullis's own the sign-in returns to (the account page), instead of a
    /// client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

impl AuthzRequest {
    /// Whether the request asks for `p` in `prompt`.
    pub fn prompts(&self, p: &str) -> bool {
        self.prompt.iter().any(|x| x == p)
    }

    /// Whether a second factor is asked for (`acr_values` names only the two-factor level).
    pub fn wants_second_factor(&self) -> bool {
        !self.acr_values.is_empty() && self.acr_values.iter().all(|a| a == ACR_2FA)
    }

    /// Whether this is an OpenID Connect request.
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

/// Why an authorization request was refused, and where the answer may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzError {
    /// The client or its redirect URI is not known to be good: shown on an error page.
    Page(OAuthError),
    /// Sent back to the client's redirect URI.
    Redirect {
        /// The registered redirect URI.
        redirect_uri: String,
        /// The request's state.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
}

/// The request's parameters: each at most once (RFC 6749 §3.1), except `resource`.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses a query string or form body; empty values count as absent.
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_limited(raw, &["resource"], 40, 4096)
    }

    /// Parses a form: at most `max_params` parameters of at most `max_value` bytes, each
    /// once (RFC 6749 §3.1) but the `repeatable` ones; empty values count as absent.
    pub fn parse_limited(
        raw: &[u8],
        repeatable: &[&str],
        max_params: usize,
        max_value: usize,
    ) -> Result<Self, OAuthError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if out.len() >= max_params || v.len() > max_value || k.len() > 64 {
                return Err(OAuthError::invalid_request(
                    "too many or too long parameters",
                ));
            }
            if v.is_empty() {
                // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
                continue;
            }
            if !repeatable.contains(&k.as_ref()) && out.iter().any(|(n, _)| *n == k) {
                return Err(OAuthError::invalid_request(format!(
                    "`{}` is repeated",
                    k.chars().take(64).collect::<String>()
                )));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(out))
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The registered redirect URI a request names (or the only one, when it names none and is
/// not OpenID Connect), else an error for the error page.
pub fn redirect_uri_of(
    params: &Params,
    client: &OAuthClient,
) -> Result<(String, bool), OAuthError> {
    match params.get("redirect_uri") {
        Some(r) if redirect::matches(client.redirect_uris.iter().map(String::as_str), r) => {
            Ok((r.to_owned(), true))
        }
        Some(_) => Err(OAuthError::invalid_request(
            "redirect_uri is not one the client registered (matched exactly)",
        )),
        None => match client.redirect_uris.as_slice() {
            [one]
                if !params
                    .get("scope")
                    .unwrap_or("")
                    .split(' ')
                    .any(|s| s == "openid") =>
            {
                Ok((one.clone(), false))
            }
            _ => Err(OAuthError::invalid_request("redirect_uri is required")),
        },
    }
}

fn printable(s: &str) -> bool {
    s.chars().all(|c| !c.is_control())
}

/// Checks the request of `client` whose redirect URI is already known to be good (`uri`).
/// `issuer` is refused as a resource: Portcullis's own API takes only its own tokens.
pub fn check(
    params: &Params,
    client: &OAuthClient,
    (redirect_uri, sent): (String, bool),
    issuer: &str,
    pushed: bool,
) -> Result<AuthzRequest, AuthzError> {
    let state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| AuthzError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state
            .clone()
            .filter(|s| s.len() <= MAX_STATE && printable(s)),
        error,
    };
    if state
        .as_deref()
        .is_some_and(|s| s.len() > MAX_STATE || !printable(s))
    {
        return Err(fail(OAuthError::invalid_request(
            "state is at most 1024 printable characters",
        )));
    }
    if params.get("request").is_some() {
        return Err(fail(OAuthError::new_pub(
            "request_not_supported",
            "request objects are not accepted; push the request (PAR) instead",
        )));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is required",
            )));
        }
        Some(_) => {
            return Err(fail(OAuthError::unsupported_response_type(
                "only response_type=code is offered (no implicit or hybrid flow)",
            )));
        }
    }
    if let Some(m) = params.get("response_mode")
        && m != "query"
    {
        return Err(fail(OAuthError::invalid_request(
            "only response_mode=query is offered",
        )));
    }
    if !client.grant_types.iter().any(|g| g == GRANT_CODE) {
        return Err(fail(OAuthError::unauthorized_client(
            "the client is not registered for the authorization_code grant",
        )));
    }
    if client.require_par && !pushed {
        return Err(fail(OAuthError::invalid_request(
            "this client must push its authorization requests (PAR, RFC 9126)",
        )));
    }
    let challenge = match params.get("code_challenge") {
        None => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is required (PKCE with S256, for every client)",
            )));
        }
        Some(c) => Challenge::parse(c, params.get("code_challenge_method"))
            .map_err(|e| fail(OAuthError::invalid_request(e.to_string())))?,
    };
    let mut scopes: Vec<String> = Vec::new();
    for s in params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !is_scope_token(s) {
            return Err(fail(OAuthError::invalid_scope(
                "scope names are printable ASCII",
            )));
        }
        if !client.scopes.iter().any(|c| c == s) {
            return Err(fail(OAuthError::invalid_scope(format!(
                "the client is not registered for `{s}`"
            ))));
        }
        if !scopes.iter().any(|g| g == s) {
            scopes.push(s.to_owned());
        }
    }
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce
        .as_deref()
        .is_some_and(|n| n.len() > MAX_STATE || !printable(n))
    {
        return Err(fail(OAuthError::invalid_request(
            "nonce is at most 1024 printable characters",
        )));
    }
    let prompt: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(p) = prompt.iter().find(|p| !PROMPTS.contains(&p.as_str())) {
        return Err(fail(OAuthError::invalid_request(format!(
            "prompt `{}` is not offered (none, login, consent)",
            p.chars().take(32).collect::<String>()
        ))));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(fail(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        )));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(m) => Some(
            m.parse::<i64>()
                .ok()
                .filter(|m| (0..=10 * 365 * 86_400).contains(m))
                .ok_or_else(|| {
                    fail(OAuthError::invalid_request(
                        "max_age is a number of seconds",
                    ))
                })?,
        ),
    };
    let acr_values: Vec<String> = params
        .get("acr_values")
        .unwrap_or("")
        .split(' ')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if acr_values.len() > 8 || acr_values.iter().any(|a| a.len() > 200 || !printable(a)) {
        return Err(fail(OAuthError::invalid_request("acr_values is malformed")));
    }
    let resources = params.all("resource");
    if resources.len() > 10 {
        return Err(fail(OAuthError::invalid_target(
            "at most 10 resource indicators",
        )));
    }
    let own = issuer.trim_end_matches('/');
    for r in &resources {
        let ok = r.len() <= 2000 && !r.contains('#') && url::Url::parse(r).is_ok();
        if !ok {
            return Err(fail(OAuthError::invalid_target(
                "a resource is an absolute URI without a fragment",
            )));
        }
        if r.trim_end_matches('/') == own {
            return Err(fail(OAuthError::invalid_target(
                "Portcullis's own API takes only its own sign-in tokens",
            )));
        }
    }
    let dpop_jkt = params.get("dpop_jkt").map(str::to_owned);
    if dpop_jkt.as_deref().is_some_and(|j| {
        j.len() != 43
            || !j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err(fail(OAuthError::invalid_request(
            "dpop_jkt is a base64url SHA-256 JWK thumbprint",
        )));
    }
    if client.require_dpop && dpop_jkt.is_none() && !pushed {
        return Err(fail(OAuthError::invalid_request(
            "this client's tokens are bound by DPoP: send dpop_jkt (RFC 9449 §10)",
        )));
    }
    let login_hint = params
        .get("login_hint")
        .filter(|h| h.len() <= 320 && printable(h))
        .map(str::to_owned);
    Ok(AuthzRequest {
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_sent: sent,
        scopes,
        state,
        nonce,
        code_challenge: challenge.as_str().to_owned(),
        prompt,
        max_age,
        acr_values,
        resources,
        dpop_jkt,
        login_hint,
        pushed,
        device: None,
        return_to: None,
    })
}

/// The redirect to the client: `redirect_uri` with `params` added to its query (any query
/// it has is kept), and `iss` (RFC 9207).
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut extra = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        extra.append_pair(k, v);
    }
    let extra = extra.finish();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{extra}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::AuthMethod;

    fn client() -> OAuthClient {
        OAuthClient {
            id: "c1".into(),
            name: "App".into(),
            redirect_uris: vec![
                "https://app.example/cb".into(),
                "http://127.0.0.1/cb".into(),
            ],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GRANT_CODE.into()],
            auth_method: AuthMethod::None,
            scopes: vec!["openid".into(), "email".into(), "orders:read".into()],
            backchannel_logout_uri: None,
            require_pkce: true,
            require_par: false,
            require_dpop: false,
            jwks: None,
            tls_client_auth_san_uri: None,
            secret_hash: None,
            created_by: "t".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn run(q: &str) -> Result<AuthzRequest, AuthzError> {
        let p = Params::parse(q.as_bytes()).map_err(AuthzError::Page)?;
        let c = client();
        let r = redirect_uri_of(&p, &c).map_err(AuthzError::Page)?;
        check(&p, &c, r, "https://id.example", false)
    }

    fn code_of(r: Result<AuthzRequest, AuthzError>) -> &'static str {
        match r {
            Err(AuthzError::Page(e)) => e.code,
            Err(AuthzError::Redirect { error, .. }) => error.code,
            Ok(_) => "ok",
        }
    }

    #[test]
    fn a_good_request_is_kept_whole() {
        let q = format!(
            "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20email\
             &state=s1&nonce=n1&code_challenge={CH}&code_challenge_method=S256&prompt=login&max_age=60\
             &acr_values={}&resource=https%3A%2F%2Fapi.example%2F",
            urlencode(ACR_2FA)
        );
        let r = run(&q).unwrap();
        assert_eq!(r.scopes, ["openid", "email"]);
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert!(r.prompts("login") && r.wants_second_factor() && r.is_openid());
        assert_eq!(r.max_age, Some(60));
        assert_eq!(r.resources, ["https://api.example/"]);
        // The loopback port may vary (RFC 8252 §7.3).
        let q = format!(
            "response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A5123%2Fcb&code_challenge={CH}&code_challenge_method=S256"
        );
        assert_eq!(run(&q).unwrap().redirect_uri, "http://127.0.0.1:5123/cb");
    }

    fn urlencode(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn bad_clients_and_redirects_never_redirect() {
        for q in [
            "response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F..%2Fx",
            "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2FCB",
            "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%23f",
            "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&redirect_uri=https%3A%2F%2Fevil.example",
            "response_type=code",
        ] {
            assert!(matches!(run(q), Err(AuthzError::Page(_))), "{q}");
        }
    }

    #[test]
    fn the_rfc_9700_checklist() {
        let base = "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=x";
        // No PKCE, plain PKCE, a missing method (plain): refused.
        assert_eq!(code_of(run(base)), "invalid_request");
        assert_eq!(
            code_of(run(&format!(
                "{base}&code_challenge={CH}&code_challenge_method=plain"
            ))),
            "invalid_request"
        );
        assert_eq!(
            code_of(run(&format!("{base}&code_challenge={CH}"))),
            "invalid_request"
        );
        // Implicit and hybrid.
        for rt in ["token", "id_token", "code%20id_token", "code%20token"] {
            let q = format!(
                "response_type={rt}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_challenge={CH}&code_challenge_method=S256"
            );
            assert_eq!(code_of(run(&q)), "unsupported_response_type", "{rt}");
        }
        let ok = format!("{base}&code_challenge={CH}&code_challenge_method=S256");
        assert_eq!(code_of(run(&format!("{ok}&scope=admin"))), "invalid_scope");
        assert_eq!(
            code_of(run(&format!("{ok}&prompt=none%20login"))),
            "invalid_request"
        );
        assert_eq!(
            code_of(run(&format!("{ok}&prompt=select_account"))),
            "invalid_request"
        );
        assert_eq!(code_of(run(&format!("{ok}&max_age=-1"))), "invalid_request");
        assert_eq!(
            code_of(run(&format!("{ok}&response_mode=fragment"))),
            "invalid_request"
        );
        assert_eq!(
            code_of(run(&format!("{ok}&request=eyJ"))),
            "request_not_supported"
        );
        assert_eq!(
            code_of(run(&format!("{ok}&resource=https%3A%2F%2Fid.example"))),
            "invalid_target"
        );
        assert_eq!(
            code_of(run(&format!("{ok}&dpop_jkt=short"))),
            "invalid_request"
        );
        // Errors after the redirect URI is known carry the state back.
        match run(&format!("{ok}&scope=admin")) {
            Err(AuthzError::Redirect {
                state,
                redirect_uri,
                ..
            }) => {
                assert_eq!(state.as_deref(), Some("x"));
                assert_eq!(redirect_uri, "https://app.example/cb");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_redirect_keeps_the_registered_query() {
        assert_eq!(
            redirect_to(
                "https://a.example/cb?t=1",
                &[("code", "c d"), ("iss", "https://id.example")]
            ),
            "https://a.example/cb?t=1&code=c+d&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(
            redirect_to("https://a.example/cb", &[("code", "x")]),
            "https://a.example/cb?code=x"
        );
    }
}
