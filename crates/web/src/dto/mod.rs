//! Request and response bodies of the contract, with their OpenAPI schemas, one module per
//! part of the API.

mod admin;
mod approvals;
mod audit;
mod auth;
mod clients;
mod dashboard;
mod detection;
mod gdpr;
mod keys;
mod meta;
mod mfa;
mod passkeys;
mod recovery;
pub mod webauthn;
pub mod wire;

pub use admin::*;
pub use approvals::*;
pub use audit::*;
pub use auth::*;
pub use clients::*;
pub use dashboard::*;
pub use detection::*;
pub use gdpr::*;
pub use keys::*;
pub use meta::*;
pub use mfa::*;
pub use passkeys::*;
pub use recovery::*;

use portcullis_core::FieldError;

/// Longest password accepted on the wire, in characters (the policy sets the real limit).
const MAX_PASSWORD_CHARS: usize = 4096;

/// Checks that an optional number lies in `min..=max`.
fn in_range(errors: &mut Vec<FieldError>, field: &str, value: Option<u64>, min: u64, max: u64) {
    if value.is_some_and(|v| v < min || v > max) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be between {min} and {max}"),
        ));
    }
}

/// What the derived schemas cannot say, by component name: merged into the generated
/// document (objects member by member, anything else replaced).
pub fn refinements() -> serde_json::Value {
    let mut all = serde_json::Map::new();
    for part in [
        auth::refinements(),
        clients::refinements(),
        detection::refinements(),
        keys::refinements(),
        mfa::refinements(),
        webauthn::refinements(),
    ] {
        if let serde_json::Value::Object(m) = part {
            all.extend(m);
        }
    }
    serde_json::Value::Object(all)
}
