//! An OpenAI-compatible chat-completions client: non-streaming and SSE streaming (parsed by
//! `model::sse`), tool calls (several per turn, streamed as deltas), token usage, retries with
//! backoff and jitter on 429 (honouring `Retry-After`), 5xx and connection failures; no retry on
//! other 4xx.
//!
//! Time: `timeout` is an idle timeout (for the response to start, then between two pieces of
//! its body), so a long, healthy stream is never cut; `deadline`, when set, bounds the whole
//! call. A stream must end with `[DONE]` or a `finish_reason`: one cut short, one carrying an
//! `error` object, one holding more than [`MAX_TOOL_CALLS`] calls or more than
//! `MAX_BODY_BYTES` bytes is an error, never an empty answer. A plain JSON body answering a
//! streaming request is read as the answer.

use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use indexmap::IndexMap;
use serde_json::{Value, json};

use super::sse;
use super::{ChatMessage, MAX_TOOL_CALLS, ModelError, ModelEvent, OnEvent, Reply, ToolCall, ToolSpec, Usage};
use crate::config::Secret;
use crate::error_chain;

/// Most seconds a `Retry-After` is honoured for.
const MAX_RETRY_AFTER: f64 = 30.0;
/// Largest non-streamed response body read; beyond it the answer is malformed.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most bytes of an error body kept for the message.
const MAX_ERROR_BODY: usize = 8 * 1024;
/// When a timeout fires, one more look this long before giving up: a process that was stopped
/// (Ctrl-Z, a paused VM) wakes with its timer past due and the server's data already waiting.
const STOPPED_GRACE: Duration = Duration::from_millis(100);

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
    /// Idle timeout: for the response to start, and between two pieces of its body.
    pub timeout: Duration,
    /// Limit of a whole call, retries included.
    pub deadline: Option<Duration>,
    pub max_retries: u32,
    pub headers: IndexMap<String, Secret>,
}

/// A model served by an OpenAI-compatible API; clones share the settings and the HTTP client.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    settings: std::sync::Arc<Settings>,
    http: reqwest::Client,
}

/// A failure while reading a body: the transport's, or the idle timeout's.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("{0}")]
    Transport(String),
    #[error("idle timeout")]
    Idle,
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// `stream` with an idle timeout and a size bound: an item that takes longer than `idle` ends it
/// with [`BodyError::Idle`], and more than `limit` bytes in all with [`BodyError::TooLarge`] (a
/// server that streams forever, or one event that never ends, is not buffered without end).
fn idle_limited<S, B>(stream: S, idle: Duration, limit: usize) -> impl Stream<Item = Result<B, BodyError>>
where
    S: Stream<Item = reqwest::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    futures_util::stream::unfold((stream, 0usize, false), move |(mut s, seen, done)| async move {
        if done {
            return None;
        }
        let next = match tokio::time::timeout(idle, s.next()).await {
            Ok(n) => Ok(n),
            Err(_) => tokio::time::timeout(STOPPED_GRACE, s.next()).await,
        };
        match next {
            Ok(Some(Ok(b))) => {
                let seen = seen.saturating_add(b.as_ref().len());
                if seen > limit {
                    return Some((Err(BodyError::TooLarge(limit)), (s, seen, true)));
                }
                Some((Ok(b), (s, seen, false)))
            }
            Ok(Some(Err(e))) => Some((Err(BodyError::Transport(error_chain(&e))), (s, seen, true))),
            Ok(None) => None,
            Err(_) => Some((Err(BodyError::Idle), (s, seen, true))),
        }
    })
}

impl OpenAiModel {
    pub(crate) fn new(settings: Settings, http: reqwest::Client) -> Self {
        OpenAiModel { settings: std::sync::Arc::new(settings), http }
    }

    /// What a server wrote, as an error may show it: the key and header values hidden first (a
    /// secret cut in two by shortening would escape), then at most 300 characters.
    fn shown(&self, text: &str) -> String {
        let s = &self.settings;
        let hidden = crate::config::redact_secrets(text, std::iter::once(&s.api_key).chain(s.headers.values()));
        hidden.chars().take(300).collect()
    }

    /// The model name sent to the API.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.settings.base_url.trim_end_matches('/'))
    }

    fn body(&self, messages: &[ChatMessage], tools: &[ToolSpec], stream: bool, format: Option<&Value>) -> Value {
        let s = &self.settings;
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut v = json!({"role": m.role, "content": m.content});
                if !m.tool_calls.is_empty() {
                    // As OpenAI's own client sends it (and Agno): an assistant turn that only
                    // calls tools has empty text, not null.
                    if m.content.is_none() {
                        v["content"] = json!("");
                    }
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
        if let Some(f) = format {
            body["response_format"] = f.clone();
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

    fn timeout_error(&self, start: Instant) -> ModelError {
        ModelError::Timeout {
            model: self.settings.model_id.clone(),
            elapsed: start.elapsed(),
            timeout: self.settings.timeout,
        }
    }

    fn malformed(&self, message: String) -> ModelError {
        ModelError::Malformed { model: self.settings.model_id.clone(), message }
    }

    /// Reads a whole body, chunk by chunk under the idle timeout, up to `limit` bytes; returns
    /// the bytes and whether there were more.
    async fn read_body(
        &self,
        resp: reqwest::Response,
        limit: usize,
        start: Instant,
    ) -> Result<(Vec<u8>, bool), ModelError> {
        let mut body = Vec::new();
        let mut chunks = std::pin::pin!(idle_limited(resp.bytes_stream(), self.settings.timeout, usize::MAX));
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| match e {
                BodyError::Idle => self.timeout_error(start),
                BodyError::Transport(t) => self.malformed(format!("reading the response failed: {t}")),
                BodyError::TooLarge(_) => self.malformed(e.to_string()),
            })?;
            let room = limit - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                return Ok((body, true));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, false))
    }

    /// Sends the request, retrying what is worth retrying. Returns the successful response.
    async fn send(&self, body: &Value, start: Instant) -> Result<reqwest::Response, ModelError> {
        let s = &self.settings;
        if s.api_key.is_empty() && s.base_url.contains("api.openai.com") {
            return Err(ModelError::MissingKey {
                model: s.model_id.clone(),
                hint: s.key_hint.clone().unwrap_or_else(|| "`api_key` on the model".into()),
            });
        }
        let url = self.url();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req = self.http.post(&url).json(body);
            if !s.api_key.is_empty() {
                req = req.bearer_auth(s.api_key.expose());
            }
            for (k, v) in &s.headers {
                req = req.header(k, v.expose());
            }
            let sent = match tokio::time::timeout(s.timeout, req.send()).await {
                Ok(r) => r,
                Err(_) => return Err(self.timeout_error(start)),
            };
            let retry_in = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|secs| secs.is_finite());
                    if status == 401 || status == 403 {
                        return Err(ModelError::Auth { model: s.model_id.clone(), status, hint: self.hint() });
                    }
                    let (text, _) = self.read_body(resp, MAX_ERROR_BODY, start).await.unwrap_or_default();
                    let body_start = self.shown(&String::from_utf8_lossy(&text));
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
                Err(e) if e.is_timeout() => return Err(self.timeout_error(start)),
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
        stream: bool,
        format: Option<&Value>,
        on_event: OnEvent<'_>,
    ) -> Result<Reply, ModelError> {
        let call = self.call(messages, tools, stream, format, on_event);
        let result = match self.settings.deadline {
            Some(deadline) => tokio::time::timeout(deadline, call)
                .await
                .unwrap_or_else(|_| Err(ModelError::Deadline { model: self.settings.model_id.clone(), deadline })),
            None => call.await,
        };
        // A server may echo the key or a header it was sent in its error text: hidden here,
        // before the error is printed, logged or stored.
        let s = &self.settings;
        result.map_err(|e| e.redacted(std::iter::once(&s.api_key).chain(s.headers.values())))
    }

    async fn call(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        stream: bool,
        format: Option<&Value>,
        on_event: OnEvent<'_>,
    ) -> Result<Reply, ModelError> {
        let start = Instant::now();
        let resp = self.send(&self.body(messages, tools, stream, format), start).await?;
        let kind = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        // What the server sent decides, not what was asked: a JSON completion answering a
        // streaming request is read as the answer, and a stream answering a plain request is
        // read as a stream. Without either type, the request decides.
        let as_stream = if kind.contains("text/event-stream") {
            true
        } else if kind.contains("json") {
            false
        } else {
            stream
        };
        if !as_stream {
            let (text, cut) = self.read_body(resp, MAX_BODY_BYTES, start).await?;
            if cut {
                return Err(self.malformed(format!("the response is larger than {MAX_BODY_BYTES} bytes")));
            }
            let v: Value = serde_json::from_slice(&text).map_err(|e| {
                let what = if stream {
                    "a streaming request was answered with a body that is neither SSE nor JSON"
                } else {
                    "invalid JSON"
                };
                self.malformed(format!("{what}: {e}"))
            })?;
            if let Some(message) = remote_error(&v) {
                return Err(ModelError::Remote {
                    model: self.settings.model_id.clone(),
                    message: self.shown(&message),
                });
            }
            let reply = parse_completion(&v).map_err(|m| self.malformed(m))?;
            if let Some(text) = reply.content.as_deref().filter(|t| !t.is_empty()) {
                on_event(ModelEvent::Text(text));
            }
            on_event(ModelEvent::Usage(reply.usage));
            return Ok(reply);
        }
        self.read_stream(resp, start, on_event).await
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        start: Instant,
        on_event: OnEvent<'_>,
    ) -> Result<Reply, ModelError> {
        let idle = self.settings.timeout;
        let mut body = resp.bytes_stream();
        let mut parser = sse::Parser::new(MAX_BODY_BYTES);
        let mut reply = Reply::default();
        let mut calls: Vec<(String, String, String)> = Vec::new();
        let mut finished = false;
        let mut seen = 0usize;
        // Idle is measured between events, not bytes: comment lines a proxy sends while the
        // model is silent do not keep a stalled answer alive.
        let mut progress = tokio::time::Instant::now() + idle;
        'read: loop {
            let next = match tokio::time::timeout_at(progress, body.next()).await {
                Ok(n) => n,
                Err(_) => match tokio::time::timeout(STOPPED_GRACE, body.next()).await {
                    Ok(n) => n,
                    // The answer was complete; only its usage or `[DONE]` did not come.
                    Err(_) if finished => break,
                    Err(_) => return Err(self.timeout_error(start)),
                },
            };
            let chunk = match next {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) if finished => break,
                Some(Err(e)) => return Err(self.malformed(format!("broken event stream: {}", error_chain(&e)))),
            };
            seen = seen.saturating_add(chunk.len());
            if seen > MAX_BODY_BYTES {
                return Err(self.malformed(format!("the stream is larger than {MAX_BODY_BYTES} bytes")));
            }
            let events = parser.push(&chunk).map_err(|e| self.malformed(e.to_string()))?;
            if !events.is_empty() {
                progress = tokio::time::Instant::now() + idle;
            }
            for data in events {
                if data.trim() == "[DONE]" {
                    finished = true;
                    break 'read;
                }
                let v: Value = serde_json::from_str(&data)
                    .map_err(|e| self.malformed(format!("invalid JSON in a stream chunk: {e}")))?;
                if let Some(message) = remote_error(&v) {
                    return Err(ModelError::Remote {
                        model: self.settings.model_id.clone(),
                        message: self.shown(&message),
                    });
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    reply.usage = usage(u);
                }
                if reply.provider_data.is_none() {
                    reply.provider_data = provider_data(&v);
                }
                if v.pointer("/choices/0/finish_reason").is_some_and(|f| !f.is_null()) {
                    finished = true;
                }
                let Some(delta) = v.pointer("/choices/0/delta") else { continue };
                if let Some(text) = delta.get("content").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    on_event(ModelEvent::Text(text));
                    reply.content.get_or_insert_with(String::new).push_str(text);
                }
                for tc in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    let index = match tc.get("index") {
                        Some(i) => i.as_u64().map_or(usize::MAX, |i| usize::try_from(i).unwrap_or(usize::MAX)),
                        // No index: a piece with an id starts a call, one without continues the last.
                        None if tc.get("id").is_some() || calls.is_empty() => calls.len(),
                        None => calls.len() - 1,
                    };
                    if index >= MAX_TOOL_CALLS {
                        return Err(self.malformed(format!(
                            "a streamed tool call has index {}; at most {MAX_TOOL_CALLS} tool calls fit in one turn",
                            tc.get("index").map_or_else(|| "?".to_string(), Value::to_string)
                        )));
                    }
                    while calls.len() <= index {
                        calls.push(Default::default());
                    }
                    let (id, name, arguments) = (
                        tc.get("id").and_then(Value::as_str),
                        tc.pointer("/function/name").and_then(Value::as_str),
                        tc.pointer("/function/arguments").and_then(Value::as_str),
                    );
                    // As Agno does: an id or a name a piece carries replaces the call's (a server may
                    // repeat them), and argument pieces are appended.
                    let slot = &mut calls[index];
                    if let Some(id) = id.filter(|i| !i.is_empty()) {
                        slot.0 = id.to_string();
                    }
                    if let Some(name) = name.filter(|n| !n.is_empty()) {
                        slot.1 = name.to_string();
                    }
                    slot.2.push_str(arguments.unwrap_or_default());
                    on_event(ModelEvent::ToolCallDelta { index, id, name, arguments });
                }
            }
        }
        if !finished {
            return Err(self
                .malformed("the stream ended before the model finished (no `finish_reason` and no `[DONE]`)".into()));
        }
        for (i, (id, name, arguments)) in calls.into_iter().enumerate() {
            if name.is_empty() {
                return Err(self.malformed(format!("tool call {i} has no function name")));
            }
            let id = if id.is_empty() { format!("call_{i}") } else { id };
            reply.tool_calls.push(ToolCall { id, name, arguments });
        }
        on_event(ModelEvent::Usage(reply.usage));
        Ok(reply)
    }
}

/// The message of an `{"error": ...}` object a server sent instead of (or inside) an answer.
fn remote_error(v: &Value) -> Option<String> {
    let e = v.get("error").filter(|e| match e {
        Value::String(t) => !t.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => true,
    })?;
    let text = match e {
        Value::String(s) => s.clone(),
        other => other.get("message").and_then(Value::as_str).map_or_else(|| other.to_string(), str::to_string),
    };
    Some(text)
}

fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (n("prompt_tokens"), n("completion_tokens"));
    let total = u.get("total_tokens").and_then(Value::as_u64).unwrap_or(input.saturating_add(output));
    Usage { input_tokens: input, output_tokens: output, total_tokens: total }
}

/// Reads a non-streaming chat completion.
/// `{id, system_fingerprint}` of a completion (or chunk), bounded: ids longer than 256 bytes
/// are not kept.
fn provider_data(v: &Value) -> Option<Value> {
    let short = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| s.len() <= 256).map(str::to_string);
    let id = short("id")?;
    Some(json!({"id": id, "system_fingerprint": short("system_fingerprint")}))
}

fn parse_completion(v: &Value) -> Result<Reply, String> {
    let message = v.pointer("/choices/0/message").ok_or("no choices[0].message in the response")?;
    let content = message.get("content").and_then(Value::as_str).map(str::to_string);
    let mut tool_calls = Vec::new();
    let calls = message.get("tool_calls").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if calls.len() > MAX_TOOL_CALLS {
        return Err(format!("the answer has {} tool calls; at most {MAX_TOOL_CALLS} fit in one turn", calls.len()));
    }
    for (i, tc) in calls.iter().enumerate() {
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
    Ok(Reply {
        content,
        tool_calls,
        usage: v.get("usage").map(usage).unwrap_or_default(),
        provider_data: provider_data(v),
    })
}

/// Exponential backoff from 250 ms, capped at 8 s, with up to 50% jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 0.25 * 2f64.powi(attempt.saturating_sub(1).min(5) as i32);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0 * 0.5;
    Duration::from_secs_f64((base * (1.0 + jitter)).min(8.0))
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
    fn a_completion_with_too_many_tool_calls_is_refused() {
        let calls: Vec<Value> =
            (0..=MAX_TOOL_CALLS).map(|i| json!({"id": i.to_string(), "function": {"name": "f"}})).collect();
        let v = json!({"choices": [{"message": {"role": "assistant", "tool_calls": calls}}]});
        assert!(parse_completion(&v).unwrap_err().contains("at most"));
    }

    #[test]
    fn error_objects_are_read_as_their_message() {
        assert_eq!(remote_error(&json!({"error": {"message": "overloaded"}})).as_deref(), Some("overloaded"));
        assert_eq!(remote_error(&json!({"error": "bad"})).as_deref(), Some("bad"));
        assert_eq!(remote_error(&json!({"error": null, "choices": []})), None);
        assert_eq!(remote_error(&json!({"error": false})), None);
        assert_eq!(remote_error(&json!({"error": {}})), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < Duration::from_millis(400));
        assert!(backoff(3) >= Duration::from_secs(1));
        assert!(backoff(30) <= Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_limit_lets_a_slow_steady_stream_through_and_stops_a_stalled_one() {
        // 90 pieces a second apart pass a 5 s idle limit; a 6 s gap does not.
        let steady = futures_util::stream::unfold(0u32, |i| async move {
            if i == 90 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((reqwest::Result::Ok(vec![b'x']), i + 1))
        });
        let got: Vec<_> = idle_limited(Box::pin(steady), Duration::from_secs(5), usize::MAX).collect::<Vec<_>>().await;
        assert_eq!(got.len(), 90);
        assert!(got.iter().all(Result::is_ok));
        let stalled = futures_util::stream::unfold(0u32, |i| async move {
            tokio::time::sleep(Duration::from_secs(if i == 2 { 6 } else { 1 })).await;
            Some((reqwest::Result::Ok(vec![b'x']), i + 1))
        });
        let got: Vec<_> = idle_limited(Box::pin(stalled), Duration::from_secs(5), usize::MAX).collect::<Vec<_>>().await;
        assert_eq!(got.len(), 3);
        assert!(matches!(got[2], Err(BodyError::Idle)));
    }

    #[tokio::test]
    async fn a_stream_past_its_size_bound_stops_with_an_error() {
        // An endless stream of bytes (one event that never ends): cut at the bound.
        let endless = futures_util::stream::repeat_with(|| reqwest::Result::Ok(vec![b'x'; 1024]));
        let got: Vec<_> = idle_limited(Box::pin(endless), Duration::from_secs(5), 10 * 1024).collect::<Vec<_>>().await;
        assert_eq!(got.len(), 11);
        assert!(matches!(got[10], Err(BodyError::TooLarge(10240))));
    }
}
