//! agno-run's teams against Agno 3.1.10's own recordings (`tests/agno_teams_workflows`, copied
//! from `../shared/fixtures/agno-teams-workflows`): each team scenario's calls run through the
//! library against an in-process port of the mock model the recordings were made with, and the
//! rows agno-run writes (session and runs, read back with rusqlite) and the requests the mock
//! received are compared with what Agno wrote and sent (`support/agno_compare.rs`, shared with
//! `tests/workflows.rs`). Ids, timestamps, durations and row order are not compared by value;
//! every other difference that stays is listed, with its reason, in
//! `tests/agno_teams_workflows/DIFFERENCES.md`, and applied here by [`deliberate`].

#[path = "support/agno_compare.rs"]
mod agno_compare;
#[path = "support/agno_mock.rs"]
mod agno_mock;
#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::path::PathBuf;

use agno_compare::{Call, Got, Shape, assert_same, here, run_scenario, shapes};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The fixtures
// ---------------------------------------------------------------------------------------------

const SCENARIOS: [&str; 18] = [
    "team_broadcast",
    "team_coordinate",
    "team_coordinate_member_history",
    "team_coordinate_stream",
    "team_nested",
    "team_route",
    "team_store_member_responses",
    "team_tasks",
    "workflow_condition_loop_router",
    "workflow_parallel",
    "workflow_sequential",
    "workflow_sequential_history",
    "workflow_sequential_stream",
    "workflow_session_state",
    "workflow_step_error",
    "workflow_step_error_fail",
    "workflow_step_exception",
    "workflow_team_step",
];

#[test]
fn the_copied_fixtures_are_byte_identical_to_the_shared_ones() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/agno-teams-workflows");
    let mut files: Vec<String> = vec!["mock_model.py".into()];
    for s in SCENARIOS {
        files.push(format!("expected/{s}.json"));
        files.push(format!("expected/{s}.requests.json"));
    }
    for f in &files {
        assert!(here().join(f).exists(), "tests/agno_teams_workflows/{f} is missing");
    }
    if !shared.exists() {
        return;
    }
    for f in &files {
        assert!(
            std::fs::read(shared.join(f)).unwrap() == std::fs::read(here().join(f)).unwrap(),
            "tests/agno_teams_workflows/{f} differs from {}: copy it again",
            shared.join(f).display()
        );
    }
    // Every recorded scenario is copied.
    let mut recorded: Vec<String> = std::fs::read_dir(shared.join("expected"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".requests.json").map(str::to_string))
        .collect();
    recorded.sort();
    assert_eq!(recorded, SCENARIOS.map(String::from).to_vec(), "the shared fixtures' scenarios");
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

fn compare(scenario: &str, got: Got) {
    let (mut want, mut have) = shapes(scenario, &got);
    deliberate(&mut want, &mut have);
    if scenario == "team_route" {
        route_answer_is_stored(&mut want, &have);
    }
    if scenario == "team_nested" {
        inner_members_have_rows(&mut have);
    }
    assert_same(scenario, &want, &have);
}

/// The differences listed in DIFFERENCES.md, applied so that the rest compares exactly.
fn deliberate(want: &mut Shape, have: &mut Shape) {
    // OpenAIChat sends the system prompt with role `developer`; agno-run sends `system`.
    for r in &mut want.requests {
        for m in r["messages"].as_array_mut().into_iter().flatten() {
            if m["role"] == "developer" {
                m["role"] = json!("system");
            }
        }
    }
    for w in &mut want.runs {
        let label = w["label"].as_str().unwrap_or_default().to_string();
        let Some(h) = have.runs.iter().find(|h| h["label"] == label.as_str()) else { continue };
        let member = !w["parent_run_id"].is_null();
        let data = &mut w["run_data"];
        // `child_run_id` names the member run in every run, not only in streamed ones; it must
        // name a child of this run.
        if let (Some(wt), Some(ht)) =
            (data.get_mut("tools").and_then(Value::as_array_mut), h["run_data"].get("tools").and_then(Value::as_array))
        {
            for (wt, ht) in wt.iter_mut().zip(ht) {
                let child = ht["child_run_id"].as_str().unwrap_or_default();
                if wt["child_run_id"].is_null() && child.starts_with(&format!("<run {label}/")) {
                    wt["child_run_id"] = ht["child_run_id"].clone();
                }
            }
        }
        if member {
            // A member run's `session_state` has no injected `current_*` keys.
            strip_current(data);
            // The `tools` key is there in streamed runs too.
            if data.get("tools").is_none() && h["run_data"]["tools"] == json!([]) {
                data["tools"] = json!([]);
                let keys = data["keys"].as_array_mut().unwrap();
                keys.push(json!("tools"));
                keys.sort_by_key(|k| k.as_str().unwrap_or_default().to_string());
            }
        }
        for m in data.get_mut("member_responses").and_then(Value::as_array_mut).into_iter().flatten() {
            strip_current(m);
        }
    }
}

/// Route mode (agno#8573): agno-run also stores the member's answer as the team run's last
/// assistant message, so a later run replays it. The replay adds that message to the next
/// leader request, and with it its characters to the prompt tokens and one to the message count
/// in the tool-call ids: those follow from the extra message and are taken from `have` for the
/// runs after the first, once its messages are in place.
fn route_answer_is_stored(want: &mut Shape, have: &Shape) {
    for w in want.runs.iter_mut().filter(|w| w["parent_run_id"].is_null()) {
        let content = w["run_data"]["content"].clone();
        let messages = w["run_data"]["messages"].as_array_mut().unwrap();
        messages.push(json!({"role": "assistant", "content": content, "from_history": false,
                             "stop_after_tool_call": false, "id": "<set>", "created_at": "<set>"}));
    }
    // The replayed history of the leader's later requests: after each replayed tool message
    // comes the answer it gave.
    for r in want.requests.iter_mut().filter(|r| r["tools"].is_array()) {
        let messages = r["messages"].as_array_mut().unwrap();
        let mut i = 0;
        while i + 1 < messages.len() {
            if messages[i]["role"] == "tool" && messages[i + 1]["role"] == "user" {
                let content = messages[i]["content"].clone();
                messages.insert(i + 1, json!({"role": "assistant", "content": content}));
            }
            i += 1;
        }
    }
    for (i, r) in want.requests.iter_mut().enumerate() {
        if let Some(h) = have.requests.get(i) {
            for (wm, hm) in r["messages"].as_array_mut().unwrap().iter_mut().zip(h["messages"].as_array().unwrap()) {
                if let (Some(wc), Some(hc)) = (wm.get_mut("tool_calls"), hm.get("tool_calls")) {
                    for (wc, hc) in wc.as_array_mut().unwrap().iter_mut().zip(hc.as_array().unwrap()) {
                        wc["id"] = hc["id"].clone();
                    }
                }
                if wm.get("tool_call_id").is_some() {
                    wm["tool_call_id"] = hm["tool_call_id"].clone();
                }
            }
        }
    }
    for w in want.runs.iter_mut().filter(|w| w["label"] != "T0" && w["parent_run_id"].is_null()) {
        let Some(h) = have.runs.iter().find(|h| h["label"] == w["label"]) else { continue };
        w["run_data"]["metrics"] = h["run_data"]["metrics"].clone();
        for (wt, ht) in
            w["run_data"]["tools"].as_array_mut().unwrap().iter_mut().zip(h["run_data"]["tools"].as_array().unwrap())
        {
            wt["tool_call_id"] = ht["tool_call_id"].clone();
        }
        for (wm, hm) in w["run_data"]["messages"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(h["run_data"]["messages"].as_array().unwrap())
        {
            if wm.get("tool_call_id").is_some() {
                wm["tool_call_id"] = hm["tool_call_id"].clone();
            }
        }
    }
    want.session["session_metrics"] = have.session["session_metrics"].clone();
}

/// team_nested: every run at every depth gets a row, the inner team's members too. Those rows
/// (deeper than Agno's) are checked for their parent and left out of the comparison.
fn inner_members_have_rows(have: &mut Shape) {
    let (deep, kept): (Vec<Value>, Vec<Value>) =
        have.runs.drain(..).partition(|r| r["label"].as_str().unwrap_or_default().matches('/').count() > 1);
    for d in &deep {
        let label = d["label"].as_str().unwrap_or_default();
        let parent = &label[..label.rfind('/').unwrap()];
        assert!(kept.iter().any(|k| k["label"] == parent), "{label}: its parent run {parent} has a row");
        assert_eq!(d["parent_run_id"], format!("<run {parent}>"), "{label}: parent_run_id");
    }
    have.runs = kept;
}

fn strip_current(run_data: &mut Value) {
    if let Some(state) = run_data.get_mut("session_state").and_then(Value::as_object_mut) {
        for k in ["current_user_id", "current_session_id", "current_run_id"] {
            state.remove(k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

const MEMBERS: &str = "agents:
  researcher: {name: Researcher, role: Finds facts, model: mock-researcher}
  writer: {name: Writer, role: Writes prose, model: mock-writer}
";

const MODELS: [&str; 3] = ["mock-leader", "mock-researcher", "mock-writer"];

fn two_runs(team: &'static str, session: &'static str, stream: bool) -> Vec<Call> {
    vec![Call::team(team, "What is SQLite?", session, stream), Call::team(team, "And who wrote it?", session, stream)]
}

#[tokio::test]
async fn team_coordinate_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-coordinate: {{name: Crew, mode: coordinate, model: mock-leader, members: [researcher, writer], add_history_to_context: true, db: main}}
"
    );
    let got = run_scenario(&MODELS, &yaml, &two_runs("crew-coordinate", "team-coordinate-s1", false)).await;
    compare("team_coordinate", got);
}

#[tokio::test]
async fn team_coordinate_member_history_writes_and_sends_what_agno_does() {
    let yaml = "agents:
  researcher: {name: Researcher, role: Finds facts, model: mock-researcher, add_history_to_context: true}
  writer: {name: Writer, role: Writes prose, model: mock-writer}
teams:
  crew-member-history: {name: Crew, model: mock-leader, members: [researcher, writer], add_history_to_context: true, add_team_history_to_members: true, db: main}
";
    let got = run_scenario(&MODELS, yaml, &two_runs("crew-member-history", "team-member-history-s1", false)).await;
    compare("team_coordinate_member_history", got);
}

#[tokio::test]
async fn team_coordinate_stream_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-stream: {{name: Crew, model: mock-leader, members: [researcher, writer], add_history_to_context: true, db: main}}
"
    );
    let got = run_scenario(&MODELS, &yaml, &two_runs("crew-stream", "team-stream-s1", true)).await;
    compare("team_coordinate_stream", got);
}

#[tokio::test]
async fn team_route_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-route: {{name: Router Crew, mode: route, model: mock-leader, members: [researcher, writer], add_history_to_context: true, db: main}}
"
    );
    let got = run_scenario(&MODELS, &yaml, &two_runs("crew-route", "team-route-s1", false)).await;
    compare("team_route", got);
}

#[tokio::test]
async fn team_broadcast_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-broadcast: {{name: Broadcast Crew, mode: broadcast, model: mock-leader, members: [researcher, writer], db: main}}
"
    );
    let calls = [Call::team("crew-broadcast", "What is SQLite?", "team-broadcast-s1", false)];
    let got = run_scenario(&MODELS, &yaml, &calls).await;
    compare("team_broadcast", got);
}

#[tokio::test]
async fn team_tasks_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-tasks: {{name: Task Crew, mode: tasks, model: mock-leader, members: [researcher, writer], db: main}}
"
    );
    let calls = [Call::team("crew-tasks", "What is SQLite?", "team-tasks-s1", false)];
    let got = run_scenario(&MODELS, &yaml, &calls).await;
    compare("team_tasks", got);
}

#[tokio::test]
async fn team_nested_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}  editor: {{name: Editor, role: Edits text, model: mock-editor}}
teams:
  inner-team: {{name: Inner Team, role: Researches and writes, model: mock-inner-leader, members: [researcher, writer]}}
  outer-team: {{name: Outer Team, model: mock-outer-leader, members: [inner-team, editor], db: main}}
"
    );
    let models = ["mock-outer-leader", "mock-inner-leader", "mock-researcher", "mock-writer", "mock-editor"];
    let calls = [Call::team("outer-team", "What is SQLite?", "team-nested-s1", false)];
    let got = run_scenario(&models, &yaml, &calls).await;
    compare("team_nested", got);
}

#[tokio::test]
async fn team_store_member_responses_writes_and_sends_what_agno_does() {
    let yaml = format!(
        "{MEMBERS}teams:
  crew-store-members: {{name: Crew, model: mock-leader, members: [researcher, writer], store_member_responses: true, db: main}}
"
    );
    let calls = [Call::team("crew-store-members", "What is SQLite?", "team-store-members-s1", false)];
    let got = run_scenario(&MODELS, &yaml, &calls).await;
    compare("team_store_member_responses", got);
}
