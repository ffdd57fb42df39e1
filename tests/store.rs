//! The storage conformance suite: one set of behaviours, run against memory, SQLite and
//! PostgreSQL (a fresh schema per test, dropped after). PostgreSQL tests say they skipped when
//! the local server is unreachable, unless AGNO_TEST_REQUIRE_POSTGRES=1 (CI), where they fail.

use std::collections::HashMap;
use std::path::PathBuf;

use agno_run::config::{DatabaseConfig, LoadOptions, load};
use agno_run::migrate;
use agno_run::store::{
    Memory, MemoryQuery, Run, Session, SessionQuery, SessionType, SortBy, Store, StoreError, deep_merge,
};
use serde_json::{Value, json};

const PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// A backend under test, and what to clean up after it.
struct Backend {
    store: Store,
    db: DatabaseConfig,
    _dir: tempfile::TempDir,
    pg_schema: Option<String>,
}

impl Backend {
    async fn cleanup(self) {
        if let Some(schema) = self.pg_schema {
            let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.unwrap();
        }
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

async fn pg_reachable() -> bool {
    let ok = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await.is_ok();
    if !ok {
        if std::env::var("AGNO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL at 127.0.0.1:5432 is required (AGNO_TEST_REQUIRE_POSTGRES=1) but not reachable");
        }
        eprintln!("skipped: PostgreSQL not reachable at 127.0.0.1:5432");
    }
    ok
}

async fn backend(kind: &str) -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("t_{}", unique());
    let yaml = match kind {
        "memory" => "version: 1\ndatabases:\n  main: {type: memory}\n".to_string(),
        "sqlite" => "version: 1\ndatabases:\n  main: {type: sqlite, db_file: agno.db}\n".to_string(),
        _ => {
            if !pg_reachable().await {
                return None;
            }
            format!(
                "version: 1\ndatabases:\n  main: {{type: postgres, db_url: \"{PG_URL}\", db_schema: {schema}, pool_size: 16}}\n"
            )
        }
    };
    let path: PathBuf = dir.path().join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let db = config.databases["main"].clone();
    migrate::apply(&db, &migrate::Options::default(), &mut |_| {}).await.unwrap();
    let store = Store::open(&db).await.unwrap();
    Some(Backend { store, db, _dir: dir, pg_schema: (kind == "postgres").then_some(schema) })
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { let b = super::backend("memory").await.unwrap(); super::$name(&b).await; b.cleanup().await; } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { let b = super::backend("sqlite").await.unwrap(); super::$name(&b).await; b.cleanup().await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { let Some(b) = super::backend("postgres").await else { return }; super::$name(&b).await; b.cleanup().await; } )* }
    };
}

conformance!(
    sessions_are_created_read_and_updated_keeping_created_at,
    a_session_of_another_user_is_refused_on_write_and_hidden_on_read,
    listing_filters_sorts_and_paginates_with_a_total,
    rename_state_metadata_and_summary_updates_persist,
    deleting_sessions_deletes_their_runs,
    runs_get_consecutive_indexes_and_can_be_updated,
    appending_to_a_missing_session_or_twice_the_same_run_is_refused,
    history_is_the_last_n_top_level_runs_that_did_not_fail,
    memories_are_created_listed_searched_and_deleted,
    concurrent_appends_never_share_a_run_index,
    concurrent_state_updates_of_different_keys_all_survive,
);

fn session(id: &str, user: Option<&str>) -> Session {
    let mut s = Session::new(id, SessionType::Agent, "assistant");
    s.user_id = user.map(str::to_string);
    s.session_data = Some(json!({"session_state": {"cart": []}}));
    s.agent_data = Some(
        json!({"name": "Assistant", "agent_id": "assistant", "model": {"name": "OpenAIChat", "id": "gpt-4o-mini", "provider": "OpenAI"}}),
    );
    s
}

fn run(id: &str, session_id: &str, status: &str) -> Run {
    let mut r = Run::new(id, session_id, SessionType::Agent, status);
    r.agent_id = Some("assistant".into());
    r.run_data = json!({
        "run_id": id, "agent_id": "assistant", "session_id": session_id, "content": format!("answer {id}"),
        "status": status, "messages": [{"role": "user", "content": format!("question {id}")}, {"role": "assistant", "content": format!("answer {id}")}],
    });
    r
}

async fn sessions_are_created_read_and_updated_keeping_created_at(b: &Backend) {
    let s = b.store.upsert_session(&session("s1", Some("u1"))).await.unwrap();
    assert_eq!(s.session_type, "agent");
    let got = b.store.get_session("s1", None).await.unwrap();
    assert_eq!(got.session_data, Some(json!({"session_state": {"cart": []}})));
    assert_eq!(got.agent_data.as_ref().unwrap()["model"]["id"], "gpt-4o-mini");
    let mut later = session("s1", None);
    later.created_at = got.created_at + 1000;
    later.metadata = Some(json!({"source": "test"}));
    let updated = b.store.upsert_session(&later).await.unwrap();
    assert_eq!(updated.created_at, got.created_at, "created_at is kept");
    assert_eq!(updated.user_id.as_deref(), Some("u1"), "an upsert without user keeps the owner");
    assert_eq!(updated.metadata, Some(json!({"source": "test"})));
    assert!(matches!(b.store.get_session("nope", None).await, Err(StoreError::NotFound { what: "session", .. })));
}

async fn a_session_of_another_user_is_refused_on_write_and_hidden_on_read(b: &Backend) {
    b.store.upsert_session(&session("s1", Some("u1"))).await.unwrap();
    let err = b.store.upsert_session(&session("s1", Some("u2"))).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(b.store.get_session("s1", Some("u2")).await, Err(StoreError::NotFound { .. })));
    assert!(b.store.get_session("s1", Some("u1")).await.is_ok());
}

async fn listing_filters_sorts_and_paginates_with_a_total(b: &Backend) {
    for i in 0..7 {
        let mut s = session(&format!("a{i}"), Some(if i % 2 == 0 { "even" } else { "odd" }));
        s.created_at = 1_000 + i;
        s.session_data = Some(json!({"session_name": format!("Chat number {i}")}));
        b.store.upsert_session(&s).await.unwrap();
    }
    let mut team = Session::new("t1", SessionType::Team, "crew");
    team.created_at = 5_000;
    b.store.upsert_session(&team).await.unwrap();
    b.store.append_run(&run("r-a0", "a0", "COMPLETED")).await.unwrap();

    let all = b.store.list_sessions(&SessionQuery::default()).await.unwrap();
    assert_eq!(all.total, 8);
    assert_eq!(all.items[0].session_id, "t1", "newest first by default");

    let q = SessionQuery {
        session_type: Some(SessionType::Agent),
        limit: Some(3),
        page: Some(2),
        ascending: true,
        ..Default::default()
    };
    let page = b.store.list_sessions(&q).await.unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.items.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), vec!["a3", "a4", "a5"]);

    let q = SessionQuery { user_id: Some("even".into()), ..Default::default() };
    assert_eq!(b.store.list_sessions(&q).await.unwrap().total, 4);
    let q =
        SessionQuery { session_type: Some(SessionType::Team), component_id: Some("crew".into()), ..Default::default() };
    assert_eq!(b.store.list_sessions(&q).await.unwrap().items[0].session_id, "t1");
    let q = SessionQuery { name: Some("NUMBER 3".into()), ..Default::default() };
    assert_eq!(b.store.list_sessions(&q).await.unwrap().items[0].session_id, "a3");
    let q = SessionQuery { created_after: Some(1_002), created_before: Some(1_004), ..Default::default() };
    assert_eq!(b.store.list_sessions(&q).await.unwrap().total, 3);
    let q = SessionQuery { sort_by: SortBy::SessionId, ascending: true, limit: Some(1), ..Default::default() };
    assert_eq!(b.store.list_sessions(&q).await.unwrap().items[0].session_id, "a0");
}

async fn rename_state_metadata_and_summary_updates_persist(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    b.store.rename_session("s1", "Trip planning").await.unwrap();
    let patch = json!({"cart": ["tea"], "prefs": {"lang": "en"}});
    b.store.update_session_state("s1", patch.as_object().unwrap().clone()).await.unwrap();
    let patch = json!({"prefs": {"tz": "UTC"}});
    b.store.update_session_state("s1", patch.as_object().unwrap().clone()).await.unwrap();
    b.store.update_session_metadata("s1", json!({"k": 1})).await.unwrap();
    b.store.update_session_summary("s1", json!({"summary": "talked about tea", "topics": ["tea"]})).await.unwrap();
    let s = b.store.get_session("s1", None).await.unwrap();
    assert_eq!(s.session_name(), Some("Trip planning"));
    assert_eq!(
        Value::Object(s.session_state().unwrap().clone()),
        json!({"cart": ["tea"], "prefs": {"lang": "en", "tz": "UTC"}})
    );
    assert_eq!(s.metadata, Some(json!({"k": 1})));
    assert_eq!(s.summary.unwrap()["topics"], json!(["tea"]));
    assert!(matches!(b.store.rename_session("nope", "x").await, Err(StoreError::NotFound { .. })));
}

async fn deleting_sessions_deletes_their_runs(b: &Backend) {
    for id in ["s1", "s2", "s3"] {
        b.store.upsert_session(&session(id, None)).await.unwrap();
    }
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    b.store.append_run(&run("r2", "s2", "COMPLETED")).await.unwrap();
    b.store.delete_session("s1").await.unwrap();
    assert!(matches!(b.store.get_run("r1").await, Err(StoreError::NotFound { what: "run", .. })));
    assert!(matches!(b.store.delete_session("s1").await, Err(StoreError::NotFound { .. })));
    let n = b.store.delete_sessions(&["s2".into(), "s3".into(), "missing".into()]).await.unwrap();
    assert_eq!(n, 2);
    assert!(b.store.list_runs("s2").await.unwrap().is_empty());
    assert_eq!(b.store.list_sessions(&SessionQuery::default()).await.unwrap().total, 0);
}

async fn runs_get_consecutive_indexes_and_can_be_updated(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    for i in 0..5 {
        let r = b.store.append_run(&run(&format!("r{i}"), "s1", "RUNNING")).await.unwrap();
        assert_eq!(r.run_index, Some(i));
    }
    let mut data = b.store.get_run("r2").await.unwrap().run_data;
    data["content"] = json!("final");
    let r = b.store.update_run("r2", "COMPLETED", &data).await.unwrap();
    assert_eq!(r.status.as_deref(), Some("COMPLETED"));
    assert_eq!(b.store.get_run("r2").await.unwrap().run_data["content"], "final");
    let runs = b.store.list_runs("s1").await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run_index.unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    let (s, runs) = b.store.get_session_with_runs("s1", None).await.unwrap();
    assert_eq!((s.session_id.as_str(), runs.len()), ("s1", 5));
    assert!(matches!(b.store.update_run("nope", "COMPLETED", &data).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(b.store.update_run("r1", "DONE", &data).await, Err(StoreError::Invalid(_))));
}

async fn appending_to_a_missing_session_or_twice_the_same_run_is_refused(b: &Backend) {
    assert!(matches!(
        b.store.append_run(&run("r1", "nope", "COMPLETED")).await,
        Err(StoreError::NotFound { what: "session", .. })
    ));
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    assert!(matches!(b.store.append_run(&run("r1", "s1", "COMPLETED")).await, Err(StoreError::Conflict(_))));
    assert_eq!(b.store.list_runs("s1").await.unwrap().len(), 1);
}

async fn history_is_the_last_n_top_level_runs_that_did_not_fail(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    let statuses = ["COMPLETED", "COMPLETED", "ERROR", "COMPLETED", "CANCELLED", "COMPLETED", "PAUSED", "RUNNING"];
    for (i, st) in statuses.iter().enumerate() {
        b.store.append_run(&run(&format!("r{i}"), "s1", st)).await.unwrap();
    }
    let mut member = run("m1", "s1", "COMPLETED");
    member.parent_run_id = Some("r5".into());
    b.store.append_run(&member).await.unwrap();
    let ids = |runs: Vec<Run>| runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
    assert_eq!(ids(b.store.history_runs("s1", 3).await.unwrap()), vec!["r3", "r5", "r7"]);
    assert_eq!(ids(b.store.history_runs("s1", 100).await.unwrap()), vec!["r0", "r1", "r3", "r5", "r7"]);
    assert!(b.store.history_runs("s1", 0).await.unwrap().is_empty());
    assert!(b.store.history_runs("other", 3).await.unwrap().is_empty());
}

async fn memories_are_created_listed_searched_and_deleted(b: &Backend) {
    let mk = |id: &str, user: &str, text: &str, topics: Value| Memory {
        memory_id: id.into(),
        memory: json!(text),
        input: Some("input".into()),
        agent_id: Some("assistant".into()),
        team_id: None,
        user_id: Some(user.into()),
        topics: Some(topics),
        feedback: None,
        created_at: 1_000,
        updated_at: None,
    };
    b.store.upsert_memory(&mk("m1", "u1", "Likes green tea", json!(["food", "drinks"]))).await.unwrap();
    b.store.upsert_memory(&mk("m2", "u1", "Lives in Lyon", json!(["places"]))).await.unwrap();
    b.store.upsert_memory(&mk("m3", "u2", "Likes coffee 100% black", json!(["drinks"]))).await.unwrap();
    let got = b.store.get_memory("m1", Some("u1")).await.unwrap();
    assert_eq!(got.memory, json!("Likes green tea"));
    assert!(matches!(b.store.get_memory("m1", Some("u2")).await, Err(StoreError::NotFound { .. })));
    let q = |user: Option<&str>, topic: Option<&str>, search: Option<&str>| MemoryQuery {
        user_id: user.map(str::to_string),
        topic: topic.map(str::to_string),
        search: search.map(str::to_string),
        ..Default::default()
    };
    assert_eq!(b.store.list_memories(&q(Some("u1"), None, None)).await.unwrap().total, 2);
    assert_eq!(b.store.list_memories(&q(None, Some("drinks"), None)).await.unwrap().total, 2);
    assert_eq!(b.store.list_memories(&q(None, Some("drink"), None)).await.unwrap().total, 0, "topics match whole");
    assert_eq!(b.store.list_memories(&q(None, None, Some("LIKES"))).await.unwrap().total, 2);
    assert_eq!(b.store.list_memories(&q(None, None, Some("100%"))).await.unwrap().total, 1, "% is literal");
    let page =
        b.store.list_memories(&MemoryQuery { limit: Some(2), page: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!((page.total, page.items.len()), (3, 1));
    let mut edited = got.clone();
    edited.memory = json!("Likes green and black tea");
    let saved = b.store.upsert_memory(&edited).await.unwrap();
    assert_eq!(saved.created_at, 1_000);
    b.store.delete_memory("m1").await.unwrap();
    assert!(matches!(b.store.delete_memory("m1").await, Err(StoreError::NotFound { .. })));
}

async fn concurrent_appends_never_share_a_run_index(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = b.store.clone();
        tasks.push(tokio::spawn(async move { store.append_run(&run(&format!("r{i}"), "s1", "COMPLETED")).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut idx: Vec<i64> = b.store.list_runs("s1").await.unwrap().iter().map(|r| r.run_index.unwrap()).collect();
    idx.sort();
    assert_eq!(idx, (0..24).collect::<Vec<_>>());
}

async fn concurrent_state_updates_of_different_keys_all_survive(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = b.store.clone();
        tasks.push(tokio::spawn(async move {
            let patch = json!({ format!("k{i}"): i, "nested": { format!("n{i}"): true } });
            store.update_session_state("s1", patch.as_object().unwrap().clone()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let state = b.store.get_session("s1", None).await.unwrap().session_state().unwrap().clone();
    for i in 0..16 {
        assert_eq!(state[&format!("k{i}")], json!(i));
        assert_eq!(state["nested"][&format!("n{i}")], json!(true));
    }
    assert_eq!(state["cart"], json!([]));
}

#[tokio::test]
async fn a_sqlite_backend_failure_is_not_reported_as_not_found() {
    let b = backend("sqlite").await.unwrap();
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    let agno_run::config::Backend::Sqlite { path } = &b.db.backend else { unreachable!() };
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("DROP TABLE agno_runs").unwrap();
    let err = b.store.get_run("r1").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { backend: "sqlite", .. }), "{err:?}");
    assert!(err.to_string().contains("agno_runs"), "{err}");
}

#[tokio::test]
async fn a_postgres_backend_failure_is_not_reported_as_not_found() {
    let Some(b) = backend("postgres").await else { return };
    let schema = b.pg_schema.clone().unwrap();
    let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(&format!("DROP TABLE \"{schema}\".agno_runs")).await.unwrap();
    let err = b.store.get_run("r1").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { backend: "postgres", .. }), "{err:?}");
    b.cleanup().await;
}

#[tokio::test]
async fn agno_2_double_encoded_json_is_read_as_json() {
    let b = backend("sqlite").await.unwrap();
    let agno_run::config::Backend::Sqlite { path } = &b.db.backend else { unreachable!() };
    let c = rusqlite::Connection::open(path).unwrap();
    let data = serde_json::to_string(&json!({"session_state": {"counter": 1}}).to_string()).unwrap();
    c.execute(
        "INSERT INTO agno_sessions (session_id, session_type, agent_id, session_data, created_at) VALUES ('old', 'agent', 'a', ?1, 1)",
        [&data],
    )
    .unwrap();
    let memory = serde_json::to_string("likes tea").unwrap();
    let topics = serde_json::to_string(&json!(["food"]).to_string()).unwrap();
    c.execute(
        "INSERT INTO agno_memories (memory_id, memory, user_id, topics, created_at) VALUES ('m', ?1, 'u', ?2, 1)",
        [&memory, &topics],
    )
    .unwrap();
    let s = b.store.get_session("old", None).await.unwrap();
    assert_eq!(s.session_state().unwrap()["counter"], json!(1));
    let m = b.store.get_memory("m", None).await.unwrap();
    assert_eq!((m.memory, m.topics), (json!("likes tea"), Some(json!(["food"]))));
    let found = b.store.list_memories(&MemoryQuery { topic: Some("food".into()), ..Default::default() }).await.unwrap();
    assert_eq!(found.total, 1, "topic filter reads double-encoded topics too");
}

#[test]
fn deep_merge_is_exported_for_callers_that_merge_state_themselves() {
    let mut a = json!({"x": {"y": 1}});
    deep_merge(&mut a, &json!({"x": {"z": 2}}));
    assert_eq!(a, json!({"x": {"y": 1, "z": 2}}));
}

/// Appends 100 runs to a session and checks that its own indexes increase. Run alone, it uses a
/// fresh SQLite database; run as a child process by the multi-process tests below, it appends
/// to the database and session they name (AGNO_TEST_APPEND_CONFIG, AGNO_TEST_APPEND_PREFIX).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_worker_gets_increasing_indexes() {
    let (store, _guard) = match std::env::var("AGNO_TEST_APPEND_CONFIG") {
        Ok(path) => {
            let loaded = load(&[PathBuf::from(path)], &LoadOptions::with_env(HashMap::new()));
            let db = loaded.config.unwrap().databases["main"].clone();
            (Store::open(&db).await.unwrap(), None)
        }
        Err(_) => {
            let b = backend("sqlite").await.unwrap();
            b.store.upsert_session(&session("shared", None)).await.unwrap();
            (b.store.clone(), Some(b))
        }
    };
    let prefix = std::env::var("AGNO_TEST_APPEND_PREFIX").unwrap_or_else(|_| "solo".into());
    let mut last = -1;
    for i in 0..100 {
        let r = store.append_run(&run(&format!("{prefix}-{i}"), "shared", "COMPLETED")).await.unwrap();
        let index = r.run_index.unwrap();
        assert!(index > last, "{index} after {last}");
        last = index;
    }
}

/// Starts `n` copies of this test binary running `append_worker_gets_increasing_indexes`
/// against one database and session at the same moment, then checks every run is there with
/// its own index.
async fn processes_append_to_one_session(b: &Backend, n: usize) {
    b.store.upsert_session(&session("shared", None)).await.unwrap();
    let config = b._dir.path().join("app.yaml");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..n)
        .map(|i| {
            std::process::Command::new(&exe)
                .args(["--exact", "append_worker_gets_increasing_indexes", "--test-threads", "1"])
                .env("AGNO_TEST_APPEND_CONFIG", &config)
                .env("AGNO_TEST_APPEND_PREFIX", format!("p{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child ran the worker");
    }
    let runs = b.store.list_runs("shared").await.unwrap();
    assert_eq!(runs.len(), 100 * n, "no run lost");
    let mut idx: Vec<i64> = runs.iter().map(|r| r.run_index.unwrap()).collect();
    idx.sort();
    assert_eq!(idx, (0..(100 * n) as i64).collect::<Vec<_>>(), "every index used once");
}

#[tokio::test]
async fn two_sqlite_processes_appending_to_one_session_lose_nothing() {
    let b = backend("sqlite").await.unwrap();
    processes_append_to_one_session(&b, 2).await;
}

#[tokio::test]
async fn two_postgres_processes_appending_to_one_session_lose_nothing() {
    let Some(b) = backend("postgres").await else { return };
    processes_append_to_one_session(&b, 2).await;
    b.cleanup().await;
}
