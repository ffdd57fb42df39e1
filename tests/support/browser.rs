//! A real browser in tests: Debian's headless Chromium driven through `chromedriver` over the W3C
//! WebDriver protocol, with nothing but `reqwest`, `serde_json` and `tokio`.
//!
//! Each [`Browser`] is its own `chromedriver` (its own process group, on a free port) with one
//! session and a throw-away profile; dropping it ends the session and kills the group, so no
//! Chromium outlives a test, even one that panicked. Without Chromium or chromedriver,
//! [`Browser::start`] says why and returns `None`, so a test can skip itself; with
//! `AGNO_TEST_REQUIRE_BROWSER=1` it panics instead (CI, where skipping would hide a regression).
//!
//! Everything panics on a WebDriver error (endpoint, status, `value.error`, `value.message`); the
//! waits panic with the page's text and the path of a screenshot saved under
//! `target/browser-failures/`.
//!
//! ```ignore
//! let Some(b) = Browser::start().await else { return };
//! b.goto(&format!("{}/console", server.base)).await;
//! b.click("#new-session").await;
//! b.wait_for_text(".status", "ready", 10).await;
//! assert!(b.errors().await.is_empty());
//! ```
#![allow(dead_code)]

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};

/// Every HTTP call to chromedriver but the one that creates the session.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Creating the session launches Chromium, which can be slow on a loaded machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long chromedriver has to answer `/status` with `ready: true`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Browser::find`] (and the actions built on it) wait for an element.
const FIND_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two polls of a wait.
const POLL: Duration = Duration::from_millis(50);
/// The W3C web element identifier; answers are read by their single key instead, this is only
/// the fallback for [`Element::to_json`] before any element was found.
const W3C_ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Keys for [`Browser::press`] and [`Element::send_keys`] (W3C WebDriver key codes).
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const TAB: &str = "\u{E004}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const BACKSPACE: &str = "\u{E003}";
    pub const DELETE: &str = "\u{E017}";
    pub const ARROW_LEFT: &str = "\u{E012}";
    pub const ARROW_UP: &str = "\u{E013}";
    pub const ARROW_RIGHT: &str = "\u{E014}";
    pub const ARROW_DOWN: &str = "\u{E015}";
    pub const SHIFT: &str = "\u{E008}";
    pub const CONTROL: &str = "\u{E009}";
    pub const ALT: &str = "\u{E00A}";
    pub const META: &str = "\u{E03D}";
}

/// Installed by [`Browser::goto`]: collects `console.error` calls, uncaught errors and unhandled
/// rejections into `window.__errors` (once per document).
const ERROR_HOOKS: &str = r#"
if (!Array.isArray(window.__errors)) {
  const errors = [];
  window.__errors = errors;
  const show = (x) => {
    if (x instanceof Error) return x.stack || String(x);
    if (typeof x === 'object' && x !== null) { try { return JSON.stringify(x); } catch (_) {} }
    return String(x);
  };
  window.addEventListener('error', (e) => {
    errors.push('uncaught: ' + (e.error ? show(e.error) : e.message) +
      (e.filename ? ' (' + e.filename + ':' + e.lineno + ':' + e.colno + ')' : ''));
  });
  window.addEventListener('unhandledrejection', (e) => errors.push('unhandled rejection: ' + show(e.reason)));
  const original = console.error;
  console.error = function (...args) {
    errors.push(args.map(show).join(' '));
    return original.apply(this, args);
  };
}
"#;

// ---------------------------------------------------------------------------------------------
// WebDriver transport
// ---------------------------------------------------------------------------------------------

/// A failed WebDriver call: the endpoint, the HTTP status (0 when there was no answer) and the
/// W3C error.
#[derive(Debug, Clone)]
pub struct WdError {
    pub endpoint: String,
    pub status: u16,
    /// `value.error`, e.g. `no such element`, `stale element reference`, `javascript error`.
    pub error: String,
    pub message: String,
}

impl fmt::Display for WdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chromedriver repeats the error at the start of the message and ends it with the version.
        let message = self.message.split("\n  (Session info:").next().unwrap_or_default();
        let message = message.strip_prefix(&format!("{}: ", self.error)).unwrap_or(message);
        write!(f, "WebDriver {}: HTTP {}: {}: {message}", self.endpoint, self.status, self.error)
    }
}

/// The session's address and the HTTP client, shared by the browser and its elements.
struct Session {
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT` of chromedriver.
    driver: String,
    id: String,
}

impl Session {
    /// A call relative to the session (`path` such as `/url`), or to chromedriver itself when
    /// `path` starts with `//` (`//status`).
    async fn try_send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = match path.strip_prefix("//") {
            Some(root) => format!("{}/{root}", self.driver),
            None => format!("{}/session/{}{path}", self.driver, self.id),
        };
        send(&self.client, method, &url, body, HTTP_TIMEOUT).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        match self.try_send(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(Method::POST, path, Some(body)).await
    }
}

/// One WebDriver call: the answer's `value`, or the error it carries.
async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
    timeout: Duration,
) -> Result<Value, WdError> {
    // `POST /element`: the path without the host and the session.
    let path = url.splitn(4, '/').nth(3).unwrap_or_default();
    let path = match path.strip_prefix("session/").map(|p| p.split_once('/')) {
        Some(Some((_session, rest))) => match rest.strip_prefix("element/").and_then(|r| r.split_once('/')) {
            Some((_element, what)) => format!("/element/{{id}}/{what}"),
            None => format!("/{rest}"),
        },
        _ => format!("/{path}"),
    };
    let endpoint = format!("{method} {path}");
    let transport = |status: u16, message: String| WdError {
        endpoint: endpoint.clone(),
        status,
        error: "transport".into(),
        message,
    };
    let mut req = client.request(method.clone(), url).timeout(timeout);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.map_err(|e| transport(0, format!("{e:#}")))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| transport(status, format!("reading the answer: {e:#}")))?;
    let answer: Value = serde_json::from_str(&text).map_err(|e| transport(status, format!("{e}: {text}")))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) && value.get("error").is_none() {
        return Ok(value);
    }
    let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Err(WdError { endpoint: endpoint.clone(), status, error: field("error"), message: field("message") })
}

/// Whether a failed call is worth retrying while waiting for the page to settle.
fn transient(e: &WdError) -> bool {
    matches!(
        e.error.as_str(),
        "no such element" | "stale element reference" | "element not interactable" | "element click intercepted"
    )
}

/// The element reference in an answer such as `{"element-6066-…": "f.1.d.2.e.3"}`: its single
/// key (not hard-coded) and the id.
fn element_ref(v: &Value) -> Option<(String, String)> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let (k, id) = obj.iter().next()?;
    Some((k.clone(), id.as_str()?.to_string()))
}

/// JavaScript truthiness of a returned value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Standard base64 (the W3C screenshot answer), padding and whitespace tolerated.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in s.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("not base64: byte {c:#04x} at {i}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Finding and starting the programs
// ---------------------------------------------------------------------------------------------

/// `$var`, else the Debian path, else the first of `names` on PATH.
fn locate(var: &str, debian: &str, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("${var} is {}, which does not exist", p.display())) };
    }
    if Path::new(debian).is_file() {
        return Ok(debian.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(format!("no {} (not at {debian}, not on PATH, ${var} unset)", names[0]))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// The group of a child started with `process_group(0)` is its pid.
fn kill_group(pgid: u32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGKILL: i32 = 9;
    if let Ok(pid) = i32::try_from(pgid)
        && pid > 1
    {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            kill(-pid, SIGKILL);
        }
    }
}

/// Where failure screenshots go: `$CARGO_TARGET_DIR` or the crate's `target`, then
/// `browser-failures/`.
fn failures_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-failures")
}

// ---------------------------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------------------------

/// A headless Chromium with one WebDriver session.
pub struct Browser {
    driver: Child,
    session: Arc<Session>,
    /// `http://127.0.0.1:PORT` of chromedriver.
    pub driver_url: String,
    /// The profile (`--user-data-dir`) and chromedriver's log; removed after the processes died.
    profile: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Act<'a> {
    Click,
    Type(&'a str),
    Text,
}

impl Browser {
    /// A 1280×900 window, or `None` (said on stderr) when Chromium or chromedriver is missing and
    /// `AGNO_TEST_REQUIRE_BROWSER` is not `1`. Panics when they are there but do not start.
    pub async fn start() -> Option<Browser> {
        Browser::start_with_size(1280, 900).await
    }

    pub async fn start_with_size(w: u32, h: u32) -> Option<Browser> {
        Browser::start_with(w, h, &[]).await
    }

    /// A `w`×`h` window with more Chromium flags (e.g. `--force-dark-mode`).
    pub async fn start_with(w: u32, h: u32, flags: &[&str]) -> Option<Browser> {
        let found = locate("AGNO_TEST_CHROMIUM", "/usr/bin/chromium", &["chromium", "chromium-browser", "chrome"])
            .and_then(|c| locate("AGNO_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", &["chromedriver"]).map(|d| (c, d)));
        let (chromium, chromedriver) = match found {
            Ok(found) => found,
            Err(reason) => {
                if std::env::var("AGNO_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                    panic!("AGNO_TEST_REQUIRE_BROWSER=1 but {reason}");
                }
                eprintln!("skipping: {reason} (install chromium and chromium-driver to run browser tests)");
                return None;
            }
        };
        Some(Browser::launch(&chromium, &chromedriver, w, h, flags).await)
    }

    async fn launch(chromium: &Path, chromedriver: &Path, w: u32, h: u32, flags: &[&str]) -> Browser {
        let profile = tempfile::Builder::new().prefix("agno-browser-").tempdir().expect("a profile folder");
        let log = profile.path().join("chromedriver.log");
        let tmp = profile.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("a temporary folder in the profile");
        let client = reqwest::Client::builder().no_proxy().timeout(HTTP_TIMEOUT).build().expect("an HTTP client");

        // The port is free when read, not necessarily when chromedriver binds it: retry a lost race.
        let mut attempt = 0;
        let (driver, driver_url) = loop {
            attempt += 1;
            let port = free_port();
            let mut child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Chromium's crash handler keeps its database under $XDG_CONFIG_HOME/chromium
                // whatever the profile, and both leave scoped dirs in $TMPDIR: all in the
                // throw-away folder.
                .env("TMPDIR", &tmp)
                .env("XDG_CONFIG_HOME", profile.path().join("config"))
                .env("XDG_CACHE_HOME", profile.path().join("cache"))
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
            let url = format!("http://127.0.0.1:{port}");
            match wait_ready(&client, &url, &mut child).await {
                Ok(()) => break (child, url),
                Err(why) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    if attempt >= 3 {
                        let log = std::fs::read_to_string(&log).unwrap_or_default();
                        let tail: Vec<&str> = log.lines().rev().take(30).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        panic!(
                            "{} did not get ready: {why}\nits log ends:\n{}",
                            chromedriver.display(),
                            tail.join("\n")
                        );
                    }
                }
            }
        };

        let mut args: Vec<String> = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--user-data-dir={}", profile.path().join("profile").display()),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--no-proxy-server".to_string(),
            "--disable-search-engine-choice-screen".to_string(),
            format!("--window-size={w},{h}"),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    // Dialogs stay open until the test handles them (`accept_alert`, …); other
                    // commands fail with `unexpected alert open` meanwhile.
                    "unhandledPromptBehavior": "ignore",
                    // Below our HTTP timeout, so a hung page says so rather than timing out the call.
                    "timeouts": { "implicit": 0, "pageLoad": 25_000, "script": 25_000 },
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    },
                },
            },
        });
        let created = send(&client, Method::POST, &format!("{driver_url}/session"), Some(caps), SESSION_TIMEOUT).await;
        let id = match created {
            Ok(v) => v.get("sessionId").and_then(Value::as_str).map(str::to_string),
            Err(e) => {
                let mut driver = driver;
                kill_group(driver.id());
                let _ = driver.wait();
                panic!("starting {} through {}: {e}", chromium.display(), chromedriver.display());
            }
        };
        let id = id.expect("a sessionId in the new session's answer");
        let session = Arc::new(Session { client, driver: driver_url.clone(), id });
        let browser = Browser { driver, session, driver_url, profile };
        browser.set_window_size(w, h).await;
        browser
    }

    /// chromedriver's pid, which is also its process group's id.
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    // --- navigation and scripts ----------------------------------------------------------------

    /// Loads `url` (waits for the load event), then installs the error hooks of [`errors`].
    ///
    /// [`errors`]: Browser::errors
    pub async fn goto(&self, url: &str) {
        self.session.post("/url", json!({ "url": url })).await;
        self.install_error_hooks().await;
    }

    /// Installs the hooks behind [`Browser::errors`] in the current document, if not there yet
    /// (after a navigation the page did itself, e.g. a link or a form).
    pub async fn install_error_hooks(&self) {
        self.eval(ERROR_HOOKS, vec![]).await;
    }

    pub async fn current_url(&self) -> String {
        self.session.get("/url").await.as_str().unwrap_or_default().to_string()
    }

    pub async fn refresh(&self) {
        self.session.post("/refresh", json!({})).await;
        self.install_error_hooks().await;
    }

    pub async fn title(&self) -> String {
        self.session.get("/title").await.as_str().unwrap_or_default().to_string()
    }

    /// Runs a function body (`return …`, the arguments in `arguments`); elements in `args` as
    /// [`Element::to_json`]. Panics on a JavaScript error.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.session.post("/execute/sync", json!({ "script": script, "args": args })).await
    }

    /// [`Browser::eval`], with the error instead of a panic.
    pub async fn try_eval(&self, script: &str, args: Vec<Value>) -> Result<Value, WdError> {
        self.session.try_send(Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Runs a function body whose last argument is the callback to call with the result
    /// (`arguments[arguments.length - 1](value)`), within 25 s.
    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.session.post("/execute/async", json!({ "script": script, "args": args })).await
    }

    // --- elements -------------------------------------------------------------------------------

    /// The first match of `css`, waiting up to 10 s for it to exist.
    pub async fn find(&self, css: &str) -> Element {
        self.find_within(css, FIND_TIMEOUT).await
    }

    /// [`Browser::find`] with another deadline.
    pub async fn find_within(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_find(css).await {
                Ok(Some(e)) => return e,
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
            if Instant::now() >= deadline {
                let msg = self.failure(&format!("no element matches {css:?} after {timeout:?}"), "").await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn try_find(&self, css: &str) -> Result<Option<Element>, WdError> {
        let found =
            self.session.try_send(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        match found {
            Ok(v) => Ok(Some(self.element(&v))),
            Err(e) if e.error == "no such element" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every match of `css` now (no wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.session.post("/elements", json!({"using": "css selector", "value": css})).await;
        found.as_array().map(|a| a.iter().map(|v| self.element(v)).collect()).unwrap_or_default()
    }

    /// Whether `css` matches something now (no wait).
    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    fn element(&self, v: &Value) -> Element {
        let (key, id) = element_ref(v).unwrap_or_else(|| panic!("not an element reference: {v}"));
        Element { session: self.session.clone(), key, id }
    }

    /// Finds `css` (waiting up to 10 s) and does `act` on it, again while the element is being
    /// re-rendered, covered or not yet interactable, until the same deadline.
    async fn act(&self, css: &str, act: Act<'_>) -> Value {
        let deadline = Instant::now() + FIND_TIMEOUT;
        loop {
            let done = match self.try_find(css).await {
                Ok(Some(el)) => match act {
                    Act::Click => el.try_post("/click", json!({})).await,
                    Act::Type(text) => match el.try_post("/clear", json!({})).await {
                        Ok(_) => el.try_post("/value", json!({ "text": text })).await,
                        Err(e) => Err(e),
                    },
                    Act::Text => el.session.try_send(Method::GET, &format!("/element/{}/text", el.id), None).await,
                },
                Ok(None) => Err(WdError {
                    endpoint: "POST element".into(),
                    status: 404,
                    error: "no such element".into(),
                    message: format!("nothing matches {css:?}"),
                }),
                Err(e) => Err(e),
            };
            let last = match done {
                Ok(v) => return v,
                Err(e) if transient(&e) => e,
                Err(e) => panic!("{e}"),
            };
            if Instant::now() >= deadline {
                let what = match act {
                    Act::Click => format!("could not click {css:?}"),
                    Act::Type(t) => format!("could not type {t:?} into {css:?}"),
                    Act::Text => format!("could not read the text of {css:?}"),
                };
                let msg = self.failure(&format!("{what} within {FIND_TIMEOUT:?}"), &last.to_string()).await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Finds `css` and clicks it (W3C element click: scrolled into view, at its centre).
    pub async fn click(&self, css: &str) {
        self.act(css, Act::Click).await;
    }

    /// Finds `css`, clears it and types `text` (keys from [`keys`] allowed).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.act(css, Act::Type(text)).await;
    }

    /// The visible text of the first match of `css` (waiting up to 10 s for one).
    pub async fn text(&self, css: &str) -> String {
        self.act(css, Act::Text).await.as_str().unwrap_or_default().to_string()
    }

    /// `document.body.innerText`.
    pub async fn page_text(&self) -> String {
        let v = self.eval("return document.body ? document.body.innerText : ''", vec![]).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Presses `keys` on whatever has the focus, one after the other (W3C actions); modifiers
    /// ([`keys::SHIFT`], [`keys::CONTROL`], …) stay down until the end: `"\u{E009}a"` is Ctrl+A.
    pub async fn press(&self, keys: &str) {
        let modifier = |c: char| matches!(c, '\u{E008}'..='\u{E00A}' | '\u{E03D}' | '\u{E050}'..='\u{E053}');
        let mut actions = Vec::new();
        let mut held = Vec::new();
        for c in keys.chars() {
            let k = c.to_string();
            actions.push(json!({"type": "keyDown", "value": k}));
            if modifier(c) {
                held.push(k);
            } else {
                actions.push(json!({"type": "keyUp", "value": k}));
            }
        }
        for k in held.into_iter().rev() {
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        self.session
            .post("/actions", json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}))
            .await;
        self.session.send(Method::DELETE, "/actions", None).await;
    }

    // --- waits ----------------------------------------------------------------------------------

    /// The visible text of the first match of `css`, `None` when there is none (or it was
    /// replaced while read).
    async fn text_now(&self, css: &str) -> Option<String> {
        let el = self.try_find(css).await.unwrap_or_else(|e| panic!("{e}"))?;
        match el.session.try_send(Method::GET, &format!("/element/{}/text", el.id), None).await {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_string()),
            Err(e) if transient(&e) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Polls until the visible text of the first match of `css` (which may appear later)
    /// contains `needle`, for up to `secs`; returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text_now(css).await;
            if let Some(t) = &text
                && t.contains(needle)
            {
                return t.clone();
            }
            if Instant::now() >= deadline {
                let now = text.map_or("no element".to_string(), |t| format!("{t:?}"));
                let what = format!("waited {secs} s for {css:?} to contain {needle:?}");
                let msg = self.failure(&what, &format!("its text: {now}")).await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the text of `css` no longer contains `needle`, or there is no such element,
    /// for up to `secs` (an empty `needle`: until the element is gone).
    pub async fn wait_until_gone(&self, css: &str, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text_now(css).await;
            match &text {
                Some(t) if t.contains(needle) => {}
                _ => return,
            }
            if Instant::now() >= deadline {
                let what = format!("waited {secs} s for {css:?} to no longer contain {needle:?}");
                let msg = self.failure(&what, &format!("its text: {:?}", text.unwrap_or_default())).await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `script` (a function body, e.g. `return document.querySelectorAll('li').length > 2`)
    /// until it returns something truthy, for up to `secs`; returns that. A script that throws
    /// counts as not yet (its last error is in the panic).
    pub async fn wait_for(&self, what: &str, script: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let last = match self.try_eval(script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => format!("last value: {v}"),
                Err(e) if e.error == "javascript error" => format!("last error: {e}"),
                Err(e) => panic!("{e}"),
            };
            if Instant::now() >= deadline {
                let msg = self.failure(&format!("waited {secs} s for {what}"), &last).await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    // --- window, screenshots, dialogs -----------------------------------------------------------

    /// The PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self.session.get("/screenshot").await;
        base64_decode(v.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    /// Saves a screenshot and the page's HTML under `target/browser-failures/`; the PNG's path.
    pub async fn save_screenshot(&self, name: &str) -> Result<PathBuf, String> {
        let dir = failures_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let png = self.session.try_send(Method::GET, "/screenshot", None).await.map_err(|e| e.to_string())?;
        let png = base64_decode(png.as_str().unwrap_or_default())?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let html = self.try_eval("return document.documentElement.outerHTML", vec![]).await;
        if let Ok(Value::String(html)) = html {
            let _ = std::fs::write(dir.join(format!("{name}.html")), html);
        }
        Ok(path)
    }

    /// The message of a failed wait: what was awaited, `detail`, the URL, the page's text, the
    /// errors it logged and the saved screenshot.
    async fn failure(&self, what: &str, detail: &str) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let name = format!("{millis}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let shot = match self.save_screenshot(&name).await {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("(none: {e})"),
        };
        let url = match self.session.try_send(Method::GET, "/url", None).await {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("(unknown: {e})"),
        };
        let page = match self.try_eval("return document.body ? document.body.innerText : '(no body)'", vec![]).await {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("(could not read it: {e})"),
        };
        let errors = match self.try_eval("return window.__errors || []", vec![]).await {
            Ok(v) => v.to_string(),
            Err(e) => format!("(could not read them: {e})"),
        };
        let detail = if detail.is_empty() { String::new() } else { format!("\n{detail}") };
        format!(
            "{what}{detail}\nurl: {url}\n--- page text ---\n{page}\n--- end of page text ---\nbrowser errors: {errors}\nscreenshot: {shot}"
        )
    }

    /// The outer window size (the viewport is smaller: headless Chromium draws no toolbar, but
    /// still reserves its height).
    pub async fn set_window_size(&self, w: u32, h: u32) {
        self.session.post("/window/rect", json!({ "width": w, "height": h })).await;
    }

    /// Sizes the window so that the viewport (`innerWidth` × `innerHeight`) is `w` × `h`.
    pub async fn set_viewport_size(&self, w: u32, h: u32) {
        self.set_window_size(w, h).await;
        let inner = self.eval("return [window.innerWidth, window.innerHeight]", vec![]).await;
        let get = |i: usize| inner[i].as_u64().unwrap_or(0) as u32;
        let (dw, dh) = (w.saturating_sub(get(0)), h.saturating_sub(get(1)));
        if dw > 0 || dh > 0 {
            self.set_window_size(w + dw, h + dh).await;
        }
    }

    /// The text of the open `alert`/`confirm`/`prompt`, if one is open.
    pub async fn alert_text(&self) -> Option<String> {
        match self.session.try_send(Method::GET, "/alert/text", None).await {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_string()),
            Err(e) if e.error == "no such alert" => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Waits up to 10 s for a dialog, returns its text.
    async fn wait_alert(&self, verb: &str) -> String {
        let deadline = Instant::now() + FIND_TIMEOUT;
        loop {
            if let Some(t) = self.alert_text().await {
                return t;
            }
            if Instant::now() >= deadline {
                let msg = self.failure(&format!("no dialog to {verb} within {FIND_TIMEOUT:?}"), "").await;
                panic!("{msg}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Accepts the dialog (OK), waiting up to 10 s for one; returns its text.
    pub async fn accept_alert(&self) -> String {
        let text = self.wait_alert("accept").await;
        self.session.post("/alert/accept", json!({})).await;
        text
    }

    /// Dismisses the dialog (Cancel), waiting up to 10 s for one; returns its text.
    pub async fn dismiss_alert(&self) -> String {
        let text = self.wait_alert("dismiss").await;
        self.session.post("/alert/dismiss", json!({})).await;
        text
    }

    /// Types into the open `prompt()`.
    pub async fn alert_send_text(&self, text: &str) {
        self.wait_alert("type into").await;
        self.session.post("/alert/text", json!({ "text": text })).await;
    }

    // --- errors ---------------------------------------------------------------------------------

    /// What the page logged with `console.error`, threw uncaught or rejected unhandled since the
    /// last [`Browser::goto`] (hooks are installed after the load, so errors during it are
    /// missed). Empty, and the hooks installed, when the page navigated away from them.
    pub async fn errors(&self) -> Vec<String> {
        let v = self.eval("return Array.isArray(window.__errors) ? window.__errors.slice() : null", vec![]).await;
        match v {
            Value::Array(a) => {
                a.into_iter().map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string)).collect()
            }
            _ => {
                self.install_error_hooks().await;
                Vec::new()
            }
        }
    }
}

/// Waits for chromedriver's `/status` to say `ready`, or for it to exit.
async fn wait_ready(client: &reqwest::Client, url: &str, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        let status = send(client, Method::GET, &format!("{url}/status"), None, Duration::from_secs(2)).await;
        let last = match status {
            Ok(v) if v.get("ready") == Some(&Value::Bool(true)) => return Ok(()),
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("not ready after {READY_TIMEOUT:?}; last: {last}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver closes Chromium), then kills chromedriver's process group
    /// for whatever is left, and reaps chromedriver.
    fn drop(&mut self) {
        let addr = self.driver_url.trim_start_matches("http://").to_string();
        let id = self.session.id.clone();
        // Plain blocking HTTP: no runtime is needed here, and Drop may run during a panic.
        let _ = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect(&addr)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.set_write_timeout(Some(Duration::from_secs(5)))?;
            write!(
                s,
                "DELETE /session/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            // chromedriver keeps the connection open: read up to the end of the body, not of the stream.
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answer);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                    });
                    if length.is_none_or(|n| body.len() >= n) {
                        return Ok(());
                    }
                }
            }
        })();
        kill_group(self.driver.id());
        let _ = self.driver.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Element
// ---------------------------------------------------------------------------------------------

/// A found element. Calls on it panic (e.g. `stale element reference` once the page replaced it);
/// the [`Browser`] methods taking a selector find it again instead.
#[derive(Clone)]
pub struct Element {
    session: Arc<Session>,
    /// The W3C element key, as chromedriver answered it.
    key: String,
    pub id: String,
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Element({})", self.id)
    }
}

impl Element {
    async fn try_post(&self, what: &str, body: Value) -> Result<Value, WdError> {
        self.session.try_send(Method::POST, &format!("/element/{}{what}", self.id), Some(body)).await
    }

    async fn get(&self, what: &str) -> Value {
        self.session.get(&format!("/element/{}{what}", self.id)).await
    }

    async fn post(&self, what: &str, body: Value) -> Value {
        self.session.post(&format!("/element/{}{what}", self.id), body).await
    }

    /// The reference to pass in [`Browser::eval`]'s `args` (`arguments[0]` is then the element).
    pub fn to_json(&self) -> Value {
        let key = if self.key.is_empty() { W3C_ELEMENT } else { &self.key };
        json!({ key: self.id })
    }

    pub async fn click(&self) {
        self.post("/click", json!({})).await;
    }

    /// The visible text.
    pub async fn text(&self) -> String {
        self.get("/text").await.as_str().unwrap_or_default().to_string()
    }

    /// The attribute as written in the HTML (`None` when absent).
    pub async fn attr(&self, name: &str) -> Option<String> {
        self.get(&format!("/attribute/{name}")).await.as_str().map(str::to_string)
    }

    /// The DOM property (`value`, `checked`, `disabled`, …).
    pub async fn property(&self, name: &str) -> Value {
        self.get(&format!("/property/{name}")).await
    }

    pub async fn send_keys(&self, s: &str) {
        self.post("/value", json!({ "text": s })).await;
    }

    pub async fn clear(&self) {
        self.post("/clear", json!({})).await;
    }

    pub async fn is_displayed(&self) -> bool {
        self.get("/displayed").await.as_bool().unwrap_or(false)
    }

    pub async fn is_enabled(&self) -> bool {
        self.get("/enabled").await.as_bool().unwrap_or(false)
    }

    /// The tag name, lowercase.
    pub async fn tag(&self) -> String {
        self.get("/name").await.as_str().unwrap_or_default().to_lowercase()
    }

    /// The matches of `css` inside this element (no wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.post("/elements", json!({"using": "css selector", "value": css})).await;
        let all = found.as_array().cloned().unwrap_or_default();
        all.iter()
            .map(|v| {
                let (key, id) = element_ref(v).unwrap_or_else(|| panic!("not an element reference: {v}"));
                Element { session: self.session.clone(), key, id }
            })
            .collect()
    }
}
