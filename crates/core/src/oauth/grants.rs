//! The authorization server's protocol state between requests: authorization requests in
//! progress, pushed requests (RFC 9126), codes, consents and the grants a code exchange
//! issued. One record type for all of them ([`GrantRecord`]), told apart by [`Kind`]; the
//! body is the record's JSON and never holds a secret (codes and request URIs are stored
//! by their SHA-256).

use serde_json::Value;

use crate::clock::UnixTime;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An authorization request a person is working through (sign-in, consent).
    Request,
    /// A pushed authorization request.
    Par,
    /// An authorization code.
    Code,
    /// A person's consent to a client's scopes.
    Consent,
    /// The refresh-token family a code exchange started (id = its session).
    Grant,
    /// A device authorization (RFC 8628), id = SHA-256 of its device code.
    Device,
    /// A device authorization's user code, id = SHA-256 of the code.
    UserCode,
    /// A sign-in through an upstream provider in progress, id = SHA-256 of its `state`
    /// (client id: the provider's id).
    Upstream,
    /// A first upstream sign-in waiting for the person to prove the local account it
    /// would join, id = SHA-256 of the page's token.
    Link,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Par => "par",
            Self::Code => "code",
            Self::Consent => "consent",
            Self::Grant => "grant",
            Self::Device => "device",
            Self::UserCode => "user_code",
            Self::Upstream => "upstream",
            Self::Link => "link",
        }
    }
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRecord {
    /// Its kind.
    pub kind: Kind,
    /// Its id (a hash, a handle, or `user:client` for consents).
    pub id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// The person, once known.
    pub user_id: Option<String>,
    /// The browser session it came from (codes and grants).
    pub parent: Option<String>,
    /// The record's JSON.
    pub body: Value,
    /// When it was made.
    pub created_at: UnixTime,
    /// When it stops counting.
    pub expires_at: UnixTime,
    /// When it was used (codes, requests), if it was.
    pub used_at: Option<UnixTime>,
}

/// The consent record id of `user_id` for `client_id`.
pub fn consent_id(user_id: &str, client_id: &str) -> String {
    format!("{user_id}:{client_id}")
}

impl GrantRecord {
    /// A field of the body (null when absent).
    pub fn field(&self, k: &str) -> Value {
        self.body.get(k).cloned().unwrap_or(Value::Null)
    }

    /// The `scopes` list of a consent.
    pub fn scopes(&self) -> Vec<String> {
        serde_json::from_value(self.field("scopes")).unwrap_or_default()
    }
}
