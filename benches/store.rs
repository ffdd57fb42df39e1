//! Benchmark: append 10,000 runs to one session and print the append and history-read latency
//! near run 10 and near run 10,000, on SQLite and PostgreSQL. The two are measured in
//! interleaved rounds (a short session and the long one), so that background load on a shared
//! machine affects both alike.
//!
//! `cargo bench --bench store`. Goals: the two are within 20% of each other (cost does not grow
//! with the session) and an SQLite append plus a history read is under 0.5 ms. PostgreSQL is the
//! local server (postgresql://postgres@127.0.0.1:5432/test, a throwaway schema); it is skipped
//! with a message when unreachable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::migrate;
use agno_run::store::{Run, RunStatus, Session, SessionType, Store};
use serde_json::json;

const RUNS: usize = 10_000;
/// Interleaved measuring rounds (medians are taken over these).
const ROUNDS: usize = 200;
const HISTORY: u32 = 3;

fn run_data(i: usize) -> serde_json::Value {
    let text = "lorem ipsum dolor sit amet ".repeat(20);
    json!({
        "run_id": format!("r{i}"), "agent_id": "assistant", "agent_name": "Assistant", "session_id": "bench",
        "content": text, "content_type": "str", "model": "gpt-4o-mini", "model_provider": "OpenAI", "status": "COMPLETED",
        "metrics": {"input_tokens": 120, "output_tokens": 80, "total_tokens": 200},
        "messages": [
            {"id": format!("m{i}a"), "role": "user", "content": format!("question {i} {text}"), "from_history": false, "created_at": 1},
            {"id": format!("m{i}b"), "role": "assistant", "content": text, "from_history": false, "created_at": 1}
        ],
        "tools": [], "input": {"input_content": format!("question {i}")}
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn bench(name: &str, yaml: String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let db = loaded.config.expect("valid config").databases["main"].clone();
    migrate::apply(&db, &migrate::Options::default(), &mut |_| {}).await.expect("migrate");
    let store = Store::open(&db).await.expect("open");
    for id in ["long", "short"] {
        store.upsert_session(&Session::new(id, SessionType::Agent, "assistant")).await.expect("session");
    }
    let append = |session: &'static str, i: usize| {
        let store = store.clone();
        async move {
            let mut run = Run::new(format!("{session}-{i}"), session, SessionType::Agent, RunStatus::Completed);
            run.run_data = run_data(i);
            let t = Instant::now();
            store.append_run(&run).await.expect("append");
            t.elapsed()
        }
    };
    let history = |session: &'static str| {
        let store = store.clone();
        async move {
            let t = Instant::now();
            let runs = store.history_runs(session, HISTORY).await.expect("history");
            assert_eq!(runs.len(), HISTORY as usize);
            t.elapsed()
        }
    };
    let start = Instant::now();
    for i in 0..RUNS - ROUNDS {
        append("long", i).await;
    }
    let fill = start.elapsed();
    for i in 0..10 {
        append("short", i).await;
    }
    // Interleaved rounds: both sessions are measured under the same background load, so the
    // ratio is fair on a shared machine. "long" ends at run 10,000, "short" stays near run 10.
    let (mut short_append, mut short_history, mut long_append, mut long_history) = (vec![], vec![], vec![], vec![]);
    for k in 0..ROUNDS {
        short_append.push(append("short", 10 + k).await);
        long_append.push(append("long", RUNS - ROUNDS + k).await);
        short_history.push(history("short").await);
        long_history.push(history("long").await);
    }
    let (ea, eh, la, lh) = (median(short_append), median(short_history), median(long_append), median(long_history));
    println!(
        "{name}: filled a session with {} runs in {:.2} s ({:.0} appends/s)",
        RUNS - ROUNDS,
        fill.as_secs_f64(),
        (RUNS - ROUNDS) as f64 / fill.as_secs_f64()
    );
    println!(
        "  near run 10:     append {:>7.0} µs   history({HISTORY}) {:>7.0} µs   sum {:>7.0} µs",
        us(ea),
        us(eh),
        us(ea + eh)
    );
    println!(
        "  near run 10,000: append {:>7.0} µs   history({HISTORY}) {:>7.0} µs   sum {:>7.0} µs",
        us(la),
        us(lh),
        us(la + lh)
    );
    println!(
        "  long / short: append {:.2}x, history {:.2}x, sum {:.2}x (goal: within 1.20x)",
        us(la) / us(ea),
        us(lh) / us(eh),
        us(la + lh) / us(ea + eh)
    );
    if let agno_run::config::Backend::Postgres { schema, .. } = &db.backend {
        let (client, conn) =
            tokio_postgres::connect("postgresql://postgres@127.0.0.1:5432/test", tokio_postgres::NoTls)
                .await
                .expect("pg");
        tokio::spawn(conn);
        client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.expect("drop schema");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("medians over {ROUNDS} interleaved rounds; per-call times include the async hand-off to the database");
    bench("sqlite", "version: 1\ndatabases:\n  main: {type: sqlite, db_file: bench.db}\n".into()).await;
    let url = "postgresql://postgres@127.0.0.1:5432/test";
    if tokio_postgres::connect(url, tokio_postgres::NoTls).await.is_ok() {
        let schema = format!("bench_{}", std::process::id());
        bench(
            "postgres",
            format!("version: 1\ndatabases:\n  main: {{type: postgres, db_url: \"{url}\", db_schema: {schema}}}\n"),
        )
        .await;
    } else {
        println!("postgres: skipped, the local server at 127.0.0.1:5432 is not reachable");
    }
}
