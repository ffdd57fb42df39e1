//! Interoperability with Python Agno 3.x, in the same database (SPEC §4): Agno reads, lists and
//! continues what agno-run wrote, and agno-run adopts and reads what Agno wrote; the real
//! `agno-run run` binary and Python Agno agents take turns in one session, each sending the
//! other's runs as history.
//!
//! Needs a Python with agno 3.x (plus sqlalchemy[asyncio], openai and, for PostgreSQL,
//! psycopg[binary]) in `AGNO_TEST_PYTHON`; without it every test prints a skip line, unless
//! `AGNO_TEST_REQUIRE_PYTHON=1`. PostgreSQL tests use `AGNO_TEST_POSTGRES_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/test`), a fresh schema each, and skip when nothing
//! listens there, unless `AGNO_TEST_REQUIRE_POSTGRES=1`. The Python side lives in
//! `tests/interop/*.py`; models are served by `tests/interop/mock_openai.py`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use agno_run::config::{DatabaseConfig, LoadOptions, load};
use agno_run::migrate;
use agno_run::store::{Memory, MemoryQuery, Run, RunStatus, Session, SessionQuery, SessionType, Store, now};
use serde_json::{Value, json};

/// The mock model's only answer (the same text the fixture generator's mock gave).
const REPLY: &str = "This is a fixed reply from the mock model, long enough to look like an answer.";
/// The port the fixture generator hard-codes for its model.
const GENERATOR_PORT: u16 = 23999;
/// Serializes the tests that need [`GENERATOR_PORT`].
static GENERATOR_PORT_LOCK: Mutex<()> = Mutex::new(());
/// Prefix of the result line the Python scripts print (see `_common.emit`).
#[path = "support/python.rs"]
mod python;

use python::{PgSchema, postgres, python, run_py, script};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The mock OpenAI server (a child process that exits when its stdin closes).
struct Mock {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    record: PathBuf,
}

impl Mock {
    /// Starts the mock on `port` (0: any free port), recording request bodies under `dir`.
    fn start(python: &Path, port: u16, dir: &Path) -> Mock {
        Mock::spawn(python, port, dir, false)
    }

    /// Starts the mock on any free port, answering `REPLY [re: <last user message>]` (see
    /// [`echo`]) so that every answer in a history differs.
    fn start_echo(python: &Path, dir: &Path) -> Mock {
        Mock::spawn(python, 0, dir, true)
    }

    fn spawn(python: &Path, port: u16, dir: &Path, echo: bool) -> Mock {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let record = dir.join(format!("mock-requests-{port}-{}.jsonl", &id[..8]));
        let mut child = Command::new(python)
            .arg(script("mock_openai.py"))
            .arg(port.to_string())
            .arg(&record)
            .args(echo.then_some("--echo"))
            .env("AGNO_TELEMETRY", "false")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mock_openai.py");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("mock stdout")).read_line(&mut line).expect("read mock stdout");
        let Some(bound) = line.trim().strip_prefix("listening ").and_then(|p| p.parse::<u16>().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("mock_openai.py did not start on port {port}: {line}{err}");
        };
        Mock { child, stdin, port: bound, record }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Request bodies received so far, in order.
    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str::<Value>(l).expect("recorded request")["body"].clone()).collect()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `agno-run.yaml` with `database` as the only database and loads it.
fn load_db(dir: &Path, database: &str) -> DatabaseConfig {
    let path = dir.join("agno-run.yaml");
    std::fs::write(&path, format!("version: 1\ndatabases:\n  main: {database}\n")).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load: {:?}", loaded.report));
    config.databases["main"].clone()
}

fn sqlite_db(dir: &Path, db_file: &str) -> DatabaseConfig {
    load_db(dir, &format!("{{type: sqlite, db_file: {}}}", serde_json::to_string(db_file).unwrap()))
}

fn postgres_db(dir: &Path, schema: &PgSchema) -> DatabaseConfig {
    load_db(
        dir,
        &format!(
            "{{type: postgres, db_url: {}, db_schema: {}}}",
            serde_json::to_string(&schema.url).unwrap(),
            schema.name
        ),
    )
}

async fn migrate_and_open(db: &DatabaseConfig) -> Store {
    migrate::apply(db, &migrate::Options::default(), &mut |_| {}).await.expect("migration");
    Store::open(db).await.expect("open store")
}

// ---------------------------------------------------------------------------------------------
// 1. Agno reads, lists and continues what agno-run wrote.
// ---------------------------------------------------------------------------------------------

/// The two turns agno-run writes: (question, answer).
const TURNS: [(&str, &str); 2] = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("And of Italy?", "The capital of Italy is Rome."),
];

/// An Agno `RunOutput` dict, as agno-storage.md §3.2 shows it.
fn run_data(run_id: &str, question: &str, answer: &str, created_at: i64) -> Value {
    let id = || uuid::Uuid::new_v4().to_string();
    json!({
        "run_id": run_id,
        "agent_id": "assistant",
        "agent_name": "Assistant",
        "session_id": "s1",
        "user_id": "u1",
        "content": answer,
        "content_type": "str",
        "model": "gpt-4o-mini",
        "model_provider": "OpenAI",
        "status": "COMPLETED",
        "created_at": created_at,
        "metrics": {
            "input_tokens": 12, "output_tokens": 7, "total_tokens": 19, "duration": 0.25,
            "details": {"model": [{"input_tokens": 12, "output_tokens": 7, "total_tokens": 19,
                                   "id": "gpt-4o-mini", "provider": "OpenAI Chat"}]}
        },
        "messages": [
            {"id": id(), "role": "user", "content": question, "from_history": false, "created_at": created_at},
            {"id": id(), "role": "assistant", "content": answer, "from_history": false, "created_at": created_at,
             "metrics": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}}
        ],
        "tools": [],
        "input": {"input_content": question}
    })
}

/// Writes session `s1` with two completed runs; returns the run ids.
async fn write_rust_session(store: &Store) -> Vec<String> {
    let mut session = Session::new("s1", SessionType::Agent, "assistant");
    session.user_id = Some("u1".into());
    session.session_data = Some(json!({"session_state": {"counter": 2}, "session_name": "From Rust"}));
    session.agent_data = Some(json!({
        "name": "Assistant", "agent_id": "assistant",
        "model": {"name": "OpenAIChat", "id": "gpt-4o-mini", "provider": "OpenAI"}
    }));
    store.upsert_session(&session).await.expect("upsert session");
    let mut ids = Vec::new();
    for (i, (question, answer)) in TURNS.iter().enumerate() {
        let run_id = uuid::Uuid::new_v4().to_string();
        let mut run = Run::new(&run_id, "s1", SessionType::Agent, RunStatus::Completed);
        run.agent_id = Some("assistant".into());
        run.user_id = Some("u1".into());
        run.run_data = run_data(&run_id, question, answer, run.created_at);
        let stored = store.append_run(&run).await.expect("append run");
        assert_eq!(stored.run_index, Some(i as i64), "run_index of appended run {i}");
        ids.push(run_id);
    }
    ids
}

/// The (role, content) pairs of a list of message dicts.
fn role_contents(messages: &Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    let content = match &m["content"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (m["role"].as_str().unwrap_or_default().to_string(), content)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

/// Test 1 on any backend: `py_db` are the script arguments naming the same database.
async fn agno_reads_what_agno_run_wrote(python: &Path, db: &DatabaseConfig, py_db: Vec<String>, dir: &Path) {
    let store = migrate_and_open(db).await;
    let ours = write_rust_session(&store).await;
    let memory = Memory {
        memory_id: "mem-rust".into(),
        memory: json!("The user likes capitals."),
        input: Some("What is the capital of France?".into()),
        agent_id: Some("assistant".into()),
        team_id: None,
        user_id: Some("u1".into()),
        topics: Some(json!(["geography"])),
        feedback: None,
        created_at: now(),
        updated_at: None,
    };
    store.upsert_memory(&memory).await.expect("upsert memory");

    // Agno reads it.
    let mut args = py_db.clone();
    args.extend(["--session", "s1", "--type", "agent", "--user", "u1"].map(String::from));
    let read = run_py(python, "read_session.py", &args);
    let s = &read["session"];
    assert!(s.is_object(), "Agno's get_session(s1) returned None: {read:#}");
    assert_eq!(s["session_id"], "s1");
    assert_eq!(s["user_id"], "u1");
    assert_eq!(s["agent_id"], "assistant");
    assert_eq!(s["session_state"], json!({"counter": 2}));
    assert_eq!(s["session_name"], "From Rust");
    let runs = s["runs"].as_array().expect("runs");
    let run_ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap_or_default()).collect();
    assert_eq!(run_ids, ours, "Agno's runs of s1, in order: {read:#}");
    for (run, (question, answer)) in runs.iter().zip(TURNS) {
        assert_eq!(run["kind"], "RunOutput", "{run:#}");
        assert_eq!(run["status"], "COMPLETED", "{run:#}");
        assert_eq!(run["content"], answer, "{run:#}");
        assert_eq!(run["input"], question, "{run:#}");
        assert_eq!(run["agent_id"], "assistant", "{run:#}");
        assert_eq!(role_contents(&run["messages"]), pairs(&[("user", question), ("assistant", answer)]), "{run:#}");
    }
    let listed = read["listed"].as_array().expect("listed");
    assert!(listed.contains(&json!("s1")), "Agno's get_sessions(agent, u1) does not list s1: {read:#}");
    assert_eq!(
        read["memories"],
        json!([{"memory_id": "mem-rust", "memory": "The user likes capitals.", "topics": ["geography"],
                "user_id": "u1", "input": "What is the capital of France?"}]),
        "Agno's get_user_memories(u1)"
    );

    // Agno continues it, with our runs as history.
    let mock = Mock::start(python, 0, dir);
    let mut args = py_db;
    args.extend(
        ["--base-url", &mock.base_url(), "--session", "s1", "--user", "u1", "--message", "third"].map(String::from),
    );
    let third = run_py(python, "continue_session.py", &args);
    assert_eq!(third["status"], "COMPLETED", "{third:#}");
    assert_eq!(third["content"], REPLY, "{third:#}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "one model call for the third run: {requests:#?}");
    let sent: Vec<(String, String)> =
        role_contents(&requests[0]["messages"]).into_iter().filter(|(role, _)| role != "system").collect();
    let (q1, a1) = TURNS[0];
    let (q2, a2) = TURNS[1];
    assert_eq!(
        sent,
        pairs(&[("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2), ("user", "third")]),
        "messages Agno sent to the model (system left out): {:#}",
        requests[0]["messages"]
    );

    // agno-run reads the continued session.
    let (session, runs) = store.get_session_with_runs("s1", Some("u1")).await.expect("read s1 back");
    assert_eq!(session.user_id.as_deref(), Some("u1"));
    assert_eq!(session.agent_id.as_deref(), Some("assistant"));
    assert_eq!(session.session_state(), json!({"counter": 2}).as_object(), "session_state after Agno's run");
    assert_eq!(session.session_name(), Some("From Rust"), "session_name after Agno's run");
    assert_eq!(runs.iter().map(|r| r.run_index).collect::<Vec<_>>(), [Some(0), Some(1), Some(2)]);
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).take(2).collect::<Vec<_>>(), ours);
    let new = &runs[2];
    assert_eq!(new.run_id, third["run_id"].as_str().unwrap());
    assert_eq!(new.run_type, SessionType::Agent);
    assert_eq!(new.agent_id.as_deref(), Some("assistant"));
    assert_eq!(new.user_id.as_deref(), Some("u1"));
    assert_eq!(new.status, Some(RunStatus::Completed));
    assert_eq!(new.parent_run_id, None);
    assert_eq!(new.run_data["content"], REPLY);
    assert_eq!(new.run_data["input"]["input_content"], "third");
    assert_eq!(role_contents(&new.run_data["messages"]), pairs(&[("user", "third"), ("assistant", REPLY)]));
    let history = store.history_runs("s1", 2).await.expect("history_runs");
    assert_eq!(
        history.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        [ours[1].as_str(), new.run_id.as_str()],
        "agno-run's history (last 2) over a session Agno continued"
    );
}

/// Test: Python Agno reads a session while one of its runs is in flight: the RUNNING row, which
/// names its runner in `run_data.runner`, is an ordinary run to Agno.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_reads_a_session_whose_run_is_in_flight_and_names_its_runner() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path(), "agno.db");
    let file = dir.path().join("agno.db");
    let store = migrate_and_open(&db).await;
    write_rust_session(&store).await;
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut run = Run::new(&run_id, "s1", SessionType::Agent, RunStatus::Running);
    run.agent_id = Some("assistant".into());
    run.user_id = Some("u1".into());
    run.run_data = json!({
        "run_id": run_id, "agent_id": "assistant", "agent_name": "Assistant", "session_id": "s1", "user_id": "u1",
        "status": "RUNNING", "created_at": now(), "input": {"input_content": "still thinking"},
        "runner": agno_run::run::Runner::current().stamp(),
    });
    store.append_run(&run).await.expect("append the RUNNING run");
    let args: Vec<String> =
        ["--sqlite", &file.display().to_string(), "--agent", "assistant", "--session", "s1", "--user", "u1"]
            .map(String::from)
            .to_vec();
    let read = run_py(&python, "read_agent_session.py", &args);
    let runs = read["agent_session"]["runs"].as_array().unwrap_or_else(|| panic!("no session: {read:#}"));
    assert_eq!(runs.len(), 3, "{read:#}");
    assert_eq!(runs[2]["run_id"], json!(run_id));
    assert_eq!(runs[2]["status"], "RUNNING", "{read:#}");
    let history: Vec<&str> =
        read["chat_history"].as_array().unwrap().iter().filter_map(|m| m["content"].as_str()).collect();
    assert!(!history.contains(&"still thinking"), "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_reads_lists_and_continues_what_agno_run_wrote() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path(), "agno.db");
    let file = dir.path().join("agno.db");
    let py_db = vec!["--sqlite".to_string(), file.display().to_string()];
    agno_reads_what_agno_run_wrote(&python, &db, py_db, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_agno_reads_lists_and_continues_what_agno_run_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let db = postgres_db(dir.path(), &schema);
    agno_reads_what_agno_run_wrote(&python, &db, schema.py_args(), dir.path()).await;
}

// ---------------------------------------------------------------------------------------------
// 2. agno-run adopts and reads what Agno wrote.
// ---------------------------------------------------------------------------------------------

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

/// Compares what agno-run reads with what Agno's own reader returned (generate.py's
/// expected.json layout): sessions, their runs, and u1's memories.
async fn assert_matches_expected(store: &Store, expected: &Value) {
    let sessions = expected["sessions"].as_object().expect("expected sessions");
    assert!(!sessions.is_empty());
    for (sid, exp) in sessions {
        // Read as the session's owner (the session rules refuse anyone else).
        let owner = opt_str(&exp["user_id"]);
        let (s, runs) = store.get_session_with_runs(sid, owner).await.unwrap_or_else(|e| panic!("{sid}: {e}"));
        assert_eq!(s.session_type.as_str(), exp["session_type"].as_str().unwrap(), "{sid}: session_type");
        assert_eq!(s.user_id.as_deref(), opt_str(&exp["user_id"]), "{sid}: user_id");
        assert_eq!(s.agent_id.as_deref(), opt_str(&exp["agent_id"]), "{sid}: agent_id");
        assert_eq!(s.team_id.as_deref(), opt_str(&exp["team_id"]), "{sid}: team_id");
        assert_eq!(s.workflow_id.as_deref(), opt_str(&exp["workflow_id"]), "{sid}: workflow_id");
        let state = s.session_data.as_ref().and_then(|d| d.get("session_state")).cloned().unwrap_or(Value::Null);
        assert_eq!(state, exp["session_state"], "{sid}: session_data.session_state");
        assert_eq!(s.session_name(), opt_str(&exp["session_name"]), "{sid}: session_data.session_name");

        let exp_runs = exp["runs"].as_array().expect("expected runs");
        assert_eq!(
            runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
            exp_runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect::<Vec<_>>(),
            "{sid}: run ids in order"
        );
        for (i, (run, er)) in runs.iter().zip(exp_runs).enumerate() {
            let what = format!("{sid} run {i} ({})", run.run_id);
            assert_eq!(run.run_index, Some(i as i64), "{what}: run_index");
            assert_eq!(run.session_id, *sid, "{what}: session_id");
            assert_eq!(run.status.map(RunStatus::as_str), opt_str(&er["status"]), "{what}: status column");
            assert_eq!(run.run_data["status"], er["status"], "{what}: run_data.status");
            assert_eq!(run.run_data["content"], er["content"], "{what}: run_data.content");
            let roles: Vec<&str> = run.run_data["messages"]
                .as_array()
                .map(|ms| ms.iter().map(|m| m["role"].as_str().unwrap_or_default()).collect())
                .unwrap_or_default();
            let exp_roles: Vec<&str> = er["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            assert_eq!(roles, exp_roles, "{what}: run_data.messages roles");
            // Agent and team runs store `input: {input_content}`, workflow runs a plain string.
            let input = &run.run_data["input"];
            let input = input.as_str().or_else(|| input["input_content"].as_str());
            assert_eq!(input, opt_str(&er["input"]), "{what}: run_data.input(.input_content)");
            assert_eq!(run.agent_id.as_deref(), opt_str(&er["agent_id"]), "{what}: agent_id");
            assert_eq!(run.team_id.as_deref(), opt_str(&er["team_id"]), "{what}: team_id");
            assert_eq!(run.workflow_id.as_deref(), opt_str(&er["workflow_id"]), "{what}: workflow_id");
            assert_eq!(run.parent_run_id.as_deref(), opt_str(&er["parent_run_id"]), "{what}: parent_run_id");
            assert_eq!(run.run_type.as_str(), exp["session_type"].as_str().unwrap(), "{what}: run_type");
            let names = |v: &Value, key: &str| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().map(|x| x[key].as_str().unwrap_or_default().to_string()).collect())
                    .unwrap_or_default()
            };
            assert_eq!(
                names(&run.run_data["step_results"], "step_name"),
                names(&er["steps"], "step_name"),
                "{what}: run_data.step_results"
            );
            assert_eq!(
                names(&run.run_data["step_executor_runs"], "run_id"),
                names(&er["step_executor_runs"], "run_id"),
                "{what}: run_data.step_executor_runs"
            );
        }
    }

    let owned_by_u1 = sessions.values().filter(|s| s["user_id"] == "u1").count() as u64;
    let listed = store
        .list_sessions(&SessionQuery { user_id: Some("u1".into()), ..Default::default() })
        .await
        .expect("list_sessions");
    assert_eq!(listed.total, owned_by_u1, "sessions of u1: {:?}", listed.items);

    let mut memories = store
        .list_memories(&MemoryQuery { user_id: Some("u1".into()), ..Default::default() })
        .await
        .expect("list_memories")
        .items;
    memories.sort_by(|a, b| a.memory_id.cmp(&b.memory_id));
    let got: Vec<Value> = memories
        .iter()
        .map(|m| json!({"memory_id": m.memory_id, "memory": m.memory, "topics": m.topics, "user_id": m.user_id}))
        .collect();
    assert_eq!(Value::Array(got), expected["memories"], "memories of u1");
}

/// Row counts of the tables Agno wrote, read straight from the file.
fn sqlite_counts(file: &Path) -> (i64, i64, i64, Vec<(String, String)>) {
    let c = rusqlite::Connection::open(file).unwrap();
    let count = |t: &str| c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap();
    // The core tables' stamps (V4 adds its own for the trace tables Agno had not created).
    let mut stmt = c
        .prepare(
            "SELECT table_name, version FROM agno_schema_versions \
             WHERE table_name IN ('agno_sessions', 'agno_runs', 'agno_memories') ORDER BY table_name",
        )
        .unwrap();
    let stamps = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    (count("agno_sessions"), count("agno_runs"), count("agno_memories"), stamps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_run_adopts_and_reads_what_agno_wrote() {
    let Some(python) = python() else { return };
    // The copy must stay the generator the fixtures README describes.
    let shared = root().join("../shared/fixtures/agno/generate.py");
    if shared.exists() {
        assert_eq!(
            std::fs::read(&shared).unwrap(),
            std::fs::read(script("generate.py")).unwrap(),
            "tests/interop/generate.py differs from {}: copy it again",
            shared.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    {
        let _port = GENERATOR_PORT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _mock = Mock::start(&python, GENERATOR_PORT, dir.path());
        let generated = Command::new(&python)
            .arg(script("generate.py"))
            .arg(&out)
            .env("AGNO_TELEMETRY", "false")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("OPENAI_API_KEY", "mock-key")
            .output()
            .expect("run generate.py");
        assert!(
            generated.status.success(),
            "generate.py failed:\n{}\n{}",
            String::from_utf8_lossy(&generated.stdout),
            String::from_utf8_lossy(&generated.stderr)
        );
    }
    let expected: Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(&out)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(".expected.json"))
                .expect("expected.json written"),
        )
        .unwrap(),
    )
    .unwrap();
    let file = out.join(expected["db_file"].as_str().unwrap());
    let before = sqlite_counts(&file);
    assert_eq!((before.0, before.1, before.2), (4, 6, 2), "what generate.py wrote");

    let db = sqlite_db(dir.path(), &file.display().to_string());
    let store = migrate_and_open(&db).await;
    assert_eq!(sqlite_counts(&file), before, "the migration adopted Agno's tables, rows and stamps unchanged");
    let history: Vec<i32> = {
        let c = rusqlite::Connection::open(&file).unwrap();
        let mut stmt = c
            .prepare(&format!("SELECT version FROM \"{}\" ORDER BY version", db.tables.migrations))
            .expect("agno-run's migration history table");
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let built_in: Vec<i32> = (1..=migrate::latest_built_in()).collect();
    assert_eq!(history, built_in, "the built-in migrations are recorded as applied");
    assert_matches_expected(&store, &expected).await;

    // Agno still reads its database after agno-run adopted it.
    let args: Vec<String> = ["--sqlite", &file.display().to_string(), "--session", "agent-s1", "--type", "agent"]
        .map(String::from)
        .to_vec();
    let again = run_py(&python, "read_session.py", &args);
    let runs: Vec<&Value> = again["session"]["runs"].as_array().expect("runs after adoption").iter().collect();
    let exp_runs = expected["sessions"]["agent-s1"]["runs"].as_array().unwrap();
    assert_eq!(
        runs.iter().map(|r| &r["run_id"]).collect::<Vec<_>>(),
        exp_runs.iter().map(|r| &r["run_id"]).collect::<Vec<_>>(),
        "Agno's runs of agent-s1 after agno-run's migration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_agno_run_adopts_and_reads_what_agno_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let mock = Mock::start(&python, 0, dir.path());
        let mut args = schema.py_args();
        args.extend(["--base-url".to_string(), mock.base_url()]);
        run_py(&python, "write_sessions.py", &args)
    };
    let db = postgres_db(dir.path(), &schema);
    let store = migrate_and_open(&db).await;
    assert_matches_expected(&store, &expected).await;
    // The runs' messages as Agno returned them, not only their roles.
    for (sid, exp) in expected["sessions"].as_object().unwrap() {
        let (_, runs) = store.get_session_with_runs(sid, opt_str(&exp["user_id"])).await.unwrap();
        for (run, er) in runs.iter().zip(exp["runs"].as_array().unwrap()) {
            assert_eq!(role_contents(&run.run_data["messages"]), role_contents(&er["messages"]), "{sid}: messages");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. `agno-run run` and Python Agno agents take turns in one session.
// ---------------------------------------------------------------------------------------------

/// The mock's answer to `question` when started with `--echo`.
fn echo(question: &str) -> String {
    format!("{REPLY} [re: {question}]")
}

/// The non-system (role, content) pairs of a recorded request.
fn sent(request: &Value) -> Vec<(String, String)> {
    role_contents(&request["messages"]).into_iter().filter(|(role, _)| role != "system").collect()
}

/// (role, content) pairs from owned strings.
fn owned(list: &[(&str, String)]) -> Vec<(String, String)> {
    list.iter().map(|(r, c)| (r.to_string(), c.clone())).collect()
}

/// The database of a `run` test, as agno-run's config and as the Python scripts' arguments.
struct RunDb {
    yaml: String,
    py: Vec<String>,
}

fn sqlite_run_db(dir: &Path) -> RunDb {
    let file = dir.join("agno.db").display().to_string();
    RunDb {
        yaml: format!("{{type: sqlite, db_file: {}}}", serde_json::to_string(&file).unwrap()),
        py: vec!["--sqlite".into(), file],
    }
}

fn postgres_run_db(schema: &PgSchema) -> RunDb {
    RunDb {
        yaml: format!(
            "{{type: postgres, db_url: {}, db_schema: {}}}",
            serde_json::to_string(&schema.url).unwrap(),
            schema.name
        ),
        py: schema.py_args(),
    }
}

/// Writes the config of the `run` tests: agent `assistant` (history on, default 3 runs) on an
/// OpenAI-compatible model at `base_url`, its sessions in `db`.
fn write_run_config(dir: &Path, db: &RunDb, base_url: &str) -> PathBuf {
    let path = dir.join("agno-run.yaml");
    let yaml = format!(
        "version: 1
databases:
  main: {}
models:
  m: {{provider: openai, id: gpt-4o-mini, base_url: {}}}
agents:
  assistant:
    name: Assistant
    model: m
    add_history_to_context: true
",
        db.yaml,
        serde_json::to_string(base_url).unwrap()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Runs the real `agno-run run CONFIG --agent assistant --session s1 --user u1 [--json] MESSAGE`
/// and returns its stdout, after checking it succeeded.
fn agno_run_run(dir: &Path, config: &Path, json: bool, message: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agno-run"));
    cmd.arg("run").arg(config).args(["--agent", "assistant", "--session", "s1", "--user", "u1"]);
    if json {
        cmd.arg("--json");
    }
    let out =
        cmd.arg(message).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null()).output().expect("run agno-run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "agno-run run {message:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// agno-run's two turns in s1: the first with `--json` (a non-streaming model call), the second
/// streamed. Checks what agno-run printed and sent; returns the first run's id.
fn agno_run_writes_two_runs(dir: &Path, config: &Path, mock: &Mock) -> String {
    let (q1, q2) = (TURNS[0].0, TURNS[1].0);
    let out = agno_run_run(dir, config, true, q1);
    let first: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("--json output ({e}): {out}"));
    assert_eq!(first["session_id"], "s1", "{first:#}");
    assert_eq!(first["status"], "COMPLETED", "{first:#}");
    assert_eq!(first["content"], echo(q1), "{first:#}");
    let streamed = agno_run_run(dir, config, false, q2);
    assert_eq!(streamed.trim(), echo(q2), "agno-run's streamed answer");

    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "one model call per agno-run run: {requests:#?}");
    assert_eq!(sent(&requests[0]), pairs(&[("user", q1)]), "agno-run's first request: {:#}", requests[0]);
    assert_eq!(
        sent(&requests[1]),
        owned(&[("user", q1.into()), ("assistant", echo(q1)), ("user", q2.into())]),
        "agno-run's second request carries the first run as history: {:#}",
        requests[1]
    );
    first["run_id"].as_str().expect("run_id").to_string()
}

/// Test: Python Agno reads the session `agno-run run` wrote, through `Agent.get_session`,
/// `db.get_session`, `get_chat_history` and `get_session_messages`.
fn agno_reads_what_agno_run_run_wrote(python: &Path, db: &RunDb, dir: &Path) {
    let mock = Mock::start_echo(python, dir);
    let config = write_run_config(dir, db, &mock.base_url());
    let first_run_id = agno_run_writes_two_runs(dir, &config, &mock);

    let mut args = db.py.clone();
    args.extend(["--agent", "assistant", "--session", "s1", "--user", "u1"].map(String::from));
    let read = run_py(python, "read_agent_session.py", &args);
    let (q1, q2) = (TURNS[0].0, TURNS[1].0);
    let expected_runs = [(q1, echo(q1)), (q2, echo(q2))];
    for key in ["agent_session", "db_session"] {
        let s = &read[key];
        assert!(s.is_object(), "Agno's {key} of s1 is None: {read:#}");
        assert_eq!(s["session_id"], "s1", "{key}: {s:#}");
        assert_eq!(s["user_id"], "u1", "{key}: {s:#}");
        assert_eq!(s["agent_id"], "assistant", "{key}: {s:#}");
        let runs = s["runs"].as_array().unwrap_or_else(|| panic!("{key}: no runs: {s:#}"));
        assert_eq!(runs.len(), 2, "{key}: both agno-run runs: {s:#}");
        assert_eq!(runs[0]["run_id"], first_run_id.as_str(), "{key}: first run id");
        for (run, (question, answer)) in runs.iter().zip(&expected_runs) {
            assert_eq!(run["kind"], "RunOutput", "{key}: {run:#}");
            assert_eq!(run["status"], "COMPLETED", "{key}: {run:#}");
            assert_eq!(run["agent_id"], "assistant", "{key}: {run:#}");
            assert_eq!(run["input"], *question, "{key}: {run:#}");
            assert_eq!(run["content"], answer.as_str(), "{key}: {run:#}");
            assert_eq!(
                role_contents(&run["messages"]),
                owned(&[("user", question.to_string()), ("assistant", answer.clone())]),
                "{key}: the run's own messages, history not stored again: {run:#}"
            );
        }
    }
    let chat = owned(&[("user", q1.into()), ("assistant", echo(q1)), ("user", q2.into()), ("assistant", echo(q2))]);
    for key in ["chat_history", "session_messages", "session_get_messages"] {
        assert_eq!(role_contents(&read[key]), chat, "Agno's {key} of s1: {:#}", read[key]);
        let flags: Vec<&Value> = read[key].as_array().unwrap().iter().map(|m| &m["from_history"]).collect();
        assert!(flags.iter().all(|f| **f == json!(false)), "{key}: none marked from_history: {:#}", read[key]);
    }
}

#[test]
fn sqlite_agno_reads_what_agno_run_run_wrote() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_reads_what_agno_run_run_wrote(&python, &sqlite_run_db(dir.path()), dir.path());
}

#[test]
fn postgres_agno_reads_what_agno_run_run_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    agno_reads_what_agno_run_run_wrote(&python, &postgres_run_db(&schema), dir.path());
}

/// Test: a Python Agno agent continuing the session `agno-run run` wrote sends agno-run's runs
/// as its history. Returns the mock and config, and the messages Agno sent.
fn agno_continues_with_agno_run_run_history(
    python: &Path,
    db: &RunDb,
    dir: &Path,
) -> (Mock, PathBuf, Vec<(String, String)>) {
    let mock = Mock::start_echo(python, dir);
    let config = write_run_config(dir, db, &mock.base_url());
    agno_run_writes_two_runs(dir, &config, &mock);
    let (q1, q2) = (TURNS[0].0, TURNS[1].0);

    let mut args = db.py.clone();
    args.extend(
        ["--base-url", &mock.base_url(), "--session", "s1", "--user", "u1", "--message", "third"].map(String::from),
    );
    let third = run_py(python, "continue_session.py", &args);
    assert_eq!(third["status"], "COMPLETED", "{third:#}");
    assert_eq!(third["content"], echo("third"), "{third:#}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3, "one model call for Agno's run: {requests:#?}");
    let expected = owned(&[
        ("user", q1.into()),
        ("assistant", echo(q1)),
        ("user", q2.into()),
        ("assistant", echo(q2)),
        ("user", "third".into()),
    ]);
    assert_eq!(
        sent(&requests[2]),
        expected,
        "messages Python Agno sent (num_history_runs=2, system left out): {:#}",
        requests[2]["messages"]
    );
    (mock, config, expected)
}

#[test]
fn sqlite_agno_continues_with_agno_run_run_history() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_continues_with_agno_run_run_history(&python, &sqlite_run_db(dir.path()), dir.path());
}

#[test]
fn postgres_agno_continues_with_agno_run_run_history() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    agno_continues_with_agno_run_run_history(&python, &postgres_run_db(&schema), dir.path());
}

/// Test: after agno-run, agno-run, Agno, a fourth run by `agno-run run` (history on, no
/// `num_history_runs`: Agno's default, 3) sends the three earlier runs as history, as Agno does
/// (Agno's own third run, with `num_history_runs=2`, sent two full runs; Agno does not count the
/// run in progress) — and without the history messages Agno's run was sent.
fn agno_run_run_sends_three_history_runs_by_default(python: &Path, db: &RunDb, dir: &Path) {
    let (mock, config, mut expected) = agno_continues_with_agno_run_run_history(python, db, dir);
    let out = agno_run_run(dir, &config, true, "fourth");
    let fourth: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("--json output ({e}): {out}"));
    assert_eq!(fourth["status"], "COMPLETED", "{fourth:#}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    expected.extend(owned(&[("assistant", echo("third")), ("user", "fourth".into())]));
    assert_eq!(
        sent(&requests[3]),
        expected,
        "messages agno-run sent after Agno's run (default num_history_runs 3: runs 1-3): {:#}",
        requests[3]["messages"]
    );
}

#[test]
fn sqlite_agno_run_run_sends_three_history_runs_by_default() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_run_run_sends_three_history_runs_by_default(&python, &sqlite_run_db(dir.path()), dir.path());
}

#[test]
fn postgres_agno_run_run_sends_three_history_runs_by_default() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    agno_run_run_sends_three_history_runs_by_default(&python, &postgres_run_db(&schema), dir.path());
}

/// Test: Python Agno writes two runs (the database is new: Agno creates it), then `agno-run run`
/// adopts it and continues the session, sending Agno's runs as history; Agno reads all three.
fn agno_run_run_continues_with_agno_history(python: &Path, db: &RunDb, dir: &Path) {
    let mock = Mock::start_echo(python, dir);
    let (p1, p2) = ("Hello, who are you?", "What can you do?");
    let mut args = db.py.clone();
    args.extend(
        ["--base-url", &mock.base_url(), "--agent", "assistant", "--session", "s1", "--user", "u1"].map(String::from),
    );
    args.extend(["--message", p1, "--message", p2].map(String::from));
    let written = run_py(python, "write_agent_runs.py", &args);
    let py_runs = written["runs"].as_array().expect("runs");
    assert_eq!(py_runs.len(), 2, "{written:#}");
    for (run, q) in py_runs.iter().zip([p1, p2]) {
        assert_eq!(run["status"], "COMPLETED", "{written:#}");
        assert_eq!(run["content"], echo(q), "{written:#}");
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let history = owned(&[("user", p1.into()), ("assistant", echo(p1)), ("user", p2.into()), ("assistant", echo(p2))]);
    assert_eq!(sent(&requests[1]), history[..3], "Agno's own second request (sanity)");

    let config = write_run_config(dir, db, &mock.base_url());
    let out = agno_run_run(dir, &config, true, "Third question");
    let ours: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("--json output ({e}): {out}"));
    assert_eq!(ours["session_id"], "s1", "{ours:#}");
    assert_eq!(ours["status"], "COMPLETED", "{ours:#}");
    assert_eq!(ours["content"], echo("Third question"), "{ours:#}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3, "one model call for agno-run's run: {requests:#?}");
    let mut expected = history.clone();
    expected.push(("user".into(), "Third question".into()));
    assert_eq!(
        sent(&requests[2]),
        expected,
        "messages agno-run sent over Agno's session (system left out): {:#}",
        requests[2]["messages"]
    );

    // Agno sees the three runs, in order.
    let mut args = db.py.clone();
    args.extend(["--agent", "assistant", "--session", "s1", "--user", "u1"].map(String::from));
    let read = run_py(python, "read_agent_session.py", &args);
    let runs = read["agent_session"]["runs"].as_array().unwrap_or_else(|| panic!("no session: {read:#}"));
    let ids: Vec<&Value> = runs.iter().map(|r| &r["run_id"]).collect();
    assert_eq!(ids, [&py_runs[0]["run_id"], &py_runs[1]["run_id"], &ours["run_id"]], "Agno's runs of s1");
    expected.push(("assistant".into(), echo("Third question")));
    assert_eq!(role_contents(&read["chat_history"]), expected, "Agno's get_chat_history after agno-run's run");
}

#[test]
fn sqlite_agno_run_run_continues_with_agno_history() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_run_run_continues_with_agno_history(&python, &sqlite_run_db(dir.path()), dir.path());
}

#[test]
fn postgres_agno_run_run_continues_with_agno_history() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    agno_run_run_continues_with_agno_history(&python, &postgres_run_db(&schema), dir.path());
}
