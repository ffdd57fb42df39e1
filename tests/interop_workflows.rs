//! Workflow sessions shared with Python Agno 3.1.10, in the same database (SQLite and PostgreSQL):
//! Agno reads the workflow sessions `agno-run run --workflow` wrote — one `WorkflowSession`, each
//! run a `WorkflowRunOutput` whose `step_results` are `StepOutput`s nested as agno-run stored them
//! (an agent step, a `parallel` group, a `condition` taking each branch once, a `loop`, a
//! `router`, a `team` step) and whose `step_executor_runs` are `RunOutput`s and a `TeamRunOutput`
//! (its member inside `member_responses`), each linked to its workflow run by `parent_run_id` and
//! to its step by `workflow_step_id`; and a run that failed under `on_error: fail` reads back
//! ERROR with the step results it had.
//!
//! Needs the Python of `tests/interop.rs` (`AGNO_TEST_PYTHON`, agno 3.x; skipped without it
//! unless `AGNO_TEST_REQUIRE_PYTHON=1`) and, for the PostgreSQL test, `AGNO_TEST_POSTGRES_URL`
//! (default `postgresql://postgres@127.0.0.1:5432/test`; a fresh schema per test, dropped after;
//! skipped when nothing listens there unless `AGNO_TEST_REQUIRE_POSTGRES=1`). agno-run talks to the
//! Agno teams fixtures' scripted mock (`tests/agno_teams_workflows/mock_model.py`, served by
//! `teams_mock_serve.py`; a model id starting with `fail` gets HTTP 500); the Python side is
//! `tests/interop/workflows_read_session.py`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

#[path = "support/python.rs"]
mod python;

use python::{PgSchema, ScriptedMock as Mock, postgres, python, run_py};

/// The inputs of the two runs of `wf-all`: the condition takes its `steps`, then its `else_steps`.
const INPUTS: [&str; 2] = ["Topic: SQLite", "Topic: COBOL"];

/// One database, as agno-run's YAML and as the Python script's arguments.
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
    Db {
        yaml: format!(
            "{{type: postgres, db_url: {}, db_schema: {}}}",
            serde_json::to_string(&schema.url).unwrap(),
            schema.name
        ),
        py: schema.py_args(),
    }
}

/// Writes the config: workflow `wf-all` with one step of every kind, and `wf-fail`, whose middle
/// step's model (`fail-broken`) always answers HTTP 500 and which fails the run (`on_error: fail`).
fn write_config(dir: &Path, db: &Db, base_url: &str) -> PathBuf {
    let url = serde_json::to_string(base_url).unwrap();
    let path = dir.join("agno-run.yaml");
    let yaml = format!(
        r#"version: 1
databases:
  main: {db}
models:
  leader: {{provider: openai, id: mock-leader, base_url: {url}, api_key: test}}
  researcher: {{provider: openai, id: mock-researcher, base_url: {url}, api_key: test}}
  historian: {{provider: openai, id: mock-historian, base_url: {url}, api_key: test}}
  writer: {{provider: openai, id: mock-writer, base_url: {url}, api_key: test}}
  broken: {{provider: openai, id: fail-broken, base_url: {url}, api_key: test}}
agents:
  researcher: {{name: Researcher, model: researcher, role: Finds facts}}
  historian: {{name: Historian, model: historian, role: Knows history}}
  writer: {{name: Writer, model: writer, role: Writes prose}}
  broken: {{name: Broken, model: broken, role: Always fails}}
teams:
  crew: {{name: Crew, mode: coordinate, model: leader, members: [researcher]}}
workflows:
  wf-all:
    name: Every Step Kind
    db: main
    steps:
      - {{name: research, agent: researcher}}
      - name: gather
        parallel:
          - {{name: facts, agent: researcher}}
          - {{name: history, agent: historian}}
      - name: if_sqlite
        condition: 'input.contains("SQLite")'
        steps:
          - {{name: sqlite_facts, agent: researcher}}
        else_steps:
          - {{name: other_facts, agent: historian}}
      - name: refine
        loop: {{end_condition: 'false', max_iterations: 2}}
        steps:
          - {{name: draft, agent: writer}}
      - name: choose
        router: '"short"'
        choices:
          - {{name: short, agent: writer}}
          - {{name: long, agent: historian}}
      - {{name: crew_step, team: crew}}
  wf-fail:
    name: Failing Step
    db: main
    steps:
      - {{name: ok_step, agent: researcher}}
      - {{name: broken_step, agent: broken, on_error: fail}}
      - {{name: after_step, agent: writer}}
"#,
        db = db.yaml
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn agno_run_output(dir: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agno-run"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run agno-run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

fn agno_run(dir: &Path, args: &[&str]) -> String {
    let (out, stdout) = agno_run_output(dir, args);
    assert!(
        out.status.success(),
        "agno-run {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `agno-run run CONFIG --workflow WF --session SESSION --user u1 --json INPUT`: whether it
/// succeeded, and the printed JSON.
fn agno_run_workflow(dir: &Path, config: &Path, workflow: &str, session: &str, input: &str) -> (bool, Value) {
    let config = config.display().to_string();
    let args = ["run", &config, "--workflow", workflow, "--session", session, "--user", "u1", "--json", input];
    let (out, stdout) = agno_run_output(dir, &args);
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("--json output ({e}): {stdout}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.success(), printed)
}

/// The session as agno-run reads it back (`sessions show --format json`): the row and its runs.
fn agno_run_session(dir: &Path, config: &Path, session: &str) -> Value {
    let config = config.display().to_string();
    let out = agno_run(dir, &["sessions", &config, "show", session, "--format", "json", "--user", "u1"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sessions show --format json ({e}): {out}"))
}

/// Agno's reads of a workflow session (`workflows_read_session.py`); panics with Agno's traceback
/// (and the rows agno-run wrote) when any read raised.
fn python_reads(python: &Path, db: &Db, workflow: &str, session: &str, stored: &Value) -> Value {
    let mut args = db.py.clone();
    args.extend(["--workflow", workflow, "--session", session, "--user", "u1"].map(String::from));
    let read = run_py(python, "workflows_read_session.py", &args);
    for (key, value) in read.as_object().expect("an object") {
        if let Some(trace) = key.strip_suffix("_error").and(value.as_str()) {
            panic!(
                "Python Agno could not read workflow session {session} ({key}):\n{trace}\n--- the session agno-run stored ---\n{stored:#}"
            );
        }
    }
    read
}

/// A step result tree reduced to what both sides must agree on; `steps` is null on a leaf.
fn step_tree(steps: &Value) -> Value {
    let steps = steps.as_array().unwrap_or_else(|| panic!("step results: {steps:#}"));
    Value::Array(
        steps
            .iter()
            .map(|s| {
                let nested = s.get("steps").filter(|n| !n.is_null()).map(step_tree).unwrap_or(Value::Null);
                json!({
                    "step_name": s["step_name"],
                    "step_id": s["step_id"],
                    "step_type": s["step_type"],
                    "executor_type": s.get("executor_type").cloned().unwrap_or(Value::Null),
                    "executor_name": s.get("executor_name").cloned().unwrap_or(Value::Null),
                    "step_run_id": s.get("step_run_id").cloned().unwrap_or(Value::Null),
                    "success": s["success"],
                    "error": s.get("error").cloned().unwrap_or(Value::Null),
                    "content": s["content"],
                    "steps": nested,
                })
            })
            .collect(),
    )
}

/// The tree's shape as (depth, step_name, step_type, executor_type, executor_name, success).
fn shape(tree: &Value, depth: usize, out: &mut Vec<(usize, String, String, Value, Value, bool)>) {
    for s in tree.as_array().unwrap() {
        out.push((
            depth,
            s["step_name"].as_str().unwrap_or_default().into(),
            s["step_type"].as_str().unwrap_or_default().into(),
            s["executor_type"].clone(),
            s["executor_name"].clone(),
            s["success"].as_bool().unwrap_or(false),
        ));
        if !s["steps"].is_null() {
            shape(&s["steps"], depth + 1, out);
        }
    }
}

/// Every leaf of the tree (a step with an executor run), in order.
fn leaves(tree: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in tree.as_array().unwrap() {
        if s["steps"].is_null() {
            out.push(s.clone());
        } else {
            out.extend(leaves(&s["steps"]));
        }
    }
    out
}

type Shape = (usize, &'static str, &'static str, Value, Value, bool);

fn agent(depth: usize, name: &'static str, executor: &str) -> Shape {
    (depth, name, "Step", json!("agent"), json!(executor), true)
}

fn container(name: &'static str, kind: &'static str, executor: Value) -> Shape {
    let executor_name = if executor.is_null() { Value::Null } else { json!(name) };
    (0, name, kind, executor, executor_name, true)
}

/// What `wf-all` must have stored for `input`.
fn expected_shape(input: &str) -> Vec<(usize, String, String, Value, Value, bool)> {
    let branch = if input.contains("SQLite") {
        agent(1, "sqlite_facts", "Researcher")
    } else {
        agent(1, "other_facts", "Historian")
    };
    [
        agent(0, "research", "Researcher"),
        container("gather", "Parallel", json!("parallel")),
        agent(1, "facts", "Researcher"),
        agent(1, "history", "Historian"),
        container("if_sqlite", "Condition", Value::Null),
        branch,
        container("refine", "Loop", Value::Null),
        agent(1, "draft", "Writer"),
        agent(1, "draft", "Writer"),
        container("choose", "Router", Value::Null),
        agent(1, "short", "Writer"),
        (0, "crew_step", "Step", json!("team"), json!("Crew"), true),
    ]
    .into_iter()
    .map(|(d, n, t, et, en, ok)| (d, n.to_string(), t.to_string(), et, en, ok))
    .collect()
}

/// One executor run as either side sees it: (class, run_id, parent_run_id, workflow_step_id,
/// agent_id, team_id, status, content).
fn stored_executor(r: &Value) -> Value {
    let class = if r.get("team_id").is_some_and(|t| !t.is_null()) { "TeamRunOutput" } else { "RunOutput" };
    json!([
        class,
        r["run_id"],
        r["parent_run_id"],
        r["workflow_step_id"],
        r.get("agent_id"),
        r.get("team_id"),
        r["status"],
        r["content"]
    ])
}

fn python_executor(r: &Value) -> Value {
    json!([
        r["class"],
        r["run_id"],
        r["parent_run_id"],
        r["workflow_step_id"],
        r["agent_id"],
        r["team_id"],
        r["status"],
        r["content"]
    ])
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap_or_else(|| panic!("a list: {v}")).iter().map(|k| k.as_str().unwrap()).collect()
}

/// Agno's two views of the session (`db.get_session`, `workflow.get_session`) are the same, of
/// the right classes, and hold exactly the runs agno-run stored: same ids in the same order,
/// statuses, contents, inputs, step trees and executor runs, each executor run linked to its
/// workflow run and to the leaf step that ran it. Returns Agno's runs.
fn assert_python_sees(read: &Value, stored: &Value, session: &str, workflow: &str) -> Vec<Value> {
    let db_session = &read["db_session"];
    assert_eq!(read["workflow_session"], *db_session, "workflow.get_session and db.get_session of {session} differ");
    let s = db_session;
    assert_eq!(s["class"], "WorkflowSession", "Agno's session {session}: {s:#}");
    assert_eq!(s["session_id"], session, "{s:#}");
    assert_eq!(s["workflow_id"], workflow, "{s:#}");
    assert_eq!(s["user_id"], "u1", "{s:#}");
    assert_eq!(s["workflow_data"], stored["workflow_data"], "Agno's workflow_data of {session}");
    assert_eq!(
        strs(&s["to_dict_keys"]),
        [
            "created_at",
            "metadata",
            "runs",
            "session_data",
            "session_id",
            "updated_at",
            "user_id",
            "workflow_data",
            "workflow_id",
            "workflow_name"
        ],
        "WorkflowSession.to_dict() keys, as the fixtures' README lists them"
    );
    for key in ["runs", "session_data", "workflow_data", "workflow_id"] {
        assert!(strs(&read["raw_keys"]).contains(&key), "raw row of {session} lacks {key}: {:#}", read["raw_keys"]);
    }

    let ours = stored["runs"].as_array().unwrap();
    let theirs = s["runs"].as_array().unwrap_or_else(|| panic!("Agno's runs of {session}: {s:#}"));
    assert_eq!(theirs.len(), ours.len(), "run count of {session}: {s:#}");
    for (py, row) in theirs.iter().zip(ours) {
        let data = &row["run_data"];
        let what = format!("run {} of {session}", row["run_id"]);
        assert_eq!(py["class"], "WorkflowRunOutput", "{what}: {py:#}");
        assert_eq!(py["run_id"], row["run_id"], "{what}");
        assert_eq!(py["workflow_id"], workflow, "{what}");
        assert_eq!(py["session_id"], session, "{what}");
        assert_eq!(py["user_id"], "u1", "{what}");
        assert_eq!(py["status"], row["status"], "{what}");
        assert_eq!(py["content"], data["content"], "{what}: content");
        assert!(data["input"].is_string(), "{what}: agno-run stores the input as a plain string: {:#}", data["input"]);
        assert_eq!(py["input"], data["input"], "{what}: input");
        let keys = strs(&py["to_dict_keys"]);
        for key in ["input", "content", "status", "step_results", "step_executor_runs", "workflow_id", "run_id"] {
            assert!(keys.contains(&key), "{what}: WorkflowRunOutput.to_dict() lacks {key}: {keys:?}");
        }

        let tree = step_tree(&py["step_results"]);
        assert_eq!(tree, step_tree(&data["step_results"]), "{what}: Agno's step tree against the stored one");
        let mut classes = Vec::new();
        fn collect_classes(steps: &Value, out: &mut Vec<String>) {
            for s in steps.as_array().unwrap() {
                out.push(s["class"].as_str().unwrap_or_default().into());
                if !s["steps"].is_null() {
                    collect_classes(&s["steps"], out);
                }
            }
        }
        collect_classes(&py["step_results"], &mut classes);
        assert!(
            classes.iter().all(|c| c == "StepOutput"),
            "{what}: step results deserialize as StepOutput: {classes:?}"
        );

        let runs = py["step_executor_runs"].as_array().unwrap();
        let stored_runs = data["step_executor_runs"].as_array().unwrap();
        assert_eq!(
            runs.iter().map(python_executor).collect::<Vec<_>>(),
            stored_runs.iter().map(stored_executor).collect::<Vec<_>>(),
            "{what}: Agno's step_executor_runs against the stored ones"
        );
        for r in runs {
            assert_eq!(
                r["parent_run_id"], row["run_id"],
                "{what}: an executor run's parent is its workflow run: {r:#}"
            );
            let keys = strs(&r["to_dict_keys"]);
            for key in ["run_id", "parent_run_id", "workflow_step_id", "metadata", "content", "status", "messages"] {
                assert!(keys.contains(&key), "{what}: {}.to_dict() lacks {key}: {keys:?}", r["class"]);
            }
            if r["class"] == "TeamRunOutput" {
                assert!(
                    keys.contains(&"member_responses"),
                    "{what}: TeamRunOutput.to_dict() lacks member_responses: {keys:?}"
                );
            }
        }
        // Each leaf step ran exactly one executor run: its step_run_id, under its step_id.
        let leaves = leaves(&tree);
        assert_eq!(leaves.len(), runs.len(), "{what}: one executor run per leaf step");
        for leaf in &leaves {
            let run = runs
                .iter()
                .find(|r| r["run_id"] == leaf["step_run_id"])
                .unwrap_or_else(|| panic!("{what}: no executor run for step {leaf:#}"));
            assert_eq!(run["workflow_step_id"], leaf["step_id"], "{what}: {leaf:#} / {run:#}");
            assert_eq!(run["content"], leaf["content"], "{what}: {leaf:#} / {run:#}");
        }
    }
    theirs.clone()
}

fn python_agno_reads_workflow_sessions_agno_run_wrote(python: &Path, db: &Db, dir: &Path) {
    let mock = Mock::start(python, dir);
    let config = write_config(dir, db, &mock.base_url());

    // Two runs of every kind of step, in one session.
    let mut printed = Vec::new();
    for input in INPUTS {
        let (ok, run) = agno_run_workflow(dir, &config, "wf-all", "wf", input);
        assert!(ok && run["status"] == "COMPLETED", "agno-run's workflow run: {run:#}");
        printed.push(run);
    }
    let stored = agno_run_session(dir, &config, "wf");
    assert_eq!(stored["session_type"], "workflow", "{stored:#}");
    assert_eq!(stored["workflow_id"], "wf-all", "{stored:#}");
    let runs = stored["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one row per workflow run: {stored:#}");
    for ((row, input), run) in runs.iter().zip(INPUTS).zip(&printed) {
        assert_eq!(row["run_id"], run["run_id"], "{row:#}");
        assert_eq!(row["run_type"], "workflow", "{row:#}");
        assert_eq!(row["parent_run_id"], Value::Null, "{row:#}");
        assert_eq!(row["status"], "COMPLETED", "{row:#}");
        let data = &row["run_data"];
        assert_eq!(data["input"], input, "{row:#}");
        assert_eq!(data["content"], run["content"], "the last step's content: {row:#}");
        let mut got = Vec::new();
        shape(&step_tree(&data["step_results"]), 0, &mut got);
        assert_eq!(got, expected_shape(input), "agno-run's step tree for {input:?}");
        let executors = data["step_executor_runs"].as_array().unwrap();
        assert_eq!(executors.len(), 8, "7 agent runs and a team run: {row:#}");
    }

    let read = python_reads(python, db, "wf-all", "wf", &stored);
    let theirs = assert_python_sees(&read, &stored, "wf", "wf-all");
    for run in &theirs {
        assert_eq!(run["status"], "COMPLETED", "{run:#}");
        let team: Vec<&Value> =
            run["step_executor_runs"].as_array().unwrap().iter().filter(|r| r["team_id"] == "crew").collect();
        assert_eq!(team.len(), 1, "the team step's run: {run:#}");
        let team = team[0];
        assert_eq!(team["class"], "TeamRunOutput", "{team:#}");
        let members = team["member_responses"].as_array().unwrap_or_else(|| panic!("member_responses: {team:#}"));
        assert_eq!(members.len(), 1, "the team's one member run, inside the team run: {team:#}");
        assert_eq!(members[0]["class"], "RunOutput", "{team:#}");
        assert_eq!(members[0]["agent_id"], "researcher", "{team:#}");
        assert_eq!(members[0]["parent_run_id"], team["run_id"], "the member's parent is the team run: {team:#}");
        assert_eq!(members[0]["status"], "COMPLETED", "{team:#}");
        assert!(
            members[0]["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("[mock-researcher] answer to: Task from mock-leader")),
            "{team:#}"
        );
    }

    // A failing step under `on_error: fail`: the run is stored ERROR with the results so far.
    let (ok, failed) = agno_run_workflow(dir, &config, "wf-fail", "wf-fail", INPUTS[0]);
    assert!(!ok, "the workflow run fails: {failed:#}");
    assert_eq!(failed["status"], "ERROR", "{failed:#}");
    let stored = agno_run_session(dir, &config, "wf-fail");
    let rows = stored["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{stored:#}");
    assert_eq!(rows[0]["run_id"], failed["run_id"], "{stored:#}");
    assert_eq!(rows[0]["status"], "ERROR", "{stored:#}");
    let data = &rows[0]["run_data"];
    assert!(
        data["content"].as_str().is_some_and(|c| c.starts_with("Workflow execution failed: ")),
        "Agno's content of a failed workflow run: {data:#}"
    );
    let mut got = Vec::new();
    shape(&step_tree(&data["step_results"]), 0, &mut got);
    assert_eq!(
        got,
        [
            (0, "ok_step".to_string(), "Step".to_string(), json!("agent"), json!("Researcher"), true),
            (0, "broken_step".to_string(), "Step".to_string(), json!("agent"), json!("Broken"), false),
        ],
        "the ok step and the failed one; no after_step: {data:#}"
    );

    let read = python_reads(python, db, "wf-fail", "wf-fail", &stored);
    let theirs = assert_python_sees(&read, &stored, "wf-fail", "wf-fail");
    let run = &theirs[0];
    assert_eq!(run["status"], "ERROR", "{run:#}");
    let broken = &run["step_results"][1];
    assert_eq!(broken["success"], false, "{run:#}");
    assert!(broken["error"].as_str().is_some_and(|e| e.contains("fail-broken")), "the step's error: {broken:#}");
    let executors = run["step_executor_runs"].as_array().unwrap();
    let statuses: Vec<(&Value, &Value)> = executors.iter().map(|r| (&r["agent_id"], &r["status"])).collect();
    assert_eq!(statuses, [(&json!("researcher"), &json!("COMPLETED")), (&json!("broken"), &json!("ERROR"))], "{run:#}");
}

#[test]
fn sqlite_python_agno_reads_workflow_sessions_agno_run_wrote() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    python_agno_reads_workflow_sessions_agno_run_wrote(&python, &sqlite_db(dir.path()), dir.path());
}

#[test]
fn postgres_python_agno_reads_workflow_sessions_agno_run_wrote() {
    let Some(python) = python() else { return };
    let Some(url) = postgres() else { return };
    let schema = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    python_agno_reads_workflow_sessions_agno_run_wrote(&python, &postgres_db(&schema), dir.path());
}
