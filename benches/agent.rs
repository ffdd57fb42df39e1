//! Benchmark: 2,000 sequential agent runs in one session on SQLite, printing runs per second
//! and agno-run's own time per run.
//!
//! `cargo bench --bench agent`. Two passes over the same agent config (history of 3 runs,
//! instructions, session state): (1) against a fake OpenAI-compatible server on loopback
//! (keep-alive HTTP, fixed reply): runs per second end to end; (2) with the scripted model,
//! which makes no network call: the time per run is agno-run's own work (prompt, history read,
//! run and session writes), the model's time excluded. Goals: ≥ 1,000 runs/s; own time < 0.5 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RUNS: usize = 2_000;

/// A keep-alive HTTP/1.1 server answering every request with one chat completion.
async fn fake_openai() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let body = r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"A fixed answer from the fake model."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = Vec::with_capacity(16 * 1024);
                let mut chunk = [0u8; 8192];
                loop {
                    // Read one request: headers, then Content-Length bytes of body.
                    let (head_end, length) = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (pos + 4, length);
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + length {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    if sock.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

async fn agent(dir: &std::path::Path, model: &str) -> Arc<Generation> {
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: sqlite, db_file: bench.db}}\nmodels:\n{model}\nagents:\n  bench:\n    model: m\n    description: A benchmark agent.\n    instructions: [Be concise., Answer in one sentence.]\n    add_history_to_context: true\n    num_history_runs: 3\n    session_state: {{count: 0}}\n    add_session_state_to_context: true\n"
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
    let per = total.as_secs_f64() / RUNS as f64;
    println!(
        "{name}: {RUNS} runs in {:.2} s = {:.0} runs/s; per run mean {:.0} µs, median {:.0} µs, p99 {:.0} µs",
        total.as_secs_f64(),
        RUNS as f64 / total.as_secs_f64(),
        per * 1e6,
        times[RUNS / 2].as_secs_f64() * 1e6,
        times[RUNS * 99 / 100].as_secs_f64() * 1e6
    );
    per
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
    println!(
        "agno-run's own time per run (scripted pass): {:.0} µs; the loopback model call adds {:.0} µs per run",
        own * 1e6,
        (with_model - own).max(0.0) * 1e6
    );
}
