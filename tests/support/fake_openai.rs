//! An in-process OpenAI-compatible chat-completions server for tests.
//!
//! It listens on 127.0.0.1:0 and speaks just enough HTTP/1.1 by hand (request line, headers,
//! a `Content-Length` body; keep-alive between requests). Every request is recorded (method,
//! path, headers, parsed JSON body) and answered from a queue of scripted [`Response`]s: a JSON
//! completion (text and/or several tool calls, usage), an SSE stream (chunked or
//! close-delimited), an HTTP error with an optional `Retry-After`, a body that is not JSON, or
//! any of these after a delay. With an empty queue it asks its responder, when one is set
//! ([`FakeOpenAi::respond_with`]: a closure from the request to the response), and otherwise
//! answers [`DEFAULT_REPLY`].
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The text answered when the queue is empty.
pub const DEFAULT_REPLY: &str = "default reply";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ...
    pub method: String,
    /// `/v1/chat/completions`, ...
    pub path: String,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// `body.messages`.
    pub fn messages(&self) -> Vec<Value> {
        self.body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// The names of the tools offered (`body.tools[].function.name`).
    pub fn tool_names(&self) -> Vec<String> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }
}

/// How an SSE body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`, one chunk per event; the connection stays open.
    Chunked,
    /// No length: the body ends when the server closes the connection.
    Close,
}

/// A tool call in a scripted completion.
#[derive(Debug, Clone)]
pub struct Call {
    /// Call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text (possibly malformed on purpose).
    pub arguments: String,
}

/// `Call` shorthand.
pub fn call(id: &str, name: &str, arguments: &str) -> Call {
    Call { id: id.into(), name: name.into(), arguments: arguments.into() }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Response {
    /// `200` with a chat completion.
    Completion {
        /// Assistant text.
        content: Option<String>,
        /// Tool calls, in order.
        tool_calls: Vec<Call>,
        /// `(prompt_tokens, completion_tokens)`.
        usage: (u64, u64),
    },
    /// `200` `text/event-stream`: one `data:` event per chunk, then `data: [DONE]` when `done`.
    Stream {
        /// The chunk objects.
        chunks: Vec<Value>,
        /// How the body is delimited.
        framing: Framing,
        /// Pause between two events.
        gap: Duration,
        /// Send `data: [DONE]` at the end.
        done: bool,
    },
    /// An HTTP error status.
    Status {
        /// Status code.
        status: u16,
        /// `Retry-After` value.
        retry_after: Option<String>,
        /// Body text.
        body: String,
    },
    /// Any status, content type and body, sent as is.
    Raw {
        /// Status code.
        status: u16,
        /// `Content-Type`.
        content_type: String,
        /// Body text.
        body: String,
    },
    /// `200` `text/event-stream` of these raw pieces, one chunk each, `gap` apart (comments,
    /// odd line endings, anything); the connection closes after the last.
    RawStream {
        /// The pieces, written as they are.
        pieces: Vec<String>,
        /// Pause between two pieces.
        gap: Duration,
    },
    /// Wait, then answer.
    Delay(Duration, Box<Response>),
}

impl Response {
    /// A text completion with usage 10 prompt + 5 completion tokens.
    pub fn text(content: &str) -> Response {
        Response::text_with_usage(content, 10, 5)
    }

    /// A text completion with the given usage.
    pub fn text_with_usage(content: &str, prompt: u64, completion: u64) -> Response {
        Response::Completion { content: Some(content.into()), tool_calls: Vec::new(), usage: (prompt, completion) }
    }

    /// A completion that only calls tools (content null), usage 10 + 5.
    pub fn tool_calls(calls: Vec<Call>) -> Response {
        Response::Completion { content: None, tool_calls: calls, usage: (10, 5) }
    }

    /// A stream of content deltas, then a finish chunk and a usage chunk.
    pub fn stream_text(pieces: &[&str], prompt: u64, completion: u64) -> Response {
        let deltas = pieces.iter().map(|p| json!({"content": p})).collect();
        Response::stream_deltas(deltas, "stop", prompt, completion)
    }

    /// A stream of the given `delta` objects (the first also gets `role: assistant`), then a
    /// chunk with `finish_reason` and a usage chunk (`choices: []`), as OpenAI sends with
    /// `stream_options.include_usage`.
    pub fn stream_deltas(deltas: Vec<Value>, finish_reason: &str, prompt: u64, completion: u64) -> Response {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": null})
        };
        let mut chunks = Vec::new();
        for (i, mut d) in deltas.into_iter().enumerate() {
            if i == 0 {
                d["role"] = json!("assistant");
            }
            chunks.push(chunk(d, Value::Null));
        }
        chunks.push(chunk(json!({}), json!(finish_reason)));
        chunks.push(json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}));
        Response::Stream { chunks, framing: Framing::Chunked, gap: Duration::from_millis(2), done: true }
    }

    /// A stream of text pieces cut off: no `finish_reason`, no usage, no `[DONE]`.
    pub fn stream_cut_off(pieces: &[&str]) -> Response {
        let chunks = pieces
            .iter()
            .map(|p| json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]}))
            .collect();
        Response::Stream { chunks, framing: Framing::Chunked, gap: Duration::from_millis(2), done: false }
    }

    /// A stream of text pieces, then an `error` object instead of the end.
    pub fn stream_with_error(pieces: &[&str], message: &str) -> Response {
        let mut chunks: Vec<Value> = pieces
            .iter()
            .map(|p| json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]}))
            .collect();
        chunks.push(json!({"error": {"message": message, "type": "server_error"}}));
        Response::Stream { chunks, framing: Framing::Chunked, gap: Duration::from_millis(2), done: true }
    }

    /// The same stream, delimited by closing the connection instead of chunked encoding.
    pub fn close_delimited(self) -> Response {
        match self {
            Response::Stream { chunks, gap, done, .. } => {
                Response::Stream { chunks, framing: Framing::Close, gap, done }
            }
            other => other,
        }
    }

    /// The same stream with `gap` between two events (a stalling server).
    pub fn with_gap(self, gap: Duration) -> Response {
        match self {
            Response::Stream { chunks, framing, done, .. } => Response::Stream { chunks, framing, gap, done },
            other => other,
        }
    }

    /// An error status with an OpenAI-style error body.
    pub fn status(status: u16) -> Response {
        Response::Status {
            status,
            retry_after: None,
            body: json!({"error": {"message": format!("fake error {status}"), "type": "fake"}}).to_string(),
        }
    }

    /// An error status with `Retry-After: <retry_after>`.
    pub fn status_retry_after(status: u16, retry_after: &str) -> Response {
        match Response::status(status) {
            Response::Status { status, body, .. } => {
                Response::Status { status, retry_after: Some(retry_after.into()), body }
            }
            _ => unreachable!(),
        }
    }

    /// `200 application/json` whose body is not JSON.
    pub fn invalid_json() -> Response {
        Response::Raw {
            status: 200,
            content_type: "application/json".into(),
            body: "{\"choices\": [{\"message\": oops".into(),
        }
    }

    /// `response` after `delay`.
    pub fn delayed(delay: Duration, response: Response) -> Response {
        Response::Delay(delay, Box::new(response))
    }
}

/// A closure that answers a request (used when the queue is empty).
pub type Responder = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Response>>,
    requests: Mutex<Vec<Request>>,
    /// Read for every request the queue cannot answer; set once by `respond_with`.
    responder: Mutex<Option<Responder>>,
}

/// The running server; it stops with the test's runtime.
pub struct FakeOpenAi {
    port: u16,
    shared: Arc<Shared>,
}

impl FakeOpenAi {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start() -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake OpenAI server");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, s.clone()));
            }
        });
        FakeOpenAi { port, shared }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Queues an answer.
    pub fn push(&self, response: Response) {
        self.shared.queue.lock().unwrap().push_back(response);
    }

    /// Queues several answers.
    pub fn push_all(&self, responses: impl IntoIterator<Item = Response>) {
        self.shared.queue.lock().unwrap().extend(responses);
    }

    /// Answers every request the queue cannot answer with `responder(request)`.
    pub fn respond_with(&self, responder: impl Fn(&Request) -> Response + Send + Sync + 'static) {
        *self.shared.responder.lock().unwrap() = Some(Arc::new(responder));
    }

    /// Answers still queued.
    pub fn pending(&self) -> usize {
        self.shared.queue.lock().unwrap().len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }
}

/// Serves one connection: requests until the client closes it or a response closes it.
async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let mut conn = BufReader::new(socket);
    loop {
        let Some(request) = read_request(&mut conn).await else { return };
        shared.requests.lock().unwrap().push(request.clone());
        let queued = shared.queue.lock().unwrap().pop_front();
        let responder = shared.responder.lock().unwrap().clone();
        let response = match (queued, responder) {
            (Some(r), _) => r,
            (None, Some(f)) => f(&request),
            (None, None) => Response::text(DEFAULT_REPLY),
        };
        match write_response(conn.get_mut(), response).await {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let _ = conn.get_mut().shutdown().await;
                return;
            }
        }
    }
}

async fn read_request(conn: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if conn.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if conn.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut raw = vec![0u8; len];
    conn.read_exact(&mut raw).await.ok()?;
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Some(Request { method, path, headers, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes one response; `Ok(false)` when the connection must be closed after it.
async fn write_response(socket: &mut TcpStream, response: Response) -> std::io::Result<bool> {
    let mut response = response;
    while let Response::Delay(delay, inner) = response {
        tokio::time::sleep(delay).await;
        response = *inner;
    }
    let simple = |status: u16, content_type: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            reason(status),
            body.len()
        )
    };
    match response {
        Response::Completion { content, tool_calls, usage: (prompt, completion) } => {
            let mut message = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                message["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
            }
            let finish = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
            let body = json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "gpt-test",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            });
            socket.write_all(simple(200, "application/json", "", &body.to_string()).as_bytes()).await?;
            Ok(true)
        }
        Response::Status { status, retry_after, body } => {
            let extra = retry_after.map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default();
            socket.write_all(simple(status, "application/json", &extra, &body).as_bytes()).await?;
            Ok(true)
        }
        Response::Raw { status, content_type, body } => {
            socket.write_all(simple(status, &content_type, "", &body).as_bytes()).await?;
            Ok(true)
        }
        Response::Stream { chunks, framing, gap, done } => {
            let events: Vec<String> = chunks
                .iter()
                .map(|c| format!("data: {c}\n\n"))
                .chain(done.then(|| "data: [DONE]\n\n".to_string()))
                .collect();
            let head = match framing {
                Framing::Chunked => "Transfer-Encoding: chunked\r\n",
                Framing::Close => "Connection: close\r\n",
            };
            socket
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n{head}\r\n"
                    )
                    .as_bytes(),
                )
                .await?;
            for event in events {
                match framing {
                    Framing::Chunked => {
                        socket.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).await?;
                    }
                    Framing::Close => socket.write_all(event.as_bytes()).await?,
                }
                socket.flush().await?;
                // Let each event arrive on its own, as a real stream's would.
                tokio::time::sleep(gap).await;
            }
            match framing {
                Framing::Chunked => {
                    socket.write_all(b"0\r\n\r\n").await?;
                    Ok(true)
                }
                Framing::Close => Ok(false),
            }
        }
        Response::RawStream { pieces, gap } => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                .await?;
            for piece in pieces {
                socket.write_all(piece.as_bytes()).await?;
                socket.flush().await?;
                tokio::time::sleep(gap).await;
            }
            Ok(false)
        }
        Response::Delay(..) => unreachable!("delays are unwrapped above"),
    }
}
