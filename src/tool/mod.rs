//! Tools an agent can call: the [`Tool`] trait (spec and call in one place, a typed error, a
//! timeout per call, a context that reaches the run scope and the runtime), the [`Toolbox`] of
//! one agent, and the built-in tools in [`builtin`] (one file each, registered in
//! `builtin/mod.rs`).
//!
//! A tool gets its arguments as JSON and returns text for the model, or a [`ToolError`] whose
//! text goes back to the model as the tool message (never a crash). Tools hold no state between
//! calls beyond their options and clients.

pub mod builtin;
pub mod mcp;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::config::AgentConfig;
use crate::model::ToolSpec;
use crate::run::{Launcher, Scope, SharedState};

/// Time a tool call may take when the tool sets no other.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a tool call can fail with; its text goes back to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments are missing something or have the wrong shape.
    #[error("{0}")]
    InvalidArguments(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The call took longer than the tool's timeout.
    #[error("the tool `{tool}` did not finish within {after:.1?}")]
    Timeout {
        /// Tool name.
        tool: String,
        /// Its timeout.
        after: Duration,
    },
}

/// What a tool call can reach: the run that calls it (session, user, store, cancel, events),
/// the run's session state, and the runtime (to start member runs).
#[derive(Clone)]
pub struct ToolContext {
    /// The calling run.
    pub scope: Scope,
    /// The run's session state; tools that change it do so here, and it is saved with the run.
    pub state: SharedState,
    /// The runtime that runs this run.
    pub launcher: Arc<dyn Launcher>,
    /// The run's input message (what the user asked).
    pub message: Arc<str>,
    /// The run streams its model's replies (member runs it starts do too).
    pub stream: bool,
    /// What the call tells the loop besides its text (member runs it started, whether the run
    /// ends with it).
    pub report: CallReport,
}

/// What a tool call reports to the run that made it, besides its text.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    inner: Arc<std::sync::Mutex<CallFacts>>,
}

/// The facts of a [`CallReport`].
#[derive(Debug, Default)]
pub struct CallFacts {
    /// The runs the call started (member runs), in order.
    pub child_run_ids: Vec<String>,
    /// The run ends with this call's result as its answer (Agno's `stop_after_tool_call`).
    pub stop: bool,
    /// Member runs to keep in the caller's `member_responses`.
    pub member_responses: Vec<Value>,
}

impl CallReport {
    /// Changes the facts (a std mutex, never held across an await).
    pub fn update(&self, f: impl FnOnce(&mut CallFacts)) {
        if let Ok(mut facts) = self.inner.lock() {
            f(&mut facts);
        }
    }

    /// The facts, taken.
    pub fn take(&self) -> CallFacts {
        self.inner.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default()
    }
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl ToolContext {
    /// A copy of the session state.
    pub fn state(&self) -> Map<String, Value> {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// One function a model may call.
pub trait Tool: Send + Sync + std::fmt::Debug {
    /// Its name, description and JSON Schema of arguments, as sent to the model.
    fn spec(&self) -> &ToolSpec;

    /// How long one call may take.
    fn timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }

    /// Where it comes from, as `agno-run tools` shows it: `built-in`, or `mcp:<server>`.
    fn source(&self) -> String {
        "built-in".into()
    }

    /// Runs the tool with the model's (parsed) arguments.
    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>>;
}

/// `args[key]` as a string, or an error saying it is missing or not a string.
pub fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ToolError::InvalidArguments(format!("`{key}` must be a string"))),
        None => Err(ToolError::InvalidArguments(format!("missing `{key}`"))),
    }
}

/// The tools of one agent, in the order they are offered.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: Vec<Arc<dyn Tool>>,
    specs: Vec<ToolSpec>,
}

impl Toolbox {
    /// The built-in tools an agent declares (names and options were validated by `config`),
    /// plus those its flags add (`enable_agentic_state`, `read_chat_history`).
    pub fn for_agent(agent: &AgentConfig) -> Toolbox {
        let mut toolbox = Toolbox::default();
        for tool in builtin::for_agent(agent) {
            toolbox.push(tool);
        }
        toolbox
    }

    /// Adds a tool (one with the name of a tool already there replaces it).
    pub fn push(&mut self, tool: Arc<dyn Tool>) {
        let spec = tool.spec().clone();
        match self.specs.iter().position(|s| s.name == spec.name) {
            Some(i) => {
                self.tools[i] = tool;
                self.specs[i] = spec;
            }
            None => {
                self.tools.push(tool);
                self.specs.push(spec);
            }
        }
    }

    /// Adds a tool unless one with its name is there already (the first keeps the name);
    /// false when it was left out.
    pub fn push_new(&mut self, tool: Arc<dyn Tool>) -> bool {
        if self.has(&tool.spec().name) {
            return false;
        }
        self.specs.push(tool.spec().clone());
        self.tools.push(tool);
        true
    }

    /// The tools, in the order they are offered.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }

    /// True when the agent has no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The specs sent to the model.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    /// The tool the model calls `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.specs.iter().position(|s| s.name == name).map(|i| &self.tools[i])
    }

    /// True when the model may call `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Calls `tool` under its timeout. A tool that panics (a bug, perhaps in an embedder's tool)
    /// fails that call, not the run: the model is told, and the run goes on.
    pub async fn invoke(tool: &dyn Tool, args: Value, ctx: ToolContext) -> Result<String, ToolError> {
        use tracing::Instrument;
        let traced = ctx.scope.traced();
        let span = tool_span(tool, &args, traced);
        let result = Self::invoke_bare(tool, args, ctx).instrument(span.clone()).await;
        if !span.is_disabled() {
            match &result {
                Ok(text) => {
                    span.record("otel.status_code", "ok");
                    if traced {
                        span.record("output.value", crate::run::span_text(text).as_ref());
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    span.record("otel.status_code", "error");
                    if traced {
                        span.record("output.value", crate::run::span_text(&text).as_ref());
                    }
                    span.record("otel.status_description", text);
                }
            }
        }
        result
    }

    async fn invoke_bare(tool: &dyn Tool, args: Value, ctx: ToolContext) -> Result<String, ToolError> {
        use futures_util::FutureExt;
        let after = tool.timeout();
        let call = std::panic::AssertUnwindSafe(tool.call(args, ctx)).catch_unwind();
        match tokio::time::timeout(after, call).await {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!(tool = %tool.spec().name, panic = %text, "a tool panicked");
                Err(ToolError::Failed(format!("the tool `{}` failed inside agno-run: {text}", tool.spec().name)))
            }
            Err(_) => Err(ToolError::Timeout { tool: tool.spec().name.clone(), after }),
        }
    }
}

/// The span of one tool call (Agno's: the function's name, `TOOL`).
fn tool_span(tool: &dyn Tool, args: &Value, traced: bool) -> tracing::Span {
    use tracing::field::Empty;
    let spec = tool.spec();
    let span = tracing::info_span!(
        target: crate::run::SPAN_TARGET,
        "tool",
        otel.name = %spec.name,
        otel.status_code = Empty,
        otel.status_description = Empty,
        agno_run.kind = "tool",
        input.mime_type = "application/json",
        input.value = Empty,
        tool.name = %spec.name,
        tool.description = Empty,
        tool.parameters = Empty,
        output.value = Empty,
        output.mime_type = "text/plain",
        openinference.span.kind = "TOOL",
    );
    if traced && !span.is_disabled() {
        let text = args.to_string();
        let text = crate::run::span_text(&text);
        span.record("input.value", text.as_ref());
        span.record("tool.parameters", text.as_ref());
        span.record("tool.description", crate::run::span_text(&spec.description).as_ref());
    }
    span
}
