//! Running steps: each kind of step, the inputs they get, and the `StepOutput` dicts they
//! leave (Agno's shapes, `agno/workflow/types.py`).

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::config::model::OnError;
use crate::config::{StepConfig, StepKind};
use crate::model::Usage;
use crate::run::{Component, EventKind, Launcher, RunInput, RunRequest, Scope, SessionType, SharedState};

/// Most step runs one workflow run may start (loops inside loops multiply): past it the run
/// fails rather than running on.
pub const MAX_STEP_RUNS: usize = 10_000;

/// What the run collected so far (kept outside the run's future, so that a run that is
/// cancelled or fails still stores what its steps did).
#[derive(Debug, Default)]
pub struct Record {
    /// Top-level `step_results`.
    pub results: Vec<Value>,
    /// Every agent or team run of a step, in completion order.
    pub executor_runs: Vec<Value>,
    /// `metrics.steps`, by leaf step name.
    pub step_metrics: Map<String, Value>,
    /// Tokens by model (id, provider).
    pub usage: Vec<(String, String, Usage)>,
    /// Step runs started.
    pub started: usize,
    /// Time spent waiting on step runs (agents and teams): the rest of the workflow's time is
    /// agno-run's own. Parallel steps overlap, so this can exceed the wall time.
    pub waiting: std::time::Duration,
}

/// One step's end.
#[derive(Debug, Clone)]
pub struct Output {
    /// The `StepOutput` dict.
    pub value: Value,
    /// Its content.
    pub content: String,
    /// False when it failed.
    pub success: bool,
    /// What the next step gets (the content, Agno's join after a parallel group, or what this
    /// step got when it was skipped).
    pub next: String,
    /// The answer it stands for: its content, or for a condition, loop or router the answer of
    /// its last inner step (a workflow's content is its last answer, as in Agno).
    pub answer: String,
}

/// A step failed with `on_error: fail`: the workflow run ends ERROR.
#[derive(Debug)]
pub struct Stop(pub String);

/// The run of one workflow.
pub struct Exec<'a> {
    pub scope: &'a Scope,
    pub launcher: &'a Arc<dyn Launcher>,
    pub state: SharedState,
    /// The workflow's input.
    pub input: String,
    /// `<workflow_history_context>` prefix for every step's message (may be empty).
    pub history: String,
    /// The workflow run streams: its step runs stream too (Agno streams every step's model).
    pub stream: bool,
    pub record: Arc<Mutex<Record>>,
}

fn step_output(step: &StepConfig, step_type: &str, content: &str, success: bool, error: Option<&str>) -> Value {
    json!({
        "content": content, "step_name": step.name, "step_id": step_id(step), "step_type": step_type,
        "executor_type": null, "executor_name": null, "step_run_id": null,
        "images": null, "videos": null, "audio": null, "files": null, "metrics": null,
        "success": success, "error": error, "stop": false, "is_paused": false,
    })
}

/// A stable id per step (Agno's is random per `Step` object and stable across its runs; here it
/// is derived from the step's name, stable across runs and processes).
fn step_id(step: &StepConfig) -> String {
    step_id_of(&step.name)
}

/// The id of the step named `name` (what `step_results[].step_id` and the step events carry).
pub fn step_id_of(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    uuid::Uuid::from_u128(h).to_string()
}

impl Exec<'_> {
    fn with_record<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r)
    }

    /// The top-level steps in order; the last content, or why the run stopped.
    pub async fn run_top(&self, steps: &[StepConfig]) -> Result<String, String> {
        let mut prev = self.input.clone();
        let mut last = String::new();
        for step in steps {
            let out = self.run_step(step, prev.clone()).await;
            let (out, stop) = match out {
                Ok(o) => (o, None),
                Err((o, Stop(why))) => (*o, Some(why)),
            };
            self.with_record(|r| r.results.push(out.value.clone()));
            if let Some(why) = stop {
                return Err(why);
            }
            last = out.answer.clone();
            prev = out.next;
        }
        Ok(last)
    }

    /// The variables of an expression or template, for a step that gets `prev`.
    fn vars(&self, prev: &str) -> Map<String, Value> {
        let outputs = self.with_record(|r| collect_outputs(&r.results));
        let mut steps = Map::new();
        let mut previous_step_outputs = Map::new();
        for (name, v) in outputs {
            previous_step_outputs.insert(name.clone(), v.get("content").cloned().unwrap_or(json!("")));
            steps.insert(name, v);
        }
        let state = self.state.lock().map(|s| s.clone()).unwrap_or_default();
        let mut vars = Map::new();
        vars.insert("input".into(), json!(self.input));
        vars.insert("previous_step_content".into(), json!(prev));
        vars.insert("previous".into(), json!({"content": prev}));
        vars.insert("previous_step_outputs".into(), Value::Object(previous_step_outputs));
        vars.insert("steps".into(), Value::Object(steps));
        vars.insert("additional_data".into(), json!({}));
        vars.insert("session_state".into(), Value::Object(state));
        vars
    }

    /// Runs one step (of any kind) with `prev` as its default input.
    pub fn run_step<'s>(
        &'s self,
        step: &'s StepConfig,
        prev: String,
    ) -> BoxFuture<'s, Result<Output, (Box<Output>, Stop)>> {
        Box::pin(async move {
            let clock = std::time::Instant::now();
            let kind = match &step.kind {
                StepKind::Agent { .. } | StepKind::Team { .. } => "Step",
                StepKind::Parallel(_) => "Parallel",
                StepKind::Condition { .. } => "Condition",
                StepKind::Loop { .. } => "Loop",
                StepKind::Router { .. } => "Router",
            };
            self.scope.emit(EventKind::StepStarted { step: step.name.clone(), step_type: kind.into() });
            let span = step_span(step, &prev, self.scope.traced());
            let mut out = tracing::Instrument::instrument(self.step_body(step, prev), span.clone()).await;
            if self.scope.cancel_token().is_cancelled() {
                // Cancelled: no further step starts, whatever this one's `on_error`.
                out = match out {
                    Ok(o) => Err((Box::new(o), Stop("the run was cancelled".into()))),
                    stopped => stopped,
                };
            }
            let o: &Output = match &out {
                Ok(o) => o,
                Err((o, _)) => o,
            };
            let detail = match &step.kind {
                StepKind::Condition { .. } => Some(
                    if o.content.contains("(if branch)") {
                        "if branch"
                    } else if o.content.contains("(else branch)") {
                        "else branch"
                    } else {
                        "not met, skipped"
                    }
                    .to_string(),
                ),
                StepKind::Router { .. } => {
                    let names: Vec<&str> = o
                        .value
                        .get("steps")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.get("step_name").and_then(Value::as_str))
                        .collect();
                    Some(format!("chose {}", names.join(", ")))
                }
                StepKind::Loop { .. } => Some(o.content.clone()),
                _ => None,
            };
            if !span.is_disabled() {
                if self.scope.traced() {
                    span.record("output.value", crate::run::span_text(&o.content).as_ref());
                }
                if o.success && out.is_ok() {
                    span.record("otel.status_code", "ok");
                } else {
                    span.record("otel.status_code", "error");
                    if let Err((_, Stop(why))) = &out {
                        span.record("otel.status_description", why.as_str());
                    }
                }
            }
            drop(span);
            self.scope.emit(EventKind::StepCompleted {
                step: step.name.clone(),
                success: o.success && out.is_ok(),
                duration: clock.elapsed().as_secs_f64(),
                detail,
            });
            out
        })
    }

    async fn step_body(&self, step: &StepConfig, prev: String) -> Result<Output, (Box<Output>, Stop)> {
        {
            let result = match &step.kind {
                StepKind::Agent { id, input } | StepKind::Team { id, input } => {
                    let kind = if matches!(step.kind, StepKind::Agent { .. }) {
                        SessionType::Agent
                    } else {
                        SessionType::Team
                    };
                    self.leaf(step, kind, id, input.as_ref(), &prev).await
                }
                StepKind::Parallel(children) => self.parallel(step, children, &prev).await,
                StepKind::Condition { condition, steps, else_steps } => {
                    match off_thread(condition, self.vars(&prev), |e, v| e.eval_bool(v)).await {
                        Ok(holds) => self.condition(step, holds, steps, else_steps, &prev).await,
                        Err(e) => Err(Fail::Error(format!("the condition of step `{}` failed: {e}", step.name))),
                    }
                }
                StepKind::Loop { end_condition, max_iterations, steps } => {
                    self.looped(step, end_condition.as_ref(), *max_iterations, steps, &prev).await
                }
                StepKind::Router { router, choices } => self.route(step, router, choices, &prev).await,
            };
            match result {
                Ok(out) => Ok(out),
                Err(Fail::Stop(out, why)) => Err((out, Stop(why))),
                Err(Fail::Error(message)) => self.failed(step, &prev, &message, None),
            }
        }
    }

    /// A step that failed, by its `on_error`.
    fn failed(
        &self,
        step: &StepConfig,
        prev: &str,
        message: &str,
        value: Option<Value>,
    ) -> Result<Output, (Box<Output>, Stop)> {
        tracing::debug!(step = %step.name, error = %message, on_error = ?step.on_error, "workflow step failed");
        match step.on_error {
            OnError::Skip => {
                let content = format!("Step skipped due to error: {message}");
                let mut v = step_output(step, "Step", &content, false, Some(message));
                v["step_type"] = value.as_ref().and_then(|v| v.get("step_type").cloned()).unwrap_or(json!("Step"));
                Ok(Output { answer: content.clone(), value: v, content, success: false, next: prev.to_string() })
            }
            OnError::Continue | OnError::Fail => {
                let v = value.unwrap_or_else(|| step_output(step, "Step", message, false, Some(message)));
                let out = Output {
                    value: v,
                    content: message.to_string(),
                    success: false,
                    next: message.to_string(),
                    answer: message.to_string(),
                };
                if step.on_error == OnError::Fail { Err((Box::new(out), Stop(message.to_string()))) } else { Ok(out) }
            }
        }
    }

    /// An agent or team step: its run (nested: no row; kept in `step_executor_runs`), retried
    /// up to `max_retries` times when it fails.
    async fn leaf(
        &self,
        step: &StepConfig,
        kind: SessionType,
        id: &str,
        template: Option<&crate::config::Template>,
        prev: &str,
    ) -> Result<Output, Fail> {
        let message = match template {
            Some(t) => {
                let rendered = off_thread(t, self.vars(prev), |t, v| t.render(v))
                    .await
                    .map_err(|e| Fail::Error(format!("the input of step `{}`: {e}", step.name)))?;
                if rendered.len() as u64 > crate::config::DEFAULT_MAX_INPUT_BYTES {
                    return Err(Fail::Error(format!(
                        "the input of step `{}` rendered to {} bytes, more than the {} a step input may be",
                        step.name,
                        rendered.len(),
                        crate::config::DEFAULT_MAX_INPUT_BYTES
                    )));
                }
                rendered
            }
            None => prev.to_string(),
        };
        let message = format!("{}{message}", self.history);
        let mut attempt = 0;
        loop {
            let started = self.with_record(|r| {
                r.started += 1;
                r.started
            });
            if started > MAX_STEP_RUNS {
                return Err(Fail::Stop(
                    Box::new(Output {
                        value: step_output(step, "Step", "", false, Some("too many step runs")),
                        content: String::new(),
                        success: false,
                        next: String::new(),
                        answer: String::new(),
                    }),
                    format!("the workflow started more than {MAX_STEP_RUNS} step runs"),
                ));
            }
            let outbox = crate::run::Outbox::default();
            let request = RunRequest {
                target: Component::new(kind, id),
                input: RunInput {
                    message: message.clone(),
                    stream: self.stream,
                    shared_state: Some(self.state.clone()),
                    nested: Some(outbox.clone()),
                    ..RunInput::default()
                },
                parent: Some(self.scope.clone()),
            };
            let waited = std::time::Instant::now();
            let result = match self.launcher.clone().start(request).await {
                Ok(handle) => handle.result().await.map(|o| o.content),
                Err(e) => Err(e),
            };
            self.with_record(|r| r.waiting += waited.elapsed());
            let run = outbox.take();
            let (ok, content) = match &result {
                Ok(content) => (true, content.clone()),
                Err(e) => (
                    false,
                    run.as_ref()
                        .and_then(|r| r.get("content").and_then(Value::as_str))
                        .map_or_else(|| e.to_string(), str::to_string),
                ),
            };
            let mut value = step_output(step, "Step", &content, ok, (!ok).then_some(content.as_str()));
            value["executor_type"] = json!(if kind == SessionType::Agent { "agent" } else { "team" });
            if let Some(mut run) = run {
                let name = run.get(if kind == SessionType::Agent { "agent_name" } else { "team_name" }).cloned();
                value["executor_name"] = name.clone().unwrap_or(json!(id));
                value["step_run_id"] = run.get("run_id").cloned().unwrap_or(Value::Null);
                value["metrics"] = run.get("metrics").cloned().unwrap_or(Value::Null);
                run["workflow_step_id"] = json!(step_id(step));
                run["metadata"] = json!({});
                // Agno's Step stores a team's member runs with the step's metadata too.
                for member in run.get_mut("member_responses").and_then(Value::as_array_mut).into_iter().flatten() {
                    member["metadata"] = json!({});
                }
                let metrics = run.get("metrics").cloned().unwrap_or(Value::Null);
                let usage = usage_of(&run);
                self.with_record(|r| {
                    r.step_metrics.insert(
                        step.name.clone(),
                        json!({"step_name": step.name, "executor_type": value["executor_type"], "executor_name": name, "metrics": metrics}),
                    );
                    r.usage.extend(usage);
                    r.executor_runs.push(run);
                });
            }
            if ok {
                return Ok(Output {
                    value,
                    content: content.clone(),
                    success: true,
                    next: content.clone(),
                    answer: content,
                });
            }
            if attempt < step.max_retries && !self.scope.cancel_token().is_cancelled() {
                attempt += 1;
                tracing::info!(step = %step.name, attempt, "retrying a failed workflow step");
                continue;
            }
            return match self.failed(step, prev, &content, Some(value)) {
                Ok(out) => Ok(out),
                Err((out, Stop(why))) => Err(Fail::Stop(out, why)),
            };
        }
    }

    async fn parallel(&self, step: &StepConfig, children: &[StepConfig], prev: &str) -> Result<Output, Fail> {
        let runs = children.iter().map(|c| self.run_step(c, prev.to_string()));
        let outs = futures_util::future::join_all(runs).await;
        let mut stop = None;
        let mut list = Vec::new();
        for out in outs {
            match out {
                Ok(o) => list.push(o),
                Err((o, Stop(why))) => {
                    stop.get_or_insert(why);
                    list.push(*o);
                }
            }
        }
        let mut content = String::from("## Parallel Execution Results\n\n");
        let mut next = Vec::new();
        for (c, o) in children.iter().zip(&list) {
            let icon = if o.success { "✅ SUCCESS:" } else { "❌ FAILURE:" };
            content.push_str(&format!("### {icon} {}\n", c.name));
            if o.content.trim().is_empty() {
                content.push_str("*(No content)*\n\n");
            } else {
                content.push_str(&format!("{}\n\n", o.content));
            }
            next.push(format!("=== {} ===\n{}", c.name, o.content));
        }
        let content = content.trim().to_string();
        let success = list.iter().all(|o| o.success);
        let mut value = step_output(step, "Parallel", &content, success, None);
        value["executor_type"] = json!("parallel");
        value["executor_name"] = json!(step.name);
        value["metrics"] = sum_metrics(list.iter().map(|o| &o.value));
        value["steps"] = list.iter().map(|o| o.value.clone()).collect();
        let out = Output { answer: content.clone(), value, content, success, next: next.join("\n\n") };
        match stop {
            Some(why) => Err(Fail::Stop(Box::new(out), why)),
            None => Ok(out),
        }
    }

    /// Runs `steps` in order from `prev`: their outputs, and why the run stops (`on_error: fail`).
    async fn sequence(&self, steps: &[StepConfig], prev: &str) -> (Vec<Output>, Option<String>) {
        let mut outs = Vec::new();
        let mut input = prev.to_string();
        for s in steps {
            match self.run_step(s, input.clone()).await {
                Ok(o) => {
                    input = o.next.clone();
                    outs.push(o);
                }
                Err((o, Stop(why))) => {
                    outs.push(*o);
                    return (outs, Some(why));
                }
            }
        }
        (outs, None)
    }

    fn container(
        &self,
        step: &StepConfig,
        kind: &str,
        content: String,
        outs: Vec<Output>,
        prev: &str,
        stop: Option<String>,
    ) -> Result<Output, Fail> {
        let success = outs.iter().all(|o| o.success);
        let next = outs.last().map_or_else(|| prev.to_string(), |o| o.next.clone());
        let answer = outs.last().map_or_else(|| content.clone(), |o| o.answer.clone());
        let mut value = step_output(step, kind, &content, true, None);
        value["steps"] = outs.iter().map(|o| o.value.clone()).collect();
        // A container succeeds when it ran; its inner steps say how each went.
        let _ = success;
        let out = Output { value, content, success: true, next, answer };
        match stop {
            Some(why) => Err(Fail::Stop(Box::new(out), why)),
            None => Ok(out),
        }
    }

    async fn condition(
        &self,
        step: &StepConfig,
        holds: bool,
        steps: &[StepConfig],
        else_steps: &[StepConfig],
        prev: &str,
    ) -> Result<Output, Fail> {
        if !holds && else_steps.is_empty() {
            let content = format!("Condition {} not met - skipped {} steps", step.name, steps.len());
            let value = step_output(step, "Condition", &content, true, None);
            return Ok(Output { answer: content.clone(), value, content, success: true, next: prev.to_string() });
        }
        let (branch, list) = if holds { ("if", steps) } else { ("else", else_steps) };
        let (outs, stop) = self.sequence(list, prev).await;
        let content = format!("Condition {} completed with {} results ({branch} branch)", step.name, outs.len());
        self.container(step, "Condition", content, outs, prev, stop)
    }

    async fn looped(
        &self,
        step: &StepConfig,
        end: Option<&crate::expr::Expr>,
        max_iterations: u32,
        steps: &[StepConfig],
        prev: &str,
    ) -> Result<Output, Fail> {
        let mut all = Vec::new();
        let mut iterations = 0;
        for i in 1..=max_iterations {
            iterations = i;
            let (outs, stop) = self.sequence(steps, prev).await;
            let mut vars = self.vars(prev);
            let mut step_outputs = Map::new();
            for o in &outs {
                let name = o.value.get("step_name").and_then(Value::as_str).unwrap_or_default().to_string();
                step_outputs.insert(name, json!(o.content));
            }
            vars.insert("current_iteration".into(), json!(i));
            vars.insert("max_iterations".into(), json!(max_iterations));
            vars.insert("all_success".into(), json!(outs.iter().all(|o| o.success)));
            vars.insert("last_step_content".into(), json!(outs.last().map(|o| o.content.clone()).unwrap_or_default()));
            vars.insert("step_outputs".into(), Value::Object(step_outputs));
            all.extend(outs);
            if let Some(why) = stop {
                let content = format!("Loop {} completed {i} iterations with {} total steps", step.name, all.len());
                return self.container(step, "Loop", content, all, prev, Some(why));
            }
            if let Some(end) = end {
                match off_thread(end, vars, |e, v| e.eval_bool(v)).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        return Err(Fail::Error(format!("the end condition of loop `{}` failed: {e}", step.name)));
                    }
                }
            }
        }
        let content = format!("Loop {} completed {iterations} iterations with {} total steps", step.name, all.len());
        self.container(step, "Loop", content, all, prev, None)
    }

    async fn route(
        &self,
        step: &StepConfig,
        router: &crate::expr::Expr,
        choices: &[StepConfig],
        prev: &str,
    ) -> Result<Output, Fail> {
        let mut vars = self.vars(prev);
        vars.insert("step_choices".into(), choices.iter().map(|c| json!(c.name)).collect());
        let picked = off_thread(router, vars, |e, v| e.eval(v))
            .await
            .map_err(|e| Fail::Error(format!("the router of step `{}` failed: {e}", step.name)))?;
        let names: Vec<String> = match picked {
            Value::String(s) => vec![s],
            Value::Array(list) => list.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            other => {
                return Err(Fail::Error(format!(
                    "the router of step `{}` returned {other}, not a step name or a list of names",
                    step.name
                )));
            }
        };
        let mut chosen = Vec::new();
        for n in &names {
            match choices.iter().find(|c| c.name == *n) {
                Some(c) => chosen.push(c.clone()),
                None => {
                    let known: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
                    return Err(Fail::Error(format!(
                        "the router of step `{}` chose `{n}`, which is not one of its choices ({})",
                        step.name,
                        known.join(", ")
                    )));
                }
            }
        }
        let (outs, stop) = self.sequence(&chosen, prev).await;
        let content = format!("Router {} completed with {} results", step.name, outs.len());
        self.container(step, "Router", content, outs, prev, stop)
    }
}

/// Most time one expression (or template) may take to evaluate.
const EVAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Evaluates `what` with `vars` on a blocking thread, under [`EVAL_DEADLINE`]: CEL evaluation has
/// no budget of its own, and on the async threads a costly expression would also stall every
/// other run and the run's own cancel. Past the deadline the step fails; the thread is left to
/// finish on its own (it ends with the process).
async fn off_thread<X, T>(
    what: &X,
    vars: Map<String, Value>,
    eval: fn(&X, &Map<String, Value>) -> Result<T, crate::expr::EvalError>,
) -> Result<T, String>
where
    X: Clone + Send + 'static,
    T: Send + 'static,
{
    let what = what.clone();
    let job = tokio::task::spawn_blocking(move || eval(&what, &vars));
    match tokio::time::timeout(EVAL_DEADLINE, job).await {
        Ok(Ok(r)) => r.map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(format!("the evaluation failed: {e}")),
        Err(_) => Err(format!("the evaluation took longer than {} s", EVAL_DEADLINE.as_secs())),
    }
}

/// Why a step did not end normally.
enum Fail {
    /// It failed; its `on_error` decides.
    Error(String),
    /// An inner step failed with `on_error: fail`: the workflow stops (the container's output
    /// holds what ran).
    Stop(Box<Output>, String),
}

/// The outputs of every step that ran, by name (inner steps included; a later one of the same
/// name, a loop's next iteration, wins).
fn collect_outputs(results: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, Value)>) {
        if let Some(name) = v.get("step_name").and_then(Value::as_str) {
            let mut brief = Map::new();
            for k in ["content", "success", "error", "step_type", "executor_name"] {
                brief.insert(k.into(), v.get(k).cloned().unwrap_or(Value::Null));
            }
            out.retain(|(n, _): &(String, Value)| n != name);
            out.push((name.to_string(), Value::Object(brief)));
        }
        for inner in v.get("steps").and_then(Value::as_array).into_iter().flatten() {
            walk(inner, out);
        }
    }
    for r in results {
        walk(r, &mut out);
    }
    out
}

/// Tokens of a run's metrics by model (`details.model[]`), for the session's metrics.
fn usage_of(run: &Value) -> Vec<(String, String, Usage)> {
    let mut list = Vec::new();
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    for m in run.pointer("/metrics/details/model").and_then(Value::as_array).into_iter().flatten() {
        let usage = Usage {
            input_tokens: n(m, "input_tokens"),
            output_tokens: n(m, "output_tokens"),
            total_tokens: n(m, "total_tokens"),
        };
        if usage.total_tokens == 0 && usage.input_tokens == 0 && usage.output_tokens == 0 {
            // A model call that failed used nothing: Agno lists no entry for it.
            continue;
        }
        let id = m.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let provider = m.get("provider").and_then(Value::as_str).unwrap_or_default().to_string();
        list.push((id, provider, usage));
    }
    // A team step's members are inside its run: their tokens count too.
    for member in run.get("member_responses").and_then(Value::as_array).into_iter().flatten() {
        list.extend(usage_of(member));
    }
    list
}

/// The sum of the token metrics of `outputs` (a parallel group's), with every output's
/// per-model `details`, in step order, as Agno sums them.
fn sum_metrics<'a>(outputs: impl Iterator<Item = &'a Value>) -> Value {
    let (mut i, mut o, mut t) = (0u64, 0u64, 0u64);
    let mut details = Vec::new();
    let mut any = false;
    for v in outputs {
        if let Some(m) = v.get("metrics").filter(|m| m.is_object()) {
            any = true;
            i += m.get("input_tokens").and_then(Value::as_u64).unwrap_or(0);
            o += m.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
            t += m.get("total_tokens").and_then(Value::as_u64).unwrap_or(0);
            details.extend(m.pointer("/details/model").and_then(Value::as_array).into_iter().flatten().cloned());
        }
    }
    if !any {
        return Value::Null;
    }
    let mut sum = json!({"input_tokens": i, "output_tokens": o, "total_tokens": t});
    if !details.is_empty() {
        sum["details"] = json!({"model": details});
    }
    sum
}

/// The span of one workflow step (Agno's `first_step.execute`, `CHAIN`): a child of the
/// workflow's run, or of the step that holds it.
fn step_span(step: &StepConfig, input: &str, traced: bool) -> tracing::Span {
    use tracing::field::Empty;
    let kind = match &step.kind {
        StepKind::Agent { .. } => "agent",
        StepKind::Team { .. } => "team",
        StepKind::Parallel(_) => "parallel",
        StepKind::Condition { .. } => "condition",
        StepKind::Loop { .. } => "loop",
        StepKind::Router { .. } => "router",
    };
    let span = tracing::info_span!(
        target: crate::run::SPAN_TARGET,
        "step",
        otel.name = %format!("{}.execute", crate::run::span_name(&step.name)),
        otel.status_code = Empty,
        otel.status_description = Empty,
        agno_run.kind = "step",
        graph.node.name = %step.name,
        input.value = Empty,
        agno.step.type = kind,
        output.value = Empty,
        output.mime_type = "text/plain",
        openinference.span.kind = "CHAIN",
    );
    if traced && !span.is_disabled() {
        span.record("input.value", crate::run::span_text(input).as_ref());
    }
    span
}
