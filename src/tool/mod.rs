//! Built-in tools an agent can call: date and time, a calculator, HTTP requests to allowed hosts,
//! session-state read/update, this session's chat history, and past sessions.
//!
//! A tool gets its arguments as JSON and returns text for the model, or an error text that goes
//! back to the model as the tool message (never a crash). Tools that touch the session use the
//! store; none of them holds state of its own.

mod calculator;

use serde_json::{Map, Value, json};

use crate::config::AgentConfig;
use crate::config::model::Tool;
use crate::model::ToolSpec;
use crate::store::{SessionQuery, SessionType, Store};

/// One tool as the model sees it, with its options.
#[derive(Debug, Clone)]
pub enum Builtin {
    /// `current_datetime`.
    Datetime,
    /// `calculator`.
    Calculator,
    /// `http_request`.
    Http {
        /// Hosts that may be called (`*.example.com` allowed).
        allowed_hosts: Vec<String>,
        /// Request timeout.
        timeout: std::time::Duration,
        /// Largest body returned.
        max_bytes: usize,
    },
    /// `get_session_state` and `update_session_state`.
    SessionState,
    /// `get_chat_history`.
    ChatHistory {
        /// Most runs read.
        limit: u32,
    },
    /// `search_past_sessions` and `read_past_session`.
    PastSessions {
        /// Most sessions listed.
        limit: u32,
    },
}

/// What a tool can see of the run calling it.
pub struct Context<'a> {
    /// The session's store.
    pub store: &'a Store,
    /// The session.
    pub session_id: &'a str,
    /// The user.
    pub user_id: Option<&'a str>,
    /// The agent id.
    pub agent_id: &'a str,
    /// The run's session state; updates made by tools land here and are saved with the run.
    pub state: &'a mut Map<String, Value>,
}

/// The tools of one agent.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: Vec<Builtin>,
}

impl Toolbox {
    /// The tools an agent declares (names were validated by `config`), plus those its flags add
    /// (`enable_agentic_state`, `read_chat_history`).
    pub fn for_agent(agent: &AgentConfig) -> Toolbox {
        let mut tools = Vec::new();
        for t in &agent.settings.tools {
            let (name, spec) = match t {
                Tool::Name(n) => (n.as_str(), None),
                Tool::Spec(s) => (s.name.as_str(), Some(s)),
            };
            let limit = spec.and_then(|s| s.limit).unwrap_or(10);
            tools.push(match name {
                "datetime" => Builtin::Datetime,
                "calculator" => Builtin::Calculator,
                "http_request" => Builtin::Http {
                    allowed_hosts: spec.map(|s| s.allowed_hosts.clone()).unwrap_or_default(),
                    timeout: std::time::Duration::from_secs_f64(spec.and_then(|s| s.timeout).unwrap_or(10.0)),
                    max_bytes: spec.and_then(|s| s.max_response_bytes).unwrap_or(65_536) as usize,
                },
                "session_state" => Builtin::SessionState,
                "read_chat_history" => Builtin::ChatHistory { limit },
                "search_past_sessions" => Builtin::PastSessions { limit },
                _ => continue,
            });
        }
        let has = |tools: &[Builtin], f: fn(&Builtin) -> bool| tools.iter().any(f);
        if agent.settings.enable_agentic_state == Some(true) && !has(&tools, |t| matches!(t, Builtin::SessionState)) {
            tools.push(Builtin::SessionState);
        }
        if agent.settings.read_chat_history == Some(true) && !has(&tools, |t| matches!(t, Builtin::ChatHistory { .. }))
        {
            tools.push(Builtin::ChatHistory { limit: 10 });
        }
        Toolbox { tools }
    }

    /// True when the agent has no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The function specs sent to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let spec = |name: &str, description: &str, parameters: Value| ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        };
        let mut out = Vec::new();
        for t in &self.tools {
            match t {
                Builtin::Datetime => out.push(spec(
                    "current_datetime",
                    "Returns the current date and time (UTC, ISO 8601) and the Unix time.",
                    json!({"type": "object", "properties": {}}),
                )),
                Builtin::Calculator => out.push(spec(
                    "calculator",
                    "Evaluates an arithmetic expression: + - * / % ^, parentheses, sqrt, abs, ln, log10, exp, sin, cos, tan, floor, ceil, round, pi, e.",
                    json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
                )),
                Builtin::Http { allowed_hosts, .. } => out.push(spec(
                    "http_request",
                    &format!("Makes an HTTP GET or POST request to one of these hosts: {}. Returns the status and the body.", allowed_hosts.join(", ")),
                    json!({"type": "object", "properties": {
                        "url": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST"]}, "body": {"type": "string"}
                    }, "required": ["url"]}),
                )),
                Builtin::SessionState => {
                    out.push(spec("get_session_state", "Returns the session state (JSON).", json!({"type": "object", "properties": {}})));
                    out.push(spec(
                        "update_session_state",
                        "Sets keys of the session state: the `updates` object is merged into it (a key set to null is kept as null).",
                        json!({"type": "object", "properties": {"updates": {"type": "object"}}, "required": ["updates"]}),
                    ));
                }
                Builtin::ChatHistory { .. } => out.push(spec(
                    "get_chat_history",
                    "Returns earlier user and assistant messages of this session, oldest first.",
                    json!({"type": "object", "properties": {"num_chats": {"type": "integer", "minimum": 1}}}),
                )),
                Builtin::PastSessions { .. } => {
                    out.push(spec(
                        "search_past_sessions",
                        "Lists this user's other sessions with this agent, newest first, each with a preview of its last runs.",
                        json!({"type": "object", "properties": {"query": {"type": "string"}}}),
                    ));
                    out.push(spec(
                        "read_past_session",
                        "Returns the user and assistant messages of one past session.",
                        json!({"type": "object", "properties": {"session_id": {"type": "string"}}, "required": ["session_id"]}),
                    ));
                }
            }
        }
        out
    }

    /// True when the model may call `name`.
    pub fn has(&self, name: &str) -> bool {
        self.specs().iter().any(|s| s.name == name)
    }

    /// Runs the tool `name`; `Err` is an error text for the model.
    pub async fn call(&self, name: &str, args: &Value, ctx: &mut Context<'_>) -> Result<String, String> {
        let arg = |k: &str| args.get(k).and_then(Value::as_str);
        for t in &self.tools {
            match (t, name) {
                (Builtin::Datetime, "current_datetime") => {
                    let now = time::OffsetDateTime::now_utc();
                    let iso = now.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?;
                    return Ok(json!({"utc": iso, "unix": now.unix_timestamp(), "weekday": now.weekday().to_string()})
                        .to_string());
                }
                (Builtin::Calculator, "calculator") => {
                    let expr = arg("expression").ok_or("missing `expression`")?;
                    let v = calculator::eval(expr)?;
                    return Ok(calculator::format(v));
                }
                (Builtin::Http { allowed_hosts, timeout, max_bytes }, "http_request") => {
                    return http(allowed_hosts, *timeout, *max_bytes, arg("url"), arg("method"), arg("body")).await;
                }
                (Builtin::SessionState, "get_session_state") => return Ok(Value::Object(ctx.state.clone()).to_string()),
                (Builtin::SessionState, "update_session_state") => {
                    let updates =
                        args.get("updates").and_then(Value::as_object).ok_or("`updates` must be an object")?;
                    let mut state = Value::Object(std::mem::take(ctx.state));
                    crate::store::deep_merge(&mut state, &Value::Object(updates.clone()));
                    if let Value::Object(m) = state {
                        *ctx.state = m;
                    }
                    return Ok(Value::Object(ctx.state.clone()).to_string());
                }
                (Builtin::ChatHistory { limit }, "get_chat_history") => {
                    let n =
                        args.get("num_chats").and_then(Value::as_u64).map_or(*limit, |n| (n as u32).min(*limit).max(1));
                    let runs = ctx.store.history_runs(ctx.session_id, n).await.map_err(|e| e.to_string())?;
                    return Ok(Value::Array(runs.iter().flat_map(|r| chat_of(&r.run_data)).collect()).to_string());
                }
                (Builtin::PastSessions { limit }, "search_past_sessions") => {
                    let q = SessionQuery {
                        session_type: Some(SessionType::Agent),
                        component_id: Some(ctx.agent_id.to_string()),
                        user_id: ctx.user_id.map(str::to_string),
                        limit: Some(*limit + 1),
                        ..Default::default()
                    };
                    let page = ctx.store.list_sessions(&q).await.map_err(|e| e.to_string())?;
                    let needle = arg("query").map(str::to_lowercase);
                    let mut out = Vec::new();
                    for s in page.items.iter().filter(|s| s.session_id != ctx.session_id).take(*limit as usize) {
                        let runs = ctx.store.history_runs(&s.session_id, 3).await.map_err(|e| e.to_string())?;
                        let chat: Vec<Value> = runs.iter().flat_map(|r| chat_of(&r.run_data)).collect();
                        let text = Value::Array(chat.clone()).to_string().to_lowercase();
                        if needle.as_ref().is_none_or(|n| text.contains(n)) {
                            out.push(json!({"session_id": s.session_id, "session_name": s.session_name(), "created_at": s.created_at, "preview": chat}));
                        }
                    }
                    return Ok(Value::Array(out).to_string());
                }
                (Builtin::PastSessions { .. }, "read_past_session") => {
                    let id = arg("session_id").ok_or("missing `session_id`")?;
                    let session = ctx.store.get_session(id, ctx.user_id).await.map_err(|e| e.to_string())?;
                    let runs = ctx.store.history_runs(&session.session_id, 50).await.map_err(|e| e.to_string())?;
                    return Ok(Value::Array(runs.iter().flat_map(|r| chat_of(&r.run_data)).collect()).to_string());
                }
                _ => {}
            }
        }
        Err(format!("unknown tool `{name}`"))
    }
}

/// The user and assistant messages of a stored run, as `{role, content}`.
fn chat_of(run_data: &Value) -> Vec<Value> {
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

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == a,
        }
    })
}

async fn http(
    allowed: &[String],
    timeout: std::time::Duration,
    max_bytes: usize,
    url: Option<&str>,
    method: Option<&str>,
    body: Option<&str>,
) -> Result<String, String> {
    let url = url.ok_or("missing `url`")?;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https URLs are allowed".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?;
    if !host_allowed(host, allowed) {
        return Err(format!("the host `{host}` is not allowed; allowed hosts: {}", allowed.join(", ")));
    }
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let req = match method.unwrap_or("GET").to_ascii_uppercase().as_str() {
        "GET" => client.get(parsed),
        "POST" => client.post(parsed).body(body.unwrap_or_default().to_string()),
        other => return Err(format!("method `{other}` is not allowed; use GET or POST")),
    };
    let resp = req.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| format!("reading the body failed: {e}"))?;
    let cut = bytes.len() > max_bytes;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max_bytes)]).into_owned();
    Ok(json!({"status": status, "body": text, "truncated": cut}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_wildcard_suffix() {
        let allowed = vec!["api.example.com".to_string(), "*.example.org".to_string()];
        assert!(host_allowed("api.example.com", &allowed));
        assert!(host_allowed("API.EXAMPLE.COM", &allowed));
        assert!(host_allowed("a.b.example.org", &allowed));
        assert!(!host_allowed("example.org", &allowed));
        assert!(!host_allowed("evil.com", &allowed));
        assert!(!host_allowed("api.example.com.evil.com", &allowed));
    }

    #[tokio::test]
    async fn a_disallowed_host_is_refused_before_any_request() {
        let r =
            http(&["a.test".into()], std::time::Duration::from_secs(1), 10, Some("http://b.test/x"), None, None).await;
        assert!(r.unwrap_err().contains("not allowed"));
        let r = http(&["a.test".into()], std::time::Duration::from_secs(1), 10, Some("file:///etc/passwd"), None, None)
            .await;
        assert!(r.unwrap_err().contains("http"));
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
