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
use crate::model::Model;
use crate::run::lifecycle::{self, Outcome, SessionSeed};
use crate::run::{Launcher, RunError, RunInput, RunOutput, Scope};
use crate::store::now;
use crate::tool::Toolbox;

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
        Agent { config, model, tools, identity }
    }

    /// `agent_data` (or a leader's `team_data`) as Agno stores it.
    pub fn agent_data(&self) -> Value {
        self.identity.data.clone()
    }

    /// The system message of a run with `state`.
    pub(crate) fn system_message(&self, state: &Map<String, Value>) -> Option<String> {
        match &self.identity.system {
            None => prompt::system_message(&self.config, state),
            Some(fixed) if self.config.settings.add_session_state_to_context == Some(true) => {
                Some(format!("{fixed}\n\n{}", prompt::state_section(state)))
            }
            Some(fixed) => Some(fixed.clone()),
        }
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

        let mut record = Record::default();
        let turns = Turns {
            agent: self,
            scope: &scope,
            input: &input,
            past: &past,
            state: &state,
            launcher: &launcher,
            clock: started.clock,
        };
        let outcome = match lifecycle::until_cancelled(&scope, turns.run(&mut record)).await {
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
        metrics["duration"] = json!(started.clock.elapsed().as_secs_f64());
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
        lifecycle::finish(&scope, &started, outcome, run_data, change).await
    }
}
