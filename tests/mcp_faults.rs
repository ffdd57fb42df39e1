//! MCP servers that misbehave, with the project's own fault server (`tests/mcp/fault_server.py`,
//! plain Python, no packages): one that never answers `initialize`, one that exits mid-call, one
//! that answers 20 MB, one that ignores SIGTERM (with a grandchild that does too), one that
//! writes garbage or never answers a call, and HTTP servers that refuse or echo secrets. The
//! runner survives each, the run stores what happened, a dead server is restarted, and no child
//! process is left behind (checked by pid).
#[path = "support/mcp_peers.rs"]
mod mcp_peers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use agno_run::tool::mcp::Status;
use mcp_peers::{alive, gone_within};
use serde_json::Value;

fn fault_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py")
}

/// A config: SQLite, the scripted model `m` with `replies` (YAML list items, indented 6),
/// `servers` (YAML under `mcp_servers:`, indented 2) and agent `a` using every server.
fn config(replies: &str, servers: &str, uses: &str) -> String {
    format!(
        "version: 1\ndatabases:\n  main: {{type: sqlite, db_file: t.db}}\nmodels:\n  m:\n    provider: scripted\n    replies:\n{replies}\nmcp_servers:\n{servers}agents:\n  a: {{model: m, tools: [calculator, {uses}]}}\n"
    )
}

/// A fault server declaration: `flags` after the script, its pid file in `dir`.
fn fault(dir: &Path, id: &str, flags: &str, extra: &str) -> String {
    format!(
        "  {id}: {{transport: stdio, command: python3, args: ['{}', --pid-file, '{}'{flags}]{extra}}}\n",
        fault_server().display(),
        dir.join(format!("{id}.pid")).display()
    )
}

/// The pids (server, grandchild or 0) a fault server wrote, waiting for the file.
fn pids(dir: &Path, id: &str) -> (u32, u32) {
    let path = dir.join(format!("{id}.pid"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut it = text.split(' ').map(|p| p.parse::<u32>().unwrap());
            return (it.next().unwrap(), it.next().unwrap());
        }
        assert!(Instant::now() < deadline, "{} was not written", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn build(dir: &Path, yaml: &str) -> Arc<Generation> {
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded =
        load(&[path], &LoadOptions::with_env(HashMap::from([("TOKEN".to_string(), "s3cr3t-t0ken".to_string())])));
    let config = loaded.config.unwrap_or_else(|| panic!("{:#?}", loaded.report.diagnostics));
    Generation::build(config, None, Process::new(), Options::default())
}

async fn run(g: &Arc<Generation>, message: &str) -> Value {
    let input = RunInput { message: message.into(), session_id: Some("s".into()), ..Default::default() };
    let request = RunRequest { target: Component::new(SessionType::Agent, "a"), input, parent: None };
    runtime::start(g, request).await.unwrap().result().await.unwrap().run.run_data
}

fn results(run: &Value) -> Vec<(String, String, bool)> {
    run["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {run:#}"))
        .iter()
        .map(|t| {
            (
                t["tool_name"].as_str().unwrap().to_string(),
                t["result"].as_str().unwrap_or("").to_string(),
                t["tool_call_error"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Polls until `ok` holds on the server's status (at most `secs`).
async fn wait_status(g: &Generation, id: &str, secs: u64, ok: impl Fn(&Status) -> bool) -> Status {
    let s = g.mcp_servers()[id].clone();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = s.status();
        if ok(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "server {id} stayed {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_initialize_times_out_is_killed_and_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let servers = fault(dir.path(), "mute", ", --hang-init", ", startup_timeout_seconds: 1");
    let g = build(dir.path(), &config("      - fine without it", &servers, "{mcp: mute}"));
    let t0 = Instant::now();
    let started = g.start_mcp().await;
    let waited = t0.elapsed();
    let why = started[0].1.as_ref().unwrap_err();
    assert!(why.contains("did not answer `initialize` within 1.0s"), "{why}");
    assert!(waited < Duration::from_secs(5), "start_mcp waited {waited:?}");
    let (first, _) = pids(dir.path(), "mute");
    assert!(gone_within(first, 3.0), "the first child ({first}) was not killed");
    // The run goes on without the server's tools.
    let data = run(&g, "hello").await;
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    assert_eq!(data["content"], "fine without it");
    let names: Vec<String> =
        g.agent("a").unwrap().toolbox_for_run().await.tools().iter().map(|t| t.spec().name.clone()).collect();
    assert_eq!(names, ["calculator"]);
    // It is started again (after a backoff), with a new child.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, _) = pids(dir.path(), "mute");
        if now != first {
            break;
        }
        assert!(Instant::now() < deadline, "the server was not started again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    g.process().close().await;
    let (last, _) = pids(dir.path(), "mute");
    assert!(gone_within(last, 3.0), "the last child ({last}) outlived close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_exits_mid_call_gives_a_tool_error_and_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let replies = "      - {tool_calls: [{name: exit_now}]}\n      - noted\n      - {tool_calls: [{name: echo, arguments: {text: back}}]}\n      - done";
    let g = build(dir.path(), &config(replies, &fault(dir.path(), "f", "", ""), "{mcp: f}"));
    assert!(g.start_mcp().await[0].1.is_ok());
    let (first, _) = pids(dir.path(), "f");
    let data = run(&g, "one").await;
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    let r = results(&data);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].2, "{r:?}");
    assert!(r[0].1.contains("went away during the call"), "{r:?}");
    assert!(gone_within(first, 3.0));
    // Restarted: a new child serves the next run.
    wait_status(&g, "f", 10, |s| *s == Status::Ready).await;
    let second = g.mcp_servers()["f"].pid().unwrap();
    assert_ne!(first, second);
    let data = run(&g, "two").await;
    assert_eq!(results(&data), [("echo".to_string(), "back".to_string(), false)]);
    g.process().close().await;
    assert!(gone_within(second, 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_answer_is_refused_at_once_and_a_2_mb_one_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let replies = "      - {tool_calls: [{name: huge, arguments: {mib: 20}}]}\n      - {tool_calls: [{name: huge, arguments: {mib: 2}}]}\n      - {tool_calls: [{name: echo, arguments: {text: still here}}]}\n      - done";
    let g = build(dir.path(), &config(replies, &fault(dir.path(), "big", "", ""), "{mcp: big}"));
    assert!(g.start_mcp().await[0].1.is_ok());
    let pid = g.mcp_servers()["big"].pid().unwrap();
    let t0 = Instant::now();
    let data = run(&g, "big answers").await;
    let took = t0.elapsed();
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    let r = results(&data);
    assert_eq!(r.len(), 3, "{r:?}");
    // 20 MiB of text is 20971520 bytes, more than the message bound of 4 × 1 MiB + 64 KiB.
    assert!(r[0].2, "{:?}", &r[0].1[..r[0].1.len().min(300)]);
    assert!(r[0].1.contains("more than the 4259840 bytes allowed"), "{}", &r[0].1[..r[0].1.len().min(300)]);
    assert!(r[0].1.len() < 1000);
    assert!(took < Duration::from_secs(30), "the refusal waited for the call timeout: {took:?}");
    // 2 MiB passes the message bound and is cut to max_result_bytes (1 MiB) with a note.
    assert!(!r[1].2);
    assert!(r[1].1.starts_with("xxxx"));
    assert!(r[1].1.len() < 1024 * 1024 + 200, "{}", r[1].1.len());
    assert!(r[1].1.ends_with("[cut: the result was 2097152 bytes, more than the 1048576 bytes allowed]"));
    // The same child serves on.
    assert_eq!(r[2], ("echo".to_string(), "still here".to_string(), false));
    assert_eq!(g.mcp_servers()["big"].pid(), Some(pid));
    g.process().close().await;
    assert!(gone_within(pid, 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_error_results_and_a_hung_call_are_tool_errors_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let replies = "      - {tool_calls: [{name: garbage}, {name: fail}, {name: hang}, {name: echo, arguments: {text: ok}}]}\n      - done";
    let servers = fault(dir.path(), "odd", "", ", timeout_seconds: 1");
    let g = build(dir.path(), &config(replies, &servers, "{mcp: odd}"));
    let data = run(&g, "odd answers").await;
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    assert_eq!(data["content"], "done");
    let r = results(&data);
    assert_eq!(r[0], ("garbage".to_string(), "after garbage".to_string(), false), "{r:?}");
    assert!(r[1].2 && r[1].1.contains("the fault server failed on purpose"), "{r:?}");
    assert!(r[2].2 && r[2].1.contains("did not finish within 1.0s"), "{r:?}");
    assert_eq!(r[3], ("echo".to_string(), "ok".to_string(), false), "{r:?}");
    let pid = g.mcp_servers()["odd"].pid().unwrap();
    assert_eq!(g.mcp_servers()["odd"].status(), Status::Ready);
    g.process().close().await;
    assert!(gone_within(pid, 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_sigterm_and_its_grandchild_are_killed_on_close_and_when_no_longer_used() {
    let dir = tempfile::tempdir().unwrap();
    let servers = format!(
        "{}{}",
        fault(dir.path(), "stubborn", ", --ignore-sigterm", ""),
        fault(dir.path(), "other", ", --ignore-sigterm", "")
    );
    let yaml = config("      - hi", &servers, "{mcp: stubborn}, {mcp: other}");
    let g = build(dir.path(), &yaml);
    for (id, r) in g.start_mcp().await {
        assert!(r.is_ok(), "{id}: {r:?}");
    }
    let (s, s_child) = pids(dir.path(), "stubborn");
    let (o, o_child) = pids(dir.path(), "other");
    assert!(alive(s) && alive(s_child) && alive(o) && alive(o_child));

    // A new generation that no longer uses `other`: once the old generation is gone, so is
    // `other`'s whole process group. `stubborn` is unchanged and kept.
    let next = {
        let path = dir.path().join("app.yaml");
        std::fs::write(&path, config("      - hi", &servers, "{mcp: stubborn}")).unwrap();
        let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
        Generation::build(loaded.config.unwrap(), Some(&g), g.process().clone(), Options::default())
    };
    assert!(next.mcp_servers().get("other").is_none());
    assert!(Arc::ptr_eq(&next.mcp_servers()["stubborn"], &g.mcp_servers()["stubborn"]));
    let t0 = Instant::now();
    drop(g);
    assert!(gone_within(o, 6.0), "`other` ({o}) outlived its last generation");
    assert!(gone_within(o_child, 2.0), "`other`'s grandchild ({o_child}) outlived it");
    assert!(t0.elapsed() >= Duration::from_millis(1500), "SIGTERM is ignored: it took the SIGKILL after the grace");
    assert!(alive(s) && alive(s_child), "the unchanged server was stopped");

    next.process().close().await;
    assert!(gone_within(s, 1.0), "close waits for the child ({s})");
    assert!(gone_within(s_child, 2.0), "the grandchild ({s_child}) outlived close");
}

/// What the hostile HTTP server does with every request.
#[derive(Clone, Copy)]
enum Hostile {
    /// Answers `status` with a body naming the bearer token it was sent (alone, as a
    /// careless server echoes it).
    EchoToken(u16),
    /// Redirects to `port` on the same host.
    Redirect(u16),
}

/// An HTTP server on a free port doing `what` to every request; the requests it saw.
async fn hostile_http(what: Hostile) -> (String, u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let token = req
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .and_then(|l| l.split_whitespace().last())
                    .unwrap_or("")
                    .to_string();
                keep.lock().unwrap().push(req);
                let answer = match what {
                    Hostile::EchoToken(status) => {
                        let body = format!("token {token} rejected");
                        format!(
                            "HTTP/1.1 {status} Nope\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    Hostile::Redirect(to) => format!(
                        "HTTP/1.1 307 Elsewhere\r\nlocation: http://127.0.0.1:{to}/mcp\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                };
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_refuses_is_reported_without_its_secret_header() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, seen) = hostile_http(Hostile::EchoToken(401)).await;
    let servers = format!(
        "  web: {{transport: streamable-http, url: '{url}', headers: {{Authorization: 'Bearer ${{TOKEN}}'}}, startup_timeout_seconds: 5}}\n  nowhere: {{transport: streamable-http, url: 'http://127.0.0.1:9/mcp', timeout: 2}}\n"
    );
    let g = build(dir.path(), &config("      - answered anyway", &servers, "{mcp: web}, {mcp: nowhere}"));
    let started = g.start_mcp().await;
    let web = started.iter().find(|(id, _)| id == "web").unwrap().1.as_ref().unwrap_err().clone();
    let nowhere = started.iter().find(|(id, _)| id == "nowhere").unwrap().1.as_ref().unwrap_err().clone();
    assert!(seen.lock().unwrap().iter().any(|r| r.contains("Bearer s3cr3t-t0ken")), "the header was sent");
    assert!(web.contains("token *** rejected"), "the token alone is hidden: {web}");
    assert!(!web.contains("s3cr3t-t0ken"), "the secret leaked: {web}");
    assert!(web.contains(&url), "{web}");
    assert!(nowhere.contains("127.0.0.1:9"), "{nowhere}");
    let data = run(&g, "hello").await;
    assert_eq!(data["status"], "COMPLETED");
    let health = format!("{:?}", g.mcp_servers()["web"].status());
    assert!(!health.contains("s3cr3t-t0ken"), "{health}");
    g.process().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_headers_never_follow_a_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let (_, elsewhere, caught) = hostile_http(Hostile::EchoToken(404)).await;
    let (url, _, seen) = hostile_http(Hostile::Redirect(elsewhere)).await;
    let servers = format!(
        "  web: {{transport: streamable-http, url: '{url}', headers: {{X-Api-Key: '${{TOKEN}}'}}, startup_timeout_seconds: 5}}\n"
    );
    let g = build(dir.path(), &config("      - hi", &servers, "{mcp: web}"));
    let why = g.start_mcp().await[0].1.clone().unwrap_err();
    assert!(!seen.lock().unwrap().is_empty());
    assert!(caught.lock().unwrap().is_empty(), "a redirect was followed: {:?}", caught.lock().unwrap());
    assert!(!why.contains("s3cr3t-t0ken"), "{why}");
    g.process().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_a_stdio_server_leaks_is_hidden_everywhere_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let replies = "      - {tool_calls: [{name: leak}]}\n      - {tool_calls: [{name: exit_now}]}\n      - done";
    let servers = format!(
        "  s: {{transport: stdio, command: python3, args: ['{}', --leak-env, KEY], env: {{KEY: 'Bearer ${{TOKEN}}'}}}}\n",
        fault_server().display()
    );
    let g = build(dir.path(), &config(replies, &servers, "{mcp: s}"));
    assert!(g.start_mcp().await[0].1.is_ok());
    let tools = g.agent("a").unwrap().toolbox_for_run().await;
    let echo = tools.tools().iter().find(|t| t.spec().name == "echo").unwrap().spec().description.clone();
    assert_eq!(echo, "Echoes the text back. (key ***)", "the description is hidden");
    let schema = tools.tools().iter().find(|t| t.spec().name == "echo").unwrap().spec().parameters.clone();
    assert_eq!(schema["properties"]["text"]["description"], "key ***", "the schema is hidden: {schema}");
    let data = run(&g, "leak it").await;
    let r = results(&data);
    assert_eq!(r[0].1, "the token is ***", "{r:?}");
    // It exited after writing the secret on stderr: the reason it is down says what it
    // wrote, hidden.
    let down = wait_status(&g, "s", 10, |s| matches!(s, Status::Down(_))).await;
    let Status::Down(why) = down else { unreachable!() };
    assert!(why.contains("started with token ***"), "{why}");
    assert!(!format!("{data}{why}").contains("s3cr3t-t0ken"), "{why}\n{data:#}");
    assert!(!why.contains("3cr3t") && !why.contains("t0ken"), "no part of it either: {why}");
    assert!(!why.contains("the rest of the line"), "a long line's rest is skipped: {why}");
    g.process().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binarys_logs_never_show_a_secret_a_server_echoed_even_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, seen) = hostile_http(Hostile::EchoToken(401)).await;
    let servers = format!(
        "  web: {{transport: streamable-http, url: '{url}', headers: {{Authorization: 'Bearer ${{TOKEN}}'}}, startup_timeout_seconds: 5}}\n"
    );
    std::fs::write(dir.path().join("app.yaml"), config("      - hi", &servers, "{mcp: web}")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_agno-run"))
        .args(["tools", "app.yaml"])
        .current_dir(dir.path())
        .env("TOKEN", "s3cr3t-t0ken")
        .env("RUST_LOG", "debug")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!seen.lock().unwrap().is_empty());
    assert!(stderr.contains("MCP server `web` did not start"), "{stderr}");
    assert!(stderr.contains("token *** rejected"), "{stderr}");
    assert!(!stderr.contains("s3cr3t-t0ken"), "{stderr}");
}

/// Starts the binary with `args` in `dir`, waits for the fault server `id` to write its pid
/// file, sends `signal`, and waits (at most 10 s) for the binary to exit: its exit code, stdout,
/// stderr and the time from the signal to the exit.
fn signalled(dir: &Path, args: &[&str], id: &str, signal: &str) -> (Option<i32>, String, String, Duration) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agno-run"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    pids(dir, id);
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let ok = std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    assert!(ok.unwrap().success());
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("agno-run {args:?} did not exit within 10 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    let out = waiter.join().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    )
}

#[test]
fn sigterm_while_a_run_waits_for_a_starting_server_cancels_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let servers = fault(dir.path(), "mute", ", --hang-init, --ignore-sigterm", ", startup_timeout_seconds: 60");
    std::fs::write(dir.path().join("app.yaml"), config("      - done", &servers, "{mcp: mute}")).unwrap();
    for signal in ["TERM", "INT"] {
        let _ = std::fs::remove_file(dir.path().join("mute.pid"));
        let (code, out, err, took) =
            signalled(dir.path(), &["run", "app.yaml", "--agent", "a", "--json", "hi"], "mute", signal);
        assert_eq!(code, Some(1), "{out}\n{err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        assert_eq!(v["status"], "CANCELLED", "SIG{signal}: {v:#}");
        // The grace for the server that ignores SIGTERM is 2 s; nothing waits for the 60 s.
        assert!(took < Duration::from_secs(6), "SIG{signal} took {took:?}");
        let (server, grandchild) = pids(dir.path(), "mute");
        assert!(gone_within(server, 1.0) && gone_within(grandchild, 1.0), "SIG{signal}: children left");
    }
}

#[test]
fn a_signal_during_agno_run_tools_stops_the_servers_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let servers = fault(dir.path(), "mute", ", --hang-init, --ignore-sigterm", ", startup_timeout_seconds: 60");
    std::fs::write(dir.path().join("app.yaml"), config("      - done", &servers, "{mcp: mute}")).unwrap();
    for signal in ["TERM", "INT", "HUP"] {
        let _ = std::fs::remove_file(dir.path().join("mute.pid"));
        let (code, _, err, took) = signalled(dir.path(), &["tools", "app.yaml"], "mute", signal);
        assert_eq!(code, Some(1), "SIG{signal}: {err}");
        assert!(err.contains("interrupted: stopping the MCP servers"), "{err}");
        assert!(took < Duration::from_secs(6), "SIG{signal} took {took:?}");
        let (server, grandchild) = pids(dir.path(), "mute");
        assert!(gone_within(server, 1.0) && gone_within(grandchild, 1.0), "SIG{signal}: children left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_and_a_too_deep_answer_do_not_stall_the_calls() {
    let dir = tempfile::tempdir().unwrap();
    let replies = "      - {tool_calls: [{name: flood, arguments: {n: 200000}}]}\n      - {tool_calls: [{name: deep, arguments: {depth: 300}}]}\n      - {tool_calls: [{name: echo, arguments: {text: fine}}]}\n      - done";
    let g = build(dir.path(), &config(replies, &fault(dir.path(), "noisy", "", ""), "{mcp: noisy}"));
    assert!(g.start_mcp().await[0].1.is_ok());
    let pid = g.mcp_servers()["noisy"].pid().unwrap();
    let t0 = Instant::now();
    let data = run(&g, "flood").await;
    let took = t0.elapsed();
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    let r = results(&data);
    assert_eq!(r[0], ("flood".to_string(), "sent 200000 pings".to_string(), false), "{r:?}");
    assert!(r[1].2 && r[1].1.contains("nested deeper than 120 levels"), "{r:?}");
    assert_eq!(r[2], ("echo".to_string(), "fine".to_string(), false), "{r:?}");
    assert!(took < Duration::from_secs(30), "{took:?}: the deep answer waited for the call timeout");
    assert_eq!(g.mcp_servers()["noisy"].pid(), Some(pid), "the same child serves on");
    g.process().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_specs_are_bounded_each_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    // 10 tools of 100 kB each (each over the 64 KiB of one spec), then 80 of 30 kB (2.4 MB in
    // all, over the 2 MiB of one server).
    let servers = format!(
        "{}{}",
        fault(dir.path(), "fat", ", --extra-tools, '10:100000'", ""),
        fault(dir.path(), "many", ", --extra-tools, '80:30000'", "")
    );
    let g = build(dir.path(), &config("      - hi", &servers, "{mcp: fat}, {mcp: many}"));
    for (id, r) in g.start_mcp().await {
        assert!(r.is_ok(), "{id}: {r:?}");
    }
    let fat = g.mcp_servers()["fat"].tools(&[], &[]);
    assert!(!fat.is_empty() && fat.iter().all(|t| !t.spec().name.starts_with('t')), "{fat:?}");
    let many = g.mcp_servers()["many"].tools(&[], &[]);
    let size: usize = many.iter().map(|t| t.spec().description.len()).sum();
    assert!(size <= agno_run::tool::mcp::MAX_SPECS_BYTES, "{size}");
    let extra = many.iter().filter(|t| t.spec().name.starts_with('t')).count();
    assert!((60..80).contains(&extra), "{extra} of the 30 kB tools listed");
    g.process().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_over_streamable_http_is_budgeted_too() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/http_fault_server.py");
    let mut server = tokio::process::Command::new("python3")
        .arg(script)
        .arg("20000")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut first = String::new();
    tokio::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut first).await.unwrap();
    let port: u16 = first.trim().parse().unwrap();
    let replies = "      - {tool_calls: [{name: flood}]}\n      - done";
    let servers =
        format!("  web: {{transport: streamable-http, url: 'http://127.0.0.1:{port}/mcp', timeout_seconds: 30}}\n");
    let g = build(dir.path(), &config(replies, &servers, "{mcp: web}"));
    assert!(g.start_mcp().await[0].1.is_ok());
    let data = run(&g, "flood").await;
    assert_eq!(data["status"], "COMPLETED", "{data:#}");
    let r = results(&data);
    assert!(!r[0].2, "{r:?}");
    assert!(r[0].1.starts_with("sent 20000 pings"), "{r:?}");
    // The answers to its pings, once they stop coming: a burst of 100 and 20 a second.
    let web = g.mcp_servers()["web"].clone();
    let mut last = u32::MAX;
    let answered = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n: u32 = web.call("count", serde_json::json!({})).await.unwrap().parse().unwrap();
        if n == last {
            break n;
        }
        last = n;
    };
    assert!(answered > 0 && answered < 400, "{answered} of the server's 20000 pings were answered");
    g.process().close().await;
    let _ = server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_secret_values_are_hidden_not_every_env_value() {
    let dir = tempfile::tempdir().unwrap();
    let replies =
        "      - {tool_calls: [{name: leak}, {name: echo, arguments: {text: 'false and true'}}]}\n      - done";
    let script = fault_server().display().to_string();
    let servers = format!(
        "  plain: {{transport: stdio, command: python3, args: ['{script}', --leak-env, READ_ONLY], env: {{READ_ONLY: 'false'}}}}\n  named: {{transport: stdio, command: python3, args: ['{script}', --leak-env, API_KEY], env: {{API_KEY: literal-key-1234}}, tool_name_prefix: n_}}\n"
    );
    let yaml = config(replies, &servers, "{mcp: plain}, {mcp: named}");
    let g = build(dir.path(), &yaml);
    for (id, r) in g.start_mcp().await {
        assert!(r.is_ok(), "{id}: {r:?}");
    }
    let data = run(&g, "go").await;
    let r = results(&data);
    assert_eq!(r[0].1, "the token is false", "a literal value that names no secret is left: {r:?}");
    assert_eq!(r[1].1, "false and true", "{r:?}");
    let named = g.agent("a").unwrap().toolbox_for_run().await;
    let echo = named.tools().iter().find(|t| t.spec().name == "n_echo").unwrap().spec().description.clone();
    assert_eq!(echo, "Echoes the text back. (key ***)", "a value whose name says secret is hidden");
    g.process().close().await;
}

#[test]
fn agno_run_config_hides_an_mcp_urls_password_and_interpolated_key() {
    let dir = tempfile::tempdir().unwrap();
    let servers = "  web: {transport: streamable-http, url: 'https://user:pw-123456@mcp.example.com/s/${TOKEN}/mcp'}\n";
    std::fs::write(dir.path().join("app.yaml"), config("      - hi", servers, "{mcp: web}")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agno-run"))
        .args(["config", "app.yaml"])
        .current_dir(dir.path())
        .env("TOKEN", "s3cr3t-t0ken")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("mcp_servers"), "{text}");
    assert!(!text.contains("pw-123456") && !text.contains("s3cr3t-t0ken"), "{text}");
}
