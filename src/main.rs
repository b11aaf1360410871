//! The `devicetrust` binary: parse arguments, hand them to the CLI library.

use std::process::ExitCode;

fn main() -> ExitCode {
    devicetrust_cli::run(<devicetrust_cli::Cli as clap::Parser>::parse())
}
