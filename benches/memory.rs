//! Benchmark: the answer's latency with `update_memory_on_run` (and session summaries) on, as a
//! ratio to the same agent with them off — the memory work runs after the answer, so the goal is
//! a ratio of 1.0.
//!
//! `cargo bench --bench memory`. A fake OpenAI-compatible server on loopback answers the agent
//! after 20 ms and the memory and summary models after 200 ms (a memory model is a second model
//! call; here it is made ten times slower than the answer so that any wait for it shows). Each
//! pass runs 40 runs in one session and times each from its start to its `RunCompleted` event
//! (what a streaming client and `agno-run run` show as the answer); the memory work of one run
//! overlaps the next run, as on a server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, EventKind, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/fake_server.rs"]
mod fake_server;

const RUNS: usize = 40;

async fn generation(dir: &std::path::Path, url: &str, memory: bool) -> Arc<Generation> {
    let extra = if memory { "    update_memory_on_run: true\n    enable_session_summaries: true\n" } else { "" };
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: sqlite, db_file: bench.db}}\nmodels:\n  m: {{provider: openai, id: gpt-bench, base_url: \"{url}\", api_key: k}}\nagents:\n  bench:\n    model: m\n    instructions: Be brief.\n{extra}"
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let g = Generation::build(config, None, Process::new(), Options::default());
    g.store("main").await.expect("open the database");
    g
}

/// Median and p90 of the answer's latency over `RUNS` runs.
async fn pass(g: &Arc<Generation>) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let input = RunInput {
            message: format!("I like tea number {i}"),
            session_id: Some("bench".into()),
            user_id: Some("u".into()),
            ..Default::default()
        };
        let request = RunRequest { target: Component::new(SessionType::Agent, "bench"), input, parent: None };
        let t0 = Instant::now();
        let mut handle = runtime::start(g, request).await.expect("start");
        let root = handle.run_id().to_string();
        while let Some(e) = handle.next_event().await {
            if e.run_id == root && matches!(e.kind, EventKind::RunCompleted { .. }) {
                break;
            }
        }
        times.push(t0.elapsed());
        handle.result().await.expect("the run completes");
    }
    g.process().registry().idle().await;
    times.sort();
    (times[RUNS / 2], times[RUNS * 9 / 10])
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let answer = fake_server::text("Noted.");
        let summary = fake_server::text(r#"{"summary": "The user likes tea.", "topics": ["tea"]}"#);
        let url = fake_server::start(Arc::new(move |req| {
            let system = req.pointer("/messages/0/content").and_then(|c| c.as_str()).unwrap_or_default();
            if system.starts_with("You are a Memory Manager") {
                (fake_server::text("No changes."), Duration::from_millis(200))
            } else if system.starts_with("Analyze the following conversation") {
                (summary.clone(), Duration::from_millis(200))
            } else {
                (answer.clone(), Duration::from_millis(20))
            }
        }))
        .await;
        let off_dir = tempfile::tempdir().expect("tempdir");
        let on_dir = tempfile::tempdir().expect("tempdir");
        let off = generation(off_dir.path(), &url, false).await;
        let on = generation(on_dir.path(), &url, true).await;
        pass(&off).await; // warm-up
        let (off_median, off_p90) = pass(&off).await;
        let (on_median, on_p90) = pass(&on).await;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("answer latency, {RUNS} runs each (model answers in 20 ms; memory and summary models in 200 ms)");
        println!("  memory off: median {:.1} ms, p90 {:.1} ms", ms(off_median), ms(off_p90));
        println!("  memory on:  median {:.1} ms, p90 {:.1} ms", ms(on_median), ms(on_p90));
        println!(
            "  ratio on/off: median {:.3}, p90 {:.3} (goal: 1.0; a wait for the memory model would show as ≥ 10)",
            ms(on_median) / ms(off_median),
            ms(on_p90) / ms(off_p90)
        );
    });
}
