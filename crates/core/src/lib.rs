//! The Portcullis domain.
//!
//! Users, credentials, sessions, token families and the audit log, with the ports
//! ([`store::Store`], [`clock::Clock`], [`rand::Rng`]) that the outer crates implement.
//! Nothing here speaks HTTP or SQL; time and randomness always come in as parameters.

pub mod accounts;
pub mod alerting;
pub mod approvals;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod detect;
pub mod disposable;
pub mod email;
pub mod error;
pub mod health;
pub mod id;
pub mod model;
pub mod oauth;
pub mod password;
pub mod rand;
pub mod report_render;
pub mod revocation;
pub mod service;
pub mod siem;
pub mod store;
pub mod throttle;
pub mod tlog;

#[cfg(test)]
mod proptests;

pub use error::{Error, FieldError};
