//! `agno-run sessions`: list, show, runs, delete and rename stored sessions.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{EXIT_FAILURE, EXIT_USAGE, generation, load_or_report, open_store, tokio_runtime, write_out};
use crate::store::{Conflict, SessionQuery, SessionType, Store, StoreError};

/// Options of `sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
    /// The database (default: the agent's, else `default_db`, else the only one).
    #[arg(long, global = true)]
    pub db: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = SessionsFormat::Human)]
    pub format: SessionsFormat,
    /// The user acting: `show`, `runs`, `rename` and `delete` are refused on a session of
    /// another user (or, without --user, on a session that has one); `list --user` lists only theirs.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Do not migrate the databases first.
    #[arg(long, global = true)]
    pub no_migrate: bool,
}

/// Output format of `sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SessionsFormat {
    /// Readable text.
    Human,
    /// JSON: `list` gives `{items, total, page, limit}`; `show` the session with its `runs`; `runs` an array of runs.
    Json,
    /// JSON lines (`export`): one session per line.
    Jsonl,
}

/// A `sessions` action.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Sessions, newest first (runs are not loaded).
    #[command(
        after_help = "Examples:\n  agno-run sessions configs/app.yaml list\n  agno-run sessions configs/app.yaml list --agent assistant --user alice --limit 50 --page 2\n  agno-run sessions configs/app.yaml list --format json"
    )]
    List {
        /// Only this agent's sessions.
        #[arg(long)]
        agent: Option<String>,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// 1-based page.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
    },
    /// One session: its row and a line per run.
    #[command(
        after_help = "Examples:\n  agno-run sessions configs/app.yaml show SESSION_ID\n  agno-run sessions configs/app.yaml show SESSION_ID --format json"
    )]
    Show {
        /// Session id.
        id: String,
    },
    /// The runs of a session with their messages.
    #[command(
        after_help = "Examples:\n  agno-run sessions configs/app.yaml runs SESSION_ID\n  agno-run sessions configs/app.yaml runs SESSION_ID --format json"
    )]
    Runs {
        /// Session id.
        id: String,
    },
    /// Sessions with their runs (messages, tool calls, metrics) and traces, one JSON object per
    /// line (`{"session", "runs", "traces"}`), oldest first: evaluation sets, few-shot examples.
    #[command(
        after_help = "Examples:\n  agno-run sessions configs/app.yaml export > sessions.jsonl\n  agno-run sessions configs/app.yaml export --agent assistant --user alice --since 2026-12-01 --format jsonl\n  agno-run sessions configs/app.yaml export --team desk --until 2026-12-31T23:59:59Z | jq -c .session.session_id"
    )]
    Export {
        /// Only this agent's sessions.
        #[arg(long, conflicts_with_all = ["team", "workflow"])]
        agent: Option<String>,
        /// Only this team's sessions.
        #[arg(long, conflicts_with = "workflow")]
        team: Option<String>,
        /// Only this workflow's sessions.
        #[arg(long)]
        workflow: Option<String>,
        /// Only sessions created at or after this time (`2026-12-01`, RFC 3339, or epoch seconds).
        #[arg(long, value_parser = parse_when)]
        since: Option<i64>,
        /// Only sessions created at or before this time (`2026-12-31`, RFC 3339, or epoch seconds).
        #[arg(long, value_parser = parse_when)]
        until: Option<i64>,
    },
    /// Delete a session and its runs.
    #[command(after_help = "Examples:\n  agno-run sessions configs/app.yaml delete SESSION_ID")]
    Delete {
        /// Session id.
        id: String,
    },
    /// Set a session's name.
    #[command(after_help = "Examples:\n  agno-run sessions configs/app.yaml rename SESSION_ID \"Trip planning\"")]
    Rename {
        /// Session id.
        id: String,
        /// The new name.
        name: String,
    },
}

/// Runs the command.
pub(super) fn run(args: SessionsArgs) -> u8 {
    let config = match load_or_report(&args.paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let agent_db = match &args.action {
        // Checked before any database is opened or created, as `run` does.
        Action::List { agent: Some(a), .. } => match super::run_cmd::target(&config, SessionType::Agent, a) {
            Ok(_) => config.agents.get(a).map(|agent| agent.db.clone()),
            Err(code) => return code,
        },
        Action::Export { .. } => match export_component(&args.action) {
            Some((kind, id)) => match super::run_cmd::target(&config, kind, id) {
                Ok(_) => match kind {
                    SessionType::Agent => config.agents.get(id).map(|c| c.db.clone()),
                    SessionType::Team => config.teams.get(id).map(|c| c.db.clone()),
                    SessionType::Workflow => config.workflows.get(id).map(|c| c.db.clone()),
                },
                Err(code) => return code,
            },
            None => None,
        },
        _ => None,
    };
    let db = args.db.clone().or(agent_db).or_else(|| config.agents.values().next().map(|a| a.db.clone()));
    let db = db.or_else(|| config.databases.keys().next().cloned()).unwrap_or_default();
    if !config.databases.contains_key(&db) {
        let known: Vec<&str> = config.databases.keys().map(String::as_str).collect();
        say!("error: no database `{db}` in the config; databases: {}", known.join(", "));
        return EXIT_USAGE;
    }
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let generation = generation(config, args.no_migrate, None);
        let store = match open_store(&generation, &db).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        if let Action::Export { since, until, .. } = args.action {
            let component = export_component(&args.action).map(|(kind, id)| (kind, id.to_string()));
            let q = SessionQuery {
                session_type: component.as_ref().map(|c| c.0),
                component_id: component.map(|c| c.1),
                user_id: args.user.clone(),
                created_after: since,
                created_before: until,
                sort_by: crate::store::SortBy::CreatedAt,
                ascending: true,
                ..SessionQuery::default()
            };
            return match export(&store, q, args.format == SessionsFormat::Json).await {
                Ok(n) => {
                    say!("exported {n} session(s) from database `{db}`");
                    super::EXIT_OK
                }
                Err(e) => {
                    say!("error: {e}");
                    EXIT_FAILURE
                }
            };
        }
        match act(&store, args.action, args.format, args.user.as_deref()).await {
            Ok(text) => write_out(&text),
            Err(StoreError::NotFound { what, id }) => {
                say!("error: {what} `{id}` not found in database `{db}`");
                EXIT_FAILURE
            }
            Err(e @ StoreError::Conflict(Conflict::NotOwner { owned, .. })) => {
                say!("error: {e}");
                if owned {
                    say!("  help: pass --user with the session's owner (`sessions list` shows each session's user)");
                } else {
                    say!("  help: leave out --user for a session without a user");
                }
                EXIT_FAILURE
            }
            Err(e) => {
                say!("error: {e}");
                EXIT_FAILURE
            }
        }
    })
}

/// The agent, team or workflow an `export` is limited to (clap lets at most one be given).
fn export_component(action: &Action) -> Option<(SessionType, &str)> {
    match action {
        Action::Export { agent: Some(a), .. } => Some((SessionType::Agent, a)),
        Action::Export { team: Some(t), .. } => Some((SessionType::Team, t)),
        Action::Export { workflow: Some(w), .. } => Some((SessionType::Workflow, w)),
        _ => None,
    }
}

/// `--since`/`--until`: a date (`2026-12-01`, midnight UTC), an RFC 3339 time, or epoch seconds.
fn parse_when(v: &str) -> Result<i64, String> {
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(t) = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, day)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("`{v}` is not a date (2026-12-01), an RFC 3339 time or epoch seconds"))
}

/// Sessions per page of the export: the sessions of one page are held at once, with their runs.
const EXPORT_PAGE: u32 = 100;
/// Most traces exported per session.
const EXPORT_TRACES: u32 = 1000;

/// Writes the sessions matching `q` to stdout as they are read, one JSON line each (`array`:
/// one JSON array instead). Returns how many.
async fn export(store: &Store, mut q: SessionQuery, array: bool) -> Result<u64, StoreError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    // A reader that stops early (`| head`) ends the export, as a pipe's writer should: not an error.
    let io = |e: std::io::Error| StoreError::Backend {
        backend: "stdout",
        action: "write the export".into(),
        message: e.to_string(),
    };
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    macro_rules! put {
        ($r:expr) => {
            match $r {
                Ok(()) => {}
                Err(e) if gone(&e) => return Ok(n),
                Err(e) => return Err(io(e)),
            }
        };
    }
    if array {
        put!(out.write_all(b"["));
    }
    q.limit = Some(EXPORT_PAGE);
    let mut page = 1;
    loop {
        q.page = Some(page);
        let sessions = store.list_sessions(&q).await?;
        for s in &sessions.items {
            let runs = store.list_runs(&s.session_id).await?;
            let tq = crate::store::traces::TraceQuery {
                eq: vec![("session_id", s.session_id.clone())],
                limit: EXPORT_TRACES,
                page: 1,
                ..Default::default()
            };
            // A database without trace tables (never migrated to V4) exports no traces.
            let traces = store.list_traces(&tq).await.map(|p| p.items).unwrap_or_default();
            let mut trace_values = Vec::with_capacity(traces.len());
            for t in traces.iter().rev() {
                let spans = store.trace_spans(&t.trace.trace_id).await.unwrap_or_default();
                trace_values.push(trace_json(t, &spans));
            }
            let line = json!({"session": s, "runs": runs_json(&runs), "traces": trace_values});
            if array && n > 0 {
                put!(out.write_all(b","));
            }
            put!(serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from));
            if !array {
                put!(out.write_all(b"\n"));
            }
            n += 1;
        }
        if u64::from(page) * u64::from(EXPORT_PAGE) >= sessions.total || sessions.items.is_empty() {
            break;
        }
        page += 1;
    }
    if array {
        put!(out.write_all(b"]\n"));
    }
    put!(out.flush());
    Ok(n)
}

/// One exported trace: its row, counts and spans.
fn trace_json(t: &crate::store::traces::TraceSummary, spans: &[crate::store::traces::SpanRow]) -> Value {
    let r = &t.trace;
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            json!({
                "span_id": s.span_id, "trace_id": s.trace_id, "parent_span_id": s.parent_span_id, "name": s.name,
                "span_kind": s.span_kind, "status_code": s.status_code, "status_message": s.status_message,
                "start_time": s.start_time, "end_time": s.end_time, "duration_ms": s.duration_ms,
                "attributes": s.attributes,
            })
        })
        .collect();
    json!({
        "trace_id": r.trace_id, "name": r.name, "status": r.status, "start_time": r.start_time, "end_time": r.end_time,
        "duration_ms": r.duration_ms, "run_id": r.run_id, "session_id": r.session_id, "user_id": r.user_id,
        "agent_id": r.agent_id, "team_id": r.team_id, "workflow_id": r.workflow_id, "total_spans": t.total_spans,
        "error_count": t.error_count, "spans": spans,
    })
}

/// A stored epoch time (seconds) as a UTC date and time, `2026-12-02 04:18 UTC`; a value out of
/// range is shown as the number it is.
fn when(epoch: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| epoch.to_string())
}

fn runs_json(runs: &[crate::store::Run]) -> Value {
    Value::Array(runs.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect())
}

/// `sessions runs` for people: each top-level run with its messages, member runs indented
/// under the run that started them, a workflow run's step results as a tree.
fn runs_tree(runs: &[crate::store::Run]) -> String {
    let mut t = String::new();
    let ids: std::collections::HashSet<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    // Runs whose parent is not in the session (or has none) are roots.
    let roots = runs.iter().filter(|r| r.parent_run_id.as_deref().is_none_or(|p| !ids.contains(p)));
    for r in roots {
        run_lines(runs, r, 0, &mut t);
    }
    t
}

fn run_lines(all: &[crate::store::Run], r: &crate::store::Run, depth: usize, t: &mut String) {
    if depth > 16 {
        return;
    }
    let pad = "  ".repeat(depth);
    let who = r.agent_id.as_deref().or(r.team_id.as_deref()).or(r.workflow_id.as_deref()).unwrap_or("-");
    t.push_str(&format!(
        "{pad}run #{} {} {} {} {}\n",
        r.run_index.unwrap_or(-1),
        r.run_type.as_str(),
        who,
        r.run_id,
        r.status.map_or("-", |s| s.as_str())
    ));
    for m in r.run_data.get("messages").and_then(Value::as_array).into_iter().flatten() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("?");
        let content = m.get("content").and_then(Value::as_str).unwrap_or("");
        let indent = format!("\n{pad}             ");
        t.push_str(&format!("{pad}  {role:>9}: {}\n", content.replace('\n', &indent)));
        for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let name = call.pointer("/function/name").and_then(Value::as_str).unwrap_or("?");
            let args = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("");
            t.push_str(&format!("{pad}             → {name}({args})\n"));
        }
    }
    if let Some(steps) = r.run_data.get("step_results").and_then(Value::as_array) {
        t.push_str(&format!("{pad}  input: {}\n", r.run_data.get("input").and_then(Value::as_str).unwrap_or("")));
        for s in steps {
            step_lines(s, depth + 1, t);
        }
        t.push_str(&format!("{pad}  content: {}\n", r.run_data.get("content").and_then(Value::as_str).unwrap_or("")));
    }
    for child in all.iter().filter(|c| c.parent_run_id.as_deref() == Some(r.run_id.as_str())) {
        run_lines(all, child, depth + 1, t);
    }
}

fn step_lines(s: &Value, depth: usize, t: &mut String) {
    if depth > 32 {
        return;
    }
    let pad = "  ".repeat(depth);
    let ok = if s.get("success").and_then(Value::as_bool).unwrap_or(true) { "ok" } else { "FAILED" };
    let content: String = s.get("content").and_then(Value::as_str).unwrap_or("").chars().take(100).collect();
    t.push_str(&format!(
        "{pad}step {} ({}{}) {ok}: {}\n",
        s.get("step_name").and_then(Value::as_str).unwrap_or("?"),
        s.get("step_type").and_then(Value::as_str).unwrap_or("?"),
        s.get("executor_name").and_then(Value::as_str).map(|n| format!(", {n}")).unwrap_or_default(),
        content.replace('\n', " ")
    ));
    for inner in s.get("steps").and_then(Value::as_array).into_iter().flatten() {
        step_lines(inner, depth + 1, t);
    }
}

async fn act(store: &Store, action: Action, format: SessionsFormat, user: Option<&str>) -> Result<String, StoreError> {
    let json_out = matches!(format, SessionsFormat::Json | SessionsFormat::Jsonl);
    let user_id = user.map(str::to_string);
    Ok(match action {
        // Written as it is read, by `export`.
        Action::Export { .. } => String::new(),
        Action::List { agent, limit, page } => {
            let q = SessionQuery {
                session_type: agent.as_ref().map(|_| SessionType::Agent),
                component_id: agent,
                user_id,
                limit: Some(limit),
                page: Some(page),
                ..Default::default()
            };
            let p = store.list_sessions(&q).await?;
            if json_out {
                format!("{}\n", serde_json::to_string_pretty(&p).unwrap_or_default())
            } else {
                let mut t = format!(
                    "{} session(s), page {} of {}\n",
                    p.total,
                    p.page,
                    p.total.div_ceil(u64::from(p.limit)).max(1)
                );
                for s in &p.items {
                    let owner =
                        s.agent_id.as_deref().or(s.team_id.as_deref()).or(s.workflow_id.as_deref()).unwrap_or("-");
                    t.push_str(&format!(
                        "{:<38} {:<9} {:<16} user {:<12} {}  {}\n",
                        s.session_id,
                        s.session_type,
                        owner,
                        s.user_id.as_deref().unwrap_or("-"),
                        when(s.updated_at.unwrap_or(s.created_at)),
                        s.session_name().unwrap_or("")
                    ));
                }
                t
            }
        }
        Action::Show { id } => {
            let (s, runs) = store.get_session_with_runs(&id, user).await?;
            if json_out {
                let mut v = serde_json::to_value(&s).unwrap_or_default();
                v["runs"] = runs_json(&runs);
                format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
            } else {
                let mut t = format!(
                    "session {} ({}, user {})\ncreated: {}, updated: {}\nname: {}\nstate: {}\n{} run(s):\n",
                    s.session_id,
                    s.session_type,
                    s.user_id.as_deref().unwrap_or("-"),
                    when(s.created_at),
                    when(s.updated_at.unwrap_or(s.created_at)),
                    s.session_name().unwrap_or("-"),
                    s.session_state().map(|m| Value::Object(m.clone())).unwrap_or(json!({})),
                    runs.len()
                );
                for r in &runs {
                    let content: String =
                        r.run_data.get("content").and_then(Value::as_str).unwrap_or("").chars().take(80).collect();
                    t.push_str(&format!(
                        "  #{:<4} {:<10} {} {}  {}\n",
                        r.run_index.unwrap_or(-1),
                        r.status.map_or("-", |s| s.as_str()),
                        when(r.created_at),
                        r.run_id,
                        content.replace('\n', " ")
                    ));
                }
                t
            }
        }
        Action::Runs { id } => {
            store.get_session(&id, user).await?;
            let runs = store.list_runs(&id).await?;
            if json_out {
                format!("{}\n", serde_json::to_string_pretty(&runs_json(&runs)).unwrap_or_default())
            } else {
                runs_tree(&runs)
            }
        }
        Action::Delete { id } => {
            store.delete_session(&id, user).await?;
            if json_out { format!("{}\n", json!({"deleted": id})) } else { format!("deleted session {id}\n") }
        }
        Action::Rename { id, name } => {
            let s = store.rename_session(&id, &name, user).await?;
            if json_out {
                format!("{}\n", serde_json::to_string_pretty(&s).unwrap_or_default())
            } else {
                format!("renamed session {id} to {name:?}\n")
            }
        }
    })
}
