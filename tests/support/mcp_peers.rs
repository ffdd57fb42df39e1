//! Where the MCP reference servers the tests talk to are: `AGNO_TEST_MCP_BIN` (a folder with
//! `mcp-server-time` and `mcp-server-git`) and `AGNO_TEST_MCP_EVERYTHING` (the `dist/index.js`
//! of `@modelcontextprotocol/server-everything`), as `.ci/run` installs them (also found under
//! `target/ci-mcp` after one CI run). Missing peers skip a test with a message, or fail it when
//! `AGNO_TEST_REQUIRE_MCP` is set (CI sets it).
#![allow(dead_code)]

use std::path::PathBuf;

/// The reference servers.
#[derive(Debug, Clone)]
pub struct Peers {
    /// `mcp-server-time`.
    pub time: PathBuf,
    /// `mcp-server-git`.
    pub git: PathBuf,
    /// server-everything's `dist/index.js` (run with `node`).
    pub everything: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The peers, or None (after saying why) when they are missing and not required.
pub fn peers() -> Option<Peers> {
    let bin = std::env::var_os("AGNO_TEST_MCP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/ci-mcp/venv/bin"));
    let everything = std::env::var_os("AGNO_TEST_MCP_EVERYTHING").map(PathBuf::from).unwrap_or_else(|| {
        root().join("target/ci-mcp/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
    });
    let p = Peers { time: bin.join("mcp-server-time"), git: bin.join("mcp-server-git"), everything };
    let missing: Vec<String> =
        [&p.time, &p.git, &p.everything].iter().filter(|f| !f.exists()).map(|f| f.display().to_string()).collect();
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if missing.is_empty() && node {
        return Some(p);
    }
    let why = format!(
        "MCP reference servers missing ({}{}); run .ci/run or set AGNO_TEST_MCP_BIN / AGNO_TEST_MCP_EVERYTHING",
        missing.join(", "),
        if node { "" } else { ", node" }
    );
    if std::env::var_os("AGNO_TEST_REQUIRE_MCP").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// True while a process with `pid` exists (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to `secs` for `pid` to be gone; true when it is.
pub fn gone_within(pid: u32, secs: f64) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    !alive(pid)
}

/// server-everything over streamable HTTP on a free port, stopped on drop.
pub struct HttpEverything {
    child: std::process::Child,
    /// Its endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
}

impl HttpEverything {
    pub fn start(peers: &Peers) -> HttpEverything {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("node")
            .arg(&peers.everything)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "server-everything did not listen on {port} within 30 s");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpEverything { child, url: format!("http://127.0.0.1:{port}/mcp") }
    }
}

impl Drop for HttpEverything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
