//! The command line: argument parsing, dispatch, output and exit codes.
//!
//! Rendering of config diagnostics lives here ([`report`]), at the edge. Commands call into the
//! library and turn results into text and an exit code; they hold no logic of their own.

/// `eprintln!` that never panics: a closed stderr (`agno-run run … 2>&1 | head`) is no reason
/// to abandon a run half-way.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see [`say`]).
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = write!(err, $($arg)*);
        let _ = err.flush();
    }};
}

mod graph_cmd;
mod memories_cmd;
mod migrate_cmd;
pub mod report;
mod run_cmd;
mod serve_cmd;
mod sessions_cmd;
mod tools_cmd;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, EnvMode, LoadOptions, ServerFlags};
use report::{Format, RenderOptions};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage error (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the config is invalid (EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// agno-run: agents, teams and workflows declared in YAML, with Agno-compatible session storage.
#[derive(Debug, Parser)]
#[command(
    name = "agno-run",
    version,
    // A later flag wins over an earlier one (`--port 8080 --port 0`), as scripts expect.
    args_override_self = true,
    about,
    long_about = None,
    after_help = "Examples:\n  agno-run configs/app.yaml                   # serve the AgentOS API, reload on change\n  agno-run validate configs/\n  agno-run validate --format github --each configs/ examples/*.yaml examples/multi-file\n  agno-run schema > agno-run.schema.json\n  agno-run config configs/app.yaml --port 8080\n\nLogs go to stderr; set RUST_LOG (e.g. RUST_LOG=agno_run=debug) and --log-format json for machines."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "AGNO_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Agno's AgentOS HTTP API and reload live when the config changes (also: `agno-run CONFIG`).
    #[command(
        after_help = "Examples:\n  OS_SECURITY_KEY=change-me agno-run serve configs/app.yaml --host 0.0.0.0\n  agno-run serve configs/ --port 8080\n  agno-run configs/app.yaml                       # the same as `agno-run serve configs/app.yaml`\n  curl -s http://127.0.0.1:7777/health\n  curl -s -X POST http://127.0.0.1:7777/agents/assistant/runs -d message=Hi -d stream=false\n\nThe console is at / (e.g. http://127.0.0.1:7777/): open it in a browser to see the config, chat with any agent, team or workflow, and browse sessions and memories.\nA saved config file reloads the server (also SIGHUP and POST /config/reload); a broken save keeps the running config and shows why in /health and in the console. SIGTERM and Ctrl-C stop accepting requests, let runs finish for server.shutdown_timeout seconds, then store the rest CANCELLED.\nExit status: 0 stopped cleanly, 1 could not start (a database, the port), 78 invalid config or an unprotected non-loopback address."
    )]
    Serve(serve_cmd::ServeArgs),
    /// Check config files and folders: a CI check that never opens a database or the network.
    #[command(
        after_help = "Examples:\n  agno-run validate configs/app.yaml\n  agno-run validate configs/\n  agno-run validate --each examples/*.yaml examples/multi-file     # independent configs\n  agno-run validate --format json configs/ | jq '.[].code'\n  agno-run validate --format github --no-env configs/    # in GitHub Actions, without secrets\n  agno-run validate --codes                              # list every diagnostic code\n\nExit status: 0 valid, 78 invalid, 2 usage error."
    )]
    Validate(ValidateArgs),
    /// Print the JSON Schema of the config format (for yaml-language-server and editors).
    #[command(
        after_help = "Examples:\n  agno-run schema > configs/agno-run.schema.json\n\nThen put this first line in a config file:\n  # yaml-language-server: $schema=./agno-run.schema.json"
    )]
    Schema,
    /// Apply, plan (--dry-run) or show (status) the versioned schema migrations of each database.
    #[command(
        after_help = "Examples:\n  agno-run migrate configs/app.yaml                  # apply, with progress per migration\n  agno-run migrate configs/app.yaml --db local --dry-run   # print the exact SQL, change nothing\n  agno-run migrate status configs/app.yaml          # applied (dates, checksums) and pending\n  agno-run migrate status configs/ --format json\n  agno-run migrate status configs/app.yaml --check   # a CI gate: fails when anything is pending\n\nOne migrator runs per database at a time; others wait up to --lock-timeout.\nExit status of `status`: 0 fine, 1 refused (or, with --check, pending), 78 invalid config."
    )]
    Migrate(MigrateArgs),
    /// Run an agent once: the answer streams to stdout, tool calls to stderr; the run is stored.
    #[command(
        after_help = "Examples:\n  agno-run run configs/app.yaml --agent assistant \"What is 6 * 7?\"\n  agno-run run configs/app.yaml --agent assistant --session s1 --user alice \"And times 2?\"\n  agno-run run configs/app.yaml --agent assistant --json \"Hi\" | jq .content\n  echo \"Summarise this\" | agno-run run configs/app.yaml --agent assistant -   # the message from stdin\n\nThe session and run ids are printed on stderr as soon as the run starts. Ctrl-C, SIGTERM and SIGHUP cancel the run (stored CANCELLED). A session belongs to the user who created it: pass the same --user to continue it.\nWith --json, a failed run prints {\"error\", \"status\", \"run_id\", \"session_id\"} on stdout too.\nExit status: 0 done, 1 the run failed, was cancelled or was refused (stored as ERROR or CANCELLED, or not at all), 2 usage error (e.g. an unknown agent), 78 invalid config."
    )]
    Run(run_cmd::RunArgs),
    /// Chat with an agent: one session across turns. Ctrl-D ends; Ctrl-C cancels the turn.
    #[command(
        after_help = "Examples:\n  agno-run chat configs/app.yaml --agent assistant\n  agno-run chat configs/app.yaml --agent notes --session my-notes --user alice\n\nA cancelled turn is stored as a CANCELLED run and left out of later history.\nExit status: 0 when every turn was answered (or cancelled), 1 when one was refused or failed."
    )]
    Chat(run_cmd::ChatArgs),
    /// Inspect and manage stored sessions: list, show, runs, delete, rename.
    #[command(
        after_help = "Examples:\n  agno-run sessions configs/app.yaml list\n  agno-run sessions configs/app.yaml list --agent assistant --user alice --format json\n  agno-run sessions configs/app.yaml show SESSION_ID\n  agno-run sessions configs/app.yaml runs SESSION_ID --format json\n  agno-run sessions configs/app.yaml rename SESSION_ID \"Trip planning\"\n  agno-run sessions configs/app.yaml delete SESSION_ID\n  agno-run sessions configs/app.yaml show SESSION_ID --user alice   # a session alice owns\n\nshow, runs, rename and delete act only on sessions of the --user given (without --user: sessions without a user)."
    )]
    #[command(subcommand_precedence_over_arg = true)]
    Sessions(sessions_cmd::SessionsArgs),
    /// Inspect and manage stored user memories: list, show, add, update, delete, clear.
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml list\n  agno-run memories configs/app.yaml list --user alice --format json\n  agno-run memories configs/app.yaml add \"Prefers green tea\" --user alice --topic food\n  agno-run memories configs/app.yaml show MEMORY_ID\n  agno-run memories configs/app.yaml update MEMORY_ID --text \"Prefers black tea\" --user alice\n  agno-run memories configs/app.yaml delete MEMORY_ID --user alice\n  agno-run memories configs/app.yaml clear --user alice --yes\n  agno-run memories configs/app.yaml list --db local\n\nadd writes for --user (default: `default`, Agno's user when none is given). With --user, show, update and delete find only that user's memories (another user's is not found); without it, anyone's. A memory never moves to another user. clear deletes one user's memories and needs --user, and --yes when stdin is not a terminal.\nExit status: 0 done, 1 not found or a database failure, 2 usage error (text or topics over the bounds, an unknown database), 78 invalid config."
    )]
    #[command(subcommand_precedence_over_arg = true)]
    Memories(memories_cmd::MemoriesArgs),
    /// List the tools each agent and team is offered, with their source (built-in or MCP server), after starting the MCP servers.
    #[command(
        after_help = "Examples:\n  agno-run tools examples/mcp.yaml\n  agno-run tools examples/mcp.yaml --agent clock --format json\n  agno-run tools configs/app.yaml --agent assistant\n\nThe MCP servers the agents use are started (stdio) or connected to (streamable HTTP), asked for their tools, and stopped again; nothing is run or stored.\nExit status: 0 listed, 1 an MCP server did not start (its tools are missing; why is on stderr), 2 an unknown agent, 78 invalid config."
    )]
    Tools(tools_cmd::ToolsArgs),
    /// Draw the config's structure: agents, teams, workflows and what they use, as Mermaid or DOT.
    #[command(
        after_help = "Examples:\n  agno-run graph configs/app.yaml\n  agno-run graph examples/workflows.yaml --format dot | dot -Tsvg > workflows.svg\n  agno-run graph examples/teams.yaml --format mermaid > graph.mmd\n\nNodes and edges are sorted, so the output is stable and a diff of it shows a change of structure. Nothing is opened, started or stored.\nExit status: 0 drawn, 78 invalid config."
    )]
    Graph(graph_cmd::GraphArgs),
    /// Print the resolved config (defaults applied, relative paths resolved, secrets hidden).
    #[command(
        after_help = "Examples:\n  agno-run config configs/app.yaml\n  AGNO_SERVER__PORT=8080 agno-run config configs/\n  agno-run config configs/ --host 0.0.0.0 --port 9000\n\nServer settings layer: files, then AGNO_SERVER__<KEY> variables, then these flags."
    )]
    Config(ConfigArgs),
}

/// Options of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config files or folders (all *.yaml / *.yml inside, sorted).
    #[arg(required_unless_present = "codes")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Do not check environment variables: missing `${VAR}`s become empty, `AGNO_SERVER__*` is ignored.
    #[arg(long)]
    pub no_env: bool,
    /// Fail (exit 78) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Validate each PATH as a config of its own instead of merging them into one.
    #[arg(long)]
    pub each: bool,
    /// List every diagnostic code and exit.
    #[arg(long, exclusive = true)]
    pub codes: bool,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Config files or folders; a leading (or trailing) `status` shows the state instead.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Only this database id.
    #[arg(long)]
    pub db: Option<String>,
    /// Print the SQL that would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of `status`.
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
    /// Seconds to wait for another migrator of the same database (0 to 86400).
    #[arg(long, default_value = "60", value_parser = parse_lock_timeout)]
    pub lock_timeout: std::time::Duration,
    /// With `status`: also fail (exit 1) when migrations are pending, not only when refused.
    #[arg(long)]
    pub check: bool,
    /// Do not check environment variables.
    #[arg(long)]
    pub no_env: bool,
}

/// Output format of `migrate status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// A table per database.
    Human,
    /// One JSON array of database states.
    Json,
}

/// Options of `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Override `server.host`.
    #[arg(long)]
    pub host: Option<String>,
    /// Override `server.port`.
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not check environment variables.
    #[arg(long)]
    pub no_env: bool,
}

/// `--lock-timeout`: seconds, finite, from 0 to a day (`inf`, `NaN` and negatives are refused).
fn parse_lock_timeout(text: &str) -> Result<std::time::Duration, String> {
    parse_seconds(text, 86_400.0)
}

/// A number of seconds from 0 to `max`, as a duration.
pub(crate) fn parse_seconds(text: &str, max: f64) -> Result<std::time::Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=max).contains(&secs) {
        return Err(format!("must be a number of seconds from 0 to {max}"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `agno-run CONFIG...` is `agno-run serve CONFIG...`: when the first argument (after global
/// options) is a config file or folder rather than a command, `serve` is put before it.
pub fn with_serve_shorthand(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut at = 1;
    while at < args.len() {
        let a = args[at].to_string_lossy();
        if a == "--log-format" {
            at += 2;
        } else if a.starts_with("--log-format=") {
            at += 1;
        } else {
            break;
        }
    }
    let Some(first) = args.get(at) else { return args };
    let path = PathBuf::from(first);
    let name = path.to_string_lossy().to_string();
    if name.starts_with('-') {
        return args;
    }
    // A folder named like a command (`run/`) is the command.
    if <Cli as clap::CommandFactory>::command().find_subcommand(&name).is_some() || name == "help" {
        return args;
    }
    let is_config = path.extension().is_some_and(|e| e == "yaml" || e == "yml") || path.is_dir();
    if !is_config {
        return args;
    }
    let mut out = args;
    out.insert(at, "serve".into());
    out
}

/// Starts tracing on stderr, filtered by `RUST_LOG` (default: warnings), and returns the
/// process's telemetry for the commands that run agents (`serve`, `run`, `chat`): its layers are
/// in the subscriber, idle until a config names a sink. The server starts its own subscriber
/// (`init_tracing_with`) once its config says which log format it wants.
pub fn init_tracing(cli: &Cli) -> Option<crate::telemetry::Telemetry> {
    let telemetry = matches!(cli.command, Command::Serve(_) | Command::Run(_) | Command::Chat(_))
        .then(crate::telemetry::Telemetry::new);
    if !matches!(cli.command, Command::Serve(_)) {
        init_tracing_with(cli.log_format, "warn", telemetry.as_ref());
    }
    telemetry
}

/// Starts tracing on stderr, filtered by `RUST_LOG`, else by `default_filter`, with the
/// telemetry layers when given. The runs' spans (`run::SPAN_TARGET`) never reach the log.
pub(crate) fn init_tracing_with(
    format: LogFormat,
    default_filter: &str,
    telemetry: Option<&crate::telemetry::Telemetry>,
) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // The MCP SDK logs what servers wrote (error bodies that may echo a secret header) before
    // agno-run can hide anything; `tool::mcp` reports those errors itself, redacted. Its logs
    // show only when RUST_LOG names `rmcp` explicitly.
    let names_rmcp = std::env::var("RUST_LOG").is_ok_and(|f| f.contains("rmcp"));
    if !names_rmcp && let Ok(off) = "rmcp=off".parse() {
        filter = filter.add_directive(off);
    }
    if let Ok(off) = format!("{}=off", crate::run::SPAN_TARGET).parse() {
        filter = filter.add_directive(off);
    }
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let fmt: crate::telemetry::BoxedLayer = match format {
        LogFormat::Text => Box::new(fmt.with_filter(filter)),
        LogFormat::Json => Box::new(fmt.json().with_filter(filter)),
    };
    let mut layers = vec![fmt];
    if let Some(t) = telemetry {
        layers.extend(t.layers());
    }
    // A second call (tests that run the CLI twice in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli, telemetry: Option<crate::telemetry::Telemetry>) -> ExitCode {
    let code = match cli.command {
        Command::Serve(args) => serve_cmd::run(args, cli.log_format, telemetry),
        Command::Validate(args) => validate(args),
        Command::Schema => schema(),
        Command::Config(args) => show_config(args),
        Command::Migrate(args) => migrate_cmd::run(args),
        Command::Run(args) => run_cmd::run(args, telemetry),
        Command::Chat(args) => run_cmd::chat(args, telemetry),
        Command::Sessions(args) => sessions_cmd::run(args),
        Command::Memories(args) => memories_cmd::run(args),
        Command::Tools(args) => tools_cmd::run(args),
        Command::Graph(args) => graph_cmd::run(args),
    };
    ExitCode::from(code)
}

pub(crate) fn write_out(text: &str) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            say!("error: cannot write to stdout: {e}");
            EXIT_FAILURE
        }
    }
}

/// How a command loads its config. `uses_server`: whether it reads the `server:` settings;
/// commands that do not (run, chat, sessions, migrate) ignore `AGNO_SERVER__*` variables, so a
/// stray one cannot break them.
pub(crate) fn load_options(no_env: bool, flags: ServerFlags, uses_server: bool) -> LoadOptions {
    let mut options = LoadOptions::from_process_env();
    if !uses_server {
        options.env.retain(|k, _| !k.starts_with(config::load::ENV_PREFIX));
    }
    options.env_mode = if no_env { EnvMode::Skip } else { EnvMode::Check };
    options.flags = flags;
    options
}

fn color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn validate(args: ValidateArgs) -> u8 {
    if args.codes {
        let mut text = String::new();
        for code in config::Code::ALL {
            text.push_str(&format!("{:<28} {:<8} {}\n", code.as_str(), code.severity().as_str(), code.describe()));
        }
        return write_out(&text);
    }
    let options = load_options(args.no_env, ServerFlags::default(), true);
    let groups: Vec<Vec<PathBuf>> =
        if args.each { args.paths.iter().map(|p| vec![p.clone()]).collect() } else { vec![args.paths.clone()] };
    let loads: Vec<config::Loaded> = groups.iter().map(|paths| config::load(paths, &options)).collect();
    for (paths, loaded) in groups.iter().zip(&loads) {
        tracing::debug!(?paths, files = loaded.report.sources.len(), errors = loaded.report.errors(), "validated");
    }
    let opts = RenderOptions { color: color(args.color), width: terminal_width() };
    let reports: Vec<&config::Report> = loads.iter().map(|l| &l.report).collect();
    let mut text = report::render(&reports, args.format, &opts);
    if args.format == Format::Human {
        for (paths, loaded) in groups.iter().zip(&loads) {
            if args.each {
                text.push_str(&format!("{}: ", paths[0].display()));
            }
            text.push_str(&report::summary(&loaded.report, loaded.config.as_ref(), args.deny_warnings));
        }
    }
    let written = write_out(&text);
    if loads.iter().any(|l| l.report.fails(args.deny_warnings)) { EXIT_CONFIG } else { written }
}

pub(crate) fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}

fn schema() -> u8 {
    let schema = config::schema::json_schema();
    write_out(&format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default()))
}

/// Loads a config for a command that needs a valid one; prints the diagnostics when invalid.
pub(crate) fn load_or_report(paths: &[PathBuf], no_env: bool) -> Result<crate::config::Config, u8> {
    valid_or_report(config::load(paths, &load_options(no_env, ServerFlags::default(), false)), false)
}

/// The config of `loaded`, or its diagnostics on stderr and `EXIT_CONFIG`; with `warnings`, a
/// valid config's warnings are printed too.
pub(crate) fn valid_or_report(loaded: config::Loaded, warnings: bool) -> Result<crate::config::Config, u8> {
    let opts = RenderOptions { color: std::io::stderr().is_terminal(), width: terminal_width() };
    match loaded.config {
        Some(c) => {
            if warnings && loaded.report.warnings() > 0 {
                say_part!("{}", report::render(&[&loaded.report], Format::Human, &opts));
            }
            Ok(c)
        }
        None => {
            say_part!("{}", report::render(&[&loaded.report], Format::Human, &opts));
            say_part!("{}", report::summary(&loaded.report, None, false));
            Err(EXIT_CONFIG)
        }
    }
}

/// A tokio runtime for commands that do I/O.
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
        say!("error: cannot start the async runtime: {e}");
        EXIT_FAILURE
    })
}

/// The first generation of `config` for this process: databases open on first use, migrated
/// first unless `no_migrate`, each migration applied printed on stderr.
pub(crate) fn generation(
    config: crate::config::Config,
    no_migrate: bool,
    telemetry: Option<crate::telemetry::Telemetry>,
) -> std::sync::Arc<crate::runtime::Generation> {
    let progress: crate::runtime::Progress = std::sync::Arc::new(|db, e| {
        if let crate::migrate::Event::Applied(m, d) = e {
            say!("migrated database `{}`: {} ({} ms)", db.id, m.name, d.as_millis());
        }
    });
    let options = crate::runtime::Options { migrate: !no_migrate, progress: Some(progress), ..Default::default() };
    crate::runtime::Generation::build(config, None, crate::runtime::Process::with_telemetry(telemetry), options)
}

/// Opens (migrating first, unless the generation was told not to) the database `db`; prints
/// why not, with what to do, on failure.
pub(crate) async fn open_store(generation: &crate::runtime::Generation, db: &str) -> Result<crate::store::Store, u8> {
    generation.store(db).await.map_err(|e| {
        say!("error: {e}");
        if let Some(help) = e.help() {
            say!("  help: {help}");
        }
        EXIT_FAILURE
    })
}

fn show_config(args: ConfigArgs) -> u8 {
    let flags = ServerFlags { host: args.host, port: args.port };
    let config = match valid_or_report(config::load(&args.paths, &load_options(args.no_env, flags, true)), true) {
        Ok(c) => c,
        Err(code) => return code,
    };
    write_out(&format!("{}\n", serde_json::to_string_pretty(&config.redacted()).unwrap_or_default()))
}
