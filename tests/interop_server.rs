//! Agno's own Python client against `agno-run serve`, unchanged: `tests/interop/agentos_client.py`
//! drives the real binary through `agno.client.os.AgentOSClient` and `agno.agent.RemoteAgent`
//! (the calls of /work/shared/reference/agentos/tools/capture.py) — config, agents, teams and
//! workflows, runs streamed and not, cancel, sessions (list, filter, paginate, detail, runs,
//! rename, update, delete, bulk delete) and memories (CRUD, topics, stats) — and prints what the
//! client parsed. Each check here is then made against the rows the server stored, read
//! straight from the database (SQLite with rusqlite, PostgreSQL with tokio-postgres). A third
//! test serves with `server.security_key` and checks the client's 401s and bearer paths.
//!
//! Needs the Python of `tests/interop.rs` (`AGNO_TEST_PYTHON`, agno 3.x; skipped without it
//! unless `AGNO_TEST_REQUIRE_PYTHON=1`) and, for the PostgreSQL test, `AGNO_TEST_POSTGRES_URL`
//! (default `postgresql://postgres@127.0.0.1:5432/test`; a fresh schema, dropped after; skipped
//! when nothing listens there unless `AGNO_TEST_REQUIRE_POSTGRES=1`). The models are scripted
//! (offline): agents echo their input, the team leader delegates then answers; two OpenAI-style
//! models on loopback ports fail (connection refused) and hang (never answered, for cancel).

#[path = "support/python.rs"]
mod python;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use python::{PgSchema, postgres, python, run_py};
use server::{Server, Start, write_config};

const USER: &str = "interop-user";
/// What the scripted team leader answers after each delegation.
const CREW_ANSWER: &str = "The crew has a plan.";

/// The database of a test, as agno-run's YAML and for reading the stored rows back.
enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(PgSchema),
}

impl Db {
    fn yaml(&self) -> String {
        match self {
            Db::Sqlite(file) => {
                format!("{{type: sqlite, db_file: {}}}", serde_json::to_string(&file.display().to_string()).unwrap())
            }
            Db::Postgres(s) => {
                format!("{{type: postgres, db_url: {}, db_schema: {}}}", serde_json::to_string(&s.url).unwrap(), s.name)
            }
        }
    }

    /// Every row of the sessions, runs and memories tables.
    fn stored(&self) -> Stored {
        const SESSIONS: &str = "SELECT session_id, session_type, agent_id, team_id, workflow_id, user_id, \
             CAST(session_data AS TEXT), CAST(metadata AS TEXT), CAST(summary AS TEXT) FROM {p}agno_sessions";
        const RUNS: &str = "SELECT run_id, session_id, run_type, agent_id, team_id, workflow_id, parent_run_id, status, \
             CAST(run_data AS TEXT) FROM {p}agno_runs";
        const MEMORIES: &str =
            "SELECT memory_id, CAST(memory AS TEXT), user_id, CAST(topics AS TEXT) FROM {p}agno_memories";
        let json = |t: Option<String>| t.map_or(Value::Null, |t| serde_json::from_str(&t).expect("stored JSON"));
        let mut out = Stored::default();
        match self {
            Db::Sqlite(file) => {
                let c = rusqlite::Connection::open(file).unwrap();
                let q = |sql: &str| sql.replace("{p}", "");
                let mut st = c.prepare(&q(SESSIONS)).unwrap();
                let rows = st
                    .query_map([], |r| {
                        Ok(StoredSession {
                            session_id: r.get(0)?,
                            session_type: r.get(1)?,
                            agent_id: r.get(2)?,
                            team_id: r.get(3)?,
                            workflow_id: r.get(4)?,
                            user_id: r.get(5)?,
                            session_data: json(r.get(6)?),
                            metadata: json(r.get(7)?),
                            summary: json(r.get(8)?),
                        })
                    })
                    .unwrap();
                for s in rows {
                    let s = s.unwrap();
                    out.sessions.insert(s.session_id.clone(), s);
                }
                let mut st = c.prepare(&q(RUNS)).unwrap();
                let rows = st
                    .query_map([], |r| {
                        Ok(StoredRun {
                            run_id: r.get(0)?,
                            session_id: r.get(1)?,
                            run_type: r.get(2)?,
                            agent_id: r.get(3)?,
                            team_id: r.get(4)?,
                            workflow_id: r.get(5)?,
                            parent_run_id: r.get(6)?,
                            status: r.get(7)?,
                            run_data: json(r.get(8)?),
                        })
                    })
                    .unwrap();
                for run in rows {
                    let run = run.unwrap();
                    out.runs.insert(run.run_id.clone(), run);
                }
                let mut st = c.prepare(&q(MEMORIES)).unwrap();
                let rows = st
                    .query_map([], |r| {
                        Ok(StoredMemory {
                            memory_id: r.get(0)?,
                            memory: json(r.get(1)?),
                            user_id: r.get(2)?,
                            topics: json(r.get(3)?),
                        })
                    })
                    .unwrap();
                for m in rows {
                    let m = m.unwrap();
                    out.memories.insert(m.memory_id.clone(), m);
                }
            }
            Db::Postgres(schema) => {
                let (url, prefix) = (schema.url.clone(), format!("\"{}\".", schema.name));
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(conn);
                    let q = |sql: &str| sql.replace("{p}", &prefix);
                    for r in c.query(&q(SESSIONS), &[]).await.unwrap() {
                        let s = StoredSession {
                            session_id: r.get(0),
                            session_type: r.get(1),
                            agent_id: r.get(2),
                            team_id: r.get(3),
                            workflow_id: r.get(4),
                            user_id: r.get(5),
                            session_data: json(r.get(6)),
                            metadata: json(r.get(7)),
                            summary: json(r.get(8)),
                        };
                        out.sessions.insert(s.session_id.clone(), s);
                    }
                    for r in c.query(&q(RUNS), &[]).await.unwrap() {
                        let run = StoredRun {
                            run_id: r.get(0),
                            session_id: r.get(1),
                            run_type: r.get(2),
                            agent_id: r.get(3),
                            team_id: r.get(4),
                            workflow_id: r.get(5),
                            parent_run_id: r.get(6),
                            status: r.get(7),
                            run_data: json(r.get(8)),
                        };
                        out.runs.insert(run.run_id.clone(), run);
                    }
                    for r in c.query(&q(MEMORIES), &[]).await.unwrap() {
                        let m = StoredMemory {
                            memory_id: r.get(0),
                            memory: json(r.get(1)),
                            user_id: r.get(2),
                            topics: json(r.get(3)),
                        };
                        out.memories.insert(m.memory_id.clone(), m);
                    }
                });
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
struct StoredSession {
    session_id: String,
    session_type: String,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    user_id: Option<String>,
    session_data: Value,
    metadata: Value,
    summary: Value,
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
struct StoredRun {
    run_id: String,
    session_id: String,
    run_type: String,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    parent_run_id: Option<String>,
    status: Option<String>,
    run_data: Value,
}

#[derive(Debug, Clone)]
struct StoredMemory {
    memory_id: String,
    memory: Value,
    user_id: Option<String>,
    topics: Value,
}

#[derive(Debug, Default)]
struct Stored {
    sessions: BTreeMap<String, StoredSession>,
    runs: BTreeMap<String, StoredRun>,
    memories: BTreeMap<String, StoredMemory>,
}

impl Stored {
    /// The top-level runs of a session, by stored content.
    fn root_runs(&self, session: &str) -> Vec<&StoredRun> {
        self.runs.values().filter(|r| r.session_id == session && r.parent_run_id.is_none()).collect()
    }
}

/// The config: agent `assistant` (echo), agent `calc` (calls the calculator, then answers),
/// agents `broken` (its model's port refuses connections) and `slow` (its model never answers),
/// team `crew` (leader delegates to `researcher`, then to `writer`, members echo), workflow
/// `pipe` (steps `draft` and `polish`, two echo agents), all in one database. Nothing leaves
/// the loopback interface.
fn config(db: &Db, server: &str, dead: u16, slow: u16) -> String {
    format!(
        r#"version: 1
databases:
  main: {db}
models:
  echo: {{provider: scripted}}
  dead: {{provider: openai, id: gpt-4o-mini, base_url: "http://127.0.0.1:{dead}/v1", api_key: x, max_retries: 0}}
  slow: {{provider: openai, id: gpt-4o-mini, base_url: "http://127.0.0.1:{slow}/v1", api_key: x, max_retries: 0, timeout: 60}}
  calc:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: calculator, arguments: {{expression: "2+2"}}}}]}}
      - "2+2 is 4."
  leader:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: delegate_task_to_member, arguments: {{member_id: researcher, task: "Find picnic spots"}}}}]}}
      - "{CREW_ANSWER}"
      - {{tool_calls: [{{name: delegate_task_to_member, arguments: {{member_id: writer, task: "Write it short"}}}}]}}
      - "{CREW_ANSWER}"
agents:
  assistant: {{name: Assistant, model: echo, db: main, description: Echoes, add_history_to_context: true, instructions: [Be brief.]}}
  calc: {{name: Calculator, model: calc, db: main, tools: [calculator]}}
  broken: {{name: Broken, model: dead, db: main}}
  slow: {{name: Slow, model: slow, db: main}}
  researcher: {{name: Researcher, model: echo, db: main, role: Finds facts}}
  writer: {{name: Writer, model: echo, db: main, role: Writes prose}}
  drafter: {{name: Drafter, model: echo, db: main}}
  polisher: {{name: Polisher, model: echo, db: main}}
teams:
  crew: {{name: Crew, mode: coordinate, model: leader, members: [researcher, writer], db: main, instructions: Coordinate the members.}}
workflows:
  pipe:
    name: Pipe
    description: "Two agent steps: draft then polish"
    db: main
    steps:
      - {{name: draft, agent: drafter, input: "Draft: {{{{ input }}}}"}}
      - {{name: polish, agent: polisher, input: "Polish: {{{{ steps.draft.content }}}}"}}
{server}"#,
        db = db.yaml(),
    )
}

/// The server, and the loopback listener the `slow` model connects to: it never accepts, so
/// a run of `slow` waits for its answer until it is cancelled.
struct Running {
    server: Server,
    _slow: std::net::TcpListener,
}

fn start(dir: &Path, db: &Db, server_yaml: &str) -> Running {
    // A port nothing listens on (the `dead` model's connection is refused).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let slow = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    write_config(dir, &config(db, server_yaml, dead, slow.local_addr().unwrap().port()));
    Running { server: Server::start(dir, Start::new(&["app.yaml"])), _slow: slow }
}

fn s<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: not a string: {v}"))
}

fn arr<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("{what}: not an array: {v}"))
}

fn names(events: &Value) -> Vec<&str> {
    arr(&events["names"], "event names").iter().map(|n| n.as_str().unwrap()).collect()
}

/// Every event the client yielded is one of its typed classes whose `event` is the name sent,
/// and the stream's last event is `last`.
fn check_stream(what: &str, ev: &Value, first: &str, last: &str) {
    let names = names(ev);
    assert!(!names.is_empty(), "{what}: the client yielded no events: {ev:#}");
    assert_eq!(names.first(), Some(&first), "{what}: {names:?}");
    assert_eq!(names.last(), Some(&last), "{what}: {names:?}");
    for (class, name) in arr(&ev["classes"], "classes").iter().zip(&names) {
        let class = s(class, "class");
        assert!(class.ends_with("Event"), "{what}: {name} parsed as {class}");
    }
}

/// The `completed` entry of a stream with that event name.
fn completed<'a>(ev: &'a Value, event: &str) -> Vec<&'a Value> {
    arr(&ev["completed"], "completed").iter().filter(|c| c["event"] == event).collect()
}

fn session_ids(page: &Value) -> Vec<String> {
    arr(&page["data"], "page data").iter().map(|r| s(&r["session_id"], "session_id").to_string()).collect()
}

/// The full client pass, then its results against the stored rows.
fn the_client_works_against_agno_run(python: &Path, db: &Db, dir: &Path) {
    let running = start(dir, db, "");
    let server = &running.server;
    let tag = "t1";
    let r = run_py(
        python,
        "agentos_client.py",
        &[server.base.clone(), "--tag".into(), tag.into(), "--user".into(), USER.into()],
    );
    let ids = &r["ids"];
    let (agent_session, team_session, wf_session, remote_session) = (
        s(&ids["agent_session"], "ids"),
        s(&ids["team_session"], "ids"),
        s(&ids["workflow_session"], "ids"),
        s(&ids["remote_session"], "ids"),
    );
    assert_eq!(r["client_log"], json!([]), "the client logged while parsing: {:#}", r["client_log"]);

    // Discovery.
    assert_eq!(r["health"]["status"], "ok", "{:#}", r["health"]);
    let cfg = &r["config"];
    assert_eq!(cfg["class"], "ConfigResponse");
    assert_eq!(cfg["databases"], json!(["main"]), "{cfg:#}");
    assert_eq!(
        cfg["agents"],
        json!(["assistant", "calc", "broken", "slow", "researcher", "writer", "drafter", "polisher"]),
        "{cfg:#}"
    );
    assert_eq!(cfg["teams"], json!(["crew"]));
    assert_eq!(cfg["workflows"], json!(["pipe"]));
    assert_eq!(cfg["session_dbs"], json!([{"db_id": "main", "tables": ["agno_sessions"]}]), "{cfg:#}");
    assert_eq!(cfg["memory_dbs"], json!([{"db_id": "main", "tables": ["agno_memories"]}]), "{cfg:#}");
    assert_eq!(r["config_sync"], cfg["os_id"]);
    let agents = arr(&r["agents"], "agents");
    assert!(agents.iter().all(|a| a["class"] == "AgentSummaryResponse" && a["db_id"] == "main"), "{agents:#?}");
    assert_eq!(
        agents.iter().map(|a| s(&a["id"], "id")).collect::<Vec<_>>(),
        ["assistant", "calc", "broken", "slow", "researcher", "writer", "drafter", "polisher"]
    );
    let a = &r["agent"];
    assert_eq!(
        (&a["class"], &a["id"], &a["name"], &a["db_id"]),
        (&json!("AgentResponse"), &json!("assistant"), &json!("Assistant"), &json!("main")),
        "{a:#}"
    );
    assert_eq!(a["description"], "Echoes");
    assert_eq!(a["sessions"]["session_table"], "agno_sessions", "{a:#}");
    assert_eq!(r["agent_sync"], "Calculator");
    assert_eq!(r["teams"], json!([{"class": "TeamSummaryResponse", "id": "crew", "name": "Crew"}]));
    assert_eq!(r["team"]["class"], "TeamResponse");
    assert_eq!(r["team"]["members"], json!(["researcher", "writer"]), "{:#}", r["team"]);
    assert_eq!(r["workflows"], json!([{"class": "WorkflowSummaryResponse", "id": "pipe", "name": "Pipe"}]));
    assert_eq!(r["workflow"]["class"], "WorkflowResponse");
    assert_eq!(r["workflow"]["steps"], json!(["draft", "polish"]), "{:#}", r["workflow"]);

    // Agent runs: the echo model answers the message.
    let run = &r["agent_run"];
    assert_eq!(
        (&run["class"], &run["status"], &run["content"]),
        (&json!("RunOutput"), &json!("COMPLETED"), &json!("Hello there")),
        "{run:#}"
    );
    assert_eq!(
        (&run["agent_id"], &run["session_id"], &run["user_id"]),
        (&json!("assistant"), &json!(agent_session), &json!(USER)),
        "{run:#}"
    );
    assert_eq!(run["message_classes"], json!(["Message"]), "{run:#}");
    assert!(arr(&run["roles"], "roles").contains(&json!("user")), "{run:#}");
    assert_eq!(run["metrics_class"], "RunMetrics", "{run:#}");
    let ev = &r["agent_stream"];
    check_stream("agent stream", ev, "RunStarted", "RunCompleted");
    for n in ["RunContent", "RunContentCompleted"] {
        assert!(names(ev).contains(&n), "agent stream has no {n}: {:?}", names(ev));
    }
    let done = completed(ev, "RunCompleted");
    assert_eq!(done.len(), 1, "{ev:#}");
    assert_eq!(done[0]["content"], "And again, briefly", "{ev:#}");
    assert_eq!(done[0]["class"], "RunCompletedEvent");
    let stream_run = s(&done[0]["run_id"], "run_id");
    assert_eq!(ev["deltas"][stream_run], "And again, briefly", "the deltas add up to the content: {ev:#}");
    assert_eq!(ev["session_ids"], json!([agent_session]));
    assert_eq!(r["agent_run_state"]["content"], "With state");
    assert_eq!(r["agent_run_state"]["status"], "COMPLETED");

    // The calculator agent: tool events parse into ToolExecution.
    let ev = &r["calc_stream"];
    check_stream("calc stream", ev, "RunStarted", "RunCompleted");
    let tools = arr(&ev["tools"], "tools");
    assert_eq!(tools.len(), 2, "{ev:#}");
    assert_eq!(
        (&tools[0]["event"], &tools[0]["class"], &tools[0]["tool_name"]),
        (&json!("ToolCallStarted"), &json!("ToolExecution"), &json!("calculator")),
        "{tools:#?}"
    );
    assert_eq!(tools[0]["tool_args"], json!({"expression": "2+2"}), "{tools:#?}");
    assert_eq!(tools[1]["event"], "ToolCallCompleted");
    assert_eq!(
        tools[1]["tool_args"],
        json!({"expression": "2+2"}),
        "the completed call keeps its arguments: {tools:#?}"
    );
    assert!(tools[1]["result"].as_str().is_some_and(|t| t.contains('4')), "{tools:#?}");
    assert_eq!(completed(ev, "RunCompleted")[0]["content"], "2+2 is 4.");

    // Teams.
    let t = &r["team_run"];
    assert_eq!(
        (&t["class"], &t["status"], &t["content"], &t["team_id"]),
        (&json!("TeamRunOutput"), &json!("COMPLETED"), &json!(CREW_ANSWER), &json!("crew")),
        "{t:#}"
    );
    assert_eq!(t["session_id"], team_session);
    // The members' runs come back in member_responses, as AgentOS answers the live TeamRunOutput.
    assert_eq!(
        t["member_responses"],
        json!([{"class": "RunOutput", "agent_id": "researcher", "content": "Find picnic spots"}]),
        "{t:#}"
    );
    let ev = &r["team_stream"];
    check_stream("team stream", ev, "TeamRunStarted", "TeamRunCompleted");
    let done = completed(ev, "TeamRunCompleted");
    assert_eq!(done.len(), 1, "{ev:#}");
    assert_eq!(
        (&done[0]["class"], &done[0]["content"], &done[0]["team_id"]),
        (&json!("RunCompletedEvent"), &json!(CREW_ANSWER), &json!("crew")),
        "{ev:#}"
    );
    assert!(
        arr(&ev["modules"], "modules").contains(&json!("agno.run.team")),
        "team events parse as agno.run.team classes: {ev:#}"
    );
    assert_eq!(done[0]["metrics_class"], "RunMetrics");
    assert_eq!(
        done[0]["member_responses"],
        json!([{"class": "RunOutput", "agent_id": "writer", "content": "Write it short"}]),
        "{ev:#}"
    );
    for n in ["TeamToolCallStarted", "TeamToolCallCompleted", "RunStarted", "RunCompleted"] {
        assert!(names(ev).contains(&n), "team stream has no {n}: {:?}", names(ev));
    }
    let member = completed(ev, "RunCompleted");
    assert_eq!(member.len(), 1, "one member run: {ev:#}");
    assert_eq!(member[0]["agent_id"], "writer", "{ev:#}");
    assert_eq!(member[0]["metrics_class"], "RunMetrics", "the member's RunCompleted has its metrics: {ev:#}");
    let delegation = arr(&ev["tools"], "tools").iter().find(|t| t["event"] == "TeamToolCallStarted").cloned().unwrap();
    assert_eq!(delegation["tool_name"], "delegate_task_to_member", "{ev:#}");
    assert_eq!(delegation["tool_args"]["member_id"], "writer", "{ev:#}");

    // Workflows: two echo steps, the second polishes the first.
    let w = &r["workflow_run"];
    assert_eq!(
        (&w["class"], &w["status"], &w["workflow_id"]),
        (&json!("WorkflowRunOutput"), &json!("COMPLETED"), &json!("pipe")),
        "{w:#}"
    );
    assert_eq!(w["content"], "Polish: Draft: Write a haiku", "{w:#}");
    let steps: Vec<&Value> = arr(&w["step_results"], "step_results").iter().collect();
    assert_eq!(steps.iter().map(|s| &s["step_name"]).collect::<Vec<_>>(), [&json!("draft"), &json!("polish")], "{w:#}");
    assert!(steps.iter().all(|s| s["class"] == "StepOutput"), "{w:#}");
    assert_eq!(steps[0]["content"], "Draft: Write a haiku");
    let ev = &r["workflow_stream"];
    check_stream("workflow stream", ev, "WorkflowStarted", "WorkflowCompleted");
    let n = names(ev);
    assert_eq!(n.iter().filter(|x| **x == "StepStarted").count(), 2, "{n:?}");
    assert_eq!(n.iter().filter(|x| **x == "StepCompleted").count(), 2, "{n:?}");
    let done = completed(ev, "WorkflowCompleted");
    assert_eq!(
        (&done[0]["class"], &done[0]["content"]),
        (&json!("WorkflowCompletedEvent"), &json!("Polish: Draft: Another haiku")),
        "{ev:#}"
    );
    let step_runs = completed(ev, "RunCompleted");
    assert_eq!(
        step_runs.iter().map(|c| s(&c["agent_id"], "agent_id")).collect::<Vec<_>>(),
        ["drafter", "polisher"],
        "{ev:#}"
    );
    let step_events: Vec<&Value> = arr(&ev["steps"], "steps").iter().filter(|e| e["event"] == "RunCompleted").collect();
    assert_eq!(
        step_events.iter().map(|e| &e["step_name"]).collect::<Vec<_>>(),
        [&json!("draft"), &json!("polish")],
        "{ev:#}"
    );
    let step_done: Vec<(&Value, &Value, &Value)> = arr(&ev["steps"], "steps")
        .iter()
        .filter(|e| e["event"] == "StepCompleted")
        .map(|e| (&e["step_name"], &e["content"], &e["response_content"]))
        .collect();
    assert_eq!(
        step_done,
        [
            (&json!("draft"), &json!("Draft: Another haiku"), &json!("Draft: Another haiku")),
            (&json!("polish"), &json!("Polish: Draft: Another haiku"), &json!("Polish: Draft: Another haiku")),
        ],
        "StepCompleted carries the step's content: {ev:#}"
    );
    let wf_stream_run = s(&done[0]["run_id"], "run_id");
    assert!(step_events.iter().all(|e| e["workflow_run_id"] == wf_stream_run), "{ev:#}");

    // A model that cannot be reached: 200 with status ERROR, or a stream ending in RunError.
    let b = &r["broken_run"];
    assert_eq!((&b["class"], &b["status"]), (&json!("RunOutput"), &json!("ERROR")), "{b:#}");
    assert!(b["content"].as_str().is_some_and(|c| c.contains("cannot reach")), "{b:#}");
    let ev = &r["broken_stream"];
    check_stream("broken stream", ev, "RunStarted", "RunError");
    assert_eq!(ev["last"]["class"], "RunErrorEvent");
    assert!(ev["last"]["content"].as_str().is_some_and(|c| c.contains("cannot reach")), "{ev:#}");
    // A run in flight, cancelled through RemoteAgent.acancel_run while the client streams it.
    assert_eq!(r["slow_cancel"], true);
    let ev = &r["slow_stream"];
    check_stream("cancelled stream", ev, "RunStarted", "RunCancelled");
    assert_eq!(ev["last"]["class"], "RunCancelledEvent");
    let slow_run = s(&arr(&ev["run_ids"], "run ids")[0], "run id").to_string();

    // Cancel: None from the client, True from RemoteAgent.
    for k in ["cancel_agent", "cancel_team", "cancel_workflow", "cancel_completed"] {
        assert_eq!(r[k], Value::Null, "{k}");
    }
    assert_eq!(r["remote_cancel_unknown"], true);
    assert_eq!(r["remote_cancel_done"], true);

    // RemoteAgent.
    let remote = &r["remote"];
    assert_eq!(
        (&remote["name"], &remote["description"], &remote["id"]),
        (&json!("Assistant"), &json!("Echoes"), &json!("assistant")),
        "{remote:#}"
    );
    assert_eq!(
        remote["db"],
        json!({"id": "main", "session_table": "agno_sessions", "memory_table": "agno_memories"}),
        "{remote:#}"
    );
    assert_eq!(
        (&r["remote_run"]["class"], &r["remote_run"]["content"], &r["remote_run"]["session_id"]),
        (&json!("RunOutput"), &json!("Remote hello"), &json!(remote_session))
    );
    let ev = &r["remote_stream"];
    check_stream("remote stream", ev, "RunStarted", "RunCompleted");
    assert_eq!(completed(ev, "RunCompleted")[0]["content"], "Remote stream");
    assert_eq!(r["remote_unknown_agent_status"], 404);

    // Sessions the runs made, as the client lists them.
    let agent_rows = &r["sessions_agent"];
    assert_eq!(agent_rows["class"], "PaginatedResponse[SessionSchema]");
    let listed = session_ids(agent_rows);
    for id in [agent_session, remote_session, "t1-state", "t1-broken", "t1-slow"] {
        assert!(listed.iter().any(|x| x == id), "{id} in {listed:?}");
    }
    assert!(arr(&agent_rows["data"], "rows").iter().all(|r| r["session_type"] == "agent" && r["agent_id"].is_string()));
    let row = arr(&agent_rows["data"], "rows").iter().find(|r| r["session_id"] == agent_session).unwrap();
    assert_eq!(
        (&row["user_id"], &row["agent_id"], &row["session_name"]),
        (&json!(USER), &json!("assistant"), &json!("Hello there")),
        "{row:#}"
    );
    assert!(row["created_at"].as_str().is_some_and(|t| t.ends_with("+00:00")), "{row:#}");
    // calc's session (a generated id, no session_id sent) is there too.
    assert_eq!(agent_rows["meta"]["total_count"], 6, "{agent_rows:#}");
    let named: BTreeMap<&str, &str> = arr(&agent_rows["data"], "rows")
        .iter()
        .map(|r| (s(&r["session_id"], "id"), s(&r["session_name"], "name")))
        .collect();
    assert_eq!(
        (named["t1-state"], named["t1-remote"]),
        ("With state", "Remote hello"),
        "rows named after their first message: {named:?}"
    );
    assert_eq!(session_ids(&r["sessions_team"]), [team_session]);
    assert_eq!(r["sessions_team"]["data"][0]["session_type"], "team");
    assert_eq!(session_ids(&r["sessions_workflow"]), [wf_session]);
    assert_eq!(r["sessions_workflow"]["data"][0]["session_type"], "workflow");
    let page2 = &r["sessions_all_page2"];
    assert_eq!(session_ids(page2).len(), 1, "{page2:#}");
    assert_eq!(
        (&page2["meta"]["page"], &page2["meta"]["limit"], &page2["meta"]["total_count"], &page2["meta"]["total_pages"]),
        (&json!(2), &json!(1), &json!(8), &json!(8)),
        "{page2:#}"
    );
    let (p1, p2) = (session_ids(&r["sessions_agent_page1"]), session_ids(&r["sessions_agent_page2"]));
    assert_eq!((p1.len(), p2.len()), (2, 2), "{p1:?} {p2:?}");
    assert!(p1.iter().all(|x| !p2.contains(x)), "pages overlap: {p1:?} {p2:?}");
    assert_eq!(r["sessions_agent_page2"]["meta"]["total_pages"], 3);
    assert_eq!(session_ids(&r["sessions_team_past_end"]), Vec::<String>::new());
    assert_eq!(r["sessions_team_past_end"]["meta"]["total_count"], 1);

    // Create, detail (the client picks the schema from the body), runs.
    let c = &r["session_create"];
    assert_eq!(
        (&c["class"], &c["session_id"], &c["session_name"]),
        (&json!("AgentSessionDetailSchema"), &json!("t1-created"), &json!("Created by the client")),
        "{c:#}"
    );
    assert_eq!(
        (&c["session_state"], &c["metadata"], &c["agent_id"]),
        (&json!({"counter": 1}), &json!({"source": "interop"}), &json!("assistant")),
        "{c:#}"
    );
    assert_eq!(r["session_get_created"]["session_name"], "Created by the client");
    let d = &r["session_get"];
    assert_eq!(
        (&d["class"], &d["session_id"], &d["agent_session_id"], &d["agent_id"]),
        (&json!("AgentSessionDetailSchema"), &json!(agent_session), &json!(agent_session), &json!("assistant")),
        "{d:#}"
    );
    assert_eq!(d["session_name"], "Hello there", "named after the first message: {d:#}");
    assert_eq!(d["chat_roles"], json!(["user", "assistant", "user", "assistant"]), "{d:#}");
    assert_eq!(r["session_get_user"]["session_id"], agent_session);
    for (k, class) in [
        ("session_get_team", "TeamSessionDetailSchema"),
        ("session_get_team_typed", "TeamSessionDetailSchema"),
        ("session_get_workflow", "WorkflowSessionDetailSchema"),
        ("session_get_workflow_typed", "WorkflowSessionDetailSchema"),
    ] {
        assert_eq!(r[k]["class"], class, "{k}: {:#}", r[k]);
    }
    assert_eq!(r["session_get_team"]["team_id"], "crew");
    assert_eq!(r["session_get_workflow"]["workflow_id"], "pipe");
    assert_eq!(r["session_get_workflow"]["workflow_name"], "Pipe", "{:#}", r["session_get_workflow"]);

    let runs = arr(&r["session_runs"], "session runs");
    assert_eq!(
        runs.iter().map(|x| (s(&x["class"], "class"), s(&x["content"], "content"))).collect::<Vec<_>>(),
        [("RunSchema", "Hello there"), ("RunSchema", "And again, briefly")]
    );
    assert_eq!(runs[0]["run_id"], r["agent_run"]["run_id"]);
    assert_eq!(runs[1]["run_id"], stream_run);
    assert!(runs.iter().all(|x| x["status"] == "COMPLETED" && x["agent_id"] == "assistant"), "{runs:#?}");
    assert_eq!(runs[0]["run_input"], "Hello there");
    assert_eq!(r["session_runs_typed"], r["session_runs"]);
    assert_eq!(r["session_runs_status"], r["session_runs"]);
    assert_eq!(r["session_runs_statuses"], r["session_runs"], "a status list (repeated keys) matches any of them");
    assert_eq!(r["session_runs_error"], json!([]));
    let truns = arr(&r["session_runs_team"], "team runs");
    let team_runs: Vec<&Value> = truns.iter().filter(|x| x["class"] == "TeamRunSchema").collect();
    assert_eq!(team_runs.len(), 2, "{truns:#?}");
    assert!(team_runs.iter().all(|x| x["content"] == CREW_ANSWER && x["team_id"] == "crew"), "{truns:#?}");
    let member_runs: Vec<&Value> = truns.iter().filter(|x| x["class"] == "RunSchema").collect();
    assert_eq!(
        member_runs.iter().map(|m| s(&m["agent_id"], "agent_id")).collect::<Vec<_>>(),
        ["researcher", "writer"],
        "{truns:#?}"
    );
    assert!(member_runs.iter().all(|m| team_runs.iter().any(|t| t["run_id"] == m["parent_run_id"])), "{truns:#?}");
    let wruns = arr(&r["session_runs_workflow"], "workflow runs");
    let wf_runs: Vec<&Value> = wruns.iter().filter(|x| x["class"] == "WorkflowRunSchema").collect();
    assert_eq!(
        wf_runs.iter().map(|x| s(&x["content"], "content")).collect::<Vec<_>>(),
        ["Polish: Draft: Write a haiku", "Polish: Draft: Another haiku"],
        "{wruns:#?}"
    );
    assert_eq!(r["session_run"]["class"], "RunSchema");
    assert_eq!(r["session_run"]["content"], "Hello there");
    assert_eq!(r["session_run_team"]["class"], "TeamRunSchema");
    assert_eq!(r["session_run_workflow"]["class"], "WorkflowRunSchema");
    assert_eq!(r["session_run_workflow"]["run_input"], "Write a haiku");

    // Rename, update.
    assert_eq!(r["session_rename"]["class"], "AgentSessionDetailSchema");
    assert_eq!(r["session_rename"]["session_name"], "Renamed by the client");
    let u = &r["session_update"];
    assert_eq!(
        (&u["session_state"], &u["metadata"], &u["session_name"]),
        (&json!({"mood": "calm"}), &json!({"tag": "updated"}), &json!("Renamed by the client")),
        "{u:#}"
    );
    assert_eq!(u["session_summary"]["summary"], "A short talk.", "{u:#}");
    assert_eq!(session_ids(&r["sessions_by_name"]), [agent_session]);
    assert_eq!(r["sessions_by_name"]["data"][0]["session_name"], "Renamed by the client");
    assert_eq!(r["session_update_inferred"]["class"], "TeamSessionDetailSchema");
    assert_eq!(r["session_update_inferred"]["session_name"], "Team renamed");
    assert_eq!(r["session_after_update"]["session_state"], json!({"mood": "calm"}));

    // Deletes.
    let generated = &r["session_create_generated"];
    assert_eq!(generated["class"], "AgentSessionDetailSchema");
    assert!(s(&generated["session_id"], "id").parse::<uuid::Uuid>().is_ok(), "a generated uuid: {generated:#}");
    assert_eq!(r["session_generated_get_status"], 404);
    assert_eq!(r["session_deleted_get_status"], 404);
    assert_eq!(r["session_deleted_delete_status"], 404);
    assert_eq!(r["bulk_before"], json!(["t1-bulk-a", "t1-bulk-b", "t1-bulk-c"]));
    assert_eq!(r["bulk_delete"], Value::Null);
    assert_eq!(r["bulk_after"], json!([]));
    assert_eq!(r["bulk_get_status"], 404);
    assert_eq!(r["unknown_session_runs_status"], 404);
    assert_eq!(r["unknown_run_status"], 404);

    // Memories.
    let created = arr(&r["memory_create"], "memories");
    assert!(created.iter().all(|m| m["class"] == "UserMemorySchema"), "{created:#?}");
    assert_eq!(created[0]["memory"], "Likes green tea");
    assert_eq!(created[0]["topics"], json!(["preferences", "drinks"]));
    assert_eq!(created[0]["user_id"], USER);
    let mid = s(&created[0]["memory_id"], "memory_id").to_string();
    let list = &r["memories_list"];
    assert_eq!(list["class"], "PaginatedResponse[UserMemorySchema]");
    assert_eq!(list["meta"]["total_count"], 2, "{list:#}");
    assert_eq!(r["memories_list_all"]["meta"]["total_count"], 3);
    assert_eq!(arr(&r["memories_list_page"]["data"], "page").len(), 1);
    assert_eq!(r["memories_list_page"]["meta"]["total_pages"], 2);
    let memories = |k: &str| -> Vec<String> {
        arr(&r[k]["data"], k).iter().map(|m| s(&m["memory"], "memory").to_string()).collect()
    };
    assert_eq!(memories("memories_list_topic"), ["Lives in Lisbon"]);
    assert_eq!(memories("memories_list_search"), ["Likes green tea"]);
    assert_eq!(
        memories("memories_list_topics_repeated"),
        ["Lives in Lisbon"],
        "AgentOS reads the first `topics` value"
    );
    assert_eq!(memories("memories_list_topics_all"), ["Likes green tea"]);
    assert_eq!(memories("memories_list_topics_none"), Vec::<String>::new(), "every topic of the list must match");
    assert_eq!(r["memory_get"]["memory"], "Likes green tea");
    assert_eq!(r["memory_get_wrong_user_status"], 404);
    assert_eq!(
        (&r["memory_update"]["memory"], &r["memory_update"]["topics"]),
        (&json!("Likes green tea, no sugar"), &json!(["preferences"]))
    );
    assert_eq!(r["memory_topics"], json!(["location", "other", "preferences"]), "after the update dropped `drinks`");
    assert_eq!(r["memory_topics_user"], json!(["location", "preferences"]));
    let stats = &r["memory_stats"];
    assert_eq!(stats["row_classes"], json!(["UserStatsSchema"]));
    let mut per_user: Vec<(String, u64)> = arr(&stats["data"], "stats")
        .iter()
        .map(|x| (s(&x["user_id"], "user").to_string(), x["total_memories"].as_u64().unwrap()))
        .collect();
    per_user.sort();
    assert_eq!(per_user, [(USER.to_string(), 2), (format!("{USER}-other"), 1)], "{stats:#}");
    assert_eq!(r["memory_delete"], Value::Null);
    assert_eq!(r["memory_deleted_get_status"], 404);
    assert_eq!(r["memories_bulk_delete"], Value::Null);
    // The bulk delete was scoped to the user: the other user's memory stays.
    assert_eq!(memories("memories_after_bulk"), ["Someone else's memory"], "{:#}", r["memories_after_bulk"]);

    // Errors.
    assert_eq!(r["unknown_agent_status"], 404);
    assert_eq!(r["unknown_agent_run_status"], 404);
    assert_eq!(r["unknown_team_run_status"], 404);
    assert_eq!(r["unknown_session_status"], 404);

    // The stored rows agree with what the client saw.
    let st = db.stored();
    assert!(!st.sessions.contains_key("t1-created"), "deleted session still stored");
    for id in ["t1-bulk-a", "t1-bulk-b", "t1-bulk-c"] {
        assert!(!st.sessions.contains_key(id), "bulk-deleted session {id} still stored");
    }
    assert!(st.runs.values().all(|x| st.sessions.contains_key(&x.session_id)), "runs of deleted sessions remain");
    let sess = &st.sessions[agent_session];
    assert_eq!(
        (sess.session_type.as_str(), sess.agent_id.as_deref(), sess.user_id.as_deref()),
        ("agent", Some("assistant"), Some(USER))
    );
    assert_eq!(sess.session_data["session_name"], "Renamed by the client", "{:#}", sess.session_data);
    assert_eq!(sess.session_data["session_state"], json!({"mood": "calm"}), "{:#}", sess.session_data);
    assert_eq!(sess.metadata, json!({"tag": "updated"}));
    assert_eq!(sess.summary["summary"], "A short talk.");
    let roots: Vec<(&str, &Value)> =
        st.root_runs(agent_session).iter().map(|x| (x.run_id.as_str(), &x.run_data["content"])).collect();
    assert_eq!(roots.len(), 2, "{roots:?}");
    for x in runs {
        let stored = &st.runs[s(&x["run_id"], "run_id")];
        assert_eq!(stored.run_data["content"], x["content"], "run {}", stored.run_id);
        assert_eq!(stored.status.as_deref(), Some("COMPLETED"));
    }
    let team = &st.sessions[team_session];
    assert_eq!((team.session_type.as_str(), team.team_id.as_deref()), ("team", Some("crew")));
    assert_eq!(team.session_data["session_name"], "Team renamed");
    let team_rows: Vec<&StoredRun> = st.runs.values().filter(|x| x.session_id == team_session).collect();
    assert_eq!(team_rows.len(), 4, "two team runs, two member runs: {team_rows:#?}");
    assert_eq!(team_rows.iter().filter(|x| x.run_type == "team").count(), 2);
    for x in truns {
        assert!(st.runs.contains_key(s(&x["run_id"], "run_id")), "listed run {x} not stored");
    }
    let wf = &st.sessions[wf_session];
    assert_eq!((wf.session_type.as_str(), wf.workflow_id.as_deref()), ("workflow", Some("pipe")));
    let wf_roots: Vec<&StoredRun> = st.root_runs(wf_session);
    assert_eq!(wf_roots.len(), 2, "{wf_roots:#?}");
    assert!(wf_roots.iter().all(|x| x.run_type == "workflow" && x.status.as_deref() == Some("COMPLETED")));
    let slow = &st.runs[&slow_run];
    assert_eq!(
        (slow.session_id.as_str(), slow.status.as_deref()),
        ("t1-slow", Some("CANCELLED")),
        "the cancelled run is stored CANCELLED"
    );
    let broken: Vec<Option<&str>> = st.root_runs("t1-broken").iter().map(|x| x.status.as_deref()).collect();
    assert_eq!(broken, [Some("ERROR"), Some("ERROR")]);
    let state = &st.sessions["t1-state"];
    assert_eq!(
        state.session_data["session_state"]["counter"], 7,
        "the session_state form field reached the session: {:#}",
        state.session_data
    );
    let mems: Vec<&StoredMemory> = st.memories.values().collect();
    assert_eq!(mems.len(), 1, "{mems:#?}");
    assert_eq!(mems[0].memory, json!("Someone else's memory"));
    assert_eq!(mems[0].user_id.as_deref(), Some("interop-user-other"));
    assert_eq!(mems[0].topics, json!(["other"]));
    assert!(!st.memories.contains_key(&mid));
    drop(running);
}

#[test]
fn sqlite_agentos_client_and_remote_agent_work_against_agno_run() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("agno.db"));
    the_client_works_against_agno_run(&python, &db, dir.path());
}

#[test]
fn postgres_agentos_client_and_remote_agent_work_against_agno_run() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Postgres(PgSchema::new(&url));
    the_client_works_against_agno_run(&python, &db, dir.path());
}

#[test]
fn the_client_needs_the_security_key() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("agno.db"));
    let key = "interop-secret-key";
    let running = start(dir.path(), &db, &format!("server: {{security_key: {key}}}\n"));
    let server = &running.server;
    let r = run_py(
        python.as_path(),
        "agentos_client.py",
        &[
            server.base.clone(),
            "--mode".into(),
            "auth".into(),
            "--token".into(),
            key.into(),
            "--tag".into(),
            "sec".into(),
        ],
    );
    for k in [
        "no_bearer_status",
        "wrong_bearer_status",
        "no_bearer_config_status",
        "no_bearer_run_status",
        "no_bearer_stream_status",
        "no_bearer_sessions_status",
        "no_bearer_memories_status",
        "remote_no_token_status",
        "remote_name_without_token",
    ] {
        assert_eq!(r[k], 401, "{k}: {r:#}");
    }
    assert_eq!(
        r["agents"],
        json!(["assistant", "calc", "broken", "slow", "researcher", "writer", "drafter", "polisher"])
    );
    assert_eq!(r["bare_token_agents"], r["agents"]);
    assert!(r["config_os_id"].is_string());
    assert_eq!(
        (&r["run"]["class"], &r["run"]["content"], &r["run"]["status"]),
        (&json!("RunOutput"), &json!("Secured hello"), &json!("COMPLETED"))
    );
    assert!(arr(&r["sessions"], "sessions").contains(&json!("sec-secured")), "{r:#}");
    assert_eq!(r["session"]["class"], "AgentSessionDetailSchema");
    assert_eq!(r["health_status"], 200);
    assert_eq!(r["remote_run"]["content"], "Remote secured");
    check_stream("secured remote stream", &r["remote_stream"], "RunStarted", "RunCompleted");
    assert_eq!(completed(&r["remote_stream"], "RunCompleted")[0]["content"], "Remote secured stream");
    assert_eq!(r["remote_cancel_with_token"], true);
    assert_eq!(r["remote_cancel_without_token"], false, "acancel_run turns the 401 into False");
    assert_eq!(r["client_log"], json!([]));
    let st = db.stored();
    let roots = st.root_runs("sec-secured");
    assert_eq!(roots.len(), 3, "three runs got through, none without the key: {roots:#?}");
    drop(running);
}
