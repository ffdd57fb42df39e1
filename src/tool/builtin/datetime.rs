//! The `datetime` tool (`current_datetime`): the current UTC date and time.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError};

/// `current_datetime`.
#[derive(Debug)]
pub struct CurrentDatetime {
    spec: ToolSpec,
}

impl Default for CurrentDatetime {
    fn default() -> Self {
        CurrentDatetime {
            spec: ToolSpec {
                name: "current_datetime".into(),
                description: "Returns the current date and time (UTC, ISO 8601) and the Unix time.".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        }
    }
}

impl Tool for CurrentDatetime {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, _args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let now = time::OffsetDateTime::now_utc();
            let iso = now
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| ToolError::Failed(e.to_string()))?;
            Ok(json!({"utc": iso, "unix": now.unix_timestamp(), "weekday": now.weekday().to_string()}).to_string())
        })
    }
}
