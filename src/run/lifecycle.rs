//! The start and the end of every run, whatever runs it. [`begin`] writes the RUNNING row in
//! one store transaction (the session read or, for a top-level run, created if absent; the
//! session rules; the history read; the row naming its runner); [`finish`] writes the final row
//! and the session's update in one transaction and reports the terminal event. Between the
//! two, [`until_cancelled`] runs the executor's work against the run's cancel token.

use std::future::Future;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{EventKind, RunError, RunOutput, Scope};
use crate::model::ModelError;
use crate::store::{BeginRun, Run, RunStatus, Session, SessionChange, SessionType, StoreError};

/// What a top-level run's session holds when the run creates it.
#[derive(Debug, Clone, Default)]
pub struct SessionSeed {
    /// `agent_data`, `team_data` or `workflow_data` (by the session's type).
    pub data: Option<Value>,
    /// The initial `session_state`.
    pub state: Map<String, Value>,
}

/// A run whose RUNNING row exists.
#[derive(Debug, Clone)]
pub struct Started {
    /// The session as stored when the run began.
    pub session: Session,
    /// The history runs read before the row existed, oldest first.
    pub history: Vec<Run>,
    /// The RUNNING row.
    pub run: Run,
    /// When `begin` was called, for `duration` and `time_to_first_token`.
    pub clock: Instant,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The model failed.
    #[error(transparent)]
    Model(ModelError),
    /// The model asked for something that cannot be done.
    #[error("{0}")]
    Malformed(String),
    /// agno-run failed.
    #[error("{0}")]
    Internal(String),
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// With an answer.
    Completed(String),
    /// With a failure (stored as ERROR, its message as the content).
    Failed(Failure),
    /// Cancelled.
    Cancelled,
}

impl Outcome {
    /// The status stored for it.
    pub fn status(&self) -> RunStatus {
        match self {
            Outcome::Completed(_) => RunStatus::Completed,
            Outcome::Failed(_) => RunStatus::Error,
            Outcome::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// Writes the run's RUNNING row (`run_data` holds the executor's start fields; the runner, the
/// status and the ids are added here), creating a top-level run's session from `seed` when it
/// does not exist and reading `history_runs` runs of history first. Refused (nothing written)
/// when the session belongs to another user, type or component; a member or step run needs
/// its parent's session.
pub async fn begin(scope: &Scope, seed: SessionSeed, history_runs: u32, run_data: Value) -> Result<Started, RunError> {
    let clock = Instant::now();
    let c = scope.component();
    let mut run = Run::new(scope.run_id(), scope.session_id(), c.kind, RunStatus::Running);
    match c.kind {
        SessionType::Agent => run.agent_id = c.id.clone(),
        SessionType::Team => run.team_id = c.id.clone(),
        SessionType::Workflow => run.workflow_id = c.id.clone(),
    }
    run.user_id = scope.user_id().map(str::to_string);
    run.parent_run_id = scope.parent_run_id().map(str::to_string);
    let mut data = match run_data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    data.insert("status".into(), json!(RunStatus::Running.as_str()));
    data.insert("runner".into(), scope.runner().stamp());
    run.run_data = Value::Object(data);
    let new_session = scope.is_root().then(|| {
        let owner = &scope.session().owner;
        let mut s = Session::new(scope.session_id(), owner.kind, owner.id.clone().unwrap_or_default());
        s.user_id = scope.user_id().map(str::to_string);
        // What Agno writes in the columns a new session has nothing for: a team session's
        // `metadata` and `summary` and a workflow session's `summary` are the JSON `null`, a
        // workflow session's `metadata` is `{}`.
        match owner.kind {
            SessionType::Agent => s.agent_data = seed.data,
            SessionType::Team => {
                s.team_data = seed.data;
                s.metadata = Some(Value::Null);
                s.summary = Some(Value::Null);
            }
            SessionType::Workflow => {
                s.workflow_data = seed.data;
                s.metadata = Some(json!({}));
                s.summary = Some(Value::Null);
            }
        }
        s.session_data = Some(json!({"session_state": seed.state}));
        s
    });
    if scope.is_nested() {
        // No row: the run lives in its workflow run's `step_executor_runs`.
        scope.signal_started();
        scope.emit(EventKind::RunStarted { session_id: scope.session_id().to_string() });
        let session = Session::new(
            scope.session_id(),
            scope.session().owner.kind,
            scope.session().owner.id.clone().unwrap_or_default(),
        );
        return Ok(Started { session, history: Vec::new(), run, clock });
    }
    let begin = BeginRun {
        session: scope.session().clone(),
        user_id: scope.user_id().map(str::to_string),
        new_session,
        history_runs,
        run,
    };
    match scope.store().begin_run(begin).await {
        Ok(begun) => {
            scope.signal_started();
            scope.emit(EventKind::RunStarted { session_id: scope.session_id().to_string() });
            tracing::debug!(run_id = scope.run_id(), session_id = scope.session_id(), component = %scope.component(), "run started");
            Ok(Started { session: begun.session, history: begun.history, run: begun.run, clock })
        }
        Err(e) => {
            // A commit whose reply was lost leaves a row behind an error: end it (a no-op when
            // no row was written, as for a refused session).
            if !matches!(e, StoreError::Conflict(_)) {
                let why = format!("run stopped: its start failed: {e}");
                if let Err(e2) = scope.store().reap_run(scope.run_id(), &why, None).await {
                    tracing::debug!(run_id = scope.run_id(), error = %e2, "cannot end a run whose start failed");
                }
            }
            scope.emit(EventKind::RunError { message: e.to_string() });
            Err(RunError::Store(e))
        }
    }
}

/// Runs `work` until it ends, or until the run is cancelled (None).
pub async fn until_cancelled<T>(scope: &Scope, work: impl Future<Output = T>) -> Option<T> {
    // Biased: a cancel that is already there wins over work that is ready too.
    tokio::select! {
        biased;
        () = scope.cancel_token().cancelled() => None,
        out = work => Some(out),
    }
}

/// Writes the run's final row (`run_data`, its status from `outcome`) and its session's
/// `change` in one transaction, then reports the terminal event. When the session change
/// cannot be written, the run is still ended (ERROR, saying so), never left RUNNING.
pub async fn finish(
    scope: &Scope,
    started: &Started,
    outcome: Outcome,
    mut run_data: Value,
    change: SessionChange,
) -> Result<RunOutput, RunError> {
    let status = outcome.status();
    if let Some(d) = run_data.as_object_mut() {
        d.insert("status".into(), json!(status.as_str()));
        d.remove("runner");
    }
    let store = scope.store();
    if scope.is_nested() {
        if let Some(outbox) = scope.outbox() {
            outbox.put(run_data.clone());
        }
        let mut run = started.run.clone();
        run.status = Some(status);
        run.run_data = run_data;
        return report_end(scope, started, outcome, run);
    }
    let stored = match store.finish_run(scope.run_id(), status, &run_data, scope.session_id(), change).await {
        Ok((mut run, _)) => {
            run.run_data = run_data;
            run
        }
        Err(StoreError::NotFound { .. }) => {
            // Deleted while the run went on: its runs went with it; there is nothing to end.
            let message = format!(
                "session `{}` was deleted while the run was in progress; the run is not stored",
                scope.session_id()
            );
            scope.emit(EventKind::RunError { message: message.clone() });
            return Err(RunError::Store(StoreError::Invalid(message)));
        }
        Err(e) => {
            let message = format!("the run ended ({status}) but its session could not be updated: {e}");
            tracing::error!(run_id = scope.run_id(), error = %e, "finishing a run failed; storing it as ERROR");
            run_data["status"] = json!(RunStatus::Error.as_str());
            run_data["content"] = json!(message);
            if let Err(e2) = store.update_run(scope.run_id(), RunStatus::Error, &run_data).await {
                // What the run produced may be what cannot be stored: at least end the row, with
                // what it was asked and why it failed.
                tracing::error!(run_id = scope.run_id(), error = %e2, "cannot store the run's end; storing a short one");
                let short = json!({
                    "run_id": scope.run_id(), "session_id": scope.session_id(), "status": RunStatus::Error.as_str(),
                    "content": message, "content_type": "str", "input": run_data.get("input"),
                });
                if let Err(e3) = store.update_run(scope.run_id(), RunStatus::Error, &short).await {
                    // The row stays RUNNING; this process's reaper ends it once the run leaves
                    // the registry (or, if the process dies, any other process does).
                    tracing::error!(run_id = scope.run_id(), error = %e3, "cannot store the run's end");
                }
            }
            scope.emit(EventKind::RunError { message });
            return Err(RunError::Store(e));
        }
    };
    report_end(scope, started, outcome, stored)
}

/// Reports the end of a run whose final row (`stored`) is written: its terminal event and result.
#[allow(clippy::result_large_err, reason = "the run's own result type, as `finish` returns it")]
fn report_end(scope: &Scope, started: &Started, outcome: Outcome, stored: Run) -> Result<RunOutput, RunError> {
    let status = outcome.status();
    let (run_id, session_id) = (scope.run_id().to_string(), scope.session_id().to_string());
    tracing::debug!(%run_id, %session_id, %status, elapsed_ms = started.clock.elapsed().as_millis() as u64, "run ended");
    match outcome {
        Outcome::Completed(content) => {
            scope.emit(EventKind::RunCompleted { content: content.clone() });
            Ok(RunOutput { run: stored, content, session_id, overhead: scope.tree_overhead() })
        }
        Outcome::Cancelled => {
            scope.emit(EventKind::RunCancelled);
            Err(RunError::Cancelled { run_id, session_id })
        }
        Outcome::Failed(f) => {
            scope.emit(EventKind::RunError { message: f.to_string() });
            Err(match f {
                Failure::Model(source) => RunError::Model { run_id, session_id, source },
                Failure::Malformed(message) => RunError::Malformed { run_id, session_id, message },
                Failure::Internal(message) => RunError::Internal { run_id, session_id, message },
            })
        }
    }
}

/// The state a run starts from: the config's `default`, then the `stored` state, then the run's
/// own (`run`), deep-merged in that order.
pub fn initial_state(
    default: Map<String, Value>,
    stored: &Map<String, Value>,
    run: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut merged = Value::Object(default);
    crate::store::deep_merge(&mut merged, &Value::Object(stored.clone()));
    if let Some(run) = run {
        crate::store::deep_merge(&mut merged, &Value::Object(run.clone()));
    }
    match merged {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What a run changed in the session state: the keys of `after` whose value differs from
/// `before` (the stored state the run started from), recursing into objects so that only the
/// changed leaves are kept. Writing back only this patch keeps what other runs (or an API call)
/// changed in the same session meanwhile; keys the run never touched are never rewritten.
pub fn state_patch(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (k, v) in after {
        match (before.get(k), v) {
            (Some(old), new) if old == new => {}
            (Some(Value::Object(old)), Value::Object(new)) => {
                let inner = state_patch(old, new);
                if !inner.is_empty() {
                    patch.insert(k.clone(), Value::Object(inner));
                }
            }
            _ => {
                patch.insert(k.clone(), v.clone());
            }
        }
    }
    patch
}

/// The session-update half of a run's end that every runner shares: the run's state patch
/// ([`state_patch`]) deep-merged into the stored state, its tokens added to `session_metrics`
/// (in all, and under `details.model[]` for `model`: its id and provider).
/// A `session_data` that is not an object (written by something else) is replaced, as before.
pub fn merge_state_and_metrics(
    s: &mut Session,
    state: Map<String, Value>,
    usage: crate::model::Usage,
    model: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    let data = s.session_data.get_or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    let st = data.as_object_mut().map(|d| d.entry("session_state").or_insert_with(|| json!({})));
    if let Some(st) = st {
        crate::store::deep_merge(st, &Value::Object(state));
    }
    let m = data["session_metrics"].take();
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let add = |v: &Value| {
        json!({
            "input_tokens": n(v, "input_tokens").saturating_add(usage.input_tokens),
            "output_tokens": n(v, "output_tokens").saturating_add(usage.output_tokens),
            "total_tokens": n(v, "total_tokens").saturating_add(usage.total_tokens),
        })
    };
    let mut metrics = add(&m);
    // Per model, as Agno keeps them: `details.model[]` with the model's id and provider.
    let mut models: Vec<Value> = m.pointer("/details/model").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some((id, provider)) = model {
        match models.iter_mut().find(|e| e.get("id").and_then(Value::as_str) == Some(id)) {
            Some(entry) => {
                let mut summed = add(entry);
                summed["id"] = json!(id);
                summed["provider"] = entry.get("provider").cloned().unwrap_or_else(|| json!(provider));
                *entry = summed;
            }
            None => {
                let mut entry = add(&Value::Null);
                entry["id"] = json!(id);
                entry["provider"] = json!(provider);
                models.push(entry);
            }
        }
    }
    if !models.is_empty() {
        metrics["details"] = json!({"model": models});
    }
    data["session_metrics"] = metrics;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_patch_holds_only_what_changed_down_to_the_leaves() {
        let before = json!({"counter": 1, "prefs": {"lang": "en", "tz": "UTC"}, "cart": ["tea"]});
        let after = json!({"counter": 1, "prefs": {"lang": "fr", "tz": "UTC"}, "cart": ["tea"], "new": null});
        let patch = state_patch(before.as_object().unwrap(), after.as_object().unwrap());
        assert_eq!(Value::Object(patch), json!({"prefs": {"lang": "fr"}, "new": null}));
        let same = state_patch(before.as_object().unwrap(), before.as_object().unwrap());
        assert!(same.is_empty());
        // A value that changes type is written whole.
        let patch = state_patch(json!({"a": {"x": 1}}).as_object().unwrap(), json!({"a": [1]}).as_object().unwrap());
        assert_eq!(Value::Object(patch), json!({"a": [1]}));
    }
}
