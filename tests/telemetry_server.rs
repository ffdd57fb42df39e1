//! Telemetry in the real server: runs traced into SQLite and PostgreSQL, AgentOS's trace routes
//! over them (and Python AgentOS 3.1.10's own routes over the same file), the Prometheus text
//! read by Prometheus's own parser, and agno-run's own time in a header.

#[path = "support/python.rs"]
mod python;
#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use python::{PgSchema, postgres, python, run_py};
use server::{Server, Start, client, send, write_config};

fn config(pg: &PgSchema) -> String {
    format!(
        r#"version: 1
databases:
  local: {{type: sqlite, db_file: t.db, tracing: true}}
  pg: {{type: postgres, db_url: "{url}", db_schema: {schema}, tracing: true}}
  plain: {{type: sqlite, db_file: plain.db}}
models:
  calc_model:
    provider: scripted
    replies:
      - tool_calls: [{{name: calculator, arguments: {{expression: "6*7"}}}}]
      - "It is 42."
  pg_model:
    provider: scripted
    replies:
      - tool_calls: [{{name: calculator, arguments: {{expression: "6*7"}}}}]
      - "It is 42."
  leader:
    provider: scripted
    replies:
      - tool_calls: [{{name: delegate_task_to_member, arguments: {{member_id: helper, task: "Say hi"}}}}]
      - "Team done."
  worker:
    provider: scripted
agents:
  calc: {{name: Calc Agent, model: calc_model, db: local, tools: [calculator]}}
  pgcalc: {{name: PG Calc, model: pg_model, db: pg, tools: [calculator]}}
  untraced: {{model: worker, db: plain}}
  helper: {{name: Helper, role: Says hi, model: worker, db: local}}
teams:
  crew: {{name: The Crew, mode: coordinate, model: leader, members: [helper], db: local}}
"#,
        url = pg.url,
        schema = pg.name
    )
}

/// Polls `GET path` until `ready` holds (the export is batched: rows land within a second).
async fn wait_for(s: &Server, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = send(client().get(s.url(path))).await.ok();
        if ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never became ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(s: &Server, kind: &str, id: &str, message: &str, user: &str) -> server::Answer {
    let form = [("message", message), ("stream", "false"), ("user_id", user)];
    send(client().post(s.url(&format!("/{kind}/{id}/runs"))).form(&form)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_traces_runs_into_sqlite_and_postgres_and_serves_agnos_trace_routes() {
    let Some(url) = postgres() else { return };
    let pg = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &config(&pg));
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));

    let answer = run(&s, "agents", "calc", "what is 6*7", "alice").await;
    let body = answer.ok();
    assert_eq!(body["content"], "It is 42.");
    let own: f64 = answer.header("x-agno-run-overhead-ms").expect("agno-run's own time").parse().unwrap();
    let total = body["metrics"]["duration"].as_f64().unwrap() * 1000.0;
    assert!(own >= 0.0 && own <= total + 0.01, "own {own} ms of {total} ms");
    assert!(body["metrics"]["additional_metrics"]["agno_run_overhead"].as_f64().is_some(), "{body}");
    run(&s, "teams", "crew", "Greet", "bob").await.ok();
    run(&s, "agents", "pgcalc", "6*7 on pg", "carol").await.ok();
    run(&s, "agents", "untraced", "not traced", "dave").await.ok();

    // Every span exported (a trace row exists from its first batch; its root span ends last).
    let listed = wait_for(&s, "/traces", |b| {
        b["meta"]["total_count"] == 2 && b["data"][0]["total_spans"] == 6 && b["data"][1]["total_spans"] == 4
    })
    .await;
    let items = listed["data"].as_array().unwrap();
    assert_eq!(items[0]["name"], "The_Crew.run", "newest first");
    let calc = &items[1];
    assert_eq!(calc["name"], "Calc_Agent.run");
    assert_eq!(calc["status"], "OK");
    assert_eq!(calc["total_spans"], 4);
    assert_eq!(calc["error_count"], 0);
    assert_eq!(calc["input"], "what is 6*7");
    assert_eq!(calc["user_id"], "alice");
    assert_eq!(calc["agent_id"], "calc");
    assert!(calc.get("team_id").is_none(), "null fields are left out: {calc}");
    assert!(calc["start_time"].as_str().unwrap().ends_with('Z'));
    assert!(calc["duration"].as_str().unwrap().ends_with("ms") || calc["duration"].as_str().unwrap().ends_with('s'));
    assert_eq!(listed["meta"]["page"], 1);

    let id = calc["trace_id"].as_str().unwrap();
    let detail = send(client().get(s.url(&format!("/traces/{id}")))).await.ok();
    assert_eq!(detail["output"], "It is 42.");
    let tree = detail["tree"].as_array().unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0]["type"], "AGENT");
    let kids: Vec<(&str, &str)> = tree[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["type"].as_str().unwrap()))
        .collect();
    assert_eq!(kids, [("Scripted.ainvoke", "LLM"), ("calculator", "TOOL"), ("Scripted.ainvoke", "LLM")]);
    let tool = &tree[0]["spans"][1];
    assert_eq!(tool["metadata"]["tool_name"], "calculator");
    assert_eq!(tool["output"], "42");
    assert!(tree[0]["metadata"]["total_input_tokens"].as_i64().unwrap() > 0);
    let span_id = tool["id"].as_str().unwrap();
    let one = send(client().get(s.url(&format!("/traces/{id}?span_id={span_id}")))).await.ok();
    assert_eq!(one["name"], "calculator");
    assert_eq!(send(client().get(s.url(&format!("/traces/{id}?span_id=nope")))).await.error(404), "Span not found");
    assert_eq!(send(client().get(s.url("/traces/0123"))).await.error(404), "Trace not found");

    let team_id = items[0]["trace_id"].as_str().unwrap();
    let team = send(client().get(s.url(&format!("/traces/{team_id}")))).await.ok();
    let root = &team["tree"][0];
    assert_eq!(root["type"], "TEAM");
    let names: Vec<&str> = root["spans"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Helper.run") && names.contains(&"delegate_task_to_member"), "{names:?}");

    let filtered = send(client().get(s.url("/traces?agent_id=calc&user_id=alice"))).await.ok();
    assert_eq!(filtered["meta"]["total_count"], 1);
    let none = send(client().get(s.url("/traces?start_time=2999-01-01T00:00:00Z"))).await.ok();
    assert_eq!(none["meta"]["total_count"], 0);
    let bad = send(client().get(s.url("/traces?start_time=yesterday"))).await.error(400);
    assert!(bad.as_str().unwrap().contains("Invalid start_time format"), "{bad}");

    let stats = send(client().get(s.url("/trace_session_stats"))).await.ok();
    assert_eq!(stats["meta"]["total_count"], 2);
    assert_eq!(stats["data"][0]["total_traces"], 1);

    let schema = send(client().get(s.url("/traces/filter-schema"))).await.ok();
    assert_eq!(schema["fields"].as_array().unwrap().len(), 13);
    assert_eq!(schema["fields"][0]["values"], json!(["OK", "ERROR"]));
    assert!(schema["fields"][1]["values"].is_null(), "nulls are kept here, as AgentOS");
    let search = |body: Value| send(client().post(s.url("/traces/search")).json(&body));
    let found = search(json!({"filter": {"op": "AND", "conditions": [
        {"op": "CONTAINS", "key": "name", "value": "calc"},
        {"op": "IN", "key": "status", "values": ["OK"]}]}}))
    .await
    .ok();
    assert_eq!(found["meta"]["total_count"], 1);
    assert_eq!(found["data"][0]["tree"][0]["type"], "AGENT", "search answers whole traces");
    let by_session = search(json!({"group_by": "session"})).await.ok();
    assert_eq!(by_session["meta"]["total_count"], 2);
    let unknown = search(json!({"filter": {"op": "FOO"}})).await.error(400);
    assert_eq!(unknown, "Invalid filter expression: Unknown filter operator: FOO");
    let mut deep = json!({"op": "EQ", "key": "status", "value": "OK"});
    for _ in 0..50 {
        deep = json!({"op": "NOT", "condition": deep});
    }
    let deep = search(json!({"filter": deep})).await.error(400);
    assert!(deep.as_str().unwrap().contains("maximum nesting depth"), "{deep}");
    search(json!({"limit": 101})).await.error(400);

    // PostgreSQL's traces are its own; the untraced database has none.
    let pg_traces =
        wait_for(&s, "/traces?db_id=pg", |b| b["meta"]["total_count"] == 1 && b["data"][0]["total_spans"] == 4).await;
    assert_eq!(pg_traces["data"][0]["name"], "PG_Calc.run");
    assert_eq!(pg_traces["data"][0]["total_spans"], 4);
    let pg_id = pg_traces["data"][0]["trace_id"].as_str().unwrap();
    let pg_detail = send(client().get(s.url(&format!("/traces/{pg_id}?db_id=pg")))).await.ok();
    assert_eq!(pg_detail["tree"][0]["spans"].as_array().unwrap().len(), 3);
    let plain = send(client().get(s.url("/traces?db_id=plain"))).await.ok();
    assert_eq!(plain["meta"]["total_count"], 0);

    // Agno's daily usage: both sessions of today, their runs and tokens, by model.
    let usage = send(client().get(s.url("/metrics"))).await.ok();
    let day = &usage["metrics"][0];
    assert_eq!(usage["metrics"].as_array().unwrap().len(), 1, "{usage}");
    assert_eq!(
        (day["agent_sessions_count"].as_i64(), day["team_sessions_count"].as_i64()),
        (Some(1), Some(1)),
        "{day}"
    );
    assert_eq!(day["team_runs_count"], 2, "the team run and its member's run count in the team's session");
    assert_eq!(day["users_count"], 2);
    assert!(day["id"].as_str().unwrap().ends_with("_daily"));
    assert!(day["token_metrics"]["total_tokens"].as_i64().unwrap() > 0);
    let alice = send(client().get(s.url("/metrics?user_id=alice"))).await.ok();
    assert_eq!(alice["metrics"][0]["agent_runs_count"], 1);
    assert!(alice["metrics"][0]["id"].as_str().unwrap().ends_with("_alice_daily"));
    let refreshed = send(client().post(s.url("/metrics/refresh"))).await.ok();
    assert_eq!(refreshed[0]["team_runs_count"], 2, "{refreshed}");
    let status = send(client().get(s.url("/metrics/refresh/status"))).await.ok();
    assert_eq!(status["status"], "completed");
    let bad = send(client().get(s.url("/metrics?starting_date=someday"))).await.error(422);
    assert_eq!(bad[0]["type"], "date_from_datetime_parsing");

    // Python AgentOS 3.1.10 lists the same traces from its own routes.
    if let Some(py) = python() {
        let db = dir.path().join("t.db").display().to_string();
        let got = run_py(&py, "traces_agentos.py", &[db]);
        let theirs = got["list"]["data"].as_array().unwrap();
        let names: Vec<&str> = theirs.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["The_Crew.run", "Calc_Agent.run"]);
        let ours: Vec<Value> =
            items.iter().map(|t| json!([t["trace_id"], t["total_spans"], t["error_count"]])).collect();
        let py_counts: Vec<Value> =
            theirs.iter().map(|t| json!([t["trace_id"], t["total_spans"], t["error_count"]])).collect();
        assert_eq!(py_counts, ours, "the same traces with the same span counts");
        let py_calc = got["details"].as_array().unwrap().iter().find(|d| d["name"] == "Calc_Agent.run").unwrap();
        assert_eq!(py_calc["tree"], detail["tree"], "Python AgentOS builds the same span tree");
        assert_eq!(py_calc["tree"][0]["metadata"], detail["tree"][0]["metadata"], "and the same token counts");
        assert_eq!(got["stats"]["meta"]["total_count"], 2);
        // And computes the same daily usage from the same sessions.
        let strip = |v: &Value| {
            let mut v = v.clone();
            for k in ["created_at", "updated_at"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        };
        assert_eq!(strip(&got["metrics"]["metrics"][0]), strip(day), "Agno's own calculation agrees");
    }
    s.signal("TERM");
    let (status, stderr) = s.wait(30);
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_are_read_by_prometheus_own_parser() {
    let Some(url) = postgres() else { return };
    let Some(py) = python() else { return };
    let pg = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &config(&pg));
    let s = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"]));
    run(&s, "agents", "calc", "what is 6*7", "alice").await.ok();
    run(&s, "agents", "untraced", "hello", "bob").await.ok();
    run(&s, "teams", "crew", "Greet", "bob").await.ok();
    let text = send(client().get(s.url("/prometheus"))).await;
    assert_eq!(text.status, 200);
    assert!(text.content_type().starts_with("text/plain; version=0.0.4"), "{text:?}");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text.text).unwrap();
    let parsed = run_py(&py, "prometheus_parse.py", &[file.display().to_string()]);
    let sample = |name: &str, labels: Value| -> f64 {
        parsed["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == name && labels.as_object().unwrap().iter().all(|(k, v)| &s[1][k] == v))
            .and_then(|s| s[2].as_f64())
            .unwrap_or_else(|| panic!("no {name} {labels} in\n{}", text.text))
    };
    assert_eq!(parsed["families"]["agno_run_run_duration_seconds"], "histogram");
    assert_eq!(parsed["families"]["agno_run_runs"], "counter", "the parser names counters without _total");
    assert_eq!(
        sample("agno_run_runs_total", json!({"kind": "agent", "status": "completed"})),
        3.0,
        "calc, untraced, helper"
    );
    assert_eq!(sample("agno_run_runs_total", json!({"kind": "team", "status": "completed"})), 1.0);
    assert_eq!(sample("agno_run_runs_in_flight", json!({"kind": "agent"})), 0.0);
    assert_eq!(sample("agno_run_tool_calls_total", json!({"tool": "calculator", "status": "ok"})), 1.0);
    assert_eq!(sample("agno_run_model_calls_total", json!({"model": "scripted", "status": "ok"})), 6.0);
    assert!(sample("agno_run_tokens_total", json!({"model": "scripted", "type": "input"})) > 0.0);
    assert_eq!(sample("agno_run_run_duration_seconds_count", json!({"kind": "agent"})), 3.0);
    assert_eq!(sample("agno_run_reloads_total", json!({"outcome": "loaded"})), 1.0, "the first load");
    assert_eq!(sample("agno_run_db_pool_connections", json!({"db": "local", "state": "max"})), 4.0);
    assert_eq!(sample("agno_run_db_pool_connections", json!({"db": "pg", "state": "max"})), 8.0);

    // A failed reload counts too.
    std::fs::write(dir.path().join("app.yaml"), "version: 1\nagents: [broken\n").unwrap();
    let reload = send(client().post(s.url("/config/reload"))).await.ok();
    assert_eq!(reload["loaded"], false, "{reload}");
    let text = send(client().get(s.url("/prometheus"))).await.text;
    assert!(text.contains("agno_run_reloads_total{trigger=\"http\",outcome=\"failed\"} 1"), "{text}");
    s.signal("TERM");
    let (status, stderr) = s.wait(30);
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_is_off_with_an_empty_path_and_refuses_an_api_path() {
    let dir = tempfile::tempdir().unwrap();
    let yaml =
        "version: 1\nagents:\n  a: {model: m}\nmodels:\n  m: {provider: scripted}\nserver: {prometheus_path: \"\"}\n";
    write_config(dir.path(), yaml);
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));
    send(client().get(s.url("/prometheus"))).await.error(404);
    drop(s);
    let yaml = yaml.replace("prometheus_path: \\\"\\\"", "prometheus_path: /sessions");
    let yaml = yaml.replace("prometheus_path: \"\"", "prometheus_path: /sessions");
    write_config(dir.path(), &yaml);
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));
    assert!(s.stderr().contains("prometheus_path must start with"), "{}", s.stderr());
    let sessions = send(client().get(s.url("/sessions"))).await.ok();
    assert!(sessions["data"].is_array(), "the API route is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_turns_tracing_on_traces_the_next_runs() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = |tracing: bool| {
        format!(
            "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: t.db, tracing: {tracing}}}\nmodels:\n  m: {{provider: scripted}}\nagents:\n  a: {{name: Echo, model: m, db: local}}\nserver: {{prometheus_path: \"\"}}\n"
        )
    };
    write_config(dir.path(), &yaml(false));
    let s = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"]));
    run(&s, "agents", "a", "before", "u").await.ok();
    write_config(dir.path(), &yaml(true));
    let reload = send(client().post(s.url("/config/reload"))).await;
    assert_eq!(reload.status, 200, "{reload:?}");
    run(&s, "agents", "a", "after", "u").await.ok();
    let listed = wait_for(&s, "/traces", |b| b["meta"]["total_count"] == 1 && b["data"][0]["total_spans"] == 2).await;
    assert_eq!(listed["data"][0]["input"], "after", "only the run after the reload is traced");
}

/// A trace written by someone else (Python Agno, a broken exporter): one root and `n` spans,
/// chained (each the parent of the next) or flat (all under the root).
fn write_trace(db: &std::path::Path, trace: &str, n: usize, chained: bool) {
    let c = rusqlite::Connection::open(db).unwrap();
    let t = "2026-12-04T10:00:00.000000+00:00";
    c.execute(
        "INSERT INTO agno_traces (trace_id, name, status, start_time, end_time, duration_ms, agent_id, created_at) VALUES (?1, 'Deep.run', 'OK', ?2, ?2, 1, 'deep', ?2)",
        rusqlite::params![trace, t],
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    let id = |i: usize| format!("{}{i:014x}", &trace[30..32]);
    for i in 0..=n {
        let parent = match i {
            0 => None,
            _ if chained => Some(id(i - 1)),
            _ => Some(id(0)),
        };
        tx.execute(
            "INSERT INTO agno_spans (span_id, trace_id, parent_span_id, name, span_kind, status_code, start_time, end_time, duration_ms, attributes, created_at) VALUES (?1, ?2, ?3, ?4, 'INTERNAL', 'OK', ?5, ?5, 0, '{\"openinference.span.kind\": \"TOOL\"}', ?5)",
            rusqlite::params![id(i), trace, parent, format!("s{i}"), t],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn count_nodes(v: &Value, depth: usize, max_depth: &mut usize) -> usize {
    *max_depth = (*max_depth).max(depth);
    1 + v["spans"].as_array().into_iter().flatten().map(|c| count_nodes(c, depth + 1, max_depth)).sum::<usize>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_trace_thousands_deep_or_wide_is_answered_bounded_and_never_crashes_the_server() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: t.db, tracing: true}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m, db: local}\nserver:\n  prometheus_path: \"/:metrics\"\n",
    );
    let out =
        std::process::Command::new(server::BIN).current_dir(dir.path()).args(["migrate", "app.yaml"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let deep = "000000000000000000000000000000dd";
    let wide = "000000000000000000000000000000ee";
    write_trace(&dir.path().join("t.db"), deep, 5000, true);
    write_trace(&dir.path().join("t.db"), wide, 9000, false);
    // An invalid metrics path is refused with a message, not a panic: the server still serves.
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));
    assert!(s.stderr().contains("prometheus_path must start with"), "{}", s.stderr());

    let d = send(client().get(s.url(&format!("/traces/{deep}")))).await.ok();
    let mut depth = 0;
    let nodes = count_nodes(&d["tree"][0], 1, &mut depth);
    assert_eq!(nodes, 5001, "every span is in the tree");
    assert!(depth <= 34, "the root, 32 levels, and the rest as leaves of the last: {depth}");
    let w = send(client().get(s.url(&format!("/traces/{wide}")))).await.ok();
    assert_eq!(w["tree"][0]["spans"].as_array().unwrap().len(), 9000);
    let found = send(
        client()
            .post(s.url("/traces/search"))
            .json(&json!({"filter": {"op": "EQ", "key": "agent_id", "value": "deep"}})),
    )
    .await
    .ok();
    assert_eq!(found["meta"]["total_count"], 2);
    // Hostile filter values: a wrong type, a huge pattern, a non-object filter.
    let search = |body: Value| send(client().post(s.url("/traces/search")).json(&body));
    let huge = "x".repeat(5000);
    search(json!({"filter": {"op": "CONTAINS", "key": "name", "value": huge}})).await.error(400);
    search(json!({"filter": {"op": "GT", "key": "duration_ms", "value": "soon"}})).await.error(400);
    search(json!({"filter": {"op": "EQ", "key": "run_id", "value": {"a": 1}}})).await.error(400);
    search(json!({"filter": []})).await.error(400);
    let numeric = search(json!({"filter": {"op": "GTE", "key": "duration_ms", "value": "1"}})).await.ok();
    assert_eq!(numeric["meta"]["total_count"], 2, "a number as text is a number for duration_ms");
    let s2 = send(client().get(s.url("/health"))).await;
    assert_eq!(s2.status, 200, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_right_after_its_runs_still_writes_their_traces() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: t.db, tracing: true}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {name: Echo, model: m, db: local}\n",
    );
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));
    for i in 0..8 {
        run(&s, "agents", "a", &format!("m{i}"), "u").await.ok();
    }
    s.signal("TERM");
    let (status, stderr) = s.wait(30);
    assert!(status.success(), "{stderr}");
    let c = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let traces: i64 =
        c.query_row("SELECT COUNT(*) FROM agno_traces WHERE name = 'Echo.run'", [], |r| r.get(0)).unwrap();
    assert_eq!(traces, 8, "the shutdown exported the last spans");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_filters_take_values_of_the_columns_type() {
    let Some(url) = postgres() else { return };
    let pg = PgSchema::new(&url);
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &config(&pg));
    let s = Server::start(dir.path(), Start::new(&["app.yaml"]));
    run(&s, "agents", "pgcalc", "6*7", "carol").await.ok();
    wait_for(&s, "/traces?db_id=pg", |b| b["meta"]["total_count"] == 1 && b["data"][0]["total_spans"] == 4).await;
    let search = |body: Value| send(client().post(s.url("/traces/search?db_id=pg")).json(&body));
    for (filter, want) in [
        (json!({"op": "GTE", "key": "duration_ms", "value": "0"}), 1),
        (
            json!({"op": "IN", "key": "duration_ms", "values": [0, "1", 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]}),
            1,
        ),
        (json!({"op": "EQ", "key": "run_id", "value": 5}), 0),
        (json!({"op": "CONTAINS", "key": "duration_ms", "value": ""}), 1),
        (json!({"op": "NOT", "condition": {"op": "EQ", "key": "team_id", "value": "x"}}), 0),
        (json!({"op": "CONTAINS", "key": "name", "value": "pg_CALC"}), 1),
    ] {
        let got = search(json!({"filter": filter})).await.ok();
        assert_eq!(got["meta"]["total_count"], want, "{filter}: {got}");
    }
}
