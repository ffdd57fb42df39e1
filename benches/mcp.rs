//! Benchmark: MCP tools against the reference server `@modelcontextprotocol/server-everything`
//! (as `.ci/run` installs it), over stdio and over streamable HTTP.
//!
//! `cargo bench --bench mcp`. Prints, per transport: the cold time from a generation's build
//! to its tools listed (spawn or connect, `initialize`, `tools/list`; median of 5), and the
//! round trip of one `echo` call through agno-run's MCP client (the path a model's call takes:
//! the call, its result rendered, redacted and bounded), median and p99 of sequential calls.
//! The peer is the official Python MCP client SDK (what Agno's `MCPTools` runs on) against the
//! same server with the same calls, when a Python with `mcp` is found (`target/ci-mcp/venv`,
//! or `AGNO_BENCH_MCP_PYTHON`), and the ratio of the two. The server's own time is in both.

#[path = "../tests/support/mcp_peers.rs"]
mod mcp_peers;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::runtime::{Generation, Options, Process};
use serde_json::{Value, json};

/// The binary's allocator (see Cargo.toml), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CALLS: usize = 2_000;
const COLD: usize = 5;

fn generation(dir: &Path, server: &str) -> Arc<Generation> {
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: memory}}\nmodels:\n  m: {{provider: scripted}}\nmcp_servers:\n  s: {server}\nagents:\n  a: {{model: m, tools: [{{mcp: s}}]}}\n"
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:?}", loaded.report.diagnostics));
    Generation::build(config, None, Process::new(), Options::default())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

struct Figures {
    cold: Duration,
    median: Duration,
    p99: Duration,
}

fn print(label: &str, f: &Figures) {
    println!(
        "{label}: cold {:.1} ms; per call median {:.0} µs, p99 {:.0} µs",
        f.cold.as_secs_f64() * 1e3,
        f.median.as_secs_f64() * 1e6,
        f.p99.as_secs_f64() * 1e6
    );
}

async fn ours(server: &str) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut colds = Vec::new();
    for _ in 0..COLD {
        let g = generation(dir.path(), server);
        let t0 = Instant::now();
        let started = g.start_mcp().await;
        assert!(started[0].1.is_ok(), "{started:?}");
        let n = g.agent("a").expect("agent").toolbox_for_run().await.tools().len();
        colds.push(t0.elapsed());
        assert!(n >= 10, "server-everything lists its tools: {n}");
        g.process().close().await;
    }
    colds.sort();
    let g = generation(dir.path(), server);
    g.start_mcp().await;
    let s = g.mcp_servers()["s"].clone();
    for i in 0..100 {
        s.call("echo", json!({"message": format!("warm {i}")})).await.expect("echo");
    }
    let mut times = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let t = Instant::now();
        let out = s.call("echo", json!({"message": format!("hi {i}")})).await.expect("echo");
        times.push(t.elapsed());
        assert_eq!(out, format!("Echo: hi {i}"));
    }
    g.process().close().await;
    times.sort();
    Figures { cold: colds[COLD / 2], median: pct(&times, 0.5), p99: pct(&times, 0.99) }
}

fn peer(python: &Path, args: &[&str]) -> Option<Figures> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/mcp_client.py");
    let out = Command::new(python).arg(script).args(args).stderr(Stdio::inherit()).output().ok()?;
    if !out.status.success() {
        println!("peer: failed ({})", out.status);
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut times: Vec<Duration> =
        v["times"].as_array()?.iter().filter_map(Value::as_f64).map(Duration::from_secs_f64).collect();
    // The same warm-up as ours: the first 100 calls are left out.
    times.drain(..100.min(times.len()));
    times.sort();
    Some(Figures {
        cold: Duration::from_secs_f64(v["cold"].as_f64()?),
        median: pct(&times, 0.5),
        p99: pct(&times, 0.99),
    })
}

fn ratio(what: &str, ours: &Figures, theirs: &Figures) {
    println!(
        "ratio ({what}): the Python MCP SDK takes {:.1}x agno-run's median call ({:.0} µs vs {:.0} µs), {:.1}x its p99, {:.1}x its cold start",
        theirs.median.as_secs_f64() / ours.median.as_secs_f64(),
        theirs.median.as_secs_f64() * 1e6,
        ours.median.as_secs_f64() * 1e6,
        theirs.p99.as_secs_f64() / ours.p99.as_secs_f64(),
        theirs.cold.as_secs_f64() / ours.cold.as_secs_f64(),
    );
}

fn python() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("AGNO_BENCH_MCP_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-mcp/venv/bin/python"));
    let ok = Command::new(&p).args(["-c", "import mcp"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(peers) = mcp_peers::peers() else {
        println!("skipped: server-everything is not installed (run .ci/run once)");
        return;
    };
    let every = peers.everything.display().to_string();
    println!("{CALLS} sequential `echo` calls per transport against server-everything; cold start median of {COLD}");
    let stdio = ours(&format!("{{transport: stdio, command: node, args: ['{every}', stdio]}}")).await;
    print("agno-run, stdio          ", &stdio);

    let http_server = mcp_peers::HttpEverything::start(&peers);
    let url = http_server.url.clone();
    let http = ours(&format!("{{transport: streamable-http, url: '{url}'}}")).await;
    print("agno-run, streamable HTTP", &http);

    match python() {
        Some(py) => {
            let calls = (CALLS + 100).to_string();
            let (py2, every2, calls2) = (py.clone(), every.clone(), calls.clone());
            let theirs = tokio::task::spawn_blocking(move || peer(&py2, &["stdio", "node", &every2, &calls2]))
                .await
                .ok()
                .flatten();
            if let Some(t) = theirs {
                print("Python MCP SDK, stdio    ", &t);
                ratio("stdio", &stdio, &t);
            }
            let url2 = url.clone();
            let theirs = tokio::task::spawn_blocking(move || peer(&py, &["http", &url2, &calls])).await.ok().flatten();
            if let Some(t) = theirs {
                print("Python MCP SDK, HTTP     ", &t);
                ratio("streamable HTTP", &http, &t);
            }
        }
        None => {
            println!("peer: skipped (no Python with the mcp package: run .ci/run once, or set AGNO_BENCH_MCP_PYTHON)")
        }
    }
    drop(http_server);
}
