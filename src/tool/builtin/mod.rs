//! The built-in tools and their registration: [`for_agent`] maps the names and options an
//! agent declares in `tools:` (and its flags) to [`Tool`]s. Adding a built-in tool is one file
//! here plus its line in [`for_agent`] (and its name in `config::check::TOOLS`, which a test
//! keeps equal to [`NAMES`]).

mod calculator;
mod chat_history;
mod datetime;
mod http;
mod past_sessions;
mod session_state;

use std::sync::Arc;
use std::time::Duration;

pub use calculator::{Calculator, eval as calculate};
pub use chat_history::ChatHistory;
pub use datetime::CurrentDatetime;
pub use http::HttpRequest;
pub use past_sessions::{ReadPastSession, SearchPastSessions};
pub use session_state::{GetSessionState, UpdateSessionState};

use super::Tool;
use crate::config::AgentConfig;
use crate::config::model::Tool as ToolConfig;

/// The names a config may list under `tools:`.
pub const NAMES: &[&str] =
    &["datetime", "calculator", "http_request", "session_state", "read_chat_history", "search_past_sessions"];

/// The tools of an agent's `tools:` and flags, in order; a toolkit name (`session_state`) gives
/// each of its functions.
pub fn for_agent(agent: &AgentConfig) -> Vec<Arc<dyn Tool>> {
    let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
    let mut state = false;
    let mut history = false;
    for t in &agent.settings.tools {
        let (name, spec) = match t {
            ToolConfig::Name(n) => (n.as_str(), None),
            ToolConfig::Spec(s) => (s.name.as_str(), Some(s)),
            // Offered by the runtime, from the server's own list.
            ToolConfig::Mcp(_) => continue,
        };
        let limit = spec.and_then(|s| s.limit).unwrap_or(10);
        match name {
            "datetime" => tools.push(Arc::new(CurrentDatetime::default())),
            "calculator" => tools.push(Arc::new(Calculator::default())),
            "http_request" => tools.push(Arc::new(HttpRequest::new(
                spec.map(|s| s.allowed_hosts.clone()).unwrap_or_default(),
                Duration::from_secs_f64(spec.and_then(|s| s.timeout).unwrap_or(10.0)),
                // Validation keeps it within 16 MiB; a library caller is held to it too.
                spec.and_then(|s| s.max_response_bytes).unwrap_or(65_536).min(16 * 1024 * 1024) as usize,
            ))),
            "session_state" => {
                state = true;
                tools.push(Arc::new(GetSessionState::default()));
                tools.push(Arc::new(UpdateSessionState::default()));
            }
            "read_chat_history" => {
                history = true;
                tools.push(Arc::new(ChatHistory::new(limit)));
            }
            "search_past_sessions" => {
                tools.push(Arc::new(SearchPastSessions::new(limit)));
                tools.push(Arc::new(ReadPastSession::default()));
            }
            // Validation refuses other names; nothing to offer for one that slipped through.
            _ => {}
        }
    }
    // Agno's `enable_agentic_state` offers `update_session_state` alone (the state is in the
    // prompt with `add_session_state_to_context`); the `session_state` toolkit adds the reader.
    if agent.settings.enable_agentic_state == Some(true) && !state {
        tools.push(Arc::new(UpdateSessionState::default()));
    }
    if agent.settings.read_chat_history == Some(true) && !history {
        tools.push(Arc::new(ChatHistory::new(10)));
    }
    tools
}

/// The user and assistant messages of a stored run, as `{role, content}`.
fn chat_of(run_data: &serde_json::Value) -> Vec<serde_json::Value> {
    use serde_json::{Value, json};
    run_data
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| matches!(m.get("role").and_then(Value::as_str), Some("user" | "assistant")))
        .filter(|m| m.get("from_history") != Some(&Value::Bool(true)))
        .filter(|m| m.get("content").is_some_and(|c| !c.is_null()))
        .map(|m| json!({"role": m["role"], "content": m["content"]}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_name_validation_accepts_is_registered_here() {
        assert_eq!(NAMES, crate::config::check::TOOLS);
    }

    #[test]
    fn validation_knows_the_functions_each_tool_offers() {
        use crate::config::model::{RunSettings, Tool as T};
        let agent = |settings: RunSettings| AgentConfig {
            id: "a".into(),
            name: "a".into(),
            model: "m".into(),
            role: None,
            db: "d".into(),
            settings,
        };
        let offered = |a: &AgentConfig| for_agent(a).iter().map(|t| t.spec().name.clone()).collect::<Vec<_>>();
        for name in NAMES {
            let settings = RunSettings { tools: vec![T::Name((*name).to_string())], ..Default::default() };
            let a = agent(settings.clone());
            assert_eq!(offered(&a), crate::config::check::functions_of(&settings), "{name}");
        }
        let flags =
            RunSettings { enable_agentic_state: Some(true), read_chat_history: Some(true), ..Default::default() };
        assert_eq!(offered(&agent(flags.clone())), crate::config::check::functions_of(&flags));
    }

    #[test]
    fn chat_history_keeps_only_own_user_and_assistant_messages() {
        let run = json!({"messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "old", "from_history": true},
            {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}]});
        assert_eq!(
            chat_of(&run),
            vec![json!({"role": "user", "content": "q"}), json!({"role": "assistant", "content": "a"})]
        );
    }
}
