//! Chat models: an OpenAI-compatible chat-completions client and a scripted model, behind one
//! `Model` type that takes messages and tool specs, reports the reply as [`ModelEvent`]s while
//! it arrives, and returns the assistant's whole turn.
//!
//! It knows nothing of sessions or storage; the agent loop in `agent` drives it. Everything a
//! model server sends is bounded here, where it enters: tool calls per turn, body sizes.

mod openai;
mod scripted;
mod sse;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config;

pub use openai::OpenAiModel;
pub use scripted::ScriptedModel;

/// One chat message in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text content.
    pub content: Option<String>,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with text.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: Some(content.into()), tool_calls: Vec::new(), tool_call_id: None }
    }
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool message.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as the model wrote them (JSON text, possibly malformed).
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// Most tool calls one model turn may carry; a turn with more (or a streamed tool-call index
/// past it) is a malformed answer, not an allocation.
pub const MAX_TOOL_CALLS: usize = 128;

/// What a model reports while its turn arrives, in order. Text pieces and tool-call pieces come
/// as the server streams them (a non-streamed turn reports its text once); usage comes last.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent<'a> {
    /// A piece of the answer's text.
    Text(&'a str),
    /// A piece of a tool call: the call at `index`, with its id and name when this piece
    /// carries them, and a piece of its JSON arguments.
    ToolCallDelta {
        /// Position of the call in the turn.
        index: usize,
        /// Call id, when this piece carries it.
        id: Option<&'a str>,
        /// Function name, when this piece carries it.
        name: Option<&'a str>,
        /// A piece of the arguments' JSON text.
        arguments: Option<&'a str>,
    },
    /// Tokens used by the call.
    Usage(Usage),
}

/// Where a model call reports its [`ModelEvent`]s.
pub type OnEvent<'a> = &'a mut (dyn FnMut(ModelEvent<'_>) + Send);

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Sum.
    pub total_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    /// Saturating: counts a server reports are not trusted not to overflow.
    fn add_assign(&mut self, o: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(o.total_tokens);
    }
}

/// The assistant's turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// Text.
    pub content: Option<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used.
    pub usage: Usage,
    /// What the server said of the reply (`{id, system_fingerprint}`: Agno's
    /// `provider_data`), when it said it.
    pub provider_data: Option<serde_json::Value>,
}

/// What a model call can fail with. Messages never hold the API key.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No key configured.
    #[error("model `{model}` has an empty API key; set {hint}")]
    MissingKey {
        /// Model id.
        model: String,
        /// Where the key comes from, e.g. the environment variable.
        hint: String,
    },
    /// 401/403.
    #[error("model `{model}`: the API key was refused (HTTP {status}); check the key{hint}")]
    Auth {
        /// Model id.
        model: String,
        /// Status.
        status: u16,
        /// ` in X` when known.
        hint: String,
    },
    /// The server sent nothing for longer than the idle `timeout` (before answering, or
    /// between two pieces of a stream).
    #[error("model `{model}` did not answer within {elapsed:.1?} (timeout {timeout:.1?})")]
    Timeout {
        /// Model id.
        model: String,
        /// Time spent.
        elapsed: std::time::Duration,
        /// The limit.
        timeout: std::time::Duration,
    },
    /// The whole call took longer than the model's `deadline`.
    #[error("model `{model}` did not finish within its deadline of {deadline:.1?}")]
    Deadline {
        /// Model id.
        model: String,
        /// The limit.
        deadline: std::time::Duration,
    },
    /// The server reported an error inside a successful response (an `error` object in the
    /// stream or in the body).
    #[error("model `{model}` reported an error: {message}")]
    Remote {
        /// Model id.
        model: String,
        /// The server's message (shortened).
        message: String,
    },
    /// An HTTP error that retries did not fix, or one that is not retried.
    #[error("model `{model}`: HTTP {status} after {attempts} attempt(s): {body}")]
    Http {
        /// Model id.
        model: String,
        /// Status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Start of the response body.
        body: String,
    },
    /// The connection failed.
    #[error("model `{model}`: cannot reach {url} after {attempts} attempt(s): {message}")]
    Transport {
        /// Model id.
        model: String,
        /// Endpoint.
        url: String,
        /// Attempts.
        attempts: u32,
        /// Cause.
        message: String,
    },
    /// The response could not be understood.
    #[error("model `{model}` sent a response that cannot be read: {message}")]
    Malformed {
        /// Model id.
        model: String,
        /// What was wrong.
        message: String,
    },
}

impl ModelError {
    /// The error with each of `secrets` hidden from the text a server wrote (its body, its
    /// message, a transport's cause).
    pub fn redacted<'a>(self, secrets: impl IntoIterator<Item = &'a crate::config::Secret> + Clone) -> ModelError {
        let hide = |t: String| crate::config::redact_secrets(&t, secrets.clone());
        match self {
            ModelError::Remote { model, message } => ModelError::Remote { model, message: hide(message) },
            ModelError::Http { model, status, attempts, body } => {
                ModelError::Http { model, status, attempts, body: hide(body) }
            }
            ModelError::Transport { model, url, attempts, message } => ModelError::Transport {
                model,
                url: crate::config::redact_url(&hide(url)),
                attempts,
                message: crate::config::redact_url(&hide(message)),
            },
            ModelError::Malformed { model, message } => ModelError::Malformed { model, message: hide(message) },
            other => other,
        }
    }
}

/// A configured model.
#[derive(Debug, Clone)]
pub enum Model {
    /// OpenAI-compatible API.
    OpenAi(OpenAiModel),
    /// Scripted replies.
    Scripted(ScriptedModel),
}

impl Model {
    /// Builds the model `id` of the config. OpenAI-compatible models send through `http`, the
    /// process's one HTTP client (connection pools shared by every model and generation).
    pub fn new(id: &str, cfg: &config::model::Model, key_hint: Option<&str>, http: &reqwest::Client) -> Model {
        match cfg {
            config::model::Model::Openai {
                id: name,
                base_url,
                api_key,
                temperature,
                max_tokens,
                timeout,
                deadline,
                max_retries,
                headers,
            } => Model::OpenAi(OpenAiModel::new(
                openai::Settings {
                    model_id: id.to_string(),
                    name: name.clone(),
                    base_url: base_url.clone().unwrap_or_else(|| "https://api.openai.com/v1".into()),
                    api_key: api_key.clone().unwrap_or_default(),
                    key_hint: key_hint.map(str::to_string),
                    temperature: *temperature,
                    max_tokens: *max_tokens,
                    timeout: std::time::Duration::from_secs_f64(timeout.unwrap_or(60.0)),
                    deadline: deadline.map(std::time::Duration::from_secs_f64),
                    max_retries: max_retries.unwrap_or(2),
                    headers: headers.clone(),
                },
                http.clone(),
            )),
            config::model::Model::Scripted { id: name, replies } => {
                Model::Scripted(ScriptedModel::new(name.clone().unwrap_or_else(|| "scripted".into()), replies.clone()))
            }
        }
    }

    /// `{name, id, provider}` as Agno stores it in `agent_data.model`.
    pub fn describe(&self) -> Value {
        serde_json::json!({"name": self.class(), "id": self.name(), "provider": self.provider()})
    }

    /// Agno's model class name (`OpenAIChat`): `agent_data.model.name`, the model-call span's name.
    pub fn class(&self) -> &'static str {
        match self {
            Model::OpenAi(_) => "OpenAIChat",
            Model::Scripted(_) => "Scripted",
        }
    }

    /// The model name sent to the API (`run_data.model`).
    pub fn name(&self) -> &str {
        match self {
            Model::OpenAi(m) => m.name(),
            Model::Scripted(m) => m.name(),
        }
    }

    /// The provider as Agno names it in metrics `details` (`OpenAIChat`'s "OpenAI Chat").
    pub fn metrics_provider(&self) -> &'static str {
        match self {
            Model::OpenAi(_) => "OpenAI Chat",
            Model::Scripted(_) => "agno-run",
        }
    }

    /// The provider (`run_data.model_provider`).
    pub fn provider(&self) -> &'static str {
        match self {
            Model::OpenAi(_) => "OpenAI",
            Model::Scripted(_) => "agno-run",
        }
    }

    /// One assistant turn, streamed from the server when `stream`; its pieces are reported to
    /// `on_event` as they arrive.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        stream: bool,
        on_event: OnEvent<'_>,
    ) -> Result<Reply, ModelError> {
        self.complete_as(messages, tools, stream, None, on_event).await
    }

    /// [`Model::complete`] with OpenAI's `response_format` (a JSON Schema the answer must
    /// follow, as Agno asks its summary model); the scripted model ignores it.
    pub async fn complete_as(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        stream: bool,
        response_format: Option<&Value>,
        on_event: OnEvent<'_>,
    ) -> Result<Reply, ModelError> {
        match self {
            Model::OpenAi(m) => m.complete(messages, tools, stream, response_format, on_event).await,
            Model::Scripted(m) => Ok(m.complete(messages, on_event)),
        }
    }

    /// The shared HTTP client models use: connection pools shared by every model of the
    /// process, a connect timeout, no overall timeout (each call sets its own idle timeout).
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .build()
            .unwrap_or_default()
    }
}
