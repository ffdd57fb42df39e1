//! The run core through the library, as every surface uses it: runs as spawned tasks with
//! handles (a dropped handle cancels), terminal events, the registry of runs in flight, the tool
//! trait (a context that reaches the runtime and starts member runs; timeouts; panics), one
//! heartbeat per database whatever the number of runs, and generations that reuse what did not
//! change. Models are scripted (offline); databases are in memory or SQLite.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agno_run::config::{Config, LoadOptions, load};
use agno_run::model::ToolSpec;
use agno_run::run::{Component, Event, EventKind, RunError, RunHandle, RunInput, RunRequest, RunStatus, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::store::{Run, Store};
use agno_run::tool::{Tool, ToolContext, ToolError};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Notify;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn config(dir: &std::path::Path, yaml: &str) -> Config {
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut options = LoadOptions::with_env(HashMap::new());
    // The functions of the tools these tests add to the generation, and `nosuch`, which no tool
    // has: validation would refuse a scripted call to it, but a real model may make one, and
    // the run must answer it with an error.
    options.extra_functions = ["wait", "delegate", "slow", "boom", "nosuch"].map(String::from).to_vec();
    let loaded = load(&[path], &options);
    loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report))
}

/// A config with one database and scripted agents `lead` (calls `tool_name`, then answers
/// "lead done") and `writer` (echoes); `db` is `memory` or `sqlite`.
fn yaml(db: &str, tool_name: &str) -> String {
    let db = if db == "memory" { "{type: memory}" } else { "{type: sqlite, db_file: agno.db}" };
    format!(
        r#"version: 1
databases:
  main: {db}
models:
  lead:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: {tool_name}, arguments: {{task: "write a line"}}}}]}}
      - "lead done"
  echo: {{provider: scripted}}
agents:
  lead: {{model: lead, db: main, add_history_to_context: true}}
  writer: {{model: echo, db: main}}
"#
    )
}

/// `n` more agents `lead0`.. like `lead`, each with a scripted model of its own (a scripted
/// model's replies come in turn across every run of it in the process).
fn more_leads(yaml: &str, tool_name: &str, n: usize) -> String {
    let mut models = String::new();
    let mut agents = String::new();
    for i in 0..n {
        models.push_str(&format!(
            "  lead{i}:\n    provider: scripted\n    replies:\n      - {{tool_calls: [{{name: {tool_name}, arguments: {{}}}}]}}\n      - \"lead done\"\n"
        ));
        agents.push_str(&format!("  lead{i}: {{model: lead{i}, db: main}}\n"));
    }
    yaml.replace("models:\n", &format!("models:\n{models}")).replace("agents:\n", &format!("agents:\n{agents}"))
}

/// The generation of `config`, `tools` offered to `lead` and every `leadN`.
fn generation(config: Config, tools: Vec<Arc<dyn Tool>>) -> Arc<Generation> {
    let mut options = Options::default();
    for id in config.agents.keys().filter(|id| id.starts_with("lead")) {
        options.tools.insert(id.clone(), tools.clone());
    }
    Generation::build(config, None, Process::new(), options)
}

fn request(agent: &str, message: &str, session: &str) -> RunRequest {
    RunRequest {
        target: Component::new(SessionType::Agent, agent),
        input: RunInput { message: message.into(), session_id: Some(session.into()), ..Default::default() },
        parent: None,
    }
}

async fn start(g: &Arc<Generation>, agent: &str, message: &str, session: &str) -> RunHandle {
    runtime::start(g, request(agent, message, session)).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Every event until the run tree ends, then the result.
async fn drain(mut h: RunHandle) -> (Vec<Event>, Result<agno_run::run::RunOutput, RunError>) {
    let mut events = Vec::new();
    while let Some(e) = h.next_event().await {
        events.push(e);
    }
    (events, h.result().await)
}

async fn runs(store: &Store, session: &str) -> Vec<Run> {
    store.list_runs(session).await.unwrap()
}

/// A tool named `name` whose every call waits until `gate` is opened, counting the calls.
#[derive(Debug)]
struct Gate {
    spec: ToolSpec,
    gate: Arc<Notify>,
    calls: Arc<AtomicUsize>,
}

impl Gate {
    fn new(name: &str, gate: Arc<Notify>, calls: Arc<AtomicUsize>) -> Arc<Gate> {
        Arc::new(Gate { spec: spec(name), gate, calls })
    }
}

fn spec(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: "test tool".into(),
        parameters: json!({"type": "object", "properties": {"task": {"type": "string"}}}),
    }
}

impl Tool for Gate {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, _args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.gate.notified().await;
            Ok("opened".into())
        })
    }
}

/// Waits (bounded) until `n` calls of a [`Gate`] are in progress.
async fn calls_reach(calls: &AtomicUsize, n: usize) {
    for _ in 0..2_000 {
        if calls.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("only {} of {n} tool calls started", calls.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// Handles, cancellation, terminal events, the registry
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_run_handle_cancels_the_run_and_stores_it_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let g = generation(config(dir.path(), &yaml("sqlite", "wait")), vec![Gate::new("wait", gate, calls.clone())]);
    let store = g.store("main").await.unwrap();
    let h = start(&g, "lead", "go", "s1").await;
    let run_id = h.run_id().to_string();
    // The id is known at once, and the RUNNING row exists when `start` returns.
    assert_eq!(runs(&store, "s1").await[0].status, Some(RunStatus::Running));
    assert_eq!(runs(&store, "s1").await[0].run_data["runner"]["pid"], json!(std::process::id()));
    calls_reach(&calls, 1).await;
    drop(h); // the client went away
    tokio::time::timeout(Duration::from_secs(10), g.process().registry().idle()).await.expect("the run ends");
    let run = store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Cancelled));
    assert_eq!(run.run_data["status"], "CANCELLED");
    assert!(run.run_data.get("runner").is_none(), "the runner is named only while RUNNING");
    assert_eq!(run.run_data["messages"][0]["content"], "go", "what happened before the cancel is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_lists_runs_in_flight_and_cancels_one_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let yaml = more_leads(&yaml("memory", "wait"), "wait", 2);
    let g = generation(config(dir.path(), &yaml), vec![Gate::new("wait", gate.clone(), calls.clone())]);
    let a = start(&g, "lead0", "a", "sa").await;
    let b = start(&g, "lead1", "b", "sb").await;
    calls_reach(&calls, 2).await;
    let registry = g.process().registry();
    let listed: Vec<String> = registry.list().into_iter().map(|r| r.run_id).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a.run_id().to_string()) && listed.contains(&b.run_id().to_string()));
    let info = registry.get(a.run_id()).unwrap();
    assert_eq!((info.session_id.as_str(), info.component.clone()), ("sa", Component::new(SessionType::Agent, "lead0")));
    assert!(registry.cancel(a.run_id()));
    assert!(!registry.cancel("no-such-run"));
    let (events, result) = drain(a).await;
    assert!(matches!(result, Err(RunError::Cancelled { .. })), "{result:?}");
    assert_eq!(events.last().unwrap().kind, EventKind::RunCancelled);
    gate.notify_waiters();
    let (_, result) = drain(b).await;
    assert_eq!(result.unwrap().content, "lead done", "the other run went on");
    registry.idle().await;
    assert!(registry.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_ends_with_exactly_one_terminal_event_that_is_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"version: 1
databases:
  main: {type: memory}
models:
  ok: {provider: scripted, replies: ["fine"]}
  bad: {provider: scripted, replies: [{tool_calls: [{name: nosuch, arguments: {}}]}]}
agents:
  ok: {model: ok}
  bad: {model: bad}
"#;
    let g = generation(config(dir.path(), yaml), Vec::new());
    let (events, result) = drain(start(&g, "ok", "hi", "s1").await).await;
    assert_eq!(result.unwrap().content, "fine");
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[0], EventKind::RunStarted { session_id } if session_id == "s1"), "{kinds:?}");
    assert_eq!(kinds.last().unwrap(), &&EventKind::RunCompleted { content: "fine".into() });
    assert_eq!(kinds.iter().filter(|k| k.is_terminal()).count(), 1);

    let (events, result) = drain(start(&g, "bad", "hi", "s2").await).await;
    assert!(matches!(result, Err(RunError::Malformed { .. })), "{result:?}");
    let last = &events.last().unwrap().kind;
    assert!(matches!(last, EventKind::RunError { message } if message.contains("nosuch")), "{last:?}");
    assert_eq!(events.iter().filter(|e| e.kind.is_terminal()).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_an_unknown_agent_or_team_says_so_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{}teams:\n  desk: {{model: echo, members: [writer]}}\n", yaml("memory", "wait"));
    let g = generation(config(dir.path(), &yaml), Vec::new());
    let e = runtime::start(&g, request("writr", "hi", "s1")).await.unwrap_err();
    assert!(matches!(e, RunError::Unknown { .. }), "{e:?}");
    assert!(e.to_string().contains("did you mean `writer`"), "{e}");
    let mut team = request("dsk", "hi", "s1");
    team.target = Component::new(SessionType::Team, "dsk");
    let e = runtime::start(&g, team).await.unwrap_err();
    assert!(matches!(e, RunError::Unknown { .. }), "{e:?}");
    assert!(e.to_string().contains("no team `dsk` in the config; did you mean `desk`?"), "{e}");
    let store = g.store("main").await.unwrap();
    assert!(matches!(store.get_session("s1", None).await, Err(agno_run::store::StoreError::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_back_only_the_state_it_changed_so_a_concurrent_update_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let g =
        generation(config(dir.path(), &yaml("sqlite", "wait")), vec![Gate::new("wait", gate.clone(), calls.clone())]);
    let store = g.store("main").await.unwrap();
    // The leader's session exists, with `other` in its state.
    let mut session = agno_run::store::Session::new("s2", SessionType::Agent, "lead");
    session.session_data = Some(json!({"session_state": {"other": 0}}));
    store.upsert_session(&session).await.unwrap();
    // The run reads {other: 0}, and sets a key of its own.
    let mut req = request("lead", "go", "s2");
    req.input.session_state = Some(json!({"mine": 2}).as_object().unwrap().clone());
    let h = runtime::start(&g, req).await.unwrap();
    calls_reach(&calls, 1).await;
    // While the run is in flight, something else changes `other`, which the run never touches.
    store.update_session_state("s2", json!({"other": 1}).as_object().unwrap().clone()).await.unwrap();
    gate.notify_waiters();
    h.result().await.unwrap();
    let state = store.get_session("s2", None).await.unwrap().session_state().unwrap().clone();
    assert_eq!(Value::Object(state), json!({"mine": 2, "other": 1}), "the concurrent update was lost");
}

// ---------------------------------------------------------------------------------------------
// The tool trait
// ---------------------------------------------------------------------------------------------

/// Delegates its `task` to the agent `writer` as a member run of the calling run.
#[derive(Debug)]
struct Delegate(ToolSpec);

impl Tool for Delegate {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let task = args["task"].as_str().unwrap_or_default().to_string();
            let request = RunRequest {
                target: Component::new(SessionType::Agent, "writer"),
                input: RunInput { message: task, ..Default::default() },
                parent: Some(ctx.scope.clone()),
            };
            let handle = ctx.launcher.clone().start(request).await.map_err(|e| ToolError::Failed(e.to_string()))?;
            let out = handle.result().await.map_err(|e| ToolError::Failed(e.to_string()))?;
            Ok(format!("writer said: {}", out.content))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_reaches_the_runtime_and_starts_a_member_run_in_the_same_session() {
    let dir = tempfile::tempdir().unwrap();
    let g = generation(
        config(dir.path(), &yaml("sqlite", "delegate")),
        vec![Arc::new(Delegate(spec("delegate"))) as Arc<dyn Tool>],
    );
    let store = g.store("main").await.unwrap();
    let h = start(&g, "lead", "please delegate", "s1").await;
    let lead_run = h.run_id().to_string();
    let (events, result) = drain(h).await;
    let out = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "lead done");
    assert_eq!(out.run.run_data["tools"][0]["result"], "writer said: write a line");

    let rows = runs(&store, "s1").await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let member = rows.iter().find(|r| r.agent_id.as_deref() == Some("writer")).expect("the member run");
    assert_eq!(member.parent_run_id.as_deref(), Some(lead_run.as_str()));
    assert_eq!(member.run_data["parent_run_id"], json!(lead_run));
    assert_eq!(member.session_id, "s1");
    assert_eq!(member.status, Some(RunStatus::Completed));
    assert_eq!(member.run_data["input"]["input_content"], "write a line");
    // The session stays the leader's: never re-owned by the member.
    let s = store.get_session("s1", None).await.unwrap();
    assert_eq!(
        (s.agent_id.as_deref(), s.agent_data.as_ref().unwrap()["agent_id"].as_str()),
        (Some("lead"), Some("lead"))
    );
    // The member's events come through the root's stream, naming their parent.
    let member_events: Vec<&Event> = events.iter().filter(|e| e.run_id == member.run_id).collect();
    assert!(member_events.iter().all(|e| e.parent_run_id.as_deref() == Some(lead_run.as_str())));
    assert!(member_events.iter().any(|e| matches!(e.kind, EventKind::RunCompleted { .. })));
    assert_eq!(events.last().unwrap().run_id, lead_run, "the root's end comes last");
    // History of the session's next run holds the leader's run only.
    assert_eq!(store.history_runs("s1", 5).await.unwrap().len(), 1);
}

/// A tool that never answers within its timeout.
#[derive(Debug)]
struct Slow(ToolSpec);

impl Tool for Slow {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn call(&self, _args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok("too late".into())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_slower_than_its_timeout_is_an_error_for_the_model_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let g =
        generation(config(dir.path(), &yaml("memory", "slow")), vec![Arc::new(Slow(spec("slow"))) as Arc<dyn Tool>]);
    let (_, result) = drain(start(&g, "lead", "go", "s1").await).await;
    let out = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "lead done");
    let call = &out.run.run_data["tools"][0];
    assert_eq!(call["tool_call_error"], true, "{call}");
    assert!(call["result"].as_str().unwrap().contains("did not finish within"), "{call}");
}

/// A tool with a bug.
#[derive(Debug)]
struct Panics(ToolSpec);

impl Tool for Panics {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call(&self, _args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move { panic!("a bug in a tool") })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_that_panics_is_an_error_for_the_model_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let g =
        generation(config(dir.path(), &yaml("sqlite", "boom")), vec![Arc::new(Panics(spec("boom"))) as Arc<dyn Tool>]);
    let (_, result) = drain(start(&g, "lead", "go", "s1").await).await;
    let out = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content, "lead done");
    let call = &out.run.run_data["tools"][0];
    assert_eq!(call["tool_call_error"], true);
    assert!(call["result"].as_str().unwrap().contains("a bug in a tool"), "{call}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_own_code_panics_after_it_started_is_stored_as_error_never_left_running() {
    use agno_run::run::lifecycle::{self, SessionSeed};
    use agno_run::run::{Registry, RootScope, Scope};
    let dir = tempfile::tempdir().unwrap();
    let g = generation(config(dir.path(), &yaml("sqlite", "wait")), Vec::new());
    let store = g.store("main").await.unwrap();
    let process = Process::new();
    store.register_runner(&process.runner().row(0)).await.unwrap();
    let (scope, events, started) = Scope::root(RootScope {
        component: Component::new(SessionType::Agent, "lead"),
        session_id: Some("s1".into()),
        user_id: None,
        store: store.clone(),
        runner: process.runner().clone(),
    });
    let registry = Registry::default();
    // An executor with a bug: it writes its RUNNING row, then panics.
    async fn buggy(scope: Scope) -> Result<agno_run::run::RunOutput, RunError> {
        lifecycle::begin(&scope, SessionSeed::default(), 0, json!({"input": {"input_content": "go"}})).await?;
        panic!("a bug in an executor")
    }
    let h = agno_run::run::spawn(&registry, scope.clone(), Some(events), started, buggy(scope));
    let run_id = h.run_id().to_string();
    let (events, result) = drain(h).await;
    let e = result.unwrap_err();
    assert!(matches!(&e, RunError::Internal { message, .. } if message.contains("a bug in an executor")), "{e:?}");
    assert!(matches!(&events.last().unwrap().kind, EventKind::RunError { .. }));
    let run = store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Error));
    assert!(run.run_data["content"].as_str().unwrap().contains("a bug in an executor"), "{:#}", run.run_data);
    assert!(registry.is_empty(), "the run left the registry");
}

// ---------------------------------------------------------------------------------------------
// Heartbeats
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn one_heartbeat_per_interval_whatever_the_number_of_runs_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let yaml = more_leads(&yaml("memory", "wait"), "wait", 200);
    let g = generation(config(dir.path(), &yaml), vec![Gate::new("wait", gate.clone(), calls.clone())]);
    let mut handles = Vec::new();
    for i in 0..200 {
        handles.push(start(&g, &format!("lead{i}"), "go", &format!("s{i}")).await);
    }
    calls_reach(&calls, 200).await;
    let before = g.heartbeats("main").unwrap();
    // 35 s of (paused) time with 200 runs in flight: three heartbeats, not 600.
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(g.heartbeats("main").unwrap() - before, 3);
    let store = g.store("main").await.unwrap();
    assert_eq!(store.runners().await.unwrap().len(), 1, "one runner row for the process");
    assert_eq!(store.in_flight_runs().await.unwrap().len(), 200);
    gate.notify_waiters();
    for h in handles {
        h.result().await.unwrap();
    }
    g.process().close().await;
    assert!(store.runners().await.unwrap().is_empty(), "a clean exit removes the runner's row");
}

// ---------------------------------------------------------------------------------------------
// Generations
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_reuses_unchanged_databases_and_models_and_rebuilds_changed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = r#"version: 1
databases:
  main: {type: memory}
  side: {type: memory}
models:
  m: {provider: scripted, replies: ["one", "two", "three"]}
agents:
  a: {model: m, db: main}
"#;
    let process = Process::new();
    let g1 = Generation::build(config(dir.path(), v1), None, process.clone(), Options::default());
    let (_, r) = drain(start(&g1, "a", "hi", "kept").await).await;
    assert_eq!(r.unwrap().content, "one");
    g1.store("side").await.unwrap();

    // The same declarations: the open store (with its session) and the model (its cursor) carry over.
    let g2 = Generation::build(config(dir.path(), v1), Some(&g1), process.clone(), Options::default());
    assert_eq!(g2.number(), 2);
    assert!(g2.shares_database(&g1, "main") && g2.shares_database(&g1, "side"));
    let store2 = g2.store("main").await.unwrap();
    assert!(store2.get_session("kept", None).await.is_ok(), "the memory database was reused");
    let (_, r) = drain(start(&g2, "a", "hi", "kept").await).await;
    assert_eq!(r.unwrap().content, "two", "the model was reused");

    // A changed database and a changed model are built anew; the unchanged one is still shared.
    let v3 = v1
        .replace("main: {type: memory}", "main: {type: memory, session_table: other_sessions}")
        .replace("\"three\"", "\"3\"");
    let g3 = Generation::build(config(dir.path(), &v3), Some(&g2), process, Options::default());
    assert!(!g3.shares_database(&g2, "main") && g3.shares_database(&g2, "side"));
    let store3 = g3.store("main").await.unwrap();
    assert!(store3.get_session("kept", None).await.is_err(), "a fresh database");
    let (_, r) = drain(start(&g3, "a", "hi", "new").await).await;
    assert_eq!(r.unwrap().content, "one", "a fresh model");
    // Runs in flight on an old generation keep it: g1 still serves.
    let (_, r) = drain(start(&g1, "a", "hi", "kept").await).await;
    assert_eq!(r.unwrap().content, "three");
}
