//! Team sessions shared with Python Agno 3.1.10, in the same database (SQLite and PostgreSQL):
//! Agno reads the team sessions `agno-run run --team` wrote (one `TeamSession`, team runs as
//! `TeamRunOutput`, member runs as `RunOutput` linked by `parent_run_id`), a Python `Team`
//! continues a session agno-run started, and agno-run continues one Python started — each
//! leader sending the other's team runs as history.
//!
//! Needs the Python of `tests/interop.rs` (`AGNO_TEST_PYTHON`, agno 3.x; skipped without it
//! unless `AGNO_TEST_REQUIRE_PYTHON=1`) and, for the PostgreSQL tests, `AGNO_TEST_POSTGRES_URL`
//! (default `postgresql://postgres@127.0.0.1:5432/test`; a fresh schema per test, dropped after;
//! skipped when nothing listens there unless `AGNO_TEST_REQUIRE_POSTGRES=1`). Both sides talk to
//! the Agno teams fixtures' scripted mock (`tests/agno_teams_workflows/mock_model.py`, a verbatim copy,
//! served and recorded by `teams_mock_serve.py`); the Python side is `tests/interop/teams_*.py`.
//! The helpers shared with `tests/interop.rs` are in `tests/support/python.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Prefix of the result line the Python scripts print (see `_common.emit`).
#[path = "support/python.rs"]
mod python;

use python::{PgSchema, ScriptedMock as Mock, postgres, python, run_py};
/// The questions of the coordinate session, in order.
const QUESTIONS: [&str; 3] = ["What is SQLite?", "And who wrote it?", "Is it still maintained?"];

/// One database, as agno-run's YAML and as the Python scripts' arguments.
struct Db {
    yaml: String,
    py: Vec<String>,
}

fn sqlite_db(dir: &Path) -> Db {
    let file = dir.join("agno.db").display().to_string();
    Db {
        yaml: format!("{{type: sqlite, db_file: {}}}", serde_json::to_string(&file).unwrap()),
        py: vec!["--sqlite".into(), file],
    }
}

fn postgres_db(schema: &PgSchema) -> Db {
    let agno_url = match schema.url.split_once("://") {
        Some((_, rest)) => format!("postgresql+psycopg://{rest}"),
        None => schema.url.clone(),
    };
    Db {
        yaml: format!(
            "{{type: postgres, db_url: {}, db_schema: {}}}",
            serde_json::to_string(&schema.url).unwrap(),
            schema.name
        ),
        py: vec!["--pg".into(), agno_url, "--schema".into(), schema.name.clone()],
    }
}

/// Writes the config: members `researcher` and `writer` (names and roles as in Agno's fixtures,
/// models `mock-<id>`), team `crew` (coordinate) and team `router` (route), both led by
/// `mock-leader` with history on, exactly what `teams_common.team` builds in Python.
fn write_config(dir: &Path, db: &Db, base_url: &str) -> PathBuf {
    let url = serde_json::to_string(base_url).unwrap();
    let path = dir.join("agno-run.yaml");
    let yaml = format!(
        "version: 1
databases:
  main: {db}
models:
  leader: {{provider: openai, id: mock-leader, base_url: {url}, api_key: mock-key}}
  researcher: {{provider: openai, id: mock-researcher, base_url: {url}, api_key: mock-key}}
  writer: {{provider: openai, id: mock-writer, base_url: {url}, api_key: mock-key}}
agents:
  researcher: {{name: Researcher, model: researcher, role: Finds facts}}
  writer: {{name: Writer, model: writer, role: Writes prose}}
teams:
  crew: {{name: Crew, mode: coordinate, model: leader, members: [researcher, writer], add_history_to_context: true}}
  router: {{name: Crew, mode: route, model: leader, members: [researcher, writer], add_history_to_context: true}}
",
        db = db.yaml
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn agno_run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_agno-run"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run agno-run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "agno-run {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `agno-run run CONFIG --team TEAM --session SESSION --user u1 --json MESSAGE`: the printed run.
fn agno_run_team(dir: &Path, config: &Path, team: &str, session: &str, message: &str) -> Value {
    let config = config.display().to_string();
    let out = agno_run(dir, &["run", &config, "--team", team, "--session", session, "--user", "u1", "--json", message]);
    let run: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("--json output ({e}): {out}"));
    assert_eq!(run["status"], "COMPLETED", "agno-run's team run: {run:#}");
    run
}

/// The session as agno-run reads it back (`sessions show --format json`): the row and its runs.
fn agno_run_session(dir: &Path, config: &Path, session: &str) -> Value {
    let config = config.display().to_string();
    let out = agno_run(dir, &["sessions", &config, "show", session, "--format", "json", "--user", "u1"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sessions show --format json ({e}): {out}"))
}

/// Agno's reads of a team session (`teams_read_session.py`); panics with Agno's traceback when
/// any read raised.
fn python_reads(python: &Path, db: &Db, team: &str, mode: &str, session: &str) -> Value {
    let mut args = db.py.clone();
    args.extend(["--team", team, "--mode", mode, "--session", session, "--user", "u1"].map(String::from));
    let read = run_py(python, "teams_read_session.py", &args);
    for (key, value) in read.as_object().expect("an object") {
        if let Some(trace) = key.strip_suffix("_error").and(value.as_str()) {
            panic!("Python Agno could not read team session {session} ({key}):\n{trace}");
        }
    }
    read
}

/// One run, as either side sees it.
#[derive(Debug, Clone, PartialEq)]
struct Link {
    run_id: String,
    /// A team (leader) run rather than a member agent run.
    team: bool,
    parent: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    status: String,
    content: String,
    /// The delegation tool calls: (member_id argument, child_run_id).
    delegations: Vec<(String, Option<String>)>,
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn delegations(tools: &Value) -> Vec<(String, Option<String>)> {
    tools
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["tool_name"] == "delegate_task_to_member")
        .map(|t| (t["tool_args"]["member_id"].as_str().unwrap_or_default().to_string(), opt(&t["child_run_id"])))
        .collect()
}

/// The runs of `teams_common.run_summary`s.
fn python_links(runs: &Value) -> Vec<Link> {
    let runs = runs.as_array().unwrap_or_else(|| panic!("no runs: {runs:#}"));
    runs.iter()
        .map(|r| {
            let class = r["class"].as_str().unwrap_or_default();
            assert!(class == "TeamRunOutput" || class == "RunOutput", "Agno's class of run {}: {class}", r["run_id"]);
            Link {
                run_id: opt(&r["run_id"]).expect("run_id"),
                team: class == "TeamRunOutput",
                parent: opt(&r["parent_run_id"]),
                agent_id: opt(&r["agent_id"]),
                team_id: opt(&r["team_id"]),
                status: opt(&r["status"]).unwrap_or_default(),
                content: opt(&r["content"]).unwrap_or_default(),
                delegations: delegations(&r["tools"]),
            }
        })
        .collect()
}

/// The runs of agno-run's `sessions show --format json`, checking that the columns and
/// `run_data` agree.
fn stored_links(session: &Value) -> Vec<Link> {
    let runs = session["runs"].as_array().unwrap_or_else(|| panic!("no runs: {session:#}"));
    runs.iter()
        .map(|r| {
            let data = &r["run_data"];
            for key in ["run_id", "parent_run_id", "agent_id", "team_id", "status"] {
                let column = &r[key];
                assert!(
                    data[key] == *column || (column.is_null() && data.get(key).is_none()),
                    "run {}: column {key} = {column}, run_data.{key} = {}",
                    r["run_id"],
                    data[key]
                );
            }
            Link {
                run_id: opt(&r["run_id"]).expect("run_id"),
                team: r["run_type"] == "team",
                parent: opt(&r["parent_run_id"]),
                agent_id: opt(&r["agent_id"]),
                team_id: opt(&r["team_id"]),
                status: opt(&r["status"]).unwrap_or_default(),
                content: opt(&data["content"]).unwrap_or_default(),
                delegations: delegations(&data["tools"]),
            }
        })
        .collect()
}

/// The links every team session must show: every member run's parent is a team run of the
/// session, of team `team`; every team run is top-level and its delegations name exactly its
/// member runs (and `child_run_id`, when set, is the member run). Returns the team runs' ids in
/// session order.
fn check_links(what: &str, runs: &[Link], team: &str) -> Vec<String> {
    let teams: Vec<&Link> = runs.iter().filter(|r| r.team).collect();
    for t in &teams {
        assert_eq!(t.team_id.as_deref(), Some(team), "{what}: team run {t:?}");
        assert_eq!(t.parent, None, "{what}: a team run is top-level: {t:?}");
        assert_eq!(t.agent_id, None, "{what}: team run {t:?}");
        let children: Vec<&Link> = runs.iter().filter(|r| r.parent.as_deref() == Some(&t.run_id)).collect();
        assert_eq!(
            t.delegations.len(),
            children.len(),
            "{what}: one member run per delegation of team run {}: {runs:#?}",
            t.run_id
        );
        for (member, child) in &t.delegations {
            let run = children.iter().find(|c| c.agent_id.as_deref() == Some(member)).unwrap_or_else(|| {
                panic!("{what}: team run {} delegated to {member}, no such member run: {runs:#?}", t.run_id)
            });
            if let Some(child) = child {
                assert_eq!(child, &run.run_id, "{what}: child_run_id of team run {}", t.run_id);
            }
        }
    }
    for m in runs.iter().filter(|r| !r.team) {
        let parent = m.parent.as_deref().unwrap_or_else(|| panic!("{what}: member run without a parent: {m:?}"));
        assert!(
            teams.iter().any(|t| t.run_id == parent),
            "{what}: member run's parent is no team run of the session: {m:?}"
        );
        assert!(m.agent_id.as_deref().is_some_and(|a| ["researcher", "writer"].contains(&a)), "{what}: {m:?}");
        assert_eq!(m.team_id, None, "{what}: a member run has no team_id: {m:?}");
    }
    for r in runs {
        assert_eq!(r.status, "COMPLETED", "{what}: {r:?}");
    }
    teams.iter().map(|t| t.run_id.clone()).collect()
}

/// Agno's three views of the session (`db.get_session`, `team.get_session`, `db.get_runs`) hold
/// exactly the runs agno-run stored: same ids in the same order (`get_runs` in any order), same
/// classes, links, statuses and contents.
fn assert_python_sees(read: &Value, stored: &[Link], session: &str, team: &str) {
    for key in ["db_session", "team_session"] {
        let s = &read[key];
        assert_eq!(s["class"], "TeamSession", "Agno's {key} of {session}: {s:#}");
        assert_eq!(s["session_id"], session, "{key}: {s:#}");
        assert_eq!(s["team_id"], team, "{key}: {s:#}");
        assert_eq!(s["user_id"], "u1", "{key}: {s:#}");
        assert_eq!(s["team_data"]["team_id"], team, "{key}: {s:#}");
        let runs = python_links(&s["runs"]);
        assert_eq!(runs, stored, "Agno's {key} of {session} against what agno-run reads");
    }
    let mut by_db: Vec<Link> = python_links(&read["db_runs"]);
    let mut ours = stored.to_vec();
    by_db.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    ours.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    assert_eq!(by_db, ours, "Agno's db.get_runs(session_id={session})");
}

/// The non-system messages of a recorded request as (role, content, tool-call names).
fn sent(request: &Value) -> Vec<(String, String, Vec<String>)> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] != "system" && m["role"] != "developer")
        .map(|m| {
            let calls = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["function"]["name"].as_str().unwrap_or_default().to_string())
                .collect();
            (m["role"].as_str().unwrap_or_default().to_string(), opt(&m["content"]).unwrap_or_default(), calls)
        })
        .collect()
}

/// What a leader must send after earlier coordinate team runs: each earlier run as `user,
/// assistant(delegate_task_to_member), tool (the member's answer), assistant (the team's
/// answer)`, then the new question. `earlier` are the stored runs in session order.
fn expected_history(earlier: &[Link], question: &str, inputs: &[&str]) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let teams: Vec<&Link> = earlier.iter().filter(|r| r.team).collect();
    assert_eq!(teams.len(), inputs.len(), "{earlier:#?}");
    for (t, input) in teams.iter().zip(inputs) {
        let member = earlier.iter().find(|r| r.parent.as_deref() == Some(&t.run_id)).expect("a member run");
        out.push(("user".into(), input.to_string(), vec![]));
        out.push(("assistant".into(), String::new(), vec!["delegate_task_to_member".into()]));
        out.push(("tool".into(), member.content.clone(), vec![]));
        out.push(("assistant".into(), t.content.clone(), vec![]));
    }
    out.push(("user".into(), question.into(), vec![]));
    out
}

fn leader_requests(requests: &[Value]) -> Vec<&Value> {
    requests.iter().filter(|r| r["model"] == "mock-leader").collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Agno reads the team sessions agno-run wrote.
// ---------------------------------------------------------------------------------------------

fn python_agno_reads_team_sessions_agno_run_wrote(python: &Path, db: &Db, dir: &Path) {
    let mock = Mock::start(python, dir);
    let config = write_config(dir, db, &mock.base_url());
    for q in &QUESTIONS[..2] {
        let run = agno_run_team(dir, &config, "crew", "coord", q);
        assert_eq!(run["content"], format!("[mock-leader] answer to: {q}"), "{run:#}");
    }
    for q in &QUESTIONS[..2] {
        let run = agno_run_team(dir, &config, "router", "route", q);
        let member = format!("[mock-researcher] answer to: Task from mock-leader: {q}");
        assert_eq!(run["content"], member, "route: the member's answer is the team's: {run:#}");
    }

    for (session, team, mode) in [("coord", "crew", "coordinate"), ("route", "router", "route")] {
        let stored = stored_links(&agno_run_session(dir, &config, session));
        assert_eq!(stored.len(), 4, "{session}: 2 team runs and 2 member runs: {stored:#?}");
        let team_runs = check_links(&format!("agno-run's {session}"), &stored, team);
        assert_eq!(team_runs.len(), 2, "{stored:#?}");
        for (t, q) in stored.iter().filter(|r| r.team).zip(QUESTIONS) {
            assert_eq!(t.delegations.len(), 1, "{t:?}");
            let member = stored.iter().find(|r| r.parent.as_deref() == Some(&t.run_id)).unwrap();
            assert_eq!(member.agent_id.as_deref(), Some("researcher"), "the mock delegates to the first member");
            assert_eq!(member.content, format!("[mock-researcher] answer to: Task from mock-leader: {q}"));
            let team_answer =
                if mode == "route" { member.content.clone() } else { format!("[mock-leader] answer to: {q}") };
            assert_eq!(t.content, team_answer, "{session}: {t:?}");
        }

        let read = python_reads(python, db, team, mode, session);
        assert_python_sees(&read, &stored, session, team);
        check_links(&format!("Agno's {session}"), &python_links(&read["db_session"]["runs"]), team);
        let runs = read["team_session"]["runs"].as_array().unwrap();
        // Agno stores a route run without a final assistant message (`system, user,
        // assistant(tool_calls), tool`); agno-run also stores the member's answer as one, on
        // purpose (src/agent/turns.rs, agno#8573), so both modes end with the team's answer.
        let team_roles = ["system", "user", "assistant", "tool", "assistant"];
        for r in runs {
            let roles: Vec<&str> = r["roles"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            if r["class"] == "TeamRunOutput" {
                assert_eq!(roles, team_roles, "{session}: the team run's own messages, no history: {r:#}");
                assert_eq!(r["last_message"], r["content"], "{session}: the last message is the team's answer: {r:#}");
                assert!(r["member_responses"].as_array().is_some_and(Vec::is_empty), "{r:#}");
            } else {
                assert_eq!(roles, ["system", "user", "assistant"], "{session}: the member's messages: {r:#}");
                assert_eq!(r["input"], r["content"].as_str().unwrap().split("answer to: ").nth(1).unwrap(), "{r:#}");
            }
        }
    }

    // Each session's second leader request carries its first team run as history.
    let requests = mock.requests();
    let leaders = leader_requests(&requests);
    assert_eq!(leaders.len(), 6, "coordinate: 2 leader requests per run; route: 1");
    let coord = stored_links(&agno_run_session(dir, &config, "coord"));
    assert_eq!(sent(leaders[2]), expected_history(&coord[..2], QUESTIONS[1], &QUESTIONS[..1]), "{:#}", leaders[2]);
    let route = stored_links(&agno_run_session(dir, &config, "route"));
    assert_eq!(sent(leaders[5]), expected_history(&route[..2], QUESTIONS[1], &QUESTIONS[..1]), "{:#}", leaders[5]);
}

#[test]
fn sqlite_python_agno_reads_team_sessions_agno_run_wrote() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    python_agno_reads_team_sessions_agno_run_wrote(&python, &sqlite_db(dir.path()), dir.path());
}

#[test]
fn postgres_python_agno_reads_team_sessions_agno_run_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    python_agno_reads_team_sessions_agno_run_wrote(&python, &postgres_db(&schema), dir.path());
}

// ---------------------------------------------------------------------------------------------
// 2. A Python team continues agno-run's team session, and agno-run continues Python's.
// ---------------------------------------------------------------------------------------------

/// Runs the Python team `crew` (coordinate) in session `s1` once per message.
fn python_team_runs(python: &Path, db: &Db, mock: &Mock, messages: &[&str]) -> Vec<Value> {
    let mut args = db.py.clone();
    args.extend(
        ["--base-url", &mock.base_url(), "--team", "crew", "--mode", "coordinate", "--session", "s1", "--user", "u1"]
            .map(String::from),
    );
    for m in messages {
        args.extend(["--message".to_string(), m.to_string()]);
    }
    let out = run_py(python, "teams_run.py", &args);
    let runs = out["runs"].as_array().unwrap_or_else(|| panic!("{out:#}")).clone();
    assert_eq!(runs.len(), messages.len(), "{out:#}");
    for (r, q) in runs.iter().zip(messages) {
        assert_eq!(r["class"], "TeamRunOutput", "{out:#}");
        assert_eq!(r["status"], "COMPLETED", "{out:#}");
        assert_eq!(r["content"], format!("[mock-leader] answer to: {q}"), "{out:#}");
    }
    runs
}

/// Both sides read session `s1` after all three runs: the same six runs (three team runs, each
/// with its member run), in the same order, with their links; returns them.
fn both_see_three_team_runs(python: &Path, db: &Db, dir: &Path, config: &Path, team_run_ids: &[String]) -> Vec<Link> {
    let session = agno_run_session(dir, config, "s1");
    assert_eq!(session["session_type"], "team", "{session:#}");
    assert_eq!(session["team_id"], "crew", "{session:#}");
    let stored = stored_links(&session);
    assert_eq!(stored.len(), 6, "three team runs and their member runs: {stored:#?}");
    let ids = check_links("agno-run's s1", &stored, "crew");
    assert_eq!(ids, team_run_ids, "agno-run's team runs of s1, in order");
    for (t, q) in stored.iter().filter(|r| r.team).zip(QUESTIONS) {
        assert_eq!(t.content, format!("[mock-leader] answer to: {q}"), "{t:?}");
    }
    let read = python_reads(python, db, "crew", "coordinate", "s1");
    assert_python_sees(&read, &stored, "s1", "crew");
    stored
}

fn python_agno_continues_a_team_session_agno_run_started(python: &Path, db: &Db, dir: &Path) {
    let mock = Mock::start(python, dir);
    let config = write_config(dir, db, &mock.base_url());
    let mut team_runs = Vec::new();
    for q in &QUESTIONS[..2] {
        team_runs.push(agno_run_team(dir, &config, "crew", "s1", q)["run_id"].as_str().unwrap().to_string());
    }
    let before = stored_links(&agno_run_session(dir, &config, "s1"));
    let n = mock.requests().len();
    assert_eq!(n, 6, "leader, member, leader per agno-run run");

    let py = python_team_runs(python, db, &mock, &QUESTIONS[2..]);
    team_runs.push(py[0]["run_id"].as_str().unwrap().to_string());
    let requests = mock.requests();
    let python_leader = leader_requests(&requests[n..]);
    assert_eq!(python_leader.len(), 2, "Python's leader: delegate, then answer");
    assert_eq!(
        sent(python_leader[0]),
        expected_history(&before, QUESTIONS[2], &QUESTIONS[..2]),
        "Python Agno's leader request replays agno-run's team runs as history: {:#}",
        python_leader[0]["messages"]
    );

    both_see_three_team_runs(python, db, dir, &config, &team_runs);
}

#[test]
fn sqlite_python_agno_continues_a_team_session_agno_run_started() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    python_agno_continues_a_team_session_agno_run_started(&python, &sqlite_db(dir.path()), dir.path());
}

#[test]
fn postgres_python_agno_continues_a_team_session_agno_run_started() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    python_agno_continues_a_team_session_agno_run_started(&python, &postgres_db(&schema), dir.path());
}

fn agno_run_continues_a_team_session_python_agno_started(python: &Path, db: &Db, dir: &Path) {
    let mock = Mock::start(python, dir);
    // Python first, on a database nobody has created yet: Agno makes the tables, agno-run adopts them.
    let py = python_team_runs(python, db, &mock, &QUESTIONS[..2]);
    let mut team_runs: Vec<String> = py.iter().map(|r| r["run_id"].as_str().unwrap().to_string()).collect();
    let python_read = python_reads(python, db, "crew", "coordinate", "s1");
    let before = python_links(&python_read["db_session"]["runs"]);
    let n = mock.requests().len();
    assert_eq!(n, 6, "leader, member, leader per Python run");

    let config = write_config(dir, db, &mock.base_url());
    let ours = agno_run_team(dir, &config, "crew", "s1", QUESTIONS[2]);
    assert_eq!(ours["session_id"], "s1", "{ours:#}");
    team_runs.push(ours["run_id"].as_str().unwrap().to_string());
    let requests = mock.requests();
    let our_leader = leader_requests(&requests[n..]);
    assert_eq!(our_leader.len(), 2, "agno-run's leader: delegate, then answer");
    assert_eq!(
        sent(our_leader[0]),
        expected_history(&before, QUESTIONS[2], &QUESTIONS[..2]),
        "agno-run's leader request replays Python Agno's team runs as history: {:#}",
        our_leader[0]["messages"]
    );

    let stored = both_see_three_team_runs(python, db, dir, &config, &team_runs);
    // What Python wrote reads back unchanged through agno-run.
    assert_eq!(stored[..4], before[..], "Python's four runs, as agno-run reads them");
}

#[test]
fn sqlite_agno_run_continues_a_team_session_python_agno_started() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    agno_run_continues_a_team_session_python_agno_started(&python, &sqlite_db(dir.path()), dir.path());
}

#[test]
fn postgres_agno_run_continues_a_team_session_python_agno_started() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    agno_run_continues_a_team_session_python_agno_started(&python, &postgres_db(&schema), dir.path());
}
