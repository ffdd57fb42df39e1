//! `/memories…`, `/memory_topics` and `/user_memory_stats` in AgentOS's shapes, over the
//! memories table. With a `user_id`, a request reads, changes and deletes only that user's
//! memories: another user's memory is a 404, never touched.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reload::iso;
use super::sessions::{json_body, meta, query_with_lists, store_for};
use super::{ApiError, ApiResult, Shared};
use crate::store::{Memory, MemoryQuery, Store, StoreError};

/// Most memories a topic or stats listing reads (the store pages; these routes aggregate).
const MAX_SCAN: u32 = 100_000;

fn memories_table(t: &crate::config::TableNames) -> &String {
    &t.memories
}

/// `UserMemorySchema`.
fn schema(m: &Memory) -> Value {
    json!({
        "memory_id": m.memory_id, "memory": m.memory, "topics": m.topics.clone().unwrap_or_else(|| json!([])),
        "agent_id": m.agent_id, "team_id": m.team_id, "user_id": m.user_id,
        "updated_at": iso(m.updated_at.unwrap_or(m.created_at)),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    search_content: Option<String>,
    limit: Option<u32>,
    page: Option<u32>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ScopeQuery {
    user_id: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
}

/// How many rows come before 1-based `page` (in u64: `page * limit` does not fit a u32).
fn offset(page: u32, limit: u32) -> usize {
    usize::try_from(u64::from(page.saturating_sub(1)) * u64::from(limit)).unwrap_or(usize::MAX)
}

/// Rows per page of a scan: a page holds up to this many memories of up to 64 kB each.
const SCAN_PAGE: u32 = 100;

/// Every memory matching `q`, page by page, up to [`MAX_SCAN`], handed to `each` as it is read:
/// an aggregate keeps what it needs, never every memory's text at once.
async fn scan(store: &Store, mut q: MemoryQuery, mut each: impl FnMut(Memory)) -> ApiResult<()> {
    let mut seen = 0u64;
    q.limit = Some(SCAN_PAGE);
    for page in 1.. {
        q.page = Some(page);
        let p = store.list_memories(&q).await?;
        let n = p.items.len();
        seen += n as u64;
        p.items.into_iter().for_each(&mut each);
        if n < SCAN_PAGE as usize || seen >= p.total || seen >= u64::from(MAX_SCAN) {
            break;
        }
    }
    Ok(())
}

/// `GET /memories`. `topics` is AgentOS's: the first `topics` value (the client sends a list
/// as repeated keys), comma-separated; a memory must have every one of them.
pub(super) async fn list(State(app): State<Shared>, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    let (q, lists) = query_with_lists::<ListQuery>(raw.as_deref(), &["topics"])?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let topics: Vec<String> = lists
        .get("topics")
        .and_then(|t| t.first())
        .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let topic = topics.first().cloned();
    let base =
        MemoryQuery { user_id: q.user_id.clone(), topic, search: q.search_content.clone(), ..Default::default() };
    let has_topic =
        |m: &Memory, t: &String| m.topics.as_ref().and_then(Value::as_array).is_some_and(|a| a.contains(&json!(t)));
    let filtered = topics.len() > 1
        || q.agent_id.is_some()
        || q.team_id.is_some()
        || q.sort_by.as_deref().is_some_and(|s| s != "updated_at")
        || q.sort_order.as_deref() == Some("asc");
    if !filtered {
        let p = store.list_memories(&MemoryQuery { limit: Some(limit), page: Some(page), ..base }).await?;
        let data: Vec<Value> = p.items.iter().map(schema).collect();
        return Ok(Json(json!({ "data": data, "meta": meta(p.page, p.limit, p.total, started) })));
    }
    // Filters and orders the store does not index: applied over the user's memories, kept
    // without their text; the page's texts are read again below.
    let mut all: Vec<Memory> = Vec::new();
    scan(&store, base, |m| {
        let wanted = (q.agent_id.is_none() || m.agent_id == q.agent_id)
            && (q.team_id.is_none() || m.team_id == q.team_id)
            && topics.iter().all(|t| has_topic(&m, t));
        if wanted {
            all.push(Memory { memory: Value::Null, input: None, feedback: None, ..m });
        }
    })
    .await?;
    match q.sort_by.as_deref() {
        Some("created_at") => all.sort_by_key(|m| m.created_at),
        Some("memory_id") => all.sort_by(|a, b| a.memory_id.cmp(&b.memory_id)),
        _ => all.sort_by_key(|m| m.updated_at.unwrap_or(m.created_at)),
    }
    if q.sort_order.as_deref() != Some("asc") {
        all.reverse();
    }
    let total = all.len() as u64;
    let mut data: Vec<Value> = Vec::new();
    for m in all.iter().skip(offset(page, limit)).take(limit as usize) {
        match store.get_memory(&m.memory_id, q.user_id.as_deref()).await {
            Ok(full) => data.push(schema(&full)),
            // Deleted meanwhile.
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(json!({ "data": data, "meta": meta(page, limit, total, started) })))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    memory: String,
    user_id: Option<String>,
    topics: Option<Vec<String>>,
}

/// Most bytes of one memory's text.
const MAX_MEMORY_BYTES: usize = 64 * 1024;

fn check_text(memory: &str) -> ApiResult<()> {
    if memory.trim().is_empty() {
        return Err(ApiError::field(&["body", "memory"], "string_too_short", "the memory is empty", json!(memory)));
    }
    if memory.len() > MAX_MEMORY_BYTES {
        return Err(ApiError::field(
            &["body", "memory"],
            "string_too_long",
            format!("a memory is at most {MAX_MEMORY_BYTES} bytes"),
            Value::Null,
        ));
    }
    Ok(())
}

fn check_topics(topics: &Option<Vec<String>>) -> ApiResult<()> {
    if topics.as_ref().is_some_and(|t| t.len() > 100 || t.iter().any(|x| x.len() > 256)) {
        return Err(ApiError::field(&["body", "topics"], "too_long", "at most 100 topics of 256 bytes", Value::Null));
    }
    Ok(())
}

/// `POST /memories` (200, as AgentOS answers).
pub(super) async fn create(
    State(app): State<Shared>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b: CreateBody = json_body(&body)?;
    check_text(&b.memory)?;
    check_topics(&b.topics)?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let now = crate::store::now();
    let m = Memory {
        memory_id: uuid::Uuid::new_v4().to_string(),
        memory: json!(b.memory),
        input: None,
        agent_id: None,
        team_id: None,
        user_id: b.user_id.or(q.user_id),
        topics: b.topics.map(|t| json!(t)),
        feedback: None,
        created_at: now,
        updated_at: Some(now),
    };
    Ok(Json(schema(&store.upsert_memory(&m).await?)))
}

fn memory_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Memory with id '{id}' not found"))
}

pub(super) async fn get(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    match store.get_memory(&id, q.user_id.as_deref()).await {
        Ok(m) => Ok(Json(schema(&m))),
        Err(StoreError::NotFound { .. }) => Err(memory_not_found(&id)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    memory: Option<String>,
    user_id: Option<String>,
    topics: Option<Vec<String>>,
}

/// `PATCH /memories/{id}`: text and topics; the owner never changes.
pub(super) async fn update(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b: UpdateBody = json_body(&body)?;
    if let Some(m) = &b.memory {
        check_text(m)?;
    }
    check_topics(&b.topics)?;
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let user = b.user_id.or(q.user_id);
    let mut m = match store.get_memory(&id, user.as_deref()).await {
        Ok(m) => m,
        Err(StoreError::NotFound { .. }) => return Err(memory_not_found(&id)),
        Err(e) => return Err(e.into()),
    };
    if let Some(text) = b.memory {
        m.memory = json!(text);
    }
    if let Some(t) = b.topics {
        m.topics = Some(json!(t));
    }
    m.updated_at = Some(crate::store::now());
    Ok(Json(schema(&store.upsert_memory(&m).await?)))
}

/// Deletes `id` when it is `user`'s (any owner without a user); false when there is none.
async fn delete_one(store: &Store, id: &str, user: Option<&str>) -> ApiResult<bool> {
    match store.delete_memory(id, user).await {
        Ok(()) => Ok(true),
        Err(StoreError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<axum::response::Response> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    if !delete_one(&store, &id, q.user_id.as_deref()).await? {
        return Err(memory_not_found(&id));
    }
    Ok(super::no_content())
}

#[derive(Debug, Deserialize)]
struct DeleteManyBody {
    memory_ids: Vec<String>,
    user_id: Option<String>,
}

pub(super) async fn delete_many(
    State(app): State<Shared>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    let b: DeleteManyBody = json_body(&body)?;
    if b.memory_ids.len() > 1000 {
        return Err(ApiError::field(
            &["body", "memory_ids"],
            "too_long",
            "At most 1000 memories per request",
            Value::Null,
        ));
    }
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let user = b.user_id.or(q.user_id);
    for id in &b.memory_ids {
        delete_one(&store, id, user.as_deref()).await?;
    }
    Ok(super::no_content())
}

/// `GET /memory_topics`: every topic, sorted, as a bare JSON array.
pub(super) async fn topics(State(app): State<Shared>, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let mut topics: BTreeSet<String> = BTreeSet::new();
    scan(&store, MemoryQuery { user_id: q.user_id, ..Default::default() }, |m| {
        if let Some(Value::Array(list)) = m.topics {
            topics.extend(list.into_iter().filter_map(|t| match t {
                Value::String(t) => Some(t),
                _ => None,
            }));
        }
    })
    .await?;
    Ok(Json(json!(topics)))
}

#[derive(Debug, Deserialize)]
pub(super) struct StatsQuery {
    limit: Option<u32>,
    page: Option<u32>,
    db_id: Option<String>,
    table: Option<String>,
}

/// `GET /user_memory_stats`: memories per user, most recently updated first.
pub(super) async fn stats(State(app): State<Shared>, Query(q): Query<StatsQuery>) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    let g = app.generation();
    let store = store_for(&g, q.db_id.as_deref(), q.table.as_deref(), memories_table).await?;
    let mut users: BTreeMap<Option<String>, (u64, i64)> = BTreeMap::new();
    scan(&store, MemoryQuery::default(), |m| {
        let updated = m.updated_at.unwrap_or(m.created_at);
        let e = users.entry(m.user_id).or_insert((0, 0));
        e.0 += 1;
        e.1 = e.1.max(updated);
    })
    .await?;
    let mut rows: Vec<(Option<String>, u64, i64)> = users.into_iter().map(|(u, (n, t))| (u, n, t)).collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let total = rows.len() as u64;
    let data: Vec<Value> = rows
        .iter()
        .skip(offset(page, limit))
        .take(limit as usize)
        .map(|(u, n, t)| json!({ "user_id": u, "total_memories": n, "last_memory_updated_at": iso(*t) }))
        .collect();
    Ok(Json(json!({ "data": data, "meta": meta(page, limit, total, started) })))
}

#[derive(Debug, Deserialize)]
struct OptimizeBody {
    user_id: String,
    model: Option<String>,
    #[serde(default = "yes")]
    apply: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub(super) struct DbQuery {
    db_id: Option<String>,
    table: Option<String>,
}

/// `POST /optimize-memories`: one user's memories summarized into one (Agno's `SUMMARIZE`
/// strategy), applied unless `apply` is false. `model` is a model id of `models:` (Agno's
/// `provider:model_id` is accepted: the part after `:`); without it, the memory model of the
/// first agent or team on that database that uses memories.
pub(super) async fn optimize(
    State(app): State<Shared>,
    Query(q): Query<DbQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b: OptimizeBody = json_body(&body)?;
    if b.user_id.is_empty() {
        return Err(ApiError::bad_request("`user_id` must not be empty"));
    }
    let g = app.generation();
    let db = q.db_id.clone().unwrap_or_else(|| g.config().databases.keys().next().cloned().unwrap_or_default());
    let store = store_for(&g, Some(&db), q.table.as_deref(), memories_table).await?;
    let model = match &b.model {
        Some(m) => {
            let id = m.split_once(':').map_or(m.as_str(), |(_, id)| id);
            let found = g
                .model(id)
                .or_else(|| g.config().models.keys().filter_map(|k| g.model(k)).find(|model| model.name() == id));
            found.cloned().ok_or_else(|| ApiError::bad_request(format!("model '{m}' is not declared in `models:`")))?
        }
        None => {
            let agents = g.config().agents.iter().filter(|(_, a)| a.db == db).filter_map(|(id, _)| g.agent(id));
            let teams = g.config().teams.iter().filter(|(_, t)| t.db == db).filter_map(|(id, _)| g.team(id));
            agents.chain(teams).find_map(|a| a.memory.as_ref().map(|p| p.model.clone())).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no agent or team on database '{db}' uses memories: give `model` (a model id of `models:`)"
                ))
            })?
        }
    };
    let out = crate::memory::optimize(&model, &store, &b.user_id, b.apply).await.map_err(|e| match e {
        crate::memory::MemoryError::Store(s) => ApiError::from(s),
        other => ApiError::new(axum::http::StatusCode::BAD_GATEWAY, format!("the memory optimization failed: {other}")),
    })?;
    let (before, after) = out.tokens;
    let saved = before.saturating_sub(after);
    let pct = if before == 0 { 0.0 } else { (saved as f64 * 100.0 / before as f64).clamp(0.0, 100.0) };
    Ok(Json(json!({
        "memories": out.memories.iter().map(schema).collect::<Vec<_>>(),
        "memories_before": out.before, "memories_after": out.memories.len(),
        "tokens_before": before, "tokens_after": after, "tokens_saved": saved,
        "reduction_percentage": (pct * 100.0).round() / 100.0,
    })))
}
