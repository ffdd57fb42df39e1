//! MCP tools against real servers nobody here wrote — the official reference servers
//! `mcp-server-time` and `mcp-server-git` (PyPI) over stdio, `@modelcontextprotocol/server-everything`
//! (npm) over stdio and over streamable HTTP — as `.ci/run` installs them. A scripted model calls
//! their tools through real agent runs; the stored run holds the real results, and the run's
//! events carry the calls. `agno-run tools` lists what each agent is offered.
#[path = "support/mcp_peers.rs"]
mod mcp_peers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use agno_run::config::{LoadOptions, load};
use agno_run::run::{Component, EventKind, RunInput, RunRequest, SessionType};
use agno_run::runtime::{self, Generation, Options, Process};
use mcp_peers::{HttpEverything, Peers};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agno-run");

/// A temporary git repository with one commit, for `mcp-server-git`.
fn git_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    git(&["add", "README.md"]);
    git(&["commit", "-q", "-m", "first commit of the test repository"]);
    std::fs::write(repo.join("untracked.txt"), "new\n").unwrap();
    repo
}

/// The four servers as YAML (`everything_http`'s URL given).
fn servers_yaml(peers: &Peers, repo: &Path, http_url: &str) -> String {
    format!(
        "mcp_servers:
  time: {{transport: stdio, command: '{time}', args: [--local-timezone, UTC]}}
  git: {{transport: stdio, command: '{git}', args: [--repository, '{repo}'], tool_name_prefix: repo_}}
  everything: {{transport: stdio, command: node, args: ['{every}', stdio], include_tools: [echo, get-sum, get-tiny-image]}}
  everything_http: {{transport: streamable-http, url: '{http_url}', tool_name_prefix: web_, timeout_seconds: 20}}
",
        time = peers.time.display(),
        git = peers.git.display(),
        repo = repo.display(),
        every = peers.everything.display(),
    )
}

fn build(dir: &Path, yaml: &str) -> Arc<Generation> {
    let path = dir.join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap_or_else(|| panic!("{:#?}", loaded.report.diagnostics));
    Generation::build(config, None, Process::new(), Options::default())
}

/// Runs agent `a` once; the stored run and the tool events it streamed.
async fn run_agent(g: &Arc<Generation>, message: &str) -> (Value, Vec<EventKind>) {
    let input = RunInput { message: message.into(), session_id: Some("s1".into()), ..Default::default() };
    let request = RunRequest { target: Component::new(SessionType::Agent, "a"), input, parent: None };
    let mut handle = runtime::start(g, request).await.unwrap();
    let mut events = Vec::new();
    while let Some(e) = handle.next_event().await {
        if matches!(e.kind, EventKind::ToolCallStarted { .. } | EventKind::ToolCallCompleted { .. }) {
            events.push(e.kind);
        }
    }
    (handle.result().await.unwrap().run.run_data, events)
}

fn tool_result(run: &Value, name: &str) -> String {
    let t = run["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {run:#}"))
        .iter()
        .find(|t| t["tool_name"] == name)
        .unwrap_or_else(|| panic!("{name} not called: {run:#}"));
    t["result"].as_str().unwrap_or_else(|| panic!("{name} has no result: {t:#}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_run_calls_the_reference_servers_and_stores_their_real_results() {
    let Some(peers) = mcp_peers::peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path());
    let http = HttpEverything::start(&peers);
    let repo_s = repo.display().to_string();
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m:
    provider: scripted
    replies:
      - content: calling
        tool_calls:
          - {{name: get_current_time, arguments: {{timezone: UTC}}}}
          - {{name: repo_git_status, arguments: {{repo_path: '{repo_s}'}}}}
          - {{name: repo_git_log, arguments: {{repo_path: '{repo_s}', max_count: 5}}}}
          - {{name: echo, arguments: {{message: hello over stdio}}}}
          - {{name: get-sum, arguments: {{a: 2, b: 40}}}}
          - {{name: get-tiny-image, arguments: {{}}}}
          - {{name: web_echo, arguments: {{message: hello over http}}}}
          - {{name: web_get-sum, arguments: {{a: 7, b: 8}}}}
      - all done
{servers}agents:
  a:
    model: m
    tools:
      - calculator
      - {{mcp: time}}
      - {{mcp: git, include_tools: [git_status, git_log]}}
      - {{mcp: everything}}
      - {{mcp: everything_http, include_tools: [echo, get-sum]}}
",
        servers = servers_yaml(&peers, &repo, &http.url)
    );
    let g = build(dir.path(), &yaml);
    let started = g.start_mcp().await;
    for (id, r) in &started {
        assert!(r.is_ok(), "{id}: {r:?}");
    }
    let (run, events) = run_agent(&g, "use the tools").await;
    assert_eq!(run["status"], "COMPLETED", "{run:#}");
    assert_eq!(run["content"], "all done");

    let time: Value = serde_json::from_str(&tool_result(&run, "get_current_time")).unwrap();
    assert_eq!(time["timezone"], "UTC", "{time}");
    let year = time["datetime"].as_str().unwrap()[..4].parse::<i32>().unwrap();
    assert!(year >= 2025, "{time}");

    let status = tool_result(&run, "repo_git_status");
    assert!(status.contains("untracked.txt"), "{status}");
    let log = tool_result(&run, "repo_git_log");
    assert!(log.contains("first commit of the test repository"), "{log}");

    assert_eq!(tool_result(&run, "echo"), "Echo: hello over stdio");
    assert!(tool_result(&run, "get-sum").contains("42"), "{}", tool_result(&run, "get-sum"));
    let image = tool_result(&run, "get-tiny-image");
    assert!(image.contains("[image: image/png,"), "{image}");
    assert_eq!(tool_result(&run, "web_echo"), "Echo: hello over http");
    assert!(tool_result(&run, "web_get-sum").contains("15"), "{}", tool_result(&run, "web_get-sum"));
    for t in run["tools"].as_array().unwrap() {
        assert_eq!(t["tool_call_error"], false, "{t:#}");
    }

    // Each call streamed as a started and a completed event, with the server's result.
    let completed: Vec<(&str, &str, bool)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ToolCallCompleted { name, result, error, .. } => Some((name.as_str(), result.as_str(), *error)),
            _ => None,
        })
        .collect();
    let started_n = events.iter().filter(|e| matches!(e, EventKind::ToolCallStarted { .. })).count();
    assert_eq!(started_n, 8, "{events:#?}");
    assert_eq!(completed.len(), 8, "{events:#?}");
    assert!(completed.contains(&("web_echo", "Echo: hello over http", false)), "{completed:#?}");

    // The agent is offered exactly what the uses and filters allow.
    let agent = g.agent("a").unwrap();
    let names: Vec<String> = agent.toolbox_for_run().await.tools().iter().map(|t| t.spec().name.clone()).collect();
    assert!(names.contains(&"calculator".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "repo_git_diff"), "include_tools of the use: {names:?}");
    assert!(!names.iter().any(|n| n == "get-env"), "include_tools of the server: {names:?}");
    assert!(!names.iter().any(|n| n == "web_get-env"), "{names:?}");

    // Stopping the process stops every stdio child.
    let pids: Vec<u32> = g.mcp_servers().values().filter_map(|s| s.pid()).collect();
    assert_eq!(pids.len(), 3, "three stdio servers: {pids:?}");
    g.process().close().await;
    for pid in pids {
        assert!(mcp_peers::gone_within(pid, 5.0), "child {pid} outlived the process");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_error_of_a_real_server_goes_to_the_model_and_the_run_completes() {
    let Some(peers) = mcp_peers::peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m:
    provider: scripted
    replies:
      - content: calling
        tool_calls:
          - {{name: get_current_time, arguments: {{timezone: Not/A_Zone}}}}
          - {{name: get_current_time, arguments: {{}}}}
      - recovered
mcp_servers:
  time: {{transport: stdio, command: '{}'}}
agents:
  a: {{model: m, tools: [{{mcp: time}}]}}
",
        peers.time.display()
    );
    let g = build(dir.path(), &yaml);
    let (run, _) = run_agent(&g, "what time is it?").await;
    assert_eq!(run["status"], "COMPLETED", "{run:#}");
    assert_eq!(run["content"], "recovered");
    let tools = run["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2, "{run:#}");
    for t in tools {
        assert_eq!(t["tool_call_error"], true, "{t:#}");
        assert!(!t["result"].as_str().unwrap_or("").is_empty(), "{t:#}");
    }
    assert!(tools[0]["result"].as_str().unwrap().contains("Not/A_Zone"), "{:#}", tools[0]);
    g.process().close().await;
}

fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).env_remove("RUST_LOG").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn agno_run_tools_lists_every_tool_with_its_source_and_leaves_no_child() {
    let Some(peers) = mcp_peers::peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path());
    let http = HttpEverything::start(&peers);
    let pid_file = dir.path().join("fault.pid");
    let fault = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m: {{provider: scripted}}
{servers}  fault: {{transport: stdio, command: python3, args: ['{fault}', --pid-file, '{pid}'], exclude_tools: [hang]}}
agents:
  a: {{model: m, tools: [calculator, {{mcp: time}}, {{mcp: git, include_tools: [git_status]}}, {{mcp: fault}}]}}
  b: {{model: m, tools: [{{mcp: everything_http, include_tools: [echo]}}, {{mcp: everything, exclude_tools: [get-sum]}}]}}
",
        servers = servers_yaml(&peers, &repo, &http.url),
        fault = fault.display(),
        pid = pid_file.display(),
    );
    std::fs::write(dir.path().join("app.yaml"), yaml).unwrap();

    let (code, out, err) = cli(dir.path(), &["tools", "app.yaml"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("agent a: "), "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{out}"))
            .to_string()
    };
    assert!(line("calculator").contains("built-in"), "{out}");
    assert!(line("get_current_time").contains("mcp:time"), "{out}");
    assert!(line("repo_git_status").contains("mcp:git"), "{out}");
    assert!(line("web_echo").contains("mcp:everything_http"), "{out}");
    assert!(line("echo").contains("mcp:fault"), "a's echo is the fault server's: {out}");
    assert!(!out.contains("repo_git_log"), "{out}");
    assert!(!out.lines().any(|l| l.split_whitespace().next() == Some("hang")), "{out}");
    // The fault server's child is gone once `tools` returned.
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(mcp_peers::gone_within(pid, 2.0), "the fault server ({pid}) outlived `agno-run tools`");

    let (code, out, err) = cli(dir.path(), &["tools", "app.yaml", "--agent", "b", "--format", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["agents"].get("a").is_none(), "{v:#}");
    let b = v["agents"]["b"].as_array().unwrap();
    let names: Vec<&str> = b.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "web_echo", "{names:?}");
    assert!(names.contains(&"echo") && names.contains(&"get-tiny-image") && !names.contains(&"get-sum"), "{names:?}");
    assert_eq!(b[0]["source"], "mcp:everything_http");
    assert_eq!(b[0]["parameters"]["type"], "object", "{:#}", b[0]);
    assert_eq!(v["mcp_servers"]["everything"]["status"], "ready", "{v:#}");

    let (code, _, err) = cli(dir.path(), &["tools", "app.yaml", "--agent", "nobody"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no agent or team `nobody`"), "{err}");
    drop(http);
}

#[test]
fn agno_run_tools_reports_a_server_that_does_not_start_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let fault = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m: {{provider: scripted}}
mcp_servers:
  broken: {{transport: stdio, command: python3, args: ['{}', --exit-at-start]}}
  missing: {{transport: stdio, command: /nonexistent/mcp-server}}
agents:
  a: {{model: m, tools: [calculator, {{mcp: broken}}, {{mcp: missing}}]}}
",
        fault.display()
    );
    std::fs::write(dir.path().join("app.yaml"), yaml).unwrap();
    let (code, out, err) = cli(dir.path(), &["tools", "app.yaml"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("calculator"), "the built-in tools are still listed: {out}");
    assert!(err.contains("MCP server `broken` did not start"), "{err}");
    assert!(err.contains("exiting at start as asked"), "its stderr is quoted: {err}");
    assert!(err.contains("MCP server `missing` did not start"), "{err}");
    assert!(err.contains("/nonexistent/mcp-server"), "{err}");
}

#[test]
fn validate_never_starts_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m: {{provider: scripted}}
mcp_servers:
  s: {{transport: stdio, command: sh, args: [-c, 'touch {}']}}
agents:
  a: {{model: m, tools: [{{mcp: s}}]}}
",
        marker.display()
    );
    std::fs::write(dir.path().join("app.yaml"), yaml).unwrap();
    let (code, out, err) = cli(dir.path(), &["validate", "app.yaml"]);
    assert_eq!(code, 0, "{out}\n{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "validate started the server");
    // `tools` does start it (and reports that it is not an MCP server).
    let (code, _, err) = cli(dir.path(), &["tools", "app.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(marker.exists(), "tools did not start the server");
}

#[test]
fn agno_run_run_calls_an_mcp_tool_stores_it_and_leaves_no_child() {
    let dir = tempfile::tempdir().unwrap();
    let fault = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let pid_file = dir.path().join("s.pid");
    let yaml = format!(
        "version: 1
databases:
  main: {{type: sqlite, db_file: t.db}}
models:
  m:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: echo, arguments: {{text: from the server}}}}]}}
      - answered
mcp_servers:
  s: {{transport: stdio, command: python3, args: ['{}', --pid-file, '{}', --ignore-sigterm, --marker, 'S:']}}
agents:
  a: {{model: m, tools: [{{mcp: s}}]}}
",
        fault.display(),
        pid_file.display()
    );
    std::fs::write(dir.path().join("app.yaml"), yaml).unwrap();
    let (code, out, err) = cli(dir.path(), &["run", "app.yaml", "--agent", "a", "--json", "go"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["content"], "answered", "{run:#}");
    assert_eq!(run["run"]["run_data"]["tools"][0]["result"], "S:from the server", "{run:#}");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let mut pids = text.split(' ').map(|p| p.parse::<u32>().unwrap());
    let (server, grandchild) = (pids.next().unwrap(), pids.next().unwrap());
    assert!(mcp_peers::gone_within(server, 1.0), "the server ({server}) outlived `run`");
    assert!(mcp_peers::gone_within(grandchild, 1.0), "its child ({grandchild}) outlived `run`");
}
