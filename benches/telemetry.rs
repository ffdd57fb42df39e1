//! Benchmark: agent runs per second with telemetry on (every span to the SQLite trace tables
//! and over OTLP/HTTP to a receiver on loopback, Prometheus metrics observed) as a ratio to
//! telemetry off, in the same process. Goal: at least 0.95.
//!
//! `cargo bench --bench telemetry`. Part 1, the worst case: the scripted model (no network, no
//! wait), history of 3 runs, so that a run is nothing but agno-run's own work (about 0.5 ms) and
//! telemetry's cost is all there is to see; each mode (off, Prometheus only, database only, OTLP
//! only, all three) runs 2,000 sequential runs per pass, the modes interleaved over 5 passes, and
//! the median of the per-pass ratios is printed (a 2-core machine's noise is about 10% per pass).
//! Part 2: the same with a model that answers in 5 ms (a fake OpenAI-compatible server on
//! loopback), a fast model's latency. The export's counters are printed too, so that a ratio
//! bought by dropping spans would show.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::telemetry::Telemetry;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The binary's allocator (see Cargo.toml), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 2_000;
const PASSES: usize = 5;
/// Runs per pass against the 5 ms model.
const SLOW_RUNS: usize = 300;

#[path = "support/fake_server.rs"]
mod fake_server;

/// An OTLP/HTTP receiver that reads and counts what it is sent.
async fn receiver(bytes: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let bytes = bytes.clone();
            async move {
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/v1/traces")
}

async fn generation(
    dir: &std::path::Path,
    name: &str,
    db: bool,
    otlp: Option<&str>,
    model: &str,
    telemetry: &Telemetry,
) -> Arc<Generation> {
    let tracing = if db { ", tracing: true" } else { "" };
    let server = otlp.map(|e| format!("server:\n  otlp: {{endpoint: \"{e}\"}}\n")).unwrap_or_default();
    let yaml = format!(
        "version: 1\n{server}databases:\n  main: {{type: sqlite, db_file: {name}.db{tracing}}}\nmodels:\n  m: {model}\nagents:\n  bench:\n    name: Bench Agent\n    model: m\n    instructions: [Be concise.]\n    add_history_to_context: true\n    num_history_runs: 3\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let g = Generation::build(config, None, Process::with_telemetry(Some(telemetry.clone())), Options::default());
    g.store("main").await.expect("open the database");
    g
}

async fn pass(g: &Arc<Generation>, pass: usize, runs: usize) -> Duration {
    let start = Instant::now();
    for i in 0..runs {
        let input = RunInput {
            message: format!("question {i}"),
            session_id: Some(format!("bench-{pass}-{}", i / 100)),
            ..Default::default()
        };
        let request = RunRequest { target: Component::new(SessionType::Agent, "bench"), input, parent: None };
        runtime::start(g, request).await.expect("start").result().await.expect("run");
    }
    start.elapsed()
}

/// (name, database traces, OTLP, Prometheus).
type Mode = (&'static str, bool, bool, bool);

/// "off" has the layers installed, as `agno-run run` does.
const MODES: [Mode; 5] = [
    ("off", false, false, false),
    ("prometheus only", false, false, true),
    ("database only", true, false, false),
    ("OTLP only", false, true, false),
    ("on (all three)", true, true, true),
];

/// Runs every mode `PASSES` times, interleaved; prints each pass and the median ratio of each
/// mode's runs per second to "off" over the passes; returns those medians (index 0: off).
async fn measure(
    dir: &std::path::Path,
    label: &str,
    model: &str,
    runs: usize,
    endpoint: &str,
    telemetry: &Telemetry,
) -> Vec<f64> {
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
    for p in 0..PASSES {
        let mut off = Duration::ZERO;
        for (m, (name, db, otlp, prom)) in MODES.iter().enumerate() {
            telemetry.set_metrics(*prom);
            let g =
                generation(dir, &format!("{label}-m{m}p{p}"), *db, otlp.then_some(endpoint), model, telemetry).await;
            let t = pass(&g, p, runs).await;
            if m == 0 {
                off = t;
            }
            ratios[m].push(off.as_secs_f64() / t.as_secs_f64());
            println!(
                "{label} pass {p} {name}: {runs} runs in {:.2} s = {:.0} runs/s",
                t.as_secs_f64(),
                runs as f64 / t.as_secs_f64()
            );
            let tele = telemetry.clone();
            tokio::task::spawn_blocking(move || tele.flush(Duration::from_secs(30))).await.expect("flush");
        }
    }
    let medians: Vec<f64> = ratios
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    for ((name, ..), m) in MODES.iter().zip(&medians).skip(1) {
        println!("{label}: {name}: median ratio to off {m:.3}");
    }
    medians
}

fn main() {
    let telemetry = Telemetry::new();
    tracing_subscriber::registry().with(telemetry.layers()).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = Arc::new(AtomicU64::new(0));
        let endpoint = receiver(bytes.clone()).await;
        let scripted = "{provider: scripted, replies: [\"A fixed answer.\"]}";
        let worst = measure(dir.path(), "scripted", scripted, RUNS, &endpoint, &telemetry).await;
        let reply = fake_server::text("A fixed answer from the fake model.");
        let fake = fake_server::start(Arc::new(move |_| (reply.clone(), Duration::from_millis(5)))).await;
        let fast = format!("{{provider: openai, id: fake, base_url: \"{fake}\", api_key: k}}");
        let real = measure(dir.path(), "5 ms model", &fast, SLOW_RUNS, &endpoint, &telemetry).await;
        println!(
            "telemetry on (SQLite traces + OTLP + Prometheus) / off, runs per second: {:.3} with the scripted model (the worst case: no model time), {:.3} with a 5 ms model (goal >= 0.95)",
            worst[4], real[4]
        );
        let stats = telemetry.stats();
        // Two spans per run (the run, its model call) in each of the three exporting modes.
        let expected = (PASSES * (RUNS + SLOW_RUNS) * 2) as u64;
        println!(
            "exported: {} spans written to the database, {} sent over OTLP ({} KiB), of {expected} made in each; {} failed batches, {} batches not sent (collector behind)",
            stats.written,
            stats.sent,
            bytes.load(Ordering::Relaxed) / 1024,
            stats.failed,
            stats.dropped
        );
    });
}
