//! OAuth 2.0 / OpenID Connect provider rules that need no storage or HTTP: PKCE (RFC 7636,
//! S256 only) and redirect URIs (exact match; RFC 8252's loopback port rule for native apps).
//! The endpoints of the OIDC issue build on these, and on the client registry ([`clients`]).

pub mod assertion;
pub mod authorize;
pub mod clients;
pub mod dpop;
pub mod error;
pub mod grants;
pub mod pkce;
pub mod redirect;
