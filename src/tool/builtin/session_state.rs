//! The `session_state` toolkit (also `enable_agentic_state`): `get_session_state` and
//! `update_session_state` (Agno's: `session_state_updates`, each key set), over the run's
//! session state (saved with the run).

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError};

/// `get_session_state`.
#[derive(Debug)]
pub struct GetSessionState {
    spec: ToolSpec,
}

impl Default for GetSessionState {
    fn default() -> Self {
        GetSessionState {
            spec: ToolSpec {
                name: "get_session_state".into(),
                description: "Returns the session state (JSON).".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        }
    }
}

impl Tool for GetSessionState {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, _args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move { Ok(Value::Object(ctx.state()).to_string()) })
    }
}

/// `update_session_state`.
#[derive(Debug)]
pub struct UpdateSessionState {
    spec: ToolSpec,
}

impl Default for UpdateSessionState {
    fn default() -> Self {
        // Agno 3.1.10's `update_session_state` (`enable_agentic_state`), as its model sees it.
        UpdateSessionState {
            spec: ToolSpec {
                name: "update_session_state".into(),
                description:
                    "Update the shared session state.  Provide any updates as a dictionary of key-value pairs.".into(),
                parameters: json!({"type": "object", "properties": {"session_state_updates": {
                    "type": "object", "additionalProperties": true,
                    "description": "(dict) The updates to apply to the shared session state. Should be a dictionary of key-value pairs.",
                }}, "required": ["session_state_updates"]}),
            },
        }
    }
}

impl Tool for UpdateSessionState {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            // `updates` is what agno-run's earlier tool took; it is still read.
            let updates = args
                .get("session_state_updates")
                .or_else(|| args.get("updates"))
                .and_then(Value::as_object)
                .ok_or_else(|| ToolError::InvalidArguments("`session_state_updates` must be an object".into()))?;
            let mut state =
                ctx.state.lock().map_err(|_| ToolError::Failed("the session state is unavailable".into()))?;
            // As Agno: each key given is set (a nested object replaces the key's value whole).
            for (k, v) in updates {
                state.insert(k.clone(), v.clone());
            }
            Ok(format!("Updated session state: {}", crate::pyrepr::repr(&Value::Object(state.clone()))))
        })
    }
}
