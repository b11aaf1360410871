//! The `devicetrust` command line.

use std::process::ExitCode;

/// Command-line arguments.
#[derive(Debug, clap::Parser)]
#[command(name = "devicetrust", version, about)]
pub struct Cli {}

/// Runs a parsed command line.
pub fn run(_cli: Cli) -> ExitCode {
    ExitCode::SUCCESS
}
