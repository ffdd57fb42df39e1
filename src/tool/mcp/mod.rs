//! Tools from MCP servers, on the official SDK (`rmcp`): one [`McpServer`] per declared server
//! (a supervised stdio child or a streamable HTTP connection), its tools offered as
//! [`McpTool`]s behind the [`Tool`] trait. The SDK is used here and nowhere else.
//!
//! A server starts on first use (a generation that serves starts its servers when it is built),
//! reads its tool list under its startup timeout, and is supervised: a server that exits or
//! whose connection closes is started again with backoff, and while it is down its tools
//! answer the model with an error, never fail the run. Everything a server sends is bounded:
//! each message by the SDK's line/body limits set from `max_result_bytes`, the tool list by
//! count, a result by `max_result_bytes`. The last handle dropped (the last generation and
//! run using it gone) stops the server; [`Registry::stop_all`] stops every one at exit.
//! It does not decide which agents use which server: the runtime binds them.

pub mod child;
mod http;
mod lines;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, PaginatedRequestParams};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Tool, ToolContext, ToolError};
use crate::config::{McpServerConfig, McpTransport, redact_secrets};
use crate::model::ToolSpec;

/// Most tools one server may offer; the rest are left out (logged).
pub const MAX_TOOLS: usize = 1024;
/// Most pages of `tools/list` read from one server.
const MAX_PAGES: usize = 64;
/// Largest spec (description and parameter schema) of one tool; a larger one is left out.
const MAX_SPEC_BYTES: usize = 64 * 1024;
/// Largest sum of the specs of one server's tools (they go to the model on every turn).
pub const MAX_SPECS_BYTES: usize = 2 * 1024 * 1024;
/// Longest error text from a server given to the model.
const MAX_ERROR_BYTES: usize = 4096;
/// Longest wait between two restarts of a server that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long before it went down is restarted without waiting.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Where a server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Never asked for.
    Idle,
    /// Starting (or connecting), initializing, listing tools.
    Starting,
    /// Serving calls.
    Ready,
    /// Failed to start, or went down; restarted after a backoff. Holds why.
    Down(String),
    /// Stopped for good (its last user is gone, or the process exits).
    Stopped,
}

/// A tool as a server lists it, under the name the model sees.
#[derive(Debug, Clone)]
struct Listed {
    /// The server's name for it.
    remote: String,
    tool: Arc<McpTool>,
}

/// The state the supervisor publishes; a std mutex, never held across an await.
struct State {
    status: Status,
    /// The connection's request handle while Ready.
    peer: Option<Peer<RoleClient>>,
    /// The tools of the last successful start (kept while down, so the model is told the
    /// server is down rather than that the tool does not exist).
    tools: Arc<Vec<Listed>>,
    /// The stdio child's pid while it runs.
    pid: Option<u32>,
    /// Completed start attempts (successful or not).
    attempts: u32,
}

struct Inner {
    config: McpServerConfig,
    state: Mutex<State>,
    /// Bumped on every change of `state`; `ready` waits on it.
    changed: watch::Sender<u64>,
    /// Cancelled when the server is to stop for good.
    stop: CancellationToken,
    /// The supervisor was spawned.
    spawned: AtomicBool,
    /// True once the supervisor has ended (its child gone).
    finished: watch::Sender<bool>,
}

impl Inner {
    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn status(&self) -> Status {
        self.state.lock().map(|s| s.status.clone()).unwrap_or(Status::Stopped)
    }

    fn hide(&self, text: &str) -> String {
        redact_secrets(text, self.config.secrets())
    }
}

/// One declared MCP server, shared by every agent, team and generation that uses it (an
/// `Arc`); dropping the last handle stops it.
pub struct McpServer {
    inner: Arc<Inner>,
    /// The HTTP client (no redirects), or why it could not be made.
    http: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("id", &self.inner.config.id).field("status", &self.status()).finish()
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.inner.stop.cancel();
    }
}

/// Every server of one process, to stop them all at exit.
#[derive(Debug, Default)]
pub struct Registry {
    servers: Mutex<Vec<WeakServer>>,
}

struct WeakServer(Weak<Inner>);

impl std::fmt::Debug for WeakServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakServer")
    }
}

impl Registry {
    /// Stops every server still running (SIGTERM to its group, SIGKILL after the grace) and
    /// waits for them, bounded.
    pub async fn stop_all(&self) {
        let live: Vec<Arc<Inner>> = self
            .servers
            .lock()
            .map(|mut s| {
                s.retain(|w| w.0.strong_count() > 0);
                s.iter().filter_map(|w| w.0.upgrade()).collect()
            })
            .unwrap_or_default();
        let waits = live.iter().map(|inner| {
            inner.stop.cancel();
            let mut done = inner.finished.subscribe();
            let spawned = inner.spawned.load(Ordering::SeqCst);
            async move {
                if spawned {
                    let _ = tokio::time::timeout(child::GRACE * 2, done.wait_for(|d| *d)).await;
                }
            }
        });
        futures_util::future::join_all(waits).await;
    }
}

impl McpServer {
    /// The server of `config`, not started (no I/O); registered in `registry`.
    pub fn new(config: McpServerConfig, registry: &Registry) -> Arc<McpServer> {
        let (changed, _) = watch::channel(0);
        let (finished, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(State {
                status: Status::Idle,
                peer: None,
                tools: Arc::new(Vec::new()),
                pid: None,
                attempts: 0,
            }),
            changed,
            stop: CancellationToken::new(),
            spawned: AtomicBool::new(false),
            finished,
        });
        if let Ok(mut s) = registry.servers.lock() {
            s.retain(|w| w.0.strong_count() > 0);
            s.push(WeakServer(Arc::downgrade(&inner)));
        }
        let connect_timeout = match &inner.config.transport {
            McpTransport::StreamableHttp { connect_timeout, .. } => Duration::from_secs_f64(*connect_timeout),
            McpTransport::Stdio { .. } => Duration::from_secs(30),
        };
        // No redirects: the headers (secrets) would go to whatever host a redirect names.
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"));
        Arc::new(McpServer { inner, http })
    }

    /// Its declaration.
    pub fn config(&self) -> &McpServerConfig {
        &self.inner.config
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    /// Where it is now.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// The pid of its child process while it runs (stdio servers).
    pub fn pid(&self) -> Option<u32> {
        self.inner.state.lock().ok().and_then(|s| s.pid)
    }

    /// Starts its supervisor, once (needs a tokio runtime).
    fn spawn(&self) {
        if self.inner.spawned.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        let http = self.http.clone();
        tokio::spawn(supervise(inner, http));
    }

    /// Its tools, starting it on first use and waiting for the outcome of its first start
    /// (bounded by its startup timeout). After that it never waits: a server that is down
    /// offers the tools it listed last (whose calls tell the model it is down), or none.
    pub async fn ready(&self) -> Result<(), String> {
        self.spawn();
        let mut rx = self.inner.changed.subscribe();
        let bound = Duration::from_secs_f64(self.inner.config.startup_timeout_seconds) + child::GRACE * 2;
        let wait = async {
            loop {
                let (status, attempts) =
                    self.inner.state.lock().map(|s| (s.status.clone(), s.attempts)).unwrap_or((Status::Stopped, 1));
                match status {
                    Status::Ready => return Ok(()),
                    Status::Down(why) if attempts > 0 => return Err(why),
                    Status::Stopped => return Err("the server was stopped".to_string()),
                    _ if attempts > 0 => return Err("the server is restarting".to_string()),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err("the server was stopped".to_string());
                }
            }
        };
        tokio::time::timeout(bound, wait)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:.1}s", bound.as_secs_f64())))
    }

    /// The tools it offers (after the server's own include/exclude and prefix), for a use with
    /// `include` / `exclude` (empty: all), in the server's order.
    pub fn tools(&self, include: &[String], exclude: &[String]) -> Vec<Arc<dyn Tool>> {
        let listed = self.inner.state.lock().map(|s| s.tools.clone()).unwrap_or_default();
        listed
            .iter()
            .filter(|l| include.is_empty() || include.contains(&l.remote))
            .filter(|l| !exclude.contains(&l.remote))
            .map(|l| l.tool.clone() as Arc<dyn Tool>)
            .collect()
    }

    /// Stops it for good and waits for its child to be gone (bounded).
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        if self.inner.spawned.load(Ordering::SeqCst) {
            let mut done = self.inner.finished.subscribe();
            let _ = tokio::time::timeout(child::GRACE * 2, done.wait_for(|d| *d)).await;
        }
    }
}

/// One live connection.
struct Conn {
    service: RunningService<RoleClient, ClientConfig>,
    /// The stdio child, its group and its stderr tail.
    child: Option<(tokio::process::Child, child::Group, child::Tail)>,
}

fn client_info() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("agno-run", env!("CARGO_PKG_VERSION")))
}

/// The longest message the SDK reads from a server whose results are bounded by `max`:
/// room for JSON escaping and the envelope.
fn message_limit(max: u64) -> usize {
    (max as usize).saturating_mul(4).saturating_add(64 * 1024)
}

fn tail_note(tail: Option<&child::Tail>) -> String {
    tail.and_then(child::Tail::text).map(|t| format!("; it wrote: {t}")).unwrap_or_default()
}

/// Starts or connects, initializes and lists the tools, all under the startup timeout.
async fn connect(
    inner: &Arc<Inner>,
    http: &Result<reqwest::Client, String>,
) -> Result<(Conn, Vec<Listed>, Option<u32>), String> {
    let config = &inner.config;
    let deadline = Instant::now() + Duration::from_secs_f64(config.startup_timeout_seconds);
    let limit = message_limit(config.max_result_bytes);
    let (service, child, pid) = match &config.transport {
        McpTransport::Stdio { .. } => {
            let started = child::start(config)?;
            let pid = started.child.id();
            // The bound is ours (an oversized answer becomes an error answer at once); the
            // SDK's own, a little higher, never trips.
            let stdout = lines::BoundedLines::new(started.stdout, limit, &config.id);
            let transport = rmcp::transport::async_rw::AsyncRwTransport::new_client(stdout, started.stdin)
                .with_max_line_length(limit + 1024);
            let init = tokio::time::timeout_at(deadline.into(), client_info().serve(transport)).await;
            match init {
                Ok(Ok(service)) => (service, Some((started.child, started.group, started.tail)), pid),
                Ok(Err(e)) => {
                    let why = format!("it failed to initialize: {e}{}", tail_note(Some(&started.tail)));
                    child::stop(started.child, started.group).await;
                    return Err(why);
                }
                Err(_) => {
                    let why = format!(
                        "it did not answer `initialize` within {:.1}s{}",
                        config.startup_timeout_seconds,
                        tail_note(Some(&started.tail))
                    );
                    child::stop(started.child, started.group).await;
                    return Err(why);
                }
            }
        }
        McpTransport::StreamableHttp { url, headers, .. } => {
            use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
            let mut custom = std::collections::HashMap::new();
            for (k, v) in headers {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("`{k}` is not a valid HTTP header name"))?;
                let value = reqwest::header::HeaderValue::from_str(v.expose())
                    .map_err(|_| format!("the value of header `{k}` is not a valid HTTP header value"))?;
                custom.insert(name, value);
            }
            let transport_config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                .custom_headers(custom)
                .max_sse_event_size(limit)
                .max_json_response_size(limit)
                .max_error_response_size(64 * 1024);
            let client = http::Budgeted::new(http.clone()?, &config.id);
            let transport = rmcp::transport::StreamableHttpClientTransport::with_client(client, transport_config);
            match tokio::time::timeout_at(deadline.into(), client_info().serve(transport)).await {
                Ok(Ok(service)) => (service, None, None),
                Ok(Err(e)) => return Err(inner.hide(&format!("cannot connect to {url}: {e}"))),
                Err(_) => {
                    return Err(format!(
                        "{url} did not answer `initialize` within {:.1}s",
                        config.startup_timeout_seconds
                    ));
                }
            }
        }
    };
    let conn = Conn { service, child };
    let listed = match tokio::time::timeout_at(deadline.into(), list(inner, &conn.service)).await {
        Ok(Ok(listed)) => listed,
        Ok(Err(e)) => {
            let why = format!("it failed to list its tools: {e}{}", tail_note(conn.child.as_ref().map(|c| &c.2)));
            close(conn).await;
            return Err(why);
        }
        Err(_) => {
            close(conn).await;
            return Err(format!("it did not list its tools within {:.1}s", config.startup_timeout_seconds));
        }
    };
    Ok((conn, listed, pid))
}

/// Closes a connection and stops its child.
async fn close(conn: Conn) {
    let ct = conn.service.cancellation_token();
    ct.cancel();
    if let Some((child, group, _)) = conn.child {
        child::stop(child, group).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.service.waiting()).await;
}

/// A tool name the model APIs accept.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads the server's tool list (bounded in pages and count) and makes its tools.
async fn list(inner: &Arc<Inner>, service: &RunningService<RoleClient, ClientConfig>) -> Result<Vec<Listed>, String> {
    let config = &inner.config;
    let has_tools = service.peer_info().is_none_or(|i| i.capabilities.tools.is_some());
    if !has_tools {
        tracing::warn!(mcp_server = %config.id, "the MCP server offers no tools");
        return Ok(Vec::new());
    }
    let mut out: Vec<Listed> = Vec::new();
    let mut total = 0usize;
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor.take().map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
        let page = service.peer().list_tools(params).await.map_err(|e| inner.hide(&e.to_string()))?;
        for t in page.tools {
            let remote = t.name.to_string();
            if !config.include_tools.is_empty() && !config.include_tools.contains(&remote) {
                continue;
            }
            if config.exclude_tools.contains(&remote) {
                continue;
            }
            let name = format!("{}{remote}", config.tool_name_prefix.as_deref().unwrap_or(""));
            if inner.hide(&name) != name {
                tracing::warn!(mcp_server = %config.id, "left out an MCP tool whose name holds a secret");
                continue;
            }
            if !valid_name(&name) {
                tracing::warn!(mcp_server = %config.id, tool = %name.chars().take(80).collect::<String>(), "left out an MCP tool whose name models do not accept (1 to 64 of A-Z a-z 0-9 _ -)");
                continue;
            }
            if out.iter().any(|l| l.tool.spec.name == name) {
                continue;
            }
            if out.len() == MAX_TOOLS {
                tracing::warn!(mcp_server = %config.id, "the MCP server lists more than {MAX_TOOLS} tools; the rest are left out");
                return Ok(out);
            }
            let mut schema = Value::Object((*t.input_schema).clone());
            if schema.get("type").is_none() {
                schema["type"] = json!("object");
            }
            // The schema goes to the model too: no secret in its strings either.
            hide_strings(&mut schema, &|t| inner.hide(t));
            let spec = ToolSpec {
                name,
                description: t.description.map(|d| inner.hide(&d)).unwrap_or_default(),
                parameters: schema,
            };
            let size = spec.name.len() + spec.description.len() + spec.parameters.to_string().len();
            if size > MAX_SPEC_BYTES {
                tracing::warn!(mcp_server = %config.id, tool = %spec.name, bytes = size, "left out an MCP tool whose description and schema pass {MAX_SPEC_BYTES} bytes");
                continue;
            }
            total += size;
            if total > MAX_SPECS_BYTES {
                tracing::warn!(mcp_server = %config.id, "the MCP server's tool specs pass {MAX_SPECS_BYTES} bytes in all; the rest are left out");
                return Ok(out);
            }
            let tool = Arc::new(McpTool {
                server: Arc::downgrade(inner),
                remote: remote.clone(),
                spec,
                timeout: Duration::from_secs_f64(config.timeout_seconds),
            });
            out.push(Listed { remote, tool });
        }
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(out),
        }
    }
    tracing::warn!(mcp_server = %config.id, "the MCP server's tool list has more than {MAX_PAGES} pages; the rest are left out");
    Ok(out)
}

/// Runs a connection until it goes down (Some(why)) or the server is stopped (None).
async fn serve_until_down(inner: &Arc<Inner>, conn: Conn) -> Option<String> {
    let ct = conn.service.cancellation_token();
    let waiting = conn.service.waiting();
    tokio::pin!(waiting);
    match conn.child {
        Some((mut child, group, tail)) => {
            tokio::select! {
                status = child.wait() => {
                    ct.cancel();
                    group.signal(rustix::process::Signal::KILL);
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    Some(format!("it exited ({status}){}", tail_note(Some(&tail))))
                }
                _ = &mut waiting => {
                    child::stop(child, group).await;
                    Some(format!("it closed the connection{}", tail_note(Some(&tail))))
                }
                _ = inner.stop.cancelled() => {
                    ct.cancel();
                    child::stop(child, group).await;
                    None
                }
            }
        }
        None => {
            tokio::select! {
                _ = &mut waiting => Some("the connection closed".to_string()),
                _ = inner.stop.cancelled() => {
                    ct.cancel();
                    let _ = tokio::time::timeout(Duration::from_secs(2), waiting).await;
                    None
                }
            }
        }
    }
}

/// Starts the server, serves until it goes down, starts it again after a backoff; until it
/// is stopped.
async fn supervise(inner: Arc<Inner>, http: Result<reqwest::Client, String>) {
    let id = inner.config.id.clone();
    let mut failures = 0u32;
    while !inner.stop.is_cancelled() {
        inner.update(|s| s.status = Status::Starting);
        let began = Instant::now();
        let outcome = tokio::select! {
            o = connect(&inner, &http) => o,
            _ = inner.stop.cancelled() => break,
        };
        match outcome {
            Ok((conn, listed, pid)) => {
                tracing::info!(mcp_server = %id, tools = listed.len(), pid, "MCP server ready");
                let peer = conn.service.peer().clone();
                inner.update(|s| {
                    s.status = Status::Ready;
                    s.peer = Some(peer);
                    s.tools = Arc::new(listed);
                    s.pid = pid;
                    s.attempts += 1;
                });
                let down = serve_until_down(&inner, conn).await;
                inner.update(|s| {
                    s.peer = None;
                    s.pid = None;
                });
                let Some(why) = down else { break };
                let why = inner.hide(&why);
                tracing::warn!(mcp_server = %id, reason = %why, "MCP server went down; restarting it");
                inner.update(|s| s.status = Status::Down(why));
            }
            Err(why) => {
                let why = inner.hide(&why);
                tracing::warn!(mcp_server = %id, reason = %why, "MCP server failed to start");
                inner.update(|s| {
                    s.status = Status::Down(why);
                    s.attempts += 1;
                });
            }
        }
        if began.elapsed() >= HEALTHY_RUN {
            failures = 0;
        }
        let backoff = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6))).min(MAX_BACKOFF);
        failures += 1;
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = inner.stop.cancelled() => break,
        }
    }
    inner.update(|s| {
        s.status = Status::Stopped;
        s.peer = None;
        s.pid = None;
    });
    inner.finished.send_replace(true);
}

/// One tool of an MCP server, as the model sees it.
#[derive(Debug)]
pub struct McpTool {
    /// Weak: a tool kept by a run does not keep a server its generation dropped running.
    server: Weak<Inner>,
    remote: String,
    spec: ToolSpec,
    timeout: Duration,
}

impl McpTool {
    /// The server's id.
    pub fn server_id(&self) -> Option<String> {
        self.server.upgrade().map(|s| s.config.id.clone())
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.config.id)
    }
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn source(&self) -> String {
        self.server_id().map_or_else(|| "mcp".into(), |id| format!("mcp:{id}"))
    }

    fn call(&self, args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let Some(inner) = self.server.upgrade() else {
                return Err(ToolError::Failed("its MCP server was stopped (the config changed)".into()));
            };
            call(&inner, &self.remote, args).await
        })
    }
}

impl McpServer {
    /// Calls its tool `remote` (the server's own name, without prefix) with `args`, as a
    /// model's call would (no timeout here: [`Toolbox::invoke`](super::Toolbox::invoke) holds
    /// the tool's). For benchmarks and embedders; runs call through [`McpTool`].
    pub async fn call(&self, remote: &str, args: Value) -> Result<String, ToolError> {
        call(&self.inner, remote, args).await
    }
}

/// One call of `remote` on the server's current connection, its result rendered, redacted
/// and bounded.
async fn call(inner: &Arc<Inner>, remote: &str, args: Value) -> Result<String, ToolError> {
    let id = &inner.config.id;
    let (peer, status) = match inner.state.lock() {
        Ok(s) => (s.peer.clone(), s.status.clone()),
        Err(_) => (None, Status::Stopped),
    };
    let Some(peer) = peer else {
        let why = match status {
            Status::Down(why) => format!(": {why}"),
            _ => String::new(),
        };
        return Err(ToolError::Failed(format!(
            "the MCP server `{id}` is not running{why}; agno-run is restarting it, try again later"
        )));
    };
    let arguments = match args {
        Value::Object(m) => Some(m),
        Value::Null => None,
        _ => return Err(ToolError::InvalidArguments("the arguments must be a JSON object".into())),
    };
    let mut params = CallToolRequestParams::new(remote.to_string());
    if let Some(a) = arguments {
        params = params.with_arguments(a);
    }
    match peer.call_tool(params).await {
        Ok(result) => {
            let value = serde_json::to_value(&result).unwrap_or(Value::Null);
            let text = inner.hide(&render(&value));
            let text = bound(text, inner.config.max_result_bytes as usize);
            if value.get("isError").and_then(Value::as_bool) == Some(true) {
                Err(ToolError::Failed(bound(text, MAX_ERROR_BYTES)))
            } else {
                Ok(text)
            }
        }
        Err(ServiceError::McpError(e)) => Err(ToolError::Failed(bound(
            inner.hide(&format!("the MCP server `{id}` answered with an error: {}", e.message)),
            MAX_ERROR_BYTES,
        ))),
        Err(ServiceError::TransportClosed | ServiceError::TransportSend(_)) => Err(ToolError::Failed(format!(
            "the MCP server `{id}` went away during the call; agno-run is restarting it"
        ))),
        Err(e) => Err(ToolError::Failed(bound(inner.hide(&format!("the MCP server `{id}`: {e}")), MAX_ERROR_BYTES))),
    }
}

/// Every string in `v` (not its keys) passed through `hide`.
fn hide_strings(v: &mut Value, hide: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => {
            let h = hide(s);
            if h != *s {
                *s = h;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| hide_strings(i, hide)),
        Value::Object(m) => m.values_mut().for_each(|i| hide_strings(i, hide)),
        _ => {}
    }
}

/// A call result as text for the model: its text parts joined by newlines; other parts
/// described; structured content when there is nothing else.
fn render(result: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in result.get("content").and_then(Value::as_array).into_iter().flatten() {
        let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
        let part = match kind {
            "text" => c.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
            "image" | "audio" => format!(
                "[{kind}: {}, {} bytes of base64, not shown]",
                c.get("mimeType").and_then(Value::as_str).unwrap_or("unknown type"),
                c.get("data").and_then(Value::as_str).map_or(0, str::len)
            ),
            "resource" => {
                let r = c.get("resource").unwrap_or(&Value::Null);
                match r.get("text").and_then(Value::as_str) {
                    Some(t) => t.to_string(),
                    None => format!("[resource {}]", r.get("uri").and_then(Value::as_str).unwrap_or("")),
                }
            }
            "resource_link" => format!("[resource link: {}]", c.get("uri").and_then(Value::as_str).unwrap_or("")),
            _ => c.to_string(),
        };
        parts.push(part);
    }
    if parts.is_empty()
        && let Some(s) = result.get("structuredContent").filter(|s| !s.is_null())
    {
        return s.to_string();
    }
    parts.join("\n")
}

/// `text` cut to at most `max` bytes (on a character boundary), saying so.
fn bound(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("\n[cut: the result was {total} bytes, more than the {max} bytes allowed]"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_render_text_parts_and_describe_the_rest() {
        let v = json!({"content": [
            {"type": "text", "text": "a"},
            {"type": "image", "mimeType": "image/png", "data": "AAAA"},
            {"type": "resource", "resource": {"uri": "file:///x", "text": "body"}},
        ]});
        assert_eq!(render(&v), "a\n[image: image/png, 4 bytes of base64, not shown]\nbody");
        assert_eq!(render(&json!({"content": [], "structuredContent": {"x": 1}})), "{\"x\":1}");
    }

    #[test]
    fn a_long_result_is_cut_on_a_character_boundary() {
        let cut = bound("éééé".into(), 3);
        assert!(cut.starts_with('é') && !cut.starts_with("éé"), "{cut}");
        assert!(cut.contains("the result was 8 bytes"), "{cut}");
        assert_eq!(bound("ok".into(), 3), "ok");
    }

    #[test]
    fn tool_names_are_those_models_accept() {
        assert!(valid_name("git_status") && valid_name("get-sum"));
        assert!(!valid_name("") && !valid_name("a.b") && !valid_name(&"x".repeat(65)) && !valid_name("a b"));
    }
}
