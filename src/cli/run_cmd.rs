//! `agno-run run` and `agno-run chat`: runs from the command line, through the same runtime and
//! run lifecycle as every other surface. Ctrl-C, SIGTERM and SIGHUP cancel a run in progress
//! (stored CANCELLED) instead of killing the process.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, generation, load_or_report, tokio_runtime, write_out};
use crate::config::Config;
use crate::run::{Component, Event, EventKind, RunError, RunHandle, RunInput, RunRequest, SessionType};
use crate::runtime::{self, Generation};

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config files or folders, then the message (the last word; `-` reads it from stdin).
    #[arg(required = true, num_args = 1.., value_name = "CONFIG... MESSAGE")]
    pub args: Vec<String>,
    /// The agent to run.
    #[arg(long)]
    pub agent: Option<String>,
    /// A team to run (not built yet).
    #[arg(long, conflicts_with = "agent")]
    pub team: Option<String>,
    /// A workflow to run (not built yet).
    #[arg(long, conflicts_with_all = ["agent", "team"])]
    pub workflow: Option<String>,
    /// Continue this session (created when it does not exist).
    #[arg(long)]
    pub session: Option<String>,
    /// The user.
    #[arg(long)]
    pub user: Option<String>,
    /// Print one JSON object (run id, session id, status, content, metrics) instead of
    /// streaming; when the run fails, a JSON object with `error` (and the stored run, if any).
    #[arg(long)]
    pub json: bool,
    /// Do not migrate the databases first.
    #[arg(long)]
    pub no_migrate: bool,
}

/// Options of `chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The agent to chat with.
    #[arg(long)]
    pub agent: String,
    /// Continue this session.
    #[arg(long)]
    pub session: Option<String>,
    /// The user.
    #[arg(long)]
    pub user: Option<String>,
    /// Do not migrate the databases first.
    #[arg(long)]
    pub no_migrate: bool,
}

/// `text` with control characters escaped: what a user or a model wrote cannot move the
/// cursor or clear the terminal.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Text from a model or a tool as shown on stderr: at most 300 characters, escaped.
fn shown(text: &str) -> String {
    let mut out = escaped(&text.chars().take(300).collect::<String>());
    if text.chars().nth(300).is_some() {
        out.push('…');
    }
    out
}

fn print_event(e: &Event, stream_to_stdout: bool, root: &str) {
    let own = e.run_id == root;
    match &e.kind {
        EventKind::Content(text) if stream_to_stdout && own => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        EventKind::ToolCallStarted { name, arguments, .. } => say!("→ {}({})", shown(name), shown(arguments)),
        EventKind::ToolCallCompleted { name, result, error, .. } => {
            say!("{} {}: {}", if *error { "✗" } else { "←" }, shown(name), shown(result));
        }
        // Member and step runs: their start and end, on stderr.
        EventKind::RunStarted { .. } if !own => {
            say!("┌ {} {} started", e.component.kind, shown(e.component.id.as_deref().unwrap_or_default()))
        }
        EventKind::RunCompleted { .. } if !own => {
            say!("└ {} {} completed", e.component.kind, shown(e.component.id.as_deref().unwrap_or_default()))
        }
        EventKind::RunError { message } if !own => {
            say!(
                "└ {} {} failed: {}",
                e.component.kind,
                shown(e.component.id.as_deref().unwrap_or_default()),
                shown(message)
            )
        }
        EventKind::RunCancelled if !own => {
            say!("└ {} {} cancelled", e.component.kind, shown(e.component.id.as_deref().unwrap_or_default()))
        }
        EventKind::StepStarted { step, step_type } => say!("▶ step {} ({step_type}) started", shown(step)),
        EventKind::StepCompleted { step, success, duration, detail } => say!(
            "■ step {} {} in {duration:.2}s{}",
            shown(step),
            if *success { "completed" } else { "failed" },
            detail.as_deref().map(|d| format!(": {}", shown(d))).unwrap_or_default()
        ),
        _ => {}
    }
}

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Ctrl-C.
    Interrupt,
    /// SIGTERM or SIGHUP: the process is asked to end.
    Terminate,
}

/// The signals that stop a run, listened to from before the run starts, so that one that
/// arrives early cancels the run rather than killing the process.
pub(super) struct Signals {
    rx: mpsc::UnboundedReceiver<Stop>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A second signal came while a cancelled run was still ending: exit without waiting.
    forced: bool,
}

impl Signals {
    pub(super) fn install() -> Signals {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            for (kind, stop) in [
                (SignalKind::interrupt(), Stop::Interrupt),
                (SignalKind::terminate(), Stop::Terminate),
                (SignalKind::hangup(), Stop::Terminate),
            ] {
                match signal(kind) {
                    Ok(mut s) => {
                        let tx = tx.clone();
                        tasks.push(tokio::spawn(async move {
                            while s.recv().await.is_some() {
                                if tx.send(stop).is_err() {
                                    return;
                                }
                            }
                        }));
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen for a signal; it will kill the process"),
                }
            }
        }
        #[cfg(not(unix))]
        tasks.push(tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if tx.send(Stop::Interrupt).is_err() {
                    return;
                }
            }
        }));
        Signals { rx, tasks, forced: false }
    }

    /// A signal that arrived already, if any.
    fn arrived(&mut self) -> Option<Stop> {
        self.rx.try_recv().ok()
    }

    /// The next signal (pending forever when none can come).
    pub(super) async fn next(&mut self) -> Stop {
        match self.rx.recv().await {
            Some(s) => s,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn report_error(e: &RunError) {
    say!("error: {e}");
    if let RunError::Unavailable { help: Some(help), .. } = e {
        say!("  help: {help}");
    }
    match e.conflict() {
        Some(crate::run::Conflict::NotOwner { owned: true, .. }) => {
            say!("  help: pass --user with the session's owner, or use another --session")
        }
        Some(crate::run::Conflict::NotOwner { owned: false, .. }) => {
            say!("  help: leave out --user to continue it, or use another --session")
        }
        _ => {}
    }
    if let Some((_, session_id, status)) = e.stored() {
        say!("  the run is stored as {status} in session {session_id}");
    }
}

/// The component `--agent`, `--team` or `--workflow` names, checked against the config before
/// anything is opened.
pub(super) fn target(config: &Config, kind: SessionType, id: &str) -> Result<Component, u8> {
    let known: Vec<&String> = match kind {
        SessionType::Agent => config.agents.keys().collect(),
        SessionType::Team => config.teams.keys().collect(),
        SessionType::Workflow => config.workflows.keys().collect(),
    };
    if known.iter().any(|k| *k == id) {
        return Ok(Component::new(kind, id));
    }
    let e = RunError::Unknown { target: Component::new(kind, id), known: known.into_iter().cloned().collect() };
    say!("error: {e}");
    Err(EXIT_USAGE)
}

/// The database a top-level run of `target` writes to.
fn database_of(config: &Config, target: &Component) -> Option<String> {
    let id = target.id.as_deref()?;
    match target.kind {
        SessionType::Agent => config.agents.get(id).map(|a| a.db.clone()),
        SessionType::Team => config.teams.get(id).map(|t| t.db.clone()),
        SessionType::Workflow => config.workflows.get(id).map(|w| w.db.clone()),
    }
}

/// Opens (and migrates) the database `db`; a signal meanwhile (a wait for another migrator's
/// lock, a slow server) stops the command before anything runs.
/// With `json`, a failure is also printed as `{"error": …}` on stdout.
async fn open_or_interrupt(generation: &Generation, db: &str, signals: &mut Signals, json: bool) -> Result<(), u8> {
    let failed = |message: String| {
        if json {
            write_out(&format!("{}\n", serde_json::json!({"error": message, "status": serde_json::Value::Null})));
        }
        Err(EXIT_FAILURE)
    };
    tokio::select! {
        opened = generation.store(db) => match opened {
            Ok(_) => Ok(()),
            Err(e) => {
                say!("error: {e}");
                if let Some(help) = e.help() {
                    say!("  help: {help}");
                }
                failed(e.to_string())
            }
        },
        _ = signals.next() => {
            say!("error: interrupted while opening database `{db}`; nothing was run");
            failed(format!("interrupted while opening database `{db}`; nothing was run"))
        }
    }
}

/// Reads a run's events until it ends, printing them; a signal cancels it. Returns the result
/// and the signal that stopped it, if one did; None when a second signal asked to exit at once
/// (the run's end is then left to the next agno-run process that opens the database).
async fn follow(
    mut handle: RunHandle,
    signals: &mut Signals,
    stream_to_stdout: bool,
) -> Option<(Result<crate::run::RunOutput, RunError>, Option<Stop>)> {
    let mut stopped = None;
    let root = handle.run_id().to_string();
    loop {
        tokio::select! {
            event = handle.next_event() => match event {
                Some(e) => {
                    print_event(&e, stream_to_stdout, &root);
                    // The answer is shown at the run's end; what follows it (the memory update,
                    // the summary) is waited for before the process exits.
                    if e.run_id == root && e.kind.is_terminal() {
                        break;
                    }
                }
                None => break,
            },
            stop = signals.next() => {
                if stopped.is_some() {
                    signals.forced = true;
                    say!("\n(second signal: exiting now; the run is ended by the next agno-run process)");
                    return None;
                }
                stopped = Some(stop);
                handle.cancel();
            }
        }
    }
    Some((handle.result().await, stopped))
}

/// `agno-run run`.
pub(super) fn run(mut args: RunArgs, telemetry: Option<crate::telemetry::Telemetry>) -> u8 {
    let (kind, id) = match (&args.agent, &args.team, &args.workflow) {
        (Some(a), _, _) => (SessionType::Agent, a.clone()),
        (_, Some(t), _) => (SessionType::Team, t.clone()),
        (_, _, Some(w)) => (SessionType::Workflow, w.clone()),
        _ => {
            say!("error: give the agent to run with --agent ID");
            return EXIT_USAGE;
        }
    };
    let Some(mut message) = args.args.pop().filter(|_| !args.args.is_empty()) else {
        say!("error: give the message to send, after the config (`-` reads it from stdin)");
        return EXIT_USAGE;
    };
    if message == "-" {
        message = match read_stdin_message() {
            Ok(m) => m,
            Err(e) => {
                say!("error: {e}");
                return EXIT_USAGE;
            }
        };
    }
    let paths: Vec<PathBuf> = args.args.iter().map(PathBuf::from).collect();
    let config = match load_or_report(&paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = match target(&config, kind, &id) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let db = database_of(&config, &target).unwrap_or_default();
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = rt.block_on(async move {
        let mut signals = Signals::install();
        let generation = generation(config, args.no_migrate, telemetry);
        if let Err(code) = open_or_interrupt(&generation, &db, &mut signals, args.json).await {
            return code;
        }
        let input = RunInput {
            message,
            session_id: args.session,
            user_id: args.user,
            session_state: None,
            stream: !args.json,
            ..RunInput::default()
        };
        let json = args.json;
        let code = run_once(&generation, RunRequest { target, input, parent: None }, &mut signals, json).await;
        if !signals.forced {
            settle(&generation).await;
        }
        code
    });
    // Runs have ended (settle); blocking work still pending (a migration interrupted while it
    // waited for another migrator's lock) is not waited for.
    rt.shutdown_background();
    code
}

/// Most bytes read from stdin for `run -`: past it the message is refused (an agent's
/// `max_input_bytes` is at most 64 MiB).
const MAX_STDIN_MESSAGE: u64 = 64 * 1024 * 1024;

/// The message of `run -`: all of stdin, UTF-8, without its final newline.
fn read_stdin_message() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_MESSAGE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the message from stdin: {e}"))?;
    if bytes.len() as u64 > MAX_STDIN_MESSAGE {
        return Err(format!("the message on stdin is larger than {MAX_STDIN_MESSAGE} bytes"));
    }
    let mut text = String::from_utf8(bytes).map_err(|e| format!("the message on stdin is not UTF-8: {e}"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.trim().is_empty() {
        return Err("the message on stdin is empty".into());
    }
    Ok(text)
}

/// One line of `chat`'s input.
enum Line {
    Text(String),
    /// Longer than the bound: read past (never held whole) and not sent.
    TooLong,
    NotUtf8,
}

/// The next line of `r` without its line ending, holding at most `limit` bytes of it; None at
/// the end of the input.
async fn next_line(r: &mut (impl tokio::io::AsyncBufRead + Unpin), limit: u64) -> std::io::Result<Option<Line>> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    if (&mut *r).take(limit + 1).read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() as u64 > limit {
        loop {
            buf.clear();
            let n = (&mut *r).take(64 * 1024).read_until(b'\n', &mut buf).await?;
            if n == 0 || buf.last() == Some(&b'\n') {
                return Ok(Some(Line::TooLong));
            }
        }
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8(buf).map_or(Line::NotUtf8, Line::Text)))
}

/// The JSON object `run --json` prints for a run that failed or was refused.
fn error_json(e: &RunError) -> serde_json::Value {
    let mut v = serde_json::json!({"error": e.to_string(), "status": serde_json::Value::Null});
    if let Some(c) = e.conflict() {
        v["conflict"] = serde_json::json!(match c {
            crate::run::Conflict::NotOwner { .. } => "not_owner",
            crate::run::Conflict::WrongSession { .. } => "wrong_session",
            crate::run::Conflict::RunExists { .. } => "run_exists",
        });
    }
    if let Some((run_id, session_id, status)) = e.stored() {
        v["run_id"] = serde_json::json!(run_id);
        v["session_id"] = serde_json::json!(session_id);
        v["status"] = serde_json::json!(status);
    }
    v
}

async fn run_once(generation: &Arc<Generation>, request: RunRequest, signals: &mut Signals, json: bool) -> u8 {
    // A signal while the database was opened (or migrated): stop before anything runs.
    if signals.arrived().is_some() {
        say!("error: interrupted before the run started; nothing was run");
        return EXIT_FAILURE;
    }
    // Starting is one transaction; a signal that arrives meanwhile waits in `signals` and
    // cancels the run as soon as it exists.
    let handle = match runtime::start(generation, request).await {
        Ok(h) => h,
        Err(e) => {
            report_error(&e);
            if json {
                write_out(&format!("{}\n", error_json(&e)));
            }
            return EXIT_FAILURE;
        }
    };
    // Said as soon as the run exists, so that a run that never ends can still be found.
    say!("session: {}", escaped(handle.session_id()));
    say!("run: {}", handle.run_id());
    let Some((result, _)) = follow(handle, signals, !json).await else { return EXIT_FAILURE };
    match result {
        Ok(out) => {
            if json {
                let v = serde_json::json!({
                    "run_id": out.run.run_id, "session_id": out.session_id, "status": out.run.status,
                    "content": out.content, "metrics": out.run.run_data.get("metrics"), "run": out.run,
                });
                write_out(&format!("{v}\n"))
            } else {
                write_out("\n")
            }
        }
        Err(e) => {
            if json {
                write_out(&format!("{}\n", error_json(&e)));
            } else {
                write_out("\n");
            }
            report_error(&e);
            EXIT_FAILURE
        }
    }
}

/// Before exiting: lets runs still ending store their end (bounded), then removes this
/// process's runner rows.
async fn settle(generation: &Generation) {
    let registry = generation.process().registry();
    // Work after a run (a memory update, a summary) has its own deadline; runs get 10 s.
    let wait = if registry.after_runs() > 0 {
        tracing::info!(pending = registry.after_runs(), "waiting for the memory update and session summary to finish");
        crate::memory::DEADLINE
    } else {
        std::time::Duration::from_secs(10)
    };
    if tokio::time::timeout(wait, registry.idle()).await.is_err() {
        tracing::warn!(runs = registry.len(), "runs still ending at exit; the next agno-run process will end them");
    }
    // The runs' spans are exported before the process goes (bounded: a collector that does not
    // answer costs 5 s at most).
    if let Some(t) = generation.process().telemetry() {
        t.finish(std::time::Duration::from_secs(5)).await;
    }
    generation.process().close().await;
}

/// `agno-run chat`.
pub(super) fn chat(args: ChatArgs, telemetry: Option<crate::telemetry::Telemetry>) -> u8 {
    let config = match load_or_report(&args.paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = match target(&config, SessionType::Agent, &args.agent) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let db = database_of(&config, &target).unwrap_or_default();
    // A line is read up to what the agent accepts, never held whole past it.
    let max_line = config
        .agents
        .get(&args.agent)
        .and_then(|a| a.settings.max_input_bytes)
        .unwrap_or(crate::config::DEFAULT_MAX_INPUT_BYTES);
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = rt.block_on(async move {
        let mut signals = Signals::install();
        let generation = generation(config, args.no_migrate, telemetry);
        if let Err(code) = open_or_interrupt(&generation, &db, &mut signals, false).await {
            return code;
        }
        let code = chat_loop(&generation, &target, &args, max_line, &mut signals).await;
        if !signals.forced {
            settle(&generation).await;
        }
        code
    });
    // A blocking read of stdin may still be pending (a signal at the prompt): do not wait for it.
    rt.shutdown_background();
    code
}

async fn chat_loop(
    generation: &Arc<Generation>,
    target: &Component,
    args: &ChatArgs,
    max_line: u64,
    signals: &mut Signals,
) -> u8 {
    let mut session = args.session.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    say!(
        "chatting with `{}` in session {session} (Ctrl-D ends, Ctrl-C cancels a turn)",
        target.id.as_deref().unwrap_or_default()
    );
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    // Turns that were refused or failed: the chat then exits 1 (a script feeding it lines learns
    // that some were not answered). Cancelled turns are not failures.
    let mut failed = 0u32;
    loop {
        say_part!("> ");
        // At the prompt, Ctrl-C (like SIGTERM and SIGHUP) ends the chat, as Ctrl-D does.
        let next = tokio::select! {
            line = next_line(&mut stdin, max_line) => line,
            _ = signals.next() => Ok(None),
        };
        let line = match next {
            Ok(Some(Line::Text(l))) => l,
            Ok(Some(Line::TooLong)) => {
                say!(
                    "error: the line is longer than the {max_line} bytes agent `{}` accepts (`max_input_bytes`); it was not sent",
                    target.id.as_deref().unwrap_or_default()
                );
                failed += 1;
                continue;
            }
            Ok(Some(Line::NotUtf8)) => {
                say!("error: the line is not UTF-8; it was not sent");
                failed += 1;
                continue;
            }
            Ok(None) => {
                say!();
                if failed > 0 {
                    say!("({failed} turn(s) were refused or failed)");
                    return EXIT_FAILURE;
                }
                return EXIT_OK;
            }
            Err(e) => {
                say!("error: cannot read stdin: {e}");
                return EXIT_FAILURE;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let input = RunInput {
            message: line,
            session_id: Some(session.clone()),
            user_id: args.user.clone(),
            session_state: None,
            stream: true,
            ..RunInput::default()
        };
        let request = RunRequest { target: target.clone(), input, parent: None };
        let handle = match runtime::start(generation, request).await {
            Ok(h) => h,
            Err(e) => {
                report_error(&e);
                failed += 1;
                continue;
            }
        };
        let Some((result, stopped)) = follow(handle, signals, true).await else { return EXIT_FAILURE };
        write_out("\n");
        match result {
            Ok(out) => session = out.session_id,
            Err(RunError::Cancelled { .. }) => say!("(cancelled; stored as CANCELLED)"),
            Err(e) => {
                report_error(&e);
                failed += 1;
            }
        }
        if stopped == Some(Stop::Terminate) {
            say!("(asked to end: the chat stops)");
            return EXIT_FAILURE;
        }
    }
}
