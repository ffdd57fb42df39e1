//! Entry point: parse the command line, start tracing, run, exit with the command's code.

use clap::Parser;

/// mimalloc: see Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = agno_run::cli::with_serve_shorthand(std::env::args_os().collect());
    let cli = agno_run::cli::Cli::parse_from(args);
    let telemetry = agno_run::cli::init_tracing(&cli);
    agno_run::cli::run(cli, telemetry)
}
