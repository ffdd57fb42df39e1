//! agno-run's teams against Agno 3.1.10's own recordings (`tests/agno_teams_workflows`, copied
//! from `../shared/fixtures/agno-teams-workflows`): each team scenario's calls run through the
//! library against an in-process port of the mock model the recordings were made with, and the
//! rows agno-run writes (session and runs, read back with rusqlite) and the requests the mock
//! received are compared with what Agno wrote and sent. Ids, timestamps, durations and row order
//! are not compared by value; every other difference that stays is listed, with its reason, in
//! `tests/agno_teams_workflows/DIFFERENCES.md`, and applied here by [`Deliberate`].

#[path = "support/agno_mock.rs"]
mod agno_mock;
#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use serde_json::{Map, Value, json};

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

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agno_teams_workflows")
}

fn expected(scenario: &str, suffix: &str) -> Value {
    let path = here().join(format!("expected/{scenario}{suffix}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

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
// Running a scenario
// ---------------------------------------------------------------------------------------------

/// One `team.run(...)` of a scenario's `calls`.
struct Call {
    team: &'static str,
    message: &'static str,
    session: &'static str,
    stream: bool,
}

/// What agno-run wrote and what the mock received.
struct Got {
    session: Value,
    runs: Vec<Value>,
    requests: Vec<Value>,
}

/// `teams_and_agents` is the YAML of `agents:` and `teams:`; every model id they name is
/// declared against the mock.
async fn run_scenario(models: &[&str], teams_and_agents: &str, calls: &[Call]) -> Got {
    let mock = agno_mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("version: 1\ndatabases:\n  main: {type: sqlite, db_file: agno.db}\nmodels:\n");
    for m in models {
        yaml.push_str(&format!(
            "  {m}: {{provider: openai, id: {m}, base_url: \"{}\", api_key: test}}\n",
            mock.base_url()
        ));
    }
    yaml.push_str(teams_and_agents);
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report));
    let generation: Arc<Generation> = Generation::build(config, None, Process::new(), Options::default());
    for call in calls {
        let request = RunRequest {
            target: Component::new(SessionType::Team, call.team),
            input: RunInput {
                message: call.message.into(),
                session_id: Some(call.session.into()),
                user_id: Some("u1".into()),
                stream: call.stream,
                ..RunInput::default()
            },
            parent: None,
        };
        let mut handle = runtime::start(&generation, request).await.unwrap_or_else(|e| panic!("start: {e}"));
        while handle.next_event().await.is_some() {}
        handle.result().await.unwrap_or_else(|e| panic!("{} {:?}: {e}", call.team, call.message));
    }
    let db = dir.path().join("agno.db");
    let (session, runs) = tokio::task::spawn_blocking(move || read_rows(&db)).await.unwrap();
    let requests = mock.requests().into_iter().map(|r| r.body).collect();
    Got { session, runs, requests }
}

/// Every column of `table`'s rows as JSON: JSON columns parsed, SQL NULL listed in
/// `sql_null_columns` (as `expected/*.json` has them).
fn table_rows(conn: &rusqlite::Connection, table: &str, order: &str) -> Vec<Value> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}")).unwrap();
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
    let rows = stmt
        .query_map([], |row| {
            let mut out = Map::new();
            let mut nulls = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => {
                        nulls.push(json!(name));
                        Value::Null
                    }
                    rusqlite::types::ValueRef::Integer(n) => json!(n),
                    rusqlite::types::ValueRef::Real(f) => json!(f),
                    rusqlite::types::ValueRef::Text(t) => {
                        let t = String::from_utf8_lossy(t).to_string();
                        match name.as_str() {
                            "session_data" | "agent_data" | "team_data" | "workflow_data" | "metadata" | "summary"
                            | "run_data" => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                            _ => Value::String(t),
                        }
                    }
                    rusqlite::types::ValueRef::Blob(b) => json!(String::from_utf8_lossy(b)),
                };
                out.insert(name.clone(), v);
            }
            out.insert("__sql_null".into(), Value::Array(nulls));
            Ok(Value::Object(out))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn read_rows(db: &Path) -> (Value, Vec<Value>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let sessions = table_rows(&conn, "agno_sessions", "session_id");
    assert_eq!(sessions.len(), 1, "one session row: {sessions:#?}");
    let runs = table_rows(&conn, "agno_runs", "run_index");
    (sessions.into_iter().next().unwrap(), runs)
}

/// The expected session row and run rows, with `__sql_null` as `read_rows` gives them.
fn expected_rows(scenario: &str) -> (Value, Vec<Value>) {
    let e = expected(scenario, ".json");
    let with_nulls = |table: &str| -> Vec<Value> {
        let t = &e["tables"][table];
        let rows = t["rows"].as_array().unwrap().clone();
        let nulls = t["sql_null_columns"].as_array().unwrap().clone();
        rows.into_iter()
            .zip(nulls)
            .map(|(mut r, n)| {
                r["__sql_null"] = n;
                r
            })
            .collect()
    };
    let sessions = with_nulls("agno_sessions");
    assert_eq!(sessions.len(), 1);
    (sessions.into_iter().next().unwrap(), with_nulls("agno_runs"))
}

// ---------------------------------------------------------------------------------------------
// What is compared
// ---------------------------------------------------------------------------------------------

/// Keys whose values change on every run (ids, clocks, durations): compared as present only.
const VOLATILE: [&str; 8] =
    ["created_at", "updated_at", "duration", "time_to_first_token", "start_time", "end_time", "id", "run_index"];

/// Labels for run ids (`T0`, `T0/researcher#0`, ...: the run's place in the tree of runs, top-level
/// runs in order, children by component) and task ids (`task#0`, ...), so that references
/// compare by meaning.
struct Canon {
    names: Vec<(String, String)>,
}

impl Canon {
    fn text(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.names {
            if s.contains(from.as_str()) {
                s = s.replace(from.as_str(), to);
            }
        }
        s
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()),
            other => other.clone(),
        }
    }
}

fn component_of(row: &Value) -> String {
    ["agent_id", "team_id", "workflow_id"]
        .iter()
        .find_map(|k| row.get(*k).and_then(Value::as_str))
        .unwrap_or("?")
        .to_string()
}

/// The runs as a tree, in a stable order: (label, row).
fn labelled(rows: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    fn walk(rows: &[Value], parent: Option<&str>, prefix: &str, out: &mut Vec<(String, Value)>) {
        let mut children: Vec<&Value> = rows.iter().filter(|r| r["parent_run_id"].as_str() == parent).collect();
        if parent.is_some() {
            children.sort_by_key(|r| (component_of(r), r["run_index"].as_i64()));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, r) in children.into_iter().enumerate() {
            let label = match parent {
                None => format!("T{i}"),
                Some(_) => {
                    let c = component_of(r);
                    let n = seen.entry(c.clone()).or_default();
                    *n += 1;
                    format!("{prefix}/{c}#{}", *n - 1)
                }
            };
            out.push((label.clone(), r.clone()));
            walk(rows, r["run_id"].as_str(), &label, out);
        }
    }
    walk(rows, None, "", &mut out);
    out
}

fn canon_for(labelled: &[(String, Value)]) -> Canon {
    let mut names: Vec<(String, String)> = labelled
        .iter()
        .filter_map(|(label, r)| Some((r["run_id"].as_str()?.to_string(), format!("<run {label}>"))))
        .collect();
    let mut tasks: Vec<String> = Vec::new();
    for (_, r) in labelled {
        for t in r.pointer("/run_data/session_state/_team_tasks/tasks").and_then(Value::as_array).into_iter().flatten()
        {
            if let Some(id) = t["id"].as_str().filter(|id| !tasks.iter().any(|k| k == id)) {
                tasks.push(id.to_string());
            }
        }
    }
    names.extend(tasks.into_iter().enumerate().map(|(i, id)| (id, format!("<task#{i}>"))));
    Canon { names }
}

/// `v` without the volatile keys' values (kept as `"<set>"` so that their presence compares).
fn strip_volatile(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(strip_volatile).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                        (k.clone(), json!("<set>"))
                    } else {
                        (k.clone(), strip_volatile(v))
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn sorted_keys(v: &Value) -> Value {
    let mut keys: Vec<&String> = v.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    keys.sort();
    json!(keys)
}

fn sorted_nulls(row: &Value) -> Value {
    let mut n: Vec<String> =
        row["__sql_null"].as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    n.sort();
    json!(n)
}

/// Metrics as compared: the token sums and the per-model details, by model id.
fn metrics(m: &Value) -> Value {
    if m.as_object().is_some_and(Map::is_empty) {
        return json!({});
    }
    let mut details: Vec<Value> = m.pointer("/details/model").and_then(Value::as_array).cloned().unwrap_or_default();
    details.sort_by_key(|d| d["id"].as_str().unwrap_or_default().to_string());
    let details: Vec<Value> = details
        .iter()
        .map(|d| {
            json!({"id": d["id"], "provider": d["provider"], "input_tokens": d["input_tokens"],
                        "output_tokens": d["output_tokens"], "total_tokens": d["total_tokens"]})
        })
        .collect();
    json!({"input_tokens": m["input_tokens"], "output_tokens": m["output_tokens"], "total_tokens": m["total_tokens"],
           "details": details})
}

/// A stored message as compared: everything but its id, clock and per-message metrics.
fn message(m: &Value) -> Value {
    let mut m = m.as_object().cloned().unwrap_or_default();
    m.remove("metrics");
    m.remove("provider_data");
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        for c in calls.iter_mut() {
            if let Some(args) = c.pointer("/function/arguments").and_then(Value::as_str) {
                let parsed = serde_json::from_str(args).unwrap_or(json!(args));
                c["function"]["arguments"] = parsed;
            }
        }
    }
    strip_volatile(&Value::Object(m))
}

/// One `tools[]` entry as compared.
fn tool(t: &Value) -> Value {
    let mut t = t.as_object().cloned().unwrap_or_default();
    t.remove("metrics");
    strip_volatile(&Value::Object(t))
}

/// A run's `run_data` (or a `member_responses` entry) as compared.
fn run_data(d: &Value) -> Value {
    let mut out = Map::new();
    out.insert("keys".into(), sorted_keys(d));
    for (k, v) in d.as_object().into_iter().flatten() {
        let v = match k.as_str() {
            "metrics" => metrics(v),
            "messages" => Value::Array(v.as_array().into_iter().flatten().map(message).collect()),
            "tools" => Value::Array(v.as_array().into_iter().flatten().map(tool).collect()),
            "member_responses" => Value::Array(v.as_array().into_iter().flatten().map(run_data).collect()),
            "model_provider_data" => sorted_keys(v),
            k if VOLATILE.contains(&k) && !v.is_null() => json!("<set>"),
            _ => strip_volatile(v),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn run_row(label: &str, r: &Value) -> Value {
    json!({
        "label": label,
        "run_type": r["run_type"], "agent_id": r["agent_id"], "team_id": r["team_id"],
        "workflow_id": r["workflow_id"], "user_id": r["user_id"], "parent_run_id": r["parent_run_id"],
        "status": r["status"], "session_id": r["session_id"], "sql_null": sorted_nulls(r),
        "run_data": run_data(&r["run_data"]),
    })
}

fn session_row(s: &Value) -> Value {
    let mut team_data = s["team_data"].clone();
    if let Some(m) = team_data.get_mut("model").and_then(Value::as_object_mut) {
        // The model's provider and class names are agno-run's own.
        m.remove("provider");
        m.remove("name");
    }
    json!({
        "session_id": s["session_id"], "session_type": s["session_type"], "agent_id": s["agent_id"],
        "team_id": s["team_id"], "workflow_id": s["workflow_id"], "user_id": s["user_id"],
        "sql_null": sorted_nulls(s), "agent_data": s["agent_data"], "team_data": team_data,
        "workflow_data": s["workflow_data"], "metadata": s["metadata"], "summary": s["summary"],
        "session_data_keys": sorted_keys(&s["session_data"]),
        "session_state": strip_volatile(&s["session_data"]["session_state"]),
        "session_metrics": metrics(&s["session_data"]["session_metrics"]),
    })
}

/// A request as compared: the model, the messages (role, content, tool calls, tool call id) and
/// the tools offered, whole.
fn request(r: &Value) -> Value {
    let messages: Vec<Value> = r["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let mut out = json!({"role": m["role"], "content": m["content"]});
            if let Some(calls) = m.get("tool_calls") {
                out["tool_calls"] = Value::Array(
                    calls
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default();
                            json!({"id": c["id"], "type": c["type"], "name": c["function"]["name"],
                                   "arguments": serde_json::from_str::<Value>(args).unwrap_or(json!(args))})
                        })
                        .collect(),
                );
            }
            if let Some(id) = m.get("tool_call_id") {
                out["tool_call_id"] = id.clone();
            }
            out
        })
        .collect();
    json!({"model": r["model"], "stream": r.get("stream").cloned().unwrap_or(json!(false)),
           "messages": messages, "tools": r.get("tools").cloned().unwrap_or(Value::Null)})
}

/// Every difference between `expected` and `got`, as `path: expected …, got …` lines.
fn diff(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), ev, gv, out),
                    None => out.push(format!("{path}.{k}: expected {ev}, got nothing")),
                }
            }
            for (k, gv) in g {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: expected nothing, got {gv}"));
                }
            }
        }
        (Value::Array(e), Value::Array(g)) if e.len() == g.len() => {
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), ev, gv, out);
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            out.push(format!(
                "{path}: expected {} items, got {}:\n  expected {expected}\n  got      {got}",
                e.len(),
                g.len()
            ));
        }
        _ if expected != got => out.push(format!("{path}: expected {expected}, got {got}")),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// The compared shape of one side: the session, the runs in tree order, the requests.
struct Shape {
    session: Value,
    runs: Vec<Value>,
    requests: Vec<Value>,
}

fn shape(session: &Value, rows: &[Value], requests: &[Value]) -> Shape {
    let tree = labelled(rows);
    let canon = canon_for(&tree);
    let session = canon.value(&session_row(session));
    let runs = tree.iter().map(|(label, r)| canon.value(&run_row(label, r))).collect();
    let mut requests: Vec<Value> = requests.iter().map(|r| canon.value(&request(r))).collect();
    // Member runs of one turn run concurrently: requests compare in order per model.
    requests.sort_by_key(|r| r["model"].as_str().unwrap_or_default().to_string());
    Shape { session, runs, requests }
}

fn compare(scenario: &str, got: Got) {
    let (session, rows) = expected_rows(scenario);
    let recorded: Vec<Value> = expected(scenario, ".requests.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut r = json!({"model": e["model"], "stream": e["stream"], "messages": e["messages"]});
            if !e["tools"].is_null() {
                r["tools"] = e["tools"].clone();
            }
            r
        })
        .collect();
    let mut want = shape(&session, &rows, &recorded);
    let mut have = shape(&got.session, &got.runs, &got.requests);
    deliberate(&mut want, &mut have);
    if scenario == "team_route" {
        route_answer_is_stored(&mut want, &have);
    }
    if scenario == "team_nested" {
        inner_members_have_rows(&mut have);
    }
    let mut out = Vec::new();
    diff("session", &want.session, &have.session, &mut out);
    if want.runs.len() != have.runs.len() {
        let labels = |s: &Shape| s.runs.iter().map(|r| r["label"].to_string()).collect::<Vec<_>>().join(" ");
        out.push(format!("runs: expected [{}], got [{}]", labels(&want), labels(&have)));
    }
    for (w, h) in want.runs.iter().zip(&have.runs) {
        diff(&format!("run {}", w["label"]), w, h, &mut out);
    }
    if want.requests.len() != have.requests.len() {
        out.push(format!("requests: expected {}, got {}", want.requests.len(), have.requests.len()));
    }
    for (i, (w, h)) in want.requests.iter().zip(&have.requests).enumerate() {
        diff(&format!("request {i} ({})", w["model"]), w, h, &mut out);
    }
    assert!(
        out.is_empty(),
        "{scenario}: agno-run differs from Agno 3.1.10 in {} places:\n{}",
        out.len(),
        out.join("\n")
    );
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
    vec![
        Call { team, message: "What is SQLite?", session, stream },
        Call { team, message: "And who wrote it?", session, stream },
    ]
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
    let calls =
        [Call { team: "crew-broadcast", message: "What is SQLite?", session: "team-broadcast-s1", stream: false }];
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
    let calls = [Call { team: "crew-tasks", message: "What is SQLite?", session: "team-tasks-s1", stream: false }];
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
    let calls = [Call { team: "outer-team", message: "What is SQLite?", session: "team-nested-s1", stream: false }];
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
    let calls = [Call {
        team: "crew-store-members",
        message: "What is SQLite?",
        session: "team-store-members-s1",
        stream: false,
    }];
    let got = run_scenario(&MODELS, &yaml, &calls).await;
    compare("team_store_member_responses", got);
}
