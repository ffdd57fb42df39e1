//! Benchmark: concurrency and own time of teams and workflows.
//!
//! `cargo bench --bench workflow`. Against a fake OpenAI-compatible server on loopback whose
//! `slow-*` models answer after 200 ms:
//! (1) a workflow whose parallel group holds 4 agent steps: its wall time, and the ratio to the
//!     same 4 steps run one after another (goal: under 300 ms, about 4x faster);
//! (2) a broadcast team of 8 members: the leader's one `delegate_task_to_members` call runs the
//!     8 members concurrently (goal: under 300 ms of member time);
//! (3) agno-run's own time per step of a 10-step sequential workflow on the scripted model (no
//!     network: prompt, nested runs, the workflow row);
//! (4) the peer: the parallel group and the 10-step workflow in Python Agno 3.x against the same
//!     server (when a Python with agno is found: AGNO_TEST_PYTHON, or target/ci-venv/bin/python),
//!     and the ratios.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};

#[path = "support/fake_server.rs"]
mod fake_server;

/// The binary's allocator (see Cargo.toml), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DELAY: Duration = Duration::from_millis(200);
const SEQUENTIAL_RUNS: usize = 200;
const PEER_SEQUENTIAL_RUNS: usize = 30;

/// `slow-*` models answer after [`DELAY`]; a `leader` delegates to every member once, then answers.
fn answer(body: &serde_json::Value) -> (String, Duration) {
    let model = body["model"].as_str().unwrap_or_default();
    let last_is_tool = body["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool");
    if model == "leader" && !last_is_tool {
        return (
            fake_server::tool_call("delegate_task_to_members", serde_json::json!({"task": "answer"})),
            Duration::ZERO,
        );
    }
    let delay = if model.starts_with("slow") { DELAY } else { Duration::ZERO };
    (fake_server::text("An answer."), delay)
}

async fn generation(dir: &std::path::Path, yaml: &str) -> Arc<Generation> {
    let path = dir.join("app.yaml");
    std::fs::write(&path, format!("version: 1\ndatabases:\n  main: {{type: sqlite, db_file: bench.db}}\n{yaml}"))
        .expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let generation = Generation::build(config, None, Process::new(), Options::default());
    generation.store("main").await.expect("open the database");
    generation
}

async fn run(generation: &Arc<Generation>, kind: SessionType, id: &str, session: &str) -> Duration {
    let input = RunInput { message: "go".into(), session_id: Some(session.into()), ..Default::default() };
    let request = RunRequest { target: Component::new(kind, id), input, parent: None };
    let t = Instant::now();
    runtime::start(generation, request).await.expect("start").result().await.expect("run");
    t.elapsed()
}

fn models(url: &str) -> String {
    let m = |id: &str| {
        format!("  {id}: {{provider: openai, id: {id}, base_url: \"{url}\", api_key: bench-key, max_retries: 0}}\n")
    };
    let mut s = String::from("models:\n");
    for i in 0..8 {
        s.push_str(&m(&format!("slow-{i}")));
    }
    s.push_str(&m("leader"));
    s.push_str(&m("fast"));
    s.push_str("  scripted: {provider: scripted, replies: [An answer.]}\n");
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = fake_server::start(Arc::new(answer)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut yaml = models(&url);
    yaml.push_str("agents:\n");
    for i in 0..8 {
        yaml.push_str(&format!("  a{i}: {{model: slow-{i}}}\n"));
    }
    for i in 0..10 {
        yaml.push_str(&format!("  s{i}: {{model: scripted}}\n  f{i}: {{model: fast}}\n"));
    }
    yaml.push_str("teams:\n  crowd: {mode: broadcast, model: leader, members: [a0, a1, a2, a3, a4, a5, a6, a7]}\n");
    yaml.push_str("workflows:\n");
    let steps = |prefix: &str, n: usize| {
        (0..n).map(|i| format!("{{name: {prefix}{i}, agent: {prefix}{i}}}")).collect::<Vec<_>>().join(", ")
    };
    yaml.push_str(&format!("  parallel: {{steps: [{{name: group, parallel: [{}]}}]}}\n", steps("a", 4)));
    yaml.push_str(&format!("  in_turn: {{steps: [{}]}}\n", steps("a", 4)));
    yaml.push_str(&format!("  ten: {{steps: [{}]}}\n", steps("s", 10)));
    yaml.push_str(&format!("  ten_http: {{steps: [{}]}}\n", steps("f", 10)));
    let g = generation(dir.path(), &yaml).await;

    // Warm the connections and the database.
    run(&g, SessionType::Workflow, "ten_http", "warm").await;
    let parallel = run(&g, SessionType::Workflow, "parallel", "p").await;
    let in_turn = run(&g, SessionType::Workflow, "in_turn", "q").await;
    println!(
        "parallel group of 4 agent steps, each model answering after {} ms: {:.0} ms (goal < 300 ms); the same 4 steps in turn: {:.0} ms; ratio {:.1}x",
        DELAY.as_millis(),
        parallel.as_secs_f64() * 1e3,
        in_turn.as_secs_f64() * 1e3,
        in_turn.as_secs_f64() / parallel.as_secs_f64()
    );
    let broadcast = run(&g, SessionType::Team, "crowd", "b").await;
    println!(
        "broadcast team of 8 members, each answering after {} ms: {:.0} ms in all (goal < 300 ms; in turn it would be {} ms)",
        DELAY.as_millis(),
        broadcast.as_secs_f64() * 1e3,
        8 * DELAY.as_millis()
    );

    let mut total = Duration::ZERO;
    for i in 0..SEQUENTIAL_RUNS {
        total += run(&g, SessionType::Workflow, "ten", &format!("t{}", i % 20)).await;
    }
    let per_run = total.as_secs_f64() / SEQUENTIAL_RUNS as f64;
    println!(
        "10-step sequential workflow, scripted model: {SEQUENTIAL_RUNS} runs, {:.2} ms per run = {:.0} µs of agno-run's own time per step",
        per_run * 1e3,
        per_run / 10.0 * 1e6
    );
    let mut http = Duration::ZERO;
    for i in 0..PEER_SEQUENTIAL_RUNS {
        http += run(&g, SessionType::Workflow, "ten_http", &format!("h{}", i % 5)).await;
    }
    let ours_http = http.as_secs_f64() / PEER_SEQUENTIAL_RUNS as f64;
    println!("10-step sequential workflow, fake server on loopback: {:.2} ms per run", ours_http * 1e3);

    match fake_server::peer_python("agno.workflow, agno.db.sqlite, openai") {
        Some(python) => {
            let url2 = url.clone();
            let out = tokio::task::spawn_blocking(move || peer(&python, &url2)).await.ok().flatten();
            if let Some((p, seq)) = out {
                println!(
                    "peer Python Agno: parallel group {:.0} ms (agno-run {:.0} ms, ratio {:.2}x); 10-step workflow {:.2} ms per run (agno-run {:.2} ms, Python takes {:.1}x)",
                    p * 1e3,
                    parallel.as_secs_f64() * 1e3,
                    p / parallel.as_secs_f64(),
                    seq * 1e3,
                    ours_http * 1e3,
                    seq / ours_http
                );
            }
        }
        None => println!("peer: skipped (no Python with agno: set AGNO_TEST_PYTHON, or run .ci/run once)"),
    }
}

/// The peer's (parallel group seconds, 10-step workflow seconds per run).
fn peer(python: &std::path::Path, url: &str) -> Option<(f64, f64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/agno_workflow.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([url, &dir.path().join("peer.db").display().to_string(), &PEER_SEQUENTIAL_RUNS.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        println!("peer: Python Agno failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["parallel"].as_f64()?, v["sequential_total"].as_f64()? / v["sequential_runs"].as_f64()?))
}
