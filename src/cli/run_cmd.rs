//! `agno-run run` and `agno-run chat`: agent runs from the command line.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_or_report, start_runtime, tokio_runtime, write_out};
use crate::agent::{Agent, Event, RunError, RunInput};

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config files or folders, then the message (the last word).
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
    /// Print one JSON object (run id, session id, status, content, metrics) instead of streaming.
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

fn print_event(e: &Event, stream_to_stdout: bool) {
    match e {
        Event::Content(text) if stream_to_stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        Event::ToolCallStarted { name, arguments } => eprintln!("→ {name}({arguments})"),
        Event::ToolCallCompleted { name, result, error } => {
            let shown: String = result.chars().take(300).collect();
            eprintln!("{} {name}: {shown}", if *error { "✗" } else { "←" });
        }
        _ => {}
    }
}

/// A token cancelled by the next Ctrl-C. The handler is installed before this returns, so a
/// Ctrl-C that arrives while the run starts cancels it rather than killing the process.
fn cancel_on_interrupt() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    #[cfg(unix)]
    let task = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        Ok(mut sigint) => tokio::spawn(async move {
            if sigint.recv().await.is_some() {
                token.cancel();
            }
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C; a run cannot be cancelled");
            tokio::spawn(async {})
        }
    };
    #[cfg(not(unix))]
    let task = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            token.cancel();
        }
    });
    (cancel, task)
}

fn report_error(e: &RunError) {
    eprintln!("error: {e}");
    match e {
        RunError::Model { session_id, .. } | RunError::Malformed { session_id, .. } => {
            eprintln!("  the run is stored as ERROR in session {session_id}");
        }
        RunError::Cancelled { session_id, .. } => eprintln!("  the run is stored as CANCELLED in session {session_id}"),
        RunError::Store(_) => {}
    }
}

fn find_agent(runtime: &crate::runtime::Runtime, id: &str) -> Result<Agent, u8> {
    runtime.agent(id).ok_or_else(|| {
        let known: Vec<&str> = runtime.config().agents.keys().map(String::as_str).collect();
        eprintln!("error: no agent `{id}` in the config; agents: {}", known.join(", "));
        EXIT_USAGE
    })
}

/// `agno-run run`.
pub(super) fn run(mut args: RunArgs) -> u8 {
    if args.team.is_some() || args.workflow.is_some() {
        eprintln!("error: running teams and workflows is not built yet; run an agent with --agent");
        return EXIT_FAILURE;
    }
    let Some(agent_id) = args.agent.clone() else {
        eprintln!("error: give the agent to run with --agent ID");
        return EXIT_USAGE;
    };
    let Some(message) = args.args.pop().filter(|_| !args.args.is_empty()) else {
        eprintln!("error: give the message to send, after the config");
        return EXIT_USAGE;
    };
    let paths: Vec<PathBuf> = args.args.iter().map(PathBuf::from).collect();
    let config = match load_or_report(&paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let runtime = match start_runtime(config, args.no_migrate).await {
            Ok(r) => r,
            Err(code) => return code,
        };
        let agent = match find_agent(&runtime, &agent_id) {
            Ok(a) => a,
            Err(code) => return code,
        };
        let input =
            RunInput { message, session_id: args.session, user_id: args.user, session_state: None, stream: !args.json };
        let (cancel, ctrl_c) = cancel_on_interrupt();
        let json = args.json;
        let result = agent.run(input, &mut |e| print_event(&e, !json), &cancel).await;
        ctrl_c.abort();
        match result {
            Ok(out) => {
                if json {
                    let v = serde_json::json!({
                        "run_id": out.run.run_id, "session_id": out.session_id, "status": out.run.status,
                        "content": out.content, "metrics": out.run.run_data.get("metrics"),
                    });
                    write_out(&format!("{v}\n"))
                } else {
                    let code = write_out("\n");
                    eprintln!("session: {}", out.session_id);
                    code
                }
            }
            Err(e) => {
                report_error(&e);
                EXIT_FAILURE
            }
        }
    })
}

/// `agno-run chat`.
pub(super) fn chat(args: ChatArgs) -> u8 {
    let config = match load_or_report(&args.paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = rt.block_on(async move {
        let runtime = match start_runtime(config, args.no_migrate).await {
            Ok(r) => r,
            Err(code) => return code,
        };
        let agent = match find_agent(&runtime, &args.agent) {
            Ok(a) => a,
            Err(code) => return code,
        };
        let mut session = args.session.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        eprintln!("chatting with `{}` in session {session} (Ctrl-D ends, Ctrl-C cancels a turn)", agent.config.id);
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            eprint!("> ");
            // Once a turn has installed the Ctrl-C handler, Ctrl-C no longer kills the process: at
            // the prompt it ends the chat, as Ctrl-D does.
            let next = tokio::select! {
                line = lines.next_line() => line,
                _ = tokio::signal::ctrl_c() => Ok(None),
            };
            let line = match next {
                Ok(Some(l)) => l,
                Ok(None) => {
                    eprintln!();
                    return EXIT_OK;
                }
                Err(e) => {
                    eprintln!("error: cannot read stdin: {e}");
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
            };
            let (cancel, watcher) = cancel_on_interrupt();
            let result = agent.run(input, &mut |e| print_event(&e, true), &cancel).await;
            watcher.abort();
            write_out("\n");
            match result {
                Ok(out) => session = out.session_id,
                Err(RunError::Cancelled { .. }) => eprintln!("(cancelled; stored as CANCELLED)"),
                Err(e) => report_error(&e),
            }
        }
    });
    // A blocking read of stdin may still be pending (Ctrl-C at the prompt): do not wait for it.
    rt.shutdown_background();
    code
}
