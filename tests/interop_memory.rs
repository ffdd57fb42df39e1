//! User memories and session summaries shared with Python Agno 3.1.10 in the same database:
//! memories the memory model of an agno-run agent adds are Agno's `UserMemory` rows (topics,
//! user, agent, input), memories Agno adds are in agno-run's system messages (in order, and only
//! for their user), summaries go both ways through `agno_sessions.summary`, and — against one
//! recording fake model server — agno-run sends the memory model, the summary model and the
//! agent the very prompts Agno sends.
//!
//! Needs a Python with agno 3.x in `AGNO_TEST_PYTHON` (skipped otherwise, unless
//! `AGNO_TEST_REQUIRE_PYTHON=1`); the PostgreSQL variants use `AGNO_TEST_POSTGRES_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/test`) with a fresh schema each (skipped when nothing
//! listens there, unless `AGNO_TEST_REQUIRE_POSTGRES=1`). The Python side is
//! `tests/interop/memory_agno.py`; agno-run runs in-process against `tests/support/fake_openai.rs`.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/python.rs"]
mod python;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, Event, EventKind, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::store::RunStatus;
use fake_openai::{FakeOpenAi, Request, Response, call};
use python::{PgSchema, postgres, python, run_py};
use serde_json::{Value, json};

/// How the memory model's system message starts.
const MANAGER: &str = "You are a Memory Manager";
/// How the summary model's system message starts.
const SUMMARIZER: &str = "Analyze the following conversation";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One database, as agno-run's config and as `memory_agno.py`'s arguments.
struct Db {
    yaml: String,
    py: Vec<String>,
}

fn sqlite_db(file: &Path) -> Db {
    let file = file.display().to_string();
    Db {
        yaml: format!("{{type: sqlite, db_file: {}}}", serde_json::to_string(&file).unwrap()),
        py: vec!["--sqlite".into(), file],
    }
}

fn postgres_db(schema: &PgSchema) -> Db {
    Db {
        yaml: format!(
            "{{type: postgres, db_url: {}, db_schema: {}, connect_timeout: 5}}",
            serde_json::to_string(&schema.url).unwrap(),
            schema.name
        ),
        py: schema.py_args(),
    }
}

/// Runs `memory_agno.py CMD <db> ARGS...` off the runtime's threads (the fake model server this
/// test serves must keep answering while Python runs) and returns the JSON it printed.
async fn agno(python: &Path, cmd: &str, db: &Db, args: &[&str]) -> Value {
    let mut all = vec![cmd.to_string()];
    all.extend(db.py.iter().cloned());
    all.extend(args.iter().map(|a| a.to_string()));
    let python = python.to_path_buf();
    tokio::task::spawn_blocking(move || run_py(&python, "memory_agno.py", &all)).await.expect("memory_agno.py")
}

/// The memories `memory_agno.py list --user USER` returns (Agno's `get_user_memories`).
async fn agno_memories(python: &Path, db: &Db, user: &str) -> Vec<Value> {
    let listed = agno(python, "list", db, &["--user", user]).await;
    listed["memories"].as_array().unwrap_or_else(|| panic!("no memories list: {listed:#}")).clone()
}

/// An agno-run generation on `db` whose model `m` (gpt-4o-mini, as the Python side's) is served
/// at `base_url`; `agents` is the `agents:` block.
struct Env {
    generation: Arc<Generation>,
    _dir: tempfile::TempDir,
}

fn generation(db: &Db, base_url: &str, agents: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {}\nmodels:\n  m: {{provider: openai, id: gpt-4o-mini, base_url: {}, api_key: mock-key, max_retries: 0}}\nagents:\n{agents}",
        db.yaml,
        serde_json::to_string(base_url).unwrap()
    );
    let path = dir.path().join("agno-run.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report));
    Env { generation: Generation::build(config, None, Process::new(), Options::default()), _dir: dir }
}

impl Env {
    /// Runs `agent` once and reads every event until the stream ends, which is after the memory
    /// update and the summary; returns the run id, the answer and the events.
    async fn run(&self, agent: &str, message: &str, user: &str, session: &str) -> (String, String, Vec<Event>) {
        let input = RunInput {
            message: message.into(),
            session_id: Some(session.into()),
            user_id: Some(user.into()),
            ..Default::default()
        };
        let request = RunRequest { target: Component::new(SessionType::Agent, agent), input, parent: None };
        let mut handle = runtime::start(&self.generation, request).await.expect("the run starts");
        let run_id = handle.run_id().to_string();
        let mut events = Vec::new();
        while let Some(e) =
            tokio::time::timeout(Duration::from_secs(60), handle.next_event()).await.expect("the run's events")
        {
            events.push(e);
        }
        let out = handle.result().await.unwrap_or_else(|e| panic!("run {message:?} failed: {e}"));
        assert_eq!(out.run.status, Some(RunStatus::Completed), "run {message:?}");
        (run_id, out.content, events)
    }
}

fn system_of(r: &Request) -> String {
    r.messages()
        .first()
        // Agno's OpenAIChat sends the system prompt with role `developer`.
        .filter(|m| m["role"] == "system" || m["role"] == "developer")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn last_is_tool(r: &Request) -> bool {
    r.messages().last().is_some_and(|m| m["role"] == "tool")
}

fn is_main(r: &Request) -> bool {
    let s = system_of(r);
    !s.starts_with(MANAGER) && !s.starts_with(SUMMARIZER)
}

/// The memory update's and the summary's outcomes among a run's events.
fn memory_changes(events: &[Event]) -> Vec<(Option<Value>, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MemoryUpdateCompleted { changes, error } => Some((changes.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

fn summaries(events: &[Event]) -> Vec<(Option<Value>, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SessionSummaryCompleted { summary, error } => Some((summary.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. agno-run writes a memory, Agno reads it.
// ---------------------------------------------------------------------------------------------

const ANA_SAYS: &str = "I'm Ana, and I really like green tea.";

async fn agno_reads_the_memory_agno_run_wrote(python: &Path, db: &Db) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|r| {
        let sys = system_of(r);
        if sys.starts_with(MANAGER) && !last_is_tool(r) {
            Response::tool_calls(vec![call(
                "call-1",
                "add_memory",
                r#"{"memory": "Ana likes green tea", "topics": ["food", "drinks"]}"#,
            )])
        } else if sys.starts_with(MANAGER) {
            Response::text("Added a memory.")
        } else {
            Response::text("Nice to meet you, Ana!")
        }
    });
    let env = generation(
        db,
        &fake.base_url(),
        "  memo-agent:\n    name: Memo\n    model: m\n    update_memory_on_run: true\n",
    );
    let (_, content, events) = env.run("memo-agent", ANA_SAYS, "u1", "s1").await;
    assert_eq!(content, "Nice to meet you, Ana!");
    let changes = memory_changes(&events);
    assert_eq!(changes.len(), 1, "one memory update: {events:#?}");
    let (Some(changes), None) = &changes[0] else { panic!("the memory update failed: {changes:?}") };
    let added = changes["added"].as_array().cloned().unwrap_or_default();
    assert_eq!(added.len(), 1, "one memory added: {changes}");
    let managers: Vec<Request> = fake.requests().into_iter().filter(|r| system_of(r).starts_with(MANAGER)).collect();
    assert_eq!(managers.len(), 2, "the tool call, then the memory model's text");
    let tool_answer = managers[1].messages().last().cloned().unwrap_or_default();
    assert_eq!(tool_answer["content"], "Memory added successfully", "{tool_answer}");

    let memories = agno_memories(python, db, "u1").await;
    assert_eq!(memories.len(), 1, "Agno's get_user_memories(u1): {memories:#?}");
    let m = &memories[0];
    assert_eq!(m["memory_id"], added[0], "{m:#}");
    assert_eq!(m["memory"], "Ana likes green tea", "{m:#}");
    assert_eq!(m["topics"], json!(["food", "drinks"]), "{m:#}");
    assert_eq!(m["user_id"], "u1", "{m:#}");
    assert_eq!(m["agent_id"], "memo-agent", "{m:#}");
    assert_eq!(m["team_id"], Value::Null, "{m:#}");
    assert_eq!(m["input"], ANA_SAYS, "{m:#}");
    assert!(m["created_at"].as_i64().is_some_and(|t| t > 1_600_000_000), "created_at in epoch seconds: {m:#}");
    assert!(m["updated_at"].as_i64().is_some_and(|t| t > 1_600_000_000), "updated_at in epoch seconds: {m:#}");
    assert!(agno_memories(python, db, "u2").await.is_empty(), "another user has none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_reads_the_memory_agno_run_wrote() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_reads_the_memory_agno_run_wrote(&python, &sqlite_db(&dir.path().join("agno.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_agno_reads_the_memory_agno_run_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    agno_reads_the_memory_agno_run_wrote(&python, &postgres_db(&schema)).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Agno writes memories, agno-run puts them in its system message.
// ---------------------------------------------------------------------------------------------

async fn agno_run_puts_the_memories_agno_wrote_in_context(python: &Path, db: &Db) {
    // Agno writes first (on a new database it creates the memory table; agno-run adopts it).
    // The ids sort against the times, so an order by id would show.
    let first = "Ana lives in Lyon";
    let second = "Ana likes green tea";
    for (id, text, topic, at) in [("m-b", first, "location", "1700000000"), ("m-a", second, "drinks", "1700000100")] {
        let ok = agno(
            python,
            "add",
            db,
            &["--user", "u1", "--id", id, "--memory", text, "--topic", topic, "--created-at", at],
        )
        .await;
        assert_eq!(ok, json!({"ok": true}));
    }
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|_| Response::text("Hello!"));
    let env = generation(db, &fake.base_url(), "  reader:\n    model: m\n    add_memories_to_context: true\n");
    env.run("reader", "What do you know about me?", "u1", "s1").await;
    env.run("reader", "What do you know about me?", "u2", "s2").await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "no memory model runs (update_memory_on_run is off): {requests:#?}");
    let u1 = system_of(&requests[0]);
    let block =
        format!("<memories_from_previous_interactions>\n- {first}\n- {second}\n</memories_from_previous_interactions>");
    assert!(u1.contains(&block), "u1's system message has Agno's memories, oldest first:\n{u1}");
    assert!(u1.starts_with("You have access to user info and preferences from previous interactions"), "{u1}");
    let u2 = system_of(&requests[1]);
    assert!(!u2.contains(first) && !u2.contains(second) && !u2.contains("<memories_from"), "u2 sees none:\n{u2}");
    assert!(
        u2.contains("You have the capability to retain memories from previous interactions with the user, but have not had any interactions with the user yet."),
        "{u2}"
    );
    // Agno still lists both, untouched.
    let listed: Vec<Value> = agno_memories(python, db, "u1").await.iter().map(|m| m["memory"].clone()).collect();
    assert_eq!(listed, [json!(first), json!(second)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_run_puts_the_memories_agno_wrote_in_context() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_run_puts_the_memories_agno_wrote_in_context(&python, &sqlite_db(&dir.path().join("agno.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_agno_run_puts_the_memories_agno_wrote_in_context() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    agno_run_puts_the_memories_agno_wrote_in_context(&python, &postgres_db(&schema)).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Session summaries, both ways.
// ---------------------------------------------------------------------------------------------

const OUR_SUMMARY: &str = "The user asked for the capital of France.";
const AGNO_SUMMARY: &str = "Agno's summary: the user is planning a trip to Paris in May.";
const AGNO_SUMMARY_NEW: &str = "Agno's summary of a session only Agno had seen: the user collects stamps.";

/// The `<summary_of_previous_interactions>` block of a system message with `text`.
fn summary_block(text: &str) -> String {
    format!("<summary_of_previous_interactions>\n{text}\n</summary_of_previous_interactions>")
}

async fn summaries_go_both_ways(python: &Path, db: &Db) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|r| {
        if system_of(r).starts_with(SUMMARIZER) {
            Response::text(&json!({"summary": OUR_SUMMARY, "topics": ["geography", "france"]}).to_string())
        } else {
            Response::text("Paris.")
        }
    });
    let env = generation(
        db,
        &fake.base_url(),
        "  summ:\n    model: m\n    enable_session_summaries: true\n    add_session_summary_to_context: true\n",
    );

    // agno-run writes the summary, Agno reads it.
    let (_, _, events) = env.run("summ", "What is the capital of France?", "u1", "s1").await;
    let written = summaries(&events);
    assert_eq!(written.len(), 1, "one summary: {events:#?}");
    assert!(written[0].1.is_none() && written[0].0.is_some(), "the summary failed: {written:?}");
    let read = agno(python, "summary", db, &["--session", "s1"]).await;
    let s = &read["summary"];
    assert_eq!(s["summary"], OUR_SUMMARY, "Agno's session.summary: {read:#}");
    assert_eq!(s["topics"], json!(["geography", "france"]), "{read:#}");
    assert!(s["updated_at"].as_str().is_some_and(|t| t.len() >= 19 && t.as_bytes()[10] == b'T'), "{read:#}");

    // Agno replaces it; agno-run's next run in the session has Agno's in its system message.
    let ok = agno(
        python,
        "set-summary",
        db,
        &["--session", "s1", "--agent", "summ", "--user", "u1", "--text", AGNO_SUMMARY, "--topic", "travel"],
    )
    .await;
    assert_eq!(ok, json!({"ok": true}));
    let before = fake.requests().len();
    env.run("summ", "And when is the best time to go?", "u1", "s1").await;
    let main: Vec<Request> = fake.requests()[before..].iter().filter(|r| is_main(r)).cloned().collect();
    assert_eq!(main.len(), 1);
    let sys = system_of(&main[0]);
    assert!(sys.contains(&summary_block(AGNO_SUMMARY)), "the second run's system message has Agno's summary:\n{sys}");
    assert!(!sys.contains(OUR_SUMMARY), "{sys}");

    // A session Agno created with only a summary: agno-run's first run in it sees the summary.
    let ok = agno(
        python,
        "set-summary",
        db,
        &["--session", "s-agno", "--agent", "summ", "--user", "u1", "--text", AGNO_SUMMARY_NEW],
    )
    .await;
    assert_eq!(ok, json!({"ok": true}));
    let before = fake.requests().len();
    env.run("summ", "What do I collect?", "u1", "s-agno").await;
    let main: Vec<Request> = fake.requests()[before..].iter().filter(|r| is_main(r)).cloned().collect();
    assert_eq!(main.len(), 1);
    let sys = system_of(&main[0]);
    assert!(sys.contains(&summary_block(AGNO_SUMMARY_NEW)), "{sys}");
    // ... and then wrote its own over it, which Agno reads.
    let read = agno(python, "summary", db, &["--session", "s-agno"]).await;
    assert_eq!(read["summary"]["summary"], OUR_SUMMARY, "{read:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_summaries_go_both_ways() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    summaries_go_both_ways(&python, &sqlite_db(&dir.path().join("agno.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_summaries_go_both_ways() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    summaries_go_both_ways(&python, &postgres_db(&schema)).await;
}

// ---------------------------------------------------------------------------------------------
// 4. The prompts agno-run sends are Agno's.
// ---------------------------------------------------------------------------------------------

/// The main, memory and summary requests of one run, told apart by their system messages (Agno
/// sends the memory request concurrently with the main one, so their order says nothing).
struct Three {
    main: Request,
    memory: Request,
    summary: Request,
}

fn three(requests: Vec<Request>, who: &str) -> Three {
    let pick = |f: &dyn Fn(&Request) -> bool, what: &str| {
        let found: Vec<&Request> = requests.iter().filter(|r| f(r)).collect();
        assert_eq!(
            found.len(),
            1,
            "{who}: one {what} request among {:#?}",
            requests.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        found[0].clone()
    };
    Three {
        main: pick(&is_main, "main"),
        memory: pick(&|r| system_of(r).starts_with(MANAGER), "memory model"),
        summary: pick(&|r| system_of(r).starts_with(SUMMARIZER), "summary model"),
    }
}

/// The request's `tools`, with `function.strict` taken out where it is `true`.
fn tools_without_strict(r: &Request) -> Vec<Value> {
    r.body["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut t| {
            if let Some(f) = t.get_mut("function").and_then(Value::as_object_mut)
                && f.get("strict") == Some(&Value::Bool(true))
            {
                f.remove("strict");
            }
            t
        })
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agno_run_sends_agnos_memory_summary_and_agent_prompts() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    // Text to everything: no memory changes, so both sides' runs see the same memories; the
    // summary answers are valid JSON, so both sides store one.
    let summary_json = json!({"summary": "Ana adopted a cat named Miso.", "topics": ["pets"]}).to_string();
    fake.respond_with(move |r| {
        let sys = system_of(r);
        if sys.starts_with(SUMMARIZER) {
            Response::text(&summary_json)
        } else if sys.starts_with(MANAGER) {
            Response::text("No changes to the memories are needed.")
        } else {
            Response::text("Congratulations on Miso, Ana!")
        }
    });
    let message = "I just adopted a cat named Miso.";
    let agno_db = sqlite_db(&dir.path().join("agno.db"));
    let ours_db = sqlite_db(&dir.path().join("agno-run.db"));
    let memories = [
        ("mem-1", "Ana lives in Lyon", "location", "1700000000"),
        ("mem-2", "Ana likes green tea", "drinks", "1700000100"),
    ];
    for db in [&agno_db, &ours_db] {
        for (id, text, topic, at) in memories {
            let ok = agno(
                python.as_path(),
                "add",
                db,
                &["--user", "u1", "--id", id, "--memory", text, "--topic", topic, "--created-at", at],
            )
            .await;
            assert_eq!(ok, json!({"ok": true}));
        }
    }

    // Agno first.
    let out = agno(
        &python,
        "run",
        &agno_db,
        &[
            "--base-url",
            &fake.base_url(),
            "--agent",
            "cmp-agent",
            "--session",
            "s1",
            "--user",
            "u1",
            "--message",
            message,
            "--update-memory-on-run",
            "--session-summaries",
        ],
    )
    .await;
    assert_eq!(out["status"], "COMPLETED", "{out:#}");
    assert_eq!(out["content"], "Congratulations on Miso, Ana!", "{out:#}");
    assert_eq!(out["memories"].as_array().map(Vec::len), Some(2), "Agno changed no memory: {out:#}");
    let agno_requests = fake.requests();
    let n = agno_requests.len();
    let agno_side = three(agno_requests, "Agno");
    assert_eq!(out["summary"]["summary"], "Ana adopted a cat named Miso.", "Agno wrote its summary: {out:#}");

    // Then agno-run, the same agent over the same memories.
    let env = generation(
        &ours_db,
        &fake.base_url(),
        "  cmp-agent:\n    name: cmp-agent\n    model: m\n    update_memory_on_run: true\n    enable_session_summaries: true\n",
    );
    let (_, content, events) = env.run("cmp-agent", message, "u1", "s1").await;
    assert_eq!(content, "Congratulations on Miso, Ana!");
    let changes = memory_changes(&events);
    assert!(
        changes.len() == 1 && changes[0].1.is_none() && changes[0].0.as_ref().is_some_and(|c| c["added"] == json!([])),
        "{changes:?}"
    );
    assert!(summaries(&events).first().is_some_and(|(s, e)| s.is_some() && e.is_none()), "{events:#?}");
    let ours_side = three(fake.requests()[n..].to_vec(), "agno-run");

    // Request-level keys other than messages and tools, printed where they differ (not
    // asserted: transport choices such as `stream`), to be seen with --nocapture.
    for (what, a, o) in [
        ("main", &agno_side.main, &ours_side.main),
        ("memory", &agno_side.memory, &ours_side.memory),
        ("summary", &agno_side.summary, &ours_side.summary),
    ] {
        for k in keys(&a.body).into_iter().chain(keys(&o.body)) {
            if !["messages", "tools", "response_format"].contains(&k.as_str()) && a.body.get(&k) != o.body.get(&k) {
                println!("{what}.{k}: Agno {:?} / agno-run {:?}", a.body.get(&k), o.body.get(&k));
            }
        }
    }

    // Every difference is collected, so that one run shows them all.
    let mut diffs: Vec<String> = Vec::new();
    let mut same = |what: &str, agno: Value, ours: Value| {
        if agno != ours {
            diffs.push(describe(what, &agno, &ours));
        }
    };

    // The memory model: its system message (with the same <existing_memories>) and the user's
    // message, exactly.
    same("memory model: system message", json!(system_of(&agno_side.memory)), json!(system_of(&ours_side.memory)));
    same("memory model: messages", json!(messages(&agno_side.memory)), json!(messages(&ours_side.memory)));
    let existing = "\n\n<existing_memories>\nID: mem-1\nMemory: Ana lives in Lyon\n\nID: mem-2\nMemory: Ana likes green tea\n\n</existing_memories>";
    assert!(system_of(&agno_side.memory).ends_with(existing), "{}", system_of(&agno_side.memory));
    assert_eq!(messages(&agno_side.memory)[1], json!({"role": "user", "content": message}));

    // The memory tools: names, descriptions and parameters, exactly, in order (Agno 3.1.10 sorts
    // every request's tools by name). Agno declares them strict (`"strict": true` on each
    // function); agno-run does not send `strict`: the one difference, left out here.
    let agno_tools = agno_side.memory.body["tools"].as_array().cloned().unwrap_or_default();
    assert!(
        !agno_tools.is_empty() && agno_tools.iter().all(|t| t["function"]["strict"] == json!(true)),
        "Agno's memory tools are strict: {agno_tools:#?}"
    );
    same("memory model: tool names", json!(agno_side.memory.tool_names()), json!(ours_side.memory.tool_names()));
    let by_name = |r: &Request| -> Value {
        let mut t = tools_without_strict(r);
        t.sort_by_key(|t| t["function"]["name"].as_str().unwrap_or_default().to_string());
        Value::Array(t)
    };
    same("memory model: tools (by name, strict left out)", by_name(&agno_side.memory), by_name(&ours_side.memory));
    same(
        "memory model: tools (in order, strict left out)",
        Value::Array(tools_without_strict(&agno_side.memory)),
        Value::Array(tools_without_strict(&ours_side.memory)),
    );
    same(
        "memory model: tool_choice",
        agno_side.memory.body["tool_choice"].clone(),
        ours_side.memory.body["tool_choice"].clone(),
    );

    // The agent's own request: its system message (the memories section), and its messages.
    same("agent: system message", json!(system_of(&agno_side.main)), json!(system_of(&ours_side.main)));
    assert!(system_of(&agno_side.main).contains(
        "<memories_from_previous_interactions>\n- Ana lives in Lyon\n- Ana likes green tea\n</memories_from_previous_interactions>"
    ));
    same("agent: messages", json!(messages(&agno_side.main)), json!(messages(&ours_side.main)));
    same("agent: tool names", json!(agno_side.main.tool_names()), json!(ours_side.main.tool_names()));

    // The summary model: the conversation in its system message (the same: both runs had the
    // same messages), the request for it, and the response format.
    same("summary model: system message", json!(system_of(&agno_side.summary)), json!(system_of(&ours_side.summary)));
    assert!(system_of(&agno_side.summary).ends_with(&format!(
        "<conversation>User: {message}\nAssistant: Congratulations on Miso, Ana!\n</conversation>"
    )));
    same("summary model: messages", json!(messages(&agno_side.summary)), json!(messages(&ours_side.summary)));
    same(
        "summary model: response_format",
        agno_side.summary.body["response_format"].clone(),
        ours_side.summary.body["response_format"].clone(),
    );
    same("summary model: tools", agno_side.summary.body["tools"].clone(), ours_side.summary.body["tools"].clone());
    assert_eq!(agno_side.summary.body["response_format"]["type"], "json_schema");

    assert!(diffs.is_empty(), "agno-run's requests differ from Agno's:\n\n{}", diffs.join("\n\n"));
}

/// A request's messages, the system prompt's role `developer` (Agno's OpenAIChat) written
/// `system` (agno-run's): a deliberate difference (tests/agno_teams_workflows/DIFFERENCES.md).
fn messages(r: &Request) -> Vec<Value> {
    r.messages()
        .into_iter()
        .map(|mut m| {
            if m["role"] == "developer" {
                m["role"] = json!("system");
            }
            m
        })
        .collect()
}

/// What differs between Agno's `agno` and agno-run's `ours`: for texts, the first line that
/// differs; otherwise both values.
fn describe(what: &str, agno: &Value, ours: &Value) -> String {
    if let (Some(a), Some(o)) = (agno.as_str(), ours.as_str()) {
        let (al, ol): (Vec<&str>, Vec<&str>) = (a.split('\n').collect(), o.split('\n').collect());
        let i = al.iter().zip(&ol).take_while(|(x, y)| x == y).count();
        return format!(
            "{what}: differs at line {} of {} (Agno) / {} (agno-run)\n  Agno:     {:?}\n  agno-run: {:?}\n--- Agno ---\n{a}\n--- agno-run ---\n{o}",
            i + 1,
            al.len(),
            ol.len(),
            al.get(i),
            ol.get(i)
        );
    }
    format!(
        "{what}:\n--- Agno ---\n{}\n--- agno-run ---\n{}",
        serde_json::to_string_pretty(agno).unwrap(),
        serde_json::to_string_pretty(ours).unwrap()
    )
}
