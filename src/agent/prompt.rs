//! What an agent sends before the model answers: its system message (description,
//! instructions, date, session state) and the history of earlier runs (Agno's rules), and the
//! conversions between stored messages (Agno's `Message` dicts) and chat messages.

use serde_json::{Map, Value, json};

use crate::config::AgentConfig;
use crate::config::model::Instructions;
use crate::model::{ChatMessage, ToolCall, Usage};
use crate::store::Run;

/// The system message for an agent, or None when it would be empty.
pub fn system_message(agent: &AgentConfig, state: &Map<String, Value>) -> Option<String> {
    system_message_with(agent, state, "")
}

/// The system message with `extra` (the memory and summary sections) where Agno puts them:
/// after the agent's own sections, before the session state.
pub fn system_message_with(agent: &AgentConfig, state: &Map<String, Value>, context: &str) -> Option<String> {
    let s = &agent.settings;
    let mut parts = Vec::new();
    if let Some(d) = &s.description {
        parts.push(d.clone());
    }
    if let Some(role) = &agent.role {
        parts.push(format!("<your_role>\n{role}\n</your_role>"));
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
    with_context(parts.join("\n\n"), context, (s.add_session_state_to_context == Some(true)).then_some(state))
}

/// `text` followed, as Agno lays them out, by `extra` (the memory and summary sections, with
/// their own newlines) and the `<session_state>` section; None when all are empty.
pub fn with_context(mut text: String, extra: &str, state: Option<&Map<String, Value>>) -> Option<String> {
    if !text.is_empty() && (!extra.is_empty() || state.is_some()) {
        // Agno ends each section with a blank line.
        text.push_str("\n\n");
    }
    text.push_str(extra);
    if let Some(state) = state {
        // Agno's section starts with its own blank line.
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&state_section(state));
    }
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The `<session_state>` section of a system message: the state as Python's `repr`, as Agno
/// writes it (the run's `current_*` keys included).
pub fn state_section(state: &Map<String, Value>) -> String {
    let text = crate::pyrepr::repr(&Value::Object(state.clone()));
    format!("<session_state>\n{text}\n</session_state>")
}

/// How many earlier runs to read for the history: `num_history_runs` (default 3), or, with
/// `num_history_messages`, enough runs to hold that many messages; 0 without
/// `add_history_to_context`.
pub fn history_runs(agent: &AgentConfig) -> u32 {
    let s = &agent.settings;
    if s.add_history_to_context != Some(true) {
        return 0;
    }
    match (s.num_history_runs, s.num_history_messages) {
        (None, Some(m)) => m,
        (n, _) => n.unwrap_or(3),
    }
}

/// The history messages for a run from its history runs, oldest first, marked `from_history`
/// (Agno's rules: the runs' own messages, no system messages; with `num_history_messages`, the
/// last that many; no leading orphan tool results).
pub fn history(agent: &AgentConfig, runs: Vec<Run>) -> Vec<Value> {
    let s = &agent.settings;
    let limit = match (s.num_history_runs, s.num_history_messages) {
        (None, Some(m)) => Some(m as usize),
        _ => None,
    };
    let mut messages: Vec<Value> = runs
        .into_iter()
        .flat_map(|mut r| match r.run_data.get_mut("messages").map(Value::take) {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        })
        // A stored message that is not an object (a row another program wrote) is skipped.
        .filter(Value::is_object)
        .filter(|m| m.get("from_history") != Some(&Value::Bool(true)))
        .filter(|m| m.get("role").and_then(Value::as_str) != Some("system"))
        .collect();
    if let Some(limit) = limit
        && messages.len() > limit
    {
        messages.drain(..messages.len() - limit);
    }
    let orphans = messages.iter().take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool")).count();
    messages.drain(..orphans);
    for m in &mut messages {
        m["from_history"] = json!(true);
    }
    messages
}

/// A stored message (Agno's `Message` dict).
pub(crate) fn stored(role: &str, content: Option<&str>, created_at: i64) -> Value {
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
pub(crate) fn to_chat(m: &Value) -> ChatMessage {
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

/// Agno's token fields of a metrics dict.
pub(crate) fn usage_json(u: &Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens})
}
