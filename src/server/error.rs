//! The one place where failures become HTTP answers: every error body is `{"detail": …}`, as
//! AgentOS answers (a string, or FastAPI's list for request validation).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::run::RunError;
use crate::runtime::RuntimeError;
use crate::store::{Conflict, StoreError};

/// An HTTP error: a status and the `detail` of its body.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The `detail` value (a string, or FastAPI's validation list).
    pub detail: Value,
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// `status` with a text detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: Value::String(detail.into()) }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 422 in FastAPI's shape: one entry per field, `loc` its place (`["body", "message"]`).
    pub fn validation(entries: Vec<Value>) -> Self {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, detail: Value::Array(entries) }
    }

    /// 422 for one field: `kind` is FastAPI's error type (`missing`, `value_error`, …).
    pub fn field(loc: &[&str], kind: &str, msg: impl Into<String>, input: Value) -> Self {
        ApiError::validation(vec![json!({ "type": kind, "loc": loc, "msg": msg.into(), "input": input })])
    }

    /// 503: a database is down or not ready; the request may succeed later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), detail = %self.detail, "request failed");
        }
        (self.status, axum::Json(json!({ "detail": self.detail }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { what, id } => ApiError::not_found(not_found_text(what, id)),
            StoreError::Conflict(c) => conflict(c),
            StoreError::Invalid(m) => ApiError::bad_request(m.clone()),
            // A value no database can take (a NUL in an id, an id past PostgreSQL's index row
            // size) is the caller's error, not an outage to retry.
            StoreError::Backend { backend: "postgres", message, .. } if refused_value(message) => {
                ApiError::bad_request(e.to_string())
            }
            StoreError::Backend { .. } => ApiError::unavailable(e.to_string()),
        }
    }
}

/// PostgreSQL's refusal of a value itself (`SQLSTATE: message`, as the store words it): 22021,
/// a NUL in text; 54000, an index row (a key) too large.
fn refused_value(message: &str) -> bool {
    message.starts_with("22021:") || message.starts_with("54000:")
}

/// AgentOS's texts: `Session with id '…' not found`, `Memory with id '…' not found`.
fn not_found_text(what: &str, id: &str) -> String {
    let mut kind = what.to_string();
    if let Some(first) = kind.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{kind} with id '{id}' not found")
}

/// 403 for another user's session; 409 for a session of another component or a taken run id.
fn conflict(c: &Conflict) -> ApiError {
    match c {
        Conflict::NotOwner { .. } => ApiError::new(StatusCode::FORBIDDEN, c.to_string()),
        Conflict::WrongSession { .. } | Conflict::RunExists { .. } => {
            ApiError::new(StatusCode::CONFLICT, c.to_string())
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::UnknownDatabase(db) => ApiError::not_found(format!("Database with id '{db}' not found")),
            other => ApiError::unavailable(other.to_string()),
        }
    }
}

impl From<RunError> for ApiError {
    /// For a run that could not start (a run that started and failed is a 200 with its status).
    fn from(e: RunError) -> Self {
        match e {
            RunError::Store(s) => s.into(),
            RunError::Unknown { ref target, .. } => {
                let kind = match target.kind {
                    crate::store::SessionType::Agent => "Agent",
                    crate::store::SessionType::Team => "Team",
                    crate::store::SessionType::Workflow => "Workflow",
                };
                ApiError::not_found(format!("{kind} not found"))
            }
            RunError::InvalidInput(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            RunError::NotBuilt(_) => ApiError::new(StatusCode::NOT_IMPLEMENTED, e.to_string()),
            RunError::Unavailable { message, .. } => ApiError::unavailable(message),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}
