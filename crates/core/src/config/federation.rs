//! `[[identity_providers]]`: upstream OpenID providers people may sign in with.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, bad};

/// When a first sign-in through an upstream provider may join an existing account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPolicy {
    /// Never: an address that already has an account is refused (sign in locally, then
    /// link from the account).
    #[default]
    None,
    /// When the provider says the address is verified **and** the person proves the local
    /// account (its password, and its second factor if it has one) first.
    VerifiedEmail,
}

/// One `[[identity_providers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// Short id (`[a-z0-9_-]`, at most 32): in the callback URL
    /// `<public_url>/oauth2/upstream/<id>/callback`.
    pub id: String,
    /// The provider's issuer (OpenID discovery); https, or http on a loopback address.
    pub issuer: String,
    /// The client id Portcullis has at the provider.
    pub client_id: String,
    /// The environment variable holding the client secret (none: a public client, PKCE
    /// only).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes asked for (`openid` is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Create an account on a first sign-in.
    #[serde(default)]
    pub jit: bool,
    /// Whether a first sign-in may join an existing account with the same address.
    #[serde(default)]
    pub link: LinkPolicy,
    /// Only addresses in these domains may sign in this way (empty: any).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// A claim (ID token or userinfo) whose values `role_map` turns into a role.
    #[serde(default)]
    pub role_claim: String,
    /// Claim value → `user` or `admin`.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// The sign-in button's label (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Values of the provider's `amr` that count as a second factor here (e.g. `["mfa",
    /// "otp", "hwk"]`); empty: the provider's sign-in is one factor.
    #[serde(default)]
    pub second_factor_amr: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

impl IdentityProviderConfig {
    /// The button's label.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Checks one entry; `i` is its index (for the error's key).
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |k: &str| format!("identity_providers[{i}].{k}");
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(bad(&key("id"), "1 to 32 of a-z, 0-9, - and _"));
        }
        let url = url::Url::parse(&self.issuer)
            .map_err(|_| bad(&key("issuer"), "must be an absolute URL"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(bad(
                    &key("issuer"),
                    "must be https (http only on a loopback address, for tests)",
                ));
            }
        }
        if self.client_id.is_empty() {
            return Err(bad(&key("client_id"), "required"));
        }
        for (claim, role) in &self.role_map {
            if role != "user" && role != "admin" {
                return Err(bad(
                    &key("role_map"),
                    format!("`{claim}` maps to `{role}`: roles are user or admin"),
                ));
            }
        }
        if !self.role_map.is_empty() && self.role_claim.is_empty() {
            return Err(bad(&key("role_claim"), "role_map needs the claim it reads"));
        }
        for d in &self.allowed_domains {
            if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
                return Err(bad(
                    &key("allowed_domains"),
                    format!("`{d}` is not a domain"),
                ));
            }
        }
        Ok(())
    }
}
