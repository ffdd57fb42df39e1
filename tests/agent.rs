//! The agent run against an in-process OpenAI-compatible server: the exact requests sent
//! (system message, history, tool results, streaming), retries and failures, and what is stored
//! (runs, session state and metrics), the same on memory, SQLite and PostgreSQL. The scripted
//! model runs without any server.
//!
//! PostgreSQL tests use postgresql://postgres@127.0.0.1:5432/test with a fresh schema each,
//! dropped after; they print a skip line when nothing listens there, unless
//! AGNO_TEST_REQUIRE_POSTGRES=1, where they fail.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use agno_run::agent::system_message;
use agno_run::config::{LoadOptions, load};
use agno_run::model::ModelError;
use agno_run::run::{Component, Conflict, Event, EventKind, RunError, RunInput, RunOutput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::store::{Run, RunStatus, Store, StoreError};
use fake_openai::{FakeOpenAi, Response, call};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

const PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Db {
    Memory,
    Sqlite,
    Postgres,
}

/// The model of the agent under test.
enum ModelKind<'a> {
    /// `provider: openai` against the fake, with these extra lines (e.g. `max_retries: 0`).
    OpenAi(&'a str),
    /// `provider: scripted` with these extra lines (e.g. `replies: [...]`).
    Scripted(&'a str),
}

/// One agent `assistant` on database `main` with model `primary`, its fake server and the
/// config's folder.
struct Env {
    fake: FakeOpenAi,
    generation: Arc<Generation>,
    store: Store,
    pg_schema: Option<String>,
    _dir: tempfile::TempDir,
}

/// The agent under test, run through the runtime as every surface runs it.
#[derive(Clone)]
struct Agent {
    generation: Arc<Generation>,
    id: String,
}

impl Agent {
    /// Runs once; `cancel`, when it fires, cancels the run through its handle.
    async fn run(&self, input: RunInput, cancel: CancellationToken) -> (Result<RunOutput, RunError>, Vec<Event>) {
        let request = RunRequest { target: Component::new(SessionType::Agent, &self.id), input, parent: None };
        let mut handle = match runtime::start(&self.generation, request).await {
            Ok(h) => h,
            Err(e) => return (Err(e), Vec::new()),
        };
        let mut events = Vec::new();
        let mut cancelled = false;
        loop {
            tokio::select! {
                e = handle.next_event() => match e {
                    Some(e) => events.push(e),
                    None => break,
                },
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    handle.cancel();
                }
            }
        }
        (handle.result().await, events)
    }
}

impl Env {
    fn agent(&self) -> Agent {
        assert!(self.generation.agent("assistant").is_some(), "agent `assistant`");
        Agent { generation: self.generation.clone(), id: "assistant".into() }
    }

    fn store(&self) -> &Store {
        &self.store
    }

    async fn runs(&self, session_id: &str) -> Vec<Run> {
        self.store().list_runs(session_id).await.unwrap()
    }

    async fn session_data(&self, session_id: &str) -> Value {
        let session = self.store().get_session_with_runs(session_id, None).await.map(|(s, _)| s);
        let session = match session {
            Ok(s) => s,
            // The test's own sessions may be owned: read them as their owner.
            Err(StoreError::Conflict(Conflict::NotOwner { .. })) => {
                let owner = self.runs(session_id).await.first().and_then(|r| r.user_id.clone());
                self.store().get_session(session_id, owner.as_deref()).await.unwrap()
            }
            Err(e) => panic!("{e}"),
        };
        session.session_data.unwrap_or_default()
    }

    async fn cleanup(self) {
        if let Some(schema) = &self.pg_schema {
            let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.unwrap();
        }
    }
}

fn indent(text: &str, by: usize) -> String {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

async fn pg_reachable() -> bool {
    let ok = tokio::time::timeout(Duration::from_secs(3), tokio_postgres::connect(PG_URL, tokio_postgres::NoTls))
        .await
        .is_ok_and(|r| r.is_ok());
    if !ok {
        if std::env::var("AGNO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL at 127.0.0.1:5432 is required (AGNO_TEST_REQUIRE_POSTGRES=1) but not reachable");
        }
        println!("skipped: PostgreSQL not reachable");
    }
    ok
}

/// Builds the environment; None when the backend is PostgreSQL and it is not reachable.
async fn build(db: Db, model: ModelKind<'_>, agent: &str) -> Option<Env> {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let db_yaml = match db {
        Db::Memory => "{type: memory}".to_string(),
        Db::Sqlite => "{type: sqlite, db_file: agno.db}".to_string(),
        Db::Postgres => {
            if !pg_reachable().await {
                return None;
            }
            format!("{{type: postgres, db_url: \"{PG_URL}\", db_schema: {schema}, connect_timeout: 5}}")
        }
    };
    let model_yaml = match model {
        ModelKind::OpenAi(extra) => {
            format!("provider: openai\nid: gpt-test\nbase_url: {}\napi_key: test-key\n{extra}", fake.base_url())
        }
        ModelKind::Scripted(extra) => format!("provider: scripted\n{extra}"),
    };
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {db_yaml}\nmodels:\n  primary:\n{}agents:\n  assistant:\n    name: Assistant\n    model: primary\n    db: main\n{}",
        indent(&model_yaml, 4),
        indent(agent, 4)
    );
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report));
    let generation = Generation::build(config, None, Process::new(), Options::default());
    let store = generation.store("main").await.expect("database `main` opens");
    Some(Env { fake, generation, store, pg_schema: (db == Db::Postgres).then_some(schema), _dir: dir })
}

/// SQLite, OpenAI model with `extra` model lines.
async fn openai(extra: &str, agent: &str) -> Env {
    build(Db::Sqlite, ModelKind::OpenAi(extra), agent).await.unwrap()
}

fn input(message: &str, session_id: &str) -> RunInput {
    RunInput { message: message.into(), session_id: Some(session_id.into()), ..Default::default() }
}

async fn run_with(agent: &Agent, input: RunInput) -> (Result<RunOutput, RunError>, Vec<Event>) {
    agent.run(input, CancellationToken::new()).await
}

async fn run_ok(agent: &Agent, input: RunInput) -> RunOutput {
    let message = input.message.clone();
    match run_with(agent, input).await.0 {
        Ok(out) => out,
        Err(e) => panic!("run `{message}` failed: {e}"),
    }
}

async fn run_err(agent: &Agent, input: RunInput) -> RunError {
    match run_with(agent, input).await.0 {
        Ok(out) => panic!("run succeeded with {:?}, expected an error", out.content),
        Err(e) => e,
    }
}

fn run_id_of(e: &RunError) -> &str {
    e.stored().map(|(run_id, _, _)| run_id).unwrap_or_else(|| panic!("no stored run in the error: {e}"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

fn system(text: &str) -> Value {
    json!({"role": "system", "content": text})
}

/// `(role, content)` of stored messages, content as text ("" when null).
fn roles_and_contents(run: &Run) -> Vec<(String, String)> {
    stored_messages(run)
        .iter()
        .map(|m| {
            (m["role"].as_str().unwrap_or_default().to_string(), m["content"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn stored_messages(run: &Run) -> Vec<Value> {
    run.run_data["messages"].as_array().cloned().unwrap_or_default()
}

fn pair(role: &str, content: &str) -> (String, String) {
    (role.to_string(), content.to_string())
}

const BRIEF: &str = "<instructions>\n- Be brief.\n</instructions>";

// ---------------------------------------------------------------------------------------------
// a. History
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn history_sends_the_last_two_runs_once_and_each_run_stores_only_its_own_messages() {
    let env = openai("", "instructions: [Be brief.]\nadd_history_to_context: true\nnum_history_runs: 2").await;
    let agent = env.agent();
    for i in 1..=5 {
        env.fake.push(Response::text(&format!("a{i}")));
    }
    for i in 1..=5 {
        let out = run_ok(&agent, input(&format!("q{i}"), "s1")).await;
        assert_eq!(out.content, format!("a{i}"));
    }
    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 5);
    for r in &reqs {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/chat/completions"));
        assert_eq!(r.body["model"], "gpt-test");
    }
    assert_eq!(reqs[0].messages(), vec![system(BRIEF), user("q1")], "run 1");
    assert_eq!(reqs[1].messages(), vec![system(BRIEF), user("q1"), assistant("a1"), user("q2")], "run 2");
    assert_eq!(
        reqs[4].messages(),
        vec![system(BRIEF), user("q3"), assistant("a3"), user("q4"), assistant("a4"), user("q5")],
        "run 5 sees exactly the two runs before it"
    );

    let runs = env.runs("s1").await;
    assert_eq!(runs.len(), 5);
    for (i, run) in runs.iter().enumerate() {
        let n = i + 1;
        assert_eq!(run.run_index, Some(i as i64));
        assert_eq!(run.status, Some(RunStatus::Completed));
        assert_eq!(run.run_data["status"], "COMPLETED");
        assert_eq!(run.run_data["content"], format!("a{n}"));
        assert_eq!(run.run_data["input"], json!({"input_content": format!("q{n}")}));
        assert_eq!(run.run_data["model"], "gpt-test");
        assert_eq!(run.run_data["model_provider"], "OpenAI");
        assert_eq!(run.run_data["agent_id"], "assistant");
        assert_eq!(run.run_data["agent_name"], "Assistant");
        assert_eq!(
            roles_and_contents(run),
            vec![pair("system", BRIEF), pair("user", &format!("q{n}")), pair("assistant", &format!("a{n}"))],
            "run {n} stores only its own messages, never history copies"
        );
        for m in stored_messages(run) {
            assert_eq!(m["from_history"], false, "run {n}: {m}");
            assert!(m["id"].as_str().is_some_and(|id| !id.is_empty()), "message id: {m}");
            assert!(m["created_at"].is_i64(), "created_at: {m}");
        }
    }
    let ids: std::collections::HashSet<String> =
        runs.iter().flat_map(stored_messages).map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 15, "message ids are unique");
    env.cleanup().await;
}

#[tokio::test]
async fn history_by_message_count_sends_the_last_three_messages() {
    let env = openai("", "instructions: [Be brief.]\nadd_history_to_context: true\nnum_history_messages: 3").await;
    let agent = env.agent();
    env.fake.push_all((1..=3).map(|i| Response::text(&format!("a{i}"))));
    for i in 1..=3 {
        run_ok(&agent, input(&format!("q{i}"), "s1")).await;
    }
    let reqs = env.fake.requests();
    assert_eq!(reqs[1].messages(), vec![system(BRIEF), user("q1"), assistant("a1"), user("q2")]);
    assert_eq!(
        reqs[2].messages(),
        vec![system(BRIEF), assistant("a1"), user("q2"), assistant("a2"), user("q3")],
        "the last 3 messages of history, then the new user message"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn history_of_one_run_sends_the_previous_run() {
    let env = openai("", "add_history_to_context: true\nnum_history_runs: 1").await;
    let agent = env.agent();
    env.fake.push_all([Response::text("a1"), Response::text("a2"), Response::text("a3")]);
    for q in ["q1", "q2", "q3"] {
        run_ok(&agent, input(q, "s1")).await;
    }
    let reqs = env.fake.requests();
    assert_eq!(reqs[1].messages(), vec![user("q1"), assistant("a1"), user("q2")], "run 2");
    assert_eq!(reqs[2].messages(), vec![user("q2"), assistant("a2"), user("q3")], "run 3");
    env.cleanup().await;
}

#[tokio::test]
async fn history_cut_by_message_count_never_starts_with_an_orphan_tool_result() {
    let env = openai("", "tools: [calculator]\nadd_history_to_context: true\nnum_history_messages: 2").await;
    let agent = env.agent();
    // Run 1: user, assistant(tool call), tool, assistant. The last two are [tool, assistant].
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", r#"{"expression":"6*7"}"#)]));
    env.fake.push(Response::text("42"));
    run_ok(&agent, input("q1", "s1")).await;
    run_ok(&agent, input("q2", "s1")).await;
    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].messages(), vec![assistant("42"), user("q2")]);
    env.cleanup().await;
}

#[tokio::test]
async fn history_with_tool_calls_is_sent_in_the_shape_the_api_expects() {
    let env = openai("", "tools: [calculator]\nadd_history_to_context: true").await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", r#"{"expression":"6*7"}"#)]));
    env.fake.push(Response::text("42"));
    run_ok(&agent, input("q1", "s1")).await;
    run_ok(&agent, input("q2", "s1")).await;
    let reqs = env.fake.requests();
    assert_eq!(
        reqs[2].messages(),
        vec![
            user("q1"),
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"6*7\"}"}}]}),
            json!({"role": "tool", "content": "42", "tool_call_id": "c1"}),
            assistant("42"),
            user("q2"),
        ]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn history_leaves_out_runs_that_failed_or_were_cancelled() {
    let env = openai("max_retries: 0", "add_history_to_context: true\nnum_history_runs: 3").await;
    let agent = env.agent();
    // q1 ok; q2 fails with HTTP 400; q3 is cancelled while the model is thinking; q4 sees only q1.
    env.fake.push(Response::text("a1"));
    env.fake.push(Response::status(400));
    env.fake.push(Response::delayed(Duration::from_secs(3), Response::text("too late")));
    env.fake.push(Response::text("a4"));
    run_ok(&agent, input("q1", "s1")).await;
    let e = run_err(&agent, input("q2", "s1")).await;
    assert!(matches!(e, RunError::Model { .. }), "{e}");

    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    let requests_before = env.fake.requests().len();
    let fake_requests = {
        let fake = &env.fake;
        move || fake.requests().len()
    };
    let cancelled = async {
        // Cancel once the model call is in flight.
        while fake_requests() == requests_before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        canceller.cancel();
    };
    let started = Instant::now();
    let ((result, _), ()) = tokio::join!(agent.run(input("q3", "s1"), cancel.clone()), cancelled);
    assert!(started.elapsed() < Duration::from_secs(2), "cancellation is prompt");
    assert!(matches!(result, Err(RunError::Cancelled { .. })), "{:?}", result.map(|o| o.content));

    run_ok(&agent, input("q4", "s1")).await;
    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[3].messages(), vec![user("q1"), assistant("a1"), user("q4")]);
    let statuses: Vec<_> = env.runs("s1").await.iter().map(|r| r.status.unwrap()).collect();
    assert_eq!(statuses, [RunStatus::Completed, RunStatus::Error, RunStatus::Cancelled, RunStatus::Completed]);
    env.cleanup().await;
}

#[tokio::test]
async fn without_add_history_to_context_no_earlier_run_is_sent() {
    let env = openai("", "num_history_runs: 2").await;
    let agent = env.agent();
    run_ok(&agent, input("q1", "s1")).await;
    run_ok(&agent, input("q2", "s1")).await;
    let reqs = env.fake.requests();
    assert_eq!(reqs[1].messages(), vec![user("q2")], "no system message when nothing goes in it; no history");
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// b. System message
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_system_message_holds_description_instructions_and_session_state() {
    let env = openai(
        "",
        "description: You are a shop assistant.\ninstructions: [Be brief., Answer in English.]\nsession_state: {cart: [], prefs: {lang: en}}\nadd_session_state_to_context: true",
    )
    .await;
    let agent = env.agent();
    let mut i = input("hi", "s1");
    i.session_state = Some(json!({"prefs": {"tz": "UTC"}}).as_object().unwrap().clone());
    run_ok(&agent, i).await;
    let messages = env.fake.requests()[0].messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    let text = messages[0]["content"].as_str().unwrap();
    let (head, state) = text.split_once("<session_state>\n").expect("a <session_state> block");
    assert_eq!(
        head,
        "You are a shop assistant.\n\n<instructions>\n- Be brief.\n- Answer in English.\n</instructions>\n\n\n"
    );
    let state = state.strip_suffix("\n</session_state>").expect("the block ends the message");
    // As Agno writes it: Python's repr of the run's merged state, with the run's ids.
    let run_id = env.runs("s1").await[0].run_id.clone();
    assert_eq!(
        state,
        format!(
            "{{'cart': [], 'prefs': {{'lang': 'en', 'tz': 'UTC'}}, 'current_user_id': None, 'current_session_id': 's1', 'current_run_id': '{run_id}'}}"
        ),
        "the run's merged state"
    );
    // The stored system message is the one sent.
    let run = &env.runs("s1").await[0];
    assert_eq!(stored_messages(run)[0]["content"], text);
    env.cleanup().await;
}

#[tokio::test]
async fn a_single_instruction_is_the_system_message_as_written() {
    let env = openai("", "instructions: Always answer in French.").await;
    run_ok(&env.agent(), input("hi", "s1")).await;
    assert_eq!(env.fake.requests()[0].messages(), vec![system("Always answer in French."), user("hi")]);
    let config = &env.generation.config().agents["assistant"];
    assert_eq!(system_message(config, &Map::new()).as_deref(), Some("Always answer in French."));
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// c., d. Tools
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_tool_calls_in_one_turn_are_run_and_answered_with_their_call_ids() {
    let env = openai("", "instructions: [Be brief.]\ntools: [calculator, datetime]").await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![
        call("call_calc", "calculator", r#"{"expression":"6*7"}"#),
        call("call_time", "current_datetime", "{}"),
    ]));
    env.fake.push(Response::text("It is 42."));
    let (result, events) = run_with(&agent, input("what is 6*7 and what time is it?", "s1")).await;
    let out = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "It is 42.");

    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 2);
    let mut offered = reqs[0].tool_names();
    offered.sort();
    assert_eq!(offered, ["calculator", "current_datetime"]);
    let m = reqs[1].messages();
    assert_eq!(m.len(), 5, "{m:#?}");
    assert_eq!(m[..2], [system(BRIEF), user("what is 6*7 and what time is it?")]);
    assert_eq!(
        m[2],
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_calc", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"6*7\"}"}},
            {"id": "call_time", "type": "function", "function": {"name": "current_datetime", "arguments": "{}"}},
        ]})
    );
    assert_eq!(m[3], json!({"role": "tool", "content": "42", "tool_call_id": "call_calc"}));
    assert_eq!(m[4]["role"], "tool");
    assert_eq!(m[4]["tool_call_id"], "call_time");
    let now: Value = serde_json::from_str(m[4]["content"].as_str().unwrap()).expect("datetime result is JSON");
    assert!(now["utc"].as_str().is_some_and(|t| t.contains('T')), "{now}");

    // Events, in order.
    let tool_events: Vec<_> = events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| matches!(k, EventKind::ToolCallStarted { .. } | EventKind::ToolCallCompleted { .. }))
        .collect();
    assert_eq!(tool_events.len(), 4);
    assert_eq!(
        tool_events[0],
        &EventKind::ToolCallStarted {
            call_id: "call_calc".into(),
            name: "calculator".into(),
            arguments: r#"{"expression":"6*7"}"#.into()
        }
    );
    assert_eq!(
        tool_events[1],
        &EventKind::ToolCallCompleted {
            call_id: "call_calc".into(),
            name: "calculator".into(),
            result: "42".into(),
            error: false
        }
    );
    assert!(matches!(events.first().map(|e| &e.kind), Some(EventKind::RunStarted { .. })));
    let n = events.len();
    assert_eq!(events[n - 2].kind, EventKind::Content("It is 42.".into()));
    assert_eq!(
        events[n - 1].kind,
        EventKind::RunCompleted { content: "It is 42.".into() },
        "the terminal event is last"
    );
    assert!(events.iter().all(|e| e.run_id == out.run.run_id && e.parent_run_id.is_none()));

    // Stored: both tools with results, and every message of the loop.
    let run = &env.runs("s1").await[0];
    assert_eq!(run.status, Some(RunStatus::Completed));
    let tools = run.run_data["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["tool_call_id"], "call_calc");
    assert_eq!(tools[0]["tool_name"], "calculator");
    assert_eq!(tools[0]["tool_args"], json!({"expression": "6*7"}));
    assert_eq!(tools[0]["result"], "42");
    assert_eq!(tools[0]["tool_call_error"], false);
    assert_eq!(tools[1]["tool_call_id"], "call_time");
    assert_eq!(tools[1]["tool_name"], "current_datetime");
    assert_eq!(tools[1]["result"], m[4]["content"]);
    let roles: Vec<_> = stored_messages(run).iter().map(|m| m["role"].as_str().unwrap().to_string()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "tool", "assistant"]);
    let stored = stored_messages(run);
    assert_eq!(stored[3]["tool_call_id"], "call_calc");
    assert_eq!(stored[3]["content"], "42");
    assert_eq!(stored[2]["tool_calls"], m[2]["tool_calls"]);
    // Usage of both model calls.
    assert_eq!(run.run_data["metrics"]["input_tokens"], 20);
    assert_eq!(run.run_data["metrics"]["output_tokens"], 10);
    assert_eq!(run.run_data["metrics"]["total_tokens"], 30);
    env.cleanup().await;
}

#[tokio::test]
async fn tool_call_limit_stops_offering_tools_after_the_limit() {
    let env = openai("", "tools: [calculator]\ntool_call_limit: 1").await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", r#"{"expression":"6*7"}"#)]));
    env.fake.push(Response::text("42"));
    let out = run_ok(&agent, input("6*7?", "s1")).await;
    assert_eq!(out.content, "42");
    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].tool_names(), ["calculator"]);
    assert!(reqs[1].body.get("tools").is_none(), "no tools offered after the limit: {}", reqs[1].body);
    assert_eq!(reqs[1].messages().last().unwrap(), &json!({"role": "tool", "content": "42", "tool_call_id": "c1"}));
    env.cleanup().await;
}

#[tokio::test]
async fn tool_calls_beyond_tool_call_limit_in_one_turn_are_not_run() {
    // Agno (models/base.py run_function_calls) counts each call and answers those beyond the
    // limit with an error result instead of running them.
    let env = openai("", "tools: [calculator]\ntool_call_limit: 1").await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![
        call("c1", "calculator", r#"{"expression":"6*7"}"#),
        call("c2", "calculator", r#"{"expression":"2+2"}"#),
    ]));
    env.fake.push(Response::text("done"));
    let out = run_ok(&agent, input("two sums", "s1")).await;
    assert_eq!(out.content, "done");
    let reqs = env.fake.requests();
    let tool_messages: Vec<Value> = reqs[1].messages().into_iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_messages.len(), 2, "every call is answered");
    assert_eq!(tool_messages[0]["content"], "42");
    assert_ne!(tool_messages[1]["content"], "4", "the second call ran although tool_call_limit is 1");
    let run = &env.runs("s1").await[0];
    let executed = run.run_data["tools"].as_array().unwrap().iter().filter(|t| t["tool_call_error"] == false).count();
    assert_eq!(executed, 1, "at most tool_call_limit tools run: {}", run.run_data["tools"]);
    env.cleanup().await;
}

#[tokio::test]
async fn a_tool_error_goes_back_to_the_model_and_the_run_still_completes() {
    let env = openai("", "tools: [calculator]").await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", r#"{"expression":"1/0"}"#)]));
    env.fake.push(Response::text("Division by zero is undefined."));
    let (result, events) = run_with(&agent, input("1/0?", "s1")).await;
    let out = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "Division by zero is undefined.");
    let m = env.fake.requests()[1].messages();
    let tool = m.last().unwrap();
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "c1");
    assert!(tool["content"].as_str().unwrap().starts_with("Error:"), "{tool}");
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::ToolCallCompleted { error: true, .. })));
    let run = &env.runs("s1").await[0];
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["tools"][0]["tool_call_error"], true);
    assert!(run.run_data["tools"][0]["result"].as_str().unwrap().starts_with("Error:"));
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// e. Streaming
// ---------------------------------------------------------------------------------------------

fn contents(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Content(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streamed_content_and_tool_call_deltas_are_reassembled_and_usage_is_accounted() {
    let env = openai("", "tools: [calculator, datetime]").await;
    let agent = env.agent();
    // Run 1: text in three pieces, close-delimited body.
    env.fake.push(Response::stream_text(&["Hel", "lo ", "world"], 10, 3).close_delimited());
    // Run 2: two tool calls whose arguments are split over chunks, interleaved; the second
    // repeats its id and name in a later piece (some servers do), which must not double them.
    env.fake.push(Response::stream_deltas(
        vec![
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "calculator", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"expr"}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "current_datetime", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ession\": \"6*7\"}"}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "current_datetime", "arguments": "{}"}}]}),
        ],
        "tool_calls",
        5,
        2,
    ));
    env.fake.push(Response::stream_text(&["4", "2"], 20, 1));

    let mut i1 = input("hello", "s1");
    i1.stream = true;
    let (r1, events1) = run_with(&agent, i1).await;
    let out1 = r1.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(contents(&events1), ["Hel", "lo ", "world"], "each delta is an event");
    assert_eq!(out1.content, "Hello world");

    let mut i2 = input("6*7 and the time", "s1");
    i2.stream = true;
    let (r2, events2) = run_with(&agent, i2).await;
    let out2 = r2.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out2.content, "42");
    assert_eq!(contents(&events2), ["4", "2"]);
    let started: Vec<_> = events2
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCallStarted { name, arguments, .. } => Some((name.as_str(), arguments.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(started, [("calculator", "{\"expression\": \"6*7\"}"), ("current_datetime", "{}")]);

    let reqs = env.fake.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.body["stream"], true, "{}", r.body);
    }
    let m = reqs[2].messages();
    let asked = m.iter().find(|m| m.get("tool_calls").is_some()).expect("the assistant tool-call message");
    assert_eq!(
        asked["tool_calls"],
        json!([
            {"id": "call_a", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\": \"6*7\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "current_datetime", "arguments": "{}"}},
        ])
    );
    let tool_results: Vec<_> =
        m.iter().filter(|m| m["role"] == "tool").map(|m| (m["tool_call_id"].clone(), m["content"].clone())).collect();
    assert_eq!(tool_results.len(), 2);
    assert_eq!(tool_results[0], (json!("call_a"), json!("42")));
    assert_eq!(tool_results[1].0, json!("call_b"));

    let runs = env.runs("s1").await;
    assert_eq!(runs[0].run_data["content"], "Hello world");
    assert_eq!(roles_and_contents(&runs[0]), [pair("user", "hello"), pair("assistant", "Hello world")]);
    let metrics = &runs[0].run_data["metrics"];
    assert_eq!(
        (&metrics["input_tokens"], &metrics["output_tokens"], &metrics["total_tokens"]),
        (&json!(10), &json!(3), &json!(13))
    );
    assert!(metrics["time_to_first_token"].as_f64().is_some_and(|t| t > 0.0), "{metrics}");
    assert_eq!(runs[1].run_data["content"], "42");
    let metrics = &runs[1].run_data["metrics"];
    assert_eq!(
        (&metrics["input_tokens"], &metrics["output_tokens"], &metrics["total_tokens"]),
        (&json!(25), &json!(3), &json!(28))
    );
    assert_eq!(runs[1].run_data["tools"][0]["result"], "42");

    let session_metrics = &env.session_data("s1").await["session_metrics"];
    assert_eq!(session_metrics["input_tokens"], 35, "{session_metrics}");
    assert_eq!(session_metrics["output_tokens"], 6);
    assert_eq!(session_metrics["total_tokens"], 41);
    env.cleanup().await;
}

#[tokio::test]
async fn a_non_streamed_run_sends_no_stream_flag_and_reports_its_content_once() {
    let env = openai("", "").await;
    env.fake.push(Response::text_with_usage("plain", 7, 2));
    let (r, events) = run_with(&env.agent(), input("hi", "s1")).await;
    assert_eq!(r.unwrap().content, "plain");
    assert_eq!(contents(&events), ["plain"]);
    let req = &env.fake.requests()[0];
    assert!(req.body.get("stream").is_none_or(|s| s == false), "{}", req.body);
    assert_eq!(req.header("authorization"), Some("Bearer test-key"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let session_metrics = &env.session_data("s1").await["session_metrics"];
    assert_eq!((&session_metrics["input_tokens"], &session_metrics["total_tokens"]), (&json!(7), &json!(9)));
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// f. Retries, errors and timeouts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_429_with_retry_after_is_retried_and_succeeds() {
    let env = openai("max_retries: 2", "").await;
    env.fake.push(Response::status_retry_after(429, "0"));
    env.fake.push(Response::text("ok"));
    let out = run_ok(&env.agent(), input("hi", "s1")).await;
    assert_eq!(out.content, "ok");
    assert_eq!(env.fake.requests().len(), 2);
    let reqs = env.fake.requests();
    assert_eq!(reqs[0].body, reqs[1].body, "the retry sends the same request");
    env.cleanup().await;
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_retry() {
    let env = openai("max_retries: 1", "").await;
    env.fake.push(Response::status_retry_after(429, "1"));
    env.fake.push(Response::text("ok"));
    let started = Instant::now();
    run_ok(&env.agent(), input("hi", "s1")).await;
    assert!(started.elapsed() >= Duration::from_millis(950), "waited {:?}", started.elapsed());
    assert_eq!(env.fake.requests().len(), 2);
    env.cleanup().await;
}

#[tokio::test]
async fn two_503s_then_200_succeed_with_max_retries_2() {
    let env = openai("max_retries: 2", "").await;
    env.fake.push_all([Response::status(503), Response::status(503), Response::text("ok")]);
    let out = run_ok(&env.agent(), input("hi", "s1")).await;
    assert_eq!(out.content, "ok");
    assert_eq!(env.fake.requests().len(), 3);
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Completed));
    env.cleanup().await;
}

#[tokio::test]
async fn three_503s_exhaust_max_retries_2_and_the_run_fails() {
    let env = openai("max_retries: 2", "").await;
    env.fake.push_all([Response::status(503), Response::status(503), Response::status(503), Response::text("late")]);
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert_eq!(env.fake.requests().len(), 3);
    let text = e.to_string();
    assert!(text.contains("503") && text.contains("3 attempt"), "{text}");
    env.cleanup().await;
}

#[tokio::test]
async fn a_400_fails_after_one_request_and_the_run_is_stored_as_error() {
    let env = openai("max_retries: 2", "").await;
    env.fake.push(Response::status(400));
    env.fake.push(Response::text("must not be used"));
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert_eq!(env.fake.requests().len(), 1, "a 400 is not retried");
    assert!(matches!(&e, RunError::Model { source: ModelError::Http { status: 400, .. }, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("HTTP 400"), "{text}");
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    assert_eq!(run.run_data["status"], "ERROR");
    assert!(run.run_data["content"].as_str().unwrap().contains("HTTP 400"), "{}", run.run_data["content"]);
    env.cleanup().await;
}

#[tokio::test]
async fn a_401_says_the_key_was_refused_without_showing_it() {
    let env = openai("max_retries: 2", "").await;
    env.fake.push(Response::status(401));
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert_eq!(env.fake.requests().len(), 1, "a 401 is not retried");
    assert_eq!(env.fake.requests()[0].header("authorization"), Some("Bearer test-key"));
    let text = e.to_string();
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("test-key"), "{text}");
    assert!(!format!("{e:?}").contains("test-key"));
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    assert!(!run.run_data.to_string().contains("test-key"));
    env.cleanup().await;
}

#[tokio::test]
async fn a_slow_model_times_out_with_the_model_and_elapsed_time_named() {
    let env = openai("max_retries: 0\ntimeout: 0.3", "").await;
    env.fake.push(Response::delayed(Duration::from_secs(2), Response::text("too late")));
    let started = Instant::now();
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "gave up after {:?}", started.elapsed());
    assert!(matches!(&e, RunError::Model { source: ModelError::Timeout { .. }, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("primary") || text.contains("gpt-test"), "names the model: {text}");
    let after = text.split_once("within ").map(|(_, t)| t).unwrap_or_default();
    assert!(after.starts_with(|c: char| c.is_ascii_digit()), "names the elapsed time: {text}");
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    env.cleanup().await;
}

#[tokio::test]
async fn a_stream_that_stalls_times_out_with_the_model_and_elapsed_time_named() {
    let env = openai("max_retries: 0\ntimeout: 0.5", "").await;
    env.fake.push(Response::stream_text(&["Hel", "lo"], 1, 1).with_gap(Duration::from_secs(3)));
    let mut i = input("hi", "s1");
    i.stream = true;
    let started = Instant::now();
    let (r, events) = run_with(&env.agent(), i).await;
    let e = r.expect_err("the stream stalls");
    assert!(started.elapsed() < Duration::from_millis(2500), "gave up after {:?}", started.elapsed());
    assert_eq!(contents(&events), ["Hel"], "what arrived before the stall was streamed");
    assert!(matches!(&e, RunError::Model { source: ModelError::Timeout { .. }, .. }), "a timeout, not: {e}");
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    env.cleanup().await;
}

/// A memory-backed agent on the fake server (no blocking database threads: paused time works).
async fn in_memory(extra: &str) -> Env {
    build(Db::Memory, ModelKind::OpenAi(extra), "").await.unwrap()
}

fn streamed(message: &str) -> RunInput {
    let mut i = input(message, "s1");
    i.stream = true;
    i
}

#[tokio::test(start_paused = true)]
async fn a_90_second_stream_with_a_piece_every_second_completes_under_a_5_second_timeout() {
    let env = in_memory("max_retries: 0\ntimeout: 5").await;
    let pieces: Vec<String> = (0..90).map(|i| format!("{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    env.fake.push(Response::stream_text(&refs, 10, 90).with_gap(Duration::from_secs(1)));
    let started = tokio::time::Instant::now();
    let (r, events) = run_with(&env.agent(), streamed("a long story")).await;
    let out = r.unwrap_or_else(|e| panic!("a healthy stream was cut: {e}"));
    assert!(started.elapsed() >= Duration::from_secs(90), "{:?}", started.elapsed());
    assert_eq!(out.content, pieces.concat());
    assert_eq!(contents(&events).len(), 90);
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Completed));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_bounds_the_whole_call_even_while_the_stream_is_healthy() {
    let env = in_memory("max_retries: 0\ntimeout: 5\ndeadline: 30").await;
    let pieces: Vec<String> = (0..90).map(|i| format!("{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    env.fake.push(Response::stream_text(&refs, 10, 90).with_gap(Duration::from_secs(1)));
    let started = tokio::time::Instant::now();
    let (r, events) = run_with(&env.agent(), streamed("a long story")).await;
    let e = r.expect_err("the deadline passes");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(30) && waited < Duration::from_secs(35), "{waited:?}");
    assert!(matches!(&e, RunError::Model { source: ModelError::Deadline { .. }, .. }), "{e}");
    assert!(e.to_string().contains("deadline of 30"), "{e}");
    assert!(!contents(&events).is_empty(), "what came before the deadline was streamed");
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_do_not_keep_a_silent_model_alive() {
    let env = in_memory("max_retries: 0\ntimeout: 3").await;
    let pieces = std::iter::repeat_n(": keep-alive\n\n".to_string(), 60).collect();
    env.fake.push(Response::RawStream { pieces, gap: Duration::from_secs(1) });
    let started = tokio::time::Instant::now();
    let (r, _) = run_with(&env.agent(), streamed("hi")).await;
    let e = r.expect_err("a model that only sends comments is silent");
    assert!(matches!(&e, RunError::Model { source: ModelError::Timeout { .. }, .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_stream_answering_a_request_that_did_not_ask_for_one_is_read_as_the_answer() {
    let env = in_memory("max_retries: 0").await;
    let chunk = |delta: Value, finish: Value| {
        format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    };
    let pieces = vec![
        ": a comment first\r\n\r\n".to_string(),
        chunk(json!({"role": "assistant", "content": "streamed "}), Value::Null),
        "data:\n\n".to_string(),
        chunk(json!({"content": "anyway"}), Value::Null),
        chunk(json!({}), json!("stop")),
        "data: [DONE]\n\n".to_string(),
    ];
    env.fake.push(Response::RawStream { pieces, gap: Duration::from_millis(2) });
    let (r, _) = run_with(&env.agent(), input("hi", "s1")).await;
    assert_eq!(r.unwrap_or_else(|e| panic!("{e}")).content, "streamed anyway");
}

#[tokio::test]
async fn a_stream_cut_off_before_the_model_finished_is_an_error_run_not_an_empty_answer() {
    let env = in_memory("max_retries: 0").await;
    env.fake.push(Response::stream_cut_off(&["Hel", "lo"]));
    let (r, events) = run_with(&env.agent(), streamed("hi")).await;
    let e = r.expect_err("a cut-off stream is not an answer");
    assert!(matches!(&e, RunError::Model { source: ModelError::Malformed { .. }, .. }), "{e}");
    assert!(e.to_string().contains("ended before the model finished"), "{e}");
    assert_eq!(contents(&events), ["Hel", "lo"]);
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    assert!(run.run_data["content"].as_str().unwrap().contains("ended before"), "{:#}", run.run_data);
}

#[tokio::test]
async fn an_error_object_inside_a_stream_is_an_error_run() {
    let env = in_memory("max_retries: 0").await;
    env.fake.push(Response::stream_with_error(&["Par"], "the model is overloaded"));
    let (r, _) = run_with(&env.agent(), streamed("hi")).await;
    let e = r.expect_err("an error in the stream");
    assert!(matches!(&e, RunError::Model { source: ModelError::Remote { .. }, .. }), "{e}");
    assert!(e.to_string().contains("the model is overloaded"), "{e}");
    let run = env.store().get_run(run_id_of(&e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
}

#[tokio::test]
async fn a_plain_json_answer_to_a_streaming_request_is_read_as_the_answer() {
    let env = in_memory("max_retries: 0").await;
    env.fake.push(Response::text_with_usage("not streamed, still an answer", 4, 6));
    let (r, events) = run_with(&env.agent(), streamed("hi")).await;
    let out = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "not streamed, still an answer");
    assert_eq!(contents(&events), ["not streamed, still an answer"]);
    assert_eq!(env.fake.requests()[0].body["stream"], true, "it was asked to stream");
    let run = &env.runs("s1").await[0];
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["metrics"]["total_tokens"], 10);
}

#[tokio::test]
async fn a_stream_event_that_never_ends_is_cut_at_the_size_bound_not_buffered() {
    let env = in_memory("max_retries: 0").await;
    // One `data:` line of 40 MB with no end of event: a parser would buffer all of it.
    let body = format!("data: {}", "x".repeat(40 * 1024 * 1024));
    env.fake.push(Response::Raw { status: 200, content_type: "text/event-stream".into(), body });
    let (r, _) = run_with(&env.agent(), streamed("hi")).await;
    let e = r.expect_err("a stream past the bound");
    assert!(e.to_string().contains("larger than 33554432 bytes"), "{e}");
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Error));
}

#[tokio::test]
async fn tool_arguments_nested_too_deep_are_an_error_for_the_model_and_the_run_stays_readable() {
    let env = openai("max_retries: 0", "tools: [calculator]\nadd_history_to_context: true").await;
    let deep = format!("{}1{}", "{\"k\":".repeat(120), "}".repeat(120));
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", &deep)]));
    env.fake.push(Response::text("fine then"));
    let out = run_ok(&env.agent(), input("hi", "s1")).await;
    assert_eq!(out.content, "fine then");
    let m = env.fake.requests()[1].messages();
    let tool = m.last().unwrap();
    assert!(tool["content"].as_str().unwrap().contains("nest deeper than 32"), "{tool}");
    // The stored run reads back as JSON (it did not before: history lost it).
    let run = &env.runs("s1").await[0];
    assert!(run.run_data.is_object(), "{}", run.run_data);
    env.fake.push(Response::text("second"));
    run_ok(&env.agent(), input("again", "s1")).await;
    let sent = env.fake.requests()[2].messages();
    assert!(sent.iter().any(|m| m["content"] == "fine then"), "the first run is history: {sent:#?}");
    env.cleanup().await;
}

#[tokio::test]
async fn a_run_whose_messages_outgrow_the_run_bound_fails_instead_of_eating_memory() {
    let agent = "tools: [calculator]\nmax_reply_bytes: 33554432";
    let env = build(Db::Memory, ModelKind::OpenAi("max_retries: 0"), agent).await.unwrap();
    // Each turn: one calculator call with 24 MiB of arguments (under the per-answer bound).
    let big = format!("{{\"expression\": \"1\", \"pad\": \"{}\"}}", "x".repeat(24 * 1024 * 1024));
    for i in 0..4 {
        env.fake.push(Response::tool_calls(vec![call(&format!("c{i}"), "calculator", &big)]));
    }
    let (r, _) = run_with(&env.agent(), input("hi", "s1")).await;
    let e = r.expect_err("the run's bound");
    assert!(e.to_string().contains("grew past 67108864 bytes"), "{e}");
    assert!(env.fake.requests().len() <= 3, "stopped before a fourth turn");
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Error));
}

#[tokio::test]
async fn a_server_that_echoes_the_key_or_a_header_gets_them_hidden_everywhere() {
    let env = openai("max_retries: 0\nheaders: {X-Org: org-hidden-value}", "").await;
    env.fake.push(Response::Status {
        status: 400,
        retry_after: None,
        body: "invalid key test-key sent with X-Org org-hidden-value".into(),
    });
    let (r, _) = run_with(&env.agent(), input("hi", "s1")).await;
    let text = r.expect_err("HTTP 400").to_string();
    assert!(text.contains("invalid key ***"), "{text}");
    assert!(!text.contains("test-key") && !text.contains("org-hidden-value"), "{text}");
    let stored = env.runs("s1").await[0].run_data.to_string();
    assert!(!stored.contains("test-key") && !stored.contains("org-hidden-value"), "{stored}");
    // A key that the 300-character cut would split is hidden before the cut.
    env.fake.push(Response::Status { status: 400, retry_after: None, body: format!("{}test-key", "x".repeat(295)) });
    let (r, _) = run_with(&env.agent(), input("hi", "s2")).await;
    let text = r.expect_err("HTTP 400").to_string();
    assert!(!text.contains("test-") && !text.contains("est-k"), "{text}");
    env.cleanup().await;
}

#[tokio::test]
async fn a_reply_over_max_reply_bytes_fails_the_run_without_storing_the_reply() {
    let env = build(Db::Sqlite, ModelKind::OpenAi("max_retries: 0"), "max_reply_bytes: 1000").await.unwrap();
    env.fake.push(Response::text(&"y".repeat(20_000)));
    let (r, _) = run_with(&env.agent(), input("hi", "s1")).await;
    let e = r.expect_err("over max_reply_bytes");
    assert!(e.to_string().contains("20000 bytes, more than the 1000 bytes"), "{e}");
    let run = &env.runs("s1").await[0];
    assert_eq!(run.status, Some(RunStatus::Error));
    let stored = run.run_data.to_string();
    assert!(stored.len() < 5_000 && !stored.contains("yyyyyyyyyy"), "the reply is not stored: {} bytes", stored.len());
    // Within the bound, the same reply is the answer.
    env.fake.push(Response::text(&"y".repeat(900)));
    run_ok(&env.agent(), input("again", "s1")).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_streamed_reply_is_cut_at_max_reply_bytes_and_nothing_past_it_is_shown() {
    let env = build(Db::Memory, ModelKind::OpenAi("max_retries: 0"), "max_reply_bytes: 10000").await.unwrap();
    let piece = "z".repeat(100);
    let pieces: Vec<&str> = std::iter::repeat_n(piece.as_str(), 2_000).collect();
    env.fake.push(Response::stream_text(&pieces, 1, 1));
    let mut input = input("hi", "s1");
    input.stream = true;
    let (r, events) = run_with(&env.agent(), input).await;
    let e = r.expect_err("over max_reply_bytes while streaming");
    assert!(e.to_string().contains("grew past the 10000 bytes"), "{e}");
    let shown: usize = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Content(t) => t.len(),
            _ => 0,
        })
        .sum();
    assert!(shown <= 10_000, "{shown} bytes shown past the bound");
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Error));
}

#[tokio::test]
async fn a_huge_streamed_tool_call_index_is_a_malformed_answer_not_an_allocation() {
    let env = in_memory("max_retries: 0").await;
    env.fake.push(Response::stream_deltas(
        vec![json!({"tool_calls": [{"index": 4_000_000_000u64, "id": "x", "function": {"name": "f", "arguments": "{}"}}]})],
        "tool_calls",
        1,
        1,
    ));
    let (r, _) = run_with(&env.agent(), streamed("hi")).await;
    let e = r.expect_err("an index past the bound");
    assert!(e.to_string().contains("at most 128 tool calls"), "{e}");
    assert_eq!(env.runs("s1").await[0].status, Some(RunStatus::Error));
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_fails_naming_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = build(Db::Memory, ModelKind::OpenAi(""), "").await.unwrap();
    // The same agent, pointed at a port nothing listens on.
    let mut cfg = env.generation.config().clone();
    if let Some(agno_run::config::model::Model::Openai { base_url, max_retries, .. }) = cfg.models.get_mut("primary") {
        *base_url = Some(format!("http://127.0.0.1:{port}/v1"));
        *max_retries = Some(1);
    }
    let generation = Generation::build(cfg, Some(&env.generation), Process::new(), Options::default());
    let e = run_err(&Agent { generation, id: "assistant".into() }, input("hi", "s1")).await;
    assert!(matches!(&e, RunError::Model { source: ModelError::Transport { attempts: 2, .. }, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("2 attempt"), "{text}");
    assert!(!text.contains("test-key"), "{text}");
    env.cleanup().await;
}

#[tokio::test]
async fn model_options_and_extra_headers_are_sent() {
    let env = openai("temperature: 0.2\nmax_tokens: 64\nheaders: {X-Org: acme}", "tools: [calculator]").await;
    run_ok(&env.agent(), input("hi", "s1")).await;
    let req = &env.fake.requests()[0];
    assert_eq!(req.body["temperature"], 0.2);
    assert_eq!(req.body["max_tokens"], 64);
    assert_eq!(req.header("x-org"), Some("acme"));
    let tool = &req.body["tools"][0];
    assert_eq!(tool["type"], "function");
    assert_eq!(tool["function"]["name"], "calculator");
    assert_eq!(tool["function"]["parameters"]["required"], json!(["expression"]));
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// g. Malformed output
// ---------------------------------------------------------------------------------------------

/// The run failed with a clear message, stored as ERROR with the message as its content.
async fn assert_stored_error(env: &Env, e: &RunError, needle: &str) {
    let text = e.to_string();
    assert!(text.contains(needle), "`{needle}` not in: {text}");
    let run = env.store().get_run(run_id_of(e)).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    assert_eq!(run.run_data["status"], "ERROR");
    let content = run.run_data["content"].as_str().unwrap();
    assert!(content.contains(needle), "stored content: {content}");
    assert!(text.contains(content), "the error and the stored content agree: {text} / {content}");
}

#[tokio::test]
async fn an_invalid_json_body_fails_the_run_clearly() {
    let env = openai("", "").await;
    env.fake.push(Response::invalid_json());
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert!(matches!(&e, RunError::Model { source: ModelError::Malformed { .. }, .. }), "{e:?}");
    assert_stored_error(&env, &e, "invalid JSON").await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_call_to_an_unknown_tool_fails_the_run_clearly() {
    let env = openai("", "tools: [calculator]").await;
    env.fake.push(Response::tool_calls(vec![call("c1", "delete_everything", "{}")]));
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert!(matches!(&e, RunError::Malformed { .. }), "{e:?}");
    assert_stored_error(&env, &e, "delete_everything").await;
    assert_eq!(env.fake.requests().len(), 1);
    env.cleanup().await;
}

#[tokio::test]
async fn tool_arguments_that_do_not_parse_fail_the_run_clearly() {
    let env = openai("", "tools: [calculator]").await;
    env.fake.push(Response::tool_calls(vec![call("c1", "calculator", r#"{"expression": "6*"#)]));
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert!(matches!(&e, RunError::Malformed { .. }), "{e:?}");
    assert_stored_error(&env, &e, "not valid JSON").await;
    assert!(e.to_string().contains("calculator"));
    env.cleanup().await;
}

#[tokio::test]
async fn a_completion_without_choices_fails_the_run_clearly() {
    let env = openai("", "").await;
    env.fake.push(Response::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: "{\"choices\": []}".into(),
    });
    let e = run_err(&env.agent(), input("hi", "s1")).await;
    assert!(matches!(&e, RunError::Model { source: ModelError::Malformed { .. }, .. }), "{e:?}");
    assert_stored_error(&env, &e, "choices").await;
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// h. Same rows on every backend
// ---------------------------------------------------------------------------------------------

/// Replaces what legitimately differs between two executions: run ids, message ids,
/// timestamps and durations.
fn normalize(v: &mut Value, run_ids: &[String]) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                match k.as_str() {
                    "created_at"
                    | "updated_at"
                    | "duration"
                    | "time_to_first_token"
                    | "start_time"
                    | "end_time"
                    | "agno_run_overhead" => {
                        if !val.is_null() {
                            *val = json!(0);
                        }
                    }
                    "id" if val.is_string() && is_uuid(val) => *val = json!("<id>"),
                    _ => normalize(val, run_ids),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, run_ids)),
        Value::String(s) => {
            // Whole values and ids inside text (the state a tool answers with names its run).
            for (i, r) in run_ids.iter().enumerate() {
                if s.contains(r.as_str()) {
                    *s = s.replace(r.as_str(), &format!("<run {i}>"));
                }
            }
        }
        _ => {}
    }
}

/// Message ids are UUIDs; tool-call ids (`c1`, ...) and model ids are kept.
fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

async fn session_on(db: Db) -> Option<(Value, Vec<Value>)> {
    let env = build(
        db,
        ModelKind::OpenAi(""),
        "instructions: [Be brief.]\nadd_history_to_context: true\nnum_history_runs: 2\ntools: [calculator]\nsession_state: {cart: []}\nenable_agentic_state: true",
    )
    .await?;
    let agent = env.agent();
    env.fake.push_all([
        Response::tool_calls(vec![
            call("c1", "calculator", r#"{"expression":"6*7"}"#),
            call("c2", "update_session_state", r#"{"updates": {"cart": ["tea"]}}"#),
        ]),
        Response::text_with_usage("42, and tea is in the cart", 30, 8),
        Response::text_with_usage("a2", 12, 2),
    ]);
    let mut i1 = input("q1", "same-session");
    i1.user_id = Some("u1".into());
    run_ok(&agent, i1).await;
    let mut i2 = input("q2", "same-session");
    i2.user_id = Some("u1".into());
    i2.session_state = Some(json!({"prefs": {"lang": "en"}}).as_object().unwrap().clone());
    run_ok(&agent, i2).await;
    let mut i3 = input("q3", "same-session");
    i3.user_id = Some("u1".into());
    env.fake.push(Response::status(400));
    let _ = run_err(&agent, i3).await;

    let (session, runs) = env.store().get_session_with_runs("same-session", Some("u1")).await.unwrap();
    let run_ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    let mut session = serde_json::to_value(&session).unwrap();
    normalize(&mut session, &run_ids);
    let runs = runs
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            normalize(&mut v, &run_ids);
            v
        })
        .collect();
    env.cleanup().await;
    Some((session, runs))
}

/// Eight runs start at once on one session that does not exist yet, each with a state key of
/// its own: the session is created once and no run resets another's state.
async fn concurrent_first_runs_keep_every_state_update(db: Db) {
    let Some(env) = build(db, ModelKind::Scripted(""), "session_state: {shared: 0}").await else { return };
    let agent = env.agent();
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let agent = agent.clone();
            tokio::spawn(async move {
                let mut i1 = input(&format!("q{i}"), "fresh");
                i1.session_state = Some(json!({ format!("k{i}"): i }).as_object().unwrap().clone());
                run_ok(&agent, i1).await
            })
        })
        .collect();
    for r in runs {
        r.await.unwrap();
    }
    let state = env.session_data("fresh").await["session_state"].clone();
    for i in 0..8 {
        assert_eq!(state[format!("k{i}")], json!(i), "{db:?}: {state}");
    }
    assert_eq!(state["shared"], json!(0));
    let mut idx: Vec<i64> = env.runs("fresh").await.iter().map(|r| r.run_index.unwrap()).collect();
    idx.sort();
    assert_eq!(idx, (0..8).collect::<Vec<_>>(), "{db:?}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_runs_on_one_new_session_keep_every_state_update_on_memory_sqlite_and_postgres() {
    for db in [Db::Memory, Db::Sqlite, Db::Postgres] {
        concurrent_first_runs_keep_every_state_update(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_runs_store_the_same_rows_on_memory_sqlite_and_postgres() {
    let (memory_session, memory_runs) = session_on(Db::Memory).await.unwrap();
    let (sqlite_session, sqlite_runs) = session_on(Db::Sqlite).await.unwrap();
    assert_eq!(memory_runs.len(), 3);
    assert_eq!(memory_session["session_data"]["session_state"], json!({"cart": ["tea"], "prefs": {"lang": "en"}}));
    assert_eq!(memory_session["user_id"], "u1");
    let diff = |a: &Value, b: &Value| {
        format!("{}\n---\n{}", serde_json::to_string_pretty(a).unwrap(), serde_json::to_string_pretty(b).unwrap())
    };
    assert_eq!(
        memory_session,
        sqlite_session,
        "session, memory vs SQLite:\n{}",
        diff(&memory_session, &sqlite_session)
    );
    assert_eq!(sqlite_runs.len(), memory_runs.len());
    for (m, s) in memory_runs.iter().zip(&sqlite_runs) {
        assert_eq!(m, s, "run, memory vs SQLite:\n{}", diff(m, s));
    }
    if let Some((pg_session, pg_runs)) = session_on(Db::Postgres).await {
        assert_eq!(
            memory_session,
            pg_session,
            "session, memory vs PostgreSQL:\n{}",
            diff(&memory_session, &pg_session)
        );
        assert_eq!(pg_runs.len(), memory_runs.len());
        for (m, p) in memory_runs.iter().zip(&pg_runs) {
            assert_eq!(m, p, "run, memory vs PostgreSQL:\n{}", diff(m, p));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// i. Session state and ownership
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn agentic_state_updates_and_run_state_deep_merge_into_the_stored_state() {
    let env = openai(
        "",
        "session_state: {cart: [], prefs: {lang: en}}\nenable_agentic_state: true\nadd_session_state_to_context: true",
    )
    .await;
    let agent = env.agent();
    env.fake.push(Response::tool_calls(vec![call("u1", "update_session_state", r#"{"updates": {"cart": ["tea"]}}"#)]));
    env.fake.push(Response::text("Added tea."));
    run_ok(&agent, input("add tea", "s1")).await;
    let offered = env.fake.requests()[0].tool_names();
    assert!(offered.contains(&"update_session_state".to_string()), "{offered:?}");
    assert_eq!(env.session_data("s1").await["session_state"], json!({"cart": ["tea"], "prefs": {"lang": "en"}}));
    let run = &env.runs("s1").await[0];
    assert_eq!(run.run_data["session_state"], json!({"cart": ["tea"], "prefs": {"lang": "en"}}));

    let mut i = input("what time zone?", "s1");
    i.session_state = Some(json!({"prefs": {"tz": "UTC"}}).as_object().unwrap().clone());
    run_ok(&agent, i).await;
    let expected = json!({"cart": ["tea"], "prefs": {"lang": "en", "tz": "UTC"}});
    assert_eq!(env.session_data("s1").await["session_state"], expected);
    // The second run's system message showed the merged state.
    let reqs = env.fake.requests();
    let system_text = reqs.last().unwrap().messages()[0]["content"].as_str().unwrap().to_string();
    let state = system_text.split_once("<session_state>\n").unwrap().1.strip_suffix("\n</session_state>").unwrap();
    assert!(
        state.starts_with("{'cart': ['tea'], 'prefs': {'lang': 'en', 'tz': 'UTC'}, 'current_user_id': "),
        "{state}"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_session_of_another_user_is_refused_with_a_conflict() {
    let env = openai("", "").await;
    let agent = env.agent();
    let mut i = input("hi", "owned");
    i.user_id = Some("u1".into());
    run_ok(&agent, i).await;
    let mut i = input("let me in", "owned");
    i.user_id = Some("u2".into());
    let e = run_err(&agent, i).await;
    assert!(matches!(e, RunError::Store(StoreError::Conflict(Conflict::NotOwner { .. }))), "{e:?}");
    assert!(matches!(e.conflict(), Some(Conflict::NotOwner { .. })));
    // No user at all on an owned session is refused the same way.
    let e = run_err(&agent, input("me neither", "owned")).await;
    assert!(matches!(e, RunError::Store(StoreError::Conflict(Conflict::NotOwner { .. }))), "{e:?}");
    assert_eq!(env.fake.requests().len(), 1, "the model is not called for a refused run");
    let runs = env.runs("owned").await;
    assert_eq!(runs.len(), 1, "no run is stored for the refused user");
    assert_eq!(env.store().get_session("owned", Some("u1")).await.unwrap().user_id.as_deref(), Some("u1"));
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// j. Scripted model
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scripted_replies_come_in_turn_and_the_last_one_repeats() {
    let env = build(Db::Sqlite, ModelKind::Scripted("replies: [one, two]"), "").await.unwrap();
    let agent = env.agent();
    let mut got = Vec::new();
    for q in ["a", "b", "c"] {
        got.push(run_ok(&agent, input(q, "s1")).await.content);
    }
    assert_eq!(got, ["one", "two", "two"]);
    let runs = env.runs("s1").await;
    assert_eq!(runs[0].run_data["model_provider"], "agno-run");
    assert!(env.fake.requests().is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn a_scripted_model_without_replies_echoes_the_message() {
    let env = build(Db::Memory, ModelKind::Scripted(""), "instructions: [Be brief.]").await.unwrap();
    let agent = env.agent();
    let mut i = input("echo me", "s1");
    i.stream = true;
    let (r, events) = run_with(&agent, i).await;
    assert_eq!(r.unwrap().content, "echo me");
    assert_eq!(contents(&events), ["echo me"]);
    assert_eq!(run_ok(&agent, input("and me", "s1")).await.content, "and me");
    env.cleanup().await;
}

#[tokio::test]
async fn a_scripted_reply_with_tool_calls_runs_the_tool() {
    let env = build(
        Db::Sqlite,
        ModelKind::Scripted(
            "replies:\n  - tool_calls: [{name: calculator, arguments: {expression: \"6*7\"}}]\n  - done",
        ),
        "tools: [calculator]",
    )
    .await
    .unwrap();
    let agent = env.agent();
    let (r, events) = run_with(&agent, input("compute", "s1")).await;
    assert_eq!(r.unwrap().content, "done");
    assert!(events.iter().any(|e| e.kind
        == EventKind::ToolCallCompleted {
            call_id: "call_0_0".into(),
            name: "calculator".into(),
            result: "42".into(),
            error: false
        }));
    let run = &env.runs("s1").await[0];
    assert_eq!(run.run_data["tools"][0]["tool_name"], "calculator");
    assert_eq!(run.run_data["tools"][0]["result"], "42");
    let roles: Vec<_> = stored_messages(run).iter().map(|m| m["role"].as_str().unwrap().to_string()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    env.cleanup().await;
}
