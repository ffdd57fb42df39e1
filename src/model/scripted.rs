//! The scripted model: replies listed in the config, given in turn (the last one repeats), or
//! an echo of the last user message when none are listed. Replies can carry tool calls, so that
//! tools, teams and workflows run offline and in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ChatMessage, ModelEvent, OnEvent, Reply, ToolCall, Usage};
use crate::config::model::ScriptedReply;

/// A scripted model; clones share the reply cursor.
#[derive(Debug, Clone)]
pub struct ScriptedModel {
    name: String,
    replies: Arc<Vec<ScriptedReply>>,
    /// Index of the next reply; shared by every run of this model in the process.
    next: Arc<AtomicUsize>,
}

impl ScriptedModel {
    pub(crate) fn new(name: String, replies: Vec<ScriptedReply>) -> Self {
        ScriptedModel { name, replies: Arc::new(replies), next: Arc::default() }
    }

    /// Recorded model name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn complete(&self, messages: &[ChatMessage], on_event: OnEvent<'_>) -> Reply {
        let count = |s: &str| s.split_whitespace().count() as u64;
        let input_tokens: u64 = messages.iter().filter_map(|m| m.content.as_deref()).map(count).sum();
        let mut reply = if self.replies.is_empty() {
            let last_user = messages.iter().rev().find(|m| m.role == "user").and_then(|m| m.content.clone());
            Reply { content: Some(last_user.unwrap_or_default()), ..Default::default() }
        } else {
            let i = self.next.fetch_add(1, Ordering::Relaxed).min(self.replies.len() - 1);
            match &self.replies[i] {
                ScriptedReply::Text(t) => Reply { content: Some(t.clone()), ..Default::default() },
                ScriptedReply::Turn(turn) => Reply {
                    content: turn.content.clone(),
                    tool_calls: turn
                        .tool_calls
                        .iter()
                        .enumerate()
                        .map(|(n, c)| ToolCall {
                            id: format!("call_{i}_{n}"),
                            name: c.name.clone(),
                            arguments: serde_json::Value::Object(c.arguments.clone()).to_string(),
                        })
                        .collect(),
                    usage: Usage::default(),
                    provider_data: None,
                },
            }
        };
        let output_tokens = reply.content.as_deref().map_or(0, count);
        reply.usage = Usage { input_tokens, output_tokens, total_tokens: input_tokens + output_tokens };
        if let Some(text) = reply.content.as_deref().filter(|t| !t.is_empty()) {
            on_event(ModelEvent::Text(text));
        }
        for (index, c) in reply.tool_calls.iter().enumerate() {
            on_event(ModelEvent::ToolCallDelta {
                index,
                id: Some(&c.id),
                name: Some(&c.name),
                arguments: Some(&c.arguments),
            });
        }
        on_event(ModelEvent::Usage(reply.usage));
        reply
    }
}
