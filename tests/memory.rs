//! User memories and session summaries with a scripted OpenAI-compatible server: a stated
//! preference becomes a memory row (with topics) that the next session of the same user sees and
//! another user does not; agentic memory updates and deletes only its user's rows; a failing or
//! endless memory model leaves the run COMPLETED with the failure on the run and in the stream;
//! summaries are written after the run and put in the next run's system message; the answer does
//! not wait for the memory update.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, Event, EventKind, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::store::{Memory, MemoryQuery, RunStatus, Store};
use fake_openai::{FakeOpenAi, Request, Response, call};
use serde_json::{Value, json};

struct Env {
    fake: FakeOpenAi,
    generation: Arc<Generation>,
    store: Store,
    _dir: tempfile::TempDir,
}

/// An agent `assistant` on SQLite whose model (and memory and summary model) is the fake;
/// `agent` holds its extra lines; `models` extra model declarations.
async fn env(agent: &str, models: &str) -> Env {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: sqlite, db_file: agno.db}}\nmodels:\n  primary: {{provider: openai, id: gpt-test, base_url: \"{url}\", api_key: k, max_retries: 0}}\n{models}agents:\n  assistant:\n    model: primary\n    db: main\n{agent}",
        url = fake.base_url()
    );
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("config does not load:\n{yaml}\n{:#?}", loaded.report));
    let generation = Generation::build(config, None, Process::new(), Options::default());
    let store = generation.store("main").await.unwrap();
    Env { fake, generation, store, _dir: dir }
}

impl Env {
    /// Runs once for `user` in `session` and reads every event until the stream ends (after
    /// the memory update and the summary).
    async fn run(&self, message: &str, user: &str, session: &str) -> (String, Vec<Event>) {
        let input = RunInput {
            message: message.into(),
            session_id: Some(session.into()),
            user_id: Some(user.into()),
            ..Default::default()
        };
        let request = RunRequest { target: Component::new(SessionType::Agent, "assistant"), input, parent: None };
        let mut handle = runtime::start(&self.generation, request).await.expect("the run starts");
        let run_id = handle.run_id().to_string();
        let mut events = Vec::new();
        while let Some(e) = tokio::time::timeout(Duration::from_secs(30), handle.next_event()).await.expect("events") {
            events.push(e);
        }
        handle.result().await.expect("the run completes");
        (run_id, events)
    }

    async fn memories(&self, user: &str) -> Vec<Memory> {
        let q = MemoryQuery { user_id: Some(user.into()), ..Default::default() };
        self.store.list_memories(&q).await.unwrap().items
    }

    /// The requests whose system message starts with `prefix`.
    fn requests(&self, prefix: &str) -> Vec<Request> {
        self.fake.requests().into_iter().filter(|r| system_of(r).starts_with(prefix)).collect()
    }
}

fn system_of(r: &Request) -> String {
    r.messages()
        .first()
        .filter(|m| m["role"] == "system")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn last_is_tool(r: &Request) -> bool {
    r.messages().last().is_some_and(|m| m["role"] == "tool")
}

const MANAGER: &str = "You are a Memory Manager";
const SUMMARIZER: &str = "Analyze the following conversation";

fn kinds(events: &[Event], run_id: &str) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.run_id == run_id)
        .filter_map(|e| match &e.kind {
            EventKind::RunCompleted { .. } => Some("RunCompleted"),
            EventKind::MemoryUpdateStarted => Some("MemoryUpdateStarted"),
            EventKind::MemoryUpdateCompleted { .. } => Some("MemoryUpdateCompleted"),
            EventKind::SessionSummaryStarted => Some("SessionSummaryStarted"),
            EventKind::SessionSummaryCompleted { .. } => Some("SessionSummaryCompleted"),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stated_preference_becomes_a_memory_that_the_same_user_sees_and_another_does_not() {
    let e = env("    update_memory_on_run: true\n", "").await;
    e.fake.respond_with(|r| {
        let sys = system_of(r);
        let states_it = r.messages().get(1).is_some_and(|m| m["content"] == "I like green tea");
        if sys.starts_with(MANAGER) && !last_is_tool(r) && states_it {
            Response::tool_calls(vec![call(
                "c1",
                "add_memory",
                r#"{"memory": "User likes green tea", "topics": ["food", "drinks"]}"#,
            )])
        } else if sys.starts_with(MANAGER) {
            Response::text("Memories updated.")
        } else {
            Response::text("Noted!")
        }
    });
    let (run_id, events) = e.run("I like green tea", "u1", "s1").await;
    assert_eq!(
        kinds(&events, &run_id),
        ["RunCompleted", "MemoryUpdateStarted", "MemoryUpdateCompleted"],
        "the update follows the answer"
    );
    let stored = e.memories("u1").await;
    let meta = e.store.get_run(&run_id).await.unwrap().run_data["metadata"].clone();
    assert_eq!(stored.len(), 1, "{meta}");
    let m = &stored[0];
    assert_eq!(m.memory, json!("User likes green tea"));
    assert_eq!(m.topics, Some(json!(["food", "drinks"])));
    assert_eq!((m.agent_id.as_deref(), m.input.as_deref()), (Some("assistant"), Some("I like green tea")));
    let run = e.store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["metadata"]["memory_update"]["status"], "ok");
    assert_eq!(run.run_data["metadata"]["memory_update"]["changes"]["added"], json!([m.memory_id]));
    // The memory model was sent the user's message after Agno's system message, with the tools.
    let first = &e.requests(MANAGER)[0];
    assert_eq!(first.messages()[1], json!({"role": "user", "content": "I like green tea"}));
    assert_eq!(first.tool_names(), ["add_memory", "delete_memory", "update_memory"]);

    // A new session of the same user: the memory is in the system message, and shown to the
    // memory model as an existing memory.
    e.run("What should I drink?", "u1", "s2").await;
    let main = e.requests("You have access to user info");
    assert_eq!(main.len(), 1, "the second run's main request has the memories section");
    assert!(system_of(&main[0]).contains(
        "<memories_from_previous_interactions>\n- User likes green tea\n</memories_from_previous_interactions>"
    ));
    let manager = e.requests(MANAGER);
    assert!(system_of(&manager[2]).contains(&format!(
        "<existing_memories>\nID: {}\nMemory: User likes green tea\n\n</existing_memories>",
        m.memory_id
    )));

    // Another user sees none of it.
    e.run("What should I drink?", "u2", "s3").await;
    let last_main = e.fake.requests().into_iter().rev().find(|r| !system_of(r).starts_with(MANAGER)).unwrap();
    let sys = system_of(&last_main);
    assert!(!sys.contains("green tea"), "{sys}");
    assert!(sys.starts_with("You have the capability to retain memories"), "{sys}");
    assert!(e.memories("u2").await.is_empty());
}

#[tokio::test]
async fn agentic_memory_updates_and_deletes_only_its_own_users_memories() {
    let e = env("    enable_agentic_memory: true\n", "").await;
    let mk = |id: &str, user: &str, text: &str| Memory {
        memory_id: id.into(),
        memory: json!(text),
        input: None,
        agent_id: None,
        team_id: None,
        user_id: Some(user.into()),
        topics: Some(json!(["drinks"])),
        feedback: None,
        created_at: 1_000,
        updated_at: Some(1_000),
    };
    for m in [mk("m1", "u1", "Likes tea"), mk("m2", "u1", "Lives in Lyon"), mk("x9", "u2", "Likes coffee")] {
        e.store.upsert_memory(&m).await.unwrap();
    }
    e.fake.respond_with(|r| {
        let sys = system_of(r);
        if sys.starts_with(MANAGER) {
            if last_is_tool(r) {
                return Response::text("Done: updated m1, deleted m2.");
            }
            return Response::tool_calls(vec![
                call("a", "update_memory", r#"{"memory_id": "m1", "memory": "Likes green tea", "topics": ["tea"]}"#),
                call("b", "delete_memory", r#"{"memory_id": "m2"}"#),
                // Another user's memories: refused.
                call("c", "update_memory", r#"{"memory_id": "x9", "memory": "hijacked", "topics": []}"#),
                call("d", "delete_memory", r#"{"memory_id": "x9"}"#),
            ]);
        }
        if last_is_tool(r) {
            Response::text("I have updated your memories.")
        } else {
            Response::tool_calls(vec![call(
                "t1",
                "update_user_memory",
                r#"{"task": "Change tea to green tea; forget where the user lives"}"#,
            )])
        }
    });
    let (run_id, _) = e.run("I now prefer green tea, and forget where I live", "u1", "s1").await;
    let main = e.fake.requests().into_iter().find(|r| !system_of(r).starts_with(MANAGER)).unwrap();
    assert!(main.tool_names().contains(&"update_user_memory".to_string()));
    assert!(system_of(&main).contains("<updating_user_memories>"));
    assert!(system_of(&main).contains("- Likes tea\n- Lives in Lyon"));
    let manager = &e.requests(MANAGER)[0];
    assert_eq!(manager.messages()[1]["content"], "Change tea to green tea; forget where the user lives");
    assert_eq!(manager.tool_names(), ["add_memory", "clear_memory", "delete_memory", "update_memory"]);
    let u1 = e.memories("u1").await;
    assert_eq!(u1.len(), 1);
    assert_eq!((u1[0].memory_id.as_str(), &u1[0].memory), ("m1", &json!("Likes green tea")));
    let u2 = e.memories("u2").await;
    assert_eq!(u2.len(), 1, "another user's memory is neither deleted");
    assert_eq!((&u2[0].memory, u2[0].user_id.as_deref()), (&json!("Likes coffee"), Some("u2")), "nor changed");
    let answers: Vec<Value> = e.requests(MANAGER)[1].messages().into_iter().filter(|m| m["role"] == "tool").collect();
    let texts: Vec<&str> = answers.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(
        texts,
        ["Memory updated successfully", "Memory deleted successfully", "Error adding memory", "Error deleting memory"]
    );
    let run = e.store.get_run(&run_id).await.unwrap();
    let tools = run.run_data["tools"].as_array().unwrap();
    assert_eq!(
        (tools[0]["tool_name"].as_str(), tools[0]["result"].as_str()),
        (Some("update_user_memory"), Some("Done: updated m1, deleted m2."))
    );
}

#[tokio::test]
async fn a_failing_memory_model_leaves_the_run_completed_and_says_why() {
    let fake = FakeOpenAi::start().await;
    let models = format!(
        "  memory: {{provider: openai, id: gpt-memory, base_url: \"{}\", api_key: k, max_retries: 0}}\n",
        fake.base_url()
    );
    let e = env("    update_memory_on_run: true\n    memory_model: memory\n", &models).await;
    fake.respond_with(|_| Response::status(500));
    e.fake.respond_with(|_| Response::text("Hello!"));
    let (run_id, events) = e.run("My name is Ana", "u1", "s1").await;
    let run = e.store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["content"], "Hello!");
    let update = &run.run_data["metadata"]["memory_update"];
    assert_eq!(update["status"], "error", "{update}");
    assert!(update["error"].as_str().is_some_and(|t| t.contains("500")), "{update}");
    let failed = events.iter().find_map(|e| match &e.kind {
        EventKind::MemoryUpdateCompleted { error, .. } => error.clone(),
        _ => None,
    });
    assert!(failed.is_some_and(|t| t.contains("500")));
    assert_eq!(fake.requests().len(), 1, "the memory model was called once (no retries)");
    assert!(system_of(&fake.requests()[0]).starts_with(MANAGER));
    assert!(e.memories("u1").await.is_empty());
}

#[tokio::test]
async fn an_endless_or_oversized_memory_model_is_bounded() {
    let e = env("    update_memory_on_run: true\n", "").await;
    let big = "x".repeat(agno_run::memory::MAX_MEMORY_BYTES + 1);
    e.fake.respond_with(move |r| {
        if system_of(r).starts_with(MANAGER) {
            // Never answers with text; each turn tries to add a memory too large, then a small one.
            let args = json!({"memory": big, "topics": []}).to_string();
            Response::tool_calls(vec![
                call("big", "add_memory", &args),
                call("ok", "add_memory", r#"{"memory": "small", "topics": null}"#),
            ])
        } else {
            Response::text("Hi")
        }
    });
    let (run_id, _) = e.run("Hello", "u1", "s1").await;
    let run = e.store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    let update = &run.run_data["metadata"]["memory_update"];
    assert!(update["error"].as_str().is_some_and(|t| t.contains("turns without answering")), "{update}");
    assert_eq!(e.requests(MANAGER).len(), agno_run::memory::MAX_TURNS);
    let stored = e.memories("u1").await;
    assert_eq!(stored.len(), agno_run::memory::MAX_TURNS, "the small ones were added, the large ones never");
    assert!(stored.iter().all(|m| m.memory == json!("small")));
    let told = e.requests(MANAGER)[1].messages();
    assert!(told.iter().any(|m| m["content"].as_str().is_some_and(|t| t.contains("longer than"))));
}

#[tokio::test]
async fn summaries_are_written_after_each_run_and_put_in_the_next_runs_system_message() {
    let e = env("    enable_session_summaries: true\n    instructions: Be brief.\n", "").await;
    e.fake.respond_with(|r| {
        if system_of(r).starts_with(SUMMARIZER) {
            Response::text(r#"{"summary": "The user asked about tea.", "topics": ["tea"]}"#)
        } else {
            Response::text("Tea is good.")
        }
    });
    let (run_id, events) = e.run("Tell me about tea", "u1", "s1").await;
    assert_eq!(kinds(&events, &run_id), ["RunCompleted", "SessionSummaryStarted", "SessionSummaryCompleted"]);
    let session = e.store.get_session("s1", Some("u1")).await.unwrap();
    let summary = session.summary.expect("a summary");
    assert_eq!((summary["summary"].as_str(), &summary["topics"]), (Some("The user asked about tea."), &json!(["tea"])));
    assert!(summary["updated_at"].as_str().is_some_and(|t| t.len() == 26));
    let asked = &e.requests(SUMMARIZER)[0];
    assert_eq!(
        system_of(asked),
        "Analyze the following conversation between a user and an assistant, and extract the following details:\n- Summary (str): Provide a concise summary of the session, focusing on important information that would be helpful for future interactions.\n- Topics (Optional[List[str]]): List the topics discussed in the session.\nKeep the summary concise and to the point. Only include relevant information.\n<conversation>User: Tell me about tea\nAssistant: Tea is good.\n</conversation>"
    );
    assert_eq!(asked.messages()[1], json!({"role": "user", "content": "Provide the summary of the conversation."}));
    assert_eq!(asked.body["response_format"]["json_schema"]["name"], "SessionSummaryResponse");

    e.run("And coffee?", "u1", "s1").await;
    let main: Vec<Request> = e.fake.requests().into_iter().filter(|r| system_of(r).starts_with("Be brief.")).collect();
    assert_eq!(
        system_of(&main[1]),
        "Be brief.\n\nHere is a brief summary of your previous interactions:\n\n<summary_of_previous_interactions>\nThe user asked about tea.\n</summary_of_previous_interactions>\n\nNote: this information is from previous interactions and may be outdated. You should ALWAYS prefer information from this conversation over the past summary."
    );
    // The second summary read both runs.
    assert!(
        system_of(&e.requests(SUMMARIZER)[1])
            .contains("User: Tell me about tea\nAssistant: Tea is good.\n\nUser: And coffee?")
    );

    // A summary model whose answer is not JSON: the run stays COMPLETED, the summary is kept.
    e.fake.respond_with(|r| {
        if system_of(r).starts_with(SUMMARIZER) { Response::text("no json here") } else { Response::text("ok") }
    });
    let (run_id, _) = e.run("Thanks", "u1", "s1").await;
    let run = e.store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["metadata"]["session_summary"]["status"], "error");
    let kept = e.store.get_session("s1", Some("u1")).await.unwrap().summary.unwrap();
    assert_eq!(kept["summary"], "The user asked about tea.");
}

#[tokio::test]
async fn the_answer_is_stored_before_the_memory_update_ends() {
    let e = env("    update_memory_on_run: true\n", "").await;
    e.fake.respond_with(move |r| {
        if system_of(r).starts_with(MANAGER) && last_is_tool(r) {
            Response::text("done")
        } else if system_of(r).starts_with(MANAGER) {
            // The memory model is slow: the answer must not wait for it.
            let add = Response::tool_calls(vec![call("c", "add_memory", r#"{"memory": "m", "topics": ["t"]}"#)]);
            Response::delayed(Duration::from_secs(2), add)
        } else {
            Response::text("answer")
        }
    });
    let input = RunInput {
        message: "remember this".into(),
        session_id: Some("s1".into()),
        user_id: Some("u1".into()),
        ..Default::default()
    };
    let request = RunRequest { target: Component::new(SessionType::Agent, "assistant"), input, parent: None };
    let mut handle = runtime::start(&e.generation, request).await.unwrap();
    let run_id = handle.run_id().to_string();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), handle.next_event()).await.unwrap().unwrap();
        if ev.run_id == run_id && matches!(ev.kind, EventKind::RunCompleted { .. }) {
            break;
        }
    }
    // The answer is out and stored while the memory model has not answered.
    let run = e.store.get_run(&run_id).await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert!(e.memories("u1").await.is_empty());
    assert_eq!(e.generation.process().registry().after_runs(), 1, "the update is held by the registry");
    while handle.next_event().await.is_some() {}
    e.generation.process().registry().idle().await;
    assert_eq!(e.memories("u1").await.len(), 1);
    assert_eq!(e.generation.process().registry().after_runs(), 0);
}
