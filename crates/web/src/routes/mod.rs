//! Route handlers, one file per API area.

pub mod admin;
pub mod alerts;
pub mod apikeys;
pub mod approvals;
pub mod auth;
pub mod clients;
pub mod console;
pub mod console_signin;
pub mod dashboard;
pub mod detection;
pub mod gdpr;
pub mod meta;
pub mod mfa;
pub mod oauth;
pub mod oauth_account;
pub mod oauth_device;
pub mod oauth_logout;
pub mod oauth_pages;
pub mod oauth_recovery;
pub mod oauth_register;
pub mod oauth_upstream;
pub mod passkeys;
pub mod recovery;
