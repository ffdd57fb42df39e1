//! An OpenAI-compatible chat-completions client: non-streaming and SSE streaming, tool calls
//! (several per turn, streamed as deltas), token usage, retries with backoff and jitter on 429
//! (honouring `Retry-After`), 5xx and connection failures; no retry on other 4xx.

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use indexmap::IndexMap;
use serde_json::{Value, json};

use super::{ChatMessage, ModelError, Reply, ToolCall, ToolSpec, Usage};
use crate::config::Secret;

/// Most seconds a `Retry-After` is honoured for.
const MAX_RETRY_AFTER: f64 = 30.0;

/// Settings of one OpenAI-compatible model.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub model_id: String,
    pub name: String,
    pub base_url: String,
    pub api_key: Secret,
    /// How the user sets the key (e.g. `the environment variable OPENAI_API_KEY`).
    pub key_hint: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub headers: IndexMap<String, String>,
}

/// A model served by an OpenAI-compatible API; clones share the HTTP connection pool.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    settings: std::sync::Arc<Settings>,
    http: reqwest::Client,
}

impl OpenAiModel {
    pub(crate) fn new(settings: Settings) -> Self {
        let http = reqwest::Client::builder().timeout(settings.timeout).build().unwrap_or_default();
        OpenAiModel { settings: std::sync::Arc::new(settings), http }
    }

    /// The model name sent to the API.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.settings.base_url.trim_end_matches('/'))
    }

    fn body(&self, messages: &[ChatMessage], tools: &[ToolSpec], stream: bool) -> Value {
        let s = &self.settings;
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut v = json!({"role": m.role, "content": m.content});
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = m
                        .tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                        .collect();
                }
                if let Some(id) = &m.tool_call_id {
                    v["tool_call_id"] = json!(id);
                }
                v
            })
            .collect();
        let mut body = json!({"model": s.name, "messages": messages});
        if !tools.is_empty() {
            body["tools"] = tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
        }
        if let Some(t) = s.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = s.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn hint(&self) -> String {
        self.settings.key_hint.as_ref().map(|h| format!(" in {h}")).unwrap_or_default()
    }

    /// Sends the request, retrying what is worth retrying. Returns the successful response.
    async fn send(&self, body: &Value) -> Result<reqwest::Response, ModelError> {
        let s = &self.settings;
        if s.api_key.is_empty() && s.base_url.contains("api.openai.com") {
            return Err(ModelError::MissingKey {
                model: s.model_id.clone(),
                hint: s.key_hint.clone().unwrap_or_else(|| "`api_key` on the model".into()),
            });
        }
        let url = self.url();
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req = self.http.post(&url).json(body);
            if !s.api_key.is_empty() {
                req = req.bearer_auth(s.api_key.expose());
            }
            for (k, v) in &s.headers {
                req = req.header(k, v);
            }
            let retry_in = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    let text = resp.text().await.unwrap_or_default();
                    let body_start: String = text.chars().take(300).collect();
                    if status == 401 || status == 403 {
                        return Err(ModelError::Auth { model: s.model_id.clone(), status, hint: self.hint() });
                    }
                    let retryable = status == 429 || status >= 500;
                    if !retryable || attempt > s.max_retries {
                        return Err(ModelError::Http {
                            model: s.model_id.clone(),
                            status,
                            attempts: attempt,
                            body: body_start,
                        });
                    }
                    match retry_after {
                        Some(secs) if status == 429 => Duration::from_secs_f64(secs.clamp(0.0, MAX_RETRY_AFTER)),
                        _ => backoff(attempt),
                    }
                }
                Err(e) if e.is_timeout() => {
                    return Err(ModelError::Timeout {
                        model: s.model_id.clone(),
                        elapsed: start.elapsed(),
                        timeout: s.timeout,
                    });
                }
                Err(e) => {
                    if attempt > s.max_retries {
                        return Err(ModelError::Transport {
                            model: s.model_id.clone(),
                            url: url.clone(),
                            attempts: attempt,
                            message: error_chain(&e),
                        });
                    }
                    backoff(attempt)
                }
            };
            tracing::warn!(model = %s.model_id, attempt, retry_in_ms = retry_in.as_millis() as u64, "model call failed; retrying");
            tokio::time::sleep(retry_in).await;
        }
    }

    pub(crate) async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<Reply, ModelError> {
        let stream = on_delta.is_some();
        let start = Instant::now();
        let resp = self.send(&self.body(messages, tools, stream)).await?;
        let timeout = |e: &reqwest::Error| e.is_timeout();
        let model = &self.settings.model_id;
        let malformed = |message: String| ModelError::Malformed { model: model.clone(), message };
        match on_delta {
            None => {
                let text = resp.text().await.map_err(|e| {
                    if timeout(&e) {
                        ModelError::Timeout {
                            model: model.clone(),
                            elapsed: start.elapsed(),
                            timeout: self.settings.timeout,
                        }
                    } else {
                        malformed(error_chain(&e))
                    }
                })?;
                let v: Value = serde_json::from_str(&text).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
                parse_completion(&v).map_err(malformed)
            }
            Some(on_delta) => {
                let mut events = resp.bytes_stream().eventsource();
                let mut reply = Reply::default();
                let mut calls: Vec<(String, String, String)> = Vec::new();
                while let Some(event) = events.next().await {
                    let event = event.map_err(|e| match &e {
                        eventsource_stream::EventStreamError::Transport(t) if t.is_timeout() => ModelError::Timeout {
                            model: model.clone(),
                            elapsed: start.elapsed(),
                            timeout: self.settings.timeout,
                        },
                        _ => malformed(format!("broken event stream: {}", error_chain(&e))),
                    })?;
                    if event.data.trim() == "[DONE]" {
                        break;
                    }
                    let v: Value = serde_json::from_str(&event.data)
                        .map_err(|e| malformed(format!("invalid JSON in a stream chunk: {e}")))?;
                    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                        reply.usage = usage(u);
                    }
                    let Some(delta) = v.pointer("/choices/0/delta") else { continue };
                    if let Some(text) = delta.get("content").and_then(Value::as_str)
                        && !text.is_empty()
                    {
                        on_delta(text);
                        reply.content.get_or_insert_with(String::new).push_str(text);
                    }
                    for tc in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                        let index = tc.get("index").and_then(Value::as_u64).unwrap_or(calls.len() as u64) as usize;
                        while calls.len() <= index {
                            calls.push(Default::default());
                        }
                        let slot = &mut calls[index];
                        if let Some(id) = tc.get("id").and_then(Value::as_str) {
                            slot.0.push_str(id);
                        }
                        if let Some(name) = tc.pointer("/function/name").and_then(Value::as_str) {
                            slot.1.push_str(name);
                        }
                        if let Some(args) = tc.pointer("/function/arguments").and_then(Value::as_str) {
                            slot.2.push_str(args);
                        }
                    }
                }
                for (i, (id, name, arguments)) in calls.into_iter().enumerate() {
                    if name.is_empty() {
                        return Err(malformed(format!("tool call {i} has no function name")));
                    }
                    let id = if id.is_empty() { format!("call_{i}") } else { id };
                    reply.tool_calls.push(ToolCall { id, name, arguments });
                }
                Ok(reply)
            }
        }
    }
}

fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (n("prompt_tokens"), n("completion_tokens"));
    let total = u.get("total_tokens").and_then(Value::as_u64).unwrap_or(input + output);
    Usage { input_tokens: input, output_tokens: output, total_tokens: total }
}

/// Reads a non-streaming chat completion.
fn parse_completion(v: &Value) -> Result<Reply, String> {
    let message = v.pointer("/choices/0/message").ok_or("no choices[0].message in the response")?;
    let content = message.get("content").and_then(Value::as_str).map(str::to_string);
    let mut tool_calls = Vec::new();
    for (i, tc) in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let name = tc
            .pointer("/function/name")
            .and_then(Value::as_str)
            .ok_or(format!("tool call {i} has no function name"))?;
        let arguments = match tc.pointer("/function/arguments") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "{}".into(),
        };
        let id = tc.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{i}"), str::to_string);
        tool_calls.push(ToolCall { id, name: name.to_string(), arguments });
    }
    Ok(Reply { content, tool_calls, usage: v.get("usage").map(usage).unwrap_or_default() })
}

/// Exponential backoff from 250 ms, capped at 8 s, with up to 50% jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 0.25 * 2f64.powi(attempt.saturating_sub(1).min(5) as i32);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0 * 0.5;
    Duration::from_secs_f64((base * (1.0 + jitter)).min(8.0))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_with_several_tool_calls_are_read() {
        let v = json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\": \"1+1\"}"}},
            {"id": "b", "type": "function", "function": {"name": "datetime", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
        let r = parse_completion(&v).unwrap();
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[1].name, "datetime");
        assert_eq!(r.usage, Usage { input_tokens: 5, output_tokens: 2, total_tokens: 7 });
        assert!(parse_completion(&json!({"choices": []})).is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < Duration::from_millis(400));
        assert!(backoff(3) >= Duration::from_secs(1));
        assert!(backoff(30) <= Duration::from_secs(8));
    }
}
