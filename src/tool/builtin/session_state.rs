//! The `session_state` toolkit (also `enable_agentic_state`): `get_session_state` and
//! `update_session_state`, over the run's session state (saved with the run).

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
        UpdateSessionState {
            spec: ToolSpec {
                name: "update_session_state".into(),
                description: "Sets keys of the session state: the `updates` object is merged into it (a key set to null is kept as null).".into(),
                parameters: json!({"type": "object", "properties": {"updates": {"type": "object"}}, "required": ["updates"]}),
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
            let updates = args
                .get("updates")
                .and_then(Value::as_object)
                .ok_or_else(|| ToolError::InvalidArguments("`updates` must be an object".into()))?;
            let mut state =
                ctx.state.lock().map_err(|_| ToolError::Failed("the session state is unavailable".into()))?;
            let mut merged = Value::Object(std::mem::take(&mut *state));
            crate::store::deep_merge(&mut merged, &Value::Object(updates.clone()));
            if let Value::Object(m) = merged {
                *state = m;
            }
            Ok(Value::Object(state.clone()).to_string())
        })
    }
}
