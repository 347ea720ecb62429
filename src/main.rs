//! The `wayfarer` binary: parses the command line and hands over to [`wayfarer::cli`].

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    wayfarer::cli::Cli::parse().run().await
}
