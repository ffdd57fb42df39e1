//! Telemetry through the real binary: an in-process OTLP/HTTP receiver decodes what `run`
//! exports (the span tree and attributes of an agent run with a tool call, a team run and a
//! workflow run, the header secret), the same traces land in Agno's tables, and
//! `sessions export` reads them back.

mod support {
    #[path = "../support/cli.rs"]
    pub mod cli;
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;
use support::cli::{EXIT_OK, agno, exec, write};

/// One export request: its headers and decoded body.
type Request = (HashMap<String, String>, ExportTraceServiceRequest);

/// What the receiver got.
#[derive(Default, Clone)]
struct Received {
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for (_, req) in self.requests.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(AnyValue::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }
}

/// An OTLP/HTTP receiver on a free port: `POST /v1/traces` with a protobuf body.
async fn receiver() -> (String, Received) {
    use axum::routing::post;
    let got = Received::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                    .collect();
                keep.requests.lock().unwrap().push((headers, req));
                (
                    [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::default()
                        .encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1/traces"), got)
}

fn config(endpoint: &str) -> String {
    format!(
        r#"version: 1
databases:
  local: {{type: sqlite, db_file: t.db, tracing: true}}
models:
  calc_model:
    provider: scripted
    replies:
      - tool_calls: [{{name: calculator, arguments: {{expression: "2+3"}}}}]
      - "The answer is 5."
  leader:
    provider: scripted
    replies:
      - tool_calls: [{{name: delegate_task_to_member, arguments: {{member_id: helper, task: "Say hi"}}}}]
      - "Team done."
  worker:
    provider: scripted
agents:
  calc: {{name: Calc Agent, model: calc_model, db: local, tools: [calculator]}}
  helper: {{name: Helper, role: Says hi, model: worker, db: local}}
  drafter: {{model: worker, db: local}}
  polisher: {{model: worker, db: local}}
teams:
  crew: {{name: The Crew, mode: coordinate, model: leader, members: [helper], db: local}}
workflows:
  pipe:
    name: Pipe
    db: local
    steps:
      - {{name: first draft, agent: drafter}}
      - {{name: polish, agent: polisher}}
server:
  otlp:
    endpoint: {endpoint}
    headers: {{authorization: "Bearer ${{OTLP_TOKEN}}"}}
    service_name: agno-test
"#
    )
}

fn attr(s: &Span, key: &str) -> Option<AnyValue> {
    s.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()).and_then(|v| v.value.clone())
}

fn text(s: &Span, key: &str) -> String {
    match attr(s, key) {
        Some(AnyValue::StringValue(v)) => v,
        other => panic!("{} has no string {key}: {other:?}", s.name),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn named<'a>(spans: &'a [(String, Span)], name: &str) -> Vec<&'a Span> {
    spans.iter().map(|(_, s)| s).filter(|s| s.name == name).collect()
}

async fn run_cli(dir: std::path::PathBuf, args: Vec<String>) -> support::cli::Out {
    tokio::task::spawn_blocking(move || exec(agno(&dir).args(&args).env("OTLP_TOKEN", "s3cret-token"))).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_gets_an_agent_run_with_its_model_and_tool_spans_and_the_secret_header_is_never_printed() {
    let (endpoint, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", config(&endpoint));
    let args = ["run", "app.yaml", "--agent", "calc", "--user", "u1", "what is 2+3"].map(String::from).to_vec();
    let out = run_cli(dir.path().to_path_buf(), args).await;
    out.expect(EXIT_OK).says("The answer is 5.").never_says("s3cret-token");

    let requests = got.requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "the run's spans were exported before the command exited");
    for (headers, _) in &requests {
        assert_eq!(headers.get("authorization").map(String::as_str), Some("Bearer s3cret-token"));
        assert_eq!(headers.get("content-type").map(String::as_str), Some("application/x-protobuf"));
    }
    let spans = got.spans();
    assert!(spans.iter().all(|(service, _)| service == "agno-test"), "the resource's service.name");
    let root = named(&spans, "Calc_Agent.run");
    assert_eq!(root.len(), 1, "one agent run span: {:?}", spans.iter().map(|s| &s.1.name).collect::<Vec<_>>());
    let root = root[0];
    assert!(root.parent_span_id.is_empty(), "the run roots its trace");
    assert_eq!(text(root, "openinference.span.kind"), "AGENT");
    assert_eq!(text(root, "agno.agent.id"), "calc");
    assert_eq!(text(root, "user.id"), "u1");
    assert_eq!(text(root, "input.value"), "what is 2+3");
    assert_eq!(text(root, "output.value"), "The answer is 5.");
    assert!(!text(root, "agno.run.id").is_empty() && !text(root, "session.id").is_empty());
    assert!(attr(root, "agno_run.kind").is_none(), "agno-run's own attributes are not exported");
    let models = named(&spans, "Scripted.ainvoke_stream");
    assert_eq!(models.len(), 2, "two model calls");
    let tool = named(&spans, "calculator");
    assert_eq!(tool.len(), 1);
    for s in models.iter().chain(&tool) {
        assert_eq!(s.trace_id, root.trace_id);
        assert_eq!(hex(&s.parent_span_id), hex(&root.span_id), "{} is a child of the run", s.name);
    }
    assert_eq!(text(tool[0], "openinference.span.kind"), "TOOL");
    assert_eq!(text(tool[0], "tool.name"), "calculator");
    assert_eq!(text(tool[0], "tool.parameters"), r#"{"expression":"2+3"}"#);
    assert_eq!(text(tool[0], "output.value"), "5");
    assert_eq!(text(models[0], "openinference.span.kind"), "LLM");
    assert_eq!(text(models[0], "llm.model_name"), "scripted");
    assert!(matches!(attr(models[1], "llm.token_count.completion"), Some(AnyValue::IntValue(n)) if n > 0));
    let status = root.status.as_ref().expect("a status");
    assert_eq!(status.code, 1, "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_gets_a_team_run_with_its_member_under_the_team_and_a_workflow_with_its_steps() {
    let (endpoint, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", config(&endpoint));
    let team = ["run", "app.yaml", "--team", "crew", "Greet"].map(String::from).to_vec();
    run_cli(dir.path().to_path_buf(), team).await.expect(EXIT_OK).says("Team done.");
    let spans = got.spans();
    let team = named(&spans, "The_Crew.run");
    assert_eq!(team.len(), 1, "{:?}", spans.iter().map(|s| &s.1.name).collect::<Vec<_>>());
    let team = team[0];
    assert!(team.parent_span_id.is_empty());
    assert_eq!(text(team, "agno.team.id"), "crew");
    let member = named(&spans, "Helper.run");
    assert_eq!(member.len(), 1);
    assert_eq!(hex(&member[0].parent_span_id), hex(&team.span_id), "a member run is a child of its team's run");
    assert_eq!(text(member[0], "agno.agent.id"), "helper");
    assert!(text(member[0], "input.value").contains("Say hi"), "what the member was told holds its task");
    let delegate = named(&spans, "delegate_task_to_member");
    assert_eq!(delegate.len(), 1);
    assert_eq!(hex(&delegate[0].parent_span_id), hex(&team.span_id));
    let models = named(&spans, "Scripted.ainvoke_stream");
    let member_model: Vec<&&Span> = models.iter().filter(|s| s.parent_span_id == member[0].span_id).collect();
    assert_eq!(member_model.len(), 1, "the member's model call is under the member");

    got.requests.lock().unwrap().clear();
    let wf = ["run", "app.yaml", "--workflow", "pipe", "Write"].map(String::from).to_vec();
    run_cli(dir.path().to_path_buf(), wf).await.expect(EXIT_OK);
    let spans = got.spans();
    let root = named(&spans, "Pipe.run");
    assert_eq!(root.len(), 1, "{:?}", spans.iter().map(|s| &s.1.name).collect::<Vec<_>>());
    assert_eq!(text(root[0], "openinference.span.kind"), "CHAIN");
    assert_eq!(text(root[0], "agno.workflow.id"), "pipe");
    for (step, agent) in [("first_draft.execute", "drafter.run"), ("polish.execute", "polisher.run")] {
        let s = named(&spans, step);
        assert_eq!(s.len(), 1, "{step}");
        assert_eq!(hex(&s[0].parent_span_id), hex(&root[0].span_id), "{step} is under the workflow");
        assert_eq!(text(s[0], "openinference.span.kind"), "CHAIN");
        assert_eq!(text(s[0], "agno.step.type"), "agent");
        let a = named(&spans, agent);
        assert_eq!(a.len(), 1, "{agent}");
        assert_eq!(hex(&a[0].parent_span_id), hex(&s[0].span_id), "{agent} is under its step");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_never_fails_a_run_and_the_database_still_gets_its_trace() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", config(&endpoint));
    let args = ["run", "app.yaml", "--agent", "calc", "what is 2+3"].map(String::from).to_vec();
    run_cli(dir.path().to_path_buf(), args).await.expect(EXIT_OK).says("The answer is 5.").never_says("s3cret-token");
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let (name, status): (String, String) =
        db.query_row("SELECT name, status FROM agno_traces", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((name.as_str(), status.as_str()), ("Calc_Agent.run", "OK"));
    let spans: i64 = db.query_row("SELECT COUNT(*) FROM agno_spans", [], |r| r.get(0)).unwrap();
    assert_eq!(spans, 4, "the run, two model calls and the tool call");
}

#[test]
fn traces_in_agnos_tables_have_agnos_columns_and_a_huge_input_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = config("http://127.0.0.1:9/v1/traces").replace("server:\n  otlp:", "x_unused:\n  otlp:");
    let yaml = yaml.split("x_unused:").next().unwrap().to_string();
    write(dir.path(), "app.yaml", &yaml);
    let huge = "x".repeat(100_000);
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "helper", "--user", "u9", &huge])).expect(EXIT_OK);
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let row: (String, String, String, String, i64, String, String, String) = db
        .query_row(
            "SELECT trace_id, name, status, start_time, duration_ms, agent_id, user_id, created_at FROM agno_traces",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .unwrap();
    assert_eq!(row.0.len(), 32, "a 32-digit trace id");
    assert_eq!((row.1.as_str(), row.2.as_str(), row.5.as_str(), row.6.as_str()), ("Helper.run", "OK", "helper", "u9"));
    assert!(row.3.ends_with("+00:00") && row.3.len() == 32, "Python's isoformat: {}", row.3);
    assert!(row.7.ends_with("+00:00"));
    let attributes: String =
        db.query_row("SELECT attributes FROM agno_spans WHERE parent_span_id IS NULL", [], |r| r.get(0)).unwrap();
    let attributes: Value = serde_json::from_str(&attributes).unwrap();
    let input = attributes["input.value"].as_str().unwrap();
    assert!(
        input.len() <= 32 * 1024 + 4 && input.ends_with('…'),
        "the span keeps 32 KiB of the input: {}",
        input.len()
    );
    let stored: String = db.query_row("SELECT run_data FROM agno_runs", [], |r| r.get(0)).unwrap();
    assert!(stored.contains(&huge), "the run itself keeps the whole input");
    let keys: Vec<&str> = attributes.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.last(), Some(&"openinference.span.kind"), "Agno's instrumentation writes the kind last");
    assert!(!keys.iter().any(|k| k.starts_with("agno_run.") || *k == "target" || k.starts_with("code.")), "{keys:?}");
    // The run's metrics keep agno-run's own time where Agno's RunMetrics keeps extras.
    let run: Value = serde_json::from_str(&stored).unwrap();
    let own = run["metrics"]["additional_metrics"]["agno_run_overhead"].as_f64().unwrap();
    let total = run["metrics"]["duration"].as_f64().unwrap();
    assert!(own >= 0.0 && own <= total, "own {own} of {total}");
}

#[test]
fn sessions_export_reads_back_the_same_sessions_runs_and_traces() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = config("http://127.0.0.1:9/v1/traces");
    let yaml = yaml.split("server:").next().unwrap().to_string();
    write(dir.path(), "app.yaml", &yaml);
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "calc", "--user", "alice", "--session", "s-a", "2+3?"]))
        .expect(EXIT_OK);
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "calc", "--user", "alice", "--session", "s-a", "again"]))
        .expect(EXIT_OK);
    exec(agno(dir.path()).args(["run", "app.yaml", "--team", "crew", "--user", "bob", "--session", "s-b", "Greet"]))
        .expect(EXIT_OK);

    let all = exec(agno(dir.path()).args(["sessions", "app.yaml", "export"]));
    all.expect(EXIT_OK).says("exported 2 session(s)");
    let lines: Vec<Value> = all.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let id = line["session"]["session_id"].as_str().unwrap();
        let shown = exec(
            agno(dir.path())
                .args(["sessions", "app.yaml", "show", id, "--format", "json", "--user"])
                .arg(line["session"]["user_id"].as_str().unwrap()),
        );
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(line["runs"], shown["runs"], "the export's runs are the stored runs of {id}");
        assert_eq!(line["session"]["session_data"], shown["session_data"]);
        let run_ids: Vec<&str> = line["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["parent_run_id"].is_null())
            .map(|r| r["run_id"].as_str().unwrap())
            .collect();
        let traced: Vec<&str> =
            line["traces"].as_array().unwrap().iter().map(|t| t["run_id"].as_str().unwrap()).collect();
        assert_eq!(traced, run_ids, "one trace per top-level run, in order");
        for t in line["traces"].as_array().unwrap() {
            assert_eq!(t["spans"].as_array().unwrap().len() as i64, t["total_spans"].as_i64().unwrap());
        }
    }
    assert_eq!(lines[0]["session"]["session_id"], "s-a", "oldest first");
    assert_eq!(lines[0]["runs"].as_array().unwrap().len(), 2);
    let messages = lines[0]["runs"][0]["run_data"]["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["role"] == "tool"), "tool calls are in the messages");

    let team = exec(agno(dir.path()).args(["sessions", "app.yaml", "export", "--team", "crew", "--format", "jsonl"]));
    team.expect(EXIT_OK).says("exported 1 session(s)");
    let only: Value = serde_json::from_str(team.stdout.trim()).unwrap();
    assert_eq!(only["session"]["session_id"], "s-b");
    let user = exec(agno(dir.path()).args(["sessions", "app.yaml", "export", "--user", "alice", "--format", "json"]));
    let array: Value = serde_json::from_str(&user.stdout).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 1);
    let later = exec(agno(dir.path()).args(["sessions", "app.yaml", "export", "--since", "2999-01-01"]));
    later.expect(EXIT_OK).says("exported 0 session(s)");
    assert!(later.stdout.is_empty());
    exec(agno(dir.path()).args(["sessions", "app.yaml", "export", "--since", "yesterday"]))
        .expect(2)
        .says("is not a date");
}

/// A collector that accepts connections and never answers.
fn hanging_collector() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    (endpoint, handle)
}

#[test]
fn a_collector_that_never_answers_delays_neither_the_runs_nor_the_database_traces() {
    let (endpoint, _collector) = hanging_collector();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.yaml",
        config(&endpoint).replace("service_name: agno-test", "service_name: agno-test\n    timeout: 30"),
    );
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "calc", "what is 2+3"]).env("OTLP_TOKEN", "t"));
    out.expect(EXIT_OK).says("The answer is 5.");
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let spans: i64 = db.query_row("SELECT COUNT(*) FROM agno_spans", [], |r| r.get(0)).unwrap();
    assert_eq!(spans, 4, "every span reached the database although the collector never answered");
    let name: String = db.query_row("SELECT name FROM agno_traces", [], |r| r.get(0)).unwrap();
    assert_eq!(name, "Calc_Agent.run");
}

#[test]
fn an_otlp_endpoints_credentials_are_never_printed_and_export_stops_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = config("http://user:URLPASS@127.0.0.1:9/v1/traces?api_key=QUERYSECRET");
    write(dir.path(), "app.yaml", &yaml);
    let out = exec(agno(dir.path()).args(["config", "app.yaml"]).env("OTLP_TOKEN", "HEADERSECRET"));
    out.expect(EXIT_OK).never_says("URLPASS").never_says("QUERYSECRET").never_says("HEADERSECRET");
    assert!(out.stdout.contains("http://user:***@127.0.0.1:9/v1/traces?***"), "{}", out.stdout);

    let yaml = yaml.split("server:").next().unwrap().to_string();
    write(dir.path(), "app.yaml", &yaml);
    for i in 0..30 {
        exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "helper", "--session", &format!("s{i}"), "hello"]))
            .expect(EXIT_OK);
    }
    let mut shell = std::process::Command::new("bash");
    shell
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!("set -o pipefail; {} sessions app.yaml export | head -c 100 > /dev/null", support::cli::BIN));
    let out = shell.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a reader that stops early is not an error: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
