//! Request and response bodies of the contract, with their OpenAPI schemas, one module per
//! part of the API.

mod admin;
mod audit;
mod auth;
mod detection;
mod gdpr;
mod keys;
mod meta;
mod mfa;
mod passkeys;

pub use admin::*;
pub use audit::*;
pub use auth::*;
pub use detection::*;
pub use gdpr::*;
pub use keys::*;
pub use meta::*;
pub use mfa::*;
pub use passkeys::*;

use portcullis_core::FieldError;

/// Longest password accepted on the wire, in bytes (the policy counts code points).
const MAX_PASSWORD_BYTES: usize = 4096;

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
