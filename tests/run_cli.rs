//! Black-box tests of `agno-run run`, `chat` and `sessions`: what goes to stdout and stderr,
//! exit codes, and what lands in the SQLite file (inspected with rusqlite, never through
//! agno-run).
//!
//! Models are offline: the `scripted` provider, or the `openai` provider pointed at a local
//! port that refuses connections or at a tiny HTTP server started by the test. Every process
//! starts from an empty environment (plus `PATH`) and has a timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "support/cli.rs"]
mod cli;

use cli::{BIN, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Out, agno, exec};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tempfile::TempDir;

/// Two offline agents: `echo` repeats the message; `calc` calls the calculator, then answers.
const APP: &str = r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
models:
  echo: {provider: scripted}
  calc:
    provider: scripted
    replies:
      - {tool_calls: [{name: calculator, arguments: {expression: "6*7"}}]}
      - "The answer is 42."
agents:
  echo: {name: Echo, model: echo, db: local}
  calc: {name: Calculator, model: calc, db: local, tools: [calculator]}
"#;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `agno-run ARGS...` in `dir`.
fn agno_run(dir: &Path, args: &[&str]) -> Out {
    exec(agno(dir).args(args))
}

/// A temp dir holding `app.yaml` with `yaml`.
fn setup(yaml: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.yaml"), yaml).unwrap();
    dir
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("agno.db")
}

/// A read-only connection to the test's SQLite file.
fn db(dir: &Path) -> Connection {
    let c = Connection::open_with_flags(db_path(dir), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// One stored run row.
#[derive(Debug)]
struct RunRow {
    run_id: String,
    session_id: String,
    run_index: Option<i64>,
    status: Option<String>,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_data: Value,
}

fn json_col(text: Option<String>) -> Value {
    text.map(|t| serde_json::from_str(&t).unwrap()).unwrap_or(Value::Null)
}

/// Every run row, ordered by session then `run_index`.
fn all_runs(c: &Connection) -> rusqlite::Result<Vec<RunRow>> {
    let mut stmt = c.prepare(
        "SELECT run_id, session_id, run_index, status, user_id, agent_id, run_data FROM agno_runs \
         ORDER BY session_id, run_index",
    )?;
    stmt.query_map([], |r| {
        Ok(RunRow {
            run_id: r.get(0)?,
            session_id: r.get(1)?,
            run_index: r.get(2)?,
            status: r.get(3)?,
            user_id: r.get(4)?,
            agent_id: r.get(5)?,
            run_data: json_col(r.get(6)?),
        })
    })?
    .collect()
}

fn runs(dir: &Path) -> Vec<RunRow> {
    all_runs(&db(dir)).unwrap()
}

fn runs_of(dir: &Path, session: &str) -> Vec<RunRow> {
    runs(dir).into_iter().filter(|r| r.session_id == session).collect()
}

/// One stored session row.
#[derive(Debug)]
struct SessionRow {
    session_id: String,
    session_type: String,
    agent_id: Option<String>,
    user_id: Option<String>,
    session_data: Value,
    agent_data: Value,
}

fn sessions(dir: &Path) -> Vec<SessionRow> {
    let c = db(dir);
    let mut stmt = c
        .prepare(
            "SELECT session_id, session_type, agent_id, user_id, session_data, agent_data FROM agno_sessions \
             ORDER BY created_at, session_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(SessionRow {
            session_id: r.get(0)?,
            session_type: r.get(1)?,
            agent_id: r.get(2)?,
            user_id: r.get(3)?,
            session_data: json_col(r.get(4)?),
            agent_data: json_col(r.get(5)?),
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The session id from the `session: <id>` line on stderr.
fn session_from_stderr(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("session: "))
        .unwrap_or_else(|| panic!("no `session: <id>` line on stderr:\n{stderr}"))
        .trim()
        .to_string()
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The roles and contents of a run's stored messages.
fn messages(run: &RunRow) -> Vec<(String, String)> {
    run.run_data["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("run_data.messages is not an array: {:#}", run.run_data))
        .iter()
        .map(|m| (m["role"].as_str().unwrap_or("?").to_string(), m["content"].as_str().unwrap_or("").to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A local OpenAI-compatible server that never answers the first request
// ---------------------------------------------------------------------------------------------

/// A chat-completions server on 127.0.0.1: the first connection is held open and never
/// answered; every later request gets a streamed answer `fine`. The bodies of the answered
/// requests are sent on the returned channel.
fn slow_server() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            if n == 0 {
                held.push(stream);
                continue;
            }
            let tx = tx.clone();
            std::thread::spawn(move || answer(stream, &tx));
        }
    });
    (port, rx)
}

/// Reads one HTTP request and answers it with a streamed completion `fine`.
fn answer(mut stream: TcpStream, tx: &mpsc::Sender<String>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < header_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = tx.send(String::from_utf8_lossy(&buf[header_end..]).into_owned());
    let events = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"fine\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{events}",
        events.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn slow_config(port: u16) -> String {
    format!(
        "version: 1
databases:
  local: {{type: sqlite, db_file: agno.db}}
models:
  slow: {{provider: openai, id: slow-model, base_url: \"http://127.0.0.1:{port}/v1\", api_key: k, max_retries: 0, timeout: 30}}
agents:
  slow: {{model: slow, db: local, add_history_to_context: true}}
"
    )
}

/// Spawns the binary in `dir` with piped stdio and an empty environment (plus `PATH`).
/// A `chat` with the slow agent whose first turn is RUNNING.
fn chat_in_a_slow_turn(dir: &Path) -> Child {
    let mut child = spawn(dir, &["chat", "app.yaml", "--agent", "slow"]);
    child.stdin.as_mut().unwrap().write_all(b"slow question\n").unwrap();
    wait_for_runs(dir, 20, "a RUNNING run", |rows| rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING"));
    child
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_clear().current_dir(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.spawn().unwrap()
}

/// Polls the SQLite file until `pred` holds for its runs, or panics after `secs`.
fn wait_for_runs(dir: &Path, secs: u64, what: &str, pred: impl Fn(&[RunRow]) -> bool) -> Vec<RunRow> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if db_path(dir).exists()
            && let Ok(c) = Connection::open_with_flags(db_path(dir), OpenFlags::SQLITE_OPEN_READ_ONLY)
            && let Ok(rows) = all_runs(&c)
            && pred(&rows)
        {
            return rows;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigint(child: &Child) {
    signal(child, "INT");
}

fn signal(child: &Child, name: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// The rows of the runner table (pid, host), when the table exists.
fn runner_rows(dir: &Path) -> Vec<(i64, String)> {
    let c = db(dir);
    let mut stmt = c.prepare("SELECT pid, host FROM agno_run_runners ORDER BY started_at").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

/// Waits for the child to exit (killing it after `secs`) and collects its output.
fn finish(mut child: Child, secs: u64) -> Out {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the process did not exit within {secs} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let out = Out { code: status.code(), stdout, stderr };
    assert!(!out.stderr.contains("panicked"), "the binary panicked:\n{out:?}");
    out
}

// ---------------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------------

#[test]
fn run_prints_the_answer_and_stores_the_run() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "hello there"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "hello there", "{r:?}");
    let session = session_from_stderr(&r.stderr);
    assert!(!session.is_empty());

    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let run = &rows[0];
    assert_eq!(run.session_id, session);
    assert_eq!(run.status.as_deref(), Some("COMPLETED"));
    assert_eq!(run.run_index, Some(0));
    assert_eq!(run.agent_id.as_deref(), Some("echo"));
    assert_eq!(run.run_data["status"], "COMPLETED");
    assert_eq!(run.run_data["content"], "hello there");
    assert_eq!(run.run_data["run_id"], run.run_id.as_str());
    assert_eq!(run.run_data["session_id"], session.as_str());
    let msgs = messages(run);
    assert!(msgs.contains(&("user".into(), "hello there".into())), "{msgs:?}");
    assert!(msgs.contains(&("assistant".into(), "hello there".into())), "{msgs:?}");

    let ss = sessions(dir.path());
    assert_eq!(ss.len(), 1, "{ss:#?}");
    assert_eq!(ss[0].session_id, session);
    assert_eq!(ss[0].session_type, "agent");
    assert_eq!(ss[0].agent_id.as_deref(), Some("echo"));
    assert_eq!(ss[0].user_id, None);
    assert_eq!(ss[0].agent_data["agent_id"], "echo", "{:#}", ss[0].agent_data);
    assert_eq!(ss[0].agent_data["name"], "Echo", "{:#}", ss[0].agent_data);
    assert!(ss[0].agent_data["model"].is_object(), "{:#}", ss[0].agent_data);
    assert!(ss[0].session_data["session_metrics"].is_object(), "{:#}", ss[0].session_data);
}

#[test]
fn run_with_session_appends_the_next_run_index() {
    let dir = setup(APP);
    let first = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "one"]);
    assert_eq!(first.code, Some(EXIT_OK), "{first:?}");
    let session = session_from_stderr(&first.stderr);

    let second = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", &session, "two"]);
    assert_eq!(second.code, Some(EXIT_OK), "{second:?}");
    assert_eq!(second.stdout.trim(), "two");
    assert_eq!(session_from_stderr(&second.stderr), session);

    let rows = runs_of(dir.path(), &session);
    let indexes: Vec<Option<i64>> = rows.iter().map(|r| r.run_index).collect();
    assert_eq!(indexes, [Some(0), Some(1)], "{rows:#?}");
    assert_eq!(rows[1].run_data["content"], "two");
    assert!(rows.iter().all(|r| r.status.as_deref() == Some("COMPLETED")));
    assert_eq!(sessions(dir.path()).len(), 1);
}

#[test]
fn run_with_a_new_session_id_creates_that_session() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "my-session", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(session_from_stderr(&r.stderr), "my-session");
    let ss = sessions(dir.path());
    assert_eq!(ss.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["my-session"]);
    assert_eq!(runs_of(dir.path(), "my-session").len(), 1);
}

#[test]
fn run_stores_the_user_and_refuses_another_users_session() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "alice", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].user_id.as_deref(), Some("alice"));
    assert_eq!(rows[0].run_data["user_id"], "alice");
    assert_eq!(sessions(dir.path())[0].user_id.as_deref(), Some("alice"));

    // The same user continues.
    let again =
        agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "alice", "again"]);
    assert_eq!(again.code, Some(EXIT_OK), "{again:?}");
    assert_eq!(runs(dir.path()).len(), 2);

    // Another user is refused and nothing is stored.
    let bob =
        agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "bob", "mine?"]);
    assert_eq!(bob.code, Some(EXIT_FAILURE), "{bob:?}");
    assert!(bob.stderr.contains("another user"), "{bob:?}");
    assert!(!bob.stdout.contains("mine?"), "{bob:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 2, "a refused run must not be stored: {rows:#?}");
    assert!(rows.iter().all(|r| r.user_id.as_deref() == Some("alice")));
    assert_eq!(sessions(dir.path())[0].user_id.as_deref(), Some("alice"));
}

#[test]
fn tool_calls_go_to_stderr_not_stdout() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "calc", "What is 6 * 7?"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "The answer is 42.", "{r:?}");
    assert!(!r.stdout.contains("calculator"), "{r:?}");
    assert!(r.stderr.contains("calculator"), "the tool call is not shown on stderr: {r:?}");
    assert!(r.stderr.contains("6*7"), "the tool's arguments are not shown: {r:?}");
    let result_line = r.stderr.lines().find(|l| l.contains("calculator") && l.contains("42"));
    assert!(result_line.is_some(), "the tool's result is not shown: {r:?}");

    // The stored run has the tool call, the tool result and the answer.
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1);
    let run = &rows[0];
    assert_eq!(run.status.as_deref(), Some("COMPLETED"));
    assert_eq!(run.run_data["content"], "The answer is 42.");
    let tools = run.run_data["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{:#}", run.run_data);
    assert_eq!(tools[0]["tool_name"], "calculator");
    assert_eq!(tools[0]["result"], "42");
    let roles: Vec<String> = messages(run).into_iter().map(|(role, _)| role).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"], "{:#}", run.run_data);
}

#[test]
fn json_prints_one_object() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "calc", "--json", "What is 6 * 7?"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stdout must be exactly one JSON object: {r:?}");
    let v = parse_json(lines[0]);
    assert_eq!(v["status"], "COMPLETED", "{v:#}");
    assert_eq!(v["content"], "The answer is 42.", "{v:#}");
    let run_id = v["run_id"].as_str().unwrap();
    let session_id = v["session_id"].as_str().unwrap();
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].run_id, run_id);
    assert_eq!(rows[0].session_id, session_id);
}

#[test]
fn the_config_can_be_a_folder() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", ".", "--agent", "echo", "from a folder"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "from a folder");
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

#[test]
fn the_first_run_creates_and_migrates_the_database() {
    let dir = setup(APP);
    assert!(!db_path(dir.path()).exists());
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert!(db_path(dir.path()).exists(), "the database file was not created");
    assert!(r.stderr.contains("migrated"), "{r:?}");
    let tables: Vec<String> = db(dir.path())
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for t in ["agno_sessions", "agno_runs"] {
        assert!(tables.iter().any(|x| x == t), "no table {t}: {tables:?}");
    }

    // The second run has nothing to migrate.
    let again = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "hi again"]);
    assert_eq!(again.code, Some(EXIT_OK), "{again:?}");
    assert!(!again.stderr.contains("migrated"), "{again:?}");
}

#[test]
fn no_migrate_on_a_fresh_folder_says_to_migrate() {
    let dir = setup(APP);
    for args in [
        &["run", "app.yaml", "--agent", "echo", "--no-migrate", "hi"][..],
        &["chat", "app.yaml", "--agent", "echo", "--no-migrate"][..],
        &["sessions", "app.yaml", "list", "--no-migrate"][..],
    ] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_FAILURE), "{args:?}: {r:?}");
        assert!(r.stderr.contains("agno-run migrate"), "{args:?}: {r:?}");
        assert!(!db_path(dir.path()).exists(), "{args:?} created the database");
    }
}

#[test]
fn no_migrate_works_on_a_migrated_database() {
    let dir = setup(APP);
    let m = agno_run(dir.path(), &["migrate", "app.yaml"]);
    assert_eq!(m.code, Some(EXIT_OK), "{m:?}");
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--no-migrate", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "hi");
    assert_eq!(runs(dir.path()).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_agent_is_a_usage_error_listing_the_agents() {
    let dir = setup(APP);
    for args in [&["run", "app.yaml", "--agent", "nope", "hi"][..], &["chat", "app.yaml", "--agent", "nope"][..]] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_USAGE), "{args:?}: {r:?}");
        assert!(r.stderr.contains("nope"), "{args:?}: {r:?}");
        assert!(r.stderr.contains("echo") && r.stderr.contains("calc"), "the agents are not listed: {r:?}");
    }
    // Checked before anything is opened: no database was created.
    assert!(!db_path(dir.path()).exists());
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "ecko", "hi"]);
    assert!(r.stderr.contains("did you mean `echo`"), "{r:?}");
}

#[test]
fn invalid_config_exits_78() {
    let dir = setup("version: 1\nagents:\n  a: {model: missing}\n");
    for args in [
        &["run", "app.yaml", "--agent", "a", "hi"][..],
        &["chat", "app.yaml", "--agent", "a"][..],
        &["sessions", "app.yaml", "list"][..],
    ] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_CONFIG), "{args:?}: {r:?}");
        assert!(r.stderr.contains("missing"), "the diagnostic is not shown: {r:?}");
    }
    assert!(!db_path(dir.path()).exists());
}

#[test]
fn teams_and_workflows_run_from_the_cli_with_their_progress_on_stderr() {
    let dir = setup(
        r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
models:
  echo: {provider: scripted}
  lead:
    provider: scripted
    replies:
      - {tool_calls: [{name: delegate_task_to_member, arguments: {member_id: echo, task: "say hi"}}]}
      - "The team answered."
agents:
  echo: {name: Echo, model: echo}
teams:
  desk: {model: lead, members: [echo]}
workflows:
  brief:
    steps:
      - {name: one, agent: echo}
      - {name: gate, condition: 'previous_step_content.contains("topic")', steps: [{name: two, agent: echo, input: "again: {{ steps.one.content }}"}], else_steps: [{name: three, agent: echo}]}
"#,
    );
    let r = agno_run(dir.path(), &["run", "app.yaml", "--team", "desk", "--session", "t1", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "The team answered.", "{r:?}");
    assert!(r.stderr.contains("→ delegate_task_to_member"), "{r:?}");
    assert!(r.stderr.contains("┌ agent echo started") && r.stderr.contains("└ agent echo completed"), "{r:?}");

    let r = agno_run(dir.path(), &["run", "app.yaml", "--workflow", "brief", "--session", "w1", "the topic"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(r.stdout.trim(), "again: the topic", "{r:?}");
    assert!(r.stderr.contains("▶ step one (Step) started"), "{r:?}");
    assert!(r.stderr.contains("■ step gate completed") && r.stderr.contains(": if branch"), "{r:?}");

    // --json prints the whole stored run.
    let r = agno_run(dir.path(), &["run", "app.yaml", "--workflow", "brief", "--session", "w1", "--json", "other"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["run"]["run_type"], "workflow");
    assert_eq!(
        v["run"]["run_data"]["step_results"][1]["content"],
        "Condition gate completed with 1 results (else branch)"
    );
    assert_eq!(v["run"]["run_data"]["input"], "other");

    // `sessions runs` draws member runs under their team run and step results as a tree.
    let r = agno_run(dir.path(), &["sessions", "app.yaml", "runs", "t1"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let team_line = r.stdout.lines().position(|l| l.starts_with("run #") && l.contains("team desk")).unwrap();
    let member_line = r.stdout.lines().position(|l| l.starts_with("  run #") && l.contains("agent echo")).unwrap();
    assert!(member_line > team_line, "{}", r.stdout);
    let r = agno_run(dir.path(), &["sessions", "app.yaml", "runs", "w1"]);
    assert!(
        r.stdout.contains("  step gate (Condition) ok: Condition gate completed with 1 results (if branch)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("    step two (Step, Echo) ok: again: the topic"), "{}", r.stdout);

    // An unknown team is a usage error, like an unknown agent.
    let r = agno_run(dir.path(), &["run", "app.yaml", "--team", "dusk", "hi"]);
    assert_eq!(r.code, Some(EXIT_USAGE), "{r:?}");
    assert!(r.stderr.contains("no team `dusk`") && r.stderr.contains("did you mean `desk`"), "{r:?}");
}

#[test]
fn a_missing_message_or_agent_is_a_usage_error() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo"]);
    assert_eq!(r.code, Some(EXIT_USAGE), "{r:?}");
    assert!(r.stderr.contains("message"), "{r:?}");

    let r = agno_run(dir.path(), &["run", "--agent", "echo"]);
    assert_eq!(r.code, Some(EXIT_USAGE), "{r:?}");

    let r = agno_run(dir.path(), &["run", "app.yaml", "hi"]);
    assert_eq!(r.code, Some(EXIT_USAGE), "{r:?}");
    assert!(r.stderr.contains("--agent"), "{r:?}");

    let r = agno_run(dir.path(), &["chat", "app.yaml"]);
    assert_eq!(r.code, Some(EXIT_USAGE), "{r:?}");
    assert!(!db_path(dir.path()).exists());
}

#[test]
fn a_model_failure_exits_1_and_stores_an_error_run() {
    let dir = setup(
        r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
models:
  down: {provider: openai, id: gpt-down, base_url: "http://127.0.0.1:1/v1", api_key: k, max_retries: 0, timeout: 2}
agents:
  down: {model: down, db: local}
"#,
    );
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "down", "hi"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("127.0.0.1:1"), "the error does not say what failed: {r:?}");
    assert!(r.stderr.contains("stored as ERROR"), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].status.as_deref(), Some("ERROR"));
    assert_eq!(rows[0].run_data["status"], "ERROR");
    assert!(r.stderr.contains(&rows[0].session_id), "the session id is not given: {r:?}");
    // The session and run ids are said when the run starts, before it fails.
    let said = r.stderr.find(&format!("session: {}", rows[0].session_id)).expect("the session line");
    let run = r.stderr.find(&format!("run: {}", rows[0].run_id)).expect("the run line");
    let error = r.stderr.find("error:").unwrap();
    assert!(said < error && run < error, "{r:?}");
}

#[test]
fn a_missing_api_key_is_named() {
    let dir = setup(
        r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
models:
  gpt: {provider: openai, id: gpt-4o-mini, api_key: "${OPENAI_API_KEY:-}", max_retries: 0, timeout: 2}
agents:
  gpt: {model: gpt, db: local}
"#,
    );
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "gpt", "hi"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("OPENAI_API_KEY"), "{r:?}");
    assert!(r.stderr.contains("stored as ERROR"), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.as_deref(), Some("ERROR"));
}

// ---------------------------------------------------------------------------------------------
// chat
// ---------------------------------------------------------------------------------------------

#[test]
fn chat_keeps_one_session_across_turns() {
    let dir = setup(APP);
    let r = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "echo"]).write_stdin("hello\nsecond\n"));
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert!(r.stdout.contains("hello") && r.stdout.contains("second"), "{r:?}");
    let ss = sessions(dir.path());
    assert_eq!(ss.len(), 1, "the turns went to several sessions: {ss:#?}");
    let rows = runs_of(dir.path(), &ss[0].session_id);
    let got: Vec<(Option<i64>, Option<&str>, &Value)> =
        rows.iter().map(|r| (r.run_index, r.status.as_deref(), &r.run_data["content"])).collect();
    assert_eq!(
        got,
        [(Some(0), Some("COMPLETED"), &Value::from("hello")), (Some(1), Some("COMPLETED"), &Value::from("second"))]
    );
    assert!(r.stderr.contains(&ss[0].session_id), "the session id is not shown: {r:?}");
}

#[test]
fn chat_skips_blank_lines_and_ends_on_eof() {
    let dir = setup(APP);
    let r = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "echo"]).write_stdin("\n   \nonly\n"));
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(runs(dir.path()).len(), 1);

    let empty = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "echo"]).write_stdin(""));
    assert_eq!(empty.code, Some(EXIT_OK), "{empty:?}");
    assert_eq!(runs(dir.path()).len(), 1);
}

#[test]
fn chat_with_session_continues_it() {
    let dir = setup(APP);
    let first = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "first"]);
    assert_eq!(first.code, Some(EXIT_OK), "{first:?}");
    let r =
        exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "echo", "--session", "s1"]).write_stdin("more\n"));
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(sessions(dir.path()).len(), 1);
    let rows = runs_of(dir.path(), "s1");
    assert_eq!(rows.iter().map(|r| r.run_index).collect::<Vec<_>>(), [Some(0), Some(1)], "{rows:#?}");
    assert_eq!(rows[1].run_data["content"], "more");
}

#[test]
fn chat_respects_the_session_owner() {
    let dir = setup(APP);
    let first =
        agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "alice", "a"]);
    assert_eq!(first.code, Some(EXIT_OK), "{first:?}");
    let r = exec(
        agno(dir.path())
            .args(["chat", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "bob"])
            .write_stdin("let me in\n"),
    );
    assert!(r.stderr.contains("another user"), "{r:?}");
    assert_eq!(runs(dir.path()).len(), 1, "bob's turn was stored");
}

#[test]
fn ctrl_c_cancels_a_chat_turn_and_the_chat_goes_on() {
    let (port, bodies) = slow_server();
    let dir = setup(&slow_config(port));
    let mut child = chat_in_a_slow_turn(dir.path());
    // Let the turn reach the model call (and its Ctrl-C watcher start) before interrupting.
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    let rows = wait_for_runs(dir.path(), 10, "the run to be CANCELLED", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() != Some("RUNNING")
    });
    assert_eq!(rows[0].status.as_deref(), Some("CANCELLED"), "{rows:#?}");
    assert_eq!(rows[0].run_data["status"], "CANCELLED");

    // The chat goes on in the same session; the cancelled turn is left out of the history.
    child.stdin.as_mut().unwrap().write_all(b"next question\n").unwrap();
    wait_for_runs(dir.path(), 20, "a second finished run", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.status.as_deref() != Some("RUNNING"))
    });
    let r = finish(child, 10);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert!(r.stderr.to_lowercase().contains("cancelled"), "{r:?}");
    assert!(r.stdout.contains("fine"), "{r:?}");

    let rows = runs(dir.path());
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0].session_id, rows[1].session_id);
    let got: Vec<(Option<i64>, Option<&str>)> = rows.iter().map(|r| (r.run_index, r.status.as_deref())).collect();
    assert_eq!(got, [(Some(0), Some("CANCELLED")), (Some(1), Some("COMPLETED"))]);
    let body = bodies.recv_timeout(Duration::from_secs(5)).expect("the second turn did not reach the model");
    assert!(body.contains("next question"), "{body}");
    assert!(!body.contains("slow question"), "the cancelled turn was sent as history: {body}");
}

#[test]
fn ctrl_c_at_the_prompt_after_a_turn_ends_the_chat() {
    let dir = setup(APP);
    let mut child = spawn(dir.path(), &["chat", "app.yaml", "--agent", "echo"]);
    child.stdin.as_mut().unwrap().write_all(b"hello\n").unwrap();
    wait_for_runs(dir.path(), 20, "a finished run", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() == Some("COMPLETED")
    });
    // The turn is over and the chat waits at its prompt, with stdin still open: only Ctrl-C
    // can end it (`finish` would close stdin, so wait for the exit first).
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "Ctrl-C at the prompt did not end the chat");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = finish(child, 10);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(runs(dir.path()).len(), 1);
}

#[test]
fn ctrl_c_cancels_a_run() {
    let (port, _bodies) = slow_server();
    let dir = setup(&slow_config(port));
    let child = spawn(dir.path(), &["run", "app.yaml", "--agent", "slow", "slow question"]);
    wait_for_runs(dir.path(), 20, "a RUNNING run", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING")
    });
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    let r = finish(child, 10);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("CANCELLED"), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.as_deref(), Some("CANCELLED"), "{rows:#?}");
}

#[test]
fn sigterm_and_sighup_cancel_a_run_and_store_it_cancelled() {
    for name in ["TERM", "HUP"] {
        let (port, _bodies) = slow_server();
        let dir = setup(&slow_config(port));
        let child = spawn(dir.path(), &["run", "app.yaml", "--agent", "slow", "slow question"]);
        let rows = wait_for_runs(dir.path(), 20, "a RUNNING run", |rows| {
            rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING")
        });
        assert_eq!(rows[0].run_data["runner"]["pid"], child.id(), "the RUNNING row names its runner");
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, name);
        let r = finish(child, 10);
        assert_eq!(r.code, Some(EXIT_FAILURE), "SIG{name}: {r:?}");
        assert!(r.stderr.contains("CANCELLED"), "SIG{name}: {r:?}");
        let rows = runs(dir.path());
        assert_eq!(rows[0].status.as_deref(), Some("CANCELLED"), "SIG{name}: {rows:#?}");
        assert_eq!(rows[0].run_data["status"], "CANCELLED");
        assert!(runner_rows(dir.path()).is_empty(), "SIG{name}: a clean exit leaves no runner row");
    }
}

#[test]
fn sigterm_during_a_member_run_stores_the_team_run_and_the_member_run_cancelled() {
    let (port, _bodies) = slow_server();
    let mut yaml = slow_config(port);
    yaml = yaml.replace(
        "agents:",
        "  lead:\n    provider: scripted\n    replies:\n      - {tool_calls: [{name: delegate_task_to_member, arguments: {member_id: slow, task: go}}]}\nagents:",
    );
    yaml.push_str("teams:\n  desk: {model: lead, members: [slow], db: local}\n");
    let dir = setup(&yaml);
    let child = spawn(dir.path(), &["run", "app.yaml", "--team", "desk", "question"]);
    wait_for_runs(dir.path(), 20, "a RUNNING team run and member run", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.status.as_deref() == Some("RUNNING"))
    });
    signal(&child, "TERM");
    let r = finish(child, 10);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status.as_deref() == Some("CANCELLED")), "{rows:#?}");
    let member = rows.iter().find(|r| r.run_data["agent_id"] == "slow").unwrap();
    let team = rows.iter().find(|r| r.run_data["team_id"] == "desk").unwrap();
    assert_eq!(member.run_data["parent_run_id"], team.run_data["run_id"], "{rows:#?}");
}

#[test]
fn sigterm_during_a_workflow_step_stores_the_workflow_run_cancelled_with_the_steps_that_ran() {
    let (port, _bodies) = slow_server();
    let mut yaml = slow_config(port);
    yaml = yaml.replace("agents:", "  echo: {provider: scripted}\nagents:\n  echo: {model: echo, db: local}");
    yaml.push_str("workflows:\n  flow:\n    db: local\n    steps:\n      - {name: first, agent: echo}\n      - {name: second, agent: slow}\n");
    let dir = setup(&yaml);
    let child = spawn(dir.path(), &["run", "app.yaml", "--workflow", "flow", "question"]);
    wait_for_runs(dir.path(), 20, "a RUNNING workflow run", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING")
    });
    // The first step is done when the second one's model call hangs.
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    let r = finish(child, 10);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1, "step runs have no rows of their own: {rows:#?}");
    assert_eq!(rows[0].status.as_deref(), Some("CANCELLED"), "{rows:#?}");
    let results = rows[0].run_data["step_results"].as_array().unwrap();
    assert_eq!(results[0]["step_name"], "first");
    assert_eq!(results[0]["content"], "question");
    // The step that was cancelled is kept when it ended before the workflow saw the cancel.
    assert!(results.len() == 1 || (results.len() == 2 && results[1]["success"] == false), "{rows:#?}");
}

#[test]
fn sigterm_during_a_chat_turn_stores_it_cancelled_and_ends_the_chat() {
    let (port, _bodies) = slow_server();
    let dir = setup(&slow_config(port));
    let mut child = chat_in_a_slow_turn(dir.path());
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    // The chat ends by itself: stdin is still open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "SIGTERM did not end the chat");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = finish(child, 5);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert_eq!(runs(dir.path())[0].status.as_deref(), Some("CANCELLED"));
}

#[test]
fn a_signal_while_the_database_is_being_opened_stops_before_anything_runs() {
    let dir = setup(APP);
    // Another migrator holds the database's lock: `run` waits for it.
    let lock = std::fs::File::create(dir.path().join("agno.db.migrate.lock")).unwrap();
    lock.lock().unwrap();
    let child = spawn(dir.path(), &["run", "app.yaml", "--agent", "echo", "hi"]);
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    sigint(&child);
    let r = finish(child, 10);
    assert!(started.elapsed() < Duration::from_secs(5), "the wait for the lock was not interrupted");
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("interrupted while opening database `local`"), "{r:?}");
    drop(lock);
    assert!(!db_path(dir.path()).exists() || runs(dir.path()).is_empty(), "nothing ran");
}

#[test]
fn a_second_ctrl_c_exits_at_once_when_the_cancelled_run_cannot_end_and_the_next_process_ends_it() {
    let (port, _bodies) = slow_server();
    let dir = setup(&slow_config(port));
    let child = spawn(dir.path(), &["run", "app.yaml", "--agent", "slow", "slow question"]);
    wait_for_runs(dir.path(), 20, "a RUNNING run", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING")
    });
    // Another writer holds the database: the cancelled run cannot store its end.
    let blocker = Connection::open(db_path(dir.path())).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    sigint(&child);
    let r = finish(child, 10);
    assert!(asked.elapsed() < Duration::from_secs(5), "the second Ctrl-C did not exit at once");
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("second signal"), "{r:?}");
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    assert_eq!(runs(dir.path())[0].status.as_deref(), Some("RUNNING"), "nobody ended it yet");
    // The next process to open the database ends it.
    let r = agno_run(dir.path(), &["sessions", "app.yaml", "list"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows[0].status.as_deref(), Some("ERROR"), "{rows:#?}");
}

#[test]
fn a_closed_stderr_does_not_stop_a_run_half_way() {
    let dir = setup(APP);
    let mut child = std::process::Command::new(BIN);
    child.env_clear().current_dir(dir.path()).args(["run", "app.yaml", "--agent", "calc", "6*7?"]);
    if let Some(path) = std::env::var_os("PATH") {
        child.env("PATH", path);
    }
    // `agno-run run ... 2>&1 | head -0`: stderr is a pipe whose reader is gone.
    let mut child = child.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(EXIT_OK));
    let rows = runs(dir.path());
    assert_eq!(rows[0].status.as_deref(), Some("COMPLETED"), "{rows:#?}");
    assert!(runner_rows(dir.path()).is_empty());
}

#[test]
fn a_run_killed_with_sigkill_is_ended_as_error_by_the_next_process_and_left_out_of_history() {
    let (port, bodies) = slow_server();
    let dir = setup(&slow_config(port));
    let mut child = spawn(dir.path(), &["run", "app.yaml", "--agent", "slow", "--session", "s1", "slow question"]);
    wait_for_runs(dir.path(), 20, "a RUNNING run", |rows| {
        rows.len() == 1 && rows[0].status.as_deref() == Some("RUNNING")
    });
    let pid = i64::from(child.id());
    child.kill().unwrap(); // SIGKILL: nothing runs after it
    child.wait().unwrap();
    assert_eq!(runs(dir.path())[0].status.as_deref(), Some("RUNNING"), "nobody could end it yet");
    assert_eq!(runner_rows(dir.path()).iter().map(|r| r.0).collect::<Vec<_>>(), [pid]);

    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "slow", "--session", "s1", "next question"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0].status.as_deref(), Some("ERROR"), "{rows:#?}");
    assert_eq!(rows[0].run_data["status"], "ERROR");
    let reason = rows[0].run_data["content"].as_str().unwrap();
    assert!(reason.contains("no longer running") && reason.contains(&pid.to_string()), "{reason}");
    assert_eq!(rows[0].run_data["input"]["input_content"], "slow question", "what was asked is kept");
    assert_eq!(rows[1].status.as_deref(), Some("COMPLETED"));
    let body = bodies.recv_timeout(Duration::from_secs(5)).expect("the second run reached the model");
    assert!(body.contains("next question") && !body.contains("slow question"), "the dead run was history: {body}");
    assert!(runner_rows(dir.path()).is_empty(), "the dead runner's row is removed, and the second exited cleanly");
}

#[test]
fn a_sqlite_agent_runs_while_another_declared_postgres_database_is_unreachable() {
    let dir = setup(
        r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
  far: {type: postgres, db_url: "postgresql://ai:secret@127.0.0.1:1/ai", connect_timeout: 30}
  near: {type: postgres, db_url: "postgresql://ai:secret@127.0.0.1:1/ai?application_name=x", connect_timeout: 1}
default_db: local
models:
  echo: {provider: scripted}
agents:
  echo: {model: echo, db: local}
  far: {model: echo, db: far}
  remote: {model: echo, db: near}
"#,
    );
    let started = Instant::now();
    for args in [
        &["run", "app.yaml", "--agent", "echo", "--session", "s1", "hi"][..],
        &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--no-migrate", "again"][..],
        &["sessions", "app.yaml", "show", "s1"][..],
    ] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_OK), "{args:?}: {r:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "the unreachable database was waited for");
    assert_eq!(runs(dir.path()).len(), 2);
    // The agent whose database is unreachable fails, naming it, without its password.
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "remote", "hi"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("`near`") && !r.stderr.contains("secret"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------------------------

/// Three sessions: `a1` (echo, alice, two runs), `b1` (echo, bob), `c1` (calc, no user).
fn three_sessions() -> TempDir {
    let dir = setup(APP);
    for args in [
        &["run", "app.yaml", "--agent", "echo", "--session", "a1", "--user", "alice", "hello"][..],
        &["run", "app.yaml", "--agent", "echo", "--session", "a1", "--user", "alice", "again"][..],
        &["run", "app.yaml", "--agent", "echo", "--session", "b1", "--user", "bob", "hi"][..],
        &["run", "app.yaml", "--agent", "calc", "--session", "c1", "6*7?"][..],
    ] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_OK), "{args:?}: {r:?}");
    }
    dir
}

fn sessions_cmd(dir: &Path, args: &[&str]) -> Out {
    let mut all = vec!["sessions", "app.yaml"];
    all.extend_from_slice(args);
    agno_run(dir, &all)
}

fn listed_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        v["items"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[test]
fn sessions_list_human_and_json() {
    let dir = three_sessions();
    let r = sessions_cmd(dir.path(), &["list"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    for id in ["a1", "b1", "c1"] {
        assert!(r.stdout.contains(id), "{id} is not listed: {r:?}");
    }
    assert!(r.stdout.contains("3 session"), "the total is not shown: {r:?}");

    let r = sessions_cmd(dir.path(), &["list", "--format", "json"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    assert_eq!(v["total"], 3, "{v:#}");
    assert_eq!(listed_ids(&v), ["a1", "b1", "c1"]);

    // --format before the action works too (it is a global option).
    let r = sessions_cmd(dir.path(), &["--format", "json", "list"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert_eq!(parse_json(&r.stdout)["total"], 3);
}

#[test]
fn sessions_list_filters_by_agent_and_user() {
    let dir = three_sessions();
    let r = sessions_cmd(dir.path(), &["list", "--agent", "calc", "--format", "json"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    assert_eq!(v["total"], 1, "{v:#}");
    assert_eq!(listed_ids(&v), ["c1"]);

    let r = sessions_cmd(dir.path(), &["list", "--agent", "echo", "--format", "json"]);
    assert_eq!(listed_ids(&parse_json(&r.stdout)), ["a1", "b1"], "{r:?}");

    let r = sessions_cmd(dir.path(), &["list", "--user", "alice", "--format", "json"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    assert_eq!(v["total"], 1, "{v:#}");
    assert_eq!(listed_ids(&v), ["a1"]);

    let r = sessions_cmd(dir.path(), &["list", "--agent", "echo", "--user", "bob"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert!(r.stdout.contains("b1") && !r.stdout.contains("a1") && !r.stdout.contains("c1"), "{r:?}");
}

#[test]
fn sessions_show_and_runs() {
    let dir = three_sessions();
    let r = sessions_cmd(dir.path(), &["show", "a1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    assert!(r.stdout.contains("a1") && r.stdout.contains("alice"), "{r:?}");
    assert!(r.stdout.contains("COMPLETED"), "{r:?}");

    let r = sessions_cmd(dir.path(), &["--user", "alice", "show", "a1", "--format", "json"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    assert_eq!(v["session_id"], "a1");
    assert_eq!(v["user_id"], "alice");
    let shown = v["runs"].as_array().unwrap_or_else(|| panic!("no runs: {v:#}"));
    assert_eq!(shown.len(), 2, "{v:#}");
    let stored: Vec<String> = runs_of(dir.path(), "a1").into_iter().map(|r| r.run_id).collect();
    let shown_ids: Vec<&str> = shown.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(shown_ids, stored);

    let r = sessions_cmd(dir.path(), &["runs", "a1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    for text in ["user: hello", "assistant: hello", "user: again", "assistant: again"] {
        assert!(r.stdout.contains(text), "`{text}` is not shown: {r:?}");
    }

    let r = sessions_cmd(dir.path(), &["runs", "c1"]);
    assert!(r.stdout.contains("tool: 42"), "{r:?}");

    let r = sessions_cmd(dir.path(), &["runs", "a1", "--format", "json", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    let list = v.as_array().unwrap_or_else(|| panic!("not an array: {v:#}"));
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|r| r["run_data"]["messages"].is_array() || r["messages"].is_array()), "{v:#}");
}

#[test]
fn sessions_rename_then_show_has_the_name() {
    let dir = three_sessions();
    let r = sessions_cmd(dir.path(), &["rename", "a1", "Trip planning", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");

    let r = sessions_cmd(dir.path(), &["show", "a1", "--format", "json", "--user", "alice"]);
    let v = parse_json(&r.stdout);
    assert_eq!(v["session_data"]["session_name"], "Trip planning", "{v:#}");
    // Renaming keeps the rest of session_data.
    assert!(v["session_data"]["session_metrics"].is_object(), "{v:#}");

    let r = sessions_cmd(dir.path(), &["show", "a1", "--user", "alice"]);
    assert!(r.stdout.contains("Trip planning"), "{r:?}");
    let r = sessions_cmd(dir.path(), &["list"]);
    assert!(r.stdout.contains("Trip planning"), "{r:?}");

    let stored = sessions(dir.path()).into_iter().find(|s| s.session_id == "a1").unwrap();
    assert_eq!(stored.session_data["session_name"], "Trip planning");

    let r = sessions_cmd(dir.path(), &["rename", "nope", "x"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
}

#[test]
fn sessions_delete_removes_the_session_and_its_runs() {
    let dir = three_sessions();
    let r = sessions_cmd(dir.path(), &["delete", "a1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");

    let r = sessions_cmd(dir.path(), &["show", "a1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
    assert!(runs_of(dir.path(), "a1").is_empty(), "the runs of a deleted session remain");
    let left: Vec<String> = sessions(dir.path()).into_iter().map(|s| s.session_id).collect();
    assert_eq!(left, ["b1", "c1"], "{left:?}");

    let r = sessions_cmd(dir.path(), &["delete", "a1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
}

#[test]
fn sessions_of_another_user_or_of_a_user_without_user_are_refused_and_left_as_they_were() {
    let dir = three_sessions();
    let before = sessions(dir.path());
    for args in [
        &["show", "a1"][..],
        &["show", "a1", "--user", "bob"][..],
        &["runs", "a1", "--user", "bob"][..],
        &["rename", "a1", "Bob's now", "--user", "bob"][..],
        &["rename", "a1", "nobody's"][..],
        &["delete", "a1", "--user", "bob"][..],
        &["delete", "a1"][..],
    ] {
        let r = sessions_cmd(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_FAILURE), "{args:?}: {r:?}");
        assert!(r.stderr.contains("belongs to another user") && r.stderr.contains("--user"), "{args:?}: {r:?}");
        assert!(!r.stderr.contains("alice"), "the owner is not named: {args:?}: {r:?}");
    }
    // A session without a user, asked for with one: refused, saying so.
    let r = sessions_cmd(dir.path(), &["show", "c1", "--user", "alice"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("session `c1` belongs to no user"), "{r:?}");
    let after = sessions(dir.path());
    assert_eq!(format!("{before:?}"), format!("{after:?}"), "nothing changed");
    assert_eq!(runs_of(dir.path(), "a1").len(), 2);
    // Without --user, a session without a user is the caller's.
    assert_eq!(sessions_cmd(dir.path(), &["show", "c1"]).code, Some(EXIT_OK));
}

#[test]
fn a_run_by_another_agent_or_without_the_owner_is_refused_and_stores_nothing() {
    let dir = setup(APP);
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "--user", "alice", "hi"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    // Another agent on echo's session: refused, saying whose session it is.
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "calc", "--session", "s1", "--user", "alice", "6*7"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("session `s1` belongs to agent `echo`; agent `calc` cannot run in it"), "{r:?}");
    // No user on alice's session: refused.
    let r = agno_run(dir.path(), &["run", "app.yaml", "--agent", "echo", "--session", "s1", "hi again"]);
    assert_eq!(r.code, Some(EXIT_FAILURE), "{r:?}");
    assert!(r.stderr.contains("belongs to another user"), "{r:?}");
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let s = sessions(dir.path());
    assert_eq!((s.len(), s[0].agent_id.as_deref(), s[0].user_id.as_deref()), (1, Some("echo"), Some("alice")));
    assert_eq!(s[0].agent_data["agent_id"], "echo", "agent_id and agent_data agree");
}

#[test]
fn sessions_of_an_unknown_id_are_not_found() {
    let dir = three_sessions();
    for action in ["show", "runs"] {
        let r = sessions_cmd(dir.path(), &[action, "no-such-session"]);
        assert_eq!(r.code, Some(EXIT_FAILURE), "{action}: {r:?}");
        assert!(r.stderr.contains("not found"), "{action}: {r:?}");
        assert!(r.stderr.contains("no-such-session"), "{action}: {r:?}");
    }
}

#[test]
fn sessions_on_a_fresh_folder_migrate_and_list_nothing() {
    let dir = setup(APP);
    let r = sessions_cmd(dir.path(), &["list", "--format", "json"]);
    assert_eq!(r.code, Some(EXIT_OK), "{r:?}");
    let v = parse_json(&r.stdout);
    assert_eq!(v["total"], 0);
    assert_eq!(v["items"], Value::Array(vec![]));
    assert!(db_path(dir.path()).exists());
}

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

#[test]
fn every_subcommand_help_has_examples() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["run", "--help"][..],
        &["chat", "--help"][..],
        &["sessions", "--help"][..],
        &["migrate", "--help"][..],
        &["validate", "--help"][..],
        &["schema", "--help"][..],
        &["config", "--help"][..],
        &["--help"][..],
    ] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_OK), "{args:?}: {r:?}");
        assert!(r.stdout.contains("Examples:"), "{args:?} has no examples:\n{}", r.stdout);
    }
}

#[test]
fn every_sessions_action_help_has_examples() {
    let dir = tempfile::tempdir().unwrap();
    let mut missing = Vec::new();
    for action in ["list", "show", "runs", "delete", "rename"] {
        let r = agno_run(dir.path(), &["sessions", action, "--help"]);
        assert_eq!(r.code, Some(EXIT_OK), "{action}: {r:?}");
        if !r.stdout.contains("Examples:") {
            missing.push(action);
        }
    }
    assert!(missing.is_empty(), "`agno-run sessions ACTION --help` has no examples for: {missing:?}");
}

#[test]
fn sessions_help_describes_its_own_formats() {
    // `--format` of `sessions` must not be described with `migrate status`'s wording.
    let dir = tempfile::tempdir().unwrap();
    for args in [&["sessions", "--help"][..], &["sessions", "list", "--help"][..]] {
        let r = agno_run(dir.path(), args);
        assert_eq!(r.code, Some(EXIT_OK), "{args:?}: {r:?}");
        assert!(
            !r.stdout.contains("database states") && !r.stdout.contains("A table per database"),
            "{args:?} describes --format as migrate status's output:\n{}",
            r.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A closed stdout
// ---------------------------------------------------------------------------------------------

#[test]
fn a_closed_stdout_does_not_panic() {
    let dir = setup(APP);
    let mut panicked = Vec::new();
    for args in [
        &["run", "app.yaml", "--agent", "echo", "hello"][..],
        &["run", "app.yaml", "--agent", "echo", "--json", "hello"][..],
        &["chat", "app.yaml", "--agent", "echo"][..],
    ] {
        let mut child = spawn(dir.path(), args);
        // Close the reading end before the process writes anything (as `agno-run run ... | head -c0`).
        drop(child.stdout.take());
        let _ = child.stdin.as_mut().unwrap().write_all(b"hello\n");
        let (code, stderr) = finish_status(child, 20);
        if stderr.contains("panicked") || code == Some(101) {
            panicked.push(format!("{args:?} (exit {code:?}):\n{stderr}"));
        }
    }
    assert!(panicked.is_empty(), "panics on a closed stdout:\n{}", panicked.join("\n"));
    let rows = runs(dir.path());
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status.as_deref() == Some("COMPLETED")), "{rows:#?}");
}

/// Like [`finish`] for a child whose stdout was taken: the exit code and stderr.
fn finish_status(mut child: Child, secs: u64) -> (Option<i32>, String) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code(), stderr)
}
