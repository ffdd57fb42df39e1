//! Built-in tools through real agent runs with the scripted model (offline): each tool's result
//! lands in the stored run's `tools`, as Agno stores it, and goes back to the model.

use std::collections::HashMap;
use std::io::{Read, Write};

use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use serde_json::{Value, json};

/// The runtime of a config with one scripted agent `a`; runs go through it as every surface's do.
struct Agent(Arc<Generation>);

async fn agent(dir: &std::path::Path, replies: &str, tools: &str) -> ((), Agent) {
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: sqlite, db_file: t.db}}\nmodels:\n  m:\n    provider: scripted\n    replies:\n{replies}\nagents:\n  a:\n    model: m\n    tools: {tools}\n"
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    ((), Agent(Generation::build(config, None, Process::new(), Options::default())))
}

async fn run(agent: &Agent, session: &str, user: &str, message: &str) -> Value {
    let input = RunInput {
        message: message.into(),
        session_id: Some(session.into()),
        user_id: Some(user.into()),
        ..Default::default()
    };
    let request = RunRequest { target: Component::new(SessionType::Agent, "a"), input, parent: None };
    runtime::start(&agent.0, request).await.unwrap().result().await.unwrap().run.run_data
}

fn tool<'a>(run_data: &'a Value, name: &str) -> &'a Value {
    run_data["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == name)
        .unwrap_or_else(|| panic!("{name}: {run_data:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_and_past_session_tools_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let replies = r#"      - "noted"
      - "noted"
      - content: "looking"
        tool_calls:
          - {name: get_chat_history, arguments: {}}
          - {name: search_past_sessions, arguments: {query: "tea"}}
          - {name: read_past_session, arguments: {session_id: "old"}}
      - "done""#;
    let (_rt, agent) = agent(dir.path(), replies, "[read_chat_history, search_past_sessions]").await;
    run(&agent, "old", "u1", "I like green tea").await;
    run(&agent, "now", "u1", "first message here").await;
    let data = run(&agent, "now", "u1", "what did we say?").await;
    let history: Value = serde_json::from_str(tool(&data, "get_chat_history")["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        history,
        json!([{"role": "user", "content": "first message here"}, {"role": "assistant", "content": "noted"}])
    );
    let past: Value = serde_json::from_str(tool(&data, "search_past_sessions")["result"].as_str().unwrap()).unwrap();
    assert_eq!(past.as_array().unwrap().len(), 1, "{past:#}");
    assert_eq!(past[0]["session_id"], "old");
    let old = tool(&data, "read_past_session")["result"].as_str().unwrap();
    assert!(old.contains("I like green tea"), "{old}");
    assert_eq!(data["content"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_past_session_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let replies = r#"      - "ok"
      - content: "peek"
        tool_calls:
          - {name: read_past_session, arguments: {session_id: "theirs"}}
          - {name: search_past_sessions, arguments: {}}
      - "done""#;
    let (_rt, agent) = agent(dir.path(), replies, "[search_past_sessions]").await;
    run(&agent, "theirs", "u2", "secret of u2").await;
    let data = run(&agent, "mine", "u1", "show me").await;
    let read = tool(&data, "read_past_session");
    assert_eq!(read["tool_call_error"], true, "{read:#}");
    assert!(!read["result"].as_str().unwrap().contains("secret"));
    assert_eq!(tool(&data, "search_past_sessions")["result"], "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_calls_only_allowed_hosts() {
    // A one-shot HTTP server on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nhello world").unwrap();
        request
    });
    let dir = tempfile::tempdir().unwrap();
    let replies = format!(
        r#"      - content: "fetching"
        tool_calls:
          - {{name: http_request, arguments: {{url: "http://127.0.0.1:{port}/status"}}}}
          - {{name: http_request, arguments: {{url: "http://example.com/"}}}}
      - "done""#
    );
    let (_rt, agent) =
        agent(dir.path(), &replies, "[{name: http_request, allowed_hosts: [127.0.0.1], max_response_bytes: 5}]").await;
    let data = run(&agent, "s", "u", "fetch it").await;
    let calls: Vec<&Value> = data["tools"].as_array().unwrap().iter().collect();
    let ok: Value = serde_json::from_str(calls[0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(ok, json!({"status": 200, "body": "hello", "truncated": true}));
    assert_eq!(calls[1]["tool_call_error"], true);
    assert!(calls[1]["result"].as_str().unwrap().contains("not allowed"));
    assert!(server.join().unwrap().starts_with("GET /status HTTP/1.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datetime_and_calculator_answer_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let replies = r#"      - content: "computing"
        tool_calls:
          - {name: current_datetime, arguments: {}}
          - {name: calculator, arguments: {expression: "(2 + 3) * 2 ^ 3"}}
      - "done""#;
    let (_rt, agent) = agent(dir.path(), replies, "[datetime, calculator]").await;
    let data = run(&agent, "s", "u", "now and math").await;
    let now: Value = serde_json::from_str(tool(&data, "current_datetime")["result"].as_str().unwrap()).unwrap();
    assert!(now["unix"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(tool(&data, "calculator")["result"], "40");
    let roles: Vec<&str> = data["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["user", "assistant", "tool", "tool", "assistant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_reuses_one_client_and_its_connection_across_calls() {
    // A keep-alive server that counts the connections it accepts and the requests it answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let seen = counts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            seen.lock().unwrap().0 += 1;
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.lock().unwrap().1 += 1;
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let call = format!("{{name: http_request, arguments: {{url: \"http://127.0.0.1:{port}/x\"}}}}");
    let replies = format!(
        "      - tool_calls: [{call}]\n      - tool_calls: [{call}]\n      - tool_calls: [{call}]\n      - \"done\""
    );
    let (_rt, agent) = agent(dir.path(), &replies, "[{name: http_request, allowed_hosts: [127.0.0.1]}]").await;
    let data = run(&agent, "s", "u", "three calls").await;
    assert_eq!(data["tools"].as_array().unwrap().len(), 3);
    let (connections, requests) = *counts.lock().unwrap();
    assert_eq!(requests, 3);
    assert_eq!(connections, 1, "one client per tool: its connection is kept and reused");
}
