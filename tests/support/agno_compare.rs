//! The comparison of agno-run's rows and requests with Agno 3.1.10's recordings
//! (`tests/agno_teams_workflows/expected`), shared by `tests/teams.rs` and `tests/workflows.rs`:
//! running a scenario's calls through the library against the in-process mock
//! ([`super::agno_mock`]), reading the SQLite rows back, and reducing both sides to the shape
//! that is compared (ids as labels by their place in the tree of runs, clocks and durations as
//! present only). What each side may deliberately differ in is applied by the test files, as
//! listed in `tests/agno_teams_workflows/DIFFERENCES.md`; this module knows no difference.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use serde_json::{Map, Value, json};

use super::agno_mock;

/// `tests/agno_teams_workflows`.
pub fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agno_teams_workflows")
}

/// `expected/<scenario><suffix>`, parsed.
pub fn expected(scenario: &str, suffix: &str) -> Value {
    let path = here().join(format!("expected/{scenario}{suffix}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------------------------

/// One `team.run(...)` or `wf.run(...)` of a scenario's `calls`.
pub struct Call {
    pub kind: SessionType,
    pub target: &'static str,
    pub message: &'static str,
    pub session: &'static str,
    pub stream: bool,
}

impl Call {
    /// A team run.
    pub fn team(target: &'static str, message: &'static str, session: &'static str, stream: bool) -> Call {
        Call { kind: SessionType::Team, target, message, session, stream }
    }

    /// A workflow run.
    pub fn workflow(target: &'static str, message: &'static str, session: &'static str, stream: bool) -> Call {
        Call { kind: SessionType::Workflow, target, message, session, stream }
    }
}

/// What agno-run wrote, what the mock received, and how each call ended.
pub struct Got {
    pub session: Value,
    pub runs: Vec<Value>,
    pub requests: Vec<Value>,
    /// Per call: its content, or its error's text.
    pub results: Vec<Result<String, String>>,
    /// Per call: the kinds of the events it reported (`Debug` of the kind, up to its first
    /// `(` or ` {`).
    pub events: Vec<Vec<String>>,
}

/// `components` is the YAML of `agents:`, `teams:` and `workflows:`; every model id in
/// `models` is declared against the mock.
pub async fn run_scenario(models: &[&str], components: &str, calls: &[Call]) -> Got {
    let mock = agno_mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("version: 1\ndatabases:\n  main: {type: sqlite, db_file: agno.db}\nmodels:\n");
    for m in models {
        yaml.push_str(&format!(
            "  {m}: {{provider: openai, id: {m}, base_url: \"{}\", api_key: test}}\n",
            mock.base_url()
        ));
    }
    yaml.push_str(components);
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report));
    let generation: Arc<Generation> = Generation::build(config, None, Process::new(), Options::default());
    let mut results = Vec::new();
    let mut events = Vec::new();
    for call in calls {
        let request = RunRequest {
            target: Component::new(call.kind, call.target),
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
        let mut kinds = Vec::new();
        while let Some(event) = handle.next_event().await {
            let kind = format!("{:?}", event.kind);
            kinds.push(kind.split(['(', ' ']).next().unwrap_or_default().to_string());
        }
        events.push(kinds);
        results.push(handle.result().await.map(|o| o.content).map_err(|e| e.to_string()));
    }
    let db = dir.path().join("agno.db");
    let (session, runs) = tokio::task::spawn_blocking(move || read_rows(&db)).await.unwrap();
    let requests = mock.requests().into_iter().map(|r| r.body).collect();
    Got { session, runs, requests, results, events }
}

/// Every column of `table`'s rows as JSON: JSON columns parsed, SQL NULL listed in
/// `sql_null_columns` (as `expected/*.json` has them).
pub fn table_rows(conn: &rusqlite::Connection, table: &str, order: &str) -> Vec<Value> {
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

pub fn read_rows(db: &Path) -> (Value, Vec<Value>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let sessions = table_rows(&conn, "agno_sessions", "session_id");
    assert_eq!(sessions.len(), 1, "one session row: {sessions:#?}");
    let runs = table_rows(&conn, "agno_runs", "run_index");
    (sessions.into_iter().next().unwrap(), runs)
}

/// The expected session row and run rows, with `__sql_null` as `read_rows` gives them.
pub fn expected_rows(scenario: &str) -> (Value, Vec<Value>) {
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
pub const VOLATILE: [&str; 8] =
    ["created_at", "updated_at", "duration", "time_to_first_token", "start_time", "end_time", "id", "run_index"];

/// Labels for run ids (`T0`, `T0/researcher#0`, ...: the run's place in the tree of runs, top-level
/// runs in order, children by component) and task ids (`task#0`, ...), so that references
/// compare by meaning.
pub struct Canon {
    pub names: Vec<(String, String)>,
}

impl Canon {
    pub fn text(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.names {
            if s.contains(from.as_str()) {
                s = s.replace(from.as_str(), to);
            }
        }
        s
    }

    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()),
            other => other.clone(),
        }
    }
}

pub fn component_of(row: &Value) -> String {
    ["agent_id", "team_id", "workflow_id"]
        .iter()
        .find_map(|k| row.get(*k).and_then(Value::as_str))
        .unwrap_or("?")
        .to_string()
}

/// The runs as a tree, in a stable order: (label, row).
pub fn labelled(rows: &[Value]) -> Vec<(String, Value)> {
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

pub fn canon_for(labelled: &[(String, Value)]) -> Canon {
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
    // A workflow run's nested runs (`step_executor_runs`, and a team step's `member_responses`)
    // by component, and its steps' ids by step name.
    fn nested(runs: &[Value], prefix: &str, names: &mut Vec<(String, String)>) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for r in runs {
            let c = component_of(r);
            let n = seen.entry(c.clone()).or_default();
            let label = format!("{prefix}/{c}#{n}");
            *n += 1;
            if let Some(id) = r["run_id"].as_str() {
                names.push((id.to_string(), format!("<run {label}>")));
            }
            nested(r["member_responses"].as_array().map_or(&[], Vec::as_slice), &label, names);
        }
    }
    fn step_ids(results: &[Value], names: &mut Vec<(String, String)>) {
        for r in results {
            if let (Some(id), Some(name)) = (r["step_id"].as_str(), r["step_name"].as_str()) {
                names.push((id.to_string(), format!("<step {name}>")));
            }
            step_ids(r["steps"].as_array().map_or(&[], Vec::as_slice), names);
        }
    }
    for (label, r) in labelled {
        nested(
            r.pointer("/run_data/step_executor_runs").and_then(Value::as_array).map_or(&[], Vec::as_slice),
            label,
            &mut names,
        );
        step_ids(r.pointer("/run_data/step_results").and_then(Value::as_array).map_or(&[], Vec::as_slice), &mut names);
    }
    Canon { names }
}

/// `v` without the volatile keys' values (kept as `"<set>"` so that their presence compares).
pub fn strip_volatile(v: &Value) -> Value {
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

pub fn sorted_keys(v: &Value) -> Value {
    let mut keys: Vec<&String> = v.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    keys.sort();
    json!(keys)
}

pub fn sorted_nulls(row: &Value) -> Value {
    let mut n: Vec<String> =
        row["__sql_null"].as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    n.sort();
    json!(n)
}

/// Metrics as compared: the token sums and the per-model details, by model id.
pub fn metrics(m: &Value) -> Value {
    if m.as_object().is_some_and(Map::is_empty) {
        return json!({});
    }
    if m.is_null() {
        return Value::Null;
    }
    // A workflow run's: `steps` by leaf step name, and its duration.
    if let Some(steps) = m.get("steps").and_then(Value::as_object) {
        let steps: Map<String, Value> = steps
            .iter()
            .map(|(k, s)| {
                let s = json!({"keys": sorted_keys(s), "step_name": s["step_name"], "executor_type": s["executor_type"],
                               "executor_name": s["executor_name"], "metrics": metrics(&s["metrics"])});
                (k.clone(), s)
            })
            .collect();
        // agno-run's own time is an extra in Agno's `additional_metrics`, which Agno leaves unset.
        let mut without = m.clone();
        if let Some(o) = without.as_object_mut() {
            o.remove("additional_metrics");
        }
        return json!({"keys": sorted_keys(&without), "steps": steps});
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
pub fn message(m: &Value) -> Value {
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
pub fn tool(t: &Value) -> Value {
    let mut t = t.as_object().cloned().unwrap_or_default();
    t.remove("metrics");
    strip_volatile(&Value::Object(t))
}

/// A run's `run_data` (or a `member_responses` entry) as compared.
pub fn run_data(d: &Value) -> Value {
    let mut out = Map::new();
    out.insert("keys".into(), sorted_keys(d));
    for (k, v) in d.as_object().into_iter().flatten() {
        let v = match k.as_str() {
            "metrics" => metrics(v),
            "messages" => Value::Array(v.as_array().into_iter().flatten().map(message).collect()),
            "tools" => Value::Array(v.as_array().into_iter().flatten().map(tool).collect()),
            "member_responses" | "step_executor_runs" => {
                Value::Array(v.as_array().into_iter().flatten().map(run_data).collect())
            }
            "step_results" => Value::Array(v.as_array().into_iter().flatten().map(step_output).collect()),
            "model_provider_data" => sorted_keys(v),
            k if VOLATILE.contains(&k) && !v.is_null() => json!("<set>"),
            _ => strip_volatile(v),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// A workflow's `StepOutput` dict as compared: every key, its metrics as [`metrics`] compares
/// them, its inner steps the same way.
pub fn step_output(o: &Value) -> Value {
    let mut out = Map::new();
    out.insert("keys".into(), sorted_keys(o));
    for (k, v) in o.as_object().into_iter().flatten() {
        let v = match k.as_str() {
            "metrics" => metrics(v),
            "steps" => Value::Array(v.as_array().into_iter().flatten().map(step_output).collect()),
            _ => strip_volatile(v),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

pub fn run_row(label: &str, r: &Value) -> Value {
    json!({
        "label": label,
        "run_type": r["run_type"], "agent_id": r["agent_id"], "team_id": r["team_id"],
        "workflow_id": r["workflow_id"], "user_id": r["user_id"], "parent_run_id": r["parent_run_id"],
        "status": r["status"], "session_id": r["session_id"], "sql_null": sorted_nulls(r),
        "run_data": run_data(&r["run_data"]),
    })
}

pub fn session_row(s: &Value) -> Value {
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
pub fn request(r: &Value) -> Value {
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
pub fn diff(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
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
pub struct Shape {
    pub session: Value,
    pub runs: Vec<Value>,
    pub requests: Vec<Value>,
}

pub fn shape(session: &Value, rows: &[Value], requests: &[Value]) -> Shape {
    let tree = labelled(rows);
    let canon = canon_for(&tree);
    let session = canon.value(&session_row(session));
    let runs = tree.iter().map(|(label, r)| canon.value(&run_row(label, r))).collect();
    let mut requests: Vec<Value> = requests.iter().map(|r| canon.value(&request(r))).collect();
    // Member runs of one turn run concurrently: requests compare in order per model.
    requests.sort_by_key(|r| r["model"].as_str().unwrap_or_default().to_string());
    Shape { session, runs, requests }
}

/// The recorded requests as [`request`] reads them.
pub fn recorded_requests(scenario: &str) -> Vec<Value> {
    expected(scenario, ".requests.json")
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
        .collect()
}

/// The compared shapes of Agno's recording of `scenario` and of what agno-run did.
pub fn shapes(scenario: &str, got: &Got) -> (Shape, Shape) {
    let (session, rows) = expected_rows(scenario);
    let want = shape(&session, &rows, &recorded_requests(scenario));
    let have = shape(&got.session, &got.runs, &got.requests);
    (want, have)
}

/// Fails with every difference between `want` and `have`.
pub fn assert_same(scenario: &str, want: &Shape, have: &Shape) {
    let mut out = Vec::new();
    diff("session", &want.session, &have.session, &mut out);
    if want.runs.len() != have.runs.len() {
        let labels = |s: &Shape| s.runs.iter().map(|r| r["label"].to_string()).collect::<Vec<_>>().join(" ");
        out.push(format!("runs: expected [{}], got [{}]", labels(want), labels(have)));
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
