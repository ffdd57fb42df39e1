//! Hot reload of the real `agno-run serve`, end to end: saves by every editor's method, broken
//! saves, runs in flight across a reload, SIGHUP and `POST /config/reload`, settings that need a
//! restart, the runner's own files, config folders and Kubernetes config maps, the record of
//! generations, reloads under load, and a PostgreSQL outage under the server.
//!
//! Nothing here sleeps for a fixed time where it can poll: `/health` is polled (with a deadline)
//! until the reload it waits for is visible. Only the proof that something does NOT reload
//! needs time to pass: the generation must stay the same for a second ([`settled`]), many
//! debounce intervals, while a broken filter reloads forever. Nothing reaches the internet: models are the
//! scripted one or the in-process fake OpenAI server, behind a test proxy where a test needs to
//! hold a model answer back or cut a database off.
#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/python.rs"]
mod python;
#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_openai::{FakeOpenAi, Response, call};
use serde_json::{Value, json};
use server::{Server, Start, client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a poll waits for what it expects.
const DEADLINE: Duration = Duration::from_secs(10);
/// Between two polls.
const POLL: Duration = Duration::from_millis(25);

// ---------------------------------------------------------------------------------------------
// Configs and saves

/// A config with an SQLite database beside it, the scripted (echo) model, and `agents` as
/// `(id, instructions)`; `extra` is appended as is (a `server:` section, say).
fn config_with(agents: &[(&str, &str)], extra: &str) -> String {
    let mut text = String::from(
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db}\nmodels:\n  offline: {provider: scripted}\nagents:\n",
    );
    for (id, instructions) in agents {
        text.push_str(&format!("  {id}: {{model: offline, db: local, instructions: \"{instructions}\"}}\n"));
    }
    text.push_str(extra);
    text
}

fn config(agents: &[(&str, &str)]) -> String {
    config_with(agents, "")
}

/// Saves as most editors and config tools do: a temporary file beside it, renamed over it.
fn save_atomic(path: &Path, text: &str) {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Saves in place: the same inode, truncated and written.
fn save_in_place(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

/// Saves as vim does with `backupcopy=no`: probe file `4913`, the original renamed to `NAME~`,
/// a new file written, the backup removed.
fn save_vim_style(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    let probe = dir.join("4913");
    std::fs::write(&probe, "").unwrap();
    std::fs::remove_file(&probe).unwrap();
    let mut backup = path.as_os_str().to_owned();
    backup.push("~");
    let backup = PathBuf::from(backup);
    std::fs::rename(path, &backup).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::remove_file(&backup).unwrap();
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

async fn get_json(c: &reqwest::Client, url: &str) -> Value {
    let r = c.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

async fn health(c: &reqwest::Client, base: &str) -> Value {
    get_json(c, &format!("{base}/health")).await
}

fn generation_of(h: &Value) -> u64 {
    h["config_generation"].as_u64().unwrap_or_else(|| panic!("no config_generation in {h}"))
}

/// Polls `/health` until `ok` holds (at most [`DEADLINE`]); the last answer.
async fn wait_health(c: &reqwest::Client, server: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let h = health(c, &server.base).await;
        if ok(&h) {
            return h;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last /health: {h:#}\n--- stderr ---\n{}", server.stderr());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_generation(c: &reqwest::Client, server: &Server, n: u64) -> Value {
    wait_health(c, server, &format!("config generation {n}"), |h| generation_of(h) >= n).await
}

async fn agent_ids(c: &reqwest::Client, base: &str) -> Vec<String> {
    let agents = get_json(c, &format!("{base}/agents")).await;
    agents.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect()
}

/// Polls `GET /agents` until `ok` holds on the ids.
async fn wait_agents(c: &reqwest::Client, server: &Server, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ids = agent_ids(c, &server.base).await;
        if ok(&ids) {
            return ids;
        }
        if Instant::now() > deadline {
            let h = health(c, &server.base).await;
            panic!("timed out waiting for {what}; agents {ids:?}; /health: {h:#}\n--- stderr ---\n{}", server.stderr());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `POST /agents/{agent}/runs` without streaming: the status and the JSON answer.
async fn try_run(c: &reqwest::Client, base: &str, agent: &str, message: &str, session: Option<&str>) -> (u16, Value) {
    let mut form = vec![("message", message), ("stream", "false")];
    if let Some(s) = session {
        form.push(("session_id", s));
    }
    let r = c.post(format!("{base}/agents/{agent}/runs")).form(&form).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("run answer is not JSON ({e}): {text}"));
    (status, body)
}

/// A run that must complete: its JSON answer.
async fn run(c: &reqwest::Client, base: &str, agent: &str, message: &str) -> Value {
    let (status, body) = try_run(c, base, agent, message, None).await;
    assert_eq!(status, 200, "run of {agent}: {body}");
    assert_eq!(body["status"], "COMPLETED", "run of {agent}: {body}");
    body
}

/// The instructions `GET /agents/{id}` shows.
async fn instructions_of(c: &reqwest::Client, base: &str, agent: &str) -> Value {
    get_json(c, &format!("{base}/agents/{agent}")).await["system_message"]["instructions"].clone()
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can hold answers back or cut every connection

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bytes flow both ways.
    Up,
    /// Bytes flow to the upstream server; its answers wait at the proxy.
    Paused,
    /// Every connection is dropped, and new ones are closed as soon as they are accepted.
    Down,
}

struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    /// Connections being forwarded.
    open: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream` (`host:port`).
    async fn start(upstream: &str, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = watch::channel(mode);
        let open = Arc::new(AtomicUsize::new(0));
        let (count, upstream) = (open.clone(), upstream.to_string());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *rx.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let (count, upstream, rx) = (count.clone(), upstream.clone(), rx.clone());
                tokio::spawn(async move {
                    forward(client, &upstream, rx).await;
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy { port, mode: tx, open }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Cuts every connection (and waits until they are all closed); refuses new ones.
    async fn down(&self) {
        self.set(Mode::Down);
        let deadline = Instant::now() + DEADLINE;
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "the proxy's connections did not close");
            tokio::time::sleep(POLL).await;
        }
    }
}

async fn forward(client: TcpStream, upstream: &str, mode: watch::Receiver<Mode>) {
    let mut stop = mode.clone();
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let to_client = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut held = mode.clone();
            if held.wait_for(|m| *m != Mode::Paused).await.map(|m| *m).unwrap_or(Mode::Down) == Mode::Down {
                return;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = async { tokio::join!(to_server, to_client) } => {}
        _ = stop.wait_for(|m| *m == Mode::Down) => {}
    }
}

/// `host:port` of a `scheme://user@host:port/...` URL (port 5432 when none is given).
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let hp = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if hp.contains(':') { hp.to_string() } else { format!("{hp}:5432") }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn via_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}/{path}")
}

// ---------------------------------------------------------------------------------------------
// 1. Saves

/// Starts a server on `app.yaml` with agent `first`, applies `save` with agents `first` and
/// `second`, and checks that `second` appears and runs.
async fn an_added_agent_serves_after(save: fn(&Path, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &config(&[("first", "v1")]));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();
    assert_eq!(agent_ids(&c, &server.base).await, ["first"]);
    assert_eq!(generation_of(&health(&c, &server.base).await), 1);

    save(&path, &config(&[("first", "v1"), ("second", "v1")]));
    wait_agents(&c, &server, "agent `second`", |ids| ids == ["first", "second"]).await;
    let out = run(&c, &server.base, "second", "hello from the new agent").await;
    assert_eq!(out["content"], "hello from the new agent");
    assert_eq!(out["agent_id"], "second");
    let h = health(&c, &server.base).await;
    assert!(generation_of(&h) >= 2, "{h}");
    assert_eq!(h["last_error"], Value::Null, "{h}");
    assert_eq!(h["last_reload"]["trigger"], "watch", "{h}");

    // A second save of the same kind is seen too (a watch on the old inode would miss it).
    save(&path, &config(&[("first", "v1"), ("second", "v1"), ("third", "v1")]));
    wait_agents(&c, &server, "agent `third`", |ids| ids.len() == 3).await;
    run(&c, &server.base, "third", "and a third").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_added_by_an_atomic_rename_save_serves() {
    an_added_agent_serves_after(save_atomic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_added_by_an_in_place_write_serves() {
    an_added_agent_serves_after(save_in_place).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_added_by_a_vim_style_save_serves() {
    an_added_agent_serves_after(save_vim_style).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Broken saves

/// Saves `broken`, checks that generation `generation` keeps serving with a diagnostic of
/// `code` at `line` of app.yaml in `/health`, then saves `fixed` and checks the recovery.
async fn a_broken_save_keeps_serving(
    c: &reqwest::Client,
    server: &Server,
    path: &Path,
    broken: &str,
    code: &str,
    line: u64,
    fixed: &str,
) {
    let before = health(c, &server.base).await;
    let generation = generation_of(&before);
    assert_eq!(before["last_error"], Value::Null, "{before}");

    save_atomic(path, broken);
    let h = wait_health(c, server, "the broken save's error", |h| !h["last_error"].is_null()).await;
    assert_eq!(generation_of(&h), generation, "a broken save must not replace the generation: {h:#}");
    assert_eq!(h["last_reload"]["loaded"], false, "{h:#}");
    let diagnostics = h["last_error"]["diagnostics"].as_array().unwrap_or_else(|| panic!("no diagnostics: {h:#}"));
    let d = diagnostics.iter().find(|d| d["code"] == code).unwrap_or_else(|| panic!("no {code} diagnostic: {h:#}"));
    assert!(d["file"].as_str().is_some_and(|f| f.ends_with("app.yaml")), "{d}");
    assert_eq!(d["line"].as_u64(), Some(line), "{d}");
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");

    // The old generation still answers: its agents, and their runs.
    assert_eq!(agent_ids(c, &server.base).await, ["first"]);
    let out = run(c, &server.base, "first", "still here").await;
    assert_eq!(out["content"], "still here");
    assert_eq!(generation_of(&health(c, &server.base).await), generation);

    save_atomic(path, fixed);
    let h = wait_generation(c, server, generation + 1).await;
    assert_eq!(generation_of(&h), generation + 1, "{h:#}");
    assert_eq!(h["last_error"], Value::Null, "{h:#}");
    assert_eq!(h["last_reload"]["loaded"], true, "{h:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_save_keeps_the_old_generation_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let good = config(&[("first", "v1")]);
    let path = server::write_config(dir.path(), &good);
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();

    // A YAML syntax error: a flow mapping on line 5 left open, found by the parser where the
    // next line starts (line 6).
    let syntax = good.replace("models:\n  offline: {provider: scripted}", "models:\n  offline: {provider: scripted");
    assert!(syntax.lines().nth(4).unwrap().ends_with("scripted"), "{syntax}");
    a_broken_save_keeps_serving(&c, &server, &path, &syntax, "agno::yaml_syntax", 6, &good).await;

    // An agent that names a model nobody declared, on line 8.
    let unknown = format!("{good}  broken: {{model: nosuch, db: local}}\n");
    assert!(unknown.lines().nth(7).unwrap().contains("nosuch"), "{unknown}");
    a_broken_save_keeps_serving(&c, &server, &path, &unknown, "agno::unknown_model", 8, &good).await;
    assert_eq!(generation_of(&health(&c, &server.base).await), 3);
}

// ---------------------------------------------------------------------------------------------
// 3. A run in flight across a reload

/// A config whose agent `writer` uses the fake OpenAI server at `base_url` (model `model_id`)
/// with `instructions` and the calculator; `other` uses the scripted model.
fn gated_config(base_url: &str, model_id: &str, instructions: &str, with_writer: bool) -> String {
    let mut text = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  offline: {{provider: scripted}}\n  gated: {{provider: openai, id: {model_id}, base_url: \"{base_url}\", api_key: sk-test, max_retries: 0}}\nagents:\n  other: {{model: offline, db: local}}\n"
    );
    if with_writer {
        text.push_str(&format!(
            "  writer: {{model: gated, db: local, instructions: \"{instructions}\", tools: [calculator]}}\n"
        ));
    }
    text
}

/// The system message of a model request.
fn system_text(r: &fake_openai::Request) -> String {
    r.messages()
        .iter()
        .find(|m| m["role"] == "system")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Starts `writer`'s run with its first model answer held at a proxy, saves `next` (built from
/// the fake's base URL through the proxy), waits for the reload, releases the answer: the
/// run's second model call (after the tool call) still uses the old model and instructions.
/// With `stream`, the run is streamed and must end with `RunCompleted`.
async fn a_run_in_flight_finishes_on_its_generation(
    stream: bool,
    next: impl Fn(&str) -> String,
    check_reloaded: impl AsyncFn(&reqwest::Client, &Server),
) {
    let fake = FakeOpenAi::start().await;
    let fake_port = fake.base_url().trim_start_matches("http://127.0.0.1:").trim_end_matches("/v1").to_string();
    let proxy = Proxy::start(&format!("127.0.0.1:{fake_port}"), Mode::Paused).await;
    let base_url = format!("http://127.0.0.1:{}/v1", proxy.port);
    fake.push(Response::tool_calls(vec![call("call_1", "calculator", r#"{"expression": "6*7"}"#)]));
    fake.respond_with(|r| {
        let model = r.body["model"].as_str().unwrap_or_default().to_string();
        Response::text(&format!("model={model}; system={}", system_text(r)))
    });

    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &gated_config(&base_url, "gpt-old", "Answer as OLD.", true));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();

    let in_flight = tokio::spawn({
        let (c, base) = (c.clone(), server.base.clone());
        async move {
            if !stream {
                return try_run(&c, &base, "writer", "What is 6*7?", Some("flight")).await;
            }
            let form = [("message", "What is 6*7?"), ("stream", "true"), ("session_id", "flight")];
            let r = c.post(format!("{base}/agents/writer/runs")).form(&form).send().await.unwrap();
            let status = r.status().as_u16();
            let events = server::parse_sse(&r.text().await.unwrap());
            let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names.first(), Some(&"RunStarted"), "{names:?}");
            assert!(names.contains(&"ToolCallCompleted"), "{names:?}");
            assert_eq!(names.last(), Some(&"RunCompleted"), "{names:?}");
            let mut last = events.last().unwrap().1.clone();
            last["status"] = json!("COMPLETED");
            (status, last)
        }
    });
    let deadline = Instant::now() + DEADLINE;
    while fake.requests().is_empty() {
        assert!(Instant::now() < deadline, "the run never called its model:\n{}", server.stderr());
        tokio::time::sleep(POLL).await;
    }

    save_atomic(&path, &next(&base_url));
    wait_generation(&c, &server, 2).await;
    check_reloaded(&c, &server).await;
    assert!(!in_flight.is_finished(), "the run ended while its model's answer was held");
    assert_eq!(fake.requests().len(), 1, "the run went on while its model's answer was held");

    proxy.set(Mode::Up);
    let (status, out) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "COMPLETED", "{out}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one model call for the tool call, one for the answer");
    assert_eq!(requests[1].body["model"], "gpt-old", "the run's second call used the new model");
    assert!(system_text(&requests[1]).contains("Answer as OLD."), "{}", system_text(&requests[1]));
    let content = out["content"].as_str().unwrap();
    assert!(content.starts_with("model=gpt-old; "), "{content}");
    assert!(content.contains("Answer as OLD.") && !content.contains("NEW"), "{content}");

    // The run is stored COMPLETED, readable from the new generation.
    let runs = get_json(&c, &server.url("/sessions/flight/runs?type=agent")).await;
    let stored = runs.as_array().unwrap().iter().find(|r| r["run_id"] == out["run_id"]).cloned();
    let stored = stored.unwrap_or_else(|| panic!("run not stored: {runs:#}"));
    assert_eq!(stored["status"], "COMPLETED", "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_in_flight_keeps_its_instructions_and_model_across_a_reload() {
    a_run_in_flight_finishes_on_its_generation(
        false,
        |base_url| gated_config(base_url, "gpt-new", "Answer as NEW.", true),
        async |c, server| {
            assert_eq!(instructions_of(c, &server.base, "writer").await, json!(["Answer as NEW."]));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_run_in_flight_completes_after_its_agent_is_removed() {
    a_run_in_flight_finishes_on_its_generation(
        true,
        |base_url| gated_config(base_url, "gpt-new", "", false),
        async |c, server| {
            assert_eq!(agent_ids(c, &server.base).await, ["other"]);
            let r = c.get(server.url("/agents/writer")).send().await.unwrap();
            assert_eq!(r.status(), 404);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_run_after_a_reload_uses_the_new_config() {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|r| {
        let model = r.body["model"].as_str().unwrap_or_default().to_string();
        Response::text(&format!("model={model}; system={}", system_text(r)))
    });
    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &gated_config(&fake.base_url(), "gpt-old", "Answer as OLD.", true));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();
    let out = run(&c, &server.base, "writer", "Hi").await;
    assert!(out["content"].as_str().unwrap().contains("model=gpt-old; system=Answer as OLD."), "{out}");
    save_atomic(&path, &gated_config(&fake.base_url(), "gpt-new", "Answer as NEW.", true));
    wait_generation(&c, &server, 2).await;
    let out = run(&c, &server.base, "writer", "Hi").await;
    assert!(out["content"].as_str().unwrap().contains("model=gpt-new; system=Answer as NEW."), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 4. SIGHUP and POST /config/reload

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    server::write_config(dir.path(), &config(&[("first", "v1")]));
    let server = Server::start(dir.path(), Start::new(&["app.yaml", "--no-reload"]));
    let c = client();
    assert_eq!(generation_of(&health(&c, &server.base).await), 1);
    server.signal("HUP");
    let h = wait_generation(&c, &server, 2).await;
    assert_eq!(h["last_reload"]["trigger"], "sighup", "{h:#}");
    assert_eq!(h["last_reload"]["loaded"], true, "{h:#}");

    // With the watcher off, a changed file is read by the next SIGHUP.
    std::fs::write(dir.path().join("app.yaml"), config(&[("first", "v1"), ("second", "v1")])).unwrap();
    server.signal("HUP");
    wait_generation(&c, &server, 3).await;
    assert_eq!(agent_ids(&c, &server.base).await, ["first", "second"]);
    run(&c, &server.base, "second", "after SIGHUP").await;

    // And the server is still the same process, stopping cleanly.
    server.signal("TERM");
    let (status, stderr) = server.wait(20);
    assert!(status.success(), "{status}: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn post_config_reload_answers_the_new_generation_and_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        server::write_config(dir.path(), &config_with(&[("first", "v1")], "server:\n  security_key: test-key-1234\n"));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();

    for auth in [None, Some("Bearer wrong-key"), Some("test-key-12345")] {
        let mut req = c.post(server.url("/config/reload"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].is_string(), "{body}");
    }
    assert_eq!(generation_of(&health(&c, &server.base).await), 1, "an unauthorized reload must not reload");

    let reload = async || {
        let r = c.post(server.url("/config/reload")).bearer_auth("test-key-1234").send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let out = reload().await;
    assert_eq!(out["loaded"], true, "{out}");
    assert_eq!(out["generation"], 2, "{out}");
    assert_eq!(out["trigger"], "http", "{out}");
    let h = health(&c, &server.base).await;
    assert_eq!(generation_of(&h), 2, "{h}");

    save_atomic(&path, &config_with(&[("first", "v1"), ("second", "v1")], "server:\n  security_key: test-key-1234\n"));
    wait_generation(&c, &server, 3).await;
    // The reload details are for the key holder once a key is set.
    let h: Value = c
        .get(format!("{}/health", server.base))
        .bearer_auth("test-key-1234")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["restart_required"], json!([]), "{h}");
    let out = reload().await;
    assert_eq!(out["loaded"], true, "{out}");
    assert_eq!(out["generation"], 4, "{out}");

    // A reload of a broken file answers 200 with loaded: false and the generation that serves.
    save_atomic(&path, "version: 1\nagents:\n  first: {model: nosuch}\n");
    wait_health(&c, &server, "the broken save's error", |h| !h["last_error"].is_null()).await;
    let out = reload().await;
    assert_eq!(out["loaded"], false, "{out}");
    assert_eq!(out["generation"], 4, "{out}");
    assert!(out["error"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty()), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 5. Settings that need a restart

/// A server started without `--port`, listening where its config says.
struct Fixed {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Fixed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_port_needs_a_restart_and_the_old_port_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server_section = |port: u16| format!("server:\n  host: 127.0.0.1\n  port: {port}\n");
    let path = server::write_config(dir.path(), &config_with(&[("first", "v1")], &server_section(port)));
    let (mut child, stderr, rx) = server::spawn(dir.path(), &["serve".into(), "app.yaml".into()], &[]);
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr,
        Err(e) => {
            let _ = child.kill();
            panic!("agno-run did not serve ({e}):\n{}", stderr.lock().unwrap().join("\n"));
        }
    };
    let fixed = Fixed { child, base: addr, stderr };
    assert_eq!(fixed.base, format!("http://127.0.0.1:{port}"));
    let c = client();
    let h = health(&c, &fixed.base).await;
    assert_eq!(h["restart_required"], json!([]), "{h}");

    let other = free_port();
    save_atomic(&path, &config_with(&[("first", "v1"), ("second", "v1")], &server_section(other)));
    let deadline = Instant::now() + DEADLINE;
    let h = loop {
        let h = health(&c, &fixed.base).await;
        if generation_of(&h) >= 2 {
            break h;
        }
        assert!(Instant::now() < deadline, "no reload: {h:#}\n{}", fixed.stderr.lock().unwrap().join("\n"));
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(h["last_reload"]["loaded"], true, "{h:#}");
    assert_eq!(h["last_error"], Value::Null, "{h:#}");
    assert_eq!(h["restart_required"], json!(["server.port"]), "{h:#}");
    assert_eq!(h["last_reload"]["restart_required"], json!(["server.port"]), "{h:#}");
    // The rest of the change applied, on the old port; the new one is not listened on.
    assert_eq!(agent_ids(&c, &fixed.base).await, ["first", "second"]);
    run(&c, &fixed.base, "second", "on the old port").await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err(), "something listens on the new port");

    // Back to the port it listens on: nothing needs a restart any more.
    save_atomic(&path, &config_with(&[("first", "v1")], &server_section(port)));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let h = health(&c, &fixed.base).await;
        if generation_of(&h) >= 3 {
            assert_eq!(h["restart_required"], json!([]), "{h:#}");
            break;
        }
        assert!(Instant::now() < deadline, "no reload: {h:#}");
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The runner's own files

/// Polls `/health` until the generation has not changed for [`SETTLE`] (the debounce many
/// times over): a watcher that reloads on its own database's writes never settles, since each
/// reload writes its record there. The settled `/health`.
async fn settled(c: &reqwest::Client, server: &Server) -> Value {
    let deadline = Instant::now() + DEADLINE;
    let mut last = health(c, &server.base).await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let h = health(c, &server.base).await;
        if generation_of(&h) != generation_of(&last) {
            since = Instant::now();
        }
        last = h;
        if since.elapsed() >= SETTLE {
            return last;
        }
        assert!(Instant::now() < deadline, "the config keeps reloading: {last:#}\n--- stderr ---\n{}", server.stderr());
    }
}

/// How long the generation must stay the same to count as settled.
const SETTLE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread")]
async fn the_runners_database_files_beside_the_config_do_not_reload_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &config(&[("first", "v1")]));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();
    for i in 0..10 {
        run(&c, &server.base, "first", &format!("write {i}")).await;
    }
    for f in ["agno.db", "agno.db-wal", "agno.db-shm"] {
        assert!(dir.path().join(f).exists(), "{f} is not beside the config: the test proves nothing");
    }
    let h = settled(&c, &server).await;
    assert_eq!(generation_of(&h), 1, "the database's writes reloaded the config: {h:#}");
    assert_eq!(h["last_reload"], Value::Null, "{h:#}");

    // A real change is one reload (its record, written to agno.db, is not another)…
    save_atomic(&path, &config(&[("first", "v2")]));
    wait_generation(&c, &server, 2).await;
    for i in 0..10 {
        run(&c, &server.base, "first", &format!("write more {i}")).await;
    }
    let h = settled(&c, &server).await;
    assert_eq!(generation_of(&h), 2, "the database's writes reloaded the config: {h:#}");

    // …and the next one is number 3.
    let out: Value = c.post(server.url("/config/reload")).send().await.unwrap().json().await.unwrap();
    assert_eq!(out["generation"], 3, "{out}");
    let generations = get_json(&c, &server.url("/config/generations")).await;
    let triggers: Vec<&str> =
        generations["data"].as_array().unwrap().iter().map(|g| g["trigger"].as_str().unwrap()).collect();
    assert_eq!(triggers, ["http", "watch", "start"], "{generations:#}");
}

// ---------------------------------------------------------------------------------------------
// 7. Config folders

#[tokio::test(flavor = "multi_thread")]
async fn a_file_added_to_a_config_folder_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).unwrap();
    std::fs::write(configs.join("a.yaml"), config(&[("alpha", "from a.yaml")])).unwrap();
    let server = Server::start(dir.path(), Start::new(&["configs"]));
    let c = client();
    assert_eq!(agent_ids(&c, &server.base).await, ["alpha"]);

    // A new file, written by an editor's temporary file renamed into place.
    let b = "version: 1\nagents:\n  beta: {model: offline, db: local, instructions: \"from b.yaml\"}\n";
    save_atomic(&configs.join("b.yaml"), b);
    wait_agents(&c, &server, "agent `beta` from b.yaml", |ids| ids.contains(&"beta".to_string())).await;
    assert_eq!(instructions_of(&c, &server.base, "beta").await, json!(["from b.yaml"]));
    let out = run(&c, &server.base, "beta", "hi beta").await;
    assert_eq!(out["content"], "hi beta");
    let h = health(&c, &server.base).await;
    let files = h["config_files"].as_array().unwrap();
    assert!(files.iter().any(|f| f.as_str().unwrap().ends_with("b.yaml")), "{h:#}");

    // A file created in place too, and a removed file goes away.
    std::fs::write(configs.join("c.yml"), "version: 1\nagents:\n  gamma: {model: offline, db: local}\n").unwrap();
    wait_agents(&c, &server, "agent `gamma` from c.yml", |ids| ids.contains(&"gamma".to_string())).await;
    std::fs::remove_file(configs.join("b.yaml")).unwrap();
    wait_agents(&c, &server, "agent `beta` gone", |ids| ids == ["alpha", "gamma"]).await;
    let r = c.get(server.url("/agents/beta")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// Publishes `text` as `app.yaml` of a Kubernetes config-map volume at `mount`, as the kubelet
/// does: a new timestamped folder, a `..data_tmp` symlink to it renamed over `..data`, the old
/// folder removed; `app.yaml` is a symlink to `..data/app.yaml`.
fn publish_config_map(mount: &Path, version: u32, text: &str) {
    let folder = format!("..2026_12_02_{version:02}");
    std::fs::create_dir(mount.join(&folder)).unwrap();
    std::fs::write(mount.join(&folder).join("app.yaml"), text).unwrap();
    std::os::unix::fs::symlink(&folder, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    if version == 1 {
        std::os::unix::fs::symlink("..data/app.yaml", mount.join("app.yaml")).unwrap();
    } else {
        std::fs::remove_dir_all(mount.join(format!("..2026_12_02_{:02}", version - 1))).unwrap();
    }
}

/// Serves a config map's `app.yaml` (named as `arg`, relative to the test folder) and updates
/// the map twice.
async fn a_config_map_update_is_loaded(arg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    std::fs::create_dir(&mount).unwrap();
    // The volume is read-only in a pod: the database lives elsewhere.
    let yaml = |agents: &[(&str, &str)]| config(agents).replace("db_file: agno.db", "db_file: ../agno.db");
    publish_config_map(&mount, 1, &yaml(&[("first", "v1")]));
    let server = Server::start(dir.path(), Start::new(&[arg]));
    let c = client();
    assert_eq!(agent_ids(&c, &server.base).await, ["first"]);
    run(&c, &server.base, "first", "before").await;

    publish_config_map(&mount, 2, &yaml(&[("first", "v1"), ("second", "v2")]));
    wait_agents(&c, &server, "agent `second` from the new config map", |ids| ids == ["first", "second"]).await;
    run(&c, &server.base, "second", "after").await;
    publish_config_map(&mount, 3, &yaml(&[("first", "v3")]));
    wait_agents(&c, &server, "agent `second` gone", |ids| ids == ["first"]).await;
    assert_eq!(instructions_of(&c, &server.base, "first").await, json!(["v3"]));
    assert!(dir.path().join("agno.db").exists(), "the database is not where the config put it");
    let h = health(&c, &server.base).await;
    assert_eq!(h["last_error"], Value::Null, "{h:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubernetes_config_map_update_of_a_served_file_is_loaded() {
    a_config_map_update_is_loaded("config/app.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubernetes_config_map_update_of_a_served_folder_is_loaded() {
    a_config_map_update_is_loaded("config").await;
}

// ---------------------------------------------------------------------------------------------
// 8. The record of generations

#[tokio::test(flavor = "multi_thread")]
async fn config_generations_lists_every_attempt_newest_first_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-test-secret";
    let remote =
        format!("  remote: {{provider: openai, id: gpt-x, base_url: \"http://127.0.0.1:9/v1\", api_key: {secret}}}\n");
    let with_remote = |agents: &[(&str, &str)]| {
        config(agents)
            .replace("  offline: {provider: scripted}\n", &format!("  offline: {{provider: scripted}}\n{remote}"))
    };
    let good = with_remote(&[("first", "v1")]);
    assert!(good.contains(secret));
    let path = server::write_config(dir.path(), &good);
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();

    // A broken save whose error is on the line holding the key.
    save_atomic(&path, &good.replace(&format!("api_key: {secret}}}"), &format!("api_key: {secret}")));
    wait_health(&c, &server, "the broken save's error", |h| !h["last_error"].is_null()).await;
    save_atomic(&path, &with_remote(&[("first", "v1"), ("second", "v1")]));
    wait_generation(&c, &server, 2).await;
    let out: Value = c.post(server.url("/config/reload")).send().await.unwrap().json().await.unwrap();
    assert_eq!(out["generation"], 3, "{out}");

    let r = c.get(server.url("/config/generations")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(secret), "a secret in /config/generations: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["db_id"], "local", "{body:#}");
    let data = body["data"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value)> =
        data.iter().map(|g| (g["number"].clone(), g["loaded"].clone(), g["trigger"].clone())).collect();
    assert_eq!(
        summary,
        [
            (json!(3), json!(true), json!("http")),
            (json!(2), json!(true), json!("watch")),
            (Value::Null, json!(false), json!("watch")),
            (json!(1), json!(true), json!("start")),
        ],
        "newest first: {body:#}"
    );
    for g in data {
        assert!(g["generation_id"].is_string() && g["created_at"].is_string(), "{g}");
        let files = g["files"].as_array().unwrap_or_else(|| panic!("no files: {g}"));
        assert!(files.iter().any(|f| f.as_str().unwrap().ends_with("app.yaml")), "{g}");
        if g["loaded"] == true {
            let hash = g["config_hash"].as_str().unwrap_or_else(|| panic!("no config_hash: {g}"));
            assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{g}");
            assert!(g["error"].is_null(), "{g}");
        } else {
            let error = &g["error"];
            assert!(error["message"].is_string(), "{g}");
            let d = &error["diagnostics"][0];
            assert_eq!(d["code"], "agno::yaml_syntax", "{g}");
            assert!(d["file"].as_str().unwrap().ends_with("app.yaml") && d["line"].is_u64(), "{g}");
        }
    }
    // The same file, reloaded, is the same config; a changed one is not.
    assert_eq!(data[0]["config_hash"], data[1]["config_hash"]);
    assert_ne!(data[1]["config_hash"], data[3]["config_hash"]);
    let limited = get_json(&c, &server.url("/config/generations?limit=2")).await;
    assert_eq!(limited["data"].as_array().unwrap().len(), 2);
    assert_eq!(limited["data"][0]["number"], 3);

    // Nor anywhere else the reloads are described.
    for route in ["/health", "/config", "/agents"] {
        let text = c.get(server.url(route)).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains(secret), "a secret in {route}: {text}");
    }
    assert!(!server.stderr().contains(secret), "a secret in the log");
}

// ---------------------------------------------------------------------------------------------
// 9. Reloads under load

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_reloads_under_load_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &config(&[("first", "v0"), ("second", "v0")]));
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for task in 0..4 {
        let (c, base, stop, done) = (c.clone(), server.base.clone(), stop.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let r = c.get(format!("{base}/agents")).send().await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let agents: Value = r.json().await.unwrap();
                        if agents.as_array().is_none_or(|a| a.len() != 2) {
                            failures.push(format!("GET /agents: {agents}"));
                        }
                    }
                    Ok(r) => {
                        failures.push(format!("GET /agents: {} {}", r.status(), r.text().await.unwrap_or_default()))
                    }
                    Err(e) => failures.push(format!("GET /agents: {e}")),
                }
                let agent = if i.is_multiple_of(2) { "first" } else { "second" };
                let message = format!("task {task} message {i}");
                let r = c
                    .post(format!("{base}/agents/{agent}/runs"))
                    .form(&[("message", message.as_str()), ("stream", "false")])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let out: Value = r.json().await.unwrap();
                        if out["status"] != "COMPLETED" || out["content"] != message.as_str() {
                            failures.push(format!("run: {out}"));
                        }
                    }
                    Ok(r) => failures.push(format!("run: {} {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => failures.push(format!("run: {e}")),
                }
                done.fetch_add(2, Ordering::SeqCst);
            }
            failures
        }));
    }

    let started = done.load(Ordering::SeqCst);
    let mut last = 1;
    for i in 1..=100u64 {
        if i.is_multiple_of(10) {
            // Every tenth reload is a changed file, seen by the watcher.
            save_atomic(&path, &config(&[("first", &format!("v{i}")), ("second", "v0")]));
            let h = wait_health(&c, &server, &format!("the watcher's reload {i}"), |h| {
                generation_of(h) > last && h["last_reload"]["trigger"] == "watch"
            })
            .await;
            assert_eq!(h["last_reload"]["loaded"], true, "reload {i}: {h}");
            last = generation_of(&h);
            continue;
        }
        let r = c.post(server.url("/config/reload")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["loaded"], true, "reload {i}: {out}");
        let n = out["generation"].as_u64().unwrap();
        assert!(n > last, "reload {i} answered generation {n} after {last}");
        last = n;
    }
    let during = done.load(Ordering::SeqCst) - started;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for t in clients {
        failures.extend(t.await.unwrap());
    }
    assert!(failures.is_empty(), "{} failed requests, e.g. {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(during >= 20, "only {during} requests ran during the reloads: the test proves little");
    let h = health(&c, &server.base).await;
    println!("{during} requests during 100 reloads; generation {}", generation_of(&h));
    assert!(generation_of(&h) >= 101, "{h}");
    assert_eq!(h["last_error"], Value::Null, "{h}");
    assert_eq!(instructions_of(&c, &server.base, "first").await, json!(["v100"]));
}

// ---------------------------------------------------------------------------------------------
// 10. PostgreSQL outage

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_outage_fails_requests_cleanly_and_the_server_recovers() {
    let Some(pg_url) = python::postgres() else { return };
    let schema = python::PgSchema::new(&pg_url);
    let proxy = Proxy::start(&host_port(&pg_url), Mode::Up).await;
    let db_url = via_port(&pg_url, proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\ndatabases:\n  main: {{type: postgres, db_url: \"{db_url}\", db_schema: {}, connect_timeout: 2, pool_size: 4}}\nmodels:\n  offline: {{provider: scripted}}\nagents:\n  first: {{model: offline, db: main}}\n",
        schema.name
    );
    server::write_config(dir.path(), &yaml);
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let pid = server.pid();
    let c = client();

    let mut stored = Vec::new();
    for i in 0..5 {
        let (status, out) = try_run(&c, &server.base, "first", &format!("before {i}"), Some("outage")).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["status"], "COMPLETED", "{out}");
        stored.push(out["run_id"].as_str().unwrap().to_string());
    }
    let sessions = get_json(&c, &server.url("/sessions?type=agent")).await;
    assert_eq!(sessions["meta"]["total_count"], 1, "{sessions:#}");

    proxy.down().await;
    let mut answered = Vec::new();
    for i in 0..3 {
        for (what, request) in [
            ("GET /sessions", c.get(server.url("/sessions?type=agent"))),
            ("GET /sessions/outage/runs", c.get(server.url("/sessions/outage/runs?type=agent"))),
            (
                "POST a run",
                c.post(server.url("/agents/first/runs")).form(&[
                    ("message", format!("during {i}").as_str()),
                    ("stream", "false"),
                    ("session_id", "outage"),
                ]),
            ),
        ] {
            let r = request.send().await.unwrap_or_else(|e| panic!("{what} during the outage: {e}"));
            let status = r.status();
            let text = r.text().await.unwrap();
            let body: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {status}, not JSON ({e}): {text}"));
            assert!(status.is_server_error(), "{what} during the outage answered {status}: {text}");
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
            answered.push(status.as_u16());
        }
        // The server itself is fine.
        let h = health(&c, &server.base).await;
        assert_eq!(h["status"], "ok");
    }
    assert!(answered.iter().all(|s| *s == 503), "during the outage: {answered:?}");
    // A reload during the outage answers too (the database's declaration did not change: its
    // store is kept; the record of the attempt cannot be written, which is only logged).
    let r = c.post(server.url("/config/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["loaded"], true, "{out}");
    assert_eq!(out["generation"], 2, "{out}");

    proxy.set(Mode::Up);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.get(server.url("/sessions?type=agent")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery after the outage: {} {}", r.status(), r.text().await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, out) = try_run(&c, &server.base, "first", "after", Some("outage")).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "COMPLETED", "{out}");
    assert_eq!(server.pid(), pid);

    let runs = get_json(&c, &server.url("/sessions/outage/runs?type=agent")).await;
    let ids: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    for id in &stored {
        assert!(ids.contains(&id.as_str()), "run {id} from before the outage is gone: {ids:?}");
    }
    assert!(ids.contains(&out["run_id"].as_str().unwrap()), "{ids:?}");
    let completed = runs.as_array().unwrap().iter().filter(|r| r["status"] == "COMPLETED").count();
    assert!(completed > stored.len(), "{runs:#}");

    // Reloads are recorded in PostgreSQL again (the one during the outage could not be).
    let out: Value = c.post(server.url("/config/reload")).send().await.unwrap().json().await.unwrap();
    assert_eq!(out["generation"], 3, "{out}");
    let generations = get_json(&c, &server.url("/config/generations")).await;
    let numbers: Vec<Value> = generations["data"].as_array().unwrap().iter().map(|g| g["number"].clone()).collect();
    assert_eq!(numbers, [json!(3), json!(1)], "{generations:#}");

    // It still stops cleanly.
    server.signal("TERM");
    let (status, stderr) = server.wait(30);
    assert!(status.success(), "{status}: {stderr}");
    drop(schema);
}
