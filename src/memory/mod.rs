//! User memories and session summaries, as Agno 3.1.10 has them: a memory model that edits one
//! user's memories through Agno's tools (`add_memory`, `update_memory`, `delete_memory`,
//! `clear_memory`), the `update_user_memory` tool of agentic memory, the memory and summary
//! sections of a system message, and the summary model that writes `agno_sessions.summary`.
//!
//! Every operation is scoped by one user (Agno's `default` when a run has none): the memory
//! model's tools cannot reach another user's rows (unlike Agno's `clear_memory`, which clears
//! every user's). What a model sends is bounded here: turns, tool calls, memory and topic sizes.

pub mod prompt;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config::model::RunSettings;
use crate::model::{ChatMessage, Model, ModelError, ToolCall, Usage};
use crate::store::{Memory, MemoryQuery, Store, StoreError};
use crate::tool::{Tool, ToolContext, ToolError};
pub use prompt::Offer;

/// The user of a run without one, as Agno names it.
pub const DEFAULT_USER: &str = "default";
/// Most model turns of one memory update.
pub const MAX_TURNS: usize = 8;
/// Most tool calls of one memory update.
pub const MAX_CALLS: usize = 64;
/// Largest memory text, in bytes.
pub const MAX_MEMORY_BYTES: usize = 8 * 1024;
/// Most topics of one memory, and the longest topic in bytes.
pub const MAX_TOPICS: usize = 32;
/// The longest topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 256;
/// Most existing memories shown to the memory model (the newest).
pub const MAX_EXISTING: u32 = 500;
/// Largest reply of the memory or summary model, in bytes.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// Most runs a summary reads when `session_summary_last_n_runs` is not set.
pub const DEFAULT_SUMMARY_RUNS: u32 = 100;
/// Most memories in a system message by default.
pub const DEFAULT_IN_CONTEXT: u32 = 100;
/// Time one memory update or summary may take in all.
pub const DEADLINE: Duration = Duration::from_secs(300);

/// The user a memory operation is for.
pub fn user_of(user: Option<&str>) -> &str {
    user.filter(|u| !u.is_empty()).unwrap_or(DEFAULT_USER)
}

/// What a component's memory settings resolve to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Update memories after each run (off when agentic memory is on, as Agno).
    pub update_on_run: bool,
    /// The model has `update_user_memory`.
    pub agentic: bool,
    /// Memories in the system message, and how many at most.
    pub in_context: Option<u32>,
    /// Write a session summary after each top-level run.
    pub summaries: bool,
    /// The session's summary in the system message.
    pub summary_in_context: bool,
    /// Runs the summary reads.
    pub summary_runs: u32,
}

impl Settings {
    /// Agno's defaults over what the config says.
    pub fn of(s: &RunSettings) -> Settings {
        let agentic = s.enable_agentic_memory == Some(true);
        let update = s.update_memory_on_run == Some(true);
        let summaries = s.enable_session_summaries == Some(true);
        let in_context = s.add_memories_to_context.unwrap_or(update || agentic);
        Settings {
            update_on_run: update && !agentic,
            agentic,
            in_context: in_context.then(|| s.max_memories_in_context.unwrap_or(DEFAULT_IN_CONTEXT)),
            summaries,
            summary_in_context: s.add_session_summary_to_context.unwrap_or(summaries),
            summary_runs: s.session_summary_last_n_runs.unwrap_or(DEFAULT_SUMMARY_RUNS),
        }
    }

    /// True when anything runs after a run.
    pub fn after_run(&self) -> bool {
        self.update_on_run || self.summaries
    }
}

/// Why a memory update or a summary failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The model call failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// The model's answer is unusable.
    #[error("{0}")]
    Malformed(String),
    /// It took too long.
    #[error("it did not finish within {0:?}")]
    Deadline(Duration),
}

/// Who the memories belong to, and who writes them.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The user (never empty: `default` when the run had none).
    pub user: String,
    /// The agent that writes (Agno's `agent_id`), for an agent's run.
    pub agent_id: Option<String>,
    /// The team that writes, for a team leader's run.
    pub team_id: Option<String>,
}

/// What one memory update did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Changes {
    /// Ids of the memories added.
    pub added: Vec<String>,
    /// Ids of the memories changed.
    pub updated: Vec<String>,
    /// Ids of the memories deleted.
    pub deleted: Vec<String>,
    /// How many were removed by `clear_memory`.
    pub cleared: u64,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty() && self.cleared == 0
    }
}

/// The result of one memory update.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// What changed.
    pub changes: Changes,
    /// The memory model's last text (Agno returns it to the agentic tool's caller).
    pub reply: String,
    /// Tokens used.
    pub usage: Usage,
}

/// The user's memories for a system message: at most `limit`, the newest by update, shown
/// oldest first.
pub async fn for_context(store: &Store, user: &str, limit: u32) -> Result<Vec<String>, StoreError> {
    Ok(newest(store, user, limit).await?.iter().map(|m| text_of(&m.memory)).collect())
}

/// `user`'s newest `limit` memories (by update), oldest created first (as Agno lists them).
async fn newest(store: &Store, user: &str, limit: u32) -> Result<Vec<Memory>, StoreError> {
    let q = MemoryQuery { user_id: Some(user.into()), limit: Some(limit), ..Default::default() };
    let mut items = store.list_memories(&q).await?.items;
    items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.memory_id.cmp(&b.memory_id)));
    Ok(items)
}

/// A stored memory's text (Agno stores a JSON string; another program may store anything).
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs the memory model over `messages` (after the system message with the user's existing
/// memories) with the memory tools of `offer`, until it answers with text. `input` is stored as
/// each new memory's `input`.
pub async fn update(
    model: &Model,
    store: &Store,
    owner: &Owner,
    messages: Vec<ChatMessage>,
    input: &str,
    offer: Offer,
) -> Result<Update, MemoryError> {
    tokio::time::timeout(DEADLINE, update_inner(model, store, owner, messages, input, offer))
        .await
        .unwrap_or(Err(MemoryError::Deadline(DEADLINE)))
}

async fn update_inner(
    model: &Model,
    store: &Store,
    owner: &Owner,
    messages: Vec<ChatMessage>,
    input: &str,
    offer: Offer,
) -> Result<Update, MemoryError> {
    let existing = newest(store, &owner.user, MAX_EXISTING).await?;
    let existing: Vec<(String, String)> = existing.iter().map(|m| (m.memory_id.clone(), text_of(&m.memory))).collect();
    let mut chat = vec![ChatMessage::text("system", prompt::manager_system(&existing, offer))];
    chat.extend(messages);
    let tools = prompt::manager_tools(offer);
    let mut out = Update::default();
    let mut calls = 0usize;
    for _ in 0..MAX_TURNS {
        let mut ignore = |_: crate::model::ModelEvent<'_>| {};
        let reply = model.complete(&chat, &tools, false, &mut ignore).await?;
        out.usage += reply.usage;
        let size = reply.content.as_ref().map_or(0, String::len)
            + reply.tool_calls.iter().map(|c| c.arguments.len() + c.name.len()).sum::<usize>();
        if size > MAX_REPLY_BYTES {
            return Err(MemoryError::Malformed(format!(
                "the memory model's reply is {size} bytes, more than {MAX_REPLY_BYTES}"
            )));
        }
        if reply.tool_calls.is_empty() {
            out.reply = reply.content.unwrap_or_else(|| "No response from model".into());
            return Ok(out);
        }
        calls += reply.tool_calls.len();
        if calls > MAX_CALLS {
            return Err(MemoryError::Malformed(format!(
                "the memory model made more than {MAX_CALLS} tool calls in one update"
            )));
        }
        chat.push(ChatMessage {
            role: "assistant".into(),
            content: reply.content.clone(),
            tool_calls: reply.tool_calls.clone(),
            tool_call_id: None,
        });
        for call in &reply.tool_calls {
            let text = run_tool(store, owner, call, input, offer, &mut out.changes).await?;
            chat.push(ChatMessage {
                role: "tool".into(),
                content: Some(text),
                tool_calls: Vec::new(),
                tool_call_id: Some(call.id.clone()),
            });
        }
    }
    Err(MemoryError::Malformed(format!("the memory model made {MAX_TURNS} turns without answering")))
}

/// The text and topics a memory tool was given, checked against the bounds.
fn memory_args(args: &Map<String, Value>) -> Result<(String, Option<Value>), String> {
    let memory = match args.get("memory") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("`memory` must be a string".into()),
    };
    if memory.len() > MAX_MEMORY_BYTES {
        return Err(format!("the memory is longer than {MAX_MEMORY_BYTES} bytes"));
    }
    let topics = match args.get("topics") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            if list.len() > MAX_TOPICS {
                return Err(format!("more than {MAX_TOPICS} topics"));
            }
            let mut out = Vec::new();
            for t in list {
                match t.as_str() {
                    Some(t) if t.len() <= MAX_TOPIC_BYTES => out.push(json!(t)),
                    Some(_) => return Err(format!("a topic is longer than {MAX_TOPIC_BYTES} bytes")),
                    None => return Err("`topics` must be a list of strings".into()),
                }
            }
            Some(Value::Array(out))
        }
        Some(_) => return Err("`topics` must be a list of strings".into()),
    };
    Ok((memory, topics))
}

/// Runs one memory tool call for `owner`; its text goes back to the memory model. Only a
/// store that is down fails the update.
async fn run_tool(
    store: &Store,
    owner: &Owner,
    call: &ToolCall,
    input: &str,
    offer: Offer,
    changes: &mut Changes,
) -> Result<String, MemoryError> {
    let args: Map<String, Value> =
        match serde_json::from_str(if call.arguments.trim().is_empty() { "{}" } else { &call.arguments }) {
            Ok(Value::Object(m)) => m,
            _ => return Ok(format!("Error: the arguments of `{}` are not a JSON object", call.name)),
        };
    let allowed = match call.name.as_str() {
        "add_memory" => offer.add,
        "update_memory" => offer.update,
        "delete_memory" => offer.delete,
        "clear_memory" => offer.clear,
        _ => false,
    };
    if !allowed {
        return Ok(format!("Error: there is no tool named `{}`", call.name));
    }
    let now = crate::store::now();
    let row = |id: String, memory: String, topics: Option<Value>| Memory {
        memory_id: id,
        memory: json!(memory),
        input: Some(input.to_string()),
        agent_id: owner.agent_id.clone(),
        team_id: owner.team_id.clone(),
        user_id: Some(owner.user.clone()),
        topics,
        feedback: None,
        created_at: now,
        updated_at: Some(now),
    };
    let id_arg = || args.get("memory_id").and_then(Value::as_str).map(str::to_string);
    Ok(match call.name.as_str() {
        "add_memory" => match memory_args(&args) {
            Err(e) => format!("Error: {e}"),
            Ok((memory, topics)) => {
                let id = uuid::Uuid::new_v4().to_string();
                match store.upsert_memory(&row(id.clone(), memory, topics)).await {
                    Ok(_) => {
                        changes.added.push(id);
                        "Memory added successfully".into()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        },
        "update_memory" => match (id_arg(), memory_args(&args)) {
            (None, _) => "Error: `memory_id` must be a string".into(),
            (_, Err(e)) => format!("Error: {e}"),
            (Some(_), Ok((memory, _))) if memory.is_empty() => {
                "Can't update memory with empty string. Use the delete memory function if available.".into()
            }
            (Some(id), Ok((memory, topics))) => match store.upsert_memory(&row(id.clone(), memory, topics)).await {
                Ok(_) => {
                    changes.updated.push(id);
                    "Memory updated successfully".into()
                }
                // Another user's id: not theirs to change.
                Err(StoreError::NotFound { .. }) => "Error adding memory".into(),
                Err(e) => return Err(e.into()),
            },
        },
        "delete_memory" => match id_arg() {
            None => "Error: `memory_id` must be a string".into(),
            Some(id) => match store.delete_memory(&id, Some(&owner.user)).await {
                Ok(()) => {
                    changes.deleted.push(id);
                    "Memory deleted successfully".into()
                }
                Err(StoreError::NotFound { .. }) => "Error deleting memory".into(),
                Err(e) => return Err(e.into()),
            },
        },
        _ => {
            changes.cleared += store.clear_memories(&owner.user).await?;
            "Memory cleared successfully".into()
        }
    })
}

/// Agno's `update_user_memory`: the model hands a task to the memory model.
#[derive(Debug)]
pub struct UpdateUserMemory {
    spec: crate::model::ToolSpec,
    model: Model,
}

impl UpdateUserMemory {
    /// The tool, handing its tasks to `model`.
    pub fn new(model: Model) -> Arc<UpdateUserMemory> {
        Arc::new(UpdateUserMemory { spec: prompt::update_user_memory_spec(), model })
    }
}

impl Tool for UpdateUserMemory {
    fn spec(&self) -> &crate::model::ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> Duration {
        DEADLINE
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let task = crate::tool::string_arg(&args, "task")?.to_string();
            if task.len() > MAX_REPLY_BYTES {
                return Err(ToolError::InvalidArguments(format!("the task is longer than {MAX_REPLY_BYTES} bytes")));
            }
            // As Agno's task path: the memories it writes name no agent or team.
            let owner = Owner { user: user_of(ctx.scope.user_id()).to_string(), agent_id: None, team_id: None };
            let messages = vec![ChatMessage::text("user", task.clone())];
            match update(&self.model, ctx.scope.store(), &owner, messages, &task, Offer::TASK).await {
                Ok(u) => {
                    tracing::info!(run_id = ctx.scope.run_id(), user = %owner.user, changes = ?u.changes, "memory task done");
                    Ok(u.reply)
                }
                Err(e) => Err(ToolError::Failed(format!("the memory update failed: {e}"))),
            }
        })
    }
}

/// Writes a summary of the session's last `runs` completed runs with `model`; returns it as
/// stored in `agno_sessions.summary` (`{summary, topics, updated_at}`).
pub async fn summarize(model: &Model, store: &Store, session_id: &str, runs: u32) -> Result<Value, MemoryError> {
    tokio::time::timeout(DEADLINE, summarize_inner(model, store, session_id, runs))
        .await
        .unwrap_or(Err(MemoryError::Deadline(DEADLINE)))
}

async fn summarize_inner(model: &Model, store: &Store, session_id: &str, runs: u32) -> Result<Value, MemoryError> {
    let history = store.history_runs(session_id, runs).await?;
    let conversation: Vec<(String, Option<String>)> = history
        .iter()
        .flat_map(|r| r.run_data.get("messages").and_then(Value::as_array).into_iter().flatten())
        .filter(|m| m.get("from_history") != Some(&Value::Bool(true)))
        .filter_map(|m| {
            let role = m.get("role")?.as_str()?.to_string();
            Some((role, m.get("content").and_then(Value::as_str).map(str::to_string)))
        })
        .collect();
    if conversation.is_empty() {
        return Err(MemoryError::Malformed("the session has no completed run to summarize".into()));
    }
    let chat = vec![
        ChatMessage::text("system", prompt::summary_system(&conversation)),
        ChatMessage::text("user", prompt::SUMMARY_REQUEST),
    ];
    let format = prompt::summary_response_format();
    let mut ignore = |_: crate::model::ModelEvent<'_>| {};
    let reply = model.complete_as(&chat, &[], false, Some(&format), &mut ignore).await?;
    let text = reply.content.unwrap_or_default();
    if text.len() > MAX_REPLY_BYTES {
        return Err(MemoryError::Malformed(format!(
            "the summary model's reply is {} bytes, more than {MAX_REPLY_BYTES}",
            text.len()
        )));
    }
    let summary = parse_summary(&text)?;
    store.update_session_summary(session_id, summary.clone()).await?;
    Ok(summary)
}

/// The summary model's answer as Agno stores it: `{summary, topics?, updated_at}` (a JSON object,
/// possibly in a Markdown code fence, as Agno's `parse_response_model_str` accepts).
pub fn parse_summary(text: &str) -> Result<Value, MemoryError> {
    let t = text.trim();
    let body = match (t.find('{'), t.rfind('}')) {
        (Some(a), Some(b)) if a < b => &t[a..=b],
        _ => return Err(MemoryError::Malformed("the summary model did not answer with a JSON object".into())),
    };
    let v: Value = serde_json::from_str(body)
        .map_err(|e| MemoryError::Malformed(format!("the summary model's answer is not valid JSON: {e}")))?;
    let Some(summary) = v.get("summary").and_then(Value::as_str) else {
        return Err(MemoryError::Malformed("the summary model's answer has no `summary` string".into()));
    };
    let mut out = json!({"summary": summary});
    match v.get("topics") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) if list.iter().all(Value::is_string) && list.len() <= MAX_TOPICS => {
            out["topics"] = Value::Array(list.clone());
        }
        Some(_) => return Err(MemoryError::Malformed("the summary's `topics` is not a short list of strings".into())),
    }
    out["updated_at"] = json!(iso_now());
    Ok(out)
}

/// Now as Python's `datetime.now().isoformat()` writes it (UTC, microseconds, no offset), so
/// that Agno's `datetime.fromisoformat` reads it.
fn iso_now() -> String {
    crate::pyrepr::isoformat(time::OffsetDateTime::now_utc())
}

/// What an optimization did.
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The memories after it (one, when there were any).
    pub memories: Vec<Memory>,
    /// How many there were.
    pub before: usize,
    /// Estimated tokens before and after (a token per 4 bytes of text, rounded up; Agno counts
    /// with its tokenizer).
    pub tokens: (u64, u64),
}

/// Estimated tokens of `texts`.
fn tokens_of<'a>(texts: impl IntoIterator<Item = &'a str>) -> u64 {
    texts.into_iter().map(|t| (t.len() as u64).div_ceil(4)).sum()
}

/// Agno's `optimize_memories` with its `SUMMARIZE` strategy: `user`'s memories summarized by
/// `model` into one (its topics the union, its agent or team kept when all agree). With
/// `apply`, the summary is written first and the old memories then deleted (never another
/// user's), so a failure loses nothing.
pub async fn optimize(model: &Model, store: &Store, user: &str, apply: bool) -> Result<Optimized, MemoryError> {
    let old = newest(store, user, MAX_EXISTING).await?;
    let texts: Vec<String> = old.iter().map(|m| text_of(&m.memory)).filter(|t| !t.is_empty()).collect();
    let before = tokens_of(texts.iter().map(String::as_str));
    if old.is_empty() {
        return Ok(Optimized { memories: Vec::new(), before: 0, tokens: (0, 0) });
    }
    let chat = vec![
        ChatMessage::text("system", prompt::OPTIMIZE_SYSTEM),
        ChatMessage::text("user", prompt::optimize_request(&texts)),
    ];
    let mut ignore = |_: crate::model::ModelEvent<'_>| {};
    let reply = tokio::time::timeout(DEADLINE, model.complete(&chat, &[], false, &mut ignore))
        .await
        .map_err(|_| MemoryError::Deadline(DEADLINE))??;
    let text = reply.content.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| texts.join(" "));
    let text = text.trim().to_string();
    if text.len() > MAX_MEMORY_BYTES * 8 {
        return Err(MemoryError::Malformed(format!(
            "the optimized memory is longer than {} bytes",
            MAX_MEMORY_BYTES * 8
        )));
    }
    let mut topics: Vec<Value> = Vec::new();
    for t in old.iter().filter_map(|m| m.topics.as_ref()).filter_map(Value::as_array).flatten() {
        if !topics.contains(t) {
            topics.push(t.clone());
        }
    }
    let one = |ids: Vec<&Option<String>>| {
        let set: std::collections::BTreeSet<&String> = ids.into_iter().flatten().collect();
        if set.len() == 1 { set.into_iter().next().cloned() } else { None }
    };
    let now = crate::store::now();
    let summary = Memory {
        memory_id: uuid::Uuid::new_v4().to_string(),
        memory: json!(text),
        input: None,
        agent_id: one(old.iter().map(|m| &m.agent_id).collect()),
        team_id: one(old.iter().map(|m| &m.team_id).collect()),
        user_id: Some(user.into()),
        topics: (!topics.is_empty()).then_some(Value::Array(topics)),
        feedback: None,
        created_at: now,
        updated_at: Some(now),
    };
    let after = tokens_of([text.as_str()]);
    let summary = if apply {
        let stored = store.upsert_memory(&summary).await?;
        for m in &old {
            match store.delete_memory(&m.memory_id, Some(user)).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        stored
    } else {
        summary
    };
    Ok(Optimized { memories: vec![summary], before: old.len(), tokens: (before, after) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_parse_as_agno_accepts_them() {
        let v = parse_summary("```json\n{\"summary\": \"Ana likes tea\", \"topics\": [\"tea\"]}\n```").unwrap();
        assert_eq!((v["summary"].as_str(), v["topics"][0].as_str()), (Some("Ana likes tea"), Some("tea")));
        assert!(v["updated_at"].as_str().is_some_and(|s| s.len() == 26 && s.as_bytes()[10] == b'T'));
        let v = parse_summary("{\"summary\": \"x\", \"topics\": null}").unwrap();
        assert!(v.get("topics").is_none(), "None topics are not stored, as Agno's to_dict");
        for bad in ["no json", "{\"topics\": []}", "{\"summary\": 3}", "{\"summary\": \"x\", \"topics\": [1]}"] {
            assert!(parse_summary(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_follow_agno_defaults() {
        let s = |f: &dyn Fn(&mut RunSettings)| {
            let mut r = RunSettings::default();
            f(&mut r);
            Settings::of(&r)
        };
        assert_eq!(s(&|_| {}), Settings { summary_runs: DEFAULT_SUMMARY_RUNS, ..Default::default() });
        let on = s(&|r| r.update_memory_on_run = Some(true));
        assert!(on.update_on_run && on.in_context == Some(DEFAULT_IN_CONTEXT));
        let agentic = s(&|r| {
            r.update_memory_on_run = Some(true);
            r.enable_agentic_memory = Some(true);
        });
        assert!(!agentic.update_on_run && agentic.agentic, "agentic memory replaces the update after a run");
        let summaries = s(&|r| r.enable_session_summaries = Some(true));
        assert!(summaries.summaries && summaries.summary_in_context && summaries.in_context.is_none());
    }

    #[test]
    fn memory_arguments_are_bounded() {
        let args = |v: Value| v.as_object().cloned().unwrap();
        assert!(memory_args(&args(json!({"memory": "x".repeat(MAX_MEMORY_BYTES + 1)}))).is_err());
        assert!(memory_args(&args(json!({"memory": "x", "topics": vec!["t"; MAX_TOPICS + 1]}))).is_err());
        assert!(memory_args(&args(json!({"memory": "x", "topics": ["y".repeat(MAX_TOPIC_BYTES + 1)]}))).is_err());
        assert!(memory_args(&args(json!({"memory": "x", "topics": [1]}))).is_err());
        let (m, t) = memory_args(&args(json!({"memory": "likes tea", "topics": ["food"]}))).unwrap();
        assert_eq!((m.as_str(), t), ("likes tea", Some(json!(["food"]))));
    }
}
