//! What the Python interoperability tests share: finding the Python with Agno (and refusing to
//! skip when `AGNO_TEST_REQUIRE_PYTHON=1`), finding PostgreSQL (likewise with
//! `AGNO_TEST_REQUIRE_POSTGRES=1`), running a script of `tests/interop/` for the JSON it prints, and
//! a fresh PostgreSQL schema per test.
#![allow(dead_code)]

use std::io::{BufRead, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The line prefix behind which a script prints its result.
pub const MARKER: &str = "AGNO_INTEROP_JSON ";
/// Where the PostgreSQL tests connect unless `AGNO_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop").join(name)
}

pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The Python to run Agno with, or None (after printing why) when the test should be skipped.
pub fn python() -> Option<PathBuf> {
    let Some(py) = std::env::var_os("AGNO_TEST_PYTHON").filter(|v| !v.is_empty()) else {
        assert!(
            !env_flag("AGNO_TEST_REQUIRE_PYTHON"),
            "AGNO_TEST_REQUIRE_PYTHON=1 but AGNO_TEST_PYTHON is not set: set it to a python with agno 3.x installed"
        );
        println!("skipped: set AGNO_TEST_PYTHON to a python with agno 3.x installed");
        return None;
    };
    let py = PathBuf::from(py);
    let out = Command::new(&py)
        .args(["-c", "import agno, agno.team, agno.db.sqlite, importlib.metadata as m; print(m.version('agno'))"])
        .env("AGNO_TELEMETRY", "false")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("AGNO_TEST_PYTHON={}: cannot run it: {e}", py.display()));
    assert!(
        out.status.success(),
        "AGNO_TEST_PYTHON={} cannot import agno, agno.team and agno.db.sqlite (needs agno 3.x, sqlalchemy[asyncio], openai):\n{}",
        py.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(version.starts_with("3."), "AGNO_TEST_PYTHON={} has agno {version}, not 3.x", py.display());
    Some(py)
}

/// The PostgreSQL URL to use, or None (after printing why) when nothing accepts connections there.
pub fn postgres() -> Option<String> {
    let url = std::env::var("AGNO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5432") };
    let reachable = host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(url);
    }
    assert!(!env_flag("AGNO_TEST_REQUIRE_POSTGRES"), "AGNO_TEST_REQUIRE_POSTGRES=1 but {host_port} is not reachable");
    println!("skipped: PostgreSQL not reachable");
    None
}

/// Runs `tests/interop/<name>` and returns the JSON it printed behind [`MARKER`].
pub fn run_py(python: &Path, name: &str, args: &[String]) -> Value {
    let out = Command::new(python)
        .arg(script(name))
        .args(args)
        .env("AGNO_TELEMETRY", "false")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("OPENAI_API_KEY", "mock-key")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = || format!("{name} {args:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(out.status.success(), "{name} failed ({}): {}", out.status, context());
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARKER))
        .unwrap_or_else(|| panic!("{name} printed no result line: {}", context()));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} printed bad JSON ({e}): {}", context()))
}

/// A fresh PostgreSQL schema, dropped (with everything in it) when the guard goes.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(url: &str) -> PgSchema {
        let id = uuid::Uuid::new_v4().simple().to_string();
        PgSchema { url: url.to_string(), name: format!("t_{}", &id[..12]) }
    }

    /// The SQLAlchemy URL Agno's `PostgresDb` takes.
    pub fn agno_url(&self) -> String {
        match self.url.split_once("://") {
            Some((_, rest)) => format!("postgresql+psycopg://{rest}"),
            None => self.url.clone(),
        }
    }

    pub fn py_args(&self) -> Vec<String> {
        vec!["--pg".into(), self.agno_url(), "--schema".into(), self.name.clone()]
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Own thread and runtime: this may run inside (or while unwinding out of) a tokio test.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop schema {}: {dropped:?}", self.name);
        }
    }
}

/// The teams and workflows recordings' scripted mock (`teams_mock_serve.py`: a child process that exits when its stdin closes), recording every request.
pub struct ScriptedMock {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    port: u16,
    record: PathBuf,
}

impl ScriptedMock {
    /// Starts the mock for a test whose files live in `dir`.
    pub fn start(python: &Path, dir: &Path) -> ScriptedMock {
        let record = dir.join("mock-requests.jsonl");
        let mut child = Command::new(python)
            .arg(script("teams_mock_serve.py"))
            .arg("0")
            .arg(&record)
            .env("AGNO_TELEMETRY", "false")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start teams_mock_serve.py");
        let stdin = child.stdin.take();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("mock stdout"))
            .read_line(&mut line)
            .expect("read mock stdout");
        let Some(port) = line.trim().strip_prefix("listening ").and_then(|p| p.parse::<u16>().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("teams_mock_serve.py did not start: {line}{err}");
        };
        ScriptedMock { child, stdin, port, record }
    }

    /// Its OpenAI-compatible base URL.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Request bodies received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str::<Value>(l).expect("recorded request")["request"].clone()).collect()
    }
}

impl Drop for ScriptedMock {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
