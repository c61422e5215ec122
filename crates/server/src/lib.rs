//! The `portcullis` program: command line, layered configuration, wiring of the crates,
//! background tasks, and serving with graceful shutdown.
//!
//! Production code depends on nothing here but `main.rs`; `portcullis-testkit` uses
//! [`app::App`] so that tests run exactly the wiring the binary runs.

pub mod alerts;
pub mod app;
mod backchannel;
pub mod ca;
pub mod cli;
mod cli_approvals;
mod cli_args;
mod cli_clients;
mod cli_shamir;
mod cli_users;
pub mod config;
mod connections;
pub mod datadir;
pub mod detection;
mod dispatch;
pub mod keyfile;
pub mod logging;
mod mail;
pub mod masterkey;
mod parking;
pub mod pkcs11;
pub mod reload;
pub mod sinks;
pub mod tls;
mod upstream;
pub mod witness;
