//! The protocol side of upstream OpenID providers, on the `openidconnect` crate (its HTTP
//! client is reqwest, the server's, plugged in; redirects are never followed and answers
//! are read up to 1 MiB): discovery (kept ten minutes), the authorization URL with `state`,
//! `nonce` and PKCE S256, the code exchange, the ID token's checks (signature by the
//! provider's JWKS, issuer, audience, expiry, `nonce`, `at_hash`), and userinfo.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, UserInfoClaims,
};
use portcullis_core::config::IdentityProviderConfig;
use portcullis_core::service::{Services, UpstreamClient, UpstreamIdentity, UpstreamStart};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// Longest answer read from a provider.
const MAX_BODY: usize = 1 << 20;
/// How long a discovery document (and its JWKS) is kept.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

/// An HTTP failure, as the `openidconnect` crate wants it.
#[derive(Debug)]
pub(crate) struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// reqwest behind `openidconnect`'s client trait.
pub(crate) struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut resp = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(format!("{e}")))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError(format!("{e}")))? {
                if bytes.len() + chunk.len() > MAX_BODY {
                    return Err(HttpError("the answer is over 1 MiB".into()));
                }
                bytes.extend_from_slice(&chunk);
            }
            let mut out = openidconnect::http::Response::builder()
                .status(status)
                .body(bytes)
                .map_err(|e| HttpError(format!("{e}")))?;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// Userinfo's claims beyond the standard ones (the role claim, for one).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct Extra {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for Extra {}

/// The upstream providers' protocol client the server installs.
pub(crate) struct Upstream {
    http: Http,
    secrets: HashMap<String, SecretString>,
    discovered: Mutex<HashMap<String, (CoreProviderMetadata, Instant)>>,
}

impl Upstream {
    /// Installs the providers of `config` on `services` (their secrets read from the
    /// environment now: a missing one stops the start, naming the variable).
    pub(crate) fn install(
        config: &[IdentityProviderConfig],
        services: &Arc<Services>,
    ) -> Result<(), String> {
        if config.is_empty() {
            return Ok(());
        }
        let mut secrets = HashMap::new();
        for p in config {
            if let Some(var) = &p.client_secret_env {
                let v = std::env::var(var).map_err(|_| {
                    format!(
                        "identity provider `{}`: the environment variable {var} (client_secret_env) is not set",
                        p.id
                    )
                })?;
                secrets.insert(p.id.clone(), SecretString::from(v));
            }
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("identity providers: {e}"))?;
        services.set_upstream(
            Arc::new(Self {
                http: Http(client),
                secrets,
                discovered: Mutex::new(HashMap::new()),
            }),
            config.to_vec(),
        );
        Ok(())
    }

    async fn metadata(&self, p: &IdentityProviderConfig) -> Result<CoreProviderMetadata, String> {
        if let Some((m, at)) = self.discovered.lock().await.get(&p.id)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(p.issuer.clone()).map_err(|e| format!("issuer: {e}"))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        self.discovered
            .lock()
            .await
            .insert(p.id.clone(), (m.clone(), Instant::now()));
        Ok(m)
    }

    async fn client(
        &self,
        p: &IdentityProviderConfig,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        String,
    > {
        let meta = self.metadata(p).await?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(p.client_id.clone()),
            self.secrets
                .get(&p.id)
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| format!("redirect: {e}"))?,
        ))
    }
}

/// The JSON payload of a compact JWS (already verified by the caller).
fn payload(jwt: &str) -> Map<String, Value> {
    jwt.split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

#[async_trait]
impl UpstreamClient for Upstream {
    async fn start(
        &self,
        p: &IdentityProviderConfig,
        redirect_uri: &str,
    ) -> Result<UpstreamStart, String> {
        let client = self.client(p, redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in p.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(UpstreamStart {
            url: url.to_string(),
            state: SecretString::from(state.secret().clone()),
            nonce: SecretString::from(nonce.secret().clone()),
            verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    async fn finish(
        &self,
        p: &IdentityProviderConfig,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<UpstreamIdentity, String> {
        let client = self.client(p, redirect_uri).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| format!("token endpoint: {e}"))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| format!("code exchange: {e}"))?;
        let id_token = token.id_token().ok_or("no ID token in the answer")?;
        let id_verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&id_verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| format!("ID token: {e}"))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| format!("ID token: {e}"))?;
            let key = id_token
                .signing_key(&id_verifier)
                .map_err(|e| format!("ID token: {e}"))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| format!("at_hash: {e}"))?;
            if actual != *expected {
                return Err("the ID token's at_hash is not the access token's".into());
            }
        }
        let subject = claims.subject().as_str().to_owned();
        let mut all = payload(&id_token.to_string());
        if let Ok(req) =
            client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: UserInfoClaims<Extra, CoreGenderClaim> = req
                .request_async(&self.http)
                .await
                .map_err(|e| format!("userinfo: {e}"))?;
            if let Ok(Value::Object(m)) = serde_json::to_value(&info) {
                for (k, v) in m {
                    if !v.is_null() {
                        all.entry(k).or_insert(v);
                    }
                }
            }
        }
        let text = |k: &str| all.get(k).and_then(Value::as_str).map(str::to_owned);
        let email_verified = match all.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(UpstreamIdentity {
            subject,
            email: text("email"),
            email_verified,
            name: text("name"),
            amr: all
                .get("amr")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            claims: all,
        })
    }
}
