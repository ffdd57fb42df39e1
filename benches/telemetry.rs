//! Benchmark: agent runs per second with telemetry on (every span to the SQLite trace tables
//! and over OTLP/HTTP to a receiver on loopback, Prometheus metrics observed) as a ratio to
//! telemetry off, in the same process. Goal: at least 0.95.
//!
//! `cargo bench --bench telemetry`. The scripted model (no network), history of 3 runs; passes
//! alternate off/on so that drift hits both; each pass is 2,000 sequential runs. The export's
//! counters are printed too, so that a ratio bought by dropping spans would show.

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
const PASSES: usize = 3;

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
    telemetry: &Telemetry,
) -> Arc<Generation> {
    let tracing = if db { ", tracing: true" } else { "" };
    let server = otlp.map(|e| format!("server:\n  otlp: {{endpoint: \"{e}\"}}\n")).unwrap_or_default();
    let yaml = format!(
        "version: 1\n{server}databases:\n  main: {{type: sqlite, db_file: {name}.db{tracing}}}\nmodels:\n  m: {{provider: scripted, replies: [\"A fixed answer.\"]}}\nagents:\n  bench:\n    name: Bench Agent\n    model: m\n    instructions: [Be concise.]\n    add_history_to_context: true\n    num_history_runs: 3\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    let g = Generation::build(config, None, Process::with_telemetry(Some(telemetry.clone())), Options::default());
    g.store("main").await.expect("open the database");
    g
}

async fn pass(g: &Arc<Generation>, pass: usize) -> Duration {
    let start = Instant::now();
    for i in 0..RUNS {
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

fn main() {
    let telemetry = Telemetry::new();
    tracing_subscriber::registry().with(telemetry.layers()).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = Arc::new(AtomicU64::new(0));
        let endpoint = receiver(bytes.clone()).await;
        // (name, database traces, OTLP, Prometheus). "off" has the layers installed, as `agno-run run`.
        let modes: [(&str, bool, bool, bool); 5] = [
            ("off", false, false, false),
            ("prometheus only", false, false, true),
            ("database only", true, false, false),
            ("OTLP only", false, true, false),
            ("on (all three)", true, true, true),
        ];
        let mut totals = [Duration::ZERO; 5];
        for p in 0..PASSES {
            for (m, (name, db, otlp, prom)) in modes.iter().enumerate() {
                telemetry.set_metrics(*prom);
                let g = generation(dir.path(), &format!("m{m}p{p}"), *db, otlp.then_some(endpoint.as_str()), &telemetry).await;
                let t = pass(&g, p).await;
                totals[m] += t;
                println!("pass {p} {name}: {RUNS} runs in {:.2} s = {:.0} runs/s", t.as_secs_f64(), RUNS as f64 / t.as_secs_f64());
                let tele = telemetry.clone();
                tokio::task::spawn_blocking(move || tele.flush(Duration::from_secs(30))).await.expect("flush");
            }
        }
        let rate = |t: Duration| (PASSES * RUNS) as f64 / t.as_secs_f64();
        for (m, (name, ..)) in modes.iter().enumerate().skip(1) {
            println!("{name}: {:.0} runs/s, ratio to off {:.3}", rate(totals[m]), rate(totals[m]) / rate(totals[0]));
        }
        let (off_rate, on_rate) = (rate(totals[0]), rate(totals[4]));
        let stats = telemetry.stats();
        // Two spans per run (the run, its model call) in the modes that export: database, OTLP, all.
        let expected = (PASSES * RUNS * 2) as u64;
        println!(
            "telemetry off: {off_rate:.0} runs/s; on (SQLite traces + OTLP + Prometheus): {on_rate:.0} runs/s; ratio on/off {:.3} (goal >= 0.95)",
            on_rate / off_rate
        );
        println!(
            "exported: {} spans written to the database, {} sent over OTLP ({} KiB), of {expected} made in each; {} failed batches",
            stats.written,
            stats.sent,
            bytes.load(Ordering::Relaxed) / 1024,
            stats.failed
        );
    });
}
