//! Benchmark: the AgentOS HTTP server, agno-run's against Python AgentOS serving the same app.
//!
//! `cargo bench --bench server` (the peer needs a Python with agno, fastapi and uvicorn:
//! AGNO_TEST_PYTHON, or target/ci-venv/bin/python). The app: one agent with
//! `add_history_to_context` (last 3 runs), on SQLite in a temp folder, and on PostgreSQL
//! (AGNO_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test, a unique schema per
//! server, dropped at the end; skipped with a note when it is down). Both servers are real
//! processes on loopback (agno-run `serve --port 0`; `benches/peer/agentos_server.py`, one
//! uvicorn worker), both call the same fake OpenAI-compatible server of this process, and both
//! get the same load from the same client (reqwest, one tokio task per client):
//! (1) non-streaming runs per second with 1 and 16 concurrent clients (each client its own
//!     session, a new one every 10 runs), SQLite and PostgreSQL; the ratio agno-run/AgentOS
//!     (goal: ≥ 25x);
//! (2) N concurrent streaming runs (AGNO_BENCH_STREAMS, default 5000; AgentOS
//!     AGNO_BENCH_PEER_STREAMS, default 1000) against a fake model streaming 1 token every
//!     100 ms for 5 s (AGNO_BENCH_STREAM_TOKENS, default 50), each on a fresh server: how many
//!     complete and are stored COMPLETED, the latency the server adds to the first content
//!     (arrival of the first `RunContent` event minus the moment the fake wrote its first
//!     token) at p50/p99 (goal p99 < 50 ms), the total duration, the server's peak RSS
//!     (VmHWM; goal < 300 MiB);
//! (3) idle RSS after start (goal < 30 MiB), both servers;
//! (4) agno-run's reload latency: a config file replaced by rename until GET /health shows
//!     the new `config_generation` (polled every 5 ms), median of AGNO_BENCH_RELOADS (10;
//!     goal < 300 ms).
//!
//! AGNO_BENCH_SECONDS (default 3) is the measured window of each runs/s figure, after half a
//! second of warm-up; AGNO_BENCH_ONLY (e.g. `streams` or `rps,idle`) runs some parts only.
//! Servers are started through `bash -c 'ulimit -n <hard limit>; exec …'` (and this bench
//! re-executes itself that way when its own limit is too low for the streams). Besides the
//! goals it prints each server's CPU time per run and per stream test (the machine's other
//! load is printed too: the figures share its cores with this bench's own client and fake).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/fake_server.rs"]
mod fake_server;

const BIN: &str = env!("CARGO_BIN_EXE_agno-run");
const DEFAULT_PG: &str = "postgresql://postgres@127.0.0.1:5432/test";
/// Time between two streamed tokens of the fake model.
const TOKEN_INTERVAL: Duration = Duration::from_millis(100);
/// A new session every this many runs of one client (history stays 3 runs; sessions stay small).
const RUNS_PER_SESSION: usize = 10;
const WARM_UP: Duration = Duration::from_millis(500);
const MIB: f64 = 1024.0 * 1024.0;

/// The knobs, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    seconds: f64,
    streams: usize,
    peer_streams: usize,
    tokens: usize,
    reloads: usize,
    pg_url: String,
    /// The parts to run: `rps`, `streams`, `idle`, `reload`.
    parts: Vec<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            seconds: env_or("AGNO_BENCH_SECONDS", 3.0f64).max(0.1),
            streams: env_or("AGNO_BENCH_STREAMS", 5000usize),
            peer_streams: env_or("AGNO_BENCH_PEER_STREAMS", 1000usize),
            tokens: env_or("AGNO_BENCH_STREAM_TOKENS", 50usize).max(1),
            reloads: env_or("AGNO_BENCH_RELOADS", 10usize),
            pg_url: std::env::var("AGNO_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG.into()),
            parts: std::env::var("AGNO_BENCH_ONLY")
                .unwrap_or_else(|_| "rps,streams,idle,reload".into())
                .split(',')
                .map(|p| p.trim().to_string())
                .collect(),
        }
    }

    fn part(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p == name)
    }

    /// File descriptors one side of the stream test holds: a socket per client and one per
    /// model call, and some to spare.
    fn fds_needed(&self) -> u64 {
        2 * self.streams.max(self.peer_streams) as u64 + 256
    }
}

// ---------------------------------------------------------------------------------------------
// The open-files limit.

/// (soft, hard) RLIMIT_NOFILE of this process, from /proc/self/limits.
fn nofile() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut it = line["Max open files".len()..].split_whitespace();
    let num = |s: Option<&str>| s.map(|s| if s == "unlimited" { u64::MAX } else { s.parse().unwrap_or(0) });
    Some((num(it.next())?, num(it.next())?))
}

/// `bash -c 'ulimit -n <hard>; exec "$@"' bash PROGRAM ARGS…`: PROGRAM with the hard limit of
/// open files as its soft one (the process id stays PROGRAM's, through `exec`).
fn with_fd_limit(program: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@""#)
        .arg("bash")
        .arg(program);
    cmd
}

/// Re-executes this bench with a raised limit when the stream test needs more descriptors than
/// the soft limit allows (and the hard one does); returns otherwise.
fn ensure_fd_limit(needed: u64) {
    let Some((soft, hard)) = nofile() else { return };
    if soft >= needed || hard <= soft || std::env::var_os("AGNO_BENCH_REEXEC").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let status = with_fd_limit(&exe).args(std::env::args_os().skip(1)).env("AGNO_BENCH_REEXEC", "1").status();
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => println!("note: cannot raise the open-files limit ({e}); staying at {soft}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The fake model.

/// An OpenAI-compatible server on loopback: a non-streaming request gets one fixed completion
/// at once; a streaming one gets `tokens` tokens, one every [`TOKEN_INTERVAL`] (the first after
/// one interval), then the finish, the usage and `[DONE]`. It notes when it wrote the first
/// token of each reply whose last user message holds `stream-run-<key>`.
struct Fake {
    url: String,
    first_token: Mutex<HashMap<String, Instant>>,
}

fn chunk(delta: &serde_json::Value, finish: Option<&str>) -> String {
    let c = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// One chunk of an HTTP/1.1 chunked body.
fn http_chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// The `<key>` of the last `stream-run-<key>` in a request body.
fn stream_key(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.rfind("stream-run-")? + "stream-run-".len();
    let key: String = text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Some(key)
}

impl Fake {
    async fn start(tokens: usize) -> Arc<Fake> {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        // A deep accept queue: thousands of model calls start within a few milliseconds.
        let listener = socket.listen(8192).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let fake = Arc::new(Fake { url: format!("http://{addr}/v1"), first_token: Mutex::new(HashMap::new()) });
        let reply = fake_server::text("A fixed answer from the fake model.");
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        let first = http_chunk(&chunk(&serde_json::json!({"role": "assistant", "content": "word "}), None));
        let next = http_chunk(&chunk(&serde_json::json!({"content": "word "}), None));
        let usage = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake",
            "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}});
        let end = format!(
            "{}{}{}0\r\n\r\n",
            http_chunk(&chunk(&serde_json::json!({}), Some("stop"))),
            http_chunk(&format!("data: {usage}\n\n")),
            http_chunk("data: [DONE]\n\n")
        );
        let texts = Arc::new((head, first, next, end));
        let shared = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                let _ = sock.set_nodelay(true);
                tokio::spawn(shared.clone().connection(sock, texts.clone(), tokens));
            }
        });
        fake
    }

    /// Serves one keep-alive connection.
    async fn connection(
        self: Arc<Fake>,
        mut sock: tokio::net::TcpStream,
        texts: Arc<(String, String, String, String)>,
        tokens: usize,
    ) {
        let (head, first, next, end) = &*texts;
        let mut buf = Vec::with_capacity(16 * 1024);
        let mut piece = [0u8; 8192];
        loop {
            let (head_end, length) = loop {
                if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let h = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                    let length = h
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (pos + 4, length);
                }
                match sock.read(&mut piece).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&piece[..n]),
                }
            };
            while buf.len() < head_end + length {
                match sock.read(&mut piece).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&piece[..n]),
                }
            }
            let body = &buf[head_end..head_end + length];
            let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let key = stream_key(body);
            buf.drain(..head_end + length);
            if request["stream"] != serde_json::json!(true) {
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            let start = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            if sock.write_all(start).await.is_err() {
                return;
            }
            let t0 = tokio::time::Instant::now();
            for i in 0..tokens {
                tokio::time::sleep_until(t0 + TOKEN_INTERVAL * (i as u32 + 1)).await;
                let text = if i == 0 { first } else { next };
                if i == 0
                    && let Some(k) = &key
                {
                    self.first_token.lock().unwrap().insert(k.clone(), Instant::now());
                }
                if sock.write_all(text.as_bytes()).await.is_err() {
                    return;
                }
            }
            if sock.write_all(end.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The servers.

/// A server process (agno-run or the Python peer) on loopback.
struct Served {
    child: Option<Child>,
    pid: u32,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `program args` in `dir` and waits (up to 120 s) for its
    /// "serving the AgentOS API on http://…" line on stderr.
    fn start(name: &str, program: &Path, args: &[String], dir: &Path, env: &[(&str, &str)]) -> Option<Served> {
        let mut cmd = with_fd_limit(program);
        cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        // Each with its default logging (agno-run serve: a line per request; uvicorn: an
        // access line per request), no key, no proxy.
        cmd.env_remove("RUST_LOG").env_remove("OS_SECURITY_KEY").env("NO_PROXY", "127.0.0.1,localhost");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                println!("{name}: cannot start: {e}");
                return None;
            }
        };
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("serving the AgentOS API on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                }
                let mut log = keep.lock().unwrap();
                if log.len() < 200 {
                    log.push(line);
                }
            }
        });
        let pid = child.id();
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => Some(Served { child: Some(child), pid, base, log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                println!("{name}: did not start serving:\n{}", log.lock().unwrap().join("\n"));
                None
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// CPU seconds it used so far.
    fn cpu(&self) -> f64 {
        cpu_seconds(&self.pid.to_string())
    }

    /// (VmRSS, VmHWM) in bytes, from /proc/PID/status.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |kb| kb * 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, then up to 30 s to exit (killed after that).
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("note: server {} did not stop within 30 s of SIGTERM; killed", self.pid);
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Where a server keeps its sessions.
#[derive(Debug, Clone)]
enum Db {
    Sqlite,
    Postgres { url: String, schema: String },
}

impl Db {
    fn label(&self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres { .. } => "PostgreSQL",
        }
    }
}

/// agno-run's config: the same app as the peer's.
fn agno_run_yaml(fake: &str, db: &Db, edit: usize) -> String {
    let database = match db {
        Db::Sqlite => "{type: sqlite, db_file: bench.db}".to_string(),
        Db::Postgres { url, schema } => format!("{{type: postgres, db_url: \"{url}\", db_schema: {schema}}}"),
    };
    let description =
        if edit == 0 { "A benchmark agent.".to_string() } else { format!("A benchmark agent (edit {edit}).") };
    format!(
        "version: 1\ndatabases:\n  main: {database}\nmodels:\n  m: {{provider: openai, id: fake, base_url: \"{fake}\", api_key: bench-key, max_retries: 0}}\nagents:\n  bench:\n    name: Bench\n    model: m\n    description: {description}\n    instructions: [Be concise., Answer in one sentence.]\n    add_history_to_context: true\n    num_history_runs: 3\nserver:\n  host: 127.0.0.1\n"
    )
}

fn start_agno_run(dir: &Path, fake: &str, db: &Db) -> Option<Served> {
    std::fs::write(dir.join("app.yaml"), agno_run_yaml(fake, db, 0)).expect("write config");
    let args: Vec<String> = ["serve", "app.yaml", "--port", "0"].iter().map(|s| s.to_string()).collect();
    Served::start("agno-run", Path::new(BIN), &args, dir, &[])
}

fn start_agentos(python: &Path, dir: &Path, fake: &str, db: &Db) -> Option<Served> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/agentos_server.py");
    let mut args = vec![script.display().to_string(), fake.to_string()];
    match db {
        Db::Sqlite => args.push(dir.join("peer.db").display().to_string()),
        Db::Postgres { url, schema } => args.extend([url.clone(), schema.clone()]),
    }
    Served::start("AgentOS", python, &args, dir, &[("AGNO_TELEMETRY", "false"), ("PYTHONUNBUFFERED", "1")])
}

// ---------------------------------------------------------------------------------------------
// The load.

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().tcp_nodelay(true).timeout(Duration::from_secs(300)).build().expect("client")
}

/// Non-streaming runs in a window.
struct Load {
    rps: f64,
    ok: usize,
    /// Runs that completed in the whole call, warm-up and tail included.
    all: usize,
    failed: usize,
    p50: Duration,
    p99: Duration,
}

/// `clients` tasks posting non-streaming runs back to back for [`WARM_UP`] plus `seconds`;
/// the runs that end inside the measured window count.
async fn load(server: &Served, clients: usize, seconds: f64) -> Load {
    let http = client();
    let url = server.url("/agents/bench/runs");
    let start = Instant::now();
    let from = start + WARM_UP;
    let until = from + Duration::from_secs_f64(seconds);
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, url, failures) = (http.clone(), url.clone(), failures.clone());
            tokio::spawn(async move {
                let (mut times, mut failed, mut all) = (Vec::new(), 0usize, 0usize);
                let mut i = 0usize;
                while Instant::now() < until {
                    let session = format!("c{c}-s{}", i / RUNS_PER_SESSION);
                    let message = format!("question {i}");
                    let t = Instant::now();
                    let form = [("message", message.as_str()), ("stream", "false"), ("session_id", session.as_str())];
                    let outcome = match http.post(&url).form(&form).send().await {
                        Ok(r) => {
                            let status = r.status();
                            match r.text().await {
                                Ok(body) if status.is_success() && body.contains("COMPLETED") => Ok(()),
                                Ok(body) => Err(format!("{status}: {}", body.chars().take(300).collect::<String>())),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let done = Instant::now();
                    i += 1;
                    all += usize::from(outcome.is_ok());
                    if done < from || done > until {
                        continue;
                    }
                    match outcome {
                        Ok(()) => times.push(done - t),
                        Err(e) => {
                            failed += 1;
                            let mut f = failures.lock().unwrap();
                            if f.len() < 3 {
                                f.push(e);
                            }
                        }
                    }
                }
                (times, failed, all)
            })
        })
        .collect();
    let (mut times, mut failed, mut all) = (Vec::new(), 0, 0);
    for t in tasks {
        let (t, f, a) = t.await.expect("client task");
        times.extend(t);
        failed += f;
        all += a;
    }
    for f in failures.lock().unwrap().iter() {
        println!("  a run failed: {f}");
    }
    times.sort();
    let at = |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))).copied();
    Load {
        rps: times.len() as f64 / seconds,
        ok: times.len(),
        all,
        failed,
        p50: at(0.5).unwrap_or_default(),
        p99: at(0.99).unwrap_or_default(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs/s at 1 and 16 clients on `server`, printed as they come (after a few untimed runs:
/// first calls open connections and tables, Python imports lazily).
async fn throughput(name: &str, db: &Db, server: &Served, seconds: f64, out: &mut HashMap<(String, usize), f64>) {
    let http = client();
    for i in 0..5 {
        let form = [("message", "warm up"), ("stream", "false"), ("session_id", &format!("warm-{i}"))];
        if let Ok(r) = http.post(server.url("/agents/bench/runs")).form(&form).send().await {
            let _ = r.bytes().await;
        }
    }
    for clients in [1, 16] {
        let (cpu, own) = (server.cpu(), cpu_seconds("self"));
        let l = load(server, clients, seconds).await;
        let (cpu, own) = (server.cpu() - cpu, cpu_seconds("self") - own);
        let per_run = |cpu: f64| if l.all > 0 { format!("{:.0} µs", cpu / l.all as f64 * 1e6) } else { "—".into() };
        println!(
            "{name:8} {:10} {clients:2} client(s): {:8.1} runs/s ({} runs in {seconds} s, {} failed; latency p50 {:.2} ms, p99 {:.2} ms; CPU per run: server {}, this bench's client and fake model {})",
            db.label(),
            l.rps,
            l.ok,
            l.failed,
            ms(l.p50),
            ms(l.p99),
            per_run(cpu),
            per_run(own)
        );
        if l.ok > 0 {
            out.insert((db.label().to_string(), clients), l.rps);
        }
    }
}

/// What one stream saw.
#[derive(Default)]
struct Seen {
    completed: bool,
    started: Option<Instant>,
    ended: Option<Instant>,
    first_content: Option<Instant>,
    error: Option<String>,
}

/// Finds `needle` in `tail + piece` (a match split across pieces included); keeps the tail.
fn find_across(tail: &mut Vec<u8>, piece: &[u8], needle: &[u8]) -> bool {
    let mut window = std::mem::take(tail);
    window.extend_from_slice(piece);
    let found = window.windows(needle.len()).any(|w| w == needle);
    let keep = window.len().saturating_sub(needle.len());
    window.drain(..keep);
    *tail = window;
    found
}

async fn one_stream(http: reqwest::Client, url: String, i: usize) -> Seen {
    let mut seen = Seen::default();
    let message = format!("Tell a story, stream-run-{i}");
    let session = format!("stream-{i}");
    let form = [("message", message.as_str()), ("stream", "true"), ("session_id", session.as_str())];
    let resp = match http.post(&url).form(&form).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            seen.error = Some(format!("HTTP {}", r.status()));
            return seen;
        }
        Err(e) => {
            seen.error = Some(format!("{e:?}"));
            return seen;
        }
    };
    let mut body = resp.bytes_stream();
    let (mut t1, mut t2, mut t3, mut t4) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(piece) = body.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                seen.error = Some(format!("{e:?}"));
                return seen;
            }
        };
        let now = Instant::now();
        if seen.started.is_none() && find_across(&mut t1, &piece, b"event: RunStarted\n") {
            seen.started = Some(now);
        }
        if seen.first_content.is_none() && find_across(&mut t2, &piece, b"event: RunContent\n") {
            seen.first_content = Some(now);
        }
        if find_across(&mut t3, &piece, b"event: RunCompleted\n") {
            seen.completed = true;
        }
        if find_across(&mut t4, &piece, b"event: RunError\n") {
            seen.error = Some("RunError event".into());
        }
    }
    seen.ended = Some(Instant::now());
    seen
}

/// The streaming test's figures.
struct Streams {
    n: usize,
    completed: usize,
    stored: Option<usize>,
    p50: Option<f64>,
    p99: Option<f64>,
    total: f64,
    peak_rss: f64,
    /// Most streams between their RunStarted and their end at one time.
    peak_concurrent: usize,
    /// CPU seconds of the server during the test.
    cpu: f64,
}

/// `n` streaming runs at once on a fresh `server`, whose runs go to the SQLite file `db`.
async fn streams(name: &str, server: &Served, fake: &Fake, db: &Path, n: usize) -> Streams {
    fake.first_token.lock().unwrap().clear();
    let http = client();
    let url = server.url("/agents/bench/runs");
    let (cpu, own) = (server.cpu(), cpu_seconds("self"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(one_stream(http.clone(), url.clone(), i))).collect();
    let mut seen = Vec::with_capacity(n);
    for t in tasks {
        seen.push(t.await.expect("stream task"));
    }
    let total = start.elapsed().as_secs_f64();
    let (_, peak_rss) = server.memory();
    let (cpu, own) = (server.cpu() - cpu, cpu_seconds("self") - own);
    let mut edges: Vec<(Instant, i64)> =
        seen.iter().filter_map(|s| Some([(s.started?, 1), (s.ended?, -1)])).flatten().collect();
    edges.sort();
    let mut peak_concurrent = 0i64;
    edges.iter().fold(0i64, |in_flight, (_, d)| {
        peak_concurrent = peak_concurrent.max(in_flight + d);
        in_flight + d
    });
    let peak_concurrent = peak_concurrent as usize;
    let completed = seen.iter().filter(|s| s.completed && s.error.is_none()).count();
    let mut errors: HashMap<String, usize> = HashMap::new();
    for s in seen.iter().filter(|s| !s.completed || s.error.is_some()) {
        *errors.entry(s.error.clone().unwrap_or_else(|| "ended without RunCompleted".into())).or_default() += 1;
    }
    for (e, count) in errors.iter().take(5) {
        println!("  {count} stream(s) failed: {}", e.chars().take(300).collect::<String>());
    }
    let firsts = fake.first_token.lock().unwrap().clone();
    let mut added: Vec<f64> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some(ms(s.first_content?.saturating_duration_since(*firsts.get(&i.to_string())?))))
        .collect();
    added.sort_by(f64::total_cmp);
    let q = |q: f64| added.get(((added.len() as f64 * q) as usize).min(added.len().saturating_sub(1))).copied();
    let last_started = seen.iter().filter_map(|s| s.started).max().map(|t| (t - start).as_secs_f64());
    // The run rows: the stream's last event may leave before its row is committed.
    let mut stored = None;
    for _ in 0..100 {
        stored = count_completed(db);
        if stored.is_some_and(|s| s >= completed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let figures = Streams { n, completed, stored, p50: q(0.5), p99: q(0.99), total, peak_rss, peak_concurrent, cpu };
    println!(
        "{name:8} {n} streams launched at once: {completed} completed, {} stored COMPLETED; added latency to the first content p50 {} p99 {} max {} ({} measured); the last RunStarted after {}, at most {peak_concurrent} streams in flight together; {:.2} s in all; peak RSS {:.1} MiB; CPU: server {cpu:.1} s, this bench's clients and fake model {own:.1} s",
        stored.map_or("?".into(), |s| s.to_string()),
        opt(figures.p50, "ms", 1),
        opt(figures.p99, "ms", 1),
        opt(q(1.0), "ms", 1),
        added.len(),
        opt(last_started, "s", 2),
        total,
        peak_rss / MIB
    );
    figures
}

/// utime + stime of `/proc/<pid>/stat` (`pid` may be `self`), in seconds (USER_HZ = 100).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else { return 0.0 };
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn count_completed(db: &Path) -> Option<usize> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    c.busy_timeout(Duration::from_secs(5)).ok()?;
    c.query_row("SELECT count(*) FROM agno_runs WHERE status = 'COMPLETED'", [], |r| r.get::<_, i64>(0))
        .ok()
        .map(|n| n as usize)
}

/// `config_generation` of GET /health.
async fn generation(http: &reqwest::Client, server: &Served) -> Option<u64> {
    let v: serde_json::Value = http.get(server.url("/health")).send().await.ok()?.json().await.ok()?;
    v["config_generation"].as_u64()
}

/// Replaces agno-run's config `reloads` times (write, then rename over app.yaml) and times each
/// until /health shows the next generation.
async fn reload_latency(server: &Served, dir: &Path, fake: &str, reloads: usize) -> Vec<f64> {
    let http = client();
    let mut times = Vec::new();
    let Some(mut current) = generation(&http, server).await else {
        println!("agno-run: /health has no config_generation");
        return times;
    };
    for edit in 1..=reloads {
        let tmp = dir.join("app.yaml.next");
        std::fs::write(&tmp, agno_run_yaml(fake, &Db::Sqlite, edit)).expect("write config");
        let t = Instant::now();
        std::fs::rename(&tmp, dir.join("app.yaml")).expect("rename config");
        loop {
            if let Some(g) = generation(&http, server).await
                && g > current
            {
                current = g;
                times.push(ms(t.elapsed()));
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                println!("agno-run: reload {edit} not seen within 10 s:\n{}", server.log_tail());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let the watcher's debounce settle before the next edit.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    times
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

async fn postgres(url: &str) -> Result<tokio_postgres::Client, String> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn opt(v: Option<f64>, unit: &str, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$} {unit}"),
        None => "—".into(),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    }
}

/// One line of the table.
fn row(label: &str, ours: String, theirs: String, ratio: String, goal: &str, met: Option<bool>) {
    println!("{label:<40} {ours:>14} {theirs:>14} {ratio:>8}  {goal:<10} {}", verdict(met));
}

#[derive(Default)]
struct Side {
    rps: HashMap<(String, usize), f64>,
    idle_rss: Option<f64>,
    streams: Option<Streams>,
}

fn main() {
    let settings = Settings::from_env();
    ensure_fd_limit(settings.fds_needed());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(bench(settings));
}

async fn bench(mut s: Settings) {
    let bench_start = Instant::now();
    if let Some((soft, _)) = nofile()
        && soft < s.fds_needed()
    {
        let fit = (soft.saturating_sub(256) / 2) as usize;
        println!(
            "note: the open-files limit is {soft}: streams cut to {fit} (agno-run) and {} (AgentOS)",
            s.peer_streams.min(fit)
        );
        s.streams = s.streams.min(fit);
        s.peer_streams = s.peer_streams.min(fit);
    }
    println!("load average before: {} (the figures share the machine with whatever else runs)", load_average());
    let fake = Fake::start(s.tokens).await;
    let stream_secs = s.tokens as f64 * TOKEN_INTERVAL.as_secs_f64();
    println!(
        "agno-run's AgentOS server vs Python AgentOS; fake model on loopback (instant replies; streams of {} tokens, 1 per {} ms = {stream_secs} s); runs/s over {} s windows",
        s.tokens,
        TOKEN_INTERVAL.as_millis(),
        s.seconds
    );
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let tag = format!("bench_server_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let pg = match postgres(&s.pg_url).await {
        Ok(c) => Some(c),
        Err(e) => {
            println!("note: PostgreSQL at {} is down ({e}): the PostgreSQL figures are skipped", s.pg_url);
            None
        }
    };
    let pg_db = |side: &str| Db::Postgres { url: s.pg_url.clone(), schema: format!("{tag}_{side}") };
    let python = fake_server::peer_python("agno.os, agno.db.sqlite, agno.models.openai, fastapi, uvicorn");
    let python_pg = python.as_ref().is_some_and(|p| {
        Command::new(p).args(["-c", "import agno.db.postgres, psycopg"]).output().is_ok_and(|o| o.status.success())
    });
    if python.is_none() {
        println!("peer: skipped (no Python with agno, fastapi and uvicorn: set AGNO_TEST_PYTHON, or run .ci/run once)");
    } else if pg.is_some() && !python_pg {
        println!("note: the peer's Python has no psycopg: its PostgreSQL figures are skipped");
    }

    let mut ours = Side::default();
    let mut theirs = Side::default();
    let mut reloads = Vec::new();

    // agno-run on SQLite: idle memory, reloads, throughput.
    let dir = tempfile::tempdir().expect("temp dir");
    let (rps, idle) = (s.part("rps"), s.part("idle"));
    let reload = s.part("reload") && s.reloads > 0;
    let on_sqlite = rps || idle || reload;
    if let Some(server) = on_sqlite.then(|| start_agno_run(dir.path(), &fake.url, &Db::Sqlite)).flatten() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss, _) = server.memory();
        ours.idle_rss = Some(rss);
        println!("agno-run idle RSS 1 s after start: {:.1} MiB", rss / MIB);
        if reload {
            reloads = reload_latency(&server, dir.path(), &fake.url, s.reloads).await;
        }
        if !reloads.is_empty() {
            let mut sorted = reloads.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "agno-run reload, config renamed → new generation on /health: median {} over {} (min {:.0} ms, max {:.0} ms)",
                opt(median(&reloads), "ms", 0),
                reloads.len(),
                sorted[0],
                sorted[sorted.len() - 1]
            );
        }
        if rps {
            throughput("agno-run", &Db::Sqlite, &server, s.seconds, &mut ours.rps).await;
        }
        server.stop();
    }
    if pg.is_some() && rps {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = pg_db("ours");
        if let Some(server) = start_agno_run(dir.path(), &fake.url, &db) {
            throughput("agno-run", &db, &server, s.seconds, &mut ours.rps).await;
            server.stop();
        }
    }
    if s.streams > 0 && s.part("streams") {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(server) = start_agno_run(dir.path(), &fake.url, &Db::Sqlite) {
            ours.streams = Some(streams("agno-run", &server, &fake, &dir.path().join("bench.db"), s.streams).await);
            server.stop();
        }
    }

    if let Some(python) = &python {
        let dir = tempfile::tempdir().expect("temp dir");
        let started = (rps || idle).then(|| start_agentos(python, dir.path(), &fake.url, &Db::Sqlite)).flatten();
        if let Some(server) = started {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (rss, _) = server.memory();
            theirs.idle_rss = Some(rss);
            println!("AgentOS  idle RSS 1 s after start: {:.1} MiB", rss / MIB);
            if rps {
                throughput("AgentOS", &Db::Sqlite, &server, s.seconds, &mut theirs.rps).await;
            }
            server.stop();
        }
        if pg.is_some() && python_pg && rps {
            let dir = tempfile::tempdir().expect("temp dir");
            let db = pg_db("peer");
            if let Some(server) = start_agentos(python, dir.path(), &fake.url, &db) {
                throughput("AgentOS", &db, &server, s.seconds, &mut theirs.rps).await;
                server.stop();
            }
        }
        if s.peer_streams > 0 && s.part("streams") {
            let dir = tempfile::tempdir().expect("temp dir");
            if let Some(server) = start_agentos(python, dir.path(), &fake.url, &Db::Sqlite) {
                theirs.streams =
                    Some(streams("AgentOS", &server, &fake, &dir.path().join("peer.db"), s.peer_streams).await);
                server.stop();
            }
        }
    }
    if let Some(pg) = &pg {
        for side in ["ours", "peer"] {
            if let Err(e) = pg.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{tag}_{side}\" CASCADE")).await {
                println!("note: cannot drop the schema {tag}_{side}: {e}");
            }
        }
    }

    println!();
    println!("{:<40} {:>14} {:>14} {:>8}  {:<10}", "", "agno-run", "AgentOS", "ratio", "goal");
    for db in ["SQLite", "PostgreSQL"] {
        for clients in [1, 16] {
            let key = (db.to_string(), clients);
            let (a, b) = (ours.rps.get(&key).copied(), theirs.rps.get(&key).copied());
            let ratio = a.zip(b).map(|(a, b)| a / b);
            row(
                &format!("runs/s, {db}, {clients} client{}", if clients == 1 { "" } else { "s" }),
                opt(a, "", 1),
                opt(b, "", 1),
                ratio.map_or(String::new(), |r| format!("{r:.1}x")),
                "≥ 25x",
                ratio.map(|r| r >= 25.0),
            );
        }
    }
    let (a, b) = (ours.streams.as_ref(), theirs.streams.as_ref());
    let count = |x: Option<&Streams>| x.map_or("—".into(), |x| x.n.to_string());
    row(&format!("streams at once ({stream_secs} s each), SQLite"), count(a), count(b), String::new(), "", None);
    let done = |x: Option<&Streams>| {
        x.map_or("—".into(), |x| format!("{}/{}", x.completed, x.stored.map_or("?".into(), |s| s.to_string())))
    };
    let all_done = a.map(|x| x.completed == x.n && x.stored == Some(x.n));
    row("  completed / stored COMPLETED", done(a), done(b), String::new(), "all", all_done);
    row(
        "  added latency to 1st content, p50",
        opt(a.and_then(|x| x.p50), "ms", 1),
        opt(b.and_then(|x| x.p50), "ms", 1),
        String::new(),
        "",
        None,
    );
    let p99 = a.and_then(|x| x.p99);
    row(
        "  added latency to 1st content, p99",
        opt(p99, "ms", 1),
        opt(b.and_then(|x| x.p99), "ms", 1),
        String::new(),
        "< 50 ms",
        p99.map(|p| p < 50.0),
    );
    let conc = |x: Option<&Streams>| x.map_or("—".into(), |x| x.peak_concurrent.to_string());
    row("  most streams in flight together", conc(a), conc(b), String::new(), "", None);
    row("  server CPU time", opt(a.map(|x| x.cpu), "s", 1), opt(b.map(|x| x.cpu), "s", 1), String::new(), "", None);
    row("  total duration", opt(a.map(|x| x.total), "s", 2), opt(b.map(|x| x.total), "s", 2), String::new(), "", None);
    let peak = a.map(|x| x.peak_rss / MIB);
    row(
        "  peak RSS of the server (VmHWM)",
        opt(peak, "MiB", 1),
        opt(b.map(|x| x.peak_rss / MIB), "MiB", 1),
        String::new(),
        "< 300 MiB",
        peak.map(|p| p < 300.0),
    );
    let (ia, ib) = (ours.idle_rss.map(|r| r / MIB), theirs.idle_rss.map(|r| r / MIB));
    row(
        "idle RSS after start",
        opt(ia, "MiB", 1),
        opt(ib, "MiB", 1),
        ia.zip(ib).map_or(String::new(), |(a, b)| format!("{:.1}x less", b / a)),
        "< 30 MiB",
        ia.map(|r| r < 30.0),
    );
    let m = median(&reloads);
    row(
        &format!("reload to new generation, median of {}", reloads.len()),
        opt(m, "ms", 0),
        "—".into(),
        String::new(),
        "< 300 ms",
        m.map(|m| m < 300.0),
    );
    println!("(whole benchmark: {:.0} s; load average {})", bench_start.elapsed().as_secs_f64(), load_average());
}
