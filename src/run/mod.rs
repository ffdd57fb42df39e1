//! One run lifecycle for every runner (agent, team leader, team member, workflow, workflow
//! step): the run's scope, its events, its start and end in the store, the task it runs in and
//! the handle that controls it, the registry of runs in flight, and the runner identity and
//! reaper that end the runs of a process that died.
//!
//! A run's session, owner and parent are decided once, in its [`Scope`]; executors never
//! re-check them. This module knows no HTTP and no config file; executors (`agent`, later
//! `team` and `workflow`) call [`lifecycle::begin`] and [`lifecycle::finish`] around their work,
//! and the runtime starts them through [`spawn`].

mod handle;
pub mod lifecycle;
mod queue;
pub mod reaper;
mod registry;
pub mod runner;

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub use handle::{RunHandle, spawn};
pub use registry::{InFlight, Registry};
pub use runner::Runner;

use crate::model::ModelError;
pub use crate::store::{Component, Conflict, RunStatus, SessionRef, SessionType};
use crate::store::{Run, Store, StoreError};

/// What happens during a run, in order. Member and step runs report into their root's stream,
/// each event naming its own run.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The run that reports it.
    pub run_id: String,
    /// Its parent, for member and step runs.
    pub parent_run_id: Option<String>,
    /// The agent, team or workflow running.
    pub component: Component,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The run's RUNNING row exists.
    RunStarted {
        /// Session id.
        session_id: String,
    },
    /// A piece of the answer.
    Content(String),
    /// A tool is about to run.
    ToolCallStarted {
        /// The model's call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Its arguments as the model wrote them.
        arguments: String,
    },
    /// A tool finished.
    ToolCallCompleted {
        /// The model's call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Its result or error text.
        result: String,
        /// True when it failed.
        error: bool,
    },
    /// The run ended with an answer (terminal).
    RunCompleted {
        /// The answer.
        content: String,
    },
    /// The run failed, or was refused (terminal).
    RunError {
        /// Why.
        message: String,
    },
    /// The run was cancelled (terminal).
    RunCancelled,
    /// A workflow step began.
    StepStarted {
        /// The step's name.
        step: String,
        /// Agno's step type: Step, Parallel, Condition, Loop, Router.
        step_type: String,
    },
    /// The memory model started updating the user's memories (after the run ended).
    MemoryUpdateStarted,
    /// The memory update ended: what changed (Agno's `memories`), or why it failed.
    MemoryUpdateCompleted {
        /// `{added, updated, deleted, cleared}`, when it succeeded.
        changes: Option<Value>,
        /// Why it failed.
        error: Option<String>,
    },
    /// The summary model started summarizing the session.
    SessionSummaryStarted,
    /// The summary was written (as stored), or why not.
    SessionSummaryCompleted {
        /// `{summary, topics, updated_at}`, when it was written.
        summary: Option<Value>,
        /// Why it failed.
        error: Option<String>,
    },
    /// Internal, never shown: work follows this run's end (memories, summary); its stream stays
    /// open until [`EventKind::AfterRunDone`]. Sent before the terminal event.
    AfterRun,
    /// Internal, never shown: the work after the run is done.
    AfterRunDone,
    /// A workflow step ended.
    StepCompleted {
        /// The step's name.
        step: String,
        /// False when it failed.
        success: bool,
        /// Seconds it took.
        duration: f64,
        /// Which branch a condition took, which choices a router made.
        detail: Option<String>,
    },
}

impl EventKind {
    /// True for the events that end a run: completed, error, cancelled.
    pub fn is_terminal(&self) -> bool {
        matches!(self, EventKind::RunCompleted { .. } | EventKind::RunError { .. } | EventKind::RunCancelled)
    }
}

// Where the runs of one tree report their events. Sending never blocks a run: the stream is
// read by one consumer (a terminal, an HTTP response); what it holds unread is bounded by the
// text the run may produce (see `queue`). A consumer that went away is ignored.
pub use queue::{EventSink, EventStream};

/// The session state of a run, shared by its tool calls (and, later, the member runs that
/// share it). A std mutex: it is never held across an await.
pub type SharedState = Arc<Mutex<Map<String, Value>>>;

/// What a run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// The user's message.
    pub message: String,
    /// Continue this session (created when missing); a new one when None. Ignored for member
    /// and step runs, which use their parent's.
    pub session_id: Option<String>,
    /// The user; a session owned by another user is refused. Ignored for member and step runs.
    pub user_id: Option<String>,
    /// State merged over the stored state for this run.
    pub session_state: Option<Map<String, Value>>,
    /// Stream the reply from the model.
    pub stream: bool,
    /// For a member run: the history its team chose for it (its own earlier runs in the team's
    /// session, marked `from_history`); empty otherwise, and a top-level run reads its own.
    pub history: Vec<Value>,
    /// For a workflow step: the workflow run's state, shared by its steps (changed in place,
    /// saved by the workflow).
    pub shared_state: Option<SharedState>,
    /// Start the run without a row of its own, inside its parent's (a workflow step): its
    /// final `run_data` is put in this outbox for the parent to store.
    pub nested: Option<Outbox>,
}

/// Where a nested run (a workflow step's) leaves its final `run_data`.
#[derive(Debug, Clone, Default)]
pub struct Outbox(Arc<Mutex<Option<Value>>>);

impl Outbox {
    /// Leaves `run_data`.
    pub fn put(&self, run_data: Value) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(run_data);
        }
    }

    /// What was left, taken.
    pub fn take(&self) -> Option<Value> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// A run to start: what runs, its input, and its parent (for member and step runs).
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The agent, team or workflow.
    pub target: Component,
    /// Its input.
    pub input: RunInput,
    /// The run that starts it; the new run is written into the parent's session.
    pub parent: Option<Scope>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The stored run.
    pub run: Run,
    /// The answer.
    pub content: String,
    /// Session id.
    pub session_id: String,
    /// agno-run's own time in the whole run tree (everything but waiting on models and tools);
    /// set when the run ends (zero until then).
    pub overhead: std::time::Duration,
}

/// Why a run failed. When its row exists it is stored as ERROR or CANCELLED and its id given.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store refused (the session rules: another user's, another component's) or failed.
    /// When refused at the start, no row was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target's database could not be opened or migrated; nothing was written.
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// What to do, when known.
        help: Option<String>,
    },
    /// There is no such agent, team or workflow in the running config.
    #[error("{}", unknown_message(.target, .known))]
    Unknown {
        /// What was asked for.
        target: Component,
        /// The ids of that kind that exist.
        known: Vec<String>,
    },
    /// The kind of run is not built yet.
    #[error("running {0}s is not built yet")]
    NotBuilt(SessionType),
    /// The input was refused (too large); nothing was written.
    #[error("{0}")]
    InvalidInput(String),
    /// The model failed.
    #[error("run {run_id} failed: {source}")]
    Model {
        /// The run stored as ERROR.
        run_id: String,
        /// Session id.
        session_id: String,
        /// The model's error.
        source: ModelError,
    },
    /// The model asked for something that cannot be done.
    #[error("run {run_id} failed: {message}")]
    Malformed {
        /// The run stored as ERROR.
        run_id: String,
        /// Session id.
        session_id: String,
        /// What the model did wrong.
        message: String,
    },
    /// The run failed inside agno-run (a bug); it is stored as ERROR.
    #[error("run {run_id} failed: {message}")]
    Internal {
        /// The run stored as ERROR.
        run_id: String,
        /// Session id.
        session_id: String,
        /// What went wrong.
        message: String,
    },
    /// The run was cancelled.
    #[error("run {run_id} was cancelled")]
    Cancelled {
        /// The run stored as CANCELLED.
        run_id: String,
        /// Session id.
        session_id: String,
    },
}

fn unknown_message(target: &Component, known: &[String]) -> String {
    let id = target.id.as_deref().unwrap_or_default();
    let mut text = format!("no {} `{id}` in the config", target.kind);
    let ids = known.iter().map(String::as_str);
    if let Some(close) =
        ids.clone().min_by_key(|k| strsim::levenshtein(k, id)).filter(|k| strsim::levenshtein(k, id) <= 3)
    {
        text.push_str(&format!("; did you mean `{close}`?"));
    }
    if !known.is_empty() {
        text.push_str(&format!(" ({}s: {})", target.kind, known.join(", ")));
    }
    text
}

impl RunError {
    /// The conflict behind a refusal, for callers that map it (403 not owner, 409 wrong session).
    pub fn conflict(&self) -> Option<&Conflict> {
        match self {
            RunError::Store(StoreError::Conflict(c)) => Some(c),
            _ => None,
        }
    }

    /// The run the error was stored in (with its session), when a row exists.
    pub fn stored(&self) -> Option<(&str, &str, RunStatus)> {
        match self {
            RunError::Model { run_id, session_id, .. }
            | RunError::Malformed { run_id, session_id, .. }
            | RunError::Internal { run_id, session_id, .. } => Some((run_id, session_id, RunStatus::Error)),
            RunError::Cancelled { run_id, session_id } => Some((run_id, session_id, RunStatus::Cancelled)),
            _ => None,
        }
    }
}

/// Starts runs: implemented by the runtime (one generation of the config), and reached by tools
/// through their context (delegation to members, workflow steps).
pub trait Launcher: Send + Sync {
    /// Starts `request` and returns once its RUNNING row exists (or with why it could not
    /// start: unknown target, refused session, database unavailable). The run goes on in its
    /// own task; the handle controls it.
    fn start(self: Arc<Self>, request: RunRequest) -> BoxFuture<'static, Result<RunHandle, RunError>>;

    /// The process's registry: work that goes on after a run ended (its memory update, its
    /// session summary) is held there, so that a shutdown waits for it.
    fn registry(&self) -> Registry;
}

/// Everything a run is: its id, the session it is written into, who runs it and for whom, its
/// parent, its cancel token and where it reports. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    run_id: String,
    session: SessionRef,
    component: Component,
    user_id: Option<String>,
    parent_run_id: Option<String>,
    /// Cancelled by the handle (drop or cancel), the registry, a signal or the parent.
    cancel: CancellationToken,
    events: EventSink,
    store: Store,
    runner: Arc<Runner>,
    /// Fired once the RUNNING row exists; taken by [`lifecycle::begin`].
    started: Mutex<Option<oneshot::Sender<()>>>,
    /// A run with no row of its own (a workflow step's agent or team, and their members): it
    /// lives inside its workflow run's `step_executor_runs`, as Agno stores it. Inherited.
    nested: bool,
    /// Where a nested step run leaves its final `run_data` (not inherited).
    outbox: Option<Outbox>,
    /// The id of the run's span (telemetry), set once when the run starts: the parent of its
    /// member runs' spans. An id, not the span: a scope kept alive never keeps the span open.
    span: std::sync::OnceLock<Option<tracing::Id>>,
    /// agno-run's own time of every run of the tree (nanoseconds), shared with the children:
    /// each run adds its own at its end; read by the root's caller (the `x-agno-run-overhead-ms`
    /// header).
    overhead: Arc<std::sync::atomic::AtomicU64>,
    /// True while a trace sink (a database, OTLP) takes this run's spans: only then are their
    /// texts (inputs, outputs, arguments) copied into them. Metrics alone need none.
    traced: std::sync::atomic::AtomicBool,
}

/// The `tracing` target of the spans telemetry exports (runs, steps, model and tool calls):
/// only these become OpenTelemetry spans, and logs never show them.
pub const SPAN_TARGET: &str = "agno_run::span";

/// Longest text kept in a span attribute (an input, an output, a tool's arguments); longer
/// text is cut at a character boundary and ends with `…`. Spans wait in a bounded queue, and
/// this bounds what each holds.
pub const MAX_SPAN_TEXT: usize = 32 * 1024;

/// `text`, cut to [`MAX_SPAN_TEXT`].
pub fn span_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_SPAN_TEXT {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_SPAN_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

/// Agno's span name of a component: `Weather Agent` → `Weather_Agent` (spaces and `-` become `_`).
pub fn span_name(name: &str) -> String {
    name.replace([' ', '-'], "_")
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("run_id", &self.inner.run_id)
            .field("session", &self.inner.session)
            .field("component", &self.inner.component)
            .field("user_id", &self.inner.user_id)
            .field("parent_run_id", &self.inner.parent_run_id)
            .finish_non_exhaustive()
    }
}

/// The parts of a new top-level run's scope.
#[derive(Debug, Clone)]
pub struct RootScope {
    /// The component that runs (and owns the session).
    pub component: Component,
    /// The session to continue; a new id when None.
    pub session_id: Option<String>,
    /// The caller.
    pub user_id: Option<String>,
    /// The store of the component's database.
    pub store: Store,
    /// This process.
    pub runner: Arc<Runner>,
}

impl Scope {
    /// The scope of a new top-level run, and the stream its run tree reports to.
    pub fn root(spec: RootScope) -> (Scope, EventStream, oneshot::Receiver<()>) {
        let (tx, rx) = queue::channel();
        let session_id = spec.session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (started_tx, started_rx) = oneshot::channel();
        let scope = Scope {
            inner: Arc::new(ScopeInner {
                run_id: uuid::Uuid::new_v4().to_string(),
                session: SessionRef { id: session_id, owner: spec.component.clone() },
                component: spec.component,
                user_id: spec.user_id,
                parent_run_id: None,
                cancel: CancellationToken::new(),
                events: tx,
                store: spec.store,
                runner: spec.runner,
                started: Mutex::new(Some(started_tx)),
                nested: false,
                outbox: None,
                span: std::sync::OnceLock::new(),
                overhead: Arc::default(),
                traced: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        (scope, rx, started_rx)
    }

    /// The scope of a member or step run of `component` under this run: written into this
    /// run's session (never creating or re-owning one) for this run's user, with this run as
    /// its parent, cancelled with it, reporting into the same stream.
    pub fn child(&self, component: Component) -> (Scope, oneshot::Receiver<()>) {
        self.child_run(component, self.inner.nested, None)
    }

    /// The scope of a step run of `component` under this (workflow) run: like [`Scope::child`],
    /// but the run and its own children write no rows; what they did is returned to the
    /// workflow, which stores it in its own run.
    pub fn nested_child(&self, component: Component, outbox: Outbox) -> (Scope, oneshot::Receiver<()>) {
        self.child_run(component, true, Some(outbox))
    }

    fn child_run(&self, component: Component, nested: bool, outbox: Option<Outbox>) -> (Scope, oneshot::Receiver<()>) {
        let (started_tx, started_rx) = oneshot::channel();
        let p = &self.inner;
        let scope = Scope {
            inner: Arc::new(ScopeInner {
                run_id: uuid::Uuid::new_v4().to_string(),
                session: p.session.clone(),
                component,
                user_id: p.user_id.clone(),
                parent_run_id: Some(p.run_id.clone()),
                cancel: p.cancel.child_token(),
                events: p.events.clone(),
                store: p.store.clone(),
                runner: p.runner.clone(),
                started: Mutex::new(Some(started_tx)),
                nested,
                outbox,
                span: std::sync::OnceLock::new(),
                overhead: p.overhead.clone(),
                traced: std::sync::atomic::AtomicBool::new(p.traced.load(std::sync::atomic::Ordering::Relaxed)),
            }),
        };
        (scope, started_rx)
    }

    /// Says whether a trace sink takes this run's spans (set when the run starts).
    pub fn set_traced(&self, traced: bool) {
        self.inner.traced.store(traced, std::sync::atomic::Ordering::Relaxed);
    }

    /// True when a trace sink takes this run's spans: their texts are worth recording.
    pub fn traced(&self) -> bool {
        self.inner.traced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `own` to agno-run's own time of the run tree.
    pub fn add_overhead(&self, own: std::time::Duration) {
        let nanos = u64::try_from(own.as_nanos()).unwrap_or(u64::MAX);
        self.inner.overhead.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// agno-run's own time of every run of the tree that has ended.
    pub fn tree_overhead(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.inner.overhead.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Records the id of the run's span (once; later calls are ignored).
    pub fn set_span(&self, span: &tracing::Span) {
        let _ = self.inner.span.set(span.id());
    }

    /// The id of the run's span, when telemetry records one.
    pub fn span_id(&self) -> Option<tracing::Id> {
        self.inner.span.get().cloned().flatten()
    }

    /// True for a run without a row of its own (see [`Scope::nested_child`]).
    pub fn is_nested(&self) -> bool {
        self.inner.nested
    }

    /// Where a nested step run leaves its final `run_data`.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.inner.outbox.as_ref()
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The session it is written into.
    pub fn session(&self) -> &SessionRef {
        &self.inner.session
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.inner.session.id
    }

    /// The agent, team or workflow that runs.
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// The component's id.
    pub fn component_id(&self) -> &str {
        self.inner.component.id.as_deref().unwrap_or_default()
    }

    /// The caller.
    pub fn user_id(&self) -> Option<&str> {
        self.inner.user_id.as_deref()
    }

    /// The parent run, for member and step runs.
    pub fn parent_run_id(&self) -> Option<&str> {
        self.inner.parent_run_id.as_deref()
    }

    /// True for a top-level run (it may create its session).
    pub fn is_root(&self) -> bool {
        self.inner.parent_run_id.is_none()
    }

    /// The run's cancel token.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// The store of the session's database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The process running it.
    pub fn runner(&self) -> &Arc<Runner> {
        &self.inner.runner
    }

    /// Reports an event of this run.
    pub fn emit(&self, kind: EventKind) {
        let _ = self.inner.events.send(Event {
            run_id: self.inner.run_id.clone(),
            parent_run_id: self.inner.parent_run_id.clone(),
            component: self.inner.component.clone(),
            kind,
        });
    }

    /// Says that the RUNNING row exists (once).
    fn signal_started(&self) {
        if let Some(tx) = self.inner.started.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(());
        }
    }
}
