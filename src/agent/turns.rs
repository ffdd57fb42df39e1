//! The model ↔ tools loop of one agent run: send the context, read the turn (its text reported
//! as it arrives), run the tools it calls (each under its timeout), until an answer or the
//! limits. It records everything into a [`Record`] as it goes, so that a failure or a cancel
//! still stores what happened.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use serde_json::{Value, json};

use super::Agent;
use super::prompt::{stored, to_chat, usage_json};
use crate::model::{ChatMessage, ModelEvent, Usage};
use crate::run::lifecycle::Failure;
use crate::run::{EventKind, Launcher, RunInput, Scope, SharedState};
use crate::store::now;
use crate::tool::{CallReport, ToolContext, Toolbox};

/// Most model turns in one run (more when `tool_call_limit` allows more calls).
pub(super) const MAX_TURNS: u32 = 32;
/// Most bytes a run's own messages may hold in all (answers, tool arguments and results): what
/// a model sends is bounded per turn, and this bounds the turns together.
pub(super) const MAX_RUN_BYTES: usize = 64 * 1024 * 1024;
/// Deepest nesting of a tool call's arguments: deeper JSON could not be read back from the
/// stored run (serde_json reads 128 levels, and the run wraps the arguments in a few more).
pub(super) const MAX_ARGS_DEPTH: usize = 32;

/// How deep `v` nests (a scalar is 0), stopping once past `limit`.
fn depth(v: &Value, limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    match v {
        Value::Array(a) => 1 + a.iter().map(|x| depth(x, limit - 1)).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(|x| depth(x, limit - 1)).max().unwrap_or(0),
        _ => 0,
    }
}

/// What a run did so far; filled as it goes.
#[derive(Debug, Default)]
pub(super) struct Record {
    /// This run's own messages (system, user, assistant, tool), as stored.
    pub messages: Vec<Value>,
    /// Agno's `ToolExecution`s.
    pub tools: Vec<Value>,
    /// Tokens of every model call.
    pub usage: Usage,
    /// The answer (or, after a failure, why).
    pub content: String,
    /// Seconds from the start to the first piece of text.
    pub first_token: Option<f64>,
    /// Member runs (their `run_data`) to keep in a leader's `member_responses`.
    pub member_responses: Vec<Value>,
    /// The last reply's `provider_data` (Agno's `model_provider_data`).
    pub provider_data: Option<Value>,
    /// Time spent waiting on the model and on tools (member runs included): the rest of the
    /// run's time is agno-run's own.
    pub waiting: std::time::Duration,
}

/// The tool message answering a call that was not run: the model is told why, and may try again.
fn not_run(call_id: &str, tool_name: &str, text: &str) -> Value {
    let mut message = stored("tool", Some(text), now());
    message["tool_call_id"] = json!(call_id);
    message["tool_name"] = json!(tool_name);
    message["tool_call_error"] = json!(true);
    message
}

fn unix_now_f64() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// The span of one model call (Agno's `OpenAIChat.invoke`), its input recorded only when traced.
fn model_span(model: &crate::model::Model, chat: &[ChatMessage], stream: bool, traced: bool) -> tracing::Span {
    use tracing::field::Empty;
    let class = model.class();
    let span = tracing::info_span!(
        target: crate::run::SPAN_TARGET,
        "model",
        otel.name = %format!("{class}.{}", if stream { "ainvoke_stream" } else { "ainvoke" }),
        otel.status_code = Empty,
        otel.status_description = Empty,
        agno_run.kind = "model",
        input.mime_type = "application/json",
        input.value = Empty,
        llm.model_name = model.name(),
        llm.provider = model.provider(),
        llm.system = if model.provider() == "OpenAI" { "openai" } else { "agno-run" },
        output.mime_type = "application/json",
        output.value = Empty,
        llm.token_count.prompt = Empty,
        llm.token_count.completion = Empty,
        llm.token_count.total = Empty,
        openinference.span.kind = "LLM",
    );
    if traced
        && !span.is_disabled()
        && let Ok(text) = serde_json::to_string(&json!({ "messages": chat }))
    {
        span.record("input.value", crate::run::span_text(&text).as_ref());
    }
    span
}

/// A model call's outcome on its span: the answer and tokens, or the error.
fn model_outcome(
    span: &tracing::Span,
    reply: Option<&Result<crate::model::Reply, crate::model::ModelError>>,
    traced: bool,
) {
    if span.is_disabled() {
        return;
    }
    match reply {
        Some(Ok(r)) => {
            // As i64: tracing-opentelemetry records a u64 as text.
            span.record("llm.token_count.prompt", r.usage.input_tokens.min(i64::MAX as u64) as i64);
            span.record("llm.token_count.completion", r.usage.output_tokens.min(i64::MAX as u64) as i64);
            span.record("llm.token_count.total", r.usage.total_tokens.min(i64::MAX as u64) as i64);
            span.record("otel.status_code", "ok");
            if !traced {
                return;
            }
            let calls: Vec<Value> = r
                .tool_calls
                .iter()
                .map(
                    |c| json!({"id": c.id, "function": {"arguments": c.arguments, "name": c.name}, "type": "function"}),
                )
                .collect();
            let mut message = json!({"role": "assistant"});
            if let Some(c) = &r.content {
                message["content"] = json!(c);
            }
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls);
            }
            let text = Value::Array(vec![message]).to_string();
            span.record("output.value", crate::run::span_text(&text).as_ref());
        }
        Some(Err(e)) => {
            span.record("otel.status_code", "error");
            span.record("otel.status_description", format!("ModelProviderError: {e}"));
        }
        None => {
            span.record("otel.status_code", "error");
            span.record("otel.status_description", "the reply grew past max_reply_bytes");
        }
    }
}

/// What the loop works with.
pub(super) struct Turns<'a> {
    pub agent: &'a Agent,
    /// The tools of this run (the agent's, with its MCP servers' as they are now).
    pub tools: &'a Toolbox,
    /// The memory and summary sections of the system message.
    pub extra: &'a str,
    pub scope: &'a Scope,
    pub input: &'a RunInput,
    /// History messages, already marked `from_history`.
    pub past: &'a [Value],
    pub state: &'a SharedState,
    pub launcher: &'a Arc<dyn Launcher>,
    pub clock: Instant,
}

impl Turns<'_> {
    /// Model ↔ tools until an answer.
    pub(super) async fn run(&self, record: &mut Record) -> Result<(), Failure> {
        let created = now();
        let state_now = self.state.lock().map(|s| s.clone()).unwrap_or_default();
        if let Some(system) = self.agent.system_message(&state_now, self.extra) {
            record.messages.push(stored("system", Some(&system), created));
        }
        record.messages.push(stored("user", Some(&self.input.message), created));
        let tools = self.tools;
        let limit = self.agent.config.settings.tool_call_limit;
        let continuation = self.agent.identity.continuation.as_deref();
        let max_turns =
            MAX_TURNS.max(limit.map_or(0, |l| l.saturating_add(1))).max(continuation.map_or(0, |c| c.max_turns()));
        let mut tool_calls_made = 0u32;
        let mut answers = 0u32;
        let mut tools_since_answer = false;
        let mut bytes = self.input.message.len();
        for _turn in 0..max_turns {
            // Context: system, history, then this run's messages after the system one.
            let (system, own) = match record.messages.first() {
                Some(m) if m["role"] == "system" => (Some(m), &record.messages[1..]),
                _ => (None, &record.messages[..]),
            };
            let chat: Vec<ChatMessage> =
                system.into_iter().chain(self.past.iter()).chain(own.iter()).map(to_chat).collect();
            let offer = if limit.is_some_and(|l| tool_calls_made >= l) { &[][..] } else { tools.specs() };
            let mut first_token = record.first_token;
            let clock = self.clock;
            let scope = self.scope;
            // `max_reply_bytes` holds while the reply streams: past it nothing more is shown and
            // the model call is dropped (a server streaming without end is cut there).
            let max_reply =
                self.agent.config.settings.max_reply_bytes.unwrap_or(crate::config::DEFAULT_MAX_REPLY_BYTES);
            let over = tokio::sync::Notify::new();
            let mut streamed: u64 = 0;
            let call_clock = Instant::now();
            let mut call_first_token: Option<f64> = None;
            let mut on_event = |e: ModelEvent<'_>| {
                let piece = match &e {
                    ModelEvent::Text(text) => text.len(),
                    ModelEvent::ToolCallDelta { arguments, .. } => arguments.map_or(0, str::len),
                    _ => 0,
                };
                streamed = streamed.saturating_add(piece as u64);
                if streamed > max_reply {
                    over.notify_one();
                    return;
                }
                if let ModelEvent::Text(text) = e {
                    first_token.get_or_insert(clock.elapsed().as_secs_f64());
                    call_first_token.get_or_insert(call_clock.elapsed().as_secs_f64());
                    scope.emit(EventKind::Content(text.to_string()));
                }
            };
            let span = model_span(&self.agent.model, &chat, self.input.stream, scope.traced());
            let reply = tokio::select! {
                reply = self.agent.model.complete(&chat, offer, self.input.stream, &mut on_event).instrument(span.clone()) => Some(reply),
                () = over.notified() => None,
            };
            record.waiting += call_clock.elapsed();
            model_outcome(&span, reply.as_ref(), scope.traced());
            drop(span);
            record.first_token = first_token;
            let Some(reply) = reply else {
                return Err(Failure::Malformed(format!(
                    "the model's reply grew past the {max_reply} bytes agent `{}` accepts (`max_reply_bytes`); the rest was not read and the reply was not stored",
                    self.agent.config.id
                )));
            };
            let reply = reply.map_err(Failure::Model)?;
            record.usage += reply.usage;
            let reply_bytes = reply.content.as_ref().map_or(0, String::len)
                + reply.tool_calls.iter().map(|c| c.arguments.len() + c.name.len()).sum::<usize>();
            let max_reply =
                self.agent.config.settings.max_reply_bytes.unwrap_or(crate::config::DEFAULT_MAX_REPLY_BYTES);
            if reply_bytes as u64 > max_reply {
                return Err(Failure::Malformed(format!(
                    "the model's reply is {reply_bytes} bytes, more than the {max_reply} bytes agent `{}` accepts (`max_reply_bytes`); the reply was not stored",
                    self.agent.config.id
                )));
            }
            bytes = bytes
                .saturating_add(reply.content.as_ref().map_or(0, String::len))
                .saturating_add(reply.tool_calls.iter().map(|c| c.arguments.len() + c.name.len()).sum());
            if bytes > MAX_RUN_BYTES {
                return Err(Failure::Malformed(format!(
                    "the run's messages grew past {MAX_RUN_BYTES} bytes; the model's answers and tool calls are too large"
                )));
            }
            let call_secs = call_clock.elapsed().as_secs_f64();
            let mut message = stored("assistant", reply.content.as_deref(), now());
            if reply.content.is_none()
                && let Some(m) = message.as_object_mut()
            {
                // Agno stores no `content` on a turn that only calls tools.
                m.remove("content");
            }
            message["metrics"] = usage_json(&reply.usage);
            message["metrics"]["duration"] = json!(call_secs);
            if let Some(t) = call_first_token {
                message["metrics"]["time_to_first_token"] = json!(t);
            }
            if let Some(data) = &reply.provider_data {
                message["provider_data"] = data.clone();
                record.provider_data = Some(data.clone());
            }
            if !reply.tool_calls.is_empty() {
                message["tool_calls"] = reply
                    .tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
            }
            record.messages.push(message);
            if reply.tool_calls.is_empty() {
                record.content = reply.content.unwrap_or_default();
                answers += 1;
                let state_now = self.state.lock().map(|s| s.clone()).unwrap_or_default();
                match continuation.and_then(|c| c.next(answers, &state_now, tools_since_answer)) {
                    Some(next) => {
                        record.messages.push(stored("user", Some(&next), now()));
                        tools_since_answer = false;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            // The calls of one turn run concurrently (several delegations, a broadcast); their
            // results are recorded in the order the model wrote them.
            let mut prepared = Vec::new();
            for call in &reply.tool_calls {
                if limit.is_some_and(|l| tool_calls_made >= l) {
                    // Over `tool_call_limit`: answered, not run (as Agno does).
                    let text = format!(
                        "Error: tool call limit of {} reached; `{}` was not run",
                        limit.unwrap_or(0),
                        call.name
                    );
                    prepared.push(Err(not_run(&call.id, &call.name, &text)));
                    continue;
                }
                let Some(tool) = tools.get(&call.name) else {
                    return Err(Failure::Malformed(format!(
                        "the model called the tool `{}`, which agent `{}` does not have",
                        call.name, self.agent.config.id
                    )));
                };
                let args: Value =
                    serde_json::from_str(if call.arguments.trim().is_empty() { "{}" } else { &call.arguments })
                        .map_err(|e| {
                            Failure::Malformed(format!(
                                "the model's arguments for the tool `{}` are not valid JSON ({e}): {}",
                                call.name,
                                call.arguments.chars().take(200).collect::<String>()
                            ))
                        })?;
                if depth(&args, MAX_ARGS_DEPTH + 1) > MAX_ARGS_DEPTH {
                    // Not run, and not stored parsed: the model is told, and may try again.
                    let text = format!(
                        "Error: the arguments of `{}` nest deeper than {MAX_ARGS_DEPTH} levels; the tool was not run",
                        call.name
                    );
                    prepared.push(Err(not_run(&call.id, &call.name, &text)));
                    continue;
                }
                tool_calls_made += 1;
                prepared.push(Ok((call, tool.clone(), args)));
            }
            let runs = prepared.iter().map(|p| async move {
                let Ok((call, tool, args)) = p else { return None };
                self.scope.emit(EventKind::ToolCallStarted {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                });
                let report = CallReport::default();
                let ctx = ToolContext {
                    scope: self.scope.clone(),
                    state: self.state.clone(),
                    launcher: self.launcher.clone(),
                    message: self.input.message.clone().into(),
                    stream: self.input.stream,
                    report: report.clone(),
                };
                let t0 = unix_now_f64();
                let result = Toolbox::invoke(tool.as_ref(), args.clone(), ctx).await;
                let t1 = unix_now_f64();
                let (text, error) = match result {
                    Ok(t) => (t, false),
                    Err(e) => (format!("Error: {e}"), true),
                };
                self.scope.emit(EventKind::ToolCallCompleted {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    result: text.clone(),
                    error,
                });
                Some((text, error, t0, t1, report.take()))
            });
            let tools_clock = Instant::now();
            let done = futures_util::future::join_all(runs).await;
            record.waiting += tools_clock.elapsed();
            let mut stop = Vec::new();
            for (p, out) in prepared.into_iter().zip(done) {
                let (call, args, (text, error, t0, t1, report)) = match (p, out) {
                    (Err(message), _) => {
                        record.messages.push(message);
                        continue;
                    }
                    (Ok((call, _, args)), Some(out)) => (call, args, out),
                    (Ok(_), None) => continue,
                };
                bytes = bytes.saturating_add(text.len());
                if bytes > MAX_RUN_BYTES {
                    return Err(Failure::Malformed(format!(
                        "the run's messages grew past {MAX_RUN_BYTES} bytes; the tool `{}` answered too much",
                        call.name
                    )));
                }
                tools_since_answer = true;
                record.tools.push(json!({
                    "tool_call_id": call.id, "tool_name": call.name, "tool_args": args, "tool_call_error": error,
                    "result": text, "metrics": {"start_time": t0, "end_time": t1, "duration": t1 - t0},
                    "child_run_id": report.child_run_ids.first(), "stop_after_tool_call": report.stop,
                    "created_at": now(), "requires_confirmation": null, "confirmed": null, "confirmation_note": null,
                    "requires_user_input": null, "user_input_schema": null, "user_feedback_schema": null,
                    "answered": null, "external_execution_required": null, "external_execution_silent": null,
                    "approval_type": null, "approval_id": null, "parent_tool_call_id": null,
                }));
                record.member_responses.extend(report.member_responses);
                let mut tool_message = stored("tool", Some(&text), now());
                tool_message["tool_call_id"] = json!(call.id);
                tool_message["tool_name"] = json!(call.name);
                tool_message["tool_args"] = args;
                tool_message["tool_call_error"] = json!(error);
                if report.stop {
                    tool_message["stop_after_tool_call"] = json!(true);
                    stop.push(text);
                }
                record.messages.push(tool_message);
            }
            if !stop.is_empty() {
                // A tool that ends the run (route mode's delegation): its result is the answer.
                // Unlike Agno (agno#8573), it is also stored as the run's last assistant message,
                // so that history and summaries see the answer.
                record.content = stop.join("\n\n");
                self.scope.emit(EventKind::Content(record.content.clone()));
                record.messages.push(stored("assistant", Some(&record.content), now()));
                return Ok(());
            }
        }
        Err(Failure::Malformed(format!(
            "the model made {max_turns} turns without answering (agno-run's bound on turns in one run{})",
            if limit.is_some() { ", from `tool_call_limit`" } else { "; `tool_call_limit` raises it" }
        )))
    }
}
