//! AgentOS's trace routes over Agno's `agno_traces`/`agno_spans`: `GET /traces`,
//! `GET /traces/{trace_id}` (the span tree), `GET /trace_session_stats` and
//! `POST /traces/search`, in Agno 3.1.10's shapes (null fields left out, `Z` times, `"1.50s"`
//! durations). They read what telemetry wrote (or Python Agno did); they write nothing.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::sessions::meta;
use super::{Shared, sessions};
use crate::runtime::Generation;
use crate::store::Store;
use crate::store::traces::{Cond, FILTER_COLUMNS, Op, SessionTraceStats, SpanRow, TraceQuery, TraceSummary};

/// The database of a trace route: `db_id`, else the first that traces, else the first declared.
async fn store_of(g: &Generation, db_id: Option<&str>) -> ApiResult<Store> {
    let dbs = &g.config().databases;
    let db = match db_id {
        Some(db) => db.to_string(),
        None => {
            dbs.values().find(|d| d.tracing).or_else(|| dbs.values().next()).map(|d| d.id.clone()).unwrap_or_default()
        }
    };
    sessions::store_for(g, Some(&db), None, |t| &t.traces).await
}

/// Agno's time: `2025-11-19T10:30:00.123456Z` (no fraction when it is zero).
fn api_time(stored: &str) -> String {
    match time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            let base = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            match t.microsecond() {
                0 => format!("{base}Z"),
                us => format!("{base}.{us:06}Z"),
            }
        }
        Err(_) => stored.to_string(),
    }
}

/// Agno's `format_duration_ms`: `800ms`, `1.50s`.
fn duration(ms: i64) -> String {
    if ms < 1000 { format!("{}ms", ms.max(0)) } else { format!("{:.2}s", ms as f64 / 1000.0) }
}

/// Inserts `v` under `k` unless it is null (the routes leave nulls out).
fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    if !v.is_null() {
        m.insert(k.to_string(), v);
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

fn summary(t: &TraceSummary) -> Map<String, Value> {
    let r = &t.trace;
    let mut m = Map::new();
    m.insert("trace_id".into(), json!(r.trace_id));
    m.insert("name".into(), json!(r.name));
    m.insert("status".into(), json!(r.status));
    m.insert("duration".into(), json!(duration(r.duration_ms)));
    m.insert("start_time".into(), json!(api_time(&r.start_time)));
    m.insert("end_time".into(), json!(api_time(&r.end_time)));
    m.insert("total_spans".into(), json!(t.total_spans));
    m.insert("error_count".into(), json!(t.error_count));
    put(&mut m, "input", opt(&t.input));
    for (k, v) in [
        ("run_id", &r.run_id),
        ("session_id", &r.session_id),
        ("user_id", &r.user_id),
        ("agent_id", &r.agent_id),
        ("team_id", &r.team_id),
        ("workflow_id", &r.workflow_id),
    ] {
        put(&mut m, k, opt(v));
    }
    m.insert("created_at".into(), json!(api_time(&r.created_at)));
    m
}

fn attr<'a>(s: &'a SpanRow, k: &str) -> Option<&'a Value> {
    s.attributes.get(k).filter(|v| truthy(v))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn kind(s: &SpanRow) -> &str {
    s.attributes.get("openinference.span.kind").and_then(Value::as_str).unwrap_or("UNKNOWN")
}

/// Agno's `derive_type`.
fn node_type(s: &SpanRow) -> String {
    match kind(s) {
        "CHAIN" => "WORKFLOW".into(),
        "AGENT" if attr(s, "agno.team.id").is_some() || attr(s, "team.id").is_some() => "TEAM".into(),
        k => k.to_string(),
    }
}

/// A workflow span's metadata: (key in the answer, attribute).
const WORKFLOW_METADATA: &[(&str, &str)] = &[
    ("description", "agno.workflow.description"),
    ("steps_count", "agno.workflow.steps_count"),
    ("steps", "agno.workflow.steps"),
    ("step_types", "agno.workflow.step_types"),
];

/// Agno's `TraceNode.from_span`.
fn node(s: &SpanRow, children: Option<Vec<Value>>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.span_id));
    m.insert("name".into(), json!(s.name));
    m.insert("type".into(), json!(node_type(s)));
    m.insert("duration".into(), json!(duration(s.duration_ms)));
    m.insert("start_time".into(), json!(api_time(&s.start_time)));
    m.insert("end_time".into(), json!(api_time(&s.end_time)));
    m.insert("status".into(), json!(s.status_code));
    put(&mut m, "input", s.attributes.get("input.value").cloned().unwrap_or(Value::Null));
    if s.status_code == "ERROR" {
        let error =
            s.status_message.clone().map(Value::String).or_else(|| s.attributes.get("exception.message").cloned());
        put(&mut m, "error", error.unwrap_or(Value::Null));
    } else {
        put(&mut m, "output", s.attributes.get("output.value").cloned().unwrap_or(Value::Null));
    }
    if let Some(c) = children.filter(|c| !c.is_empty()) {
        m.insert("spans".into(), Value::Array(c));
    }
    let mut md = Map::new();
    let keys: &[(&str, &str)] = match kind(s) {
        "AGENT" => &[("run_id", "agno.run.id")],
        "LLM" => &[
            ("model", "llm.model_name"),
            ("input_tokens", "llm.token_count.prompt"),
            ("output_tokens", "llm.token_count.completion"),
        ],
        "TOOL" => &[("tool_name", "tool.name"), ("parameters", "tool.parameters")],
        "CHAIN" => WORKFLOW_METADATA,
        _ => &[],
    };
    for (k, a) in keys.iter().chain(&[("session_id", "session.id"), ("user_id", "user.id")]) {
        if let Some(v) = attr(s, a) {
            md.insert(k.to_string(), v.clone());
        }
    }
    if !md.is_empty() {
        m.insert("metadata".into(), Value::Object(md));
    }
    m
}

/// Deepest span tree answered (32 levels: the JSON stays within the 128 levels parsers such as
/// serde_json accept): a deeper span (a hostile or broken trace: Agno's are about ten
/// deep) hangs under its ancestor at this depth, so that building and writing the tree never
/// recurses without bound.
const MAX_TREE_DEPTH: usize = 32;

/// The spans' children by parent, each list in start order: built once, so a tree costs one
/// pass over the spans.
fn child_index(spans: &[SpanRow]) -> HashMap<&str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        if let Some(p) = s.parent_span_id.as_deref() {
            index.entry(p).or_default().push(i);
        }
    }
    for kids in index.values_mut() {
        kids.sort_by(|a, b| spans[*a].start_time.cmp(&spans[*b].start_time));
    }
    index
}

/// The nodes under `parent`, built without recursion: depth-first with an explicit stack, each
/// node finished once its children are. Past [`MAX_TREE_DEPTH`] the descendants are flattened
/// into the last level.
fn children(parent: &str, spans: &[SpanRow], index: &HashMap<&str, Vec<usize>>) -> Vec<Value> {
    // (span index, depth, its finished children)
    struct Frame {
        span: usize,
        depth: usize,
        kids: Vec<Value>,
        next: usize,
        pending: Vec<usize>,
    }
    let roots: Vec<usize> = index.get(parent).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(roots.len());
    let mut seen = vec![false; spans.len()];
    for root in roots {
        if std::mem::replace(&mut seen[root], true) {
            continue;
        }
        let kids_of = |i: usize| index.get(spans[i].span_id.as_str()).cloned().unwrap_or_default();
        let mut stack = vec![Frame { span: root, depth: 1, kids: Vec::new(), next: 0, pending: kids_of(root) }];
        while let Some(top) = stack.last_mut() {
            if top.next < top.pending.len() {
                let child = top.pending[top.next];
                top.next += 1;
                if std::mem::replace(&mut seen[child], true) {
                    continue; // a cycle of parent ids
                }
                if top.depth >= MAX_TREE_DEPTH {
                    // Too deep: the child and all its descendants become leaves here.
                    let more = kids_of(child);
                    top.kids.push(Value::Object(node(&spans[child], None)));
                    top.pending.extend(more);
                    continue;
                }
                let depth = top.depth + 1;
                stack.push(Frame { span: child, depth, kids: Vec::new(), next: 0, pending: kids_of(child) });
                continue;
            }
            let done = stack.pop().expect("a frame");
            let value = Value::Object(node(&spans[done.span], Some(done.kids)));
            match stack.last_mut() {
                Some(parent) => parent.kids.push(value),
                None => out.push(value),
            }
        }
    }
    out
}

/// Agno's `TraceDetail.from_trace_and_spans`.
fn detail(t: &TraceSummary, spans: &[SpanRow]) -> Value {
    let mut m = summary(t);
    let created = m.remove("created_at").unwrap_or(Value::Null);
    let ids: Vec<(&str, Value)> = ["run_id", "session_id", "user_id", "agent_id", "team_id", "workflow_id"]
        .map(|k| (k, m.remove(k).unwrap_or(Value::Null)))
        .into();
    m.remove("input");
    let root = spans.iter().find(|s| s.parent_span_id.is_none());
    if let Some(root) = root {
        put(&mut m, "input", root.attributes.get("input.value").cloned().unwrap_or(Value::Null));
        if t.trace.status == "ERROR" || root.status_code == "ERROR" {
            let e = root
                .status_message
                .clone()
                .map(Value::String)
                .or_else(|| root.attributes.get("exception.message").cloned());
            put(&mut m, "error", e.unwrap_or(Value::Null));
        } else {
            let mut output = root.attributes.get("output.value").cloned().unwrap_or(Value::Null);
            let empty = output.as_str().is_none_or(|s| s.trim().is_empty() || s.trim() == "None");
            if kind(root) == "CHAIN" && empty {
                let mut kids: Vec<&SpanRow> =
                    spans.iter().filter(|c| c.parent_span_id.as_deref() == Some(root.span_id.as_str())).collect();
                kids.sort_by(|a, b| b.end_time.cmp(&a.end_time));
                if let Some(last) = kids.first() {
                    output = last.attributes.get("output.value").cloned().unwrap_or(Value::Null);
                }
            }
            put(&mut m, "output", output);
        }
    }
    for (k, v) in ids {
        put(&mut m, k, v);
    }
    m.insert("created_at".into(), created);
    let (mut input_tokens, mut output_tokens) = (0i64, 0i64);
    for s in spans.iter().filter(|s| kind(s) == "LLM") {
        input_tokens += s.attributes.get("llm.token_count.prompt").and_then(Value::as_i64).unwrap_or(0);
        output_tokens += s.attributes.get("llm.token_count.completion").and_then(Value::as_i64).unwrap_or(0);
    }
    let mut roots: Vec<&SpanRow> = spans.iter().filter(|s| s.parent_span_id.is_none()).collect();
    roots.sort_by(|a, b| a.start_time.cmp(&b.start_time));
    let step_types: Vec<Value> = roots
        .iter()
        .filter(|r| kind(r) == "CHAIN")
        .find_map(|r| r.attributes.get("agno.workflow.step_types").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let index = child_index(spans);
    let tree: Vec<Value> = roots
        .iter()
        .map(|r| {
            let mut kids = children(&r.span_id, spans, &index);
            for (i, k) in kids.iter_mut().enumerate() {
                if let (Some(st), Some(o)) = (step_types.get(i), k.as_object_mut()) {
                    o.insert("step_type".into(), st.clone());
                }
            }
            let mut n = node(r, Some(kids));
            n.insert("duration".into(), json!(duration(t.trace.duration_ms)));
            n.insert("start_time".into(), json!(api_time(&t.trace.start_time)));
            n.insert("end_time".into(), json!(api_time(&t.trace.end_time)));
            for k in ["input", "output", "error"] {
                n.remove(k);
            }
            let mut md = Map::new();
            if input_tokens > 0 {
                md.insert("total_input_tokens".into(), json!(input_tokens));
            }
            if output_tokens > 0 {
                md.insert("total_output_tokens".into(), json!(output_tokens));
            }
            if kind(r) == "CHAIN" {
                for &(k, a) in WORKFLOW_METADATA {
                    if let Some(v) = attr(r, a) {
                        md.insert(k.into(), v.clone());
                    }
                }
            }
            n.remove("metadata");
            if !md.is_empty() {
                n.insert("metadata".into(), Value::Object(md));
            }
            Value::Object(n)
        })
        .collect();
    m.insert("tree".into(), Value::Array(tree));
    Value::Object(m)
}

/// A time filter as Agno reads it (`Z`, an offset, or naive UTC), as the stored ISO text.
fn parse_time(name: &str, v: &str) -> ApiResult<String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(v, &Rfc3339)
        .or_else(|_| {
            time::PrimitiveDateTime::parse(v, &time::format_description::well_known::Iso8601::DEFAULT)
                .map(|p| p.assume_utc())
        })
        .or_else(|_| {
            // A date alone is its midnight, UTC (Python's `fromisoformat` reads it so).
            time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc())
        });
    match parsed {
        Ok(t) => Ok(crate::telemetry::export::iso(t.to_offset(time::UtcOffset::UTC).into())),
        Err(_) => Err(ApiError::bad_request(format!(
            "Invalid {name} format. Use ISO 8601 format (e.g., '2025-11-19T10:00:00Z' or '2025-11-19T10:00:00+05:30')"
        ))),
    }
}

/// Query of `GET /traces`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    run_id: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    status: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
    db_id: Option<String>,
}

fn eq_filters(q: &ListQuery) -> Vec<(&'static str, String)> {
    let mut eq = Vec::new();
    for (k, v) in [
        ("run_id", &q.run_id),
        ("session_id", &q.session_id),
        ("agent_id", &q.agent_id),
        ("team_id", &q.team_id),
        ("workflow_id", &q.workflow_id),
        ("status", &q.status),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            eq.push((k, v.clone()));
        }
    }
    if let Some(u) = &q.user_id {
        eq.push(("user_id", u.clone()));
    }
    eq
}

/// `GET /traces`.
pub(super) async fn list(State(app): State<Shared>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    let g = app.generation();
    let store = store_of(&g, q.db_id.as_deref()).await?;
    let query = TraceQuery {
        eq: eq_filters(&q),
        from: q.start_time.as_deref().map(|v| parse_time("start_time", v)).transpose()?,
        until: q.end_time.as_deref().map(|v| parse_time("end_time", v)).transpose()?,
        expr: None,
        page: q.page.unwrap_or(1),
        limit: q.limit.unwrap_or(20).max(1),
    };
    let page = store.list_traces(&query).await?;
    let data: Vec<Value> = page.items.iter().map(|t| Value::Object(summary(t))).collect();
    Ok(Json(json!({"data": data, "meta": meta(page.page, page.limit, page.total, started)})))
}

/// `GET /traces/filter-schema`: the fields a search filter may name, their types and operators
/// (AgentOS's fixed list; nulls kept).
pub(super) async fn filter_schema() -> Json<Value> {
    let text_ops = json!(["EQ", "NEQ", "CONTAINS", "STARTSWITH", "IN"]);
    let time_ops = json!(["GT", "GTE", "LT", "LTE"]);
    let field = |key: &str, label: &str, kind: &str, ops: &Value, values: Value| json!({"key": key, "label": label, "type": kind, "operators": ops, "values": values});
    Json(json!({
        "fields": [
            field("status", "Status", "enum", &json!(["EQ", "NEQ", "IN"]), json!(["OK", "ERROR"])),
            field("user_id", "User ID", "string", &text_ops, Value::Null),
            field("agent_id", "Agent ID", "string", &text_ops, Value::Null),
            field("team_id", "Team ID", "string", &text_ops, Value::Null),
            field("workflow_id", "Workflow ID", "string", &text_ops, Value::Null),
            field("session_id", "Session ID", "string", &text_ops, Value::Null),
            field("run_id", "Run ID", "string", &text_ops, Value::Null),
            field("name", "Trace Name", "string", &json!(["EQ", "NEQ", "CONTAINS", "STARTSWITH"]), Value::Null),
            field("trace_id", "Trace ID", "string", &text_ops, Value::Null),
            field("duration_ms", "Duration (ms)", "number", &json!(["EQ", "NEQ", "GT", "GTE", "LT", "LTE"]), Value::Null),
            field("start_time", "Start Time", "datetime", &time_ops, Value::Null),
            field("end_time", "End Time", "datetime", &time_ops, Value::Null),
            field("created_at", "Created At", "datetime", &time_ops, Value::Null),
        ],
        "logical_operators": ["AND", "OR"],
    }))
}

/// Query of `GET /traces/{trace_id}`.
#[derive(Debug, Deserialize)]
pub(super) struct GetQuery {
    span_id: Option<String>,
    db_id: Option<String>,
}

/// `GET /traces/{trace_id}`: the trace with its span tree, or one span (`?span_id=`).
pub(super) async fn get(
    State(app): State<Shared>,
    Path(trace_id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let store = store_of(&g, q.db_id.as_deref()).await?;
    let Some(trace) = store.get_trace(&trace_id).await? else {
        return Err(ApiError::not_found("Trace not found"));
    };
    let spans = store.trace_spans(&trace_id).await?;
    if let Some(span_id) = &q.span_id {
        let Some(span) = spans.iter().find(|s| &s.span_id == span_id) else {
            return Err(ApiError::not_found("Span not found"));
        };
        return Ok(Json(Value::Object(node(span, None))));
    }
    Ok(Json(detail(&trace, &spans)))
}

/// Query of `GET /trace_session_stats`.
#[derive(Debug, Deserialize)]
pub(super) struct StatsQuery {
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
    db_id: Option<String>,
}

fn stats_json(s: &SessionTraceStats) -> Value {
    let mut m = Map::new();
    m.insert("session_id".into(), json!(s.session_id));
    for (k, v) in
        [("user_id", &s.user_id), ("agent_id", &s.agent_id), ("team_id", &s.team_id), ("workflow_id", &s.workflow_id)]
    {
        put(&mut m, k, opt(v));
    }
    m.insert("total_traces".into(), json!(s.total_traces));
    m.insert("first_trace_at".into(), json!(api_time(&s.first_trace_at)));
    m.insert("last_trace_at".into(), json!(api_time(&s.last_trace_at)));
    Value::Object(m)
}

/// `GET /trace_session_stats`.
pub(super) async fn session_stats(State(app): State<Shared>, Query(q): Query<StatsQuery>) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    if q.page == Some(0) {
        return Err(ApiError::bad_request("page must be 1 or more"));
    }
    let g = app.generation();
    let store = store_of(&g, q.db_id.as_deref()).await?;
    let mut eq = Vec::new();
    for (k, v) in [("agent_id", &q.agent_id), ("team_id", &q.team_id), ("workflow_id", &q.workflow_id)] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            eq.push((k, v.clone()));
        }
    }
    if let Some(u) = &q.user_id {
        eq.push(("user_id", u.clone()));
    }
    let query = TraceQuery {
        eq,
        from: q.start_time.as_deref().map(|v| parse_time("start_time", v)).transpose()?,
        until: q.end_time.as_deref().map(|v| parse_time("end_time", v)).transpose()?,
        expr: None,
        page: q.page.unwrap_or(1),
        limit: q.limit.unwrap_or(20).max(1),
    };
    let page = store.trace_session_stats(&query).await?;
    let data: Vec<Value> = page.items.iter().map(stats_json).collect();
    Ok(Json(json!({"data": data, "meta": meta(page.page, page.limit, page.total, started)})))
}

/// Body of `POST /traces/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchBody {
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    group_by: Option<String>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

/// Query of `POST /traces/search`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    db_id: Option<String>,
}

/// Deepest nesting of a filter expression (Agno's).
const MAX_FILTER_DEPTH: usize = 10;
/// Most conditions in one filter expression: a hostile body cannot make a huge WHERE clause.
const MAX_FILTER_NODES: usize = 200;
/// Most spans in the trees of one search answer (the traces of a page share it).
const MAX_SEARCH_SPANS: usize = 20_000;
/// Longest value in a filter expression (a LIKE pattern SQLite would refuse as too complex).
const MAX_FILTER_VALUE: usize = 4096;

fn pyrepr(v: &Value) -> String {
    crate::pyrepr::repr(v)
}

/// Agno's `filters.from_dict`, with its messages; columns checked against [`FILTER_COLUMNS`].
fn parse_filter(v: &Value, depth: usize, nodes: &mut usize) -> Result<Cond, String> {
    if depth > MAX_FILTER_DEPTH {
        return Err(format!("Filter expression exceeds maximum nesting depth of {MAX_FILTER_DEPTH}"));
    }
    *nodes += 1;
    if *nodes > MAX_FILTER_NODES {
        return Err(format!("Filter expression has more than {MAX_FILTER_NODES} conditions"));
    }
    let Some(op) = v.get("op").and_then(Value::as_str) else {
        return Err(format!("Invalid filter dictionary: must contain 'op' key. Got: {}", pyrepr(v)));
    };
    let column = |v: &Value| -> Result<&'static str, String> {
        let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
        FILTER_COLUMNS
            .iter()
            .find(|c| **c == key)
            .copied()
            .ok_or_else(|| format!("Unknown filter key '{key}'; one of {}", FILTER_COLUMNS.join(", ")))
    };
    // A value of the column's type: a whole number for `duration_ms`, text for the others
    // (times normalized as stored); anything else is refused, so that no backend compares
    // across types (PostgreSQL would refuse the query).
    let coerce = |col: &str, v: &Value| -> Result<Value, String> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(format!("the value for '{col}' must be a string or a number, not {other}")),
        };
        if text.len() > MAX_FILTER_VALUE {
            return Err(format!("a filter value is at most {MAX_FILTER_VALUE} bytes"));
        }
        if col == "duration_ms" {
            return text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("'duration_ms' takes a whole number of milliseconds, not {text:?}"));
        }
        if ["start_time", "end_time", "created_at"].contains(&col) {
            return Ok(Value::String(parse_time(col, &text).unwrap_or(text)));
        }
        Ok(Value::String(text))
    };
    let cmp = match op {
        "EQ" => Some(Op::Eq),
        "NEQ" => Some(Op::Neq),
        "GT" => Some(Op::Gt),
        "GTE" => Some(Op::Gte),
        "LT" => Some(Op::Lt),
        "LTE" => Some(Op::Lte),
        "CONTAINS" => Some(Op::Contains),
        "STARTSWITH" => Some(Op::StartsWith),
        _ => None,
    };
    if let Some(cmp) = cmp {
        let (Some(_), Some(value)) = (v.get("key"), v.get("value")) else {
            return Err(format!("{op} filter requires 'key' and 'value' fields. Got: {}", pyrepr(v)));
        };
        let col = column(v)?;
        let value = if matches!(cmp, Op::Contains | Op::StartsWith) {
            // A substring of the column's text, whatever its type.
            coerce("name", value)?
        } else {
            coerce(col, value)?
        };
        return Ok(Cond::Cmp(col, cmp, value));
    }
    match op {
        "IN" => {
            let (Some(_), Some(values)) = (v.get("key"), v.get("values").and_then(Value::as_array)) else {
                return Err(format!("IN filter requires 'key' and 'values' fields. Got: {}", pyrepr(v)));
            };
            let col = column(v)?;
            *nodes += values.len();
            if *nodes > MAX_FILTER_NODES {
                return Err(format!("Filter expression has more than {MAX_FILTER_NODES} conditions"));
            }
            Ok(Cond::In(col, values.iter().map(|x| coerce(col, x)).collect::<Result<Vec<_>, _>>()?))
        }
        "AND" | "OR" => {
            let Some(conds) = v.get("conditions").and_then(Value::as_array) else {
                return Err(format!("{op} filter requires 'conditions' field. Got: {}", pyrepr(v)));
            };
            let parsed = conds.iter().map(|c| parse_filter(c, depth + 1, nodes)).collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "AND" { Cond::And(parsed) } else { Cond::Or(parsed) })
        }
        "NOT" => {
            let Some(c) = v.get("condition") else {
                return Err(format!("NOT filter requires 'condition' field. Got: {}", pyrepr(v)));
            };
            Ok(Cond::Not(Box::new(parse_filter(c, depth + 1, nodes)?)))
        }
        other => Err(format!("Unknown filter operator: {other}")),
    }
}

/// `POST /traces/search`: traces (with their trees) or per-session statistics matching a
/// filter expression.
pub(super) async fn search(
    State(app): State<Shared>,
    Query(q): Query<SearchQuery>,
    Json(body): Json<SearchBody>,
) -> ApiResult<Json<Value>> {
    let started = std::time::Instant::now();
    let page = body.page.unwrap_or(1);
    let limit = body.limit.unwrap_or(20);
    if page == 0 || limit == 0 || limit > 100 {
        return Err(ApiError::bad_request("page must be 1 or more and limit between 1 and 100"));
    }
    let by_session = match body.group_by.as_deref() {
        None | Some("run") => false,
        Some("session") => true,
        Some(other) => return Err(ApiError::bad_request(format!("Invalid group_by '{other}': run or session"))),
    };
    let expr = match &body.filter {
        None | Some(Value::Null) => None,
        Some(f) if !f.is_object() => {
            return Err(ApiError::bad_request("Invalid filter expression: the filter is an object"));
        }
        Some(f) if f.as_object().is_some_and(|o| !o.is_empty()) => Some(
            parse_filter(f, 0, &mut 0).map_err(|e| ApiError::bad_request(format!("Invalid filter expression: {e}")))?,
        ),
        _ => None,
    };
    let g = app.generation();
    let store = store_of(&g, q.db_id.as_deref()).await?;
    let query = TraceQuery { eq: Vec::new(), from: None, until: None, expr, page, limit };
    if by_session {
        let p = store.trace_session_stats(&query).await?;
        let data: Vec<Value> = p.items.iter().map(stats_json).collect();
        return Ok(Json(json!({"data": data, "meta": meta(p.page, p.limit, p.total, started)})));
    }
    let p = store.list_traces(&query).await?;
    let mut data = Vec::with_capacity(p.items.len());
    let mut budget = MAX_SEARCH_SPANS;
    for t in &p.items {
        // Past the answer's span budget, a trace is answered without its tree (`tree: []`):
        // its own route gives the whole of it.
        let spans = if budget > 0 { store.trace_spans(&t.trace.trace_id).await? } else { Vec::new() };
        budget = budget.saturating_sub(spans.len());
        data.push(detail(t, &spans));
    }
    Ok(Json(json!({"data": data, "meta": meta(p.page, p.limit, p.total, started)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_are_agnos() {
        assert_eq!(api_time("2025-11-19T10:30:00.123456+00:00"), "2025-11-19T10:30:00.123456Z");
        assert_eq!(api_time("2025-11-19T10:30:00.000000+00:00"), "2025-11-19T10:30:00Z");
        assert_eq!(duration(800), "800ms");
        assert_eq!(duration(1500), "1.50s");
    }

    #[test]
    fn filters_are_bounded_in_depth_and_size() {
        let mut deep = json!({"op": "EQ", "key": "status", "value": "OK"});
        for _ in 0..12 {
            deep = json!({"op": "NOT", "condition": deep});
        }
        let e = parse_filter(&deep, 0, &mut 0).unwrap_err();
        assert!(e.contains("maximum nesting depth of 10"), "{e}");
        let wide = json!({"op": "IN", "key": "status", "values": vec!["OK"; 500]});
        assert!(parse_filter(&wide, 0, &mut 0).unwrap_err().contains("more than 200"));
        let unknown = json!({"op": "EQ", "key": "attributes", "value": 1});
        assert!(parse_filter(&unknown, 0, &mut 0).unwrap_err().contains("Unknown filter key"));
        let missing = json!({"op": "EQ", "key": "status"});
        assert_eq!(
            parse_filter(&missing, 0, &mut 0).unwrap_err(),
            "EQ filter requires 'key' and 'value' fields. Got: {'op': 'EQ', 'key': 'status'}"
        );
    }
}
