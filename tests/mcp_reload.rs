//! MCP servers across a live reload of the real `agno-run serve`: a server whose declaration
//! changed is started beside the old one and swapped with the generation, while a run in flight
//! finishes on the old one; an unchanged server keeps its child (same pid); SIGTERM leaves no
//! child behind. The servers are the project's fault server (`tests/mcp/fault_server.py`).
#[path = "support/mcp_peers.rs"]
mod mcp_peers;
#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use mcp_peers::{alive, gone_within};
use serde_json::Value;
use server::{Server, Start, client};

fn yaml(dir: &Path, marker: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let busy = dir.join("busy");
    format!(
        "version: 1
databases:
  local: {{type: sqlite, db_file: agno.db}}
models:
  mx:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: sleep, arguments: {{seconds: 2, flag: '{busy}'}}}}]}}
      - first done
      - {{tool_calls: [{{name: echo, arguments: {{text: hi}}}}]}}
      - second done
  mk:
    provider: scripted
    replies:
      - {{tool_calls: [{{name: echo, arguments: {{text: kept}}}}]}}
      - ok
mcp_servers:
  changing: {{transport: stdio, command: python3, args: ['{script}', --marker, '{marker}']}}
  kept: {{transport: stdio, command: python3, args: ['{script}', --marker, 'K:']}}
agents:
  x: {{model: mx, db: local, tools: [{{mcp: changing}}]}}
  k: {{model: mk, db: local, tools: [{{mcp: kept}}]}}
",
        script = script.display(),
        busy = busy.display()
    )
}

async fn health(c: &reqwest::Client, s: &Server) -> Value {
    c.get(s.url("/health")).send().await.unwrap().json().await.unwrap()
}

/// Polls `/health` until `ok` holds (at most 20 s).
async fn wait_health(c: &reqwest::Client, s: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = health(c, s).await;
        if ok(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {h:#}\n{}", s.stderr());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn pid(h: &Value, id: &str) -> u32 {
    h["mcp_servers"][id]["pid"].as_u64().unwrap_or_else(|| panic!("no pid for {id}: {h:#}")) as u32
}

async fn run(c: &reqwest::Client, s: &Server, agent: &str) -> Value {
    let form = [("message", "go"), ("stream", "false")];
    let r = c.post(s.url(&format!("/agents/{agent}/runs"))).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_server_is_swapped_after_its_runs_and_an_unchanged_one_keeps_its_child() {
    let dir = tempfile::tempdir().unwrap();
    let path = server::write_config(dir.path(), &yaml(dir.path(), "A:"));
    let s = Server::start(dir.path(), Start::new(&[path.to_str().unwrap()]));
    let c = client();
    let h = wait_health(&c, &s, "both servers ready", |h| {
        ["changing", "kept"].iter().all(|id| h["mcp_servers"][id]["status"] == "ready")
    })
    .await;
    assert_eq!(h["mcp_servers"]["kept"]["tools"], 10, "{h:#}");
    let (old, kept) = (pid(&h, "changing"), pid(&h, "kept"));

    // A run in flight on the old server (its tool call takes 2 s) across the reload.
    let in_flight = {
        let (c, url) = (c.clone(), s.url("/agents/x/runs"));
        tokio::spawn(async move {
            let form = [("message", "go"), ("stream", "false")];
            c.post(url).form(&form).send().await.unwrap().json::<Value>().await.unwrap()
        })
    };
    let busy = dir.path().join("busy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !busy.exists() {
        assert!(Instant::now() < deadline, "the tool call did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::write(&path, yaml(dir.path(), "B:")).unwrap();
    let h = wait_health(&c, &s, "generation 2 with the new server ready", |h| {
        h["config_generation"] == 2 && h["mcp_servers"]["changing"]["status"] == "ready"
    })
    .await;
    let new = pid(&h, "changing");
    assert_ne!(new, old, "the changed server got a new child");
    assert_eq!(pid(&h, "kept"), kept, "the unchanged server kept its child");
    assert!(alive(old), "the old child serves the run in flight");

    let first = in_flight.await.unwrap();
    assert_eq!(first["status"], "COMPLETED", "{first:#}");
    assert_eq!(first["tools"][0]["result"], "A:slept", "the run in flight kept its client: {first:#}");
    assert!(gone_within(old, 6.0), "the old child ({old}) outlived its last run");

    let second = run(&c, &s, "x").await;
    assert_eq!(second["tools"][0]["result"], "B:hi", "{second:#}");
    let k = run(&c, &s, "k").await;
    assert_eq!(k["tools"][0]["result"], "K:kept", "{k:#}");

    s.signal("TERM");
    let (status, err) = s.wait(20);
    assert!(status.success(), "{status}: {err}");
    assert!(gone_within(new, 1.0) && gone_within(kept, 1.0), "children outlived the server: {new} {kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_sigterm_and_stdin_eof_dies_with_a_killed_agno_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let pid_file = dir.path().join("s.pid");
    let yaml = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  m: {{provider: scripted}}\nmcp_servers:\n  s: {{transport: stdio, command: python3, args: ['{}', --ignore-sigterm, --pid-file, '{}']}}\nagents:\n  a: {{model: m, tools: [{{mcp: s}}]}}\n",
        script.display(),
        pid_file.display()
    );
    let path = server::write_config(dir.path(), &yaml);
    let s = Server::start(dir.path(), Start::new(&[path.to_str().unwrap()]));
    let c = client();
    let h = wait_health(&c, &s, "the server ready", |h| h["mcp_servers"]["s"]["status"] == "ready").await;
    let child = pid(&h, "s");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let grandchild: u32 = text.split(' ').nth(1).unwrap().parse().unwrap();
    s.signal("KILL");
    // Not SIGTERM, not stdin's end (it sleeps on after both): the kernel's parent-death signal.
    let gone = gone_within(child, 3.0);
    // Its own child is outside what agno-run can reach once it is killed: clean it up here.
    let _ = std::process::Command::new("kill").arg("-KILL").arg(grandchild.to_string()).status();
    assert!(gone, "the server ({child}) outlived a SIGKILLed agno-run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_over_http_carries_the_mcp_tool_call_as_agnos_tool_events() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let yaml = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  m:\n    provider: scripted\n    replies:\n      - {{tool_calls: [{{name: echo, arguments: {{text: streamed}}}}]}}\n      - over\nmcp_servers:\n  s: {{transport: stdio, command: python3, args: ['{}', --marker, 'S:']}}\nagents:\n  a: {{model: m, tools: [{{mcp: s}}]}}\n",
        script.display()
    );
    let path = server::write_config(dir.path(), &yaml);
    let s = Server::start(dir.path(), Start::new(&[path.to_str().unwrap()]));
    let c = client();
    // `/agents/a` lists the server's tools beside the agent's own, as AgentOS lists MCPTools'.
    let info = wait_health(&c, &s, "the server ready", |h| h["mcp_servers"]["s"]["status"] == "ready").await;
    assert_eq!(info["mcp_servers"]["s"]["tools"], 10);
    let agent: Value = c.get(s.url("/agents/a")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        agent["tools"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"echo") && names.contains(&"sleep"), "{agent:#}");
    let answer = server::send(c.post(s.url("/agents/a/runs")).form(&[("message", "go"), ("stream", "true")])).await;
    let events = answer.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let started = events.iter().find(|(n, _)| n == "ToolCallStarted").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(started.1["tool"]["tool_name"], "echo", "{:#}", started.1);
    assert_eq!(started.1["tool"]["tool_args"]["text"], "streamed", "{:#}", started.1);
    let done = events.iter().find(|(n, _)| n == "ToolCallCompleted").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(done.1["content"], "S:streamed", "{:#}", done.1);
    assert_eq!(done.1["tool"]["result"], "S:streamed", "{:#}", done.1);
    assert_eq!(names.last(), Some(&"RunCompleted"), "{names:?}");
    // And the stored run holds the call, as a built-in tool's.
    let session = events[0].1["session_id"].as_str().unwrap().to_string();
    let url = s.url(&format!("/sessions/{session}/runs?type=agent"));
    let runs: Value = c.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs[0]["tools"][0]["tool_name"], "echo", "{runs:#}");
    assert_eq!(runs[0]["tools"][0]["result"], "S:streamed", "{runs:#}");
}
