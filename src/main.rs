//! Entry point: parse the command line, start tracing, run, exit with the command's code.

use clap::Parser;

/// mimalloc: see Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if let Some(code) = agno_run::cli::not_built_serve(std::env::args_os().nth(1)) {
        return code;
    }
    let cli = agno_run::cli::Cli::parse();
    agno_run::cli::init_tracing(cli.log_format);
    agno_run::cli::run(cli)
}
