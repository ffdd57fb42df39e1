//! The agent executor, with Agno's semantics, over the run lifecycle: [`prompt`] builds the
//! system message and history, [`turns`] runs model ↔ tools, and [`Agent::execute`] ties them
//! between [`lifecycle::begin`] (RUNNING row, history read first) and [`lifecycle::finish`]
//! (final row plus the session's state, metrics and `agent_data`, in one transaction).
//!
//! It holds no state between runs: everything it needs is in the store. It does not decide
//! whose session a run uses: the run's scope did.

pub mod prompt;
mod turns;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::config::AgentConfig;
use crate::memory;
use crate::model::{ChatMessage, Model};
use crate::run::lifecycle::{self, Outcome, SessionSeed};
use crate::run::{Launcher, RunError, RunInput, RunOutput, Scope};
use crate::store::now;
use crate::tool::Toolbox;
use crate::tool::mcp::McpServer;

pub use prompt::system_message;
use prompt::usage_json;
use turns::{Record, Turns};

/// An agent ready to run: its config, model and tools. A team's leader is one too: the same
/// model ↔ tools loop, with the team's identity ([`Identity`]).
#[derive(Debug, Clone)]
pub struct Agent {
    /// The agent's config (for a leader: the team's id, name, model and settings).
    pub config: AgentConfig,
    /// Its model.
    pub model: Model,
    /// Its tools.
    pub tools: Toolbox,
    /// Who runs: an agent, or a team's leader.
    pub identity: Identity,
    /// Its memories and session summaries, when it uses them.
    pub memory: Option<Arc<MemoryPlan>>,
    /// The MCP servers whose tools it is offered (after its own tools), read at the start of
    /// each run: a server that restarted offers its new list.
    pub mcp: Vec<McpUse>,
    /// MCP tools left out for a name another tool has, warned about once each.
    pub shadowed: Arc<Mutex<Vec<String>>>,
}

/// One `{mcp: ID, include_tools, exclude_tools}` of an agent's `tools:`.
#[derive(Debug, Clone)]
pub struct McpUse {
    /// The server (shared by every agent and generation using it).
    pub server: Arc<McpServer>,
    /// Only these of its tools (empty: all).
    pub include: Vec<String>,
    /// None of these.
    pub exclude: Vec<String>,
}

/// What an agent does with memories and summaries, and with which models.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    /// The resolved settings.
    pub settings: memory::Settings,
    /// The memory model.
    pub model: Model,
    /// The summary model.
    pub summary_model: Model,
}

/// What differs between an agent's run and a team leader's run: the run's id fields and
/// component data, the system message, and how the loop ends.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `agent_id`/`agent_name`, or `team_id`/`team_name`, as stored in `run_data`.
    pub fields: [(&'static str, Value); 2],
    /// `agent_data` or `team_data`.
    pub data: Value,
    /// A fixed system message (a leader's), used instead of the agent's own.
    pub system: Option<String>,
    /// True for a leader: its `run_data` has `member_responses`.
    pub team: bool,
    /// Asked each time the model answers with text: a message to continue with (tasks mode's
    /// board reminder), or None to end.
    pub continuation: Option<Arc<dyn Continuation>>,
}

/// Decides whether a leader's loop goes on after an answer (Agno's tasks mode).
pub trait Continuation: Send + Sync + std::fmt::Debug {
    /// Most model turns in one run.
    fn max_turns(&self) -> u32;
    /// Called after the `answers`-th text answer (1-based), with the state and whether tools
    /// ran since the previous answer: the user message to continue with, or None to end.
    fn next(&self, answers: u32, state: &Map<String, Value>, tools_ran: bool) -> Option<String>;
}

/// Keys Agno injects into a run's state and strips before saving.
pub const TRANSIENT_STATE: [&str; 3] = ["current_session_id", "current_user_id", "current_run_id"];
/// Keys Agno injects into a workflow run's shared state and never saves.
pub const WORKFLOW_STATE: [&str; 2] = ["workflow_id", "workflow_name"];

impl Agent {
    /// An agent with the built-in tools its config declares.
    pub fn new(config: AgentConfig, model: Model) -> Agent {
        let tools = Toolbox::for_agent(&config);
        let identity = Identity {
            fields: [("agent_id", json!(config.id)), ("agent_name", json!(config.name))],
            data: json!({"name": config.name, "agent_id": config.id, "model": model.describe()}),
            system: None,
            team: false,
            continuation: None,
        };
        Agent { config, model, tools, identity, memory: None, mcp: Vec::new(), shadowed: Arc::default() }
    }

    /// The agent with its memory settings, using `memory_model` and `summary_model` (its own
    /// model unless the config names others); agentic memory adds `update_user_memory`.
    pub fn with_memory(mut self, memory_model: Model, summary_model: Model) -> Agent {
        let settings = memory::Settings::of(&self.config.settings);
        if settings == memory::Settings::of(&Default::default()) {
            return self;
        }
        if settings.agentic {
            self.tools.push(memory::UpdateUserMemory::new(memory_model.clone()));
        }
        self.memory = Some(Arc::new(MemoryPlan { settings, model: memory_model, summary_model }));
        self
    }

    /// The tools of one run: its own, then those of its MCP servers as they are now (a server
    /// used for the first time is started and waited for, bounded; one that is down offers
    /// the tools it listed last, whose calls say it is down). A tool whose name is taken
    /// already is left out.
    pub async fn toolbox_for_run(&self) -> std::borrow::Cow<'_, Toolbox> {
        if self.mcp.is_empty() {
            return std::borrow::Cow::Borrowed(&self.tools);
        }
        let mut toolbox = self.tools.clone();
        // Every server's first start is waited for at once, not one after another.
        let ready = futures_util::future::join_all(self.mcp.iter().map(|u| u.server.ready())).await;
        for (u, r) in self.mcp.iter().zip(ready) {
            if let Err(why) = r {
                tracing::debug!(agent = %self.config.id, mcp_server = %u.server.id(), reason = %why, "MCP server not ready");
            }
            for tool in u.server.tools(&u.include, &u.exclude) {
                let name = tool.spec().name.clone();
                if !toolbox.push_new(tool) && self.first_shadowing(u.server.id(), &name) {
                    tracing::warn!(agent = %self.config.id, mcp_server = %u.server.id(), tool = %name, "an MCP tool has the name of another tool of the agent; it is left out");
                }
            }
        }
        std::borrow::Cow::Owned(toolbox)
    }

    /// The specs of every tool it is offered now: its own, then its MCP servers' as they last
    /// listed them (never waiting for a server that is starting).
    pub fn tool_specs_now(&self) -> Vec<crate::model::ToolSpec> {
        let mut specs: Vec<crate::model::ToolSpec> = self.tools.specs().to_vec();
        for u in &self.mcp {
            for t in u.server.tools(&u.include, &u.exclude) {
                if !specs.iter().any(|s| s.name == t.spec().name) {
                    specs.push(t.spec().clone());
                }
            }
        }
        specs
    }

    /// True the first time `server`'s tool `name` is left out for its name.
    fn first_shadowing(&self, server: &str, name: &str) -> bool {
        let key = format!("{server}/{name}");
        let Ok(mut seen) = self.shadowed.lock() else { return false };
        if seen.contains(&key) || seen.len() >= 4096 {
            return false;
        }
        seen.push(key);
        true
    }

    /// `agent_data` (or a leader's `team_data`) as Agno stores it.
    pub fn agent_data(&self) -> Value {
        self.identity.data.clone()
    }

    /// The system message of a run with `state`, with `extra` (the memory and summary
    /// sections) where Agno puts them.
    pub(crate) fn system_message(&self, state: &Map<String, Value>, extra: &str) -> Option<String> {
        let with_state = self.config.settings.add_session_state_to_context == Some(true);
        match &self.identity.system {
            None => prompt::system_message_with(&self.config, state, extra),
            Some(fixed) if with_state && extra.is_empty() => {
                Some(format!("{fixed}\n\n{}", prompt::state_section(state)))
            }
            Some(fixed) if extra.is_empty() => Some(fixed.clone()),
            Some(fixed) => prompt::with_context(fixed.clone(), extra, with_state.then_some(state)),
        }
    }

    /// The memory and summary sections of this run's system message (Agno's texts): the
    /// user's memories and the session's summary. A store that fails leaves them out (logged):
    /// memories never fail a run.
    async fn context_extra(&self, scope: &Scope, session: &crate::store::Session) -> String {
        let Some(plan) = &self.memory else { return String::new() };
        let mut extra = String::new();
        if let Some(limit) = plan.settings.in_context {
            let user = memory::user_of(scope.user_id());
            match memory::for_context(scope.store(), user, limit).await {
                Ok(list) => extra.push_str(&memory::prompt::memories_section(&list, plan.settings.agentic)),
                Err(e) => {
                    tracing::warn!(run_id = scope.run_id(), error = %e, "cannot read the user's memories; the run goes on without them")
                }
            }
        }
        if plan.settings.summary_in_context
            && scope.is_root()
            && let Some(text) = session.summary.as_ref().and_then(|s| s.get("summary")).and_then(Value::as_str)
        {
            extra.push_str(&memory::prompt::summary_section(text));
        }
        extra
    }

    /// Runs the agent once in `scope`. The run's state is the config's default, then the stored
    /// state, then the run's own, deep-merged; a cancel of the scope stores CANCELLED.
    pub async fn execute(
        &self,
        scope: Scope,
        input: RunInput,
        launcher: Arc<dyn Launcher>,
    ) -> Result<RunOutput, RunError> {
        let default_state = self.config.settings.session_state.clone().unwrap_or_default();
        // A member run reads no session history here: the session is its team's, and what a
        // member is told of it is the team's to decide.
        let history_runs = if scope.is_root() { prompt::history_runs(&self.config) } else { 0 };
        let created_at = now();
        let [(id_key, id), (name_key, name)] = self.identity.fields.clone();
        let mut start = json!({
            "run_id": scope.run_id(), id_key: id, name_key: name,
            "session_id": scope.session_id(), "user_id": scope.user_id(), "created_at": created_at,
            "input": {"input_content": input.message},
        });
        if !input.history.is_empty() {
            // Agno stores a member's input, when its team gave it history, as the messages it
            // was sent: the history (marked `from_history`), then the new user message.
            let mut sent = input.history.clone();
            sent.push(prompt::stored("user", Some(&input.message), created_at));
            start["input"] = json!({"input_content": sent});
        }
        if let Some(parent) = scope.parent_run_id() {
            start["parent_run_id"] = json!(parent);
        }
        let seed = SessionSeed { data: Some(self.agent_data()), state: default_state.clone() };
        let mut started = lifecycle::begin(&scope, seed, history_runs, start.clone()).await?;

        let stored_state = started.session.session_state().cloned().unwrap_or_default();
        let mut state = lifecycle::initial_state(default_state, &stored_state, input.session_state.as_ref());
        for transient in TRANSIENT_STATE {
            state.remove(transient);
        }
        // As Agno: the run's ids are in its state while it runs (its prompt and tools see them),
        // never saved. A workflow step's shared state has its workflow's already.
        if input.shared_state.is_none() {
            state.insert("current_user_id".into(), json!(scope.user_id()));
            state.insert("current_session_id".into(), json!(scope.session_id()));
            state.insert("current_run_id".into(), json!(scope.run_id()));
        }
        // A workflow step shares its workflow run's state (changed in place, saved by the
        // workflow).
        let state = match &input.shared_state {
            Some(shared) => shared.clone(),
            None => Arc::new(Mutex::new(state)),
        };
        // A member run's history was chosen by its team (its own earlier runs in the team's
        // session); a top-level run's is read by `begin`.
        let past = if input.history.is_empty() {
            prompt::history(&self.config, std::mem::take(&mut started.history))
        } else {
            input.history.clone()
        };

        let extra = self.context_extra(&scope, &started.session).await;
        let mut record = Record::default();
        // The MCP servers' tools are read inside the cancellable part: a server still starting
        // must not hold off a cancel (Ctrl-C, SIGTERM) for its startup timeout.
        let work = async {
            let tools = self.toolbox_for_run().await;
            let turns = Turns {
                extra: &extra,
                tools: &tools,
                agent: self,
                scope: &scope,
                input: &input,
                past: &past,
                state: &state,
                launcher: &launcher,
                clock: started.clock,
            };
            turns.run(&mut record).await
        };
        let outcome = match lifecycle::until_cancelled(&scope, work).await {
            None => Outcome::Cancelled,
            Some(Ok(())) => Outcome::Completed(record.content.clone()),
            Some(Err(f)) => {
                record.content = f.to_string();
                Outcome::Failed(f)
            }
        };

        // A run that failed before its model answered has only its duration (as Agno).
        let failed = matches!(outcome, Outcome::Failed(_));
        let no_usage = record.usage.total_tokens == 0 && record.usage.input_tokens == 0;
        let mut metrics = if failed && no_usage { json!({}) } else { usage_json(&record.usage) };
        let elapsed = started.clock.elapsed();
        metrics["duration"] = json!(elapsed.as_secs_f64());
        // agno-run's own time: the run's, less its waits on the model and its tools (member runs
        // included, which count their own). Kept where Agno's RunMetrics keeps extras.
        let own = elapsed.saturating_sub(record.waiting);
        metrics["additional_metrics"] = json!({ "agno_run_overhead": own.as_secs_f64() });
        scope.add_overhead(own);
        if let Some(t) = record.first_token {
            metrics["time_to_first_token"] = json!(t);
        }
        if !(failed && no_usage) {
            let mut details = usage_json(&record.usage);
            details["id"] = json!(self.model.name());
            details["provider"] = json!(self.model.metrics_provider());
            metrics["details"] = json!({"model": [details]});
        }
        let mut final_state = state.lock().map(|s| s.clone()).unwrap_or_default();
        let injected: &[&str] = if input.shared_state.is_some() || scope.is_nested() { &WORKFLOW_STATE } else { &[] };
        for transient in TRANSIENT_STATE.iter().chain(injected) {
            final_state.remove(*transient);
        }
        let mut run_data = start;
        let fields = [
            ("content", json!(record.content)),
            ("content_type", json!("str")),
            ("model", json!(self.model.name())),
            ("model_provider", json!(self.model.provider())),
            ("metrics", metrics),
            ("messages", Value::Array(record.messages)),
            ("tools", Value::Array(record.tools)),
            ("session_state", Value::Object(final_state.clone())),
        ];
        for (k, v) in fields {
            run_data[k] = v;
        }
        if failed && run_data["tools"].as_array().is_some_and(Vec::is_empty) {
            // Agno stores no `tools` on a run that failed without calling one.
            if let Some(d) = run_data.as_object_mut() {
                d.remove("tools");
            }
        }
        if self.identity.team {
            run_data["member_responses"] = Value::Array(record.member_responses);
        }
        if let Some(data) = record.provider_data.take() {
            run_data["model_provider_data"] = data;
        }
        let usage = record.usage;
        let agent_data = scope.is_root().then(|| self.agent_data());
        let team = self.identity.team;
        // Only what this run changed goes back: what others changed meanwhile stays.
        let patch = lifecycle::state_patch(&stored_state, &final_state);
        let (model_id, provider) = (self.model.name().to_string(), self.model.metrics_provider().to_string());
        let change = Box::new(move |s: &mut crate::store::Session| {
            lifecycle::merge_state_and_metrics(s, patch, usage, Some((&model_id, &provider)))?;
            // A member run never re-owns its team's session.
            if let Some(data) = agent_data {
                if team {
                    s.team_data = Some(data);
                } else {
                    s.agent_data = Some(data);
                }
            }
            Ok(())
        });
        // The memory update and the summary run after the run is stored, off the answer's
        // path; the run's stream stays open for their events.
        let after = matches!(outcome, Outcome::Completed(_))
            && self.memory.as_ref().is_some_and(|p| {
                (p.settings.update_on_run && !input.message.trim().is_empty())
                    || (p.settings.summaries && scope.is_root())
            });
        if after {
            scope.emit(crate::run::EventKind::AfterRun);
        }
        let result = lifecycle::finish(&scope, &started, outcome, run_data, change).await;
        if after {
            match (&result, &self.memory) {
                (Ok(_), Some(plan)) => self.spawn_after_run(plan.clone(), scope, input.message.clone(), &launcher),
                _ => scope.emit(crate::run::EventKind::AfterRunDone),
            }
        }
        result
    }

    /// Starts the work after a completed run: the memory update, then the session summary.
    /// It is held in the process's registry (a shutdown waits for it), cancelled with the
    /// registry's after-run token, and always ends the run's stream.
    fn spawn_after_run(&self, plan: Arc<MemoryPlan>, scope: Scope, message: String, launcher: &Arc<dyn Launcher>) {
        let (hold, cancel) = launcher.registry().hold_after_run();
        let owner = memory::Owner {
            user: memory::user_of(scope.user_id()).to_string(),
            agent_id: (!self.identity.team).then(|| self.config.id.clone()),
            team_id: self.identity.team.then(|| self.config.id.clone()),
        };
        tokio::spawn(async move {
            let _hold = hold;
            let _done = AfterRunDone(scope.clone());
            tokio::select! {
                () = after_run(&plan, &scope, &message, &owner) => {}
                () = cancel.cancelled() => {
                    tracing::warn!(run_id = scope.run_id(), "the memory update or summary was cut short by the shutdown");
                }
            }
        });
    }
}

/// Ends a run's stream when the work after it ends, however it ends.
struct AfterRunDone(Scope);

impl Drop for AfterRunDone {
    fn drop(&mut self) {
        self.0.emit(crate::run::EventKind::AfterRunDone);
    }
}

/// The memory update and the session summary of a completed run. Failures are logged, put in
/// the run's `metadata` and in the stream; the run stays COMPLETED.
async fn after_run(plan: &MemoryPlan, scope: &Scope, message: &str, owner: &memory::Owner) {
    use crate::run::EventKind;
    let store = scope.store();
    let mut meta = Map::new();
    if plan.settings.update_on_run && !message.trim().is_empty() {
        scope.emit(EventKind::MemoryUpdateStarted);
        let messages = vec![ChatMessage::text("user", message)];
        let r = memory::update(&plan.model, store, owner, messages, message, memory::Offer::AFTER_RUN).await;
        let (record, changes, error) = match r {
            Ok(u) => {
                let changes = json!(u.changes);
                tracing::info!(run_id = scope.run_id(), user = %owner.user, changes = %changes, "memories updated");
                (json!({"status": "ok", "changes": changes, "metrics": usage_json(&u.usage)}), Some(changes), None)
            }
            Err(e) => {
                let e = e.to_string();
                tracing::warn!(run_id = scope.run_id(), user = %owner.user, error = %e, "the memory update failed; the run stays COMPLETED");
                (json!({"status": "error", "error": e}), None, Some(e))
            }
        };
        meta.insert("memory_update".into(), record);
        scope.emit(EventKind::MemoryUpdateCompleted { changes, error });
    }
    if plan.settings.summaries && scope.is_root() {
        scope.emit(EventKind::SessionSummaryStarted);
        match memory::summarize(&plan.summary_model, store, scope.session_id(), plan.settings.summary_runs).await {
            Ok(summary) => scope.emit(EventKind::SessionSummaryCompleted { summary: Some(summary), error: None }),
            Err(e) => {
                let e = e.to_string();
                tracing::warn!(run_id = scope.run_id(), error = %e, "the session summary failed; the run stays COMPLETED");
                meta.insert("session_summary".into(), json!({"status": "error", "error": e}));
                scope.emit(EventKind::SessionSummaryCompleted { summary: None, error: Some(e) });
            }
        }
    }
    if !meta.is_empty()
        && !scope.is_nested()
        && let Err(e) = store.merge_run_metadata(scope.run_id(), meta).await
    {
        tracing::warn!(run_id = scope.run_id(), error = %e, "cannot record the memory update on the run");
    }
}
