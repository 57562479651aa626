use std::process::ExitCode;

use clap::Parser;

/// mimalloc, not glibc's malloc: a request allocates some hundreds of
/// buffers of every size, and glibc spent a fifth of the gateway's CPU on
/// them (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    clawgate::cli::run(clawgate::cli::Cli::parse())
}
