//! An in-process port of `tests/agno_teams_workflows/mock_model.py`, the scripted model Agno
//! 3.1.10's fixtures were recorded against: the same `decide()` (the reply depends only on the
//! request), the same usage numbers (prompt tokens = characters of the message contents / 4, at
//! least 1; completion tokens 10), tool-call ids `call_<n messages>_0`, HTTP 500 for `fail*`
//! models, SSE when `stream: true`. It serves through `fake_openai` (127.0.0.1:0, every request
//! recorded); it does not reproduce the Python server's HTTP details (chunk sizes, headers).
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_openai::{FakeOpenAi, Framing, Response};

/// What the mock answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// HTTP `status` with an OpenAI error body.
    Error(u16, String),
    /// A text answer.
    Text(String),
    /// One tool call.
    Tool(String, Value),
}

impl Decision {
    /// As `requests.json` describes a reply (`_describe`).
    pub fn describe(&self) -> Value {
        match self {
            Decision::Error(status, message) => json!({"kind": "http_error", "status": status, "message": message}),
            Decision::Tool(name, arguments) => json!({"kind": "tool_call", "name": name, "arguments": arguments}),
            Decision::Text(content) => json!({"kind": "text", "content": content}),
        }
    }
}

/// Starts the mock.
pub async fn start() -> FakeOpenAi {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|request| respond(&request.body));
    fake
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    }
}

fn is_system(m: &Value) -> bool {
    matches!(m.get("role").and_then(Value::as_str), Some("system" | "developer"))
}

fn first_member_id(messages: &[Value]) -> String {
    for m in messages.iter().filter(|m| is_system(m)) {
        let text = text_of(m.get("content"));
        if let Some(start) = text.find("<member id=\"") {
            let rest = &text[start + "<member id=\"".len()..];
            if let Some(end) = rest.find('"').filter(|end| *end > 0) {
                return rest[..end].to_string();
            }
        }
    }
    "unknown-member".into()
}

fn system_text(messages: &[Value]) -> String {
    messages.iter().filter(|m| is_system(m)).map(|m| text_of(m.get("content"))).collect::<Vec<_>>().join("\n")
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default()
}

/// Python's `_short`: the last non-empty stripped line, at most `n` characters.
pub fn short(text: &str, n: usize) -> String {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or_default();
    if line.chars().count() <= n {
        line.to_string()
    } else {
        format!("{}...", line.chars().take(n - 3).collect::<String>())
    }
}

fn tool_name_for_call_id(messages: &[Value], call_id: Option<&str>) -> Option<String> {
    messages
        .iter()
        .flat_map(|m| m.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default())
        .find(|tc| tc.get("id").and_then(Value::as_str) == call_id)
        .and_then(|tc| tc.pointer("/function/name").and_then(Value::as_str).map(str::to_string))
}

/// `re.search(r"""['"]counter['"]\s*:\s*(\d+)""", text)`.
fn find_counter(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("counter") {
        let at = i + pos;
        i = at + 1;
        if at == 0 || !matches!(b[at - 1], b'\'' | b'"') {
            continue;
        }
        let mut j = at + "counter".len();
        if j >= b.len() || !matches!(b[j], b'\'' | b'"') {
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= b.len() || b[j] != b':' {
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let digits: String = text[j..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse() {
            return Some(n);
        }
    }
    None
}

/// `mock_model.decide`.
pub fn decide(req: &Value) -> Decision {
    let model = req.get("model").and_then(Value::as_str).unwrap_or("mock").to_string();
    if model.starts_with("fail") {
        return Decision::Error(500, format!("mock: model {model} always fails"));
    }
    let messages = req.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    let offered: Vec<String> = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let offers = |name: &str| offered.iter().any(|o| o == name);
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let user_text = last_user_text(&messages);
    if last.get("role").and_then(Value::as_str) == Some("tool") {
        let produced_by = tool_name_for_call_id(&messages, last.get("tool_call_id").and_then(Value::as_str));
        let result = text_of(last.get("content"));
        if produced_by.as_deref() == Some("create_task") && offers("execute_task") {
            let id = result
                .split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(id, _)| id.to_string())
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| "?".into());
            return Decision::Tool(
                "execute_task".into(),
                json!({"task_id": id, "member_id": first_member_id(&messages)}),
            );
        }
        if produced_by.as_deref() == Some("execute_task") && offers("mark_all_complete") {
            return Decision::Tool("mark_all_complete".into(), json!({"summary": format!("[{model}] all tasks done")}));
        }
        return Decision::Text(format!("[{model}] answer to: {}", short(&user_text, 100)));
    }
    if offers("delegate_task_to_member") {
        return Decision::Tool(
            "delegate_task_to_member".into(),
            json!({"member_id": first_member_id(&messages), "task": format!("Task from {model}: {}", short(&user_text, 60))}),
        );
    }
    if offers("delegate_task_to_members") {
        return Decision::Tool(
            "delegate_task_to_members".into(),
            json!({"task": format!("Task from {model}: {}", short(&user_text, 60))}),
        );
    }
    if offers("create_task") {
        return Decision::Tool(
            "create_task".into(),
            json!({"title": "Answer the question", "description": short(&user_text, 60), "assignee": first_member_id(&messages)}),
        );
    }
    if offers("update_session_state") {
        let counter = find_counter(&system_text(&messages)).unwrap_or(0);
        return Decision::Tool(
            "update_session_state".into(),
            json!({"session_state_updates": {"counter": counter + 1, "last_writer": model}}),
        );
    }
    Decision::Text(format!("[{model}] answer to: {}", short(&user_text, 100)))
}

/// `_estimate_prompt_tokens`: characters (code points, as Python counts) of the contents / 4.
pub fn prompt_tokens(req: &Value) -> u64 {
    let chars: usize = req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| text_of(m.get("content")).chars().count())
        .sum();
    ((chars / 4) as u64).max(1)
}

/// Python's `json.dumps` with its default separators (`", "`, `": "`), ASCII-escaped.
pub fn py_dumps(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> =
                m.iter().map(|(k, v)| format!("{}: {}", py_dumps(&json!(k)), py_dumps(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_dumps).collect::<Vec<_>>().join(", ")),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        other => other.to_string(),
    }
}

/// The mock's answer to `req`.
pub fn respond(req: &Value) -> Response {
    let decision = decide(req);
    let model = req.get("model").and_then(Value::as_str).unwrap_or("mock").to_string();
    if let Decision::Error(status, message) = &decision {
        return Response::Raw {
            status: *status,
            content_type: "application/json".into(),
            body: json!({"error": {"message": message, "type": "server_error", "code": null}}).to_string(),
        };
    }
    let prompt = prompt_tokens(req);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": prompt + 10});
    let n = req.get("messages").and_then(Value::as_array).map_or(0, Vec::len);
    let call_id = format!("call_{n}_0");
    let cid = format!("chatcmpl-mock{n:020}");
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = req.pointer("/stream_options/include_usage").and_then(Value::as_bool) == Some(true);
        let base = |choices: Value| {
            json!({"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model,
                   "system_fingerprint": "fp_mock", "choices": choices})
        };
        let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        let mut chunks = Vec::new();
        match &decision {
            Decision::Tool(name, arguments) => {
                chunks.push(base(choice(json!({"role": "assistant", "content": null}), Value::Null)));
                let args = py_dumps(arguments);
                chunks.push(base(choice(
                    json!({"tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                )));
                let chars: Vec<char> = args.chars().collect();
                let half = chars.len() / 2;
                for piece in [&chars[..half], &chars[half..]] {
                    let piece: String = piece.iter().collect();
                    chunks.push(base(choice(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        Value::Null,
                    )));
                }
                chunks.push(base(choice(json!({}), json!("tool_calls"))));
            }
            Decision::Text(text) => {
                chunks.push(base(choice(json!({"role": "assistant", "content": ""}), Value::Null)));
                let chars: Vec<char> = text.chars().collect();
                let step = chars.len().div_ceil(3).max(1);
                for piece in chars.chunks(step) {
                    chunks.push(base(choice(json!({"content": piece.iter().collect::<String>()}), Value::Null)));
                }
                chunks.push(base(choice(json!({}), json!("stop"))));
            }
            Decision::Error(..) => unreachable!("answered above"),
        }
        if include_usage {
            let mut last = base(json!([]));
            last["usage"] = usage;
            chunks.push(last);
        }
        return Response::Stream { chunks, framing: Framing::Chunked, gap: Duration::ZERO, done: true };
    }
    let (message, finish) = match &decision {
        Decision::Tool(name, arguments) => (
            json!({"role": "assistant", "content": null, "refusal": null,
                   "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": py_dumps(arguments)}}]}),
            "tool_calls",
        ),
        Decision::Text(text) => (json!({"role": "assistant", "content": text, "refusal": null}), "stop"),
        Decision::Error(..) => unreachable!("answered above"),
    };
    let body = json!({
        "id": cid, "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage, "system_fingerprint": "fp_mock",
    });
    Response::Raw { status: 200, content_type: "application/json".into(), body: body.to_string() }
}
