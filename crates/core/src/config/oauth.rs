//! `[oauth]`: the OpenID provider's own switches.

use serde::Deserialize;

/// `[oauth]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Dynamic client registration (RFC 7591) at `/oauth2/register`, off unless set: the
    /// environment variable holding the initial access token clients must present (at
    /// least 32 characters; a token in the file would be one more secret in a file).
    pub registration_token_env: Option<String>,
}
