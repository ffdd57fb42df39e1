//! The real `agno-run serve` in tests: started on port 0 in a folder, its address read from the
//! line it prints when it accepts connections, its stderr kept, stopped by a signal.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_agno-run");

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The folder it runs in.
    pub dir: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// How to start one.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Arguments after `serve` (config paths, flags); `--port 0` is added unless a port is given.
    pub args: Vec<String>,
    /// Environment (the rest is cleared but PATH).
    pub env: Vec<(String, String)>,
}

impl Start {
    pub fn new(args: &[&str]) -> Start {
        Start { args: args.iter().map(|s| s.to_string()).collect(), env: Vec::new() }
    }

    pub fn env(mut self, k: &str, v: &str) -> Start {
        self.env.push((k.into(), v.into()));
        self
    }
}

/// Spawns the binary with `args` in `dir` (no `--port` added), stderr collected.
pub fn spawn(
    dir: &Path,
    args: &[String],
    env: &[(String, String)],
) -> (Child, Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().current_dir(dir).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("RUST_LOG", std::env::var("AGNO_TEST_SERVER_LOG").unwrap_or_else(|_| "agno_run=info".into()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start agno-run");
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let keep = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("serving the AgentOS API on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                let _ = tx.send(addr);
            }
            keep.lock().unwrap().push(line);
        }
    });
    (child, lines, rx)
}

impl Server {
    /// Starts `agno-run serve ARGS --port 0` in `dir` and waits (up to 60 s) until it serves.
    pub fn start(dir: &Path, start: Start) -> Server {
        let mut args = vec!["serve".to_string()];
        args.extend(start.args.iter().cloned());
        if !start.args.iter().any(|a| a == "--port") {
            args.extend(["--port".into(), "0".into()]);
        }
        let (mut child, stderr, rx) = spawn(dir, &args, &start.env);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    return Server { child: Some(child), base: addr, dir: dir.to_path_buf(), stderr };
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("agno-run exited with {status} before serving:\n{}", stderr.lock().unwrap().join("\n"));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        panic!("agno-run did not serve within 60 s:\n{}", stderr.lock().unwrap().join("\n"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    panic!("agno-run exited with {status} before serving:\n{}", stderr.lock().unwrap().join("\n"));
                }
            }
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `INT`, `HUP`).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap().success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Waits up to `secs` for it to exit (then kills it and panics); its status and stderr.
    pub fn wait(mut self, secs: u64) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.stderr());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("agno-run did not exit within {secs} s:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The events of an SSE body: (`event:` name, `data:` JSON), checking Agno's framing (every
/// `data:` line one JSON object whose `event` key is the event's name).
pub fn parse_sse(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_string());
            } else if let Some(d) = line.strip_prefix("data: ") {
                assert!(data.is_none(), "one data line per event: {block}");
                data = Some(serde_json::from_str::<Value>(d).unwrap_or_else(|e| panic!("data is not JSON ({e}): {d}")));
            } else if line.starts_with(':') || line.is_empty() {
            } else {
                panic!("unexpected SSE line: {line:?}");
            }
        }
        if let Some(d) = data {
            let n = name.unwrap_or_default();
            assert_eq!(d["event"].as_str(), Some(n.as_str()), "event name and data.event differ: {block}");
            out.push((n, d));
        }
    }
    out
}

/// A config in `dir`: `app.yaml` with `text`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An HTTP client with a timeout (use from `#[tokio::test(flavor = "multi_thread")]`).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// What one exchange answered: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The events of an SSE answer.
    pub fn events(&self) -> Vec<(String, Value)> {
        assert_eq!(self.status, 200, "{self:?}");
        assert!(self.content_type().starts_with("text/event-stream"), "{self:?}");
        parse_sse(&self.text)
    }

    /// Asserts a 200 JSON answer and returns the body.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert!(self.content_type().starts_with("application/json"), "{self:?}");
        self.json()
    }

    /// Asserts an error answer of `status` in AgentOS's shape and returns its `detail`.
    #[track_caller]
    pub fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.content_type().starts_with("application/json"), "an error body is JSON: {self:?}");
        let body = self.json();
        let obj = body.as_object().unwrap_or_else(|| panic!("an error body is an object: {self:?}"));
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["detail"], "{self:?}");
        body["detail"].clone()
    }
}

/// Sends `req` and reads the whole answer.
pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.expect("the request is answered");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("the body is read");
    Answer { status, headers, text }
}
