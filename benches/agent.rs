//! Benchmark: 2,000 sequential agent runs in one session on SQLite, printing runs per second
//! and agno-run's own time per run.
//!
//! `cargo bench --bench agent`. Passes over the same agent config (history of 3 runs,
//! instructions, session state): (1) against a fake OpenAI-compatible server on loopback
//! (keep-alive HTTP, fixed reply): runs per second end to end; (2) with the scripted model,
//! which makes no network call: the time per run is agno-run's own work (prompt, history read,
//! run and session writes), the model's time excluded; (3) the peer: the same agent in Python
//! Agno 3.x against the same fake server, when a Python with agno is found (AGNO_TEST_PYTHON, or
//! target/ci-venv/bin/python), and the ratio of the two. Goals: ≥ 1,000 runs/s; own time < 0.3 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};

/// The binary's allocator (see Cargo.toml), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 2_000;
/// Runs of the Python peer (it is slower; its per-run figures are what is compared).
const PEER_RUNS: usize = 300;

#[path = "support/fake_server.rs"]
mod fake_server;

/// The fake server answering every request with one fixed chat completion, at once.
async fn fake_openai() -> String {
    let reply = fake_server::text("A fixed answer from the fake model.");
    fake_server::start(Arc::new(move |_| (reply.clone(), Duration::ZERO))).await
}

async fn agent(dir: &std::path::Path, model: &str) -> Arc<Generation> {
    agent_on(dir, "{type: sqlite, db_file: bench.db}", model).await
}

async fn agent_on(dir: &std::path::Path, db: &str, model: &str) -> Arc<Generation> {
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {db}\nmodels:\n{model}\nagents:\n  bench:\n    model: m\n    description: A benchmark agent.\n    instructions: [Be concise., Answer in one sentence.]\n    add_history_to_context: true\n    num_history_runs: 3\n    session_state: {{count: 0}}\n    add_session_state_to_context: true\n"
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let generation = Generation::build(config, None, Process::new(), Options::default());
    generation.store("main").await.expect("open the database");
    generation
}

async fn pass(generation: &Arc<Generation>) -> (Duration, Vec<Duration>) {
    let mut times = Vec::with_capacity(RUNS);
    let start = Instant::now();
    for i in 0..RUNS {
        let input =
            RunInput { message: format!("question {i}"), session_id: Some("bench".into()), ..Default::default() };
        let request = RunRequest { target: Component::new(SessionType::Agent, "bench"), input, parent: None };
        let t = Instant::now();
        runtime::start(generation, request).await.expect("start").result().await.expect("run");
        times.push(t.elapsed());
    }
    (start.elapsed(), times)
}

fn stats(name: &str, total: Duration, mut times: Vec<Duration>) -> f64 {
    times.sort();
    let n = times.len();
    let per = total.as_secs_f64() / n as f64;
    println!(
        "{name}: {n} runs in {:.2} s = {:.0} runs/s; per run mean {:.0} µs, median {:.0} µs, p99 {:.0} µs",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        per * 1e6,
        times[n / 2].as_secs_f64() * 1e6,
        times[n * 99 / 100].as_secs_f64() * 1e6
    );
    per
}

/// The same agent in Python Agno against the fake server at `url`; its per-run mean (s).
fn peer(python: &std::path::Path, url: &str) -> Option<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/agno_agent.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([url, &dir.path().join("peer.db").display().to_string(), &PEER_RUNS.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        println!("peer: Python Agno failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let times: Vec<Duration> =
        v["times"].as_array()?.iter().filter_map(|t| t.as_f64()).map(Duration::from_secs_f64).collect();
    Some(stats("Python Agno, same fake server     ", Duration::from_secs_f64(v["total"].as_f64()?), times))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = fake_openai().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let http = agent(
        dir.path(),
        &format!("  m: {{provider: openai, id: fake, base_url: \"{url}\", api_key: bench-key, max_retries: 0}}"),
    )
    .await;
    let (total, times) = pass(&http).await;
    let with_model = stats("fake OpenAI server on loopback", total, times);

    let dir2 = tempfile::tempdir().expect("temp dir");
    let scripted =
        agent(dir2.path(), "  m: {provider: scripted, replies: [A fixed answer from the scripted model.]}").await;
    let (total, times) = pass(&scripted).await;
    let own = stats("scripted model (no network)   ", total, times);
    let dir3 = tempfile::tempdir().expect("temp dir");
    let in_memory = agent_on(
        dir3.path(),
        "{type: memory}",
        "  m: {provider: scripted, replies: [A fixed answer from the scripted model.]}",
    )
    .await;
    let (total, times) = pass(&in_memory).await;
    let memory = stats("scripted model, memory store  ", total, times);
    println!(
        "agno-run's own time per run (scripted pass): {:.0} µs, of which SQLite (its transactions and their hand-off \
         to a blocking thread) {:.0} µs; the loopback model call adds {:.0} µs per run",
        own * 1e6,
        (own - memory).max(0.0) * 1e6,
        (with_model - own).max(0.0) * 1e6
    );
    match fake_server::peer_python("agno.agent, agno.db.sqlite, openai") {
        Some(python) => {
            if let Some(theirs) = tokio::task::spawn_blocking(move || peer(&python, &url)).await.ok().flatten() {
                println!(
                    "ratio: Python Agno takes {:.1}x agno-run's time per run against the same server ({:.0} µs vs {:.0} µs)",
                    theirs / with_model,
                    theirs * 1e6,
                    with_model * 1e6
                );
            }
        }
        None => println!("peer: skipped (no Python with agno: set AGNO_TEST_PYTHON, or run .ci/run once)"),
    }
}
