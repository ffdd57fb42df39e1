//! Agno's `agno_traces` and `agno_spans` rows: their types, the SQL that writes a batch (Agno's
//! trace upsert rules, once per dialect) and the queries AgentOS's trace routes read. It knows
//! nothing of OpenTelemetry: `telemetry` turns finished spans into these rows.

use serde_json::Value;

use super::sql::Dialect;

/// One row of `agno_traces`: a trace as one export batch saw it (Agno's
/// `create_trace_from_spans`); the upsert merges batches of one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// 32 hex digits.
    pub trace_id: String,
    /// The root span's name (`Weather_Agent.run`), or a child's when the batch has no root.
    pub name: String,
    /// `ERROR` when a span of the batch failed, else `OK`.
    pub status: String,
    /// ISO 8601 with `+00:00`, microseconds.
    pub start_time: String,
    /// ISO 8601.
    pub end_time: String,
    /// Milliseconds from the first start to the last end.
    pub duration_ms: i64,
    /// From the root span's attributes (None for a batch without the root).
    pub run_id: Option<String>,
    /// From the root span's attributes.
    pub session_id: Option<String>,
    /// From the root span's attributes.
    pub user_id: Option<String>,
    /// From the root span's attributes.
    pub agent_id: Option<String>,
    /// From the root span's attributes.
    pub team_id: Option<String>,
    /// From the root span's attributes.
    pub workflow_id: Option<String>,
    /// ISO 8601: when the row was made.
    pub created_at: String,
}

/// One row of `agno_spans`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow {
    /// 16 hex digits.
    pub span_id: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// None for a root span.
    pub parent_span_id: Option<String>,
    /// `Weather_Agent.run`, `OpenAIChat.invoke`, a tool's name.
    pub name: String,
    /// `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER`.
    pub span_kind: String,
    /// `OK`, `ERROR` or `UNSET`.
    pub status_code: String,
    /// Why it failed.
    pub status_message: Option<String>,
    /// ISO 8601.
    pub start_time: String,
    /// ISO 8601.
    pub end_time: String,
    /// Milliseconds.
    pub duration_ms: i64,
    /// OpenInference attributes (a JSON object).
    pub attributes: Value,
    /// ISO 8601.
    pub created_at: String,
}

/// A batch to write: traces upserted, then their spans inserted, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceBatch {
    /// One per trace of the batch.
    pub traces: Vec<TraceRow>,
    /// Every span of the batch.
    pub spans: Vec<SpanRow>,
}

/// Agno's upsert of `new` into the stored `old` (what the SQL does, for the memory store).
pub(crate) fn merge(old: &mut TraceRow, new: &TraceRow) {
    let level = |t: &TraceRow| {
        let root = t.name.contains(".run") || t.name.contains(".arun");
        match () {
            _ if root && t.workflow_id.is_some() => 3,
            _ if root && t.team_id.is_some() => 2,
            _ if root && t.agent_id.is_some() => 1,
            _ => 0,
        }
    };
    if level(new) > level(old) {
        old.name = new.name.clone();
    }
    if new.start_time < old.start_time {
        old.start_time = new.start_time.clone();
    }
    if new.end_time > old.end_time {
        old.end_time = new.end_time.clone();
    }
    old.duration_ms = millis_between(&old.start_time, &old.end_time).unwrap_or(old.duration_ms);
    old.status = new.status.clone();
    for (o, n) in [
        (&mut old.run_id, &new.run_id),
        (&mut old.session_id, &new.session_id),
        (&mut old.user_id, &new.user_id),
        (&mut old.agent_id, &new.agent_id),
        (&mut old.team_id, &new.team_id),
        (&mut old.workflow_id, &new.workflow_id),
    ] {
        if o.is_none() {
            o.clone_from(n);
        }
    }
}

/// Milliseconds between two ISO 8601 times.
pub(crate) fn millis_between(start: &str, end: &str) -> Option<i64> {
    let parse = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok();
    let (a, b) = (parse(start)?, parse(end)?);
    Some(((b - a).whole_microseconds() / 1000) as i64)
}

/// The columns of a trace row, in the statements' parameter order.
pub(crate) const TRACE_COLUMNS: &str = "trace_id, name, status, start_time, end_time, duration_ms, run_id, session_id, user_id, agent_id, team_id, workflow_id, created_at";
/// The columns of a span row, in the statements' parameter order.
pub(crate) const SPAN_COLUMNS: &str = "span_id, trace_id, parent_span_id, name, span_kind, status_code, status_message, start_time, end_time, duration_ms, attributes, created_at";

/// The trace statements of one store.
#[derive(Debug, Clone)]
pub(crate) struct TraceStatements {
    /// Agno's upsert: earliest start, latest end, the duration between them, the batch's status,
    /// the name of the higher-level component, and context columns kept once set (COALESCE).
    pub upsert_trace: String,
    /// A span; an id already stored is kept (an export retried after a partial failure).
    pub insert_span: String,
}

impl TraceStatements {
    pub(crate) fn new(dialect: Dialect, traces: &str, spans: &str) -> Self {
        let level = |t: &str| {
            format!(
                "(CASE WHEN {t}.workflow_id IS NOT NULL AND ({t}.name LIKE '%.run%' OR {t}.name LIKE '%.arun%') THEN 3 \
                 WHEN {t}.team_id IS NOT NULL AND ({t}.name LIKE '%.run%' OR {t}.name LIKE '%.arun%') THEN 2 \
                 WHEN {t}.agent_id IS NOT NULL AND ({t}.name LIKE '%.run%' OR {t}.name LIKE '%.arun%') THEN 1 ELSE 0 END)"
            )
        };
        let (new_level, old_level) = (level("excluded"), level("t"));
        let (greatest, least, duration) = match dialect {
            Dialect::Sqlite => (
                "max(t.end_time, excluded.end_time)".to_string(),
                "min(t.start_time, excluded.start_time)".to_string(),
                "CAST(ROUND((julianday(max(t.end_time, excluded.end_time)) - julianday(min(t.start_time, excluded.start_time))) * 86400000) AS INTEGER)".to_string(),
            ),
            Dialect::Postgres => (
                "GREATEST(t.end_time, excluded.end_time)".to_string(),
                "LEAST(t.start_time, excluded.start_time)".to_string(),
                "CAST(EXTRACT(EPOCH FROM (CAST(GREATEST(t.end_time, excluded.end_time) AS TIMESTAMPTZ) - CAST(LEAST(t.start_time, excluded.start_time) AS TIMESTAMPTZ))) * 1000 AS BIGINT)".to_string(),
            ),
        };
        let json = if dialect == Dialect::Postgres { "$11::jsonb" } else { "$11" };
        let coalesce = |c: &str| format!("{c} = COALESCE(t.{c}, excluded.{c})");
        let sql = TraceStatements {
            upsert_trace: format!(
                "INSERT INTO {traces} AS t ({TRACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (trace_id) DO UPDATE SET end_time = {greatest}, start_time = {least}, duration_ms = {duration}, \
                 status = excluded.status, name = CASE WHEN {new_level} > {old_level} THEN excluded.name ELSE t.name END, \
                 {}, {}, {}, {}, {}, {}",
                coalesce("run_id"),
                coalesce("session_id"),
                coalesce("user_id"),
                coalesce("agent_id"),
                coalesce("team_id"),
                coalesce("workflow_id"),
            ),
            insert_span: format!(
                "INSERT INTO {spans} ({SPAN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {json}, $12) \
                 ON CONFLICT (span_id) DO NOTHING"
            ),
        };
        match dialect {
            Dialect::Sqlite => TraceStatements {
                upsert_trace: super::sql::sqlite_params(&sql.upsert_trace),
                insert_span: super::sql::sqlite_params(&sql.insert_span),
            },
            Dialect::Postgres => sql,
        }
    }
}

/// A trace as AgentOS lists it: the row, its span counts (from the spans, not stored) and its
/// root span's `input.value`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// The row.
    pub trace: TraceRow,
    /// Its spans.
    pub total_spans: i64,
    /// Its spans with status ERROR.
    pub error_count: i64,
    /// The root span's `input.value`.
    pub input: Option<String>,
}

/// Traces of one session (`GET /trace_session_stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionTraceStats {
    /// The session.
    pub session_id: String,
    /// Its user (the greatest, as Agno's `MAX`).
    pub user_id: Option<String>,
    /// Its agent.
    pub agent_id: Option<String>,
    /// Its team.
    pub team_id: Option<String>,
    /// Its workflow.
    pub workflow_id: Option<String>,
    /// How many traces.
    pub total_traces: i64,
    /// The first trace's `created_at`.
    pub first_trace_at: String,
    /// The last trace's `created_at`.
    pub last_trace_at: String,
}

/// The columns a trace filter may name (Agno's `TRACE_COLUMNS`).
pub const FILTER_COLUMNS: &[&str] = &[
    "trace_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "duration_ms",
    "run_id",
    "session_id",
    "user_id",
    "agent_id",
    "team_id",
    "workflow_id",
    "created_at",
];

/// A comparison of a filter expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// Case-insensitive substring.
    Contains,
    /// Case-insensitive prefix.
    StartsWith,
}

/// Agno's filter expression over [`FILTER_COLUMNS`] (`POST /traces/search`), already checked:
/// every column is one of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `column op value`.
    Cmp(&'static str, Op, Value),
    /// `column IN (values)`.
    In(&'static str, Vec<Value>),
    /// All of them.
    And(Vec<Cond>),
    /// Any of them.
    Or(Vec<Cond>),
    /// Not it.
    Not(Box<Cond>),
}

/// Which traces to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    /// Column equalities (`run_id`, `session_id`, `user_id`, ...), each one of [`FILTER_COLUMNS`].
    pub eq: Vec<(&'static str, String)>,
    /// `start_time >=` (list) or `created_at >=` (stats), ISO.
    pub from: Option<String>,
    /// `end_time <=` (list) or `created_at <=` (stats), ISO.
    pub until: Option<String>,
    /// The search's expression.
    pub expr: Option<Cond>,
    /// 1-based page (0 reads as 1).
    pub page: u32,
    /// Page size.
    pub limit: u32,
}

/// Most spans read for one trace.
pub const MAX_TRACE_SPANS: u32 = 10_000;

fn placeholder(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

fn param(v: &Value) -> super::sql::Param {
    match v {
        Value::Number(n) if n.is_i64() => super::sql::Param::Int(n.as_i64().unwrap_or_default()),
        Value::String(s) => super::sql::Param::Text(s.clone()),
        other => super::sql::Param::Text(other.to_string()),
    }
}

fn cond_sql(d: Dialect, c: &Cond, f: &mut super::sql::Filter, alias: &str) -> String {
    let next = |v: &Value, f: &mut super::sql::Filter| {
        f.params.push(param(v));
        placeholder(d, f.params.len())
    };
    match c {
        Cond::Cmp(col, op, v) => {
            let sym = match op {
                Op::Eq => "=",
                Op::Neq => "!=",
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                Op::Lte => "<=",
                Op::Contains | Op::StartsWith => {
                    let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    // Each side lowered as the database lowers the column: SQLite's `lower()`
                    // knows ASCII only, PostgreSQL's the whole of Unicode.
                    let text = if d == Dialect::Sqlite { text.to_ascii_lowercase() } else { text.to_lowercase() };
                    let escaped = text.replace('/', "//").replace('%', "/%").replace('_', "/_");
                    let pattern = if *op == Op::Contains { format!("%{escaped}%") } else { format!("{escaped}%") };
                    let ph = next(&Value::String(pattern), f);
                    return format!("lower(CAST({alias}{col} AS TEXT)) LIKE {ph} ESCAPE '/'");
                }
            };
            let ph = next(v, f);
            format!("{alias}{col} {sym} {ph}")
        }
        Cond::In(col, values) => {
            if values.is_empty() {
                return "1 = 0".into();
            }
            let phs: Vec<String> = values.iter().map(|v| next(v, f)).collect();
            format!("{alias}{col} IN ({})", phs.join(", "))
        }
        Cond::And(cs) | Cond::Or(cs) => {
            let join = if matches!(c, Cond::And(_)) { " AND " } else { " OR " };
            let parts: Vec<String> = cs.iter().map(|c| cond_sql(d, c, f, alias)).collect();
            match (parts.is_empty(), matches!(c, Cond::And(_))) {
                (true, true) => "1 = 1".into(),
                (true, false) => "1 = 0".into(),
                _ => format!("({})", parts.join(join)),
            }
        }
        Cond::Not(c) => format!("NOT ({})", cond_sql(d, c, f, alias)),
    }
}

fn query_filter(d: Dialect, q: &TraceQuery, times: (&str, &str), alias: &str) -> super::sql::Filter {
    let mut f = super::sql::Filter::default();
    for (col, v) in &q.eq {
        f.push(d, &format!("{alias}{col} = {{}}"), super::sql::Param::Text(v.clone()));
    }
    if let Some(from) = &q.from {
        f.push(d, &format!("{alias}{} >= {{}}", times.0), super::sql::Param::Text(from.clone()));
    }
    if let Some(until) = &q.until {
        f.push(d, &format!("{alias}{} <= {{}}", times.1), super::sql::Param::Text(until.clone()));
    }
    if let Some(c) = &q.expr {
        let clause = cond_sql(d, c, &mut f, alias);
        f.clauses.push(clause);
    }
    f
}

/// The page of traces matching `q`, newest first, with their counts and root input.
pub(crate) fn trace_listing(d: Dialect, traces: &str, spans: &str, q: &TraceQuery) -> super::sql::Listing {
    let (limit, page, offset) = super::page_bounds(Some(q.limit), Some(q.page.max(1)), 20);
    let f = query_filter(d, q, ("start_time", "end_time"), "t.");
    let where_sql = f.where_sql();
    let cols: Vec<String> = TRACE_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
    let attrs = if d == Dialect::Postgres { "s.attributes::text" } else { "s.attributes" };
    super::sql::Listing {
        count: format!("SELECT COUNT(*) FROM {traces} t{where_sql}"),
        select: format!(
            "SELECT {}, (SELECT COUNT(*) FROM {spans} s WHERE s.trace_id = t.trace_id), \
             (SELECT COUNT(*) FROM {spans} s WHERE s.trace_id = t.trace_id AND s.status_code = 'ERROR'), \
             (SELECT {attrs} FROM {spans} s WHERE s.trace_id = t.trace_id AND s.parent_span_id IS NULL ORDER BY s.start_time LIMIT 1) \
             FROM {traces} t{where_sql} ORDER BY t.start_time DESC LIMIT {limit} OFFSET {offset}",
            cols.join(", ")
        ),
        params: f.params,
        limit,
        page,
    }
}

/// The page of per-session trace statistics matching `q`, latest activity first.
pub(crate) fn stats_listing(d: Dialect, traces: &str, q: &TraceQuery) -> super::sql::Listing {
    let (limit, page, offset) = super::page_bounds(Some(q.limit), Some(q.page.max(1)), 20);
    let mut f = query_filter(d, q, ("created_at", "created_at"), "");
    f.clauses.insert(0, "session_id IS NOT NULL".into());
    let where_sql = f.where_sql();
    super::sql::Listing {
        count: format!("SELECT COUNT(*) FROM (SELECT session_id FROM {traces}{where_sql} GROUP BY session_id) g"),
        select: format!(
            "SELECT session_id, MAX(user_id), MAX(agent_id), MAX(team_id), MAX(workflow_id), COUNT(trace_id), \
             MIN(created_at), MAX(created_at) FROM {traces}{where_sql} GROUP BY session_id \
             ORDER BY MAX(created_at) DESC LIMIT {limit} OFFSET {offset}"
        ),
        params: f.params,
        limit,
        page,
    }
}

/// The spans of one trace (`$1`), in start order, bounded by [`MAX_TRACE_SPANS`].
pub(crate) fn spans_sql(d: Dialect, spans: &str) -> String {
    let attrs = if d == Dialect::Postgres { "attributes::text" } else { "attributes" };
    let cols = SPAN_COLUMNS.replace("attributes", attrs);
    let sql =
        format!("SELECT {cols} FROM {spans} WHERE trace_id = $1 ORDER BY start_time, span_id LIMIT {MAX_TRACE_SPANS}");
    if d == Dialect::Sqlite { super::sql::sqlite_params(&sql) } else { sql }
}

/// `input.value` of a root span's attributes text.
pub(crate) fn root_input(attributes: Option<&str>) -> Option<String> {
    let v: Value = serde_json::from_str(attributes?).ok()?;
    v.get("input.value").and_then(Value::as_str).map(str::to_string)
}

/// True when `c` holds for `t` (the memory store's search), with SQL's three-valued logic: a
/// comparison with a NULL column is unknown, and unknown is not a match.
pub(crate) fn matches(c: &Cond, t: &TraceRow) -> bool {
    eval(c, t) == Some(true)
}

fn eval(c: &Cond, t: &TraceRow) -> Option<bool> {
    let get = |col: &str| -> Value {
        let s = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        match col {
            "trace_id" => Value::String(t.trace_id.clone()),
            "name" => Value::String(t.name.clone()),
            "status" => Value::String(t.status.clone()),
            "start_time" => Value::String(t.start_time.clone()),
            "end_time" => Value::String(t.end_time.clone()),
            "duration_ms" => Value::from(t.duration_ms),
            "run_id" => s(&t.run_id),
            "session_id" => s(&t.session_id),
            "user_id" => s(&t.user_id),
            "agent_id" => s(&t.agent_id),
            "team_id" => s(&t.team_id),
            "workflow_id" => s(&t.workflow_id),
            _ => Value::String(t.created_at.clone()),
        }
    };
    let cmp = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    match c {
        Cond::Cmp(col, op, v) => {
            let a = get(col);
            if a.is_null() {
                return None;
            }
            let text = |x: &Value| x.as_str().map(str::to_lowercase).unwrap_or_else(|| x.to_string().to_lowercase());
            let o = cmp(&a, v);
            Some(match op {
                Op::Eq => o == Some(Equal),
                Op::Neq => o.is_some_and(|o| o != Equal),
                Op::Gt => o == Some(Greater),
                Op::Gte => o.is_some_and(|o| o != Less),
                Op::Lt => o == Some(Less),
                Op::Lte => o.is_some_and(|o| o != Greater),
                Op::Contains => text(&a).contains(&text(v)),
                Op::StartsWith => text(&a).starts_with(&text(v)),
            })
        }
        Cond::In(col, vs) => {
            let a = get(col);
            if a.is_null() {
                return None;
            }
            Some(vs.iter().any(|v| cmp(&a, v) == Some(Equal)))
        }
        Cond::And(cs) => {
            let all: Vec<Option<bool>> = cs.iter().map(|c| eval(c, t)).collect();
            if all.contains(&Some(false)) {
                Some(false)
            } else if all.contains(&None) {
                None
            } else {
                Some(true)
            }
        }
        Cond::Or(cs) => {
            let all: Vec<Option<bool>> = cs.iter().map(|c| eval(c, t)).collect();
            if all.contains(&Some(true)) {
                Some(true)
            } else if all.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
        Cond::Not(c) => eval(c, t).map(|b| !b),
    }
}
