//! `/sessions…` in AgentOS's shapes: the list (`{data, meta}`), the three session detail
//! schemas, and the run schemas. `user_id` scopes a request to that user's sessions (another
//! user's session is a 403); without it the key holder acts as an operator, as in AgentOS.
//! `db_id` picks the database (default: the first declared), `table` must name its sessions
//! table when given.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::reload::iso;
use super::{ApiError, ApiResult, Shared};
use crate::runtime::Generation;
use crate::store::{Run, Session, SessionQuery, SessionType, SortBy, Store, StoreError, check_owner};

/// Most values (objects, arrays, strings, numbers) one JSON body or run `session_state` may
/// hold. A JSON tree takes about 80 bytes a value, and a request's tree is copied a few times
/// (into the session, the run, the answer): `[0,0,…]` would cost some 300 times its size.
pub(super) const MAX_JSON_VALUES: usize = 20_000;

/// The detail of a refused body of too many values.
pub(super) fn too_many_values() -> String {
    format!("the JSON holds more than {MAX_JSON_VALUES} values")
}

/// True when JSON `text` may hold more than `limit` values: counts the openers and separators
/// outside strings (at least one per value), without parsing.
pub(super) fn json_values_over(text: &[u8], limit: usize) -> bool {
    let (mut n, mut in_string, mut escaped) = (1usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b',' | b':' => {
                n += 1;
                if n > limit {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Parses a JSON body; a body that is not the expected JSON is FastAPI's 422.
pub(super) fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if json_values_over(body, MAX_JSON_VALUES) {
        return Err(ApiError::field(&["body"], "too_long", too_many_values(), Value::Null));
    }
    serde_json::from_slice(body).map_err(|e| {
        let kind = if e.is_syntax() || e.is_eof() { "json_invalid" } else { "model_attributes_type" };
        ApiError::field(&["body"], kind, format!("Invalid request body: {e}"), Value::Null)
    })
}

/// Reads a query string as FastAPI does for `List[str]` parameters: the keys in `lists` may
/// repeat (`status=A&status=B`, as httpx sends a list) and are returned, in order, apart from
/// the rest, which deserializes into `T` (a repeated key there is still refused).
pub(super) fn query_with_lists<T: DeserializeOwned>(
    raw: Option<&str>,
    lists: &[&str],
) -> ApiResult<(T, std::collections::HashMap<String, Vec<String>>)> {
    let bad = |e: &dyn std::fmt::Display| ApiError::bad_request(format!("Failed to deserialize query string: {e}"));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|e| bad(&e))?;
    let mut listed: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut rest = Vec::new();
    for (k, v) in pairs {
        if lists.contains(&k.as_str()) {
            listed.entry(k).or_default().push(v);
        } else {
            rest.push((k, v));
        }
    }
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| bad(&e))?;
    let q = serde_urlencoded::from_str(&rest).map_err(|e| bad(&e))?;
    Ok((q, listed))
}

/// The database of a request: `db_id`, or the first declared. `table`, when given, must be
/// `pick`'s table of that database.
pub(super) async fn store_for(
    g: &Generation,
    db_id: Option<&str>,
    table: Option<&str>,
    pick: fn(&crate::config::TableNames) -> &String,
) -> ApiResult<Store> {
    let db = match db_id {
        Some(db) => db.to_string(),
        None => g.config().databases.keys().next().cloned().unwrap_or_default(),
    };
    let Some(cfg) = g.config().databases.get(&db) else {
        return Err(ApiError::not_found(format!("Database with id '{db}' not found")));
    };
    if let Some(t) = table
        && t != pick(&cfg.tables)
    {
        return Err(ApiError::not_found(format!("Table '{t}' not found in database '{db}'")));
    }
    Ok(g.store(&db).await?)
}

fn sessions_table(t: &crate::config::TableNames) -> &String {
    &t.sessions
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(rename = "type")]
    session_type: Option<SessionType>,
    component_id: Option<String>,
    user_id: Option<String>,
    session_name: Option<String>,
    limit: Option<u32>,
    page: Option<u32>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
}

/// `{page, limit, total_pages, total_count, search_time_ms}`.
pub(super) fn meta(page: u32, limit: u32, total: u64, started: std::time::Instant) -> Value {
    let pages = if limit == 0 { 0 } else { total.div_ceil(u64::from(limit)) };
    json!({
        "page": page, "limit": limit, "total_pages": pages, "total_count": total,
        "search_time_ms": (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
    })
}

fn session_name(s: &Session, runs: Option<&[Run]>) -> String {
    if let Some(name) = s.session_name() {
        return name.to_string();
    }
    let Some(runs) = runs else { return String::new() };
    let first = runs.iter().find(|r| r.parent_run_id.is_none());
    let Some(run) = first else { return String::new() };
    let data = &run.run_data;
    if s.session_type == SessionType::Workflow {
        return match data.get("input") {
            Some(Value::String(t)) => t.clone(),
            Some(other) if !other.is_null() => other.to_string(),
            _ => String::new(),
        };
    }
    let user_message = data
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| ms.iter().find(|m| m["role"] == "user" && m["content"].as_str().is_some_and(|c| !c.is_empty())));
    if let Some(m) = user_message {
        return m["content"].as_str().unwrap_or_default().to_string();
    }
    data.pointer("/input/input_content").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn metrics(s: &Session) -> Option<Value> {
    s.session_data.as_ref()?.get("session_metrics").cloned()
}

fn session_state(s: &Session) -> Value {
    s.session_state().map(|m| Value::Object(m.clone())).unwrap_or(Value::Null)
}

/// A row of `GET /sessions` (`SessionSchema`); `runs` name a session that has no name.
fn list_row(s: &Session, runs: Option<&[Run]>) -> Value {
    let metrics = metrics(s);
    let total = metrics.as_ref().and_then(|m| m.get("total_tokens")).cloned();
    let row = json!({
        "session_id": s.session_id, "session_name": session_name(s, runs), "session_state": session_state(s),
        "created_at": iso(s.created_at), "updated_at": iso(s.updated_at.unwrap_or(s.created_at)),
        "session_type": s.session_type, "user_id": s.user_id, "agent_id": s.agent_id, "team_id": s.team_id,
        "workflow_id": s.workflow_id, "session_summary": s.summary, "metrics": metrics, "total_tokens": total,
        "metadata": s.metadata,
    });
    without_nulls(row)
}

fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// The messages of a session as a chat: its top-level runs' messages that are not history or
/// system prompts (Agno's `get_chat_history`).
fn chat_history(runs: &[Run]) -> Vec<Value> {
    runs.iter()
        .filter(|r| r.parent_run_id.is_none())
        .flat_map(|r| r.run_data.get("messages").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter(|m| m["from_history"] != json!(true) && m["role"] != "system")
        .collect()
}

/// The detail schema of the session's type (`AgentSessionDetailSchema`, …).
fn detail(s: &Session, runs: &[Run]) -> Value {
    let metrics = metrics(s);
    let total = metrics.as_ref().and_then(|m| m.get("total_tokens")).cloned();
    let name = session_name(s, Some(runs));
    let (created, updated) = (iso(s.created_at), iso(s.updated_at.unwrap_or(s.created_at)));
    let v = match s.session_type {
        SessionType::Agent => json!({
            "user_id": s.user_id, "agent_session_id": s.session_id, "session_id": s.session_id,
            "session_name": name, "session_summary": s.summary, "session_state": session_state(s),
            "agent_id": s.agent_id, "total_tokens": total, "agent_data": s.agent_data, "metrics": metrics,
            "metadata": s.metadata, "chat_history": chat_history(runs), "created_at": created, "updated_at": updated,
        }),
        SessionType::Team => json!({
            "session_id": s.session_id, "session_name": name, "user_id": s.user_id, "team_id": s.team_id,
            "session_summary": s.summary, "session_state": session_state(s), "metrics": metrics,
            "team_data": s.team_data, "metadata": s.metadata, "chat_history": chat_history(runs),
            "created_at": created, "updated_at": updated, "total_tokens": total,
        }),
        SessionType::Workflow => json!({
            "user_id": s.user_id, "workflow_id": s.workflow_id,
            "workflow_name": s.workflow_data.as_ref().and_then(|w| w.get("name")),
            "session_id": s.session_id, "session_name": name, "session_data": s.session_data,
            "session_state": session_state(s), "workflow_data": s.workflow_data, "metadata": s.metadata,
            "created_at": created, "updated_at": updated,
        }),
    };
    without_nulls(v)
}

fn run_input(run: &Run) -> String {
    let d = &run.run_data;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if run.run_type != SessionType::Workflow
        && let Some(c) = d.pointer("/input/input_content").filter(|v| !v.is_null())
    {
        return text(c);
    }
    if run.run_type == SessionType::Workflow
        && let Some(i) = d.get("input").filter(|v| !v.is_null())
    {
        return text(i);
    }
    d.get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| ms.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// `RunSchema`, `TeamRunSchema` or `WorkflowRunSchema` of a stored run, by its type.
fn run_schema(run: &Run) -> Value {
    let d = &run.run_data;
    let get = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
    let format = if d.get("content_type").and_then(Value::as_str).unwrap_or("str") == "str" { "text" } else { "json" };
    let status = run.status.map(|s| json!(s.as_str())).unwrap_or_else(|| get("status"));
    let mut v = match run.run_type {
        SessionType::Workflow => json!({
            "run_id": run.run_id, "run_input": run_input(run), "events": get("events"),
            "workflow_id": run.workflow_id, "user_id": run.user_id, "content": get("content"),
            "content_type": get("content_type"), "status": status, "step_results": get("step_results"),
            "step_executor_runs": get("step_executor_runs"), "metrics": get("metrics"),
            "created_at": iso(run.created_at),
        }),
        kind => {
            let mut v = json!({
                "run_id": run.run_id, "parent_run_id": run.parent_run_id, "user_id": run.user_id,
                "status": status, "run_input": run_input(run), "content": get("content"),
                "run_response_format": format, "reasoning_content": get("reasoning_content"),
                "metrics": get("metrics"), "messages": get("messages"), "tools": get("tools"),
                "events": get("events"), "created_at": iso(run.created_at), "session_state": get("session_state"),
            });
            if kind == SessionType::Team {
                v["team_id"] = json!(run.team_id);
            } else {
                v["agent_id"] = json!(run.agent_id);
            }
            // A team run's member runs are listed separately; their ids say who answered.
            if let Some(m) = d.get("member_responses") {
                v["member_responses"] = m.clone();
            }
            v
        }
    };
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, val| !val.is_null() || k == "content");
    }
    v
}

/// Reads a session: by `user` when given (another user's is refused with 403), else whoever
/// owns it. A `type` that is not the session's is a 404, as in AgentOS.
async fn read(store: &Store, id: &str, user: Option<&str>, kind: Option<SessionType>) -> ApiResult<Session> {
    let s = match user {
        Some(u) => store.get_session(id, Some(u)).await?,
        None => store.get_session_any(id).await?,
    };
    if let Some(k) = kind
        && k != s.session_type
    {
        let mut t = k.as_str().to_string();
        t[..1].make_ascii_uppercase();
        return Err(ApiError::not_found(format!("{t} Session with id '{id}' not found")));
    }
    Ok(s)
}

pub(super) async fn list(State(app): State<Shared>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    let sort_by = match q.sort_by.as_deref() {
        None | Some("created_at") => SortBy::CreatedAt,
        Some("updated_at") => SortBy::UpdatedAt,
        Some("session_id") => SortBy::SessionId,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort_by `{other}`: one of created_at, updated_at, session_id"
            )));
        }
    };
    let ascending = match q.sort_order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::field(
                &["query", "sort_order"],
                "enum",
                format!("Input should be 'asc' or 'desc', not `{other}`"),
                json!(other),
            ));
        }
    };
    let query = SessionQuery {
        session_type: q.session_type,
        component_id: q.component_id,
        user_id: q.user_id,
        name: q.session_name,
        sort_by,
        ascending,
        limit: Some(q.limit.unwrap_or(20).clamp(1, 1000)),
        page: Some(q.page.unwrap_or(1).max(1)),
        ..Default::default()
    };
    let page = store.list_sessions(&query).await?;
    // A session without a name is named after its first message, as AgentOS lists it.
    let mut data: Vec<Value> = Vec::with_capacity(page.items.len());
    for s in &page.items {
        // Only the first top-level run: a long session is not read whole to name it.
        let runs = if s.session_name().is_none() {
            Some(store.first_run(&s.session_id).await?.into_iter().collect::<Vec<_>>())
        } else {
            None
        };
        data.push(list_row(s, runs.as_deref()));
    }
    Ok(Json(json!({ "data": data, "meta": meta(page.page, page.limit, page.total, started) })))
}

#[derive(Debug, Deserialize)]
pub(super) struct ScopeQuery {
    #[serde(rename = "type")]
    session_type: Option<SessionType>,
    user_id: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    session_id: Option<String>,
    session_name: Option<String>,
    session_state: Option<Map<String, Value>>,
    metadata: Option<Value>,
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
}

/// `POST /sessions?type=…`: a new empty session (201). The component must exist; an id that is
/// taken is a 409.
pub(super) async fn create(State(app): State<Shared>, Query(q): Query<ScopeQuery>, body: Bytes) -> ApiResult<Response> {
    let g = app.generation();
    let b: CreateBody = if body.is_empty() { json_body(b"{}")? } else { json_body(&body)? };
    let kind = q.session_type.unwrap_or(SessionType::Agent);
    let (component, db, data) = match kind {
        SessionType::Agent => {
            let id =
                b.agent_id.clone().ok_or_else(|| ApiError::bad_request("agent_id is required for an agent session"))?;
            let a = g.agent(&id).ok_or_else(|| ApiError::not_found("Agent not found"))?;
            (id, a.config.db.clone(), ("agent_data", a.agent_data()))
        }
        SessionType::Team => {
            let id =
                b.team_id.clone().ok_or_else(|| ApiError::bad_request("team_id is required for a team session"))?;
            let t = g.team(&id).ok_or_else(|| ApiError::not_found("Team not found"))?;
            (id, t.config.db.clone(), ("team_data", t.agent_data()))
        }
        SessionType::Workflow => {
            let id = b
                .workflow_id
                .clone()
                .ok_or_else(|| ApiError::bad_request("workflow_id is required for a workflow session"))?;
            let w = g.workflow(&id).ok_or_else(|| ApiError::not_found("Workflow not found"))?;
            (id, w.config.db.clone(), ("workflow_data", w.workflow_data()))
        }
    };
    let db = q.db_id.clone().unwrap_or(db);
    let store = store_for(&g, Some(&db), q.table.as_deref(), sessions_table).await?;
    let id = b.session_id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    match store.get_session_any(&id).await {
        Ok(_) => return Err(ApiError::new(StatusCode::CONFLICT, format!("Session with id '{id}' already exists"))),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mut s = Session::new(id.clone(), kind, component);
    s.user_id = b.user_id.clone();
    let mut session_data = Map::new();
    if let Some(name) = b.session_name {
        session_data.insert("session_name".into(), json!(name));
    }
    session_data.insert("session_state".into(), Value::Object(b.session_state.unwrap_or_default()));
    s.session_data = Some(Value::Object(session_data));
    s.metadata = b.metadata;
    match data.0 {
        "agent_data" => s.agent_data = Some(data.1),
        "team_data" => s.team_data = Some(data.1),
        _ => s.workflow_data = Some(data.1),
    }
    let stored = store.upsert_session(&s).await?;
    Ok((StatusCode::CREATED, Json(detail(&stored, &[]))).into_response())
}

pub(super) async fn get(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    let s = read(&store, &id, q.user_id.as_deref(), q.session_type).await?;
    let runs = store.list_runs(&id).await?;
    Ok(Json(detail(&s, &runs)))
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    session_name: Option<String>,
    session_state: Option<Map<String, Value>>,
    metadata: Option<Value>,
    summary: Option<Value>,
}

/// Applies `change` to the session under its write lock, refusing another user's (`user`).
async fn change(
    store: &Store,
    id: &str,
    q: &ScopeQuery,
    f: impl FnOnce(&mut Session) + Send + 'static,
) -> ApiResult<Json<Value>> {
    read(store, id, q.user_id.as_deref(), q.session_type).await?;
    let user = q.user_id.clone();
    let s = store
        .modify_session(
            id,
            Box::new(move |s| {
                if user.is_some() {
                    check_owner(s, user.as_deref())?;
                }
                f(s);
                s.updated_at = Some(crate::store::now());
                Ok(())
            }),
        )
        .await?;
    let runs = store.list_runs(id).await?;
    Ok(Json(detail(&s, &runs)))
}

fn session_data(s: &mut Session) -> &mut Map<String, Value> {
    let data = s.session_data.get_or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    data.as_object_mut().expect("an object")
}

/// `PATCH /sessions/{id}`: name, state (replaced), metadata, summary; absent keys are kept.
pub(super) async fn update(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b: UpdateBody = json_body(&body)?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    change(&store, &id, &q, move |s| {
        if let Some(name) = b.session_name {
            session_data(s).insert("session_name".into(), json!(name));
        }
        if let Some(state) = b.session_state {
            session_data(s).insert("session_state".into(), Value::Object(state));
        }
        if let Some(m) = b.metadata {
            s.metadata = Some(m);
        }
        if let Some(summary) = b.summary {
            s.summary = Some(summary);
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
struct RenameBody {
    session_name: String,
}

pub(super) async fn rename(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b: RenameBody = json_body(&body)?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    change(&store, &id, &q, move |s| {
        session_data(s).insert("session_name".into(), json!(b.session_name));
    })
    .await
}

pub(super) async fn delete(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Response> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    read(&store, &id, q.user_id.as_deref(), q.session_type).await?;
    match q.user_id.as_deref() {
        Some(u) => store.delete_session(&id, Some(u)).await?,
        None => {
            store.delete_sessions(std::slice::from_ref(&id)).await?;
        }
    }
    Ok(super::no_content())
}

#[derive(Debug, Deserialize)]
struct DeleteManyBody {
    session_ids: Vec<String>,
    #[serde(default)]
    session_types: Vec<SessionType>,
}

/// `DELETE /sessions` with `{session_ids, session_types}`: with `user_id`, only that user's
/// sessions go (others are left, as AgentOS scopes the delete).
pub(super) async fn delete_many(
    State(app): State<Shared>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: DeleteManyBody = json_body(&body)?;
    if b.session_ids.is_empty() {
        return Err(ApiError::field(
            &["body", "session_ids"],
            "too_short",
            "List should have at least 1 item",
            json!([]),
        ));
    }
    if b.session_ids.len() > 1000 {
        return Err(ApiError::field(
            &["body", "session_ids"],
            "too_long",
            "At most 1000 sessions per request",
            Value::Null,
        ));
    }
    if !b.session_types.is_empty() && b.session_types.len() != b.session_ids.len() {
        return Err(ApiError::bad_request("Session IDs and session types must have the same length"));
    }
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    match q.user_id.as_deref() {
        None => {
            store.delete_sessions(&b.session_ids).await?;
        }
        Some(u) => {
            for id in &b.session_ids {
                match store.delete_session(id, Some(u)).await {
                    Ok(()) | Err(StoreError::NotFound { .. }) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(super::no_content())
}

#[derive(Debug, Deserialize)]
pub(super) struct RunsQuery {
    #[serde(rename = "type")]
    session_type: Option<SessionType>,
    user_id: Option<String>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    db_id: Option<String>,
    table: Option<String>,
}

/// `GET /sessions/{id}/runs`: every run of the session (member runs included, with their
/// `parent_run_id`), oldest first. `status` may repeat (the client sends a list) or hold a
/// comma-separated list; a run matches any of them.
pub(super) async fn runs(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let (q, lists) = query_with_lists::<RunsQuery>(raw.as_deref(), &["status"])?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    read(&store, &id, q.user_id.as_deref(), q.session_type).await?;
    let statuses: Vec<String> = lists
        .get("status")
        .into_iter()
        .flatten()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    let runs = store.list_runs(&id).await?;
    let out: Vec<Value> = runs
        .iter()
        .filter(|r| q.created_after.is_none_or(|t| r.created_at >= t))
        .filter(|r| q.created_before.is_none_or(|t| r.created_at <= t))
        .filter(|r| statuses.is_empty() || r.status.is_some_and(|s| statuses.iter().any(|x| x == s.as_str())))
        .map(run_schema)
        .collect();
    Ok(Json(Value::Array(out)))
}

pub(super) async fn run(
    State(app): State<Shared>,
    Path((id, run_id)): Path<(String, String)>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), sessions_table).await?;
    read(&store, &id, q.user_id.as_deref(), q.session_type).await?;
    let run = match store.get_run(&run_id).await {
        Ok(r) if r.session_id == id => r,
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!("Run with ID {run_id} not found in session {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(run_schema(&run)))
}
