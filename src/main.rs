use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    clawgate::cli::run(clawgate::cli::Cli::parse())
}
