//! The runtime: one immutable [`Generation`] per loaded config, shared behind an `Arc`, and the
//! [`Process`] state every generation of this process shares (its runner identity, the registry
//! of runs in flight, the one HTTP client of its models).
//!
//! A generation is built from a config and, optionally, the previous generation: databases
//! whose declaration did not change keep their open store (pool, heartbeat) and are not
//! migrated again; models whose declaration did not change are reused. Databases open lazily,
//! on first use (migrated first, unless told not to, then searched for runs of dead runners), so
//! a command opens only the databases it needs. Only a reload path replaces the generation that
//! serves; runs in flight keep the `Arc` of the generation they started on.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use tokio::sync::OnceCell;

use crate::agent::Agent;
use crate::agent::McpUse;
use crate::config::{Config, DatabaseConfig};
use crate::migrate::{self, MigrateError};
use crate::model::Model;
use crate::run::runner::Heartbeat;
use crate::run::{
    self, Component, Launcher, Registry, RootScope, RunError, RunHandle, RunRequest, Runner, Scope, SessionType, reaper,
};
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;
use crate::tool::Tool;
use crate::tool::mcp::{self, McpServer};
use crate::workflow::Workflow;
use tracing::Instrument;

/// What building or using a runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A database could not be migrated.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// A database could not be opened, or is not ready for runs.
    #[error("database `{db}`: {source}")]
    Store {
        /// Database id.
        db: String,
        /// Why.
        source: StoreError,
    },
    /// No such database in the config.
    #[error("no database `{0}` in the config")]
    UnknownDatabase(String),
}

impl RuntimeError {
    /// What to do about it, when known.
    pub fn help(&self) -> Option<String> {
        match self {
            RuntimeError::Migrate(m) => m.help().map(str::to_string),
            RuntimeError::Store { source: StoreError::Backend { message, .. }, .. }
                if message.contains("no such table") || message.contains("does not exist") =>
            {
                Some("run `agno-run migrate CONFIG` (or drop --no-migrate) to bring the database to this agno-run's schema".into())
            }
            _ => None,
        }
    }
}

impl From<RuntimeError> for RunError {
    fn from(e: RuntimeError) -> RunError {
        RunError::Unavailable { help: e.help(), message: e.to_string() }
    }
}

/// Hears about each migration applied while a database opens.
pub type Progress = Arc<dyn Fn(&DatabaseConfig, migrate::Event) + Send + Sync>;

/// How a generation opens its databases, and what it adds to the config.
#[derive(Clone)]
pub struct Options {
    /// Migrate a database before opening it.
    pub migrate: bool,
    /// Told of each migration applied.
    pub progress: Option<Progress>,
    /// Tools a config cannot name (a program embedding agno-run), by agent id; each is offered
    /// after the agent's declared tools.
    pub tools: IndexMap<String, Vec<Arc<dyn Tool>>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { migrate: true, progress: None, tools: IndexMap::new() }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").field("migrate", &self.migrate).finish_non_exhaustive()
    }
}

/// What every generation of one process shares.
#[derive(Debug)]
pub struct Process {
    runner: Arc<Runner>,
    registry: Registry,
    http: reqwest::Client,
    /// Every heartbeat this process started (one per database it ran runs in), whichever
    /// generation opened it; stopped by [`Process::close`]. A std mutex: never held across an
    /// await.
    heartbeats: std::sync::Mutex<Vec<Arc<Heartbeat>>>,
    /// Every MCP server of every generation, to stop the ones still running at exit.
    mcp: mcp::Registry,
    /// Where the runs' spans go (the CLI's; None for a library user that set up none).
    telemetry: Option<Telemetry>,
}

impl Process {
    /// This process: a new runner identity, an empty registry, one HTTP client.
    pub fn new() -> Arc<Process> {
        Process::with_telemetry(None)
    }

    /// This process, its runs' spans going to `telemetry`.
    pub fn with_telemetry(telemetry: Option<Telemetry>) -> Arc<Process> {
        Arc::new(Process {
            runner: Arc::new(Runner::current()),
            registry: Registry::default(),
            http: Model::http_client(),
            heartbeats: std::sync::Mutex::new(Vec::new()),
            mcp: mcp::Registry::default(),
            telemetry,
        })
    }

    /// Where the runs' spans go, when telemetry is set up.
    pub fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.as_ref()
    }

    /// Ends this process's presence in every database it ran runs in (stops the heartbeats,
    /// removes its runner rows); call once at a clean exit, after the runs ended. Generations
    /// share databases, so this belongs to the process, not to a generation.
    pub async fn close(&self) {
        let all: Vec<Arc<Heartbeat>> = self.heartbeats.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default();
        for h in all {
            h.stop().await;
        }
        self.mcp.stop_all().await;
    }

    /// The runner identity the runs of this process carry.
    pub fn runner(&self) -> &Arc<Runner> {
        &self.runner
    }

    /// The runs in flight in this process.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// One database of a generation: opened on first use, shared with the next generation when its
/// declaration does not change.
struct Database {
    config: DatabaseConfig,
    options: Options,
    /// The open store (migrated first unless `options.migrate` is false).
    store: OnceCell<Store>,
    /// This process's runner row and heartbeat there, from its first run on (also held by
    /// the process, which stops it at exit).
    heartbeat: OnceCell<Arc<Heartbeat>>,
}

impl Database {
    async fn store(&self, process: &Process) -> Result<&Store, RuntimeError> {
        self.store
            .get_or_try_init(|| async {
                let db = &self.config;
                if self.options.migrate {
                    let progress = self.options.progress.clone();
                    migrate::apply(db, &migrate::Options::default(), &mut |e| {
                        if let Some(p) = &progress {
                            p(db, e);
                        }
                    })
                    .await?;
                }
                let store =
                    Store::open(db).await.map_err(|source| RuntimeError::Store { db: db.id.clone(), source })?;
                // Runs left RUNNING by a process that died are ended the first time any process
                // opens the database. Failing to look is not a reason to refuse to open it.
                if let Err(e) = reaper::reap(&store, &process.runner, Some(&process.registry)).await {
                    tracing::warn!(db = %db.id, error = %e, "cannot look for runs of dead runners");
                }
                if let Some(t) = &process.telemetry {
                    t.attach(&db.id, &store);
                }
                Ok(store)
            })
            .await
    }

    /// The store, with this process recorded as a runner there (heartbeating).
    async fn store_for_runs(&self, process: &Process) -> Result<Store, RuntimeError> {
        let store = self.store(process).await?.clone();
        self.heartbeat
            .get_or_try_init(|| async {
                let h = Heartbeat::start(store.clone(), process.runner.clone(), process.registry.clone()).await?;
                let h = Arc::new(h);
                if let Ok(mut all) = process.heartbeats.lock() {
                    all.push(h.clone());
                }
                Ok::<_, StoreError>(h)
            })
            .await
            .map_err(|source| RuntimeError::Store { db: self.config.id.clone(), source })?;
        Ok(store)
    }
}

/// One generation of a config: its databases (opened lazily), models and agents.
pub struct Generation {
    number: u64,
    config: Config,
    process: Arc<Process>,
    databases: IndexMap<String, Arc<Database>>,
    models: IndexMap<String, Model>,
    agents: IndexMap<String, Arc<Agent>>,
    /// Team leaders by team id (a team's run is its leader's).
    teams: IndexMap<String, Arc<Agent>>,
    workflows: IndexMap<String, Arc<Workflow>>,
    /// The MCP servers some agent or team of this generation uses, by id.
    mcp: IndexMap<String, Arc<McpServer>>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("number", &self.number)
            .field("databases", &self.databases.keys().collect::<Vec<_>>())
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Generation {
    /// Builds a generation of `config` for `process`, reusing from `previous` every database
    /// and model whose declaration (and options) did not change. Does no I/O.
    pub fn build(
        config: Config,
        previous: Option<&Generation>,
        process: Arc<Process>,
        options: Options,
    ) -> Arc<Generation> {
        if let Some(t) = &process.telemetry {
            t.configure(&config);
        }
        let databases = config
            .databases
            .iter()
            .map(|(id, db)| {
                let reused = previous
                    .and_then(|p| p.databases.get(id))
                    .filter(|d| d.config == *db && d.options.migrate == options.migrate)
                    .cloned();
                let slot = reused.unwrap_or_else(|| {
                    Arc::new(Database {
                        config: db.clone(),
                        options: options.clone(),
                        store: OnceCell::new(),
                        heartbeat: OnceCell::new(),
                    })
                });
                (id.clone(), slot)
            })
            .collect();
        let models: IndexMap<String, Model> = config
            .models
            .iter()
            .map(|(id, m)| {
                let hint = config.key_hints.get(id).map(String::as_str);
                let reused = previous.and_then(|p| {
                    let same =
                        p.config.models.get(id) == Some(m) && p.config.key_hints.get(id).map(String::as_str) == hint;
                    same.then(|| p.models.get(id).cloned()).flatten()
                });
                (id.clone(), reused.unwrap_or_else(|| Model::new(id, m, hint, &process.http)))
            })
            .collect();
        let used: Vec<&String> = config
            .agents
            .values()
            .map(|a| &a.settings)
            .chain(config.teams.values().map(|t| &t.settings))
            .flat_map(|s| mcp_refs(s).map(|r| &r.mcp))
            .collect();
        let mcp: IndexMap<String, Arc<McpServer>> = config
            .mcp_servers
            .iter()
            .filter(|(id, _)| used.contains(id))
            .map(|(id, m)| {
                let reused = previous
                    .and_then(|p| p.mcp.get(id))
                    .filter(|s| s.config() == m && s.status() != mcp::Status::Stopped)
                    .cloned();
                (id.clone(), reused.unwrap_or_else(|| McpServer::new(m.clone(), &process.mcp)))
            })
            .collect();
        let uses = |s: &crate::config::model::RunSettings| -> Vec<McpUse> {
            mcp_refs(s)
                .filter_map(|r| {
                    Some(McpUse {
                        server: mcp.get(&r.mcp)?.clone(),
                        include: r.include_tools.clone(),
                        exclude: r.exclude_tools.clone(),
                    })
                })
                .collect()
        };
        let agents = config
            .agents
            .iter()
            .filter_map(|(id, a)| {
                let model = models.get(&a.model)?.clone();
                let (mm, sm) = side_models(&models, &a.settings, &model);
                let mut agent = Agent::new(a.clone(), model).with_memory(mm, sm);
                agent.mcp = uses(&a.settings);
                for tool in options.tools.get(id).into_iter().flatten() {
                    agent.tools.push(tool.clone());
                }
                Some((id.clone(), Arc::new(agent)))
            })
            .collect();
        let teams = config
            .teams
            .iter()
            .filter_map(|(id, t)| {
                let model = models.get(&t.model)?.clone();
                let (mm, sm) = side_models(&models, &t.settings, &model);
                let mut leader = crate::team::leader(&config, t, model).with_memory(mm, sm);
                leader.mcp = uses(&t.settings);
                for tool in options.tools.get(id).into_iter().flatten() {
                    leader.tools.push(tool.clone());
                }
                Some((id.clone(), Arc::new(leader)))
            })
            .collect();
        let workflows =
            config.workflows.iter().map(|(id, w)| (id.clone(), Arc::new(Workflow::new(w.clone())))).collect();
        let number = previous.map_or(1, |p| p.number + 1);
        Arc::new(Generation { number, config, process, databases, models, agents, teams, workflows, mcp })
    }

    /// Starts (or connects to) every MCP server this generation uses that is not running yet,
    /// concurrently, and waits for each to list its tools (bounded by its startup timeout).
    /// A server that fails is reported, never fatal: it is retried in the background, and
    /// its tools are missing (or answer with an error) until it runs.
    pub async fn start_mcp(&self) -> Vec<(String, Result<(), String>)> {
        let waits = self.mcp.iter().map(|(id, s)| async move { (id.clone(), s.ready().await) });
        futures_util::future::join_all(waits).await
    }

    /// The MCP servers this generation uses, by id.
    pub fn mcp_servers(&self) -> &IndexMap<String, Arc<McpServer>> {
        &self.mcp
    }

    /// 1 for the first generation of a process, then one more per reload.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The config it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The process it runs in.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The agent `id`, ready to run.
    pub fn agent(&self, id: &str) -> Option<&Arc<Agent>> {
        self.agents.get(id)
    }

    /// The team `id`'s leader (its runs are the team's).
    pub fn team(&self, id: &str) -> Option<&Arc<Agent>> {
        self.teams.get(id)
    }

    /// The workflow `id`.
    pub fn workflow(&self, id: &str) -> Option<&Arc<Workflow>> {
        self.workflows.get(id)
    }

    /// The model `id`.
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.get(id)
    }

    /// True when database `db` has been opened by this generation or one it shares it with.
    pub fn is_open(&self, db: &str) -> bool {
        self.databases.get(db).is_some_and(|d| d.store.initialized())
    }

    /// The store of database `db`, opened (and migrated) on first use.
    pub async fn store(&self, db: &str) -> Result<Store, RuntimeError> {
        let slot = self.databases.get(db).ok_or_else(|| RuntimeError::UnknownDatabase(db.to_string()))?;
        slot.store(&self.process).await.cloned()
    }

    /// Opens every database (a server fails early rather than at its first request).
    pub async fn open_all(&self) -> Result<(), RuntimeError> {
        for db in self.databases.keys() {
            self.store(db).await?;
        }
        Ok(())
    }

    /// How many heartbeats this process wrote to database `db` (None before its first run
    /// there): one per interval, whatever the number of runs in flight.
    pub fn heartbeats(&self, db: &str) -> Option<u64> {
        self.databases.get(db)?.heartbeat.get().map(|h| h.beats())
    }

    /// True when `other` and this generation share database `db` (same open store).
    pub fn shares_database(&self, other: &Generation, db: &str) -> bool {
        match (self.databases.get(db), other.databases.get(db)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn unknown(&self, target: &Component) -> RunError {
        let known = match target.kind {
            SessionType::Agent => self.agents.keys().cloned().collect(),
            SessionType::Team => self.teams.keys().cloned().collect(),
            SessionType::Workflow => self.workflows.keys().cloned().collect(),
        };
        RunError::Unknown { target: target.clone(), known }
    }
}

/// The `{mcp: ID}` entries of a component's `tools:`.
fn mcp_refs(s: &crate::config::model::RunSettings) -> impl Iterator<Item = &crate::config::model::McpToolRef> {
    s.tools.iter().filter_map(|t| match t {
        crate::config::model::Tool::Mcp(r) => Some(r),
        _ => None,
    })
}

/// The memory and summary models of a component: those its settings name, else its own.
fn side_models(models: &IndexMap<String, Model>, s: &crate::config::model::RunSettings, own: &Model) -> (Model, Model) {
    let pick = |id: &Option<String>| id.as_ref().and_then(|m| models.get(m)).cloned().unwrap_or_else(|| own.clone());
    (pick(&s.memory_model), pick(&s.session_summary_model))
}

impl Launcher for Generation {
    fn registry(&self) -> crate::run::Registry {
        self.process.registry.clone()
    }

    fn start(self: Arc<Self>, request: RunRequest) -> BoxFuture<'static, Result<RunHandle, RunError>> {
        Box::pin(async move {
            let target = request.target.clone();
            let id = target.id.as_deref().unwrap_or_default();
            let (executor, db, max_input, name) = match target.kind {
                SessionType::Agent | SessionType::Team => {
                    let list = if target.kind == SessionType::Agent { &self.agents } else { &self.teams };
                    let agent = list.get(id).cloned().ok_or_else(|| self.unknown(&target))?;
                    let max = agent.config.settings.max_input_bytes.unwrap_or(crate::config::DEFAULT_MAX_INPUT_BYTES);
                    let db = agent.config.db.clone();
                    let name = agent.config.name.clone();
                    (Executor::Agent(agent), db, max, name)
                }
                SessionType::Workflow => {
                    let w = self.workflows.get(id).cloned().ok_or_else(|| self.unknown(&target))?;
                    let db = w.config.db.clone();
                    let name = w.config.name.clone();
                    (Executor::Workflow(w), db, crate::config::DEFAULT_MAX_INPUT_BYTES, name)
                }
            };
            if request.input.message.len() as u64 > max_input {
                return Err(RunError::InvalidInput(format!(
                    "the input message is {} bytes, more than the {max_input} bytes {} `{id}` accepts (`max_input_bytes`); nothing was stored",
                    request.input.message.len(),
                    target.kind
                )));
            }
            let (scope, events, started) = match &request.parent {
                Some(parent) => {
                    let (scope, started) = match &request.input.nested {
                        Some(outbox) => parent.nested_child(target, outbox.clone()),
                        None => parent.child(target),
                    };
                    (scope, None, started)
                }
                None => {
                    let slot = self.databases.get(&db).ok_or_else(|| RuntimeError::UnknownDatabase(db.clone()))?;
                    let store = slot.store_for_runs(&self.process).await?;
                    let (scope, events, started) = Scope::root(RootScope {
                        component: target,
                        session_id: request.input.session_id.clone(),
                        user_id: request.input.user_id.clone(),
                        store,
                        runner: self.process.runner.clone(),
                    });
                    (scope, Some(events), started)
                }
            };
            // The run's span: a top-level run roots a trace (never under the HTTP request's span);
            // a member run is a child of its team's run (as Agno's, not of the delegating tool
            // call); a workflow step's run is a child of the step's span, the current one.
            scope.set_traced(self.process.telemetry.as_ref().is_some_and(Telemetry::exporting));
            let span = match &request.parent {
                None => run_span(None, &scope, &name, &request.input.message),
                Some(_) if request.input.nested.is_some() => {
                    run_span(tracing::Span::current().id(), &scope, &name, &request.input.message)
                }
                Some(parent) => run_span(parent.span_id(), &scope, &name, &request.input.message),
            };
            scope.set_span(&span);
            if request.parent.is_none()
                && let Some(t) = &self.process.telemetry
            {
                t.route(&span, &db);
            }
            let launcher: Arc<dyn Launcher> = self.clone();
            let task_scope = scope.clone();
            let run_span = span.clone();
            let traced = scope.traced();
            let work = async move {
                let result = match executor {
                    Executor::Agent(agent) => agent.execute(task_scope, request.input, launcher).await,
                    Executor::Workflow(w) => w.execute(task_scope, request.input, launcher).await,
                };
                record_outcome(&run_span, &result, traced);
                result
            }
            .instrument(span);
            run::spawn(&self.process.registry, scope, events, started, work).started().await
        })
    }
}

/// The span of one run, with Agno's OpenInference attributes (its outcome recorded at the end).
fn run_span(parent: Option<tracing::Id>, scope: &Scope, name: &str, input: &str) -> tracing::Span {
    use tracing::field::Empty;
    let kind = scope.component().kind;
    let span = tracing::info_span!(
        target: run::SPAN_TARGET,
        parent: parent,
        "run",
        otel.name = %format!("{}.run", run::span_name(name)),
        otel.status_code = Empty,
        otel.status_description = Empty,
        graph.node.name = name,
        agent.name = Empty,
        agno.agent.id = Empty,
        agno.agent = Empty,
        agno.team.id = Empty,
        agno.team = Empty,
        agno.workflow.id = Empty,
        session.id = scope.session_id(),
        user.id = Empty,
        agno.run.id = scope.run_id(),
        agno_run.kind = kind.as_str(),
        agno_run.status = Empty,
        input.value = Empty,
        output.value = Empty,
        output.mime_type = Empty,
        openinference.span.kind = if kind == SessionType::Workflow { "CHAIN" } else { "AGENT" },
    );
    if span.is_disabled() {
        return span;
    }
    if scope.traced() {
        span.record("input.value", run::span_text(input).as_ref());
    }
    let id = scope.component_id();
    match kind {
        SessionType::Agent => {
            span.record("agent.name", name);
            span.record("agno.agent.id", id);
            span.record("agno.agent", name);
        }
        SessionType::Team => {
            span.record("agent.name", name);
            span.record("agno.team.id", id);
            span.record("agno.team", name);
        }
        SessionType::Workflow => {
            span.record("agno.workflow.id", id);
        }
    }
    if let Some(user) = scope.user_id() {
        span.record("user.id", user);
    }
    span
}

/// A run's outcome on its span: OK for a completed run; ERROR with Agno's `run status: …` for
/// one stored otherwise, or with the error for one that failed to run.
fn record_outcome(span: &tracing::Span, result: &Result<crate::run::RunOutput, RunError>, traced: bool) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(out) => {
            if traced {
                span.record("output.value", run::span_text(&out.content).as_ref());
                span.record("output.mime_type", "application/json");
            }
            let status = out.run.status.map_or("completed", |s| s.as_str());
            span.record("agno_run.status", status.to_lowercase());
            match out.run.status {
                Some(crate::store::RunStatus::Completed) | None => span.record("otel.status_code", "ok"),
                Some(status) => {
                    span.record("otel.status_code", "error");
                    span.record("otel.status_description", format!("run status: {}", status.as_str().to_lowercase()))
                }
            };
        }
        Err(e) => {
            let text = e.to_string();
            let status = if matches!(e, RunError::Cancelled { .. }) { "cancelled" } else { "error" };
            span.record("agno_run.status", status);
            span.record("output.value", run::span_text(&text).as_ref());
            span.record("otel.status_code", "error");
            span.record("otel.status_description", text);
        }
    }
}

/// What runs a request: an agent (or a team's leader), or a workflow.
enum Executor {
    Agent(Arc<Agent>),
    Workflow(Arc<Workflow>),
}

/// Starts `request` on `generation` (the same as [`Launcher::start`], without naming the trait).
pub async fn start(generation: &Arc<Generation>, request: RunRequest) -> Result<RunHandle, RunError> {
    generation.clone().start(request).await
}
