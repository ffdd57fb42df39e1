//! Teams and workflows under hostile or failing parts: a member that fails, a leader that names
//! no member or delegates without end, a task board flooded with tasks, a router that picks
//! nothing it has, an expression that fails at run time, `on_error` and `max_retries`, and the
//! bound on step runs. Whatever happens, the run ends (never RUNNING) and what ran is stored.

use std::collections::HashMap;
use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunError, RunInput, RunOutput, RunRequest, RunStatus, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::store::Run;
use serde_json::json;

const HEAD: &str = "version: 1\ndatabases:\n  main: {type: sqlite, db_file: agno.db}\n";

async fn generation(dir: &std::path::Path, yaml: &str) -> Arc<Generation> {
    let path = dir.join("app.yaml");
    std::fs::write(&path, format!("{HEAD}{yaml}")).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:#?}", loaded.report.diagnostics));
    Generation::build(config, None, Process::new(), Options::default())
}

async fn start(
    g: &Arc<Generation>,
    kind: SessionType,
    id: &str,
    message: &str,
    session: &str,
) -> Result<RunOutput, RunError> {
    let input = RunInput { message: message.into(), session_id: Some(session.into()), ..Default::default() };
    let request = RunRequest { target: Component::new(kind, id), input, parent: None };
    runtime::start(g, request).await?.result().await
}

async fn runs(g: &Arc<Generation>, session: &str) -> Vec<Run> {
    g.store("main").await.unwrap().list_runs(session).await.unwrap()
}

fn assert_none_running(rows: &[Run]) {
    for r in rows {
        assert!(!r.status.unwrap().in_flight(), "a run was left {:?}: {}", r.status, r.run_data);
    }
}

/// A model that always fails fast: nothing listens on the port.
fn dead_model() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!(
        "{{provider: openai, id: dead, base_url: \"http://127.0.0.1:{port}/v1\", api_key: k, max_retries: 0, timeout: 5}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_member_is_stored_error_and_the_leader_answers_with_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "models:\n  dead: {}\n  lead:\n    provider: scripted\n    replies:\n      - {{tool_calls: [{{name: delegate_task_to_member, arguments: {{member_id: broken, task: t}}}}]}}\n      - The member failed.\nagents:\n  broken: {{model: dead}}\nteams:\n  desk: {{model: lead, members: [broken]}}\n",
        dead_model()
    );
    let g = generation(dir.path(), &yaml).await;
    let out = start(&g, SessionType::Team, "desk", "go", "s1").await.unwrap();
    assert_eq!(out.content, "The member failed.");
    let rows = runs(&g, "s1").await;
    assert_none_running(&rows);
    let member = rows.iter().find(|r| r.agent_id.as_deref() == Some("broken")).unwrap();
    assert_eq!(member.status, Some(RunStatus::Error));
    assert_eq!(member.parent_run_id.as_deref(), Some(out.run.run_id.as_str()));
    let tool = &out.run.run_data["tools"][0];
    assert_eq!(tool["tool_call_error"], true, "{tool}");
    assert!(tool["result"].as_str().unwrap().contains("member `broken` failed"), "{tool}");
    assert_eq!(tool["child_run_id"], json!(member.run_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_names_no_member_is_told_the_roster_and_one_that_never_stops_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "models:\n  echo: {provider: scripted}\n  lost:\n    provider: scripted\n    replies:\n      - {tool_calls: [{name: delegate_task_to_member, arguments: {member_id: nobody, task: t}}]}\n      - Done.\n  endless:\n    provider: scripted\n    replies:\n      - {tool_calls: [{name: delegate_task_to_member, arguments: {member_id: echo, task: again}}]}\nagents:\n  echo: {name: Echo, role: Repeats, model: echo}\nteams:\n  lost: {model: lost, members: [echo]}\n  endless: {model: endless, members: [echo]}\n";
    let g = generation(dir.path(), yaml).await;
    let out = start(&g, SessionType::Team, "lost", "go", "s1").await.unwrap();
    let result = out.run.run_data["tools"][0]["result"].as_str().unwrap().to_string();
    assert!(result.contains("Member with ID nobody not found") && result.contains("<member id=\"echo\""), "{result}");

    // Every turn delegates again: the run ends at agno-run's bound on turns, as ERROR, with every
    // member run it started stored and ended.
    let e = start(&g, SessionType::Team, "endless", "go", "s2").await.unwrap_err();
    assert!(e.to_string().contains("turns without answering"), "{e}");
    let rows = runs(&g, "s2").await;
    assert_none_running(&rows);
    let members = rows.iter().filter(|r| r.parent_run_id.is_some()).count();
    assert_eq!(members, 32, "one member run per turn");
    assert!(rows.iter().any(|r| r.run_type == SessionType::Team && r.status == Some(RunStatus::Error)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_board_flooded_with_tasks_holds_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    // One turn asks for 120 tasks (the most calls one turn may carry is 128).
    let calls: Vec<String> = (0..120)
        .map(|i| format!("{{name: create_task, arguments: {{title: \"task {i}\", assignee: echo}}}}"))
        .collect();
    let yaml = format!(
        "models:\n  echo: {{provider: scripted}}\n  planner:\n    provider: scripted\n    replies:\n      - {{tool_calls: [{}]}}\n      - {{tool_calls: [{{name: mark_all_complete, arguments: {{summary: s}}}}]}}\n      - Enough.\nagents:\n  echo: {{model: echo}}\nteams:\n  board: {{mode: tasks, model: planner, members: [echo]}}\n",
        calls.join(", ")
    );
    let g = generation(dir.path(), &yaml).await;
    let out = start(&g, SessionType::Team, "board", "plan", "s1").await.unwrap();
    let session = g.store("main").await.unwrap().get_session("s1", None).await.unwrap();
    let tasks = &session.session_state().unwrap()["_team_tasks"];
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 100, "the board holds at most 100 tasks");
    assert_eq!(tasks["goal_complete"], true);
    let refused = out.run.run_data["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["result"].as_str().unwrap().contains("already holds 100 tasks"))
        .count();
    assert_eq!(refused, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_steps_follow_on_error_and_max_retries() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "models:\n  echo: {{provider: scripted}}\n  dead: {}\nagents:\n  echo: {{name: Echo, model: echo}}\n  broken: {{model: dead}}\nworkflows:\n  go_on:\n    steps:\n      - {{name: a, agent: echo}}\n      - {{name: b, agent: broken, max_retries: 2}}\n      - {{name: c, agent: echo}}\n  skip:\n    steps:\n      - {{name: a, agent: echo}}\n      - {{name: b, agent: broken, on_error: skip}}\n      - {{name: c, agent: echo}}\n  stop:\n    steps:\n      - {{name: a, agent: echo}}\n      - {{name: b, agent: broken, on_error: fail}}\n      - {{name: c, agent: echo}}\n  lost:\n    steps:\n      - {{name: pick, router: '\"nowhere\" + \"\"', choices: [{{name: x, agent: echo}}]}}\n      - {{name: gate, condition: 'session_state.missing.deeper == 1', steps: [{{name: y, agent: echo}}]}}\n      - {{name: after, agent: echo, input: \"still here\"}}\n",
        dead_model()
    );
    let g = generation(dir.path(), &yaml).await;

    // continue (the default): the failure is recorded, retried twice first, and the next step
    // gets the error.
    let out = start(&g, SessionType::Workflow, "go_on", "hello", "s1").await.unwrap();
    let results = out.run.run_data["step_results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["success"], false);
    let error = results[1]["error"].as_str().unwrap().to_string();
    assert_eq!(results[2]["content"], json!(error), "the next step got the error");
    assert_eq!(out.run.run_data["step_executor_runs"].as_array().unwrap().len(), 5, "a, b three times, c");

    // skip: recorded as skipped; the next step gets what the skipped one got.
    let out = start(&g, SessionType::Workflow, "skip", "hello", "s2").await.unwrap();
    let results = out.run.run_data["step_results"].as_array().unwrap().clone();
    assert!(results[1]["content"].as_str().unwrap().starts_with("Step skipped due to error: "), "{}", results[1]);
    assert_eq!(results[2]["content"], "hello");

    // fail: the workflow run is ERROR with every step result so far; c never ran.
    let e = start(&g, SessionType::Workflow, "stop", "hello", "s3").await.unwrap_err();
    let (run_id, _, status) = e.stored().unwrap();
    assert_eq!(status, RunStatus::Error);
    let rows = runs(&g, "s3").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].run_id, run_id);
    assert_eq!(rows[0].status, Some(RunStatus::Error));
    let data = &rows[0].run_data;
    assert!(data["content"].as_str().unwrap().starts_with("Workflow execution failed: "), "{data}");
    let names: Vec<&str> =
        data["step_results"].as_array().unwrap().iter().map(|s| s["step_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);

    // A router that names no choice and a condition that fails at run time are failed steps
    // (continue): the workflow goes on.
    let out = start(&g, SessionType::Workflow, "lost", "hello", "s4").await.unwrap();
    let results = out.run.run_data["step_results"].as_array().unwrap().clone();
    assert!(
        results[0]["error"].as_str().unwrap().contains("chose `nowhere`, which is not one of its choices (x)"),
        "{}",
        results[0]
    );
    assert_eq!(results[1]["success"], false, "{}", results[1]);
    assert!(results[1]["error"].as_str().unwrap().contains("the condition of step `gate` failed"), "{}", results[1]);
    assert_eq!(out.content, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_inside_loops_stop_at_the_bound_on_step_runs() {
    let dir = tempfile::tempdir().unwrap();
    // 1000 × 20 = 20,000 step runs asked for; the run stops at 10,000.
    let yaml = "models:\n  echo: {provider: scripted, replies: [x]}\nagents:\n  echo: {model: echo}\nworkflows:\n  big:\n    steps:\n      - name: outer\n        loop: {max_iterations: 1000}\n        steps:\n          - name: inner\n            loop: {max_iterations: 20}\n            steps: [{name: s, agent: echo}]\n";
    let g = generation(dir.path(), yaml).await;
    let e = start(&g, SessionType::Workflow, "big", "go", "s1").await.unwrap_err();
    assert!(e.to_string().contains("more than 10000 step runs"), "{e}");
    let rows = runs(&g, "s1").await;
    assert_none_running(&rows);
    assert_eq!(rows[0].run_data["step_executor_runs"].as_array().unwrap().len(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_multiplies_its_input_fails_its_step_instead_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    // 100 copies of a 20 KB input: 2 MB, past the 1 MiB a step input may be.
    let yaml = "models:\n  echo: {provider: scripted}\nagents:\n  echo: {model: echo}\nworkflows:\n  grow:\n    steps:\n      - {name: big, agent: echo, input: \"{{ [0,1,2,3,4,5,6,7,8,9].map(a, [0,1,2,3,4,5,6,7,8,9].map(b, input)) }}\"}\n      - {name: after, agent: echo, input: \"still here\"}\n";
    let g = generation(dir.path(), yaml).await;
    let out = start(&g, SessionType::Workflow, "grow", &"x".repeat(20_000), "s1").await.unwrap();
    let results = out.run.run_data["step_results"].as_array().unwrap().clone();
    assert_eq!(results[0]["success"], false);
    assert!(
        results[0]["error"].as_str().unwrap().contains("more than the 1048576 a step input may be"),
        "{}",
        results[0]
    );
    assert_eq!(out.content, "still here");
    assert_none_running(&runs(&g, "s1").await);
}
