//! The agent run, with Agno's semantics: system message (description, instructions, date,
//! session state), history of the last runs (marked `from_history`, never stored again), the
//! user message, then model ↔ tools until an answer or `tool_call_limit`. The run row goes
//! RUNNING → COMPLETED, ERROR or CANCELLED; the session row gets the state, metrics and
//! `agent_data`.
//!
//! It holds no state between runs: everything it needs is in the store.

use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::config::model::Instructions;
use crate::model::{ChatMessage, Model, ModelError, ToolCall, Usage};
use crate::store::{Run, Session, SessionType, Store, StoreError, deep_merge, now};
use crate::tool::{Context, Toolbox};

/// Most model turns in one run when no `tool_call_limit` is set.
const MAX_TURNS: u32 = 32;

/// An agent ready to run: its config, model, store and tools.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The agent's config.
    pub config: AgentConfig,
    /// Its model.
    pub model: Model,
    /// The store its sessions go to.
    pub store: Store,
    /// Its tools.
    pub tools: Toolbox,
}

/// One run's input.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// The user's message.
    pub message: String,
    /// Continue this session (created when missing); a new one when None.
    pub session_id: Option<String>,
    /// The user; a session owned by another user is refused.
    pub user_id: Option<String>,
    /// State merged over the stored state for this run.
    pub session_state: Option<Map<String, Value>>,
    /// Stream the reply from the model.
    pub stream: bool,
}

/// What happens during a run, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run row exists.
    RunStarted {
        /// Run id.
        run_id: String,
        /// Session id.
        session_id: String,
    },
    /// A piece of the answer.
    Content(String),
    /// A tool is about to run.
    ToolCallStarted {
        /// Tool name.
        name: String,
        /// Its arguments as the model wrote them.
        arguments: String,
    },
    /// A tool finished.
    ToolCallCompleted {
        /// Tool name.
        name: String,
        /// Its result or error text.
        result: String,
        /// True when it failed.
        error: bool,
    },
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
}

/// Why a run failed. When the run row exists its id is given; it is stored as ERROR or CANCELLED.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed (or refused, e.g. another user's session).
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// The run was cancelled.
    #[error("run {run_id} was cancelled")]
    Cancelled {
        /// The run stored as CANCELLED.
        run_id: String,
        /// Session id.
        session_id: String,
    },
}

/// The system message for an agent, or None when it would be empty.
pub fn system_message(agent: &AgentConfig, state: &Map<String, Value>) -> Option<String> {
    let s = &agent.settings;
    let mut parts = Vec::new();
    if let Some(d) = &s.description {
        parts.push(d.clone());
    }
    match &s.instructions {
        Some(Instructions::One(i)) => parts.push(i.clone()),
        Some(Instructions::Many(list)) if !list.is_empty() => {
            parts.push(format!(
                "<instructions>\n{}\n</instructions>",
                list.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")
            ));
        }
        _ => {}
    }
    let mut extra = Vec::new();
    if s.markdown == Some(true) {
        extra.push("- Use markdown to format your answers.".to_string());
    }
    if s.add_datetime_to_context == Some(true) {
        let now = time::OffsetDateTime::now_utc();
        let fmt = time::format_description::well_known::Rfc3339;
        extra.push(format!("- The current time is {} (UTC).", now.format(&fmt).unwrap_or_default()));
    }
    if !extra.is_empty() {
        parts.push(format!("<additional_information>\n{}\n</additional_information>", extra.join("\n")));
    }
    if s.add_session_state_to_context == Some(true) {
        parts.push(format!("<session_state>\n{}\n</session_state>", Value::Object(state.clone())));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// The history messages for a run, oldest first, marked `from_history` (Agno's rules: the last
/// `num_history_runs` eligible runs, default 3, or the last `num_history_messages` messages;
/// no system messages; no leading orphan tool results).
pub async fn history(agent: &AgentConfig, store: &Store, session_id: &str) -> Result<Vec<Value>, StoreError> {
    let s = &agent.settings;
    if s.add_history_to_context != Some(true) {
        return Ok(Vec::new());
    }
    let (runs, limit) = match (s.num_history_runs, s.num_history_messages) {
        (_, Some(m)) if s.num_history_runs.is_none() => (store.history_runs(session_id, m).await?, Some(m as usize)),
        (n, _) => (store.history_runs(session_id, n.unwrap_or(3)).await?, None),
    };
    let mut messages: Vec<Value> = runs
        .iter()
        .flat_map(|r| r.run_data.get("messages").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter(|m| m.get("from_history") != Some(&Value::Bool(true)))
        .filter(|m| m.get("role").and_then(Value::as_str) != Some("system"))
        .collect();
    if let Some(limit) = limit
        && messages.len() > limit
    {
        messages.drain(..messages.len() - limit);
    }
    while messages.first().is_some_and(|m| m.get("role").and_then(Value::as_str) == Some("tool")) {
        messages.remove(0);
    }
    for m in &mut messages {
        m["from_history"] = json!(true);
    }
    Ok(messages)
}

/// A stored message (Agno's `Message` dict).
fn stored(role: &str, content: Option<&str>, created_at: i64) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "role": role,
        "content": content,
        "from_history": false,
        "stop_after_tool_call": false,
        "created_at": created_at,
    })
}

/// A stored message as the model sees it.
fn to_chat(m: &Value) -> ChatMessage {
    let tool_calls = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| ToolCall {
            id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
            name: c.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_string(),
            arguments: c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}").to_string(),
        })
        .collect();
    ChatMessage {
        role: m.get("role").and_then(Value::as_str).unwrap_or("user").to_string(),
        content: m.get("content").and_then(Value::as_str).map(str::to_string),
        tool_calls,
        tool_call_id: m.get("tool_call_id").and_then(Value::as_str).map(str::to_string),
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens})
}

/// The work of one run after its row exists; fills `record` as it goes so that a failure still
/// stores everything that happened.
struct Record {
    messages: Vec<Value>,
    tools: Vec<Value>,
    usage: Usage,
    content: String,
    first_token: Option<f64>,
}

impl Agent {
    /// `agent_data` as Agno stores it.
    pub fn agent_data(&self) -> Value {
        json!({"name": self.config.name, "agent_id": self.config.id, "model": self.model.describe()})
    }

    /// Runs the agent once; events are reported as they happen. A run cancelled through `cancel`
    /// is stored as CANCELLED.
    pub async fn run(
        &self,
        input: RunInput,
        events: &mut (dyn FnMut(Event) + Send),
        cancel: &CancellationToken,
    ) -> Result<RunOutput, RunError> {
        let started = Instant::now();
        let session_id = input.session_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let user_id = input.user_id.clone();
        // The session: existing (ownership enforced) or new.
        let mut state = self.config.settings.session_state.clone().unwrap_or_default();
        // History is read before this run's row exists (it must not count itself), at the same
        // time as the session.
        let (existing, history) =
            tokio::join!(self.store.get_session(&session_id, None), history(&self.config, &self.store, &session_id));
        let history = history?;
        let session = match existing {
            Ok(s) => {
                if let (Some(owner), Some(user)) = (&s.user_id, &user_id)
                    && owner != user
                {
                    return Err(StoreError::Conflict(format!("session `{session_id}` belongs to another user")).into());
                }
                s
            }
            Err(StoreError::NotFound { .. }) => {
                let mut s = Session::new(&session_id, SessionType::Agent, &self.config.id);
                s.user_id = user_id.clone();
                s.agent_data = Some(self.agent_data());
                s.session_data = Some(json!({"session_state": state}));
                self.store.upsert_session(&s).await?
            }
            Err(e) => return Err(e.into()),
        };
        let mut merged = Value::Object(state);
        if let Some(stored) = session.session_state() {
            deep_merge(&mut merged, &Value::Object(stored.clone()));
        }
        if let Some(run_state) = &input.session_state {
            deep_merge(&mut merged, &Value::Object(run_state.clone()));
        }
        state = match merged {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for transient in ["current_session_id", "current_user_id", "current_run_id"] {
            state.remove(transient);
        }

        let run_id = uuid::Uuid::new_v4().to_string();
        let created_at = now();
        let mut run = Run::new(&run_id, &session_id, SessionType::Agent, "RUNNING");
        run.agent_id = Some(self.config.id.clone());
        run.user_id = user_id.clone();
        run.created_at = created_at;
        run.run_data = json!({
            "run_id": run_id, "agent_id": self.config.id, "agent_name": self.config.name, "session_id": session_id,
            "user_id": user_id, "status": "RUNNING", "created_at": created_at, "input": {"input_content": input.message},
        });
        let run = self.store.append_run(&run).await?;
        events(Event::RunStarted { run_id: run_id.clone(), session_id: session_id.clone() });

        let mut record = Record {
            messages: Vec::new(),
            tools: Vec::new(),
            usage: Usage::default(),
            content: String::new(),
            first_token: None,
        };
        let outcome = tokio::select! {
            r = self.turns(&input, &session_id, user_id.as_deref(), &history, &mut state, &mut record, events, started) => r,
            () = cancel.cancelled() => Err(Failure::Cancelled),
        };
        let (status, failure) = match outcome {
            Ok(()) => ("COMPLETED", None),
            Err(Failure::Cancelled) => ("CANCELLED", Some(Failure::Cancelled)),
            Err(f) => ("ERROR", Some(f)),
        };
        if let Some(Failure::Model(e)) = &failure {
            record.content = e.to_string();
        } else if let Some(Failure::Malformed(m)) = &failure {
            record.content = m.clone();
        }
        let mut metrics = usage_json(&record.usage);
        metrics["duration"] = json!(started.elapsed().as_secs_f64());
        if let Some(t) = record.first_token {
            metrics["time_to_first_token"] = json!(t);
        }
        let mut details = usage_json(&record.usage);
        details["id"] = json!(self.model.name());
        details["provider"] = json!(self.model.provider());
        metrics["details"] = json!({"model": [details]});
        let run_data = json!({
            "run_id": run_id, "agent_id": self.config.id, "agent_name": self.config.name, "session_id": session_id,
            "user_id": user_id, "content": record.content, "content_type": "str", "model": self.model.name(),
            "model_provider": self.model.provider(), "status": status, "created_at": created_at, "metrics": metrics,
            "messages": record.messages, "tools": record.tools, "input": {"input_content": input.message},
            "session_state": state,
        });
        let usage = record.usage;
        let agent_data = self.agent_data();
        let final_state = state.clone();
        let (stored, _) = self
            .store
            .finish_run(
                &run.run_id,
                status,
                &run_data,
                &session_id,
                Box::new(move |s| {
                    let data = s.session_data.get_or_insert_with(|| json!({}));
                    if !data.is_object() {
                        *data = json!({});
                    }
                    let st = data.as_object_mut().map(|d| d.entry("session_state").or_insert_with(|| json!({})));
                    if let Some(st) = st {
                        deep_merge(st, &Value::Object(final_state));
                    }
                    let m = data["session_metrics"].take();
                    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
                    data["session_metrics"] = json!({
                        "input_tokens": n("input_tokens") + usage.input_tokens,
                        "output_tokens": n("output_tokens") + usage.output_tokens,
                        "total_tokens": n("total_tokens") + usage.total_tokens,
                    });
                    s.agent_data = Some(agent_data);
                    Ok(())
                }),
            )
            .await?;
        match failure {
            None => Ok(RunOutput { run: stored, content: record.content, session_id }),
            Some(Failure::Cancelled) => Err(RunError::Cancelled { run_id, session_id }),
            Some(Failure::Model(source)) => Err(RunError::Model { run_id, session_id, source }),
            Some(Failure::Malformed(message)) => Err(RunError::Malformed { run_id, session_id, message }),
        }
    }

    /// Model ↔ tools until an answer.
    #[allow(clippy::too_many_arguments)]
    async fn turns(
        &self,
        input: &RunInput,
        session_id: &str,
        user_id: Option<&str>,
        past: &[Value],
        state: &mut Map<String, Value>,
        record: &mut Record,
        events: &mut (dyn FnMut(Event) + Send),
        started: Instant,
    ) -> Result<(), Failure> {
        let created = now();
        if let Some(system) = system_message(&self.config, state) {
            record.messages.push(stored("system", Some(&system), created));
        }
        record.messages.push(stored("user", Some(&input.message), created));
        let specs = self.tools.specs();
        let limit = self.config.settings.tool_call_limit;
        let mut tool_calls_made = 0u32;
        for _turn in 0..MAX_TURNS {
            // Context: system, history, then this run's messages after the system one.
            let mut chat: Vec<ChatMessage> = Vec::new();
            let (system, own) = match record.messages.first() {
                Some(m) if m["role"] == "system" => (Some(m), &record.messages[1..]),
                _ => (None, &record.messages[..]),
            };
            chat.extend(system.map(to_chat));
            chat.extend(past.iter().map(to_chat));
            chat.extend(own.iter().map(to_chat));
            let offer = if limit.is_some_and(|l| tool_calls_made >= l) { &[][..] } else { &specs[..] };
            let mut first_token = record.first_token;
            let mut on_delta = |text: &str| {
                first_token.get_or_insert(started.elapsed().as_secs_f64());
                events(Event::Content(text.to_string()));
            };
            let reply = if input.stream {
                self.model.complete(&chat, offer, Some(&mut on_delta)).await
            } else {
                self.model.complete(&chat, offer, None).await
            }
            .map_err(Failure::Model)?;
            record.first_token = first_token;
            record.usage += reply.usage;
            let mut message = stored("assistant", reply.content.as_deref(), now());
            message["metrics"] = usage_json(&reply.usage);
            if !reply.tool_calls.is_empty() {
                message["tool_calls"] = reply
                    .tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
            }
            record.messages.push(message);
            if reply.tool_calls.is_empty() {
                let content = reply.content.unwrap_or_default();
                if !input.stream && !content.is_empty() {
                    events(Event::Content(content.clone()));
                }
                record.content = content;
                return Ok(());
            }
            for call in &reply.tool_calls {
                if limit.is_some_and(|l| tool_calls_made >= l) {
                    // Over `tool_call_limit`: answered, not run (as Agno does).
                    let text = format!(
                        "Error: tool call limit of {} reached; `{}` was not run",
                        limit.unwrap_or(0),
                        call.name
                    );
                    let mut tool_message = stored("tool", Some(&text), now());
                    tool_message["tool_call_id"] = json!(call.id);
                    tool_message["tool_name"] = json!(call.name);
                    tool_message["tool_call_error"] = json!(true);
                    record.messages.push(tool_message);
                    continue;
                }
                if !self.tools.has(&call.name) {
                    return Err(Failure::Malformed(format!(
                        "the model called the tool `{}`, which agent `{}` does not have",
                        call.name, self.config.id
                    )));
                }
                let args: Value =
                    serde_json::from_str(if call.arguments.trim().is_empty() { "{}" } else { &call.arguments })
                        .map_err(|e| {
                            Failure::Malformed(format!(
                                "the model's arguments for the tool `{}` are not valid JSON ({e}): {}",
                                call.name,
                                call.arguments.chars().take(200).collect::<String>()
                            ))
                        })?;
                events(Event::ToolCallStarted { name: call.name.clone(), arguments: call.arguments.clone() });
                let t0 = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
                let mut ctx = Context { store: &self.store, session_id, user_id, agent_id: &self.config.id, state };
                let result = self.tools.call(&call.name, &args, &mut ctx).await;
                let t1 = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
                let (text, error) = match result {
                    Ok(t) => (t, false),
                    Err(e) => (format!("Error: {e}"), true),
                };
                tool_calls_made += 1;
                events(Event::ToolCallCompleted { name: call.name.clone(), result: text.clone(), error });
                record.tools.push(json!({
                    "tool_call_id": call.id, "tool_name": call.name, "tool_args": args, "tool_call_error": error,
                    "result": text, "metrics": {"start_time": t0, "end_time": t1, "duration": t1 - t0}, "created_at": now(),
                }));
                let mut tool_message = stored("tool", Some(&text), now());
                tool_message["tool_call_id"] = json!(call.id);
                tool_message["tool_name"] = json!(call.name);
                tool_message["tool_args"] = args;
                tool_message["tool_call_error"] = json!(error);
                record.messages.push(tool_message);
            }
        }
        Err(Failure::Malformed(format!(
            "no answer after {MAX_TURNS} model turns; set `tool_call_limit` to bound tool use"
        )))
    }
}

/// Why the turns stopped early.
enum Failure {
    Model(ModelError),
    Malformed(String),
    Cancelled,
}
