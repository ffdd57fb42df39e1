//! Memories over HTTP: a streamed run sends its answer, then Agno's MemoryUpdate* and
//! SessionSummary* events; the memory the scripted memory model added is in `/memories`;
//! `/optimize-memories` summarizes one user's memories into one and leaves other users' alone.
#[path = "support/server.rs"]
mod server;

use serde_json::{Value, json};
use server::{Server, Start, client, parse_sse, send, write_config};

const CONFIG: &str = r#"version: 1
databases:
  main: {type: sqlite, db_file: agno.db}
models:
  chat: {provider: scripted, replies: ["Noted, you like tea."]}
  memory:
    provider: scripted
    replies:
      - tool_calls: [{name: add_memory, arguments: {memory: "User likes green tea", topics: [drinks]}}]
      - "Added."
      - "Nothing to change."
  summary: {provider: scripted, replies: ['{"summary": "The user likes tea.", "topics": ["tea"]}']}
  optimizer: {provider: scripted, replies: ["Ana likes green tea and lives in Lyon."]}
agents:
  assistant:
    model: chat
    db: main
    update_memory_on_run: true
    memory_model: memory
    enable_session_summaries: true
    session_summary_model: summary
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_run_sends_the_memory_and_summary_events_after_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), CONFIG);
    let server = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"]));
    let c = client();
    let r = c
        .post(server.url("/agents/assistant/runs"))
        .form(&[("message", "I like green tea"), ("stream", "true"), ("user_id", "ana"), ("session_id", "s1")])
        .send()
        .await
        .unwrap();
    let events = parse_sse(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("{n} in {names:?}"));
    assert!(at("RunCompleted") < at("MemoryUpdateStarted"));
    assert!(at("MemoryUpdateStarted") < at("MemoryUpdateCompleted"));
    assert!(at("MemoryUpdateCompleted") < at("SessionSummaryStarted"));
    assert_eq!(names.last(), Some(&"SessionSummaryCompleted"));
    let done = &events[at("MemoryUpdateCompleted")].1;
    assert_eq!(done["changes"]["added"].as_array().map(Vec::len), Some(1), "{done}");
    let summary = &events[at("SessionSummaryCompleted")].1;
    assert_eq!(summary["session_summary"]["summary"], "The user likes tea.");

    let listed = send(c.get(server.url("/memories?user_id=ana"))).await.ok();
    assert_eq!(listed["data"][0]["memory"], "User likes green tea");
    assert_eq!(listed["data"][0]["topics"], json!(["drinks"]));
    let session = send(c.get(server.url("/sessions/s1?user_id=ana"))).await.ok();
    assert_eq!(session["session_summary"]["summary"], "The user likes tea.");
}

#[tokio::test(flavor = "multi_thread")]
async fn optimize_memories_summarizes_one_users_memories_into_one() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), CONFIG);
    let server = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"]));
    let c = client();
    for (text, user, topic) in [
        ("Ana likes green tea", "ana", "drinks"),
        ("Ana lives in Lyon", "ana", "places"),
        ("Bo likes coffee", "bo", "drinks"),
    ] {
        let body = json!({"memory": text, "user_id": user, "topics": [topic]});
        send(c.post(server.url("/memories")).json(&body)).await.ok();
    }
    let preview = send(
        c.post(server.url("/optimize-memories")).json(&json!({"user_id": "ana", "model": "optimizer", "apply": false})),
    )
    .await
    .ok();
    assert_eq!((preview["memories_before"].as_u64(), preview["memories_after"].as_u64()), (Some(2), Some(1)));
    let ana = send(c.get(server.url("/memories?user_id=ana"))).await.ok();
    assert_eq!(ana["meta"]["total_count"], 2, "a preview writes nothing");

    let applied =
        send(c.post(server.url("/optimize-memories")).json(&json!({"user_id": "ana", "model": "scripted:optimizer"})))
            .await
            .ok();
    for key in [
        "memories",
        "memories_before",
        "memories_after",
        "tokens_before",
        "tokens_after",
        "tokens_saved",
        "reduction_percentage",
    ] {
        assert!(applied.get(key).is_some(), "{key} in {applied}");
    }
    let ana = send(c.get(server.url("/memories?user_id=ana"))).await.ok();
    let data = ana["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["memory"], "Ana likes green tea and lives in Lyon.");
    let mut topics: Vec<Value> = data[0]["topics"].as_array().unwrap().clone();
    topics.sort_by_key(|t| t.to_string());
    assert_eq!(topics, [json!("drinks"), json!("places")]);
    let bo = send(c.get(server.url("/memories?user_id=bo"))).await.ok();
    assert_eq!(bo["data"][0]["memory"], "Bo likes coffee", "another user's memories are untouched");

    let unknown =
        send(c.post(server.url("/optimize-memories")).json(&json!({"user_id": "ana", "model": "nope"}))).await;
    assert!(unknown.error(400).as_str().is_some_and(|d| d.contains("nope")));
}
