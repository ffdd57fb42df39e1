//! A run tree's events as Agno's SSE events: names (`RunContent`, `TeamToolCallStarted`,
//! `StepCompleted`, …) and JSON fields as Agno 3.1.10's event dataclasses write them. Agent
//! events carry `agent_id`/`agent_name`, team events the `Team` prefix and `team_id`/`team_name`,
//! workflow events `workflow_id`/`workflow_name`; the runs inside a workflow step carry the
//! step's `workflow_run_id`, `step_id`, `step_name` and `step_index`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::run::{Component, Event, EventKind, SessionType};
use crate::runtime::Generation;
use crate::store::now;

/// The step a run belongs to, inside a workflow.
#[derive(Debug, Clone)]
struct StepInfo {
    id: String,
    name: String,
    index: usize,
}

/// Turns the events of one run tree into Agno's `(name, data)` pairs.
pub(super) struct Mapper {
    generation: Arc<Generation>,
    root_run_id: String,
    session_id: String,
    /// Depth of each run seen (the root is 0).
    depth: HashMap<String, u32>,
    /// The step of each run inside a workflow.
    step_of: HashMap<String, StepInfo>,
    /// Steps started and not completed, by name (a parallel group has several).
    open_steps: Vec<StepInfo>,
    steps_started: usize,
    /// The workflow, when the root is one.
    root_workflow_id: Option<String>,
    /// The arguments of each tool call started, for its completed event.
    tool_args: HashMap<String, String>,
    /// What each step's executor answered, by step id: (content, run id, agent or team).
    step_output: HashMap<String, (Value, String, Component)>,
}

impl Mapper {
    pub(super) fn new(generation: Arc<Generation>, root_run_id: String, session_id: String) -> Self {
        Mapper {
            generation,
            root_run_id,
            session_id,
            depth: HashMap::new(),
            step_of: HashMap::new(),
            open_steps: Vec::new(),
            steps_started: 0,
            root_workflow_id: None,
            tool_args: HashMap::new(),
            step_output: HashMap::new(),
        }
    }

    fn name_of(&self, c: &Component) -> Option<String> {
        let id = c.id.as_deref()?;
        let cfg = self.generation.config();
        match c.kind {
            SessionType::Agent => cfg.agents.get(id).map(|a| a.name.clone()),
            SessionType::Team => cfg.teams.get(id).map(|t| t.name.clone()),
            SessionType::Workflow => cfg.workflows.get(id).map(|w| w.name.clone()),
        }
    }

    fn model_of(&self, c: &Component) -> Option<(String, Value)> {
        let id = c.id.as_deref()?;
        let a = match c.kind {
            SessionType::Agent => self.generation.agent(id)?,
            SessionType::Team => self.generation.team(id)?,
            SessionType::Workflow => return None,
        };
        Some((a.model.name().to_string(), a.model.describe()["provider"].clone()))
    }

    /// The event name for `base` in the naming of `kind`.
    fn name(kind: SessionType, base: &str) -> String {
        match kind {
            SessionType::Team => format!("Team{base}"),
            _ => base.to_string(),
        }
    }

    fn common(&mut self, e: &Event, name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("created_at".into(), json!(now()));
        m.insert("event".into(), json!(name));
        let id = json!(e.component.id);
        let display = json!(self.name_of(&e.component));
        match e.component.kind {
            SessionType::Agent => {
                m.insert("agent_id".into(), id);
                m.insert("agent_name".into(), display);
            }
            SessionType::Team => {
                m.insert("team_id".into(), id);
                m.insert("team_name".into(), display);
            }
            SessionType::Workflow => {
                m.insert("workflow_id".into(), id);
                m.insert("workflow_name".into(), display);
            }
        }
        m.insert("run_id".into(), json!(e.run_id));
        m.insert("session_id".into(), json!(self.session_id));
        if let Some(parent) = &e.parent_run_id {
            m.insert("parent_run_id".into(), json!(parent));
        }
        if let Some(step) = self.step_of.get(&e.run_id)
            && e.component.kind != SessionType::Workflow
        {
            if let Some(root) = &self.root_workflow_id {
                m.insert("workflow_id".into(), json!(root));
            }
            m.insert("workflow_run_id".into(), json!(self.root_run_id));
            m.insert("step_id".into(), json!(step.id));
            m.insert("step_name".into(), json!(step.name));
            m.insert("step_index".into(), json!(step.index));
        }
        m.insert("nested_depth".into(), json!(self.depth.get(&e.run_id).copied().unwrap_or(0)));
        m.retain(|_, v| !v.is_null());
        m
    }

    /// Notes a run the first time it is seen: its depth and, inside a workflow, its step.
    fn see(&mut self, e: &Event) {
        if self.depth.contains_key(&e.run_id) {
            return;
        }
        let depth = match &e.parent_run_id {
            None => 0,
            Some(p) => {
                let parent_depth = self.depth.get(p).copied().unwrap_or(0);
                // A workflow's step runs are at its depth, as Agno counts them.
                if *p == self.root_run_id && self.root_workflow_id.is_some() { parent_depth } else { parent_depth + 1 }
            }
        };
        self.depth.insert(e.run_id.clone(), depth);
        if let Some(p) = &e.parent_run_id {
            let step =
                if *p == self.root_run_id { self.open_steps.last().cloned() } else { self.step_of.get(p).cloned() };
            if let Some(step) = step {
                self.step_of.insert(e.run_id.clone(), step);
            }
        }
    }

    /// The SSE events (name, JSON) for `e`. `run_data` is the stored run when `e` is the root's
    /// terminal event and the run was stored (its content, metrics, state and step results).
    pub(super) fn map(&mut self, e: &Event, run_data: Option<&Value>) -> Vec<(String, Value)> {
        if e.parent_run_id.is_none() && e.component.kind == SessionType::Workflow {
            self.root_workflow_id = e.component.id.clone();
        }
        self.see(e);
        let kind = e.component.kind;
        let workflow = kind == SessionType::Workflow;
        let mut out = Vec::new();
        match &e.kind {
            EventKind::RunStarted { .. } => {
                let name = if workflow { "WorkflowStarted".into() } else { Self::name(kind, "RunStarted") };
                let mut m = self.common(e, &name);
                if let Some((model, provider)) = self.model_of(&e.component) {
                    m.insert("model".into(), json!(model));
                    m.insert("model_provider".into(), provider);
                }
                out.push((name, Value::Object(m)));
            }
            EventKind::Content(text) if !workflow => {
                let name = Self::name(kind, "RunContent");
                let mut m = self.common(e, &name);
                m.insert("content".into(), json!(text));
                m.insert("content_type".into(), json!("str"));
                out.push((name, Value::Object(m)));
            }
            EventKind::Content(_) => {}
            EventKind::ToolCallStarted { call_id, name: tool, arguments } => {
                let name = Self::name(kind, "ToolCallStarted");
                let mut m = self.common(e, &name);
                m.insert("tool".into(), tool_execution(call_id, tool, arguments, None));
                self.tool_args.insert(call_id.clone(), arguments.clone());
                out.push((name, Value::Object(m)));
            }
            EventKind::ToolCallCompleted { call_id, name: tool, result, error } => {
                let name = Self::name(kind, "ToolCallCompleted");
                let mut m = self.common(e, &name);
                m.insert("content".into(), json!(result));
                let arguments = self.tool_args.remove(call_id).unwrap_or_default();
                m.insert("tool".into(), tool_execution(call_id, tool, &arguments, Some((result, *error))));
                out.push((name, Value::Object(m)));
            }
            EventKind::RunCompleted { content } => {
                if workflow {
                    let mut m = self.common(e, "WorkflowCompleted");
                    m.insert("content".into(), json!(content));
                    m.insert("content_type".into(), json!("str"));
                    for key in ["metadata", "metrics", "step_results", "step_executor_runs"] {
                        if let Some(v) = run_data.and_then(|r| r.get(key)) {
                            m.insert(key.into(), v.clone());
                        }
                    }
                    out.push(("WorkflowCompleted".into(), Value::Object(m)));
                } else {
                    // A step's executor: its answer is the step's content.
                    if e.parent_run_id.as_deref() == Some(self.root_run_id.as_str())
                        && let Some(step) = self.step_of.get(&e.run_id)
                    {
                        self.step_output
                            .insert(step.id.clone(), (json!(content), e.run_id.clone(), e.component.clone()));
                    }
                    let done = Self::name(kind, "RunContentCompleted");
                    out.push((done.clone(), Value::Object(self.common(e, &done))));
                    let name = Self::name(kind, "RunCompleted");
                    let mut m = self.common(e, &name);
                    m.insert("content".into(), json!(content));
                    m.insert("content_type".into(), json!("str"));
                    for key in ["model_provider_data", "session_state", "metrics", "member_responses"] {
                        if let Some(v) = run_data.and_then(|r| r.get(key)) {
                            m.insert(key.into(), v.clone());
                        }
                    }
                    out.push((name, Value::Object(m)));
                }
            }
            EventKind::RunError { message } => {
                let name = if workflow { "WorkflowError".into() } else { Self::name(kind, "RunError") };
                let mut m = self.common(e, &name);
                m.insert("content".into(), json!(message));
                if let Some(t) = run_data.and_then(|r| r.get("error_type")) {
                    m.insert("error_type".into(), t.clone());
                }
                if workflow {
                    m.insert("error".into(), json!(message));
                }
                out.push((name, Value::Object(m)));
            }
            EventKind::RunCancelled => {
                let name = if workflow { "WorkflowCancelled".into() } else { Self::name(kind, "RunCancelled") };
                let mut m = self.common(e, &name);
                m.insert("reason".into(), json!("cancelled"));
                out.push((name, Value::Object(m)));
            }
            EventKind::MemoryUpdateStarted | EventKind::SessionSummaryStarted => {
                let base = if matches!(e.kind, EventKind::MemoryUpdateStarted) {
                    "MemoryUpdateStarted"
                } else {
                    "SessionSummaryStarted"
                };
                let name = Self::name(kind, base);
                out.push((name.clone(), Value::Object(self.common(e, &name))));
            }
            EventKind::MemoryUpdateCompleted { changes, error } => {
                let name = Self::name(kind, "MemoryUpdateCompleted");
                let mut m = self.common(e, &name);
                // agno-run's own fields: what changed, or why it failed (Agno's `memories` list
                // is not sent).
                m.insert("changes".into(), changes.clone().unwrap_or(Value::Null));
                m.insert("error".into(), json!(error));
                m.retain(|_, v| !v.is_null());
                out.push((name, Value::Object(m)));
            }
            EventKind::SessionSummaryCompleted { summary, error } => {
                let name = Self::name(kind, "SessionSummaryCompleted");
                let mut m = self.common(e, &name);
                m.insert("session_summary".into(), summary.clone().unwrap_or(Value::Null));
                m.insert("error".into(), json!(error));
                m.retain(|_, v| !v.is_null());
                out.push((name, Value::Object(m)));
            }
            EventKind::AfterRun | EventKind::AfterRunDone => {}
            EventKind::StepStarted { step, step_type } => {
                let index = self.step_index(step);
                let info = StepInfo { id: crate::workflow::step_id_of(step), name: step.clone(), index };
                self.steps_started += 1;
                self.open_steps.push(info.clone());
                let mut m = self.common(e, "StepStarted");
                m.insert("step_id".into(), json!(info.id));
                m.insert("step_name".into(), json!(step));
                m.insert("step_index".into(), json!(index));
                m.insert("step_type".into(), json!(step_type));
                out.push(("StepStarted".into(), Value::Object(m)));
            }
            EventKind::StepCompleted { step, success, duration, detail } => {
                let pos = self.open_steps.iter().rposition(|s| s.name == *step);
                let info = pos.map(|p| self.open_steps.remove(p)).unwrap_or_else(|| StepInfo {
                    id: crate::workflow::step_id_of(step),
                    name: step.clone(),
                    index: self.step_index(step),
                });
                let mut m = self.common(e, "StepCompleted");
                m.insert("step_id".into(), json!(info.id));
                m.insert("step_name".into(), json!(step));
                m.insert("step_index".into(), json!(info.index));
                let output = self.step_output.remove(&info.id);
                let mut response = json!({
                    "step_name": step, "step_id": info.id, "success": success,
                    "error": if *success { Value::Null } else { json!(detail.clone().unwrap_or_else(|| "the step failed".into())) },
                    "metrics": { "duration": duration },
                    "stop": false, "is_paused": false,
                });
                if let Some((content, run_id, executor)) = output {
                    m.insert("content".into(), content.clone());
                    m.insert("content_type".into(), json!("str"));
                    response["content"] = content;
                    response["step_run_id"] = json!(run_id);
                    response["executor_type"] = json!(executor.kind.as_str());
                    response["executor_name"] = json!(self.name_of(&executor));
                }
                m.insert("step_response".into(), response);
                if let Some(d) = detail {
                    m.insert("detail".into(), json!(d));
                }
                out.push(("StepCompleted".into(), Value::Object(m)));
            }
        }
        out
    }

    /// A top-level step's position in the workflow; a nested step's order of starting.
    fn step_index(&self, step: &str) -> usize {
        let top = self
            .root_workflow_id
            .as_deref()
            .and_then(|w| self.generation.config().workflows.get(w))
            .and_then(|w| w.steps.iter().position(|s| s.name == step));
        top.unwrap_or(self.steps_started)
    }
}

/// Agno's `ToolExecution` dict.
fn tool_execution(call_id: &str, name: &str, arguments: &str, result: Option<(&String, bool)>) -> Value {
    let mut t = json!({ "tool_call_id": call_id, "tool_name": name });
    if let Ok(Value::Object(args)) = serde_json::from_str::<Value>(arguments) {
        t["tool_args"] = Value::Object(args);
    }
    if let Some((result, error)) = result {
        t["result"] = json!(result);
        t["tool_call_error"] = json!(error);
    }
    t
}
