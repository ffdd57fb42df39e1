//! The `search_past_sessions` toolkit: `search_past_sessions` (this user's other sessions with
//! this agent, with previews) and `read_past_session`. Both follow the session rules: only the
//! caller's own sessions (or, for a caller without a user, sessions without one) of this agent.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::store::{SessionQuery, SessionType};
use crate::tool::{Tool, ToolContext, ToolError, string_arg};

/// `search_past_sessions`.
#[derive(Debug)]
pub struct SearchPastSessions {
    spec: ToolSpec,
    /// Most sessions listed.
    limit: u32,
}

impl SearchPastSessions {
    /// The tool, listing at most `limit` sessions.
    pub fn new(limit: u32) -> Self {
        SearchPastSessions {
            spec: ToolSpec {
                name: "search_past_sessions".into(),
                description: "Lists this user's other sessions with this agent, newest first, each with a preview of its last runs.".into(),
                parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}}),
            },
            limit,
        }
    }
}

impl Tool for SearchPastSessions {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let scope = &ctx.scope;
            let failed = |e: crate::store::StoreError| ToolError::Failed(e.to_string());
            let q = SessionQuery {
                session_type: Some(SessionType::Agent),
                component_id: Some(scope.component_id().to_string()),
                user_id: scope.user_id().map(str::to_string),
                anonymous: scope.user_id().is_none(),
                limit: Some(self.limit + 1),
                ..Default::default()
            };
            let page = scope.store().list_sessions(&q).await.map_err(failed)?;
            let needle = args.get("query").and_then(Value::as_str).map(str::to_lowercase);
            let mut out = Vec::new();
            for s in page.items.iter().filter(|s| s.session_id != scope.session_id()).take(self.limit as usize) {
                let runs = scope.store().history_runs(&s.session_id, 3).await.map_err(failed)?;
                let chat: Vec<Value> = runs.iter().flat_map(|r| super::chat_of(&r.run_data)).collect();
                let text = Value::Array(chat.clone()).to_string().to_lowercase();
                if needle.as_ref().is_none_or(|n| text.contains(n)) {
                    out.push(json!({"session_id": s.session_id, "session_name": s.session_name(), "created_at": s.created_at, "preview": chat}));
                }
            }
            Ok(Value::Array(out).to_string())
        })
    }
}

/// `read_past_session`.
#[derive(Debug)]
pub struct ReadPastSession {
    spec: ToolSpec,
}

impl Default for ReadPastSession {
    fn default() -> Self {
        ReadPastSession {
            spec: ToolSpec {
                name: "read_past_session".into(),
                description: "Returns the user and assistant messages of one past session.".into(),
                parameters: json!({"type": "object", "properties": {"session_id": {"type": "string"}}, "required": ["session_id"]}),
            },
        }
    }
}

impl Tool for ReadPastSession {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let scope = &ctx.scope;
            let id = string_arg(&args, "session_id")?;
            let failed = |e: crate::store::StoreError| ToolError::Failed(e.to_string());
            // Another user's session, or another agent's, is "not found" to the model: it learns
            // nothing of sessions that are not the caller's.
            let not_found = || ToolError::Failed(format!("session `{id}` not found"));
            let session = match scope.store().get_session(id, scope.user_id()).await {
                Ok(s) => s,
                Err(crate::store::StoreError::NotFound { .. } | crate::store::StoreError::Conflict(_)) => {
                    return Err(not_found());
                }
                Err(e) => return Err(failed(e)),
            };
            if session.owner() != *scope.component() {
                return Err(not_found());
            }
            let runs = scope.store().history_runs(&session.session_id, 50).await.map_err(failed)?;
            Ok(Value::Array(runs.iter().flat_map(|r| super::chat_of(&r.run_data)).collect()).to_string())
        })
    }
}
