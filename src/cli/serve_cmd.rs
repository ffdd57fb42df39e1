//! `agno-run serve CONFIG...` (and its shorthand `agno-run CONFIG...`): validate, migrate, serve
//! the AgentOS API, reload on change, stop cleanly on SIGTERM.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, LogFormat, load_options};
use crate::config::{self, ServerFlags};
use crate::server::{ServeError, ServeOptions};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config files or folders (all *.yaml / *.yml inside); all are watched.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Override `server.host`.
    #[arg(long)]
    pub host: Option<String>,
    /// Override `server.port` (0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not watch the config files (SIGHUP and POST /config/reload still reload).
    #[arg(long)]
    pub no_reload: bool,
    /// Do not migrate the databases (they must be migrated already).
    #[arg(long)]
    pub no_migrate: bool,
    /// Do not check environment variables.
    #[arg(long)]
    pub no_env: bool,
}

/// Runs the server; the exit code. Logs are JSON when `--log-format json` or the config's
/// `server.log_format: json` says so, and at `info` for agno-run unless `RUST_LOG` says otherwise
/// (a server's requests and reloads are worth a line each).
pub fn run(args: ServeArgs, log_format: LogFormat, telemetry: Option<crate::telemetry::Telemetry>) -> u8 {
    let flags = ServerFlags { host: args.host.clone(), port: args.port };
    let load = load_options(args.no_env, flags, true);
    let loaded = config::load(&args.paths, &load);
    let json = log_format == LogFormat::Json
        || loaded.config.as_ref().is_some_and(|c| c.server.log_format == crate::config::model::LogFormat::Json);
    super::init_tracing_with(
        if json { LogFormat::Json } else { LogFormat::Text },
        "warn,agno_run=info",
        telemetry.as_ref(),
    );
    let config = match super::valid_or_report(loaded, true) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = ServeOptions {
        paths: args.paths.clone(),
        load,
        no_migrate: args.no_migrate,
        watch: !args.no_reload,
        telemetry,
    };
    let runtime = match super::tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(crate::server::serve(config, options, |addr, g| {
        let c = g.config();
        say!(
            "agno-run {} serving the AgentOS API on http://{addr} (generation {}: {} agents, {} teams, {} workflows; databases {})",
            env!("CARGO_PKG_VERSION"),
            g.number(),
            c.agents.len(),
            c.teams.len(),
            c.workflows.len(),
            c.databases.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        say!("  console: http://{addr}/ (open it in a browser)");
        if let Some(agent) = c.agents.keys().next() {
            say!("  try: curl -s http://{addr}/agents");
            say!("       curl -s -X POST http://{addr}/agents/{agent}/runs -d message=Hello -d stream=false");
        }
        say!("  edits to the config reload live; Ctrl-C stops (runs in flight get {}s to finish)", c.server.shutdown_timeout);
    }));
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            say!("error: {e}");
            if let Some(help) = e.help() {
                say!("  help: {help}");
            }
            match e {
                ServeError::Unprotected { .. } => EXIT_CONFIG,
                _ => EXIT_FAILURE,
            }
        }
    }
}
