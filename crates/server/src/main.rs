//! `portcullis`: see `portcullis --help`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    portcullis_server::cli::run(portcullis_server::cli::Cli::parse()).await
}
