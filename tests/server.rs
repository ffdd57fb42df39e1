//! End-to-end tests of the AgentOS HTTP API: the real `agno-run serve` on port 0, driven over
//! HTTP as Agno's `AgentOSClient` drives it (form-encoded runs, JSON elsewhere), checked against
//! the recorded contract (route shapes, SSE event names, status codes, `{"detail": …}` errors),
//! plus what a server must do beyond it: auth, body limits, cancellation when the client goes
//! away, graceful shutdown, request ids and CORS.
//!
//! Models are offline: the `scripted` provider, or the `openai` provider pointed at the
//! in-process fake (`support/fake_openai.rs`) for slow, streaming or failing backends.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use fake_openai::{FakeOpenAi, Response};
use serde_json::{Value, json};
use server::{Answer, Server, Start, client, parse_sse, send};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Offline components: `echo` repeats its input, `calc` calls the calculator then answers, the
/// `crew` team delegates to `echo` then answers, the `pipe` workflow runs `echo` twice.
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
  lead:
    provider: scripted
    replies:
      - {tool_calls: [{name: delegate_task_to_member, arguments: {member_id: echo, task: "say hi"}}]}
      - "Team done."
agents:
  echo: {name: Echo, model: echo, db: local, role: Repeats, instructions: ["Be brief."], add_history_to_context: true}
  calc: {name: Calculator, model: calc, db: local, tools: [calculator]}
teams:
  crew: {name: Crew, model: lead, members: [echo], db: local, instructions: "Coordinate the members."}
workflows:
  pipe:
    name: Pipe
    description: Two agent steps
    db: local
    steps:
      - {name: draft, agent: echo}
      - {name: polish, agent: echo}
"#;

/// A server and the folder it runs in (the server goes first: fields drop in order).
struct Running {
    server: Server,
    dir: TempDir,
}

impl Running {
    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// `host:port`, for raw TCP.
    fn addr(&self) -> String {
        self.server.base.trim_start_matches("http://").to_string()
    }

    fn db(&self) -> rusqlite::Connection {
        open_db(self.dir.path())
    }
}

fn setup(yaml: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    server::write_config(dir.path(), yaml);
    dir
}

/// Serves `yaml` (no file watching), with `env`.
fn serve_with(yaml: &str, env: &[(&str, &str)]) -> Running {
    let dir = setup(yaml);
    let mut start = Start::new(&["app.yaml", "--no-reload"]);
    for (k, v) in env {
        start = start.env(k, v);
    }
    let server = Server::start(dir.path(), start);
    Running { server, dir }
}

fn serve(yaml: &str) -> Running {
    serve_with(yaml, &[])
}

/// `APP` plus a `server:` section.
fn app_with_server(server: &str) -> String {
    format!("{APP}server:\n{server}")
}

/// A model entry for the fake OpenAI server.
fn fake_model(fake: &FakeOpenAi, extra: &str) -> String {
    format!(
        "{{provider: openai, id: gpt-4o-mini, base_url: \"{}\", api_key: x, max_retries: 0{extra}}}",
        fake.base_url()
    )
}

/// A config whose `slow` agent uses the fake OpenAI server.
fn fake_app(fake: &FakeOpenAi, server: &str) -> String {
    format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  remote: {}\nagents:\n  slow: {{name: Slow, model: remote, db: local}}\n{server}",
        fake_model(fake, "")
    )
}

fn open_db(dir: &Path) -> rusqlite::Connection {
    let c =
        rusqlite::Connection::open_with_flags(dir.join("agno.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// `(run_id, status)` of every stored run of `session`.
fn stored_runs(c: &rusqlite::Connection, session: &str) -> Vec<(String, Option<String>)> {
    let mut stmt = c.prepare("SELECT run_id, status FROM agno_runs WHERE session_id = ?1 ORDER BY created_at").unwrap();
    stmt.query_map([session], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// What one exchange answered.
async fn get(s: &Running, path: &str) -> Answer {
    send(client().get(s.url(path))).await
}

async fn post_form(s: &Running, path: &str, form: &[(&str, &str)]) -> Answer {
    send(client().post(s.url(path)).form(form)).await
}

async fn json_req(s: &Running, method: reqwest::Method, path: &str, body: Value) -> Answer {
    send(client().request(method, s.url(path)).json(&body)).await
}

/// The names of `events`.
fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[track_caller]
fn assert_keys(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(*k).is_some(), "missing `{k}` in {v:#}");
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect()
}

/// Agno's agent event names (`RUN_EVENT_TYPE_REGISTRY`) the recordings and agno-run use.
const AGENT_EVENTS: &[&str] = &[
    "RunStarted",
    "ModelRequestStarted",
    "RunContent",
    "ModelRequestCompleted",
    "RunContentCompleted",
    "RunCompleted",
    "RunError",
    "RunCancelled",
    "ToolCallStarted",
    "ToolCallCompleted",
];

/// Polls `f` (up to `secs`) until it returns Some.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The status of `run_id` in `GET /sessions/{session}/runs`.
async fn run_status(s: &Running, session: &str, run_id: &str) -> Option<String> {
    let a = get(s, &format!("/sessions/{session}/runs")).await;
    if a.status != 200 {
        return None;
    }
    a.json().as_array()?.iter().find(|r| r["run_id"] == run_id)?["status"].as_str().map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// 1. Routes against their goldens
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn health_and_config_answer_agentos_shapes() {
    let s = serve(APP);

    let health = get(&s, "/health").await.ok();
    assert_eq!(health["status"], "ok");
    let at = health["instantiated_at"].as_str().expect("instantiated_at is a string");
    assert!(at.ends_with('Z') && at.contains('T'), "an ISO time: {at}");

    let config = get(&s, "/config").await.ok();
    // ConfigResponse's required keys (what RemoteAgent and RemoteDb read).
    assert_keys(&config, &["os_id", "databases", "agents", "teams", "workflows", "interfaces"]);
    assert!(config["os_id"].as_str().is_some_and(|id| !id.is_empty()), "{config:#}");
    assert_eq!(config["databases"], json!(["local"]));
    assert_eq!(config["interfaces"], json!([]));
    assert_eq!(ids(&config["agents"]), ["echo", "calc"]);
    assert_eq!(ids(&config["teams"]), ["crew"]);
    assert_eq!(ids(&config["workflows"]), ["pipe"]);
    assert_eq!(config["agents"][0]["name"], "Echo");
    assert_eq!(config["agents"][0]["db_id"], "local");
    assert_keys(&config["agents"][0]["model"], &["id", "provider"]);
    assert_eq!(config["teams"][0]["mode"], "coordinate");
    assert_eq!(config["workflows"][0]["description"], "Two agent steps");
    assert_eq!(config["session"]["dbs"][0]["db_id"], "local");
    assert_eq!(config["session"]["dbs"][0]["tables"], json!(["agno_sessions"]));
    assert_eq!(config["memory"]["dbs"][0]["tables"], json!(["agno_memories"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_teams_and_workflows_are_described_as_agentos_does() {
    let s = serve(APP);

    let agents = get(&s, "/agents").await.ok();
    assert_eq!(ids(&agents), ["echo", "calc"]);
    for a in agents.as_array().unwrap() {
        assert_keys(a, &["id", "name", "db_id", "model", "sessions"]);
        assert_keys(&a["model"], &["name", "model", "provider"]);
        assert_eq!(a["sessions"]["session_table"], "agno_sessions");
        assert_eq!(a["is_component"], false);
    }

    let echo = get(&s, "/agents/echo").await.ok();
    assert_eq!(echo, agents[0], "GET /agents/{{id}} is the list's entry");
    assert_eq!(echo["name"], "Echo");
    assert_eq!(echo["db_id"], "local");
    assert_eq!(echo["role"], "Repeats");
    assert_eq!(echo["system_message"]["instructions"], json!(["Be brief."]));
    assert_eq!(echo["sessions"]["add_history_to_context"], true);

    let calc = get(&s, "/agents/calc").await.ok();
    let tools: Vec<&str> =
        calc["tools"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["calculator"]);
    assert!(calc["tools"]["tools"][0]["parameters"].is_object());

    let teams = get(&s, "/teams").await.ok();
    assert_eq!(ids(&teams), ["crew"]);
    let crew = get(&s, "/teams/crew").await.ok();
    assert_eq!(crew, teams[0]);
    assert_eq!(crew["name"], "Crew");
    assert_eq!(crew["mode"], "coordinate");
    assert_eq!(crew["db_id"], "local");
    assert_keys(&crew["model"], &["name", "model", "provider"]);
    assert_eq!(ids(&crew["members"]), ["echo"]);
    assert_eq!(crew["members"][0]["role"], "Repeats");
    assert_eq!(crew["system_message"]["instructions"], json!(["Coordinate the members."]));

    let workflows = get(&s, "/workflows").await.ok();
    assert_eq!(ids(&workflows), ["pipe"]);
    assert_eq!(workflows[0]["name"], "Pipe");
    assert_eq!(workflows[0]["description"], "Two agent steps");
    assert_eq!(workflows[0]["db_id"], "local");
    let pipe = get(&s, "/workflows/pipe").await.ok();
    assert_eq!(pipe["id"], "pipe");
    assert_eq!(pipe["name"], "Pipe");
    let steps = pipe["steps"].as_array().unwrap();
    assert_eq!(steps.iter().map(|st| st["name"].as_str().unwrap()).collect::<Vec<_>>(), ["draft", "polish"]);
    for st in steps {
        assert_eq!(st["type"], "Step");
        assert_eq!(st["agent"]["id"], "echo");
        assert_eq!(st["agent"]["name"], "Echo");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trailing_slash_is_answered_like_the_path_without_it() {
    let s = serve(APP);
    for path in ["/agents", "/agents/echo", "/teams", "/teams/crew", "/workflows", "/workflows/pipe", "/config"] {
        let plain = get(&s, path).await.ok();
        let slashed = get(&s, &format!("{path}/")).await;
        assert_eq!(slashed.status, 200, "{path}/ is not redirected: {slashed:?}");
        assert_eq!(slashed.json(), plain, "{path}/");
    }
    assert_eq!(get(&s, "/health/").await.ok()["status"], "ok");
    let run = post_form(&s, "/agents/echo/runs/", &[("message", "slash"), ("stream", "false")]).await.ok();
    assert_eq!(run["content"], "slash");
    assert_eq!(get(&s, "/agents/nope/").await.error(404), "Agent not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_answer_json_when_not_streamed() {
    let s = serve(APP);

    let agent = post_form(
        &s,
        "/agents/echo/runs",
        &[("message", "Hello there"), ("stream", "false"), ("session_id", "s-agent"), ("user_id", "alice")],
    )
    .await
    .ok();
    assert_eq!(agent["status"], "COMPLETED");
    assert_eq!(agent["content"], "Hello there");
    assert_eq!(agent["agent_id"], "echo");
    assert_eq!(agent["agent_name"], "Echo");
    assert_eq!(agent["session_id"], "s-agent");
    assert_eq!(agent["user_id"], "alice");
    assert_eq!(agent["content_type"], "str");
    assert_eq!(agent["input"]["input_content"], "Hello there");
    let run_id = agent["run_id"].as_str().expect("a run id");
    uuid::Uuid::parse_str(run_id).expect("the run id is a uuid");
    assert!(agent["metrics"]["total_tokens"].as_u64().is_some_and(|t| t > 0), "{agent:#}");
    assert!(agent["metrics"]["duration"].is_number(), "{agent:#}");
    let roles: Vec<&str> = agent["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);

    // No session id: the server makes one (a uuid).
    let fresh = post_form(&s, "/agents/echo/runs", &[("message", "Hi"), ("stream", "false")]).await.ok();
    let sid = fresh["session_id"].as_str().unwrap();
    uuid::Uuid::parse_str(sid).expect("a generated uuid session id");
    assert_ne!(fresh["run_id"], agent["run_id"]);

    let team = post_form(&s, "/teams/crew/runs", &[("message", "Plan"), ("stream", "false"), ("session_id", "s-team")])
        .await
        .ok();
    assert_eq!(team["status"], "COMPLETED");
    assert_eq!(team["content"], "Team done.");
    assert_eq!(team["team_id"], "crew");
    assert_eq!(team["team_name"], "Crew");
    assert_eq!(team["session_id"], "s-team");
    assert!(team["run_id"].is_string());
    assert!(team["metrics"]["total_tokens"].as_u64().is_some_and(|t| t > 0), "{team:#}");
    let team_tools: Vec<&str> =
        team["tools"].as_array().unwrap().iter().map(|t| t["tool_name"].as_str().unwrap()).collect();
    assert_eq!(team_tools, ["delegate_task_to_member"]);

    let wf =
        post_form(&s, "/workflows/pipe/runs", &[("message", "Haiku"), ("stream", "false"), ("session_id", "s-wf")])
            .await
            .ok();
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(wf["content"], "Haiku");
    assert_eq!(wf["workflow_id"], "pipe");
    assert_eq!(wf["workflow_name"], "Pipe");
    assert_eq!(wf["session_id"], "s-wf");
    assert_eq!(wf["input"], "Haiku");
    assert!(wf["run_id"].is_string());
    assert!(wf["metrics"].is_object(), "{wf:#}");
    let steps: Vec<&str> =
        wf["step_results"].as_array().unwrap().iter().map(|r| r["step_name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["draft", "polish"]);
    assert!(wf["step_results"].as_array().unwrap().iter().all(|r| r["success"] == true && r["content"] == "Haiku"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_run_streams_agno_events_and_streaming_is_the_default() {
    let s = serve(APP);
    // No `stream` field: AgentOS streams.
    for form in [vec![("message", "Hi there"), ("session_id", "s1")], vec![("message", "Hi there"), ("stream", "true")]]
    {
        let events = post_form(&s, "/agents/echo/runs", &form).await.events();
        let n = names(&events);
        assert_eq!(n.first(), Some(&"RunStarted"), "{n:?}");
        assert_eq!(n.last(), Some(&"RunCompleted"), "{n:?}");
        assert!(n.contains(&"RunContent") && n.contains(&"RunContentCompleted"), "{n:?}");
        assert!(n.iter().all(|e| AGENT_EVENTS.contains(e)), "only Agno agent events: {n:?}");
        let run_id = events[0].1["run_id"].as_str().unwrap().to_string();
        let session_id = events[0].1["session_id"].as_str().unwrap().to_string();
        for (name, data) in &events {
            assert_eq!(data["run_id"], run_id.as_str(), "{name}");
            assert_eq!(data["session_id"], session_id.as_str(), "{name}");
            assert_eq!(data["agent_id"], "echo", "{name}");
            assert_eq!(data["agent_name"], "Echo", "{name}");
            assert!(data["created_at"].is_i64(), "{name}");
            assert!(data.get("parent_run_id").is_none(), "a root run has no parent: {data}");
        }
        let streamed: String = events
            .iter()
            .filter(|(n, _)| n == "RunContent")
            .map(|(_, d)| d["content"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(streamed, "Hi there");
        let done = &events.last().unwrap().1;
        assert_eq!(done["content"], "Hi there");
        assert!(done["metrics"]["total_tokens"].as_u64().is_some_and(|t| t > 0), "{done}");
        assert_eq!(run_status(&s, &session_id, &run_id).await.as_deref(), Some("COMPLETED"));
    }
    assert_eq!(run_status(&s, "s1", "nope").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_stream_as_tool_call_events() {
    let s = serve(APP);
    let events = post_form(&s, "/agents/calc/runs", &[("message", "What is 6*7?"), ("stream", "true")]).await.events();
    let n = names(&events);
    let started = n.iter().position(|e| *e == "ToolCallStarted").unwrap_or_else(|| panic!("{n:?}"));
    let completed = n.iter().position(|e| *e == "ToolCallCompleted").unwrap_or_else(|| panic!("{n:?}"));
    assert!(n[0] == "RunStarted" && started < completed && completed < n.len() - 1, "{n:?}");
    assert_eq!(n.last(), Some(&"RunCompleted"));

    let call = &events[started].1["tool"];
    assert_eq!(call["tool_name"], "calculator");
    assert_eq!(call["tool_args"]["expression"], "6*7");
    let result = &events[completed].1["tool"];
    assert_eq!(result["tool_name"], "calculator");
    assert_eq!(result["tool_call_id"], call["tool_call_id"]);
    assert_eq!(result["result"], "42");
    assert_eq!(result["tool_call_error"], false);
    assert_eq!(events.last().unwrap().1["content"], "The answer is 42.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_run_streams_team_events_and_its_members_events() {
    let s = serve(APP);
    let events = post_form(&s, "/teams/crew/runs", &[("message", "Plan"), ("session_id", "s-team")]).await.events();
    let n = names(&events);
    assert_eq!(n.first(), Some(&"TeamRunStarted"), "{n:?}");
    assert_eq!(n.last(), Some(&"TeamRunCompleted"), "{n:?}");
    let team_run = events[0].1["run_id"].as_str().unwrap().to_string();
    assert_eq!(events[0].1["team_id"], "crew");
    assert_eq!(events[0].1["team_name"], "Crew");

    // The leader's delegation is a team tool call.
    let delegation = events.iter().find(|(n, _)| n == "TeamToolCallStarted").unwrap_or_else(|| panic!("{n:?}"));
    assert_eq!(delegation.1["tool"]["tool_name"], "delegate_task_to_member");
    assert_eq!(delegation.1["tool"]["tool_args"]["member_id"], "echo");

    // The member's own events: agent names, the team run as parent, one level deeper.
    let member: Vec<&(String, Value)> = events.iter().filter(|(_, d)| d["agent_id"] == "echo").collect();
    let member_names: Vec<&str> = member.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(member_names.first(), Some(&"RunStarted"), "{n:?}");
    assert_eq!(member_names.last(), Some(&"RunCompleted"), "{n:?}");
    for (name, d) in &member {
        assert_eq!(d["parent_run_id"], team_run.as_str(), "{name}: {d}");
        assert_eq!(d["session_id"], "s-team", "{name}");
        assert_eq!(d["nested_depth"], 1, "{name}");
        assert_ne!(d["run_id"], team_run.as_str());
    }
    assert_eq!(member.last().unwrap().1["content"], "say hi");
    // Everything else is the team's, with the Team prefix.
    for (name, d) in events.iter().filter(|(_, d)| d.get("agent_id").is_none()) {
        assert!(name.starts_with("Team"), "{name}");
        assert_eq!(d["run_id"], team_run.as_str(), "{name}");
        assert_eq!(d["team_id"], "crew", "{name}");
    }
    let member_done = n.iter().rposition(|e| *e == "RunCompleted").unwrap();
    let tool_done = n.iter().position(|e| *e == "TeamToolCallCompleted").unwrap();
    assert!(member_done < tool_done, "the member ends inside the delegation: {n:?}");
    assert_eq!(events.last().unwrap().1["content"], "Team done.");
    assert!(events.last().unwrap().1["metrics"].is_object());

    // Stored: the team run and the member run under it.
    let runs = get(&s, "/sessions/s-team/runs").await.ok();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let team = runs.iter().find(|r| r["run_id"] == team_run.as_str()).expect("the team run");
    assert_eq!(team["team_id"], "crew");
    assert_eq!(team["status"], "COMPLETED");
    let member_run = runs.iter().find(|r| r["run_id"] != team_run.as_str()).unwrap();
    assert_eq!(member_run["parent_run_id"], team_run.as_str());
    assert_eq!(member_run["agent_id"], "echo");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_run_streams_steps_with_their_agents_events() {
    let s = serve(APP);
    let events =
        post_form(&s, "/workflows/pipe/runs", &[("message", "Haiku"), ("stream", "true"), ("session_id", "w")])
            .await
            .events();
    let n = names(&events);
    assert_eq!(n.first(), Some(&"WorkflowStarted"), "{n:?}");
    assert_eq!(n.last(), Some(&"WorkflowCompleted"), "{n:?}");
    let wf_run = events[0].1["run_id"].as_str().unwrap().to_string();
    assert_eq!(events[0].1["workflow_id"], "pipe");
    assert_eq!(events[0].1["workflow_name"], "Pipe");
    assert_eq!(events[0].1["session_id"], "w");

    // Steps open and close in order; each step's agent events sit between and name the step.
    let mut open: Option<(String, String)> = None;
    let mut steps_done = Vec::new();
    let mut agent_events = 0;
    for (name, d) in &events {
        match name.as_str() {
            "StepStarted" => {
                assert!(open.is_none(), "steps do not overlap: {n:?}");
                assert_eq!(d["run_id"], wf_run.as_str());
                assert_eq!(d["workflow_id"], "pipe");
                assert_eq!(d["step_index"], steps_done.len());
                open = Some((d["step_name"].as_str().unwrap().into(), d["step_id"].as_str().unwrap().into()));
            }
            "StepCompleted" => {
                let (step, id) = open.take().expect("a step completes after it starts");
                assert_eq!(d["step_name"], step.as_str());
                assert_eq!(d["step_id"], id.as_str());
                assert_eq!(d["step_response"]["success"], true);
                steps_done.push(step);
            }
            "WorkflowStarted" | "WorkflowCompleted" => assert!(open.is_none()),
            other => {
                assert!(AGENT_EVENTS.contains(&other), "{other}");
                let (step, id) = open.as_ref().expect("agent events happen inside a step");
                assert_eq!(d["agent_id"], "echo", "{other}");
                assert_eq!(d["workflow_run_id"], wf_run.as_str(), "{other}: {d}");
                assert_eq!(d["workflow_id"], "pipe", "{other}");
                assert_eq!(d["step_name"], step.as_str(), "{other}");
                assert_eq!(d["step_id"], id.as_str(), "{other}");
                assert_ne!(d["run_id"], wf_run.as_str());
                agent_events += 1;
            }
        }
    }
    assert_eq!(steps_done, ["draft", "polish"]);
    assert!(n.iter().filter(|e| **e == "RunStarted").count() == 2 && agent_events >= 6, "{n:?}");
    let done = &events.last().unwrap().1;
    assert_eq!(done["content"], "Haiku");
    assert_eq!(done["step_results"].as_array().map(Vec::len), Some(2), "{done}");
    assert_eq!(run_status(&s, "w", &wf_run).await.as_deref(), Some("COMPLETED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_routes_follow_the_goldens() {
    let s = serve(APP);
    for message in ["Hello there", "And again"] {
        let r = post_form(
            &s,
            "/agents/echo/runs",
            &[("message", message), ("stream", "false"), ("session_id", "s-a"), ("user_id", "alice")],
        )
        .await
        .ok();
        assert_eq!(r["status"], "COMPLETED");
    }
    post_form(&s, "/agents/echo/runs", &[("message", "other"), ("stream", "false"), ("session_id", "s-b")]).await.ok();
    post_form(&s, "/teams/crew/runs", &[("message", "Plan a picnic"), ("stream", "false"), ("session_id", "s-t")])
        .await
        .ok();
    post_form(&s, "/workflows/pipe/runs", &[("message", "Write a haiku"), ("stream", "false"), ("session_id", "s-w")])
        .await
        .ok();

    // List (16): the client's default query.
    let list = get(&s, "/sessions?type=agent&limit=20&page=1&sort_by=created_at&sort_order=desc").await.ok();
    let rows = list["data"].as_array().unwrap();
    let sids: Vec<&str> = rows.iter().map(|r| r["session_id"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 2, "{list:#}");
    assert!(sids.contains(&"s-a") && sids.contains(&"s-b"), "{sids:?}");
    let a = rows.iter().find(|r| r["session_id"] == "s-a").unwrap();
    assert_keys(a, &["session_id", "session_name", "session_state", "created_at", "updated_at"]);
    assert_eq!(a["session_type"], "agent");
    assert_eq!(a["agent_id"], "echo");
    assert_eq!(a["user_id"], "alice");
    assert_eq!(a["session_name"], "Hello there", "named after its first message");
    assert!(a["total_tokens"].as_u64().is_some_and(|t| t > 0), "{a}");
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 20, "total_pages": 1, "total_count": 2, "search_time_ms": list["meta"]["search_time_ms"]})
    );
    // Pages (17): no type lists every kind.
    let page = get(&s, "/sessions?limit=1&page=2&sort_by=created_at&sort_order=asc").await.ok();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["session_id"], "s-b");
    assert_eq!(page["meta"]["total_count"], 4);
    assert_eq!(page["meta"]["total_pages"], 4);
    let teams = get(&s, "/sessions?type=team&component_id=crew").await.ok();
    assert_eq!(teams["data"].as_array().unwrap().len(), 1);
    assert_eq!(teams["data"][0]["team_id"], "crew");
    let past = get(&s, "/sessions?type=team&component_id=crew&limit=5&page=2").await.ok();
    assert_eq!(past["data"], json!([]));
    let alice = get(&s, "/sessions?user_id=alice").await.ok();
    assert_eq!(alice["data"].as_array().unwrap().len(), 1);

    // Create (18): 201, the detail schema; a taken id is a 409.
    let body = json!({"session_id": "s-new", "session_name": "Created by test", "session_state": {"counter": 1},
        "metadata": {"source": "test"}, "user_id": "alice", "agent_id": "echo", "team_id": null, "workflow_id": null});
    let created = json_req(&s, reqwest::Method::POST, "/sessions?type=agent", body.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    let created = created.json();
    assert_eq!(created["agent_session_id"], "s-new");
    assert_eq!(created["session_id"], "s-new");
    assert_eq!(created["session_name"], "Created by test");
    assert_eq!(created["session_state"], json!({"counter": 1}));
    assert_eq!(created["metadata"], json!({"source": "test"}));
    assert_eq!(created["agent_id"], "echo");
    assert_eq!(created["user_id"], "alice");
    assert_eq!(created["chat_history"], json!([]));
    json_req(&s, reqwest::Method::POST, "/sessions?type=agent", body).await.error(409);

    // Detail (19): the type comes from the body's agent_id.
    let detail = get(&s, "/sessions/s-a").await.ok();
    assert_keys(&detail, &["agent_session_id", "session_id", "session_name"]);
    assert_eq!(detail["agent_id"], "echo");
    assert_eq!(detail["session_name"], "Hello there");
    let chat: Vec<(&str, &str)> = detail["chat_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        chat,
        [("user", "Hello there"), ("assistant", "Hello there"), ("user", "And again"), ("assistant", "And again")]
    );
    assert!(detail["total_tokens"].as_u64().is_some_and(|t| t > 0));
    get(&s, "/sessions/s-a?type=team").await.error(404);

    // Update (20) and rename (21).
    let patched = json_req(
        &s,
        reqwest::Method::PATCH,
        "/sessions/s-new?type=agent",
        json!({"session_state": {"mood": "calm"}, "metadata": {"tag": "updated"}}),
    )
    .await
    .ok();
    assert_eq!(patched["session_state"], json!({"mood": "calm"}));
    assert_eq!(patched["metadata"], json!({"tag": "updated"}));
    assert_eq!(patched["session_name"], "Created by test");
    let renamed =
        json_req(&s, reqwest::Method::POST, "/sessions/s-new/rename", json!({"session_name": "Renamed"})).await.ok();
    assert_eq!(renamed["session_name"], "Renamed");
    assert_eq!(renamed["session_state"], json!({"mood": "calm"}));
    assert_eq!(get(&s, "/sessions/s-new").await.ok()["session_name"], "Renamed");

    // Runs (22) and one run (23).
    let runs = get(&s, "/sessions/s-a/runs").await.ok();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, input) in runs.iter().zip(["Hello there", "And again"]) {
        assert_eq!(run["status"], "COMPLETED");
        assert_eq!(run["run_input"], input);
        assert_eq!(run["content"], input);
        assert_eq!(run["agent_id"], "echo");
        assert!(run.get("team_id").is_none() && run.get("workflow_id").is_none(), "read as RunSchema: {run}");
    }
    let run_id = runs[1]["run_id"].as_str().unwrap();
    let one = get(&s, &format!("/sessions/s-a/runs/{run_id}")).await.ok();
    assert_eq!(one["run_id"], run_id);
    assert_eq!(one["content"], "And again");
    get(&s, "/sessions/s-a/runs/no-such-run").await.error(404);
    get(&s, &format!("/sessions/s-b/runs/{run_id}")).await.error(404);

    // Team and workflow sessions (26).
    let team = get(&s, "/sessions/s-t").await.ok();
    assert_keys(&team, &["session_id", "session_name"]);
    assert_eq!(team["team_id"], "crew");
    assert!(team.get("agent_id").is_none());
    assert_eq!(team["session_name"], "Plan a picnic");
    let wf = get(&s, "/sessions/s-w").await.ok();
    assert_keys(&wf, &["session_id", "session_name"]);
    assert_eq!(wf["workflow_id"], "pipe");
    assert_eq!(wf["session_name"], "Write a haiku");
    let wf_runs = get(&s, "/sessions/s-w/runs").await.ok();
    assert_eq!(wf_runs[0]["workflow_id"], "pipe");
    assert_eq!(wf_runs[0]["run_input"], "Write a haiku");
    assert_eq!(wf_runs[0]["status"], "COMPLETED");

    // Delete (24): 204, empty body; then gone.
    let deleted = send(client().delete(s.url("/sessions/s-new"))).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(deleted.text, "");
    assert_eq!(get(&s, "/sessions/s-new").await.error(404), "Session with id 's-new' not found");
    send(client().delete(s.url("/sessions/s-new"))).await.error(404);

    // Bulk delete (25): DELETE with a JSON body.
    let bulk = json_req(
        &s,
        reqwest::Method::DELETE,
        "/sessions",
        json!({"session_ids": ["s-a", "s-t"], "session_types": ["agent", "team"]}),
    )
    .await;
    assert_eq!(bulk.status, 204, "{bulk:?}");
    assert_eq!(bulk.text, "");
    get(&s, "/sessions/s-a").await.error(404);
    get(&s, "/sessions/s-t").await.error(404);
    let left = get(&s, "/sessions").await.ok();
    let mut left: Vec<&str> =
        left["data"].as_array().unwrap().iter().map(|r| r["session_id"].as_str().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["s-b", "s-w"]);
    // Their runs went with them.
    let db = s.db();
    assert!(stored_runs(&db, "s-a").is_empty());
    assert_eq!(stored_runs(&db, "s-b").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_memory_routes_follow_the_goldens() {
    let s = serve(APP);
    use reqwest::Method;

    // Create (27): 200, not 201.
    let tea = json_req(
        &s,
        Method::POST,
        "/memories",
        json!({"memory": "Likes green tea", "user_id": "alice", "topics": ["preferences", "drinks"]}),
    )
    .await
    .ok();
    assert_keys(&tea, &["memory_id", "memory", "topics", "user_id", "updated_at"]);
    assert_eq!(tea["memory"], "Likes green tea");
    assert_eq!(tea["topics"], json!(["preferences", "drinks"]));
    assert_eq!(tea["user_id"], "alice");
    let tea_id = tea["memory_id"].as_str().unwrap().to_string();
    let city = json_req(
        &s,
        Method::POST,
        "/memories",
        json!({"memory": "Lives in Lisbon", "user_id": "alice", "topics": ["location"]}),
    )
    .await
    .ok();
    let city_id = city["memory_id"].as_str().unwrap().to_string();
    json_req(&s, Method::POST, "/memories", json!({"memory": "Bob's", "user_id": "bob"})).await.ok();
    json_req(&s, Method::POST, "/memories", json!({"user_id": "bob"})).await.error(422);

    // List (28).
    let list = get(&s, "/memories?limit=20&page=1&sort_by=updated_at&sort_order=desc&user_id=alice").await.ok();
    let mut listed: Vec<&str> =
        list["data"].as_array().unwrap().iter().map(|m| m["memory_id"].as_str().unwrap()).collect();
    listed.sort();
    let mut expected = vec![tea_id.as_str(), city_id.as_str()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(list["meta"]["total_count"], 2);
    assert_eq!(list["meta"]["page"], 1);
    assert_eq!(list["meta"]["limit"], 20);
    assert_eq!(get(&s, "/memories").await.ok()["meta"]["total_count"], 3);

    // Get (29): scoped to the user.
    let got = get(&s, &format!("/memories/{tea_id}?user_id=alice")).await.ok();
    assert_eq!(got, tea);
    get(&s, &format!("/memories/{tea_id}?user_id=bob")).await.error(404);
    get(&s, "/memories/no-such-memory").await.error(404);

    // Update (30).
    let patched = json_req(
        &s,
        Method::PATCH,
        &format!("/memories/{tea_id}"),
        json!({"memory": "Likes green tea, no sugar", "user_id": "alice", "topics": ["preferences"]}),
    )
    .await
    .ok();
    assert_eq!(patched["memory_id"], tea_id.as_str());
    assert_eq!(patched["memory"], "Likes green tea, no sugar");
    assert_eq!(patched["topics"], json!(["preferences"]));
    assert_eq!(get(&s, &format!("/memories/{tea_id}")).await.ok()["memory"], "Likes green tea, no sugar");

    // Topics (31) and stats (32).
    assert_eq!(get(&s, "/memory_topics").await.ok(), json!(["location", "preferences"]));
    let stats = get(&s, "/user_memory_stats?limit=20&page=1").await.ok();
    let mut users: Vec<(String, u64)> = stats["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user_id"].as_str().unwrap().to_string(), u["total_memories"].as_u64().unwrap()))
        .collect();
    users.sort();
    assert_eq!(users, [("alice".to_string(), 2), ("bob".to_string(), 1)]);
    assert!(stats["data"][0]["last_memory_updated_at"].is_string());
    assert_eq!(stats["meta"]["total_count"], 2);

    // Delete (33): 204, empty; only the owner's.
    send(client().delete(s.url(&format!("/memories/{tea_id}?user_id=bob")))).await.error(404);
    let deleted = send(client().delete(s.url(&format!("/memories/{tea_id}?user_id=alice")))).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(deleted.text, "");
    get(&s, &format!("/memories/{tea_id}?user_id=alice")).await.error(404);

    // Bulk delete (34).
    let bulk = json_req(&s, Method::DELETE, "/memories", json!({"memory_ids": [city_id], "user_id": "alice"})).await;
    assert_eq!(bulk.status, 204, "{bulk:?}");
    assert_eq!(bulk.text, "");
    assert_eq!(get(&s, "/memories?user_id=alice").await.ok()["data"], json!([]));
    assert_eq!(get(&s, "/memories").await.ok()["meta"]["total_count"], 1, "bob's memory stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cancel_route_stops_a_streamed_run() {
    let fake = FakeOpenAi::start().await;
    let pieces: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Response::stream_text(&refs, 5, 200).with_gap(Duration::from_millis(50)));
    let s = serve(&fake_app(&fake, ""));

    // Unknown run (07): 200 {}.
    let unknown = post_form(&s, "/agents/slow/runs/run-that-does-not-exist/cancel", &[]).await.ok();
    assert_eq!(unknown, json!({}));

    let mut r = client()
        .post(s.url("/agents/slow/runs"))
        .form(&[("message", "go"), ("session_id", "s-cancel")])
        .send()
        .await
        .unwrap();
    let first = first_event(&mut r).await;
    assert_eq!(first.0, "RunStarted");
    let run_id = first.1["run_id"].as_str().unwrap().to_string();
    let cancel = post_form(&s, &format!("/agents/slow/runs/{run_id}/cancel"), &[]).await.ok();
    assert_eq!(cancel, json!({}));
    // The stream ends, with a cancel event.
    let mut rest = String::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let rest = parse_sse(&rest);
    assert_eq!(names(&rest).last(), Some(&"RunCancelled"), "{:?}", names(&rest));
    assert_eq!(run_status(&s, "s-cancel", &run_id).await.as_deref(), Some("CANCELLED"));
}

/// Reads `r` until its first SSE event is complete; the event (the rest stays unread).
async fn first_event(r: &mut reqwest::Response) -> (String, Value) {
    let mut buf = String::new();
    loop {
        if let Some(end) = buf.find("\n\n") {
            let events = parse_sse(&buf[..end + 2]);
            return events.into_iter().next().expect("an event");
        }
        let chunk = r.chunk().await.unwrap().expect("the stream has an event");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unknown_components_sessions_and_routes_are_json_404s() {
    let s = serve(APP);
    assert_eq!(get(&s, "/agents/no-such-agent").await.error(404), "Agent not found");
    let run = post_form(&s, "/agents/no-such-agent/runs", &[("message", "hi"), ("stream", "false")]).await;
    assert_eq!(run.error(404), "Agent not found");
    assert_eq!(run.text, r#"{"detail":"Agent not found"}"#, "compact, as the golden");
    assert_eq!(get(&s, "/teams/nope").await.error(404), "Team not found");
    assert_eq!(post_form(&s, "/teams/nope/runs", &[("message", "hi")]).await.error(404), "Team not found");
    assert_eq!(get(&s, "/workflows/nope").await.error(404), "Workflow not found");
    assert_eq!(post_form(&s, "/workflows/nope/runs", &[("message", "hi")]).await.error(404), "Workflow not found");
    assert_eq!(get(&s, "/sessions/no-such-session").await.error(404), "Session with id 'no-such-session' not found");
    get(&s, "/sessions/no-such-session/runs").await.error(404);
    let patch = json_req(&s, reqwest::Method::PATCH, "/sessions/nope", json!({"session_name": "x"})).await;
    patch.error(404);
    // An agent is not a team: ids are per kind.
    get(&s, "/teams/echo").await.error(404);
    post_form(&s, "/workflows/echo/runs", &[("message", "hi")]).await.error(404);
    // Unknown routes and methods are JSON too.
    assert!(get(&s, "/no/such/route").await.error(404).is_string());
    get(&s, "/agents/echo/nothing").await.error(404);
    assert!(send(client().put(s.url("/agents"))).await.error(405).is_string());
    send(client().delete(s.url("/agents/echo"))).await.error(405);
    // Nothing was stored.
    let stored: i64 = s.db().query_row("SELECT count(*) FROM agno_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_bodies_are_validated_like_fastapi() {
    let s = serve(APP);
    // No message (36): FastAPI's validation list.
    let missing = post_form(&s, "/agents/echo/runs", &[("stream", "false"), ("session_id", "x")]).await;
    assert_eq!(
        missing.error(422),
        json!([{"type": "missing", "loc": ["body", "message"], "msg": "Field required", "input": null}])
    );
    // A JSON body is not a form: the message is missing.
    let as_json =
        json_req(&s, reqwest::Method::POST, "/agents/echo/runs", json!({"message": "hi", "stream": false})).await;
    let detail = as_json.error(422);
    assert_eq!(detail[0]["type"], "missing");
    assert_eq!(detail[0]["loc"], json!(["body", "message"]));
    // An empty body, and a team and workflow run without a message.
    send(client().post(s.url("/agents/echo/runs"))).await.error(422);
    post_form(&s, "/teams/crew/runs", &[("stream", "false")]).await.error(422);
    post_form(&s, "/workflows/pipe/runs", &[("stream", "false")]).await.error(422);
    // A stream flag that is not a boolean.
    let bad = post_form(&s, "/agents/echo/runs", &[("message", "hi"), ("stream", "maybe")]).await;
    assert_eq!(bad.error(422)[0]["loc"], json!(["body", "stream"]));
    // Bad JSON bodies on the JSON routes are 422s too.
    let broken =
        send(client().post(s.url("/memories")).header("content-type", "application/json").body("{not json")).await;
    broken.error(422);
    // Nothing ran.
    assert!(stored_runs(&s.db(), "x").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_max_body_bytes_get_413() {
    let s = serve(&app_with_server("  max_body_bytes: 2048\n"));
    let small = "a".repeat(1000);
    let ok = post_form(&s, "/agents/echo/runs", &[("message", &small), ("stream", "false")]).await.ok();
    assert_eq!(ok["content"], small.as_str());

    let big = "a".repeat(4000);
    let r = post_form(&s, "/agents/echo/runs", &[("message", &big), ("stream", "false"), ("session_id", "big")]).await;
    assert!(r.error(413).is_string());
    assert!(stored_runs(&s.db(), "big").is_empty(), "a refused body starts no run");
    let memory = json_req(&s, reqwest::Method::POST, "/memories", json!({"memory": big, "user_id": "u"})).await;
    memory.error(413);
    // Without a length (chunked), the limit holds too.
    let stream =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(format!("message={}", "b".repeat(1000)))));
    let chunked = send(
        client()
            .post(s.url("/agents/echo/runs"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(stream)),
    )
    .await;
    chunked.error(413);
    // And the server still serves.
    assert_eq!(get(&s, "/health").await.ok()["status"], "ok");
}

/// Writes a request head and then up to `body_len` bytes of body (chunked when `chunked`),
/// reading at the same time; returns what was answered and how many body bytes were written.
async fn push_huge_body(addr: &str, body_len: usize, chunked: bool) -> (String, usize) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let framing =
        if chunked { "Transfer-Encoding: chunked".to_string() } else { format!("Content-Length: {body_len}") };
    let head = format!(
        "POST /agents/echo/runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        let piece = vec![b'a'; 64 * 1024];
        let mut sent = 0usize;
        while sent < body_len && !*done_rx.borrow_and_update() {
            let wrote = if chunked {
                let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                frame.extend_from_slice(&piece);
                frame.extend_from_slice(b"\r\n");
                wr.write_all(&frame).await
            } else {
                wr.write_all(&piece).await
            };
            if wrote.is_err() {
                break;
            }
            sent += piece.len();
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&answer);
                    if let Some((head, body)) = text.split_once("\r\n\r\n")
                        && let Some(len) = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                        && body.len() >= len.trim().parse::<usize>().unwrap_or(0)
                    {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let _ = done_tx.send(true);
    assert!(read.is_ok(), "no answer within 30 s: {}", String::from_utf8_lossy(&answer));
    let sent = writer.await.unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), sent)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_body_gets_413_without_being_read() {
    let s = serve(&app_with_server("  max_body_bytes: 65536\n"));
    const HUGE: usize = 50 * 1024 * 1024;

    // A declared length over the limit is refused before the body is sent.
    let (answer, _) = push_huge_body(&s.addr(), HUGE, false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"detail":"#), "{answer}");

    // Streamed without a length: refused once past the limit, long before the end.
    let (answer, sent) = push_huge_body(&s.addr(), HUGE, true).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"detail":"#), "{answer}");
    assert!(sent < HUGE, "the server answered before the whole body was sent ({sent} bytes)");

    // Still alive and serving.
    assert_eq!(get(&s, "/health").await.ok()["status"], "ok");
    let run = post_form(&s, "/agents/echo/runs", &[("message", "still here"), ("stream", "false")]).await.ok();
    assert_eq!(run["content"], "still here");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_session_is_403_and_another_components_is_409() {
    let s = serve(APP);
    let own = [("message", "mine"), ("stream", "false"), ("session_id", "s-alice"), ("user_id", "alice")];
    post_form(&s, "/agents/echo/runs", &own).await.ok();

    let bob = [("message", "let me in"), ("stream", "false"), ("session_id", "s-alice"), ("user_id", "bob")];
    assert!(post_form(&s, "/agents/echo/runs", &bob).await.error(403).is_string());
    let bob_stream = [("message", "let me in"), ("stream", "true"), ("session_id", "s-alice"), ("user_id", "bob")];
    post_form(&s, "/agents/echo/runs", &bob_stream).await.error(403);
    get(&s, "/sessions/s-alice?user_id=bob").await.error(403);
    get(&s, "/sessions/s-alice/runs?user_id=bob").await.error(403);
    let rename =
        json_req(&s, reqwest::Method::POST, "/sessions/s-alice/rename?user_id=bob", json!({"session_name": "x"}));
    rename.await.error(403);
    send(client().delete(s.url("/sessions/s-alice?user_id=bob"))).await.error(403);
    let mine = get(&s, "/sessions/s-alice?user_id=alice").await.ok();
    assert_eq!(mine["user_id"], "alice");
    assert_eq!(mine["session_name"], "mine", "bob's rename did not happen");

    // A team's session is not an agent's.
    post_form(&s, "/teams/crew/runs", &[("message", "Plan"), ("stream", "false"), ("session_id", "s-team")]).await.ok();
    let wrong = [("message", "hi"), ("stream", "false"), ("session_id", "s-team")];
    assert!(post_form(&s, "/agents/echo/runs", &wrong).await.error(409).is_string());
    post_form(&s, "/workflows/pipe/runs", &wrong).await.error(409);

    // Nothing of the refused runs was stored.
    let db = s.db();
    assert_eq!(stored_runs(&db, "s-alice").len(), 1);
    assert_eq!(stored_runs(&db, "s-team").len(), 2, "the team run and its member run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_answers_200_with_status_error() {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|_| Response::status(500));
    let s = serve(&fake_app(&fake, ""));

    let r = post_form(&s, "/agents/slow/runs", &[("message", "Hello"), ("stream", "false"), ("session_id", "s-err")])
        .await
        .ok();
    assert_eq!(r["status"], "ERROR", "{r:#}");
    let content = r["content"].as_str().expect("the error is the content");
    assert!(content.contains("500"), "{content}");
    assert_eq!(r["session_id"], "s-err");
    let run_id = r["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_status(&s, "s-err", &run_id).await.as_deref(), Some("ERROR"));

    let events = post_form(&s, "/agents/slow/runs", &[("message", "Hello"), ("session_id", "s-err")]).await.events();
    let n = names(&events);
    assert_eq!(n.first(), Some(&"RunStarted"), "{n:?}");
    assert_eq!(n.last(), Some(&"RunError"), "{n:?}");
    assert!(!n.contains(&"RunCompleted"), "{n:?}");
    let error = &events.last().unwrap().1;
    assert!(error["content"].as_str().is_some_and(|c| c.contains("500")), "{error}");
    assert_eq!(error["error_type"], "model_provider_error", "Agno's error type: {error}");
    let stream_run = events[0].1["run_id"].as_str().unwrap();
    assert_eq!(error["run_id"], stream_run);
    assert_eq!(run_status(&s, "s-err", stream_run).await.as_deref(), Some("ERROR"));
    // max_retries: 0 — one request per run.
    assert_eq!(fake.requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 3. Auth and secrets
// ---------------------------------------------------------------------------------------------

/// AgentOS's bearer checks, for a server whose key is `key`.
async fn check_bearer_auth(s: &Running, key: &str) {
    let c = client();
    let no_header = send(c.get(s.url("/agents"))).await;
    assert_eq!(no_header.error(401), "Authorization header required");
    let wrong = send(c.get(s.url("/agents")).header("authorization", "Bearer wrong-key")).await;
    assert_eq!(wrong.error(401), "Invalid authentication token");
    let prefix = send(c.get(s.url("/agents")).header("authorization", format!("Bearer {}", &key[..key.len() - 1])));
    assert_eq!(prefix.await.error(401), "Invalid authentication token");
    let longer = send(c.get(s.url("/agents")).header("authorization", format!("Bearer {key}x")));
    assert_eq!(longer.await.error(401), "Invalid authentication token");
    for header in [format!("Bearer {key}"), key.to_string(), format!("bearer {key}"), format!("BEARER {key}")] {
        let ok = send(c.get(s.url("/agents")).header("authorization", &header)).await;
        assert_eq!(ids(&ok.ok()), ["echo", "calc"], "{header}");
    }
    // /health is public; /config and runs are not.
    assert_eq!(send(c.get(s.url("/health"))).await.ok()["status"], "ok");
    assert_eq!(send(c.get(s.url("/config"))).await.error(401), "Authorization header required");
    let run = send(c.post(s.url("/agents/echo/runs")).form(&[("message", "hi"), ("session_id", "s-noauth")]));
    assert_eq!(run.await.error(401), "Authorization header required");
    send(c.get(s.url("/sessions"))).await.error(401);
    send(c.get(s.url("/memories"))).await.error(401);
    send(c.get(s.url("/no/such/route"))).await.error(401);
    // With the key, a streamed run works.
    let stream = send(
        c.post(s.url("/agents/echo/runs"))
            .header("authorization", format!("Bearer {key}"))
            .form(&[("message", "hi"), ("session_id", "s-auth")]),
    )
    .await;
    assert_eq!(names(&stream.events()).last(), Some(&"RunCompleted"));
    let db = s.db();
    assert!(stored_runs(&db, "s-noauth").is_empty());
    assert_eq!(stored_runs(&db, "s-auth").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_security_key_guards_every_route_but_health() {
    let key = "cfg-key-0d5e8a41f2";
    let s = serve(&app_with_server(&format!("  security_key: {key}\n")));
    check_bearer_auth(&s, key).await;
    assert!(!s.server.stderr().contains(key), "the key is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_shows_reload_details_only_with_the_key() {
    let key = "health-key-31f7";
    let s = serve(&app_with_server(&format!("  security_key: {key}\n")));
    // A broken save, reloaded: the details are for the key holder.
    std::fs::write(s.dir.path().join("app.yaml"), "version: 1\nagents: {a: {model: missing}}\n").unwrap();
    let reload = send(client().post(s.url("/config/reload")).bearer_auth(key)).await.ok();
    assert_eq!(reload["loaded"], false, "{reload}");
    let public = get(&s, "/health").await.ok();
    assert_eq!(public["status"], "ok");
    assert_eq!(public["config_generation"], 1);
    assert_eq!(public["last_reload"], json!({"loaded": false}));
    assert!(public.get("config_files").is_none(), "{public}");
    assert!(!public.to_string().contains("app.yaml") && !public.to_string().contains("missing"), "{public}");
    let full = send(client().get(s.url("/health")).bearer_auth(key)).await.ok();
    let diagnostics = full["last_error"]["diagnostics"].as_array().expect("diagnostics with the key");
    assert!(diagnostics.iter().any(|d| d["file"].as_str().is_some_and(|f| f.ends_with("app.yaml"))), "{full}");
    assert!(full["config_files"].is_array(), "{full}");
}

#[tokio::test(flavor = "multi_thread")]
async fn os_security_key_from_the_environment_guards_the_api() {
    let key = "env-key-77c1b9e3aa";
    let s = serve_with(APP, &[("OS_SECURITY_KEY", key)]);
    check_bearer_auth(&s, key).await;
    assert!(!s.server.stderr().contains(key), "the key is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_response_or_log_holds_a_key_or_password() {
    let key = "sec-key-5a9f3c1d77e2";
    let api_key = "sk-model-key-9b2e44c0d1aa";
    let fake = FakeOpenAi::start().await;
    // A backend that echoes the key it was sent in its error, as some do.
    fake.respond_with(move |req| {
        if req.messages().iter().any(|m| m["content"] == "fail") {
            Response::Status {
                status: 401,
                retry_after: None,
                body: json!({"error": {"message": format!("Incorrect API key provided: {api_key}")}}).to_string(),
            }
        } else {
            Response::text("fine")
        }
    });
    let pg_password = "pg-pass-3c8d1e7f";
    let pg_schema = cli::pg_schema();
    let with_pg = cli::postgres_up();
    let pg = if with_pg {
        format!(
            "  pg: {{type: postgres, db_url: \"postgresql://postgres:{pg_password}@127.0.0.1:5432/test\", db_schema: {pg_schema}, connect_timeout: 10}}\n"
        )
    } else {
        String::new()
    };
    let yaml = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\n{pg}models:\n  remote: {{provider: openai, id: gpt-4o-mini, base_url: \"{}\", api_key: {api_key}, max_retries: 0}}\nagents:\n  remote: {{name: Remote, model: remote, db: local}}\n{}server:\n  security_key: {key}\n",
        fake.base_url(),
        if with_pg { "  stored: {name: Stored, model: remote, db: pg}\n" } else { "" },
    );
    let s = serve_with(&yaml, &[("RUST_LOG", "agno_run=debug")]);
    let c = client();
    let auth = format!("Bearer {key}");
    let mut seen = String::new();
    let mut record = |a: &Answer| {
        seen.push_str(&format!("{:?}\n{}\n", a.headers, a.text));
    };
    for path in ["/health", "/config", "/agents", "/agents/remote", "/teams", "/workflows", "/sessions", "/memories"] {
        let a = send(c.get(s.url(path)).header("authorization", &auth)).await;
        assert_eq!(a.status, 200, "{a:?}");
        record(&a);
    }
    for a in [
        send(c.get(s.url("/config"))).await,
        send(c.get(s.url("/agents")).header("authorization", "Bearer nope")).await,
        send(c.get(s.url("/agents/nope")).header("authorization", &auth)).await,
        send(c.post(s.url("/agents/remote/runs")).header("authorization", &auth).form(&[("stream", "false")])).await,
    ] {
        assert!(a.status >= 400, "{a:?}");
        record(&a);
    }
    let ok = send(
        c.post(s.url("/agents/remote/runs"))
            .header("authorization", &auth)
            .form(&[("message", "hi"), ("stream", "false")]),
    )
    .await;
    assert_eq!(ok.ok()["content"], "fine");
    record(&ok);
    let failed = send(c.post(s.url("/agents/remote/runs")).header("authorization", &auth).form(&[
        ("message", "fail"),
        ("stream", "false"),
        ("session_id", "s-fail"),
    ]))
    .await;
    assert_eq!(failed.ok()["status"], "ERROR", "{failed:?}");
    record(&failed);
    let streamed = send(
        c.post(s.url("/agents/remote/runs"))
            .header("authorization", &auth)
            .form(&[("message", "fail"), ("session_id", "s-fail")]),
    )
    .await;
    assert_eq!(names(&streamed.events()).last(), Some(&"RunError"));
    record(&streamed);
    record(&send(c.get(s.url("/sessions/s-fail/runs")).header("authorization", &auth)).await);
    if with_pg {
        let pg_run = send(
            c.post(s.url("/agents/stored/runs"))
                .header("authorization", &auth)
                .form(&[("message", "hi"), ("stream", "false")]),
        )
        .await;
        assert_eq!(pg_run.ok()["content"], "fine");
        record(&pg_run);
        record(&send(c.get(s.url("/sessions?db_id=pg")).header("authorization", &auth)).await);
    }
    // The model was called with its key (so the key was there to leak).
    assert!(fake.requests().iter().any(|r| r.header("authorization") == Some(&format!("Bearer {api_key}"))));
    let stderr = s.server.stderr();
    for secret in [key, api_key, pg_password] {
        assert!(!seen.contains(secret), "a response holds {secret}:\n{seen}");
        assert!(!stderr.contains(secret), "the log holds {secret}:\n{stderr}");
    }
    drop(s);
    if with_pg {
        let (pgc, conn) =
            tokio_postgres::connect("postgresql://postgres@127.0.0.1:5432/test", tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        pgc.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{pg_schema}\" CASCADE")).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Non-loopback addresses
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_host_without_a_key_is_refused() {
    let dir = setup(APP);
    let out = cli::exec(cli::agno(dir.path()).args(["serve", "app.yaml", "--host", "0.0.0.0", "--port", "0"]));
    out.expect(cli::EXIT_CONFIG).says("security_key").never_says("serving the AgentOS API");

    // Accepting the risk serves.
    let s = serve(&app_with_server("  allow_unauthenticated: true\n"));
    assert!(s.server.base.contains("127.0.0.1"), "the default host is loopback");
    let dir = setup(&app_with_server("  allow_unauthenticated: true\n"));
    let open = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload", "--host", "0.0.0.0"]));
    let url = open.base.replace("0.0.0.0", "127.0.0.1");
    let health = send(client().get(format!("{url}/health"))).await;
    assert_eq!(health.ok()["status"], "ok");
    assert_eq!(ids(&send(client().get(format!("{url}/agents"))).await.ok()), ["echo", "calc"]);

    // So does a key, and then the key is required.
    let dir = setup(APP);
    let keyed = Server::start(
        dir.path(),
        Start::new(&["app.yaml", "--no-reload", "--host", "0.0.0.0"]).env("OS_SECURITY_KEY", "k-0.0.0.0-key"),
    );
    let url = keyed.base.replace("0.0.0.0", "127.0.0.1");
    send(client().get(format!("{url}/agents"))).await.error(401);
    let ok = send(client().get(format!("{url}/agents")).header("authorization", "Bearer k-0.0.0.0-key")).await;
    assert_eq!(ok.status, 200);
}

// ---------------------------------------------------------------------------------------------
// 5. A client that goes away
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_stream_cancels_the_run() {
    let fake = FakeOpenAi::start().await;
    let pieces: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Response::stream_text(&refs, 5, 400).with_gap(Duration::from_millis(25)));
    let s = serve(&fake_app(&fake, ""));

    let mut r = client()
        .post(s.url("/agents/slow/runs"))
        .form(&[("message", "go"), ("session_id", "s-gone"), ("stream", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (name, data) = first_event(&mut r).await;
    assert_eq!(name, "RunStarted");
    let run_id = data["run_id"].as_str().unwrap().to_string();
    // The model is streaming when the client leaves.
    eventually(10, "the model request", || async { (!fake.requests().is_empty()).then_some(()) }).await;
    drop(r);

    let status = eventually(20, "the run to end", || async {
        run_status(&s, "s-gone", &run_id).await.filter(|st| st != "RUNNING")
    })
    .await;
    assert_eq!(status, "CANCELLED");
    let stored = stored_runs(&s.db(), "s-gone");
    assert_eq!(stored, [(run_id.clone(), Some("CANCELLED".to_string()))]);
    // The server goes on.
    assert_eq!(get(&s, "/health").await.ok()["status"], "ok");
}

// ---------------------------------------------------------------------------------------------
// 6. Graceful shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_runs_in_flight_finish_and_refuses_new_ones() {
    let fake = FakeOpenAi::start().await;
    fake.push(Response::delayed(Duration::from_secs(3), Response::text("slow answer")));
    let s = serve(&fake_app(&fake, ""));
    let url = s.url("/agents/slow/runs");
    let in_flight = tokio::spawn(async move {
        send(client().post(url).form(&[("message", "go"), ("stream", "false"), ("session_id", "s-drain")])).await
    });
    eventually(20, "the model request", || async { (!fake.requests().is_empty()).then_some(()) }).await;

    s.server.signal("TERM");
    eventually(10, "the shutdown to start", || async {
        s.server.stderr().contains("shutting down: letting runs finish").then_some(())
    })
    .await;
    // New requests are refused (the listener is closed, or a 503).
    let fresh = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    match fresh.post(s.url("/agents/slow/runs")).form(&[("message", "late"), ("stream", "false")]).send().await {
        Err(_) => {}
        Ok(r) => assert_eq!(r.status(), 503, "a request after SIGTERM"),
    }

    let answer = in_flight.await.unwrap();
    let body = answer.ok();
    assert_eq!(body["status"], "COMPLETED");
    assert_eq!(body["content"], "slow answer");
    let Running { server, dir } = s;
    let (status, stderr) = server.wait(30);
    assert_eq!(status.code(), Some(0), "{stderr}");
    let stored = stored_runs(&open_db(dir.path()), "s-drain");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.as_deref(), Some("COMPLETED"));
    assert_eq!(fake.requests().len(), 1, "the late request ran nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_shutdown_grace_runs_in_flight_are_stored_cancelled() {
    let fake = FakeOpenAi::start().await;
    fake.push(Response::delayed(Duration::from_secs(120), Response::text("too late")));
    let pieces: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Response::stream_text(&refs, 5, 400).with_gap(Duration::from_millis(25)));
    let s = serve(&fake_app(&fake, "server:\n  shutdown_timeout: 0\n"));

    let url = s.url("/agents/slow/runs");
    let plain = tokio::spawn(async move {
        client().post(url).form(&[("message", "go"), ("stream", "false"), ("session_id", "s-cut")]).send().await
    });
    eventually(20, "the first model request", || async { (fake.requests().len() == 1).then_some(()) }).await;
    let mut streamed = client()
        .post(s.url("/agents/slow/runs"))
        .form(&[("message", "go"), ("session_id", "s-cut-stream")])
        .send()
        .await
        .unwrap();
    assert_eq!(first_event(&mut streamed).await.0, "RunStarted");
    eventually(20, "the second model request", || async { (fake.requests().len() == 2).then_some(()) }).await;

    s.server.signal("TERM");
    let Running { server, dir } = s;
    let (status, stderr) = server.wait(30);
    assert_eq!(status.code(), Some(0), "{stderr}");

    // The non-streamed caller hears the cancel (or the connection closes).
    if let Ok(r) = plain.await.unwrap()
        && let Ok(body) = r.json::<Value>().await
    {
        assert_eq!(body["status"], "CANCELLED", "{body}");
    }
    let db = open_db(dir.path());
    for session in ["s-cut", "s-cut-stream"] {
        let stored = stored_runs(&db, session);
        assert_eq!(stored.len(), 1, "{session}");
        assert_eq!(stored[0].1.as_deref(), Some("CANCELLED"), "{session}: not left RUNNING");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Request ids and CORS
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_a_request_id() {
    let s = serve(APP);
    let mut seen = Vec::new();
    for a in [
        get(&s, "/health").await,
        get(&s, "/agents").await,
        get(&s, "/agents/nope").await,
        get(&s, "/no/such/route").await,
        post_form(&s, "/agents/echo/runs", &[("stream", "false")]).await,
        post_form(&s, "/agents/echo/runs", &[("message", "hi"), ("stream", "false")]).await,
        post_form(&s, "/agents/echo/runs", &[("message", "hi")]).await,
        send(client().delete(s.url("/sessions/nope"))).await,
    ] {
        let id = a.header("x-request-id").unwrap_or_else(|| panic!("no x-request-id: {a:?}")).to_string();
        assert!(!id.is_empty());
        seen.push(id);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "one id per request: {seen:?}");
    // The caller's id is kept; one that is not printable or too long is replaced.
    let mine = send(client().get(s.url("/agents")).header("x-request-id", "trace-abc-123")).await;
    assert_eq!(mine.header("x-request-id"), Some("trace-abc-123"));
    let long = "x".repeat(300);
    let replaced = send(client().get(s.url("/agents")).header("x-request-id", &long)).await;
    let id = replaced.header("x-request-id").unwrap();
    assert_ne!(id, long);
    assert!(!id.is_empty());
    // And it is in the log lines of the request.
    eventually(5, "the request id in the log", || async { s.server.stderr().contains("trace-abc-123").then_some(()) })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_only_the_configured_origins() {
    let s = serve(&app_with_server("  cors_origins: [\"http://ok.test\"]\n  security_key: cors-key-1f2e3d\n"));
    let c = client();
    let preflight = |origin: &str| {
        c.request(reqwest::Method::OPTIONS, s.url("/agents/echo/runs"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
    };
    // A preflight needs no key.
    let ok = send(preflight("http://ok.test")).await;
    assert!((200..300).contains(&ok.status), "{ok:?}");
    assert_eq!(ok.header("access-control-allow-origin"), Some("http://ok.test"));
    let methods = ok.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{ok:?}");
    let headers = ok.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{ok:?}");

    let other = send(preflight("http://evil.test")).await;
    assert_eq!(other.header("access-control-allow-origin"), None, "{other:?}");

    // Actual requests: the allowed origin is named, others are not, errors included.
    let get_ok = send(c.get(s.url("/agents")).header("origin", "http://ok.test").bearer_auth("cors-key-1f2e3d")).await;
    assert_eq!(get_ok.status, 200);
    assert_eq!(get_ok.header("access-control-allow-origin"), Some("http://ok.test"));
    let denied = send(c.get(s.url("/agents")).header("origin", "http://ok.test")).await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.header("access-control-allow-origin"), Some("http://ok.test"));
    let evil = send(c.get(s.url("/agents")).header("origin", "http://evil.test").bearer_auth("cors-key-1f2e3d")).await;
    assert_eq!(evil.status, 200);
    assert_eq!(evil.header("access-control-allow-origin"), None);

    // Without cors_origins, no CORS headers at all.
    let plain = serve(APP);
    let a = send(client().get(plain.url("/agents")).header("origin", "http://ok.test")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("access-control-allow-origin"), None);
}

// ---------------------------------------------------------------------------------------------
// Several databases
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_database_of_the_config_is_reachable_by_db_id() {
    let s = serve(
        r#"version: 1
databases:
  main: {type: sqlite, db_file: main.db}
  other: {type: sqlite, db_file: other.db, session_table: other_sessions, memory_table: other_memories}
default_db: main
models:
  echo: {provider: scripted}
agents:
  a: {model: echo, db: main}
  b: {model: echo, db: other}
"#,
    );
    post_form(&s, "/agents/a/runs", &[("message", "to main"), ("stream", "false"), ("session_id", "s-main")])
        .await
        .ok();
    post_form(&s, "/agents/b/runs", &[("message", "to other"), ("stream", "false"), ("session_id", "s-other")])
        .await
        .ok();
    let config = get(&s, "/config").await.ok();
    assert_eq!(config["databases"], json!(["main", "other"]));
    let tables: Vec<&Value> = config["session"]["dbs"].as_array().unwrap().iter().map(|d| &d["tables"][0]).collect();
    assert_eq!(tables, [&json!("agno_sessions"), &json!("other_sessions")]);
    // Without db_id: the first database; with it, each one; `table` must be that database's.
    assert_eq!(ids_of(&get(&s, "/sessions").await.ok()), ["s-main"]);
    assert_eq!(ids_of(&get(&s, "/sessions?db_id=other").await.ok()), ["s-other"]);
    assert_eq!(ids_of(&get(&s, "/sessions?db_id=other&table=other_sessions").await.ok()), ["s-other"]);
    get(&s, "/sessions?db_id=other&table=agno_sessions").await.error(404);
    get(&s, "/sessions?db_id=nope").await.error(404);
    let detail = get(&s, "/sessions/s-other?db_id=other").await.ok();
    assert_eq!(detail["agent_id"], "b");
    get(&s, "/sessions/s-other").await.error(404);
    // Memories go to the database named.
    let m =
        json_req(&s, reqwest::Method::POST, "/memories?db_id=other", json!({"memory": "Likes tea", "user_id": "u"}))
            .await
            .ok();
    let id = m["memory_id"].as_str().unwrap();
    get(&s, &format!("/memories/{id}?db_id=other&user_id=u")).await.ok();
    get(&s, &format!("/memories/{id}?user_id=u")).await.error(404);
    // The row is in other.db, in the configured table.
    let other = rusqlite::Connection::open(s.dir.path().join("other.db")).unwrap();
    let n: i64 = other.query_row("SELECT COUNT(*) FROM other_memories", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

fn ids_of(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_stream_gets_keep_alive_comments() {
    let fake = FakeOpenAi::start().await;
    // The model says nothing for 2.5 s, then answers in one piece.
    fake.push(Response::delayed(Duration::from_millis(2500), Response::stream_text(&["late"], 5, 1)));
    let s = serve(&fake_app(&fake, "server:\n  sse_keep_alive: 1\n"));
    let r = post_form(&s, "/agents/slow/runs", &[("message", "Hello")]).await;
    let comments =
        r.text.split("\n\n").filter(|b| !b.trim().is_empty() && b.lines().all(|l| l.starts_with(':'))).count();
    assert!(comments >= 2, "at least two keep-alive comments in 2.5 s of silence:\n{}", r.text);
    // Agno's client skips them: the events are whole.
    let events = r.events();
    assert_eq!(names(&events).last(), Some(&"RunCompleted"), "{:?}", names(&events));
    assert_eq!(events.last().unwrap().1["content"], "late");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_run_leaves_no_run_running_once_it_is_back() {
    let fake = FakeOpenAi::start().await;
    let pieces: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Response::stream_text(&refs, 5, 200).with_gap(Duration::from_millis(50)));
    let first = serve(&fake_app(&fake, ""));
    let mut r = client()
        .post(first.url("/agents/slow/runs"))
        .form(&[("message", "Hello"), ("session_id", "s-kill")])
        .send()
        .await
        .unwrap();
    let (name, started) = first_event(&mut r).await;
    assert_eq!(name, "RunStarted");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    // SIGKILL: nothing of the server runs after it; its run is left RUNNING in the database.
    first.server.signal("KILL");
    let Running { server, dir } = first;
    let (status, _) = server.wait(30);
    assert!(!status.success());
    let status_in_db = |dir: &Path| -> String {
        open_db(dir).query_row("SELECT status FROM agno_runs WHERE run_id = ?1", [&run_id], |row| row.get(0)).unwrap()
    };
    assert_eq!(status_in_db(dir.path()), "RUNNING");
    // The next server on the same database ends it before it serves.
    let again = Running { server: Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"])), dir };
    assert_eq!(status_in_db(again.dir.path()), "ERROR");
    assert_eq!(run_status(&again, "s-kill", &run_id).await.as_deref(), Some("ERROR"));
}
