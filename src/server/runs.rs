//! `POST /{agents|teams|workflows}/{id}/runs` and their cancel route.
//!
//! The body is a form (`application/x-www-form-urlencoded`), as Agno's client sends it:
//! `message` (required), `stream` (`"true"`/`"false"`; streaming when absent), `session_id`,
//! `user_id`, `session_state` (a JSON object). Other fields are run options agno-run does not
//! use; they are accepted and ignored, as AgentOS ignores what an agent does not take. A run
//! that starts and then fails is a 200 with `status: ERROR` (or a `RunError` event): only a run
//! that cannot start is an HTTP error.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::events::Mapper;
use super::{ApiError, ApiResult, Shared};
use crate::run::{Component, RunError, RunHandle, RunInput, RunRequest, SessionType};
use crate::runtime::{self, Generation};

/// Most fields one run form may have.
const MAX_FIELDS: usize = 256;

/// The fields of a run form agno-run uses.
#[derive(Debug)]
struct RunForm {
    message: String,
    stream: bool,
    session_id: Option<String>,
    user_id: Option<String>,
    session_state: Option<Map<String, Value>>,
}

/// FastAPI's reading of an optional form value: `"null"`/`"none"` and empty are None.
fn optional(v: String) -> Option<String> {
    match v.to_ascii_lowercase().as_str() {
        "" | "null" | "none" => None,
        _ => Some(v),
    }
}

/// The text fields of a `multipart/form-data` body (what `curl -F` sends). File parts are
/// refused: agno-run takes no media input yet.
async fn multipart_fields(content_type: &str, body: &[u8]) -> ApiResult<Vec<(String, String)>> {
    let unreadable = |e: multer::Error| {
        ApiError::field(&["body"], "value_error", format!("the form cannot be read: {e}"), Value::Null)
    };
    let boundary = multer::parse_boundary(content_type).map_err(unreadable)?;
    let bytes = Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = parts.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("file uploads (`{name}`) are not supported by agno-run yet; send text fields only"),
            ));
        }
        fields.push((name, field.text().await.map_err(unreadable)?));
        if fields.len() > MAX_FIELDS {
            break;
        }
    }
    Ok(fields)
}

fn too_many_fields() -> ApiError {
    ApiError::field(&["body"], "too_long", format!("the form has more than {MAX_FIELDS} fields"), Value::Null)
}

async fn parse_form(headers: &HeaderMap, body: &[u8]) -> ApiResult<RunForm> {
    let content_type = super::header_text(headers, "content-type").unwrap_or_default().to_ascii_lowercase();
    let fields: Vec<(String, String)> = if content_type.starts_with("application/x-www-form-urlencoded") {
        // Counted before parsing: a body of `a&a&…` would otherwise become a million pairs.
        if body.split(|b| *b == b'&').filter(|p| !p.is_empty()).nth(MAX_FIELDS).is_some() {
            return Err(too_many_fields());
        }
        serde_urlencoded::from_bytes(body).map_err(|e| {
            ApiError::field(&["body"], "value_error", format!("the form cannot be read: {e}"), Value::Null)
        })?
    } else if content_type.starts_with("multipart/form-data") {
        let raw = super::header_text(headers, "content-type").unwrap_or_default();
        multipart_fields(raw, body).await?
    } else {
        // FastAPI reads no form from another body (JSON included): the message is missing.
        Vec::new()
    };
    if fields.len() > MAX_FIELDS {
        return Err(too_many_fields());
    }
    let mut form =
        RunForm { message: String::new(), stream: true, session_id: None, user_id: None, session_state: None };
    let mut message = None;
    for (key, value) in fields {
        match key.as_str() {
            "message" => message = Some(value),
            "stream" => {
                form.stream = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    _ => {
                        return Err(ApiError::field(
                            &["body", "stream"],
                            "bool_parsing",
                            "Input should be a valid boolean, unable to interpret input",
                            json!(value),
                        ));
                    }
                }
            }
            "session_id" => form.session_id = optional(value),
            "user_id" => form.user_id = optional(value),
            "session_state" => {
                if let Some(text) = optional(value) {
                    if super::sessions::json_values_over(text.as_bytes(), super::sessions::MAX_JSON_VALUES) {
                        return Err(ApiError::field(
                            &["body", "session_state"],
                            "too_long",
                            super::sessions::too_many_values(),
                            Value::Null,
                        ));
                    }
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(m)) => form.session_state = Some(m),
                        _ => {
                            return Err(ApiError::field(
                                &["body", "session_state"],
                                "dict_type",
                                "Input should be a JSON object",
                                json!(text),
                            ));
                        }
                    }
                }
            }
            other => tracing::debug!(field = other, "run form field not used by agno-run"),
        }
    }
    match message {
        Some(m) => form.message = m,
        None => return Err(ApiError::field(&["body", "message"], "missing", "Field required", Value::Null)),
    }
    Ok(form)
}

fn exists(g: &Generation, kind: SessionType, id: &str) -> bool {
    match kind {
        SessionType::Agent => g.agent(id).is_some(),
        SessionType::Team => g.team(id).is_some(),
        SessionType::Workflow => g.workflow(id).is_some(),
    }
}

fn not_found(kind: SessionType) -> ApiError {
    ApiError::not_found(match kind {
        SessionType::Agent => "Agent not found",
        SessionType::Team => "Team not found",
        SessionType::Workflow => "Workflow not found",
    })
}

/// The database a component's sessions live in.
fn db_of(g: &Generation, kind: SessionType, id: &str) -> Option<String> {
    let c = g.config();
    match kind {
        SessionType::Agent => c.agents.get(id).map(|a| a.db.clone()),
        SessionType::Team => c.teams.get(id).map(|t| t.db.clone()),
        SessionType::Workflow => c.workflows.get(id).map(|w| w.db.clone()),
    }
}

pub(super) async fn agent_run(state: State<Shared>, id: Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    start(state, id, headers, body, SessionType::Agent).await
}

pub(super) async fn team_run(state: State<Shared>, id: Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    start(state, id, headers, body, SessionType::Team).await
}

pub(super) async fn workflow_run(state: State<Shared>, id: Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    start(state, id, headers, body, SessionType::Workflow).await
}

async fn start(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    kind: SessionType,
) -> Response {
    match start_run(&app, &id, &headers, &body, kind).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn start_run(app: &Shared, id: &str, headers: &HeaderMap, body: &[u8], kind: SessionType) -> ApiResult<Response> {
    // The run holds this generation to its end, whatever reloads happen meanwhile.
    let g = app.generation();
    if !exists(&g, kind, id) {
        return Err(not_found(kind));
    }
    if app.shutdown.is_cancelled() {
        return Err(ApiError::unavailable("the server is shutting down"));
    }
    let form = parse_form(headers, body).await?;
    let stream = form.stream;
    let request = RunRequest {
        target: Component::new(kind, id),
        input: RunInput {
            message: form.message,
            session_id: form.session_id,
            user_id: form.user_id,
            session_state: form.session_state,
            stream,
            ..Default::default()
        },
        parent: None,
    };
    let handle = runtime::start(&g, request).await.map_err(ApiError::from)?;
    tracing::info!(run_id = handle.run_id(), session_id = handle.session_id(), kind = %kind, id, stream, "run started");
    let db = db_of(&g, kind, id);
    if stream {
        let keep_alive = Duration::from_secs_f64(app.settings.sse_keep_alive);
        Ok(sse(g, handle, db, keep_alive).into_response())
    } else {
        let (data, overhead) = finish(&g, db.as_deref(), handle).await?;
        let mut response = Json(data).into_response();
        // agno-run's own time in the run (everything but waiting on models and tools), so its
        // overhead is visible per request; a streamed answer has it in the stored run's metrics.
        if let Some(own) = overhead
            && let Ok(v) = axum::http::HeaderValue::from_str(&format!("{:.3}", own.as_secs_f64() * 1000.0))
        {
            response.headers_mut().insert(OVERHEAD_HEADER, v);
        }
        Ok(response)
    }
}

/// The response header with agno-run's own time in a run, in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-agno-run-overhead-ms";

/// Waits for the run (a dropped request cancels it: the handle goes with this future) and
/// answers the stored run, as Agno's `RunOutput.to_dict()`, with agno-run's own time in it.
async fn finish(g: &Generation, db: Option<&str>, handle: RunHandle) -> ApiResult<(Value, Option<Duration>)> {
    match handle.result().await {
        Ok(out) => {
            let overhead = out.overhead;
            let mut data = with_members(g, db, &out.run).await;
            if data.get("status").is_none()
                && let Some(s) = out.run.status
            {
                data["status"] = json!(s.as_str());
            }
            Ok((data, Some(overhead)))
        }
        Err(e) => stored_failure(g, db, &e).await.map(|d| (d, None)).ok_or_else(|| ApiError::from(e)),
    }
}

/// A team run as AgentOS answers it: with `member_responses`, the member runs it delegated to
/// (nested teams' own members inside), as the live `TeamRunOutput` has them even when the
/// stored run leaves them out (`store_member_responses: false`).
async fn with_members(g: &Generation, db: Option<&str>, run: &crate::store::Run) -> Value {
    let mut data = run.run_data.clone();
    let wanted = run.run_type == SessionType::Team
        && data.get("member_responses").is_none_or(|m| m.as_array().is_some_and(Vec::is_empty));
    let Some(db) = db.filter(|_| wanted) else { return data };
    let Ok(store) = g.store(db).await else { return data };
    let Ok(runs) = store.list_runs(&run.session_id).await else { return data };
    fn members(runs: &[crate::store::Run], parent: &str, depth: usize) -> Vec<Value> {
        runs.iter()
            .filter(|r| r.parent_run_id.as_deref() == Some(parent))
            .map(|r| {
                let mut d = r.run_data.clone();
                if r.run_type == SessionType::Team && depth < 16 && d.get("member_responses").is_none() {
                    d["member_responses"] = json!(members(runs, &r.run_id, depth + 1));
                }
                d
            })
            .collect()
    }
    let found = members(&runs, &run.run_id, 0);
    if !found.is_empty() {
        data["member_responses"] = json!(found);
    }
    data
}

/// A run that started and failed: its stored row (status ERROR or CANCELLED, the message as
/// its content). None when it was never stored.
async fn stored_failure(g: &Generation, db: Option<&str>, e: &RunError) -> Option<Value> {
    let (run_id, session_id, status) = e.stored()?;
    let stored = match db {
        Some(db) => match g.store(db).await {
            Ok(store) => store.get_run(run_id).await.ok(),
            Err(_) => None,
        },
        None => None,
    };
    let mut data = stored
        .map(|r| r.run_data)
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({ "run_id": run_id, "session_id": session_id }));
    data["status"] = json!(status.as_str());
    if !data.get("content").is_some_and(Value::is_string) {
        data["content"] = json!(e.to_string());
    }
    Some(data)
}

/// What the stream still has to say.
struct Streamer {
    handle: Option<RunHandle>,
    mapper: Mapper,
    pending: VecDeque<(String, Value)>,
    generation: Arc<Generation>,
    /// The database of the run's component.
    db: Option<String>,
}

/// The run's events as SSE: `event: <Name>` and one line of compact JSON each, keep-alive
/// comments on long silences. The stream owns the run's handle: a client that goes away drops
/// it, which cancels the run (stored CANCELLED).
fn sse(
    g: Arc<Generation>,
    handle: RunHandle,
    db: Option<String>,
    keep_alive: Duration,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let mapper = Mapper::new(g.clone(), handle.run_id().to_string(), handle.session_id().to_string());
    let state = Streamer { handle: Some(handle), mapper, pending: VecDeque::new(), generation: g, db };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some((name, data)) = s.pending.pop_front() {
                let event = SseEvent::default().event(name).data(data.to_string());
                return Some((Ok(event), s));
            }
            let handle = s.handle.as_mut()?;
            match handle.next_event().await {
                Some(e) => {
                    let root_end = e.parent_run_id.is_none() && e.kind.is_terminal();
                    let run_data = if root_end {
                        s.ended().await
                    } else if matches!(e.kind, crate::run::EventKind::RunCompleted { .. }) {
                        s.stored(&e.run_id).await
                    } else {
                        None
                    };
                    let mapped = s.mapper.map(&e, run_data.as_ref());
                    s.pending.extend(mapped);
                }
                None => {
                    s.handle = None;
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive).text(""))
}

impl Streamer {
    /// A member or step run's stored row, written before its RunCompleted (for its metrics).
    async fn stored(&self, run_id: &str) -> Option<Value> {
        let store = self.generation.store(self.db.as_deref()?).await.ok()?;
        store.get_run(run_id).await.ok().map(|r| r.run_data)
    }

    /// The stored run, once the root has ended (for the metrics and state of the last event).
    /// The handle is kept: what follows the run (its memory update, its summary) is streamed
    /// after its end.
    async fn ended(&mut self) -> Option<Value> {
        let handle = self.handle.as_mut()?;
        match handle.wait().await {
            Ok(out) => {
                let run = out.run.clone();
                Some(with_members(&self.generation, self.db.as_deref(), &run).await)
            }
            Err(e) => {
                tracing::debug!(error = %e, "streamed run ended with an error");
                // Agno's `RunError.error_type`, for the kinds of failure it names.
                let kind = match e {
                    RunError::Model { .. } | RunError::Malformed { .. } => Some("model_provider_error"),
                    RunError::Internal { .. } => Some("internal_error"),
                    _ => None,
                };
                kind.map(|k| json!({ "error_type": k }))
            }
        }
    }
}

/// `POST …/runs/{run_id}/cancel`: cancels the run when it is in flight in this process (stored
/// CANCELLED by its own task). Answers `{}` either way, as AgentOS does. The run must be a
/// top-level run of that very component, kind and id: a team's route never stops an agent's run.
pub(super) async fn agent_cancel(state: State<Shared>, ids: Path<(String, String)>) -> Json<Value> {
    cancel(state, ids, SessionType::Agent).await
}

pub(super) async fn team_cancel(state: State<Shared>, ids: Path<(String, String)>) -> Json<Value> {
    cancel(state, ids, SessionType::Team).await
}

pub(super) async fn workflow_cancel(state: State<Shared>, ids: Path<(String, String)>) -> Json<Value> {
    cancel(state, ids, SessionType::Workflow).await
}

async fn cancel(
    State(app): State<Shared>,
    Path((id, run_id)): Path<(String, String)>,
    kind: SessionType,
) -> Json<Value> {
    let registry = app.generation().process().registry().clone();
    if let Some(run) = registry.get(&run_id)
        && run.component.kind == kind
        && run.component.id.as_deref() == Some(id.as_str())
        && run.parent_run_id.is_none()
    {
        registry.cancel(&run_id);
        tracing::info!(run_id, "run cancelled on request");
    }
    Json(json!({}))
}
