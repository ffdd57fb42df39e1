//! The `read_chat_history` tool (`get_chat_history`): earlier user and assistant messages of
//! this session.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError};

/// `get_chat_history`.
#[derive(Debug)]
pub struct ChatHistory {
    spec: ToolSpec,
    /// Most runs read.
    limit: u32,
}

impl ChatHistory {
    /// The tool, reading at most `limit` runs.
    pub fn new(limit: u32) -> Self {
        ChatHistory {
            spec: ToolSpec {
                name: "get_chat_history".into(),
                description: "Returns earlier user and assistant messages of this session, oldest first.".into(),
                parameters: json!({"type": "object", "properties": {"num_chats": {"type": "integer", "minimum": 1}}}),
            },
            limit,
        }
    }
}

impl Tool for ChatHistory {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let n = args
                .get("num_chats")
                .and_then(Value::as_u64)
                .map_or(self.limit, |n| u32::try_from(n).unwrap_or(u32::MAX).min(self.limit).max(1));
            let runs = ctx
                .scope
                .store()
                .history_runs(ctx.scope.session_id(), n)
                .await
                .map_err(|e| ToolError::Failed(e.to_string()))?;
            Ok(Value::Array(runs.iter().flat_map(|r| super::chat_of(&r.run_data)).collect()).to_string())
        })
    }
}
