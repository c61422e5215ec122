//! The `portcullis` program: command line, layered configuration, wiring of the crates,
//! background tasks, and serving with graceful shutdown.
//!
//! Production code depends on nothing here but `main.rs`; `portcullis-testkit` uses
//! [`app::App`] so that tests run exactly the wiring the binary runs.

/// `println!` for a command's output: a reader that went away (`portcullis routes check |
/// head -1`) ends the command quietly, where `println!` would panic; any other failure to
/// write is reported and exits 1.
macro_rules! out {
    () => {
        out!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("portcullis: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}

pub mod alerts;
pub mod app;
mod backchannel;
pub mod ca;
mod canned;
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
