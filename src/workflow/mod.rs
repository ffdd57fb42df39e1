//! The workflow executor, with Agno 3.1.10's semantics and storage: one `workflow` run row per
//! run whose `run_data` holds `step_results` (Agno's `StepOutput` dicts, nested for containers)
//! and `step_executor_runs` (every agent or team run of its steps, which get no rows of their
//! own: they run as nested child runs, see `Scope::nested_child`), `input` as a plain string,
//! and `metrics.steps`. Steps share the run's session state, saved on the workflow session.
//!
//! Steps: agent, team, parallel (concurrent; the next step gets Agno's `=== name ===` join),
//! condition (`steps`/`else_steps`), loop (`end_condition`, `max_iterations`), router
//! (`choices`); every expression is CEL ([`crate::expr`]), compiled by the loader. A failing step
//! follows its `on_error`: `continue` (Agno's default: recorded with `success: false`, the next
//! step gets the error), `skip` (recorded as skipped, the next step gets what this one got), or
//! `fail` (the workflow run ends ERROR with every step result so far). Nothing is lost: a run
//! that fails or is cancelled still stores the results of the steps that ran.

mod steps;

pub use steps::step_id_of;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::config::{StepConfig, StepKind, WorkflowConfig};
use crate::model::Usage;
use crate::run::lifecycle::{self, Failure, Outcome, SessionSeed};
use crate::run::{Launcher, RunError, RunInput, RunOutput, Scope};
use crate::store::{Run, now};

/// A workflow ready to run.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Its config.
    pub config: WorkflowConfig,
}

/// Agno's `type` of a step in `workflow_data`.
fn step_type(s: &StepConfig) -> &'static str {
    match &s.kind {
        StepKind::Agent { .. } | StepKind::Team { .. } => "Step",
        StepKind::Parallel(_) => "Parallel",
        StepKind::Condition { .. } => "Condition",
        StepKind::Loop { .. } => "Loop",
        StepKind::Router { .. } => "Router",
    }
}

impl Workflow {
    /// A workflow of `config`.
    pub fn new(config: WorkflowConfig) -> Workflow {
        Workflow { config }
    }

    /// `workflow_data` as Agno stores it (top-level steps only).
    pub fn workflow_data(&self) -> Value {
        let steps: Vec<Value> = self
            .config
            .steps
            .iter()
            .map(|s| json!({"name": s.name, "description": s.description, "type": step_type(s)}))
            .collect();
        json!({"workflow_id": self.config.id, "name": self.config.name, "steps": steps})
    }

    /// Runs the workflow once in `scope`.
    pub async fn execute(
        &self,
        scope: Scope,
        input: RunInput,
        launcher: Arc<dyn Launcher>,
    ) -> Result<RunOutput, RunError> {
        let c = &self.config;
        let default_state = c.session_state.clone().unwrap_or_default();
        let history_runs = if c.add_workflow_history_to_steps && scope.is_root() { c.num_history_runs } else { 0 };
        let start = json!({
            "input": input.message, "workflow_id": c.id, "workflow_name": c.name, "run_id": scope.run_id(),
            "session_id": scope.session_id(), "user_id": scope.user_id(), "created_at": now(), "metadata": {},
        });
        let seed = SessionSeed { data: Some(self.workflow_data()), state: default_state.clone() };
        let started = lifecycle::begin(&scope, seed, history_runs, start.clone()).await?;

        let stored_state = started.session.session_state().cloned().unwrap_or_default();
        let mut state = lifecycle::initial_state(default_state, &stored_state, input.session_state.as_ref());
        for k in crate::agent::TRANSIENT_STATE.iter().chain(&crate::agent::WORKFLOW_STATE) {
            state.remove(*k);
        }
        // As Agno: the steps see the workflow's and the run's ids in the shared state; they are
        // never saved.
        state.insert("workflow_id".into(), json!(c.id));
        state.insert("workflow_name".into(), json!(c.name));
        state.insert("current_user_id".into(), json!(scope.user_id()));
        state.insert("current_session_id".into(), json!(scope.session_id()));
        state.insert("current_run_id".into(), json!(scope.run_id()));
        let state = Arc::new(Mutex::new(state));
        let exec = steps::Exec {
            scope: &scope,
            launcher: &launcher,
            state: state.clone(),
            input: input.message.clone(),
            history: history_prefix(&started.history),
            stream: input.stream,
            record: Arc::new(Mutex::new(steps::Record::default())),
        };
        let record = exec.record.clone();
        let outcome = match lifecycle::until_cancelled(&scope, exec.run_top(&c.steps)).await {
            // A cancel that a step saw first (its run ended CANCELLED) cancels the workflow too.
            None => Outcome::Cancelled,
            Some(_) if scope.cancel_token().is_cancelled() => Outcome::Cancelled,
            Some(Ok(content)) => Outcome::Completed(content),
            Some(Err(message)) => Outcome::Failed(Failure::Internal(message)),
        };
        if let Outcome::Completed(content) = &outcome {
            scope.emit(crate::run::EventKind::Content(content.clone()));
        }
        let record = std::mem::take(&mut *record.lock().unwrap_or_else(|p| p.into_inner()));
        let mut final_state = state.lock().map(|s| s.clone()).unwrap_or_default();
        for k in crate::agent::TRANSIENT_STATE.iter().chain(&crate::agent::WORKFLOW_STATE) {
            final_state.remove(*k);
        }
        let content = match &outcome {
            Outcome::Completed(content) => content.clone(),
            Outcome::Failed(f) => format!("Workflow execution failed: {f}"),
            Outcome::Cancelled => String::new(),
        };
        let mut run_data = start;
        run_data["content"] = json!(content);
        run_data["content_type"] = json!("str");
        if matches!(outcome, Outcome::Completed(_)) {
            for k in ["images", "videos", "audio", "files"] {
                run_data[k] = json!([]);
            }
        }
        run_data["step_results"] = Value::Array(record.results);
        run_data["step_executor_runs"] = Value::Array(record.executor_runs);
        let mut metrics = json!({"steps": Value::Object(record.step_metrics)});
        let elapsed = started.clock.elapsed();
        metrics["duration"] = json!(elapsed.as_secs_f64());
        let own = elapsed.saturating_sub(record.waiting);
        metrics["additional_metrics"] = json!({ "agno_run_overhead": own.as_secs_f64() });
        scope.add_overhead(own);
        run_data["metrics"] = metrics;
        let usage = record.usage;
        let patch = lifecycle::state_patch(&stored_state, &final_state);
        let data = scope.is_root().then(|| self.workflow_data());
        let change = Box::new(move |s: &mut crate::store::Session| {
            lifecycle::merge_state_and_metrics(s, patch, Usage::default(), None)?;
            for (model, provider, u) in usage {
                lifecycle::merge_state_and_metrics(s, Map::new(), u, Some((&model, &provider)))?;
            }
            if let Some(d) = data {
                s.workflow_data = Some(d);
            }
            Ok(())
        });
        lifecycle::finish(&scope, &started, outcome, run_data, change).await
    }
}

/// Agno's `<workflow_history_context>` of earlier runs (`add_workflow_history_to_steps`),
/// prefixed to every step's message; empty without history.
fn history_prefix(runs: &[Run]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let mut out = String::from("<workflow_history_context>\n");
    for (i, r) in runs.iter().enumerate() {
        let input = r.run_data.get("input").and_then(Value::as_str).unwrap_or_default();
        let content = r.run_data.get("content").and_then(Value::as_str).unwrap_or_default();
        out.push_str(&format!("[Workflow Run-{}]\nUser input: {input}\nWorkflow output: {content}\n\n", i + 1));
    }
    out.push_str("</workflow_history_context>\n");
    out
}
