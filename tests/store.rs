//! The storage conformance suite: one set of behaviours, run against memory, SQLite and
//! PostgreSQL (a fresh schema per test, dropped after). PostgreSQL tests say they skipped when
//! the local server is unreachable, unless AGNO_TEST_REQUIRE_POSTGRES=1 (CI), where they fail.

use std::collections::HashMap;
use std::path::PathBuf;

use agno_run::config::{DatabaseConfig, LoadOptions, load};
use agno_run::migrate;
use agno_run::run::Runner;
use agno_run::run::reaper;
use agno_run::store::{
    BeginRun, Component, Conflict, Memory, MemoryQuery, Run, RunStatus, RunnerSeen, Session, SessionQuery, SessionRef,
    SessionType, SortBy, Store, StoreError, deep_merge, now,
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
    a_run_on_another_components_session_is_refused_saying_whose_it_is,
    a_different_user_or_no_user_is_refused_on_run_read_rename_and_delete,
    two_concurrent_first_runs_on_one_new_session_keep_both_state_updates,
    a_member_run_is_written_into_its_parents_session_and_never_creates_or_reowns_one,
    finish_run_and_modify_session_roll_back_when_their_change_fails,
    runs_of_a_dead_runner_are_ended_as_error_and_live_ones_are_left_alone,
    a_runner_that_heartbeats_again_keeps_its_runs_and_its_row,
    a_nul_character_from_a_model_is_stored_and_does_not_lose_the_run,
    the_first_run_is_the_first_top_level_one,
    generations_are_recorded_and_listed_newest_first,
    traces_upsert_by_agnos_rules_and_are_listed_filtered_and_grouped,
    daily_usage_is_calculated_per_user_and_day_and_recalculated_in_place,
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
    let mut r = Run::new(id, session_id, SessionType::Agent, status.parse().unwrap());
    r.agent_id = Some("assistant".into());
    r.run_data = json!({
        "run_id": id, "agent_id": "assistant", "session_id": session_id, "content": format!("answer {id}"),
        "status": status, "messages": [{"role": "user", "content": format!("question {id}")}, {"role": "assistant", "content": format!("answer {id}")}],
    });
    r
}

async fn sessions_are_created_read_and_updated_keeping_created_at(b: &Backend) {
    let s = b.store.upsert_session(&session("s1", Some("u1"))).await.unwrap();
    assert_eq!(s.session_type, SessionType::Agent);
    let got = b.store.get_session("s1", Some("u1")).await.unwrap();
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
    assert!(matches!(err, StoreError::Conflict(Conflict::NotOwner { .. })), "{err:?}");
    let err = b.store.get_session("s1", Some("u2")).await.unwrap_err();
    assert_eq!(err.to_string(), "session `s1` belongs to another user", "the owner is not named");
    assert!(matches!(err, StoreError::Conflict(Conflict::NotOwner { .. })), "{err:?}");
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
    b.store.rename_session("s1", "Trip planning", None).await.unwrap();
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
    assert!(matches!(b.store.rename_session("nope", "x", None).await, Err(StoreError::NotFound { .. })));
}

async fn deleting_sessions_deletes_their_runs(b: &Backend) {
    for id in ["s1", "s2", "s3"] {
        b.store.upsert_session(&session(id, None)).await.unwrap();
    }
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    b.store.append_run(&run("r2", "s2", "COMPLETED")).await.unwrap();
    b.store.delete_session("s1", None).await.unwrap();
    assert!(matches!(b.store.get_run("r1").await, Err(StoreError::NotFound { what: "run", .. })));
    assert!(matches!(b.store.delete_session("s1", None).await, Err(StoreError::NotFound { .. })));
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
    let r = b.store.update_run("r2", RunStatus::Completed, &data).await.unwrap();
    assert_eq!(r.status, Some(RunStatus::Completed));
    assert_eq!(b.store.get_run("r2").await.unwrap().run_data["content"], "final");
    let runs = b.store.list_runs("s1").await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run_index.unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    let (s, runs) = b.store.get_session_with_runs("s1", None).await.unwrap();
    assert_eq!((s.session_id.as_str(), runs.len()), ("s1", 5));
    assert!(matches!(b.store.update_run("nope", RunStatus::Completed, &data).await, Err(StoreError::NotFound { .. })));
}

async fn the_first_run_is_the_first_top_level_one(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    assert_eq!(b.store.first_run("s1").await.unwrap(), None);
    let mut member = run("m0", "s1", "COMPLETED");
    member.parent_run_id = Some("r0".into());
    b.store.append_run(&member).await.unwrap();
    b.store.append_run(&run("r0", "s1", "COMPLETED")).await.unwrap();
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    let first = b.store.first_run("s1").await.unwrap().expect("a first run");
    assert_eq!(first.run_id, "r0");
    assert_eq!(first.run_data["messages"][0]["content"], "question r0");
    assert_eq!(b.store.first_run("nope").await.unwrap(), None);
}

async fn generations_are_recorded_and_listed_newest_first(b: &Backend) {
    for (i, at) in [(1, 100), (2, 100), (3, 200)] {
        let record = json!({"number": i, "files": ["app.yaml"]});
        let row = agno_run::store::GenerationRecord {
            generation_id: format!("0000000{i}"),
            number: Some(i),
            loaded: true,
            created_at: at,
            record,
        };
        b.store.record_generation(&row).await.unwrap();
    }
    let listed = b.store.list_generations(10).await.unwrap();
    let numbers: Vec<i64> = listed.iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(b.store.list_generations(1).await.unwrap().len(), 1);
    // A server reloaded in a loop keeps only the newest records.
    let max = agno_run::store::MAX_GENERATION_RECORDS as i64;
    for i in 4..=max + 5 {
        let row = agno_run::store::GenerationRecord {
            generation_id: format!("{i:08}"),
            number: Some(i),
            loaded: true,
            created_at: 300 + i,
            record: json!({"number": i}),
        };
        b.store.record_generation(&row).await.unwrap();
    }
    let kept = b.store.list_generations(5000).await.unwrap();
    assert_eq!(kept.len() as i64, max);
    assert_eq!(kept[0]["number"], max + 5);
    assert_eq!(kept.last().unwrap()["number"], 6);
}

async fn appending_to_a_missing_session_or_twice_the_same_run_is_refused(b: &Backend) {
    assert!(matches!(
        b.store.append_run(&run("r1", "nope", "COMPLETED")).await,
        Err(StoreError::NotFound { what: "session", .. })
    ));
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    assert!(matches!(
        b.store.append_run(&run("r1", "s1", "COMPLETED")).await,
        Err(StoreError::Conflict(Conflict::RunExists { .. }))
    ));
    assert_eq!(b.store.list_runs("s1").await.unwrap().len(), 1);
}

async fn history_is_the_last_n_top_level_runs_that_did_not_fail(b: &Backend) {
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    let statuses =
        ["COMPLETED", "COMPLETED", "ERROR", "COMPLETED", "CANCELLED", "COMPLETED", "PAUSED", "RUNNING", "PENDING"];
    for (i, st) in statuses.iter().enumerate() {
        b.store.append_run(&run(&format!("r{i}"), "s1", st)).await.unwrap();
    }
    let mut member = run("m1", "s1", "COMPLETED");
    member.parent_run_id = Some("r5".into());
    b.store.append_run(&member).await.unwrap();
    let ids = |runs: Vec<Run>| runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
    // Never a run in flight (RUNNING, PENDING), a failed or cancelled one, or a member run.
    assert_eq!(ids(b.store.history_runs("s1", 3).await.unwrap()), vec!["r1", "r3", "r5"]);
    assert_eq!(ids(b.store.history_runs("s1", 100).await.unwrap()), vec!["r0", "r1", "r3", "r5"]);
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
    // Scoped by user: another user can neither move, delete nor clear it.
    let mut stolen = saved.clone();
    stolen.user_id = Some("u2".into());
    stolen.memory = json!("hijacked");
    assert!(matches!(b.store.upsert_memory(&stolen).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(b.store.delete_memory("m1", Some("u2")).await, Err(StoreError::NotFound { .. })));
    let kept = b.store.get_memory("m1", Some("u1")).await.unwrap();
    assert_eq!((kept.memory, kept.user_id.as_deref()), (json!("Likes green and black tea"), Some("u1")));
    b.store.delete_memory("m1", Some("u1")).await.unwrap();
    assert!(matches!(b.store.delete_memory("m1", None).await, Err(StoreError::NotFound { .. })));
    assert_eq!(b.store.clear_memories("u1").await.unwrap(), 1, "only m2 is u1's now");
    assert_eq!(b.store.list_memories(&q(None, None, None)).await.unwrap().total, 1, "u2's memory stays");
    b.store.delete_memory("m3", None).await.unwrap();
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

fn agent(id: &str) -> Component {
    Component::new(SessionType::Agent, id)
}

/// A RUNNING run of `component` in `session_id`, naming `runner` in its `run_data`.
fn running(run_id: &str, session_id: &str, component: &Component, runner: Option<&str>) -> Run {
    let mut r = Run::new(run_id, session_id, component.kind, RunStatus::Running);
    match component.kind {
        SessionType::Agent => r.agent_id = component.id.clone(),
        SessionType::Team => r.team_id = component.id.clone(),
        SessionType::Workflow => r.workflow_id = component.id.clone(),
    }
    r.run_data = json!({"run_id": run_id, "status": "RUNNING", "input": {"input_content": "q"}});
    if let Some(id) = runner {
        r.run_data["runner"] = json!({"id": id, "host": "h", "pid": 1, "started_at": 1});
    }
    r
}

/// A top-level run's start: creates the session of `owner` (with `state`) when absent.
fn begin_top(session_id: &str, owner: &Component, user: Option<&str>, run_id: &str, state: Value) -> BeginRun {
    let mut new = Session::new(session_id, owner.kind, owner.id.clone().unwrap());
    new.user_id = user.map(str::to_string);
    new.session_data = Some(json!({"session_state": state}));
    let mut r = running(run_id, session_id, owner, None);
    r.user_id = new.user_id.clone();
    BeginRun {
        session: SessionRef { id: session_id.into(), owner: owner.clone() },
        user_id: user.map(str::to_string),
        new_session: Some(new),
        history_runs: 3,
        run: r,
    }
}

fn state_change(patch: Value) -> agno_run::store::SessionChange {
    Box::new(move |s: &mut Session| {
        let data = s.session_data.get_or_insert_with(|| json!({}));
        let st = data.as_object_mut().unwrap().entry("session_state").or_insert_with(|| json!({}));
        deep_merge(st, &patch);
        Ok(())
    })
}

async fn a_run_on_another_components_session_is_refused_saying_whose_it_is(b: &Backend) {
    b.store.begin_run(begin_top("s1", &agent("alpha"), None, "r1", json!({}))).await.unwrap();
    let err = b.store.begin_run(begin_top("s1", &agent("beta"), None, "r2", json!({}))).await.unwrap_err();
    match &err {
        StoreError::Conflict(Conflict::WrongSession { session_id, owner, wanted }) => {
            assert_eq!(session_id, "s1");
            assert_eq!(owner, &agent("alpha"));
            assert_eq!(wanted, &agent("beta"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "session `s1` belongs to agent `alpha`; agent `beta` cannot run in it");
    let team = Component::new(SessionType::Team, "alpha");
    let err = b.store.begin_run(begin_top("s1", &team, None, "r3", json!({}))).await.unwrap_err();
    assert!(err.to_string().contains("belongs to agent `alpha`; team `alpha`"), "{err}");
    let (s, runs) = b.store.get_session_with_runs("s1", None).await.unwrap();
    assert_eq!((s.agent_id.as_deref(), runs.len()), (Some("alpha"), 1), "nothing written by the refused runs");
}

async fn a_different_user_or_no_user_is_refused_on_run_read_rename_and_delete(b: &Backend) {
    let a = agent("assistant");
    b.store.begin_run(begin_top("owned", &a, Some("alice"), "r1", json!({}))).await.unwrap();
    b.store.begin_run(begin_top("open", &a, None, "r2", json!({}))).await.unwrap();
    let refused = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::Conflict(Conflict::NotOwner { .. }))), "{r:?}");
    };
    for (session, user) in [("owned", Some("bob")), ("owned", None), ("open", Some("alice"))] {
        refused(b.store.begin_run(begin_top(session, &a, user, "rx", json!({}))).await.map(|_| ()));
        refused(b.store.get_session(session, user).await.map(|_| ()));
        refused(b.store.get_session_with_runs(session, user).await.map(|_| ()));
        refused(b.store.rename_session(session, "mine now", user).await.map(|_| ()));
        refused(b.store.delete_session(session, user).await);
    }
    let s = b.store.get_session("owned", Some("alice")).await.unwrap();
    assert_eq!((s.user_id.as_deref(), s.session_name()), (Some("alice"), None), "not re-owned, not renamed");
    assert_eq!(b.store.list_runs("owned").await.unwrap().len(), 1);
    assert!(b.store.get_session("open", None).await.is_ok());
    // The owner, and no user on a session without one, are let in.
    b.store.begin_run(begin_top("owned", &a, Some("alice"), "r3", json!({}))).await.unwrap();
    b.store.rename_session("owned", "Alice's", Some("alice")).await.unwrap();
    b.store.delete_session("open", None).await.unwrap();
    // A caller without a user lists only sessions without one.
    b.store.begin_run(begin_top("open2", &a, None, "r4", json!({}))).await.unwrap();
    let q = SessionQuery { anonymous: true, ..Default::default() };
    let listed: Vec<String> =
        b.store.list_sessions(&q).await.unwrap().items.into_iter().map(|s| s.session_id).collect();
    assert_eq!(listed, ["open2"]);
}

async fn two_concurrent_first_runs_on_one_new_session_keep_both_state_updates(b: &Backend) {
    let a = agent("assistant");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = b.store.clone();
        let begin = begin_top("fresh", &a, None, &format!("r{i}"), json!({"count": 0}));
        tasks.push(tokio::spawn(async move {
            let begun = store.begin_run(begin).await?;
            let data = json!({"run_id": format!("r{i}"), "status": "COMPLETED"});
            let patch = json!({ format!("k{i}"): i });
            store.finish_run(&begun.run.run_id, RunStatus::Completed, &data, "fresh", state_change(patch)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (s, runs) = b.store.get_session_with_runs("fresh", None).await.unwrap();
    let state = s.session_state().unwrap();
    for i in 0..8 {
        assert_eq!(state[&format!("k{i}")], json!(i), "{state:?}");
    }
    assert_eq!(state["count"], json!(0));
    let mut idx: Vec<i64> = runs.iter().map(|r| r.run_index.unwrap()).collect();
    idx.sort();
    assert_eq!(idx, (0..8).collect::<Vec<_>>());
}

async fn a_member_run_is_written_into_its_parents_session_and_never_creates_or_reowns_one(b: &Backend) {
    let team = Component::new(SessionType::Team, "desk");
    let member = agent("writer");
    let orphan = BeginRun {
        session: SessionRef { id: "nope".into(), owner: team.clone() },
        user_id: None,
        new_session: None,
        history_runs: 0,
        run: running("m0", "nope", &member, None),
    };
    assert!(matches!(b.store.begin_run(orphan).await, Err(StoreError::NotFound { what: "session", .. })));
    assert!(matches!(b.store.get_session("nope", None).await, Err(StoreError::NotFound { .. })));

    let parent = b.store.begin_run(begin_top("t1", &team, Some("u"), "lead", json!({}))).await.unwrap();
    let mut child = running("m1", "t1", &member, None);
    child.parent_run_id = Some(parent.run.run_id.clone());
    child.user_id = Some("u".into());
    let begun = b
        .store
        .begin_run(BeginRun {
            session: SessionRef { id: "t1".into(), owner: team.clone() },
            user_id: Some("u".into()),
            new_session: None,
            history_runs: 0,
            run: child,
        })
        .await
        .unwrap();
    assert_eq!(begun.session.owner(), team);
    let stored = b.store.get_run("m1").await.unwrap();
    assert_eq!(
        (stored.run_type, stored.agent_id.as_deref(), stored.team_id.as_deref(), stored.parent_run_id.as_deref()),
        (SessionType::Agent, Some("writer"), None, Some("lead"))
    );
    let s = b.store.get_session("t1", Some("u")).await.unwrap();
    assert_eq!((s.session_type, s.team_id.as_deref(), s.agent_id.as_deref()), (SessionType::Team, Some("desk"), None));
    assert!(b.store.history_runs("t1", 5).await.unwrap().is_empty(), "member runs are never history");
}

async fn finish_run_and_modify_session_roll_back_when_their_change_fails(b: &Backend) {
    let a = agent("assistant");
    let begun = b.store.begin_run(begin_top("s1", &a, None, "r1", json!({"kept": true}))).await.unwrap();
    let before = b.store.get_session("s1", None).await.unwrap();
    // The change edits the session, then fails: neither its edit nor the run's end is written.
    let failing = || -> agno_run::store::SessionChange {
        Box::new(|s: &mut Session| {
            s.metadata = Some(json!({"half": "written"}));
            s.session_data = Some(json!({"session_state": {"kept": false}}));
            Err(StoreError::Invalid("the change failed".into()))
        })
    };
    let data = json!({"run_id": "r1", "status": "COMPLETED", "content": "done"});
    let err = b.store.finish_run(&begun.run.run_id, RunStatus::Completed, &data, "s1", failing()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let run = b.store.get_run("r1").await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Running), "the run's end rolled back");
    assert_eq!(run.run_data["status"], "RUNNING");
    let err = b.store.modify_session("s1", failing()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let after = b.store.get_session("s1", None).await.unwrap();
    assert_eq!(after.metadata, before.metadata);
    assert_eq!(after.session_data, before.session_data);
    // A change on a session that does not exist fails as not found, and writes nothing.
    let err =
        b.store.finish_run("r1", RunStatus::Completed, &data, "missing", state_change(json!({}))).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "session", .. }), "{err:?}");
    assert_eq!(b.store.get_run("r1").await.unwrap().status, Some(RunStatus::Running));
}

/// A model may answer with a NUL character, which PostgreSQL's JSONB refuses: the run still ends
/// and its answer and state are kept, with the NUL as U+FFFD there and as written elsewhere.
async fn a_nul_character_from_a_model_is_stored_and_does_not_lose_the_run(b: &Backend) {
    let a = agent("assistant");
    let mut begin = begin_top("s1", &a, None, "r1", json!({"note": "n\u{0}1", "k\u{0}": 1}));
    begin.run.run_data["input"]["input_content"] = json!("q\u{0}");
    b.store.begin_run(begin).await.unwrap();
    let nul = if b.pg_schema.is_some() { "\u{FFFD}" } else { "\u{0}" };
    assert_eq!(b.store.get_run("r1").await.unwrap().run_data["input"]["input_content"], format!("q{nul}"));
    let data = json!({"run_id": "r1", "status": "COMPLETED", "content": "a\u{0}b", "messages": [{"role": "assistant", "content": "\u{0}"}]});
    b.store
        .finish_run("r1", RunStatus::Completed, &data, "s1", state_change(json!({"last": "x\u{0}y"})))
        .await
        .unwrap();
    let run = b.store.get_run("r1").await.unwrap();
    assert_eq!(run.status, Some(RunStatus::Completed));
    assert_eq!(run.run_data["content"], format!("a{nul}b"));
    assert_eq!(run.run_data["messages"][0]["content"], nul);
    let state = &b.store.get_session("s1", None).await.unwrap().session_data.unwrap()["session_state"];
    assert_eq!(state["note"], format!("n{nul}1"));
    assert_eq!(state[format!("k{nul}")], 1);
    assert_eq!(state["last"], format!("x{nul}y"));
}

async fn runs_of_a_dead_runner_are_ended_as_error_and_live_ones_are_left_alone(b: &Backend) {
    let me = Runner::current();
    let t = b.store.clock().await.unwrap();
    assert!((t - now()).abs() < 5, "the database's clock is the host's here: {t} vs {}", now());
    // A runner on another host whose lease lapsed, one on another host that is fresh, one on
    // this host whose process is gone, and this process itself.
    let mut lapsed = me.row(t);
    lapsed.runner_id = "lapsed".into();
    lapsed.host_key = Some("elsewhere".into());
    let mut fresh = me.row(t);
    fresh.runner_id = "fresh".into();
    fresh.host_key = Some("elsewhere".into());
    let mut dead = me.row(t);
    dead.runner_id = "dead".into();
    dead.pid = i64::from(u32::MAX - 3);
    for r in [&lapsed, &fresh, &dead, &me.row(t)] {
        b.store.register_runner(r).await.unwrap();
    }
    assert!(b.store.expire_runner("lapsed").await.unwrap());
    assert!(!b.store.expire_runner("nobody").await.unwrap());
    let a = agent("assistant");
    b.store.begin_run(begin_top("s1", &a, None, "done", json!({}))).await.unwrap();
    b.store
        .finish_run("done", RunStatus::Completed, &json!({"status": "COMPLETED"}), "s1", state_change(json!({})))
        .await
        .unwrap();
    let mine = me.id.clone();
    for (run_id, runner) in [
        ("r-lapsed", Some("lapsed")),
        ("r-fresh", Some("fresh")),
        ("r-dead", Some("dead")),
        ("r-ghost", Some("ghost")),
        ("r-agno", None),
        ("r-mine", Some(mine.as_str())),
    ] {
        b.store.append_run(&running(run_id, "s1", &a, runner)).await.unwrap();
    }
    let in_flight = b.store.in_flight_runs().await.unwrap();
    assert_eq!(in_flight.len(), 6);
    assert_eq!(in_flight.iter().find(|r| r.run_id == "r-fresh").unwrap().runner_id.as_deref(), Some("fresh"));

    // Without this process's registry, its own run is left alone.
    let mut reaped = reaper::reap(&b.store, &me, None).await.unwrap();
    reaped.sort_by(|x, y| x.run_id.cmp(&y.run_id));
    let ids: Vec<&str> = reaped.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["r-dead", "r-ghost", "r-lapsed"]);
    for r in &reaped {
        let run = b.store.get_run(&r.run_id).await.unwrap();
        assert_eq!(run.status, Some(RunStatus::Error));
        assert_eq!(run.run_data["status"], "ERROR");
        assert_eq!(run.run_data["content"], json!(r.reason));
        assert_eq!(run.run_data["input"]["input_content"], "q", "what the run was asked is kept");
    }
    assert!(reaped[0].reason.contains("no longer running"), "{}", reaped[0].reason);
    assert!(reaped[2].reason.contains("stopped heartbeating"), "{}", reaped[2].reason);
    for live in ["r-fresh", "r-agno", "r-mine"] {
        assert_eq!(b.store.get_run(live).await.unwrap().status, Some(RunStatus::Running), "{live}");
    }
    let mut runners: Vec<String> = b.store.runners().await.unwrap().into_iter().map(|r| r.runner_id).collect();
    runners.sort();
    let mut expected = vec!["fresh".to_string(), mine.clone()];
    expected.sort();
    assert_eq!(runners, expected, "the rows of dead runners are removed");
    // A run that ended meanwhile is never overwritten.
    assert!(!b.store.reap_run("done", "late", None).await.unwrap());
    assert_eq!(b.store.get_run("done").await.unwrap().status, Some(RunStatus::Completed));
    assert!(b.store.heartbeat_runner("fresh").await.unwrap());
    assert!(!b.store.heartbeat_runner("lapsed").await.unwrap(), "a removed runner learns it was taken for dead");

    // With this process's registry (which holds none of these runs), its own orphan is ended.
    let registry = agno_run::run::Registry::default();
    let reaped = reaper::reap(&b.store, &me, Some(&registry)).await.unwrap();
    assert_eq!(reaped.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["r-mine"]);
    assert!(reaped[0].reason.contains("could not be stored"), "{}", reaped[0].reason);
}

async fn a_runner_that_heartbeats_again_keeps_its_runs_and_its_row(b: &Backend) {
    let me = Runner::current();
    let t = b.store.clock().await.unwrap();
    let mut back = me.row(t);
    back.runner_id = "back".into();
    back.host_key = Some("elsewhere".into());
    b.store.register_runner(&back).await.unwrap();
    b.store.begin_run(begin_top("s1", &agent("assistant"), None, "first", json!({}))).await.unwrap();
    b.store.append_run(&running("r-back", "s1", &agent("assistant"), Some("back"))).await.unwrap();
    // A reaper saw it stale (heartbeat 0); before it writes, the runner heartbeats again.
    b.store.expire_runner("back").await.unwrap();
    let seen = RunnerSeen { runner_id: "back".into(), heartbeat_at: Some(0) };
    assert!(b.store.heartbeat_runner("back").await.unwrap());
    assert!(!b.store.reap_run("r-back", "stale", Some(&seen)).await.unwrap(), "a runner that came back keeps its run");
    assert!(!b.store.remove_stale_runner("back", 0).await.unwrap(), "and its row");
    assert_eq!(b.store.get_run("r-back").await.unwrap().status, Some(RunStatus::Running));
    assert_eq!(b.store.runners().await.unwrap().len(), 1);
    // Seen without a row: a row that appears meanwhile protects its runs too.
    let ghost = RunnerSeen { runner_id: "back".into(), heartbeat_at: None };
    assert!(!b.store.reap_run("r-back", "no record", Some(&ghost)).await.unwrap());
}

#[tokio::test]
async fn an_unknown_status_or_session_type_in_a_sqlite_row_is_an_error_naming_the_column() {
    let b = backend("sqlite").await.unwrap();
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    let agno_run::config::Backend::Sqlite { path } = &b.db.backend else { unreachable!() };
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("UPDATE agno_runs SET status = 'FINISHED'; UPDATE agno_sessions SET session_type = 'robot'")
        .unwrap();
    let err = b.store.get_run("r1").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("status") && err.to_string().contains("FINISHED"), "{err}");
    let err = b.store.get_session("s1", None).await.unwrap_err();
    assert!(err.to_string().contains("session_type") && err.to_string().contains("robot"), "{err}");
}

#[tokio::test]
async fn an_unknown_status_or_a_column_of_another_type_in_a_postgres_row_is_an_error_naming_the_column() {
    let Some(b) = backend("postgres").await else { return };
    b.store.upsert_session(&session("s1", None)).await.unwrap();
    b.store.append_run(&run("r1", "s1", "COMPLETED")).await.unwrap();
    let schema = b.pg_schema.clone().unwrap();
    let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(&format!("UPDATE \"{schema}\".agno_runs SET status = 'FINISHED'")).await.unwrap();
    let err = b.store.get_run("r1").await.unwrap_err();
    assert!(err.to_string().contains("status") && err.to_string().contains("FINISHED"), "{err}");
    // An adopted table whose column has another type: an error naming table and column, no panic.
    client
        .batch_execute(&format!("ALTER TABLE \"{schema}\".agno_sessions ALTER COLUMN created_at TYPE TEXT"))
        .await
        .unwrap();
    let err = b.store.get_session("s1", None).await.unwrap_err();
    assert!(err.to_string().contains("agno_sessions") && err.to_string().contains("created_at"), "{err}");
    b.cleanup().await;
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

fn trace_row(id: &str, name: &str, start: &str, end: &str, status: &str) -> agno_run::store::traces::TraceRow {
    agno_run::store::traces::TraceRow {
        trace_id: id.into(),
        name: name.into(),
        status: status.into(),
        start_time: start.into(),
        end_time: end.into(),
        duration_ms: 0,
        run_id: None,
        session_id: None,
        user_id: None,
        agent_id: None,
        team_id: None,
        workflow_id: None,
        created_at: start.into(),
    }
}

fn span_row(id: &str, trace: &str, parent: Option<&str>, name: &str, status: &str) -> agno_run::store::traces::SpanRow {
    agno_run::store::traces::SpanRow {
        span_id: id.into(),
        trace_id: trace.into(),
        parent_span_id: parent.map(str::to_string),
        name: name.into(),
        span_kind: "INTERNAL".into(),
        status_code: status.into(),
        status_message: (status == "ERROR").then(|| "boom".to_string()),
        start_time: "2026-12-04T10:00:00.000000+00:00".into(),
        end_time: "2026-12-04T10:00:01.000000+00:00".into(),
        duration_ms: 1000,
        attributes: json!({"input.value": format!("in {id}"), "openinference.span.kind": "AGENT"}),
        created_at: "2026-12-04T10:00:02.000000+00:00".into(),
    }
}

async fn traces_upsert_by_agnos_rules_and_are_listed_filtered_and_grouped(b: &Backend) {
    use agno_run::store::traces::{Cond, Op, TraceBatch, TraceQuery};
    // A child-only batch first (a member's spans end before the root's): no context columns.
    let child = trace_row(
        "t1",
        "OpenAIChat.invoke",
        "2026-12-04T10:00:00.500000+00:00",
        "2026-12-04T10:00:01.000000+00:00",
        "ERROR",
    );
    let batch =
        TraceBatch { traces: vec![child], spans: vec![span_row("s2", "t1", Some("s1"), "OpenAIChat.invoke", "ERROR")] };
    b.store.write_traces(&batch).await.unwrap();
    // Then the root's batch: earlier start, later end, the agent's name and context.
    let mut root =
        trace_row("t1", "Calc_Agent.run", "2026-12-04T10:00:00.000000+00:00", "2026-12-04T10:00:02.000000+00:00", "OK");
    root.agent_id = Some("calc".into());
    root.session_id = Some("sess-1".into());
    root.run_id = Some("run-1".into());
    root.user_id = Some("u1".into());
    let batch = TraceBatch { traces: vec![root], spans: vec![span_row("s1", "t1", None, "Calc_Agent.run", "OK")] };
    b.store.write_traces(&batch).await.unwrap();
    // The same batch again (an export retried) changes nothing.
    b.store.write_traces(&batch).await.unwrap();
    let mut other =
        trace_row("t2", "Other.run", "2026-12-04T11:00:00.000000+00:00", "2026-12-04T11:00:00.100000+00:00", "OK");
    other.session_id = Some("sess-2".into());
    other.agent_id = Some("other".into());
    b.store
        .write_traces(&TraceBatch { traces: vec![other], spans: vec![span_row("s3", "t2", None, "Other.run", "OK")] })
        .await
        .unwrap();

    let t = b.store.get_trace("t1").await.unwrap().expect("t1");
    assert_eq!(t.trace.name, "Calc_Agent.run", "the root's name replaces the child's");
    assert_eq!(t.trace.start_time, "2026-12-04T10:00:00.000000+00:00");
    assert_eq!(t.trace.end_time, "2026-12-04T10:00:02.000000+00:00");
    assert_eq!(t.trace.duration_ms, 2000);
    assert_eq!(t.trace.status, "OK", "the last batch's status, as Agno");
    assert_eq!(t.trace.agent_id.as_deref(), Some("calc"));
    assert_eq!((t.total_spans, t.error_count), (2, 1));
    assert_eq!(t.input.as_deref(), Some("in s1"), "the root span's input");
    assert_eq!(b.store.trace_spans("t1").await.unwrap().len(), 2);
    assert!(b.store.get_trace("missing").await.unwrap().is_none());

    let all = b.store.list_traces(&TraceQuery { limit: 20, page: 1, ..Default::default() }).await.unwrap();
    assert_eq!(all.total, 2);
    assert_eq!(all.items[0].trace.trace_id, "t2", "newest first");
    let by_agent = TraceQuery { eq: vec![("agent_id", "calc".into())], limit: 20, page: 1, ..Default::default() };
    assert_eq!(b.store.list_traces(&by_agent).await.unwrap().items.len(), 1);
    let searched = TraceQuery {
        expr: Some(Cond::And(vec![
            Cond::Cmp("name", Op::Contains, json!("CALC")),
            Cond::Not(Box::new(Cond::In("status", vec![json!("ERROR")]))),
            Cond::Cmp("duration_ms", Op::Gte, json!(1500)),
        ])),
        limit: 20,
        page: 1,
        ..Default::default()
    };
    let found = b.store.list_traces(&searched).await.unwrap();
    assert_eq!(found.items.iter().map(|t| t.trace.trace_id.as_str()).collect::<Vec<_>>(), ["t1"]);
    // SQL's three-valued logic on every backend: a NULL column is neither equal nor unequal.
    let not_team = TraceQuery {
        expr: Some(Cond::Not(Box::new(Cond::Cmp("team_id", Op::Eq, json!("x"))))),
        limit: 20,
        page: 1,
        ..Default::default()
    };
    assert_eq!(b.store.list_traces(&not_team).await.unwrap().total, 0);
    let no_or = TraceQuery { expr: Some(Cond::Or(Vec::new())), limit: 20, page: 1, ..Default::default() };
    assert_eq!(b.store.list_traces(&no_or).await.unwrap().total, 0, "OR of nothing is false");
    let since =
        TraceQuery { from: Some("2026-12-04T10:30:00.000000+00:00".into()), limit: 20, page: 1, ..Default::default() };
    assert_eq!(b.store.list_traces(&since).await.unwrap().total, 1);
    let page2 = b.store.list_traces(&TraceQuery { limit: 1, page: 2, ..Default::default() }).await.unwrap();
    assert_eq!((page2.items.len(), page2.total, page2.items[0].trace.trace_id.as_str()), (1, 2, "t1"));

    let stats = b.store.trace_session_stats(&TraceQuery { limit: 20, page: 1, ..Default::default() }).await.unwrap();
    assert_eq!(stats.total, 2);
    let s1 = stats.items.iter().find(|s| s.session_id == "sess-1").unwrap();
    assert_eq!((s1.total_traces, s1.user_id.as_deref(), s1.agent_id.as_deref()), (1, Some("u1"), Some("calc")));
}

async fn daily_usage_is_calculated_per_user_and_day_and_recalculated_in_place(b: &Backend) {
    assert!(b.store.calculate_usage().await.unwrap().is_empty(), "no session, nothing to count");
    let metrics =
        |i: i64| json!({"session_metrics": {"input_tokens": i, "output_tokens": 2 * i, "total_tokens": 3 * i}});
    for (id, user, tokens) in [("u-a", Some("alice"), 10), ("u-b", Some("alice"), 5), ("u-c", None, 1)] {
        let mut s = session(id, user);
        s.session_data = Some(metrics(tokens));
        b.store.upsert_session(&s).await.unwrap();
        let mut r = run(&format!("{id}-r"), id, "COMPLETED");
        r.run_data["model"] = json!("gpt-4o-mini");
        r.run_data["model_provider"] = json!("OpenAI");
        b.store.append_run(&r).await.unwrap();
    }
    let mut t = Session::new("u-t", SessionType::Team, "crew");
    t.user_id = Some("bob".into());
    b.store.upsert_session(&t).await.unwrap();
    let mut r = Run::new("u-t-r", "u-t", SessionType::Team, RunStatus::Completed);
    r.run_data = json!({"model": "other", "model_provider": "X"});
    b.store.append_run(&r).await.unwrap();

    let rows = b.store.calculate_usage().await.unwrap();
    assert_eq!(rows.len(), 3, "one row per owner of today: alice, bob and no one");
    let listed = b.store.list_usage(None, None, None).await.unwrap();
    assert_eq!(listed.len(), 3);
    let alice = b.store.list_usage(None, None, Some("alice")).await.unwrap();
    assert_eq!(alice.len(), 1);
    let a = &alice[0];
    assert_eq!((a.agent_sessions_count, a.agent_runs_count, a.users_count), (2, 2, 1));
    assert_eq!(a.token_metrics["input_tokens"], 15);
    assert_eq!(a.token_metrics["total_tokens"], 45);
    assert_eq!(a.token_metrics["reasoning_tokens"], 0);
    assert_eq!(a.model_metrics, json!([{"model_id": "gpt-4o-mini", "model_provider": "OpenAI", "count": 2}]));
    assert!(!a.completed, "today is never completed");
    let nobody = b.store.list_usage(None, None, Some("")).await.unwrap();
    assert_eq!((nobody[0].users_count, nobody[0].agent_runs_count), (0, 1));
    let bob = b.store.list_usage(None, None, Some("bob")).await.unwrap();
    assert_eq!((bob[0].team_sessions_count, bob[0].team_runs_count), (1, 1));
    let merged = agno_run::store::usage::by_date(&listed);
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].users_count, 2);
    assert_eq!(merged[0].agent_runs_count, 3);
    assert_eq!(merged[0].model_metrics.as_array().unwrap().len(), 2);

    // Recalculating today updates the same rows (same id), with the new counts.
    let mut r = run("u-a-r2", "u-a", "COMPLETED");
    r.run_data["model"] = json!("gpt-4o-mini");
    r.run_data["model_provider"] = json!("OpenAI");
    b.store.append_run(&r).await.unwrap();
    b.store.calculate_usage().await.unwrap();
    let again = b.store.list_usage(None, None, Some("alice")).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, a.id, "the row is updated in place");
    assert_eq!(again[0].agent_runs_count, 3);
    let before = b.store.list_usage(Some("2000-01-01"), Some("2000-12-31"), None).await.unwrap();
    assert!(before.is_empty());
}
